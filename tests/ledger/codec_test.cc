#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>

#include <cstring>

#include "crypto/encoding.h"
#include "ledger/codec.h"
#include "ledger/event.h"

namespace fundledger {
namespace {

using nlohmann::json;

const KeyPair& Key() {
  static const KeyPair key = KeyPair::FromSeed(KeySeed{7});
  return key;
}

std::string PublicKeyB64() { return Base64Encode(Key().public_key()); }

// One complete example of every event type of the catalogue, optional fields included.
std::vector<json> Catalogue() {
  json base = {{"occurred_on", "2026-11-02"}, {"doc_ref", "湘财综〔2020〕11号"}, {"memo", "m"}};
  auto with = [&](const std::string& id, json fields) {
    json e = base;
    e["id"] = id;
    for (auto& [k, v] : fields.items()) e[k] = v;
    return e;
  };
  return {
      with("e1", {{"type", "org_registered"},
                  {"org", "xt-finance"},
                  {"name", "湘潭市财政局"},
                  {"kind", "finance_bureau"},
                  {"level", "municipal"},
                  {"region", "hunan/xiangtan"},
                  {"public_key", PublicKeyB64()}}),
      with("e2", {{"type", "key_rotated"}, {"org", "xt-finance"}, {"public_key", PublicKeyB64()}}),
      with("e3", {{"type", "org_revoked"}, {"org", "xt-finance"}}),
      with("e4",
           {{"type", "policy_set"},
            {"region", "hunan/xiangtan"},
            {"restricted_use", {{{"category", "central"}, {"works", {"basic", "improvement"}}}}},
            {"consent_min_bp", 6667},
            {"satisfaction_min_bp", 8000},
            {"unit_caps", {{{"item", "elevator"}, {"max_fen_per_unit", 35000000}}}},
            {"targets",
             {{{"metric", "social_capital_to_government_bp"}, {"min_bp", 10000}},
              {{"metric", "payment_rate_bp"}, {"max_bp", 9000}},
              {{"metric", "resident_share_bp"}}}},
            {"idle_days_max", 180}}),
      with("e5", {{"type", "project_registered"},
                  {"project", "xt-heping-2021"},
                  {"name", "和平街道老旧小区改造"},
                  {"region", "hunan/xiangtan/yuhu/heping"},
                  {"compounds", {"电机厂宿舍", "湘钢三村"}},
                  {"households", 1200},
                  {"buildings", 30},
                  {"floor_area_m2", 96000},
                  {"built_year", 1995},
                  {"budget",
                   {{"basic_fen", 3000000000},
                    {"improvement_fen", 1500000000},
                    {"enhancement_fen", 500000000}}},
                  {"funding_plan", {{{"category", "central"}, {"amount_fen", 2000000000}}}}}),
      with("e6", {{"type", "project_revised"},
                  {"project", "xt-heping-2021"},
                  {"budget", {{"basic_fen", 1}, {"improvement_fen", 2}, {"enhancement_fen", 3}}},
                  {"funding_plan", json::array()}}),
      with("e7", {{"type", "project_status"},
                  {"project", "xt-heping-2021"},
                  {"status", "approved"},
                  {"consent_bp", 8500}}),
      with("e8", {{"type", "project_status"},
                  {"project", "xt-heping-2021"},
                  {"status", "completed"},
                  {"satisfaction_bp", 0}}),
      with("e9", {{"type", "funds_pledged"},
                  {"project", "xt-heping-2021"},
                  {"source_org", "xt-water"},
                  {"category", "utility"},
                  {"amount_fen", 72000000}}),
      with("e10", {{"type", "funds_received"},
                   {"to", "xt-heping-2021"},
                   {"to_kind", "project"},
                   {"category", "resident"},
                   {"source_org", "heping-street"},
                   {"channel", "provident_fund"},
                   {"amount_fen", 100000000000000},
                   {"pledge", "e9"},
                   {"households", 300},
                   {"contributor_ref", std::string(64, 'a')}}),
      with("e11", {{"type", "funds_allocated"},
                   {"from", "hn-finance"},
                   {"to", "xt-finance"},
                   {"to_kind", "pool"},
                   {"category", "central"},
                   {"amount_fen", 1}}),
      with("e12", {{"type", "funds_disbursed"},
                   {"project", "xt-heping-2021"},
                   {"category", "municipal"},
                   {"amount_fen", 35000000},
                   {"payee",
                    {{"name", "湘潭市建筑公司"},
                     {"kind", "contractor"},
                     {"credit_code", "91430300MA4L0000XX"},
                     {"org", "xt-builder"}}},
                   {"work", "improvement"},
                   {"item", "elevator"},
                   {"units", 1},
                   {"contract_ref", "C-1"},
                   {"invoice_ref", "I-1"}}),
      with("e13", {{"type", "funds_refunded"},
                   {"from", "xt-heping-2021"},
                   {"from_kind", "project"},
                   {"category", "social_capital"},
                   {"to_org", "xt-investor"},
                   {"amount_fen", 5}}),
      with("e14", {{"type", "event_reversed"}, {"target", "e12"}}),
      with("e15", {{"type", "acknowledged"}, {"target", "e12"}}),
      with("e16", {{"type", "audit_finding"},
                   {"finding", "f1"},
                   {"project", "xt-heping-2021"},
                   {"targets", {"e12", "e13"}},
                   {"severity", "major"},
                   {"text", "发票与合同不符"}}),
      with("e17", {{"type", "finding_resolved"}, {"finding", "f1"}, {"text", "已整改"}}),
  };
}

Status SignJson(const json& event, SignedEvent* out) {
  return SignedEvent::Sign(event, "xt-finance", Key(), out);
}

TEST(Codec, SnakeCase) {
  EXPECT_EQ(SnakeCase("floorAreaM2"), "floor_area_m2");
  EXPECT_EQ(SnakeCase("socialCapital"), "social_capital");
  EXPECT_EQ(SnakeCase("id"), "id");
}

TEST(Codec, EveryEventTypeRoundTripsOneToOne) {
  auto catalogue = Catalogue();
  ASSERT_EQ(catalogue.size(), 17u);
  std::set<std::string> types;
  for (const json& event : catalogue) {
    SignedEvent signed_event;
    Status signed_status = SignJson(event, &signed_event);
    ASSERT_TRUE(signed_status.ok()) << signed_status.ToString();
    json envelope = signed_event.ToEnvelopeJson();
    EXPECT_EQ(envelope["event"], event) << event["id"];
    types.insert(event["type"].get<std::string>());
    // The capnp form carries the same event and signature.
    SignedEvent from_capnp;
    std::string capnp = signed_event.ToEnvelopeCapnp();
    ASSERT_TRUE(SignedEvent::FromEnvelopeCapnp(AsBytes(capnp), &from_capnp).ok());
    EXPECT_TRUE(from_capnp.HasSameContent(signed_event));
    // And the JSON envelope decodes back to the same bytes.
    SignedEvent from_json;
    ASSERT_TRUE(SignedEvent::FromEnvelopeJson(envelope, &from_json).ok());
    EXPECT_TRUE(from_json.HasSameContent(signed_event));
    EXPECT_TRUE(VerifyEventSignature(Key().public_key(), from_json.canonical_event(),
                                     from_json.signature()));
  }
  EXPECT_EQ(types.size(), 16u);  // every type of the catalogue
}

// An envelope sent canonical (as ToEnvelopeCapnp makes it) gives the event as its tail, copied;
// any other is canonicalized. Both give the same event: from a message of several segments, and
// from a canonical one whose envelope has a pointer after the event (a later schema's field, or
// a crafted one), whose object then follows the event's and must not be taken for part of it.
TEST(Codec, ACanonicalEnvelopesEventIsItsTailAndAnyOtherEnvelopeIsCanonicalized) {
  for (const json& event : Catalogue()) {
    SignedEvent e;
    ASSERT_TRUE(SignJson(event, &e).ok());
    const std::string standard = e.ToEnvelopeCapnp();
    {
      auto words = kj::heapArray<capnp::word>(standard.size() / sizeof(capnp::word));
      memcpy(words.begin(), standard.data(), standard.size());
      capnp::FlatArrayMessageReader reader(words);
      EXPECT_TRUE(reader.isCanonical()) << event["id"];
    }
    // Several segments: not canonical.
    capnp::MallocMessageBuilder small(1, capnp::AllocationStrategy::FIXED_SIZE);
    auto root = small.initRoot<schema::Envelope>();
    root.setSigner(e.signer());
    root.setSignature(capnp::Data::Reader(e.signature().data(), e.signature().size()));
    root.setEvent(e.event());
    ASSERT_GT(small.getSegmentsForOutput().size(), 1u);
    auto segmented = capnp::messageToFlatArray(small);
    // Canonical, with a fourth pointer.
    capnp::MallocMessageBuilder wider;
    auto any = wider.getRoot<capnp::AnyPointer>().initAsAnyStruct(0, 4);
    any.getPointerSection()[0].setAs<capnp::Text>(e.signer());
    any.getPointerSection()[1].setAs<capnp::Data>(
        capnp::Data::Reader(e.signature().data(), e.signature().size()));
    any.getPointerSection()[2].setAs<schema::Event>(e.event());
    any.getPointerSection()[3].setAs<capnp::Text>("after the event");
    auto canonical_wider = any.asReader().canonicalize();
    kj::ArrayPtr<const capnp::word> segments[] = {canonical_wider.asPtr()};
    auto wider_message = capnp::messageToFlatArray(segments);
    // The event first, then the signer and signature: one segment, out of order.
    capnp::MallocMessageBuilder reordered;
    auto first = reordered.initRoot<schema::Envelope>();
    first.setEvent(e.event());
    first.setSigner(e.signer());
    first.setSignature(capnp::Data::Reader(e.signature().data(), e.signature().size()));
    ASSERT_EQ(reordered.getSegmentsForOutput().size(), 1u);
    auto reordered_message = capnp::messageToFlatArray(reordered);
    // Canonical with a data section (a later schema's field before the pointers).
    capnp::MallocMessageBuilder with_data;
    auto data_struct = with_data.getRoot<capnp::AnyPointer>().initAsAnyStruct(1, 3);
    data_struct.getDataSection()[0] = capnp::byte(7);
    data_struct.getPointerSection()[0].setAs<capnp::Text>(e.signer());
    data_struct.getPointerSection()[1].setAs<capnp::Data>(
        capnp::Data::Reader(e.signature().data(), e.signature().size()));
    data_struct.getPointerSection()[2].setAs<schema::Event>(e.event());
    auto canonical_data = data_struct.asReader().canonicalize();
    kj::ArrayPtr<const capnp::word> data_segments[] = {canonical_data.asPtr()};
    auto data_message = capnp::messageToFlatArray(data_segments);
    // The standard envelope with one more word inside its segment, after the event: not
    // canonical (capnp's check refuses words past the last object), so not taken as the tail.
    std::string padded = standard;
    uint32_t segment_words = 0;
    memcpy(&segment_words, padded.data() + 4, 4);
    ++segment_words;
    memcpy(padded.data() + 4, &segment_words, 4);
    padded.append("\xab\xab\xab\xab\xab\xab\xab\xab", 8);
    auto span_of = [](const kj::Array<capnp::word>& words) {
      return std::span<const uint8_t>(words.asBytes().begin(), words.asBytes().size());
    };
    for (auto bytes :
         {AsBytes(standard), AsBytes(padded), span_of(reordered_message), span_of(data_message),
          std::span<const uint8_t>(segmented.asBytes().begin(), segmented.asBytes().size()),
          std::span<const uint8_t>(wider_message.asBytes().begin(),
                                   wider_message.asBytes().size())}) {
      SignedEvent decoded;
      Status s = SignedEvent::FromEnvelopeCapnp(bytes, &decoded);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_TRUE(decoded.HasSameContent(e)) << event["id"];
      EXPECT_TRUE(
          VerifyEventSignature(Key().public_key(), decoded.canonical_event(), decoded.signature()));
    }
    // A fourth pointer that points outside the message: refused as malformed (capnp's canonical
    // check reads every pointer), not taken for an unknown field.
    auto broken_words = kj::heapArray<capnp::word>(canonical_wider.size());
    memcpy(static_cast<void*>(broken_words.begin()), canonical_wider.begin(),
           canonical_wider.asBytes().size());
    const uint64_t far_away = uint64_t(1) << 20 << 2 | uint64_t(1) << 32;       // a struct, 1 word
    memcpy(static_cast<void*>(&broken_words[4]), &far_away, sizeof(far_away));  // pointers 1-4
    kj::ArrayPtr<const capnp::word> broken_segments[] = {broken_words.asPtr()};
    auto broken = capnp::messageToFlatArray(broken_segments);
    SignedEvent refused;
    Status s = SignedEvent::FromEnvelopeCapnp(span_of(broken), &refused);
    EXPECT_EQ(s.code(), "capnp_malformed") << s.ToString();
  }
}

TEST(Codec, KeyOrderDoesNotChangeTheSignedBytes) {
  json a = Catalogue()[10];
  std::string reordered = "{";
  std::vector<std::string> keys;
  for (auto& [k, v] : a.items()) keys.push_back(k);
  std::reverse(keys.begin(), keys.end());
  for (size_t i = 0; i < keys.size(); ++i) {
    reordered += (i ? "," : "") + json(keys[i]).dump() + ":" + a[keys[i]].dump();
  }
  reordered += "}";
  json b;
  ASSERT_TRUE(ParseJson(reordered, &b).ok());
  SignedEvent sa, sb;
  ASSERT_TRUE(SignJson(a, &sa).ok());
  ASSERT_TRUE(SignJson(b, &sb).ok());
  EXPECT_TRUE(sa.HasSameContent(sb));
}

struct BadCase {
  std::string name;
  std::function<void(json&)> mutate;
  std::string code;
  std::string field;
};

TEST(Codec, RejectsMalformedEventsNamingTheField) {
  std::vector<BadCase> cases = {
      {"unknown top field", [](json& e) { e["colour"] = "red"; }, "json_unknown_field", "colour"},
      {"unknown nested field", [](json& e) { e["payee"]["age"] = 3; }, "json_unknown_field",
       "payee.age"},
      {"missing field", [](json& e) { e.erase("amount_fen"); }, "json_missing_field", "amount_fen"},
      {"missing type", [](json& e) { e.erase("type"); }, "json_missing_field", "type"},
      {"unknown type", [](json& e) { e["type"] = "funds_stolen"; }, "unknown_type", "type"},
      {"string for integer", [](json& e) { e["amount_fen"] = "100"; }, "json_field_type",
       "amount_fen"},
      {"fraction", [](json& e) { e["amount_fen"] = 1.5; }, "json_field_type", "amount_fen"},
      {"negative", [](json& e) { e["amount_fen"] = -1; }, "json_out_of_range", "amount_fen"},
      {"too big for UInt32", [](json& e) { e["units"] = 4294967296ull; }, "json_out_of_range",
       "units"},
      {"unknown enumerant", [](json& e) { e["category"] = "lottery"; }, "unknown_enum_value",
       "category"},
      {"enum as number", [](json& e) { e["work"] = 1; }, "json_field_type", "work"},
      {"object for text", [](json& e) { e["item"] = json::object(); }, "json_field_type", "item"},
      {"null for required", [](json& e) { e["item"] = nullptr; }, "json_missing_field", "item"},
      {"text with NUL", [](json& e) { e["item"] = std::string("a\0b", 3); }, "json_field_type",
       "item"},
      {"array for object", [](json& e) { e["payee"] = json::array(); }, "json_field_type", "payee"},
      {"bad id character", [](json& e) { e["id"] = "a b"; }, "bad_id", "id"},
      {"empty id", [](json& e) { e["id"] = ""; }, "bad_id", "id"},
      {"long id", [](json& e) { e["id"] = std::string(65, 'x'); }, "bad_id", "id"},
  };
  json good = Catalogue()[11];  // funds_disbursed: nested payee, optional units
  SignedEvent ok;
  ASSERT_TRUE(SignJson(good, &ok).ok());
  for (const auto& c : cases) {
    json e = good;
    c.mutate(e);
    SignedEvent out;
    Status s = SignJson(e, &out);
    EXPECT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.code(), c.code) << c.name << ": " << s.ToString();
    EXPECT_EQ(s.field(), c.field) << c.name << ": " << s.ToString();
  }
}

TEST(Codec, RejectsBadBase64AndWrongSignatureLength) {
  json event = Catalogue()[0];
  SignedEvent good;
  ASSERT_TRUE(SignJson(event, &good).ok());
  json envelope = good.ToEnvelopeJson();
  for (std::string bad : {"not base64!", "AAAA=", "AB==", "QUJD\n"}) {
    json e = envelope;
    e["signature"] = bad;
    SignedEvent out;
    Status s = SignedEvent::FromEnvelopeJson(e, &out);
    EXPECT_EQ(s.code(), "bad_base64") << bad << ": " << s.ToString();
    EXPECT_EQ(s.field(), "signature");
  }
  json e = envelope;
  e["signature"] = Base64Encode(std::vector<uint8_t>(63, 1));
  SignedEvent out;
  EXPECT_EQ(SignedEvent::FromEnvelopeJson(e, &out).code(), "bad_signature");
  e = envelope;
  e["event"]["public_key"] = "%%%";
  EXPECT_EQ(SignedEvent::FromEnvelopeJson(e, &out).code(), "bad_base64");
  e = envelope;
  e["signer"] = "bad signer";
  EXPECT_EQ(SignedEvent::FromEnvelopeJson(e, &out).code(), "bad_id");
}

TEST(Codec, ParseJsonIsStrict) {
  json out;
  EXPECT_EQ(ParseJson(R"({"a":1,"a":2})", &out).code(), "json_malformed");
  EXPECT_EQ(ParseJson(R"({"a":1)", &out).code(), "json_malformed");
  EXPECT_EQ(ParseJson("{\"a\":\"\xff\"}", &out).code(), "json_malformed");  // invalid UTF-8
  std::string deep(kJsonDepthMax + 1, '[');
  deep += std::string(kJsonDepthMax + 1, ']');
  EXPECT_EQ(ParseJson(deep, &out).code(), "json_malformed");
  std::string ok_depth(kJsonDepthMax - 1, '[');
  ok_depth += std::string(kJsonDepthMax - 1, ']');
  EXPECT_TRUE(ParseJson(ok_depth, &out).ok());
  EXPECT_TRUE(ParseJson(R"({"a":{"a":1}})", &out).ok());  // same key at other levels is fine
}

// An item (or a document that is not an array) of more values than any event's JSON form holds
// is refused while it is parsed: the parser would otherwise build a DOM of every value first, at
// 100-200 bytes each, before anything looked at what the values are.
TEST(Codec, ParseJsonBoundsTheValuesOfEachItem) {
  auto zeros = [](size_t n) {
    std::string list = "[";
    for (size_t i = 0; i < n; ++i) list += i ? ",0" : "0";
    return list + "]";
  };
  json out;
  // The document's own list is not an item: its values are its items, each of one value.
  EXPECT_TRUE(ParseJson(zeros(kJsonItemValuesMax + 1), &out).ok());
  // One item: the object, its key, the list and the list's values.
  EXPECT_TRUE(ParseJson("{\"a\":" + zeros(kJsonItemValuesMax - 3) + "}", &out).ok());
  Status s = ParseJson("{\"a\":" + zeros(kJsonItemValuesMax - 2) + "}", &out);
  EXPECT_EQ(s.code(), "too_many_values") << s.ToString();
  EXPECT_NE(s.message().find("the document"), std::string::npos) << s.ToString();
  // Keys count as values.
  std::string keys = "{";
  for (size_t i = 0; i < kJsonItemValuesMax / 2; ++i) {
    keys += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  }
  EXPECT_EQ(ParseJson(keys + "}", &out).code(), "too_many_values");
  // In a document that is an array, each item has its own count, and the message names it.
  const std::string item = "{\"a\":" + zeros(kJsonItemValuesMax - 3) + "}";
  EXPECT_TRUE(ParseJson("[" + item + "," + item + "]", &out).ok());
  s = ParseJson("[" + item + ",{\"a\":" + zeros(kJsonItemValuesMax) + "}]", &out);
  EXPECT_EQ(s.code(), "too_many_values");
  EXPECT_NE(s.message().find("item 2 "), std::string::npos) << s.ToString();
}

// ParseJsonEach hands each item over as soon as it is parsed and keeps none: the items before a
// fault are handed over, in order, and a document that is not an array is handed over whole.
TEST(Codec, ParseJsonEachHandsOverItemsAsTheyAreParsed) {
  std::vector<json> seen;
  auto collect = [&](json&& item) { seen.push_back(std::move(item)); };
  EXPECT_TRUE(ParseJsonEach(R"([{"a":[1,{"b":2}]}, 3, "x", [4], null, {}])", 10, collect).ok());
  ASSERT_EQ(seen.size(), 6u);
  EXPECT_EQ(seen[0], json::parse(R"({"a":[1,{"b":2}]})"));
  EXPECT_EQ(seen[1], json(3));
  EXPECT_EQ(seen[2], json("x"));
  EXPECT_EQ(seen[3], json::parse("[4]"));
  EXPECT_TRUE(seen[4].is_null());
  EXPECT_EQ(seen[5], json::object());

  seen.clear();
  Status s = ParseJsonEach(R"([{"a":1},{"b":2},{"c":)", 10, collect);
  EXPECT_EQ(s.code(), "json_malformed");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], json::parse(R"({"b":2})"));

  seen.clear();
  EXPECT_TRUE(ParseJsonEach(R"({"a":[1,2]})", 10, collect).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], json::parse(R"({"a":[1,2]})"));

  seen.clear();
  EXPECT_EQ(ParseJsonEach("[1,2,3]", 2, collect).code(), "too_many_items");
  EXPECT_EQ(seen.size(), 2u);
  seen.clear();
  EXPECT_EQ(ParseJsonEach(R"([{"a":1,"a":2}])", 2, collect).code(), "json_malformed");
  EXPECT_TRUE(seen.empty());
}

