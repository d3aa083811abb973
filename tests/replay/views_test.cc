// The four views of DESIGN.md section 5 (replay/reports.h) on small ledgers built event by
// event, checked against figures worked out by hand: the arithmetic is in the comments and the
// expected values are literal numbers, never recomputed with the code under test. Then the
// same views as of a seq (equal to a second ledger holding only the first events) and as of a
// date, and their JSON, CSV and table forms.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ledger/event.h"
#include "replay/reports.h"
#include "replay/views.h"
#include "tests/ledger/fund_events.h"
#include "tests/ledger/test_ledger.h"

namespace fundledger::testing {
namespace {

using nlohmann::json;
using schema::AccountHolder;
using schema::Category;

constexpr char kYuhu[] = "hunan/xiangtan/yuhu";
constexpr char kYuetang[] = "hunan/xiangtan/yuetang";  // a district with no project in it

// ---- dates and clock ----

int64_t Day(const std::string& date) {
  int64_t day = 0;
  Status s = ParseDate(date, "date", &day);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return day;
}

// 12:00 China time (04:00 UTC) of a day, as the test clock's ms.
int64_t NoonMs(const std::string& date) { return (Day(date) * 86'400 + 4 * 3'600) * 1'000; }

AsOf OnDay(const std::string& date) {
  AsOf as_of;
  as_of.day = Day(date);
  return as_of;
}
AsOf AtSeq(uint64_t seq) {
  AsOf as_of;
  as_of.seq = seq;
  return as_of;
}

// ---- events ----

json On(const std::string& day, json event) {
  event["occurred_on"] = day;
  return event;
}

json Plan(const std::vector<std::pair<std::string, uint64_t>>& parts) {
  json plan = json::array();
  for (const auto& [category, fen] : parts) {
    plan.push_back({{"category", category}, {"amount_fen", fen}});
  }
  return plan;
}

json Project(const std::string& id, const std::string& region,
             const std::vector<std::string>& compounds, json budget, json plan,
             const std::string& day) {
  json e = ProjectRegistration(id, region);
  e["compounds"] = compounds;
  e["budget"] = std::move(budget);
  e["funding_plan"] = std::move(plan);
  e["occurred_on"] = day;
  return e;
}

json PolicyEvent(const std::string& id, const std::string& region, json unit_caps, json targets,
                 uint32_t idle_days_max, const std::string& day) {
  json e = PolicyFor(id, region);
  e["restricted_use"] = json::array();  // as in force from above
  e["unit_caps"] = std::move(unit_caps);
  e["targets"] = std::move(targets);
  e["idle_days_max"] = idle_days_max;
  e["occurred_on"] = day;
  return e;
}

// A payee that is not a registered org: a name, and a credit code if given.
json Firm(const std::string& name, const std::string& credit_code = "") {
  json p = {{"name", name}, {"kind", "contractor"}};
  if (!credit_code.empty()) p["credit_code"] = credit_code;
  return p;
}

json Pay(const std::string& id, const std::string& project, const std::string& category,
         uint64_t amount, const std::string& work, const std::string& item, json payee,
         const std::string& day, std::optional<uint32_t> units = {}) {
  json e = Disbursed(id, project, category, amount, work, std::move(payee));
  e["item"] = item;
  e["occurred_on"] = day;
  if (units) e["units"] = *units;
  return e;
}

json Resolved(const std::string& id, const std::string& finding, const std::string& day) {
  return Event(id, "finding_resolved", {{"finding", finding}, {"text", "已整改"}}, day);
}

// ---- expectations ----

// The eight figures of the balance view, as worked out by hand.
struct Want {
  int64_t received = 0, allocated_in = 0, allocated_out = 0, disbursed = 0, refunded = 0,
          available = 0, pledged = 0, outstanding = 0;
};

void ExpectFigures(const Figures& f, const Want& w, const std::string& what) {
  EXPECT_EQ(f.received_fen, w.received) << what;
  EXPECT_EQ(f.allocated_in_fen, w.allocated_in) << what;
  EXPECT_EQ(f.allocated_out_fen, w.allocated_out) << what;
  EXPECT_EQ(f.disbursed_fen, w.disbursed) << what;
  EXPECT_EQ(f.refunded_fen, w.refunded) << what;
  EXPECT_EQ(f.available_fen(), w.available) << what;
  EXPECT_EQ(f.pledged_fen, w.pledged) << what;
  EXPECT_EQ(f.pledge_outstanding_fen(), w.outstanding) << what;
}

// Every category (those not in `want` all zero) and the total.
void ExpectBalance(const fundledger::Balance& b, const std::map<Category, Want>& want,
                   const Want& total, const std::string& what) {
  for (size_t c = 0; c < kCategories; ++c) {
    auto it = want.find(Category(c));
    ExpectFigures(b.by_category[c], it == want.end() ? Want() : it->second,
                  what + " " + CategoryName(Category(c)));
  }
  ExpectFigures(b.Total(), total, what + " total");
}

using Bp = std::optional<int64_t>;
constexpr Bp kNull = std::nullopt;

// mix_bp in category order: central, provincial, municipal, district, utility, resident,
// enterprise, social_capital.
void ExpectMix(const Ratios& r, const std::array<Bp, kCategories>& want, const std::string& what) {
  for (size_t c = 0; c < kCategories; ++c) {
    EXPECT_EQ(r.mix_bp[c], want[c]) << what << " mix_bp." << CategoryName(Category(c));
  }
}

struct WantTarget {
  std::string metric;
  Bp value;
  bool met;
};

void ExpectTargets(const Ratios& r, const std::vector<WantTarget>& want, const std::string& what) {
  ASSERT_EQ(r.targets.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(r.targets[i].metric, want[i].metric) << what;
    EXPECT_EQ(r.targets[i].value_bp, want[i].value) << what << " " << want[i].metric;
    EXPECT_EQ(r.targets[i].met, want[i].met) << what << " " << want[i].metric;
  }
}

struct WantTotal {
  std::string key;
  int64_t amount_fen;
  int64_t count;
  Bp share_bp;
};

void ExpectTotals(const std::vector<DisbursementTotal>& got, const std::vector<WantTotal>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].key, want[i].key) << what << " [" << i << "]";
    EXPECT_EQ(got[i].amount_fen, want[i].amount_fen) << what << " " << want[i].key;
    EXPECT_EQ(got[i].count, want[i].count) << what << " " << want[i].key;
    EXPECT_EQ(got[i].share_bp, want[i].share_bp) << what << " " << want[i].key;
  }
}

std::vector<Flag> Named(const std::vector<Flag>& flags, const std::string& name) {
  std::vector<Flag> out;
  for (const Flag& f : flags) {
    if (f.flag == name) out.push_back(f);
  }
  return out;
}

// FlagsJson without the human messages (the fields are the contract, the wording is not).
json FlagsFields(const std::vector<Flag>& flags) {
  json out = FlagsJson(flags);
  for (json& f : out) {
    EXPECT_TRUE(f.contains("message"));
    f.erase("message");
  }
  return out;
}

// Every view of a scope at a point of `journal`, as JSON ({"error": code} if it cannot open).
json AllViews(const Journal& journal, ScopeKind kind, const std::string& id, const AsOf& as_of,
              StateGate* gate = nullptr) {
  std::unique_ptr<ViewPoint> point;
  Status s = ViewPoint::Open(journal, Scope{kind, id}, as_of, &point, gate);
  if (!s.ok()) return {{"error", s.code()}};
  fundledger::Balance balance;
  Ratios ratios;
  Disbursements disbursements;
  std::vector<Flag> flags;
  EXPECT_TRUE(BalanceOf(*point, &balance).ok());
  EXPECT_TRUE(RatiosOf(*point, &ratios).ok());
  EXPECT_TRUE(DisbursementsOf(*point, &disbursements).ok());
  EXPECT_TRUE(FlagsOf(*point, &flags).ok());
  return {{"reference_day", point->reference_day()},
          {"projects", point->projects()},
          {"balance", BalanceJson(balance)},
          {"ratios", RatiosJson(ratios)},
          {"disbursements", DisbursementsJson(disbursements)},
          {"flags", FlagsJson(flags)}};
}

// A gate that counts the holds still taken (a view read beside a writer takes it only while it
// reads the journal's in-memory state).
struct CountingGate final : StateGate {
  void LockShared() override {
    ++held;
    ++taken;
  }
  void UnlockShared() override { --held; }
  int held = 0, taken = 0;
};

