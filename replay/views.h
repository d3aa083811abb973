// The read side's materialised views, attached to a journal so that they move with every
// append (ledger/projection.h). Every process that writes a ledger opens it through
// OpenWithViews or CreateWithViews; verification rebuilds the same views from the records and
// compares them with the stored rows byte for byte.
//
// Ownership: the caller owns both the Views and the Journal; the Views must outlive the Journal
// (declare the Views first).
#pragma once

#include <memory>
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

Status OpenWithViews(const std::string& dir, JournalOptions options, Views* views,
                     std::unique_ptr<Journal>* out);
Status CreateWithViews(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       JournalOptions options, Views* views, std::unique_ptr<Journal>* out);

}  // namespace fundledger