// A project's compounds as `texts` copies of one 1,000-byte text: sent as they are, or as one
// text that every other pointer of the list points at (aliasing), a valid Cap'n Proto message
// many times smaller than what it canonicalizes to.
std::string CompoundsEnvelope(size_t texts, bool alias) {
  SignedEvent project;
  for (const json& e : Catalogue()) {
    if (e["type"] == "project_registered") {
      EXPECT_TRUE(SignJson(e, &project).ok());
    }
  }
  std::string sent = project.ToEnvelopeCapnp();
  kj::Array<capnp::word> in = kj::heapArray<capnp::word>(sent.size() / sizeof(capnp::word));
  memcpy(in.begin(), sent.data(), sent.size());
  capnp::FlatArrayMessageReader reader(in);
  capnp::MallocMessageBuilder builder(1 << 17);  // one segment
  builder.setRoot(reader.getRoot<schema::Envelope>());
  const std::string text(1000, 'c');
  auto compounds =
      builder.getRoot<schema::Envelope>().getEvent().getProjectRegistered().initCompounds(texts);
  for (size_t i = 0; i < texts; ++i) compounds.set(i, alias && i > 0 ? "" : text);
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(builder);
  if (alias) {
    capnp::FlatArrayMessageReader out(flat);
    auto list = out.getRoot<schema::Envelope>().getEvent().getProjectRegistered().getCompounds();
    const auto* base = reinterpret_cast<const uint8_t*>(flat.begin());
    const int64_t first_text = (reinterpret_cast<const uint8_t*>(list[0].begin()) - base) / 8;
    // The list's pointers are consecutive words; the first is the one that points at the text.
    int64_t pointers = -1;
    for (int64_t at = 0; at < int64_t(flat.size()) && pointers < 0; ++at) {
      uint64_t word;
      memcpy(&word, base + at * 8, 8);
      const int64_t offset = int32_t(uint32_t(word)) >> 2;
      if ((word & 3) == 1 && word >> 32 == (2 | (text.size() + 1) << 3) &&
          at + 1 + offset == first_text) {
        pointers = at;
      }
    }
    EXPECT_GE(pointers, 0);
    for (size_t i = 1; i < texts; ++i) {
      // A list pointer: offset from the word after it, element size 2 (bytes), the count.
      const int64_t at = pointers + int64_t(i);
      const uint64_t offset = uint32_t(int32_t(first_text - (at + 1)) * 4);
      const uint64_t word = offset | 1 | (uint64_t(2) << 32) | (uint64_t(text.size() + 1) << 35);
      memcpy(reinterpret_cast<uint8_t*>(flat.begin()) + at * 8, &word, 8);
    }
  }
  return std::string(reinterpret_cast<const char*>(flat.begin()), flat.size() * 8);
}

