// Text encodings of binary values: standard base64 (RFC 4648, padded) and lowercase hex.
// Pure functions, thread safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/status.h"

namespace fundledger {

std::string Base64Encode(std::span<const uint8_t> bytes);

// Strict: only the standard alphabet, correct padding, and the canonical encoding (unused bits
// zero), so every byte string has exactly one accepted text. Returns InvalidArgument
// "bad_base64" otherwise. `max_bytes` bounds the decoded size.
Status Base64Decode(std::string_view text, std::vector<uint8_t>* out, size_t max_bytes = 1 << 20);
// The same for a value of exactly out.size() bytes (a hash): false, `out` unchanged, for any
// other text.
bool Base64DecodeExact(std::string_view text, std::span<uint8_t> out);

std::string HexEncode(std::span<const uint8_t> bytes);
// Lowercase or uppercase hex, even length. InvalidArgument "bad_hex" otherwise.
Status HexDecode(std::string_view text, std::vector<uint8_t>* out);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace fundledger
