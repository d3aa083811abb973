#include "crypto/merkle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "crypto/checkpoint.h"
#include "crypto/encoding.h"

namespace fundledger {
namespace {

namespace fs = std::filesystem;
using NodeId = std::pair<uint32_t, uint64_t>;  // (level, index)

// ---------------------------------------------------------------------------------------------
// Readers

// Nodes kept in memory, filled by CompactRange::Append's sink. Serves only the nodes of the
// tree of the first `size` leaves, as a store would hold after `size` appends, so reading any
// other node (beyond the tree, or a range that is not a perfect subtree) is caught.
class MapNodeReader : public NodeReader {
 public:
  MapNodeReader(const std::map<NodeId, Hash>* nodes, uint64_t size) : nodes_(nodes), size_(size) {}

  Status ReadNode(uint32_t level, uint64_t index, Hash* out) const override {
    reads_.emplace_back(level, index);
    if (level >= 64 || index >= (size_ >> level)) {
      ADD_FAILURE() << "read of node (" << level << "," << index << ") outside the tree of "
                    << size_;
      return Status::Corruption("outside", "node outside the tree");
    }
    auto it = nodes_->find({level, index});
    if (it == nodes_->end()) return Status::NotFound("node_missing", "node not stored");
    *out = it->second;
    return Status::Ok();
  }

  const std::vector<NodeId>& reads() const { return reads_; }

 private:
  const std::map<NodeId, Hash>* nodes_;
  uint64_t size_;
  mutable std::vector<NodeId> reads_;
};

// Fails one chosen node with an I/O error, serving the rest from `inner`.
class FailingNodeReader : public NodeReader {
 public:
  FailingNodeReader(const NodeReader* inner, NodeId failing) : inner_(inner), failing_(failing) {}
  Status ReadNode(uint32_t level, uint64_t index, Hash* out) const override {
    if (NodeId(level, index) == failing_) return Status::IOError("disk_failed", "injected");
    return inner_->ReadNode(level, index, out);
  }

 private:
  const NodeReader* inner_;
  NodeId failing_;
};

// A tree too large to store: 2^64 leaves that are all the same, so every node of a level has
// the same hash, computed once per level. Rejects addresses outside the 64-bit tree.
class UniformNodeReader : public NodeReader {
 public:
  UniformNodeReader() {
    level_hashes_[0] = MerkleLeafHash(AsBytes("same leaf"));
    for (size_t level = 1; level < 64; ++level) {
      level_hashes_[level] = MerkleNodeHash(level_hashes_[level - 1], level_hashes_[level - 1]);
    }
  }
  Status ReadNode(uint32_t level, uint64_t index, Hash* out) const override {
    if (level >= 64 || (level > 0 && index >> (64 - level) != 0)) {
      ADD_FAILURE() << "bad node address (" << level << "," << index << ")";
      return Status::Corruption("bad_address", "node outside the tree");
    }
    *out = level_hashes_[level];
    return Status::Ok();
  }

