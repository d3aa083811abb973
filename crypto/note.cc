#include "crypto/note.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

#include "crypto/encoding.h"
#include "crypto/sha256.h"

namespace fundledger {
namespace {

constexpr uint8_t kAlgEd25519 = 0x01;
constexpr std::string_view kSignerKeyPrefix = "PRIVATE+KEY+";
// U+2014 EM DASH, then a space, in UTF-8. Spelled as bytes so the source encoding cannot matter.
constexpr std::string_view kSignaturePrefix = "\xE2\x80\x94 ";
constexpr size_t kKeyHashBytes = 4;
constexpr size_t kKeyBytes = 1 + 32;  // algorithm byte, then the Ed25519 public key or seed
// Key texts are short; the bound only stops a huge input from being decoded.
constexpr size_t kKeyTextBase64BytesMax = 256;

// Splits s at the first `sep`, as the Go package's chop: ("a", "b+c") for "a+b+c", (s, "") when
// there is none.
std::pair<std::string_view, std::string_view> Chop(std::string_view s, char sep) {
  const size_t i = s.find(sep);
  if (i == std::string_view::npos) return {s, {}};
  return {s.substr(0, i), s.substr(i + 1)};
}

// Decodes the UTF-8 sequence at s[*pos], advancing *pos. Returns false for anything Go's
// utf8.DecodeRune reports as an error: truncated or overlong sequences, surrogates, values
// above U+10FFFF.
bool NextRune(std::string_view s, size_t* pos, char32_t* rune) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[*pos + i]); };
  const auto is_continuation = [](uint8_t b) { return (b & 0xC0) == 0x80; };
  const size_t left = s.size() - *pos;
  const uint8_t b0 = byte(0);
  size_t len = 0;
  char32_t min = 0;
  if (b0 < 0x80) {
    *rune = b0;
    *pos += 1;
    return true;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    min = 0x80;
    *rune = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    min = 0x800;
    *rune = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    min = 0x10000;
    *rune = b0 & 0x07;
  } else {
    return false;
  }
  if (left < len) return false;
  for (size_t i = 1; i < len; ++i) {
    if (!is_continuation(byte(i))) return false;
    *rune = (*rune << 6) | (byte(i) & 0x3F);
  }
  if (*rune < min || *rune > 0x10FFFF || (*rune >= 0xD800 && *rune <= 0xDFFF)) return false;
  *pos += len;
  return true;
}

// Go's unicode.IsSpace: the Latin-1 spaces and the other code points with White_Space.
bool IsUnicodeSpace(char32_t r) {
  constexpr char32_t kSpaces[] = {'\t', '\n',   '\v',   '\f',   '\r',   ' ',    0x85,
                                  0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  return (r >= 0x2000 && r <= 0x200A) || std::ranges::find(kSpaces, r) != std::end(kSpaces);
}

// The signed-note character rules: valid UTF-8, no ASCII control character except newline.
bool HasOnlyNoteCharacters(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    char32_t r;
    if (!NextRune(s, &pos, &r)) return false;
    if (r < 0x20 && r != '\n') return false;
  }
  return true;
}

Status BadKey(std::string_view message) { return Status::InvalidArgument("bad_key", message); }
Status BadNote(std::string_view message) { return Status::InvalidArgument("bad_note", message); }

