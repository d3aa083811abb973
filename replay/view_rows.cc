#include "replay/view_rows.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
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
uint64_t ViewRows::KeySeq(std::string_view key) {
  return key.size() < 8 ? 0 : storage::DecodeU64(key.substr(key.size() - 8));
}
std::string_view ViewRows::KeyPart(std::string_view key, size_t at) {
  if (at > key.size()) return {};
  std::string_view rest = key.substr(at);
  return rest.substr(0, rest.find('\0'));
}

// ---- rows ----

Status ViewRows::Load(const std::string& key, std::string* value, bool* found) const {
  return Get(key, value, found);
}

Status ViewRows::Get(std::string_view key, std::string* value, bool* found) const {
  if (auto it = staged_.find(key); it != staged_.end()) {
    *value = it->second;
    *found = true;
    return Status::Ok();
  }
  if (auto it = committed_.find(key); it != committed_.end()) {
    *value = it->second;
    *found = true;
    return Status::Ok();
  }
  if (stored_ == nullptr) {
    *found = false;
    return Status::Ok();
  }
  if (auto it = cache_.find(std::string(key)); it != cache_.end()) {
    *value = it->second;
    *found = true;
    return Status::Ok();
  }
  return stored_->Get(key, value, found);
}

Status ViewRows::Scan(std::string_view prefix,
                      const std::function<bool(std::string_view, std::string_view)>& fn) const {
  if (stored_ != nullptr) return stored_->Scan(prefix, fn);
  for (auto it = committed_.lower_bound(prefix); it != committed_.end(); ++it) {
    if (std::string_view(it->first).substr(0, prefix.size()) != prefix) break;
    if (!fn(it->first, it->second)) break;
  }
  return Status::Ok();
}

std::vector<LedgerState::Row> ViewRows::StagedRows() const {
  std::vector<LedgerState::Row> rows;
  rows.reserve(staged_.size());
  for (const auto& [key, value] : staged_) {
    rows.push_back({storage::kProjectionsFamily, key, value});
  }
  return rows;
}

void ViewRows::Commit() {
  if (stored_ != nullptr) {
    for (auto& [key, value] : staged_) {
      if (key[0] != kBalanceRow && key[0] != kHolderRow) continue;
      if (cache_.size() >= kCacheRowsMax) cache_.clear();
      cache_.insert_or_assign(key, std::move(value));
    }
  }
  staged_.clear();
}

void ViewRows::Abort() { staged_.clear(); }

void ViewRows::Index(AccountHolder kind, std::string_view holder, uint64_t seq) {
  Put(HistoryPrefix(kind, holder) + storage::EncodeU64(seq), std::string());
}

Status ViewRows::AddFigure(AccountHolder kind, std::string_view holder, schema::Category c,
                           int64_t Figures::*field, int64_t fen) {
  std::string key = BalanceKey(kind, holder);
  std::string bytes;
  bool found = false;
  FL_RETURN_IF_ERROR(Load(key, &bytes, &found));
  Balance b;
  if (found && !DecodeBalance(bytes, &b)) {
    return Status::Corruption("projection_row_malformed", "balance row of " + key.substr(2));
  }
  b.by_category[size_t(c)].*field += fen;
  Put(std::move(key), EncodeBalance(b));
  return Status::Ok();
}

template <typename Edit>
Status ViewRows::EditHolder(AccountHolder kind, std::string_view holder, Edit edit) {
  std::string key = HolderKey(kind, holder);
  std::string bytes;
  bool found = false;
  FL_RETURN_IF_ERROR(Load(key, &bytes, &found));
  capnp::MallocMessageBuilder message;
  schema::HolderView::Builder view = message.initRoot<schema::HolderView>();
  if (found) {
    if (!LoadRow<schema::HolderView>(bytes, &message)) {
      return Status::Corruption("projection_row_malformed", "holder row of " + key.substr(2));
    }
    view = message.getRoot<schema::HolderView>();
  }
  edit(view);
  Put(std::move(key), CanonicalBytes(view));
  return Status::Ok();
}

// The activity days of a holder's row, if it has one.
Status ViewRows::ActivityDays(AccountHolder kind, std::string_view holder, int64_t* first_in,
                              int64_t* last_out, bool* found) const {
  std::string bytes;
  FL_RETURN_IF_ERROR(Get(HolderKey(kind, holder), &bytes, found));
  if (!*found) return Status::Ok();
  bool ok = DecodeCanonicalRow<schema::HolderView>(bytes, [&](schema::HolderView::Reader view) {
    *first_in = view.getFirstInDay();
    *last_out = view.getLastOutDay();
    return true;
  });
  if (!ok) {
    return Status::Corruption("projection_row_malformed", "holder row of " + std::string(holder));
  }
  return Status::Ok();
}

