// `fundledger demo`, run as its users run it: the built binary makes a small demo ledger, which
// must verify, be the same for the same seed, hold every kind of event, organisation and
// receipt channel, and keep the funding mixes of the seed documents; a second run into the
// same directory must fail and change nothing.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/note.h"
#include "ledger/rules.h"
#include "tests/tools/test_dir.h"

namespace fundledger {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliResult;
using test::Describe;
using test::ReadFile;
using test::TestDir;

// Small enough to take well under a second; the first eight projects of every demo are the
// fixed ones that show every region's mix and every kind of event.
constexpr char kProjects[] = "8";
constexpr char kData[] = "demo";
constexpr int64_t kFen = 100;

CliResult Expect(int expected, const TestDir& dir, const std::vector<std::string>& args,
                 const std::string& input = "") {
  return test::ExpectExit(FL_BINARY, dir, expected, args, input);
}

// The envelopes of a ledger in seq order (`log --format json`).
std::vector<json> Envelopes(const TestDir& dir, const std::string& data) {
  CliResult r = Expect(0, dir, {"log", "--data", data, "--limit", "100000000"});
  std::vector<json> envelopes;
  for (const json& line : test::JsonLines(r.out)) {
    if (line.contains("envelope")) envelopes.push_back(line["envelope"]);
  }
  return envelopes;
}

// The public key (base64 of 32 bytes) in a verifier key file.
std::string PublicKeyIn(const std::string& pub_file) {
  std::string text = ReadFile(pub_file);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  NoteVerifier verifier;
  Status s = ParseVerifierKey(text, &verifier);
  EXPECT_TRUE(s.ok()) << pub_file << ": " << s.ToString();
  return Base64Encode(verifier.key);
}

// Money into projects by category, net of reversals, and what each project is.
struct ProjectMoney {
  std::string region;
  int64_t households = 0;
  std::string status;
  std::map<std::string, int64_t> in_fen;  // received and allocated in, by category
};

std::map<std::string, ProjectMoney> MoneyIntoProjects(const std::vector<json>& envelopes) {
  std::map<std::string, ProjectMoney> projects;
  std::map<std::string, json> by_id;
  auto apply = [&](const json& e, int64_t sign) {
    std::string type = e["type"];
    if ((type == "funds_received" || type == "funds_allocated") && e["to_kind"] == "project") {
      projects[e["to"]].in_fen[e["category"]] += sign * e["amount_fen"].get<int64_t>();
    }
  };
  for (const json& envelope : envelopes) {
    const json& e = envelope["event"];
    by_id[e["id"]] = e;
    std::string type = e["type"];
    if (type == "project_registered") {
      ProjectMoney& p = projects[e["project"]];
      p.region = e["region"];
      p.households = e["households"];
      p.status = "registered";
    }
    if (type == "project_status") projects[e["project"]].status = e["status"];
    if (type == "event_reversed") apply(by_id[e["target"]], -1);
    apply(e, 1);
  }
  return projects;
}

int64_t Government(const ProjectMoney& p) {
  int64_t sum = 0;
  for (const char* c : {"central", "provincial", "municipal", "district"}) {
    auto it = p.in_fen.find(c);
    if (it != p.in_fen.end()) sum += it->second;
  }
  return sum;
}

int64_t Total(const ProjectMoney& p) {
  int64_t sum = 0;
  for (const auto& [category, fen] : p.in_fen) sum += fen;
  return sum;
}

int64_t In(const ProjectMoney& p, const std::string& category) {
  auto it = p.in_fen.find(category);
  return it == p.in_fen.end() ? 0 : it->second;
}

// One demo ledger shared by the tests of one process (each test runs in its own process under
// ctest, so each makes its own).
class DemoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TestDir>();
    created_ = std::make_unique<CliResult>(test::RunBinary(
        FL_BINARY, *dir_, {"demo", "--data", kData, "--seed", "1", "--projects", kProjects}));
    envelopes_ = std::make_unique<std::vector<json>>();
    if (created_->exit_code == 0) *envelopes_ = Envelopes(*dir_, kData);
  }
  static void TearDownTestSuite() {
    envelopes_.reset();
    created_.reset();
    dir_.reset();
  }
  void SetUp() override {
    ASSERT_EQ(created_->exit_code, 0) << Describe(*created_);
    ASSERT_FALSE(envelopes_->empty());
  }

  static const TestDir& dir() { return *dir_; }
  static const fs::path& path() { return dir_->path(); }
  static std::string data() { return (dir_->path() / kData).string(); }
  static const std::vector<json>& envelopes() { return *envelopes_; }
  static const CliResult& created() { return *created_; }

  // Values of `field` over the events of `type`.
  static std::set<std::string> Values(const std::string& type, const std::string& field) {
    std::set<std::string> values;
    for (const json& envelope : envelopes()) {
      const json& e = envelope["event"];
      if (e["type"] == type && e.contains(field)) values.insert(e[field].get<std::string>());
    }
    return values;
  }

 private:
  static inline std::unique_ptr<TestDir> dir_;
  static inline std::unique_ptr<CliResult> created_;
  static inline std::unique_ptr<std::vector<json>> envelopes_;
};