TEST(Codec, CapnpAliasingCannotInflateAnEnvelope) {
  constexpr size_t kTexts = 300;
  SignedEvent out;
  std::string honest = CompoundsEnvelope(kTexts, false);
  ASSERT_TRUE(SignedEvent::FromEnvelopeCapnp(AsBytes(honest), &out).ok());
  EXPECT_GT(out.canonical_event().size(), kTexts * 1000);

  std::string aliased = CompoundsEnvelope(kTexts, true);
  ASSERT_LT(aliased.size() * 10, out.canonical_event().size());
  {  // The aliasing is what the honest message holds, read through one text.
    kj::Array<capnp::word> words = kj::heapArray<capnp::word>(aliased.size() / 8);
    memcpy(words.begin(), aliased.data(), aliased.size());
    capnp::FlatArrayMessageReader reader(words);
    auto list = reader.getRoot<schema::Envelope>().getEvent().getProjectRegistered().getCompounds();
    ASSERT_EQ(list.size(), kTexts);
    EXPECT_EQ(list[kTexts - 1].size(), 1000u);
    EXPECT_EQ(list[kTexts - 1].begin(), list[0].begin());
  }
  Status s = SignedEvent::FromEnvelopeCapnp(AsBytes(aliased), &out);
  EXPECT_EQ(s.code(), "capnp_malformed") << s.ToString();
}

