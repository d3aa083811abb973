// Tamper sweep: on a demo ledger, rows sampled from every column family that `fundledger verify`
// checks (records, ids, tree nodes, checkpoints, registry, accounts of every row kind,
// projections of every row kind) are changed one at a time, one bit of one byte of the stored
// value, through RocksDB as an intruder with the files would; `fundledger verify` must exit 1
// and name what was changed: the record's seq, the event whose id row it is, the tree node, the
// checkpoint's size, or the family and key of the state or view row. Then the log is cut at its
// end (by an intruder of growing care) and two records are swapped: the checkpoints, the id rows,
// the state and an auditor's own earlier checkpoint catch each.
//
// The ledger is changed in place and every row put back after its case, so the cases share one
// demo ledger; at the end it verifies again.
//
// FL_TAMPER_SEED replays a sample (the seed is printed); FL_TAMPER_SAMPLES sets the samples per
// family or row kind (default 2; records get more, each level of tree nodes half as many);
// FL_TAMPER_PROJECTS the demo's projects (default 12; the full demo is 60).

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "crypto/ed25519.h"
#include "crypto/encoding.h"
#include "ledger/storage_format.h"
#include "tests/tools/test_dir.h"

namespace fundledger::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A ledger's RocksDB opened directly, every column family, bypassing the journal. Resource type.
class RawDb {
 public:
  explicit RawDb(const std::string& data) {
    const std::string path = (fs::path(data) / storage::kDatabaseDir).string();
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names);
    EXPECT_TRUE(s.ok()) << s.ToString();
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const auto& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    s = rocksdb::DB::Open(rocksdb::DBOptions(), path, families, &handles_, &raw);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(raw);
    for (size_t i = 0; i < handles_.size(); ++i) by_name_[names[i]] = handles_[i];
  }
  ~RawDb() {
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  bool ok() const { return db_ != nullptr; }

  std::string Get(std::string_view family, const std::string& key) {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Family(family), key, &value);
    EXPECT_TRUE(s.ok()) << family << " " << key << ": " << s.ToString();
    return value;
  }
  void Put(std::string_view family, const std::string& key, const std::string& value) {
    rocksdb::Status s = db_->Put(Synced(), Family(family), key, value);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  void Delete(std::string_view family, const std::string& key) {
    rocksdb::Status s = db_->Delete(Synced(), Family(family), key);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Every row of a family, in key order.
  std::vector<std::pair<std::string, std::string>> Rows(std::string_view family) {
    std::vector<std::pair<std::string, std::string>> rows;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Family(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rows.emplace_back(it->key().ToString(), it->value().ToString());
    }
    EXPECT_TRUE(it->status().ok());
    return rows;
  }

 private:
  static rocksdb::WriteOptions Synced() {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    return sync;
  }
  rocksdb::ColumnFamilyHandle* Family(std::string_view name) {
    auto it = by_name_.find(std::string(name));
    EXPECT_NE(it, by_name_.end()) << name;
    return it->second;
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> by_name_;
};

// One changed row and what verify must name.
struct Tamper {
  std::string family;
  std::string key;
  std::string original;
  std::string changed;
  std::string named;       // in verify's message
  uint64_t first_bad = 0;  // verify's first_bad_seq, when one record is at fault
  std::string what() const { return family + " row " + storage::PrintableKey(key); }
};

class TamperSweepTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TestDir();
    seed_ = EnvOr("FL_TAMPER_SEED", std::random_device()());
    per_kind_ = EnvOr("FL_TAMPER_SAMPLES", 2);
    const uint64_t projects = EnvOr("FL_TAMPER_PROJECTS", 12);
    std::cout << "FL_TAMPER_SEED=" << seed_ << " FL_TAMPER_SAMPLES=" << per_kind_
              << " FL_TAMPER_PROJECTS=" << projects << std::endl;
    CliResult demo = RunBinary(FL_BINARY, *dir_,
                               {"demo", "--data", "demo", "--seed", std::to_string(seed_ % 1000),
                                "--projects", std::to_string(projects)});
    ASSERT_EQ(demo.exit_code, 0) << Describe(demo);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(RunBinary(FL_BINARY, *dir_, {"verify", "--data", "demo"}).exit_code, 0);
  }

  std::string data() const { return *dir_ / "demo"; }

  // verify --format json on the demo: its exit status, report and stderr.
  struct Verdict {
    int exit_code = -1;
    json report;
    std::string err;
    std::string text() const { return report.dump() + " " + err; }
  };
  Verdict Verify(const std::string& which = "demo") {
    CliResult r = RunBinary(FL_BINARY, *dir_, {"verify", "--data", which, "--format", "json"});
    Verdict v{r.exit_code, json::parse(r.out, nullptr, false), r.err};
    return v;
  }

  // Applies each tamper alone, runs verify, puts the row back.
  void Sweep(const std::vector<Tamper>& tampers, std::map<std::string, int>* caught) {
    for (const Tamper& t : tampers) {
      {
        RawDb db(data());
        ASSERT_TRUE(db.ok());
        ASSERT_NO_FATAL_FAILURE(db.Put(t.family, t.key, t.changed));
      }
      Verdict v = Verify();
      {
        RawDb db(data());
        ASSERT_TRUE(db.ok());
        ASSERT_NO_FATAL_FAILURE(db.Put(t.family, t.key, t.original));
      }
      SCOPED_TRACE(t.what() + ", FL_TAMPER_SEED=" + std::to_string(seed_));
      const std::string message = v.report.is_object() && v.report.contains("error")
                                      ? v.report["error"].value("message", "")
                                      : "";
      const bool named =
          v.exit_code == 1 && message.find(t.named) != std::string::npos &&
          v.err.find(t.named) != std::string::npos &&
          (t.first_bad == 0 || v.report.value("first_bad_seq", json()) == json(t.first_bad));
      EXPECT_TRUE(named) << "verify does not name \"" << t.named << "\""
                         << (t.first_bad ? " and seq " + std::to_string(t.first_bad) : "")
                         << ": exit " << v.exit_code << " " << v.text();
      if (named) ++(*caught)[t.family];
    }
  }

  static TestDir* dir_;
  static uint64_t seed_;
  static uint64_t per_kind_;
};