 private:
  std::array<Hash, 64> level_hashes_;
};

// ---------------------------------------------------------------------------------------------
// Reference implementation: RFC 9162 section 2.1.1, MTH, written straight from the definition
// with its own hashing (no shared code with crypto/merkle.cc).

Hash NaiveMth(const std::vector<std::string>& leaves, size_t begin, size_t end) {
  const size_t n = end - begin;
  if (n == 0) return Sha256("");
  if (n == 1) return Sha256(std::string(1, '\0') + leaves[begin]);
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  const Hash left = NaiveMth(leaves, begin, begin + k);
  const Hash right = NaiveMth(leaves, begin + k, end);
  std::string buf(1, '\x01');
  buf.append(left.begin(), left.end());
  buf.append(right.begin(), right.end());
  return Sha256(buf);
}

struct Tree {
  std::vector<std::string> leaves;
  std::map<NodeId, Hash> nodes;
  std::vector<CompactRange> ranges;  // ranges[n]: the compact range after n appends
};

Tree BuildTree(std::vector<std::string> leaves) {
  Tree tree;
  tree.leaves = std::move(leaves);
  CompactRange range;
  tree.ranges.push_back(range);
  for (const std::string& leaf : tree.leaves) {
    range.Append(MerkleLeafHash(AsBytes(leaf)), [&](uint32_t level, uint64_t index, const Hash& h) {
      EXPECT_TRUE(tree.nodes.emplace(NodeId(level, index), h).second)
          << "node (" << level << "," << index << ") emitted twice";
    });
    tree.ranges.push_back(range);
  }
  return tree;
}

std::vector<std::string> NumberedLeaves(size_t count) {
  std::vector<std::string> leaves;
  for (size_t i = 0; i < count; ++i) leaves.push_back("leaf " + std::to_string(i));
  return leaves;
}

constexpr size_t kTreeSizeMax = 70;

const Tree& SmallTrees() {
  static const Tree* tree = new Tree(BuildTree(NumberedLeaves(kTreeSizeMax)));
  return *tree;
}

// ---------------------------------------------------------------------------------------------
// RFC 9162 vectors (transparency-dev/merkle testdata)

const fs::path kVectorDir = fs::path(FL_TEST_DATA_DIR) / "rfc9162";

// The RFC 6962 reference tree the happy-path vectors are built over.
std::vector<std::string> ReferenceLeaves() {
  const char* hex[] = {"",
                       "00",
                       "10",
                       "2021",
                       "3031",
                       "40414243",
                       "5051525354555657",
                       "606162636465666768696a6b6c6d6e6f"};
  std::vector<std::string> leaves;
  for (const char* h : hex) {
    std::vector<uint8_t> bytes;
    EXPECT_TRUE(HexDecode(h, &bytes).ok());
    leaves.emplace_back(bytes.begin(), bytes.end());
  }
  return leaves;
}

std::vector<std::string> ListVectorFiles(std::string_view kind) {
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(kVectorDir / kind)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(fs::relative(entry.path(), kVectorDir).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

nlohmann::json LoadVector(const std::string& relative_path) {
  std::ifstream in(kVectorDir / relative_path);
  EXPECT_TRUE(in.good()) << relative_path;
  return nlohmann::json::parse(in);
}

// A Hash is exactly 32 bytes, so a vector value of another length (the "wrong leaf/root" and
// "garbage" probes, the 12-byte stand-ins "don't care 1/2", empty strings) cannot be passed as it
// is: a decoder of 32-byte hashes would refuse it. To still run the verifiers on those vectors,
// such a value is zero-padded: equal values stay equal and different ones stay different (all
// of them are shorter than 32 bytes and none ends in a zero byte), which is all the verifiers
// can observe. Returns whether the value was a real 32-byte hash.
bool VectorHash(const nlohmann::json& value, Hash* out) {
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(Base64Decode(value.get<std::string>(), &bytes).ok()) << value;
  EXPECT_LE(bytes.size(), 32u);
  EXPECT_TRUE(bytes.size() == 32 || bytes.empty() || bytes.back() != 0);
  out->fill(0);
  std::copy_n(bytes.begin(), std::min<size_t>(bytes.size(), 32), out->begin());
  return bytes.size() == 32;
}

std::vector<Hash> VectorProof(const nlohmann::json& proof, bool* all_real) {
  std::vector<Hash> out;
  if (proof.is_null()) return out;
  for (const auto& element : proof) {
    Hash h;
    *all_real &= VectorHash(element, &h);
    out.push_back(h);
  }
  return out;
}

// The one vector whose only fault is the length of its values: an empty leaf hash and an empty
// root in a one-leaf tree, where a root equal to the leaf hash is right. Go rejects it by the
// leaf hash's length; here no such value can reach the verifier at all.
constexpr std::string_view kFaultyOnlyByLength = "inclusion/single-entry/empty-root-and-leaf.json";

std::string TestName(const testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

TEST(Rfc9162VectorsTest, AllFilesArePresent) {
  // 98 files each; a missing or unreadable file must fail here, not silently shrink the suite.
  EXPECT_EQ(ListVectorFiles("inclusion").size(), 98u);
  EXPECT_EQ(ListVectorFiles("consistency").size(), 98u);
}

class InclusionVectorTest : public testing::TestWithParam<std::string> {};

TEST_P(InclusionVectorTest, VerifiesOrRejects) {
  const nlohmann::json v = LoadVector(GetParam());
  const uint64_t index = v.at("leafIdx").get<uint64_t>();
  const uint64_t size = v.at("treeSize").get<uint64_t>();
  Hash root;
  Hash leaf_hash;
  bool all_real = VectorHash(v.at("root"), &root);
  all_real &= VectorHash(v.at("leafHash"), &leaf_hash);
  const std::vector<Hash> proof = VectorProof(v.at("proof"), &all_real);
  const bool want_error = v.at("wantErr").get<bool>();

  const Status s = MerkleVerifyInclusion(index, size, leaf_hash, proof, root);
  if (want_error && GetParam() == kFaultyOnlyByLength) {
    EXPECT_FALSE(all_real);
    return;
  }
  if (want_error) {
    EXPECT_FALSE(s.ok()) << v.at("desc");
    EXPECT_EQ(s.code(), "inclusion_proof_invalid");
    EXPECT_EQ(s.kind(), Status::Kind::kRejected);
    return;
  }
  EXPECT_TRUE(s.ok()) << v.at("desc") << ": " << s.ToString();
  EXPECT_TRUE(all_real);
  if (GetParam().starts_with("inclusion/single-entry/")) return;  // leaf data not given

  // The happy paths are over the RFC 6962 reference tree: our own tree, root and proof must be
  // the same, byte for byte.
  const Tree tree = BuildTree(ReferenceLeaves());
  ASSERT_LE(size, tree.leaves.size());
  EXPECT_EQ(leaf_hash, MerkleLeafHash(AsBytes(tree.leaves[index])));
  const MapNodeReader reader(&tree.nodes, size);
  Hash our_root;
  ASSERT_TRUE(MerkleRoot(reader, size, &our_root).ok());
  EXPECT_EQ(our_root, root);
  std::vector<Hash> our_proof;
  ASSERT_TRUE(MerkleInclusionProof(reader, index, size, &our_proof).ok());
  EXPECT_EQ(our_proof, proof);
}

INSTANTIATE_TEST_SUITE_P(Rfc9162, InclusionVectorTest,
                         testing::ValuesIn(ListVectorFiles("inclusion")), TestName);

class ConsistencyVectorTest : public testing::TestWithParam<std::string> {};

TEST_P(ConsistencyVectorTest, VerifiesOrRejects) {
  const nlohmann::json v = LoadVector(GetParam());
  const uint64_t size1 = v.at("size1").get<uint64_t>();
  const uint64_t size2 = v.at("size2").get<uint64_t>();
  Hash root1;
  Hash root2;
  bool all_real = VectorHash(v.at("root1"), &root1);
  all_real &= VectorHash(v.at("root2"), &root2);
  const std::vector<Hash> proof = VectorProof(v.at("proof"), &all_real);
  const bool want_error = v.at("wantErr").get<bool>();

  const Status s = MerkleVerifyConsistency(size1, size2, root1, root2, proof);
  if (want_error) {
    EXPECT_FALSE(s.ok()) << v.at("desc");
    EXPECT_EQ(s.code(), "consistency_proof_invalid");
    EXPECT_EQ(s.kind(), Status::Kind::kRejected);
    return;
  }
  EXPECT_TRUE(s.ok()) << v.at("desc") << ": " << s.ToString();
  if (!all_real) return;  // the "don't care" stand-ins: no tree behind them

  const Tree tree = BuildTree(ReferenceLeaves());
  ASSERT_LE(size2, tree.leaves.size());
  const MapNodeReader reader(&tree.nodes, size2);
  Hash our_root1;
  Hash our_root2;
  ASSERT_TRUE(MerkleRoot(MapNodeReader(&tree.nodes, size1), size1, &our_root1).ok());
  ASSERT_TRUE(MerkleRoot(reader, size2, &our_root2).ok());
  EXPECT_EQ(our_root1, root1);
  EXPECT_EQ(our_root2, root2);
  std::vector<Hash> our_proof;
  ASSERT_TRUE(MerkleConsistencyProof(reader, size1, size2, &our_proof).ok());
  EXPECT_EQ(our_proof, proof);
}

INSTANTIATE_TEST_SUITE_P(Rfc9162, ConsistencyVectorTest,
                         testing::ValuesIn(ListVectorFiles("consistency")), TestName);

// RFC 6962 section 2.1.3's worked example tree of 7 leaves d0..d6 is the reference tree's first
// seven leaves; its published root (used in the vectors as roots[6]) must match.
TEST(MerkleTest, ReferenceTreeRoots) {
  const Tree tree = BuildTree(ReferenceLeaves());
  const char* want[] = {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  for (uint64_t size = 1; size <= 8; ++size) {
    Hash root;
    ASSERT_TRUE(MerkleRoot(MapNodeReader(&tree.nodes, size), size, &root).ok());
    EXPECT_EQ(HexEncode(root), want[size - 1]) << size;
    EXPECT_EQ(HexEncode(tree.ranges[size].Root()), want[size - 1]) << size;
  }
  EXPECT_EQ(HexEncode(MerkleEmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(MerkleTest, LeafAndNodeHashesAreDomainSeparated) {
  // SHA-256(0x00 || "") and SHA-256(0x01 || l || r), not the bare hashes.
  EXPECT_EQ(HexEncode(MerkleLeafHash({})),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  const Hash a = MerkleLeafHash(AsBytes("a"));
  const Hash b = MerkleLeafHash(AsBytes("b"));
  std::string concatenated(a.begin(), a.end());
  concatenated.append(b.begin(), b.end());
  EXPECT_NE(MerkleNodeHash(a, b), Sha256(concatenated));
  EXPECT_EQ(MerkleNodeHash(a, b), Sha256(std::string(1, '\x01') + concatenated));
  EXPECT_NE(MerkleNodeHash(a, b), MerkleNodeHash(b, a));
}

// ---------------------------------------------------------------------------------------------
// Every tree of 0..70 leaves

TEST(MerkleTest, SinkEmitsEveryPerfectSubtreeOnceWithItsHash) {
  const Tree& tree = SmallTrees();
  size_t want_count = 0;
  for (uint64_t width = 1; width <= kTreeSizeMax; width *= 2) want_count += kTreeSizeMax / width;
  EXPECT_EQ(tree.nodes.size(), want_count);  // 70 + 35 + 17 + 8 + 4 + 2 + 1
  for (const auto& [id, hash] : tree.nodes) {
    const auto [level, index] = id;
    const size_t begin = static_cast<size_t>(index << level);
    const size_t end = static_cast<size_t>((index + 1) << level);
    ASSERT_LE(end, kTreeSizeMax);
    EXPECT_EQ(hash, NaiveMth(tree.leaves, begin, end)) << level << "," << index;
  }
}

TEST(MerkleTest, RootsMatchTheReferenceDefinition) {
  const Tree& tree = SmallTrees();
  for (uint64_t size = 0; size <= kTreeSizeMax; ++size) {
    const Hash want = NaiveMth(tree.leaves, 0, size);
    Hash root;
    ASSERT_TRUE(MerkleRoot(MapNodeReader(&tree.nodes, size), size, &root).ok());
    EXPECT_EQ(root, want) << size;
    EXPECT_EQ(tree.ranges[size].Root(), want) << size;
    EXPECT_EQ(tree.ranges[size].size(), size);
  }
}

TEST(MerkleTest, CompactRangeLoadEqualsIncrementalRange) {
  const Tree& tree = SmallTrees();
  for (uint64_t size = 0; size <= kTreeSizeMax; ++size) {
    const MapNodeReader reader(&tree.nodes, size);
    CompactRange loaded;
    ASSERT_TRUE(CompactRange::Load(reader, size, &loaded).ok()) << size;
    EXPECT_EQ(loaded, tree.ranges[size]) << size;
    // One read per perfect subtree of the right edge.
    EXPECT_EQ(reader.reads().size(), static_cast<size_t>(std::popcount(size))) << size;
    // Appending to a loaded range continues the tree.
    if (size < kTreeSizeMax) {
      loaded.Append(MerkleLeafHash(AsBytes(tree.leaves[size])), nullptr);
      EXPECT_EQ(loaded, tree.ranges[size + 1]) << size;
    }
  }
}

TEST(MerkleTest, InclusionProofsVerifyForEveryLeafOfEveryTree) {
  const Tree& tree = SmallTrees();
  for (uint64_t size = 1; size <= kTreeSizeMax; ++size) {
    const MapNodeReader reader(&tree.nodes, size);
    const Hash root = NaiveMth(tree.leaves, 0, size);
    for (uint64_t index = 0; index < size; ++index) {
      SCOPED_TRACE(testing::Message() << "index " << index << " size " << size);
      const Hash leaf = MerkleLeafHash(AsBytes(tree.leaves[index]));
      std::vector<Hash> proof;
      ASSERT_TRUE(MerkleInclusionProof(reader, index, size, &proof).ok());
      EXPECT_LE(proof.size(), 7u);
      EXPECT_TRUE(MerkleVerifyInclusion(index, size, leaf, proof, root).ok());

      // Wrong leaf, index, size or root.
      const Hash other_leaf = MerkleLeafHash(AsBytes("not a leaf"));
      EXPECT_FALSE(MerkleVerifyInclusion(index, size, other_leaf, proof, root).ok());
      if (index + 1 < size) {
        EXPECT_FALSE(MerkleVerifyInclusion(index + 1, size, leaf, proof, root).ok());
      }
      EXPECT_FALSE(MerkleVerifyInclusion(size, size, leaf, proof, root).ok());
      if (size < tree.leaves.size()) {  // the root of a larger tree
        EXPECT_FALSE(
            MerkleVerifyInclusion(index, size, leaf, proof, NaiveMth(tree.leaves, 0, size + 1))
                .ok());
      }
      // Every element tampered, one removed, one added.
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Hash> bad = proof;
        bad[i][31] ^= 0x01;
        EXPECT_FALSE(MerkleVerifyInclusion(index, size, leaf, bad, root).ok()) << i;
      }
      if (!proof.empty()) {
        std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
        EXPECT_FALSE(MerkleVerifyInclusion(index, size, leaf, shorter, root).ok());
      }
      std::vector<Hash> longer = proof;
      longer.push_back(root);
      EXPECT_FALSE(MerkleVerifyInclusion(index, size, leaf, longer, root).ok());
    }
  }
}

TEST(MerkleTest, ConsistencyProofsVerifyForEveryPairOfSizes) {
  const Tree& tree = SmallTrees();
  std::vector<Hash> roots;
  for (uint64_t size = 0; size <= kTreeSizeMax; ++size) {
    roots.push_back(NaiveMth(tree.leaves, 0, size));
  }
  for (uint64_t size2 = 1; size2 <= kTreeSizeMax; ++size2) {
    const MapNodeReader reader(&tree.nodes, size2);
    for (uint64_t size1 = 1; size1 <= size2; ++size1) {
      SCOPED_TRACE(testing::Message() << "size1 " << size1 << " size2 " << size2);
      const Hash& root1 = roots[size1];
      const Hash& root2 = roots[size2];
      std::vector<Hash> proof;
      ASSERT_TRUE(MerkleConsistencyProof(reader, size1, size2, &proof).ok());
      EXPECT_EQ(proof.empty(), size1 == size2);
      EXPECT_TRUE(MerkleVerifyConsistency(size1, size2, root1, root2, proof).ok());
      if (size1 == size2) continue;

      EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, roots[size1 - 1], root2, proof).ok());
      EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, root1, roots[size2 - 1], proof).ok());
      EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, root2, root1, proof).ok());
      EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, root1, root2, {}).ok());
      if (size1 + 1 < size2) {
        EXPECT_FALSE(MerkleVerifyConsistency(size1 + 1, size2, root1, root2, proof).ok());
      }
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Hash> bad = proof;
        bad[i][0] ^= 0x10;
        EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, root1, root2, bad).ok()) << i;
      }
      std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
      EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, root1, root2, shorter).ok());
      std::vector<Hash> longer = proof;
      longer.push_back(root1);
      EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, root1, root2, longer).ok());
      std::vector<Hash> preceded = proof;
      preceded.insert(preceded.begin(), root1);
      EXPECT_FALSE(MerkleVerifyConsistency(size1, size2, root1, root2, preceded).ok());
    }
  }
}

