#include "replay/verify.h"

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>

#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "replay/rebuild.h"
#include "replay/reports.h"
#include "replay/view_rows.h"
#include "replay/views.h"

#include "ledger/storage_format.h"
#include "tests/ledger/fund_events.h"
#include "tests/ledger/test_ledger.h"

namespace fundledger::testing {
namespace {

// A ledger of 2 registrations, a key rotation and 30 receipts, with a checkpoint at the head.
class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_.Register("xt-finance");
    ledger_.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
    for (int i = 0; i < 30; ++i) {
      std::string org = i % 2 ? "xt-finance" : "yh-finance";
      ledger_.AppendOk(ledger_.Signed(
          org, Receipt("r" + std::to_string(i), org, 100 + i, i % 2 ? "municipal" : "district")));
    }
    std::string note;
    ASSERT_TRUE(ledger_.journal().WriteCheckpoint(&note).ok());
    size_ = ledger_.journal().head().size;
  }

  Status Verify(VerifyReport* report) {
    return VerifyLedger(ledger_.journal(), VerifyOptions(), report);
  }

  std::string Read(std::string_view family, const std::string& key) {
    std::string value;
    Status s = ledger_.journal().ScanFamily(family, [&](std::string_view k, std::string_view v) {
      if (k == key) value = std::string(v);
      return value.empty();
    });
    EXPECT_TRUE(s.ok());
    return value;
  }

  // Every tree node recomputed from the stored records and written back, as one who changed a
  // record would do to hide the change from the leaf and tree checks: only a checkpoint over it,
  // or the record's own checks, can then find it.
  void RewriteTree() {
    std::vector<std::pair<std::string, std::string>> nodes;
    CompactRange range;
    ASSERT_TRUE(ledger_.journal()
                    .ScanRecords(1,
                                 [&](uint64_t, std::string_view bytes) {
                                   range.Append(MerkleLeafHash(AsBytes(bytes)),
                                                [&](uint32_t level, uint64_t index, const Hash& h) {
                                                  nodes.emplace_back(
                                                      storage::TreeKey(level, index),
                                                      std::string(h.begin(), h.end()));
                                                });
                                   return true;
                                 })
                    .ok());
    for (const auto& [key, hash] : nodes) {
      ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kTreeFamily, key, hash).ok());
    }
  }

  // Record `seq` (a receipt) with the NUL after the receiving pool's id overwritten: still
  // canonical Cap'n Proto, but a text Cap'n Proto refuses to read. The rules read that id to
  // credit the pool, and the views to fold it.
  std::string WithThePoolIdUnterminated(uint64_t seq) {
    std::string bytes = Read(storage::kRecordsFamily, storage::EncodeU64(seq));
    kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
    memcpy(words.begin(), bytes.data(), bytes.size());
    kj::ArrayPtr<const capnp::word> segments[1] = {words};
    capnp::SegmentArrayMessageReader message(kj::arrayPtr(segments, 1));
    auto event = message.getRoot<schema::Record>().getEnvelope().getEvent();
    EXPECT_TRUE(event.isFundsReceived());
    capnp::Text::Reader to = event.getFundsReceived().getTo();
    const size_t nul = size_t(to.end() - reinterpret_cast<const char*>(words.begin()));
    EXPECT_EQ(bytes[nul], '\0');
    bytes[nul] = 'X';
    return bytes;
  }

  void PutRecord(uint64_t seq, const std::string& bytes) {
    ASSERT_TRUE(ledger_.journal()
                    .PutRawForTesting(storage::kRecordsFamily, storage::EncodeU64(seq), bytes)
                    .ok());
  }

  TestLedger ledger_;
  uint64_t size_ = 0;
};

TEST_F(VerifyTest, AGoodLedgerVerifies) {
  VerifyReport report;
  Status s = Verify(&report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.records, size_);
  EXPECT_EQ(report.signatures, size_);
  EXPECT_EQ(report.checkpoints, 1u);
  EXPECT_EQ(report.first_bad_seq, 0u);
}

// With keep_rebuilt, the rebuilt tables outlive the verification (for the caller to free
// later); the verdict is the same, on a good ledger and on a tampered one.
TEST_F(VerifyTest, KeepingTheRebuiltTablesChangesNoVerdict) {
  VerifyOptions options;
  std::shared_ptr<void> rebuilt;
  options.keep_rebuilt = &rebuilt;
  VerifyReport report;
  Status s = VerifyLedger(ledger_.journal(), options, &report);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.records, size_);
  EXPECT_NE(rebuilt, nullptr);
  LeaveToExit(std::move(rebuilt));

  const std::string key = std::string(1, storage::kFactRow) + "r3";
  std::string row = Read(storage::kAccountsFamily, key);
  ASSERT_FALSE(row.empty());
  row[row.size() / 2] = char(row[row.size() / 2] ^ 1);
  ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kAccountsFamily, key, row).ok());
  Status kept = VerifyLedger(ledger_.journal(), options, &report);
  Status freed = Verify(&report);
  EXPECT_EQ(kept.code(), "accounts_mismatch") << kept.ToString();
  EXPECT_EQ(kept.ToString(), freed.ToString());
}

