#include "replay/reports.h"

#include <capnp/message.h>
#include <capnp/schema.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>

#include "ledger/codec.h"
#include "ledger/fund_rules.h"
#include "ledger/rules.h"
#include "replay/schema/views.capnp.h"

namespace fundledger {
namespace {

using schema::AccountHolder;

constexpr const char* kCategoryNames[kCategories] = {"central",    "provincial",    "municipal",
                                                     "district",   "utility",       "resident",
                                                     "enterprise", "social_capital"};
constexpr const char* kWorkNames[] = {"basic", "improvement", "enhancement"};
constexpr size_t kWorks = 3;

// A stored view row, read as its capnp type.
template <typename T>
class Row {
 public:
  bool Open(std::string_view bytes) {
    if (bytes.empty() || bytes.size() % 8 != 0) return false;
    words_ = kj::heapArray<capnp::word>(bytes.size() / 8);
    memcpy(words_.begin(), bytes.data(), bytes.size());
    segments_[0] = words_.asPtr();
    try {
      reader_.emplace(kj::arrayPtr(segments_, 1), LedgerReaderOptions());
      root_ = reader_->getRoot<T>();
      return true;
    } catch (const kj::Exception&) {
      return false;
    }
  }
  const typename T::Reader* operator->() const { return &root_; }
  typename T::Reader get() const { return root_; }

