// Stored rows that are canonical Cap'n Proto structs (capnp::canonicalize: one segment, no
// segment table), as the state and view rows are: their bytes, and reading them back.
#pragma once

#include <capnp/message.h>
#include <kj/exception.h>

#include <array>
#include <cstdint>
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

// Writes a small struct's canonical encoding directly, for the rows encoded once per event,
// where capnp's builder and canonicalize cost most of the encoding. Canonical form
// (capnp/encoding): the root pointer, then each struct's data section without its trailing zero
// words and its pointer section, each pointer's target following in pointer order, depth first;
// a Text is a byte list of its bytes and a NUL, padded with zeros to a word. The caller sizes
// the output (TextWords) and lays out the structs in that order.
class CanonicalWriter {
 public:
  explicit CanonicalWriter(size_t words) { out_.assign(words * 8, '\0'); }
  size_t end() const { return end_; }
  // Reserves `words` words at the end; their index.
  size_t Take(size_t words) {
    size_t at = end_;
    end_ += words;
    return at;
  }
  void Word(size_t word, size_t byte_offset, const void* value, size_t size) {
    memcpy(out_.data() + word * 8 + byte_offset, value, size);
  }
  void StructPointer(size_t at, size_t target, uint16_t data_words, uint16_t pointers) {
    uint64_t p = (uint64_t(uint32_t(int32_t(target - at - 1) << 2))) |
                 (uint64_t(data_words) << 32) | (uint64_t(pointers) << 48);
    Word(at, 0, &p, 8);
  }
  void Text(size_t at, std::string_view text) {
    const size_t words = (text.size() + 1 + 7) / 8;
    const size_t target = Take(words);
    uint64_t p = uint64_t(uint32_t(int32_t(target - at - 1) << 2) | 1u) |
                 (uint64_t(2 | (uint32_t(text.size() + 1) << 3)) << 32);
    Word(at, 0, &p, 8);
    if (!text.empty()) Word(target, 0, text.data(), text.size());
  }
  std::string Finish() {
    out_.resize(end_ * 8);
    return std::move(out_);
  }

 private:
  std::string out_;
  size_t end_ = 0;
};

// The words a Text of `text` takes.
inline size_t TextWords(std::string_view text) { return (text.size() + 1 + 7) / 8; }

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
