#include "api/submit.h"

#include <malloc.h>

#include "ledger/codec.h"

#include "tests/ledger/test_ledger.h"

namespace fundledger::testing {
namespace {

using nlohmann::json;

class SubmitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_.Register("xt-finance");
    good_ = ledger_.Signed("xt-finance", Receipt("r1", "xt-finance", 100)).ToEnvelopeJson();
  }

  // Submits `body`; checks that nothing was appended and returns the single result's error.
  json RejectedError(const std::string& body) {
    Journal::Head before = ledger_.journal().head();
    json results;
    bool accepted_all = true;
    Status s = SubmitEnvelopes(ledger_.journal(), body, &results, &accepted_all);
    Journal::Head after = ledger_.journal().head();
    EXPECT_EQ(after.size, before.size) << body;
    EXPECT_EQ(after.root, before.root) << body;
    if (!s.ok()) return ErrorJson(s);
    EXPECT_FALSE(accepted_all);
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? json() : results[0]["error"];
  }

  TestLedger ledger_;
  json good_;
};

TEST_F(SubmitTest, AcceptsOneEnvelopeAnArrayOrJsonLines) {
  json results;
  bool accepted_all = false;
  ASSERT_TRUE(SubmitEnvelopes(ledger_.journal(), good_.dump(), &results, &accepted_all).ok());
  EXPECT_TRUE(accepted_all);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0]["seq"], ledger_.journal().head().size);
  EXPECT_EQ(results[0]["duplicate"], false);
  EXPECT_EQ(results[0]["leaf_hash"].get<std::string>().size(), 44u);

  json e2 = ledger_.Signed("xt-finance", Receipt("r2", "xt-finance", 1)).ToEnvelopeJson();
  json e3 = ledger_.Signed("xt-finance", Receipt("r3", "xt-finance", 1)).ToEnvelopeJson();
  ASSERT_TRUE(
      SubmitEnvelopes(ledger_.journal(), json::array({good_, e2}).dump(), &results, &accepted_all)
          .ok());
  EXPECT_TRUE(accepted_all);
  EXPECT_EQ(results[0]["duplicate"], true);  // r1 again, same content
  ASSERT_TRUE(SubmitEnvelopes(ledger_.journal(), e2.dump() + "\n\n" + e3.dump() + "\n", &results,
                              &accepted_all)
                  .ok());
  EXPECT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1]["id"], "r3");
}

TEST_F(SubmitTest, EveryKindOfBadInputIsNamedAndChangesNothing) {
  auto with = [&](auto mutate) {
    json e = good_;
    mutate(e);
    return e.dump();
  };
  struct Case {
    std::string body;
    std::string code;
    json field;
  };
  std::vector<Case> cases = {
      {"{\"signer\": ", "json_malformed", nullptr},
      {"", "empty_submission", nullptr},
      {with([](json& e) { e["event"]["type"] = "funds_stolen"; }), "unknown_type", "type"},
      {with([](json& e) { e["event"]["colour"] = 1; }), "json_unknown_field", "colour"},
      {with([](json& e) { e["extra"] = 1; }), "json_unknown_field", "extra"},
      {with([](json& e) { e["event"]["amount_fen"] = "100"; }), "json_field_type", "amount_fen"},
      {with([](json& e) { e["event"]["id"] = "bad id!"; }), "bad_id", "id"},
      {with([](json& e) { e["signature"] = "***"; }), "bad_base64", "signature"},
      {with([](json& e) { e["signer"] = "nobody"; }), "signer_unknown", "signer"},
      {with([](json& e) { e["event"]["amount_fen"] = 101; }), "signature_invalid", "signature"},
  };
  for (const auto& c : cases) {
    json error = RejectedError(c.body);
    EXPECT_EQ(error["code"], c.code) << c.body << " -> " << error.dump();
    EXPECT_EQ(error["field"], c.field) << c.body << " -> " << error.dump();
  }
  // The event is named even when it could not be decoded.
  json error = RejectedError(with([](json& e) { e["event"]["amount_fen"] = -5; }));
  EXPECT_EQ(error["event_id"], "r1");
}

