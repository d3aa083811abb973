#include "crypto/checkpoint.h"

#include <vector>

#include "crypto/encoding.h"
#include "crypto/merkle.h"

namespace fundledger {
namespace {

// UINT64_MAX has 20 decimal digits.
constexpr size_t kTreeSizeDigitsMax = 20;

Status BadCheckpoint(std::string_view message) {
  return Status::InvalidArgument("bad_checkpoint", message);
}

// Decimal without sign or leading zeros ("0" itself excepted), fitting in 64 bits.
bool ParseTreeSize(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > kTreeSizeDigitsMax) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

}  // namespace

std::string FormatCheckpointBody(const Checkpoint& checkpoint) {
  return checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" +
         Base64Encode(checkpoint.root) + "\n";
}

Status ParseCheckpointBody(std::string_view body, Checkpoint* out) {
  if (body.empty() || body.back() != '\n') return BadCheckpoint("body does not end in a newline");
  for (char c : body) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') {
      return BadCheckpoint("body contains a control character");
    }
  }
  std::vector<std::string_view> lines;
  for (std::string_view rest = body; !rest.empty();) {
    const size_t newline = rest.find('\n');  // found: the body ends in '\n'
    lines.push_back(rest.substr(0, newline));
    rest.remove_prefix(newline + 1);
  }
  if (lines.size() < 3) return BadCheckpoint("fewer than three lines");
  for (std::string_view line : lines) {
    if (line.empty()) return BadCheckpoint("empty line");
  }
  Checkpoint checkpoint;
  checkpoint.origin = std::string(lines[0]);
  if (!ParseTreeSize(lines[1], &checkpoint.size)) {
    return BadCheckpoint("tree size is not a canonical decimal number");
  }
  if (!Base64DecodeExact(lines[2], checkpoint.root)) {
    return BadCheckpoint("root hash is not 32 bytes of base64");
  }
  // Extension lines (lines[3:]) are opaque to us and ignored.
  *out = std::move(checkpoint);
  return Status::Ok();
}

Status SignCheckpoint(const Checkpoint& checkpoint, const NoteSigner& signer, std::string* note) {
  const std::string body = FormatCheckpointBody(checkpoint);
  // An origin that is empty or holds a newline would make a body that reads back differently.
  Checkpoint parsed;
  if (!ParseCheckpointBody(body, &parsed).ok() || !(parsed == checkpoint)) {
    return BadCheckpoint("origin is empty or not a single line");
  }
  return SignNote(body, signer, note);
}

Status OpenCheckpoint(std::string_view note, const NoteVerifier& verifier, Checkpoint* out) {
  std::string body;
  FL_RETURN_IF_ERROR(OpenNote(note, verifier, &body));
  return ParseCheckpointBody(body, out);
}

Status CheckpointExtends(const Checkpoint& held, const Checkpoint& latest,
                         std::span<const Hash> proof) {
  if (held.origin != latest.origin) {
    return Status::Corruption(
        "held_checkpoint_origin",
        "the held checkpoint is of the log \"" + held.origin + "\", not \"" + latest.origin + "\"",
        "origin");
  }
  const std::string sizes =
      std::to_string(held.size) + " records to " + std::to_string(latest.size);
  if (held.size > latest.size) {
    return Status::Corruption("held_checkpoint_ahead",
                              "the held checkpoint signs " + std::to_string(held.size) +
                                  " records, the log now " + std::to_string(latest.size) +
                                  ": records were removed or the log rolled back",
                              "size");
  }
  bool extends = false;
  if (held.size == 0) {
    extends = held.root == MerkleEmptyRoot();
  } else if (held.size == latest.size) {
    extends = held.root == latest.root && proof.empty();
  } else {
    extends = MerkleVerifyConsistency(held.size, latest.size, held.root, latest.root, proof).ok();
  }
  if (!extends) {
    return Status::Corruption(
        "held_checkpoint_root",
        "from " + sizes +
            " records, the log's history does not lead from the held checkpoint's "
            "root " +
            Base64Encode(held.root) + " to its root " + Base64Encode(latest.root) +
            ": it differs from the history the log signed (a fork), or the consistency proof is "
            "false",
        "root");
  }
  return Status::Ok();
}

}  // namespace fundledger
