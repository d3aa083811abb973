#include "ledger/event.h"

#include <capnp/any.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <kj/exception.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <optional>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "ledger/codec.h"
#include "ledger/rules.h"

namespace fundledger {

// The canonical words of one message and a reader over them. Heap-allocated so that the reader's
// pointers stay valid when the owner moves.
struct CanonicalMessage {
  // `traversal_words_max` bounds the total words read through `reader` over its lifetime.
  CanonicalMessage(kj::Array<capnp::word> w, uint64_t traversal_words_max)
      : words(kj::mv(w)), segments{words.asPtr()}, reader(kj::arrayPtr(segments, 1), [&] {
          capnp::ReaderOptions options;
          options.traversalLimitInWords = traversal_words_max;
          options.nestingLimit = kCapnpNestingMax;
          return options;
        }()) {}
  kj::Array<capnp::word> words;
  kj::ArrayPtr<const capnp::word> segments[1];
  mutable capnp::SegmentArrayMessageReader reader;
};

namespace {

// The envelope's signer and event are present and its signature is 64 bytes; the signature.
Status EnvelopeSignature(schema::Envelope::Reader envelope, Signature* out) {
  if (!envelope.hasSigner()) {
    return Status::InvalidArgument("json_missing_field", "required field is missing", "signer");
  }
  if (!envelope.hasEvent()) {
    return Status::InvalidArgument("json_missing_field", "required field is missing", "event");
  }
  auto sig = envelope.getSignature();
  if (sig.size() != sizeof(Signature)) {
    return Status::InvalidArgument("bad_signature", "a signature is 64 bytes", "signature");
  }
  memcpy(out->data(), sig.begin(), sig.size());
  return Status::Ok();
}

kj::Array<capnp::word> CopyToWords(std::span<const uint8_t> bytes) {
  auto words = kj::heapArray<capnp::word>((bytes.size() + 7) / 8);
  memset(words.begin(), 0, words.size() * sizeof(capnp::word));
  if (!bytes.empty()) memcpy(words.begin(), bytes.data(), bytes.size());
  return words;
}

std::span<const uint8_t> WordBytes(const kj::Array<capnp::word>& words) {
  return {reinterpret_cast<const uint8_t*>(words.begin()), words.size() * sizeof(capnp::word)};
}

// Fields are named relative to the event ("amount_fen"); "signer" and "signature" are the
// envelope's own.
Status WithoutEventPrefix(const Status& s) {
  constexpr std::string_view kPrefix = "event.";
  if (s.field().compare(0, kPrefix.size(), kPrefix) != 0) return s;
  Status renamed(s.kind() == Status::Kind::kInvalidArgument
                     ? Status::InvalidArgument(s.code(), s.message(), s.field().substr(6))
                     : Status::Rejected(s.code(), s.message(), s.field().substr(6)));
  return renamed.WithEventId(s.event_id());
}

// The verdict on an event holding data its JSON form leaves out (unknown fields, padding).
Status NoSecondForm() {
  return Status::InvalidArgument("capnp_noncanonical",
                                 "the event holds data its JSON form cannot express", "event");
}

bool IsCanonicalFormOf(std::span<const uint8_t> canonical, schema::Event::Reader b) {
  auto canonical_b = capnp::canonicalize(b);
  return canonical.size() == canonical_b.size() * sizeof(capnp::word) &&
         memcmp(canonical.data(), canonical_b.begin(), canonical.size()) == 0;
}

// Whether the event's JSON form expresses exactly the event whose canonical bytes are
// `canonical` (see CheckOneJsonForm).
Status CheckJsonFormCopy(schema::Event::Reader event, std::span<const uint8_t> canonical) {
  try {
    // The JSON form must express the event exactly (no unknown fields, enumerants or types), so
    // that an event has one signed form whichever way it arrived: the event equals the copy of
    // what its JSON form carries. The copy's first segment lives on the stack, as an event
    // rarely needs more, so that a check of every stored record does not go to the allocator.
    capnp::word scratch[kJsonFormScratchWords] = {};
    capnp::MallocMessageBuilder copy(kj::arrayPtr(scratch, kJsonFormScratchWords));
    auto root = copy.initRoot<schema::Event>();
    FL_RETURN_IF_ERROR(
        CopyJsonForm(capnp::DynamicStruct::Reader(event), capnp::DynamicStruct::Builder(root)));
    if (!IsCanonicalFormOf(canonical, root.asReader())) return NoSecondForm();
    return Status::Ok();
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr(), "event");
  }
}

// The one-JSON-form check of an event read from its canonical bytes `canonical`: in place,
// without a copy, unless the in-place check leaves it to the copy.
Status CheckCanonicalJsonForm(schema::Event::Reader event, std::span<const uint8_t> canonical) {
  JsonFormVerdict verdict;
  Status s = CheckJsonFormInPlace(capnp::DynamicStruct::Reader(event), &verdict);
  if (verdict == JsonFormVerdict::kUndecided) return CheckJsonFormCopy(event, canonical);
  if (!s.ok() || verdict == JsonFormVerdict::kExact) return s;
  return NoSecondForm();
}

// `s`, or if it is capnp's refusal of a read past ReaderOptions::traversalLimitInWords (as the
// catch clauses report it), that refusal in the terms of what causes it, for `field` if `s`
// names none. `reads_max`: the cap of the bound, whatever the words.
Status ExplainReads(Status s, std::string_view field = {},
                    uint64_t reads_max = kCapnpTraversalWordsMax) {
  if (s.code() != "capnp_malformed" ||
      !std::string_view(s.message()).starts_with("Exceeded message traversal limit")) {
    return s;
  }
  const std::string_view named = s.field().empty() ? field : std::string_view(s.field());
  const bool event = named == "event";
  return Status::InvalidArgument(
      "capnp_malformed",
      std::string(event ? "the event's canonical encoding" : "the message") +
          " asks for more reads than " + std::to_string(kCapnpReadsPerWord) +
          " of each of its words, or " + std::to_string(reads_max) +
          " in all: " + (event ? "it is too large, or " : "its pointers share objects, or ") +
          "its lists claim more items than its bytes carry (an item with every field at its "
          "default takes none)",
      named);
}

}  // namespace

