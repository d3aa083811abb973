// SHA-256: with the processor's SHA extensions where it has them, else libsodium's. Pure
// functions, thread safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace fundledger {

using Hash = std::array<uint8_t, 32>;

Hash Sha256(std::span<const uint8_t> bytes);
inline Hash Sha256(std::string_view bytes) {
  return Sha256(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

// Incremental form, for hashing several pieces without concatenating them.
class Sha256Hasher {
 public:
  Sha256Hasher();
  void Update(std::span<const uint8_t> bytes);
  Hash Finish();  // REQUIRES: called once.

 private:
  alignas(64) unsigned char state_[128];  // crypto_hash_sha256_state, opaque here
};

namespace internal {
// Whether the SHA extensions compute the hashes here (else libsodium does); for tests.
bool Sha256UsesShaExtensions();
}  // namespace internal

}  // namespace fundledger
