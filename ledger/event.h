// SignedEvent: one decoded, signed event as the journal receives it, and the record codec.
//
// A SignedEvent owns the canonical Cap'n Proto encoding of its event (the bytes the signature
// covers) and a reader over it. It is built from the JSON envelope, from a Cap'n Proto envelope
// message, or by signing an event with a key. Building one checks the form only (decoding,
// limits, one-to-one JSON form, signature length); the signature itself and every rule are
// checked by the journal.
//
// Thread safety: a const SignedEvent may be read from several threads.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "crypto/ed25519.h"
#include "crypto/sha256.h"
#include "crypto/status.h"
#include "ledger/schema/event.capnp.h"

namespace fundledger {

inline constexpr size_t kEventIdBytesMax = 64;
inline constexpr size_t kEnvelopeCapnpBytesMax = 1 << 20;
inline constexpr uint64_t kCapnpTraversalWordsMax = kEnvelopeCapnpBytesMax / 8;
// A posted envelope may be read at most this many times its own words, plus a few.
inline constexpr uint64_t kCapnpReadsPerWord = 4;
inline constexpr uint64_t kCapnpReadWordsMin = 64;
// The reads allowed of a message of `words` words: of a posted envelope, and (less
// kCapnpEnvelopeReadsMax) of an event's canonical encoding when it is checked, whichever form
// it arrived in.
uint64_t CapnpReadWordsMax(uint64_t words);
// More than an envelope's reads beyond its event's: its pointers, signer and signature.
inline constexpr uint64_t kCapnpEnvelopeReadsMax = 64;
// The words of the canonical envelope message (with its segment table) of an event whose
// canonical encoding is `event_words` words, signed by a signer of `signer_bytes` bytes.
uint64_t EnvelopeCapnpWords(uint64_t event_words, size_t signer_bytes);
inline constexpr int kCapnpNestingMax = 16;
// The stack segment of the one-JSON-form check's copy; a typical event takes 30 to 80 words.
inline constexpr size_t kJsonFormScratchWords = 256;

capnp::ReaderOptions LedgerReaderOptions();

struct CanonicalMessage;
class EventArena;
class RecordReader;

// Value type: copies share the immutable encoded event.
class SignedEvent {
 public:
  // {"signer": ..., "signature": base64, "event": {...}}.
  static Status FromEnvelopeJson(const nlohmann::json& envelope, SignedEvent* out);
  // A Cap'n Proto Envelope message (standard framing, with segment table).
  static Status FromEnvelopeCapnp(std::span<const uint8_t> message, SignedEvent* out);
  // Signs a bare JSON event as `signer` with `key`.
  static Status Sign(const nlohmann::json& event, std::string_view signer, const KeyPair& key,
                     SignedEvent* out);
  // From an Envelope reader (e.g. inside a stored record). Checks the one-to-one form.
  static Status FromEnvelopeReader(schema::Envelope::Reader envelope, SignedEvent* out);
  // The event of a record's envelope, with every check of FromEnvelopeReader; "capnp_malformed"
  // if the record holds no envelope it can read (a canonical record may hold, say, a text there).
  static Status FromRecordEnvelope(const RecordReader& record, SignedEvent* out);
  // The event of a stored record, without the one-JSON-form check, which verification makes on
  // its signature threads. The record is canonical (RecordReader::Open checked it), so the
  // event's canonical bytes are the record's tail behind a root pointer: they are copied, not
  // recomputed.
  static Status FromStoredRecord(const RecordReader& record, SignedEvent* out);
  // The same, with the event's words taken from `arena` (if not null) while it has room: a batch
  // of events then costs a few allocations rather than two per event. `out` shares the arena.
  static Status FromStoredRecord(const RecordReader& record,
                                 const std::shared_ptr<EventArena>& arena, SignedEvent* out);
  // InvalidArgument "capnp_noncanonical" unless the event's JSON form expresses it exactly (no
  // unknown fields, enumerants or union members), so that it has one signed form; the codes of
  // CopyJsonForm (ledger/codec.h) for data the JSON form cannot hold at all (an unknown
  // enumerant, invalid UTF-8, a missing required field); "capnp_malformed" if it cannot be read.
  // Decides as CheckOneJsonFormByRoundTrip does, without building JSON.
  static Status CheckOneJsonForm(schema::Event::Reader event);
  // The same for this event, read from its canonical bytes: checked in place, without a copy
  // (CheckJsonFormInPlace), where that decides.
  Status CheckOneJsonForm() const;
  // The same by copying the JSON form and comparing canonical bytes: the in-place check's
  // reference.
  Status CheckOneJsonFormByCopy() const;
  // The definition of the one-JSON-form check, kept as the reference the fast check is tested
  // against: the event's canonical bytes equal those of JsonToStruct(StructToJson(event)).
  static Status CheckOneJsonFormByRoundTrip(schema::Event::Reader event);

