#include "crypto/merkle.h"

#include <bit>
#include <cassert>
#include <utility>

namespace fundledger {
namespace {

constexpr uint8_t kLeafPrefix = 0x00;
constexpr uint8_t kNodePrefix = 0x01;

bool IsPowerOfTwo(uint64_t n) { return std::has_single_bit(n); }

// The largest power of two strictly less than n: where RFC 9162 splits a list of n leaves.
// REQUIRES: n >= 2.
uint64_t SplitPoint(uint64_t n) {
  assert(n >= 2);
  return std::bit_floor(n - 1);
}

// MTH(D[begin:end]) for 0 <= begin < end. A range that is a perfect subtree (power-of-two
// length, aligned start) is one stored node; any other range is split as the RFC defines MTH,
// into its left perfect subtree of k leaves and the rest. The rest is at most half as long, so
// the recursion is at most 64 deep.
Status RangeHash(const NodeReader& reader, uint64_t begin, uint64_t end, Hash* out) {
  assert(begin < end);
  const uint64_t n = end - begin;
  if (IsPowerOfTwo(n) && begin % n == 0) {
    const uint32_t level = static_cast<uint32_t>(std::countr_zero(n));
    return reader.ReadNode(level, begin >> level, out);
  }
  const uint64_t k = SplitPoint(n);
  Hash left;
  Hash right;
  FL_RETURN_IF_ERROR(RangeHash(reader, begin, begin + k, &left));
  FL_RETURN_IF_ERROR(RangeHash(reader, begin + k, end, &right));
  *out = MerkleNodeHash(left, right);
  return Status::Ok();
}

// Appends PATH(index - begin, D[begin:end]) (RFC 9162 section 2.1.3.1), the leaf's sibling
// first. REQUIRES: begin <= index < end.
Status AppendPath(const NodeReader& reader, uint64_t index, uint64_t begin, uint64_t end,
                  std::vector<Hash>* proof) {
  assert(begin <= index && index < end);
  if (end - begin == 1) return Status::Ok();
  const uint64_t split = begin + SplitPoint(end - begin);
  Hash sibling;
  if (index < split) {
    FL_RETURN_IF_ERROR(AppendPath(reader, index, begin, split, proof));
    FL_RETURN_IF_ERROR(RangeHash(reader, split, end, &sibling));
  } else {
    FL_RETURN_IF_ERROR(AppendPath(reader, index, split, end, proof));
    FL_RETURN_IF_ERROR(RangeHash(reader, begin, split, &sibling));
  }
  proof->push_back(sibling);
  return Status::Ok();
}

// Appends SUBPROOF(size1 - begin, D[begin:end], complete) (RFC 9162 section 2.1.4.1), where
// `complete` says whether D[begin:size1] is a whole subtree the verifier already knows.
// REQUIRES: begin < size1 <= end.
Status AppendSubproof(const NodeReader& reader, uint64_t size1, uint64_t begin, uint64_t end,
                      bool complete, std::vector<Hash>* proof) {
  assert(begin < size1 && size1 <= end);
  if (size1 == end) {
    if (complete) return Status::Ok();
    Hash node;
    FL_RETURN_IF_ERROR(RangeHash(reader, begin, end, &node));
    proof->push_back(node);
    return Status::Ok();
  }
  const uint64_t split = begin + SplitPoint(end - begin);
  Hash sibling;
  if (size1 <= split) {
    FL_RETURN_IF_ERROR(AppendSubproof(reader, size1, begin, split, complete, proof));
    FL_RETURN_IF_ERROR(RangeHash(reader, split, end, &sibling));
  } else {
    FL_RETURN_IF_ERROR(AppendSubproof(reader, size1, split, end, false, proof));
    FL_RETURN_IF_ERROR(RangeHash(reader, begin, split, &sibling));
  }
  proof->push_back(sibling);
  return Status::Ok();
}

// Right-shifts fn and sn together until fn's lowest bit is set or fn is 0.
void ShiftWhileEven(uint64_t* fn, uint64_t* sn) {
  while (*fn != 0 && (*fn & 1) == 0) {
    *fn >>= 1;
    *sn >>= 1;
  }
}

Status InclusionInvalid(std::string_view message) {
  return Status::Rejected("inclusion_proof_invalid", message);
}

Status ConsistencyInvalid(std::string_view message) {
  return Status::Rejected("consistency_proof_invalid", message);
}

}  // namespace

Hash MerkleLeafHash(std::span<const uint8_t> leaf_data) {
  Sha256Hasher hasher;
  hasher.Update(std::span<const uint8_t>(&kLeafPrefix, 1));
  hasher.Update(leaf_data);
  return hasher.Finish();
}

Hash MerkleNodeHash(const Hash& left, const Hash& right) {
  Sha256Hasher hasher;
  hasher.Update(std::span<const uint8_t>(&kNodePrefix, 1));
  hasher.Update(left);
  hasher.Update(right);
  return hasher.Finish();
}

Hash MerkleEmptyRoot() { return Sha256(std::span<const uint8_t>()); }

Status MerkleRoot(const NodeReader& reader, uint64_t size, Hash* root) {
  if (size == 0) {
    *root = MerkleEmptyRoot();
    return Status::Ok();
  }
  return RangeHash(reader, 0, size, root);
}

Status MerkleInclusionProof(const NodeReader& reader, uint64_t index, uint64_t size,
                            std::vector<Hash>* proof) {
  proof->clear();
  if (index >= size) {
    return Status::InvalidArgument("bad_proof_request", "leaf index is not below the tree size");
  }
  std::vector<Hash> path;
  FL_RETURN_IF_ERROR(AppendPath(reader, index, 0, size, &path));
  *proof = std::move(path);
  return Status::Ok();
}

Status MerkleConsistencyProof(const NodeReader& reader, uint64_t size1, uint64_t size2,
                              std::vector<Hash>* proof) {
  proof->clear();
  if (size1 == 0 || size1 > size2) {
    return Status::InvalidArgument("bad_proof_request", "consistency needs 0 < size1 <= size2");
  }
  std::vector<Hash> path;
  FL_RETURN_IF_ERROR(AppendSubproof(reader, size1, 0, size2, /*complete=*/true, &path));
  *proof = std::move(path);
  return Status::Ok();
}

// RFC 9162 section 2.1.3.2, step by step. fn walks the leaf's position up the tree, sn the last
// leaf's; when they meet the path runs along the right edge, where a node may have no right
// sibling and is promoted instead.
Status MerkleVerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                             std::span<const Hash> proof, const Hash& root) {
  if (index >= size) return InclusionInvalid("leaf index is not below the tree size");
  uint64_t fn = index;
  uint64_t sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return InclusionInvalid("proof is longer than the path");
    if ((fn & 1) == 1 || fn == sn) {
      r = MerkleNodeHash(p, r);
      ShiftWhileEven(&fn, &sn);
    } else {
      r = MerkleNodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return InclusionInvalid("proof is shorter than the path");
  if (r != root) return InclusionInvalid("proof does not lead to the root");
  return Status::Ok();
}

// RFC 9162 section 2.1.4.2. The edge cases come first: a consistency proof is only defined for
// 0 < size1 <= size2, and equal sizes need an empty proof and equal roots.
Status MerkleVerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                               std::span<const Hash> proof) {
  if (size1 == 0) return ConsistencyInvalid("no consistency proof from the empty tree");
  if (size1 > size2) return ConsistencyInvalid("size1 is greater than size2");
  if (size1 == size2) {
    if (!proof.empty()) return ConsistencyInvalid("equal sizes need an empty proof");
    if (root1 != root2) return ConsistencyInvalid("equal sizes but different roots");
    return Status::Ok();
  }
  if (proof.empty()) return ConsistencyInvalid("empty proof");

  // When size1 is a power of two, the old tree is one node of the new one and the proof leaves
  // out its hash, the verifier's root1.
  size_t next = 0;
  Hash fr = root1;
  if (!IsPowerOfTwo(size1)) fr = proof[next++];
  Hash sr = fr;
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) return ConsistencyInvalid("proof is longer than the path");
    if ((fn & 1) == 1 || fn == sn) {
      fr = MerkleNodeHash(c, fr);
      sr = MerkleNodeHash(c, sr);
      ShiftWhileEven(&fn, &sn);
    } else {
      sr = MerkleNodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return ConsistencyInvalid("proof is shorter than the path");
  if (fr != root1) return ConsistencyInvalid("proof does not lead to root1");
  if (sr != root2) return ConsistencyInvalid("proof does not lead to root2");
  return Status::Ok();
}

