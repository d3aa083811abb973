// `fundledger export` and `verify-export` on a demo ledger, run as their users run them, and the
// same bundle served by `fundledger serve` under /v1/public/export/. The bundles must verify;
// every changed byte of every file must fail naming the file and the line; no contributor_ref
// may leave the ledger; and the figures must be those of the views.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "api/bundle.h"
#include "api/client.h"
#include "api/verify_export.h"
#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "crypto/note.h"
#include "ledger/fund_rules.h"
#include "ledger/key_file.h"
#include "ledger/rules.h"
#include "ledger/storage_format.h"
#include "tests/ledger/fund_events.h"
#include "tests/tools/test_dir.h"

namespace fundledger {
namespace {

using nlohmann::json;
using test::CliResult;
using test::JsonLines;
using test::ReadFile;
using test::TestDir;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One demo ledger for the whole suite (building it is the slow part), with one resident
// receipt that names a household reversed, and the bundles exported from it.
class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir();
    Run(0, {"demo", "--data", "ledger", "--seed", "1", "--projects", "10"});
    records_ = JsonLines(Run(0, {"log", "--data", "ledger", "--limit", "100000"}).out);
    ReverseOneWithheldReceipt();
    Run(0, {"export", "--data", "ledger", "--project", project_, "--out", "bundle"});
    Run(0, {"export", "--data", "ledger", "--region", "", "--out", "all"});
    records_ = JsonLines(Run(0, {"log", "--data", "ledger", "--limit", "100000"}).out);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static CliResult Run(int expected, const std::vector<std::string>& args,
                       const std::string& input = "") {
    return test::ExpectExit(FL_BINARY, *dir_, expected, args, input);
  }

  // In an open project, the street office records two receipts that name a household (with a
  // contributor_ref) and reverses the first.
  static void ReverseOneWithheldReceipt() {
    std::map<std::string, std::string> phase;
    for (const json& r : records_) {
      const json& e = r["envelope"]["event"];
      if (e["type"] == "project_status") phase[e["project"]] = e["status"];
    }
    std::string today = FormatDate(BusinessDay(NowMs()));
    for (const json& r : records_) {
      const json& e = r["envelope"]["event"];
      if (e["type"] != "funds_received" || e["category"] != "resident" ||
          e["to_kind"] != "project" || phase[e["to"]] == "settled" ||
          phase[e["to"]] == "cancelled") {
        continue;
      }
      project_ = e["to"];
      reversed_ = project_ + ".household-1";
      std::string lines;
      for (int i = 1; i <= 2; ++i) {
        json receipt = {{"id", project_ + ".household-" + std::to_string(i)},
                        {"type", "funds_received"},
                        {"occurred_on", today},
                        {"to", project_},
                        {"to_kind", "project"},
                        {"category", "resident"},
                        {"source_org", e["source_org"]},
                        {"channel", "donation"},
                        {"amount_fen", 10000 * i + 45},
                        {"households", 1},
                        {"contributor_ref", std::string(63, 'a') + char('0' + i)}};
        lines += receipt.dump() + "\n";
      }
      json reversal = {{"id", reversed_ + ".fix"},
                       {"type", "event_reversed"},
                       {"occurred_on", today},
                       {"target", reversed_}};
      lines += reversal.dump() + "\n";
      std::string key = "ledger/keys/" + r["envelope"]["signer"].get<std::string>() + ".key";
      Run(0, {"submit", "--data", "ledger", "--key", key, "-"}, lines);
      return;
    }
    FAIL() << "no open project with residents' money";
  }

  static std::map<std::string, std::string> Files(const std::string& bundle) {
    std::map<std::string, std::string> files;
    for (const char* name : kBundleFiles) files[name] = ReadFile(*dir_ / (bundle + "/" + name));
    return files;
  }

  // The project bundle, its residents.txt replaced by `statement` (a signed note), verified.
  static Status VerifyWithStatement(const std::string& statement) {
    auto files = Files("bundle");
    files["residents.txt"] = statement;
    ExportSummary summary;
    return VerifyBundleFiles(files, LogKey(), &summary);
  }

  static NoteVerifier LogKey() {
    NoteVerifier key;
    Status s = ReadPublicKey(*dir_ / "ledger/keys/log.pub", &key);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return key;
  }

  static json View(const std::string& view, const std::string& flag, const std::string& id) {
    return json::parse(
        Run(0, {"show", view, "--data", "ledger", flag, id, "--format", "json"}).out);
  }