TestDir* TamperSweepTest::dir_ = nullptr;
uint64_t TamperSweepTest::seed_ = 0;
uint64_t TamperSweepTest::per_kind_ = 2;

// `n` rows of `rows` drawn without replacement.
template <typename Row>
std::vector<Row> Draw(std::vector<Row> rows, size_t n, std::mt19937_64& rng) {
  std::shuffle(rows.begin(), rows.end(), rng);
  if (rows.size() > n) rows.resize(n);
  return rows;
}

// One bit of one byte of `value` flipped; an empty value (an index row) gets one byte.
std::string Flip(const std::string& value, std::mt19937_64& rng) {
  if (value.empty()) return std::string(1, char(1 + rng() % 255));
  std::string changed = value;
  size_t at = rng() % value.size();
  changed[at] = char(changed[at] ^ (1 << (rng() % 8)));
  return changed;
}

TEST_F(TamperSweepTest, OneChangedByteOfAnySampledRowIsNamed) {
  std::mt19937_64 rng(seed_);
  std::vector<Tamper> tampers;
  std::map<std::string, int> sampled;
  {
    RawDb db(data());
    ASSERT_TRUE(db.ok());
    auto add = [&](std::string_view family, const std::pair<std::string, std::string>& row,
                   std::string named, uint64_t first_bad) {
      tampers.push_back({std::string(family), row.first, row.second, Flip(row.second, rng),
                         std::move(named), first_bad});
      ++sampled[std::string(family)];
    };
    // Records: named by seq.
    auto records = db.Rows(storage::kRecordsFamily);
    ASSERT_GT(records.size(), 1000u);
    std::map<uint64_t, std::string> ids_by_seq;
    for (const auto& row : Draw(records, 4 * per_kind_, rng)) {
      uint64_t seq = storage::DecodeU64(row.first);
      add(storage::kRecordsFamily, row, "seq " + std::to_string(seq) + ":", seq);
    }
    // The head record too: it is the one the journal reads when it opens.
    add(storage::kRecordsFamily, records.back(),
        "seq " + std::to_string(storage::DecodeU64(records.back().first)) + ":",
        storage::DecodeU64(records.back().first));
    // Id rows: named by the event and its record's seq.
    for (const auto& row : Draw(db.Rows(storage::kIdsFamily), 2 * per_kind_, rng)) {
      add(storage::kIdsFamily, row, "id " + row.first + " ", storage::DecodeU64(row.second));
    }
    // Tree nodes, of every level: named by level/index and the seq that completes the node.
    std::map<int, std::vector<std::pair<std::string, std::string>>> levels;
    for (auto& row : db.Rows(storage::kTreeFamily)) levels[uint8_t(row.first[0])].push_back(row);
    for (const auto& [level, rows] : levels) {
      for (const auto& row : Draw(rows, std::max<uint64_t>(1, per_kind_ / 2), rng)) {
        uint64_t index = storage::DecodeU64(std::string_view(row.first).substr(1));
        add(storage::kTreeFamily, row,
            "tree node " + std::to_string(level) + "/" + std::to_string(index) + " ",
            (index + 1) << level);
      }
    }
    // Checkpoints: named by size.
    for (const auto& row : Draw(db.Rows(storage::kCheckpointsFamily), 2 * per_kind_, rng)) {
      add(storage::kCheckpointsFamily, row,
          "checkpoint at size " + std::to_string(storage::DecodeU64(row.first)) + ":", 0);
    }
    // The ledger's own description: its format, origin and log key.
    for (const auto& [key, named] : std::vector<std::pair<std::string, std::string>>{
             {std::string(storage::kMetaFormatVersion), "format version"},
             {std::string(storage::kMetaOrigin), "origin"},
             {std::string(storage::kMetaLogVerifierKey), "log key"}}) {
      add(storage::kMetaFamily, {key, db.Get(storage::kMetaFamily, key)}, named, 0);
    }
    // State and views: named by family and key, for every row kind (the key's first byte).
    for (std::string_view family :
         {storage::kRegistryFamily, storage::kAccountsFamily, storage::kProjectionsFamily}) {
      std::map<char, std::vector<std::pair<std::string, std::string>>> kinds;
      for (auto& row : db.Rows(family)) {
        kinds[family == storage::kRegistryFamily ? 'o' : row.first[0]].push_back(row);
      }
      EXPECT_GE(kinds.size(), family == storage::kProjectionsFamily ? 12u
                              : family == storage::kAccountsFamily  ? 5u
                                                                    : 1u)
          << family;
      size_t n = family == storage::kRegistryFamily ? 2 * per_kind_ : per_kind_;
      for (const auto& [kind, rows] : kinds) {
        for (const auto& row : Draw(rows, n, rng)) {
          add(family, row, std::string(family) + " row " + storage::PrintableKey(row.first) + " ",
              0);
        }
      }
    }
  }
  std::map<std::string, int> caught;
  Sweep(tampers, &caught);
  for (const auto& [family, n] : sampled) {
    std::cout << family << ": " << caught[family] << " of " << n << " changed rows named\n";
  }
  std::cout << tampers.size() << " changed rows in all" << std::endl;
  EXPECT_EQ(Verify().exit_code, 0) << "every row was put back";
}