TEST_F(VerifyTest, OneChangedByteOfAnyRecordIsFoundAndNamed) {
  for (uint64_t seq : {uint64_t(1), uint64_t(2), size_ / 2, size_}) {
    std::string key = storage::EncodeU64(seq);
    std::string original = Read(storage::kRecordsFamily, key);
    ASSERT_FALSE(original.empty());
    // Several positions: header words, the signature, the event body, the last byte.
    for (size_t pos : {size_t(0), size_t(9), original.size() / 2, original.size() - 1}) {
      std::string changed = original;
      changed[pos] ^= 0x01;
      ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kRecordsFamily, key, changed).ok());
      VerifyReport report;
      Status s = Verify(&report);
      EXPECT_FALSE(s.ok()) << "seq " << seq << " byte " << pos;
      EXPECT_EQ(report.first_bad_seq, seq) << s.ToString();
      EXPECT_NE(s.message().find("seq " + std::to_string(seq)), std::string::npos) << s.ToString();
    }
    ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kRecordsFamily, key, original).ok());
  }
  VerifyReport report;
  EXPECT_TRUE(Verify(&report).ok());
}

// A record canonically encoded that holds a text where its envelope belongs.
std::string RecordWithATextForItsEnvelope(uint64_t seq, int64_t recorded_at_ms) {
  capnp::MallocMessageBuilder message;
  auto record = message.initRoot<schema::Record>();
  record.setSeq(seq);
  record.setRecordedAtMs(recorded_at_ms);
  auto as_any = record;
  capnp::AnyStruct::Builder(kj::mv(as_any)).getPointerSection()[0].setAs<capnp::Text>("not one");
  auto words = capnp::canonicalize(record.asReader());
  return std::string(reinterpret_cast<const char*>(words.begin()), words.size() * 8);
}

// Such a record is named by the verification, not failed on by the unexpected pointer.
TEST_F(VerifyTest, ACanonicalRecordWithATextForItsEnvelopeIsNamed) {
  const uint64_t seq = size_ / 2;
  RecordReader original;
  ASSERT_TRUE(
      RecordReader::Open(Read(storage::kRecordsFamily, storage::EncodeU64(seq)), &original).ok());
  std::string bytes = RecordWithATextForItsEnvelope(seq, original.record().getRecordedAtMs());
  ASSERT_TRUE(ledger_.journal()
                  .PutRawForTesting(storage::kRecordsFamily, storage::EncodeU64(seq), bytes)
                  .ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "record_event_malformed") << s.ToString();
  EXPECT_EQ(report.first_bad_seq, seq) << s.ToString();
}

// A canonical record whose event holds a text without its NUL, with the tree rewritten over it.
// The rules read the event on the verifying thread before the checking threads check its JSON
// form; Cap'n Proto's refusal to read the text is named there, not let end the process.
TEST_F(VerifyTest, ARecordWithATextCapnProtoCannotReadIsNamedByItsSeq) {
  const uint64_t seq = size_ / 2;
  std::string bytes = WithThePoolIdUnterminated(seq);
  PutRecord(seq, bytes);
  RewriteTree();
  RecordReader still_canonical;
  ASSERT_TRUE(RecordReader::Open(bytes, &still_canonical).ok());

  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "record_event_malformed") << s.ToString();
  EXPECT_EQ(report.first_bad_seq, seq) << s.ToString();
  EXPECT_NE(s.message().find("a field of the event cannot be read"), std::string::npos)
      << s.ToString();
}

// A view as of an earlier point folds the stored records of its scope: one that Cap'n Proto
// cannot read fails the view, as the server's answer, instead of ending the process.
TEST_F(VerifyTest, AnAsOfViewOverARecordCapnProtoCannotReadFails) {
  const uint64_t seq = size_ / 2;
  PutRecord(seq, WithThePoolIdUnterminated(seq));
  size_t failed = 0;
  for (std::string pool : {"xt-finance", "yh-finance"}) {
    std::unique_ptr<ViewPoint> point;
    Balance balance;
    Status s =
        ViewPoint::Open(ledger_.journal(), {ScopeKind::kPool, pool}, AsOf{size_ - 1, {}}, &point);
    if (s.ok()) s = BalanceOf(*point, &balance);
    if (!s.ok()) {
      ++failed;
      EXPECT_EQ(s.code(), "record_malformed") << s.ToString();
      EXPECT_NE(s.message().find("seq " + std::to_string(seq)), std::string::npos) << s.ToString();
    }
  }
  EXPECT_EQ(failed, 1u);  // the pool the record credits
}

