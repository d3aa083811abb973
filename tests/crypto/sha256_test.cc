#include "crypto/sha256.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace fundledger