 private:
  kj::Array<capnp::word> words_;
  kj::ArrayPtr<const capnp::word> segments_[1];
  std::optional<capnp::SegmentArrayMessageReader> reader_;
  typename T::Reader root_;
};

template <typename T>
Status ReadRow(const RowSource& rows, const std::string& key, Row<T>* out, bool* found) {
  std::string bytes;
  FL_RETURN_IF_ERROR(rows.Get(key, &bytes, found));
  if (*found && !out->Open(bytes)) {
    return Status::Corruption("projection_row_malformed", "view row " + key.substr(1));
  }
  return Status::Ok();
}

Status HolderBalance(const RowSource& rows, AccountHolder kind, std::string_view holder,
                     Balance* out) {
  std::string bytes;
  bool found = false;
  std::string key = ViewRows::BalanceKey(kind, holder);
  FL_RETURN_IF_ERROR(rows.Get(key, &bytes, &found));
  *out = Balance();
  if (found && !DecodeBalance(bytes, out)) {
    return Status::Corruption("projection_row_malformed", "balance row of " + key.substr(2));
  }
  return Status::Ok();
}

// The scope's holders: its projects, or its pool.
std::vector<std::pair<AccountHolder, std::string>> Holders(const ViewPoint& point) {
  std::vector<std::pair<AccountHolder, std::string>> out;
  if (point.scope().kind == ScopeKind::kPool) {
    out.emplace_back(AccountHolder::POOL, point.scope().id);
  } else {
    for (const std::string& p : point.projects()) out.emplace_back(AccountHolder::PROJECT, p);
  }
  return out;
}

// Money in per category.
std::array<int64_t, kCategories> MoneyIn(const Balance& b) {
  std::array<int64_t, kCategories> in{};
  for (size_t c = 0; c < kCategories; ++c) in[c] = b.by_category[c].money_in_fen();
  return in;
}

std::string OrgKindName(schema::OrgKind kind) {
  auto enumerants = capnp::Schema::from<schema::OrgKind>().getEnumerants();
  if (uint16_t(kind) >= enumerants.size()) return std::to_string(uint16_t(kind));
  return SnakeCase(enumerants[uint16_t(kind)].getProto().getName().cStr());
}

std::string Month(int64_t day) { return FormatDate(day).substr(0, 7); }

// Ratios of one balance, with `plan` where the scope has one and the targets of `policy`.
void ComputeRatios(const Balance& balance, bool pool, const std::array<int64_t, kCategories>* plan,
                   const Policy& policy, Ratios* out) {
  *out = Ratios();
  auto in = MoneyIn(balance);
  Figures total = balance.Total();
  int64_t all_in = total.money_in_fen();
  for (size_t c = 0; c < kCategories; ++c) out->mix_bp[c] = RatioBp(in[c], all_in);
  using C = schema::Category;
  auto at = [&](C c) { return in[size_t(c)]; };
  int64_t government = at(C::CENTRAL) + at(C::PROVINCIAL) + at(C::MUNICIPAL) + at(C::DISTRICT);
  out->government_share_bp = RatioBp(government, all_in);
  out->social_capital_to_government_bp = RatioBp(at(C::SOCIAL_CAPITAL), government);
  out->utility_share_bp = RatioBp(at(C::UTILITY), all_in);
  out->resident_share_bp = RatioBp(at(C::RESIDENT), all_in);
  out->local_government_share_bp = RatioBp(at(C::MUNICIPAL) + at(C::DISTRICT), all_in);
  if (pool) out->allocation_rate_bp = RatioBp(total.allocated_out_fen, all_in);
  out->payment_rate_bp = RatioBp(total.disbursed_fen, all_in);
  out->pledge_fulfilment_bp = RatioBp(total.pledge_received_fen, total.pledged_fen);
  if (plan != nullptr) {
    out->has_plan = true;
    out->plan_fen = *plan;
    for (size_t c = 0; c < kCategories; ++c) out->plan_deviation_fen[c] = in[c] - (*plan)[c];
  }
  for (const PolicyTargetRule& rule : policy.targets) {
    // A target binds the holders that have its ratio: allocation (分配进度) is a pool's, payment
    // (支出进度) a project's (a pool pays no payee). Held to the others it would flag every
    // project, or every pool, for good.
    if ((!pool && rule.metric == "allocation_rate_bp") ||
        (pool && rule.metric == "payment_rate_bp")) {
      continue;
    }
    Ratios::Target t{rule.metric, rule.min_bp, rule.max_bp, out->Metric(rule.metric), false};
    t.met = t.value_bp.has_value() && (!t.min_bp || *t.value_bp >= int64_t(*t.min_bp)) &&
            (!t.max_bp || *t.value_bp <= int64_t(*t.max_bp));
    out->targets.push_back(std::move(t));
  }
}

// The funding plan and budget of a project's HolderView.
struct ProjectFacts {
  std::string region;
  std::array<int64_t, kCategories> plan{};
  std::array<int64_t, kWorks> budget{};
  std::vector<std::string> compounds;
  uint64_t registered_seq = 0, closed_seq = 0;
  int64_t registered_day = 0, closed_day = 0;
  int64_t first_in_day = 0;
};

Status ReadProject(const RowSource& rows, std::string_view project, ProjectFacts* out,
                   bool* found) {
  Row<schema::HolderView> row;
  FL_RETURN_IF_ERROR(
      ReadRow(rows, ViewRows::HolderKey(AccountHolder::PROJECT, project), &row, found));
  if (!*found) return Status::Ok();
  *out = ProjectFacts();
  auto p = row->getProject();
  out->region = p.getRegion();
  for (auto a : p.getFundingPlan()) {
    if (size_t(a.getCategory()) < kCategories) {
      out->plan[size_t(a.getCategory())] += int64_t(a.getAmountFen());
    }
  }
  out->budget = {{int64_t(p.getBudget().getBasicFen()), int64_t(p.getBudget().getImprovementFen()),
                  int64_t(p.getBudget().getEnhancementFen())}};
  for (auto c : p.getCompounds()) out->compounds.emplace_back(c.cStr());
  out->registered_seq = row->getRegisteredSeq();
  out->registered_day = row->getRegisteredDay();
  out->closed_seq = row->getClosedSeq();
  out->closed_day = row->getClosedDay();
  out->first_in_day = row->getFirstInDay();
  return Status::Ok();
}

Status ProjectLines(const RowSource& rows, const std::string& project,
                    std::vector<DisbursementLine>* out) {
  Status failure;
  FL_RETURN_IF_ERROR(rows.Scan(
      ViewRows::DisbursementPrefix(project), [&](std::string_view, std::string_view bytes) {
        Row<schema::DisbursementView> row;
        if (!row.Open(bytes)) {
          failure = Status::Corruption("projection_row_malformed",
                                       "disbursement row of project " + project);
          return false;
        }
        auto body = row->getBody();
        DisbursementLine line;
        line.seq = row->getSeq();
        line.id = row->getId();
        line.project = project;
        line.day = row->getDay();
        line.category = body.getCategory();
        line.amount_fen = int64_t(body.getAmountFen());
        line.payee_name = body.getPayee().getName();
        line.payee_kind = body.getPayee().getKind();
        line.payee_credit_code = body.getPayee().getCreditCode();
        line.payee_org = body.getPayee().getOrg();
        line.work = body.getWork();
        line.item = body.getItem();
        if (body.getUnits().isValue()) line.units = body.getUnits().getValue();
        line.contract_ref = body.getContractRef();
        line.invoice_ref = body.getInvoiceRef();
        line.acknowledged_by = row->getAcknowledgedBy();
        line.reversed_by = row->getReversedBy();
        for (auto f : row->getFindings()) line.findings.emplace_back(f.cStr());
        out->push_back(std::move(line));
        return true;
      }));
  return failure;
}

}  // namespace

const char* CategoryName(schema::Category c) {
  return size_t(c) < kCategories ? kCategoryNames[size_t(c)] : "unknown";
}
const char* WorkName(schema::Work w) { return size_t(w) < kWorks ? kWorkNames[size_t(w)] : "?"; }

std::optional<int64_t> RatioBp(int64_t num, int64_t den) {
  if (den == 0) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  // floor((2 num 10000 + den) / (2 den)): half up, for either sign of num.
  __int128 n = __int128(num) * 20000 + den;
  __int128 d = __int128(den) * 2;
  __int128 q = n / d;
  if (n % d != 0 && n < 0) --q;
  // A share past 2^63 bp (a few fen of government money against 10^18 of social capital) is
  // shown as the largest one rather than wrapped.
  if (q > INT64_MAX) return INT64_MAX;
  if (q < INT64_MIN) return INT64_MIN;
  return int64_t(q);
}

std::optional<int64_t> Ratios::Metric(std::string_view name) const {
  if (name == "government_share_bp") return government_share_bp;
  if (name == "social_capital_to_government_bp") return social_capital_to_government_bp;
  if (name == "utility_share_bp") return utility_share_bp;
  if (name == "resident_share_bp") return resident_share_bp;
  if (name == "local_government_share_bp") return local_government_share_bp;
  if (name == "allocation_rate_bp") return allocation_rate_bp;
  if (name == "payment_rate_bp") return payment_rate_bp;
  if (name == "pledge_fulfilment_bp") return pledge_fulfilment_bp;
  return std::nullopt;
}

Status BalanceOf(const ViewPoint& point, Balance* out) {
  *out = Balance();
  for (const auto& [kind, holder] : Holders(point)) {
    Balance b;
    FL_RETURN_IF_ERROR(HolderBalance(point.rows(), kind, holder, &b));
    *out += b;
  }
  return Status::Ok();
}

Status ProjectBalanceOf(const ViewPoint& point, std::string_view project, Balance* out) {
  const std::vector<std::string>& projects = point.projects();
  if (point.scope().kind == ScopeKind::kPool ||
      !std::binary_search(projects.begin(), projects.end(), project)) {
    return Status::InvalidArgument("project_not_in_scope",
                                   std::string(project) + " is not a project of this scope",
                                   "project");
  }
  return HolderBalance(point.rows(), AccountHolder::PROJECT, project, out);
}

Status RatiosOf(const ViewPoint& point, Ratios* out) {
  Balance balance;
  FL_RETURN_IF_ERROR(BalanceOf(point, &balance));
  bool pool = point.scope().kind == ScopeKind::kPool;
  std::array<int64_t, kCategories> plan{};
  if (!pool) {
    for (const std::string& p : point.projects()) {
      ProjectFacts facts;
      bool found = false;
      FL_RETURN_IF_ERROR(ReadProject(point.rows(), p, &facts, &found));
      for (size_t c = 0; c < kCategories; ++c) plan[c] += facts.plan[c];
    }
  }
  ComputeRatios(balance, pool, pool ? nullptr : &plan, point.PolicyIn(point.region()), out);
  return Status::Ok();
}

size_t DisbursementsIndex::bytes() const {
  size_t n = sizeof(*this) + project_lines.size() * sizeof(uint64_t);
  for (const auto* totals : {&totals.by_work, &totals.by_item, &totals.by_payee, &totals.by_month,
                             &totals.by_category}) {
    for (const DisbursementTotal& t : *totals) {
      n += sizeof(t) + t.key.capacity() + t.name.capacity();
    }
  }
  return n;
}

namespace {

// Whether line `index` of the list is in `window`.
bool Listed(uint64_t index, LinesWindow window) {
  return index >= window.from && index - window.from < window.limit;
}

// A page from the index: the totals as they are, and the lines of the projects the window
// reaches.
Status PageFromIndex(const ViewPoint& point, const DisbursementsIndex& index, LinesWindow window,
                     Disbursements* out) {
  const std::vector<std::string>& projects = point.projects();
  *out = index.totals;
  out->lines.clear();
  out->lines_from = window.from;
  std::vector<DisbursementLine> lines;
  uint64_t start = 0;
  for (size_t i = 0; i < projects.size(); ++i) {
    const uint64_t end = start + index.project_lines[i];
    const uint64_t first = std::max(start, window.from);  // the project's first line it may list
    if (first < end && Listed(first, window)) {
      lines.clear();
      FL_RETURN_IF_ERROR(ProjectLines(point.rows(), projects[i], &lines));
      if (lines.size() != index.project_lines[i]) {
        return Status::Corruption(
            "disbursements_index",
            "the list's index is not of this point (project " + projects[i] + ")");
      }
      for (uint64_t j = first - start; j < lines.size() && Listed(start + j, window); ++j) {
        out->lines.push_back(std::move(lines[j]));
      }
    }
    start = end;
  }
  return Status::Ok();
}

}  // namespace

Status DisbursementsOf(const ViewPoint& point, Disbursements* out, LinesWindow window,
                       const DisbursementsIndex* reuse, DisbursementsIndex* made) {
  if (reuse != nullptr && reuse->made && reuse->project_lines.size() == point.projects().size()) {
    return PageFromIndex(point, *reuse, window, out);
  }
  *out = Disbursements();
  out->lines_from = window.from;
  std::vector<uint64_t> project_lines;
  std::map<std::string, DisbursementTotal> work, item, payee, month, category;
  auto add = [](std::map<std::string, DisbursementTotal>* m, const std::string& key,
                const std::string& name, int64_t amount) {
    DisbursementTotal& t = (*m)[key];
    t.key = key;
    if (t.name.empty()) t.name = name;
    t.amount_fen += amount;
    ++t.count;
  };
  // One project's lines at a time: the totals take every line, the list only the window's.
  std::vector<DisbursementLine> lines;
  for (const std::string& p : point.projects()) {
    lines.clear();
    FL_RETURN_IF_ERROR(ProjectLines(point.rows(), p, &lines));
    project_lines.push_back(lines.size());
    for (DisbursementLine& line : lines) {
      const uint64_t index = out->lines_total++;
      const bool listed = Listed(index, window);
      if (line.reversed_by.empty()) {
        out->total_fen += line.amount_fen;
        ++out->count;
        add(&work, WorkName(line.work), "", line.amount_fen);
        add(&item, line.item, "", line.amount_fen);
        std::string who = !line.payee_org.empty()           ? "org:" + line.payee_org
                          : !line.payee_credit_code.empty() ? "code:" + line.payee_credit_code
                                                            : "name:" + line.payee_name;
        add(&payee, who, line.payee_name, line.amount_fen);
        add(&month, Month(line.day), "", line.amount_fen);
        add(&category, CategoryName(line.category), "", line.amount_fen);
      }
      if (listed) out->lines.push_back(std::move(line));
    }
  }
  auto finish = [&](std::map<std::string, DisbursementTotal>& m, bool by_amount) {
    std::vector<DisbursementTotal> v;
    for (auto& [_, t] : m) {
      t.share_bp = RatioBp(t.amount_fen, out->total_fen);
      v.push_back(std::move(t));
    }
    if (by_amount) {
      std::stable_sort(v.begin(), v.end(),
                       [](const auto& a, const auto& b) { return a.amount_fen > b.amount_fen; });
    }
    return v;
  };
  out->by_work = finish(work, false);
  out->by_item = finish(item, true);
  out->by_payee = finish(payee, true);
  out->by_month = finish(month, false);
  out->by_category = finish(category, false);
  if (made != nullptr) {
    std::vector<DisbursementLine> listed = std::move(out->lines);
    out->lines.clear();
    made->totals = *out;
    made->project_lines = std::move(project_lines);
    made->made = true;
    out->lines = std::move(listed);
  }
  return Status::Ok();
}

namespace {

// For each of `compounds` (named by a project of `region`), the projects whose compound rows name
// it where the two could be one compound: the same district, a region above it (a city's
// project may name a compound of any of its districts), and, for a project above district
// level, any region below it. The project itself is among them.
Status ProjectsNamingCompounds(const RowSource& rows, std::string_view region,
                               const std::vector<std::string>& compounds,
                               std::vector<std::vector<std::string>>* out) {
  out->assign(compounds.size(), {});
  auto add = [&](std::string_view key) {
    // 'c' district '\0' compound '\0' project
    size_t first = key.find('\0');
    size_t second = first == std::string_view::npos ? first : key.find('\0', first + 1);
    if (second == std::string_view::npos) return;
    std::string_view compound = key.substr(first + 1, second - first - 1);
    for (size_t i = 0; i < compounds.size(); ++i) {
      if (compounds[i] == compound) (*out)[i].emplace_back(key.substr(second + 1));
    }
  };
  // The district and every region above it, compound by compound.
  const std::string district = ViewRows::CompoundRegionPrefix(region).substr(1);
  for (size_t end = 0;; ++end) {
    end = district.find('/', end);
    std::string_view above = std::string_view(district).substr(0, end);
    for (const std::string& compound : compounds) {
      FL_RETURN_IF_ERROR(rows.Scan(ViewRows::CompoundPrefix(above, compound),
                                   [&](std::string_view key, std::string_view) {
                                     add(key);
                                     return true;
                                   }));
    }
    if (end == std::string::npos) break;
  }
  // Above district level, every region below: one scan of them all.
  if (std::count(district.begin(), district.end(), '/') < 2) {
    const std::string below = ViewRows::CompoundRegionPrefix(region) + "/";
    FL_RETURN_IF_ERROR(rows.Scan(below, [&](std::string_view key, std::string_view) {
      add(key);
      return true;
    }));
  }
  return Status::Ok();
}

Status ProjectFlags(const ViewPoint& point, const std::string& project, std::vector<Flag>* out) {
  const RowSource& rows = point.rows();
  ProjectFacts facts;
  bool found = false;
  FL_RETURN_IF_ERROR(ReadProject(rows, project, &facts, &found));
  if (!found) return Status::Ok();
  Policy policy = point.PolicyIn(facts.region);
  int64_t today = point.reference_day();
  auto flag = [&](const char* name, std::string message) {
    Flag f;
    f.flag = name;
    f.holder = project;
    f.message = std::move(message);
    out->push_back(std::move(f));
    return &out->back();
  };
  Balance balance;
  FL_RETURN_IF_ERROR(HolderBalance(rows, AccountHolder::PROJECT, project, &balance));
  Figures total = balance.Total();

  std::vector<DisbursementLine> lines;
  FL_RETURN_IF_ERROR(ProjectLines(rows, project, &lines));
  // Idle since the last payment that stands (a reversed one paid nothing), or if none since
  // the money first came in.
  int64_t since = 0;
  for (const DisbursementLine& line : lines) {
    if (line.reversed_by.empty()) since = std::max(since, line.day);
  }
  if (since == 0) since = facts.first_in_day;
  if (total.available_fen() > 0 && since != 0 && today - since > int64_t(policy.idle_days_max)) {
    Flag* f =
        flag("idle_funds", "money available and nothing paid for " + std::to_string(today - since) +
                               " days (limit " + std::to_string(policy.idle_days_max) + ")");
    f->amount_fen = total.available_fen();
    f->days = today - since;
  }

  std::array<int64_t, kWorks> paid{};
  for (const DisbursementLine& line : lines) {
    if (!line.reversed_by.empty()) continue;
    if (size_t(line.work) < kWorks) paid[size_t(line.work)] += line.amount_fen;
    if (line.units) {
      for (const auto& [item, cap] : policy.unit_caps) {
        if (item != line.item) continue;
        __int128 limit = __int128(cap) * *line.units;
        if (__int128(line.amount_fen) > limit) {
          Flag* f = flag("unit_cap_exceeded", "paid above the cap of " + std::to_string(cap) +
                                                  " fen per unit for " + item);
          f->event_id = line.id;
          f->amount_fen = line.amount_fen;
          f->limit_fen = int64_t(limit);
        }
      }
    }
    if (!line.payee_org.empty() && line.acknowledged_by.empty() &&
        today - line.day > kUnacknowledgedDays) {
      Flag* f = flag("unacknowledged", "payment to " + line.payee_org + " not acknowledged after " +
                                           std::to_string(today - line.day) + " days");
      f->event_id = line.id;
      f->amount_fen = line.amount_fen;
      f->days = today - line.day;
    }
  }
  for (size_t w = 0; w < kWorks; ++w) {
    if (paid[w] > facts.budget[w]) {
      Flag* f = flag("over_budget",
                     std::string("disbursed for ") + kWorkNames[w] + " work above its budget");
      f->work = kWorkNames[w];
      f->amount_fen = paid[w];
      f->limit_fen = facts.budget[w];
    }
  }

  Ratios ratios;
  ComputeRatios(balance, false, &facts.plan, policy, &ratios);
  for (const Ratios::Target& t : ratios.targets) {
    if (t.met) continue;
    Flag* f = flag("target_missed", "the policy target for " + t.metric + " is not met");
    f->metric = t.metric;
  }

  if (point.LiveAt(facts.registered_seq, facts.registered_day, facts.closed_seq,
                   facts.closed_day)) {
    JournalRows stored(point.journal());
    std::vector<std::vector<std::string>> naming;
    FL_RETURN_IF_ERROR(ProjectsNamingCompounds(stored, facts.region, facts.compounds, &naming));
    for (size_t i = 0; i < facts.compounds.size(); ++i) {
      const std::string& compound = facts.compounds[i];
      for (const std::string& other : naming[i]) {
        if (other == project) continue;
        ProjectFacts of;
        bool exists = false;
        // The other project's times are the same in every fold; read them at the head.
        FL_RETURN_IF_ERROR(ReadProject(stored, other, &of, &exists));
        if (!exists ||
            !point.LiveAt(of.registered_seq, of.registered_day, of.closed_seq, of.closed_day)) {
          continue;
        }
        Flag* f = flag("duplicate_compound", compound + " is also in live project " + other);
        f->compound = compound;
      }
    }
  }

  Status failure;
  std::vector<std::string> findings;
  FL_RETURN_IF_ERROR(rows.Scan(ViewRows::ProjectFindingPrefix(project),
                               [&](std::string_view key, std::string_view) {
                                 findings.emplace_back(key.substr(key.find('\0') + 1));
                                 return true;
                               }));
  for (const std::string& id : findings) {
    Row<schema::FindingView> row;
    bool exists = false;
    FL_RETURN_IF_ERROR(ReadRow(rows, ViewRows::FindingKey(id), &row, &exists));
    if (!exists || row->getResolvedSeq() != 0) continue;
    Flag* f = flag("open_finding", "audit finding " + id + " (" +
                                       SnakeCase(capnp::Schema::from<schema::Severity>()
                                                     .getEnumerants()[uint16_t(row->getSeverity())]
                                                     .getProto()
                                                     .getName()
                                                     .cStr()) +
                                       ") is open");
    f->finding = id;
  }
  return Status::Ok();
}

Status PoolFlags(const ViewPoint& point, std::vector<Flag>* out) {
  const RowSource& rows = point.rows();
  const std::string& pool = point.scope().id;
  Policy policy = point.PolicyIn(point.region());
  Balance balance;
  FL_RETURN_IF_ERROR(HolderBalance(rows, AccountHolder::POOL, pool, &balance));
  Row<schema::HolderView> row;
  bool found = false;
  FL_RETURN_IF_ERROR(ReadRow(rows, ViewRows::HolderKey(AccountHolder::POOL, pool), &row, &found));
  int64_t available = balance.Total().available_fen();
  if (found) {
    // Idle since the last allocation that stands (a reversed one passed nothing on), or if none
    // since the money first came in.
    int64_t since = 0;
    Status bad = Status::Ok();
    FL_RETURN_IF_ERROR(
        rows.Scan(ViewRows::PoolOutPrefix(pool), [&](std::string_view key, std::string_view value) {
          if (value.empty()) return true;  // reversed
          int64_t day = 0;
          bad = ViewRows::DecodeI64Row("pool allocation", key, value, &day);
          since = std::max(since, day);
          return bad.ok();
        }));
    FL_RETURN_IF_ERROR(bad);
    if (since == 0) since = row->getFirstInDay();
    int64_t idle = point.reference_day() - since;
    if (available > 0 && since != 0 && idle > int64_t(policy.idle_days_max)) {
      Flag f;
      f.flag = "idle_funds";
      f.holder_kind = AccountHolder::POOL;
      f.holder = pool;
      f.message = "money available and nothing allocated for " + std::to_string(idle) +
                  " days (limit " + std::to_string(policy.idle_days_max) + ")";
      f.amount_fen = available;
      f.days = idle;
      out->push_back(std::move(f));
    }
  }
  Ratios ratios;
  ComputeRatios(balance, true, nullptr, policy, &ratios);
  for (const Ratios::Target& t : ratios.targets) {
    if (t.met) continue;
    Flag f;
    f.flag = "target_missed";
    f.holder_kind = AccountHolder::POOL;
    f.holder = pool;
    f.metric = t.metric;
    f.message = "the policy target for " + t.metric + " is not met";
    out->push_back(std::move(f));
  }
  return Status::Ok();
}

}  // namespace

Status ProjectsOf(const ViewPoint& point, std::vector<ProjectSummary>* out) {
  out->clear();
  auto phases = capnp::Schema::from<schema::ProjectPhase>().getEnumerants();
  for (const std::string& id : point.projects()) {
    Row<schema::HolderView> row;
    bool found = false;
    FL_RETURN_IF_ERROR(
        ReadRow(point.rows(), ViewRows::HolderKey(AccountHolder::PROJECT, id), &row, &found));
    if (!found) continue;
    auto p = row->getProject();
    ProjectSummary summary{id, p.getName(), p.getRegion(), "", 0, 0};
    uint16_t phase = uint16_t(row->getPhase());
    summary.phase = phase < phases.size() ? phases[phase].getProto().getName().cStr() : "";
    for (auto a : p.getFundingPlan()) summary.plan_fen += int64_t(a.getAmountFen());
    auto b = p.getBudget();
    summary.budget_fen =
        int64_t(b.getBasicFen()) + int64_t(b.getImprovementFen()) + int64_t(b.getEnhancementFen());
    out->push_back(std::move(summary));
  }
  return Status::Ok();
}

Status FlagsOf(const ViewPoint& point, std::vector<Flag>* out) {
  out->clear();
  if (point.scope().kind == ScopeKind::kPool) return PoolFlags(point, out);
  for (const std::string& p : point.projects()) FL_RETURN_IF_ERROR(ProjectFlags(point, p, out));
  return Status::Ok();
}

// ---- rendering ----

namespace {

// The figures of the balance view, in the order of DESIGN.md section 5.
std::vector<std::pair<const char*, int64_t>> Columns(const Figures& f) {
  return {{"received_fen", f.received_fen},
          {"allocated_in_fen", f.allocated_in_fen},
          {"allocated_out_fen", f.allocated_out_fen},
          {"disbursed_fen", f.disbursed_fen},
          {"refunded_fen", f.refunded_fen},
          {"available_fen", f.available_fen()},
          {"pledged_fen", f.pledged_fen},
          {"pledge_outstanding_fen", f.pledge_outstanding_fen()}};
}

}  // namespace

std::string Yuan(int64_t fen) {
  bool negative = fen < 0;
  uint64_t v = negative ? uint64_t(0) - uint64_t(fen) : uint64_t(fen);
  std::string digits = std::to_string(v / 100);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  char cents[4];
  snprintf(cents, sizeof(cents), ".%02u", unsigned(v % 100));
  return (negative ? "-" : "") + grouped + cents;
}

namespace {

// Basis points as a percentage with two decimals ("66.67%"), or "-" for null.
std::string Percent(const std::optional<int64_t>& bp) {
  if (!bp) return "-";
  int64_t v = *bp;
  bool negative = v < 0;
  uint64_t a = negative ? uint64_t(0) - uint64_t(v) : uint64_t(v);
  char buf[40];
  snprintf(buf, sizeof(buf), "%s%llu.%02llu%%", negative ? "-" : "", (unsigned long long)(a / 100),
           (unsigned long long)(a % 100));
  return buf;
}

nlohmann::json Nullable(const std::optional<int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string CsvValue(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : ""; }

}  // namespace

bool IsDecimalNumber(std::string_view text) {
  if (!text.empty() && text[0] == '-') text.remove_prefix(1);
  size_t point = text.find('.');
  std::string_view whole = text.substr(0, point);
  std::string_view fraction = point == std::string_view::npos ? "0" : text.substr(point + 1);
  auto digits = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  return digits(whole) && digits(fraction);
}

std::string CsvField(std::string_view text) {
  std::string neutral;
  if (BeginsAsFormula(text) && !IsDecimalNumber(text)) {
    neutral = "'" + std::string(text);
    text = neutral;
  }
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  return out + "\"";
}

namespace {

std::string Padded(std::string_view text, int width, bool left) {
  // Width in display columns: count UTF-8 lead bytes, CJK as two columns.
  int cols = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = text[i];
    if ((c & 0xc0) == 0x80) continue;
    cols += c >= 0xe0 ? 2 : 1;
  }
  std::string pad(cols < width ? size_t(width - cols) : 0, ' ');
  return left ? std::string(text) + pad : pad + std::string(text);
}

const char* HolderKindName(AccountHolder k) {
  return k == AccountHolder::POOL ? "pool" : "project";
}

}  // namespace

nlohmann::json BalanceJson(const Balance& balance) {
  auto figures = [](const Figures& f) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, value] : Columns(f)) out[name] = value;
    return out;
  };
  nlohmann::json categories = nlohmann::json::object();
  for (size_t c = 0; c < kCategories; ++c) {
    categories[kCategoryNames[c]] = figures(balance.by_category[c]);
  }
  return {{"categories", categories}, {"total", figures(balance.Total())}};
}