// A world from the ministry down to one street (as FundRules), recorded on 2026-11-22.
class ViewsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct OrgRow {
      const char *org, *kind, *level, *region;
    };
    for (const OrgRow& o : std::initializer_list<OrgRow>{
             {"mof", "finance_bureau", "central", ""},
             {"xt-finance", "finance_bureau", "municipal", "hunan/xiangtan"},
             {"yh-finance", "finance_bureau", "district", kYuhu},
             {"yh-housing", "housing_bureau", "district", kYuhu},
             {"xt-housing", "housing_bureau", "municipal", "hunan/xiangtan"},
             {"heping-street", "street_office", "none", kHeping},
             {"xt-water", "utility", "none", "hunan/xiangtan"},
             {"xt-textile", "enterprise", "none", "hunan/xiangtan"},
             {"xt-invest", "social_capital", "none", "hunan/xiangtan"},
             {"jianshe-residents", "resident_group", "none", kHeping},
             {"jianshe", "contractor", "none", "hunan/xiangtan"},
             {"xt-design", "contractor", "none", "hunan/xiangtan"},
             {"xt-audit", "auditor", "none", "hunan/xiangtan"}}) {
      Ok("operator", L.Registration(o.org, o.kind, o.level, o.region));
    }
  }

  AppendResult Ok(const std::string& signer, const json& event) {
    AppendResult r = L.AppendOk(L.Signed(signer, event));
    seq_[event.at("id").get<std::string>()] = r.seq;
    return r;
  }
  uint64_t SeqOf(const std::string& id) const { return seq_.at(id); }
  // Records from now on are made at noon of `date` (the clock never goes back).
  void Today(const std::string& date) { L.set_now_ms(NoonMs(date)); }

  std::unique_ptr<ViewPoint> Point(ScopeKind kind, const std::string& id, const AsOf& as_of) {
    std::unique_ptr<ViewPoint> point;
    Status s = ViewPoint::Open(L.journal(), Scope{kind, id}, as_of, &point);
    EXPECT_TRUE(s.ok()) << id << ": " << s.ToString();
    return point;
  }
  Status OpenStatus(ScopeKind kind, const std::string& id, const AsOf& as_of) {
    std::unique_ptr<ViewPoint> point;
    return ViewPoint::Open(L.journal(), Scope{kind, id}, as_of, &point);
  }
  fundledger::Balance BalanceAt(ScopeKind kind, const std::string& id, const AsOf& as_of = {}) {
    fundledger::Balance out;
    if (auto point = Point(kind, id, as_of)) {
      Status s = BalanceOf(*point, &out);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return out;
  }
  Ratios RatiosAt(ScopeKind kind, const std::string& id, const AsOf& as_of = {}) {
    Ratios out;
    if (auto point = Point(kind, id, as_of)) {
      Status s = RatiosOf(*point, &out);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return out;
  }
  Disbursements DisbursementsAt(ScopeKind kind, const std::string& id, const AsOf& as_of = {}) {
    Disbursements out;
    if (auto point = Point(kind, id, as_of)) {
      Status s = DisbursementsOf(*point, &out);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return out;
  }
  std::vector<Flag> FlagsAt(ScopeKind kind, const std::string& id, const AsOf& as_of = {}) {
    std::vector<Flag> out;
    if (auto point = Point(kind, id, as_of)) {
      Status s = FlagsOf(*point, &out);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return out;
  }

  // The main ledger: two projects in Heping street (district Yuhu) funded from three pools, by
  // a pledge, a utility and the residents; paid, refunded, acknowledged, audited and partly
  // reversed. Every event is dated in 2026 and recorded on 2026-11-22 (the reversals are dated
  // on that day, as the rules require).
  void BuildMain() {
    // Yuhu's policy: elevators capped at 4,000 yuan a unit, and four targets.
    Ok("yh-finance",
       PolicyEvent("pol-yuhu", kYuhu, {{{"item", "elevator"}, {"max_fen_per_unit", 400'000}}},
                   {{{"metric", "social_capital_to_government_bp"}, {"min_bp", 2000}},
                    {{"metric", "payment_rate_bp"}, {"min_bp", 5000}},
                    {{"metric", "local_government_share_bp"}, {"max_bp", 2500}},
                    {{"metric", "allocation_rate_bp"}, {"min_bp", 1}}},
                   180, "2026-01-05"));
    // p1: budget 6,000,000 + 3,000,000 + 1,000,000 = 10,000,000;
    // plan central 4,000,000 + district 3,000,000 + social capital 2,000,000 + resident
    // 1,000,000 = 10,000,000.
    Ok("yh-housing",
       Project("p1", kHeping, {"建设路小区", "和平里小区"}, Budget(6'000'000, 3'000'000, 1'000'000),
               Plan({{"central", 4'000'000},
                     {"district", 3'000'000},
                     {"social_capital", 2'000'000},
                     {"resident", 1'000'000}}),
               "2026-02-01"));
    // p2: budget basic 2,000,000; plan municipal 2,000,000.
    Ok("heping-street", Project("p2", kHeping, {"韶山东路小区"}, Budget(2'000'000),
                                Plan({{"municipal", 2'000'000}}), "2026-02-01"));
    Ok("mof", On("2026-03-01", Received("mof-in", "mof", "pool", "central", "mof", 10'000'000)));
    Ok("yh-finance", On("2026-03-01", Received("yh-in", "yh-finance", "pool", "district",
                                               "yh-finance", 5'000'000)));
    Ok("xt-finance", On("2026-03-01", Received("xt-in", "xt-finance", "pool", "municipal",
                                               "xt-finance", 4'500'000)));
    Ok("mof",
       On("2026-03-10", Allocated("mof-to-p1", "mof", "p1", "project", "central", 4'000'000)));
    Ok("yh-finance", On("2026-03-15", Allocated("yh-to-p1", "yh-finance", "p1", "project",
                                                "district", 3'000'000)));
    Ok("xt-finance", On("2026-03-20", Allocated("xt-to-yh", "xt-finance", "yh-finance", "pool",
                                                "municipal", 1'000'000)));
    Ok("xt-finance", On("2026-04-01", Allocated("xt-to-p2", "xt-finance", "p2", "project",
                                                "municipal", 2'000'000)));
    Ok("xt-invest",
       On("2026-04-01", Pledged("invest-pledge", "p1", "xt-invest", "social_capital", 2'000'000)));
    json invest = On("2026-04-10", Received("invest-in", "p1", "project", "social_capital",
                                            "xt-invest", 1'500'000));
    invest["pledge"] = "invest-pledge";
    Ok("yh-finance", invest);
    Ok("yh-finance", On("2026-04-12", Received("water-in", "p1", "project", "utility", "xt-water",
                                               600'000, "in_kind_works")));
    json residents = On("2026-04-15", Received("residents-in", "p1", "project", "resident",
                                               "jianshe-residents", 900'000, "maintenance_fund"));
    residents["households"] = 300;
    Ok("heping-street", residents);
    Ok("yh-housing", On("2026-04-20", StatusChange("approve-p1", "p1", "approved", 7500)));
    Ok("heping-street", On("2026-04-20", StatusChange("approve-p2", "p2", "approved", 7000)));
    Ok("xt-finance", On("2026-05-01", Allocated("xt-to-p2-b", "xt-finance", "p2", "project",
                                                "municipal", 500'000)));
    Ok("yh-finance", Pay("pay-pipe", "p1", "central", 2'500'000, "basic", "pipe_network",
                         Payee("jianshe"), "2026-05-10"));
    Ok("jianshe", On("2026-05-20", Ack("ack-pipe", "pay-pipe")));
    Ok("yh-finance", Pay("pay-roof", "p2", "municipal", 1'200'000, "basic", "roof",
                         Payee("jianshe"), "2026-06-01"));
    Ok("yh-finance", Pay("pay-elevator", "p1", "district", 1'000'000, "improvement", "elevator",
                         Payee("xt-design"), "2026-06-05", 2));
    Ok("yh-finance", Pay("pay-care", "p1", "resident", 300'000, "enhancement", "elderly_care",
                         Firm("湘潭市颐康养老服务有限公司", kValidCreditCode), "2026-06-20"));
    Ok("yh-finance", Pay("pay-road", "p1", "district", 200'000, "basic", "road", Firm("和平建筑队"),
                         "2026-07-01"));
    Ok("yh-finance",
       On("2026-07-05", Refunded("water-back", "p1", "project", "utility", "xt-water", 100'000)));
    Ok("yh-finance", Pay("pay-dup", "p1", "district", 400'000, "basic", "pipe_network",
                         Payee("jianshe"), "2026-07-10"));
    Ok("xt-audit", On("2026-08-01", FindingEvent("find-elevator", "F-1", {"pay-elevator"})));
    Ok("yh-finance", On("2026-08-15", Refunded("yh-back", "yh-finance", "pool", "municipal",
                                               "xt-finance", 250'000)));
    Ok("xt-textile",
       On("2026-09-01", Pledged("textile-pledge", "p1", "xt-textile", "enterprise", 500'000)));
    Ok("yh-finance", Reversal("rev-pay-dup", "pay-dup"));
    Ok("xt-finance", Reversal("rev-xt-to-p2-b", "xt-to-p2-b"));
    Ok("xt-textile", Reversal("rev-textile-pledge", "textile-pledge"));
  }

  // The ledger of the flag tests: Yuhu's policy (elevators capped at 3,500 yuan a unit, idle
  // funds after 60 days, `targets`), and q1 in Heping street (budget basic 2,000,000 +
  // improvement 2,000,000, plan district 4,000,000), approved and given `district_fen` of the
  // district's money, all on 2026-11-22.
  void FlagsWorld(json targets = json::array(), uint64_t district_fen = 4'000'000) {
    Ok("yh-finance",
       PolicyEvent("pol-yuhu", kYuhu, {{{"item", "elevator"}, {"max_fen_per_unit", 350'000}}},
                   std::move(targets), 60, "2026-11-22"));
    Ok("yh-housing",
       Project("q1", kHeping, {"建设路小区", "和平里小区"}, Budget(2'000'000, 2'000'000, 0),
               Plan({{"district", 4'000'000}}), "2026-11-22"));
    Ok("yh-housing", On("2026-11-22", StatusChange("approve-q1", "q1", "approved", 7500)));
    Ok("yh-finance", On("2026-11-22", Received("yh-in", "yh-finance", "pool", "district",
                                               "yh-finance", 10'000'000)));
    Ok("yh-finance", On("2026-11-22", Allocated("yh-to-q1", "yh-finance", "q1", "project",
                                                "district", district_fen)));
  }

  TestLedger L;
  std::map<std::string, uint64_t> seq_;
};

constexpr auto kProject = ScopeKind::kProject;
constexpr auto kPool = ScopeKind::kPool;
constexpr auto kRegion = ScopeKind::kRegion;

// ---- balance ----

TEST_F(ViewsTest, BalanceOfAProjectAPoolAndARegionNetOfReversals) {
  BuildMain();
  // p1. central: 4,000,000 allocated by mof, 2,500,000 paid for pipes -> 1,500,000 left.
  // district: 3,000,000 allocated; paid 1,000,000 (elevator) + 200,000 (road); the 400,000 of
  // pay-dup was reversed -> 1,200,000 paid, 1,800,000 left.
  // utility: 600,000 received, 100,000 refunded -> 500,000. resident: 900,000 - 300,000 =
  // 600,000. social capital: 1,500,000 received against a pledge of 2,000,000 -> 500,000
  // outstanding. enterprise: a pledge of 500,000, reversed -> nothing.
  ExpectBalance(
      BalanceAt(kProject, "p1"),
      {{Category::CENTRAL,
        {.allocated_in = 4'000'000, .disbursed = 2'500'000, .available = 1'500'000}},
       {Category::DISTRICT,
        {.allocated_in = 3'000'000, .disbursed = 1'200'000, .available = 1'800'000}},
       {Category::UTILITY, {.received = 600'000, .refunded = 100'000, .available = 500'000}},
       {Category::RESIDENT, {.received = 900'000, .disbursed = 300'000, .available = 600'000}},
       {Category::SOCIAL_CAPITAL,
        {.received = 1'500'000,
         .available = 1'500'000,
         .pledged = 2'000'000,
         .outstanding = 500'000}}},
      // received 600,000 + 900,000 + 1,500,000 = 3,000,000; allocated in 7,000,000;
      // paid 2,500,000 + 1,200,000 + 300,000 = 4,000,000; available 10,000,000 -
      // 4,000,000 - 100,000 = 5,900,000.
      {.received = 3'000'000,
       .allocated_in = 7'000'000,
       .disbursed = 4'000'000,
       .refunded = 100'000,
       .available = 5'900'000,
       .pledged = 2'000'000,
       .outstanding = 500'000},
      "p1");
  // p2: 2,000,000 + 500,000 allocated, the 500,000 reversed; 1,200,000 paid for the roof.
  Want p2{.allocated_in = 2'000'000, .disbursed = 1'200'000, .available = 800'000};
  ExpectBalance(BalanceAt(kProject, "p2"), {{Category::MUNICIPAL, p2}}, p2, "p2");

  // mof's pool: 10,000,000 received, 4,000,000 to p1.
  Want mof{.received = 10'000'000, .allocated_out = 4'000'000, .available = 6'000'000};
  ExpectBalance(BalanceAt(kPool, "mof"), {{Category::CENTRAL, mof}}, mof, "mof");
  // Yuhu's pool: its own 5,000,000 with 3,000,000 to p1; 1,000,000 of the city's money from
  // above, of which 250,000 went back to the city.
  ExpectBalance(BalanceAt(kPool, "yh-finance"),
                {{Category::DISTRICT,
                  {.received = 5'000'000, .allocated_out = 3'000'000, .available = 2'000'000}},
                 {Category::MUNICIPAL,
                  {.allocated_in = 1'000'000, .refunded = 250'000, .available = 750'000}}},
                {.received = 5'000'000,
                 .allocated_in = 1'000'000,
                 .allocated_out = 3'000'000,
                 .refunded = 250'000,
                 .available = 2'750'000},
                "yh-finance");
  // The city's pool: 4,500,000 received; 1,000,000 to Yuhu and 2,000,000 to p2 (its 500,000
  // to p2 reversed). Yuhu's refund of 250,000 goes to the city as an outside party, not into
  // its pool.
  Want xt{.received = 4'500'000, .allocated_out = 3'000'000, .available = 1'500'000};
  ExpectBalance(BalanceAt(kPool, "xt-finance"), {{Category::MUNICIPAL, xt}}, xt, "xt-finance");

  // Yuhu (and the city, and Heping street): p1 and p2.
  std::map<Category, Want> region = {
      {Category::CENTRAL,
       {.allocated_in = 4'000'000, .disbursed = 2'500'000, .available = 1'500'000}},
      {Category::MUNICIPAL,
       {.allocated_in = 2'000'000, .disbursed = 1'200'000, .available = 800'000}},
      {Category::DISTRICT,
       {.allocated_in = 3'000'000, .disbursed = 1'200'000, .available = 1'800'000}},
      {Category::UTILITY, {.received = 600'000, .refunded = 100'000, .available = 500'000}},
      {Category::RESIDENT, {.received = 900'000, .disbursed = 300'000, .available = 600'000}},
      {Category::SOCIAL_CAPITAL,
       {.received = 1'500'000,
        .available = 1'500'000,
        .pledged = 2'000'000,
        .outstanding = 500'000}}};
  // allocated in 4,000,000 + 2,000,000 + 3,000,000 = 9,000,000; paid 4,000,000 + 1,200,000 =
  // 5,200,000; available 12,000,000 - 5,200,000 - 100,000 = 6,700,000.
  Want region_total{.received = 3'000'000,
                    .allocated_in = 9'000'000,
                    .disbursed = 5'200'000,
                    .refunded = 100'000,
                    .available = 6'700'000,
                    .pledged = 2'000'000,
                    .outstanding = 500'000};
  for (const char* r : {kYuhu, "hunan/xiangtan", kHeping, ""}) {
    ExpectBalance(BalanceAt(kRegion, r), region, region_total, std::string("region ") + r);
  }
  ExpectBalance(BalanceAt(kRegion, kYuetang), {}, {}, "Yuetang");
}

// ---- ratios ----

TEST_F(ViewsTest, RatiosOfAProjectAPoolAndARegion) {
  BuildMain();
  // p1: money in 10,000,000 = central 4,000,000 + district 3,000,000 + social capital
  // 1,500,000 + resident 900,000 + utility 600,000. Government = 7,000,000.
  Ratios p1 = RatiosAt(kProject, "p1");
  ExpectMix(p1, {4000, 0, 0, 3000, 600, 900, 0, 1500}, "p1");
  EXPECT_EQ(p1.government_share_bp, 7000);
  EXPECT_EQ(p1.social_capital_to_government_bp, 2143);  // 1,500,000 / 7,000,000 = 2142.86
  EXPECT_EQ(p1.utility_share_bp, 600);
  EXPECT_EQ(p1.resident_share_bp, 900);
  EXPECT_EQ(p1.local_government_share_bp, 3000);  // (0 + 3,000,000) / 10,000,000
  EXPECT_EQ(p1.allocation_rate_bp, kNull);        // pools only
  EXPECT_EQ(p1.payment_rate_bp, 4000);            // 4,000,000 / 10,000,000
  EXPECT_EQ(p1.pledge_fulfilment_bp, 7500);       // 1,500,000 / 2,000,000
  EXPECT_TRUE(p1.has_plan);
  // Money in minus the plan: utility 600,000 - 0; resident 900,000 - 1,000,000; social capital
  // 1,500,000 - 2,000,000; central and district as planned.
  EXPECT_EQ(p1.plan_deviation_fen,
            (std::array<int64_t, kCategories>{0, 0, 0, 0, 600'000, -100'000, 0, -500'000}));
  EXPECT_EQ(p1.plan_fen, (std::array<int64_t, kCategories>{4'000'000, 0, 0, 3'000'000, 0, 1'000'000,
                                                           0, 2'000'000}));
  ExpectTargets(p1,
                {{"social_capital_to_government_bp", 2143, true},  // >= 2000
                 {"payment_rate_bp", 4000, false},                 // < 5000
                 {"local_government_share_bp", 3000, false}},      // > 2500
                // allocation_rate_bp is a pool's ratio: its target does not bind a project.
                "p1");
  EXPECT_EQ(p1.targets[0].min_bp, 2000u);
  EXPECT_EQ(p1.targets[0].max_bp, std::nullopt);
  EXPECT_EQ(p1.targets[2].min_bp, std::nullopt);
  EXPECT_EQ(p1.targets[2].max_bp, 2500u);

  // p2: money in 2,000,000, all municipal; 1,200,000 paid; no pledge.
  Ratios p2 = RatiosAt(kProject, "p2");
  ExpectMix(p2, {0, 0, 10000, 0, 0, 0, 0, 0}, "p2");
  EXPECT_EQ(p2.government_share_bp, 10000);
  EXPECT_EQ(p2.social_capital_to_government_bp, 0);
  EXPECT_EQ(p2.local_government_share_bp, 10000);
  EXPECT_EQ(p2.payment_rate_bp, 6000);  // 1,200,000 / 2,000,000
  EXPECT_EQ(p2.pledge_fulfilment_bp, kNull);
  EXPECT_EQ(p2.plan_deviation_fen, (std::array<int64_t, kCategories>{}));
  ExpectTargets(p2,
                {{"social_capital_to_government_bp", 0, false},
                 {"payment_rate_bp", 6000, true},
                 {"local_government_share_bp", 10000, false}},
                "p2");

  // Yuhu: money in 12,000,000 = central 4,000,000 + municipal 2,000,000 + district 3,000,000 +
  // utility 600,000 + resident 900,000 + social capital 1,500,000; government 9,000,000.
  Ratios yuhu = RatiosAt(kRegion, kYuhu);
  // 4/12 = 3333.33 -> 3333; 2/12 = 1666.67 -> 1667; 3/12 = 2500; 0.6/12 = 500; 0.9/12 = 750;
  // 1.5/12 = 1250.
  ExpectMix(yuhu, {3333, 0, 1667, 2500, 500, 750, 0, 1250}, "yuhu");
  EXPECT_EQ(yuhu.government_share_bp, 7500);              // 9 / 12
  EXPECT_EQ(yuhu.social_capital_to_government_bp, 1667);  // 1.5 / 9 = 1666.67
  EXPECT_EQ(yuhu.utility_share_bp, 500);
  EXPECT_EQ(yuhu.resident_share_bp, 750);
  EXPECT_EQ(yuhu.local_government_share_bp, 4167);  // (2 + 3) / 12 = 4166.67
  EXPECT_EQ(yuhu.allocation_rate_bp, kNull);
  EXPECT_EQ(yuhu.payment_rate_bp, 4333);       // 5.2 / 12 = 4333.33
  EXPECT_EQ(yuhu.pledge_fulfilment_bp, 7500);  // 1.5 / 2
  // Plans of p1 and p2 together; only p1's sources differ from them.
  EXPECT_EQ(yuhu.plan_deviation_fen,
            (std::array<int64_t, kCategories>{0, 0, 0, 0, 600'000, -100'000, 0, -500'000}));
  ExpectTargets(yuhu,
                {{"social_capital_to_government_bp", 1667, false},
                 {"payment_rate_bp", 4333, false},
                 {"local_government_share_bp", 4167, false}},
                "yuhu");

  // Yuhu's pool: money in 6,000,000 = district 5,000,000 received + municipal 1,000,000
  // allocated in; 3,000,000 allocated out.
  Ratios yh = RatiosAt(kPool, "yh-finance");
  ExpectMix(yh, {0, 0, 1667, 8333, 0, 0, 0, 0}, "yh-finance");  // 1/6 = 1666.67, 5/6 = 8333.33
  EXPECT_EQ(yh.government_share_bp, 10000);
  EXPECT_EQ(yh.social_capital_to_government_bp, 0);
  EXPECT_EQ(yh.utility_share_bp, 0);
  EXPECT_EQ(yh.resident_share_bp, 0);
  EXPECT_EQ(yh.local_government_share_bp, 10000);
  EXPECT_EQ(yh.allocation_rate_bp, 5000);  // 3,000,000 / 6,000,000
  EXPECT_EQ(yh.payment_rate_bp, 0);
  EXPECT_EQ(yh.pledge_fulfilment_bp, kNull);
  EXPECT_FALSE(yh.has_plan);
  ExpectTargets(yh,
                {{"social_capital_to_government_bp", 0, false},
                 {"local_government_share_bp", 10000, false},
                 {"allocation_rate_bp", 5000, true}},  // payment_rate_bp is a project's
                "yh-finance");
  // The city's pool: 3,000,000 of 4,500,000 allocated = 6666.67 -> 6667. No policy with
  // targets covers the city.
  Ratios xt = RatiosAt(kPool, "xt-finance");
  ExpectMix(xt, {0, 0, 10000, 0, 0, 0, 0, 0}, "xt-finance");
  EXPECT_EQ(xt.allocation_rate_bp, 6667);
  EXPECT_TRUE(xt.targets.empty());
  Ratios mof = RatiosAt(kPool, "mof");
  EXPECT_EQ(mof.allocation_rate_bp, 4000);  // 4,000,000 / 10,000,000
  EXPECT_EQ(mof.government_share_bp, 10000);
  EXPECT_EQ(mof.pledge_fulfilment_bp, kNull);
}

TEST_F(ViewsTest, RatiosRoundHalfUpAndAreNullWithoutADenominator) {
  // q: 19,999 fen of district money and 1 fen from the water company: money in 20,000 fen.
  Ok("yh-housing", Project("q", kHeping, {"建设路小区"}, Budget(20'000),
                           Plan({{"district", 19'999}, {"utility", 1}}), "2026-11-22"));
  Ok("yh-finance",
     On("2026-11-22", Received("yh-in", "yh-finance", "pool", "district", "yh-finance", 19'999)));
  Ok("yh-finance",
     On("2026-11-22", Allocated("yh-to-q", "yh-finance", "q", "project", "district", 19'999)));
  Ok("yh-finance", On("2026-11-22", Received("water-in", "q", "project", "utility", "xt-water", 1,
                                             "in_kind_works")));
  Ok("xt-invest", On("2026-11-22", Pledged("pledge", "q", "xt-invest", "social_capital", 3)));
  Ok("yh-housing", On("2026-11-22", StatusChange("approve-q", "q", "approved", 7000)));
  Ok("yh-finance",
     Pay("pay", "q", "district", 3, "basic", "road", Firm("和平建筑队"), "2026-11-22"));
  Ratios q = RatiosAt(kProject, "q");
  // 19,999 / 20,000 = 9999.5 -> 10000 and 1 / 20,000 = 0.5 -> 1: each half rounds up, so the
  // mix adds up to 10001.
  ExpectMix(q, {0, 0, 0, 10000, 1, 0, 0, 0}, "q");
  EXPECT_EQ(q.government_share_bp, 10000);
  EXPECT_EQ(q.local_government_share_bp, 10000);
  EXPECT_EQ(q.utility_share_bp, 1);
  EXPECT_EQ(q.social_capital_to_government_bp, 0);  // 0 / 19,999: zero, not null
  EXPECT_EQ(q.payment_rate_bp, 2);                  // 3 / 20,000 = 1.5 -> 2
  EXPECT_EQ(q.pledge_fulfilment_bp, 0);             // 0 / 3
  EXPECT_EQ(q.allocation_rate_bp, kNull);
  EXPECT_TRUE(q.targets.empty());  // the default policy has none

  // Nothing in Yuetang: every ratio is null, the plan deviation zero.
  Ratios empty = RatiosAt(kRegion, kYuetang);
  ExpectMix(empty, {kNull, kNull, kNull, kNull, kNull, kNull, kNull, kNull}, "Yuetang");
  for (const Bp& bp :
       {empty.government_share_bp, empty.social_capital_to_government_bp, empty.utility_share_bp,
        empty.resident_share_bp, empty.local_government_share_bp, empty.allocation_rate_bp,
        empty.payment_rate_bp, empty.pledge_fulfilment_bp}) {
    EXPECT_EQ(bp, kNull);
  }
  EXPECT_TRUE(empty.has_plan);
  json j = RatiosJson(empty);
  EXPECT_TRUE(j["government_share_bp"].is_null());
  EXPECT_TRUE(j["payment_rate_bp"].is_null());
  EXPECT_TRUE(j["mix_bp"]["central"].is_null());
  EXPECT_EQ(j["plan_deviation_fen"]["central"], 0);
  std::string csv = RatiosCsv(empty);
  EXPECT_NE(csv.find("\nmix_bp.central,\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\ngovernment_share_bp,\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\npledge_fulfilment_bp,\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nplan_deviation_fen.central,0\n"), std::string::npos) << csv;

  // q's pool: everything it received went on (19,999 / 19,999); no pledge, so null.
  Ratios yh = RatiosAt(kPool, "yh-finance");
  EXPECT_EQ(yh.allocation_rate_bp, 10000);
  EXPECT_EQ(yh.pledge_fulfilment_bp, kNull);
  j = RatiosJson(yh);
  EXPECT_TRUE(j["pledge_fulfilment_bp"].is_null());
  EXPECT_TRUE(j["plan_deviation_fen"].is_null());  // pools have no plan
  EXPECT_EQ(j["allocation_rate_bp"], 10000);
  csv = RatiosCsv(yh);
  EXPECT_NE(csv.find("\npledge_fulfilment_bp,\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nallocation_rate_bp,10000\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nplan_deviation_fen.central,\n"), std::string::npos) << csv;
  // And q's own allocation rate (projects have none) is null in both.
  EXPECT_TRUE(RatiosJson(q)["allocation_rate_bp"].is_null());
  EXPECT_NE(RatiosCsv(q).find("\nallocation_rate_bp,\n"), std::string::npos);
}

TEST(ViewsRatioBp, RoundsHalfUpForEitherSign) {
  EXPECT_EQ(RatioBp(1, 3), 3333);   // 3333.33
  EXPECT_EQ(RatioBp(2, 3), 6667);   // 6666.67
  EXPECT_EQ(RatioBp(1, 6), 1667);   // 1666.67
  EXPECT_EQ(RatioBp(1, 8), 1250);   // exact
  EXPECT_EQ(RatioBp(1, 20000), 1);  // 0.5 -> 1
  EXPECT_EQ(RatioBp(3, 20000), 2);  // 1.5 -> 2
  EXPECT_EQ(RatioBp(1, 40000), 0);  // 0.25 -> 0
  EXPECT_EQ(RatioBp(3, 40000), 1);  // 0.75 -> 1
  // Half up is towards +infinity for negative values too.
  EXPECT_EQ(RatioBp(-1, 20000), 0);   // -0.5 -> 0
  EXPECT_EQ(RatioBp(-3, 20000), -1);  // -1.5 -> -1
  EXPECT_EQ(RatioBp(-3, 40000), -1);  // -0.75 -> -1
  EXPECT_EQ(RatioBp(-1, 3), -3333);   // -3333.33
  EXPECT_EQ(RatioBp(-2, 3), -6667);   // -6666.67
  EXPECT_EQ(RatioBp(2, -3), -6667);
  EXPECT_EQ(RatioBp(-2, -3), 6667);
  EXPECT_EQ(RatioBp(0, 7), 0);
  EXPECT_EQ(RatioBp(5, 2), 25000);  // above 100%
  EXPECT_EQ(RatioBp(5, 0), std::nullopt);
  EXPECT_EQ(RatioBp(0, 0), std::nullopt);
  EXPECT_EQ(RatioBp(-5, 0), std::nullopt);
  // Exact at the largest figures: num x 10000 is worked in 128 bits.
  EXPECT_EQ(RatioBp(1'000'000'000'000'000'000, 3'000'000'000'000'000'000), 3333);
  EXPECT_EQ(RatioBp(INT64_MAX, INT64_MAX), 10000);
  // Beyond the int64 range the share saturates instead of wrapping.
  EXPECT_EQ(RatioBp(1'000'000'000'000'000'000, 1), INT64_MAX);
  EXPECT_EQ(RatioBp(-1'000'000'000'000'000'000, 1), INT64_MIN);
  EXPECT_EQ(RatioBp(INT64_MAX / 2, INT64_MAX), 5000);  // (2^62 - 1) / (2^63 - 1) = 0.49999...
}

// ---- disbursements ----

TEST_F(ViewsTest, DisbursementsTotalsAndTheListWithAcknowledgementsReversalsAndFindings) {
  BuildMain();
  Disbursements p1 = DisbursementsAt(kProject, "p1");
  // Paid, net of the reversed pay-dup: 2,500,000 (pipes) + 1,000,000 (elevator) + 300,000
  // (elderly care) + 200,000 (road) = 4,000,000 in 4 payments.
  EXPECT_EQ(p1.total_fen, 4'000'000);
  EXPECT_EQ(p1.count, 4);
  // basic 2,500,000 + 200,000 = 2,700,000 = 67.50%; improvement 25.00%; enhancement 7.50%.
  ExpectTotals(p1.by_work,
               {{"basic", 2'700'000, 2, 6750},
                {"enhancement", 300'000, 1, 750},
                {"improvement", 1'000'000, 1, 2500}},
               "p1 by work");
  ExpectTotals(p1.by_item,
               {{"pipe_network", 2'500'000, 1, 6250},
                {"elevator", 1'000'000, 1, 2500},
                {"elderly_care", 300'000, 1, 750},
                {"road", 200'000, 1, 500}},
               "p1 by item");
  // A registered payee by its org, else by its credit code, else by its name.
  ExpectTotals(p1.by_payee,
               {{"org:jianshe", 2'500'000, 1, 6250},
                {"org:xt-design", 1'000'000, 1, 2500},
                {std::string("code:") + kValidCreditCode, 300'000, 1, 750},
                {"name:和平建筑队", 200'000, 1, 500}},
               "p1 by payee");
  ASSERT_EQ(p1.by_payee.size(), 4u);
  EXPECT_EQ(p1.by_payee[0].name, "jianshe name");
  EXPECT_EQ(p1.by_payee[2].name, "湘潭市颐康养老服务有限公司");
  EXPECT_EQ(p1.by_payee[3].name, "和平建筑队");
  // May 2,500,000; June 1,000,000 + 300,000; July 200,000 (pay-dup's 400,000 left out).
  ExpectTotals(p1.by_month,
               {{"2026-05", 2'500'000, 1, 6250},
                {"2026-06", 1'300'000, 2, 3250},
                {"2026-07", 200'000, 1, 500}},
               "p1 by month");
  ExpectTotals(p1.by_category,
               {{"central", 2'500'000, 1, 6250},
                {"district", 1'200'000, 2, 3000},
                {"resident", 300'000, 1, 750}},
               "p1 by category");

  // The list: every payment in seq order, the reversed one too.
  ASSERT_EQ(p1.lines.size(), 5u);
  std::vector<std::string> ids;
  for (const DisbursementLine& l : p1.lines) ids.push_back(l.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"pay-pipe", "pay-elevator", "pay-care", "pay-road",
                                           "pay-dup"}));
  const DisbursementLine& pipe = p1.lines[0];
  EXPECT_EQ(pipe.seq, SeqOf("pay-pipe"));
  EXPECT_EQ(pipe.project, "p1");
  EXPECT_EQ(pipe.day, Day("2026-05-10"));
  EXPECT_EQ(pipe.category, Category::CENTRAL);
  EXPECT_EQ(pipe.amount_fen, 2'500'000);
  EXPECT_EQ(pipe.payee_org, "jianshe");
  EXPECT_EQ(pipe.acknowledged_by, "ack-pipe");
  EXPECT_EQ(pipe.reversed_by, "");
  EXPECT_TRUE(pipe.findings.empty());
  const DisbursementLine& elevator = p1.lines[1];
  EXPECT_EQ(elevator.work, schema::Work::IMPROVEMENT);
  EXPECT_EQ(elevator.item, "elevator");
  EXPECT_EQ(elevator.units, 2u);
  EXPECT_EQ(elevator.acknowledged_by, "");
  EXPECT_EQ(elevator.findings, std::vector<std::string>{"F-1"});
  EXPECT_EQ(p1.lines[2].payee_credit_code, kValidCreditCode);
  EXPECT_EQ(p1.lines[2].payee_org, "");
  EXPECT_EQ(p1.lines[2].units, std::nullopt);
  EXPECT_EQ(p1.lines[3].payee_name, "和平建筑队");
  const DisbursementLine& dup = p1.lines[4];
  EXPECT_EQ(dup.amount_fen, 400'000);
  EXPECT_EQ(dup.reversed_by, "rev-pay-dup");
  EXPECT_EQ(dup.acknowledged_by, "");

  // Yuhu: p1's payments, then p2's 1,200,000 roof paid to jianshe. Total 5,200,000.
  Disbursements yuhu = DisbursementsAt(kRegion, kYuhu);
  EXPECT_EQ(yuhu.total_fen, 5'200'000);
  EXPECT_EQ(yuhu.count, 5);
  ASSERT_EQ(yuhu.lines.size(), 6u);
  EXPECT_EQ(yuhu.lines[4].id, "pay-dup");
  EXPECT_EQ(yuhu.lines[5].id, "pay-roof");
  EXPECT_EQ(yuhu.lines[5].project, "p2");
  // basic 2,500,000 + 200,000 + 1,200,000 = 3,900,000 = 75.00%; 300,000 / 5,200,000 = 576.92;
  // 1,000,000 / 5,200,000 = 1923.08.
  ExpectTotals(yuhu.by_work,
               {{"basic", 3'900'000, 3, 7500},
                {"enhancement", 300'000, 1, 577},
                {"improvement", 1'000'000, 1, 1923}},
               "yuhu by work");
  // jianshe: 2,500,000 + 1,200,000 = 3,700,000 = 7115.38; 200,000 = 384.62.
  ExpectTotals(yuhu.by_payee,
               {{"org:jianshe", 3'700'000, 2, 7115},
                {"org:xt-design", 1'000'000, 1, 1923},
                {std::string("code:") + kValidCreditCode, 300'000, 1, 577},
                {"name:和平建筑队", 200'000, 1, 385}},
               "yuhu by payee");
  // 2,500,000 = 4807.69; June 1,200,000 + 1,000,000 + 300,000 = 2,500,000.
  ExpectTotals(yuhu.by_month,
               {{"2026-05", 2'500'000, 1, 4808},
                {"2026-06", 2'500'000, 3, 4808},
                {"2026-07", 200'000, 1, 385}},
               "yuhu by month");
  ExpectTotals(yuhu.by_item,
               {{"pipe_network", 2'500'000, 1, 4808},
                {"roof", 1'200'000, 1, 2308},
                {"elevator", 1'000'000, 1, 1923},
                {"elderly_care", 300'000, 1, 577},
                {"road", 200'000, 1, 385}},
               "yuhu by item");
  ExpectTotals(yuhu.by_category,
               {{"central", 2'500'000, 1, 4808},
                {"district", 1'200'000, 2, 2308},
                {"municipal", 1'200'000, 1, 2308},
                {"resident", 300'000, 1, 577}},
               "yuhu by category");

  // A pool pays nothing out to payees: its disbursement view is empty.
  Disbursements pool = DisbursementsAt(kPool, "yh-finance");
  EXPECT_EQ(pool.total_fen, 0);
  EXPECT_TRUE(pool.lines.empty());
  EXPECT_TRUE(pool.by_payee.empty());
}

// ---- flags ----

TEST_F(ViewsTest, FlagsOfTheMainLedger) {
  BuildMain();
  // As of 2026-11-22, the day of the last record.
  // p1: the elevator paid 1,000,000 for 2 units against a cap of 2 x 400,000 = 800,000; paid
  // to xt-design on 2026-06-05 and not acknowledged for 25 + 31 + 31 + 30 + 31 + 22 = 170
  // days; two targets missed (see the ratios; allocation_rate_bp is a pool's); F-1 open. Not idle:
  // last paid on 2026-07-01 (pay-road; pay-dup of 2026-07-10 was reversed), 30 + 31 + 30 + 31 + 22
  // = 144 days before. Within budget: basic 2,700,000 <= 6,000,000, improvement 1,000,000 <=
  // 3,000,000, enhancement 300,000 <= 1,000,000. p2: the roof paid to jianshe on 2026-06-01
  // unacknowledged for 29 + 31 + 31 + 30 + 31 + 22 = 174 days; two targets missed.
  json want = json::parse(R"([
    {"flag": "unit_cap_exceeded", "project": "p1", "event_id": "pay-elevator",
     "amount_fen": 1000000, "limit_fen": 800000},
    {"flag": "unacknowledged", "project": "p1", "event_id": "pay-elevator",
     "amount_fen": 1000000, "days": 170},
    {"flag": "target_missed", "project": "p1", "metric": "payment_rate_bp"},
    {"flag": "target_missed", "project": "p1", "metric": "local_government_share_bp"},
    {"flag": "open_finding", "project": "p1", "finding": "F-1"},
    {"flag": "unacknowledged", "project": "p2", "event_id": "pay-roof",
     "amount_fen": 1200000, "days": 174},
    {"flag": "target_missed", "project": "p2", "metric": "social_capital_to_government_bp"},
    {"flag": "target_missed", "project": "p2", "metric": "local_government_share_bp"}
  ])");
  EXPECT_EQ(FlagsFields(FlagsAt(kRegion, kYuhu)), want);
  std::vector<Flag> p1 = FlagsAt(kProject, "p1");
  EXPECT_EQ(FlagsFields(p1), json(std::vector<json>(want.begin(), want.begin() + 5)));
  ASSERT_EQ(p1.size(), 5u);
  EXPECT_EQ(p1[0].holder_kind, AccountHolder::PROJECT);
  EXPECT_NE(p1[4].message.find("major"), std::string::npos) << p1[4].message;

  // Yuhu's pool: 2,750,000 available and nothing allocated since 2026-03-15, 16 + 30 + 31 + 30 +
  // 31 + 31 + 30 + 31 + 22 = 252 days (the limit is 180); two of its targets missed
  // (payment_rate_bp is a project's: a pool pays no payee).
  EXPECT_EQ(FlagsFields(FlagsAt(kPool, "yh-finance")), json::parse(R"([
    {"flag": "idle_funds", "pool": "yh-finance", "amount_fen": 2750000, "days": 252},
    {"flag": "target_missed", "pool": "yh-finance", "metric": "social_capital_to_government_bp"},
    {"flag": "target_missed", "pool": "yh-finance", "metric": "local_government_share_bp"}
  ])"));
  // The ministry's pool: 6,000,000 idle since 2026-03-10, 257 days, under the default policy.
  std::vector<Flag> mof = FlagsAt(kPool, "mof");
  ASSERT_EQ(mof.size(), 1u);
  EXPECT_EQ(mof[0].flag, "idle_funds");
  EXPECT_EQ(mof[0].holder_kind, AccountHolder::POOL);
  EXPECT_EQ(mof[0].amount_fen, 6'000'000);
  EXPECT_EQ(mof[0].days, 257);
  EXPECT_NE(mof[0].message.find("limit 180"), std::string::npos) << mof[0].message;
  EXPECT_TRUE(FlagsAt(kRegion, kYuetang).empty());
}

TEST_F(ViewsTest, FlagsUnacknowledgedPaymentsAfterMoreThanThirtyDays) {
  FlagsWorld();
  Ok("yh-finance", Pay("pay-a", "q1", "district", 1'000'000, "basic", "pipe_network",
                       Payee("jianshe"), "2026-11-22"));
  Ok("yh-finance",
     Pay("pay-b", "q1", "district", 500'000, "basic", "road", Firm("和平建筑队"), "2026-11-22"));
  Ok("yh-finance", Pay("pay-c", "q1", "district", 200'000, "basic", "lighting", Payee("xt-design"),
                       "2026-11-22"));
  // 2026-11-22 + 30 days = 2026-12-22: not yet.
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", OnDay("2026-12-22")), "unacknowledged").empty());
  // 31 days: the two payments to registered payees (pay-b's payee is no org: it cannot sign).
  std::vector<Flag> late = Named(FlagsAt(kProject, "q1", OnDay("2026-12-23")), "unacknowledged");
  ASSERT_EQ(late.size(), 2u);
  EXPECT_EQ(late[0].event_id, "pay-a");
  EXPECT_EQ(late[0].days, 31);
  EXPECT_EQ(late[0].amount_fen, 1'000'000);
  EXPECT_EQ(late[1].event_id, "pay-c");
  EXPECT_EQ(late[1].days, 31);
  EXPECT_EQ(late[1].amount_fen, 200'000);

  // jianshe acknowledges pay-a, pay-c is reversed, and xt-design is paid again two days later.
  Today("2026-11-23");
  Ok("jianshe", On("2026-11-23", Ack("ack-a", "pay-a")));
  Ok("yh-finance", Reversal("rev-c", "pay-c", "2026-11-23"));
  Today("2026-11-24");
  Ok("yh-finance", Pay("pay-d", "q1", "district", 300'000, "improvement", "elevator",
                       Payee("xt-design"), "2026-11-24", 1));
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", OnDay("2026-12-23")), "unacknowledged").empty());
  // At the head, days count to the day of the last record, in whatever scope it is: 30 days
  // after pay-d, then 31.
  Today("2026-12-24");
  Ok("xt-finance",
     On("2026-12-24", Received("xt-1", "xt-finance", "pool", "municipal", "xt-finance", 1)));
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1"), "unacknowledged").empty());
  Today("2026-12-25");
  Ok("xt-finance",
     On("2026-12-25", Received("xt-2", "xt-finance", "pool", "municipal", "xt-finance", 1)));
  late = Named(FlagsAt(kProject, "q1"), "unacknowledged");
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].event_id, "pay-d");
  EXPECT_EQ(late[0].days, 31);
  EXPECT_EQ(late[0].amount_fen, 300'000);
  // As of the seq of xt-1 the point's day is 2026-12-24 again.
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", AtSeq(SeqOf("xt-1"))), "unacknowledged").empty());
}

TEST_F(ViewsTest, FlagsIdleFundsAfterMoreThanIdleDaysMax) {
  FlagsWorld();  // idle after 60 days; q1 and the pool got their money on 2026-11-22
  Ok("yh-housing", Project("q2", kHeping, {"韶山东路小区"}, Budget(1'000),
                           Plan({{"district", 1'000}}), "2026-11-22"));
  Ok("xt-finance",
     On("2026-11-22", Received("xt-in", "xt-finance", "pool", "municipal", "xt-finance", 7'000)));
  // 2026-11-22 + 60 days = 2027-01-21 (30 + 30).
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", OnDay("2027-01-21")), "idle_funds").empty());
  EXPECT_TRUE(Named(FlagsAt(kPool, "yh-finance", OnDay("2027-01-21")), "idle_funds").empty());
  std::vector<Flag> idle = Named(FlagsAt(kRegion, kYuhu, OnDay("2027-01-22")), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);  // not q2, which has no money
  EXPECT_EQ(idle[0].holder, "q1");
  EXPECT_EQ(idle[0].days, 61);
  EXPECT_EQ(idle[0].amount_fen, 4'000'000);
  // The pool allocated to q1 on 2026-11-22 and holds 10,000,000 - 4,000,000.
  idle = Named(FlagsAt(kPool, "yh-finance", OnDay("2027-01-22")), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].holder_kind, AccountHolder::POOL);
  EXPECT_EQ(idle[0].holder, "yh-finance");
  EXPECT_EQ(idle[0].days, 61);
  EXPECT_EQ(idle[0].amount_fen, 6'000'000);
  // The city's pool never allocated: counted from its first money in, under the default 180
  // days. 2026-11-22 + 180 = 2027-05-21 (30 + 31 + 31 + 28 + 31 + 29).
  EXPECT_TRUE(Named(FlagsAt(kPool, "xt-finance", OnDay("2027-05-21")), "idle_funds").empty());
  idle = Named(FlagsAt(kPool, "xt-finance", OnDay("2027-05-22")), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].days, 181);
  EXPECT_EQ(idle[0].amount_fen, 7'000);

  // A payment on 2026-12-01 restarts q1's count: 2026-12-01 + 60 = 2027-01-30 (31 + 29).
  Today("2026-12-01");
  Ok("yh-finance", Pay("pay-1", "q1", "district", 1'000'000, "basic", "pipe_network",
                       Firm("和平建筑队"), "2026-12-01"));
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", OnDay("2027-01-30")), "idle_funds").empty());
  idle = Named(FlagsAt(kProject, "q1", OnDay("2027-01-31")), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].days, 61);
  EXPECT_EQ(idle[0].amount_fen, 3'000'000);
  // The same at the head once a record is made on 2027-01-31.
  Today("2027-01-31");
  Ok("xt-finance",
     On("2027-01-31", Received("xt-more", "xt-finance", "pool", "municipal", "xt-finance", 1)));
  idle = Named(FlagsAt(kProject, "q1"), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].days, 61);
}

// A reversed movement moved nothing: a payment or an allocation made and reversed does not
// restart the idle count, and money in that was all reversed does not start it.
TEST_F(ViewsTest, IdleFundsCountFromTheMovementsThatStand) {
  FlagsWorld();  // idle after 60 days; q1 and Yuhu's pool got their money on 2026-11-22
  // q2 is given 1,000 by mistake on 2026-11-22, reversed the next day.
  Ok("yh-housing", Project("q2", kHeping, {"韶山东路小区"}, Budget(1'000),
                           Plan({{"district", 1'000}}), "2026-11-22"));
  Ok("yh-finance", On("2026-11-22", Allocated("yh-to-q2-wrong", "yh-finance", "q2", "project",
                                              "district", 1'000)));
  Today("2026-11-23");
  Ok("yh-finance", Reversal("rev-yh-to-q2-wrong", "yh-to-q2-wrong", "2026-11-23"));
  // q1 is paid on 2026-12-01, and again on 2027-01-10; Yuhu's pool allocates more to q1 on
  // 2027-01-10. Both of 2027-01-10 are reversed the next day.
  Today("2026-12-01");
  Ok("yh-finance", Pay("pay-1", "q1", "district", 1'000'000, "basic", "pipe_network",
                       Firm("和平建筑队"), "2026-12-01"));
  Today("2027-01-10");
  Ok("yh-finance",
     Pay("pay-2", "q1", "district", 1'000, "basic", "road", Firm("和平建筑队"), "2027-01-10"));
  Ok("yh-finance",
     On("2027-01-10", Allocated("yh-to-q1-2", "yh-finance", "q1", "project", "district", 1'000)));
  Today("2027-01-11");
  Ok("yh-finance", Reversal("rev-pay-2", "pay-2", "2027-01-11"));
  Ok("yh-finance", Reversal("rev-yh-to-q1-2", "yh-to-q1-2", "2027-01-11"));
  // q1 counts from pay-1: 2026-12-01 + 60 = 2027-01-30 (31 + 29).
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", OnDay("2027-01-30")), "idle_funds").empty());
  std::vector<Flag> idle = Named(FlagsAt(kProject, "q1", OnDay("2027-01-31")), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].days, 61);
  EXPECT_EQ(idle[0].amount_fen, 3'000'000);
  // The pool counts from its allocation to q1 on 2026-11-22: 2026-11-22 + 60 = 2027-01-21.
  EXPECT_TRUE(Named(FlagsAt(kPool, "yh-finance", OnDay("2027-01-21")), "idle_funds").empty());
  idle = Named(FlagsAt(kPool, "yh-finance", OnDay("2027-01-22")), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].days, 61);
  EXPECT_EQ(idle[0].amount_fen, 6'000'000);
  // Its allocation that stands restarts the count.
  Ok("yh-finance",
     On("2027-01-11", Allocated("yh-to-q1-3", "yh-finance", "q1", "project", "district", 1'000)));
  EXPECT_TRUE(Named(FlagsAt(kPool, "yh-finance", OnDay("2027-03-12")), "idle_funds").empty());
  EXPECT_EQ(Named(FlagsAt(kPool, "yh-finance", OnDay("2027-03-13")), "idle_funds").size(), 1u);
  // q2's money came in on 2027-01-11, not with the reversed 1,000: 2027-01-11 + 60 = 2027-03-12
  // (20 + 28 + 12).
  Ok("yh-finance",
     On("2027-01-11", Allocated("yh-to-q2", "yh-finance", "q2", "project", "district", 1'000)));
  EXPECT_TRUE(Named(FlagsAt(kProject, "q2", OnDay("2027-03-12")), "idle_funds").empty());
  idle = Named(FlagsAt(kProject, "q2", OnDay("2027-03-13")), "idle_funds");
  ASSERT_EQ(idle.size(), 1u);
  EXPECT_EQ(idle[0].days, 61);
  EXPECT_EQ(idle[0].amount_fen, 1'000);
}

TEST_F(ViewsTest, FlagsOverBudgetAndUnitCaps) {
  FlagsWorld();  // q1: basic 2,000,000, improvement 2,000,000, enhancement 0; elevator cap 350,000
  auto pay = [&](const std::string& id, uint64_t fen, const std::string& work,
                 const std::string& item, std::optional<uint32_t> units) {
    Ok("yh-finance",
       Pay(id, "q1", "district", fen, work, item, Firm("和平建筑队"), "2026-11-22", units));
  };
  pay("pay-basic", 2'000'000, "basic", "pipe_network", {});  // the whole basic budget
  pay("pay-lift-2", 700'000, "improvement", "elevator", 2);  // 2 x 350,000: at the cap
  pay("pay-lift", 400'000, "improvement", "elevator", 2);    // 2 x 200,000
  // A payment for a capped item must say how many units it pays for (units_required).
  Status unitless =
      L.Append(L.Signed("yh-finance", Pay("pay-lift-x", "q1", "district", 400'000, "improvement",
                                          "elevator", Firm("和平建筑队"), "2026-11-22", {})))
          .status;
  EXPECT_EQ(unitless.code(), "units_required") << unitless.ToString();
  EXPECT_EQ(unitless.field(), "units");
  pay("pay-parking", 500'000, "improvement", "parking", 1);  // no cap for parking
  auto flags = [&](const std::string& name) { return Named(FlagsAt(kProject, "q1"), name); };
  EXPECT_TRUE(flags("over_budget").empty());
  EXPECT_TRUE(flags("unit_cap_exceeded").empty());

  pay("pay-lift-1", 350'001, "improvement", "elevator", 1);  // 1 fen above the cap
  pay("pay-extra", 1, "basic", "road", {});                  // basic 2,000,001
  pay("pay-care", 1, "enhancement", "elderly_care", {});     // enhancement 1 > 0
  std::vector<Flag> cap = flags("unit_cap_exceeded");
  ASSERT_EQ(cap.size(), 1u);
  EXPECT_EQ(cap[0].event_id, "pay-lift-1");
  EXPECT_EQ(cap[0].amount_fen, 350'001);
  EXPECT_EQ(cap[0].limit_fen, 350'000);
  std::vector<Flag> over = flags("over_budget");
  ASSERT_EQ(over.size(), 2u);
  EXPECT_EQ(over[0].work, "basic");
  EXPECT_EQ(over[0].amount_fen, 2'000'001);
  EXPECT_EQ(over[0].limit_fen, 2'000'000);
  EXPECT_EQ(over[1].work, "enhancement");
  EXPECT_EQ(over[1].amount_fen, 1);
  EXPECT_EQ(over[1].limit_fen, 0);
  // improvement: 700,000 + 400,000 + 500,000 + 350,001 = 1,950,001 <= 2,000,000.

  // A reversed payment counts for neither.
  Ok("yh-finance", Reversal("rev-extra", "pay-extra"));
  Ok("yh-finance", Reversal("rev-lift-1", "pay-lift-1"));
  EXPECT_TRUE(flags("unit_cap_exceeded").empty());
  over = flags("over_budget");
  ASSERT_EQ(over.size(), 1u);
  EXPECT_EQ(over[0].work, "enhancement");
  // The budget as revised: enhancement 1 is within it.
  Ok("yh-housing", Event("revise-q1", "project_revised",
                         {{"project", "q1"},
                          {"budget", Budget(2'000'000, 1'999'999, 1)},
                          {"funding_plan", Plan({{"district", 4'000'000}})}},
                         "2026-11-22"));
  EXPECT_TRUE(flags("over_budget").empty());
}

TEST_F(ViewsTest, FlagsTargetMissedOnTheRoundedValue) {
  FlagsWorld({{{"metric", "payment_rate_bp"}, {"min_bp", 7000}},
              {{"metric", "pledge_fulfilment_bp"}, {"min_bp", 5000}}},
             3'999'000);
  // Nothing paid (0 of 3,999,000) and nothing pledged (null): both missed.
  std::vector<Flag> missed = Named(FlagsAt(kProject, "q1"), "target_missed");
  ASSERT_EQ(missed.size(), 2u);
  EXPECT_EQ(missed[0].metric, "payment_rate_bp");
  EXPECT_EQ(missed[1].metric, "pledge_fulfilment_bp");
  // Pools are held to the targets of their region too, but for the payment rate, a project's
  // ratio (a pool pays no payee).
  missed = Named(FlagsAt(kPool, "yh-finance"), "target_missed");
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_EQ(missed[0].holder_kind, AccountHolder::POOL);
  EXPECT_EQ(missed[0].metric, "pledge_fulfilment_bp");

  // 1,000 of a pledge of 2,000 received: 5000, met. Money in 3,999,000 + 1,000 = 4,000,000.
  Ok("xt-invest", On("2026-11-22", Pledged("pledge", "q1", "xt-invest", "social_capital", 2'000)));
  json r = On("2026-11-22",
              Received("invest-in", "q1", "project", "social_capital", "xt-invest", 1'000));
  r["pledge"] = "pledge";
  Ok("yh-finance", r);
  // 2,799,799 / 4,000,000 = 6999.4975 -> 6999 < 7000: missed.
  Ok("yh-finance", Pay("pay-1", "q1", "district", 2'799'799, "basic", "pipe_network",
                       Firm("和平建筑队"), "2026-11-22"));
  missed = Named(FlagsAt(kProject, "q1"), "target_missed");
  ASSERT_EQ(missed.size(), 1u);
  EXPECT_EQ(missed[0].metric, "payment_rate_bp");
  ExpectTargets(RatiosAt(kProject, "q1"),
                {{"payment_rate_bp", 6999, false}, {"pledge_fulfilment_bp", 5000, true}}, "q1");
  // One fen more: 2,799,800 / 4,000,000 = 6999.5 -> 7000, met.
  Ok("yh-finance",
     Pay("pay-2", "q1", "district", 1, "basic", "road", Firm("和平建筑队"), "2026-11-22"));
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1"), "target_missed").empty());
  ExpectTargets(RatiosAt(kProject, "q1"),
                {{"payment_rate_bp", 7000, true}, {"pledge_fulfilment_bp", 5000, true}}, "q1");
}

TEST_F(ViewsTest, FlagsDuplicateCompoundInTwoLiveProjectsOfADistrict) {
  auto project = [&](const std::string& signer, const std::string& id, const std::string& region,
                     std::vector<std::string> compounds, const std::string& day) {
    Ok(signer, Project(id, region, compounds, Budget(1'000), Plan({{"district", 1'000}}), day));
  };
  project("yh-housing", "q1", kHeping, {"建设路小区", "和平里小区"}, "2026-11-20");
  // Another street of the same district lists 建设路小区 again.
  project("yh-housing", "q2", "hunan/xiangtan/yuhu/other", {"建设路小区"}, "2026-11-21");
  // The same name in another district is another compound.
  project("xt-housing", "q3", "hunan/xiangtan/yuetang/x", {"建设路小区"}, "2026-11-21");
  project("heping-street", "q4", kHeping, {"韶山东路小区"}, "2026-11-21");
  std::vector<Flag> dup = Named(FlagsAt(kRegion, "hunan/xiangtan"), "duplicate_compound");
  ASSERT_EQ(dup.size(), 2u);
  EXPECT_EQ(dup[0].holder, "q1");
  EXPECT_EQ(dup[0].compound, "建设路小区");
  EXPECT_NE(dup[0].message.find("q2"), std::string::npos) << dup[0].message;
  EXPECT_EQ(dup[1].holder, "q2");
  EXPECT_EQ(dup[1].compound, "建设路小区");
  EXPECT_NE(dup[1].message.find("q1"), std::string::npos) << dup[1].message;
  EXPECT_TRUE(Named(FlagsAt(kProject, "q3"), "duplicate_compound").empty());
  EXPECT_TRUE(Named(FlagsAt(kProject, "q4"), "duplicate_compound").empty());
  // Before q2 was registered (by date, or by seq) q1 was alone.
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", OnDay("2026-11-20")), "duplicate_compound").empty());
  EXPECT_TRUE(
      Named(FlagsAt(kProject, "q1", AtSeq(SeqOf("reg-q2") - 1)), "duplicate_compound").empty());

  // Once q2 is cancelled neither is flagged; as of before, both still are.
  Ok("yh-housing", On("2026-11-22", StatusChange("cancel-q2", "q2", "cancelled")));
  EXPECT_TRUE(Named(FlagsAt(kRegion, "hunan/xiangtan"), "duplicate_compound").empty());
  EXPECT_EQ(
      Named(FlagsAt(kRegion, kYuhu, AtSeq(SeqOf("cancel-q2") - 1)), "duplicate_compound").size(),
      2u);
  EXPECT_EQ(Named(FlagsAt(kRegion, kYuhu, OnDay("2026-11-21")), "duplicate_compound").size(), 2u);

  // A city's project may name a compound of any of its districts: Xiangtan's q5 lists q4's
  // 韶山东路小区 (in Yuhu), and both are flagged; not Yuetang's 建设路小区 (q3), which q5 does
  // not list.
  project("xt-housing", "q5", "hunan/xiangtan", {"韶山东路小区", "湘潭大学小区"}, "2026-11-22");
  dup = Named(FlagsAt(kRegion, "hunan/xiangtan"), "duplicate_compound");
  ASSERT_EQ(dup.size(), 2u);
  EXPECT_EQ(dup[0].holder, "q4");
  EXPECT_EQ(dup[0].compound, "韶山东路小区");
  EXPECT_NE(dup[0].message.find("q5"), std::string::npos) << dup[0].message;
  EXPECT_EQ(dup[1].holder, "q5");
  EXPECT_EQ(dup[1].compound, "韶山东路小区");
  EXPECT_NE(dup[1].message.find("q4"), std::string::npos) << dup[1].message;
  EXPECT_TRUE(Named(FlagsAt(kProject, "q3"), "duplicate_compound").empty());
}

TEST_F(ViewsTest, FlagsOpenFindingUntilResolved) {
  FlagsWorld();
  Ok("xt-audit", On("2026-11-22", FindingEvent("find-q1", "F-7", json::array(), "q1")));
  std::vector<Flag> open = Named(FlagsAt(kProject, "q1"), "open_finding");
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].finding, "F-7");
  EXPECT_EQ(open[0].holder, "q1");
  Ok("xt-audit", Resolved("resolve-f7", "F-7", "2026-11-22"));
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1"), "open_finding").empty());
  EXPECT_EQ(Named(FlagsAt(kProject, "q1", AtSeq(SeqOf("resolve-f7") - 1)), "open_finding").size(),
            1u);
  EXPECT_TRUE(Named(FlagsAt(kProject, "q1", AtSeq(SeqOf("find-q1") - 1)), "open_finding").empty());
}

// ---- roll-ups ----

TEST_F(ViewsTest, ARegionIsTheSumOfItsProjects) {
  BuildMain();
  // p9 in another district of the city, whose path sorts before Yuhu's.
  Ok("xt-housing", Project("p9", "hunan/xiangtan/yuetang/x", {"建设路小区"}, Budget(300'000),
                           Plan({{"municipal", 300'000}}), "2026-11-22"));
  Ok("xt-finance",
     On("2026-11-22", Allocated("xt-to-p9", "xt-finance", "p9", "project", "municipal", 300'000)));
  Ok("xt-housing", On("2026-11-22", StatusChange("approve-p9", "p9", "approved", 9000)));
  Ok("xt-finance",
     Pay("pay-p9", "p9", "municipal", 100'000, "basic", "road", Payee("jianshe"), "2026-11-22"));

  auto check = [&](const std::string& region, const std::vector<std::string>& projects) {
    SCOPED_TRACE("region " + region);
    auto point = Point(kRegion, region, {});
    ASSERT_TRUE(point);
    EXPECT_EQ(point->projects(), projects);  // in id order
    fundledger::Balance sum;
    Disbursements whole = DisbursementsAt(kRegion, region);
    std::map<std::string, std::pair<int64_t, int64_t>> parts, totals;  // key -> amount, count
    auto add = [](std::map<std::string, std::pair<int64_t, int64_t>>* m, const Disbursements& d) {
      const std::pair<const char*, const std::vector<DisbursementTotal>*> lists[] = {
          {"work", &d.by_work},
          {"item", &d.by_item},
          {"payee", &d.by_payee},
          {"month", &d.by_month},
          {"category", &d.by_category}};
      for (const auto& [dimension, list] : lists) {
        for (const DisbursementTotal& t : *list) {
          auto& [amount, count] = (*m)[std::string(dimension) + " " + t.key];
          amount += t.amount_fen;
          count += t.count;
        }
      }
    };
    int64_t total_fen = 0, count = 0;
    std::vector<std::string> lines;
    for (const std::string& p : projects) {
      sum += BalanceAt(kProject, p);
      Disbursements d = DisbursementsAt(kProject, p);
      add(&parts, d);
      total_fen += d.total_fen;
      count += d.count;
      for (const DisbursementLine& l : d.lines) lines.push_back(l.id);
    }
    EXPECT_EQ(BalanceAt(kRegion, region), sum);
    add(&totals, whole);
    EXPECT_EQ(totals, parts);
    EXPECT_EQ(whole.total_fen, total_fen);
    EXPECT_EQ(whole.count, count);
    std::vector<std::string> whole_lines;
    for (const DisbursementLine& l : whole.lines) whole_lines.push_back(l.id);
    EXPECT_EQ(whole_lines, lines);
  };
  check(kYuhu, {"p1", "p2"});
  check("hunan/xiangtan", {"p1", "p2", "p9"});
  check("", {"p1", "p2", "p9"});
  check("hunan/xiangtan/yuetang", {"p9"});
  // By hand: the city paid 5,200,000 in Yuhu and 100,000 in Yuetang.
  EXPECT_EQ(DisbursementsAt(kRegion, "hunan/xiangtan").total_fen, 5'300'000);
  EXPECT_EQ(BalanceAt(kRegion, "hunan/xiangtan").Total().available_fen(), 6'700'000 + 200'000);
}

// ---- as of a seq or a date ----

TEST_F(ViewsTest, AsOfASeqIsTheLedgerOfItsFirstEvents) {
  BuildMain();
  // More history: a project listing one of p1's compounds, cancelled later; an
  // acknowledgement; a finding resolved; a policy replaced; records on later days.
  Today("2026-11-23");
  Ok("heping-street", Project("p3", kHeping, {"和平里小区"}, Budget(500'000),
                              Plan({{"resident", 500'000}}), "2026-11-23"));
  Ok("xt-design", On("2026-11-23", Ack("ack-elevator", "pay-elevator")));
  json residents = On("2026-11-23", Received("residents-p3", "p3", "project", "resident",
                                             "jianshe-residents", 50'000, "donation"));
  residents["households"] = 10;
  Ok("heping-street", residents);
  Today("2026-12-30");
  Ok("xt-audit", Resolved("resolve-f1", "F-1", "2026-12-30"));
  Ok("heping-street", On("2026-12-30", StatusChange("cancel-p3", "p3", "cancelled")));
  Ok("yh-finance", On("2026-12-30", Refunded("p3-back", "p3", "project", "resident",
                                             "jianshe-residents", 50'000)));
  Ok("yh-finance",
     PolicyEvent("pol-yuhu-2", kYuhu, json::array(),
                 {{{"metric", "payment_rate_bp"}, {"min_bp", 3000}}}, 90, "2026-12-30"));
  Today("2027-03-01");
  Ok("yh-finance",
     Pay("pay-late", "p2", "municipal", 100'000, "basic", "roof", Payee("jianshe"), "2027-03-01"));
  Ok("jianshe", On("2027-03-01", Ack("ack-roof", "pay-roof")));

  const std::vector<std::pair<ScopeKind, std::string>> scopes = {
      {kProject, "p1"}, {kProject, "p2"},      {kProject, "p3"},
      {kRegion, kYuhu}, {kRegion, ""},         {kRegion, kYuetang},
      {kPool, "mof"},   {kPool, "yh-finance"}, {kPool, "xt-finance"}};
  // A second ledger, with the same keys, given the same signed events one by one at the same
  // times: at each size N its views are those of the first ledger as of seq N.
  TestLedger twin(L.keys());
  const Journal& first = L.journal();
  uint64_t head = first.head().size;
  for (uint64_t n = 1; n <= head; ++n) {
    if (n > 1) {
      std::string bytes;
      RecordReader record;
      SignedEvent event;
      ASSERT_TRUE(first.ReadRecord(n, &bytes).ok());
      ASSERT_TRUE(RecordReader::Open(bytes, &record).ok());
      ASSERT_TRUE(SignedEvent::FromEnvelopeReader(record.record().getEnvelope(), &event).ok());
      twin.set_now_ms(record.record().getRecordedAtMs());
      ASSERT_EQ(twin.AppendOk(event).seq, n);
    }
    ASSERT_EQ(twin.journal().head().size, n);
    for (const auto& [kind, id] : scopes) {
      SCOPED_TRACE("seq " + std::to_string(n) + " scope " + id);
      json want = AllViews(twin.journal(), kind, id, AsOf());
      EXPECT_EQ(AllViews(first, kind, id, AtSeq(n)), want);
      // Read beside a writer (public reads): folded even at the head, and the same.
      CountingGate gate;
      EXPECT_EQ(AllViews(first, kind, id, AtSeq(n), &gate), want);
      EXPECT_GT(gate.taken, 0);
      EXPECT_EQ(gate.held, 0);
      // And the same with a date.
      AsOf june = OnDay("2026-06-30");
      AsOf both = june;
      both.seq = n;
      EXPECT_EQ(AllViews(first, kind, id, both), AllViews(twin.journal(), kind, id, june));
    }
  }
  EXPECT_EQ(twin.journal().head().root, first.head().root);
}

TEST_F(ViewsTest, AsOfADateCountsTheEventsOfThatDateOrBefore) {
  BuildMain();
  // p1 on 2026-06-10: its money in, the pipes (2,500,000 central) and the elevator (1,000,000
  // district) paid; nothing of care, road, the refund or pay-dup yet.
  ExpectBalance(BalanceAt(kProject, "p1", OnDay("2026-06-10")),
                {{Category::CENTRAL,
                  {.allocated_in = 4'000'000, .disbursed = 2'500'000, .available = 1'500'000}},
                 {Category::DISTRICT,
                  {.allocated_in = 3'000'000, .disbursed = 1'000'000, .available = 2'000'000}},
                 {Category::UTILITY, {.received = 600'000, .available = 600'000}},
                 {Category::RESIDENT, {.received = 900'000, .available = 900'000}},
                 {Category::SOCIAL_CAPITAL,
                  {.received = 1'500'000,
                   .available = 1'500'000,
                   .pledged = 2'000'000,
                   .outstanding = 500'000}}},
                {.received = 3'000'000,
                 .allocated_in = 7'000'000,
                 .disbursed = 3'500'000,
                 .available = 6'500'000,
                 .pledged = 2'000'000,
                 .outstanding = 500'000},
                "p1 on 2026-06-10");
  Ratios june = RatiosAt(kProject, "p1", OnDay("2026-06-10"));
  EXPECT_EQ(june.payment_rate_bp, 3500);  // 3,500,000 / 10,000,000
  EXPECT_EQ(june.social_capital_to_government_bp, 2143);
  Disbursements paid = DisbursementsAt(kProject, "p1", OnDay("2026-06-10"));
  EXPECT_EQ(paid.total_fen, 3'500'000);
  ASSERT_EQ(paid.lines.size(), 2u);
  EXPECT_EQ(paid.lines[0].acknowledged_by, "ack-pipe");  // acknowledged on 2026-05-20
  EXPECT_TRUE(paid.lines[1].findings.empty());           // F-1 is of 2026-08-01
  // Counted to 2026-06-10: the elevator is 5 days old, p1 paid 5 days ago; F-1 not yet.
  EXPECT_EQ(FlagsFields(FlagsAt(kProject, "p1", OnDay("2026-06-10"))), json::parse(R"([
    {"flag": "unit_cap_exceeded", "project": "p1", "event_id": "pay-elevator",
     "amount_fen": 1000000, "limit_fen": 800000},
    {"flag": "target_missed", "project": "p1", "metric": "payment_rate_bp"},
    {"flag": "target_missed", "project": "p1", "metric": "local_government_share_bp"}
  ])"));

  // Yuhu on 2026-07-31: pay-dup (2026-07-10) counts, its reversal (dated 2026-11-22) does not;
  // the same for p2's second allocation of 500,000. (A reversal is never dated before its
  // target, rule reversal_before_target, so a reversal out of view cannot undo a target in
  // view; an event in view that refers to one out of view is the acknowledgement below.)
  // district: 3,000,000 in, 1,000,000 + 200,000 + 400,000 = 1,600,000 paid.
  // municipal: 2,000,000 + 500,000 = 2,500,000 in, 1,200,000 paid.
  ExpectBalance(
      BalanceAt(kRegion, kYuhu, OnDay("2026-07-31")),
      {{Category::CENTRAL,
        {.allocated_in = 4'000'000, .disbursed = 2'500'000, .available = 1'500'000}},
       {Category::MUNICIPAL,
        {.allocated_in = 2'500'000, .disbursed = 1'200'000, .available = 1'300'000}},
       {Category::DISTRICT,
        {.allocated_in = 3'000'000, .disbursed = 1'600'000, .available = 1'400'000}},
       {Category::UTILITY, {.received = 600'000, .refunded = 100'000, .available = 500'000}},
       {Category::RESIDENT, {.received = 900'000, .disbursed = 300'000, .available = 600'000}},
       {Category::SOCIAL_CAPITAL,
        {.received = 1'500'000,
         .available = 1'500'000,
         .pledged = 2'000'000,
         .outstanding = 500'000}}},
      // in 3,000,000 + 9,500,000 = 12,500,000; out 5,600,000 + 100,000.
      {.received = 3'000'000,
       .allocated_in = 9'500'000,
       .disbursed = 5'600'000,
       .refunded = 100'000,
       .available = 6'800'000,
       .pledged = 2'000'000,
       .outstanding = 500'000},
      "Yuhu on 2026-07-31");
  Disbursements july = DisbursementsAt(kProject, "p1", OnDay("2026-07-31"));
  EXPECT_EQ(july.total_fen, 4'400'000);
  EXPECT_EQ(july.count, 5);
  ASSERT_EQ(july.lines.size(), 5u);
  EXPECT_EQ(july.lines[4].id, "pay-dup");
  EXPECT_EQ(july.lines[4].reversed_by, "");
  // The city's pool had allocated 1,000,000 + 2,000,000 + 500,000 of 4,500,000: 7777.78.
  EXPECT_EQ(RatiosAt(kPool, "xt-finance", OnDay("2026-07-31")).allocation_rate_bp, 7778);
  Want xt{.received = 4'500'000, .allocated_out = 3'500'000, .available = 1'000'000};
  ExpectBalance(BalanceAt(kPool, "xt-finance", OnDay("2026-07-31")), {{Category::MUNICIPAL, xt}},
                xt, "xt-finance on 2026-07-31");
  // A date with a seq: the events of both. As of the seq before rev-pay-dup, on 2026-12-31,
  // pay-dup is still paid.
  AsOf before_reversal = OnDay("2026-12-31");
  before_reversal.seq = SeqOf("rev-pay-dup") - 1;
  EXPECT_EQ(BalanceAt(kProject, "p1", before_reversal).Total().disbursed_fen, 4'400'000);

  // An acknowledgement dated before its payment is refused; one of the payment's own day is in
  // view from that day on.
  AppendResult early =
      L.Append(L.Signed("xt-design", On("2026-06-04", Ack("ack-elevator", "pay-elevator"))));
  EXPECT_EQ(early.status.code(), "date_before_target") << early.status.ToString();
  Ok("xt-design", On("2026-06-05", Ack("ack-elevator", "pay-elevator")));
  Disbursements before = DisbursementsAt(kProject, "p1", OnDay("2026-06-03"));
  ASSERT_EQ(before.lines.size(), 1u);
  EXPECT_EQ(before.lines[0].id, "pay-pipe");
  EXPECT_EQ(BalanceAt(kProject, "p1", OnDay("2026-06-03")).Total().disbursed_fen, 2'500'000);
  paid = DisbursementsAt(kProject, "p1", OnDay("2026-06-10"));
  ASSERT_EQ(paid.lines.size(), 2u);
  EXPECT_EQ(paid.lines[1].acknowledged_by, "ack-elevator");
}

TEST_F(ViewsTest, AsOfAPointTheScopeDidNotExistAtOrBeyondTheHead) {
  BuildMain();
  uint64_t head = L.journal().head().size;
  for (const auto& [kind, id] : std::vector<std::pair<ScopeKind, std::string>>{
           {kProject, "p1"}, {kPool, "mof"}, {kRegion, kYuhu}}) {
    Status s = OpenStatus(kind, id, AtSeq(head + 1));
    EXPECT_EQ(s.kind(), Status::Kind::kInvalidArgument) << s.ToString();
    EXPECT_EQ(s.code(), "as_of_seq_beyond_head");
    EXPECT_EQ(s.field(), "as_of_seq");
  }
  EXPECT_TRUE(OpenStatus(kProject, "p1", AtSeq(head)).ok());
  // A view read beside a writer names its point: the head moves.
  CountingGate gate;
  std::unique_ptr<ViewPoint> point;
  Status beside = ViewPoint::Open(L.journal(), {kProject, "p1"}, AsOf(), &point, &gate);
  EXPECT_EQ(beside.code(), "as_of_seq") << beside.ToString();
  EXPECT_EQ(beside.field(), "as_of_seq");
  // p2 was registered at seq reg-p2.
  Status s = OpenStatus(kProject, "p2", AtSeq(SeqOf("reg-p2") - 1));
  EXPECT_EQ(s.kind(), Status::Kind::kNotFound) << s.ToString();
  EXPECT_EQ(s.code(), "project_unknown");
  EXPECT_TRUE(OpenStatus(kProject, "p2", AtSeq(SeqOf("reg-p2"))).ok());
  // ... and dated 2026-02-01.
  s = OpenStatus(kProject, "p2", OnDay("2026-01-31"));
  EXPECT_EQ(s.code(), "project_unknown") << s.ToString();
  EXPECT_EQ(OpenStatus(kProject, "nope", AsOf()).code(), "project_unknown");
  // A region is a region at any point, with the projects it had then.
  point = Point(kRegion, kYuhu, AtSeq(SeqOf("reg-p2") - 1));
  ASSERT_TRUE(point);
  EXPECT_EQ(point->projects(), std::vector<std::string>{"p1"});
  EXPECT_EQ(point->as_of_seq(), SeqOf("reg-p2") - 1);
  // A pool before its bureau was registered.
  s = OpenStatus(kPool, "yh-finance", AtSeq(SeqOf("reg-yh-finance") - 1));
  EXPECT_EQ(s.code(), "pool_unknown") << s.ToString();
  // A date earlier than its registration's is not refused: a bureau registered today may
  // record money that came in before.
  EXPECT_TRUE(OpenStatus(kPool, "yh-finance", OnDay("2000-01-01")).ok());
  EXPECT_EQ(OpenStatus(kRegion, "Hunan", AsOf()).code(), "bad_region");
}

// ---- JSON, CSV and tables ----

// A region's list grows with its history, so a server hands it out in pages: every window of
// the list gives the whole list's totals and exactly its own slice of the lines, and the pages
// read back from their JSON join into the whole list.
TEST_F(ViewsTest, ADisbursementsListIsPagedWithItsTotalsWhole) {
  BuildMain();
  std::unique_ptr<ViewPoint> point = Point(kRegion, kYuhu, {});
  ASSERT_NE(point, nullptr);
  Disbursements whole;
  DisbursementsIndex index;  // what the later pages of a kept point read instead of the list
  ASSERT_TRUE(DisbursementsOf(*point, &whole, {}, nullptr, &index).ok());
  ASSERT_EQ(whole.lines.size(), 6u);
  EXPECT_EQ(whole.lines_total, 6u);
  ASSERT_TRUE(index.made);
  ASSERT_EQ(index.project_lines.size(), point->projects().size());
  EXPECT_GE(std::count_if(index.project_lines.begin(), index.project_lines.end(),
                          [](uint64_t n) { return n > 0; }),
            2)
      << "pages that cross from one project's lines to another's";
  const json whole_json = DisbursementsJson(whole);
  for (uint64_t from = 0; from <= 7; ++from) {
    for (uint64_t limit = 1; limit <= 7; ++limit) {
      SCOPED_TRACE("from " + std::to_string(from) + " limit " + std::to_string(limit));
      Disbursements page;
      ASSERT_TRUE(DisbursementsOf(*point, &page, {from, limit}).ok());
      Disbursements indexed;
      ASSERT_TRUE(DisbursementsOf(*point, &indexed, {from, limit}, &index).ok());
      EXPECT_EQ(DisbursementsJson(indexed), DisbursementsJson(page));
      EXPECT_EQ(DisbursementsCsv(indexed), DisbursementsCsv(page));
      EXPECT_EQ(page.lines_from, from);
      EXPECT_EQ(page.lines_total, 6u);
      json page_json = DisbursementsJson(page);
      json expected = whole_json;
      json slice = json::array();
      for (uint64_t i = from; i < std::min<uint64_t>(6, from + limit); ++i) {
        slice.push_back(whole_json["disbursements"][i]);
      }
      expected["disbursements"] = slice;
      expected["page"] = {
          {"from", from}, {"listed", slice.size()}, {"total", 6}, {"next", nullptr}};
      EXPECT_EQ(page_json, expected);
      // Read back from JSON, the page is the same page.
      Disbursements back;
      Status s = DisbursementsFromJson(page_json, &back);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(DisbursementsJson(back), page_json);
      EXPECT_EQ(DisbursementsCsv(back), DisbursementsCsv(page));
      EXPECT_EQ(DisbursementsTable(back), DisbursementsTable(page));
      // A table that shows part of the list says which part.
      std::string table = DisbursementsTable(page);
      const uint64_t last = std::min<uint64_t>(6, from + limit);
      const std::string part = from < last ? "(payments " + std::to_string(from + 1) + " to " +
                                                 std::to_string(last) + " of 6)\n"
                                           : std::string("(none of the 6 payments)\n");
      if (from == 0 && limit >= 6) {
        EXPECT_EQ(table.find("(payments"), std::string::npos) << table;
      } else {
        EXPECT_TRUE(table.ends_with(part)) << table;
      }
    }
  }
  // An index not made, or made for another point's projects, is not used; one whose counts are
  // not this point's is found out where a page reads a project.
  const DisbursementsIndex unmade;
  Disbursements again;
  ASSERT_TRUE(DisbursementsOf(*point, &again, {2, 3}, &unmade).ok());
  EXPECT_EQ(again.lines.size(), 3u);
  DisbursementsIndex other = index;
  other.project_lines.push_back(1);
  ASSERT_TRUE(DisbursementsOf(*point, &again, {2, 3}, &other).ok());
  EXPECT_EQ(DisbursementsJson(again)["disbursements"].size(), 3u);
  DisbursementsIndex wrong = index;
  for (uint64_t& n : wrong.project_lines) n = n > 0 ? n + 1 : 0;
  EXPECT_EQ(DisbursementsOf(*point, &again, {0, 7}, &wrong).code(), "disbursements_index");
  // A window at the far end of the numbers lists nothing and keeps the totals.
  Disbursements far;
  ASSERT_TRUE(DisbursementsOf(*point, &far, {UINT64_MAX, UINT64_MAX}).ok());
  Disbursements far_indexed;
  ASSERT_TRUE(DisbursementsOf(*point, &far_indexed, {UINT64_MAX, UINT64_MAX}, &index).ok());
  EXPECT_EQ(DisbursementsJson(far_indexed), DisbursementsJson(far));
  EXPECT_TRUE(far.lines.empty());
  EXPECT_EQ(far.total_fen, whole.total_fen);
  EXPECT_TRUE(DisbursementsTable(far).ends_with("(none of the 6 payments)\n"));
  // The whole list's forms read back unchanged, and the totals do not depend on the window.
  Disbursements back;
  ASSERT_TRUE(DisbursementsFromJson(whole_json, &back).ok());
  EXPECT_EQ(DisbursementsTable(back), DisbursementsTable(whole));
  EXPECT_EQ(DisbursementsCsv(back), DisbursementsCsv(whole));

  // JSON that is not a disbursements view is refused, naming what is wrong.
  auto refused = [&](json j, const std::string& field) {
    Disbursements out;
    Status s = DisbursementsFromJson(j, &out);
    EXPECT_EQ(s.code(), "bad_view_json") << field;
    EXPECT_EQ(s.field(), field) << s.ToString();
  };
  json broken = whole_json;
  broken["disbursements"][2]["category"] = "lottery";
  refused(broken, "category");
  broken = whole_json;
  broken["disbursements"][0]["payee"].erase("kind");
  refused(broken, "kind");
  broken = whole_json;
  broken["disbursements"][1]["occurred_on"] = "2026-13-01";
  refused(broken, "occurred_on");
  broken = whole_json;
  broken["page"]["listed"] = 5;
  refused(broken, "page.listed");
  broken = whole_json;
  broken["by_payee"][0].erase("name");
  refused(broken, "name");
  broken = whole_json;
  broken["total_fen"] = "5200000";
  refused(broken, "total_fen");
  refused(json::array(), "disbursements");
}

TEST_F(ViewsTest, RenderedViewsKeepTheirFieldNames) {
  BuildMain();
  // balance: the figures of DESIGN.md section 5 per category, and the total.
  fundledger::Balance p1 = BalanceAt(kProject, "p1");
  EXPECT_EQ(BalanceJson(p1), json::parse(R"({
    "categories": {
      "central": {"received_fen": 0, "allocated_in_fen": 4000000, "allocated_out_fen": 0,
                  "disbursed_fen": 2500000, "refunded_fen": 0, "available_fen": 1500000,
                  "pledged_fen": 0, "pledge_outstanding_fen": 0},
      "provincial": {"received_fen": 0, "allocated_in_fen": 0, "allocated_out_fen": 0,
                     "disbursed_fen": 0, "refunded_fen": 0, "available_fen": 0,
                     "pledged_fen": 0, "pledge_outstanding_fen": 0},
      "municipal": {"received_fen": 0, "allocated_in_fen": 0, "allocated_out_fen": 0,
                    "disbursed_fen": 0, "refunded_fen": 0, "available_fen": 0,
                    "pledged_fen": 0, "pledge_outstanding_fen": 0},
      "district": {"received_fen": 0, "allocated_in_fen": 3000000, "allocated_out_fen": 0,
                   "disbursed_fen": 1200000, "refunded_fen": 0, "available_fen": 1800000,
                   "pledged_fen": 0, "pledge_outstanding_fen": 0},
      "utility": {"received_fen": 600000, "allocated_in_fen": 0, "allocated_out_fen": 0,
                  "disbursed_fen": 0, "refunded_fen": 100000, "available_fen": 500000,
                  "pledged_fen": 0, "pledge_outstanding_fen": 0},
      "resident": {"received_fen": 900000, "allocated_in_fen": 0, "allocated_out_fen": 0,
                   "disbursed_fen": 300000, "refunded_fen": 0, "available_fen": 600000,
                   "pledged_fen": 0, "pledge_outstanding_fen": 0},
      "enterprise": {"received_fen": 0, "allocated_in_fen": 0, "allocated_out_fen": 0,
                     "disbursed_fen": 0, "refunded_fen": 0, "available_fen": 0,
                     "pledged_fen": 0, "pledge_outstanding_fen": 0},
      "social_capital": {"received_fen": 1500000, "allocated_in_fen": 0, "allocated_out_fen": 0,
                         "disbursed_fen": 0, "refunded_fen": 0, "available_fen": 1500000,
                         "pledged_fen": 2000000, "pledge_outstanding_fen": 500000}
    },
    "total": {"received_fen": 3000000, "allocated_in_fen": 7000000, "allocated_out_fen": 0,
              "disbursed_fen": 4000000, "refunded_fen": 100000, "available_fen": 5900000,
              "pledged_fen": 2000000, "pledge_outstanding_fen": 500000}
  })"));
  EXPECT_EQ(BalanceCsv(p1),
            "category,received_fen,allocated_in_fen,allocated_out_fen,disbursed_fen,refunded_fen,"
            "available_fen,pledged_fen,pledge_outstanding_fen\n"
            "central,0,4000000,0,2500000,0,1500000,0,0\n"
            "provincial,0,0,0,0,0,0,0,0\n"
            "municipal,0,0,0,0,0,0,0,0\n"
            "district,0,3000000,0,1200000,0,1800000,0,0\n"
            "utility,600000,0,0,0,100000,500000,0,0\n"
            "resident,900000,0,0,300000,0,600000,0,0\n"
            "enterprise,0,0,0,0,0,0,0,0\n"
            "social_capital,1500000,0,0,0,0,1500000,2000000,500000\n"
            "total,3000000,7000000,0,4000000,100000,5900000,2000000,500000\n");
  std::string table = BalanceTable(p1);
  EXPECT_EQ(table.rfind("amounts in yuan", 0), 0u) << table;
  // 4,000,000 fen = 40,000.00 yuan allocated in; 5,900,000 fen = 59,000.00 yuan available.
  EXPECT_NE(table.find("40,000.00"), std::string::npos) << table;
  EXPECT_NE(table.find("59,000.00"), std::string::npos) << table;
  EXPECT_EQ(table.find("4000000"), std::string::npos) << table;  // never fen

  // ratios: null where there is no denominator.
  Ratios ratios = RatiosAt(kProject, "p1");
  EXPECT_EQ(RatiosJson(ratios), json::parse(R"({
    "mix_bp": {"central": 4000, "provincial": 0, "municipal": 0, "district": 3000,
               "utility": 600, "resident": 900, "enterprise": 0, "social_capital": 1500},
    "government_share_bp": 7000,
    "social_capital_to_government_bp": 2143,
    "utility_share_bp": 600,
    "resident_share_bp": 900,
    "local_government_share_bp": 3000,
    "allocation_rate_bp": null,
    "payment_rate_bp": 4000,
    "pledge_fulfilment_bp": 7500,
    "plan_deviation_fen": {"central": 0, "provincial": 0, "municipal": 0, "district": 0,
                           "utility": 600000, "resident": -100000, "enterprise": 0,
                           "social_capital": -500000},
    "targets": [
      {"metric": "social_capital_to_government_bp", "min_bp": 2000, "max_bp": null,
       "value_bp": 2143, "met": true},
      {"metric": "payment_rate_bp", "min_bp": 5000, "max_bp": null, "value_bp": 4000,
       "met": false},
      {"metric": "local_government_share_bp", "min_bp": null, "max_bp": 2500, "value_bp": 3000,
       "met": false}
    ]
  })"));
  EXPECT_EQ(RatiosCsv(ratios),
            "name,value\n"
            "mix_bp.central,4000\n"
            "mix_bp.provincial,0\n"
            "mix_bp.municipal,0\n"
            "mix_bp.district,3000\n"
            "mix_bp.utility,600\n"
            "mix_bp.resident,900\n"
            "mix_bp.enterprise,0\n"
            "mix_bp.social_capital,1500\n"
            "government_share_bp,7000\n"
            "social_capital_to_government_bp,2143\n"
            "utility_share_bp,600\n"
            "resident_share_bp,900\n"
            "local_government_share_bp,3000\n"
            "allocation_rate_bp,\n"
            "payment_rate_bp,4000\n"
            "pledge_fulfilment_bp,7500\n"
            "plan_deviation_fen.central,0\n"
            "plan_deviation_fen.provincial,0\n"
            "plan_deviation_fen.municipal,0\n"
            "plan_deviation_fen.district,0\n"
            "plan_deviation_fen.utility,600000\n"
            "plan_deviation_fen.resident,-100000\n"
            "plan_deviation_fen.enterprise,0\n"
            "plan_deviation_fen.social_capital,-500000\n"
            "target.social_capital_to_government_bp.min_bp,2000\n"
            "target.social_capital_to_government_bp.max_bp,\n"
            "target.social_capital_to_government_bp.value_bp,2143\n"
            "target.social_capital_to_government_bp.met,true\n"
            "target.payment_rate_bp.min_bp,5000\n"
            "target.payment_rate_bp.max_bp,\n"
            "target.payment_rate_bp.value_bp,4000\n"
            "target.payment_rate_bp.met,false\n"
            "target.local_government_share_bp.min_bp,\n"
            "target.local_government_share_bp.max_bp,2500\n"
            "target.local_government_share_bp.value_bp,3000\n"
            "target.local_government_share_bp.met,false\n");
  table = RatiosTable(ratios);
  EXPECT_NE(table.find("21.43%"), std::string::npos) << table;     // 2143 bp
  EXPECT_NE(table.find("-5,000.00"), std::string::npos) << table;  // -500,000 fen
  EXPECT_NE(table.find("6,000.00"), std::string::npos) << table;   // 600,000 fen

  // disbursements
  Disbursements paid = DisbursementsAt(kProject, "p1");
  json d = DisbursementsJson(paid);
  std::vector<std::string> keys;
  for (const auto& [key, _] : d.items()) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{"by_category", "by_item", "by_month", "by_payee", "by_work",
                                      "count", "disbursements", "page", "total_fen"}));
  EXPECT_EQ(d["page"], json::parse(R"({"from": 0, "listed": 5, "total": 5, "next": null})"));
  EXPECT_EQ(d["total_fen"], 4'000'000);
  EXPECT_EQ(d["count"], 4);
  EXPECT_EQ(d["by_work"][0], json::parse(R"({"work": "basic", "amount_fen": 2700000,
                                             "count": 2, "share_bp": 6750})"));
  EXPECT_EQ(d["by_item"][1], json::parse(R"({"item": "elevator", "amount_fen": 1000000,
                                             "count": 1, "share_bp": 2500})"));
  EXPECT_EQ(d["by_month"][1], json::parse(R"({"month": "2026-06", "amount_fen": 1300000,
                                              "count": 2, "share_bp": 3250})"));
  EXPECT_EQ(d["by_category"][1], json::parse(R"({"category": "district", "amount_fen": 1200000,
                                                 "count": 2, "share_bp": 3000})"));
  EXPECT_EQ(d["by_payee"], json::parse(R"([
    {"payee": "org:jianshe", "name": "jianshe name", "amount_fen": 2500000, "count": 1,
     "share_bp": 6250},
    {"payee": "org:xt-design", "name": "xt-design name", "amount_fen": 1000000, "count": 1,
     "share_bp": 2500},
    {"payee": "code:91430300MA4L00001W", "name": "湘潭市颐康养老服务有限公司",
     "amount_fen": 300000, "count": 1, "share_bp": 750},
    {"payee": "name:和平建筑队", "name": "和平建筑队", "amount_fen": 200000, "count": 1,
     "share_bp": 500}
  ])"));
  json pipe = json::parse(R"({
    "id": "pay-pipe", "project": "p1", "occurred_on": "2026-05-10", "category": "central",
    "amount_fen": 2500000, "payee": {"name": "jianshe name", "kind": "contractor", "org": "jianshe"},
    "work": "basic", "item": "pipe_network", "units": null, "contract_ref": "XTJS-2025-017",
    "invoice_ref": "No.43001234", "acknowledged": true, "acknowledged_by": "ack-pipe",
    "reversed_by": null, "findings": []
  })");
  pipe["seq"] = SeqOf("pay-pipe");
  EXPECT_EQ(d["disbursements"][0], pipe);
  json elevator = json::parse(R"({
    "id": "pay-elevator", "project": "p1", "occurred_on": "2026-06-05", "category": "district",
    "amount_fen": 1000000,
    "payee": {"name": "xt-design name", "kind": "contractor", "org": "xt-design"},
    "work": "improvement", "item": "elevator", "units": 2, "contract_ref": "XTJS-2025-017",
    "invoice_ref": "No.43001234", "acknowledged": false, "acknowledged_by": null,
    "reversed_by": null, "findings": ["F-1"]
  })");
  elevator["seq"] = SeqOf("pay-elevator");
  EXPECT_EQ(d["disbursements"][1], elevator);
  EXPECT_EQ(d["disbursements"][2]["payee"],
            json::parse(R"({"name": "湘潭市颐康养老服务有限公司", "kind": "contractor",
                            "credit_code": "91430300MA4L00001W"})"));
  EXPECT_EQ(d["disbursements"][4]["reversed_by"], "rev-pay-dup");
  std::string csv = DisbursementsCsv(paid);
  std::string s = std::to_string(SeqOf("pay-care"));
  EXPECT_EQ(csv.substr(0, csv.find('\n') + 1),
            "seq,id,project,occurred_on,category,amount_fen,payee_name,payee_kind,"
            "payee_credit_code,payee_org,work,item,units,contract_ref,invoice_ref,acknowledged_by,"
            "reversed_by,findings\n");
  EXPECT_NE(csv.find("\n" + s +
                     ",pay-care,p1,2026-06-20,resident,300000,湘潭市颐康养老服务有限公司,"
                     "contractor,91430300MA4L00001W,,enhancement,elderly_care,,XTJS-2025-017,"
                     "No.43001234,,,\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",improvement,elevator,2,XTJS-2025-017,No.43001234,,,F-1\n"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find(",pipe_network,,XTJS-2025-017,No.43001234,,rev-pay-dup,\n"), std::string::npos)
      << csv;
  table = DisbursementsTable(paid);
  EXPECT_NE(table.find("disbursed 40,000.00 yuan in 4 payments"), std::string::npos) << table;
  EXPECT_NE(table.find("25,000.00"), std::string::npos) << table;
  EXPECT_NE(table.find("reversed by rev-pay-dup"), std::string::npos) << table;

  // flags: the holder under its kind's name; optional fields only where they apply.
  std::vector<Flag> flags = FlagsAt(kProject, "p1");
  json f = FlagsJson(flags);
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0]["flag"], "unit_cap_exceeded");
  EXPECT_EQ(f[0]["project"], "p1");
  EXPECT_TRUE(f[0]["message"].is_string());
  EXPECT_FALSE(f[0].contains("days"));
  EXPECT_FALSE(f[0].contains("finding"));
  EXPECT_EQ(FlagsJson(FlagsAt(kPool, "mof"))[0]["pool"], "mof");
  csv = FlagsCsv(flags);
  EXPECT_EQ(csv.substr(0, csv.find('\n') + 1),
            "flag,holder_kind,holder,event_id,finding,metric,work,compound,amount_fen,limit_fen,"
            "days,message\n");
  EXPECT_NE(csv.find("\nunit_cap_exceeded,project,p1,pay-elevator,,,,,1000000,800000,,"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nunacknowledged,project,p1,pay-elevator,,,,,1000000,,170,"),
            std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\ntarget_missed,project,p1,,,payment_rate_bp,,,,,,"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\nopen_finding,project,p1,,F-1,,,,,,,"), std::string::npos) << csv;
  table = FlagsTable(flags);
  EXPECT_NE(table.find("unit_cap_exceeded"), std::string::npos) << table;
  EXPECT_EQ(FlagsTable({}), "no flags\n");
  EXPECT_EQ(FlagsJson({}), json::array());
}

// The views' CSV (show --format csv, ?format=csv) writes a text a spreadsheet would read as a
// formula after a "'" (a record of an earlier build may hold one; the rules now refuse them),
// and numbers as they are.
TEST(ViewsRender, CsvCellsThatASpreadsheetWouldReadAsAFormulaAreWrittenAsText) {
  EXPECT_EQ(CsvField("=HYPERLINK(\"http://x.example/\")"),
            "\"'=HYPERLINK(\"\"http://x.example/\"\")\"");
  EXPECT_EQ(CsvField("+1+1"), "'+1+1");
  EXPECT_EQ(CsvField("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvField("\tx"), "'\tx");
  EXPECT_EQ(CsvField("-1-1"), "'-1-1");
  EXPECT_EQ(CsvField("-1.2.3"), "'-1.2.3");
  EXPECT_EQ(CsvField("-."), "'-.");
  EXPECT_EQ(CsvField("-500000"), "-500000");
  EXPECT_EQ(CsvField("-12.05"), "-12.05");
  EXPECT_EQ(CsvField("湘潭=A1"), "湘潭=A1");
  EXPECT_FALSE(IsDecimalNumber("-"));
  EXPECT_FALSE(IsDecimalNumber("1."));
  EXPECT_TRUE(IsDecimalNumber("0.5"));
}

TEST(ViewsRender, TablesShowYuanWithThousandsSeparators) {
  fundledger::Balance b;
  b.by_category[size_t(Category::CENTRAL)].received_fen = 123'456'789;
  b.by_category[size_t(Category::CENTRAL)].refunded_fen = 5;
  b.by_category[size_t(Category::RESIDENT)].received_fen = 99'999;
  std::string table = BalanceTable(b);
  EXPECT_NE(table.find("1,234,567.89"), std::string::npos) << table;  // received
  EXPECT_NE(table.find(" 0.05"), std::string::npos) << table;         // refunded, 5 fen
  EXPECT_NE(table.find("1,234,567.84"), std::string::npos) << table;  // available
  EXPECT_NE(table.find(" 999.99"), std::string::npos) << table;
  EXPECT_NE(table.find("1,235,567.88"), std::string::npos) << table;  // total received
  Ratios r;
  r.has_plan = true;
  r.plan_deviation_fen[size_t(Category::DISTRICT)] = -100'000'000'000;
  table = RatiosTable(r);
  EXPECT_NE(table.find("-1,000,000,000.00"), std::string::npos) << table;
  EXPECT_NE(table.find("-\n"), std::string::npos) << table;  // a null ratio
  // Text with commas or quotes is quoted in CSV.
  Disbursements d;
  DisbursementLine line;
  line.id = "pay";
  line.payee_name = "和平建筑队, \"二队\"";
  d.lines.push_back(line);
  EXPECT_NE(DisbursementsCsv(d).find(",\"和平建筑队, \"\"二队\"\"\","), std::string::npos)
      << DisbursementsCsv(d);
}

}  // namespace
}  // namespace fundledger::testing