// The catalogue's project with a funding plan of `items` entries at their defaults (central,
// 0 fen): each an empty struct in the canonical encoding, which takes no words and which capnp
// counts as one word read. As ToEnvelopeCapnp writes it (`canonical`), or as a builder lays it
// out, two words an entry.
std::string DefaultItemsEnvelope(const SignedEvent& project, size_t items, bool canonical) {
  capnp::MallocMessageBuilder event_builder;
  event_builder.setRoot(project.event());
  event_builder.getRoot<schema::Event>().getProjectRegistered().initFundingPlan(items);
  capnp::MallocMessageBuilder builder;
  auto envelope = builder.initRoot<schema::Envelope>();
  envelope.setSigner(project.signer());
  envelope.setSignature(capnp::Data::Reader(project.signature().data(), 64));
  kj::Array<capnp::word> event_words;
  if (canonical) {
    event_words = capnp::canonicalize(event_builder.getRoot<schema::Event>().asReader());
    kj::ArrayPtr<const capnp::word> segments[] = {event_words.asPtr()};
    capnp::SegmentArrayMessageReader reader(segments);
    envelope.setEvent(reader.getRoot<schema::Event>());
  } else {
    envelope.setEvent(event_builder.getRoot<schema::Event>().asReader());
  }
  kj::Array<capnp::word> flat = capnp::messageToFlatArray(builder);
  return std::string(reinterpret_cast<const char*>(flat.begin()), flat.size() * 8);
}

