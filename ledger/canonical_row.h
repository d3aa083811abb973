// Stored rows that are canonical Cap'n Proto structs (capnp::canonicalize: one segment, no
// segment table), as the state and view rows are: their bytes, and reading them back.
#pragma once

#include <capnp/message.h>
#include <kj/exception.h>

#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include "ledger/event.h"

namespace fundledger {

// A message builder for one small row: its first segment is a zeroed array inside the object
// (on the stack), so that building a row allocates nothing until it outgrows it.
class RowMessageBuilder : private std::array<capnp::word, 64> {
 public:
  RowMessageBuilder() : std::array<capnp::word, 64>{}, message_(kj::arrayPtr(data(), size())) {}
  template <typename T>
  typename T::Builder initRoot() {
    return message_.initRoot<T>();
  }
  capnp::MallocMessageBuilder& message() { return message_; }

 private:
  capnp::MallocMessageBuilder message_;  // zeroes the words it used when destroyed
};

template <typename Builder>
std::string CanonicalBytes(Builder builder) {
  auto words = capnp::canonicalize(builder.asReader());
  return std::string(reinterpret_cast<const char*>(words.begin()), words.size() * 8);
}

// Decodes one canonical row of type T and hands its reader to `fn`; false if the bytes are not
// a canonical T or `fn` refuses them.
template <typename T, typename Fn>
bool DecodeCanonicalRow(std::string_view bytes, Fn&& fn) {
  if (bytes.empty() || bytes.size() % 8 != 0) return false;
  auto words = kj::heapArray<capnp::word>(bytes.size() / 8);
  memcpy(words.begin(), bytes.data(), bytes.size());
  kj::ArrayPtr<const capnp::word> segments[1] = {words.asPtr()};
  try {
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1), LedgerReaderOptions());
    if (!reader.isCanonical()) return false;
    return fn(reader.getRoot<T>());
  } catch (const kj::Exception&) {
    return false;
  }
}

}  // namespace fundledger
