// The read side's materialised views, attached to a journal so that they move with every
// append (ledger/projection.h). Every process that writes a ledger opens it through
// OpenWithViews or CreateWithViews; verification rebuilds the same views from the records and
// compares them with the stored rows byte for byte.
//
// Ownership: the caller owns both the Views and the Journal; the Views must outlive the Journal
// (declare the Views first).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/journal.h"
#include "replay/balance_view.h"

namespace fundledger {

class Views {
 public:
  Views() = default;
  Views(const Views&) = delete;
  Views& operator=(const Views&) = delete;

  ProjectionHook* hook() { return &balance_; }
  const BalanceView& balance() const { return balance_; }
  // Reads rows back from `journal` from now on.
  void Attach(const Journal& journal) { balance_.set_reader(&journal); }

 private:
  BalanceView balance_;
};

// The balance of every project whose region is `region` or lies under it, summed (a roll-up);
// `projects` gets how many there are. Reads the stored view rows of `journal`.
Status RegionBalance(const Journal& journal, std::string_view region, Balance* out,
                     uint64_t* projects);

// {"categories": {"central": {received_fen, allocated_in_fen, allocated_out_fen, disbursed_fen,
// refunded_fen, available_fen, pledged_fen, pledge_outstanding_fen}, ...}, "total": {...}}
nlohmann::json BalanceJson(const Balance& balance);
// The same as CSV: a header line, a line per category, and a "total" line.
std::string BalanceCsv(const Balance& balance);
// A table for people, amounts in yuan.
std::string BalanceTable(const Balance& balance);

Status OpenWithViews(const std::string& dir, JournalOptions options, Views* views,
                     std::unique_ptr<Journal>* out);
Status CreateWithViews(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       JournalOptions options, Views* views, std::unique_ptr<Journal>* out);

}  // namespace fundledger