  schema::Event::Reader event() const;
  std::span<const uint8_t> canonical_event() const;
  const std::string& signer() const { return signer_; }
  const Signature& signature() const { return signature_; }
  std::string id() const { return event().getId().cStr(); }
  // The event's occurred_on as a day number (ParseDate, ledger/rules.h), read once when the
  // event is made; kNoDay if it is not a date of the calendar, which the rules refuse.
  static constexpr int64_t kNoDay = INT64_MIN;
  int64_t occurred_day() const { return occurred_day_; }
  bool HasSameContent(const SignedEvent& other) const;

  nlohmann::json ToEnvelopeJson() const;  // REQUIRES: built by one of the factories
  // A Cap'n Proto Envelope message with standard framing.
  std::string ToEnvelopeCapnp() const;

 private:
  // `canonical`: the event's canonical encoding if known (a canonical envelope's tail), else
  // null and computed here.
  static Status FromEnvelope(schema::Envelope::Reader envelope, bool check_json_form,
                             SignedEvent* out, kj::Array<capnp::word> canonical = nullptr);
  static Status FromCanonicalEvent(kj::Array<capnp::word> canonical, std::string_view signer,
                                   const Signature& signature, SignedEvent* out);
  static Status FromMessage(std::shared_ptr<const CanonicalMessage> message,
                            std::string_view signer, const Signature& signature, SignedEvent* out);

  std::shared_ptr<const CanonicalMessage> message_;
  // The root of message_, read once: it points into message_'s words, which copies share.
  schema::Event::Reader event_;
  std::string signer_;
  Signature signature_{};
  int64_t occurred_day_ = kNoDay;
};

// Room for the canonical events of a batch of stored records (SignedEvent::FromStoredRecord),
// taken a few large blocks at a time. Events made in it keep it alive; an event that does not
// fit is allocated on its own.
//
// Thread safety: events are made in it by one thread at a time; the events are as any other.
class EventArena {
 public:
  // Room for `events` events of about `words_each` words.
  static std::shared_ptr<EventArena> New(size_t events, size_t words_each);
  ~EventArena();
  EventArena(const EventArena&) = delete;
  EventArena& operator=(const EventArena&) = delete;

 private:
  friend class SignedEvent;
  struct Slots;
  EventArena() = default;
  // Room for `n` words, which the caller fills (they are not zeroed), and a slot for their
  // message; an empty pointer when either has run out.
  kj::ArrayPtr<capnp::word> TakeWords(size_t n);
  // The message over `words`, in the slot TakeWords kept for them.
  // REQUIRES: `words` came from the last TakeWords.
  CanonicalMessage* NewMessage(kj::ArrayPtr<capnp::word> words);

  std::unique_ptr<Slots> slots_;
};

// A journal record: {seq, recorded_at_ms, envelope}, canonically encoded.
struct RecordBytes {
  std::string bytes;  // capnp::canonicalize(Record), the Merkle leaf data
  Hash leaf_hash{};
};
// Written word by word around the event's canonical bytes, which are copied as they are (see
// event.cc); where that layout does not apply, by capnp::canonicalize.
RecordBytes EncodeRecord(uint64_t seq, int64_t recorded_at_ms, const SignedEvent& event);
// The same through a MessageBuilder and capnp::canonicalize: EncodeRecord's reference.
RecordBytes EncodeRecordByCanonicalize(uint64_t seq, int64_t recorded_at_ms,
                                       const SignedEvent& event);

// Reads a stored record, checking that it is canonical and within the reader limits.
// Corruption "record_malformed" otherwise.
class RecordReader {
 public:
  static Status Open(std::string_view bytes, RecordReader* out);
  schema::Record::Reader record() const;
  // The record's envelope; InvalidArgument "capnp_malformed" if the record, canonical as it is,
  // holds another kind of pointer there (a text, say).
  Status GetEnvelope(schema::Envelope::Reader* out) const;

 private:
  friend class SignedEvent;
  std::shared_ptr<const CanonicalMessage> message_;
};

// The genesis event: the operator's self-registration, which must be the ledger's first event
// and be signed by `operator_key`'s secret half.
nlohmann::json GenesisEvent(std::string_view operator_id, std::string_view name,
                            const PublicKey& operator_key, std::string_view occurred_on);

// Validates an id as a record may hold it: 1..64 chars of [A-Za-z0-9._:-]. InvalidArgument
// "bad_id". Read from every stored record, and for references to recorded ids.
Status CheckIdChars(std::string_view id, std::string_view field);
// A new id, as the rules admit it: CheckIdChars, and beginning with a letter or a digit (ids
// are cells of the CSV files, and a spreadsheet reads "-1-1" as a formula). Records of an
// earlier build may hold ids the rules now refuse; they stay readable.
Status CheckId(std::string_view id, std::string_view field);

}  // namespace fundledger
