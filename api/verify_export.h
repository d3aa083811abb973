// `fundledger verify-export DIR --log-key KEY`: checks a public export bundle (api/bundle.h)
// offline, with nothing but the bundle and the log's key as the reader obtained it.
//
// In order:
//   1. the directory holds exactly the files of kBundleFiles, each within its size limit;
//   2. checkpoint.txt is a checkpoint signed by the log key;
//   3. residents.txt is a statement signed by the log key, of the same checkpoint;
//   4. every line of events.jsonl: its inclusion proof leads from its leaf hash to the
//      checkpoint's root; a published record's bytes hash to that leaf and decode canonically
//      to the same seq; a withheld line is one the statement lists; and the line (the decoded
//      envelope in it included) is exactly what its record renders to; no two records, withheld
//      or published, have the same event id; a published event's amounts are within the
//      ledger's bounds (BundleAmountsOutOfBounds);
//   5. every other file (project.json, the CSV files and README.txt) is exactly what
//      RenderBundle gives for those records: so every figure and total is what the events add
//      up to;
//   6. every event's signature verifies with the key its signer held at that seq, from the
//      registry events of the bundle (org_registered, key_rotated, org_revoked, the genesis at
//      seq 1 the root of them). Last, as the costliest check.
// The first failure is returned, naming the file and the line ("events.jsonl line 7: ...").
//
// Thread safety: pure functions (VerifyBundleDir reads files).
#pragma once

#include <map>
#include <string>

#include "api/bundle.h"
#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/event.h"

namespace fundledger {

struct ExportSummary {
  Scope scope;
  Checkpoint checkpoint;
  size_t published = 0;
  size_t withheld = 0;
};

// The bundle's files by name, as read. Ok, or Rejected "export_invalid" (a check failed) /
// InvalidArgument "export_malformed" (a file cannot be read as what it should be), whose
// message begins with "FILE line N: " and whose field() is the file's name.
Status VerifyBundleFiles(const std::map<std::string, std::string>& files,
                         const NoteVerifier& log_key, ExportSummary* out);

// The amounts of one published event within the ledger's own bounds (each 1..10^14 fen, a
// budget's parts 0..10^14), added to *volume (a movement's amount, the larger of a budget and
// its funding plan), which stays within kLedgerVolumeFenMax: then every
// figure the bundle adds up from them fits an int64, as in the ledger. The ledger's rules keep
// these bounds; the check stands for a log that published what its rules would have refused.
// Empty if within, else what is not (and *volume is unchanged).
std::string BundleAmountsOutOfBounds(schema::Event::Reader event, uint64_t* volume);

// Reads the bundle in `dir` within the size limits (bundle.h), then VerifyBundleFiles. The same
// failures, and "export_malformed" for a missing, extra or oversized file. The signed notes are
// read and checked (2 and 3) before the other files are read, so that a bundle the log key did
// not sign costs no more memory than its notes.
Status VerifyBundleDir(const std::string& dir, const NoteVerifier& log_key, ExportSummary* out);

}  // namespace fundledger