// Regression: a state row that no longer decodes made every open fail, so `verify` could not
// report (nothing on stdout with --format json); a changed origin was reported as records that
// differ from what was signed; a malformed stored log key was not named as such.
TEST_F(TamperSweepTest, UndecodableStateRowsAndTheLedgersDescriptionAreNamed) {
  std::string org, balance;
  {
    RawDb db(data());
    ASSERT_TRUE(db.ok());
    org = db.Rows(storage::kRegistryFamily).back().first;
    for (const auto& [key, value] : db.Rows(storage::kAccountsFamily)) {
      if (key[0] == storage::kBalanceRow) balance = key;
    }
  }
  ASSERT_FALSE(balance.empty());
  const std::string vkey = "operator+00000000+AAAA";
  std::vector<Tamper> tampers = {
      {std::string(storage::kRegistryFamily), org, "", "\x01",
       "registry row " + storage::PrintableKey(org) + " ", 0},
      {std::string(storage::kAccountsFamily), balance, "", "\x01\x02",
       "accounts row " + storage::PrintableKey(balance) + " ", 0},
      {std::string(storage::kMetaFamily), std::string(storage::kMetaOrigin), "", "elsewhere",
       "names the origin", 0},
      {std::string(storage::kMetaFamily), std::string(storage::kMetaLogVerifierKey), "", vkey,
       "stored log key", 0}};
  {
    RawDb db(data());
    ASSERT_TRUE(db.ok());
    for (Tamper& t : tampers) t.original = db.Get(t.family, t.key);
  }
  std::map<std::string, int> caught;
  Sweep(tampers, &caught);
  EXPECT_EQ(caught[std::string(storage::kMetaFamily)], 2);
  EXPECT_EQ(Verify().exit_code, 0) << "every row was put back";
}

