#include "replay/view_rows.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "ledger/canonical_row.h"
#include "ledger/codec.h"
#include "ledger/storage_format.h"
#include "replay/schema/views.capnp.h"

namespace fundledger {
namespace {

using schema::AccountHolder;
using schema::Event;

constexpr char kBalanceRow = 'b';
constexpr char kHolderRow = 'h';
constexpr char kHistoryRow = 'x';
constexpr char kRegionRow = 'r';
constexpr char kCompoundRow = 'c';
constexpr char kMovementRow = 'v';
constexpr char kDisbursementRow = 'd';
constexpr char kFindingRow = 'g';
constexpr char kProjectFindingRow = 'f';
constexpr char kPoolFlowRow = 'l';
constexpr char kPoolOutRow = 'o';

AccountHolder HolderOf(schema::HolderKind kind) {
  return kind == schema::HolderKind::POOL ? AccountHolder::POOL : AccountHolder::PROJECT;
}

// Copies a stored canonical row of type T into `message`; false if it is not one.
template <typename T>
bool LoadRow(std::string_view bytes, capnp::MallocMessageBuilder* message) {
  return DecodeCanonicalRow<T>(bytes, [&](typename T::Reader row) {
    message->setRoot(row);
    return true;
  });
}

// The region cut to province/city/district: compounds are named uniquely within a district,
// and a street office's project and its district's must still meet.
std::string_view District(std::string_view region) {
  size_t end = 0;
  for (int i = 0; i < 3; ++i) {
    size_t slash = region.find('/', end);
    if (slash == std::string_view::npos) return region;
    end = slash + 1;
  }
  return region.substr(0, end - 1);
}

int64_t Day(Event::Reader e) {
  int64_t day = 0;
  (void)ParseDate(e.getOccurredOn().cStr(), "occurred_on", &day);  // the rules checked it
  return day;
}

std::string HolderBytes(AccountHolder kind, std::string_view holder) {
  std::string key(1, char(kind));
  key.append(holder);
  return key;
}

}  // namespace

std::string ViewRows::BalanceKey(AccountHolder kind, std::string_view holder) {
  return kBalanceRow + HolderBytes(kind, holder);
}
std::string ViewRows::HolderKey(AccountHolder kind, std::string_view holder) {
  return kHolderRow + HolderBytes(kind, holder);
}
std::string ViewRows::HistoryPrefix(AccountHolder kind, std::string_view holder) {
  return kHistoryRow + HolderBytes(kind, holder) + '\0';
}
std::string ViewRows::RegionPrefix(std::string_view region) {
  return kRegionRow + std::string(region);
}
std::string ViewRows::CompoundPrefix(std::string_view region, std::string_view compound) {
  std::string key(1, kCompoundRow);
  key.append(District(region));
  key.push_back('\0');
  key.append(compound);
  key.push_back('\0');
  return key;
}
std::string ViewRows::CompoundRegionPrefix(std::string_view region) {
  return kCompoundRow + std::string(District(region));
}
std::string ViewRows::MovementKey(std::string_view event_id) {
  return kMovementRow + std::string(event_id);
}
std::string ViewRows::DisbursementPrefix(std::string_view project) {
  return kDisbursementRow + std::string(project) + '\0';
}
std::string ViewRows::FindingKey(std::string_view finding) {
  return kFindingRow + std::string(finding);
}
std::string ViewRows::ProjectFindingPrefix(std::string_view project) {
  return kProjectFindingRow + std::string(project) + '\0';
}
std::string ViewRows::PoolFlowPrefix(std::string_view from_pool) {
  return kPoolFlowRow + std::string(from_pool) + '\0';
}
std::string ViewRows::PoolOutPrefix(std::string_view pool) {
  return kPoolOutRow + std::string(pool) + '\0';
}
uint64_t ViewRows::KeySeq(std::string_view key) {
  return key.size() < 8 ? 0 : storage::DecodeU64(key.substr(key.size() - 8));
}
std::string_view ViewRows::KeyPart(std::string_view key, size_t at) {
  if (at > key.size()) return {};
  std::string_view rest = key.substr(at);
  return rest.substr(0, rest.find('\0'));
}

// ---- typed tables ----

// A holder's balance and HolderView (rows 'b' and 'h') and, in memory, its history ('x').
struct ViewRows::Holder {
  bool has_balance = false;
  bool balance_dirty = false;  // staged: write the 'b' row
  Balance balance;
  std::unique_ptr<capnp::MallocMessageBuilder> view;  // HolderView; null while it has no row
  bool view_dirty = false;                            // staged: write the 'h' row
  std::vector<uint64_t> history;                      // in memory only, ascending
  // In memory only, a pool's 'o' rows: (seq, day) of each allocation out, ascending by seq; the
  // day kReversedOut once the allocation is reversed.
  std::vector<std::pair<uint64_t, int64_t>> outs;
  static constexpr int64_t kReversedOut = INT64_MIN;

