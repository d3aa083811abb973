// The ledger's rules: who may sign what, and what each event may do to the state.
//
// Used identically by the journal's sequencer (to accept or reject an event) and by full
// verification (to replay history), so that a ledger that verifies is one the rules produced.
// Every failure is Status::Rejected (or InvalidArgument for malformed values) with the rule's
// name as code and the offending field; the event id is added by the caller.
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/ed25519.h"
#include "crypto/status.h"
#include "ledger/event.h"
#include "ledger/state.h"

namespace fundledger {

inline constexpr size_t kNameBytesMax = 200;
inline constexpr size_t kDocRefBytesMax = 200;
inline constexpr size_t kMemoBytesMax = 1000;
inline constexpr size_t kRegionBytesMax = 200;

struct EventContext {
  uint64_t seq = 0;            // the seq the event will have
  int64_t recorded_at_ms = 0;  // the record's time, ms since the Unix epoch
};

// Finds the key that must verify `event`'s signature at this point of the log: the signer's
// current key, or, for the genesis event, the operator key it registers. Rejected with
// "genesis_required", "signer_unknown" or "signer_revoked" otherwise.
Status SignerKey(const LedgerState& state, const SignedEvent& event, PublicKey* key);

// Checks every rule for `event` and stages its changes in `state`.
// REQUIRES: the signature was verified with the key SignerKey() gave for this state.
Status ApplyEvent(const SignedEvent& event, const EventContext& context, LedgerState* state);

// Days since 1970-01-01 of a "YYYY-MM-DD" calendar date; InvalidArgument "bad_date" otherwise.
Status ParseDate(std::string_view text, std::string_view field, int64_t* days);
// The business day (China Standard Time, UTC+8) of a time in ms since the epoch.
int64_t BusinessDay(int64_t unix_ms);
// "YYYY-MM-DD" of a day number as ParseDate gives it.
std::string FormatDate(int64_t days);

// "" (national) or lowercase ascii slugs [a-z0-9_-] joined by '/'.
bool IsValidRegion(std::string_view region);
// True if `region` is `scope` or lies under it ("hunan/xiangtan" is within "hunan").
bool RegionWithin(std::string_view region, std::string_view scope);

}  // namespace fundledger
