#include "crypto/checkpoint.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/encoding.h"

namespace fundledger {
namespace {

NoteSigner LogSigner(std::string_view name = "example.com/log") {
  NoteSigner signer;
  EXPECT_TRUE(ParseSignerKey(FormatSignerKey(name, KeyPair::FromSeed(KeySeed{42})), &signer).ok());
  return signer;
}

Checkpoint SampleCheckpoint() {
  Checkpoint c;
  c.origin = "example.com/log";
  c.size = 20852163;
  c.root = Sha256("root");
  return c;
}

bool IsBadCheckpoint(const Status& s) {
  return s.kind() == Status::Kind::kInvalidArgument && s.code() == "bad_checkpoint";
}

// Replaces the first occurrence of `from` in `s`, which must be there.
std::string Replace(std::string s, std::string_view from, std::string_view to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

const std::string kRoot = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";  // SHA-256("")

TEST(CheckpointTest, BodyFormat) {
  const Checkpoint c = SampleCheckpoint();
  EXPECT_EQ(FormatCheckpointBody(c), "example.com/log\n20852163\n" + Base64Encode(c.root) + "\n");
  Checkpoint empty;
  empty.origin = "o";
  empty.root = Sha256("");
  EXPECT_EQ(FormatCheckpointBody(empty), "o\n0\n" + kRoot + "\n");
}

TEST(CheckpointTest, BodyRoundTrips) {
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{10}, uint64_t{20852163}, UINT64_MAX}) {
    Checkpoint c = SampleCheckpoint();
    c.size = size;
    Checkpoint parsed;
    ASSERT_TRUE(ParseCheckpointBody(FormatCheckpointBody(c), &parsed).ok()) << size;
    EXPECT_EQ(parsed, c);
  }
}

TEST(CheckpointTest, ParsesFieldsAndIgnoresExtensionLines) {
  Checkpoint c;
  ASSERT_TRUE(
      ParseCheckpointBody("log\n18446744073709551615\n" + kRoot + "\next 1\next 2\n", &c).ok());
  EXPECT_EQ(c.origin, "log");
  EXPECT_EQ(c.size, UINT64_MAX);
  EXPECT_EQ(c.root, Sha256(""));
}

TEST(CheckpointTest, RejectsMalformedBodies) {
  const std::string r = kRoot;
  const std::vector<std::string> malformed = {
      "",
      "\n",
      "log\n",
      "log\n5\n",                                     // two lines
      "log\n5\n" + r,                                 // no final newline
      "\n5\n" + r + "\n",                             // empty origin
      "log\n\n" + r + "\n",                           // empty size
      "log\n5\n\n",                                   // empty root
      "log\n5\n" + r + "\n\n",                        // empty extension line
      "log\n5\n" + r + "\next\n\n",                   // empty extension line after one
      "log\n05\n" + r + "\n",                         // leading zero
      "log\n00\n" + r + "\n",                         // "0" written twice
      "log\n+5\n" + r + "\n",                         // sign
      "log\n-5\n" + r + "\n",                         // negative
      "log\n 5\n" + r + "\n",                         // space
      "log\n5 \n" + r + "\n",                         // space
      "log\n0x5\n" + r + "\n",                        // hex
      "log\n5.0\n" + r + "\n",                        // not an integer
      "log\n18446744073709551616\n" + r + "\n",       // 2^64
      "log\n99999999999999999999\n" + r + "\n",       // 20 digits, overflows
      "log\n100000000000000000000\n" + r + "\n",      // 21 digits
      "log\n5\n" + r.substr(0, r.size() - 4) + "\n",  // 30-byte root
      "log\n5\n" + Base64Encode(std::vector<uint8_t>(31)) + "\n",
      "log\n5\n" + Base64Encode(std::vector<uint8_t>(33)) + "\n",
      "log\n5\n" + r.substr(0, r.size() - 1) + "\n",  // missing padding
      "log\n5\n" + Replace(r, "U=", "V=") + "\n",     // non-canonical base64
      "log\n5\n" + r + " \n",                         // trailing space
      "log\n5\n" + Replace(r, "+", "-") + "\n",       // URL alphabet
      "log\r\n5\n" + r + "\n",                        // CRLF
      "lo\tg\n5\n" + r + "\n",                        // control character
  };
  for (size_t i = 0; i < malformed.size(); ++i) {
    Checkpoint c;
    EXPECT_TRUE(IsBadCheckpoint(ParseCheckpointBody(malformed[i], &c)))
        << i << ": " << malformed[i];
  }
  // The unmodified pieces do parse.
  Checkpoint c;
  EXPECT_TRUE(ParseCheckpointBody("log\n5\n" + r + "\n", &c).ok());
  EXPECT_TRUE(ParseCheckpointBody("log\n0\n" + r + "\n", &c).ok());
  EXPECT_TRUE(ParseCheckpointBody("log\n5\n" + r + "\next\n", &c).ok());
}

TEST(CheckpointTest, SignAndOpenRoundTrip) {
  const NoteSigner signer = LogSigner();
  const Checkpoint c = SampleCheckpoint();
  std::string note;
  ASSERT_TRUE(SignCheckpoint(c, signer, &note).ok());
  EXPECT_TRUE(note.starts_with(FormatCheckpointBody(c) + "\n\xE2\x80\x94 example.com/log "));
  Checkpoint opened;
  const Status s = OpenCheckpoint(note, VerifierOf(signer), &opened);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(opened, c);
}

TEST(CheckpointTest, TamperedCheckpointsFail) {
  const NoteSigner signer = LogSigner();
  const Checkpoint c = SampleCheckpoint();
  std::string note;
  ASSERT_TRUE(SignCheckpoint(c, signer, &note).ok());
  const std::string root_base64 = Base64Encode(c.root);
  Checkpoint other_root = c;
  other_root.root[0] ^= 1;
  const std::vector<std::string> tampered = {
      Replace(note, "20852163", "20852164"),
      Replace(note, "20852163", "2085216"),
      Replace(note, root_base64, Base64Encode(other_root.root)),
      Replace(note, "example.com/log\n", "example.com/lag\n"),
      Replace(note, "example.com/log\n", "example.com/log/\n"),
      Replace(note, root_base64 + "\n", root_base64 + "\nextension\n"),
  };
  for (const std::string& bad : tampered) {
    ASSERT_NE(bad, note);
    Checkpoint out;
    const Status s = OpenCheckpoint(bad, VerifierOf(signer), &out);
    EXPECT_EQ(s.kind(), Status::Kind::kRejected) << bad;
    EXPECT_EQ(s.code(), "note_signature_invalid") << bad;
  }
  // Another log's key does not open it.
  Checkpoint out;
  EXPECT_FALSE(OpenCheckpoint(note, VerifierOf(LogSigner("example.com/other")), &out).ok());
}

TEST(CheckpointTest, SignRejectsOriginsThatDoNotReadBack) {
  const NoteSigner signer = LogSigner();
  for (std::string_view origin : {"", "two\nlines", "tab\there", "log\n"}) {
    Checkpoint c = SampleCheckpoint();
    c.origin = std::string(origin);
    std::string note;
    EXPECT_TRUE(IsBadCheckpoint(SignCheckpoint(c, signer, &note))) << origin;
  }
}

TEST(CheckpointTest, OpenRejectsASignedNoteThatIsNotACheckpoint) {
  const NoteSigner signer = LogSigner();
  std::string note;
  ASSERT_TRUE(SignNote("example.com/log\n012\n" + kRoot + "\n", signer, &note).ok());
  Checkpoint out;
  EXPECT_TRUE(IsBadCheckpoint(OpenCheckpoint(note, VerifierOf(signer), &out)));
  ASSERT_TRUE(SignNote("just text\n", signer, &note).ok());
  EXPECT_TRUE(IsBadCheckpoint(OpenCheckpoint(note, VerifierOf(signer), &out)));
  // And a malformed note is the note's error.
  EXPECT_EQ(OpenCheckpoint("example.com/log\n1\n" + kRoot + "\n", VerifierOf(signer), &out).code(),
            "bad_note");
}

}  // namespace
}  // namespace fundledger