// CheckpointExtends: what a reader who kept a checkpoint accepts as the log's next one.
TEST(MerkleTest, ACheckpointExtendsTheHeldOneExactlyWhenTheProofSaysSo) {
  const Tree& tree = SmallTrees();
  const auto at = [&](uint64_t size) {
    return Checkpoint{"example.org/log", size, NaiveMth(tree.leaves, 0, size)};
  };
  const auto code = [](const Status& s) { return s.ok() ? std::string("ok") : s.code(); };
  const MapNodeReader reader(&tree.nodes, 40);
  std::vector<Hash> proof;
  ASSERT_TRUE(MerkleConsistencyProof(reader, 13, 40, &proof).ok());
  EXPECT_EQ(code(CheckpointExtends(at(13), at(40), proof)), "ok");
  EXPECT_EQ(code(CheckpointExtends(at(40), at(40), {})), "ok");
  EXPECT_EQ(code(CheckpointExtends(at(0), at(40), {})), "ok");
  // A fork: another root at the held size, or at the latest size.
  Checkpoint forked = at(13);
  forked.root[0] ^= 1;
  EXPECT_EQ(code(CheckpointExtends(forked, at(40), proof)), "held_checkpoint_root");
  forked = at(40);
  forked.root[5] ^= 1;
  EXPECT_EQ(code(CheckpointExtends(at(13), forked, proof)), "held_checkpoint_root");
  EXPECT_EQ(code(CheckpointExtends(at(40), forked, {})), "held_checkpoint_root");
  Checkpoint empty_other = at(0);
  empty_other.root = at(1).root;
  EXPECT_EQ(code(CheckpointExtends(empty_other, at(40), {})), "held_checkpoint_root");
  // A proof that is not the one between those sizes; hashes where none are due.
  std::vector<Hash> other;
  ASSERT_TRUE(MerkleConsistencyProof(reader, 12, 40, &other).ok());
  EXPECT_EQ(code(CheckpointExtends(at(13), at(40), other)), "held_checkpoint_root");
  EXPECT_EQ(code(CheckpointExtends(at(13), at(40), {})), "held_checkpoint_root");
  EXPECT_EQ(code(CheckpointExtends(at(40), at(40), proof)), "held_checkpoint_root");
  // Rolled back, or another log.
  const Status ahead = CheckpointExtends(at(41), at(40), {});
  EXPECT_EQ(code(ahead), "held_checkpoint_ahead");
  EXPECT_EQ(ahead.field(), "size");
  Checkpoint elsewhere = at(13);
  elsewhere.origin = "example.org/other";
  const Status origin = CheckpointExtends(elsewhere, at(40), proof);
  EXPECT_EQ(code(origin), "held_checkpoint_origin");
  EXPECT_EQ(origin.field(), "origin");
}

