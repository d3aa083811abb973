#include "replay/views.h"

#include <kj/exception.h>

#include <algorithm>

#include "ledger/rules.h"
#include "ledger/storage_format.h"
#include "replay/rebuild.h"
#include "replay/schema/views.capnp.h"

namespace fundledger {

Status JournalRows::Get(std::string_view key, std::string* value, bool* found) const {
  return journal_.Get(storage::kProjectionsFamily, key, value, found);
}

Status JournalRows::Scan(std::string_view prefix,
                         const std::function<bool(std::string_view, std::string_view)>& fn) const {
  return journal_.ScanFamilyFrom(storage::kProjectionsFamily, prefix,
                                 [&](std::string_view key, std::string_view value) {
                                   if (key.substr(0, prefix.size()) != prefix) return false;
                                   return fn(key, value);
                                 });
}

void Views::Attach(const Journal& journal) {
  stored_ = std::make_unique<JournalRows>(journal);
  rows_.set_stored(stored_.get());
}

Status OpenWithViews(const std::string& dir, JournalOptions options, Views* views,
                     std::unique_ptr<Journal>* out) {
  options.projection = views->hook();
  FL_RETURN_IF_ERROR(Journal::Open(dir, options, out));
  if (!options.read_only) {
    // Views written by a build of another views format are rebuilt from the records before
    // anything reads or appends: stored rows of the old format would be read back as the
    // current one (replay does the same on demand; verify names the version row).
    std::string version;
    bool found = false;
    FL_RETURN_IF_ERROR(
        (*out)->Get(storage::kProjectionsFamily, ViewRows::kVersionKey, &version, &found));
    if (!found || version != ViewRows::kViewsVersion) {
      ViewRows rebuilt;
      uint64_t records = 0;
      FL_RETURN_IF_ERROR(RebuildViews(**out, RebuildOptions(), &rebuilt, &records));
      ReplaceReport report;
      FL_RETURN_IF_ERROR(ReplaceViews(out->get(), rebuilt, &report));
    }
  }
  views->Attach(**out);
  return Status::Ok();
}

Status CreateWithViews(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       JournalOptions options, Views* views, std::unique_ptr<Journal>* out) {
  options.projection = views->hook();
  FL_RETURN_IF_ERROR(Journal::Create(dir, origin, log_key, options, out));
  views->Attach(**out);
  return Status::Ok();
}

}  // namespace fundledger

