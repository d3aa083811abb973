#include "ledger/string_map.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace fundledger {
namespace {

// Every key hashes alike: every lookup walks the probe sequence and compares keys.
struct OneHash {
  size_t operator()(std::string_view) const { return 0x1234567800000005ull; }
};

std::string KeyOf(size_t i) {
  // Short keys (stored inline) and long ones (on the heap), and keys differing only in a NUL.
  if (i % 3 == 0) return "rc-" + std::to_string(i);
  if (i % 3 == 1) return std::string("project/with/a/long/region/path/") + std::to_string(i);
  return std::string("a\0", 2) + std::to_string(i);
}

TEST(StringMap, FindsWhatWasInsertedAndNothingElse) {
  StringMap<uint64_t> map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.find("absent"), map.end());
  for (size_t i = 0; i < 5000; ++i) {
    auto [it, inserted] = map.emplace(KeyOf(i), i);
    ASSERT_TRUE(inserted);
    EXPECT_EQ(it->first, KeyOf(i));
  }
  EXPECT_EQ(map.size(), 5000u);
  for (size_t i = 0; i < 5000; ++i) {
    auto it = map.find(KeyOf(i));
    ASSERT_NE(it, map.end()) << i;
    EXPECT_EQ(it->second, i);
  }
  EXPECT_FALSE(map.contains(KeyOf(5000)));
  EXPECT_FALSE(map.contains(std::string("a\0", 2)));  // a prefix of stored keys
  EXPECT_FALSE(map.contains(""));
}

TEST(StringMap, AnExistingKeyIsNotInsertedAgain) {
  StringMap<std::string> map;
  EXPECT_TRUE(map.emplace("k", "first").second);
  auto [it, inserted] = map.emplace("k", "second");
  EXPECT_FALSE(inserted);
  EXPECT_EQ(it->second, "first");
  EXPECT_FALSE(map.insert_or_assign("k", std::string("third")).second);
  EXPECT_EQ(map.find("k")->second, "third");
  map["k"] += "!";
  map["new"] = "made by []";
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.find("k")->second, "third!");
  EXPECT_EQ(map.find("new")->second, "made by []");
}

TEST(StringMap, EntriesStayWhereTheyAreAsTheMapGrows) {
  StringMap<std::string> map;
  std::vector<const std::string*> where;
  for (size_t i = 0; i < 20000; ++i) where.push_back(&map[KeyOf(i)]);
  for (size_t i = 0; i < 20000; ++i) {
    ASSERT_EQ(&map.find(KeyOf(i))->second, where[i]) << i;
  }
}

TEST(StringMap, CollidingHashesAreToldApartByTheirKeys) {
  StringMap<int, OneHash> map;
  for (int i = 0; i < 200; ++i) map.emplace(KeyOf(size_t(i)), i);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(map.find(KeyOf(size_t(i)))->second, i);
  EXPECT_FALSE(map.contains(KeyOf(200)));
}

TEST(StringMap, IteratesInInsertionOrder) {
  StringMap<size_t> map;
  std::mt19937 random(7);
  std::vector<std::string> keys;
  for (size_t i = 0; i < 3000; ++i) {
    std::string key = std::to_string(random());
    if (map.emplace(key, i).second) keys.push_back(key);
  }
  size_t n = 0;
  for (const auto& [key, value] : map) {
    ASSERT_LT(n, keys.size());
    EXPECT_EQ(key, keys[n]);
    ++n;
  }
  EXPECT_EQ(n, map.size());
}

TEST(StringMap, ClearDestroysEveryEntryAndTheMapIsUsableAgain) {
  auto alive = std::make_shared<int>(0);
  StringMap<std::shared_ptr<int>> map;
  map.reserve(100);
  for (size_t i = 0; i < 1000; ++i) map.emplace(KeyOf(i), alive);
  EXPECT_EQ(alive.use_count(), 1001);
  map.clear();
  EXPECT_EQ(alive.use_count(), 1);
  EXPECT_TRUE(map.empty());
  EXPECT_FALSE(map.contains(KeyOf(1)));
  map.emplace(KeyOf(1), alive);
  EXPECT_TRUE(map.contains(KeyOf(1)));
  EXPECT_FALSE(map.contains(KeyOf(0)));
  EXPECT_EQ(map.size(), 1u);
}

// Against std::map as a model: a random mix of inserts, assignments and lookups.
TEST(StringMap, AgreesWithAnOrderedMapOnARandomMix) {
  StringMap<uint32_t> map;
  std::map<std::string, uint32_t> model;
  std::mt19937 random(11);
  for (int step = 0; step < 100000; ++step) {
    std::string key = "id-" + std::to_string(random() % 20000);
    uint32_t value = random();
    switch (random() % 3) {
      case 0:
        EXPECT_EQ(map.emplace(key, value).second, model.emplace(key, value).second);
        break;
      case 1:
        map.insert_or_assign(key, value);
        model.insert_or_assign(key, value);
        break;
      default: {
        auto it = map.find(key);
        auto mt = model.find(key);
        ASSERT_EQ(it == map.end(), mt == model.end()) << key;
        if (mt != model.end()) {
          EXPECT_EQ(it->second, mt->second);
        }
      }
    }
  }
  EXPECT_EQ(map.size(), model.size());
  for (const auto& [key, value] : map) EXPECT_EQ(model.at(key), value);
}

}  // namespace
}  // namespace fundledger