bool SameSignedEvent(const SignedEvent& a, const SignedEvent& b) {
  auto x = a.canonical_event(), y = b.canonical_event();
  return a.signer() == b.signer() && a.signature() == b.signature() && x.size() == y.size() &&
         memcmp(x.data(), y.data(), x.size()) == 0;
}

// Every list item capnp reads costs a word of the reads allowed, even an empty struct that takes
// none. The bound is taken from the event's canonical encoding, so an event is accepted or
// refused alike in every form: a padded message, whose padding bought reads, was accepted and
// its own canonical envelope then refused.
TEST(Codec, AnEventIsReadWithinTheSameBoundInEveryForm) {
  SignedEvent project;
  for (const json& e : Catalogue()) {
    if (e["type"] == "project_registered") {
      ASSERT_TRUE(SignJson(e, &project).ok());
    }
  }
  size_t accepted = 0, refused = 0;
  for (size_t items = 0; items <= 600; ++items) {
    SCOPED_TRACE(items);
    const std::string padded = DefaultItemsEnvelope(project, items, false);
    const std::string canonical = DefaultItemsEnvelope(project, items, true);
    json envelope = project.ToEnvelopeJson();
    envelope["event"]["funding_plan"] = json::array();
    for (size_t i = 0; i < items; ++i) {
      envelope["event"]["funding_plan"].push_back({{"category", "central"}, {"amount_fen", 0}});
    }
    SignedEvent from_padded, from_canonical, from_json;
    Status p = SignedEvent::FromEnvelopeCapnp(AsBytes(padded), &from_padded);
    Status c = SignedEvent::FromEnvelopeCapnp(AsBytes(canonical), &from_canonical);
    Status j = SignedEvent::FromEnvelopeJson(envelope, &from_json);
    ASSERT_EQ(p.ok(), c.ok()) << p.ToString() << " / " << c.ToString();
    ASSERT_EQ(p.ok(), j.ok()) << p.ToString() << " / " << j.ToString();
    if (p.ok()) {
      ++accepted;
      EXPECT_TRUE(SameSignedEvent(from_padded, from_canonical));
      EXPECT_TRUE(SameSignedEvent(from_padded, from_json));
      EXPECT_EQ(from_canonical.ToEnvelopeCapnp(), canonical);
      continue;
    }
    ++refused;
    for (const Status* s : {&p, &c, &j}) {
      EXPECT_EQ(s->code(), "capnp_malformed") << s->ToString();
      EXPECT_NE(s->message().find("claim more items than"), std::string::npos) << s->ToString();
    }
  }
  EXPECT_GT(accepted, 30u);
  EXPECT_GT(refused, 100u);

  // A body a fuzzer found: a padded envelope of 191 such entries was accepted, and the envelope
  // ToEnvelopeCapnp wrote of it refused.
  std::vector<uint8_t> body;
  ASSERT_TRUE(Base64Decode(
                  "AAAAACwAAAAAAAAAAAADAAkAAABqAAAADQAAAAICAAAoAAAAAQAFAHl1aHUtZmluYW5jZQAXAAAAJD/"
                  "uaG0sB3k+G8wB9uv2HImnOsdo9qEB5sclPRH24dbWs2EBGeCP0xhScwbUsfwBhk1+9uIGqFV8aWSlWf"
                  "QABAAAAAAAAAARAAAAggAAABUAAABaAAAAAAAAAAAAAAAAAAAAAAAAABAAAAADAAYAaC11dGY4LWNvbX"
                  "BvdW5kADIwMjYtMTEtVTEAAAAAAAABAAAAAQAAAAEAAABzcmMvAAcAAAAAAAAVAAAAIgAAABUAAAASAA"
                  "AAFQAAAKIAAAAdAAAADgAAACAAAAABAAAAIQAAABcAAABoLXAAAAAAAHgAAAAAAAAAaHVuYW4veGlhbm"
                  "d0eW5hL3VodQAAAAAAAQAAACoAAAApYWJjAAAAAAEAAAAAAAAA/"
                  "AIAAAAAAAADAAAAAAAAAAAIAAAfAAAAAAAAAAAAAAA=",
                  &body)
                  .ok());
  body.resize(360);  // its first message: one segment of 44 words
  SignedEvent found;
  Status s = SignedEvent::FromEnvelopeCapnp(body, &found);
  EXPECT_EQ(s.code(), "capnp_malformed") << s.ToString();
  EXPECT_NE(s.message().find("claim more items than"), std::string::npos) << s.ToString();
}