uint64_t CapnpReadWordsMax(uint64_t words) {
  return std::min(kCapnpTraversalWordsMax, kCapnpReadsPerWord * words + kCapnpReadWordsMin);
}

uint64_t EnvelopeCapnpWords(uint64_t event_words, size_t signer_bytes) {
  // The segment table, the root pointer, the envelope's three pointers, the signer's text and
  // NUL, the signature; then the event less its own root pointer.
  return 1 + 1 + 3 + (signer_bytes + 1 + 7) / 8 + sizeof(Signature) / 8 + (event_words - 1);
}

capnp::ReaderOptions LedgerReaderOptions() {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = kCapnpTraversalWordsMax;
  options.nestingLimit = kCapnpNestingMax;
  return options;
}

namespace {
bool IsAsciiAlnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
}  // namespace

Status CheckIdChars(std::string_view id, std::string_view field) {
  if (id.empty() || id.size() > kEventIdBytesMax) {
    return Status::InvalidArgument("bad_id", "an id has 1 to 64 characters", field);
  }
  for (char c : id) {
    if (!IsAsciiAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-') {
      return Status::InvalidArgument("bad_id", "an id uses only [A-Za-z0-9._:-]", field);
    }
  }
  return Status::Ok();
}

Status CheckId(std::string_view id, std::string_view field) {
  FL_RETURN_IF_ERROR(CheckIdChars(id, field));
  // Ids are cells of the CSV files too: one beginning with '-' is a spreadsheet's formula.
  if (!IsAsciiAlnum(id[0])) {
    return Status::InvalidArgument("bad_id", "an id begins with a letter or a digit", field);
  }
  return Status::Ok();
}