uint32_t ReadBigEndian32(std::span<const uint8_t> bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

// SHA-256(name || "\n" || key)[:4], big-endian, where key is the algorithm byte and the key.
uint32_t KeyHashOfEncodedKey(std::string_view name, std::span<const uint8_t> encoded_key) {
  Sha256Hasher hasher;
  hasher.Update(AsBytes(name));
  hasher.Update(AsBytes("\n"));
  hasher.Update(encoded_key);
  return ReadBigEndian32(hasher.Finish());
}

// Exactly eight hex digits, either case, as Go's strconv.ParseUint(s, 16, 32) with its length
// check.
bool ParseKeyHash(std::string_view hex8, uint32_t* out) {
  std::vector<uint8_t> bytes;
  if (hex8.size() != 2 * kKeyHashBytes || !HexDecode(hex8, &bytes).ok()) return false;
  *out = ReadBigEndian32(bytes);
  return true;
}

// The parts shared by verifier and signer keys: "<name>+<hash>+<base64 key>". On success
// `encoded_key` holds the algorithm byte and the 32 key bytes.
Status ParseKeyParts(std::string_view text, std::string_view* name, uint32_t* key_hash,
                     std::vector<uint8_t>* encoded_key) {
  auto [key_name, rest] = Chop(text, '+');
  auto [hash_hex, key_base64] = Chop(rest, '+');
  if (!IsValidNoteKeyName(key_name)) return BadKey("invalid key name");
  if (!ParseKeyHash(hash_hex, key_hash)) return BadKey("key hash is not 8 hex digits");
  if (!Base64Decode(key_base64, encoded_key, kKeyTextBase64BytesMax).ok()) {
    return BadKey("key is not base64");
  }
  if (encoded_key->empty()) return BadKey("key is empty");
  if ((*encoded_key)[0] != kAlgEd25519) return BadKey("key algorithm is not Ed25519");
  if (encoded_key->size() != kKeyBytes) return BadKey("Ed25519 key is not 32 bytes");
  *name = key_name;
  return Status::Ok();
}

std::string FormatKeyText(std::string_view name, uint32_t key_hash,
                          std::span<const uint8_t, 32> key) {
  std::array<uint8_t, kKeyBytes> encoded;
  encoded[0] = kAlgEd25519;
  std::copy(key.begin(), key.end(), encoded.begin() + 1);
  const std::array<uint8_t, kKeyHashBytes> hash_bytes = {
      static_cast<uint8_t>(key_hash >> 24), static_cast<uint8_t>(key_hash >> 16),
      static_cast<uint8_t>(key_hash >> 8), static_cast<uint8_t>(key_hash)};
  std::string out = std::string(name) + "+" + HexEncode(hash_bytes) + "+" + Base64Encode(encoded);
  sodium_memzero(encoded.data(), encoded.size());  // it may hold a seed
  return out;
}

// The text of a note: what SignNote signs and OpenNote returns.
Status CheckNoteText(std::string_view text, size_t bytes_max) {
  if (text.empty() || text.back() != '\n') return BadNote("text does not end in a newline");
  if (text.size() > bytes_max) return BadNote("text is too long");
  if (!HasOnlyNoteCharacters(text)) return BadNote("text is not UTF-8 without control bytes");
  return Status::Ok();
}

}  // namespace

// Go's isValidName, plus: no ASCII control characters, since a name exists to appear in a
// signature line and notes may not contain them.
bool IsValidNoteKeyName(std::string_view name) {
  if (name.empty()) return false;
  size_t pos = 0;
  while (pos < name.size()) {
    char32_t r;
    if (!NextRune(name, &pos, &r)) return false;
    if (r == '+' || r < 0x20 || IsUnicodeSpace(r)) return false;
  }
  return true;
}

uint32_t NoteKeyHash(std::string_view name, const PublicKey& key) {
  std::array<uint8_t, kKeyBytes> encoded;
  encoded[0] = kAlgEd25519;
  std::copy(key.begin(), key.end(), encoded.begin() + 1);
  return KeyHashOfEncodedKey(name, encoded);
}

std::string FormatVerifierKey(std::string_view name, const PublicKey& key) {
  return FormatKeyText(name, NoteKeyHash(name, key), key);
}

std::string FormatSignerKey(std::string_view name, const KeyPair& key) {
  return std::string(kSignerKeyPrefix) +
         FormatKeyText(name, NoteKeyHash(name, key.public_key()), key.seed());
}

Status ParseVerifierKey(std::string_view text, NoteVerifier* out) {
  std::string_view name;
  uint32_t key_hash = 0;
  std::vector<uint8_t> encoded_key;
  FL_RETURN_IF_ERROR(ParseKeyParts(text, &name, &key_hash, &encoded_key));
  if (KeyHashOfEncodedKey(name, encoded_key) != key_hash) {
    return BadKey("key hash does not match the name and key");
  }
  out->name = std::string(name);
  out->key_hash = key_hash;
  std::copy(encoded_key.begin() + 1, encoded_key.end(), out->key.begin());
  return Status::Ok();
}

Status ParseSignerKey(std::string_view text, NoteSigner* out) {
  if (!text.starts_with(kSignerKeyPrefix)) return BadKey("not a PRIVATE+KEY+ text");
  text.remove_prefix(kSignerKeyPrefix.size());
  std::string_view name;
  uint32_t key_hash = 0;
  std::vector<uint8_t> encoded_key;
  FL_RETURN_IF_ERROR(ParseKeyParts(text, &name, &key_hash, &encoded_key));
  KeySeed seed;
  std::copy(encoded_key.begin() + 1, encoded_key.end(), seed.begin());
  sodium_memzero(encoded_key.data(), encoded_key.size());
  KeyPair key = KeyPair::FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  // As in Go, the hash of a signer key is checked against the public key derived from the seed.
  if (NoteKeyHash(name, key.public_key()) != key_hash) {
    return BadKey("key hash does not match the name and key");
  }
  out->name = std::string(name);
  out->key_hash = key_hash;
  out->key = key;
  return Status::Ok();
}