std::string BalanceCsv(const Balance& balance) {
  std::string out = "category";
  for (const auto& [name, _] : Columns(Figures())) out += std::string(",") + name;
  out += "\n";
  auto line = [&](const char* name, const Figures& f) {
    out += name;
    for (const auto& [_, value] : Columns(f)) out += "," + std::to_string(value);
    out += "\n";
  };
  for (size_t c = 0; c < kCategories; ++c) line(kCategoryNames[c], balance.by_category[c]);
  line("total", balance.Total());
  return out;
}

std::string BalanceTable(const Balance& balance) {
  static const char* kHeads[] = {"received", "allocated in", "allocated out", "disbursed",
                                 "refunded", "available",    "pledged",       "outstanding"};
  std::string out = "amounts in yuan (元)\n" + Padded("category", 16, true);
  for (const char* h : kHeads) out += Padded(h, 18, false);
  out += "\n";
  auto line = [&](const char* name, const Figures& f) {
    out += Padded(name, 16, true);
    for (const auto& [_, value] : Columns(f)) out += Padded(Yuan(value), 18, false);
    out += "\n";
  };
  for (size_t c = 0; c < kCategories; ++c) line(kCategoryNames[c], balance.by_category[c]);
  line("total", balance.Total());
  return out;
}

namespace {

// The ratio fields in DESIGN.md order, with their values.
std::vector<std::pair<const char*, std::optional<int64_t>>> RatioFields(const Ratios& r) {
  return {{"government_share_bp", r.government_share_bp},
          {"social_capital_to_government_bp", r.social_capital_to_government_bp},
          {"utility_share_bp", r.utility_share_bp},
          {"resident_share_bp", r.resident_share_bp},
          {"local_government_share_bp", r.local_government_share_bp},
          {"allocation_rate_bp", r.allocation_rate_bp},
          {"payment_rate_bp", r.payment_rate_bp},
          {"pledge_fulfilment_bp", r.pledge_fulfilment_bp}};
}

}  // namespace