nlohmann::json GenesisEvent(std::string_view operator_id, std::string_view name,
                            const PublicKey& operator_key, std::string_view occurred_on) {
  return {{"id", "genesis"},
          {"type", "org_registered"},
          {"occurred_on", occurred_on},
          {"org", operator_id},
          {"name", name},
          {"kind", "operator"},
          {"level", "none"},
          {"region", ""},
          {"public_key", Base64Encode(operator_key)}};
}

Status SignedEvent::FromCanonicalEvent(kj::Array<capnp::word> canonical, std::string_view signer,
                                       const Signature& signature, SignedEvent* out) {
  // Our own canonical encoding of an already validated event: it may be read any number of
  // times, so the traversal limit is not a budget here.
  return FromMessage(std::make_shared<CanonicalMessage>(kj::mv(canonical), UINT64_MAX), signer,
                     signature, out);
}

Status SignedEvent::FromMessage(std::shared_ptr<const CanonicalMessage> message,
                                std::string_view signer, const Signature& signature,
                                SignedEvent* out) {
  FL_RETURN_IF_ERROR(CheckIdChars(signer, "signer"));
  auto event = message->reader.getRoot<schema::Event>();
  FL_RETURN_IF_ERROR(CheckIdChars(event.getId().cStr(), "id"));
  out->message_ = std::move(message);
  out->event_ = event;
  out->signer_ = std::string(signer);
  out->signature_ = signature;
  int64_t day = 0;
  out->occurred_day_ =
      ParseDate(event.getOccurredOn().cStr(), "occurred_on", &day).ok() ? day : kNoDay;
  return Status::Ok();
}

Status SignedEvent::FromEnvelopeJson(const nlohmann::json& envelope, SignedEvent* out) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<schema::Envelope>();
  Status s = JsonToStruct(envelope, capnp::DynamicStruct::Builder(root));
  if (!s.ok()) return WithoutEventPrefix(s);
  return FromEnvelopeReader(root.asReader(), out);
}

namespace {

// In a canonical message every object is followed by its children in pointer order (a
// preorder). So an object that is the last pointer of its parent, itself the last of its own and
// so on up to the root (the event of an envelope, and of a record's envelope), runs with
// everything it points to from its first word to the message's end; its pointers are relative,
// so those words behind a struct pointer of offset 0 are its own canonical encoding. Sets
// `*tail` to them and `*root` to that pointer; false if `last` is not a struct with something
// in it, within `words`. REQUIRES: the message of `words` is canonical and `last` is such an
// object of it: each of its ancestors has no pointer after the one to the next (LastPointer).
bool CanonicalTail(capnp::AnyStruct::Reader last, kj::ArrayPtr<const capnp::word> words,
                   kj::ArrayPtr<const capnp::word>* tail, uint64_t* root) {
  const auto* start = reinterpret_cast<const capnp::word*>(last.getDataSection().begin());
  const uint64_t data_words = last.getDataSection().size() / sizeof(capnp::word);
  const uint64_t pointers = last.getPointerSection().size();
  if (!(start > words.begin() && start < words.end() && data_words + pointers > 0)) return false;
  *tail = kj::arrayPtr(start, words.end());
  *root = data_words << 32 | pointers << 48;  // a struct pointer (kind 0) with offset 0
  return true;
}

// True if `child` is the last of `parent`'s pointers: a struct of a later schema (or a crafted
// one) may have more, whose objects a canonical message lays out after the child's.
bool LastPointer(capnp::AnyStruct::Reader parent, size_t child) {
  return parent.getPointerSection().size() == child + 1;
}

void FillCanonical(uint64_t root, kj::ArrayPtr<const capnp::word> tail,
                   kj::ArrayPtr<capnp::word> out) {
  memcpy(static_cast<void*>(out.begin()), &root, sizeof(root));
  memcpy(static_cast<void*>(out.begin() + 1), tail.begin(), tail.size() * sizeof(capnp::word));
}

}  // namespace

