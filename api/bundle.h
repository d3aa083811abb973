// The public export bundle of DESIGN.md section 10 (公示): what it holds and how its files are
// rendered from it. Pure functions of their input, so that `fundledger export` (api/export.h)
// and `fundledger verify-export` (api/verify_export.h) render exactly the same bytes from the
// same records: the verifier re-renders every file from the verified records and compares.
//
// A bundle is the directory of these files (kBundleFiles):
//   README.txt         how to verify, and what the bundle does and does not prove
//   checkpoint.txt     the log's signed checkpoint (C2SP signed note) the proofs lead to
//   residents.txt      the log's signed statement of the bundle's records (their number and
//                      digest) and of the resident receipts it withholds
//   project.json       OC4IDS-style project records (one per project of the scope)
//   funding.csv        money in per project, category, source and channel (UTF-8 with BOM)
//   disbursements.csv  every disbursement (UTF-8 with BOM)
//   events.jsonl       one line per record: its bytes in base64, the decoded envelope, the
//                      leaf hash and the inclusion proof; a withheld record has no bytes
//
// Residents. A receipt that carries a `contributor_ref` (one household's own payment) is never
// published: its record bytes contain the commitment, and any part of them would let a reader
// link that household's payments. Its line in events.jsonl holds only the seq, the leaf hash and
// the inclusion proof (the record exists, at that place in the log). Its amount and households
// are published only as sums per project, source and channel, in residents.txt, which the log
// key signs together with the checkpoint and the list of withheld leaves: the operator answers
// for those sums with its signature, and anyone who holds the records (an auditor, the street
// office that holds the household list) can check them against the leaves. Every other
// figure, resident receipts recorded as aggregates (households, no contributor_ref) included,
// is the sum of published events and verifiable from the bundle alone.
//
// The same statement signs how many records the bundle holds and a digest of their seqs and
// leaf hashes (RecordsDigest), so that a line of events.jsonl left out or added by whoever passes
// the bundle on, with the other files rendered again to match, fails: the bundle is the one the
// log exported. Whether the log left an event of the scope out is checked against the ledger.
//
// Money is integer fen everywhere (OC4IDS's decimal `amount` is given as `amountFen`).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/checkpoint.h"
#include "crypto/sha256.h"
#include "crypto/status.h"
#include "ledger/schema/event.capnp.h"
#include "replay/views.h"

namespace fundledger {

inline constexpr const char* kBundleFiles[] = {
    "README.txt",  "checkpoint.txt",    "residents.txt", "project.json",
    "funding.csv", "disbursements.csv", "events.jsonl"};
inline constexpr size_t kBundleFileCount = std::size(kBundleFiles);

// Limits of a bundle, for the exporter and the verifier alike.
inline constexpr size_t kBundleRecordsMax = 1'000'000;            // lines of events.jsonl
inline constexpr size_t kBundleLineBytesMax = 4 << 20;            // one line of events.jsonl
inline constexpr size_t kBundleEventsBytesMax = size_t(1) << 31;  // events.jsonl
inline constexpr size_t kBundleTableBytesMax = 512 << 20;         // project.json and each CSV
inline constexpr size_t kBundleTextBytesMax = 64 << 20;           // README.txt, checkpoint.txt
// residents.txt, a signed note of a line per withheld receipt (up to about 140 bytes each): a
// scope of a few hundred thousand households' own receipts.
inline constexpr size_t kBundleStatementBytesMax = 256 << 20;
inline constexpr size_t kBundleRecordBytesMax = 2 << 20;  // one decoded record

// One record of the bundle, with its inclusion proof in the checkpoint's tree.
struct BundleRecord {
  uint64_t seq = 0;
  Hash leaf_hash{};
  std::vector<Hash> proof;
  std::string bytes;  // the canonical record (the Merkle leaf data); empty when withheld
  bool withheld() const { return bytes.empty(); }
};

// Withheld resident receipts of one project, source org and channel, net of reversals.
struct ResidentTotal {
  std::string project;
  std::string source_org;
  std::string channel;  // as in the event JSON: "transfer", "provident_fund", ...
  int64_t amount_fen = 0;
  int64_t households = 0;
  int64_t receipts = 0;
  bool operator==(const ResidentTotal&) const = default;
};

struct WithheldRecord {
  uint64_t seq = 0;
  Hash leaf_hash{};
  std::string event_id;  // reversals and findings name it; the id is public there anyway
  bool operator==(const WithheldRecord&) const = default;
};

// The digest of a bundle's records that residents.txt signs: SHA-256 over each record's seq
// (u64, big-endian) and leaf hash, in seq order.
class RecordsDigest {
 public:
  void Add(uint64_t seq, const Hash& leaf_hash);
  uint64_t count() const { return count_; }
  Hash Finish();  // REQUIRES: called once.

 private:
  Sha256Hasher hasher_;
  uint64_t count_ = 0;
};

// The text of residents.txt before the signature (a signed note's body):
//   fundledger/export-residents/v2
//   scope project ID | scope region PATH
//   checkpoint ORIGIN
//   size N
//   root BASE64
//   records COUNT DIGEST_BASE64                     (every line of events.jsonl; RecordsDigest)
//   withheld SEQ LEAF_HASH_BASE64 EVENT_ID          (one per withheld record, seq order)
//   residents PROJECT SOURCE_ORG CHANNEL AMOUNT_FEN HOUSEHOLDS RECEIPTS   (sorted)
// Its second line is never a number, so it can never be read as a checkpoint.
inline constexpr size_t kResidentsFirstWithheldLine = 7;  // then the residents lines
struct ResidentsStatement {
  Scope scope;
  Checkpoint checkpoint;
  uint64_t records = 0;
  Hash records_digest{};
  std::vector<WithheldRecord> withheld;
  std::vector<ResidentTotal> totals;
  bool operator==(const ResidentsStatement&) const = default;
};
std::string FormatResidentsStatement(const ResidentsStatement& statement);
// InvalidArgument "bad_residents_statement" naming the line (1-based) in the message.
Status ParseResidentsStatement(std::string_view text, ResidentsStatement* out);

// Everything a bundle's files are rendered from.
struct BundleInput {
  Scope scope;  // kProject or kRegion
  std::string checkpoint_note;
  Checkpoint checkpoint;
  std::string log_key;                // the log's verifier key text (named in README.txt)
  std::vector<BundleRecord> records;  // in seq order, unique
  std::string residents_note;
  ResidentsStatement residents;
  size_t projects = 0;  // of the scope (set by BuildBundle; not read from a bundle's files)
};

struct BundleFile {
  std::string name;
  std::string content;
};

// The files of kBundleFiles, in that order. InvalidArgument or Corruption naming the seq if a
// published record does not decode; InvalidArgument (field residents.txt)
// "residents_line_invalid" if a residents line is of a project the bundle does not register or
// through a channel that is not residents', "residents_receipts_mismatch" if the statement's
// receipts are not the withheld records no event reverses.
Status RenderBundle(const BundleInput& in, std::vector<BundleFile>* out);

// One line of events.jsonl (with its '\n'), as RenderBundle writes it.
Status RenderEventLine(const BundleRecord& record, std::string* out);

// True if `event` is a receipt carrying a contributor_ref: one that is never published.
bool IsWithheldEvent(schema::Event::Reader event);

}  // namespace fundledger