// What an intruder must also remove to cut the last `cut` records of a log of `size`: the
// records, then the checkpoints past the new end, then their id rows and tree nodes.
void CutLog(RawDb& db, uint64_t size, uint64_t cut, int care) {
  const uint64_t kept = size - cut;
  for (uint64_t seq = kept + 1; seq <= size; ++seq) {
    db.Delete(storage::kRecordsFamily, storage::EncodeU64(seq));
  }
  if (care < 2) return;
  for (const auto& [key, note] : db.Rows(storage::kCheckpointsFamily)) {
    if (storage::DecodeU64(key) > kept) db.Delete(storage::kCheckpointsFamily, key);
  }
  if (care < 3) return;
  for (const auto& [id, seq] : db.Rows(storage::kIdsFamily)) {
    if (storage::DecodeU64(seq) > kept) db.Delete(storage::kIdsFamily, id);
  }
  for (const auto& [key, hash] : db.Rows(storage::kTreeFamily)) {
    uint64_t index = storage::DecodeU64(std::string_view(key).substr(1));
    if (((index + 1) << uint8_t(key[0])) > kept) db.Delete(storage::kTreeFamily, key);
  }
}

TEST_F(TamperSweepTest, ACutLogIsCaughtByTheCheckpointsTheIdRowsAndTheState) {
  std::mt19937_64 rng(seed_ + 1);
  ASSERT_EQ(RunBinary(FL_BINARY, *dir_, {"checkpoint", "--data", "demo"}).exit_code, 0);
  const uint64_t size = Verify().report.value("size", uint64_t(0));
  ASSERT_GT(size, 100u);
  for (int care = 1; care <= 3; ++care) {
    const uint64_t cut = 1 + rng() % 20;
    SCOPED_TRACE("the last " + std::to_string(cut) + " of " + std::to_string(size) +
                 " records cut, care " + std::to_string(care) +
                 ", FL_TAMPER_SEED=" + std::to_string(seed_));
    const std::string copy = "cut-" + std::to_string(care);
    fs::copy(data(), *dir_ / copy, fs::copy_options::recursive);
    {
      RawDb db(*dir_ / copy);
      ASSERT_TRUE(db.ok());
      ASSERT_NO_FATAL_FAILURE(CutLog(db, size, cut, care));
    }
    Verdict v = Verify(copy);
    EXPECT_EQ(v.exit_code, 1) << v.text();
    const std::string code = v.report.is_object() && v.report.contains("error")
                                 ? v.report["error"].value("code", "")
                                 : "";
    if (care == 1) {
      // The latest checkpoint was signed for records that are gone.
      EXPECT_EQ(code, "records_missing") << v.text();
      EXPECT_NE(v.err.find("covers " + std::to_string(size) + " records"), std::string::npos)
          << v.err;
    } else if (care == 2) {
      // The cut events' id rows still point at their records.
      EXPECT_EQ(code, "record_missing") << v.text();
      EXPECT_EQ(v.report.value("first_bad_seq", json()), json(size - cut + 1)) << v.text();
    } else {
      // The balances and views still hold what the cut events did.
      EXPECT_TRUE(code == "accounts_mismatch" || code == "projections_mismatch" ||
                  code == "registry_mismatch")
          << v.text();
    }
    fs::remove_all(*dir_ / copy);
  }
}