NoteVerifier VerifierOf(const NoteSigner& signer) {
  return NoteVerifier{signer.name, signer.key_hash, signer.key.public_key()};
}

Status SignNote(std::string_view text, const NoteSigner& signer, std::string* note,
                size_t bytes_max) {
  FL_RETURN_IF_ERROR(CheckNoteText(text, bytes_max));
  if (!IsValidNoteKeyName(signer.name)) return BadKey("invalid signer name");
  // A hash that does not belong to the key would make a note no verifier accepts.
  if (signer.key_hash != NoteKeyHash(signer.name, signer.key.public_key())) {
    return BadKey("signer key hash does not match the name and key");
  }
  const Signature signature = signer.key.Sign(AsBytes(text));
  std::array<uint8_t, kKeyHashBytes + std::tuple_size_v<Signature>> blob;
  blob[0] = static_cast<uint8_t>(signer.key_hash >> 24);
  blob[1] = static_cast<uint8_t>(signer.key_hash >> 16);
  blob[2] = static_cast<uint8_t>(signer.key_hash >> 8);
  blob[3] = static_cast<uint8_t>(signer.key_hash);
  std::copy(signature.begin(), signature.end(), blob.begin() + kKeyHashBytes);

  std::string out;
  out.reserve(text.size() + signer.name.size() + 128);
  out.append(text);
  out.append("\n");
  out.append(kSignaturePrefix);
  out.append(signer.name);
  out.append(" ");
  out.append(Base64Encode(blob));
  out.append("\n");
  // What we sign must be something OpenNote accepts.
  if (out.size() > bytes_max) return BadNote("signed note is too long");
  *note = std::move(out);
  return Status::Ok();
}

Status OpenNote(std::string_view note, const NoteVerifier& verifier, std::string* text,
                size_t bytes_max) {
  if (note.size() > bytes_max) return BadNote("note is too long");
  if (!HasOnlyNoteCharacters(note)) return BadNote("note is not UTF-8 without control bytes");
  // The text ends at the last blank line: the text may contain blank lines, signatures not.
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return BadNote("no signature block");
  const std::string_view body = note.substr(0, split + 1);
  std::string_view signatures = note.substr(split + 2);
  if (signatures.empty() || signatures.back() != '\n') {
    return BadNote("signature block does not end in a newline");
  }

  bool found = false;  // a signature line by the verifier's name and key hash
  bool valid = false;  // ... and its signature verifies
  size_t count = 0;
  while (!signatures.empty()) {
    const size_t newline = signatures.find('\n');  // found: the block ends in '\n'
    std::string_view line = signatures.substr(0, newline);
    signatures.remove_prefix(newline + 1);
    if (++count > kNoteSignaturesMax) return BadNote("too many signatures");
    if (!line.starts_with(kSignaturePrefix)) return BadNote("signature line without em dash");
    line.remove_prefix(kSignaturePrefix.size());
    auto [name, signature_base64] = Chop(line, ' ');
    std::vector<uint8_t> blob;
    if (!IsValidNoteKeyName(name) || signature_base64.empty() ||
        !Base64Decode(signature_base64, &blob, kNoteBytesMax).ok() ||
        blob.size() < kKeyHashBytes + 1) {
      return BadNote("malformed signature line");
    }
    // Signatures by other keys are ignored, even if they share the name or the hash.
    if (name != verifier.name || ReadBigEndian32(blob) != verifier.key_hash) continue;
    // As in Go, only the first signature by a key counts.
    if (found) continue;
    found = true;
    Signature signature;
    if (blob.size() == kKeyHashBytes + signature.size()) {
      std::copy(blob.begin() + kKeyHashBytes, blob.end(), signature.begin());
      valid = VerifySignature(verifier.key, AsBytes(body), signature);
    }
  }
  if (!found) return Status::Rejected("note_signature_invalid", "no signature by the verifier");
  if (!valid) return Status::Rejected("note_signature_invalid", "the verifier's signature fails");
  *text = std::string(body);
  return Status::Ok();
}

}  // namespace fundledger
