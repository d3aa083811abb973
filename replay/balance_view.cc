#include "replay/balance_view.h"

#include "ledger/storage_format.h"

namespace fundledger {
namespace {

using schema::AccountHolder;
using schema::Event;

constexpr char kBalanceRow = 'b';
constexpr char kRegionRow = 'r';
constexpr size_t kFiguresPerCategory = 7;
constexpr size_t kBalanceBytes = kCategories * kFiguresPerCategory * 8;

// The figures in their stored order.
constexpr int64_t Figures::*kFields[kFiguresPerCategory] = {
    &Figures::received_fen,       &Figures::allocated_in_fen, &Figures::allocated_out_fen,
    &Figures::disbursed_fen,      &Figures::refunded_fen,     &Figures::pledged_fen,
    &Figures::pledge_received_fen};

AccountHolder HolderOf(schema::HolderKind kind) {
  return kind == schema::HolderKind::POOL ? AccountHolder::POOL : AccountHolder::PROJECT;
}

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

std::string BalanceView::BalanceKey(AccountHolder kind, std::string_view holder) {
  std::string key(1, kBalanceRow);
  key.push_back(char(kind));
  key.append(holder);
  return key;
}

std::string BalanceView::RegionKey(std::string_view region, std::string_view project) {
  std::string key(1, kRegionRow);
  key.append(region);
  key.push_back('\0');
  key.append(project);
  return key;
}

std::string BalanceView::EncodeBalance(const Balance& b) {
  std::string out;
  out.reserve(kBalanceBytes);
  for (const Figures& f : b.by_category) {
    for (auto field : kFields) out += storage::EncodeU64(uint64_t(f.*field));
  }
  return out;
}

bool BalanceView::DecodeBalance(std::string_view bytes, Balance* out) {
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

Status BalanceView::Load(const std::string& key, Balance** out) const {
  if (auto it = committed_.find(key); it != committed_.end()) {
    *out = &it->second;
    return Status::Ok();
  }
  Balance loaded;
  if (reader_ != nullptr) {
    std::string value;
    bool found = false;
    FL_RETURN_IF_ERROR(reader_->Get(storage::kProjectionsFamily, key, &value, &found));
    if (found && !DecodeBalance(value, &loaded)) {
      return Status::Corruption("projection_row_malformed", "balance row of " + key.substr(2));
    }
  }
  *out = &committed_.emplace(key, loaded).first->second;
  return Status::Ok();
}

Status BalanceView::HolderBalance(AccountHolder kind, std::string_view holder, Balance* out) const {
  std::string key = BalanceKey(kind, holder);
  if (auto it = staged_.find(key); it != staged_.end()) {
    *out = it->second;
    return Status::Ok();
  }
  Balance* b = nullptr;
  FL_RETURN_IF_ERROR(Load(key, &b));
  *out = *b;
  return Status::Ok();
}

Status BalanceView::Add(AccountHolder kind, const std::string& holder, schema::Category c,
                        int64_t Figures::*field, int64_t fen) {
  std::string key = BalanceKey(kind, holder);
  auto it = staged_.find(key);
  if (it == staged_.end()) {
    Balance* b = nullptr;
    FL_RETURN_IF_ERROR(Load(key, &b));
    it = staged_.emplace(key, *b).first;
  }
  // Amounts are at most 10^14 and balances at most 10^18 (the rules), so no figure overflows.
  it->second.by_category[size_t(c)].*field += fen;
  return Status::Ok();
}

Status BalanceView::OnAccepted(const SignedEvent& event, const EventContext&,
                               const LedgerState& state) {
  Event::Reader e = event.event();
  switch (e.which()) {
    case Event::PROJECT_REGISTERED: {
      auto p = e.getProjectRegistered();
      staged_regions_[RegionKey(p.getRegion().cStr(), p.getProject().cStr())] = true;
      return Status::Ok();
    }
    case Event::FUNDS_PLEDGED: {
      auto p = e.getFundsPledged();
      return Add(AccountHolder::PROJECT, p.getProject(), p.getCategory(), &Figures::pledged_fen,
                 int64_t(p.getAmountFen()));
    }
    case Event::FUNDS_RECEIVED: {
      auto r = e.getFundsReceived();
      int64_t a = int64_t(r.getAmountFen());
      FL_RETURN_IF_ERROR(
          Add(HolderOf(r.getToKind()), r.getTo(), r.getCategory(), &Figures::received_fen, a));
      if (r.hasPledge()) {
        return Add(AccountHolder::PROJECT, r.getTo(), r.getCategory(),
                   &Figures::pledge_received_fen, a);
      }
      return Status::Ok();
    }
    case Event::FUNDS_ALLOCATED: {
      auto al = e.getFundsAllocated();
      int64_t a = int64_t(al.getAmountFen());
      FL_RETURN_IF_ERROR(
          Add(AccountHolder::POOL, al.getFrom(), al.getCategory(), &Figures::allocated_out_fen, a));
      return Add(HolderOf(al.getToKind()), al.getTo(), al.getCategory(), &Figures::allocated_in_fen,
                 a);
    }
    case Event::FUNDS_DISBURSED: {
      auto d = e.getFundsDisbursed();
      return Add(AccountHolder::PROJECT, d.getProject(), d.getCategory(), &Figures::disbursed_fen,
                 int64_t(d.getAmountFen()));
    }
    case Event::FUNDS_REFUNDED: {
      auto f = e.getFundsRefunded();
      return Add(HolderOf(f.getFromKind()), f.getFrom(), f.getCategory(), &Figures::refunded_fen,
                 int64_t(f.getAmountFen()));
    }
    case Event::EVENT_REVERSED: {
      const EventFact* fact = nullptr;
      FL_RETURN_IF_ERROR(state.FindFact(e.getEventReversed().getTarget().cStr(), &fact));
      if (fact == nullptr) {
        return Status::Corruption("fact_missing", "reversed event without a fact");
      }
      int64_t a = -int64_t(fact->amount_fen);
      schema::Category c = fact->category;
      switch (Event::Which(fact->type)) {
        case Event::FUNDS_PLEDGED:
          return Add(AccountHolder::PROJECT, fact->to.holder, c, &Figures::pledged_fen, a);
        case Event::FUNDS_RECEIVED:
          FL_RETURN_IF_ERROR(Add(fact->to.kind, fact->to.holder, c, &Figures::received_fen, a));
          if (!fact->pledge.empty()) {
            return Add(AccountHolder::PROJECT, fact->to.holder, c, &Figures::pledge_received_fen,
                       a);
          }
          return Status::Ok();
        case Event::FUNDS_ALLOCATED:
          FL_RETURN_IF_ERROR(
              Add(fact->from.kind, fact->from.holder, c, &Figures::allocated_out_fen, a));
          return Add(fact->to.kind, fact->to.holder, c, &Figures::allocated_in_fen, a);
        case Event::FUNDS_DISBURSED:
          return Add(fact->from.kind, fact->from.holder, c, &Figures::disbursed_fen, a);
        case Event::FUNDS_REFUNDED:
          return Add(fact->from.kind, fact->from.holder, c, &Figures::refunded_fen, a);
        default:
          return Status::Corruption("fact_unexpected", "a reversal of an unreversible event");
      }
    }
    default:
      return Status::Ok();
  }
}

std::vector<LedgerState::Row> BalanceView::StagedRows() const {
  std::vector<LedgerState::Row> rows;
  rows.reserve(staged_.size() + staged_regions_.size());
  for (const auto& [key, balance] : staged_) {
    rows.push_back({storage::kProjectionsFamily, key, EncodeBalance(balance)});
  }
  for (const auto& [key, _] : staged_regions_) {
    rows.push_back({storage::kProjectionsFamily, key, std::string()});
  }
  return rows;
}

void BalanceView::Commit() {
  for (auto& [key, balance] : staged_) committed_[key] = balance;
  staged_.clear();
  if (reader_ == nullptr) {
    for (auto& [key, _] : staged_regions_) committed_regions_[key] = true;
  }
  staged_regions_.clear();
}

void BalanceView::Abort() {
  staged_.clear();
  staged_regions_.clear();
}

void BalanceView::ForEachRow(
    const std::function<void(std::string_view, std::string_view)>& fn) const {
  for (const auto& [key, balance] : committed_) fn(key, EncodeBalance(balance));
  for (const auto& [key, _] : committed_regions_) fn(key, std::string_view());
}

}  // namespace fundledger