// Found by the hostile catalogue (tests/data/hostile, utf8-json-*): the JSON parser's message
// quotes the bytes it stopped at, and rendering invalid UTF-8 as JSON threw, so that the server
// answered 500. The error is now rendered with U+FFFD in their place.
TEST_F(SubmitTest, InvalidUtf8IsNamedInValidJson) {
  std::string body = good_.dump();
  body.replace(body.find("r1"), 2, "\xc0\xaf");
  json error = RejectedError(body);
  EXPECT_EQ(error["code"], "json_malformed") << error;
  std::string text;
  ASSERT_NO_THROW(text = error.dump());
  EXPECT_TRUE(IsValidUtf8(text));
  EXPECT_EQ(ToValidUtf8("a\xff\xc0\xaf"
                        "b\xe4\xb8\xad"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
            "b\xe4\xb8\xad");
  Status status = Status::InvalidArgument("x\xff", "m\xff", "f\xff").WithEventId("e\xff");
  ASSERT_NO_THROW(ErrorJson(status).dump());
}

TEST_F(SubmitTest, ABadLineDoesNotSpoilTheOthers) {
  json e2 = ledger_.Signed("xt-finance", Receipt("r2", "xt-finance", 1)).ToEnvelopeJson();
  json results;
  bool accepted_all = true;
  ASSERT_TRUE(SubmitEnvelopes(ledger_.journal(), good_.dump() + "\n{oops\n" + e2.dump(), &results,
                              &accepted_all)
                  .ok());
  EXPECT_FALSE(accepted_all);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].contains("seq"));
  EXPECT_EQ(results[1]["error"]["code"], "json_malformed");
  EXPECT_NE(results[1]["error"]["message"].get<std::string>().find("line 2"), std::string::npos);
  EXPECT_TRUE(results[2].contains("seq"));
}

// A body that is neither one JSON document nor JSON lines (a pretty-printed array or envelope
// with a fault in it) is refused as a whole with the document's error: none of its lines that
// happen to parse on their own is taken.
TEST_F(SubmitTest, ABrokenDocumentIsNotTakenForJsonLines) {
  json e2 = ledger_.Signed("xt-finance", Receipt("r2", "xt-finance", 1)).ToEnvelopeJson();
  json e3 = ledger_.Signed("xt-finance", Receipt("r3", "xt-finance", 1)).ToEnvelopeJson();
  const std::string unclosed_array = "[\n" + e2.dump() + ",\n" + e3.dump() + "\n";
  const std::string unclosed_indented = "[\n  " + e2.dump() + ",\n  " + e3.dump() + "\n";
  std::string pretty_trailing_comma = good_.dump(2);
  pretty_trailing_comma.insert(pretty_trailing_comma.rfind('}'), ",\n");
  for (const std::string& body : {unclosed_array, unclosed_indented, pretty_trailing_comma}) {
    json results;
    bool accepted_all = true;
    Journal::Head before = ledger_.journal().head();
    Status s = SubmitEnvelopes(ledger_.journal(), body, &results, &accepted_all);
    EXPECT_EQ(ledger_.journal().head().size, before.size) << body;
    EXPECT_FALSE(s.ok()) << body;
    EXPECT_EQ(s.code(), "json_malformed") << s.ToString();
    EXPECT_NE(s.message().rfind("line ", 0), 0u) << "judged line by line: " << s.ToString();
  }
  uint64_t seq = 0;
  EXPECT_FALSE(ledger_.journal().FindEvent("r3", &seq).ok());
}

// The server writes its answer to a list as text; it must be the JSON of RenderSubmission byte
// for byte, for accepted events, duplicates, events refused by a rule and items that did not
// decode (with control characters and non-ASCII text in their messages).
TEST_F(SubmitTest, TheResultTextIsTheResultJsonDumped) {
  json rich = ledger_.Signed("xt-finance", Receipt("r-rich", "xt-finance", 5)).ToEnvelopeJson();
  rich["event"]["memo"] = "quotes \" and \\ and a tab \t and \u0001 and 资金";
  json body = json::array(
      {good_, good_,
       ledger_.Signed("xt-finance", Receipt("r1", "xt-finance", 999)).ToEnvelopeJson(),
       json{{"signer", "xt-finance\u0002\u00e9"}, {"event", {{"id", "broken\nid"}}}}, rich,
       ledger_.Signed("xt-finance", Receipt("r-big", "xt-finance", 0)).ToEnvelopeJson()});
  Submission submission;
  ASSERT_TRUE(DecodeJsonSubmission(body.dump(), &submission).ok());
  std::vector<AppendResult> appended;
  ASSERT_TRUE(ledger_.journal().Append(submission.events, &appended).ok());
  bool accepted_all = true;
  json results = RenderSubmission(submission, appended, &accepted_all);
  EXPECT_FALSE(accepted_all);
  EXPECT_EQ(results[1]["duplicate"], true);
  EXPECT_TRUE(results[2].contains("error")) << results[2];
  EXPECT_TRUE(results[3].contains("error")) << results[3];
  EXPECT_EQ(RenderSubmissionText(submission, appended), results.dump());
  EXPECT_EQ(RenderSubmissionText(submission, appended).size(), results.dump().size());
}

