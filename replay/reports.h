// The four views of DESIGN.md section 5 (balance, ratios, disbursements, flags) of one
// ViewPoint, computed from its rows with exact integer arithmetic, and their JSON, CSV and
// table forms.
//
// Definitions (money in = received + allocated in; money out = allocated out + disbursed +
// refunded; every figure is net of reversals):
//   ratios: a ratio is round-half-up(numerator x 10000 / denominator) in basis points, or null
//     when the denominator is zero. mix_bp per category and the shares are of money in;
//     social_capital_to_government_bp is social capital in / government (central, provincial,
//     municipal, district) in; allocation_rate_bp (pools only) is allocated out / money in, since
//     a city or district pool is funded by allocations from above as well as by receipts;
//     payment_rate_bp is disbursed / money in; pledge_fulfilment_bp is received against pledges
//     / pledged. plan_deviation_fen (projects and regions) is money in minus the funding plan, per
//     category. Each target of the policy in force in the scope's region is listed with its
//     value and `met` (false when the value is null: a target that cannot be shown met is not).
//   disbursements: every disbursement with its acknowledgement, reversal and findings; totals
//     (reversed ones left out) by work, item, payee (org, else credit code, else name), month of
//     occurred_on and source category, each with its share of the total.
//   flags (per project in scope, or the pool), as of the point's reference day:
//     idle_funds         money available and nothing paid out (disbursement, or allocation for a
//                        pool) for more than idle_days_max days, counted from the last payment
//                        or, if there was none, the first money in;
//     over_budget        disbursed for a work above the project's budget for it;
//     unit_cap_exceeded  a disbursement above the policy's cap for its item times its units;
//     unacknowledged     a disbursement to a registered payee not acknowledged (nor reversed)
//                        more than 30 days after it occurred;
//     target_missed      a policy target the project's (or pool's) ratios do not meet;
//     duplicate_compound a compound of a live project that another live project of the same
//                        district also lists (重复立项);
//     open_finding       an audit finding naming the project that is not resolved.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "replay/balance_view.h"
#include "replay/views.h"

namespace fundledger {

inline constexpr int64_t kUnacknowledgedDays = 30;

struct Ratios {
  std::array<std::optional<int64_t>, kCategories> mix_bp;
  std::optional<int64_t> government_share_bp, social_capital_to_government_bp, utility_share_bp,
      resident_share_bp, local_government_share_bp, allocation_rate_bp, payment_rate_bp,
      pledge_fulfilment_bp;
  bool has_plan = false;  // projects and regions
  std::array<int64_t, kCategories> plan_fen{};
  std::array<int64_t, kCategories> plan_deviation_fen{};
  struct Target {
    std::string metric;
    std::optional<uint32_t> min_bp, max_bp;
    std::optional<int64_t> value_bp;
    bool met = false;
  };
  std::vector<Target> targets;

