// The on-disk format of a fundledger data directory, in one place.
//
//   DIR/db/        RocksDB database (column families below)
//   DIR/log.key    the operator's log signing key (signed-note signer key text, mode 0600);
//                  present where the ledger is written, absent on read-only copies
//
// Column families and their keys (all integers big-endian so that byte order is numeric order):
//
//   default      "format_version" -> decimal kFormatVersion
//                "origin"         -> the checkpoint origin line
//                "log_vkey"       -> the log key in signed-note verifier form
//   records      seq u64                 -> capnp::canonicalize(Record), the Merkle leaf data
//   ids          event id (bytes)        -> seq u64
//   tree         level u8 || index u64   -> 32-byte hash of that perfect subtree (RFC 9162)
//   checkpoints  tree size u64           -> signed note (C2SP tlog-checkpoint)
//   registry     org id (bytes)          -> capnp::canonicalize(OrgState)
//   accounts     fund-domain state, capnp::canonicalize of the state.capnp struct unless noted;
//                the first byte of the key says what the row is:
//                'a' holder kind u8 || category u8 || holder -> balance in fen, i64 big-endian
//                    two's complement (holder: project id, pool = finance bureau org id, or an
//                    outside party "org:<id>", "code:<credit code>", "name:<payee name>")
//                'e' event id    -> EventFact (pledges and movements: reversal, acknowledgement)
//                'f' finding id  -> FindingState
//                'j' project id  -> ProjectState
//                'p' region      -> PolicyState (the empty region is national)
//                'v'             -> the ledger's volume in fen, u64 big-endian: every amount its
//                                   events moved or pledged and every project budget they
//                                   registered or revised, in all (absent while 0)
//   projections  view key                -> materialised view rows; their layout is the read
//                                           side's and is written down in replay/view_rows.h,
//                                           with its own version (row "#views": views of
//                                           another version are rebuilt, not refused)
//   index        (reserved, empty)
//
// Sequence numbers start at 1; record `seq` is leaf index seq - 1, and the tree of size N holds
// exactly the records 1..N. Every append writes its records, ids, tree nodes, state and any
// checkpoint in one WriteBatch; it is acknowledged only once a sync of the WAL has covered that
// batch (Journal::Append, Journal::Sync).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace fundledger::storage {

// 2: the accounts family's volume row ('v').
// 3: a project's registration day in its registry row (ProjectState.registeredDay), and a
//    finding's day in its row (FindingState.openedDay).
// 4: a project's phase, approval and last money days in its registry row (ProjectState.phaseDay,
//    approvedDay, lastMoneyDay), written by builds whose last money day counted refunds and
//    reversals too.
// 5: the rows of 4, the last money day counting receipts, allocations and payments only.
inline constexpr int kFormatVersion = 5;

inline constexpr std::string_view kDatabaseDir = "db";
inline constexpr std::string_view kLogKeyFile = "log.key";

inline constexpr std::string_view kMetaFamily = "default";  // RocksDB's default family
inline constexpr std::string_view kMetaFormatVersion = "format_version";
inline constexpr std::string_view kMetaOrigin = "origin";
inline constexpr std::string_view kMetaLogVerifierKey = "log_vkey";

inline constexpr std::string_view kRecordsFamily = "records";
inline constexpr std::string_view kIdsFamily = "ids";
inline constexpr std::string_view kTreeFamily = "tree";
inline constexpr std::string_view kCheckpointsFamily = "checkpoints";
inline constexpr std::string_view kRegistryFamily = "registry";
inline constexpr std::string_view kAccountsFamily = "accounts";
inline constexpr std::string_view kProjectionsFamily = "projections";
inline constexpr std::string_view kIndexFamily = "index";

// Row kinds of the accounts family (the key's first byte).
inline constexpr char kBalanceRow = 'a';
inline constexpr char kFactRow = 'e';
inline constexpr char kFindingRow = 'f';
inline constexpr char kProjectRow = 'j';
inline constexpr char kPolicyRow = 'p';
inline constexpr char kVolumeRow = 'v';

// Automatic checkpoints.
inline constexpr uint64_t kCheckpointEveryEvents = 10000;
inline constexpr int64_t kCheckpointEveryMs = 60 * 1000;

inline std::string EncodeU64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = char(v & 0xff);
    v >>= 8;
  }
  return out;
}

// REQUIRES: bytes.size() == 8.
inline uint64_t DecodeU64(std::string_view bytes) {
  uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | uint8_t(c);
  return v;
}

// A row key as messages show it: bytes outside printable ASCII (account kinds, categories,
// big-endian numbers) as \xNN.
inline std::string PrintableKey(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(char(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

inline std::string TreeKey(uint32_t level, uint64_t index) {
  return std::string(1, char(level)) + EncodeU64(index);
}

}  // namespace fundledger::storage
