#include "crypto/encoding.h"

#include <sodium.h>

#include <algorithm>

namespace fundledger {
namespace {

constexpr int kBase64Variant = sodium_base64_VARIANT_ORIGINAL;

Status BadBase64(std::string_view message) {
  return Status::InvalidArgument("bad_base64", message);
}

}  // namespace

std::string Base64Encode(std::span<const uint8_t> bytes) {
  const size_t encoded_len = sodium_base64_ENCODED_LEN(bytes.size(), kBase64Variant);
  std::string out(encoded_len, '\0');  // includes the terminating NUL libsodium writes
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kBase64Variant);
  out.resize(encoded_len - 1);
  return out;
}

Status Base64Decode(std::string_view text, std::vector<uint8_t>* out, size_t max_bytes) {
  out->clear();
  // Padded base64 always comes in groups of four characters; checking the length up front also
  // bounds the work before decoding anything.
  if (text.size() % 4 != 0) return BadBase64("length is not a multiple of 4");
  const size_t decoded_len_max = text.size() / 4 * 3;
  if (decoded_len_max > max_bytes + 2) return BadBase64("longer than allowed");
  // The empty text is the empty bytes; libsodium must not be handed the null buffer of an empty
  // vector (its arguments are declared non-null).
  if (text.empty()) return Status::Ok();

  std::vector<uint8_t> bytes(decoded_len_max);
  size_t decoded_len = 0;
  const char* end = nullptr;
  // No `ignore` characters: whitespace and anything outside the alphabet are errors.
  if (sodium_base642bin(bytes.data(), bytes.size(), text.data(), text.size(), /*ignore=*/nullptr,
                        &decoded_len, &end, kBase64Variant) != 0 ||
      end != text.data() + text.size()) {
    return BadBase64("not standard padded base64");
  }
  bytes.resize(decoded_len);
  if (bytes.size() > max_bytes) return BadBase64("longer than allowed");
  // Several texts can decode to the same bytes (non-zero unused bits before the padding).
  // Accept only the one we would produce, so that each byte string has a single text form.
  if (Base64Encode(bytes) != text) return BadBase64("not the canonical encoding");
  *out = std::move(bytes);
  return Status::Ok();
}

bool Base64DecodeExact(std::string_view text, std::span<uint8_t> out) {
  std::vector<uint8_t> bytes;
  if (!Base64Decode(text, &bytes, out.size()).ok() || bytes.size() != out.size()) return false;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return true;
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');  // sodium_bin2hex writes a terminating NUL
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.resize(bytes.size() * 2);
  return out;
}

Status HexDecode(std::string_view text, std::vector<uint8_t>* out) {
  out->clear();
  if (text.size() % 2 != 0) return Status::InvalidArgument("bad_hex", "odd number of digits");
  if (text.empty()) return Status::Ok();  // as in Base64Decode: no null buffer for libsodium
  std::vector<uint8_t> bytes(text.size() / 2);
  size_t decoded_len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(bytes.data(), bytes.size(), text.data(), text.size(), /*ignore=*/nullptr,
                     &decoded_len, &end) != 0 ||
      end != text.data() + text.size() || decoded_len != bytes.size()) {
    return Status::InvalidArgument("bad_hex", "not a hex digit");
  }
  *out = std::move(bytes);
  return Status::Ok();
}

}  // namespace fundledger