  schema::HolderView::Builder View() { return view->getRoot<schema::HolderView>(); }
  // A copy to stage (the history is not staged this way: see Tables::history).
  Holder Clone() const {
    Holder h;
    h.has_balance = has_balance;
    h.balance = balance;
    if (view) {
      h.view = NewHolderMessage();
      h.view->setRoot(view->getRoot<schema::HolderView>().asReader());
    }
    return h;
  }
  // A HolderView holds a project's registration; a small first segment keeps the many holders
  // of a rebuild (and the writer's cache) from taking 8 KiB each.
  static std::unique_ptr<capnp::MallocMessageBuilder> NewHolderMessage() {
    constexpr unsigned kHolderFirstSegmentWords = 256;
    return std::make_unique<capnp::MallocMessageBuilder>(kHolderFirstSegmentWords);
  }
};

// A money movement (row 'v'), as reversals, acknowledgements and findings find it again.
struct ViewRows::Movement {
  uint64_t seq = 0;
  Event::Which type = Event::FUNDS_PLEDGED;
  int64_t day = 0;
  schema::Category category = schema::Category::CENTRAL;
  uint64_t amount_fen = 0;
  AccountHolder from_kind = AccountHolder::EXTERNAL;
  std::string from;
  AccountHolder to_kind = AccountHolder::EXTERNAL;
  std::string to;
  bool against_pledge = false;

  std::string Row() const {
    return EncodeMovementView(seq, type, day, category, amount_fen, from_kind, from, to_kind, to,
                              against_pledge);
  }
};

// A payment's DisbursementView (row 'd'), kept as a message until it is encoded: its
// acknowledgement, reversal and findings edit it in place instead of decoding and re-encoding it.
struct ViewRows::Payment {
  std::unique_ptr<capnp::MallocMessageBuilder> message;