// A record with a word of data past its schema's, canonical for Cap'n Proto, and its tree
// rewritten: the same seq, time and envelope would then have two leaf hashes. It is named by
// its own seq, before the checkpoint over it finds the tree changed.
TEST_F(VerifyTest, ARecordWiderThanItsSchemaIsNamedAsNoncanonical) {
  const uint64_t seq = size_ / 2;
  RecordReader original;
  ASSERT_TRUE(
      RecordReader::Open(Read(storage::kRecordsFamily, storage::EncodeU64(seq)), &original).ok());
  capnp::MallocMessageBuilder builder;
  auto root = builder.getRoot<capnp::AnyPointer>().initAsAnyStruct(3, 1);
  auto data = root.getDataSection();
  capnp::AnyStruct::Reader source(original.record());
  memcpy(data.begin(), source.getDataSection().begin(), source.getDataSection().size());
  memcpy(data.begin() + 16, "HIDDEN!!", 8);
  root.getPointerSection()[0].setAs<schema::Envelope>(original.record().getEnvelope());
  auto words = capnp::canonicalize(builder.getRoot<schema::Record>().asReader());
  std::string wider(reinterpret_cast<const char*>(words.begin()), words.size() * 8);
  ASSERT_NE(wider.find("HIDDEN!!"), std::string::npos);
  PutRecord(seq, wider);
  RewriteTree();

  RecordReader reader;
  EXPECT_EQ(RecordReader::Open(wider, &reader).code(), "record_noncanonical");
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "record_noncanonical") << s.ToString();
  EXPECT_EQ(report.first_bad_seq, seq) << s.ToString();
}

// An envelope with a pointer past its schema's: its event would no longer end the record, and
// the record would have a second encoding.
TEST_F(VerifyTest, AnEnvelopeWiderThanItsSchemaIsNoncanonical) {
  RecordReader original;
  ASSERT_TRUE(
      RecordReader::Open(Read(storage::kRecordsFamily, storage::EncodeU64(3)), &original).ok());
  auto source = original.record().getEnvelope();
  capnp::MallocMessageBuilder builder;
  auto record = builder.initRoot<schema::Record>();
  record.setSeq(3);
  record.setRecordedAtMs(original.record().getRecordedAtMs());
  auto as_any = record;
  auto envelope =
      capnp::AnyStruct::Builder(kj::mv(as_any)).getPointerSection()[0].initAsAnyStruct(0, 4);
  envelope.getPointerSection()[0].setAs<capnp::Text>(source.getSigner());
  envelope.getPointerSection()[1].setAs<capnp::Data>(source.getSignature());
  envelope.getPointerSection()[2].setAs<schema::Event>(source.getEvent());
  envelope.getPointerSection()[3].setAs<capnp::Text>("hidden");
  auto words = capnp::canonicalize(record.asReader());
  std::string wider(reinterpret_cast<const char*>(words.begin()), words.size() * 8);
  RecordReader reader;
  EXPECT_EQ(RecordReader::Open(wider, &reader).code(), "record_noncanonical");
}

// A record stored past the head by far, with the one tree node that lets the ledger open at
// that size: the verification sizes its tables by the records stored, not by the head's key,
// and names the first missing seq.
TEST_F(VerifyTest, ARecordKeyFarPastTheHeadIsNamedAsTheNextMissingRecord) {
  const uint64_t far = uint64_t(1) << 40;
  PutRecord(far, Read(storage::kRecordsFamily, storage::EncodeU64(1)));
  ASSERT_TRUE(
      ledger_.journal()
          .PutRawForTesting(storage::kTreeFamily, storage::TreeKey(40, 0), std::string(32, '\x5a'))
          .ok());
  ledger_.Reopen();
  ASSERT_EQ(ledger_.journal().head().size, far);
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "record_missing") << s.ToString();
  EXPECT_EQ(report.first_bad_seq, size_ + 1) << s.ToString();
}