// A body is decoded item by item: each item's JSON is let go once it is an event, so a large
// body is never held as one DOM of all its items, and an item of more values than an event's
// JSON form holds is refused while it is parsed (an 8 MiB envelope of junk built a 200 MiB DOM).
TEST(SubmitBounds, ABodyIsDecodedItemByItemAndAnItemsValuesAreBounded) {
  Submission submission;
  std::string junk = R"({"signer":"a","junk":[)";
  for (size_t i = 0; i < kJsonItemValuesMax; ++i) junk += "0,";
  junk += "0]}";
  Status s = DecodeJsonSubmission(junk, &submission);
  EXPECT_EQ(s.code(), "too_many_values") << s.ToString();
  EXPECT_TRUE(submission.errors.empty());
  s = DecodeJsonSubmission("[{},\n" + junk + "]", &submission);
  EXPECT_EQ(s.code(), "too_many_values") << s.ToString();
  EXPECT_NE(s.message().find("item 2 "), std::string::npos) << s.ToString();
  EXPECT_TRUE(submission.errors.empty());  // nothing of a refused body is kept

  // JSON lines: the first line was taken as the document, then the body is read line by line,
  // and each item is decoded once.
  s = DecodeJsonSubmission("{}\n{}\n", &submission);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(submission.errors.size(), 2u);
  // A JSON-lines item over the bound is an error of its own line; the others are decoded.
  s = DecodeJsonSubmission("{}\n" + junk + "\n{}\n", &submission);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(submission.errors.size(), 3u);
  EXPECT_EQ(submission.errors[1].code(), "too_many_values");
  EXPECT_NE(submission.errors[1].message().find("line 2: "), std::string::npos);
  EXPECT_EQ(submission.errors[0].code(), "json_missing_field");
  // A line that is not an object is refused before it is parsed: an array of small objects on
  // one line would otherwise be built whole (each item within the bound, the line not).
  std::string array_line = "{}\n[";
  for (int i = 0; i < 100000; ++i) array_line += i ? ",{\"a\":0}" : "{\"a\":0}";
  s = DecodeJsonSubmission(array_line + "]\n", &submission);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(submission.errors.size(), 2u);
  EXPECT_EQ(submission.errors[1].code(), "json_malformed");
  EXPECT_NE(submission.errors[1].message().find("line 2: a line of JSON lines is one envelope"),
            std::string::npos)
      << submission.errors[1].ToString();
  // Nor is a first line that is an array parsed to see whether the body is JSON lines: an array
  // of items each within the bound would be built whole.
  std::string inner = "[";
  for (int i = 0; i < 1000; ++i) inner += i ? ",{}" : "{}";
  inner += "]";
  std::string first_array = "[";
  for (int i = 0; i < 50; ++i) first_array += (i ? "," : "") + inner;
  first_array += "]\nx\n";
  s = DecodeJsonSubmission(first_array, &submission);
  EXPECT_EQ(s.code(), "json_malformed") << s.ToString();
  // A byte order mark before the first line is not taken for part of it.
  s = DecodeJsonSubmission("\xEF\xBB\xBF{}\n{}\n", &submission);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(submission.errors.size(), 2u);
  EXPECT_EQ(submission.errors[0].code(), "json_missing_field") << submission.errors[0].ToString();
}

