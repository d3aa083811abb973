#include "crypto/sha256.h"

#include <gtest/gtest.h>

#include <sodium.h>

#include <algorithm>
#include <iostream>
#include <random>
#include <string>

#include "crypto/encoding.h"

namespace fundledger {
namespace {

std::string Hex(const Hash& h) { return HexEncode(h); }

// FIPS 180-2 / NIST examples.
TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(Hex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Hex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Hex(Sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IncrementalEqualsOneShotAtEverySplit) {
  std::string message;
  for (int i = 0; i < 200; ++i) message.push_back(static_cast<char>(i * 7));
  const Hash want = Sha256(message);
  for (size_t split = 0; split <= message.size(); ++split) {
    Sha256Hasher hasher;
    hasher.Update(AsBytes(std::string_view(message).substr(0, split)));
    hasher.Update(AsBytes(std::string_view(message).substr(split)));
    EXPECT_EQ(hasher.Finish(), want) << split;
  }
  Sha256Hasher empty;
  EXPECT_EQ(empty.Finish(), Sha256(""));
}

// libsodium's SHA-256, the reference the accelerated one must equal.
Hash Reference(std::string_view bytes) {
  Hash out;
  crypto_hash_sha256(out.data(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return out;
}

// Every length through several blocks (each padding case: the length field in the same block,
// or spilling into a new one), then random lengths and contents.
TEST(Sha256Test, EqualsLibsodiumAtEveryLength) {
  ASSERT_EQ(sodium_init() >= 0, true);
  std::mt19937_64 random(20261122);
  std::string message;
  for (size_t n = 0; n <= 1100; ++n) {
    ASSERT_EQ(Sha256(message), Reference(message)) << "length " << n;
    message.push_back(char(random()));
  }
  for (int i = 0; i < 2000; ++i) {
    std::string m(random() % 5000, '\0');
    for (char& c : m) c = char(random());
    ASSERT_EQ(Sha256(m), Reference(m)) << "length " << m.size();
  }
  std::cout << "SHA-256 computed with "
            << (internal::Sha256UsesShaExtensions() ? "the processor's SHA extensions"
                                                    : "libsodium")
            << "\n";
}

// Pieces of random sizes, including empty ones and ones that fill a block exactly.
TEST(Sha256Test, IncrementalEqualsLibsodiumForRandomPieces) {
  std::mt19937_64 random(7);
  for (int i = 0; i < 1000; ++i) {
    std::string m(random() % 3000, '\0');
    for (char& c : m) c = char(random());
    Sha256Hasher hasher;
    size_t at = 0;
    while (at < m.size()) {
      size_t piece = std::min<size_t>(m.size() - at, random() % 3 == 0 ? 64 : random() % 200);
      hasher.Update(AsBytes(std::string_view(m).substr(at, piece)));
      at += piece;
    }
    ASSERT_EQ(hasher.Finish(), Reference(m)) << "length " << m.size();
  }
}

}  // namespace
}  // namespace fundledger