nlohmann::json RatiosJson(const Ratios& r) {
  nlohmann::json out = nlohmann::json::object();
  nlohmann::json mix = nlohmann::json::object();
  for (size_t c = 0; c < kCategories; ++c) mix[kCategoryNames[c]] = Nullable(r.mix_bp[c]);
  out["mix_bp"] = mix;
  for (const auto& [name, value] : RatioFields(r)) out[name] = Nullable(value);
  if (r.has_plan) {
    nlohmann::json dev = nlohmann::json::object();
    for (size_t c = 0; c < kCategories; ++c) dev[kCategoryNames[c]] = r.plan_deviation_fen[c];
    out["plan_deviation_fen"] = dev;
  } else {
    out["plan_deviation_fen"] = nullptr;
  }
  nlohmann::json targets = nlohmann::json::array();
  for (const Ratios::Target& t : r.targets) {
    targets.push_back({{"metric", t.metric},
                       {"min_bp", t.min_bp ? nlohmann::json(*t.min_bp) : nlohmann::json()},
                       {"max_bp", t.max_bp ? nlohmann::json(*t.max_bp) : nlohmann::json()},
                       {"value_bp", Nullable(t.value_bp)},
                       {"met", t.met}});
  }
  out["targets"] = targets;
  return out;
}