// The items of a body are handed over as they are parsed: the heap in use when each is decoded
// holds one item's DOM, not the whole body's. (Built whole, 3,000 items of 200 keys each take
// over 60 MiB before the first is decoded.)
TEST(SubmitBounds, TheHeapHoldsOneItemsDomAtATime) {
  std::string body = "[";
  for (int i = 0; i < 3000; ++i) {
    body += i ? ",{\"signer\":\"a\",\"junk\":{" : "{\"signer\":\"a\",\"junk\":{";
    for (int k = 0; k < 200; ++k) body += (k ? ",\"k" : "\"k") + std::to_string(k) + "\":0";
    body += "}}";
  }
  body += "]";
  ASSERT_LT(body.size(), kJsonDocumentBytesMax);
  const size_t before = mallinfo2().uordblks;
  size_t peak = 0, items = 0;
  Status s = ParseJsonItems(body, kSubmissionEventsMax,
                            JsonItemSink{[] {},
                                         [&](json&& item, Status) {
                                           ++items;
                                           peak = std::max(peak, mallinfo2().uordblks);
                                           item = json();
                                         }});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(items, 3000u);
  EXPECT_LT(peak - std::min(peak, before), size_t(8) << 20) << "bytes in use above the start";
}

// A body of more items than a submission may hold is refused before the items past the bound
// are parsed: megabytes of short lines must not become millions of parse errors held in memory.
// (The first line is an object, as JSON lines start; the others are not.)
TEST(SubmitBounds, JsonLinesPastTheBoundAreNotParsed) {
  std::string lines = "{}\n";
  for (size_t i = 0; i < 2 * kSubmissionEventsMax; ++i) lines += "x\n";
  std::vector<json> items;
  std::vector<Status> errors;
  Status s = ParseJsonItems(lines, &items, &errors);
  EXPECT_EQ(s.code(), "too_many_events") << s.ToString();
  EXPECT_LE(errors.size(), kSubmissionEventsMax);
  EXPECT_LE(items.size(), kSubmissionEventsMax);

  // A server's own smaller bound is the one applied, and named.
  std::string six;
  for (int i = 0; i < 6; ++i) six += "{}\n";
  Submission submission;
  s = DecodeJsonSubmission(six, &submission, 5);
  EXPECT_EQ(s.code(), "too_many_events");
  EXPECT_NE(s.message().find("at most 5 "), std::string::npos) << s.ToString();
  EXPECT_LE(submission.errors.size(), 5u);
  EXPECT_TRUE(DecodeJsonSubmission(six, &submission, 6).ok());
  EXPECT_EQ(submission.errors.size(), 6u);
}

TEST(SubmitBounds, AnArrayPastTheBoundIsRefusedWhileParsed) {
  std::string array = "[";
  for (int i = 0; i < 6; ++i) array += i ? ",{}" : "{}";
  array += "]";
  Submission submission;
  Status s = DecodeJsonSubmission(array, &submission, 5);
  EXPECT_EQ(s.code(), "too_many_events") << s.ToString();
  EXPECT_NE(s.message().find("at most 5 "), std::string::npos) << s.ToString();
  EXPECT_TRUE(DecodeJsonSubmission(array, &submission, 6).ok());

  // The parser stops at the first item past the bound; only the document's own items count.
  json out;
  EXPECT_EQ(ParseJson("[1,2,3,{\"a\":", &out, 3).code(), "too_many_items");
  EXPECT_EQ(ParseJson("[1,2,3,[", &out, 3).code(), "too_many_items");
  EXPECT_TRUE(ParseJson("[1,2,3]", &out, 3).ok());
  EXPECT_TRUE(ParseJson("[[1,2,3,4,5],{\"a\":[1,2,3,4]}]", &out, 2).ok());
  EXPECT_TRUE(ParseJson("{\"a\":[1,2,3,4]}", &out, 1).ok());
}

TEST_F(SubmitTest, CapnpMessagesPastTheServersBoundAreRefused) {
  std::string one =
      ledger_.Signed("xt-finance", Receipt("r9", "xt-finance", 100)).ToEnvelopeCapnp();
  Submission submission;
  Status s = DecodeCapnpSubmission(one + one + one, &submission, 2);
  EXPECT_EQ(s.code(), "too_many_events");
  EXPECT_NE(s.message().find("at most 2 "), std::string::npos) << s.ToString();
  EXPECT_TRUE(DecodeCapnpSubmission(one + one + one, &submission, 3).ok());
  EXPECT_EQ(submission.events.size(), 3u);
}

}  // namespace
}  // namespace fundledger::testing
