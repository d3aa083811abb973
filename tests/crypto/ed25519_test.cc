#include "crypto/ed25519.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "crypto/encoding.h"

namespace fundledger {
namespace {

template <size_t N>
std::array<uint8_t, N> FromHex(std::string_view hex) {
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(HexDecode(hex, &bytes).ok());
  EXPECT_EQ(bytes.size(), N);
  std::array<uint8_t, N> out{};
  std::copy_n(bytes.begin(), std::min(N, bytes.size()), out.begin());
  return out;
}

KeySeed SeedOf(uint8_t fill) {
  KeySeed seed;
  seed.fill(fill);
  return seed;
}

// RFC 8032 section 7.1, TEST 1 and TEST 2.
TEST(Ed25519Test, Rfc8032Vectors) {
  const KeyPair key1 = KeyPair::FromSeed(
      FromHex<32>("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  EXPECT_EQ(HexEncode(key1.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(HexEncode(key1.Sign({})),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");

  const KeyPair key2 = KeyPair::FromSeed(
      FromHex<32>("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
  EXPECT_EQ(HexEncode(key2.public_key()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
  const std::vector<uint8_t> message = {0x72};
  const Signature signature = key2.Sign(message);
  EXPECT_EQ(HexEncode(signature),
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
  EXPECT_TRUE(VerifySignature(key2.public_key(), message, signature));
}

TEST(Ed25519Test, SignsAndVerifies) {
  const KeyPair key = KeyPair::Generate();
  const std::string message = "pay 100 fen to pool 7";
  const Signature signature = key.Sign(AsBytes(message));
  EXPECT_TRUE(VerifySignature(key.public_key(), AsBytes(message), signature));
  EXPECT_FALSE(VerifySignature(key.public_key(), AsBytes("pay 900 fen to pool 7"), signature));
  EXPECT_FALSE(VerifySignature(KeyPair::Generate().public_key(), AsBytes(message), signature));
}

TEST(Ed25519Test, GenerateGivesDistinctKeys) {
  const KeyPair a = KeyPair::Generate();
  const KeyPair b = KeyPair::Generate();
  EXPECT_NE(a.seed(), b.seed());
  EXPECT_NE(a.public_key(), b.public_key());
  // The seed alone determines the key.
  EXPECT_EQ(KeyPair::FromSeed(a.seed()).public_key(), a.public_key());
}

TEST(Ed25519Test, FromSeedIsDeterministic) {
  const KeyPair a = KeyPair::FromSeed(SeedOf(7));
  const KeyPair b = KeyPair::FromSeed(SeedOf(7));
  EXPECT_EQ(a.seed(), SeedOf(7));
  EXPECT_EQ(a.public_key(), b.public_key());
  EXPECT_EQ(a.Sign(AsBytes("x")), b.Sign(AsBytes("x")));
  EXPECT_NE(KeyPair::FromSeed(SeedOf(8)).public_key(), a.public_key());
}

TEST(Ed25519Test, CopiesSignAlike) {
  const KeyPair original = KeyPair::FromSeed(SeedOf(3));
  const KeyPair copy(original);
  KeyPair assigned = KeyPair::FromSeed(SeedOf(4));
  assigned = original;
  for (const KeyPair* key : std::initializer_list<const KeyPair*>{&copy, &assigned}) {
    EXPECT_EQ(key->seed(), original.seed());
    EXPECT_EQ(key->public_key(), original.public_key());
    EXPECT_EQ(key->Sign(AsBytes("m")), original.Sign(AsBytes("m")));
  }
}

// An event signature covers kEventDomain || event; it must not pass as a plain signature over
// the event bytes, and a plain signature must not pass as an event signature.
TEST(Ed25519Test, EventSignaturesAreDomainSeparated) {
  const KeyPair key = KeyPair::FromSeed(SeedOf(1));
  const std::string event = "canonical event bytes";
  const Signature event_signature = key.SignEvent(AsBytes(event));
  const Signature plain_signature = key.Sign(AsBytes(event));
  EXPECT_NE(event_signature, plain_signature);

  EXPECT_TRUE(VerifyEventSignature(key.public_key(), AsBytes(event), event_signature));
  EXPECT_FALSE(VerifySignature(key.public_key(), AsBytes(event), event_signature));
  EXPECT_TRUE(VerifySignature(key.public_key(), AsBytes(event), plain_signature));
  EXPECT_FALSE(VerifyEventSignature(key.public_key(), AsBytes(event), plain_signature));

  // The event signature is exactly a plain signature over the domain-prefixed message.
  const std::string prefixed = std::string(kEventDomain) + event;
  EXPECT_TRUE(VerifySignature(key.public_key(), AsBytes(prefixed), event_signature));
  EXPECT_EQ(key.Sign(AsBytes(prefixed)), event_signature);
  // So a plain signature over domain-prefixed bytes is an event signature: the domain string is
  // what keeps other signed messages (checkpoints, requests) from starting with it.
  EXPECT_TRUE(kEventDomain.starts_with("fundledger/event/"));
  EXPECT_TRUE(kEventDomain.ends_with("\n"));
}

TEST(Ed25519Test, EveryFlippedBitIsRejected) {
  const KeyPair key = KeyPair::FromSeed(SeedOf(9));
  const std::string event = "ev";
  const Signature signature = key.SignEvent(AsBytes(event));
  ASSERT_TRUE(VerifyEventSignature(key.public_key(), AsBytes(event), signature));
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    Signature bad = signature;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(VerifyEventSignature(key.public_key(), AsBytes(event), bad)) << bit;
  }
  for (size_t bit = 0; bit < event.size() * 8; ++bit) {
    std::string bad = event;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    EXPECT_FALSE(VerifyEventSignature(key.public_key(), AsBytes(bad), signature)) << bit;
  }
  for (size_t bit = 0; bit < key.public_key().size() * 8; ++bit) {
    PublicKey bad = key.public_key();
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(VerifyEventSignature(bad, AsBytes(event), signature)) << bit;
  }
}

bool Contains(std::span<const uint8_t> haystack, std::span<const uint8_t> needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

// The destructor wipes the secret. Inspect the storage a KeyPair lived in after destroying it.
TEST(Ed25519Test, DestructorWipesTheSeed) {
  KeySeed seed;
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(0x80 + i);
  const KeyPair source = KeyPair::FromSeed(seed);
  alignas(KeyPair) uint8_t storage[sizeof(KeyPair)];
  KeyPair* key = new (storage) KeyPair(source);
  ASSERT_TRUE(Contains(storage, seed));  // so the check below can fail
  key->~KeyPair();
  EXPECT_FALSE(Contains(storage, seed));
}

}  // namespace
}  // namespace fundledger