  static inline TestDir* dir_ = nullptr;
  static inline std::vector<json> records_;
  static inline std::string project_, reversed_;
};

TEST_F(ExportTest, BundlesOfAProjectAndOfTheWholeLedgerVerify) {
  for (const char* bundle : {"bundle", "all"}) {
    CliResult r = Run(0, {"verify-export", bundle, "--log-key", "ledger/keys/log.pub"});
    EXPECT_NE(r.out.find("ok: "), std::string::npos) << r.out;
  }
  ExportSummary summary;
  Status s = VerifyBundleFiles(Files("bundle"), LogKey(), &summary);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(summary.scope.id, project_);
  EXPECT_GT(summary.withheld, 0u);
  EXPECT_GT(summary.published, 50u);
}

TEST_F(ExportTest, NoContributorRefLeavesTheLedger) {
  std::set<std::string> refs;
  for (const json& r : records_) {
    const json& e = r["envelope"]["event"];
    if (e.contains("contributor_ref")) refs.insert(e["contributor_ref"]);
  }
  ASSERT_GT(refs.size(), 5u);
  for (const char* bundle : {"bundle", "all"}) {
    for (const auto& [name, content] : Files(bundle)) {
      for (const std::string& ref : refs) {
        EXPECT_EQ(content.find(ref), std::string::npos) << bundle << "/" << name;
      }
      EXPECT_EQ(content.find("\"contributor_ref\""), std::string::npos) << bundle << "/" << name;
    }
    // A withheld line carries neither the record nor the event.
    size_t withheld = 0;
    for (const json& line : JsonLines(Files(bundle)["events.jsonl"])) {
      if (!line.contains("withheld")) continue;
      ++withheld;
      EXPECT_FALSE(line.contains("record") || line.contains("envelope")) << line.dump();
    }
    EXPECT_GT(withheld, 0u) << bundle;
  }
}

// The bundle's totals are the views' figures for the same scope at the same checkpoint.
TEST_F(ExportTest, FiguresAreThoseOfTheViews) {
  for (const auto& [bundle, flag, id] :
       {std::tuple<std::string, std::string, std::string>{"bundle", "--project", project_},
        {"all", "--region", ""}}) {
    json package = json::parse(Files(bundle)["project.json"]);
    json balance = View("balance", flag, id);
    const json& totals = package["totals"];
    const json& t = balance["total"];
    int64_t money_in = t["received_fen"].get<int64_t>() + t["allocated_in_fen"].get<int64_t>();
    EXPECT_EQ(totals["moneyInFen"], money_in) << bundle;
    EXPECT_EQ(totals["disbursedFen"], t["disbursed_fen"]) << bundle;
    EXPECT_EQ(totals["refundedFen"], t["refunded_fen"]) << bundle;
    EXPECT_EQ(totals["availableFen"], t["available_fen"]) << bundle;
    for (const auto& [category, figures] : balance["categories"].items()) {
      int64_t in =
          figures["received_fen"].get<int64_t>() + figures["allocated_in_fen"].get<int64_t>();
      int64_t shown = totals["byCategory"].contains(category)
                          ? totals["byCategory"][category]["moneyInFen"].get<int64_t>()
                          : 0;
      EXPECT_EQ(shown, in) << bundle << " " << category;
    }
    // The CSV totals: the last row of each.
    std::string funding = Files(bundle)["funding.csv"];
    EXPECT_EQ(funding.substr(0, 3), "\xEF\xBB\xBF");
    EXPECT_NE(funding.find("合计 total,,,,,,,,"), std::string::npos);
    EXPECT_NE(funding.find("," + std::to_string(money_in) + ","), std::string::npos) << bundle;
    json disbursements = View("disbursements", flag, id);
    std::string paid = Files(bundle)["disbursements.csv"];
    std::string last = paid.substr(paid.rfind("合计"));
    EXPECT_NE(last.find("(" + disbursements["count"].dump() + ", reversed ones left out)"),
              std::string::npos)
        << last;
    EXPECT_NE(last.find("," + disbursements["total_fen"].dump() + ","), std::string::npos) << last;
  }
}

// residents.txt sums the household receipts per project, source and channel, net of the
// reversal, and lists every withheld leaf.
TEST_F(ExportTest, ResidentSumsAreNetOfReversals) {
  std::map<std::string, std::pair<int64_t, int64_t>> expected;  // channel -> fen, households
  size_t withheld = 0;
  for (const json& r : records_) {
    const json& e = r["envelope"]["event"];
    if (!e.contains("contributor_ref") || e["to"] != project_) continue;
    ++withheld;
    if (e["id"] == reversed_) continue;
    expected[e["channel"]].first += e["amount_fen"].get<int64_t>();
    expected[e["channel"]].second += e["households"].get<int64_t>();
  }
  std::string text = Files("bundle")["residents.txt"];
  std::regex line("residents (\\S+) (\\S+) (\\S+) (\\d+) (\\d+) (\\d+)\n");
  std::map<std::string, std::pair<int64_t, int64_t>> found;
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) {
    EXPECT_EQ((*it)[1], project_);
    found[(*it)[3]] = {std::stoll((*it)[4]), std::stoll((*it)[5])};
  }
  EXPECT_EQ(found, expected);
  size_t listed = 0;
  for (size_t at = text.find("\nwithheld "); at != std::string::npos;
       at = text.find("\nwithheld ", at + 1)) {
    ++listed;
  }
  EXPECT_EQ(listed, withheld);
  EXPECT_NE(text.find(" " + reversed_ + "\n"), std::string::npos);
  // What is summed is household payments (户次), not households: a household that pays twice
  // counts twice, so the files do not call the sum households.
  EXPECT_NE(Files("bundle")["funding.csv"].find(",户次 household_payments,"), std::string::npos);
  EXPECT_EQ(Files("bundle")["funding.csv"].find("户数"), std::string::npos);
  json record = json::parse(Files("bundle")["project.json"])["projects"][0];
  ASSERT_FALSE(record["residentContributions"].empty()) << record.dump();
  for (const json& c : record["residentContributions"]) {
    EXPECT_TRUE(c.contains("householdPayments")) << c.dump();
    EXPECT_FALSE(c.contains("households")) << c.dump();
  }
}

// The line (1-based) that holds byte `at`.
size_t LineOf(const std::string& text, size_t at) {
  return size_t(std::count(text.begin(), text.begin() + long(at), '\n')) + 1;
}

// Every file, byte by byte where it is small and at about 100 evenly spread places where it
// is large (the first and last bytes and line ends among them): the bundle with one
// byte changed never verifies, and the error names the file and, where the file is rendered
// from the events, the very line.
TEST_F(ExportTest, EveryChangedByteFailsNamingTheFileAndLine) {
  const std::map<std::string, std::string> files = Files("bundle");
  const NoteVerifier key = LogKey();
  ExportSummary summary;
  ASSERT_TRUE(VerifyBundleFiles(files, key, &summary).ok());
  size_t tried = 0;
  for (const auto& [name, content] : files) {
    bool note = name == "checkpoint.txt" || name == "residents.txt";
    std::vector<size_t> positions;
    size_t step = content.size() <= 1024 ? 1 : content.size() / 80;
    for (size_t at = 0; at < content.size(); at += step) positions.push_back(at);
    positions.push_back(content.size() - 1);
    for (size_t nl = content.find('\n'); nl != std::string::npos;
         nl = content.find('\n', nl + 1 + content.size() / 20)) {
      positions.push_back(nl);
    }
    for (size_t at : positions) {
      uint8_t flip = tried % 2 ? 0x20 : 0x01;
      std::map<std::string, std::string> changed = files;
      changed[name][at] = char(uint8_t(content[at]) ^ flip);
      Status s = VerifyBundleFiles(changed, key, &summary);
      ++tried;
      ASSERT_FALSE(s.ok()) << name << " byte " << at << " ^ " << int(flip) << " verified";
      ASSERT_EQ(s.field(), name) << s.ToString();
      std::string expected = name + " line ";
      if (!note) expected += std::to_string(LineOf(content, at)) + ":";
      ASSERT_EQ(s.message().substr(0, expected.size()), expected)
          << "byte " << at << " ^ " << int(flip) << ": " << s.ToString();
    }
  }
  EXPECT_GT(tried, 1000u);
}