std::string RatiosCsv(const Ratios& r) {
  std::string out = "name,value\n";
  for (size_t c = 0; c < kCategories; ++c) {
    out += std::string("mix_bp.") + kCategoryNames[c] + "," + CsvValue(r.mix_bp[c]) + "\n";
  }
  for (const auto& [name, value] : RatioFields(r))
    out += std::string(name) + "," + CsvValue(value) + "\n";
  for (size_t c = 0; c < kCategories; ++c) {
    out += std::string("plan_deviation_fen.") + kCategoryNames[c] + "," +
           (r.has_plan ? std::to_string(r.plan_deviation_fen[c]) : "") + "\n";
  }
  for (const Ratios::Target& t : r.targets) {
    std::string base = "target." + t.metric;
    out += base + ".min_bp," + (t.min_bp ? std::to_string(*t.min_bp) : "") + "\n";
    out += base + ".max_bp," + (t.max_bp ? std::to_string(*t.max_bp) : "") + "\n";
    out += base + ".value_bp," + CsvValue(t.value_bp) + "\n";
    out += base + ".met," + (t.met ? "true" : "false") + "\n";
  }
  return out;
}

std::string RatiosTable(const Ratios& r) {
  std::string out = "money in by source (mix)\n";
  for (size_t c = 0; c < kCategories; ++c) {
    out +=
        "  " + Padded(kCategoryNames[c], 32, true) + Padded(Percent(r.mix_bp[c]), 10, false) + "\n";
  }
  out += "ratios\n";
  for (const auto& [name, value] : RatioFields(r)) {
    out += "  " + Padded(name, 32, true) + Padded(Percent(value), 10, false) + "\n";
  }
  if (r.has_plan) {
    out += "plan deviation, yuan (money in minus plan)\n";
    for (size_t c = 0; c < kCategories; ++c) {
      out += "  " + Padded(kCategoryNames[c], 32, true) +
             Padded(Yuan(r.plan_deviation_fen[c]), 18, false) + "\n";
    }
  }
  if (!r.targets.empty()) out += "policy targets\n";
  for (const Ratios::Target& t : r.targets) {
    std::string range = (t.min_bp ? ">= " + Percent(int64_t(*t.min_bp)) : std::string()) +
                        (t.min_bp && t.max_bp ? ", " : "") +
                        (t.max_bp ? "<= " + Percent(int64_t(*t.max_bp)) : std::string());
    out += "  " + Padded(t.metric, 32, true) + Padded(Percent(t.value_bp), 10, false) + "  " +
           range + (t.met ? "  met" : "  NOT MET") + "\n";
  }
  return out;
}