// A ledger replaced whole by an older copy of itself, or by a fork that went on differently,
// verifies on its own: an auditor's checkpoint from before catches both, through a consistency
// proof from its size.
TEST_F(TamperSweepTest, ARolledBackOrForkedLedgerFailsAnAuditorsConsistencyCheck) {
  auto submit = [&](const std::string& data, const std::string& org, bool checkpoint = true) {
    KeySeed seed;
    seed.fill(uint8_t(org.size()));
    json event = {{"id", "reg-" + org},
                  {"type", "org_registered"},
                  {"occurred_on", "2026-11-01"},
                  {"org", org},
                  {"name", org},
                  {"kind", "auditor"},
                  {"level", "none"},
                  {"region", ""},
                  {"public_key", Base64Encode(KeyPair::FromSeed(seed).public_key())}};
    CliResult r =
        RunBinary(FL_BINARY, *dir_,
                  {"submit", "--data", data, "--key", "demo/keys/operator.key", "-"}, event.dump());
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    if (checkpoint) {
      ASSERT_EQ(RunBinary(FL_BINARY, *dir_, {"checkpoint", "--data", data}).exit_code, 0);
    }
  };
  fs::copy(data(), *dir_ / "grown", fs::copy_options::recursive);
  fs::copy(data(), *dir_ / "fork", fs::copy_options::recursive);
  ASSERT_NO_FATAL_FAILURE(submit("grown", "auditor-grown"));
  ASSERT_NO_FATAL_FAILURE(submit("fork", "auditor-fork"));
  // The auditor keeps the grown ledger's checkpoint.
  CliResult held =
      RunBinary(FL_BINARY, *dir_, {"checkpoint", "--data", "grown", "--format", "json"});
  ASSERT_EQ(held.exit_code, 0) << Describe(held);
  json checkpoint = json::parse(held.out);
  const std::string size = std::to_string(checkpoint["size"].get<uint64_t>());
  // Rolled back to the older copy (the demo itself): it verifies, but cannot prove it extends
  // what the auditor holds.
  EXPECT_EQ(Verify().exit_code, 0);
  CliResult older =
      RunBinary(FL_BINARY, *dir_, {"proof", "consistency", "--data", "demo", "--from", size});
  EXPECT_NE(older.exit_code, 0) << Describe(older);
  // The fork has as many records and verifies, but its tree at that size is another.
  EXPECT_EQ(Verify("fork").exit_code, 0);
  CliResult fork =
      RunBinary(FL_BINARY, *dir_,
                {"proof", "consistency", "--data", "fork", "--from", size, "--format", "json"});
  ASSERT_EQ(fork.exit_code, 0) << Describe(fork);
  json proof = json::parse(fork.out);
  EXPECT_EQ(proof["size1"], checkpoint["size"]);
  EXPECT_NE(proof["root1"], checkpoint["root"]) << "the fork's tree is the auditor's";
  // The grown ledger itself passes the same check.
  CliResult same =
      RunBinary(FL_BINARY, *dir_,
                {"proof", "consistency", "--data", "grown", "--from", size, "--format", "json"});
  ASSERT_EQ(same.exit_code, 0) << Describe(same);
  EXPECT_EQ(json::parse(same.out)["root1"], checkpoint["root"]);
  // `verify --checkpoint` makes the same check in one command, with the note as kept: the grown
  // ledger extends it; the rolled-back one holds fewer records; the fork has another tree.
  {
    std::ofstream(*dir_ / "held.note") << checkpoint["note"].get<std::string>();
    auto verify_held = [&](const std::string& data) {
      return RunBinary(FL_BINARY, *dir_,
                       {"verify", "--data", data, "--log-key", "demo/keys/log.pub", "--checkpoint",
                        "held.note", "--format", "json"});
    };
    CliResult grown = verify_held("grown");
    EXPECT_EQ(grown.exit_code, 0) << Describe(grown);
    EXPECT_EQ(json::parse(grown.out, nullptr, false)["held_checkpoints"], 1) << grown.out;
    struct Case {
      const char* data;
      const char* code;
      const char* field;
    };
    for (const Case& c : {Case{"demo", "held_checkpoint_ahead", "size"},
                          Case{"fork", "held_checkpoint_root", "root"}}) {
      CliResult r = verify_held(c.data);
      EXPECT_EQ(r.exit_code, 1) << c.data << ": " << Describe(r);
      json out = json::parse(r.out, nullptr, false);
      EXPECT_EQ(out["ok"], false) << c.data << ": " << r.out;
      EXPECT_EQ(out["error"]["code"], c.code) << c.data << ": " << r.out;
      EXPECT_EQ(out["error"]["field"], c.field) << c.data << ": " << r.out;
    }
    // `checkpoint --checkpoint` makes it before it signs: a ledger that does not extend the held
    // note gets no new checkpoint (the fork's head, one record past its last one, stays unsigned).
    auto checkpoint_held = [&](const std::string& data) {
      return RunBinary(FL_BINARY, *dir_,
                       {"checkpoint", "--data", data, "--log-key", "demo/keys/log.pub",
                        "--checkpoint", "held.note"});
    };
    auto checkpoints = [&](const std::string& data) { return Verify(data).report["checkpoints"]; };
    CliResult extended = checkpoint_held("grown");
    EXPECT_EQ(extended.exit_code, 0) << Describe(extended);
    EXPECT_NE(extended.err.find("extends the held checkpoint held.note"), std::string::npos);
    ASSERT_NO_FATAL_FAILURE(submit("fork", "auditor-fork-2", /*checkpoint=*/false));
    const json fork_checkpoints = checkpoints("fork");
    for (const Case& c : {Case{"demo", "held_checkpoint_ahead", "size"},
                          Case{"fork", "held_checkpoint_root", "root"}}) {
      CliResult r = checkpoint_held(c.data);
      EXPECT_EQ(r.exit_code, 1) << c.data << ": " << Describe(r);
      EXPECT_NE(r.err.find(std::string("held.note: ")), std::string::npos) << Describe(r);
      EXPECT_NE(r.err.find(c.code), std::string::npos) << c.data << ": " << Describe(r);
      EXPECT_EQ(r.out, "");
      // Nor is any record proved under the held note from such a ledger.
      CliResult proof = RunBinary(
          FL_BINARY, *dir_,
          {"proof", "inclusion", "--data", c.data, "--seq", "1", "--checkpoint", "held.note"});
      EXPECT_EQ(proof.exit_code, 1) << c.data << ": " << Describe(proof);
      EXPECT_NE(proof.err.find(c.code), std::string::npos) << c.data << ": " << Describe(proof);
    }
    CliResult proved = RunBinary(FL_BINARY, *dir_,
                                 {"proof", "inclusion", "--data", "grown", "--seq", "1",
                                  "--checkpoint", "held.note", "--format", "json"});
    EXPECT_EQ(proved.exit_code, 0) << Describe(proved);
    EXPECT_EQ(json::parse(proved.out, nullptr, false)["root"], checkpoint["root"]) << proved.out;
    // A copy whose record was changed but not its tree: the tree still extends the note, the
    // record no longer leads to its root.
    fs::copy(*dir_ / "grown", *dir_ / "changed", fs::copy_options::recursive);
    {
      RawDb db(*dir_ / "changed");
      ASSERT_TRUE(db.ok());
      std::string record = db.Get(storage::kRecordsFamily, storage::EncodeU64(2));
      record[record.size() / 2] ^= 1;
      ASSERT_NO_FATAL_FAILURE(db.Put(storage::kRecordsFamily, storage::EncodeU64(2), record));
    }
    CliResult changed_record = RunBinary(
        FL_BINARY, *dir_,
        {"proof", "inclusion", "--data", "changed", "--seq", "2", "--checkpoint", "held.note"});
    EXPECT_EQ(changed_record.exit_code, 1) << Describe(changed_record);
    EXPECT_NE(changed_record.err.find("inclusion_proof_invalid"), std::string::npos)
        << Describe(changed_record);
    EXPECT_EQ(changed_record.out, "");
    EXPECT_EQ(checkpoints("fork"), fork_checkpoints);
    // A note of another log, or changed, is no checkpoint the ledger can extend.
    std::string note = checkpoint["note"].get<std::string>();
    note[note.find('\n') + 1] ^= 1;  // the tree size's first digit
    std::ofstream(*dir_ / "held.note", std::ios::trunc) << note;
    CliResult changed = verify_held("grown");
    EXPECT_EQ(changed.exit_code, 1) << Describe(changed);
    EXPECT_NE(changed.err.find("held.note: "), std::string::npos) << Describe(changed);
  }
  fs::remove_all(*dir_ / "grown");
  fs::remove_all(*dir_ / "fork");
}

