#include "crypto/ed25519.h"

#include <sodium.h>

#include <algorithm>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/sodium_init.h"

namespace fundledger {
namespace {

static_assert(crypto_sign_PUBLICKEYBYTES == std::tuple_size_v<PublicKey>);
static_assert(crypto_sign_SEEDBYTES == std::tuple_size_v<KeySeed>);
static_assert(crypto_sign_BYTES == std::tuple_size_v<Signature>);
static_assert(crypto_sign_SECRETKEYBYTES == 64);

// kEventDomain || canonical_event. Ed25519 hashes the message twice, so libsodium needs it in
// one piece; events are small, the copy is cheap.
std::vector<uint8_t> EventMessage(std::span<const uint8_t> canonical_event) {
  const std::span<const uint8_t> domain = AsBytes(kEventDomain);
  std::vector<uint8_t> message(domain.size() + canonical_event.size());
  std::copy(domain.begin(), domain.end(), message.begin());
  std::copy(canonical_event.begin(), canonical_event.end(), message.begin() + domain.size());
  return message;
}

}  // namespace

KeyPair KeyPair::Generate() {
  internal::EnsureSodiumInitialized();
  KeySeed seed;
  randombytes_buf(seed.data(), seed.size());
  KeyPair key = FromSeed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

KeyPair KeyPair::FromSeed(const KeySeed& seed) {
  internal::EnsureSodiumInitialized();
  KeyPair key;
  key.seed_ = seed;
  // Cannot fail for any 32-byte seed.
  crypto_sign_seed_keypair(key.public_key_.data(), key.secret_.data(), seed.data());
  return key;
}

KeyPair::KeyPair(const KeyPair&) = default;
KeyPair& KeyPair::operator=(const KeyPair&) = default;

KeyPair::~KeyPair() {
  sodium_memzero(seed_.data(), seed_.size());
  sodium_memzero(secret_.data(), secret_.size());
}

Signature KeyPair::Sign(std::span<const uint8_t> message) const {
  Signature signature;
  crypto_sign_detached(signature.data(), /*siglen_p=*/nullptr, message.data(), message.size(),
                       secret_.data());
  return signature;
}

Signature KeyPair::SignEvent(std::span<const uint8_t> canonical_event) const {
  return Sign(EventMessage(canonical_event));
}

bool VerifySignature(const PublicKey& key, std::span<const uint8_t> message,
                     const Signature& signature) {
  internal::EnsureSodiumInitialized();
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     key.data()) == 0;
}

bool VerifyEventSignature(const PublicKey& key, std::span<const uint8_t> canonical_event,
                          const Signature& signature) {
  return VerifySignature(key, EventMessage(canonical_event), signature);
}

}  // namespace fundledger