Status SignedEvent::FromEnvelopeCapnp(std::span<const uint8_t> message, SignedEvent* out) {
  if (message.size() > kEnvelopeCapnpBytesMax || message.size() % 8 != 0) {
    return Status::InvalidArgument("capnp_malformed",
                                   "a Cap'n Proto envelope is a whole number of words, at most " +
                                       std::to_string(kEnvelopeCapnpBytesMax) + " bytes");
  }
  auto words = CopyToWords(message);
  // An envelope is read about twice (its size, then its copy into the canonical encoding). A
  // message whose pointers share one object (aliasing) is read once per pointer and would
  // canonicalize to many times its size: reads are bounded by a few times its own words.
  capnp::ReaderOptions options = LedgerReaderOptions();
  options.traversalLimitInWords = CapnpReadWordsMax(words.size());
  try {
    capnp::FlatArrayMessageReader reader(words.asPtr(), options);
    if (reader.getEnd() != words.end()) {
      return Status::InvalidArgument("capnp_malformed", "trailing bytes after the message");
    }
    schema::Envelope::Reader envelope = reader.getRoot<schema::Envelope>();
    // A canonical envelope (as `submit` and the client library send) holds the event's
    // canonical encoding as its tail: copied, not recomputed.
    kj::ArrayPtr<const capnp::word> tail;
    uint64_t root = 0;
    constexpr size_t kEventPointer = 2;  // signer, signature, event
    if (reader.isCanonical() && envelope.hasEvent() &&
        LastPointer(capnp::AnyStruct::Reader(envelope), kEventPointer) &&
        CanonicalTail(capnp::AnyStruct::Reader(envelope.getEvent()), words.asPtr(), &tail, &root)) {
      auto canonical = kj::heapArray<capnp::word>(tail.size() + 1);
      FillCanonical(root, tail, canonical);
      return ExplainReads(FromEnvelope(envelope, /*check_json_form=*/true, out, kj::mv(canonical)));
    }
    return ExplainReads(FromEnvelopeReader(envelope, out));
  } catch (const kj::Exception& e) {
    return ExplainReads(Status::InvalidArgument("capnp_malformed", e.getDescription().cStr()));
  }
}

Status SignedEvent::CheckOneJsonForm(schema::Event::Reader event) {
  try {
    auto canonical = capnp::canonicalize(event);
    return CheckJsonFormCopy(event, WordBytes(canonical));
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr(), "event");
  }
}

Status SignedEvent::CheckOneJsonForm() const {
  return CheckCanonicalJsonForm(event(), canonical_event());
}

Status SignedEvent::CheckOneJsonFormByCopy() const {
  return CheckJsonFormCopy(event(), canonical_event());
}

Status SignedEvent::CheckOneJsonFormByRoundTrip(schema::Event::Reader event) {
  try {
    auto canonical = capnp::canonicalize(event);
    nlohmann::json event_json;
    FL_RETURN_IF_ERROR(StructToJson(capnp::DynamicStruct::Reader(event), &event_json));
    capnp::MallocMessageBuilder rebuilt;
    auto root = rebuilt.initRoot<schema::Event>();
    FL_RETURN_IF_ERROR(JsonToStruct(event_json, capnp::DynamicStruct::Builder(root)));
    auto again = capnp::canonicalize(root.asReader());
    if (again.size() != canonical.size() ||
        memcmp(again.begin(), canonical.begin(), canonical.size() * sizeof(capnp::word)) != 0) {
      return NoSecondForm();
    }
    return Status::Ok();
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr(), "event");
  }
}

Status SignedEvent::FromStoredRecord(const RecordReader& record, SignedEvent* out) {
  return FromStoredRecord(record, nullptr, out);
}

