// Checkpoints: C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) bodies in signed notes.
//
//   <origin>\n<tree size, decimal>\n<base64 root hash>\n
//
// followed by the note signature block. Pure functions, thread safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "crypto/note.h"
#include "crypto/sha256.h"
#include "crypto/status.h"

namespace fundledger {

struct Checkpoint {
  std::string origin;
  uint64_t size = 0;
  Hash root{};
  bool operator==(const Checkpoint&) const = default;
};

std::string FormatCheckpointBody(const Checkpoint& checkpoint);
// InvalidArgument "bad_checkpoint": wrong line count, non-canonical decimal, bad base64, root
// not 32 bytes. Extension lines after the third are allowed and ignored.
Status ParseCheckpointBody(std::string_view body, Checkpoint* out);

Status SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer, std::string* note);
// Verifies the note's signature by `verifier` and parses its body.
Status OpenCheckpoint(std::string_view note, const NoteVerifier& verifier, Checkpoint* out);

// Whether the log's checkpoint `latest` extends the checkpoint `held` that someone kept from
// before (both opened with the log's key): of the same origin, at least as large, and the RFC 9162
// consistency proof `proof` from held.size to latest.size leads from held.root to latest.root
// (equal roots at equal sizes; the empty tree's root at size 0). Otherwise Corruption
// "held_checkpoint_origin" (field origin), "held_checkpoint_ahead" (field size: records were
// removed or the log rolled back) or "held_checkpoint_root" (field root: a fork, or a false
// proof).
Status CheckpointExtends(const Checkpoint& held, const Checkpoint& latest,
                         std::span<const Hash> proof);

}  // namespace fundledger
