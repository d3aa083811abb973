// libFuzzer target: a POST body of JSON envelopes (one, an array, or JSON lines), through
// DecodeJsonSubmission, the strict JSON parser and the JSON-to-capnp codec. Whatever decodes
// must render to a JSON envelope that decodes to the same canonical event.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "api/submit.h"
#include "ledger/codec.h"
#include "ledger/event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fundledger;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  Submission submission;
  if (!DecodeJsonSubmission(body, &submission).ok()) return 0;
  for (const SignedEvent& event : submission.events) {
    nlohmann::json rendered = event.ToEnvelopeJson();
    // The rendered JSON survives the strict parser too.
    nlohmann::json reparsed;
    if (!ParseJson(rendered.dump(), &reparsed).ok()) std::abort();
    SignedEvent again;
    if (!SignedEvent::FromEnvelopeJson(reparsed, &again).ok()) std::abort();
    auto x = event.canonical_event(), y = again.canonical_event();
    if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size()) != 0) std::abort();
    if (event.signer() != again.signer() || event.signature() != again.signature()) std::abort();
  }
  return 0;
}