// Seqs start at 1: a record row or a checkpoint under key 0 is not part of any verified tree,
// yet reads from seq 0 would serve it.
TEST_F(VerifyTest, ARowUnderKeyZeroIsFound) {
  PutRecord(0, Read(storage::kRecordsFamily, storage::EncodeU64(1)));
  VerifyReport report;
  EXPECT_EQ(Verify(&report).code(), "record_key_invalid");
  // Reads from seq 0 (GET /v1/events?from=0, log --from 0) begin at seq 1.
  uint64_t first = 0;
  ASSERT_TRUE(ledger_.journal()
                  .ScanRecords(0,
                               [&](uint64_t seq, std::string_view) {
                                 first = seq;
                                 return false;
                               })
                  .ok());
  EXPECT_EQ(first, 1u);
  ASSERT_TRUE(
      ledger_.journal().DeleteRawForTesting(storage::kRecordsFamily, storage::EncodeU64(0)).ok());
  ASSERT_TRUE(Verify(&report).ok());

  ASSERT_TRUE(ledger_.journal()
                  .PutRawForTesting(storage::kCheckpointsFamily, storage::EncodeU64(0), "garbage")
                  .ok());
  EXPECT_EQ(Verify(&report).code(), "checkpoint_invalid");
}

// The readers of single records (HTTP reads, public bundles and their offline check) decode it
// to a clear failure too.
TEST(RecordEnvelope, ARecordWithoutAnEnvelopeDecodesToAFailure) {
  RecordReader record;
  ASSERT_TRUE(RecordReader::Open(RecordWithATextForItsEnvelope(3, 1), &record).ok());
  SignedEvent event;
  EXPECT_EQ(SignedEvent::FromRecordEnvelope(record, &event).code(), "capnp_malformed");
  EXPECT_EQ(SignedEvent::FromStoredRecord(record, &event).code(), "capnp_malformed");
}

TEST_F(VerifyTest, ATamperedTreeNodeIsFound) {
  std::string key = storage::TreeKey(1, 3);  // the node over leaves 6 and 7
  std::string original = Read(storage::kTreeFamily, key);
  ASSERT_EQ(original.size(), 32u);
  std::string changed = original;
  changed[5] ^= 0x80;
  ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kTreeFamily, key, changed).ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "tree_node_mismatch") << s.ToString();
  EXPECT_EQ(report.first_bad_seq, 8u);
}

TEST_F(VerifyTest, ATamperedCheckpointIsFound) {
  std::string key = storage::EncodeU64(size_);
  std::string note = Read(storage::kCheckpointsFamily, key);
  ASSERT_FALSE(note.empty());
  std::string changed = note;
  changed[note.find('\n') + 1] ^= 0x01;  // the size line
  ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kCheckpointsFamily, key, changed).ok());
  VerifyReport report;
  EXPECT_EQ(Verify(&report).code(), "checkpoint_invalid");
}

TEST_F(VerifyTest, ACheckpointBeyondTheRecordsMeansRecordsWereRemoved) {
  // A checkpoint signed for a longer log than the one stored: as if the last records were cut.
  std::string note = Read(storage::kCheckpointsFamily, storage::EncodeU64(size_));
  ASSERT_TRUE(
      ledger_.journal()
          .PutRawForTesting(storage::kCheckpointsFamily, storage::EncodeU64(size_ + 5), note)
          .ok());
  VerifyReport report;
  EXPECT_EQ(Verify(&report).code(), "records_missing");
}

