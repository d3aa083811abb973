#include "replay/balance_view.h"

#include "ledger/storage_format.h"

namespace fundledger {
namespace {

constexpr size_t kFiguresPerCategory = 7;
constexpr size_t kBalanceBytes = kCategories * kFiguresPerCategory * 8;

// The figures in their stored order.
constexpr int64_t Figures::*kFields[kFiguresPerCategory] = {
    &Figures::received_fen,       &Figures::allocated_in_fen, &Figures::allocated_out_fen,
    &Figures::disbursed_fen,      &Figures::refunded_fen,     &Figures::pledged_fen,
    &Figures::pledge_received_fen};

}  // namespace

Figures& Figures::operator+=(const Figures& o) {
  for (auto field : kFields) this->*field += o.*field;
  return *this;
}

Figures Balance::Total() const {
  Figures total;
  for (const Figures& f : by_category) total += f;
  return total;
}

Balance& Balance::operator+=(const Balance& o) {
  for (size_t c = 0; c < kCategories; ++c) by_category[c] += o.by_category[c];
  return *this;
}

std::string EncodeBalance(const Balance& b) {
  std::string out;
  out.reserve(kBalanceBytes);
  for (const Figures& f : b.by_category) {
    for (auto field : kFields) out += storage::EncodeU64(uint64_t(f.*field));
  }
  return out;
}

bool DecodeBalance(std::string_view bytes, Balance* out) {
  if (bytes.size() != kBalanceBytes) return false;
  size_t at = 0;
  for (Figures& f : out->by_category) {
    for (auto field : kFields) {
      f.*field = int64_t(storage::DecodeU64(bytes.substr(at, 8)));
      at += 8;
    }
  }
  return true;
}

}  // namespace fundledger
