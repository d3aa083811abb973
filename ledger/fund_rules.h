// The fund domain's rules (projects, policies, money, reversals, acknowledgements, findings):
// the part of ApplyEvent (rules.h, whose header holds the rule catalogue) after the registry.
// Internal to ledger/.
#pragma once

#include <cstdint>
#include <string_view>

#include "crypto/status.h"
#include "ledger/event.h"
#include "ledger/rules.h"
#include "ledger/state.h"

namespace fundledger {

inline constexpr uint64_t kAmountFenMax = 100'000'000'000'000ULL;       // 10^14 per event
inline constexpr int64_t kBalanceFenMax = 1'000'000'000'000'000'000LL;  // 10^18 per account
// The ledger's volume (LedgerState::volume_fen) at most: with it, no figure a view adds up over
// any scope, nor the few figures a view adds together, can pass what an int64 holds.
inline constexpr uint64_t kLedgerVolumeFenMax = 1'000'000'000'000'000'000ULL;  // 10^18

// Checks the rules of a fund-domain event (any type but the registry's) and stages its changes.
// REQUIRES: the common checks passed and the signer is registered and not revoked.
// Stages nothing unless it returns ok.
Status ApplyFundEvent(const SignedEvent& event, const EventContext& context, LedgerState* state);

// Shared with the registry rules: 1..max bytes (0..max if !required), no control characters
// (C0 other than newline and tab, DEL, C1), no bidirectional embeddings, overrides or
// isolates (U+202A..U+202E, U+2066..U+2069), and not BeginsAsFormula.
Status CheckTextBytes(capnp::Text::Reader text, size_t max, std::string_view field, bool required);

// Whether a spreadsheet opening a CSV file would read a cell of `text` as a formula: it begins
// with =, +, -, @ or a tab.
bool BeginsAsFormula(std::string_view text);

}  // namespace fundledger