TEST_F(ExportTest, TheCommandLineNamesTheFileAndLine) {
  Run(0, {"export", "--data", "ledger", "--project", project_, "--out", "changed"});
  std::string funding = ReadFile(*dir_ / "changed/funding.csv");
  size_t third = funding.find('\n', funding.find('\n') + 1) + 1;  // line 3
  size_t digit = funding.find_first_of("123456789", funding.find(",\"", third) + 2);
  funding[digit] = funding[digit] == '9' ? '8' : char(funding[digit] + 1);
  test::WriteFile(*dir_ / "changed/funding.csv", funding);
  CliResult r = Run(1, {"verify-export", "changed", "--log-key", "ledger/keys/log.pub"});
  EXPECT_NE(r.err.find("funding.csv line 3:"), std::string::npos) << r.err;

  // A key that is not the log's.
  r = Run(1, {"verify-export", "bundle", "--log-key", "ledger/keys/operator.pub"});
  EXPECT_NE(r.err.find("checkpoint.txt line 5:"), std::string::npos) << r.err;

  // The log's key with the log's origin pinned: another log signed by the same key is refused.
  const std::string checkpoint = ReadFile(*dir_ / "bundle/checkpoint.txt");
  const std::string origin = checkpoint.substr(0, checkpoint.find('\n'));
  Run(0, {"verify-export", "bundle", "--log-key", "ledger/keys/log.pub", "--origin", origin});
  r = Run(1, {"verify-export", "bundle", "--log-key", "ledger/keys/log.pub", "--origin",
              origin + "/staging"});
  EXPECT_NE(r.err.find("checkpoint.txt line 1: the checkpoint is of the log \"" + origin + "\""),
            std::string::npos)
      << r.err;

  // The scope asked for: a bundle of another scope verifies as itself, and is refused for it.
  Run(0, {"verify-export", "bundle", "--log-key", "ledger/keys/log.pub", "--project", project_});
  Run(0, {"verify-export", "all", "--log-key", "ledger/keys/log.pub", "--region", ""});
  r = Run(1, {"verify-export", "all", "--log-key", "ledger/keys/log.pub", "--project", project_});
  EXPECT_NE(r.err.find("residents.txt line 2: the bundle is of region \"\", not of project \"" +
                       project_ + "\" (--project)"),
            std::string::npos)
      << r.err;
  r = Run(1, {"verify-export", "bundle", "--log-key", "ledger/keys/log.pub", "--region", ""});
  EXPECT_NE(r.err.find("residents.txt line 2: the bundle is of project"), std::string::npos)
      << r.err;
  Run(2, {"verify-export", "bundle", "--log-key", "ledger/keys/log.pub", "--region", "",
          "--project", project_});

  // A tree size seen before: the bundle of an earlier checkpoint is refused.
  const size_t at = checkpoint.find('\n') + 1;
  const std::string size = checkpoint.substr(at, checkpoint.find('\n', at) - at);
  Run(0, {"verify-export", "bundle", "--log-key", "ledger/keys/log.pub", "--size-min", size});
  r = Run(1, {"verify-export", "bundle", "--log-key", "ledger/keys/log.pub", "--size-min",
              std::to_string(std::stoull(size) + 1)});
  EXPECT_NE(r.err.find("checkpoint.txt line 2: the checkpoint is at tree size " + size +
                       ", before " + std::to_string(std::stoull(size) + 1) + " (--size-min)"),
            std::string::npos)
      << r.err;
}

TEST_F(ExportTest, MissingExtraAndOversizedFilesFail) {
  const NoteVerifier key = LogKey();
  ExportSummary summary;
  auto files = Files("bundle");
  files.erase("funding.csv");
  Status s = VerifyBundleFiles(files, key, &summary);
  EXPECT_EQ(s.field(), "funding.csv") << s.ToString();
  files = Files("bundle");
  files["notes.txt"] = "added";
  s = VerifyBundleFiles(files, key, &summary);
  EXPECT_EQ(s.field(), "notes.txt") << s.ToString();
  files = Files("bundle");
  files["events.jsonl"] = std::string(kBundleLineBytesMax + 1, '{') + "\n";
  s = VerifyBundleFiles(files, key, &summary);
  EXPECT_EQ(s.message(), "events.jsonl line 1: the line is too long") << s.ToString();
  files = Files("bundle");
  files["README.txt"] = std::string(kBundleTextBytesMax + 1, ' ');
  s = VerifyBundleFiles(files, key, &summary);
  EXPECT_EQ(s.message(), "README.txt line 1: the file is too large") << s.ToString();

  Run(0, {"export", "--data", "ledger", "--project", project_, "--out", "extra"});
  test::WriteFile(*dir_ / "extra/notes.txt", "added");
  CliResult r = Run(1, {"verify-export", "extra", "--log-key", "ledger/keys/log.pub"});
  EXPECT_NE(r.err.find("notes.txt line 1: not a file of a bundle"), std::string::npos) << r.err;
}

// The peak of this process's resident memory (VmHWM), in bytes.
size_t PeakResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return size_t(std::stoull(line.substr(6))) * 1024;
  }
  return 0;
}

// A bundle whose notes the log key did not sign fails before its large files are read: a
// reader who downloaded a bundle of nearly 2 GiB from someone else spends no memory on it.
TEST_F(ExportTest, ABundleTheLogKeyDidNotSignFailsBeforeItsLargeFilesAreRead) {
  Run(0, {"export", "--data", "ledger", "--project", project_, "--out", "large"});
  const std::string events = *dir_ / "large/events.jsonl";
  std::filesystem::resize_file(events, kBundleEventsBytesMax - 1);  // sparse: no disk taken
  NoteVerifier other;
  ASSERT_TRUE(ReadPublicKey(*dir_ / "ledger/keys/operator.pub", &other).ok());
  const size_t peak_before = PeakResidentBytes();
  ASSERT_GT(peak_before, 0u);
  ExportSummary summary;
  Status s = VerifyBundleDir(*dir_ / "large", other, &summary);
  EXPECT_EQ(s.field(), "checkpoint.txt") << s.ToString();
  EXPECT_LT(PeakResidentBytes(), peak_before + (256 << 20));
  std::filesystem::remove_all(*dir_ / "large");
}