TEST_F(VerifyTest, SwappedRecordsAreFound) {
  std::string a = Read(storage::kRecordsFamily, storage::EncodeU64(10));
  std::string b = Read(storage::kRecordsFamily, storage::EncodeU64(11));
  ASSERT_TRUE(
      ledger_.journal().PutRawForTesting(storage::kRecordsFamily, storage::EncodeU64(10), b).ok());
  ASSERT_TRUE(
      ledger_.journal().PutRawForTesting(storage::kRecordsFamily, storage::EncodeU64(11), a).ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(report.first_bad_seq, 10u) << s.ToString();
}

// A record the rules refuse (here a district bureau's receipt of central money, written with its
// tree as the log would have written it) is named by the rule's own code, the event's id and the
// field, as the same event is when submitted, with its seq.
TEST_F(VerifyTest, ARecordTheRulesRefuseIsNamedByItsRuleEventAndField) {
  SignedEvent event = ledger_.Signed("yh-finance", Receipt("r-bad", "yh-finance", 100, "central"));
  Status refused = ledger_.Append(event).status;
  ASSERT_FALSE(refused.ok());
  ASSERT_FALSE(refused.field().empty()) << refused.ToString();
  PutRecord(size_ + 1, EncodeRecord(size_ + 1, kTestNowMs, event).bytes);
  RewriteTree();
  ledger_.Reopen();
  ASSERT_EQ(ledger_.journal().head().size, size_ + 1);
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(report.first_bad_seq, size_ + 1) << s.ToString();
  EXPECT_EQ(s.kind(), Status::Kind::kCorruption) << s.ToString();
  EXPECT_EQ(s.code(), refused.code()) << s.ToString();
  EXPECT_EQ(s.event_id(), "r-bad") << s.ToString();
  EXPECT_EQ(s.field(), refused.field()) << s.ToString();
  EXPECT_EQ(s.message().rfind("seq " + std::to_string(size_ + 1) + ": ", 0), 0u) << s.ToString();
}

// A record whose signature is not its signer's (here signed by another key under the signer's
// name, written with its tree) is named as its submission would be: the code, the field and the
// event's id, with its seq.
TEST_F(VerifyTest, ARecordWithAnotherKeysSignatureIsNamedByItsEventAndField) {
  SignedEvent event = TestLedger::SignedWith("xt-finance", KeyPair::Generate(),
                                             Receipt("r-forged", "xt-finance", 5));
  Status refused = ledger_.Append(event).status;
  ASSERT_EQ(refused.code(), "signature_invalid") << refused.ToString();
  PutRecord(size_ + 1, EncodeRecord(size_ + 1, kTestNowMs, event).bytes);
  RewriteTree();
  ledger_.Reopen();
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(report.first_bad_seq, size_ + 1) << s.ToString();
  EXPECT_EQ(s.code(), "signature_invalid") << s.ToString();
  EXPECT_EQ(s.field(), refused.field()) << s.ToString();
  EXPECT_EQ(s.event_id(), "r-forged") << s.ToString();
  EXPECT_EQ(s.message().rfind("seq " + std::to_string(size_ + 1) + ": ", 0), 0u) << s.ToString();
}

// A checkpoint kept from before must be one the ledger extends: the same log, no more records
// than it holds, and its root at that size.
TEST_F(VerifyTest, AHeldCheckpointIsExtendedOrNamed) {
  VerifyReport report;
  ASSERT_TRUE(Verify(&report).ok());
  std::vector<Hash> proof;
  Hash root, head_root;
  ASSERT_TRUE(ledger_.journal().ConsistencyProof(size_, size_, &proof, &root, &head_root).ok());
  const std::string origin = ledger_.journal().origin();
  auto held = [&](const Checkpoint& c, const NoteSigner& signer) {
    std::string note;
    EXPECT_TRUE(SignCheckpoint(c, signer, &note).ok());
    return VerifyHeldCheckpoint(ledger_.journal(), note, ledger_.journal().log_verifier());
  };
  const NoteSigner& log = ledger_.log_key();
  EXPECT_TRUE(held({origin, size_, root}, log).ok());
  Hash other = root;
  other[0] ^= 1;
  struct Case {
    Checkpoint checkpoint;
    const char* code;
    const char* field;
  };
  for (const Case& c :
       {Case{{"another.example/log", size_, root}, "held_checkpoint_origin", "origin"},
        Case{{origin, size_ + 1, root}, "held_checkpoint_ahead", "size"},
        Case{{origin, size_, other}, "held_checkpoint_root", "root"},
        Case{{origin, size_ - 1, root}, "held_checkpoint_root", "root"}}) {
    Status s = held(c.checkpoint, log);
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_EQ(s.field(), c.field) << s.ToString();
    EXPECT_EQ(s.kind(), Status::Kind::kCorruption) << s.ToString();
  }
  // Signed by another key under the same name: no checkpoint of this log.
  NoteSigner impostor = log;
  impostor.key = KeyPair::Generate();
  impostor.key_hash = NoteKeyHash(impostor.name, impostor.key.public_key());
  EXPECT_FALSE(held({origin, size_, root}, impostor).ok());
}

TEST_F(VerifyTest, ATamperedRegistryRowIsFound) {
  std::string original = Read(storage::kRegistryFamily, "xt-finance");
  Org org;
  ASSERT_TRUE(DecodeOrg(original, &org));
  org.region = "hunan";  // widen its reach
  ASSERT_TRUE(ledger_.journal()
                  .PutRawForTesting(storage::kRegistryFamily, "xt-finance", EncodeOrg(org))
                  .ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "registry_mismatch");
  EXPECT_NE(s.message().find("xt-finance"), std::string::npos);
}

TEST_F(VerifyTest, AnIdIndexPointingElsewhereIsFoundAndNamed) {
  uint64_t r5 = 0;
  ASSERT_TRUE(ledger_.journal().FindEvent("r5", &r5).ok());
  ASSERT_TRUE(
      ledger_.journal().PutRawForTesting(storage::kIdsFamily, "r5", storage::EncodeU64(3)).ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "id_index_mismatch");
  EXPECT_EQ(report.first_bad_seq, r5);
  EXPECT_NE(s.message().find("id r5 does not point"), std::string::npos) << s.message();

  // A later record that fails too does not hide it: the first failure is named.
  std::string last_key = storage::EncodeU64(size_);
  std::string last = Read(storage::kRecordsFamily, last_key);
  last[last.size() / 2] ^= 0x01;
  ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kRecordsFamily, last_key, last).ok());
  s = Verify(&report);
  EXPECT_EQ(s.code(), "id_index_mismatch") << s.ToString();
  EXPECT_EQ(report.first_bad_seq, r5);
}