Status SignedEvent::FromStoredRecord(const RecordReader& record,
                                     const std::shared_ptr<EventArena>& arena, SignedEvent* out) {
  schema::Envelope::Reader envelope;
  FL_RETURN_IF_ERROR(record.GetEnvelope(&envelope));
  try {
    // The record is canonical (RecordReader::Open checked it), the envelope is its last pointer
    // and the event the envelope's: the event's canonical encoding is the record's tail.
    static_assert(capnp::_::structSize<schema::Record>().pointers == 1);
    static_assert(capnp::_::structSize<schema::Envelope>().pointers == 3);
    kj::ArrayPtr<const capnp::word> tail_words;
    uint64_t root = 0;
    if (envelope.hasEvent() && LastPointer(capnp::AnyStruct::Reader(record.record()), 0) &&
        LastPointer(capnp::AnyStruct::Reader(envelope), 2) &&
        CanonicalTail(capnp::AnyStruct::Reader(envelope.getEvent()), record.message_->words.asPtr(),
                      &tail_words, &root)) {
      Signature signature;
      FL_RETURN_IF_ERROR(EnvelopeSignature(envelope, &signature));
      const size_t tail = tail_words.size();
      if (arena != nullptr) {
        if (kj::ArrayPtr<capnp::word> room = arena->TakeWords(tail + 1); room != nullptr) {
          FillCanonical(root, tail_words, room);
          return FromMessage(
              std::shared_ptr<const CanonicalMessage>(arena, arena->NewMessage(room)),
              envelope.getSigner().cStr(), signature, out);
        }
      }
      auto canonical = kj::heapArray<capnp::word>(tail + 1);
      FillCanonical(root, tail_words, canonical);
      return FromCanonicalEvent(kj::mv(canonical), envelope.getSigner().cStr(), signature, out);
    }
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr());
  }
  return FromEnvelope(envelope, /*check_json_form=*/false, out);
}

Status SignedEvent::FromEnvelopeReader(schema::Envelope::Reader envelope, SignedEvent* out) {
  return FromEnvelope(envelope, /*check_json_form=*/true, out);
}

Status SignedEvent::FromRecordEnvelope(const RecordReader& record, SignedEvent* out) {
  schema::Envelope::Reader envelope;
  FL_RETURN_IF_ERROR(record.GetEnvelope(&envelope));
  return FromEnvelopeReader(envelope, out);
}

Status SignedEvent::FromEnvelope(schema::Envelope::Reader envelope, bool check_json_form,
                                 SignedEvent* out, kj::Array<capnp::word> canonical) {
  try {
    Signature signature;
    FL_RETURN_IF_ERROR(EnvelopeSignature(envelope, &signature));
    if (canonical == nullptr) {
      try {
        canonical = capnp::canonicalize(envelope.getEvent());
      } catch (const kj::Exception& e) {  // a cycle, nesting too deep
        return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr(), "event");
      }
    }
    if (check_json_form) {
      // Every event accepted has a canonical envelope that a Cap'n Proto submission can carry.
      if (const uint64_t words = EnvelopeCapnpWords(canonical.size(), envelope.getSigner().size());
          words > kEnvelopeCapnpBytesMax / sizeof(capnp::word)) {
        return Status::InvalidArgument(
            "event_too_large",
            "an event's canonical envelope is at most " + std::to_string(kEnvelopeCapnpBytesMax) +
                " bytes; this one's would be " + std::to_string(words * sizeof(capnp::word)),
            "event");
      }
      // Checked on the canonical encoding, which is read once more, in place: the event as it
      // arrived is read once, by the canonicalization. The reads are bounded by the canonical
      // words, so that the bound is the same whichever form the event arrived in (JSON, a
      // capnp message padded or not, or canonical): capnp counts a read per item of a list of
      // empty structs, which take no words, and a padded message would otherwise buy an event
      // more reads than its own canonical envelope is allowed. Fewer than the envelope's by the
      // reads of what the envelope adds, so that it is read within its own bound too, at the
      // bound's cap as below it.
      kj::ArrayPtr<const capnp::word> segments[] = {canonical.asPtr()};
      capnp::ReaderOptions options = LedgerReaderOptions();
      options.traversalLimitInWords = CapnpReadWordsMax(canonical.size()) - kCapnpEnvelopeReadsMax;
      capnp::SegmentArrayMessageReader reader(segments, options);
      FL_RETURN_IF_ERROR(ExplainReads(
          CheckCanonicalJsonForm(reader.getRoot<schema::Event>(), WordBytes(canonical)), "event",
          kCapnpTraversalWordsMax - kCapnpEnvelopeReadsMax));
    }
    return FromCanonicalEvent(kj::mv(canonical), envelope.getSigner().cStr(), signature, out);
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr());
  }
}