TEST(MerkleTest, ProofRequestsOutsideTheTreeAreInvalid) {
  const Tree& tree = SmallTrees();
  const MapNodeReader reader(&tree.nodes, 10);
  std::vector<Hash> proof = {Hash{}};
  Status s = MerkleInclusionProof(reader, 10, 10, &proof);
  EXPECT_EQ(s.kind(), Status::Kind::kInvalidArgument);
  EXPECT_TRUE(proof.empty());
  EXPECT_EQ(MerkleInclusionProof(reader, 0, 0, &proof).kind(), Status::Kind::kInvalidArgument);
  EXPECT_EQ(MerkleConsistencyProof(reader, 0, 10, &proof).kind(), Status::Kind::kInvalidArgument);
  EXPECT_EQ(MerkleConsistencyProof(reader, 0, 0, &proof).kind(), Status::Kind::kInvalidArgument);
  EXPECT_EQ(MerkleConsistencyProof(reader, 11, 10, &proof).kind(), Status::Kind::kInvalidArgument);
  EXPECT_TRUE(reader.reads().empty());
}

TEST(MerkleTest, VerifyRejectsDegenerateSizes) {
  const Hash h = MerkleLeafHash(AsBytes("x"));
  EXPECT_FALSE(MerkleVerifyInclusion(0, 0, h, {}, h).ok());
  EXPECT_TRUE(MerkleVerifyInclusion(0, 1, h, {}, h).ok());
  EXPECT_FALSE(MerkleVerifyInclusion(1, 1, h, {}, h).ok());
  EXPECT_FALSE(MerkleVerifyInclusion(UINT64_MAX, UINT64_MAX, h, {}, h).ok());
  EXPECT_FALSE(MerkleVerifyConsistency(0, 0, h, h, {}).ok());
  EXPECT_FALSE(MerkleVerifyConsistency(0, 1, h, h, {}).ok());
  EXPECT_TRUE(MerkleVerifyConsistency(1, 1, h, h, {}).ok());
  EXPECT_FALSE(MerkleVerifyConsistency(1, 1, h, h, std::vector<Hash>{h}).ok());
  EXPECT_FALSE(MerkleVerifyConsistency(2, 1, h, h, {}).ok());
}