// Of a bundle the log key did sign, the files rendered from the records are read no further
// than what the records add up to: grown to their limits (512 MiB each for the tables), they
// cost no memory, and the first line that differs is named as before.
TEST_F(ExportTest, FilesLargerThanWhatTheRecordsAddUpToAreNotReadWhole) {
  Run(0, {"export", "--data", "ledger", "--project", project_, "--out", "grown"});
  const auto original = Files("grown");
  for (const char* name : {"project.json", "funding.csv", "disbursements.csv"}) {
    std::filesystem::resize_file(*dir_ / ("grown/" + std::string(name)), kBundleTableBytesMax);
  }
  std::filesystem::resize_file(*dir_ / "grown/README.txt", kBundleTextBytesMax);
  const size_t peak_before = PeakResidentBytes();
  ASSERT_GT(peak_before, 0u);
  ExportSummary summary;
  Status s = VerifyBundleDir(*dir_ / "grown", LogKey(), &summary);
  EXPECT_EQ(s.code(), "export_invalid") << s.ToString();
  // The first of them compared, where its rendered content ends.
  ASSERT_TRUE(original.count(s.field()) && s.field() != "events.jsonl") << s.ToString();
  const std::string& content = original.at(s.field());
  const size_t lines = size_t(std::count(content.begin(), content.end(), '\n'));
  EXPECT_NE(s.message().find(s.field() + " line " + std::to_string(lines + 1) + ":"),
            std::string::npos)
      << s.ToString();
  EXPECT_LT(PeakResidentBytes(), peak_before + (64 << 20));
  // Put back, each verifies; one byte more at the end of README.txt is named too.
  for (const auto& [name, content] : original) test::WriteFile(*dir_ / ("grown/" + name), content);
  EXPECT_TRUE(VerifyBundleDir(*dir_ / "grown", LogKey(), &summary).ok());
  test::WriteFile(*dir_ / "grown/README.txt", original.at("README.txt") + "x");
  s = VerifyBundleDir(*dir_ / "grown", LogKey(), &summary);
  EXPECT_EQ(s.field(), "README.txt") << s.ToString();
  std::filesystem::remove_all(*dir_ / "grown");
}

// Signatures are checked with the keys of the bundle's registry events: a bundle rendered
// without the registration of a signer (every other file consistent with that) fails on the
// signatures of its events.
// The input a bundle's files were rendered from, read back from them, without the lines of
// events.jsonl that `drop` picks.
BundleInput ReadInput(const std::map<std::string, std::string>& files, const NoteVerifier& key,
                      const std::function<bool(const json& line)>& drop) {
  BundleInput input;
  input.checkpoint_note = files.at("checkpoint.txt");
  input.residents_note = files.at("residents.txt");
  std::string text;
  EXPECT_TRUE(OpenNote(input.checkpoint_note, key, &text).ok());
  EXPECT_TRUE(ParseCheckpointBody(text, &input.checkpoint).ok());
  EXPECT_TRUE(OpenNote(input.residents_note, key, &text).ok());
  EXPECT_TRUE(ParseResidentsStatement(text, &input.residents).ok());
  input.scope = input.residents.scope;
  input.log_key = FormatVerifierKey(key.name, key.key);
  for (const json& line : JsonLines(files.at("events.jsonl"))) {
    if (drop(line)) continue;
    BundleRecord r;
    r.seq = line["seq"];
    std::vector<uint8_t> bytes;
    EXPECT_TRUE(Base64Decode(line["leaf_hash"].get<std::string>(), &bytes).ok());
    std::copy(bytes.begin(), bytes.end(), r.leaf_hash.begin());
    for (const json& h : line["proof"]) {
      EXPECT_TRUE(Base64Decode(h.get<std::string>(), &bytes).ok());
      std::copy(bytes.begin(), bytes.end(), r.proof.emplace_back().begin());
    }
    if (line.contains("record")) {
      EXPECT_TRUE(Base64Decode(line["record"].get<std::string>(), &bytes, 1 << 20).ok());
      r.bytes.assign(bytes.begin(), bytes.end());
    }
    input.records.push_back(std::move(r));
  }
  return input;
}

// The statement of `input` made again over its records and signed by the log key, as a log that
// signs what it is given would.
void SignStatementAgain(const std::filesystem::path& ledger, BundleInput* input) {
  RecordsDigest digest;
  for (const BundleRecord& r : input->records) digest.Add(r.seq, r.leaf_hash);
  input->residents.records = digest.count();
  input->residents.records_digest = digest.Finish();
  NoteSigner log_signer;
  ASSERT_TRUE(ReadSecretKeyFile(ledger / storage::kLogKeyFile, &log_signer).ok());
  ASSERT_TRUE(
      SignNote(FormatResidentsStatement(input->residents), log_signer, &input->residents_note)
          .ok());
}

Status VerifyRendered(const BundleInput& input, const NoteVerifier& key) {
  std::vector<BundleFile> rendered;
  Status s = RenderBundle(input, &rendered);
  if (!s.ok()) return s;
  std::map<std::string, std::string> files;
  for (BundleFile& f : rendered) files[f.name] = std::move(f.content);
  ExportSummary summary;
  return VerifyBundleFiles(files, key, &summary);
}

TEST_F(ExportTest, TheStatementHasOneWrittenForm) {
  std::string text;
  ASSERT_TRUE(OpenNote(Files("bundle")["residents.txt"], LogKey(), &text).ok());
  ResidentsStatement statement;
  ASSERT_TRUE(ParseResidentsStatement(text, &statement).ok());
  EXPECT_GT(statement.records, statement.withheld.size());
  // Formatted again, it parses to the same statement and the same text.
  ResidentsStatement again;
  ASSERT_TRUE(ParseResidentsStatement(FormatResidentsStatement(statement), &again).ok());
  EXPECT_TRUE(again == statement);
  EXPECT_EQ(FormatResidentsStatement(again), text);
  // A statement of the first version (no records line) or a malformed records line is refused,
  // naming the line.
  std::string v1 = std::regex_replace(text, std::regex("/v2\n"), "/v1\n");
  EXPECT_EQ(ParseResidentsStatement(v1, &again).code(), "bad_residents_statement");
  std::string no_records = std::regex_replace(text, std::regex("records [^\n]*\n"), "");
  Status s = ParseResidentsStatement(no_records, &again);
  EXPECT_EQ(s.code(), "bad_residents_statement");
  EXPECT_NE(s.message().find("line 6: records COUNT DIGEST"), std::string::npos) << s.ToString();
  // Resident sums within what a ledger can hold, each line and all of them together: no figure
  // the verifier adds up from them can overflow.
  ASSERT_FALSE(statement.totals.empty());
  const size_t first_line = 7 + statement.withheld.size();
  ResidentsStatement large = statement;
  large.totals.resize(1);
  large.totals[0].amount_fen = 1'000'000'000'000'000'001;
  s = ParseResidentsStatement(FormatResidentsStatement(large), &again);
  EXPECT_EQ(s.code(), "bad_residents_statement");
  EXPECT_NE(s.message().find("line " + std::to_string(first_line) + ": residents PROJECT"),
            std::string::npos)
      << s.ToString();
  large.totals[0].amount_fen = 600'000'000'000'000'000;
  large.totals.push_back(large.totals[0]);
  large.totals[1].channel = "z" + large.totals[1].channel;
  s = ParseResidentsStatement(FormatResidentsStatement(large), &again);
  EXPECT_NE(
      s.message().find("line " + std::to_string(first_line + 1) + ": the residents lines add"),
      std::string::npos)
      << s.ToString();
  large.totals[1].amount_fen = 400'000'000'000'000'000;
  EXPECT_TRUE(ParseResidentsStatement(FormatResidentsStatement(large), &again).ok());
  large.totals[1].receipts = int64_t(kBundleRecordsMax);
  EXPECT_EQ(ParseResidentsStatement(FormatResidentsStatement(large), &again).code(),
            "bad_residents_statement");
}