Status SignedEvent::Sign(const nlohmann::json& event, std::string_view signer, const KeyPair& key,
                         SignedEvent* out) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<schema::Event>();
  FL_RETURN_IF_ERROR(JsonToStruct(event, capnp::DynamicStruct::Builder(root)));
  auto canonical = capnp::canonicalize(root.asReader());
  Signature signature = key.SignEvent(WordBytes(canonical));
  return FromCanonicalEvent(kj::mv(canonical), signer, signature, out);
}

schema::Event::Reader SignedEvent::event() const { return event_; }

std::span<const uint8_t> SignedEvent::canonical_event() const { return WordBytes(message_->words); }

bool SignedEvent::HasSameContent(const SignedEvent& other) const {
  auto a = canonical_event();
  auto b = other.canonical_event();
  return signer_ == other.signer_ && signature_ == other.signature_ && a.size() == b.size() &&
         memcmp(a.data(), b.data(), a.size()) == 0;
}

nlohmann::json SignedEvent::ToEnvelopeJson() const {
  nlohmann::json event_json;
  Status s = StructToJson(capnp::DynamicStruct::Reader(event()), &event_json);
  // The factories checked that the JSON form exists.
  if (!s.ok()) throw std::logic_error("event lost its JSON form: " + s.ToString());
  return {{"signer", signer_}, {"signature", Base64Encode(signature_)}, {"event", event_json}};
}

std::string SignedEvent::ToEnvelopeCapnp() const {
  // One segment that holds it all: the message is then canonical, as its decoder reads best.
  capnp::MallocMessageBuilder builder(EnvelopeCapnpWords(message_->words.size(), signer_.size()),
                                      capnp::AllocationStrategy::FIXED_SIZE);
  auto root = builder.initRoot<schema::Envelope>();
  root.setSigner(signer_);
  root.setSignature(capnp::Data::Reader(signature_.data(), signature_.size()));
  root.setEvent(event());
  auto flat = capnp::messageToFlatArray(builder);
  return std::string(reinterpret_cast<const char*>(flat.begin()),
                     flat.size() * sizeof(capnp::word));
}

namespace {

// A capnp pointer word (little-endian on the wire, as on the machines this runs on).
static_assert(std::endian::native == std::endian::little);
void PutWord(uint64_t value, char* at) { memcpy(at, &value, sizeof(value)); }
uint64_t StructPointer(uint64_t offset, uint64_t data_words, uint64_t pointers) {
  return offset << 2 | data_words << 32 | pointers << 48;  // kind 0
}
uint64_t BytesPointer(uint64_t offset, uint64_t count) {
  return offset << 2 | 1 | uint64_t(2) << 32 | count << 35;  // kind 1, element size BYTE
}

}  // namespace