TEST_F(VerifyTest, AnIdRowOfNoRecordIsFound) {
  ASSERT_TRUE(
      ledger_.journal().PutRawForTesting(storage::kIdsFamily, "r5x", storage::EncodeU64(3)).ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "id_index_mismatch");
  EXPECT_NE(s.message().find("not one per record"), std::string::npos) << s.message();
}

TEST_F(VerifyTest, AMissingIdRowIsFoundAndNamed) {
  uint64_t r7 = 0;
  ASSERT_TRUE(ledger_.journal().FindEvent("r7", &r7).ok());
  ASSERT_TRUE(ledger_.journal().DeleteRawForTesting(storage::kIdsFamily, "r7").ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "id_index_mismatch");
  EXPECT_EQ(report.first_bad_seq, r7) << s.ToString();
}

TEST_F(VerifyTest, TheBalanceViewIsKeptWithEveryAppend) {
  Balance pool;
  ASSERT_TRUE(ledger_.HolderBalance(schema::AccountHolder::POOL, "xt-finance", &pool).ok());
  int64_t received = 0;
  for (int i = 1; i < 30; i += 2) received += 100 + i;  // the odd receipts are xt-finance's
  const Figures& municipal = pool.by_category[size_t(schema::Category::MUNICIPAL)];
  EXPECT_EQ(municipal.received_fen, received);
  EXPECT_EQ(municipal.available_fen(), received);
  EXPECT_EQ(pool.Total().received_fen, received);
  // Read back from disk by a fresh view after a reopen.
  ledger_.Reopen();
  Balance again;
  ASSERT_TRUE(ledger_.HolderBalance(schema::AccountHolder::POOL, "xt-finance", &again).ok());
  EXPECT_EQ(again, pool);
}

TEST_F(VerifyTest, ATamperedViewRowIsFoundAndNamed) {
  std::string key = ViewRows::BalanceKey(schema::AccountHolder::POOL, "yh-finance");
  std::string original = Read(storage::kProjectionsFamily, key);
  Balance b;
  ASSERT_TRUE(DecodeBalance(original, &b));
  b.by_category[size_t(schema::Category::DISTRICT)].received_fen += 1;
  ASSERT_TRUE(
      ledger_.journal().PutRawForTesting(storage::kProjectionsFamily, key, EncodeBalance(b)).ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "projections_mismatch");
  EXPECT_NE(s.message().find("yh-finance"), std::string::npos) << s.message();
}

// The stored rows are compared in parts on several threads; whichever part ends first, the
// failure named is the first in the report's order: ids, registry, accounts, then projections
// in key order. Every thread count gives the same verdict.
TEST_F(VerifyTest, OfSeveralTamperedRowsTheFirstInReportOrderIsNamed) {
  Journal& journal = ledger_.journal();
  auto verdict = [&](unsigned threads) {
    VerifyOptions options;
    options.threads = threads;
    VerifyReport report;
    return VerifyLedger(journal, options, &report).ToString();
  };
  auto expect_named = [&](const std::string& code, const std::string& part) {
    std::string first = verdict(1);
    EXPECT_NE(first.find(code), std::string::npos) << first;
    EXPECT_NE(first.find(part), std::string::npos) << first;
    for (unsigned threads : {2u, 3u, 0u}) EXPECT_EQ(verdict(threads), first) << threads;
  };
  auto tamper = [&](std::string_view family, const std::string& key) {
    std::string value = Read(family, key);
    EXPECT_FALSE(value.empty()) << key;
    std::string changed = value;
    changed[changed.size() / 2] ^= 0x01;
    EXPECT_TRUE(journal.PutRawForTesting(family, key, changed).ok());
    return value;
  };
  const std::string history = ViewRows::HistoryPrefix(schema::AccountHolder::POOL, "yh-finance") +
                              storage::EncodeU64(999999);
  const std::string movement = ViewRows::MovementKey("r3");
  const std::string balance = ViewRows::BalanceKey(schema::AccountHolder::POOL, "yh-finance");
  const std::string fact = std::string(1, storage::kFactRow) + "r5";
  ASSERT_TRUE(journal.PutRawForTesting(storage::kProjectionsFamily, history, "").ok());
  std::string movement_was = tamper(storage::kProjectionsFamily, movement);
  std::string balance_was = tamper(storage::kProjectionsFamily, balance);
  std::string fact_was = tamper(storage::kAccountsFamily, fact);

  expect_named("accounts_mismatch", "r5");
  ASSERT_TRUE(journal.PutRawForTesting(storage::kAccountsFamily, fact, fact_was).ok());
  expect_named("projections_mismatch", "yh-finance");
  ASSERT_TRUE(journal.PutRawForTesting(storage::kProjectionsFamily, balance, balance_was).ok());
  expect_named("projections_mismatch", "r3");
  ASSERT_TRUE(journal.PutRawForTesting(storage::kProjectionsFamily, movement, movement_was).ok());
  expect_named("projections_mismatch", "is not rebuilt");
  ASSERT_TRUE(journal.DeleteRawForTesting(storage::kProjectionsFamily, history).ok());
  for (unsigned threads : {1u, 2u, 3u}) EXPECT_EQ(verdict(threads), "ok") << threads;
}