// Whoever passes a bundle on cannot leave a line of events.jsonl out, even with every other file
// rendered again to match: residents.txt signs the bundle's records.
TEST_F(ExportTest, ALineLeftOutOfABundleFailsEvenWithTheFilesRenderedAgain) {
  const NoteVerifier key = LogKey();
  auto files = Files("bundle");
  std::string dropped;
  BundleInput input = ReadInput(files, key, [&](const json& line) {
    if (!dropped.empty() || !line.contains("envelope")) return false;
    const json& e = line["envelope"]["event"];
    if (e["type"] != "funds_disbursed") return false;
    dropped = e["id"];
    return true;
  });
  ASSERT_FALSE(dropped.empty());
  // Untouched, the input renders the bundle's own files, which verify.
  {
    BundleInput whole = ReadInput(files, key, [](const json&) { return false; });
    std::vector<BundleFile> rendered;
    ASSERT_TRUE(RenderBundle(whole, &rendered).ok());
    for (const BundleFile& f : rendered) EXPECT_EQ(f.content, files[f.name]) << f.name;
    ASSERT_TRUE(VerifyRendered(whole, key).ok());
  }
  Status s = VerifyRendered(input, key);
  EXPECT_EQ(s.code(), "export_invalid") << dropped << ": " << s.ToString();
  EXPECT_EQ(s.field(), "events.jsonl");
  EXPECT_NE(s.message().find("the log signed in residents.txt"), std::string::npos) << s.ToString();
  // A line added (a record of the log outside the scope, with its proof) fails the same way.
  const json all_lines = JsonLines(Files("all")["events.jsonl"]);
  std::set<uint64_t> in_scope;
  for (const BundleRecord& r : input.records) in_scope.insert(r.seq);
  BundleInput added = ReadInput(files, key, [](const json&) { return false; });
  BundleInput other = ReadInput(Files("all"), key, [&](const json& line) {
    return in_scope.count(line["seq"].get<uint64_t>()) || !line.contains("record");
  });
  ASSERT_FALSE(other.records.empty());
  ASSERT_EQ(other.checkpoint.size, added.checkpoint.size);
  added.records.push_back(other.records.front());
  std::sort(added.records.begin(), added.records.end(),
            [](const BundleRecord& a, const BundleRecord& b) { return a.seq < b.seq; });
  s = VerifyRendered(added, key);
  EXPECT_EQ(s.code(), "export_invalid") << s.ToString();
  EXPECT_EQ(s.field(), "events.jsonl");
}

// The statement's receipts are the withheld records that no event of the bundle reverses: a
// statement that counts one more or one fewer fails, even signed by the log key.
TEST_F(ExportTest, TheStatementsReceiptsAreTheWithheldRecordsNotReversed) {
  const NoteVerifier key = LogKey();
  BundleInput input = ReadInput(Files("bundle"), key, [](const json&) { return false; });
  ASSERT_FALSE(input.residents.totals.empty());
  // Two withheld receipts, one of them reversed (SetUpTestSuite), and the demo's own.
  ASSERT_GE(input.residents.withheld.size(), 2u);
  ASSERT_TRUE(VerifyRendered(input, key).ok());
  for (int64_t change : {+1, -1}) {
    BundleInput changed = input;
    changed.residents.totals[0].receipts += change;
    SignStatementAgain(*dir_ / "ledger", &changed);
    std::vector<BundleFile> rendered;
    EXPECT_EQ(RenderBundle(changed, &rendered).code(), "residents_receipts_mismatch");
    // The bundle with that statement in it: the figures rendered from it would count the
    // receipts it says, so it is the statement that fails, named as such.
    Status s = VerifyWithStatement(changed.residents_note);
    EXPECT_EQ(s.code(), "export_invalid") << change << ": " << s.ToString();
    EXPECT_EQ(s.field(), "residents.txt") << change << ": " << s.ToString();
    EXPECT_NE(s.message().find("the residents lines count"), std::string::npos) << s.ToString();
  }
}

// An event id is a record's alone. A withheld record's id (which the statement gives, as its
// bytes are withheld) that is also a published record's would let a statement signed by the
// log key take that record's reversal or acknowledgement for the withheld one's, and change
// the figures; so would two published records of one id.
TEST_F(ExportTest, NoTwoRecordsOfABundleHaveOneEventId) {
  const NoteVerifier key = LogKey();
  BundleInput input = ReadInput(Files("bundle"), key, [](const json&) { return false; });
  ASSERT_GE(input.residents.withheld.size(), 2u);
  std::string published;
  for (const json& line : JsonLines(Files("bundle")["events.jsonl"])) {
    if (line.contains("envelope") && line["envelope"]["event"]["type"] == "project_registered") {
      published = line["envelope"]["event"]["id"];
    }
  }
  ASSERT_FALSE(published.empty());
  BundleInput taken = input;
  taken.residents.withheld[0].event_id = published;
  SignStatementAgain(*dir_ / "ledger", &taken);
  Status s = VerifyRendered(taken, key);
  EXPECT_EQ(s.code(), "export_invalid") << s.ToString();
  EXPECT_EQ(s.field(), "events.jsonl");
  EXPECT_NE(s.message().find("the event id " + published + " is another record's too"),
            std::string::npos)
      << s.ToString();
  BundleInput twice = input;
  twice.residents.withheld[1].event_id = twice.residents.withheld[0].event_id;
  SignStatementAgain(*dir_ / "ledger", &twice);
  s = VerifyWithStatement(twice.residents_note);
  EXPECT_EQ(s.code(), "export_invalid") << s.ToString();
  EXPECT_EQ(s.field(), "residents.txt");
  EXPECT_NE(s.message().find("residents.txt line " +
                             std::to_string(kResidentsFirstWithheldLine + 1) + ": the event id " +
                             twice.residents.withheld[0].event_id + " is listed twice"),
            std::string::npos)
      << s.ToString();
}