Status ViewRows::MoneyIn(AccountHolder kind, std::string_view holder, int64_t day) {
  int64_t first_in = 0, last_out = 0;
  bool found = false;
  FL_RETURN_IF_ERROR(ActivityDays(kind, holder, &first_in, &last_out, &found));
  if (found && first_in != 0 && first_in <= day) return Status::Ok();  // unchanged
  return EditHolder(kind, holder, [&](schema::HolderView::Builder v) {
    if (v.getFirstInDay() == 0 || day < v.getFirstInDay()) v.setFirstInDay(day);
  });
}

Status ViewRows::MoneyOut(AccountHolder kind, std::string_view holder, int64_t day) {
  int64_t first_in = 0, last_out = 0;
  bool found = false;
  FL_RETURN_IF_ERROR(ActivityDays(kind, holder, &first_in, &last_out, &found));
  if (found && last_out >= day) return Status::Ok();  // unchanged
  return EditHolder(kind, holder, [&](schema::HolderView::Builder v) {
    if (day > v.getLastOutDay()) v.setLastOutDay(day);
  });
}

namespace {

// Stages the MovementView of a money event.
std::string Movement(uint64_t seq, Event::Which type, int64_t day, schema::Category category,
                     uint64_t amount, AccountHolder from_kind, std::string_view from,
                     AccountHolder to_kind, std::string_view to, bool against_pledge) {
  capnp::MallocMessageBuilder message;
  auto m = message.initRoot<schema::MovementView>();
  m.setSeq(seq);
  m.setType(uint16_t(type));
  m.setDay(day);
  m.setCategory(category);
  m.setAmountFen(amount);
  m.setFromKind(from_kind);
  m.setFrom(std::string(from));
  m.setToKind(to_kind);
  m.setTo(std::string(to));
  m.setAgainstPledge(against_pledge);
  return CanonicalBytes(m);
}

}  // namespace

Status ViewRows::OnAccepted(const SignedEvent& event, const EventContext& context,
                            const LedgerState&) {
  return Fold(event.event(), event.signer(), context.seq);
}