TEST_F(DemoTest, LedgerVerifiesAndTheSummaryNamesItsHead) {
  CliResult verify = Expect(0, dir(), {"verify", "--data", kData, "--format", "json"});
  json report = json::parse(verify.out);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["records"].get<size_t>(), envelopes().size());
  CliResult checkpoint = Expect(0, dir(), {"checkpoint", "--data", kData, "--format", "json"});
  json head = json::parse(checkpoint.out);
  EXPECT_EQ(head["size"].get<size_t>(), envelopes().size());
  // The summary printed the same size, root and signed checkpoint.
  const std::string& summary = created().out;
  EXPECT_NE(summary.find("events         " + std::to_string(envelopes().size())), std::string::npos)
      << summary;
  EXPECT_NE(summary.find("root " + head["root"].get<std::string>()), std::string::npos) << summary;
  EXPECT_NE(summary.find(head["note"].get<std::string>()), std::string::npos) << summary;
}

// The views kept with every append equal the ones rebuilt from the records alone.
TEST_F(DemoTest, ReplayEqualsTheIncrementalViews) {
  json replay = json::parse(Expect(0, dir(), {"replay", "--data", kData, "--format", "json"}).out);
  EXPECT_GE(replay["records"].get<size_t>(), envelopes().size());
  EXPECT_GT(replay["rows"].get<size_t>(), envelopes().size());
  EXPECT_EQ(replay["rows_written"], 0) << replay;
  EXPECT_EQ(replay["rows_deleted"], 0) << replay;
}

TEST_F(DemoTest, EveryEventIsDatedInOrderWithinTheProgramme) {
  std::string last = "2019-01-02";
  for (const json& envelope : envelopes()) {
    std::string day = envelope["event"]["occurred_on"];
    EXPECT_GE(day, last) << envelope.dump();
    EXPECT_LE(day, "2026-10-31") << envelope.dump();
    last = day;
  }
}

TEST_F(DemoTest, SameSeedGivesTheSameEventsAndAnotherSeedOthers) {
  Expect(0, dir(), {"demo", "--data", "same", "--seed", "1", "--projects", kProjects});
  Expect(0, dir(), {"demo", "--data", "other", "--seed", "2", "--projects", kProjects});
  std::vector<json> same = Envelopes(dir(), "same"), other = Envelopes(dir(), "other");
  ASSERT_EQ(same.size(), envelopes().size());
  for (size_t i = 0; i < same.size(); ++i) {
    ASSERT_EQ(same[i], envelopes()[i]) << "seq " << i + 1;
  }
  size_t differing = 0;
  for (size_t i = 0; i < std::min(other.size(), envelopes().size()); ++i) {
    if (other[i] != envelopes()[i]) ++differing;
  }
  EXPECT_GT(differing, envelopes().size() / 2) << "seed 2 should give another ledger";
  // Record times are the business days the demo simulates: the records, their tree and the
  // signed checkpoint are the same too.
  json head =
      json::parse(Expect(0, dir(), {"checkpoint", "--data", kData, "--format", "json"}).out);
  json same_head =
      json::parse(Expect(0, dir(), {"checkpoint", "--data", "same", "--format", "json"}).out);
  EXPECT_EQ(same_head["root"], head["root"]);
  EXPECT_EQ(same_head["note"], head["note"]);
  // Keys are derived from the seed too.
  EXPECT_EQ(ReadFile((path() / "same/keys/xt-finance.key").string()),
            ReadFile(data() + "/keys/xt-finance.key"));
  EXPECT_NE(ReadFile((path() / "other/keys/xt-finance.key").string()),
            ReadFile(data() + "/keys/xt-finance.key"));
}