// Movements and payments (a row per event) are looked up where the walk of the stored rows
// meets them: a changed, a missing and an invented one are each named, and a replay puts them
// right.
// Views written by a build of an earlier views format (no version row, no pool rows 'l' and
// 'o') fail verify at the version row, saying why; opening the ledger to write rebuilds them.
TEST_F(VerifyTest, ViewsOfAnEarlierFormatAreNamedAndRebuiltWhenTheLedgerIsOpenedToWrite) {
  ledger_.AppendOk(ledger_.Signed(
      "xt-finance", Allocated("xt-to-yh", "xt-finance", "yh-finance", "pool", "municipal", 50)));
  Journal& journal = ledger_.journal();
  std::vector<std::string> pool_rows;
  ASSERT_TRUE(journal
                  .ScanFamily(storage::kProjectionsFamily,
                              [&](std::string_view key, std::string_view) {
                                if (key[0] == 'l' || key[0] == 'o') pool_rows.emplace_back(key);
                                return true;
                              })
                  .ok());
  ASSERT_EQ(pool_rows.size(), 2u);  // what xt-finance allocated to yh-finance, and its day
  EXPECT_EQ(Read(storage::kProjectionsFamily, std::string(ViewRows::kVersionKey)),
            ViewRows::kViewsVersion);
  for (const std::string& key : pool_rows) {
    ASSERT_TRUE(journal.DeleteRawForTesting(storage::kProjectionsFamily, key).ok());
  }
  ASSERT_TRUE(journal.DeleteRawForTesting(storage::kProjectionsFamily, ViewRows::kVersionKey).ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "projections_mismatch") << s.ToString();
  EXPECT_NE(s.message().find("#views is missing"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("not of this build's format"), std::string::npos) << s.message();
  ledger_.Reopen();
  for (const std::string& key : pool_rows) {
    EXPECT_FALSE(Read(storage::kProjectionsFamily, key).empty()) << key;
  }
  s = Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST_F(VerifyTest, KeyedViewRowsChangedMissingOrInventedAreNamedAndReplayRepairsThem) {
  const std::string changed = ViewRows::MovementKey("r3");
  const std::string missing = ViewRows::MovementKey("r17");
  const std::string invented = ViewRows::MovementKey("r99");
  std::string value = Read(storage::kProjectionsFamily, changed);
  ASSERT_FALSE(value.empty());
  const std::string original = value;
  value[value.size() / 2] ^= 0x01;
  auto expect_named = [&](const std::string& key, const std::string& what) {
    VerifyReport report;
    Status s = Verify(&report);
    EXPECT_EQ(s.code(), "projections_mismatch") << s.ToString();
    EXPECT_NE(s.message().find(key.substr(1)), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
  };
  Journal& journal = ledger_.journal();
  ASSERT_TRUE(journal.PutRawForTesting(storage::kProjectionsFamily, changed, value).ok());
  expect_named(changed, "differs");
  ASSERT_TRUE(journal.PutRawForTesting(storage::kProjectionsFamily, changed, original).ok());
  ASSERT_TRUE(journal.DeleteRawForTesting(storage::kProjectionsFamily, missing).ok());
  expect_named(missing, "is missing");
  ASSERT_TRUE(journal.PutRawForTesting(storage::kProjectionsFamily, invented, original).ok());
  expect_named(invented, "is not rebuilt");

  ViewRows rebuilt;
  uint64_t records = 0;
  ASSERT_TRUE(RebuildViews(journal, RebuildOptions(), &rebuilt, &records).ok());
  ReplaceReport replaced;
  ASSERT_TRUE(ReplaceViews(&journal, rebuilt, &replaced).ok());
  EXPECT_EQ(replaced.written, 1u);
  EXPECT_EQ(replaced.deleted, 1u);
  EXPECT_EQ(Read(storage::kProjectionsFamily, changed), original);
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

}  // namespace

// The accounts family (balances, event facts, projects, policies, findings) is rebuilt from the
// records and compared byte for byte.
TEST_F(VerifyTest, ATamperedBalanceIsFound) {
  std::string key =
      "a" +
      AccountKey{schema::AccountHolder::POOL, "xt-finance", schema::Category::MUNICIPAL}.Encode();
  std::string original = Read(storage::kAccountsFamily, key);
  ASSERT_EQ(original.size(), 8u);
  std::string richer = storage::EncodeU64(storage::DecodeU64(original) + 100000);
  ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kAccountsFamily, key, richer).ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "accounts_mismatch");
  EXPECT_NE(s.message().find("xt-finance"), std::string::npos) << s.message();
}

TEST_F(VerifyTest, ATamperedEventFactIsFound) {
  std::string original = Read(storage::kAccountsFamily, "er5");
  ASSERT_FALSE(original.empty());
  original[original.size() / 2] ^= 1;
  ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kAccountsFamily, "er5", original).ok());
  VerifyReport report;
  EXPECT_EQ(Verify(&report).code(), "accounts_mismatch");
}

