// The balance figures of DESIGN.md section 5 and their stored form (row 'b' of ViewRows).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "ledger/state.h"

namespace fundledger {

struct Figures {
  int64_t received_fen = 0;
  int64_t allocated_in_fen = 0;
  int64_t allocated_out_fen = 0;
  int64_t disbursed_fen = 0;
  int64_t refunded_fen = 0;
  int64_t pledged_fen = 0;
  int64_t pledge_received_fen = 0;  // received against pledges

  int64_t money_in_fen() const { return received_fen + allocated_in_fen; }
  int64_t money_out_fen() const { return allocated_out_fen + disbursed_fen + refunded_fen; }
  int64_t available_fen() const { return money_in_fen() - money_out_fen(); }
  int64_t pledge_outstanding_fen() const { return pledged_fen - pledge_received_fen; }
  Figures& operator+=(const Figures& o);
  bool operator==(const Figures&) const = default;
};

struct Balance {
  std::array<Figures, kCategories> by_category{};
  Figures Total() const;
  Balance& operator+=(const Balance& o);
  bool operator==(const Balance&) const = default;
};

// For each Category in order, the seven stored Figures as i64 big-endian two's complement
// (448 bytes). Amounts are at most 10^14 and accounts at most 10^18 (the rules), so no figure
// overflows.
std::string EncodeBalance(const Balance& b);
bool DecodeBalance(std::string_view bytes, Balance* out);

}  // namespace fundledger