TEST_F(DemoTest, HoldsEveryEventTypeOrganisationKindAndReceiptChannel) {
  std::set<std::string> types;
  for (const json& envelope : envelopes()) types.insert(envelope["event"]["type"]);
  EXPECT_EQ(types, (std::set<std::string>{
                       "org_registered", "key_rotated", "org_revoked", "policy_set",
                       "project_registered", "project_revised", "project_status", "funds_pledged",
                       "funds_received", "funds_allocated", "funds_disbursed", "funds_refunded",
                       "event_reversed", "acknowledged", "audit_finding", "finding_resolved"}));
  EXPECT_EQ(Values("org_registered", "kind"),
            (std::set<std::string>{"operator", "finance_bureau", "housing_bureau", "street_office",
                                   "utility", "enterprise", "social_capital", "resident_group",
                                   "contractor", "auditor"}));
  EXPECT_EQ(Values("org_registered", "level"),
            (std::set<std::string>{"central", "provincial", "municipal", "district", "none"}));
  EXPECT_EQ(
      Values("funds_received", "channel"),
      (std::set<std::string>{"transfer", "provident_fund", "maintenance_fund", "public_revenue",
                             "donation", "in_kind_labour", "in_kind_works", "loan", "bond"}));
  EXPECT_EQ(Values("funds_received", "category"),
            (std::set<std::string>{"central", "provincial", "municipal", "district", "utility",
                                   "resident", "enterprise", "social_capital"}));
  EXPECT_EQ(Values("project_status", "status"),
            (std::set<std::string>{"approved", "started", "completed", "settled", "cancelled"}));
  std::set<std::string> severities = Values("audit_finding", "severity");
  for (const char* severity : {"info", "minor", "major"}) {
    EXPECT_TRUE(severities.count(severity)) << severity;
  }
  // Reversals of a receipt, an allocation, a payment and a pledge.
  std::map<std::string, std::string> type_of;
  std::set<std::string> reversed;
  for (const json& envelope : envelopes()) {
    const json& e = envelope["event"];
    type_of[e["id"]] = e["type"];
    if (e["type"] == "event_reversed") reversed.insert(type_of[e["target"]]);
  }
  EXPECT_EQ(reversed, (std::set<std::string>{"funds_received", "funds_allocated", "funds_disbursed",
                                             "funds_pledged"}));
}

TEST_F(DemoTest, ResidentsAreCountedNotNamed) {
  size_t with_ref = 0;
  for (const json& envelope : envelopes()) {
    const json& e = envelope["event"];
    if (e["type"] != "funds_received" || e["category"] != "resident") continue;
    EXPECT_TRUE(e.contains("households")) << e.dump();
    if (e.contains("contributor_ref")) {
      ++with_ref;
      std::vector<uint8_t> bytes;
      EXPECT_TRUE(HexDecode(e["contributor_ref"].get<std::string>(), &bytes).ok());
      EXPECT_EQ(bytes.size(), 32u);
      EXPECT_EQ(e["households"], 1) << "a commitment is one household's";
    }
  }
  EXPECT_GT(with_ref, 0u);
}

TEST_F(DemoTest, PayeesCarryValidCreditCodesAndContractReferences) {
  size_t checked = 0;
  for (const json& envelope : envelopes()) {
    const json& e = envelope["event"];
    if (e["type"] != "funds_disbursed") continue;
    if (e["payee"]["kind"] == "contractor") {
      std::string code = e["payee"]["credit_code"];
      EXPECT_TRUE(IsValidCreditCode(code)) << code;
      EXPECT_EQ(code.substr(0, 2), "91") << "an enterprise registered by market regulation";
      EXPECT_TRUE(e.contains("invoice_ref")) << e.dump();
      ++checked;
    }
    EXPECT_TRUE(e.contains("contract_ref")) << e.dump();
  }
  EXPECT_GT(checked, 100u);
}

// The same compound in two live projects is what auditors flag as a duplicate registration
// (重复立项); the demo has one only in projects it then cancels.
TEST_F(DemoTest, LiveProjectsNeverShareACompound) {
  std::map<std::string, std::string> status;
  std::map<std::string, std::vector<std::string>> compounds;
  for (const json& envelope : envelopes()) {
    const json& e = envelope["event"];
    if (e["type"] == "project_status") status[e["project"]] = e["status"];
    if (e["type"] == "project_registered") compounds[e["project"]] = e["compounds"];
  }
  std::map<std::string, std::string> owner;
  for (const auto& [project, names] : compounds) {
    if (status[project] == "cancelled") continue;
    for (const std::string& name : names) {
      auto [it, fresh] = owner.emplace(name, project);
      EXPECT_TRUE(fresh) << name << " in " << it->second << " and " << project;
    }
  }
  EXPECT_GT(owner.size(), 8u);
}