TEST_F(VerifyTest, AnAccountNoRecordCreatedIsFound) {
  std::string key =
      "a" +
      AccountKey{schema::AccountHolder::POOL, "yh-finance", schema::Category::CENTRAL}.Encode();
  ASSERT_TRUE(ledger_.journal()
                  .PutRawForTesting(storage::kAccountsFamily, key, storage::EncodeU64(5))
                  .ok());
  VerifyReport report;
  Status s = Verify(&report);
  EXPECT_EQ(s.code(), "accounts_mismatch");
  EXPECT_NE(s.message().find("not rebuilt"), std::string::npos) << s.message();
}

// A rebuilt row that is not stored is named, whichever table it belongs to.
TEST_F(VerifyTest, AMissingStateRowIsFoundAndNamed) {
  struct Case {
    std::string_view family;
    std::string key;
    std::string_view code;
    std::string_view named;  // in the message
  };
  std::string balance =
      "a" +
      AccountKey{schema::AccountHolder::POOL, "xt-finance", schema::Category::MUNICIPAL}.Encode();
  for (const Case& c :
       {Case{storage::kAccountsFamily, balance, "accounts_mismatch", "xt-finance"},
        Case{storage::kAccountsFamily, "er7", "accounts_mismatch", "row er7 "},
        Case{storage::kRegistryFamily, "yh-finance", "registry_mismatch", "row yh-finance "}}) {
    std::string original = Read(c.family, c.key);
    ASSERT_FALSE(original.empty()) << c.key;
    ASSERT_TRUE(ledger_.journal().DeleteRawForTesting(c.family, c.key).ok());
    VerifyReport report;
    Status s = Verify(&report);
    EXPECT_EQ(s.code(), c.code) << s.ToString();
    EXPECT_NE(s.message().find("is missing"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(c.named), std::string::npos) << s.message();
    ASSERT_TRUE(ledger_.journal().PutRawForTesting(c.family, c.key, original).ok());
    EXPECT_TRUE(Verify(&report).ok());
  }
}

}  // namespace fundledger::testing

namespace fundledger::testing {
namespace {

// The rebuild trusts the records' encoding but not their presence or framing: a record that is
// not whole words is named by its seq, and nothing after it is folded.
TEST_F(VerifyTest, RebuildNamesARecordItCannotRead) {
  std::string key = storage::EncodeU64(size_ / 2);
  std::string original = Read(storage::kRecordsFamily, key);
  ASSERT_TRUE(
      ledger_.journal().PutRawForTesting(storage::kRecordsFamily, key, original.substr(1)).ok());
  ViewRows rebuilt;
  uint64_t records = 0;
  Status s = RebuildViews(ledger_.journal(), RebuildOptions(), &rebuilt, &records);
  EXPECT_EQ(s.code(), "record_malformed");
  EXPECT_NE(s.message().find("seq " + std::to_string(size_ / 2)), std::string::npos)
      << s.ToString();
  EXPECT_EQ(records, 0u);  // the chunk holding it is not folded past it

  ASSERT_TRUE(ledger_.journal().PutRawForTesting(storage::kRecordsFamily, key, original).ok());
  ViewRows again;
  ASSERT_TRUE(RebuildViews(ledger_.journal(), RebuildOptions(), &again, &records).ok());
  EXPECT_EQ(records, size_);
  uint64_t equal = 0, differing = 0;
  ASSERT_TRUE(
      DiffViews(
          ledger_.journal(), again,
          [&](std::string_view, const std::string_view*, const std::string_view*) { ++differing; },
          &equal)
          .ok());
  EXPECT_EQ(differing, 0u);
  EXPECT_EQ(equal, again.row_count());
  EXPECT_GT(equal, 60u);  // balances, holders, movements and histories of 30 receipts
}

}  // namespace
}  // namespace fundledger::testing