namespace fundledger {
namespace {

// The HolderView of a row (NotFound-free: *found false if there is none).
Status ReadHolder(const RowSource& rows, schema::AccountHolder kind, std::string_view holder,
                  std::string* bytes, bool* found) {
  return rows.Get(ViewRows::HolderKey(kind, holder), bytes, found);
}

}  // namespace

const char* ScopeKindName(ScopeKind kind) {
  static const char* const kNames[] = {"project", "pool", "region"};
  return kNames[int(kind)];
}

Status ViewPoint::Open(const Journal& journal, const Scope& scope, const AsOf& as_of,
                       std::unique_ptr<ViewPoint>* out, StateGate* gate) {
  if (gate != nullptr && as_of.seq == 0) {
    return Status::InvalidArgument("as_of_seq", "a view read beside the writer needs its point",
                                   "as_of_seq");
  }
  std::unique_ptr<ViewPoint> point(new ViewPoint(journal));
  point->scope_ = scope;
  uint64_t head = journal.head().size;
  if (as_of.seq > head) {
    return Status::InvalidArgument("as_of_seq_beyond_head",
                                   "the ledger holds " + std::to_string(head) + " records",
                                   "as_of_seq");
  }
  point->as_of_seq_ = as_of.seq == 0 ? head : as_of.seq;
  point->as_of_day_ = as_of.day;
  bool at_head = point->as_of_seq_ == head && !as_of.day && gate == nullptr;
  if (as_of.day) {
    point->reference_day_ = *as_of.day;
  } else if (point->as_of_seq_ > 0) {
    std::string bytes;
    RecordReader record;
    FL_RETURN_IF_ERROR(journal.ReadRecord(point->as_of_seq_, &bytes));
    FL_RETURN_IF_ERROR(RecordReader::Open(bytes, &record));
    point->reference_day_ = BusinessDay(record.record().getRecordedAtMs());
  }

  // The scope's members and histories, from the stored (head) rows.
  std::vector<std::string> histories;
  switch (scope.kind) {
    case ScopeKind::kProject: {
      std::string bytes;
      bool found = false;
      FL_RETURN_IF_ERROR(
          ReadHolder(point->stored_, schema::AccountHolder::PROJECT, scope.id, &bytes, &found));
      if (!found) {
        return Status::NotFound("project_unknown", "no project " + scope.id, "project");
      }
      StateGate::Shared hold(gate);
      const Project* project = journal.state().FindProject(scope.id);
      point->region_ = project != nullptr ? project->region : std::string();
      point->projects_ = {scope.id};
      histories.push_back(ViewRows::HistoryPrefix(schema::AccountHolder::PROJECT, scope.id));
      break;
    }
    case ScopeKind::kPool: {
      StateGate::Shared hold(gate);
      const Org* org = journal.state().FindOrg(scope.id);
      bool exists = org != nullptr && org->kind == schema::OrgKind::FINANCE_BUREAU &&
                    org->registered_seq <= point->as_of_seq_;
      // Not bounded by the registration's date: a bureau registered today may record money
      // that came in long before (its books brought into the ledger).
      if (!exists) {
        return Status::NotFound("pool_unknown", "no finance bureau " + scope.id, "pool");
      }
      point->region_ = org->region;
      histories.push_back(ViewRows::HistoryPrefix(schema::AccountHolder::POOL, scope.id));
      break;
    }
    case ScopeKind::kRegion: {
      if (!IsValidRegion(scope.id)) {
        return Status::InvalidArgument("bad_region", "not a region path", "region");
      }
      point->region_ = scope.id;
      Status s;
      FL_RETURN_IF_ERROR(point->stored_.Scan(
          ViewRows::RegionPrefix(scope.id), [&](std::string_view key, std::string_view) {
            size_t nul = key.find('\0');
            if (nul == std::string_view::npos) {
              s = Status::Corruption("projection_row_malformed", "region index row");
              return false;
            }
            if (RegionWithin(key.substr(1, nul - 1), scope.id)) {
              point->projects_.emplace_back(key.substr(nul + 1));
            }
            return true;
          }));
      FL_RETURN_IF_ERROR(s);
      // The index is in region order; the views list projects in id order.
      std::sort(point->projects_.begin(), point->projects_.end());
      for (const std::string& p : point->projects_) {
        histories.push_back(ViewRows::HistoryPrefix(schema::AccountHolder::PROJECT, p));
      }
      break;
    }
  }
  if (!at_head) {
    std::vector<uint64_t> seqs;
    for (const std::string& prefix : histories) {
      FL_RETURN_IF_ERROR(point->stored_.Scan(prefix, [&](std::string_view key, std::string_view) {
        uint64_t seq = ViewRows::KeySeq(key);
        if (seq > point->as_of_seq_) return false;  // in seq order
        seqs.push_back(seq);
        return true;
      }));
    }
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    FL_RETURN_IF_ERROR(point->Fold(seqs));
    FL_RETURN_IF_ERROR(point->LoadPolicies(gate));
    // Only the projects registered by then.
    std::vector<std::string> existing;
    for (const std::string& p : point->projects_) {
      std::string bytes;
      bool found = false;
      FL_RETURN_IF_ERROR(
          ReadHolder(*point->folded_, schema::AccountHolder::PROJECT, p, &bytes, &found));
      if (found) existing.push_back(p);
    }
    point->projects_ = std::move(existing);
    if (scope.kind == ScopeKind::kProject && point->projects_.empty()) {
      return Status::NotFound("project_unknown", "no project " + scope.id + " at that point",
                              "project");
    }
  }
  *out = std::move(point);
  return Status::Ok();
}

Status ViewPoint::ForEachEvent(
    const std::vector<uint64_t>& seqs,
    const std::function<Status(schema::Envelope::Reader, uint64_t)>& fn) const {
  std::string bytes;
  for (uint64_t seq : seqs) {
    RecordReader record;
    FL_RETURN_IF_ERROR(journal_.ReadRecord(seq, &bytes));
    FL_RETURN_IF_ERROR(RecordReader::Open(bytes, &record));
    // A stored record is trusted to be readable (verification checks it), but a changed one
    // must fail the read that meets it, not end the process.
    try {
      auto envelope = record.record().getEnvelope();
      if (as_of_day_) {
        int64_t day = 0;
        FL_RETURN_IF_ERROR(
            ParseDate(envelope.getEvent().getOccurredOn().cStr(), "occurred_on", &day));
        if (day > *as_of_day_) continue;
      }
      FL_RETURN_IF_ERROR(fn(envelope, seq));
    } catch (const kj::Exception& e) {
      return Status::Corruption(
          "record_malformed",
          "seq " + std::to_string(seq) + ": " + storage::PrintableKey(e.getDescription().cStr()));
    }
  }
  return Status::Ok();
}

Status ViewPoint::Fold(const std::vector<uint64_t>& seqs) {
  folded_ = std::make_unique<ViewRows>();
  FL_RETURN_IF_ERROR(ForEachEvent(seqs, [&](schema::Envelope::Reader envelope, uint64_t seq) {
    return folded_->Fold(envelope.getEvent(), envelope.getSigner().cStr(), seq);
  }));
  folded_->Commit();
  return Status::Ok();
}

Status ViewPoint::LoadPolicies(StateGate* gate) {
  policies_ = std::make_unique<LedgerState>();
  {
    StateGate::Shared hold(gate);
    const LedgerState& head = journal_.state();
    if (const Org* op = head.FindOrg(head.operator_id()); op != nullptr) policies_->LoadOrg(*op);
  }
  std::vector<uint64_t> seqs;
  FL_RETURN_IF_ERROR(stored_.Scan(std::string(1, ViewRows::kPolicyIndex),
                                  [&](std::string_view key, std::string_view) {
                                    uint64_t seq = ViewRows::KeySeq(key);
                                    if (seq > as_of_seq_) return false;
                                    seqs.push_back(seq);
                                    return true;
                                  }));
  FL_RETURN_IF_ERROR(ForEachEvent(seqs, [&](schema::Envelope::Reader envelope, uint64_t seq) {
    auto event = envelope.getEvent();
    if (event.which() != schema::Event::POLICY_SET) {
      return Status::Corruption("projection_row_malformed",
                                "policy index row at seq " + std::to_string(seq));
    }
    Policy policy;
    FL_RETURN_IF_ERROR(PolicyFromEvent(event.getPolicySet(), &policy));
    policy.setter = envelope.getSigner();
    policy.set_seq = seq;
    policies_->StagePolicy(std::move(policy));
    return Status::Ok();
  }));
  policies_->Commit();
  return Status::Ok();
}

Policy ViewPoint::PolicyIn(std::string_view region) const {
  return policies_ ? policies_->PolicyInForce(region) : journal_.state().PolicyInForce(region);
}

size_t ViewPoint::PrepareSharedReads() {
  if (!folded_) return 0;
  size_t bytes = folded_->PrepareSharedReads();
  for (const std::string& p : projects_) bytes += p.size() + sizeof(std::string);
  return bytes;
}

bool ViewPoint::LiveAt(uint64_t registered_seq, int64_t registered_day, uint64_t closed_seq,
                       int64_t closed_day) const {
  auto within = [&](uint64_t seq, int64_t day) {
    return seq != 0 && seq <= as_of_seq_ && (!as_of_day_ || day <= *as_of_day_);
  };
  return within(registered_seq, registered_day) && !within(closed_seq, closed_day);
}

}  // namespace fundledger