// Xiangtan's pilot areas match government money 1:1 with social capital (seed: 实现 1:1 的社会
// 投资配比); tolerance 1%.
TEST_F(DemoTest, XiangtanPilotsMatchGovernmentMoneyOneToOneWithSocialCapital) {
  int64_t government = 0, social = 0;
  size_t pilots = 0;
  for (const auto& [id, p] : MoneyIntoProjects(envelopes())) {
    bool pilot = RegionWithin(p.region, "hunan/xiangtan/yuhu/heping") ||
                 RegionWithin(p.region, "hunan/xiangtan/yuetang/xintang") ||
                 RegionWithin(p.region, "hunan/xiangtan/gaoxin/xintangli");
    if (!pilot) continue;
    ++pilots;
    government += Government(p);
    social += In(p, "social_capital");
  }
  ASSERT_GE(pilots, 2u);
  EXPECT_NEAR(double(social) / double(government), 1.0, 0.01);
}

// Utilities pay 600 元 per household in Xiangtan, about 37% in Baoding (7.55 of 20.57亿元);
// Yuzhou's municipal and county money is about 60% (地方配套资金达60%).
TEST_F(DemoTest, RegionalMixesFollowTheSeedDocuments) {
  size_t xiangtan = 0, baoding = 0, yuzhou = 0;
  for (const auto& [id, p] : MoneyIntoProjects(envelopes())) {
    if (p.status == "cancelled" || Total(p) == 0) continue;
    double total = double(Total(p));
    if (RegionWithin(p.region, "hunan/xiangtan")) {
      ++xiangtan;
      EXPECT_EQ(In(p, "utility"), p.households * 600 * kFen) << id;
    }
    if (RegionWithin(p.region, "hebei/baoding")) {
      ++baoding;
      EXPECT_NEAR(double(In(p, "utility")) / total, 0.37, 0.03) << id;
    }
    if (RegionWithin(p.region, "henan/xuchang/yuzhou")) {
      ++yuzhou;
      EXPECT_NEAR(double(In(p, "municipal") + In(p, "district")) / total, 0.60, 0.04) << id;
    }
  }
  EXPECT_GE(xiangtan, 2u);
  EXPECT_GE(baoding, 1u);
  EXPECT_GE(yuzhou, 1u);
}

// Government money per elevator stays within the region's subsidy cap (35万元/台 in Xiangtan).
TEST_F(DemoTest, ElevatorSubsidyStaysWithinTheCap) {
  std::map<std::string, std::string> region_of;
  size_t checked = 0;
  for (const json& envelope : envelopes()) {
    const json& e = envelope["event"];
    if (e["type"] == "project_registered") region_of[e["project"]] = e["region"];
    if (e["type"] != "funds_disbursed" || e["item"] != "elevator") continue;
    std::string category = e["category"];
    bool government = category == "central" || category == "provincial" ||
                      category == "municipal" || category == "district";
    if (!government || !RegionWithin(region_of[e["project"]], "hunan/xiangtan")) continue;
    ++checked;
    EXPECT_LE(e["amount_fen"].get<int64_t>(), e["units"].get<int64_t>() * 350000 * kFen)
        << e.dump();
  }
  EXPECT_GT(checked, 0u);
}