TEST_F(TamperSweepTest, TwoSwappedRecordsAreNamed) {
  std::mt19937_64 rng(seed_ + 2);
  const uint64_t size = Verify().report.value("size", uint64_t(0));
  ASSERT_GT(size, 100u);
  for (int i = 0; i < 3; ++i) {
    // Neighbours first, then any two; with their id rows swapped too, so that every id still
    // points at its event.
    uint64_t a = 2 + rng() % (size - 2);
    uint64_t b = i == 0 ? a + 1 : 1 + rng() % size;
    if (a == b) b = a + 1;
    const bool with_ids = i == 2;
    SCOPED_TRACE("records " + std::to_string(a) + " and " + std::to_string(b) + " swapped" +
                 (with_ids ? " with their id rows" : "") +
                 ", FL_TAMPER_SEED=" + std::to_string(seed_));
    const std::string copy = "swapped-" + std::to_string(i);
    fs::copy(data(), *dir_ / copy, fs::copy_options::recursive);
    {
      RawDb db(*dir_ / copy);
      ASSERT_TRUE(db.ok());
      std::string ra = db.Get(storage::kRecordsFamily, storage::EncodeU64(a));
      std::string rb = db.Get(storage::kRecordsFamily, storage::EncodeU64(b));
      db.Put(storage::kRecordsFamily, storage::EncodeU64(a), rb);
      db.Put(storage::kRecordsFamily, storage::EncodeU64(b), ra);
      if (with_ids) {
        for (const auto& [id, seq] : db.Rows(storage::kIdsFamily)) {
          uint64_t s = storage::DecodeU64(seq);
          if (s == a) db.Put(storage::kIdsFamily, id, storage::EncodeU64(b));
          if (s == b) db.Put(storage::kIdsFamily, id, storage::EncodeU64(a));
        }
      }
    }
    Verdict v = Verify(copy);
    EXPECT_EQ(v.exit_code, 1) << v.text();
    EXPECT_EQ(v.report.value("first_bad_seq", json()), json(std::min(a, b))) << v.text();
    fs::remove_all(*dir_ / copy);
  }
}

}  // namespace
}  // namespace fundledger::test