// A published event's amounts are held to the ledger's bounds, so that no figure the bundle
// adds up overflows even if a log published what its rules refuse.
TEST(BundleAmounts, EachAmountAndTheirSumAreWithinTheLedgersBounds) {
  const KeyPair key = KeyPair::Generate();
  auto event = [&](const json& e) {
    SignedEvent signed_event;
    Status s = SignedEvent::Sign(e, "yh-finance", key, &signed_event);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return signed_event;
  };
  uint64_t volume = 0;
  for (uint64_t fen : {uint64_t(0), kAmountFenMax + 1, uint64_t(1) << 63}) {
    SignedEvent paid = event(testing::Disbursed("pay", "p1", "district", fen));
    EXPECT_EQ(BundleAmountsOutOfBounds(paid.event(), &volume), "amount_fen is not 1..10^14 fen")
        << fen;
  }
  EXPECT_EQ(volume, 0u);
  json registered = testing::ProjectRegistration("p1");
  registered["budget"]["enhancement_fen"] = kAmountFenMax + 1;
  EXPECT_EQ(BundleAmountsOutOfBounds(event(registered).event(), &volume),
            "budget.enhancement_fen is over 10^14 fen");
  registered = testing::ProjectRegistration("p1");
  registered["funding_plan"][0]["amount_fen"] = 0;
  EXPECT_EQ(BundleAmountsOutOfBounds(event(registered).event(), &volume),
            "funding_plan[].amount_fen is not 1..10^14 fen");
  // The budget counts once (its plan adds up to it), a movement its amount; all of them
  // together at most 10^18 fen.
  EXPECT_EQ(BundleAmountsOutOfBounds(event(testing::ProjectRegistration("p1")).event(), &volume),
            "");
  EXPECT_EQ(volume, 1'400'000'000u);
  // A plan that does not add up to its budget (the ledger refuses it) counts the larger.
  registered = testing::ProjectRegistration("p1");
  registered["funding_plan"][0]["amount_fen"] = 600'000'001;
  volume = 0;
  EXPECT_EQ(BundleAmountsOutOfBounds(event(registered).event(), &volume), "");
  EXPECT_EQ(volume, 1'400'000'001u);
  volume = kLedgerVolumeFenMax - kAmountFenMax;
  SignedEvent most = event(testing::Disbursed("pay", "p1", "district", kAmountFenMax));
  EXPECT_EQ(BundleAmountsOutOfBounds(most.event(), &volume), "");
  EXPECT_EQ(volume, kLedgerVolumeFenMax);
  SignedEvent one = event(testing::Disbursed("pay", "p1", "district", 1));
  EXPECT_EQ(BundleAmountsOutOfBounds(one.event(), &volume),
            "the events' amounts pass the ledger's bound of 10^18 fen in all");
  EXPECT_EQ(volume, kLedgerVolumeFenMax);
}

// A residents line is of a project the bundle registers and through a channel residents give
// by: another would show money no event of the bundle accounts for, even signed by the log key.
TEST_F(ExportTest, ResidentsLinesAreOfTheBundlesProjectsAndResidentsChannels) {
  const NoteVerifier key = LogKey();
  BundleInput input = ReadInput(Files("bundle"), key, [](const json&) { return false; });
  ASSERT_FALSE(input.residents.totals.empty());
  const size_t line = kResidentsFirstWithheldLine + input.residents.withheld.size();
  for (const auto& [project, channel, what] :
       {std::tuple<std::string, std::string, std::string>{
            "ghost", input.residents.totals[0].channel, "the project ghost is not one the bundle"},
        {input.residents.totals[0].project, "allocation",
         "allocation is not a channel of residents' money"}}) {
    BundleInput changed = input;
    changed.residents.totals[0].project = project;
    changed.residents.totals[0].channel = channel;
    SignStatementAgain(*dir_ / "ledger", &changed);
    std::vector<BundleFile> rendered;
    EXPECT_EQ(RenderBundle(changed, &rendered).code(), "residents_line_invalid");
    Status s = VerifyWithStatement(changed.residents_note);
    EXPECT_EQ(s.code(), "export_invalid") << s.ToString();
    EXPECT_EQ(s.field(), "residents.txt");
    EXPECT_NE(s.message().find("residents.txt line " + std::to_string(line) + ": " + what),
              std::string::npos)
        << s.ToString();
  }
}

// Hands each published record of `input`, decoded, to `edit` as its envelope's JSON; a record
// whose envelope `edit` changes (and returns true) is encoded again from it, with its seq and
// time, as a log that published such an event would hold it (its signature no longer checks).
void EditPublishedEvents(BundleInput* input, const std::function<bool(json* envelope)>& edit) {
  for (BundleRecord& r : input->records) {
    RecordReader reader;
    SignedEvent event;
    if (r.withheld() || !RecordReader::Open(r.bytes, &reader).ok() ||
        !SignedEvent::FromStoredRecord(reader, &event).ok()) {
      continue;
    }
    json envelope = event.ToEnvelopeJson();
    if (!edit(&envelope)) continue;
    SignedEvent edited;
    ASSERT_TRUE(SignedEvent::FromEnvelopeJson(envelope, &edited).ok());
    r.bytes = EncodeRecord(r.seq, reader.record().getRecordedAtMs(), edited).bytes;
  }
}

// project.json carries each phase a project entered, with its day, its document and the
// residents' consent or satisfaction it records (what a resident checks against the consent and
// satisfaction minimums), and an acknowledgement's and a finding's resolution's day and document.
TEST_F(ExportTest, ProjectRecordsCarryPhasesAcknowledgementsAndResolutions) {
  std::map<std::string, json> history;  // project -> its statusHistory as the records have it
  size_t consents = 0, satisfactions = 0, status_documents = 0;
  for (const json& r : records_) {
    const json& e = r["envelope"]["event"];
    if (e["type"] != "project_status") continue;
    json step = {{"status", e["status"]}, {"date", e["occurred_on"]}};
    if (e.contains("doc_ref")) step["docRef"] = e["doc_ref"], ++status_documents;
    if (e.contains("consent_bp")) step["consentBp"] = e["consent_bp"], ++consents;
    if (e.contains("satisfaction_bp"))
      step["satisfactionBp"] = e["satisfaction_bp"], ++satisfactions;
    history[e["project"]].push_back(step);
  }
  ASSERT_GT(consents, 0u);
  ASSERT_GT(satisfactions, 0u);
  ASSERT_GT(status_documents, 0u);
  json package = json::parse(Files("all")["project.json"]);
  ASSERT_EQ(package["projects"].size(), 10u);
  for (const json& p : package["projects"]) {
    json expected = history.count(p["id"]) ? history[p["id"]] : json::array();
    EXPECT_EQ(p["statusHistory"], expected) << p["id"];
  }
  std::map<std::string, json> finding_docs;  // finding -> its doc_ref, or null
  for (const json& r : records_) {
    const json& e = r["envelope"]["event"];
    if (e["type"] == "audit_finding") finding_docs[e["finding"]] = e.value("doc_ref", json());
  }
  size_t findings = 0;
  for (const json& p : package["projects"]) {
    for (const json& f : p["findings"]) {
      ++findings;
      EXPECT_EQ(f.value("docRef", json()), finding_docs.at(f["id"])) << f.dump();
    }
  }
  EXPECT_GT(findings, 0u);

  // An acknowledgement of a payment and a finding's resolution, each given a document.
  const NoteVerifier key = LogKey();
  BundleInput input = ReadInput(Files("all"), key, [](const json&) { return false; });
  std::map<std::string, std::string> dated;  // event id -> its day
  // The documents given: of an acknowledgement of a payment, of another money event of a
  // project, and of a resolution.
  const std::string kPaidDoc = "潭建司确〔2026〕8号", kMovedDoc = "潭财收确〔2026〕5号",
                    kResolvedDoc = "潭住建整改〔2026〕3号";
  std::set<std::string> payments, transactions;
  std::map<std::string, std::string> documented;  // event id -> the document given to it
  std::string finding;
  EditPublishedEvents(&input, [&](json* envelope) {
    json& e = (*envelope)["event"];
    const std::string id = e["id"];
    dated[id] = e["occurred_on"];
    if (e["type"] == "funds_disbursed") payments.insert(id);
    // A receipt of a project's: its source may acknowledge it.
    if (e["type"] == "funds_received" && e["category"] != "resident" && e["to_kind"] == "project") {
      transactions.insert(id);
    }
    std::string doc;
    if (e["type"] == "acknowledged" && payments.count(e["target"]) && !documented.count("paid")) {
      doc = kPaidDoc;
      documented["paid"] = id;
    } else if (e["type"] == "acknowledged" && !transactions.empty() && !documented.count("moved")) {
      // The demo's counterparties acknowledge payments and pools' money: the second
      // acknowledgement is made to acknowledge a project's receipt.
      e["target"] = *transactions.begin();
      doc = kMovedDoc;
      documented["moved"] = id;
    } else if (e["type"] == "finding_resolved" && finding.empty()) {
      doc = kResolvedDoc;
      documented["resolved"] = id;
      finding = e["finding"];
    }
    if (doc.empty()) return false;
    documented[id] = doc;
    e["doc_ref"] = doc;
    return true;
  });
  ASSERT_TRUE(documented.count("paid"));
  ASSERT_TRUE(documented.count("moved"));
  ASSERT_TRUE(documented.count("resolved"));
  std::vector<BundleFile> rendered;
  ASSERT_TRUE(RenderBundle(input, &rendered).ok());
  json changed;
  for (const BundleFile& f : rendered) {
    if (f.name == "project.json") changed = json::parse(f.content);
  }
  std::map<std::string, size_t> shown;  // event id -> the places its document is shown
  size_t resolutions = 0, documents = 0, acknowledged_movements = 0;
  for (const json& p : changed["projects"]) {
    for (const json& t : p["transactions"]) {
      if (!t.contains("acknowledgedBy")) continue;
      const std::string by = t["acknowledgedBy"];
      if (t["type"] != "disbursement") ++acknowledged_movements;
      EXPECT_EQ(t["acknowledgedOn"], dated[by]) << t.dump();
      if (!documented.count(by)) {
        EXPECT_FALSE(t.contains("acknowledgementDocRef")) << t.dump();
        continue;
      }
      ++shown[by];
      EXPECT_EQ(t["acknowledgementDocRef"], documented[by]) << t.dump();
    }
    for (const json& f : p["findings"]) {
      if (f["id"] != finding) continue;
      ++resolutions;
      EXPECT_EQ(f["resolvedOn"], dated[documented["resolved"]]);
      EXPECT_EQ(f["resolutionDocRef"], kResolvedDoc) << f.dump();
    }
    for (const json& d : p["documents"]) {
      if (d["id"] == kPaidDoc || d["id"] == kMovedDoc || d["id"] == kResolvedDoc) {
        ++documents;
        EXPECT_EQ(documented[d["relatedEvents"][0]], d["id"]) << d.dump();
      }
    }
  }
  EXPECT_EQ(shown[documented["paid"]], 1u);
  EXPECT_EQ(shown[documented["moved"]], 1u);
  EXPECT_GT(acknowledged_movements, 0u);
  EXPECT_GE(resolutions, 1u);
  EXPECT_EQ(documents, 2 + resolutions);
}

// The rules refuse texts a spreadsheet reads as a formula; a log that published one anyway (a
// payee's name "=HYPERLINK(...)") gets no CSV files of it, and its bundle does not verify.
TEST_F(ExportTest, ABundleWhoseRecordsHoldAFormulaIsNotRendered) {
  const NoteVerifier key = LogKey();
  BundleInput input = ReadInput(Files("bundle"), key, [](const json&) { return false; });
  std::vector<BundleFile> rendered;
  ASSERT_TRUE(RenderBundle(input, &rendered).ok());
  bool changed = false;
  EditPublishedEvents(&input, [&](json* envelope) {
    if (changed || (*envelope)["event"]["type"] != "funds_disbursed") return false;
    (*envelope)["event"]["payee"]["name"] = "=HYPERLINK(\"http://x.example/\",\"发票\")";
    changed = true;
    return true;
  });
  ASSERT_TRUE(changed);
  Status s = RenderBundle(input, &rendered);
  EXPECT_EQ(s.code(), "text_formula_start") << s.ToString();
  EXPECT_NE(s.message().find("=HYPERLINK("), std::string::npos) << s.ToString();
  EXPECT_TRUE(rendered.empty());
}

TEST_F(ExportTest, SignaturesNeedTheRegistryEventsOfTheBundle) {
  const NoteVerifier key = LogKey();
  // The first registration after the genesis is left out, and the statement signed again by
  // the log key over the records that remain: only the event signatures can catch it.
  std::string removed;
  BundleInput input = ReadInput(Files("bundle"), key, [&](const json& line) {
    if (!removed.empty() || line["seq"] == 1 || !line.contains("envelope") ||
        line["envelope"]["event"]["type"] != "org_registered") {
      return false;
    }
    removed = line["envelope"]["event"]["org"];
    return true;
  });
  ASSERT_FALSE(removed.empty());
  SignStatementAgain(*dir_ / "ledger", &input);
  Status s = VerifyRendered(input, key);
  EXPECT_NE(s.message().find("the signer " + removed + " holds no key"), std::string::npos)
      << removed << ": " << s.ToString();
  EXPECT_EQ(s.field(), "events.jsonl");
}

TEST_F(ExportTest, ExportRefusesBadScopesAndUsedDirectories) {
  CliResult r = Run(1, {"export", "--data", "ledger", "--project", "no-such", "--out", "x1"});
  EXPECT_NE(r.err.find("project_unknown"), std::string::npos) << r.err;
  r = Run(2, {"export", "--data", "ledger", "--region", "Hunan", "--out", "x2"});
  EXPECT_NE(r.err.find("bad_region"), std::string::npos) << r.err;
  r = Run(2, {"export", "--data", "ledger", "--project", project_, "--out", "bundle"});
  EXPECT_NE(r.err.find("export_dir_not_empty"), std::string::npos) << r.err;
  Run(2, {"export", "--data", "ledger", "--out", "x3"});
  Run(2, {"export", "--data", "ledger", "--project", project_, "--region", "", "--out", "x4"});
}

// A scope whose households paid in their own names many times: residents.txt lists a line per
// withheld receipt, past the 1 MiB that other signed notes may hold (about 12,000 receipts),
// and the bundle is exported and verifies. (It was refused: "bad_note: text is too long".)
TEST_F(ExportTest, AScopeOfManyWithheldReceiptsIsExportedAndVerifies) {
  // A copy of the suite's ledger (closed: every command opens and closes it).
  std::filesystem::copy(*dir_ / "ledger", *dir_ / "many", std::filesystem::copy_options::recursive);
  std::vector<json> records = JsonLines(Run(0, {"log", "--data", "many", "--limit", "100000"}).out);
  std::map<std::string, std::string> phase;
  for (const json& r : records) {
    const json& e = r["envelope"]["event"];
    if (e["type"] == "project_status") phase[e["project"]] = e["status"];
  }
  std::string project, source, key;
  for (const json& r : records) {
    const json& e = r["envelope"]["event"];
    if (e["type"] == "funds_received" && e["category"] == "resident" && e["to_kind"] == "project" &&
        phase[e["to"]] != "settled" && phase[e["to"]] != "cancelled") {
      project = e["to"];
      source = e["source_org"];
      key = "many/keys/" + r["envelope"]["signer"].get<std::string>() + ".key";
      break;
    }
  }
  ASSERT_FALSE(project.empty()) << "no open project with residents' money";
  constexpr int kReceipts = 15000;  // in submissions of at most 10,000
  const std::string today = FormatDate(BusinessDay(NowMs()));
  for (int from = 0; from < kReceipts; from += 7500) {
    std::string lines;
    for (int i = from; i < from + 7500; ++i) {
      char ref[65];
      snprintf(ref, sizeof(ref), "%064x", i + 1);
      json receipt = {{"id", project + ".instalment-" + std::to_string(i)},
                      {"type", "funds_received"},
                      {"occurred_on", today},
                      {"to", project},
                      {"to_kind", "project"},
                      {"category", "resident"},
                      {"source_org", source},
                      {"channel", "donation"},
                      {"amount_fen", 5000},
                      {"households", 1},
                      {"contributor_ref", std::string(ref)}};
      lines += receipt.dump() + "\n";
    }
    Run(0, {"submit", "--data", "many", "--key", key, "-"}, lines);
  }
  Run(0, {"export", "--data", "many", "--project", project, "--out", "many-bundle"});
  const std::string statement = ReadFile(*dir_ / "many-bundle/residents.txt");
  EXPECT_GT(statement.size(), kNoteBytesMax);
  size_t listed = 0;
  for (size_t at = statement.find("\nwithheld "); at != std::string::npos;
       at = statement.find("\nwithheld ", at + 1)) {
    ++listed;
  }
  EXPECT_GE(listed, size_t(kReceipts));
  CliResult r = Run(0, {"verify-export", "many-bundle", "--log-key", "many/keys/log.pub"});
  EXPECT_NE(r.out.find("withheld"), std::string::npos) << r.out;
}

// `fundledger serve` answers the same bundle under /v1/public/export/, without a signature,
// and a summary whose figures are the views'.
TEST_F(ExportTest, TheServerServesTheSameBundle) {
  std::string url;
  pid_t pid = test::StartServe(FL_BINARY, *dir_, "ledger", &url);
  ASSERT_FALSE(url.empty()) << ReadFile(*dir_ / "serve.out");
  std::string port = url.substr(url.rfind(':') + 1);
  HttpConnection connection(ServerAddress{"127.0.0.1", port, ""});
  auto files = Files("bundle");
  for (const char* name : kBundleFiles) {
    HttpReply reply;
    ASSERT_TRUE(connection
                    .Exchange("GET",
                              "/v1/public/export/" + std::string(name) + "?project=" + project_, "",
                              "", std::nullopt, &reply)
                    .ok());
    EXPECT_EQ(reply.status, 200u) << name << ": " << reply.body;
    EXPECT_EQ(reply.body, files[name]) << name;
  }
  HttpReply reply;
  ASSERT_TRUE(
      connection
          .Exchange("GET", "/v1/public/summary?project=" + project_, "", "", std::nullopt, &reply)
          .ok());
  ASSERT_EQ(reply.status, 200u) << reply.body;
  json summary = json::parse(reply.body);
  json balance = View("balance", "--project", project_);
  json ratios = View("ratios", "--project", project_);
  EXPECT_EQ(summary["money_in"]["total_fen"].get<int64_t>(),
            balance["total"]["received_fen"].get<int64_t>() +
                balance["total"]["allocated_in_fen"].get<int64_t>());
  EXPECT_EQ(summary["progress"]["payment_rate_bp"], ratios["payment_rate_bp"]);
  EXPECT_EQ(summary["checkpoint"]["size"], records_.size());
  for (const char* bad :
       {"/v1/public/export/other.txt?project=x", "/v1/public/export/project.json?project=nope",
        "/v1/public/summary?region=Bad", "/v1/public/summary"}) {
    ASSERT_TRUE(connection.Exchange("GET", bad, "", "", std::nullopt, &reply).ok());
    EXPECT_TRUE(reply.status == 404 || reply.status == 400) << bad << ": " << reply.status;
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace fundledger
