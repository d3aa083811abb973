// Internal to crypto/: libsodium must be initialised before use (it picks CPU-specific
// implementations and seeds its random source). Thread safe: C++ runs a function-local static's
// initialiser exactly once.
#pragma once

#include <sodium.h>

#include <cstdlib>

namespace fundledger::internal {

inline void EnsureSodiumInitialized() {
  // sodium_init returns 0 on first success, 1 if already initialised, -1 on failure. Failure
  // means no usable random source: nothing in this module can work, so stop.
  static const bool initialized = sodium_init() >= 0;
  if (!initialized) std::abort();
}

}  // namespace fundledger::internal