  schema::DisbursementView::Builder Row() const {
    return message->getRoot<schema::DisbursementView>();
  }
  // A first segment that holds the row built from a payment of `body_words`, with room for the
  // acknowledgement's id: one allocation per payment.
  static std::unique_ptr<capnp::MallocMessageBuilder> NewMessage(size_t body_words) {
    constexpr size_t kRowWordsMin = 32;  // root, seq, day, id and an acknowledgement
    return std::make_unique<capnp::MallocMessageBuilder>(unsigned(body_words + kRowWordsMin));
  }
};

// In memory (no stored source): every view. With a stored source: what the batch changed.
struct ViewRows::Tables {
  StringMap<Holder> holders;                              // kind byte + holder
  StringMap<Movement> movements;                          // by event id
  StringMap<Payment> disbursements;                       // 'd' rows by key
  std::map<std::string, std::string, std::less<>> rows;   // 'c' 'f' 'g' 'l' 'p' 'r'; 'o' staged
  std::vector<std::pair<std::string, uint64_t>> history;  // staged only: holder, seq
};

std::string EncodeMovementView(uint64_t seq, Event::Which type, int64_t day,
                               schema::Category category, uint64_t amount_fen,
                               AccountHolder from_kind, std::string_view from,
                               AccountHolder to_kind, std::string_view to, bool against_pledge) {
  // Data section (capnp's layout of MovementView): seq @ byte 0, type @ 8, category @ 10,
  // fromKind @ 12, toKind @ 14, day @ 16, amountFen @ 24, againstPledge @ bit 256. Two
  // pointers, from and to, always set (an empty text is the NUL alone).
  uint64_t data[5] = {seq, 0, uint64_t(day), amount_fen, against_pledge ? 1u : 0u};
  const uint16_t halves[4] = {uint16_t(type), uint16_t(category), uint16_t(from_kind),
                              uint16_t(to_kind)};
  memcpy(&data[1], halves, sizeof(halves));
  uint16_t data_words = 5;
  while (data_words > 0 && data[data_words - 1] == 0) --data_words;
  constexpr uint16_t kPointers = 2;
  CanonicalWriter w(1 + data_words + kPointers + TextWords(from) + TextWords(to));
  const size_t root = w.Take(1);
  const size_t body = w.Take(data_words + kPointers);
  w.StructPointer(root, body, data_words, kPointers);
  if (data_words) w.Word(body, 0, data, data_words * 8);
  w.Text(body + data_words, from);
  w.Text(body + data_words + 1, to);
  return w.Finish();
}

ViewRows::ViewRows(const RowSource* stored)
    : stored_(stored),
      tables_(std::make_unique<Tables>()),
      cache_(std::make_unique<StringMap<Holder>>()) {}

ViewRows::~ViewRows() = default;

void ViewRows::Reserve(uint64_t events) {
  // Most events move money; about one in four is a payment.
  tables_->movements.reserve(events);
  tables_->disbursements.reserve(events / 4);
}

// ---- rows ----

Status ViewRows::LoadHolder(const std::string& holder_key, Holder* out) const {
  std::string bytes;
  bool found = false;
  FL_RETURN_IF_ERROR(stored_->Get(kBalanceRow + holder_key, &bytes, &found));
  if (found) {
    if (!DecodeBalance(bytes, &out->balance)) {
      return Status::Corruption("projection_row_malformed",
                                "balance row of " + holder_key.substr(1));
    }
    out->has_balance = true;
  }
  FL_RETURN_IF_ERROR(stored_->Get(kHolderRow + holder_key, &bytes, &found));
  if (found) {
    out->view = Holder::NewHolderMessage();
    if (!LoadRow<schema::HolderView>(bytes, out->view.get())) {
      return Status::Corruption("projection_row_malformed",
                                "holder row of " + holder_key.substr(1));
    }
  }
  return Status::Ok();
}

Status ViewRows::EditableHolder(AccountHolder kind, std::string_view holder, Holder** out) {
  encoded_valid_ = false;
  // An event names one or two holders and touches each a few times: remember the last.
  for (const Recent& r : recent_) {
    if (r.entry != nullptr && r.kind == kind && r.id == holder) {
      *out = r.entry;
      return Status::Ok();
    }
  }
  std::string key = HolderBytes(kind, holder);
  if (auto it = tables_->holders.find(key); it != tables_->holders.end()) {
    *out = &it->second;
    Remember(kind, holder, *out);
    return Status::Ok();
  }
  Holder entry;
  if (stored_ != nullptr) {
    if (auto it = cache_->find(key); it != cache_->end()) {
      entry = it->second.Clone();
    } else {
      FL_RETURN_IF_ERROR(LoadHolder(key, &entry));
    }
  }
  *out = &tables_->holders.emplace(std::move(key), std::move(entry)).first->second;
  Remember(kind, holder, *out);
  return Status::Ok();
}

void ViewRows::Index(AccountHolder kind, std::string_view holder, uint64_t seq) {
  if (stored_ != nullptr) {
    tables_->history.emplace_back(HolderBytes(kind, holder), seq);
    return;
  }
  Holder* h = nullptr;
  (void)EditableHolder(kind, holder, &h);  // in memory: no read, cannot fail
  h->history.push_back(seq);
}

void ViewRows::AllocatedOut(std::string_view pool, uint64_t seq, int64_t day) {
  if (stored_ != nullptr) {
    PutRow(PoolOutPrefix(pool) + storage::EncodeU64(seq),
           day == Holder::kReversedOut ? std::string() : storage::EncodeU64(uint64_t(day)));
    return;
  }
  Holder* h = nullptr;
  (void)EditableHolder(AccountHolder::POOL, pool, &h);  // in memory: no read, cannot fail
  auto at = std::lower_bound(h->outs.begin(), h->outs.end(), std::pair(seq, INT64_MIN));
  if (at != h->outs.end() && at->first == seq) {
    at->second = day;  // a reversal
  } else {
    h->outs.emplace(at, seq, day);
  }
}

void ViewRows::PutRow(std::string key, std::string value) {
  assert(key[0] != kDisbursementRow);  // payments are typed: see Payment
  encoded_valid_ = false;
  tables_->rows.insert_or_assign(std::move(key), std::move(value));
}

Status ViewRows::GetRow(const std::string& key, std::string* value, bool* found) const {
  assert(key[0] != kDisbursementRow);
  if (auto it = tables_->rows.find(key); it != tables_->rows.end()) {
    *value = it->second;
    *found = true;
    return Status::Ok();
  }
  *found = false;
  return stored_ == nullptr ? Status::Ok() : stored_->Get(key, value, found);
}

void ViewRows::PutMovement(std::string_view id, Movement m) {
  encoded_valid_ = false;
  tables_->movements.insert_or_assign(id, std::move(m));
}

Status ViewRows::FindMovement(std::string_view id, Movement* out, bool* found) const {
  if (auto it = tables_->movements.find(id); it != tables_->movements.end()) {
    *out = it->second;
    *found = true;
    return Status::Ok();
  }
  *found = false;
  if (stored_ == nullptr) return Status::Ok();
  std::string bytes;
  FL_RETURN_IF_ERROR(stored_->Get(MovementKey(id), &bytes, found));
  if (!*found) return Status::Ok();
  bool ok = DecodeCanonicalRow<schema::MovementView>(bytes, [&](schema::MovementView::Reader m) {
    *out = Movement{m.getSeq(),       Event::Which(m.getType()), m.getDay(),  m.getCategory(),
                    m.getAmountFen(), m.getFromKind(),           m.getFrom(), m.getToKind(),
                    m.getTo(),        m.getAgainstPledge()};
    return true;
  });
  if (!ok) {
    return Status::Corruption("projection_row_malformed", "movement row of " + std::string(id));
  }
  return Status::Ok();
}

Status ViewRows::Get(std::string_view key, std::string* value, bool* found) const {
  if (stored_ != nullptr) return stored_->Get(key, value, found);
  Materialize();
  auto it = encoded_.find(key);
  *found = it != encoded_.end();
  if (*found) *value = it->second;
  return Status::Ok();
}

Status ViewRows::Scan(std::string_view prefix,
                      const std::function<bool(std::string_view, std::string_view)>& fn) const {
  if (stored_ != nullptr) return stored_->Scan(prefix, fn);
  Materialize();
  for (auto it = encoded_.lower_bound(prefix); it != encoded_.end(); ++it) {
    if (std::string_view(it->first).substr(0, prefix.size()) != prefix) break;
    if (!fn(it->first, it->second)) break;
  }
  return Status::Ok();
}

size_t ViewRows::PrepareSharedReads() {
  assert(stored_ == nullptr);
  Materialize();
  tables_ = std::make_unique<Tables>();
  Forget();
  // What glibc's malloc takes for each row: the map's node (its links and two string headers),
  // and each string's bytes beyond the 15 kept in its header, with the allocator's own word,
  // in 16-byte steps.
  auto allocated = [](size_t bytes) { return (bytes + sizeof(size_t) + 15) & ~size_t(15); };
  auto string_bytes = [&](size_t size) { return size > 15 ? allocated(size + 1) : 0; };
  const size_t node = allocated(32 + 2 * sizeof(std::string));
  size_t bytes = 0;
  for (const auto& [key, value] : encoded_) {
    bytes += node + string_bytes(key.size()) + string_bytes(value.size());
  }
  return bytes;
}

void ViewRows::Materialize() const {
  if (encoded_valid_) return;
  encoded_.clear();
  ForEachRow([&](std::string_view key, std::string_view value) {
    encoded_.emplace_hint(encoded_.end(), key, value);
  });
  encoded_valid_ = true;
}

namespace {

template <typename Map>
std::vector<const typename Map::value_type*> SortedEntries(const Map& map) {
  std::vector<const typename Map::value_type*> sorted;
  sorted.reserve(map.size());
  for (const auto& entry : map) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  return sorted;
}

}  // namespace

bool ViewRows::IsKeyedRow(std::string_view key) {
  return !key.empty() && (key[0] == kMovementRow || key[0] == kDisbursementRow);
}

bool ViewRows::FindKeyedRow(std::string_view key, std::string* value) const {
  assert(stored_ == nullptr);
  const Tables& t = *tables_;
  if (key.empty()) return false;
  if (key[0] == kMovementRow) {
    auto it = t.movements.find(key.substr(1));
    if (it == t.movements.end()) return false;
    const Movement& m = it->second;
    *value = m.Row();
    return true;
  }
  if (key[0] == kDisbursementRow) {
    auto it = t.disbursements.find(key);
    if (it == t.disbursements.end()) return false;
    *value = CanonicalBytes(it->second.Row());
    return true;
  }
  return false;
}

size_t ViewRows::keyed_row_count() const {
  return tables_->movements.size() + tables_->disbursements.size();
}

void ViewRows::ForEachKeyedRow(
    const std::function<void(std::string_view key, std::string_view value)>& fn) const {
  static_assert(kDisbursementRow < kMovementRow);  // in key order
  ForEachPaymentRow(fn);
  ForEachMovementRow(fn);
}

void ViewRows::ForEachPaymentRow(
    const std::function<void(std::string_view key, std::string_view value)>& fn,
    const KeyRange& range) const {
  assert(stored_ == nullptr);
  if (!range.MayHoldKind(kDisbursementRow)) return;
  for (const auto* d : SortedEntries(tables_->disbursements)) {
    if (range.Contains(d->first)) fn(d->first, CanonicalBytes(d->second.Row()));
  }
}

void ViewRows::ForEachMovementRow(
    const std::function<void(std::string_view key, std::string_view value)>& fn,
    const KeyRange& range) const {
  assert(stored_ == nullptr);
  if (!range.MayHoldKind(kMovementRow)) return;
  std::string key;
  for (const auto* v : SortedEntries(tables_->movements)) {
    const Movement& m = v->second;
    key.assign(1, kMovementRow);
    key.append(v->first.data(), v->first.size());
    if (!range.Contains(key)) continue;
    fn(key, m.Row());
  }
}

void ViewRows::ForEachRow(
    const std::function<void(std::string_view key, std::string_view value)>& fn, bool with_keyed,
    const KeyRange& range) const {
  assert(stored_ == nullptr);
  const Tables& t = *tables_;
  auto holders = SortedEntries(t.holders);
  std::string key;
  auto rows_of = [&](char kind) {
    if (!range.MayHoldKind(kind)) return;
    for (auto it = t.rows.lower_bound(std::string_view(&kind, 1));
         it != t.rows.end() && it->first[0] == kind; ++it) {
      if (range.Contains(it->first)) fn(it->first, it->second);
    }
  };
  if (range.Contains(kVersionKey)) fn(kVersionKey, kViewsVersion);
  if (range.MayHoldKind(kBalanceRow)) {
    for (const auto* h : holders) {
      if (!h->second.has_balance) continue;
      key.assign(1, kBalanceRow);
      key.append(h->first);
      if (range.Contains(key)) fn(key, EncodeBalance(h->second.balance));
    }
  }
  rows_of(kCompoundRow);
  if (with_keyed) ForEachPaymentRow(fn, range);
  rows_of(kProjectFindingRow);
  rows_of(kFindingRow);
  if (range.MayHoldKind(kHolderRow)) {
    for (const auto* h : holders) {
      if (!h->second.view) continue;
      key.assign(1, kHolderRow);
      key.append(h->first);
      if (range.Contains(key)) {
        fn(key, CanonicalBytes(h->second.view->getRoot<schema::HolderView>()));
      }
    }
  }
  rows_of(kPoolFlowRow);
  if (range.MayHoldKind(kPoolOutRow)) {
    for (const auto* h : holders) {
      if (h->second.outs.empty()) continue;
      key.assign(1, kPoolOutRow);
      key.append(h->first.substr(1));  // pools only: the kind byte is POOL's
      key.push_back('\0');
      const size_t prefix = key.size();
      for (const auto& [seq, day] : h->second.outs) {
        key.resize(prefix);
        key.append(storage::EncodeU64(seq));
        if (!range.Contains(key)) continue;
        if (day == Holder::kReversedOut) {
          fn(key, std::string_view());
        } else {
          fn(key, storage::EncodeU64(uint64_t(day)));
        }
      }
    }
  }
  rows_of(kPolicyIndex);
  rows_of(kRegionRow);
  if (with_keyed) ForEachMovementRow(fn, range);
  if (range.MayHoldKind(kHistoryRow)) {
    for (const auto* h : holders) {
      key.assign(1, kHistoryRow);
      key.append(h->first);
      key.push_back('\0');
      size_t prefix = key.size();
      for (uint64_t seq : h->second.history) {
        key.resize(prefix);
        key.append(storage::EncodeU64(seq));
        if (range.Contains(key)) fn(key, std::string_view());
      }
    }
  }
}

size_t ViewRows::row_count() const {
  const Tables& t = *tables_;
  size_t n = 1 + t.disbursements.size() + t.rows.size() + t.movements.size();  // and the version
  for (const auto& [key, h] : t.holders) {
    n += (h.has_balance ? 1 : 0) + (h.view ? 1 : 0) + h.history.size() + h.outs.size();
  }
  return n;
}

std::vector<LedgerState::Row> ViewRows::StagedRows() const {
  assert(stored_ != nullptr);
  const Tables& t = *tables_;
  std::vector<LedgerState::Row> rows;
  auto put = [&](std::string key, std::string value) {
    rows.push_back({storage::kProjectionsFamily, std::move(key), std::move(value)});
  };
  for (const auto& [key, h] : t.holders) {
    if (h.balance_dirty) put(kBalanceRow + key, EncodeBalance(h.balance));
    if (h.view_dirty) {
      put(kHolderRow + key, CanonicalBytes(h.view->getRoot<schema::HolderView>()));
    }
  }
  for (const auto& [holder, seq] : t.history) {
    put(kHistoryRow + holder + '\0' + storage::EncodeU64(seq), std::string());
  }
  for (const auto& [id, m] : t.movements) {
    put(MovementKey(id), m.Row());
  }
  for (const auto& [key, payment] : t.disbursements) put(key, CanonicalBytes(payment.Row()));
  for (const auto& [key, value] : t.rows) put(key, value);
  return rows;
}

std::vector<LedgerState::Row> ViewRows::InitialRows() const {
  return {{storage::kProjectionsFamily, std::string(kVersionKey), std::string(kViewsVersion)}};
}

void ViewRows::Commit() {
  if (stored_ == nullptr) return;  // in memory, folded rows are the views
  for (auto& [key, h] : tables_->holders) {
    if (cache_->size() >= kCacheHoldersMax) cache_->clear();
    h.balance_dirty = h.view_dirty = false;
    cache_->insert_or_assign(key, std::move(h));
  }
  tables_ = std::make_unique<Tables>();
  Forget();
}

void ViewRows::Abort() {
  assert(stored_ != nullptr);
  tables_ = std::make_unique<Tables>();
  Forget();
}

Status ViewRows::AddFigure(AccountHolder kind, std::string_view holder, schema::Category c,
                           int64_t Figures::*field, int64_t fen) {
  Holder* h = nullptr;
  FL_RETURN_IF_ERROR(EditableHolder(kind, holder, &h));
  h->balance.by_category[size_t(c)].*field += fen;
  h->has_balance = h->balance_dirty = true;
  return Status::Ok();
}

template <typename Edit>
Status ViewRows::EditHolder(AccountHolder kind, std::string_view holder, Edit edit) {
  Holder* h = nullptr;
  FL_RETURN_IF_ERROR(EditableHolder(kind, holder, &h));
  if (!h->view) {
    h->view = Holder::NewHolderMessage();
    h->view->initRoot<schema::HolderView>();
  }
  edit(h->View());
  h->view_dirty = true;
  return Status::Ok();
}

Status ViewRows::MoneyIn(AccountHolder kind, std::string_view holder, int64_t day) {
  Holder* h = nullptr;
  FL_RETURN_IF_ERROR(EditableHolder(kind, holder, &h));
  if (h->view && h->View().getFirstInDay() != 0 && h->View().getFirstInDay() <= day) {
    return Status::Ok();  // unchanged
  }
  return EditHolder(kind, holder, [&](schema::HolderView::Builder v) {
    if (v.getFirstInDay() == 0 || day < v.getFirstInDay()) v.setFirstInDay(day);
  });
}

Status ViewRows::DecodeI64Row(std::string_view what, std::string_view key, std::string_view value,
                              int64_t* out) {
  if (value.size() != 8) {
    return Status::Corruption("projection_row_malformed",
                              std::string(what) + " row " + storage::PrintableKey(key));
  }
  *out = int64_t(storage::DecodeU64(value));
  return Status::Ok();
}

Status ViewRows::AddPoolFlow(std::string_view from, std::string_view to, int64_t fen) {
  std::string key = PoolFlowPrefix(from);
  key.append(to);
  std::string bytes;
  bool found = false;
  FL_RETURN_IF_ERROR(GetRow(key, &bytes, &found));
  int64_t flow = 0;
  if (found) FL_RETURN_IF_ERROR(DecodeI64Row("pool flow", key, bytes, &flow));
  PutRow(std::move(key), storage::EncodeU64(uint64_t(flow + fen)));
  return Status::Ok();
}

Status ViewRows::MoneyInReversed(AccountHolder kind, std::string_view holder) {
  Holder* h = nullptr;
  FL_RETURN_IF_ERROR(EditableHolder(kind, holder, &h));
  if (!h->view || h->View().getFirstInDay() == 0 || h->balance.Total().money_in_fen() != 0) {
    return Status::Ok();  // unchanged
  }
  return EditHolder(kind, holder, [](schema::HolderView::Builder v) { v.setFirstInDay(0); });
}

Status ViewRows::OnAccepted(const SignedEvent& event, const EventContext& context,
                            const LedgerState&) {
  return Fold(event.event(), event.signer(), context.seq, event.occurred_day());
}

Status ViewRows::Fold(Event::Reader e, std::string_view signer, uint64_t seq) {
  return Fold(e, signer, seq, Day(e));
}

Status ViewRows::Fold(Event::Reader e, std::string_view signer, uint64_t seq, int64_t day) {
  constexpr auto kProject = AccountHolder::PROJECT;
  constexpr auto kPool = AccountHolder::POOL;
  constexpr auto kExternal = AccountHolder::EXTERNAL;
  std::string id = e.getId();
  switch (e.which()) {
    case Event::POLICY_SET:
      PutRow(std::string(1, kPolicyIndex) + storage::EncodeU64(seq), std::string());
      return Status::Ok();
    case Event::PROJECT_REGISTERED: {
      auto p = e.getProjectRegistered();
      std::string project = p.getProject();
      PutRow(RegionPrefix(p.getRegion().cStr()) + '\0' + project, std::string());
      for (auto compound : p.getCompounds()) {
        PutRow(CompoundPrefix(p.getRegion().cStr(), compound.cStr()) + project, std::string());
      }
      Index(kProject, project, seq);
      return EditHolder(kProject, project, [&](schema::HolderView::Builder v) {
        v.setProject(p);
        v.setPhase(schema::ProjectPhase::REGISTERED);
        v.setRegisteredSeq(seq);
        v.setRegisteredDay(day);
      });
    }
    case Event::PROJECT_REVISED: {
      auto r = e.getProjectRevised();
      Index(kProject, r.getProject().cStr(), seq);
      return EditHolder(kProject, r.getProject().cStr(), [&](schema::HolderView::Builder v) {
        auto project = v.getProject();
        project.setBudget(r.getBudget());
        project.setFundingPlan(r.getFundingPlan());
      });
    }
    case Event::PROJECT_STATUS: {
      auto s = e.getProjectStatus();
      Index(kProject, s.getProject().cStr(), seq);
      return EditHolder(kProject, s.getProject().cStr(), [&](schema::HolderView::Builder v) {
        // ProjectStatus lists the phases after `registered` in order.
        auto phase = schema::ProjectPhase(uint16_t(s.getStatus()) + 1);
        v.setPhase(phase);
        if (phase == schema::ProjectPhase::SETTLED || phase == schema::ProjectPhase::CANCELLED) {
          v.setClosedSeq(seq);
          v.setClosedDay(day);
        }
      });
    }
    case Event::FUNDS_PLEDGED: {
      auto p = e.getFundsPledged();
      std::string project = p.getProject();
      PutMovement(std::move(id),
                  Movement{seq, Event::FUNDS_PLEDGED, day, p.getCategory(), p.getAmountFen(),
                           kExternal, "", kProject, project, false});
      Index(kProject, project, seq);
      return AddFigure(kProject, project, p.getCategory(), &Figures::pledged_fen,
                       int64_t(p.getAmountFen()));
    }
    case Event::FUNDS_RECEIVED: {
      auto r = e.getFundsReceived();
      AccountHolder to_kind = HolderOf(r.getToKind());
      std::string to = r.getTo();
      int64_t a = int64_t(r.getAmountFen());
      PutMovement(std::move(id), Movement{seq, Event::FUNDS_RECEIVED, day, r.getCategory(),
                                          uint64_t(a), kExternal, "", to_kind, to, r.hasPledge()});
      Index(to_kind, to, seq);
      FL_RETURN_IF_ERROR(AddFigure(to_kind, to, r.getCategory(), &Figures::received_fen, a));
      if (r.hasPledge()) {
        FL_RETURN_IF_ERROR(
            AddFigure(to_kind, to, r.getCategory(), &Figures::pledge_received_fen, a));
      }
      return MoneyIn(to_kind, to, day);
    }
    case Event::FUNDS_ALLOCATED: {
      auto al = e.getFundsAllocated();
      AccountHolder to_kind = HolderOf(al.getToKind());
      std::string from = al.getFrom(), to = al.getTo();
      int64_t a = int64_t(al.getAmountFen());
      PutMovement(std::move(id), Movement{seq, Event::FUNDS_ALLOCATED, day, al.getCategory(),
                                          uint64_t(a), kPool, from, to_kind, to, false});
      Index(kPool, from, seq);
      Index(to_kind, to, seq);
      FL_RETURN_IF_ERROR(AddFigure(kPool, from, al.getCategory(), &Figures::allocated_out_fen, a));
      FL_RETURN_IF_ERROR(AddFigure(to_kind, to, al.getCategory(), &Figures::allocated_in_fen, a));
      if (to_kind == kPool) FL_RETURN_IF_ERROR(AddPoolFlow(from, to, a));
      AllocatedOut(from, seq, day);
      return MoneyIn(to_kind, to, day);
    }
    case Event::FUNDS_DISBURSED: {
      auto d = e.getFundsDisbursed();
      std::string project = d.getProject();
      int64_t a = int64_t(d.getAmountFen());
      {
        Payment payment{Payment::NewMessage(d.totalSize().wordCount)};
        auto row = payment.message->initRoot<schema::DisbursementView>();
        row.setSeq(seq);
        row.setId(id);
        row.setDay(day);
        row.setBody(d);
        encoded_valid_ = false;
        tables_->disbursements.insert_or_assign(
            DisbursementPrefix(project) + storage::EncodeU64(seq), std::move(payment));
      }
      PutMovement(std::move(id), Movement{seq, Event::FUNDS_DISBURSED, day, d.getCategory(),
                                          uint64_t(a), kProject, project, kExternal, "", false});
      Index(kProject, project, seq);
      return AddFigure(kProject, project, d.getCategory(), &Figures::disbursed_fen, a);
    }
    case Event::FUNDS_REFUNDED: {
      auto f = e.getFundsRefunded();
      AccountHolder from_kind = HolderOf(f.getFromKind());
      std::string from = f.getFrom();
      int64_t a = int64_t(f.getAmountFen());
      PutMovement(std::move(id), Movement{seq, Event::FUNDS_REFUNDED, day, f.getCategory(),
                                          uint64_t(a), from_kind, from, kExternal, "", false});
      Index(from_kind, from, seq);
      return AddFigure(from_kind, from, f.getCategory(), &Figures::refunded_fen, a);
    }
    case Event::EVENT_REVERSED:
      return Reverse(e, seq);
    case Event::ACKNOWLEDGED:
      return Acknowledge(e, seq);
    case Event::AUDIT_FINDING:
      return OpenFinding(e, signer, seq, day);
    case Event::FINDING_RESOLVED:
      return ResolveFinding(e, seq, day);
    default:
      return Status::Ok();
  }
}

// Lets `edit` change the disbursement row of `m`: in memory, or staged (read from the stored
// rows on first use in a batch).
template <typename Edit>
Status ViewRows::EditDisbursement(const Movement& m, Edit edit) {
  encoded_valid_ = false;
  std::string key = DisbursementPrefix(m.from) + storage::EncodeU64(m.seq);
  auto it = tables_->disbursements.find(key);
  if (it == tables_->disbursements.end()) {
    std::string bytes;
    bool found = false;
    if (stored_ != nullptr) FL_RETURN_IF_ERROR(stored_->Get(key, &bytes, &found));
    Payment payment{Payment::NewMessage(bytes.size() / sizeof(capnp::word))};
    if (!found || !LoadRow<schema::DisbursementView>(bytes, payment.message.get())) {
      return Status::Corruption("projection_row_malformed",
                                "disbursement row of seq " + std::to_string(m.seq));
    }
    it = tables_->disbursements.emplace(std::move(key), std::move(payment)).first;
  }
  edit(it->second.Row());
  return Status::Ok();
}

Status ViewRows::Reverse(Event::Reader e, uint64_t seq) {
  Movement m;
  bool found = false;
  FL_RETURN_IF_ERROR(FindMovement(e.getEventReversed().getTarget().cStr(), &m, &found));
  if (!found) return Status::Ok();  // outside the fold
  int64_t a = -int64_t(m.amount_fen);
  schema::Category c = m.category;
  if (m.from_kind != AccountHolder::EXTERNAL) Index(m.from_kind, m.from, seq);
  if (m.to_kind != AccountHolder::EXTERNAL) Index(m.to_kind, m.to, seq);
  switch (m.type) {
    case Event::FUNDS_PLEDGED:
      return AddFigure(m.to_kind, m.to, c, &Figures::pledged_fen, a);
    case Event::FUNDS_RECEIVED:
      FL_RETURN_IF_ERROR(AddFigure(m.to_kind, m.to, c, &Figures::received_fen, a));
      if (m.against_pledge) {
        FL_RETURN_IF_ERROR(AddFigure(m.to_kind, m.to, c, &Figures::pledge_received_fen, a));
      }
      return MoneyInReversed(m.to_kind, m.to);
    case Event::FUNDS_ALLOCATED:
      FL_RETURN_IF_ERROR(AddFigure(m.from_kind, m.from, c, &Figures::allocated_out_fen, a));
      if (m.to_kind == AccountHolder::POOL) FL_RETURN_IF_ERROR(AddPoolFlow(m.from, m.to, a));
      AllocatedOut(m.from, m.seq, Holder::kReversedOut);
      FL_RETURN_IF_ERROR(AddFigure(m.to_kind, m.to, c, &Figures::allocated_in_fen, a));
      return MoneyInReversed(m.to_kind, m.to);
    case Event::FUNDS_DISBURSED: {
      FL_RETURN_IF_ERROR(AddFigure(m.from_kind, m.from, c, &Figures::disbursed_fen, a));
      std::string by = e.getId();
      return EditDisbursement(
          m, [&](schema::DisbursementView::Builder row) { row.setReversedBy(by); });
    }
    case Event::FUNDS_REFUNDED:
      return AddFigure(m.from_kind, m.from, c, &Figures::refunded_fen, a);
    default:
      return Status::Corruption("projection_row_malformed", "a movement of an unknown type");
  }
}

Status ViewRows::Acknowledge(Event::Reader e, uint64_t seq) {
  Movement m;
  bool found = false;
  FL_RETURN_IF_ERROR(FindMovement(e.getAcknowledged().getTarget().cStr(), &m, &found));
  if (!found) return Status::Ok();
  if (m.type != Event::FUNDS_DISBURSED) return Status::Ok();  // not in a view
  Index(AccountHolder::PROJECT, m.from, seq);
  std::string by = e.getId();
  return EditDisbursement(
      m, [&](schema::DisbursementView::Builder row) { row.setAcknowledgedBy(by); });
}

Status ViewRows::OpenFinding(Event::Reader e, std::string_view signer, uint64_t seq, int64_t day) {
  auto f = e.getAuditFinding();
  std::string finding = f.getFinding();
  std::vector<std::string> projects;
  if (f.hasProject()) projects.emplace_back(f.getProject().cStr());
  for (auto target : f.getTargets()) {
    Movement m;
    bool found = false;
    FL_RETURN_IF_ERROR(FindMovement(target.cStr(), &m, &found));
    if (!found) continue;
    for (const auto& [kind, holder] :
         {std::pair(m.from_kind, m.from), std::pair(m.to_kind, m.to)}) {
      if (kind == AccountHolder::PROJECT &&
          std::find(projects.begin(), projects.end(), holder) == projects.end()) {
        projects.push_back(holder);
      }
    }
    if (m.type == Event::FUNDS_DISBURSED) {
      FL_RETURN_IF_ERROR(EditDisbursement(m, [&](schema::DisbursementView::Builder row) {
        auto old = row.getFindings();
        capnp::MallocMessageBuilder copy;
        auto kept = copy.initRoot<schema::DisbursementView>().initFindings(old.size());
        for (unsigned i = 0; i < old.size(); ++i) kept.set(i, old[i]);
        auto now = row.initFindings(kept.size() + 1);
        for (unsigned i = 0; i < kept.size(); ++i) now.set(i, kept[i]);
        now.set(kept.size(), finding);
      }));
    }
  }
  capnp::MallocMessageBuilder message;
  auto row = message.initRoot<schema::FindingView>();
  row.setFinding(finding);
  row.setSeq(seq);
  row.setDay(day);
  row.setAuditor(std::string(signer));
  row.setSeverity(f.getSeverity());
  row.setText(f.getText());
  row.setTargets(f.getTargets());
  auto list = row.initProjects(projects.size());
  for (unsigned i = 0; i < projects.size(); ++i) list.set(i, projects[i]);
  PutRow(FindingKey(finding), CanonicalBytes(row));
  for (const std::string& p : projects) {
    PutRow(ProjectFindingPrefix(p) + finding, std::string());
    Index(AccountHolder::PROJECT, p, seq);
  }
  return Status::Ok();
}

Status ViewRows::ResolveFinding(Event::Reader e, uint64_t seq, int64_t day) {
  auto r = e.getFindingResolved();
  std::string key = FindingKey(r.getFinding().cStr());
  std::string bytes;
  bool found = false;
  FL_RETURN_IF_ERROR(GetRow(key, &bytes, &found));
  if (!found) return Status::Ok();
  capnp::MallocMessageBuilder message;
  if (!LoadRow<schema::FindingView>(bytes, &message)) {
    return Status::Corruption("projection_row_malformed", "finding row " + key.substr(1));
  }
  auto row = message.getRoot<schema::FindingView>();
  row.setResolvedSeq(seq);
  row.setResolvedDay(day);
  row.setResolution(r.getText());
  for (auto p : row.getProjects().asReader()) Index(AccountHolder::PROJECT, p.cStr(), seq);
  PutRow(std::move(key), CanonicalBytes(row));
  return Status::Ok();
}

}  // namespace fundledger
