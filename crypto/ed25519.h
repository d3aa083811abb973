// Ed25519 keys and signatures (libsodium). Pure functions, thread safe.
//
// Event signatures are domain-separated: the signed message is kEventDomain followed by the
// Cap'n Proto canonical encoding of the event, so a signature over an event can never be
// replayed as a signature over anything else (a checkpoint, an HTTP request).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace fundledger {

using PublicKey = std::array<uint8_t, 32>;
using KeySeed = std::array<uint8_t, 32>;  // the 32-byte Ed25519 private seed
using Signature = std::array<uint8_t, 64>;

inline constexpr std::string_view kEventDomain = "fundledger/event/v1\n";

// A secret key, held as its seed and the derived public key. Value type; wiped on destruction.
class KeyPair {
 public:
  static KeyPair Generate();                    // from the OS random source
  static KeyPair FromSeed(const KeySeed& seed);  // deterministic
  KeyPair(const KeyPair&);
  KeyPair& operator=(const KeyPair&);
  ~KeyPair();

  const PublicKey& public_key() const { return public_key_; }
  const KeySeed& seed() const { return seed_; }

  Signature Sign(std::span<const uint8_t> message) const;
  // Signs kEventDomain || canonical_event.
  Signature SignEvent(std::span<const uint8_t> canonical_event) const;

 private:
  KeyPair() = default;
  KeySeed seed_{};
  PublicKey public_key_{};
  std::array<uint8_t, 64> secret_{};  // libsodium's seed || public key form
};

bool VerifySignature(const PublicKey& key, std::span<const uint8_t> message,
                     const Signature& signature);
// Verifies a signature over kEventDomain || canonical_event.
bool VerifyEventSignature(const PublicKey& key, std::span<const uint8_t> canonical_event,
                          const Signature& signature);

}  // namespace fundledger