// Near the 1 MiB cap of a Cap'n Proto envelope: every event accepted (here from JSON, which has
// no such cap of its own) has a canonical envelope within the cap that decodes to it, and an
// event whose envelope would pass the cap is refused as too large.
TEST(Codec, EveryEventAcceptedHasACanonicalEnvelopeWithinTheCap) {
  json project;
  for (const json& e : Catalogue()) {
    if (e["type"] == "project_registered") project = e;
  }
  auto envelope_of = [&](size_t texts, size_t last) {
    json e = project;
    e["compounds"] = json::array();
    for (size_t i = 0; i < texts; ++i) e["compounds"].push_back(std::string(65535, 'a' + i));
    e["compounds"].push_back(std::string(last, 'z'));
    return json{{"signer", "xt-finance"},
                {"signature", Base64Encode(AsBytes(std::string(64, '\0')))},
                {"event", e}};
  };
  size_t accepted = 0, refused = 0;
  for (size_t last = 63000; last <= 65535; last += 97) {
    SCOPED_TRACE(last);
    SignedEvent event;
    Status s = SignedEvent::FromEnvelopeJson(envelope_of(15, last), &event);
    if (!s.ok()) {
      ++refused;
      EXPECT_TRUE(s.code() == "capnp_malformed" || s.code() == "event_too_large") << s.ToString();
      EXPECT_EQ(s.field(), "event");
      continue;
    }
    ++accepted;
    const std::string message = event.ToEnvelopeCapnp();
    ASSERT_LE(message.size(), kEnvelopeCapnpBytesMax);
    EXPECT_EQ(message.size() / 8,
              EnvelopeCapnpWords(event.canonical_event().size() / 8, event.signer().size()));
    kj::Array<capnp::word> words = kj::heapArray<capnp::word>(message.size() / 8);
    memcpy(words.begin(), message.data(), message.size());
    capnp::ReaderOptions unbounded;
    unbounded.traversalLimitInWords = UINT64_MAX;
    EXPECT_TRUE(capnp::FlatArrayMessageReader(words, unbounded).isCanonical());
    SignedEvent again;
    s = SignedEvent::FromEnvelopeCapnp(AsBytes(message), &again);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_TRUE(SameSignedEvent(event, again));
  }
  EXPECT_GT(accepted, 5u);
  EXPECT_GT(refused, 5u);
  SignedEvent event;
  Status s = SignedEvent::FromEnvelopeJson(envelope_of(16, 1), &event);
  EXPECT_EQ(s.code(), "event_too_large") << s.ToString();
  EXPECT_EQ(s.field(), "event");
}

