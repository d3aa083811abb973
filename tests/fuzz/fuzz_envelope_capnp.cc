// libFuzzer target: a POST body of Cap'n Proto envelopes (DecodeCapnpSubmission), and the bytes
// as one envelope message (SignedEvent::FromEnvelopeCapnp). Whatever decodes must have exactly
// one form: its JSON envelope decodes to the same canonical event, and its own capnp message
// decodes again to it.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>

#include "api/submit.h"
#include "ledger/event.h"

namespace fundledger {
namespace {

bool SameEvent(const SignedEvent& a, const SignedEvent& b) {
  auto x = a.canonical_event(), y = b.canonical_event();
  return a.signer() == b.signer() && a.signature() == b.signature() && x.size() == y.size() &&
         std::memcmp(x.data(), y.data(), x.size()) == 0;
}

// Every event that decoded has one JSON form and one capnp form, and both decode to it.
void CheckForms(const SignedEvent& event) {
  SignedEvent from_json, from_capnp;
  if (!SignedEvent::FromEnvelopeJson(event.ToEnvelopeJson(), &from_json).ok()) std::abort();
  if (!SameEvent(event, from_json)) std::abort();
  std::string message = event.ToEnvelopeCapnp();
  auto bytes =
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()), message.size());
  if (!SignedEvent::FromEnvelopeCapnp(bytes, &from_capnp).ok()) std::abort();
  if (!SameEvent(event, from_capnp)) std::abort();
}

}  // namespace
}  // namespace fundledger

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fundledger;
  Submission submission;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  if (DecodeCapnpSubmission(body, &submission).ok()) {
    if (submission.events.size() != submission.positions.size()) std::abort();
    for (const SignedEvent& event : submission.events) CheckForms(event);
  }
  SignedEvent event;
  if (SignedEvent::FromEnvelopeCapnp(std::span<const uint8_t>(data, size), &event).ok()) {
    CheckForms(event);
  }
  return 0;
}