// Anyone can go on signing as any organisation with the key files the demo wrote.
TEST_F(DemoTest, KeyFilesSignFurtherEventsAsTheirOrganisations) {
  struct stat st {};
  ASSERT_EQ(::stat((data() + "/keys/xt-finance.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // A rotated key: the file holds the key registered by the rotation.
  std::string rotated;
  for (const json& envelope : envelopes()) {
    if (envelope["event"]["id"] == "rotate-yuhu-guangchang") {
      rotated = envelope["event"]["public_key"];
    }
  }
  EXPECT_EQ(PublicKeyIn(data() + "/keys/yuhu-guangchang.pub"), rotated);
  json receipt = {
      {"id", "after-the-demo-1"},   {"type", "funds_received"}, {"occurred_on", "2026-11-02"},
      {"to", "xt-finance"},         {"to_kind", "pool"},        {"category", "municipal"},
      {"source_org", "xt-finance"}, {"channel", "transfer"},    {"amount_fen", 1200000000}};
  Expect(0, dir(),
         {"submit", "--data", kData, "--key", std::string(kData) + "/keys/xt-finance.key", "-"},
         receipt.dump());
  // The revoked contractor's key no longer signs.
  json ack = {{"id", "after-the-demo-2"},
              {"type", "acknowledged"},
              {"occurred_on", "2026-11-02"},
              {"target", "after-the-demo-1"}};
  Expect(1, dir(),
         {"submit", "--data", kData, "--key", std::string(kData) + "/keys/xt-hongtu.key", "-"},
         ack.dump());
}

TEST_F(DemoTest, SecondRunIntoTheSameDirectoryFailsAndChangesNothing) {
  Expect(0, dir(), {"demo", "--data", "twice", "--projects", "1"});
  auto snapshot = [&] {
    std::map<std::string, std::pair<uintmax_t, int64_t>> files;
    for (const auto& entry : fs::recursive_directory_iterator(path() / "twice")) {
      files[entry.path().string()] = {entry.is_regular_file() ? entry.file_size() : 0,
                                      int64_t(entry.last_write_time().time_since_epoch().count())};
    }
    return files;
  };
  auto before = snapshot();
  CliResult again = Expect(1, dir(), {"demo", "--data", "twice", "--projects", "1"});
  EXPECT_NE(again.err.find("ledger_exists"), std::string::npos) << again.err;
  EXPECT_EQ(snapshot(), before);
  Expect(0, dir(), {"verify", "--data", "twice"});
}

TEST_F(DemoTest, BadSizeIsBadUsage) {
  Expect(2, dir(), {"demo", "--data", "bad", "--projects", "0"});
  Expect(2, dir(), {"demo", "--data", "bad", "--projects", "100001"});
  EXPECT_FALSE(fs::exists(path() / "bad"));
}

}  // namespace
}  // namespace fundledger

namespace fundledger {
namespace {

// What a command writes when its output is a terminal: run under script(1), which gives it a
// pseudo-terminal and copies everything written there to our pipe.
std::string OnATerminal(const std::string& command) {
  std::string line = "script -qec '" + command + "' /dev/null 2>&1";
  FILE* pipe = popen(line.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  pclose(pipe);
  return out;
}

// Long runs (demo, import, verify, replay) redraw a progress line on a terminal, and write none
// when their output goes elsewhere.
TEST(ProgressTest, LongRunsShowProgressOnATerminalAndStayQuietOtherwise) {
  TestDir dir;
  std::string data = (dir.path() / "d").string();
  std::string bin = FL_BINARY;
  std::string csv = (dir.path() / "receipts.csv").string();
  {
    std::ofstream out(csv);
    out << "id,occurred_on,to,to_kind,category,source_org,channel,amount_fen\n"
        << "late-1,2026-11-02,xt-finance,pool,municipal,xt-finance,transfer,100\n"
        << "late-2,2026-11-02,xt-finance,pool,municipal,xt-finance,transfer,200\n";
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> runs = {
      {"demo:", {"demo", "--data", data, "--projects", "2"}},
      {"importing",
       {"import", "--data", data, "--type", "receipts", "--key", data + "/keys/xt-finance.key",
        "--signer", "xt-finance", csv}},
      {"verifying", {"verify", "--data", data}},
      {"replaying", {"replay", "--data", data}}};
  for (const auto& [label, args] : runs) {
    CliResult quiet = RunBinary(bin, dir, args);
    EXPECT_EQ(quiet.exit_code, 0) << label << "\n" << Describe(quiet);
    EXPECT_EQ(quiet.err.find('\r'), std::string::npos) << label << "\n" << Describe(quiet);
    EXPECT_EQ(quiet.err.find(label), std::string::npos) << label << "\n" << Describe(quiet);
  }
  for (const auto& [label, args] : std::vector(runs.begin() + 1, runs.end())) {
    std::string command = bin;
    for (const std::string& a : args) command += " " + a;
    std::string shown = OnATerminal(command);
    EXPECT_NE(shown.find(label), std::string::npos) << command << "\n" << shown;
    EXPECT_NE(shown.find('\r'), std::string::npos) << command << "\n" << shown;
  }
}

}  // namespace
}  // namespace fundledger
