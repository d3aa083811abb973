// libFuzzer target: a checkpoint as a client or verify-export reads it: a signed note opened with
// the log's verifier key (OpenCheckpoint, OpenNote), its body alone (ParseCheckpointBody), and
// the bytes as a verifier key. What parses must format back to the same body.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/checkpoint.h"
#include "crypto/note.h"

namespace fundledger {
namespace {

// The log key of the demo ledger of seed 1 (`fundledger demo --seed 1`, keys/log.pub), which
// signed the seed corpus's checkpoint (`fundledger checkpoint --format note`).
constexpr char kCorpusVerifierKey[] =
    "demo.fundledger.example+81a45a76+AVq8PE8z5hzSruT6jxjTrVnizvOKgm+WepI5R0eiJO2+";

NoteVerifier CorpusVerifier() {
  NoteVerifier verifier;
  if (!ParseVerifierKey(kCorpusVerifierKey, &verifier).ok()) std::abort();
  return verifier;
}

void CheckBody(std::string_view body) {
  Checkpoint checkpoint;
  if (!ParseCheckpointBody(body, &checkpoint).ok()) return;
  std::string formatted = FormatCheckpointBody(checkpoint);
  // Extension lines after the third are allowed: the three lines come back as they were.
  if (body.substr(0, formatted.size()) != formatted) std::abort();
}

}  // namespace
}  // namespace fundledger

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fundledger;
  static const NoteVerifier verifier = CorpusVerifier();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  Checkpoint checkpoint;
  if (OpenCheckpoint(text, verifier, &checkpoint).ok()) {
    if (checkpoint.origin.empty()) std::abort();
  }
  std::string signed_text;
  if (OpenNote(text, verifier, &signed_text).ok()) CheckBody(signed_text);
  size_t blank = text.find("\n\n");
  CheckBody(blank == std::string_view::npos ? text : text.substr(0, blank + 1));
  NoteVerifier key;
  if (ParseVerifierKey(text, &key).ok()) {
    // The hash may be written in either case (as the Go package reads it): the key formatted
    // again must parse to the same verifier, not to the same text.
    NoteVerifier again;
    if (!ParseVerifierKey(FormatVerifierKey(key.name, key.key), &again).ok()) std::abort();
    if (again.name != key.name || again.key != key.key || again.key_hash != key.key_hash) {
      std::abort();
    }
  }
  return 0;
}
