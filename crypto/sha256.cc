#include "crypto/sha256.h"

#include <sodium.h>

#include <new>

#include "crypto/sodium_init.h"

namespace fundledger {
namespace {

// The header keeps libsodium out of its includes, so it reserves raw storage (128 bytes aligned
// to 64) for the state; the constructor checks the size, this the alignment.
static_assert(alignof(crypto_hash_sha256_state) <= 64);
static_assert(crypto_hash_sha256_BYTES == std::tuple_size_v<Hash>);

crypto_hash_sha256_state* State(unsigned char* storage) {
  return std::launder(reinterpret_cast<crypto_hash_sha256_state*>(storage));
}

}  // namespace

Hash Sha256(std::span<const uint8_t> bytes) {
  internal::EnsureSodiumInitialized();
  Hash out;
  crypto_hash_sha256(out.data(), bytes.data(), bytes.size());
  return out;
}

Sha256Hasher::Sha256Hasher() {
  static_assert(sizeof(state_) >= sizeof(crypto_hash_sha256_state));
  internal::EnsureSodiumInitialized();
  // The state is a plain C struct: create it in the reserved storage, then let libsodium fill it.
  new (state_) crypto_hash_sha256_state;
  crypto_hash_sha256_init(State(state_));
}

void Sha256Hasher::Update(std::span<const uint8_t> bytes) {
  crypto_hash_sha256_update(State(state_), bytes.data(), bytes.size());
}

Hash Sha256Hasher::Finish() {
  Hash out;
  crypto_hash_sha256_final(State(state_), out.data());
  return out;
}

}  // namespace fundledger