Status CompactRange::Load(const NodeReader& reader, uint64_t size, CompactRange* out) {
  CompactRange range;
  uint64_t begin = 0;  // first leaf of the next perfect subtree, largest first
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) continue;
    Hash node;
    FL_RETURN_IF_ERROR(reader.ReadNode(static_cast<uint32_t>(level), begin >> level, &node));
    range.hashes_.push_back(node);
    begin += width;
  }
  range.size_ = size;
  *out = std::move(range);
  return Status::Ok();
}

void CompactRange::Append(const Hash& leaf_hash, const NodeSink& sink) {
  assert(size_ < UINT64_MAX);
  Hash node = leaf_hash;
  uint32_t level = 0;
  uint64_t index = size_;
  if (sink) sink(level, index, node);
  // Each trailing one bit of the old size is a perfect subtree of the same width as `node`
  // just to its left: merge them, completing the parent.
  while ((index & 1) == 1) {
    assert(!hashes_.empty());
    node = MerkleNodeHash(hashes_.back(), node);
    hashes_.pop_back();
    ++level;
    index >>= 1;
    if (sink) sink(level, index, node);
  }
  hashes_.push_back(node);
  ++size_;
  assert(hashes_.size() == static_cast<size_t>(std::popcount(size_)));
}

Hash CompactRange::Root() const {
  if (hashes_.empty()) return MerkleEmptyRoot();
  Hash root = hashes_.back();
  for (size_t i = hashes_.size() - 1; i-- > 0;) root = MerkleNodeHash(hashes_[i], root);
  return root;
}

}  // namespace fundledger
