// What the crash test and its writer process agree on: the signing organisation, its key, and
// the events the writer appends.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "crypto/ed25519.h"

namespace fundledger::test {

inline constexpr char kCrashOrg[] = "xt-finance";
inline constexpr size_t kCrashBatchEventsMax = 50;
// The writer stops by itself only after this many events; a round is far shorter.
inline constexpr uint64_t kCrashEventsMax = 10000000;
// The writer's first line on its ack pipe, written before it opens the journal.
inline constexpr char kCrashReady[] = "ready";

inline KeyPair CrashOrgKey() {
  KeySeed seed;
  seed.fill(0x5a);
  return KeyPair::FromSeed(seed);
}

// Event ids are unique across rounds: "r<round>-<n>".
inline std::string CrashEventId(uint64_t round, uint64_t n) {
  return "r" + std::to_string(round) + "-" + std::to_string(n);
}

inline nlohmann::json CrashReceipt(const std::string& id, uint64_t amount_fen) {
  return {{"id", id},
          {"type", "funds_received"},
          {"occurred_on", "2024-03-15"},
          {"to", kCrashOrg},
          {"to_kind", "pool"},
          {"category", "municipal"},
          {"source_org", kCrashOrg},
          {"channel", "transfer"},
          {"amount_fen", amount_fen}};
}

}  // namespace fundledger::test