  // The value of a ratio named as in a policy target; nullopt for null or unknown names.
  std::optional<int64_t> Metric(std::string_view name) const;
};

struct DisbursementLine {
  uint64_t seq = 0;
  std::string id;
  std::string project;
  int64_t day = 0;
  schema::Category category = schema::Category::CENTRAL;
  int64_t amount_fen = 0;
  std::string payee_name;
  schema::OrgKind payee_kind = schema::OrgKind::CONTRACTOR;
  std::string payee_credit_code, payee_org;
  schema::Work work = schema::Work::BASIC;
  std::string item;
  std::optional<uint32_t> units;
  std::string contract_ref, invoice_ref;
  std::string acknowledged_by, reversed_by;
  std::vector<std::string> findings;
};

struct DisbursementTotal {
  std::string key;
  std::string name;  // payees: the payee's name (key is its org, credit code or name)
  int64_t amount_fen = 0;
  int64_t count = 0;
  std::optional<int64_t> share_bp;
};

struct Disbursements {
  int64_t total_fen = 0;  // reversed ones left out
  int64_t count = 0;
  std::vector<DisbursementTotal> by_work, by_item, by_payee, by_month, by_category;
  // The list, in seq order per project, projects in id order: `lines_total` lines, reversed ones
  // included, of which `lines` holds those from index `lines_from` on (a page of it, see
  // LinesWindow). The totals above are always of the whole list.
  std::vector<DisbursementLine> lines;
  uint64_t lines_from = 0;
  uint64_t lines_total = 0;
};

// Which lines of the disbursements list are kept: at most `limit` from index `from` (0-based).
// A region's list grows with its history, and a server hands it out in pages of this kind, so
// that no answer holds all of it.
struct LinesWindow {
  uint64_t from = 0;
  uint64_t limit = UINT64_MAX;
};

struct Flag {
  std::string flag;
  schema::AccountHolder holder_kind = schema::AccountHolder::PROJECT;
  std::string holder;
  std::string message;
  std::string event_id;  // the disbursement, where one is at fault
  std::string finding;
  std::string metric;
  std::string work;
  std::string compound;
  std::optional<int64_t> amount_fen, limit_fen, days;
};

// A project as the views describe it at a point.
struct ProjectSummary {
  std::string id, name, region;
  std::string phase;       // registered, approved, started, completed, settled or cancelled
  int64_t plan_fen = 0;    // the funding plan's total (as revised)
  int64_t budget_fen = 0;  // the works budget's total (as revised)
};

// round-half-up(num x 10000 / den), nullopt if den is 0; exact (worked in 128 bits), and
// saturated at the int64 bounds when the quotient lies beyond them.
std::optional<int64_t> RatioBp(int64_t num, int64_t den);

Status BalanceOf(const ViewPoint& point, Balance* out);
// The balance of one of the point's projects, read from the point's own rows (a region's point
// holds each of its projects' rows: no fold of the project's own). InvalidArgument
// "project_not_in_scope" for a project not in point.projects().
Status ProjectBalanceOf(const ViewPoint& point, std::string_view project, Balance* out);
Status RatiosOf(const ViewPoint& point, Ratios* out);
// What the pages of one point's list share: the totals (of the whole list) and each project's
// number of lines, in point.projects() order. DisbursementsOf makes it (`made`) as it reads the
// whole list for a page; given back (`reuse`) with the same point, a page takes the totals from
// it and reads only the projects its window reaches.
struct DisbursementsIndex {
  bool made = false;
  Disbursements totals;  // without lines
  std::vector<uint64_t> project_lines;
  size_t bytes() const;  // an estimate of what it holds
};
// `reuse`, if made, must come from the same point.
Status DisbursementsOf(const ViewPoint& point, Disbursements* out, LinesWindow window = {},
                       const DisbursementsIndex* reuse = nullptr,
                       DisbursementsIndex* made = nullptr);
Status FlagsOf(const ViewPoint& point, std::vector<Flag>* out);
// The projects of the point (ViewPoint::projects()), in that order.
Status ProjectsOf(const ViewPoint& point, std::vector<ProjectSummary>* out);

// {"categories": {"central": {received_fen, ...}, ...}, "total": {...}}
nlohmann::json BalanceJson(const Balance& balance);
std::string BalanceCsv(const Balance& balance);
std::string BalanceTable(const Balance& balance);
nlohmann::json RatiosJson(const Ratios& ratios);
std::string RatiosCsv(const Ratios& ratios);  // name,value (dotted names; null is empty)
std::string RatiosTable(const Ratios& ratios);
// With "page": {"from", "listed", "total", "next": null} (a server sets "next" to the query of
// the following page when the list goes on past this one).
nlohmann::json DisbursementsJson(const Disbursements& d);
// The inverse of DisbursementsJson, for a client that joins the pages of a list. Returns
// InvalidArgument "bad_view_json", naming the field, for JSON that DisbursementsJson does not
// give.
Status DisbursementsFromJson(const nlohmann::json& json, Disbursements* out);
std::string DisbursementsCsv(const Disbursements& d);  // the list, a line per disbursement
// Ends with a line naming the part of the list shown when it is not all of it.
std::string DisbursementsTable(const Disbursements& d);
nlohmann::json FlagsJson(const std::vector<Flag>& flags);
std::string FlagsCsv(const std::vector<Flag>& flags);
std::string FlagsTable(const std::vector<Flag>& flags);

// Fen as yuan with two decimals and thousands separators, exactly ("-1,234.05").
std::string Yuan(int64_t fen);
// A CSV cell, quoted as RFC 4180 asks where it holds a comma, a quote or a line break. A text
// that a spreadsheet would read as a formula (BeginsAsFormula: the rules refuse such texts, but
// a record of an earlier build may hold one) is written after a "'", which spreadsheets read as
// "this is text"; a decimal number ("-500000", "-12.05") is written as it is.
std::string CsvField(std::string_view text);
// Whether `text` is a decimal number: an optional '-', digits, and optionally '.' and digits.
bool IsDecimalNumber(std::string_view text);

// "YYYY-MM-DD" names; category, work and org kind names as in the event JSON.
const char* CategoryName(schema::Category c);
const char* WorkName(schema::Work w);

}  // namespace fundledger