Status ViewRows::Fold(Event::Reader e, std::string_view signer, uint64_t seq) {
  constexpr auto kProject = AccountHolder::PROJECT;
  constexpr auto kPool = AccountHolder::POOL;
  constexpr auto kExternal = AccountHolder::EXTERNAL;
  int64_t day = Day(e);
  std::string id = e.getId();
  switch (e.which()) {
    case Event::POLICY_SET:
      Put(std::string(1, kPolicyIndex) + storage::EncodeU64(seq), std::string());
      return Status::Ok();
    case Event::PROJECT_REGISTERED: {
      auto p = e.getProjectRegistered();
      std::string project = p.getProject();
      Put(RegionPrefix(p.getRegion().cStr()) + '\0' + project, std::string());
      for (auto compound : p.getCompounds()) {
        Put(CompoundPrefix(p.getRegion().cStr(), compound.cStr()) + project, std::string());
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
      Put(MovementKey(id), Movement(seq, Event::FUNDS_PLEDGED, day, p.getCategory(),
                                    p.getAmountFen(), kExternal, "", kProject, project, false));
      Index(kProject, project, seq);
      return AddFigure(kProject, project, p.getCategory(), &Figures::pledged_fen,
                       int64_t(p.getAmountFen()));
    }
    case Event::FUNDS_RECEIVED: {
      auto r = e.getFundsReceived();
      AccountHolder to_kind = HolderOf(r.getToKind());
      std::string to = r.getTo();
      int64_t a = int64_t(r.getAmountFen());
      Put(MovementKey(id), Movement(seq, Event::FUNDS_RECEIVED, day, r.getCategory(), uint64_t(a),
                                    kExternal, "", to_kind, to, r.hasPledge()));
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
      Put(MovementKey(id), Movement(seq, Event::FUNDS_ALLOCATED, day, al.getCategory(), uint64_t(a),
                                    kPool, from, to_kind, to, false));
      Index(kPool, from, seq);
      Index(to_kind, to, seq);
      FL_RETURN_IF_ERROR(AddFigure(kPool, from, al.getCategory(), &Figures::allocated_out_fen, a));
      FL_RETURN_IF_ERROR(AddFigure(to_kind, to, al.getCategory(), &Figures::allocated_in_fen, a));
      FL_RETURN_IF_ERROR(MoneyOut(kPool, from, day));
      return MoneyIn(to_kind, to, day);
    }
    case Event::FUNDS_DISBURSED: {
      auto d = e.getFundsDisbursed();
      std::string project = d.getProject();
      int64_t a = int64_t(d.getAmountFen());
      Put(MovementKey(id), Movement(seq, Event::FUNDS_DISBURSED, day, d.getCategory(), uint64_t(a),
                                    kProject, project, kExternal, "", false));
      capnp::MallocMessageBuilder message;
      auto row = message.initRoot<schema::DisbursementView>();
      row.setSeq(seq);
      row.setId(id);
      row.setDay(day);
      row.setBody(d);
      Put(DisbursementPrefix(project) + storage::EncodeU64(seq), CanonicalBytes(row));
      Index(kProject, project, seq);
      FL_RETURN_IF_ERROR(AddFigure(kProject, project, d.getCategory(), &Figures::disbursed_fen, a));
      return MoneyOut(kProject, project, day);
    }
    case Event::FUNDS_REFUNDED: {
      auto f = e.getFundsRefunded();
      AccountHolder from_kind = HolderOf(f.getFromKind());
      std::string from = f.getFrom();
      int64_t a = int64_t(f.getAmountFen());
      Put(MovementKey(id), Movement(seq, Event::FUNDS_REFUNDED, day, f.getCategory(), uint64_t(a),
                                    from_kind, from, kExternal, "", false));
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

namespace {

// The movement of a money event the fold has seen; *found false otherwise.
Status FindMovement(const ViewRows& rows, std::string_view id, capnp::MallocMessageBuilder* message,
                    bool* found) {
  std::string bytes;
  FL_RETURN_IF_ERROR(rows.Get(ViewRows::MovementKey(id), &bytes, found));
  if (*found && !LoadRow<schema::MovementView>(bytes, message)) {
    return Status::Corruption("projection_row_malformed", "movement row of " + std::string(id));
  }
  return Status::Ok();
}

// Loads the disbursement row of `m`, lets `edit` change it, and returns the new bytes.
template <typename Edit>
Status EditDisbursement(const ViewRows& rows, schema::MovementView::Reader m, Edit edit,
                        std::string* key, std::string* out) {
  *key = ViewRows::DisbursementPrefix(m.getFrom().cStr()) + storage::EncodeU64(m.getSeq());
  std::string bytes;
  bool found = false;
  FL_RETURN_IF_ERROR(rows.Get(*key, &bytes, &found));
  capnp::MallocMessageBuilder message;
  if (!found || !LoadRow<schema::DisbursementView>(bytes, &message)) {
    return Status::Corruption("projection_row_malformed",
                              "disbursement row of seq " + std::to_string(m.getSeq()));
  }
  auto row = message.getRoot<schema::DisbursementView>();
  edit(row);
  *out = CanonicalBytes(row);
  return Status::Ok();
}

}  // namespace

Status ViewRows::Reverse(Event::Reader e, uint64_t seq) {
  std::string target = e.getEventReversed().getTarget();
  capnp::MallocMessageBuilder message;
  bool found = false;
  FL_RETURN_IF_ERROR(FindMovement(*this, target, &message, &found));
  if (!found) return Status::Ok();  // outside the fold
  auto m = message.getRoot<schema::MovementView>().asReader();
  int64_t a = -int64_t(m.getAmountFen());
  schema::Category c = m.getCategory();
  AccountHolder from_kind = m.getFromKind(), to_kind = m.getToKind();
  std::string from = m.getFrom(), to = m.getTo();
  if (from_kind != AccountHolder::EXTERNAL) Index(from_kind, from, seq);
  if (to_kind != AccountHolder::EXTERNAL) Index(to_kind, to, seq);
  switch (Event::Which(m.getType())) {
    case Event::FUNDS_PLEDGED:
      return AddFigure(to_kind, to, c, &Figures::pledged_fen, a);
    case Event::FUNDS_RECEIVED:
      FL_RETURN_IF_ERROR(AddFigure(to_kind, to, c, &Figures::received_fen, a));
      if (m.getAgainstPledge()) {
        return AddFigure(to_kind, to, c, &Figures::pledge_received_fen, a);
      }
      return Status::Ok();
    case Event::FUNDS_ALLOCATED:
      FL_RETURN_IF_ERROR(AddFigure(from_kind, from, c, &Figures::allocated_out_fen, a));
      return AddFigure(to_kind, to, c, &Figures::allocated_in_fen, a);
    case Event::FUNDS_DISBURSED: {
      FL_RETURN_IF_ERROR(AddFigure(from_kind, from, c, &Figures::disbursed_fen, a));
      std::string key, bytes;
      std::string by = e.getId();
      FL_RETURN_IF_ERROR(EditDisbursement(
          *this, m, [&](schema::DisbursementView::Builder row) { row.setReversedBy(by); }, &key,
          &bytes));
      Put(std::move(key), std::move(bytes));
      return Status::Ok();
    }
    case Event::FUNDS_REFUNDED:
      return AddFigure(from_kind, from, c, &Figures::refunded_fen, a);
    default:
      return Status::Corruption("projection_row_malformed", "a movement of an unknown type");
  }
}

Status ViewRows::Acknowledge(Event::Reader e, uint64_t seq) {
  capnp::MallocMessageBuilder message;
  bool found = false;
  FL_RETURN_IF_ERROR(FindMovement(*this, e.getAcknowledged().getTarget().cStr(), &message, &found));
  if (!found) return Status::Ok();
  auto m = message.getRoot<schema::MovementView>().asReader();
  if (Event::Which(m.getType()) != Event::FUNDS_DISBURSED) return Status::Ok();  // not in a view
  Index(AccountHolder::PROJECT, m.getFrom().cStr(), seq);
  std::string key, bytes, by = e.getId();
  FL_RETURN_IF_ERROR(EditDisbursement(
      *this, m, [&](schema::DisbursementView::Builder row) { row.setAcknowledgedBy(by); }, &key,
      &bytes));
  Put(std::move(key), std::move(bytes));
  return Status::Ok();
}

Status ViewRows::OpenFinding(Event::Reader e, std::string_view signer, uint64_t seq, int64_t day) {
  auto f = e.getAuditFinding();
  std::string finding = f.getFinding();
  std::vector<std::string> projects;
  if (f.hasProject()) projects.emplace_back(f.getProject().cStr());
  std::vector<std::pair<std::string, std::string>> disbursements;  // key, new bytes
  for (auto target : f.getTargets()) {
    capnp::MallocMessageBuilder message;
    bool found = false;
    FL_RETURN_IF_ERROR(FindMovement(*this, target.cStr(), &message, &found));
    if (!found) continue;
    auto m = message.getRoot<schema::MovementView>().asReader();
    for (auto [kind, holder] :
         {std::pair(m.getFromKind(), m.getFrom()), std::pair(m.getToKind(), m.getTo())}) {
      if (kind == AccountHolder::PROJECT &&
          std::find(projects.begin(), projects.end(), holder.cStr()) == projects.end()) {
        projects.emplace_back(holder.cStr());
      }
    }
    if (Event::Which(m.getType()) == Event::FUNDS_DISBURSED) {
      std::string key, bytes;
      FL_RETURN_IF_ERROR(EditDisbursement(
          *this, m,
          [&](schema::DisbursementView::Builder row) {
            auto old = row.getFindings();
            capnp::MallocMessageBuilder copy;
            auto kept = copy.initRoot<schema::DisbursementView>().initFindings(old.size());
            for (unsigned i = 0; i < old.size(); ++i) kept.set(i, old[i]);
            auto now = row.initFindings(kept.size() + 1);
            for (unsigned i = 0; i < kept.size(); ++i) now.set(i, kept[i]);
            now.set(kept.size(), finding);
          },
          &key, &bytes));
      Put(std::move(key), std::move(bytes));
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
  Put(FindingKey(finding), CanonicalBytes(row));
  for (const std::string& p : projects) {
    Put(ProjectFindingPrefix(p) + finding, std::string());
    Index(AccountHolder::PROJECT, p, seq);
  }
  return Status::Ok();
}

Status ViewRows::ResolveFinding(Event::Reader e, uint64_t seq, int64_t day) {
  auto r = e.getFindingResolved();
  std::string key = FindingKey(r.getFinding().cStr());
  std::string bytes;
  bool found = false;
  FL_RETURN_IF_ERROR(Load(key, &bytes, &found));
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
  Put(std::move(key), CanonicalBytes(row));
  return Status::Ok();
}

}  // namespace fundledger