// Runs each proof operation once recording what it reads, then again failing each of those
// reads in turn: the injected error must come back unchanged.
TEST(MerkleTest, ReaderErrorsPropagate) {
  const Tree& tree = SmallTrees();
  using Operation = std::function<Status(const NodeReader&)>;
  const uint64_t size = 45;
  const std::vector<std::pair<std::string, Operation>> operations = {
      {"root",
       [&](const NodeReader& r) {
         Hash h;
         return MerkleRoot(r, size, &h);
       }},
      {"inclusion",
       [&](const NodeReader& r) {
         std::vector<Hash> p;
         return MerkleInclusionProof(r, 21, size, &p);
       }},
      {"consistency",
       [&](const NodeReader& r) {
         std::vector<Hash> p;
         return MerkleConsistencyProof(r, 13, size, &p);
       }},
      {"load", [&](const NodeReader& r) {
         CompactRange range;
         return CompactRange::Load(r, size, &range);
       }}};
  for (const auto& [name, operation] : operations) {
    const MapNodeReader reader(&tree.nodes, size);
    ASSERT_TRUE(operation(reader).ok()) << name;
    ASSERT_FALSE(reader.reads().empty()) << name;
    const std::set<NodeId> read(reader.reads().begin(), reader.reads().end());
    for (const NodeId& node : read) {
      const FailingNodeReader failing(&reader, node);
      const Status s = operation(failing);
      EXPECT_EQ(s.kind(), Status::Kind::kIOError) << name;
      EXPECT_EQ(s.code(), "disk_failed") << name;
    }
  }
  // A node missing from the store comes back as NotFound, not as a wrong answer.
  std::map<NodeId, Hash> partial = tree.nodes;
  partial.erase(NodeId(5, 0));  // leaves 0..31
  Hash root;
  EXPECT_TRUE(MerkleRoot(MapNodeReader(&partial, size), size, &root).IsNotFound());
  std::vector<Hash> proof = {Hash{}};
  EXPECT_TRUE(MerkleInclusionProof(MapNodeReader(&partial, size), 40, size, &proof).IsNotFound());
  EXPECT_TRUE(proof.empty());
}

