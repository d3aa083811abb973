// `fundledger export` and GET /v1/public/export/*: the bundle of a project or a region
// (api/bundle.h) taken from a journal at one signed checkpoint.
//
// Which records a bundle holds, all of them recorded up to the checkpoint's size N:
//   - the history of every project in scope (registration, revisions, status, pledges,
//     receipts, allocations into it, disbursements, refunds, the reversals and
//     acknowledgements of its payments, findings naming it): the events its views fold;
//   - the registry events (org_registered, key_rotated, org_revoked) of every org that signs
//     one of those or is named by one (source, pool, payee, refund recipient), and of the orgs
//     that signed those registry events, down to the genesis (seq 1): every key the verifier
//     needs, from the root of trust of the ledger.
// Receipts carrying a contributor_ref are withheld (bundle.h); the residents statement sums
// them and is signed with the log key.
//
// Thread safety: the journal's in-memory state (the scope's projects, the orgs' keys) changes
// with every append, so BuildBundle reads it only under `gate` held shared, where appends may
// run beside it (a server's ReadGate; none where nothing appends). The rest, the history rows,
// records and tree nodes up to the signed checkpoint, never change once written, and is read
// with the gate released: a large export does not hold the server's writes back while it reads.
#pragma once

#include <string>
#include <vector>

#include "api/bundle.h"
#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

// The bundle of `scope` (kProject: a project registered by the checkpoint; kRegion: every
// project under the region registered by then, "" for the whole ledger) at the checkpoint
// `checkpoint_note`, which the journal's log key signed. `log_signer` is that key: it signs
// the residents statement. NotFound "project_unknown"; InvalidArgument "bad_region",
// "bad_scope" (a pool), "export_too_large" (over kBundleRecordsMax records).
Status BuildBundle(const Journal& journal, const Scope& scope, std::string_view checkpoint_note,
                   const NoteSigner& log_signer, BundleInput* out, StateGate* gate = nullptr);

// The log's signing key of the ledger in `data_dir` (DIR/log.key). Corruption "log_key_mismatch"
// if it is not the key the journal's checkpoints are verified with.
Status ReadLogSigner(const std::string& data_dir, const Journal& journal, NoteSigner* out);

// Writes `files` into `dir`, which must not exist yet or be empty (InvalidArgument
// "export_dir_not_empty"); IOError naming the file otherwise.
Status WriteBundleFiles(const std::vector<BundleFile>& files, const std::string& dir);

}  // namespace fundledger