RecordBytes EncodeRecord(uint64_t seq, int64_t recorded_at_ms, const SignedEvent& event) {
  // The canonical form lays every object out after its parent, children in pointer order (a
  // preorder), with no gaps: the root pointer, the Record (seq, recorded_at_ms; the envelope),
  // the Envelope (no data; signer, signature, event), the signer's bytes and NUL, the
  // signature's, then the event with everything it points to. Those last are the event's
  // canonical bytes less their root pointer, unchanged: its pointers are relative. A zero
  // seq or time would shorten the Record's data section, an empty signer or event is encoded
  // otherwise: those go through capnp.
  constexpr size_t kWord = sizeof(capnp::word);
  static_assert(capnp::_::structSize<schema::Record>().data == 2 &&
                capnp::_::structSize<schema::Record>().pointers == 1);
  static_assert(capnp::_::structSize<schema::Envelope>().data == 0 &&
                capnp::_::structSize<schema::Envelope>().pointers == 3);
  const std::span<const uint8_t> canonical = event.canonical_event();
  const std::string& signer = event.signer();
  uint64_t event_root = 0;
  if (canonical.size() >= 2 * kWord) memcpy(&event_root, canonical.data(), kWord);
  const uint64_t event_sections = event_root >> 32;
  if (seq == 0 || recorded_at_ms == 0 || signer.empty() || canonical.size() % kWord != 0 ||
      (event_root & 0xffffffff) != 0 || event_sections == 0) {
    return EncodeRecordByCanonicalize(seq, recorded_at_ms, event);
  }
  // A signer is an id (CheckId): no NUL inside, which capnp's Text would cut at.
  assert(signer.find('\0') == std::string::npos);
  const size_t signer_words = (signer.size() + 1 + kWord - 1) / kWord;
  constexpr size_t kSignatureWords = std::tuple_size_v<Signature> / kWord;
  static_assert(std::tuple_size_v<Signature> % kWord == 0);
  constexpr size_t kSignerAt = 7;  // root, Record (2 + 1), Envelope (3)
  const size_t signature_at = kSignerAt + signer_words;
  const size_t event_at = signature_at + kSignatureWords;
  RecordBytes out;
  out.bytes.resize(event_at * kWord + canonical.size() - kWord);  // zeroed: the padding
  char* w = out.bytes.data();
  PutWord(StructPointer(0, 2, 1), w);
  PutWord(seq, w + 1 * kWord);
  PutWord(uint64_t(recorded_at_ms), w + 2 * kWord);
  PutWord(StructPointer(0, 0, 3), w + 3 * kWord);
  PutWord(BytesPointer(kSignerAt - 5, signer.size() + 1), w + 4 * kWord);
  PutWord(BytesPointer(signature_at - 6, std::tuple_size_v<Signature>), w + 5 * kWord);
  PutWord(StructPointer(event_at - 7, 0, 0) | event_sections << 32, w + 6 * kWord);
  memcpy(w + kSignerAt * kWord, signer.data(), signer.size());
  memcpy(w + signature_at * kWord, event.signature().data(), event.signature().size());
  memcpy(w + event_at * kWord, canonical.data() + kWord, canonical.size() - kWord);
  out.leaf_hash = MerkleLeafHash(AsBytes(out.bytes));
  return out;
}

RecordBytes EncodeRecordByCanonicalize(uint64_t seq, int64_t recorded_at_ms,
                                       const SignedEvent& event) {
  capnp::MallocMessageBuilder builder;
  auto record = builder.initRoot<schema::Record>();
  record.setSeq(seq);
  record.setRecordedAtMs(recorded_at_ms);
  auto envelope = record.initEnvelope();
  envelope.setSigner(event.signer());
  envelope.setSignature(capnp::Data::Reader(event.signature().data(), event.signature().size()));
  envelope.setEvent(event.event());
  auto canonical = capnp::canonicalize(record.asReader());
  RecordBytes out;
  out.bytes.assign(reinterpret_cast<const char*>(canonical.begin()),
                   canonical.size() * sizeof(capnp::word));
  out.leaf_hash = MerkleLeafHash(AsBytes(out.bytes));
  return out;
}

Status RecordReader::GetEnvelope(schema::Envelope::Reader* out) const {
  try {
    *out = record().getEnvelope();
  } catch (const kj::Exception& e) {
    return Status::InvalidArgument("capnp_malformed", e.getDescription().cStr());
  }
  return Status::Ok();
}

struct EventArena::Slots {
  size_t block_words = 0;
  std::vector<std::unique_ptr<capnp::word[]>> blocks;
  size_t used = 0;  // words taken from the last block
  // Declared after the blocks, so destroyed before the words they read.
  std::unique_ptr<std::optional<CanonicalMessage>[]> messages;
  size_t messages_max = 0;
  size_t messages_used = 0;
};

