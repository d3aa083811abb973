#include "crypto/note.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/sha256.h"

namespace fundledger {
namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94";

struct GoVector {
  std::string verifier_key;
  std::string signer_key;
  std::string text;
  std::string note;
};

const GoVector& Vector() {
  static const GoVector* vector = [] {
    std::ifstream in(std::filesystem::path(FL_TEST_DATA_DIR) / "note" / "go-sumdb-note.json");
    EXPECT_TRUE(in.good());
    const nlohmann::json j = nlohmann::json::parse(in);
    return new GoVector{j.at("verifier_key"), j.at("signer_key"), j.at("text"), j.at("note")};
  }();
  return *vector;
}

NoteSigner GoSigner() {
  NoteSigner signer;
  EXPECT_TRUE(ParseSignerKey(Vector().signer_key, &signer).ok());
  return signer;
}

NoteVerifier GoVerifier() {
  NoteVerifier verifier;
  EXPECT_TRUE(ParseVerifierKey(Vector().verifier_key, &verifier).ok());
  return verifier;
}

// Builds "<name>+<hash>+<base64(key)>" with the hash computed as the Go package does over
// whatever bytes `key` holds, so a test can break exactly one property of a key text.
std::string KeyText(std::string_view name, const std::vector<uint8_t>& key) {
  std::string hashed = std::string(name) + "\n";
  hashed.append(key.begin(), key.end());
  const Hash h = Sha256(hashed);
  return std::string(name) + "+" + HexEncode(std::span(h).first(4)) + "+" + Base64Encode(key);
}

std::vector<uint8_t> EncodedKey(uint8_t algorithm, std::span<const uint8_t> key) {
  std::vector<uint8_t> out(1 + key.size());
  out[0] = algorithm;
  std::copy(key.begin(), key.end(), out.begin() + 1);
  return out;
}

Status Open(std::string_view note, std::string* text = nullptr) {
  std::string ignored;
  return OpenNote(note, GoVerifier(), text ? text : &ignored);
}

bool IsBadNote(const Status& s) {
  return s.kind() == Status::Kind::kInvalidArgument && s.code() == "bad_note";
}
bool IsSignatureInvalid(const Status& s) {
  return s.kind() == Status::Kind::kRejected && s.code() == "note_signature_invalid";
}

// ---------------------------------------------------------------------------------------------
// The Go reference vector

TEST(NoteGoVectorTest, SigningGivesTheGoNoteByteForByte) {
  std::string note;
  ASSERT_TRUE(SignNote(Vector().text, GoSigner(), &note).ok());
  EXPECT_EQ(note, Vector().note);
}

TEST(NoteGoVectorTest, KeysParseAndFormatBack) {
  const NoteSigner signer = GoSigner();
  const NoteVerifier verifier = GoVerifier();
  EXPECT_EQ(signer.name, "PeterNeumann");
  EXPECT_EQ(signer.key_hash, 0xc74f20a3u);
  EXPECT_EQ(verifier.name, "PeterNeumann");
  EXPECT_EQ(verifier.key_hash, 0xc74f20a3u);
  EXPECT_EQ(verifier.key, signer.key.public_key());
  EXPECT_EQ(NoteKeyHash(verifier.name, verifier.key), verifier.key_hash);
  const NoteVerifier derived = VerifierOf(signer);
  EXPECT_EQ(derived.name, verifier.name);
  EXPECT_EQ(derived.key_hash, verifier.key_hash);
  EXPECT_EQ(derived.key, verifier.key);
  EXPECT_EQ(FormatVerifierKey(verifier.name, verifier.key), Vector().verifier_key);
  EXPECT_EQ(FormatSignerKey(signer.name, signer.key), Vector().signer_key);
}

TEST(NoteGoVectorTest, OpensWithTheVerifierKey) {
  std::string text;
  const Status s = Open(Vector().note, &text);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(text, Vector().text);
}

// Changing any byte of the signed text must fail. Replacing a byte with another printable ASCII
// byte keeps the note well-formed (except where it removes the newline ending the text), so the
// failure must be the signature's.
TEST(NoteGoVectorTest, ChangingAnyByteOfTheTextFails) {
  const std::string& note = Vector().note;
  const size_t text_size = Vector().text.size();
  for (size_t i = 0; i < text_size; ++i) {
    std::string bad = note;
    bad[i] = bad[i] == 'x' ? 'y' : 'x';
    const Status s = Open(bad);
    EXPECT_FALSE(s.ok()) << i;
    if (i + 1 < text_size) {
      EXPECT_TRUE(IsSignatureInvalid(s)) << i << " " << s.ToString();
    }
    std::string flipped = note;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_FALSE(Open(flipped).ok()) << i;
  }
}

TEST(NoteGoVectorTest, ChangingTheSignatureFails) {
  const std::string& note = Vector().note;
  const size_t begin = note.rfind(' ') + 1;
  const size_t end = note.size() - 2;  // keep the padding and final newline
  for (size_t i = begin; i < end; ++i) {
    std::string bad = note;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(Open(bad).ok()) << i;
  }
}

TEST(NoteGoVectorTest, WrongKeyFails) {
  std::string text;
  // Another key under the same name: its hash differs, so the Go signature is not its and is
  // ignored, leaving no signature by the verifier.
  NoteVerifier other = GoVerifier();
  other.key = KeyPair::FromSeed(KeySeed{}).public_key();
  other.key_hash = NoteKeyHash(other.name, other.key);
  Status s = OpenNote(Vector().note, other, &text);
  EXPECT_TRUE(IsSignatureInvalid(s)) << s.ToString();
  // Same name and hash but a different key (a hash collision): the signature is checked and
  // fails.
  NoteVerifier colliding = GoVerifier();
  colliding.key = other.key;
  s = OpenNote(Vector().note, colliding, &text);
  EXPECT_TRUE(IsSignatureInvalid(s)) << s.ToString();
  // The right key and key hash under another name: the Go signature names PeterNeumann, so it
  // is not this verifier's.
  NoteVerifier other_name = GoVerifier();
  other_name.name = "PeterNeumann2";
  EXPECT_TRUE(IsSignatureInvalid(OpenNote(Vector().note, other_name, &text)));
  // Same key under another name.
  NoteVerifier renamed = GoVerifier();
  renamed.name = "PeterNeumann2";
  renamed.key_hash = NoteKeyHash(renamed.name, renamed.key);
  EXPECT_TRUE(IsSignatureInvalid(OpenNote(Vector().note, renamed, &text)));
}

// ---------------------------------------------------------------------------------------------
// Key texts

TEST(NoteKeyTest, GeneratedKeysRoundTrip) {
  const KeyPair key = KeyPair::Generate();
  NoteSigner signer;
  ASSERT_TRUE(ParseSignerKey(FormatSignerKey("example.com/log", key), &signer).ok());
  EXPECT_EQ(signer.name, "example.com/log");
  EXPECT_EQ(signer.key.seed(), key.seed());
  EXPECT_EQ(signer.key_hash, NoteKeyHash("example.com/log", key.public_key()));
  NoteVerifier verifier;
  ASSERT_TRUE(
      ParseVerifierKey(FormatVerifierKey("example.com/log", key.public_key()), &verifier).ok());
  EXPECT_EQ(verifier.key, key.public_key());
  EXPECT_EQ(verifier.key_hash, signer.key_hash);
}

TEST(NoteKeyTest, BuiltKeyTextMatchesTheGoVector) {
  // The test helper reproduces the Go key text, so the malformed texts below differ from a
  // valid one only where intended.
  const NoteVerifier v = GoVerifier();
  EXPECT_EQ(KeyText(v.name, EncodedKey(0x01, v.key)), Vector().verifier_key);
}

void ExpectBadVerifierKey(std::string_view text) {
  NoteVerifier out;
  const Status s = ParseVerifierKey(text, &out);
  EXPECT_EQ(s.kind(), Status::Kind::kInvalidArgument) << text;
  EXPECT_EQ(s.code(), "bad_key") << text;
}

void ExpectBadSignerKey(std::string_view text) {
  NoteSigner out;
  const Status s = ParseSignerKey(text, &out);
  EXPECT_EQ(s.kind(), Status::Kind::kInvalidArgument) << text;
  EXPECT_EQ(s.code(), "bad_key") << text;
}

TEST(NoteKeyTest, RejectsMalformedVerifierKeys) {
  const std::string good = Vector().verifier_key;  // PeterNeumann+c74f20a3+ARpc...
  const PublicKey key = GoVerifier().key;
  // Wrong hash: every hex digit changed in turn.
  for (size_t i = 13; i < 21; ++i) {
    std::string bad = good;
    bad[i] = bad[i] == '0' ? '1' : '0';
    ExpectBadVerifierKey(bad);
  }
  // Missing parts.
  ExpectBadVerifierKey("");
  ExpectBadVerifierKey("PeterNeumann");
  ExpectBadVerifierKey("PeterNeumann+c74f20a3");
  ExpectBadVerifierKey("PeterNeumann+c74f20a3+");
  ExpectBadVerifierKey(good.substr(12));  // no name
  // Hash not eight hex digits.
  ExpectBadVerifierKey("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ExpectBadVerifierKey("PeterNeumann+0c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ExpectBadVerifierKey("PeterNeumann+c74f20g3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  // Bad base64: a character outside the alphabet, missing padding, whitespace, truncation.
  ExpectBadVerifierKey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T!");
  ExpectBadVerifierKey(good + "=");
  ExpectBadVerifierKey(good + "\n");
  ExpectBadVerifierKey(good.substr(0, good.size() - 1));
  // Hash correct for the bytes, but the algorithm byte is not Ed25519's.
  ExpectBadVerifierKey(KeyText("PeterNeumann", EncodedKey(0x02, key)));
  ExpectBadVerifierKey(KeyText("PeterNeumann", EncodedKey(0x00, key)));
  // Hash correct, but the key is not 32 bytes, or absent.
  ExpectBadVerifierKey(KeyText("PeterNeumann", EncodedKey(0x01, std::span(key).first(31))));
  std::vector<uint8_t> long_key = EncodedKey(0x01, key);
  long_key.push_back(0);
  ExpectBadVerifierKey(KeyText("PeterNeumann", long_key));
  ExpectBadVerifierKey(KeyText("PeterNeumann", {}));
  // Hash correct, but the name is not a valid key name.
  ExpectBadVerifierKey(KeyText("Peter Neumann", EncodedKey(0x01, key)));
  ExpectBadVerifierKey(KeyText("Peter\xC2\xA0Neumann", EncodedKey(0x01, key)));
  ExpectBadVerifierKey(KeyText("Peter\xFFNeumann", EncodedKey(0x01, key)));
  // And the same construction with nothing wrong is accepted.
  NoteVerifier out;
  EXPECT_TRUE(ParseVerifierKey(KeyText("Peter\xC3\xA9", EncodedKey(0x01, key)), &out).ok());
}

TEST(NoteKeyTest, RejectsMalformedSignerKeys) {
  const std::string good = Vector().signer_key;  // PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK...
  const std::string tail = good.substr(std::string_view("PRIVATE+KEY+").size());
  const KeySeed seed = GoSigner().key.seed();
  ExpectBadSignerKey(tail);  // a verifier-shaped text is not a signer key
  ExpectBadSignerKey("private+key+" + tail);
  ExpectBadSignerKey("PRIVATE+" + tail);
  ExpectBadSignerKey("PRIVATE+KEY+");
  ExpectBadSignerKey("PRIVATE+KEY+PeterNeumann+c74f20a3");
  ExpectBadSignerKey("PRIVATE+KEY+PeterNeumann+c74f20a3+");
  ExpectBadSignerKey("PRIVATE+KEY+PeterNeumann+c74f20a4+" + tail.substr(22));  // wrong hash
  ExpectBadSignerKey(Vector().verifier_key);
  ExpectBadSignerKey(good + "=");
  // The hash of a signer key is over the public key: a hash computed over the seed is wrong.
  ExpectBadSignerKey("PRIVATE+KEY+" + KeyText("PeterNeumann", EncodedKey(0x01, seed)));
  // Signer hash right (over the derived public key) but algorithm byte wrong.
  const std::string right_hash = Vector().signer_key.substr(25, 8);
  ExpectBadSignerKey("PRIVATE+KEY+PeterNeumann+" + right_hash + "+" +
                     Base64Encode(EncodedKey(0x02, seed)));
  ExpectBadSignerKey("PRIVATE+KEY+PeterNeumann+" + right_hash + "+" +
                     Base64Encode(EncodedKey(0x01, std::span(seed).first(31))));
  // The same assembly with nothing wrong is the Go key.
  EXPECT_EQ("PRIVATE+KEY+PeterNeumann+" + right_hash + "+" + Base64Encode(EncodedKey(0x01, seed)),
            good);
}

TEST(NoteKeyTest, KeyNames) {
  for (std::string_view name :
       {"a", "example.com/log42", "PeterNeumann", "caf\xC3\xA9", "a/b_c-d"}) {
    EXPECT_TRUE(IsValidNoteKeyName(name)) << name;
  }
  for (std::string_view name :
       {"", "a+b", "a b", "a\tb", "a\nb", "a\rb",
        "a\x01"
        "b",
        "a\xC2\xA0"
        "b" /* NBSP */,
        "a\xE2\x80\x83"
        "b" /* EM SPACE */,
        "a\xE3\x80\x80"
        "b" /* IDEOGRAPHIC SPACE */,
        "a\xC2\x85"
        "b" /* NEL */,
        "a\xE2\x80\xA8"
        "b" /* LINE SEPARATOR */,
        "\xFF", "\xC3" /* truncated */, "\xC0\x80" /* overlong NUL */,
        "\xE0\x80\xAF" /* overlong '/' */, "\xF0\x80\x80\xAF" /* overlong '/' */,
        "\xED\xA0\x80" /* surrogate */, "\xF4\x90\x80\x80" /* above U+10FFFF */}) {
    EXPECT_FALSE(IsValidNoteKeyName(name)) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Notes

TEST(NoteTest, SignAndOpenRoundTrip) {
  const KeyPair key = KeyPair::FromSeed(KeySeed{1});
  NoteSigner signer;
  ASSERT_TRUE(ParseSignerKey(FormatSignerKey("example.com/log", key), &signer).ok());
  // The text may contain blank lines and non-ASCII text; it ends at the last blank line.
  for (std::string_view text : {"a\n", "\n", "first\n\nthird\n", "ends with a blank line\n\n",
                                "caf\xC3\xA9 \xE2\x80\x94 dash\n"}) {
    std::string note;
    ASSERT_TRUE(SignNote(text, signer, &note).ok()) << text;
    std::string opened;
    const Status s = OpenNote(note, VerifierOf(signer), &opened);
    ASSERT_TRUE(s.ok()) << text << s.ToString();
    EXPECT_EQ(opened, text);
  }
}

TEST(NoteTest, SignRejectsBadTextsAndSigners) {
  std::string note;
  for (std::string_view text :
       {std::string_view(""), std::string_view("no final newline"), std::string_view("tab\there\n"),
        std::string_view("cr\r\n"), std::string_view("bad \xFF utf8\n"),
        std::string_view("nul\0\n", 5)}) {
    EXPECT_TRUE(IsBadNote(SignNote(text, GoSigner(), &note))) << text;
  }
  EXPECT_TRUE(IsBadNote(SignNote(std::string(kNoteBytesMax, '\n'), GoSigner(), &note)));
  EXPECT_TRUE(IsBadNote(SignNote(std::string(kNoteBytesMax + 1, '\n'), GoSigner(), &note)));
  NoteSigner bad_hash = GoSigner();
  bad_hash.key_hash ^= 1;
  EXPECT_EQ(SignNote("a\n", bad_hash, &note).code(), "bad_key");
  NoteSigner bad_name = GoSigner();
  bad_name.name = "Peter Neumann";
  EXPECT_EQ(SignNote("a\n", bad_name, &note).code(), "bad_key");
  EXPECT_EQ(SignNote("a\n", NoteSigner{}, &note).code(), "bad_key");
}

TEST(NoteTest, RejectsMalformedNotes) {
  const std::string& note = Vector().note;
  const std::string& text = Vector().text;
  const std::string signature_line = note.substr(text.size() + 1);
  ASSERT_TRUE(Open(text + "\n" + signature_line).ok());  // the parts reassemble

  const std::vector<std::string> malformed = {
      "",
      text,                                                 // no signature block
      text + "\n",                                          // blank line but no signatures
      note.substr(0, note.size() - 1),                      // missing final newline
      text + signature_line,                                // no blank line before the signatures
      note + "\n",                                          // trailing blank line
      note + "junk\n",                                      // junk signature line
      text + "\njunk\n" + signature_line,                   // junk before the signature
      text + "\n- " + signature_line.substr(4),             // ASCII hyphen instead of em dash
      text + "\n\xE2\x80\x93 " + signature_line.substr(4),  // en dash
      text + "\n" + std::string(kEmDash) + signature_line.substr(4),     // no space after dash
      text + "\n" + std::string(kEmDash) + " PeterNeumann\n",            // no signature
      text + "\n" + std::string(kEmDash) + " PeterNeumann \n",           // empty signature
      text + "\n" + std::string(kEmDash) + "  x08go/ZJ\n",               // empty name
      text + "\n" + std::string(kEmDash) + " PeterNeumann x08go/Z\n",    // bad base64
      text + "\n" + std::string(kEmDash) + " PeterNeumann x08gow==\n",   // under 5 bytes
      text + "\n" + std::string(kEmDash) + " Peter+Neumann x08go/ZJ\n",  // '+' in name
      note.substr(0, note.size() - 1) + " \n",                           // trailing space
      note.substr(0, note.size() - 1) + "\r\n",                          // CRLF
      "tab\there\n\n" + signature_line,                                  // control character
      "bad \xFF utf8\n\n" + signature_line,                              // invalid UTF-8
  };
  for (size_t i = 0; i < malformed.size(); ++i) {
    const Status s = Open(malformed[i]);
    EXPECT_TRUE(IsBadNote(s)) << i << ": " << malformed[i] << " " << s.ToString();
  }
  std::string with_nul = note;
  with_nul[3] = '\0';
  EXPECT_TRUE(IsBadNote(Open(with_nul)));
}

TEST(NoteTest, UnknownSignaturesAreIgnored) {
  const std::string& text = Vector().text;
  const std::string signature_line = Vector().note.substr(text.size() + 1);
  NoteSigner other;
  ASSERT_TRUE(
      ParseSignerKey(FormatSignerKey("witness.example", KeyPair::FromSeed(KeySeed{5})), &other)
          .ok());
  std::string other_note;
  ASSERT_TRUE(SignNote(text, other, &other_note).ok());
  const std::string other_line = other_note.substr(text.size() + 1);
  // Same name as the verifier but another key hash: ignored too.
  const std::string impostor_line =
      std::string(kEmDash) + " PeterNeumann " + Base64Encode(std::vector<uint8_t>(68, 0xAB)) + "\n";

  std::string opened;
  EXPECT_TRUE(Open(text + "\n" + other_line + signature_line, &opened).ok());
  EXPECT_EQ(opened, text);
  EXPECT_TRUE(Open(text + "\n" + signature_line + other_line + impostor_line).ok());
  // Without the verifier's signature the note is rejected, however many others it has.
  EXPECT_TRUE(IsSignatureInvalid(Open(text + "\n" + other_line)));
  EXPECT_TRUE(IsSignatureInvalid(Open(text + "\n" + other_line + impostor_line)));
  // Order does not matter: an impostor before the real signature is skipped too.
  EXPECT_TRUE(Open(text + "\n" + impostor_line + signature_line).ok());
  EXPECT_TRUE(Open(text + "\n" + other_line + impostor_line + signature_line).ok());
}

// As in Go, only the first signature line by the verifier's key counts; later ones are dropped
// unchecked.
TEST(NoteTest, OnlyTheFirstSignatureByTheVerifierCounts) {
  const std::string& text = Vector().text;
  const std::string signature_line = Vector().note.substr(text.size() + 1);
  std::vector<uint8_t> blob = {0xc7, 0x4f, 0x20, 0xa3};  // the verifier's key hash
  blob.resize(68, 0x11);
  const std::string forged = std::string(kEmDash) + " PeterNeumann " + Base64Encode(blob) + "\n";
  EXPECT_TRUE(Open(text + "\n" + signature_line + signature_line).ok());
  EXPECT_TRUE(Open(text + "\n" + signature_line + forged).ok());
  EXPECT_TRUE(IsSignatureInvalid(Open(text + "\n" + forged + signature_line)));
}

TEST(NoteTest, SignatureOfTheVerifierMustBeValidWhereverItIs) {
  const std::string& text = Vector().text;
  const std::string signature_line = Vector().note.substr(text.size() + 1);
  // The verifier's name and hash, a wrong signature.
  std::vector<uint8_t> blob = {0xc7, 0x4f, 0x20, 0xa3};
  blob.resize(68, 0x11);
  const std::string forged = std::string(kEmDash) + " PeterNeumann " + Base64Encode(blob) + "\n";
  EXPECT_TRUE(IsSignatureInvalid(Open(text + "\n" + forged)));
  // A short signature under the verifier's name and hash.
  blob.resize(10);
  const std::string short_line =
      std::string(kEmDash) + " PeterNeumann " + Base64Encode(blob) + "\n";
  EXPECT_TRUE(IsSignatureInvalid(Open(text + "\n" + short_line)));
}

TEST(NoteTest, EnforcesLimits) {
  const std::string& text = Vector().text;
  const std::string signature_line = Vector().note.substr(text.size() + 1);
  std::string unknown_line =
      std::string(kEmDash) + " other " + Base64Encode(std::vector<uint8_t>(68, 0x01)) + "\n";
  std::string block;
  for (size_t i = 1; i < kNoteSignaturesMax; ++i) block += unknown_line;
  EXPECT_TRUE(Open(text + "\n" + block + signature_line).ok());  // exactly the maximum
  EXPECT_TRUE(IsBadNote(Open(text + "\n" + block + unknown_line + signature_line)));

  // A signed note at exactly the size limit opens; one byte more does not.
  const size_t overhead = Vector().note.size() - text.size();
  std::string big_text(kNoteBytesMax - overhead, 'a');
  big_text.back() = '\n';
  std::string big_note;
  ASSERT_TRUE(SignNote(big_text, GoSigner(), &big_note).ok());
  EXPECT_EQ(big_note.size(), kNoteBytesMax);
  EXPECT_TRUE(Open(big_note).ok());
  EXPECT_TRUE(IsBadNote(Open("a" + big_note)));
  EXPECT_TRUE(IsBadNote(SignNote("a" + big_text, GoSigner(), &big_note)));
}

}  // namespace
}  // namespace fundledger
