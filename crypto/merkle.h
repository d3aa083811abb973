// RFC 9162 (Certificate Transparency v2) Merkle tree hashing, proof construction and proof
// verification.
//
// The tree code knows nothing of storage: proof construction asks a NodeReader for the hashes
// of perfect subtrees, and the caller (ledger/) decides where they live. Everything here is pure
// and thread safe apart from the NodeReader the caller supplies.
//
// Node addressing: (level, index) names the perfect subtree over leaves
// [index << level, (index + 1) << level). Level 0 nodes are leaf hashes.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "crypto/sha256.h"
#include "crypto/status.h"

namespace fundledger {

inline constexpr uint32_t kMerkleLevelsMax = 64;

Hash MerkleLeafHash(std::span<const uint8_t> leaf_data);  // SHA-256(0x00 || data)
Hash MerkleNodeHash(const Hash& left, const Hash& right);  // SHA-256(0x01 || left || right)
Hash MerkleEmptyRoot();                                   // SHA-256 of the empty string

// Supplies stored perfect-subtree hashes. An interface: no fields.
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  // Returns NotFound if the node is not stored, Corruption/IOError on storage failure.
  virtual Status ReadNode(uint32_t level, uint64_t index, Hash* out) const = 0;
};

// The root of the tree of the first `size` leaves. size 0 gives MerkleEmptyRoot().
Status MerkleRoot(const NodeReader& reader, uint64_t size, Hash* root);

// RFC 9162 section 2.1.3.1: the audit path of leaf `index` in the tree of `size` leaves.
// InvalidArgument if index >= size.
Status MerkleInclusionProof(const NodeReader& reader, uint64_t index, uint64_t size,
                            std::vector<Hash>* proof);

// RFC 9162 section 2.1.4.1: the proof that the tree of size1 is a prefix of the tree of size2.
// InvalidArgument unless 0 < size1 <= size2 (size1 == size2 gives an empty proof).
Status MerkleConsistencyProof(const NodeReader& reader, uint64_t size1, uint64_t size2,
                              std::vector<Hash>* proof);

// RFC 9162 section 2.1.3.2. Ok if the proof shows `leaf_hash` at `index` under `root`;
// Rejected "inclusion_proof_invalid" otherwise.
Status MerkleVerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                             std::span<const Hash> proof, const Hash& root);

// RFC 9162 section 2.1.4.2. Ok if the proof shows the tree (size1, root1) is a prefix of the
// tree (size2, root2); Rejected "consistency_proof_invalid" otherwise.
Status MerkleVerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1,
                               const Hash& root2, std::span<const Hash> proof);

// The right edge of a growing tree: the hashes of the perfect subtrees that make up the first
// `size()` leaves, largest first. Appending costs amortised O(1) hashes. Value type.
class CompactRange {
 public:
  // Called for every perfect subtree completed by an append, the leaf itself included.
  using NodeSink = std::function<void(uint32_t level, uint64_t index, const Hash& hash)>;

  CompactRange() = default;
  // Loads the right edge of the tree of `size` leaves from stored nodes.
  static Status Load(const NodeReader& reader, uint64_t size, CompactRange* out);

  void Append(const Hash& leaf_hash, const NodeSink& sink);
  uint64_t size() const { return size_; }
  Hash Root() const;  // MerkleEmptyRoot() when empty

  bool operator==(const CompactRange&) const = default;

 private:
  uint64_t size_ = 0;
  std::vector<Hash> hashes_;  // one per set bit of size_, most significant first
};

}  // namespace fundledger
