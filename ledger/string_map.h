// StringMap: a hash table from strings to values, for the large in-memory tables a verifier
// rebuilds (an event fact, an event id and a movement per record) and the small ones the
// sequencer stages per batch.
//
// std::unordered_map allocates a node per entry and walks a bucket, the node before and the node
// itself on every lookup: three cache misses on a table of a million entries. Here the index is
// an array of 8-byte slots (linear probing, at most half full), each holding 32 bits of the
// key's hash and the entry's number, and the entries are appended to chunks that double in size:
// a lookup touches one slot and one entry, an insertion allocates nothing but a new chunk now and
// then, and entries never move, so pointers and references to them stay valid until clear().
//
// There is no erase: the tables only grow until they are cleared whole. Iteration visits the
// entries in insertion order. The subset of std::unordered_map's interface that the tables use,
// with its names, so that the two are interchangeable.
//
// Thread safety: as a standard container.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace fundledger {

struct StringMapHash {
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

template <typename V, typename Hash = StringMapHash>
class StringMap {
 public:
  using value_type = std::pair<const std::string, V>;

  template <bool kConst>
  class Iterator {
   public:
    using Map = std::conditional_t<kConst, const StringMap, StringMap>;
    using reference = std::conditional_t<kConst, const value_type&, value_type&>;
    using pointer = std::conditional_t<kConst, const value_type*, value_type*>;
    Iterator(Map* map, uint32_t index) : map_(map), index_(index) {}
    operator Iterator<true>() const { return {map_, index_}; }  // NOLINT: as std's
    reference operator*() const { return map_->Entry(index_); }
    pointer operator->() const { return &map_->Entry(index_); }
    Iterator& operator++() {
      ++index_;
      return *this;
    }
    bool operator==(const Iterator& other) const { return index_ == other.index_; }

   private:
    Map* map_;
    uint32_t index_;
  };
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;

  StringMap() = default;
  StringMap(const StringMap&) = delete;
  StringMap& operator=(const StringMap&) = delete;
  ~StringMap() {
    clear();
    for (size_t c = 0; c < kChunksMax && chunks_[c] != nullptr; ++c) {
      std::allocator<value_type>().deallocate(chunks_[c], ChunkEntries(c));
    }
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  iterator begin() { return {this, 0}; }
  iterator end() { return {this, size_}; }
  const_iterator begin() const { return {this, 0}; }
  const_iterator end() const { return {this, size_}; }

  iterator find(std::string_view key) { return {this, Find(key, Hash()(key))}; }
  const_iterator find(std::string_view key) const { return {this, Find(key, Hash()(key))}; }
  bool contains(std::string_view key) const { return Find(key, Hash()(key)) != size_; }

  // Makes room for `entries` without growing the index.
  void reserve(size_t entries) {
    if (entries * 2 > slots_.size()) Rehash(std::bit_ceil(std::max<size_t>(entries * 2, 16)));
  }

  // Inserts `value` under `key` if the key is absent; the entry, and whether it was inserted.
  template <typename... Args>
  std::pair<iterator, bool> emplace(std::string_view key, Args&&... value) {
    size_t hash = Hash()(key);
    if (uint32_t at = Find(key, hash); at != size_) return {{this, at}, false};
    return {{this, Insert(key, hash, std::forward<Args>(value)...)}, true};
  }
  template <typename T>
  std::pair<iterator, bool> insert_or_assign(std::string_view key, T&& value) {
    auto [it, inserted] = emplace(key, std::forward<T>(value));
    if (!inserted) it->second = std::forward<T>(value);
    return {it, inserted};
  }
  V& operator[](std::string_view key) { return emplace(key).first->second; }

  // Destroys every entry; keeps the memory for the entries to come.
  void clear() {
    if (size_ == 0) return;
    if constexpr (!std::is_trivially_destructible_v<value_type>) {
      for (uint32_t i = 0; i < size_; ++i) Entry(i).~value_type();
    }
    size_ = 0;
    std::fill(slots_.begin(), slots_.end(), 0);
  }

 private:
  // Chunk c holds kFirstChunk << c entries, so 27 chunks hold more than the 2^32 - 1 entries
  // the 32-bit entry numbers can name.
  static constexpr size_t kFirstChunk = 16;
  static constexpr size_t kChunksMax = 28;
  static constexpr uint32_t kEntriesMax = UINT32_MAX - 1;

  static size_t ChunkEntries(size_t c) { return kFirstChunk << c; }
  // Entry i is in chunk c = log2(i / kFirstChunk + 1), which starts at kFirstChunk * (2^c - 1).
  value_type& Entry(uint32_t i) const {
    size_t c = std::bit_width(size_t(i) / kFirstChunk + 1) - 1;
    return chunks_[c][i - kFirstChunk * ((size_t(1) << c) - 1)];
  }

  // A slot is empty (0) or holds the hash's upper 32 bits and the entry's number plus one.
  static uint64_t Slot(size_t hash, uint32_t entry) {
    return (uint64_t(hash) >> 32 << 32) | (uint64_t(entry) + 1);
  }

  // The number of the entry holding `key`, or size_ if there is none.
  uint32_t Find(std::string_view key, size_t hash) const {
    if (size_ == 0) return size_;
    const size_t mask = slots_.size() - 1;
    const uint64_t tag = uint64_t(hash) >> 32;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      uint64_t slot = slots_[i];
      if (slot == 0) return size_;
      if (slot >> 32 == tag) {
        uint32_t entry = uint32_t(slot) - 1;
        if (Entry(entry).first == key) return entry;
      }
    }
  }

  template <typename... Args>
  uint32_t Insert(std::string_view key, size_t hash, Args&&... value) {
    if (size_ >= kEntriesMax) throw std::length_error("StringMap: too many entries");
    if ((size_t(size_) + 1) * 2 > slots_.size()) Rehash(std::max<size_t>(slots_.size() * 2, 16));
    const uint32_t entry = size_;
    size_t c = std::bit_width(size_t(entry) / kFirstChunk + 1) - 1;
    if (chunks_[c] == nullptr) chunks_[c] = std::allocator<value_type>().allocate(ChunkEntries(c));
    value_type* at = &chunks_[c][entry - kFirstChunk * ((size_t(1) << c) - 1)];
    ::new (static_cast<void*>(at)) value_type(std::piecewise_construct, std::forward_as_tuple(key),
                                              std::forward_as_tuple(std::forward<Args>(value)...));
    ++size_;
    Place(hash, entry);
    return entry;
  }

  void Place(size_t hash, uint32_t entry) {
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = Slot(hash, entry);
  }

  void Rehash(size_t slots) {
    slots_.assign(slots, 0);
    for (uint32_t i = 0; i < size_; ++i) Place(Hash()(Entry(i).first), i);
  }

  std::vector<uint64_t> slots_;  // a power of two in size, at most half full
  value_type* chunks_[kChunksMax] = {};
  uint32_t size_ = 0;
};

}  // namespace fundledger