std::shared_ptr<EventArena> EventArena::New(size_t events, size_t words_each) {
  std::shared_ptr<EventArena> arena(new EventArena());
  arena->slots_ = std::make_unique<Slots>();
  Slots& slots = *arena->slots_;
  slots.block_words = std::max<size_t>(events * words_each, 1);
  slots.messages = std::make_unique<std::optional<CanonicalMessage>[]>(events);
  slots.messages_max = events;
  return arena;
}

EventArena::~EventArena() = default;

kj::ArrayPtr<capnp::word> EventArena::TakeWords(size_t n) {
  Slots& slots = *slots_;
  if (slots.messages_used == slots.messages_max || n > slots.block_words) return nullptr;
  if (slots.blocks.empty() || slots.used + n > slots.block_words) {
    slots.blocks.emplace_back(new capnp::word[slots.block_words]);
    slots.used = 0;
  }
  capnp::word* at = slots.blocks.back().get() + slots.used;
  slots.used += n;
  return kj::arrayPtr(at, n);
}

CanonicalMessage* EventArena::NewMessage(kj::ArrayPtr<capnp::word> words) {
  Slots& slots = *slots_;
  auto& slot = slots.messages[slots.messages_used++];
  // The words are the arena's: the message does not free them.
  slot.emplace(kj::Array<capnp::word>(words.begin(), words.size(), kj::NullArrayDisposer::instance),
               UINT64_MAX);
  return &*slot;
}

namespace {

// Whether `in` has no more data words and pointers than `T`'s schema gives it.
template <typename T>
bool NoWiderThanSchema(capnp::AnyStruct::Reader in) {
  static const auto node = capnp::Schema::from<T>().getProto().getStruct();
  return in.getDataSection().size() <= size_t(node.getDataWordCount()) * sizeof(capnp::word) &&
         in.getPointerSection().size() <= node.getPointerCount();
}

// Whether the record and its envelope are no wider than their schema. Where the envelope's
// pointer holds no struct, reading the envelope fails later and names it.
bool RecordNoWiderThanSchema(capnp::AnyStruct::Reader record) {
  if (!NoWiderThanSchema<schema::Record>(record)) return false;
  auto pointers = record.getPointerSection();
  if (pointers.size() == 0 || pointers[0].getPointerType() != capnp::PointerType::STRUCT) {
    return true;
  }
  return NoWiderThanSchema<schema::Envelope>(pointers[0].getAs<capnp::AnyStruct>());
}

}  // namespace

Status RecordReader::Open(std::string_view bytes, RecordReader* out) {
  if (bytes.empty() || bytes.size() % 8 != 0 || bytes.size() > kEnvelopeCapnpBytesMax * 2) {
    return Status::Corruption("record_malformed", "record is not a whole number of words");
  }
  try {
    // A stored record is read a few times (verify, render); 8x its size bounds amplification.
    auto message = std::make_shared<CanonicalMessage>(CopyToWords(AsBytes(bytes)), bytes.size());
    if (!message->reader.isCanonical()) {
      return Status::Corruption("record_noncanonical", "record is not canonically encoded");
    }
    // Canonical form keeps data and pointers past a struct's schema (a newer schema's fields);
    // a record has none, or one (seq, time, envelope) would have many encodings and leaf hashes.
    // The event's own structs are held to its schema by its JSON form (CheckOneJsonForm).
    if (!RecordNoWiderThanSchema(message->reader.getRoot<capnp::AnyStruct>())) {
      return Status::Corruption("record_noncanonical",
                                "record holds data outside the record and envelope schema");
    }
    out->message_ = std::move(message);
  } catch (const kj::Exception& e) {
    return Status::Corruption("record_malformed", e.getDescription().cStr());
  }
  return Status::Ok();
}

schema::Record::Reader RecordReader::record() const {
  return message_->reader.getRoot<schema::Record>();
}

}  // namespace fundledger
