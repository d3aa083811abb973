// The stored rows that are encoded without capnp's builder (a fact of the state, a movement of
// the views): each must be byte for byte what capnp's builder and canonicalize make of the same
// value, for every shape the value can take, and a fact must read back to itself.
#include <capnp/message.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "ledger/canonical_row.h"
#include "ledger/schema/state.capnp.h"
#include "ledger/state.h"
#include "replay/schema/views.capnp.h"
#include "replay/view_rows.h"

namespace fundledger::testing {
namespace {

// The reference: the fact built with capnp's generated setters, then canonicalized.
std::string CapnpFact(const EventFact& f) {
  capnp::MallocMessageBuilder message;
  auto row = message.initRoot<schema::EventFact>();
  row.setId(f.id);
  row.setSeq(f.seq);
  row.setType(f.type);
  row.setSigner(f.signer);
  row.setOccurredDay(f.occurred_day);
  row.setCounterparty(f.counterparty);
  row.setCategory(f.category);
  row.setAmountFen(f.amount_fen);
  auto ref = [](schema::AccountRef::Builder out, const AccountKey& key) {
    out.setHolderKind(key.kind);
    out.setHolder(key.holder);
  };
  ref(row.initFrom(), f.from);
  ref(row.initTo(), f.to);
  row.setPledge(f.pledge);
  row.setReceivedFen(f.received_fen);
  row.setReversedBy(f.reversed_by);
  row.setAcknowledgedBy(f.acknowledged_by);
  return CanonicalBytes(row);
}

// Texts of every length around the word boundaries (0, 7, 8, 15, 16...) and beyond, with any
// bytes but NUL; numbers zero, small, and with high bits set (negative days), so that data
// words are present, absent and trailing-zero in every combination.
class FactGenerator {
 public:
  explicit FactGenerator(uint64_t seed) : rng_(seed) {}
  std::string Text() {
    static constexpr size_t kLengths[] = {0, 1, 6, 7, 8, 9, 15, 16, 17, 23, 24, 40, 100};
    size_t n = rng_() % 4 == 0 ? size_t(rng_() % 300) : kLengths[rng_() % std::size(kLengths)];
    std::string s(n, 'x');
    for (char& c : s) c = char(1 + rng_() % 255);
    return s;
  }
  uint64_t Number() {
    switch (rng_() % 4) {
      case 0:
        return 0;
      case 1:
        return rng_() % 1000;
      case 2:
        return rng_();
      default:
        return uint64_t(-int64_t(rng_() % 100000));
    }
  }
  EventFact Fact() {
    EventFact f;
    f.id = Text();
    f.seq = Number();
    f.type = uint16_t(rng_() % 3 == 0 ? 0 : rng_());
    f.signer = Text();
    f.occurred_day = int64_t(Number());
    f.counterparty = Text();
    f.category = schema::Category(rng_() % 3 == 0 ? 0 : rng_() % kCategories);
    f.amount_fen = Number();
    f.from = AccountKey{schema::AccountHolder(rng_() % 3), Text(), f.category};
    f.to = AccountKey{schema::AccountHolder(rng_() % 3), Text(), f.category};
    f.pledge = Text();
    f.received_fen = Number();
    f.reversed_by = Text();
    f.acknowledged_by = Text();
    return f;
  }

 private:
  std::mt19937_64 rng_;
};

TEST(StateRows, AFactIsEncodedAsCapnpCanonicalizesIt) {
  FactGenerator generate(20261122);
  for (int i = 0; i < 20000; ++i) {
    const EventFact fact = generate.Fact();
    const std::string bytes = EncodeFact(fact);
    ASSERT_EQ(bytes, CapnpFact(fact)) << "fact " << i;
    EventFact back;
    ASSERT_TRUE(DecodeFact(bytes, &back)) << "fact " << i;
    // The category of a fact's accounts is the fact's own (AccountRef has none).
    EXPECT_EQ(back, fact) << "fact " << i;
  }
}

TEST(StateRows, AnAllDefaultFactIsEncodedAsCapnpCanonicalizesIt) {
  EventFact empty;
  empty.from.category = empty.category;
  empty.to.category = empty.category;
  EXPECT_EQ(EncodeFact(empty), CapnpFact(empty));
  EventFact back;
  ASSERT_TRUE(DecodeFact(EncodeFact(empty), &back));
  EXPECT_EQ(back, empty);
}

// The reference for a movement: built with capnp's generated setters, then canonicalized.
std::string CapnpMovement(uint64_t seq, uint16_t type, int64_t day, schema::Category category,
                          uint64_t amount_fen, schema::AccountHolder from_kind,
                          const std::string& from, schema::AccountHolder to_kind,
                          const std::string& to, bool against_pledge) {
  capnp::MallocMessageBuilder message;
  auto row = message.initRoot<schema::MovementView>();
  row.setSeq(seq);
  row.setType(type);
  row.setDay(day);
  row.setCategory(category);
  row.setAmountFen(amount_fen);
  row.setFromKind(from_kind);
  row.setFrom(from);
  row.setToKind(to_kind);
  row.setTo(to);
  row.setAgainstPledge(against_pledge);
  return CanonicalBytes(row);
}

TEST(StateRows, AMovementIsEncodedAsCapnpCanonicalizesIt) {
  FactGenerator generate(20261123);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const uint64_t seq = generate.Number(), amount = generate.Number();
    const int64_t day = int64_t(generate.Number());
    const uint16_t type = uint16_t(rng() % 3 == 0 ? 0 : rng());
    const auto category = schema::Category(rng() % 3 == 0 ? 0 : rng() % kCategories);
    const auto from_kind = schema::AccountHolder(rng() % 3 == 0 ? 0 : rng() % 4);
    const auto to_kind = schema::AccountHolder(rng() % 3 == 0 ? 0 : rng() % 4);
    const std::string from = generate.Text(), to = generate.Text();
    const bool against_pledge = rng() % 2 == 0;
    ASSERT_EQ(EncodeMovementView(seq, schema::Event::Which(type), day, category, amount, from_kind,
                                 from, to_kind, to, against_pledge),
              CapnpMovement(seq, type, day, category, amount, from_kind, from, to_kind, to,
                            against_pledge))
        << "movement " << i;
  }
  // Every data word zero: the data section is cut to nothing; the texts are still set.
  EXPECT_EQ(EncodeMovementView(0, schema::Event::Which(0), 0, schema::Category(0), 0,
                               schema::AccountHolder(0), "", schema::AccountHolder(0), "", false),
            CapnpMovement(0, 0, 0, schema::Category(0), 0, schema::AccountHolder(0), "",
                          schema::AccountHolder(0), "", false));
}

}  // namespace
}  // namespace fundledger::testing
