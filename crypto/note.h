// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, compatible with
// golang.org/x/mod/sumdb/note.
//
// Key text forms (as in the Go package):
//   verifier key: <name>+<hash hex8>+<base64(0x01 || public key 32)>
//   signer key:   PRIVATE+KEY+<name>+<hash hex8>+<base64(0x01 || seed 32)>
// where hash = first 4 bytes, big-endian, of SHA-256(name || "\n" || 0x01 || public key).
// A note is the text (ending in '\n'), a blank line, and one or more lines
// "\u2014 <name> <base64(hash[4] || signature[64])>\n"; the signature covers the text.
// Pure functions, thread safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/ed25519.h"
#include "crypto/status.h"

namespace fundledger {

inline constexpr size_t kNoteBytesMax = 1 << 20;
inline constexpr size_t kNoteSignaturesMax = 100;

struct NoteVerifier {
  std::string name;
  uint32_t key_hash = 0;
  PublicKey key{};
};

struct NoteSigner {
  std::string name;
  uint32_t key_hash = 0;
  KeyPair key = KeyPair::FromSeed(KeySeed{});
};

// A key name: non-empty, no '+', no whitespace, no Unicode spaces, valid UTF-8.
bool IsValidNoteKeyName(std::string_view name);
uint32_t NoteKeyHash(std::string_view name, const PublicKey& key);

std::string FormatVerifierKey(std::string_view name, const PublicKey& key);
std::string FormatSignerKey(std::string_view name, const KeyPair& key);
// InvalidArgument "bad_key" naming what is wrong (including a hash that does not match).
Status ParseVerifierKey(std::string_view text, NoteVerifier* out);
Status ParseSignerKey(std::string_view text, NoteSigner* out);
NoteVerifier VerifierOf(const NoteSigner& signer);

// REQUIRES: text is non-empty and ends in '\n'; blank lines inside are allowed, as in C2SP
// (checked: InvalidArgument "bad_note" otherwise). The signed note may be at most `bytes_max`
// bytes: kNoteBytesMax for checkpoints and whatever a reader takes from anywhere; a larger bound
// only for a note whose format says how large it may be (an export's statement of its records).
Status SignNote(std::string_view text, const NoteSigner& signer, std::string* note,
                size_t bytes_max = kNoteBytesMax);

// Parses `note`, and checks that it carries a valid signature by `verifier` (other signatures,
// by unknown keys, are ignored, as in the Go package). On success sets *text to the signed text.
// InvalidArgument "bad_note" if malformed or over `bytes_max`; Rejected "note_signature_invalid"
// if the verifier's signature is missing or wrong.
Status OpenNote(std::string_view note, const NoteVerifier& verifier, std::string* text,
                size_t bytes_max = kNoteBytesMax);

}  // namespace fundledger