// The largest trees: sizes near 2^64 exercise the 64-bit arithmetic (shifts by 63, the top
// level, sizes whose every bit is set).
TEST(MerkleTest, HugeTrees) {
  const UniformNodeReader reader;
  const uint64_t sizes[] = {UINT64_MAX, UINT64_MAX - 1, (uint64_t{1} << 63) + 5, uint64_t{1} << 63};
  for (uint64_t size : sizes) {
    SCOPED_TRACE(size);
    Hash root;
    ASSERT_TRUE(MerkleRoot(reader, size, &root).ok());
    CompactRange range;
    ASSERT_TRUE(CompactRange::Load(reader, size, &range).ok());
    EXPECT_EQ(range.Root(), root);
    for (uint64_t index : {uint64_t{0}, uint64_t{12345}, size / 2 + 7, size - 1}) {
      std::vector<Hash> proof;
      ASSERT_TRUE(MerkleInclusionProof(reader, index, size, &proof).ok());
      Hash leaf;
      ASSERT_TRUE(reader.ReadNode(0, index, &leaf).ok());
      EXPECT_TRUE(MerkleVerifyInclusion(index, size, leaf, proof, root).ok()) << index;
    }
    for (uint64_t size1 : {uint64_t{1}, uint64_t{1} << 40, size / 2 + 3, size - 1, size}) {
      Hash root1;
      ASSERT_TRUE(MerkleRoot(reader, size1, &root1).ok());
      std::vector<Hash> proof;
      ASSERT_TRUE(MerkleConsistencyProof(reader, size1, size, &proof).ok());
      EXPECT_TRUE(MerkleVerifyConsistency(size1, size, root1, root, proof).ok()) << size1;
    }
  }
}

}  // namespace
}  // namespace fundledger