namespace {

nlohmann::json LineJson(const DisbursementLine& l) {
  nlohmann::json payee = {{"name", l.payee_name}, {"kind", OrgKindName(l.payee_kind)}};
  if (!l.payee_credit_code.empty()) payee["credit_code"] = l.payee_credit_code;
  if (!l.payee_org.empty()) payee["org"] = l.payee_org;
  nlohmann::json out = {
      {"id", l.id},
      {"seq", l.seq},
      {"project", l.project},
      {"occurred_on", FormatDate(l.day)},
      {"category", CategoryName(l.category)},
      {"amount_fen", l.amount_fen},
      {"payee", payee},
      {"work", WorkName(l.work)},
      {"item", l.item},
      {"units", l.units ? nlohmann::json(*l.units) : nlohmann::json()},
      {"contract_ref", l.contract_ref},
      {"invoice_ref", l.invoice_ref},
      {"acknowledged", !l.acknowledged_by.empty()},
      {"acknowledged_by",
       l.acknowledged_by.empty() ? nlohmann::json() : nlohmann::json(l.acknowledged_by)},
      {"reversed_by", l.reversed_by.empty() ? nlohmann::json() : nlohmann::json(l.reversed_by)},
      {"findings", l.findings}};
  return out;
}

nlohmann::json TotalsJson(const std::vector<DisbursementTotal>& totals, const char* key_name,
                          bool named) {
  nlohmann::json out = nlohmann::json::array();
  for (const DisbursementTotal& t : totals) {
    nlohmann::json row = {{key_name, t.key},
                          {"amount_fen", t.amount_fen},
                          {"count", t.count},
                          {"share_bp", Nullable(t.share_bp)}};
    if (named) row["name"] = t.name;
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace

nlohmann::json DisbursementsJson(const Disbursements& d) {
  nlohmann::json lines = nlohmann::json::array();
  for (const DisbursementLine& l : d.lines) lines.push_back(LineJson(l));
  return {{"total_fen", d.total_fen},
          {"count", d.count},
          {"by_work", TotalsJson(d.by_work, "work", false)},
          {"by_item", TotalsJson(d.by_item, "item", false)},
          {"by_payee", TotalsJson(d.by_payee, "payee", true)},
          {"by_month", TotalsJson(d.by_month, "month", false)},
          {"by_category", TotalsJson(d.by_category, "category", false)},
          {"disbursements", lines},
          {"page",
           {{"from", d.lines_from},
            {"listed", d.lines.size()},
            {"total", d.lines_total},
            {"next", nullptr}}}};
}

namespace {

// Reads DisbursementsJson's JSON back; each reader fails with the field it could not read.
class JsonReader {
 public:
  Status Fail(const std::string& field) const {
    return Status::InvalidArgument("bad_view_json", "not a disbursements view: " + field, field);
  }
  Status Text(const nlohmann::json& j, const char* key, std::string* out) const {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return Fail(key);
    *out = it->get<std::string>();
    return Status::Ok();
  }
  // A string, or null for empty.
  Status TextOrNull(const nlohmann::json& j, const char* key, std::string* out) const {
    auto it = j.find(key);
    if (it != j.end() && it->is_null()) {
      out->clear();
      return Status::Ok();
    }
    return Text(j, key, out);
  }
  template <typename Int>
  Status Number(const nlohmann::json& j, const char* key, Int* out) const {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_integer()) return Fail(key);
    *out = it->get<Int>();
    return Status::Ok();
  }
  // One of `count` names given by name_of(0..count-1).
  template <typename Enum, typename NameOf>
  Status Named(const nlohmann::json& j, const char* key, size_t count, NameOf name_of,
               Enum* out) const {
    std::string text;
    FL_RETURN_IF_ERROR(Text(j, key, &text));
    for (size_t i = 0; i < count; ++i) {
      if (text == name_of(Enum(i))) {
        *out = Enum(i);
        return Status::Ok();
      }
    }
    return Fail(key);
  }
};

Status TotalsFromJson(const JsonReader& r, const nlohmann::json& j, const char* key_name,
                      bool named, std::vector<DisbursementTotal>* out) {
  if (!j.is_array()) return r.Fail(std::string("by_") + key_name);
  for (const auto& row : j) {
    DisbursementTotal t;
    FL_RETURN_IF_ERROR(r.Text(row, key_name, &t.key));
    FL_RETURN_IF_ERROR(r.Number(row, "amount_fen", &t.amount_fen));
    FL_RETURN_IF_ERROR(r.Number(row, "count", &t.count));
    if (auto it = row.find("share_bp"); it == row.end() || !it->is_null()) {
      int64_t bp = 0;
      FL_RETURN_IF_ERROR(r.Number(row, "share_bp", &bp));
      t.share_bp = bp;
    }
    if (named) FL_RETURN_IF_ERROR(r.Text(row, "name", &t.name));
    out->push_back(std::move(t));
  }
  return Status::Ok();
}

Status LineFromJson(const JsonReader& r, const nlohmann::json& j, DisbursementLine* l) {
  FL_RETURN_IF_ERROR(r.Text(j, "id", &l->id));
  FL_RETURN_IF_ERROR(r.Number(j, "seq", &l->seq));
  FL_RETURN_IF_ERROR(r.Text(j, "project", &l->project));
  std::string day;
  FL_RETURN_IF_ERROR(r.Text(j, "occurred_on", &day));
  if (!ParseDate(day, "occurred_on", &l->day).ok()) return r.Fail("occurred_on");
  FL_RETURN_IF_ERROR(r.Named(j, "category", kCategories, CategoryName, &l->category));
  FL_RETURN_IF_ERROR(r.Number(j, "amount_fen", &l->amount_fen));
  auto payee = j.find("payee");
  if (payee == j.end() || !payee->is_object()) return r.Fail("payee");
  FL_RETURN_IF_ERROR(r.Text(*payee, "name", &l->payee_name));
  const size_t kinds = capnp::Schema::from<schema::OrgKind>().getEnumerants().size();
  FL_RETURN_IF_ERROR(r.Named(*payee, "kind", kinds, OrgKindName, &l->payee_kind));
  if (payee->contains("credit_code")) {
    FL_RETURN_IF_ERROR(r.Text(*payee, "credit_code", &l->payee_credit_code));
  }
  if (payee->contains("org")) FL_RETURN_IF_ERROR(r.Text(*payee, "org", &l->payee_org));
  FL_RETURN_IF_ERROR(r.Named(j, "work", kWorks, WorkName, &l->work));
  FL_RETURN_IF_ERROR(r.Text(j, "item", &l->item));
  if (auto it = j.find("units"); it == j.end() || !it->is_null()) {
    uint32_t units = 0;
    FL_RETURN_IF_ERROR(r.Number(j, "units", &units));
    l->units = units;
  }
  FL_RETURN_IF_ERROR(r.Text(j, "contract_ref", &l->contract_ref));
  FL_RETURN_IF_ERROR(r.Text(j, "invoice_ref", &l->invoice_ref));
  FL_RETURN_IF_ERROR(r.TextOrNull(j, "acknowledged_by", &l->acknowledged_by));
  FL_RETURN_IF_ERROR(r.TextOrNull(j, "reversed_by", &l->reversed_by));
  auto findings = j.find("findings");
  if (findings == j.end() || !findings->is_array()) return r.Fail("findings");
  for (const auto& f : *findings) {
    if (!f.is_string()) return r.Fail("findings");
    l->findings.push_back(f.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace

Status DisbursementsFromJson(const nlohmann::json& json, Disbursements* out) {
  *out = Disbursements();
  JsonReader r;
  if (!json.is_object()) return r.Fail("disbursements");
  FL_RETURN_IF_ERROR(r.Number(json, "total_fen", &out->total_fen));
  FL_RETURN_IF_ERROR(r.Number(json, "count", &out->count));
  const std::pair<const char*, std::vector<DisbursementTotal>*> totals[] = {
      {"work", &out->by_work},
      {"item", &out->by_item},
      {"payee", &out->by_payee},
      {"month", &out->by_month},
      {"category", &out->by_category}};
  for (const auto& [name, v] : totals) {
    auto it = json.find(std::string("by_") + name);
    if (it == json.end()) return r.Fail(std::string("by_") + name);
    FL_RETURN_IF_ERROR(TotalsFromJson(r, *it, name, v == &out->by_payee, v));
  }
  auto lines = json.find("disbursements");
  if (lines == json.end() || !lines->is_array()) return r.Fail("disbursements");
  for (const auto& line : *lines) {
    out->lines.emplace_back();
    FL_RETURN_IF_ERROR(LineFromJson(r, line, &out->lines.back()));
  }
  auto page = json.find("page");
  if (page == json.end() || !page->is_object()) return r.Fail("page");
  uint64_t listed = 0;
  FL_RETURN_IF_ERROR(r.Number(*page, "from", &out->lines_from));
  FL_RETURN_IF_ERROR(r.Number(*page, "listed", &listed));
  FL_RETURN_IF_ERROR(r.Number(*page, "total", &out->lines_total));
  if (listed != out->lines.size()) return r.Fail("page.listed");
  return Status::Ok();
}

std::string DisbursementsCsv(const Disbursements& d) {
  std::string out =
      "seq,id,project,occurred_on,category,amount_fen,payee_name,payee_kind,payee_credit_code,"
      "payee_org,work,item,units,contract_ref,invoice_ref,acknowledged_by,reversed_by,findings\n";
  for (const DisbursementLine& l : d.lines) {
    std::string findings;
    for (const std::string& f : l.findings) findings += (findings.empty() ? "" : " ") + f;
    std::vector<std::string> fields = {std::to_string(l.seq),
                                       l.id,
                                       l.project,
                                       FormatDate(l.day),
                                       CategoryName(l.category),
                                       std::to_string(l.amount_fen),
                                       l.payee_name,
                                       OrgKindName(l.payee_kind),
                                       l.payee_credit_code,
                                       l.payee_org,
                                       WorkName(l.work),
                                       l.item,
                                       l.units ? std::to_string(*l.units) : "",
                                       l.contract_ref,
                                       l.invoice_ref,
                                       l.acknowledged_by,
                                       l.reversed_by,
                                       findings};
    for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + CsvField(fields[i]);
    out += "\n";
  }
  return out;
}

std::string DisbursementsTable(const Disbursements& d) {
  std::string out = "disbursed " + Yuan(d.total_fen) + " yuan in " + std::to_string(d.count) +
                    " payments (reversed ones left out)\n";
  auto section = [&](const char* title, const std::vector<DisbursementTotal>& totals) {
    out += title;
    out += "\n";
    for (const DisbursementTotal& t : totals) {
      std::string label = t.name.empty() ? t.key : t.name + " (" + t.key + ")";
      out += "  " + Padded(label, 48, true) + Padded(Yuan(t.amount_fen), 18, false) +
             Padded(Percent(t.share_bp), 10, false) + "\n";
    }
  };
  section("by work", d.by_work);
  section("by item", d.by_item);
  section("by payee", d.by_payee);
  section("by month", d.by_month);
  section("by source category", d.by_category);
  out += "payments\n";
  for (const DisbursementLine& l : d.lines) {
    std::string status = !l.reversed_by.empty()       ? "reversed by " + l.reversed_by
                         : !l.acknowledged_by.empty() ? "acknowledged"
                         : !l.payee_org.empty()       ? "awaiting acknowledgement"
                                                      : "";
    if (!l.findings.empty()) status += (status.empty() ? "" : "; ") + std::string("findings");
    out += "  " + FormatDate(l.day) + "  " + Padded(l.id, 28, true) +
           Padded(Yuan(l.amount_fen), 18, false) + "  " + Padded(l.payee_name, 30, true) + " " +
           WorkName(l.work) + "/" + l.item + (status.empty() ? "" : "  [" + status + "]") + "\n";
  }
  if (d.lines_from != 0 || d.lines.size() != d.lines_total) {
    const std::string total = std::to_string(d.lines_total);
    out += d.lines.empty()
               ? "(none of the " + total + " payments)\n"
               : "(payments " + std::to_string(d.lines_from + 1) + " to " +
                     std::to_string(d.lines_from + d.lines.size()) + " of " + total + ")\n";
  }
  return out;
}

nlohmann::json FlagsJson(const std::vector<Flag>& flags) {
  nlohmann::json out = nlohmann::json::array();
  for (const Flag& f : flags) {
    nlohmann::json row = {
        {"flag", f.flag}, {HolderKindName(f.holder_kind), f.holder}, {"message", f.message}};
    if (!f.event_id.empty()) row["event_id"] = f.event_id;
    if (!f.finding.empty()) row["finding"] = f.finding;
    if (!f.metric.empty()) row["metric"] = f.metric;
    if (!f.work.empty()) row["work"] = f.work;
    if (!f.compound.empty()) row["compound"] = f.compound;
    if (f.amount_fen) row["amount_fen"] = *f.amount_fen;
    if (f.limit_fen) row["limit_fen"] = *f.limit_fen;
    if (f.days) row["days"] = *f.days;
    out.push_back(std::move(row));
  }
  return out;
}

std::string FlagsCsv(const std::vector<Flag>& flags) {
  std::string out =
      "flag,holder_kind,holder,event_id,finding,metric,work,compound,amount_fen,limit_fen,days,"
      "message\n";
  for (const Flag& f : flags) {
    std::vector<std::string> fields = {f.flag,
                                       HolderKindName(f.holder_kind),
                                       f.holder,
                                       f.event_id,
                                       f.finding,
                                       f.metric,
                                       f.work,
                                       f.compound,
                                       CsvValue(f.amount_fen),
                                       CsvValue(f.limit_fen),
                                       CsvValue(f.days),
                                       f.message};
    for (size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + CsvField(fields[i]);
    out += "\n";
  }
  return out;
}

std::string FlagsTable(const std::vector<Flag>& flags) {
  if (flags.empty()) return "no flags\n";
  std::string out;
  for (const Flag& f : flags) {
    out += Padded(f.flag, 20, true) + Padded(f.holder, 28, true) + f.message + "\n";
  }
  return out;
}

}  // namespace fundledger