TEST(Codec, CapnpInputIsBoundedAndMustHaveAJsonForm) {
  SignedEvent good;
  ASSERT_TRUE(SignJson(Catalogue()[10], &good).ok());
  std::string bytes = good.ToEnvelopeCapnp();
  SignedEvent out;
  EXPECT_EQ(SignedEvent::FromEnvelopeCapnp(AsBytes(bytes.substr(0, bytes.size() - 8)), &out).code(),
            "capnp_malformed");
  EXPECT_EQ(SignedEvent::FromEnvelopeCapnp(AsBytes(bytes + std::string(8, '\0')), &out).code(),
            "capnp_malformed");
  EXPECT_EQ(SignedEvent::FromEnvelopeCapnp(AsBytes(bytes.substr(0, 5)), &out).code(),
            "capnp_malformed");

  // An enumerant this schema does not know: no JSON form, so no event.
  capnp::MallocMessageBuilder builder;
  auto envelope = builder.initRoot<schema::Envelope>();
  capnp::FlatArrayMessageReader reader(
      kj::arrayPtr(reinterpret_cast<const capnp::word*>(bytes.data()), bytes.size() / 8));
  envelope.setSigner("xt-finance");
  envelope.setSignature(reader.getRoot<schema::Envelope>().getSignature());
  envelope.setEvent(reader.getRoot<schema::Envelope>().getEvent());
  envelope.getEvent().getFundsReceived().setCategory(static_cast<schema::Category>(99));
  auto flat = capnp::messageToFlatArray(builder);
  Status s = SignedEvent::FromEnvelopeCapnp(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(flat.begin()), flat.size() * 8),
      &out);
  EXPECT_EQ(s.code(), "unknown_enum_value") << s.ToString();
  EXPECT_EQ(s.field(), "category");
}

}  // namespace
}  // namespace fundledger
