// Every rule of the fund domain (catalogue in ledger/rules.h) is broken once here, on a real
// journal: the event is refused with the rule's code, its id and the field, and the journal,
// its root and every state row stay as they were.
#include <gtest/gtest.h>

#include <iostream>
#include <map>

#include <capnp/message.h>

#include "fund_events.h"
#include "ledger/storage_format.h"
#include "replay/verify.h"
#include "test_ledger.h"

namespace fundledger::testing {
namespace {

using nlohmann::json;

constexpr uint64_t kMax = 100'000'000'000'000ULL;
constexpr uint64_t kVolumeMax = 1'000'000'000'000'000'000ULL;

std::map<std::string, std::string> StateRows(const Journal& journal) {
  std::map<std::string, std::string> rows;
  for (auto family : {storage::kRegistryFamily, storage::kAccountsFamily}) {
    Status s = journal.ScanFamily(family, [&](std::string_view k, std::string_view v) {
      rows[std::string(family) + "/" + std::string(k)] = std::string(v);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return rows;
}

// A world from central government down to one street, with a project in it.
class FundRules : public ::testing::Test {
 protected:
  void SetUp() override {
    L.Register("mof", "finance_bureau", "central", "");
    L.Register("hunan-finance", "finance_bureau", "provincial", "hunan");
    L.Register("xt-finance", "finance_bureau", "municipal", "hunan/xiangtan");
    L.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
    L.Register("yz-finance", "finance_bureau", "district", "henan/xuchang/yuzhou");
    L.Register("yh-housing", "housing_bureau", "district", "hunan/xiangtan/yuhu");
    L.Register("heping-street", "street_office", "none", kHeping);
    L.Register("yz-housing", "housing_bureau", "district", "henan/xuchang/yuzhou");
    L.Register("xt-water", "utility", "none", "hunan/xiangtan");
    L.Register("xt-textile", "enterprise", "none", "hunan/xiangtan");
    L.Register("xt-invest", "social_capital", "none", "hunan/xiangtan");
    L.Register("jianshe-residents", "resident_group", "none", kHeping);
    L.Register("jianshe", "contractor", "none", "hunan/xiangtan");
    L.Register("xt-audit", "auditor", "none", "hunan/xiangtan");
    L.Register("yz-audit", "auditor", "none", "henan/xuchang/yuzhou");
    Ok("yh-housing", ProjectRegistration("p1"));
  }

  AppendResult Ok(const std::string& signer, const json& event) {
    return L.AppendOk(L.Signed(signer, event));
  }

  // The event is refused with `code` on `field`, and nothing changes.
  void Refused(const std::string& signer, const json& event, const std::string& code,
               const std::string& field) {
    SignedEvent signed_event = L.Signed(signer, event);
    Journal::Head before = L.journal().head();
    auto rows_before = StateRows(L.journal());
    AppendResult r = L.Append(signed_event);
    EXPECT_EQ(r.status.code(), code) << r.status.ToString();
    EXPECT_EQ(r.status.field(), field) << r.status.ToString();
    EXPECT_EQ(r.status.event_id(), signed_event.id());
    EXPECT_EQ(L.journal().head().size, before.size);
    EXPECT_EQ(L.journal().head().root, before.root);
    EXPECT_TRUE(StateRows(L.journal()) == rows_before) << "a refused event changed state";
  }

  int64_t Balance(schema::AccountHolder kind, const std::string& holder,
                  schema::Category category) {
    return L.journal().state().Balance(AccountKey{kind, holder, category});
  }
  int64_t Project(const std::string& p, schema::Category c) {
    return Balance(schema::AccountHolder::PROJECT, p, c);
  }
  int64_t Pool(const std::string& p, schema::Category c) {
    return Balance(schema::AccountHolder::POOL, p, c);
  }

  // p1 approved and holding `district` money from yh-finance.
  // A ledger with every kind of registry and accounts row: balances, facts (acknowledged,
  // reversed, against a pledge), a finding, a project, a policy and the volume.
  void EveryKindOfStateRow() {
    FundedAndApproved();
    Ok("yh-finance", PolicyFor("pol", "hunan/xiangtan/yuhu"));
    Ok("yh-finance", Disbursed("pay", "p1", "district", 100));
    Ok("jianshe", Ack("ack", "pay"));
    Ok("xt-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 100));
    Ok("yh-finance", Disbursed("pay2", "p1", "district", 1));
    Ok("yh-finance", Reversal("rev-pay2", "pay2"));
    Ok("xt-audit", FindingEvent("f", "F-1", {"yh-own", "approve-p1"}, "p1"));
  }

  void FundedAndApproved(uint64_t district_fen = 1'000'000) {
    Ok("yh-housing", StatusChange("approve-p1", "p1", "approved", 7500));
    Ok("yh-finance",
       Received("yh-own", "yh-finance", "pool", "district", "yh-finance", 10 * district_fen));
    Ok("yh-finance",
       Allocated("yh-to-p1", "yh-finance", "p1", "project", "district", district_fen));
  }

  // Receipts of 10^14 fen into yh-finance's pool, as many as the ledger's volume takes; the
  // room left.
  uint64_t FillTheVolume() {
    const uint64_t receipts = (kVolumeMax - L.journal().state().volume_fen()) / kMax;
    std::vector<SignedEvent> events;
    for (uint64_t i = 0; i < receipts; ++i) {
      events.push_back(L.Signed("yh-finance", Received("big-" + std::to_string(i), "yh-finance",
                                                       "pool", "district", "yh-finance", kMax)));
    }
    std::vector<AppendResult> results;
    for (size_t at = 0; at < events.size(); at += kAppendBatchEventsMax) {
      const size_t n = std::min(events.size() - at, kAppendBatchEventsMax);
      EXPECT_TRUE(L.journal().Append(std::span(events).subspan(at, n), &results).ok());
      for (const auto& r : results) EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    }
    return kVolumeMax - L.journal().state().volume_fen();
  }

  TestLedger L;
};

using schema::AccountHolder;
using schema::Category;

// ---- amounts and double entry ----

TEST_F(FundRules, AmountsAreOneFenToTenToTheFourteenth) {
  Refused("yh-finance", Received("r0", "yh-finance", "pool", "district", "yh-finance", 0),
          "amount_out_of_range", "amount_fen");
  Refused("yh-finance", Received("r1", "yh-finance", "pool", "district", "yh-finance", kMax + 1),
          "amount_out_of_range", "amount_fen");
  Ok("yh-finance", Received("r2", "yh-finance", "pool", "district", "yh-finance", kMax));
  Ok("yh-finance", Received("r3", "yh-finance", "pool", "district", "yh-finance", 1));
  EXPECT_EQ(Pool("yh-finance", Category::DISTRICT), int64_t(kMax + 1));
}

TEST_F(FundRules, EveryMovementIsDoubleEntryAndAllAccountsSumToZero) {
  FundedAndApproved(500'000);
  Ok("yh-finance", Disbursed("pay-1", "p1", "district", 200'000));
  Ok("yh-finance", Refunded("back-1", "p1", "project", "district", "yh-finance", 50'000));
  EXPECT_EQ(Pool("yh-finance", Category::DISTRICT), 4'500'000);
  EXPECT_EQ(Project("p1", Category::DISTRICT), 250'000);
  EXPECT_EQ(Balance(AccountHolder::EXTERNAL, "org:yh-finance", Category::DISTRICT),
            -5'000'000 + 50'000);
  EXPECT_EQ(Balance(AccountHolder::EXTERNAL, "org:jianshe", Category::DISTRICT), 200'000);
  // Summed from the stored rows, not the in-memory state.
  __int128 sum = 0;
  size_t accounts = 0;
  ASSERT_TRUE(L.journal()
                  .ScanFamily(storage::kAccountsFamily,
                              [&](std::string_view k, std::string_view v) {
                                if (k[0] == 'a') {
                                  sum += int64_t(storage::DecodeU64(v));
                                  ++accounts;
                                }
                                return true;
                              })
                  .ok());
  EXPECT_EQ(accounts, 4u);  // the refund went back to the source's external account
  EXPECT_TRUE(sum == 0);
  EXPECT_TRUE(L.journal().state().balance_sum() == 0);
}

// The ledger's volume (every amount moved or pledged, every budget registered or revised) stays
// within 10^18 fen, and with it every account (no account's balance can pass what moved through
// it) and every figure a view adds up. The volume is stored with the state and read back when the
// ledger is opened again, and verification rebuilds it from the records.
TEST_F(FundRules, TheLedgersVolumeStaysWithinTenToTheEighteenth) {
  EXPECT_EQ(L.journal().state().volume_fen(), 1'400'000'000u);  // p1's budget
  const uint64_t room = FillTheVolume();
  ASSERT_GT(room, 1u);
  ASSERT_LT(room, kMax);
  Refused("yh-finance",
          Received("one-too-many", "yh-finance", "pool", "district", "yh-finance", room + 1),
          "volume_overflow", "amount_fen");
  Ok("yh-finance", Received("the-last", "yh-finance", "pool", "district", "yh-finance", room - 1));
  EXPECT_EQ(L.journal().state().volume_fen(), kVolumeMax - 1);
  // A movement, a pledge, a budget and a revision each count.
  Refused("yh-finance", Allocated("a1", "yh-finance", "p1", "project", "district", 2),
          "volume_overflow", "amount_fen");
  Ok("yh-finance", Allocated("a1", "yh-finance", "p1", "project", "district", 1));
  Refused("xt-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 1), "volume_overflow",
          "amount_fen");
  Refused("yh-housing", ProjectRegistration("p2"), "volume_overflow", "budget");
  Refused("yh-housing",
          Event("rev", "project_revised",
                {{"project", "p1"},
                 {"budget", Budget(1)},
                 {"funding_plan", {{{"category", "district"}, {"amount_fen", 1}}}}}),
          "volume_overflow", "budget");
  // A reversal moves its money back, and counts as well.
  Refused("yh-finance", Reversal("rev-a1", "a1"), "volume_overflow", "target");
  // Every account is well within its own bound.
  EXPECT_EQ(Balance(schema::AccountHolder::EXTERNAL, "org:yh-finance", Category::DISTRICT),
            -int64_t(kVolumeMax - 1'400'000'000 - 1));

  // Read back when the ledger is opened again: the bound still holds, and the ledger verifies.
  L.Reopen();
  EXPECT_EQ(L.journal().state().volume_fen(), kVolumeMax);
  Refused("yh-finance", Received("after-reopen", "yh-finance", "pool", "district", "yh-finance", 1),
          "volume_overflow", "amount_fen");
  VerifyReport report;
  Status verified = VerifyLedger(L.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(verified.ok()) << verified.ToString();
}

// A stored volume that is not the one the records make is named by verification.
TEST_F(FundRules, AVolumeRowChangedIsNamedByVerification) {
  FundedAndApproved(1000);
  const std::string key(1, storage::kVolumeRow);
  std::string stored;
  bool found = false;
  ASSERT_TRUE(L.journal().Get(storage::kAccountsFamily, key, &stored, &found).ok());
  ASSERT_TRUE(found);
  EXPECT_EQ(storage::DecodeU64(stored), 1'400'000'000u + 10'000 + 1'000);
  ASSERT_TRUE(L.journal()
                  .PutRawForTesting(storage::kAccountsFamily, key,
                                    storage::EncodeU64(storage::DecodeU64(stored) - 1))
                  .ok());
  VerifyReport report;
  Status s = VerifyLedger(L.journal(), VerifyOptions(), &report);
  EXPECT_EQ(s.code(), "accounts_mismatch") << s.ToString();
}

// No account passes +-10^18 fen, and the balance is checked before the volume. Here the exact
// edge cannot be reached: p1's budget counts in the volume but in no balance, so the last fen
// that would take an account to -10^18 is refused by the volume bound.
TEST_F(FundRules, NoAccountPassesTenToTheEighteenth) {
  constexpr uint64_t kBudgets = 1'400'000'000;  // p1's
  uint64_t room = FillTheVolume();
  // Half the room taken, so that one fen past the balance bound is still a valid amount.
  Ok("yh-finance", Received("half", "yh-finance", "pool", "district", "yh-finance", room / 2));
  room -= room / 2;
  ASSERT_LE(room + kBudgets + 1, kMax);
  const int64_t external = -int64_t(kVolumeMax - kBudgets - room);
  EXPECT_EQ(Balance(AccountHolder::EXTERNAL, "org:yh-finance", Category::DISTRICT), external);
  EXPECT_EQ(Pool("yh-finance", Category::DISTRICT), -external);
  Refused("yh-finance",
          Received("past", "yh-finance", "pool", "district", "yh-finance", room + kBudgets + 1),
          "balance_overflow", "amount_fen");
  Refused("yh-finance",
          Received("to-edge", "yh-finance", "pool", "district", "yh-finance", room + kBudgets),
          "volume_overflow", "amount_fen");
  Ok("yh-finance", Received("last", "yh-finance", "pool", "district", "yh-finance", room));
  EXPECT_EQ(Balance(AccountHolder::EXTERNAL, "org:yh-finance", Category::DISTRICT),
            -int64_t(kVolumeMax - kBudgets));
}

// ---- policies ----

TEST_F(FundRules, PoliciesAreSetByTheOperatorOrAFinanceBureauForItsRegion) {
  Refused("yh-housing", PolicyFor("pol-1", "hunan/xiangtan/yuhu"), "not_authorised", "signer");
  Refused("xt-finance", PolicyFor("pol-2", "henan/xuchang"), "out_of_region", "region");
  Refused("xt-finance", PolicyFor("pol-3", "Hunan/Xiangtan"), "bad_region", "region");
  Ok("xt-finance", PolicyFor("pol-4", "hunan/xiangtan/yuhu"));
  Ok("operator", PolicyFor("pol-5", "henan"));
}

TEST_F(FundRules, PolicyValuesAreChecked) {
  auto with = [](json e, const std::string& key, json value) {
    e[key] = value;
    return e;
  };
  json base = PolicyFor("pol", "hunan/xiangtan");
  Refused("xt-finance", with(base, "consent_min_bp", 0), "out_of_range", "consent_min_bp");
  Refused("xt-finance", with(base, "consent_min_bp", 10001), "out_of_range", "consent_min_bp");
  Refused("xt-finance", with(base, "satisfaction_min_bp", 10001), "out_of_range",
          "satisfaction_min_bp");
  Refused("xt-finance", with(base, "idle_days_max", 0), "out_of_range", "idle_days_max");
  Refused("xt-finance",
          with(base, "restricted_use",
               {{{"category", "utility"}, {"works", {"basic"}}},
                {{"category", "utility"}, {"works", {"basic"}}}}),
          "duplicate_category", "restricted_use[1].category");
  Refused("xt-finance",
          with(base, "restricted_use", {{{"category", "utility"}, {"works", {"basic", "basic"}}}}),
          "duplicate_work", "restricted_use[0].works");
  Refused("xt-finance", with(base, "unit_caps", {{{"item", "Elevator!"}, {"max_fen_per_unit", 1}}}),
          "bad_item", "unit_caps[0].item");
  Refused("xt-finance",
          with(base, "unit_caps",
               {{{"item", "elevator"}, {"max_fen_per_unit", 1}},
                {{"item", "elevator"}, {"max_fen_per_unit", 2}}}),
          "duplicate_item", "unit_caps[1].item");
  Refused("xt-finance", with(base, "unit_caps", {{{"item", "elevator"}, {"max_fen_per_unit", 0}}}),
          "amount_out_of_range", "unit_caps[0].max_fen_per_unit");
  Refused("xt-finance", with(base, "targets", {{{"metric", "happiness_bp"}, {"min_bp", 1}}}),
          "bad_metric", "targets[0].metric");
  Refused("xt-finance", with(base, "targets", {{{"metric", "payment_rate_bp"}}}), "bad_bounds",
          "targets[0]");
  Refused(
      "xt-finance",
      with(base, "targets", {{{"metric", "payment_rate_bp"}, {"min_bp", 9000}, {"max_bp", 10}}}),
      "bad_bounds", "targets[0]");
}

TEST_F(FundRules, APolicyCannotLoosenWhatAppliesFromAbove) {
  json loose = PolicyFor("pol-loose", "hunan/xiangtan/yuhu");
  loose["restricted_use"] = {
      {{"category", "central"}, {"works", {"basic", "improvement", "enhancement"}}}};
  Refused("yh-finance", loose, "policy_loosens", "restricted_use[0].works");
  Refused("xt-finance", loose, "policy_loosens", "restricted_use[0].works");
  Refused("operator", loose, "policy_loosens", "restricted_use[0].works");
  json provincial = PolicyFor("pol-prov", "hunan/xiangtan/yuhu");
  provincial["restricted_use"] = {{{"category", "provincial"}, {"works", {"enhancement"}}}};
  Refused("yh-finance", provincial, "policy_loosens", "restricted_use[0].works");
  json consent = PolicyFor("pol-consent", "hunan/xiangtan/yuhu");
  consent["consent_min_bp"] = 5000;
  Refused("yh-finance", consent, "policy_loosens", "consent_min_bp");
  json satisfaction = PolicyFor("pol-sat", "hunan/xiangtan/yuhu");
  satisfaction["satisfaction_min_bp"] = 7000;
  Refused("yh-finance", satisfaction, "policy_loosens", "satisfaction_min_bp");
  json idle = PolicyFor("pol-idle", "hunan/xiangtan");
  Ok("xt-finance", idle);
  idle["id"] = "pol-idle-2";
  idle["region"] = "hunan/xiangtan/yuhu";
  idle["idle_days_max"] = 181;
  Refused("yh-finance", idle, "policy_loosens", "idle_days_max");
  json cap = PolicyFor("pol-cap", "hunan/xiangtan/yuhu");
  cap["unit_caps"][0]["max_fen_per_unit"] = 35'000'001;
  Refused("yh-finance", cap, "policy_loosens", "unit_caps[0].max_fen_per_unit");
  // Restating or tightening is fine; an empty restricted_use simply inherits.
  json own = PolicyFor("pol-own", "hunan/xiangtan/yuhu");
  own["restricted_use"].push_back({{"category", "district"}, {"works", {"basic"}}});
  Ok("yh-finance", own);
  json inherit = PolicyFor("pol-inherit", kHeping);
  inherit["restricted_use"] = json::array();
  Ok("xt-finance", inherit);
  EXPECT_EQ(L.journal().state().PolicyInForce(kHeping).works_allowed[size_t(Category::DISTRICT)],
            1);
  // Only the operator's national policy moves the baseline.
  json national = PolicyFor("pol-national", "");
  national["restricted_use"] = {
      {{"category", "central"}, {"works", {"basic", "improvement", "enhancement"}}}};
  Refused("mof", national, "policy_loosens", "restricted_use[0].works");
  Ok("operator", national);
  EXPECT_EQ(L.journal().state().PolicyInForce("henan").works_allowed[size_t(Category::CENTRAL)],
            0b111);
}

TEST_F(FundRules, PoliciesFromAboveBindAndNearerOnesTighten) {
  json city = PolicyFor("pol-city", "hunan/xiangtan");
  city["consent_min_bp"] = 8000;
  city["targets"] = {{{"metric", "payment_rate_bp"}, {"min_bp", 5000}}};
  Ok("xt-finance", city);
  Refused("yh-housing", StatusChange("approve", "p1", "approved", 7000), "consent_below_minimum",
          "consent_bp");
  // The district's policy tightens its city's and sets its own target for the metric.
  json district = PolicyFor("pol-district", "hunan/xiangtan/yuhu");
  district["consent_min_bp"] = 8500;
  district["restricted_use"].push_back({{"category", "district"}, {"works", {"basic"}}});
  district["targets"] = {{{"metric", "payment_rate_bp"}, {"min_bp", 7000}}};
  Ok("yh-finance", district);
  Refused("yh-housing", StatusChange("approve", "p1", "approved", 8000), "consent_below_minimum",
          "consent_bp");
  Ok("yh-housing", StatusChange("approve", "p1", "approved", 8600));
  Policy in_force = L.journal().state().PolicyInForce(kHeping);
  ASSERT_EQ(in_force.targets.size(), 1u);
  EXPECT_EQ(in_force.targets[0].min_bp, 7000u);
  EXPECT_EQ(in_force.set_seq,
            L.journal().state().FindPolicy("hunan/xiangtan/yuhu", "yh-finance")->set_seq);
  Ok("yh-finance", Received("own", "yh-finance", "pool", "district", "yh-finance", 1000));
  Ok("yh-finance", Allocated("alloc", "yh-finance", "p1", "project", "district", 1000));
  Refused("yh-finance", Disbursed("pay", "p1", "district", 10, "improvement"), "restricted_use",
          "work");
  Ok("yh-finance", Disbursed("pay", "p1", "district", 10, "basic"));
  // A stricter policy from above, set later, binds the district at once.
  Ok("mof", Received("c", "mof", "pool", "central", "mof", 100));
  Ok("mof", Allocated("c-p1", "mof", "p1", "project", "central", 100));
  Ok("yh-finance", Disbursed("c-pay", "p1", "central", 10, "improvement"));
  json province = PolicyFor("pol-province", "hunan");
  province["restricted_use"][0]["works"] = {"basic"};
  Ok("hunan-finance", province);
  Refused("yh-finance", Disbursed("c-pay-2", "p1", "central", 10, "improvement"), "restricted_use",
          "work");
  // Nor can a city replace the province's policy for the city: each setter has its own.
  json same_region = PolicyFor("pol-prov-city", "hunan/xiangtan");
  same_region["restricted_use"][0]["works"] = {"basic"};
  same_region["consent_min_bp"] = 9000;
  Ok("hunan-finance", same_region);
  json undo = PolicyFor("pol-city-2", "hunan/xiangtan");
  Refused("xt-finance", undo, "policy_loosens", "restricted_use[0].works");
  undo["restricted_use"][0]["works"] = {"basic"};
  Refused("xt-finance", undo, "policy_loosens", "consent_min_bp");
  undo["consent_min_bp"] = 9000;
  Ok("xt-finance", undo);
  EXPECT_NE(L.journal().state().FindPolicy("hunan/xiangtan", "hunan-finance"), nullptr);
  EXPECT_EQ(L.journal().state().PolicyInForce("hunan/xiangtan/yuhu").consent_min_bp, 9000u);
  // A region without policies of its own follows the default.
  EXPECT_EQ(L.journal().state().PolicyInForce("henan/xuchang").consent_min_bp, 6667u);
  EXPECT_EQ(L.journal().state().PolicyInForce("hunan2").consent_min_bp, 6667u);
}

TEST_F(FundRules, WithoutAPolicyProvincialMoneyDoesNotPayForEnhancementWork) {
  EXPECT_EQ(L.journal().state().PolicyInForce(kHeping).set_seq, 0u);  // the default
  FundedAndApproved(1000);
  Ok("hunan-finance",
     Received("hn-own", "hunan-finance", "pool", "provincial", "hunan-finance", 1000));
  Ok("hunan-finance", Allocated("hn-to-p1", "hunan-finance", "p1", "project", "provincial", 1000));
  Refused("yh-finance", Disbursed("pay", "p1", "provincial", 10, "enhancement"), "restricted_use",
          "work");
  Ok("yh-finance", Disbursed("pay", "p1", "provincial", 10, "improvement"));
  Ok("yh-finance", Disbursed("pay-district", "p1", "district", 10, "enhancement"));
}

// ---- projects and their lifecycle ----

TEST_F(FundRules, ProjectsAreRegisteredByHousingBureausAndStreetOfficesInTheirRegion) {
  Refused("xt-finance", ProjectRegistration("p2"), "not_authorised", "signer");
  Refused("yz-housing", ProjectRegistration("p2"), "out_of_region", "region");
  json again = ProjectRegistration("p1");
  again["id"] = "reg-p1-again";
  Refused("yh-housing", again, "project_exists", "project");
  Refused("yh-housing", ProjectRegistration("p2", ""), "bad_region", "region");
  Refused("heping-street", ProjectRegistration("p2", "hunan/xiangtan/yuhu"), "out_of_region",
          "region");
  Ok("heping-street", ProjectRegistration("p2"));
}

TEST_F(FundRules, ProjectFactsAndBudgetsAreChecked) {
  auto with = [](const std::string& key, json value) {
    json e = ProjectRegistration("p9");
    e[key] = value;
    return e;
  };
  Refused("yh-housing", with("compounds", json::array()), "out_of_range", "compounds");
  Refused("yh-housing", with("compounds", {"甲", "甲"}), "duplicate_compound", "compounds[1]");
  Refused("yh-housing", with("households", 0), "out_of_range", "households");
  Refused("yh-housing", with("buildings", 0), "out_of_range", "buildings");
  Refused("yh-housing", with("floor_area_m2", 0), "out_of_range", "floor_area_m2");
  Refused("yh-housing", with("built_year", 2031), "out_of_range", "built_year");
  Refused("yh-housing", with("project", "bad id!"), "bad_id", "project");
  Refused("yh-housing", with("budget", Budget(0)), "budget_empty", "budget");
  Refused("yh-housing", with("budget", Budget(kMax + 1)), "amount_out_of_range",
          "budget.basic_fen");
  Refused("yh-housing", with("funding_plan", {{{"category", "central"}, {"amount_fen", 1}}}),
          "funding_plan_mismatch", "funding_plan");
  Refused("yh-housing",
          with("funding_plan", {{{"category", "central"}, {"amount_fen", 700'000'000}},
                                {{"category", "central"}, {"amount_fen", 700'000'000}}}),
          "duplicate_category", "funding_plan[1].category");
}

TEST_F(FundRules, TheLifecycleGoesForwardOnly) {
  Refused("yh-housing", StatusChange("s1", "p1", "started"), "status_transition", "status");
  Refused("yh-housing", StatusChange("s1", "p1", "approved"), "field_required", "consent_bp");
  Refused("yh-housing", StatusChange("s1", "p1", "approved", 6666), "consent_below_minimum",
          "consent_bp");
  Refused("yh-housing", StatusChange("s1", "p1", "approved", 10001), "out_of_range", "consent_bp");
  Refused("yh-housing", StatusChange("s1", "p1", "approved", 6667, 9000), "field_not_allowed",
          "satisfaction_bp");
  Refused("xt-finance", StatusChange("s1", "p1", "approved", 6667), "not_authorised", "signer");
  Refused("yz-housing", StatusChange("s1", "p1", "approved", 6667), "out_of_region", "project");
  Refused("yh-housing", StatusChange("s1", "nope", "approved", 6667), "project_unknown", "project");
  Ok("yh-housing", StatusChange("s1", "p1", "approved", 6667));
  Refused("yh-housing", StatusChange("s2", "p1", "started", 7000), "field_not_allowed",
          "consent_bp");
  Ok("yh-housing", StatusChange("s2", "p1", "started"));
  Refused("yh-housing", StatusChange("s3", "p1", "completed", {}, 7999),
          "satisfaction_below_minimum", "satisfaction_bp");
  Refused("yh-housing", StatusChange("s3", "p1", "completed"), "field_required", "satisfaction_bp");
  Ok("yh-housing", StatusChange("s3", "p1", "completed", {}, 8000));
  Refused("yh-housing", StatusChange("s4", "p1", "cancelled"), "status_transition", "status");
  Ok("yh-housing", StatusChange("s4", "p1", "settled"));
  Refused("yh-housing", StatusChange("s5", "p1", "started"), "status_transition", "status");
  json revised = Event("rev", "project_revised",
                       {{"project", "p1"},
                        {"budget", Budget(100)},
                        {"funding_plan", {{{"category", "district"}, {"amount_fen", 100}}}}});
  Refused("yh-housing", revised, "project_closed", "project");
}

TEST_F(FundRules, RevisionsKeepTheBudgetAndPlanInBalance) {
  json revised = Event("rev", "project_revised",
                       {{"project", "p1"},
                        {"budget", Budget(100, 50)},
                        {"funding_plan", {{{"category", "district"}, {"amount_fen", 100}}}}});
  Refused("yh-housing", revised, "funding_plan_mismatch", "funding_plan");
  Refused("yz-housing", revised, "out_of_region", "project");
  revised["funding_plan"][0]["amount_fen"] = 150;
  Ok("yh-housing", revised);
}

TEST_F(FundRules, MoneyMovesOnlyInTheRightPhases) {
  Ok("yh-finance", Received("own", "yh-finance", "pool", "district", "yh-finance", 1000));
  Ok("yh-finance", Allocated("a1", "yh-finance", "p1", "project", "district", 500));
  Refused("yh-finance", Disbursed("pay", "p1", "district", 10), "project_not_active", "project");
  Ok("yh-housing", StatusChange("s1", "p1", "approved", 8000));
  Ok("yh-finance", Disbursed("pay", "p1", "district", 10));
  Ok("yh-housing", StatusChange("s2", "p1", "cancelled"));
  Refused("yh-finance", Disbursed("pay2", "p1", "district", 10), "project_not_active", "project");
  Refused("yh-finance", Allocated("a2", "yh-finance", "p1", "project", "district", 10),
          "project_closed", "to");
  Refused("heping-street", Received("res", "p1", "project", "resident", "jianshe-residents", 10),
          "project_closed", "to");
  // Refunds still move money out of a cancelled project.
  Ok("yh-finance", Refunded("back", "p1", "project", "district", "yh-finance", 490));
  EXPECT_EQ(Project("p1", Category::DISTRICT), 0);
}

TEST_F(FundRules, MoneyIsPaidWhileStartedOrCompletedAndOnlyRefundedOnceSettled) {
  FundedAndApproved(1000);
  Ok("yh-housing", StatusChange("s2", "p1", "started"));
  Ok("yh-finance", Disbursed("pay-started", "p1", "district", 10));
  Refused("yh-housing", StatusChange("s3", "p1", "completed", {}, 10001), "out_of_range",
          "satisfaction_bp");
  Ok("yh-housing", StatusChange("s3", "p1", "completed", {}, 10000));
  Ok("yh-finance", Disbursed("pay-completed", "p1", "district", 10));
  Ok("yh-housing", StatusChange("s4", "p1", "settled"));
  Refused("yh-finance", Disbursed("pay-settled", "p1", "district", 10), "project_not_active",
          "project");
  Refused("yh-finance", Received("r", "p1", "project", "district", "yh-finance", 10),
          "project_closed", "to");
  Refused("yh-finance", Allocated("a", "yh-finance", "p1", "project", "district", 10),
          "project_closed", "to");
  Refused("xt-invest", Pledged("pl", "p1", "xt-invest", "social_capital", 10), "project_closed",
          "project");
  Ok("yh-finance", Refunded("back", "p1", "project", "district", "yh-finance", 980));
  EXPECT_EQ(Project("p1", Category::DISTRICT), 0);
}

// ---- pledges and receipts ----

TEST_F(FundRules, PledgesComeFromTheirSourceOrARegionsFinanceBureau) {
  Refused("jianshe", Pledged("pl", "p1", "xt-invest", "social_capital", 100), "not_authorised",
          "signer");
  Refused("xt-invest", Pledged("pl", "p1", "xt-invest", "central", 100), "category_mismatch",
          "category");
  Refused("xt-invest", Pledged("pl", "nope", "xt-invest", "social_capital", 100), "project_unknown",
          "project");
  Refused("yz-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 100), "out_of_region",
          "project");
  Refused("xt-finance", Pledged("pl", "p1", "ghost", "social_capital", 100), "org_unknown",
          "source_org");
  Ok("xt-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 100));
  Ok("xt-invest", Pledged("pl2", "p1", "xt-invest", "social_capital", 100));
}

TEST_F(FundRules, ReceiptsAreRecordedByTheRightOrgIntoTheRightAccount) {
  Refused("xt-finance", Received("r", "yh-finance", "pool", "municipal", "xt-finance", 1),
          "not_authorised", "to");
  Refused("yh-housing", Received("r", "p1", "project", "district", "yh-finance", 1),
          "not_authorised", "signer");
  Refused("heping-street", Received("r", "p1", "project", "district", "yh-finance", 1),
          "not_authorised", "category");
  Refused("yz-finance", Received("r", "p1", "project", "district", "yz-finance", 1),
          "out_of_region", "to");
  Refused("yh-finance", Received("r", "nope", "project", "district", "yh-finance", 1),
          "project_unknown", "to");
  Refused("yh-finance", Received("r", "p1", "project", "district", "ghost", 1), "org_unknown",
          "source_org");
  Refused("yh-finance", Received("r", "p1", "project", "central", "yh-finance", 1),
          "category_mismatch", "category");
  Refused("yh-finance", Received("r", "p1", "project", "utility", "xt-textile", 1),
          "category_mismatch", "category");
  Refused("yh-finance",
          Received("r", "p1", "project", "district", "yh-finance", 1, "provident_fund"),
          "channel_not_allowed", "channel");
  Refused("yh-finance", Received("r", "p1", "project", "utility", "xt-water", 1, "loan"),
          "channel_not_allowed", "channel");
  Ok("yh-finance", Received("r", "p1", "project", "utility", "xt-water", 1, "in_kind_works"));
  Ok("yh-finance", Received("r2", "p1", "project", "district", "yh-finance", 1, "bond"));
}

TEST_F(FundRules, ResidentsAreCountedNotNamed) {
  json r =
      Received("res", "p1", "project", "resident", "jianshe-residents", 60'000, "maintenance_fund");
  r["households"] = 0;
  Refused("heping-street", r, "out_of_range", "households");
  r["households"] = 100;
  r["contributor_ref"] = "Not-A-Commitment";
  Refused("heping-street", r, "bad_contributor_ref", "contributor_ref");
  r["contributor_ref"] = std::string(64, 'a');
  Ok("heping-street", r);
  json gov = Received("gov", "yh-finance", "pool", "district", "yh-finance", 1);
  gov["households"] = 3;
  Refused("yh-finance", gov, "field_not_allowed", "households");
  gov.erase("households");
  gov["contributor_ref"] = std::string(64, 'b');
  Refused("yh-finance", gov, "field_not_allowed", "contributor_ref");
}

TEST_F(FundRules, ReceiptsAgainstAPledgeMatchItAndDoNotExceedIt) {
  Ok("xt-invest", Pledged("pl", "p1", "xt-invest", "social_capital", 1000));
  Ok("yh-housing", ProjectRegistration("p2"));
  auto against = [](const std::string& id, const std::string& project, uint64_t amount) {
    json r = Received(id, project, "project", "social_capital", "xt-invest", amount);
    r["pledge"] = "pl";
    return r;
  };
  json unknown = against("r", "p1", 10);
  unknown["pledge"] = "nope";
  Refused("yh-finance", unknown, "pledge_unknown", "pledge");
  json not_a_pledge = against("r", "p1", 10);
  not_a_pledge["pledge"] = "reg-p1";
  Refused("yh-finance", not_a_pledge, "pledge_unknown", "pledge");
  Refused("yh-finance", against("r", "p2", 10), "pledge_mismatch", "pledge");
  Ok("yh-finance", against("r1", "p1", 600));
  Refused("yh-finance", against("r2", "p1", 401), "pledge_exceeded", "amount_fen");
  Ok("yh-finance", against("r2", "p1", 400));
  Refused("yh-finance", against("r3", "p1", 1), "pledge_exceeded", "amount_fen");
  // Reversing a receipt makes its amount outstanding again.
  Ok("yh-finance", Reversal("rev-r2", "r2"));
  Ok("yh-finance", against("r3", "p1", 400));
  // A pledge with receipts against it is not reversed; one without is, and then takes none.
  Refused("xt-invest", Reversal("rev-pl", "pl"), "pledge_has_receipts", "target");
  Ok("xt-invest", Pledged("pl-b", "p1", "xt-invest", "social_capital", 5));
  Ok("xt-invest", Reversal("rev-pl-b", "pl-b"));
  json late = against("r4", "p1", 1);
  late["pledge"] = "pl-b";
  Refused("yh-finance", late, "pledge_reversed", "pledge");
}

// ---- allocations, disbursements, refunds ----

TEST_F(FundRules, AllocationsGoDownFromTheBureausOwnPoolWithoutOverdraft) {
  Ok("xt-finance", Received("own", "xt-finance", "pool", "municipal", "xt-finance", 1000));
  Refused("yh-finance", Allocated("a", "xt-finance", "p1", "project", "municipal", 1),
          "not_authorised", "from");
  Refused("xt-finance", Allocated("a", "xt-finance", "xt-finance", "pool", "municipal", 1),
          "self_allocation", "to");
  Refused("xt-finance", Allocated("a", "xt-finance", "yh-housing", "pool", "municipal", 1),
          "pool_unknown", "to");
  Refused("xt-finance", Allocated("a", "xt-finance", "yz-finance", "pool", "municipal", 1),
          "out_of_region", "to");
  Refused("xt-finance", Allocated("a", "xt-finance", "hunan-finance", "pool", "municipal", 1),
          "out_of_region", "to");
  Refused("xt-finance", Allocated("a", "xt-finance", "yh-finance", "pool", "municipal", 1001),
          "overdraft", "amount_fen");
  Refused("xt-finance", Allocated("a", "xt-finance", "yh-finance", "pool", "central", 1),
          "overdraft", "amount_fen");
  Ok("xt-finance", Allocated("a", "xt-finance", "yh-finance", "pool", "municipal", 1000));
  Ok("yh-finance", Allocated("b", "yh-finance", "p1", "project", "municipal", 1000));
  EXPECT_EQ(Pool("xt-finance", Category::MUNICIPAL), 0);
  EXPECT_EQ(Project("p1", Category::MUNICIPAL), 1000);
}

TEST_F(FundRules, CentralMoneyKeepsItsCategoryDownTheChain) {
  Ok("mof", Received("c", "mof", "pool", "central", "mof", 9000));
  Ok("mof", Allocated("c1", "mof", "hunan-finance", "pool", "central", 9000));
  Ok("hunan-finance", Allocated("c2", "hunan-finance", "xt-finance", "pool", "central", 9000));
  Ok("xt-finance", Allocated("c3", "xt-finance", "yh-finance", "pool", "central", 9000));
  Ok("yh-finance", Allocated("c4", "yh-finance", "p1", "project", "central", 9000));
  Ok("yh-housing", StatusChange("s1", "p1", "approved", 9000));
  Refused("yh-finance", Disbursed("pay", "p1", "central", 100, "enhancement"), "restricted_use",
          "work");
  Ok("yh-finance", Disbursed("pay", "p1", "central", 100, "improvement"));
  EXPECT_EQ(Project("p1", Category::CENTRAL), 8900);
  EXPECT_EQ(Balance(AccountHolder::EXTERNAL, "org:mof", Category::CENTRAL), -9000);
}

TEST_F(FundRules, DisbursementsAreCheckedForPayerPayeeAndMoney) {
  FundedAndApproved(1000);
  Refused("heping-street", Disbursed("d", "p1", "district", 1), "not_authorised", "signer");
  Refused("yz-finance", Disbursed("d", "p1", "district", 1), "out_of_region", "project");
  Refused("yh-finance", Disbursed("d", "nope", "district", 1), "project_unknown", "project");
  Refused("yh-finance", Disbursed("d", "p1", "district", 1001), "overdraft", "amount_fen");
  Refused("yh-finance", Disbursed("d", "p1", "municipal", 1), "overdraft", "amount_fen");
  json auditor = {{"name", "审计局"}, {"kind", "auditor"}};
  Refused("yh-finance", Disbursed("d", "p1", "district", 1, "basic", auditor), "bad_payee_kind",
          "payee.kind");
  json coded = Payee("");
  coded["credit_code"] = "91430300MA4L00001X";
  Refused("yh-finance", Disbursed("d", "p1", "district", 1, "basic", coded), "bad_credit_code",
          "payee.credit_code");
  json ghost = Payee("ghost");
  Refused("yh-finance", Disbursed("d", "p1", "district", 1, "basic", ghost), "org_unknown",
          "payee.org");
  json wrong_kind = Payee("xt-water");
  Refused("yh-finance", Disbursed("d", "p1", "district", 1, "basic", wrong_kind), "payee_mismatch",
          "payee.kind");
  json bad_item = Disbursed("d", "p1", "district", 1);
  bad_item["item"] = "Pipe Network";
  Refused("yh-finance", bad_item, "bad_item", "item");
  json no_units = Disbursed("d", "p1", "district", 1);
  no_units["units"] = 0;
  Refused("yh-finance", no_units, "out_of_range", "units");
  coded["credit_code"] = kValidCreditCode;
  Ok("yh-finance", Disbursed("d", "p1", "district", 1, "basic", coded));
  EXPECT_EQ(
      Balance(AccountHolder::EXTERNAL, std::string("code:") + kValidCreditCode, Category::DISTRICT),
      1);
}

TEST_F(FundRules, RefundsGoBackToWhoGaveTheMoney) {
  FundedAndApproved(1000);
  Ok("yh-finance", Received("water", "p1", "project", "utility", "xt-water", 300));
  Refused("xt-finance", Refunded("f", "yh-finance", "pool", "district", "yh-finance", 1),
          "not_authorised", "from");
  Refused("yz-finance", Refunded("f", "p1", "project", "district", "yz-finance", 1),
          "out_of_region", "from");
  Refused("yh-finance", Refunded("f", "p1", "project", "district", "xt-water", 1),
          "category_mismatch", "category");
  Refused("yh-finance", Refunded("f", "p1", "project", "utility", "xt-textile", 1),
          "category_mismatch", "category");
  Refused("yh-finance", Refunded("f", "p1", "project", "utility", "ghost", 1), "org_unknown",
          "to_org");
  Refused("yh-finance", Refunded("f", "p1", "project", "utility", "xt-water", 301), "overdraft",
          "amount_fen");
  Ok("yh-finance", Refunded("f", "p1", "project", "utility", "xt-water", 300));
  // Government money goes back up its own chain, to the bureau of its level.
  Refused("yh-finance", Refunded("g", "p1", "project", "district", "xt-finance", 10),
          "category_mismatch", "category");
  Refused("yh-finance", Refunded("g", "p1", "project", "district", "yz-finance", 10),
          "out_of_region", "to_org");
  Ok("yh-finance", Refunded("g", "p1", "project", "district", "yh-finance", 10));
  Ok("mof", Received("c", "mof", "pool", "central", "mof", 100));
  Ok("mof", Allocated("c-p1", "mof", "p1", "project", "central", 100));
  Refused("yh-finance", Refunded("h", "p1", "project", "central", "yh-finance", 100),
          "category_mismatch", "category");
  Ok("yh-finance", Refunded("h", "p1", "project", "central", "mof", 100));
  // Not to an org that has been revoked.
  Ok("operator", Event("revoke-water", "org_revoked", {{"org", "xt-water"}}));
  Refused("yh-finance", Refunded("i", "p1", "project", "district", "xt-water", 1), "org_revoked",
          "to_org");
}

// ---- reversals ----

TEST_F(FundRules, AReversalUndoesItsTargetExactlyOnce) {
  FundedAndApproved(1000);
  Refused("yh-finance", Reversal("x", "nope"), "target_unknown", "target");
  Refused("yh-finance", Reversal("x", "reg-p1"), "not_reversible", "target");
  Refused("yh-finance", Reversal("x", "approve-p1"), "not_reversible", "target");
  Refused("xt-finance", Reversal("x", "yh-to-p1"), "not_authorised", "signer");
  Refused("yh-finance", Reversal("x", "yh-to-p1", "2025-05-31"), "reversal_before_target",
          "occurred_on");
  Refused("yh-finance", Reversal("x", "yh-to-p1", "2026-11-20"), "reversal_backdated",
          "occurred_on");
  Ok("yh-finance", Reversal("x", "yh-to-p1", "2026-11-21"));  // signed before midnight
  EXPECT_EQ(Project("p1", Category::DISTRICT), 0);
  EXPECT_EQ(Pool("yh-finance", Category::DISTRICT), 10'000);
  Refused("operator", Reversal("y", "yh-to-p1"), "already_reversed", "target");
  Refused("yh-finance", Reversal("y", "x"), "not_reversible", "target");
  // The operator may reverse anyone's mistake.
  Ok("operator", Reversal("z", "yh-own"));
  EXPECT_EQ(Pool("yh-finance", Category::DISTRICT), 0);
  EXPECT_TRUE(L.journal().state().balance_sum() == 0);
}

TEST_F(FundRules, AReversalCannotOverdraw) {
  FundedAndApproved(1000);
  Ok("yh-finance", Disbursed("pay", "p1", "district", 600));
  // The allocation's money is partly spent: taking all 1000 back would overdraw the project.
  Refused("yh-finance", Reversal("x", "yh-to-p1"), "overdraft", "target");
  Ok("yh-finance", Reversal("x", "pay"));
  Ok("yh-finance", Reversal("y", "yh-to-p1"));
  EXPECT_EQ(Project("p1", Category::DISTRICT), 0);
}

TEST_F(FundRules, NoReversalTouchesASettledProject) {
  FundedAndApproved(1000);
  Ok("yh-housing", StatusChange("s2", "p1", "started"));
  Ok("yh-housing", StatusChange("s3", "p1", "completed", {}, 9000));
  Ok("yh-housing", StatusChange("s4", "p1", "settled"));
  Refused("yh-finance", Reversal("x", "yh-to-p1"), "project_closed", "target");
}

// ---- acknowledgements ----

TEST_F(FundRules, OnlyTheNamedCounterpartyAcknowledgesOnce) {
  FundedAndApproved(1000);
  Ok("yh-finance", Disbursed("pay", "p1", "district", 100));
  Ok("yh-finance", Disbursed("pay-anon", "p1", "district", 100, "basic", Payee("")));
  Ok("yh-finance", Received("water", "p1", "project", "utility", "xt-water", 300));
  Refused("xt-water", Ack("ack", "nope"), "target_unknown", "target");
  Refused("jianshe", Ack("ack", "reg-p1"), "no_counterparty", "target");
  Refused("jianshe", Ack("ack", "pay-anon"), "no_counterparty", "target");
  Refused("jianshe", Ack("ack", "yh-to-p1"), "no_counterparty", "target");
  Refused("yh-finance", Ack("ack", "yh-own"), "self_acknowledgement", "signer");
  Refused("xt-water", Ack("ack", "pay"), "not_counterparty", "signer");
  Ok("jianshe", Ack("ack", "pay"));
  Refused("jianshe", Ack("ack2", "pay"), "already_acknowledged", "target");
  Ok("xt-water", Ack("ack-water", "water"));
  Ok("xt-finance", Received("m", "xt-finance", "pool", "municipal", "xt-finance", 50));
  Ok("xt-finance", Allocated("down", "xt-finance", "yh-finance", "pool", "municipal", 50));
  Ok("yh-finance", Ack("ack-down", "down"));
  Ok("yh-finance", Disbursed("pay2", "p1", "district", 1));
  Ok("yh-finance", Reversal("rev-pay2", "pay2"));
  Refused("jianshe", Ack("ack3", "pay2"), "target_reversed", "target");
}

TEST_F(FundRules, APledgeAnAllocationOrARefundIsAcknowledgedByItsCounterpartyOnly) {
  FundedAndApproved(1000);
  Ok("xt-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 100));
  Refused("xt-water", Ack("ack-pl", "pl"), "not_counterparty", "signer");
  Ok("xt-finance", Received("m", "xt-finance", "pool", "municipal", "xt-finance", 50));
  Ok("xt-finance", Allocated("down", "xt-finance", "yh-finance", "pool", "municipal", 50));
  Refused("hunan-finance", Ack("ack-down", "down"), "not_counterparty", "signer");
  Ok("yh-finance", Received("water", "p1", "project", "utility", "xt-water", 300));
  Ok("yh-finance", Refunded("back", "p1", "project", "utility", "xt-water", 100));
  Refused("xt-textile", Ack("ack-back", "back"), "not_counterparty", "signer");
  Ok("xt-water", Ack("ack-back", "back"));
}

// An acknowledgement or a reversal reads its target's fact, and the target's id row only when
// there is no fact: a fact is kept only for a recorded event, so a movement's target costs one
// read, not two. A target unknown or without a fact is still refused as before.
TEST_F(FundRules, ATargetWithAFactIsKnownWithoutReadingItsIdRow) {
  FundedAndApproved(1000);
  Ok("yh-finance", Disbursed("pay", "p1", "district", 100));
  struct CountingReader : StateReader {
    const Journal* journal = nullptr;
    mutable std::map<std::string, int, std::less<>> reads;  // by family
    Status Get(std::string_view family, std::string_view key, std::string* value,
               bool* found) const override {
      ++reads[std::string(family)];
      return journal->Get(family, key, value, found);
    }
  } reader;
  reader.journal = &L.journal();
  // The rules on a state that reads facts and ids back from the journal's rows, as the
  // journal's own state does; the reads the event made, by family.
  auto reads_of = [&](const std::string& signer, const json& event, const std::string& code) {
    LedgerState state(&reader);
    for (const auto& [name, value] : StateRows(L.journal())) {
      const size_t slash = name.find('/');
      EXPECT_TRUE(state.LoadRow(name.substr(0, slash), name.substr(slash + 1), value)) << name;
    }
    reader.reads.clear();
    Status s = ApplyEvent(L.Signed(signer, event),
                          EventContext{L.journal().head().size + 1, kTestNowMs}, &state);
    EXPECT_EQ(s.code(), code) << s.ToString();
    return reader.reads;
  };
  auto reads = reads_of("jianshe", Ack("ack", "pay"), "");
  EXPECT_EQ(reads[std::string(storage::kAccountsFamily)], 1);
  EXPECT_EQ(reads[std::string(storage::kIdsFamily)], 0);
  reads = reads_of("yh-finance", Reversal("rev", "pay"), "");
  EXPECT_EQ(reads[std::string(storage::kIdsFamily)], 0);
  reads = reads_of("jianshe", Ack("ack", "nope"), "target_unknown");
  EXPECT_EQ(reads[std::string(storage::kIdsFamily)], 1);
  reads = reads_of("jianshe", Ack("ack", "reg-p1"), "no_counterparty");
  EXPECT_EQ(reads[std::string(storage::kIdsFamily)], 1);
  reads = reads_of("yh-finance", Reversal("rev", "reg-p1"), "not_reversible");
  EXPECT_EQ(reads[std::string(storage::kIdsFamily)], 1);
}

// ---- findings ----

TEST_F(FundRules, FindingsAreAuditorsOwn) {
  FundedAndApproved(1000);
  Refused("xt-finance", FindingEvent("f", "F-1", {"yh-to-p1"}), "not_authorised", "signer");
  Refused("xt-audit", FindingEvent("f", "F-1", json::array()), "finding_subject_required",
          "targets");
  Refused("xt-audit", FindingEvent("f", "F-1", {"nope"}), "target_unknown", "targets[0]");
  Refused("xt-audit", FindingEvent("f", "F-1", {"yh-own", "yh-own"}), "duplicate_target",
          "targets[1]");
  Refused("xt-audit", FindingEvent("f", "F-1", json::array(), "nope"), "project_unknown",
          "project");
  Refused("yz-audit", FindingEvent("f", "F-1", json::array(), "p1"), "out_of_region", "project");
  // A finding is shown on the projects its money targets move money of: another region's
  // auditor may not name them, with or without a project of its own.
  Refused("yz-audit", FindingEvent("f", "F-1", {"yh-to-p1"}), "out_of_region", "targets[0]");
  Refused("yz-audit", FindingEvent("f", "F-1", {"approve-p1", "yh-own"}), "out_of_region",
          "targets[1]");
  json empty_text = FindingEvent("f", "F-1", {"yh-own"});
  empty_text["text"] = "";
  Refused("xt-audit", empty_text, "text_empty", "text");
  Ok("xt-audit", FindingEvent("f", "F-1", {"yh-own", "approve-p1"}, "p1"));
  Refused("xt-audit", FindingEvent("f2", "F-1", {"yh-own"}), "finding_exists", "finding");
  // Money of the province's pool: a city auditor names it only where it reaches the city.
  Ok("hunan-finance",
     Received("hn-own", "hunan-finance", "pool", "provincial", "hunan-finance", 1000));
  Ok("hunan-finance",
     Allocated("hn-to-xt", "hunan-finance", "xt-finance", "pool", "provincial", 10));
  Refused("xt-audit", FindingEvent("f3", "F-3", {"hn-to-xt", "hn-own"}), "out_of_region",
          "targets[1]");
  Ok("xt-audit", FindingEvent("f3", "F-3", {"hn-to-xt"}));
  json resolve = Event("res", "finding_resolved", {{"finding", "F-1"}, {"text", "已补充凭证"}});
  Refused("jianshe", resolve, "not_authorised", "signer");
  Refused("yz-audit", resolve, "out_of_region", "finding");
  json unknown = resolve;
  unknown["finding"] = "F-9";
  Refused("xt-audit", unknown, "finding_unknown", "finding");
  Ok("xt-audit", resolve);
  resolve["id"] = "res-2";
  Refused("xt-audit", resolve, "finding_already_resolved", "finding");
}

TEST_F(FundRules, AFindingIsNotResolvedWithoutText) {
  Ok("xt-audit", FindingEvent("f", "F-1", json::array(), "p1"));
  Refused("xt-audit", Event("res", "finding_resolved", {{"finding", "F-1"}, {"text", ""}}),
          "text_empty", "text");
}

// ---- state across batches and restarts ----

TEST_F(FundRules, EventsInOneBatchSeeEachOtherAndARefusedOneLeavesNoTrace) {
  std::vector<SignedEvent> batch = {
      L.Signed("yh-housing", StatusChange("s1", "p1", "approved", 7000)),
      L.Signed("yh-finance", Received("own", "yh-finance", "pool", "district", "yh-finance", 100)),
      L.Signed("yh-finance", Allocated("a", "yh-finance", "p1", "project", "district", 100)),
      L.Signed("yh-finance", Disbursed("too-much", "p1", "district", 101)),
      L.Signed("yh-finance", Disbursed("pay", "p1", "district", 100)),
      L.Signed("jianshe", Ack("ack", "pay")),
      L.Signed("jianshe", Ack("ack-too-much", "too-much")),
  };
  std::vector<AppendResult> results;
  ASSERT_TRUE(L.journal().Append(batch, &results).ok());
  for (size_t i : {0, 1, 2, 4, 5})
    EXPECT_TRUE(results[i].status.ok()) << results[i].status.ToString();
  EXPECT_EQ(results[3].status.code(), "overdraft");
  EXPECT_EQ(results[6].status.code(), "target_unknown");
  EXPECT_EQ(Project("p1", Category::DISTRICT), 0);
}

TEST_F(FundRules, AllOrNothingAppendsNoneWhenOneIsRefused) {
  auto rows = StateRows(L.journal());
  Journal::Head before = L.journal().head();
  std::vector<SignedEvent> batch = {
      L.Signed("yh-finance", Received("own", "yh-finance", "pool", "district", "yh-finance", 100)),
      L.Signed("yh-finance", Allocated("a", "yh-finance", "p1", "project", "district", 101)),
  };
  std::vector<AppendResult> results;
  ASSERT_TRUE(L.journal().Append(batch, &results, AppendOptions{.all_or_nothing = true}).ok());
  EXPECT_EQ(results[0].status.code(), "batch_not_appended");
  EXPECT_EQ(results[1].status.code(), "overdraft");
  EXPECT_EQ(L.journal().head().size, before.size);
  EXPECT_EQ(StateRows(L.journal()), rows);
  EXPECT_EQ(Pool("yh-finance", Category::DISTRICT), 0);
  // The same events, fixed, go in.
  batch[1] = L.Signed("yh-finance", Allocated("a", "yh-finance", "p1", "project", "district", 100));
  ASSERT_TRUE(L.journal().Append(batch, &results, AppendOptions{.all_or_nothing = true}).ok());
  EXPECT_TRUE(results[0].status.ok() && results[1].status.ok());
}

TEST_F(FundRules, StateSurvivesAReopenAndFactsAreReadBackFromDisk) {
  FundedAndApproved(1000);
  Ok("xt-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 1000));
  json r = Received("r1", "p1", "project", "social_capital", "xt-invest", 700);
  r["pledge"] = "pl";
  Ok("yh-finance", r);
  Ok("xt-audit", FindingEvent("f", "F-1", {"r1"}, "p1"));
  auto rows = StateRows(L.journal());
  L.Reopen();
  EXPECT_EQ(StateRows(L.journal()), rows);
  EXPECT_EQ(Project("p1", Category::SOCIAL_CAPITAL), 700);
  EXPECT_EQ(L.journal().state().FindProject("p1")->phase, schema::ProjectPhase::APPROVED);
  r["id"] = "r2";
  r["amount_fen"] = 301;
  Refused("yh-finance", r, "pledge_exceeded", "amount_fen");
  Ok("yh-finance", Reversal("rev-r1", "r1"));
  Refused("yh-finance", Reversal("rev-r1b", "r1"), "already_reversed", "target");
  Refused("xt-audit", FindingEvent("f2", "F-1", {"r1"}), "finding_exists", "finding");
  Ok("xt-invest", Ack("ack-pl", "pl"));
  VerifyReport report;
  Status verified = VerifyLedger(L.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(verified.ok()) << verified.ToString();
}

TEST_F(FundRules, AWriterRefusesToOpenOnMalformedOrUnbalancedState) {
  FundedAndApproved(1000);
  std::string key = "a" + AccountKey{AccountHolder::PROJECT, "p1", Category::DISTRICT}.Encode();
  ASSERT_TRUE(
      L.journal().PutRawForTesting(storage::kAccountsFamily, key, storage::EncodeU64(999)).ok());
  std::unique_ptr<Journal> reopened;
  JournalOptions options;
  L.Close();
  Status s = Journal::Open(L.dir().string(), options, &reopened);
  EXPECT_EQ(s.code(), "accounts_unbalanced") << s.ToString();
  // A reader opens anyway, so that verification can name the row.
  options.read_only = true;
  ASSERT_TRUE(Journal::Open(L.dir().string(), options, &reopened).ok());
  VerifyReport report;
  EXPECT_EQ(VerifyLedger(*reopened, VerifyOptions(), &report).code(), "accounts_mismatch");
  reopened.reset();
  options.read_only = false;
  ASSERT_TRUE(Journal::Open(L.dir().string(), options, &reopened).code() == "accounts_unbalanced");
}

TEST_F(FundRules, AMalformedStateRowStopsAWritersOpenAndVerificationNamesIt) {
  ASSERT_TRUE(L.journal().PutRawForTesting(storage::kAccountsFamily, "jp1", "not capnp!").ok());
  L.Close();
  std::unique_ptr<Journal> reopened;
  Status s = Journal::Open(L.dir().string(), JournalOptions(), &reopened);
  EXPECT_EQ(s.code(), "state_row_malformed") << s.ToString();
  // A reader opens anyway, leaving the row out, so that verification can name it.
  JournalOptions read_only;
  read_only.read_only = true;
  ASSERT_TRUE(Journal::Open(L.dir().string(), read_only, &reopened).ok());
  VerifyReport report;
  s = VerifyLedger(*reopened, VerifyOptions(), &report);
  EXPECT_EQ(s.code(), "accounts_mismatch") << s.ToString();
  EXPECT_NE(s.message().find("row jp1 "), std::string::npos) << s.ToString();
}

// ---- edges a rule could quietly lose ----

TEST_F(FundRules, GovernmentMoneyComesFromAboveInItsOwnChain) {
  // A bureau cannot book money of a higher level as received unless it comes from a bureau of
  // that level above it; its own money names itself.
  Refused("yh-finance", Received("r", "yh-finance", "pool", "central", "yh-finance", 1),
          "category_mismatch", "category");
  Refused("yh-finance", Received("r", "yh-finance", "pool", "district", "yz-finance", 1),
          "source_not_above", "source_org");
  Refused("yz-finance", Received("r", "yz-finance", "pool", "provincial", "hunan-finance", 1),
          "source_not_above", "source_org");
  Refused("hunan-finance", Received("r", "hunan-finance", "pool", "district", "yh-finance", 1),
          "source_not_above", "source_org");
  // Central money received directly (allocated outside this ledger) names the ministry, which
  // is then the counterparty that confirms it.
  Ok("hunan-finance", Received("r", "hunan-finance", "pool", "central", "mof", 100));
  Ok("mof", Ack("ack-r", "r"));
  Ok("yh-finance", Received("r2", "yh-finance", "pool", "municipal", "xt-finance", 100));
  Ok("xt-finance", Ack("ack-r2", "r2"));
}

TEST_F(FundRules, RegionsAreMatchedByWholeSegments) {
  L.Register("xt2-housing", "housing_bureau", "district", "hunan/xiangtan2");
  Ok("xt2-housing", ProjectRegistration("p-xt2", "hunan/xiangtan2/a"));
  Refused("xt-finance", Received("r", "p-xt2", "project", "municipal", "xt-finance", 1),
          "out_of_region", "to");
  Refused("yh-housing", ProjectRegistration("p3", "hunan/xiangtan/yuhu2"), "out_of_region",
          "region");
}

TEST_F(FundRules, RevokedOrgsNeitherGiveNorReceiveNorGetPaid) {
  FundedAndApproved(1000);
  for (const char* org : {"xt-invest", "jianshe", "xt-finance"}) {
    Ok("operator", Event(std::string("revoke-") + org, "org_revoked", {{"org", org}}));
  }
  Refused("yh-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 1), "org_revoked",
          "source_org");
  Refused("yh-finance", Received("r", "p1", "project", "social_capital", "xt-invest", 1),
          "org_revoked", "source_org");
  Refused("yh-finance", Disbursed("d", "p1", "district", 1), "org_revoked", "payee.org");
  Ok("mof", Received("c", "mof", "pool", "central", "mof", 10));
  Refused("mof", Allocated("a", "mof", "xt-finance", "pool", "central", 1), "org_revoked", "to");
}

TEST_F(FundRules, PledgesAndRefundsRespectTheProjectAndTheChain) {
  Ok("yh-housing", StatusChange("s1", "p1", "cancelled"));
  Refused("xt-invest", Pledged("pl", "p1", "xt-invest", "social_capital", 1), "project_closed",
          "project");
  Ok("yz-housing", ProjectRegistration("p-yz", "henan/xuchang/yuzhou/a"));
  Refused("xt-invest", Pledged("pl", "p-yz", "xt-invest", "social_capital", 1), "out_of_region",
          "project");
  Refused("yh-housing", Refunded("f", "p1", "project", "district", "yh-finance", 1),
          "not_authorised", "signer");
  json revised = Event("rev", "project_revised",
                       {{"project", "p-yz"},
                        {"budget", Budget(100)},
                        {"funding_plan", {{{"category", "district"}, {"amount_fen", 100}}}}});
  Refused("yz-finance", revised, "not_authorised", "signer");
}

TEST_F(FundRules, AReversalOfARefundOutOfAClosedProjectIsRefused) {
  FundedAndApproved(1000);
  Ok("yh-finance", Refunded("back", "p1", "project", "district", "yh-finance", 100));
  Ok("yh-housing", StatusChange("s2", "p1", "cancelled"));
  Refused("yh-finance", Reversal("x", "back"), "project_closed", "target");
}

TEST_F(FundRules, StreetOfficesRecordTheirOwnResidentsMoneyIntoProjects) {
  Refused("heping-street",
          Received("r", "heping-street", "pool", "resident", "jianshe-residents", 1),
          "not_authorised", "to_kind");
  L.Register("other-residents", "resident_group", "none", "hunan/xiangtan/yuhu/other");
  Refused("heping-street", Received("r", "p1", "project", "resident", "other-residents", 1),
          "out_of_region", "source_org");
  L.Register("other-street", "street_office", "none", kHeping);
  Refused("heping-street", Received("r", "p1", "project", "resident", "other-street", 1),
          "out_of_region", "source_org");
  Ok("heping-street",
     Received("r", "p1", "project", "resident", "jianshe-residents", 1, "in_kind_labour"));
}

TEST_F(FundRules, APledgeIsMatchedByItsSource) {
  Ok("xt-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 100));
  L.Register("other-invest", "social_capital", "none", "hunan/xiangtan");
  json r = Received("r", "p1", "project", "social_capital", "other-invest", 10);
  r["pledge"] = "pl";
  Refused("yh-finance", r, "pledge_mismatch", "pledge");
}

TEST_F(FundRules, APayeeOrgIsNamedAsRegistered) {
  FundedAndApproved(1000);
  json payee = Payee("jianshe");
  payee["name"] = "另一家公司";
  Refused("yh-finance", Disbursed("d", "p1", "district", 1, "basic", payee), "payee_mismatch",
          "payee.name");
}

TEST_F(FundRules, EveryListAndTextHasALimit) {
  json p = ProjectRegistration("p9");
  p["compounds"] = json::array();
  for (int i = 0; i < 101; ++i) p["compounds"].push_back("小区" + std::to_string(i));
  Refused("yh-housing", p, "out_of_range", "compounds");
  p = ProjectRegistration("p9");
  p["built_year"] = 1899;
  Refused("yh-housing", p, "out_of_range", "built_year");
  json policy = PolicyFor("pol", "hunan/xiangtan");
  policy["satisfaction_min_bp"] = 0;
  Refused("xt-finance", policy, "out_of_range", "satisfaction_min_bp");
  policy = PolicyFor("pol", "hunan/xiangtan");
  policy["idle_days_max"] = 3651;
  Refused("xt-finance", policy, "out_of_range", "idle_days_max");
  policy = PolicyFor("pol", "hunan/xiangtan");
  policy["targets"] = {{{"metric", "payment_rate_bp"}, {"max_bp", 1'000'001}}};
  Refused("xt-finance", policy, "out_of_range", "targets[0]");
  policy = PolicyFor("pol", "hunan/xiangtan");
  policy["unit_caps"] = json::array();
  for (int i = 0; i < 65; ++i) {
    policy["unit_caps"].push_back({{"item", "item" + std::to_string(i)}, {"max_fen_per_unit", 1}});
  }
  Refused("xt-finance", policy, "out_of_range", "unit_caps");
  policy = PolicyFor("pol", "hunan/xiangtan");
  policy["targets"] = json::array();
  for (int i = 0; i < 33; ++i) {
    policy["targets"].push_back({{"metric", "payment_rate_bp"}, {"min_bp", i}});
  }
  Refused("xt-finance", policy, "out_of_range", "targets");
  json finding = FindingEvent("f", "F-1", json::array(), "p1");
  for (int i = 0; i < 101; ++i) finding["targets"].push_back("reg-p1");
  Refused("xt-audit", finding, "out_of_range", "targets");
  finding = FindingEvent("f", "F-1", json::array(), "p1");
  finding["text"] = std::string(4001, 'x');
  Refused("xt-audit", finding, "text_too_long", "text");
  finding["text"] = std::string(4000, 'x');
  Ok("xt-audit", finding);
}

// Texts are limited in bytes, not characters: 67 characters of 3 bytes are 201.
TEST_F(FundRules, TextsOverTheirLimitInBytesAreRefused) {
  const std::string k200(200, 'x'), k201(201, 'x');
  json r = Received("r", "yh-finance", "pool", "district", "yh-finance", 1);
  r["doc_ref"] = k201;
  Refused("yh-finance", r, "text_too_long", "doc_ref");
  r["doc_ref"] = k200;
  r["memo"] = std::string(1001, 'x');
  Refused("yh-finance", r, "text_too_long", "memo");
  r["memo"] = std::string(1000, 'x');
  Ok("yh-finance", r);
  std::string name;
  for (int i = 0; i < 67; ++i) name += "区";
  json p = ProjectRegistration("p2");
  p["name"] = name;
  Refused("yh-housing", p, "text_too_long", "name");
  p["name"] = name.substr(0, 198) + "xx";
  Ok("yh-housing", p);
  FundedAndApproved(1000);
  json payee = Payee("");
  payee["name"] = k201;
  Refused("yh-finance", Disbursed("d1", "p1", "district", 1, "basic", payee), "text_too_long",
          "payee.name");
  payee["name"] = k200;
  Ok("yh-finance", Disbursed("d1", "p1", "district", 1, "basic", payee));
  json d = Disbursed("d2", "p1", "district", 1);
  d["contract_ref"] = k201;
  Refused("yh-finance", d, "text_too_long", "contract_ref");
  d["contract_ref"] = k200;
  Ok("yh-finance", d);
}

TEST_F(FundRules, ControlCharactersOtherThanNewlineAndTabAreRefusedInEveryText) {
  int n = 0;
  // C0 but newline and tab, DEL, C1 (U+009B, a terminal's CSI), and the bidirectional
  // overrides and isolates that would show a name in another order than it is written.
  for (const std::string c :
       {"\x01", "\x1b", "\r", "\x7f", "\u009b", "\u0080", "\u202e", "\u202a", "\u2066", "\u2069"}) {
    const std::string id = "c" + std::to_string(n++);
    json r = Received("r" + id, "yh-finance", "pool", "district", "yh-finance", 1);
    r["memo"] = "拨付" + c + "说明";
    Refused("yh-finance", r, "text_control_character", "memo");
    json p = ProjectRegistration("p" + id);
    p["name"] = "和平街道" + c + "片区";
    Refused("yh-housing", p, "text_control_character", "name");
    json f = FindingEvent("f" + id, "F-" + id, json::array(), "p1");
    f["text"] = "凭证" + c + "不一致";
    Refused("xt-audit", f, "text_control_character", "text");
  }
  json r = Received("r", "yh-finance", "pool", "district", "yh-finance", 1);
  r["memo"] = "第一行\n第二行\t附注";
  Ok("yh-finance", r);
  json p = ProjectRegistration("p2");
  // Punctuation whose UTF-8 is near theirs (U+2014, U+2026), a no-break space and the implicit
  // direction marks (U+200E, U+200F) stay text.
  p["name"] = "和平街道\n建设路\t片区—二期…\u200f\u200e\u00a0";
  Ok("yh-housing", p);
  json f = FindingEvent("f", "F-1", json::array(), "p1");
  f["text"] = "第一条\n第二条\t附件";
  Ok("xt-audit", f);
}

// The public CSV files carry names, references and ids as they are signed; a spreadsheet reads
// a cell that begins with =, +, -, @ or a tab as a formula (=HYPERLINK(...), -cmd|...).
TEST_F(FundRules, TextsAndIdsThatASpreadsheetWouldReadAsAFormulaAreRefused) {
  FundedAndApproved(1000);
  int n = 0;
  for (const std::string start : {"=", "+", "-", "@", "\t"}) {
    const std::string id = "c" + std::to_string(n++);
    const std::string text = start + "HYPERLINK(\"http://x.example/\"&A1)";
    json p = ProjectRegistration("p" + id);
    p["name"] = text;
    Refused("yh-housing", p, "text_formula_start", "name");
    json payee = Payee("");
    payee["name"] = text;
    Refused("yh-finance", Disbursed("d" + id, "p1", "district", 1, "basic", payee),
            "text_formula_start", "payee.name");
    json d = Disbursed("d" + id, "p1", "district", 1);
    d["invoice_ref"] = text;
    Refused("yh-finance", d, "text_formula_start", "invoice_ref");
    json r = Received("r" + id, "yh-finance", "pool", "district", "yh-finance", 1);
    r["doc_ref"] = text;
    Refused("yh-finance", r, "text_formula_start", "doc_ref");
    r = Received("r" + id, "yh-finance", "pool", "district", "yh-finance", 1);
    r["memo"] = text;
    Refused("yh-finance", r, "text_formula_start", "memo");
    json f = FindingEvent("f" + id, "F-" + id, json::array(), "p1");
    f["text"] = text;
    Refused("xt-audit", f, "text_formula_start", "text");
  }
  // Within a text, and after a space or a full-width sign, they are text.
  json payee = Payee("");
  payee["name"] = "湘潭市建设工程有限公司=A1";
  json d = Disbursed("d1", "p1", "district", 1, "basic", payee);
  d["contract_ref"] = " =合同-2024-01";
  d["invoice_ref"] = "＝0012+3";
  Ok("yh-finance", d);
  // An id may hold '-' but not begin with it. The rules refuse it in a new event; a record of an
  // earlier build holding one is still read (the event below is made from its JSON form).
  Refused("yh-finance", Received("-r-1", "yh-finance", "pool", "district", "yh-finance", 1),
          "bad_id", "id");
  json p = ProjectRegistration("p3");
  p["project"] = "-1-2";
  Refused("yh-housing", p, "bad_id", "project");
  p["project"] = "p-3";
  Ok("yh-housing", p);
}

// Nothing of a project is dated before it was registered (p1 on 2025-06-01): money "paid"
// before the project existed, which an as-of-date view would show in a project it does not
// know.
TEST_F(FundRules, NothingOfAProjectIsDatedBeforeItsRegistration) {
  auto early = [](json e) {
    e["occurred_on"] = "2025-05-31";
    return e;
  };
  const std::string code = "date_before_registration";
  Refused("yh-housing", early(StatusChange("approve-early", "p1", "approved", 7500)), code,
          "occurred_on");
  FundedAndApproved();
  Refused("yh-finance", early(Received("r-early", "p1", "project", "district", "yh-finance", 1)),
          code, "occurred_on");
  Refused("yh-finance", early(Allocated("a-early", "yh-finance", "p1", "project", "district", 1)),
          code, "occurred_on");
  Refused("yh-finance", early(Disbursed("d-early", "p1", "district", 1)), code, "occurred_on");
  Refused("yh-finance", early(Refunded("b-early", "p1", "project", "district", "yh-finance", 1)),
          code, "occurred_on");
  Refused("xt-finance", early(Pledged("pl-early", "p1", "xt-invest", "social_capital", 1)), code,
          "occurred_on");
  Refused("xt-audit", early(FindingEvent("f-early", "F-9", json::array(), "p1")), code,
          "occurred_on");
  // A finding naming no project but a movement of p1's money is p1's too (dated before the
  // movement too, which is refused first).
  Refused("xt-audit", early(FindingEvent("f-early", "F-9", {"yh-to-p1"})), "date_before_target",
          "occurred_on");
  // The pool's own receipt is not p1's: a finding on it may be of that earlier day.
  json pool_receipt = early(Received("r-pool", "yh-finance", "pool", "district", "yh-finance", 1));
  Ok("yh-finance", pool_receipt);
  Ok("xt-audit", early(FindingEvent("f-pool", "F-10", {"r-pool"})));
  // From the day of its registration on, they are its.
  json d = Disbursed("d-same-day", "p1", "district", 1);
  d["occurred_on"] = "2025-06-01";
  Ok("yh-finance", d);
}

// An acknowledgement, or a finding, is not dated before the movement it names, nor a finding's
// resolution before the finding.
TEST_F(FundRules, AnAcknowledgementOrAFindingIsNotDatedBeforeTheMovementItNames) {
  FundedAndApproved();
  json paid = Disbursed("pay", "p1", "district", 100);
  paid["occurred_on"] = "2025-06-10";
  Ok("yh-finance", paid);
  json ack = Ack("ack", "pay");
  ack["occurred_on"] = "2025-06-09";
  Refused("jianshe", ack, "date_before_target", "occurred_on");
  json finding = FindingEvent("f", "F-1", {"pay"});
  finding["occurred_on"] = "2025-06-09";
  Refused("xt-audit", finding, "date_before_target", "occurred_on");
  ack["occurred_on"] = finding["occurred_on"] = "2025-06-10";
  Ok("jianshe", ack);
  Ok("xt-audit", finding);
  // Nor is a finding resolved before it was opened.
  json resolve =
      Event("res", "finding_resolved", {{"finding", "F-1"}, {"text", "已补充凭证"}}, "2025-06-09");
  Refused("xt-audit", resolve, "date_before_target", "occurred_on");
  resolve["occurred_on"] = "2025-06-10";
  Ok("xt-audit", resolve);
  // Nor is money received against a pledge dated before the pledge.
  json pledge = Pledged("pl", "p1", "xt-invest", "social_capital", 500);
  pledge["occurred_on"] = "2025-06-10";
  Ok("xt-finance", pledge);
  json paid_in = Received("r-pl", "p1", "project", "social_capital", "xt-invest", 300);
  paid_in["pledge"] = "pl";
  paid_in["occurred_on"] = "2025-06-09";
  Refused("yh-finance", paid_in, "date_before_target", "occurred_on");
  paid_in["occurred_on"] = "2025-06-10";
  Ok("yh-finance", paid_in);
}

// The lifecycle runs forward in business time as it does in the log: no status is dated before
// the one it follows, no payment before the approval, and no settlement or cancellation before
// money the project moved. (Each was accepted, so a view as of a date could show a project
// settled before its approval, or paying before it.)
TEST_F(FundRules, TheLifecycleRunsForwardInBusinessTime) {
  auto on = [](json event, const char* date) {
    event["occurred_on"] = date;
    return event;
  };
  Ok("yh-housing", on(StatusChange("approve-p1", "p1", "approved", 7500), "2025-06-10"));
  Ok("yh-finance", Received("yh-own", "yh-finance", "pool", "district", "yh-finance", 10'000));
  Ok("yh-finance", on(Allocated("yh-to-p1", "yh-finance", "p1", "project", "district", 5'000),
                      "2025-06-05"));  // money comes in before the approval
  Refused("yh-finance", on(Disbursed("pay", "p1", "district", 100), "2025-06-09"),
          "date_before_status", "occurred_on");
  Ok("yh-finance", on(Disbursed("pay", "p1", "district", 100), "2025-06-10"));
  Refused("yh-housing", on(StatusChange("start-p1", "p1", "started"), "2025-06-09"),
          "date_before_status", "occurred_on");
  Ok("yh-housing", on(StatusChange("start-p1", "p1", "started"), "2025-06-20"));
  Ok("yh-finance", on(Disbursed("pay-2", "p1", "district", 100), "2025-07-01"));
  // Completion may come before a payment dated after it (the last invoices are paid then).
  json done = on(StatusChange("done-p1", "p1", "completed"), "2025-06-25");
  done["satisfaction_bp"] = 9000;
  Ok("yh-housing", done);
  Refused("yh-housing", on(StatusChange("settle-p1", "p1", "settled"), "2025-06-30"),
          "date_before_money", "occurred_on");
  Ok("yh-housing", on(StatusChange("settle-p1", "p1", "settled"), "2025-07-01"));
  // Neither a refund (a settled project may still make one, and the finance bureau may record it
  // before the housing bureau records the settlement) nor a reversal (dated on the day of the
  // correction) moves the day: p3 is settled on its audit date after both were recorded.
  Ok("yh-housing", ProjectRegistration("p3"));
  Ok("yh-housing", on(StatusChange("approve-p3", "p3", "approved", 7500), "2025-06-10"));
  Ok("yh-finance",
     on(Allocated("yh-to-p3", "yh-finance", "p3", "project", "district", 1'000), "2025-06-10"));
  Ok("yh-finance", on(Disbursed("pay-3", "p3", "district", 100), "2025-07-01"));
  Ok("yh-finance", on(Disbursed("pay-3b", "p3", "district", 100), "2025-07-02"));
  const std::string today = FormatDate(BusinessDay(kTestNowMs));
  Ok("yh-finance", on(Reversal("rev-pay-3b", "pay-3b"), today.c_str()));
  Ok("yh-finance",
     on(Refunded("back-3", "p3", "project", "district", "yh-finance", 500), "2025-08-20"));
  Ok("yh-housing", on(StatusChange("start-p3", "p3", "started"), "2025-06-20"));
  json done3 = on(StatusChange("done-p3", "p3", "completed"), "2025-06-30");
  done3["satisfaction_bp"] = 9000;
  Ok("yh-housing", done3);
  // The reversed payment of 07-02 still counts: a record dated then is in the log.
  Refused("yh-housing", on(StatusChange("settle-p3", "p3", "settled"), "2025-07-01"),
          "date_before_money", "occurred_on");
  Ok("yh-housing", on(StatusChange("settle-p3", "p3", "settled"), "2025-07-02"));
  // A cancellation likewise: p2 received money on 2025-06-15.
  Ok("yh-housing", ProjectRegistration("p2"));
  Ok("yh-finance",
     on(Allocated("yh-to-p2", "yh-finance", "p2", "project", "district", 1'000), "2025-06-15"));
  Refused("yh-housing", on(StatusChange("cancel-p2", "p2", "cancelled"), "2025-06-14"),
          "date_before_money", "occurred_on");
  Ok("yh-housing", on(StatusChange("cancel-p2", "p2", "cancelled"), "2025-06-15"));
}

TEST_F(FundRules, ARecordTimeOutsideTheCenturyIsRefused) {
  L.set_now_ms(4102444800000);  // 2100-01-01
  Refused("yh-finance", Received("r", "yh-finance", "pool", "district", "yh-finance", 1),
          "bad_record_time", "recorded_at_ms");
}

TEST_F(FundRules, TheBalanceViewFollowsEveryMovementNetOfReversals) {
  FundedAndApproved(1000);  // yh-finance: 10000 in, 1000 to p1
  Ok("yh-finance", Disbursed("pay", "p1", "district", 600));
  Ok("yh-finance", Refunded("back", "p1", "project", "district", "yh-finance", 100));
  Ok("yh-finance", Reversal("rev-pay", "pay"));
  Ok("xt-finance", Pledged("pl", "p1", "xt-invest", "social_capital", 500));
  json r = Received("r-pl", "p1", "project", "social_capital", "xt-invest", 300);
  r["pledge"] = "pl";
  Ok("yh-finance", r);
  auto view = [&](schema::AccountHolder kind, const std::string& holder) {
    fundledger::Balance b;
    Status s = L.HolderBalance(kind, holder, &b);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return b;
  };
  fundledger::Balance pool = view(AccountHolder::POOL, "yh-finance");
  const Figures& pd = pool.by_category[size_t(Category::DISTRICT)];
  EXPECT_EQ(pd.received_fen, 10'000);
  EXPECT_EQ(pd.allocated_out_fen, 1'000);
  EXPECT_EQ(pd.available_fen(), 9'000);
  fundledger::Balance p1 = view(AccountHolder::PROJECT, "p1");
  const Figures& d = p1.by_category[size_t(Category::DISTRICT)];
  EXPECT_EQ(d.allocated_in_fen, 1'000);
  EXPECT_EQ(d.disbursed_fen, 0);  // the payment was reversed
  EXPECT_EQ(d.refunded_fen, 100);
  EXPECT_EQ(d.available_fen(), Project("p1", Category::DISTRICT));
  const Figures& sc = p1.by_category[size_t(Category::SOCIAL_CAPITAL)];
  EXPECT_EQ(sc.pledged_fen, 500);
  EXPECT_EQ(sc.received_fen, 300);
  EXPECT_EQ(sc.pledge_outstanding_fen(), 200);
  Ok("yh-finance", Reversal("rev-r-pl", "r-pl"));
  Ok("xt-finance", Pledged("pl2", "p1", "xt-invest", "social_capital", 50));
  Ok("xt-finance", Reversal("rev-pl2", "pl2"));
  p1 = view(AccountHolder::PROJECT, "p1");
  EXPECT_EQ(p1.by_category[size_t(Category::SOCIAL_CAPITAL)].received_fen, 0);
  EXPECT_EQ(p1.by_category[size_t(Category::SOCIAL_CAPITAL)].pledge_outstanding_fen(), 500);
  EXPECT_EQ(p1.Total().available_fen(), 900);
}

TEST_F(FundRules, ARegionRollUpIsTheSumOfItsProjects) {
  FundedAndApproved(1000);
  Ok("heping-street", ProjectRegistration("p2"));
  Ok("yh-finance", Allocated("to-p2", "yh-finance", "p2", "project", "district", 700));
  Ok("yz-housing", ProjectRegistration("p-yz", "henan/xuchang/yuzhou/a"));
  Ok("yz-finance", Received("yz-own", "yz-finance", "pool", "district", "yz-finance", 50));
  Ok("yz-finance", Allocated("to-yz", "yz-finance", "p-yz", "project", "district", 50));
  auto project = [&](const std::string& id) {
    fundledger::Balance b;
    EXPECT_TRUE(L.HolderBalance(AccountHolder::PROJECT, id, &b).ok());
    return b;
  };
  auto region = [&](const std::string& r, uint64_t expected_projects) {
    fundledger::Balance b;
    uint64_t n = 0;
    EXPECT_TRUE(L.ScopeBalance(ScopeKind::kRegion, r, &b, &n).ok());
    EXPECT_EQ(n, expected_projects) << r;
    return b;
  };
  fundledger::Balance hunan = project("p1");
  hunan += project("p2");
  EXPECT_EQ(region("hunan/xiangtan", 2), hunan);
  EXPECT_EQ(region(kHeping, 2), hunan);
  fundledger::Balance all = hunan;
  all += project("p-yz");
  EXPECT_EQ(region("", 3), all);
  EXPECT_EQ(region("henan", 1), project("p-yz"));
  EXPECT_EQ(region("hunan/xiangtan2", 0), fundledger::Balance());
  EXPECT_EQ(all.Total().allocated_in_fen, 1750);
}

// Opening a ledger reads every registry and accounts row back (LedgerState::LoadRow), and
// verification must open a tampered one to name what changed. Every row of a ledger with each
// kind of row, with each single bit flipped and cut at each length, in its value and its key,
// is either read or refused, never a crash or undefined behaviour (the sanitizer build runs
// this too); and each row as stored reads back and encodes to the same bytes.
TEST_F(FundRules, EveryStateRowChangedInOneBitOrCutShortIsReadOrRefused) {
  EveryKindOfStateRow();

  std::map<char, int> kinds;  // accounts rows by their key's first byte
  uint64_t tries = 0, read = 0;
  auto load = [&](std::string_view family, std::string_view key, std::string_view value) {
    LedgerState state;
    ++tries;
    if (state.LoadRow(family, key, value)) ++read;
  };
  for (const auto& [name, value] : StateRows(L.journal())) {
    const size_t slash = name.find('/');
    const std::string family = name.substr(0, slash);
    const std::string key = name.substr(slash + 1);
    if (family == storage::kAccountsFamily) ++kinds[key[0]];
    {
      LedgerState state;
      ASSERT_TRUE(state.LoadRow(family, key, value)) << name;
      int rows = 0;
      state.ForEachRow(family, [&](std::string_view k, std::string_view v) {
        ++rows;
        EXPECT_EQ(k, key);
        EXPECT_EQ(v, value) << name << " does not encode back to its bytes";
      });
      EXPECT_EQ(rows, 1) << name;
    }
    for (size_t at = 0; at < value.size(); ++at) {
      load(family, key, std::string_view(value).substr(0, at));
      for (int bit = 0; bit < 8; ++bit) {
        std::string changed = value;
        changed[at] = char(changed[at] ^ (1 << bit));
        load(family, key, changed);
      }
    }
    for (size_t at = 0; at < key.size(); ++at) {
      load(family, std::string_view(key).substr(0, at), value);
      for (int bit = 0; bit < 8; ++bit) {
        std::string changed = key;
        changed[at] = char(changed[at] ^ (1 << bit));
        load(family, changed, value);
      }
    }
  }
  // Balances, facts, a finding, a project, a policy and the volume: every kind of accounts row
  // was tried.
  EXPECT_EQ(kinds.size(), 6u);
  EXPECT_GT(tries, 10000u);
  EXPECT_LT(read, tries);
  std::cout << tries << " changed rows, " << read << " of them read\n";
}

// A verifier's state takes every change straight into its committed tables (set_direct): an
// Abort undoes none of them, nothing is left staged, and the rows it rebuilds from a ledger
// with every kind of row are the writer's, byte for byte (verify compares them).
TEST_F(FundRules, AStateChangedDirectlyKeepsWhatItIsGivenAndRebuildsEveryRow) {
  LedgerState direct;
  direct.set_direct();
  const AccountKey account{schema::AccountHolder::POOL, "xt-finance", schema::Category::MUNICIPAL};
  direct.StageEventId("e1", 7);
  direct.StageBalance(account, 500);
  direct.Abort();
  uint64_t seq = 0;
  ASSERT_TRUE(direct.EventSeq("e1", &seq).ok());
  EXPECT_EQ(seq, 7u);
  EXPECT_EQ(direct.Balance(account), 500);
  EXPECT_EQ(direct.balance_sum(), 500);
  EXPECT_TRUE(direct.StagedRows().empty());
  std::string row;
  EXPECT_TRUE(direct.FindRow(storage::kAccountsFamily,
                             std::string(1, storage::kBalanceRow) + account.Encode(), &row));

  EveryKindOfStateRow();
  VerifyReport report;
  Status s = VerifyLedger(L.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

// The rows a batch stages come in order of family and key, whatever order the rules staged them
// in (the memtables insert each from where the one before it went).
TEST(StagedRows, ComeInOrderOfFamilyAndKey) {
  LedgerState state;
  for (const char* holder : {"zz", "aa", "mm", "ab", "z", "a"}) {
    state.StageBalance(
        AccountKey{schema::AccountHolder::PROJECT, holder, schema::Category::DISTRICT}, 1);
    EventFact fact;
    fact.id = std::string("e-") + holder;
    fact.seq = 1;
    state.StageFact(fact);
  }
  std::vector<LedgerState::Row> rows = state.StagedRows();
  ASSERT_EQ(rows.size(), 12u);
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_TRUE(std::tie(rows[i - 1].family, rows[i - 1].key) <
                std::tie(rows[i].family, rows[i].key))
        << "row " << i << " is out of order";
  }
}

// A policy's works come from a signed event or from a stored row, and either may carry a work
// value outside the enum; each must be refused by name, before it is used as a bit position.
TEST(PolicyDecode, AWorkOutsideTheEnumIsRefusedForEveryValue) {
  for (uint16_t work : {uint16_t(3), uint16_t(7), uint16_t(8), uint16_t(31), uint16_t(32),
                        uint16_t(128), uint16_t(255), uint16_t(256), uint16_t(65535)}) {
    capnp::MallocMessageBuilder message;
    auto policy = message.initRoot<schema::PolicySet>();
    policy.setRegion("hunan");
    auto uses = policy.initRestrictedUse(1);
    uses[0].setCategory(schema::Category::CENTRAL);
    auto works = uses[0].initWorks(2);
    works.set(0, schema::Work::BASIC);
    works.set(1, schema::Work(work));
    Policy out;
    Status s = PolicyFromEvent(policy.asReader(), &out);
    EXPECT_EQ(s.code(), "bad_work") << work;
    EXPECT_EQ(s.field(), "restricted_use[0].works") << work;
  }
}

TEST(CreditCode, TheCheckCharacterFollowsGb32100) {
  for (const char* code :
       {"9144030071526726XG", "91110000802100433B", "91330100799655058B", kValidCreditCode}) {
    EXPECT_TRUE(IsValidCreditCode(code)) << code;
  }
  EXPECT_FALSE(IsValidCreditCode("9144030071526726XH"));  // wrong check character
  EXPECT_FALSE(IsValidCreditCode("9144030071526726X"));   // short
  EXPECT_FALSE(IsValidCreditCode("914403007152672IXG"));  // I is not in the alphabet
  EXPECT_FALSE(IsValidCreditCode("9144030071526726xg"));  // lowercase
}

}  // namespace
}  // namespace fundledger::testing
