// The read side's materialised views, attached to a journal so that they move with every
// append (ledger/projection.h), and the points they are read at: a scope (a project, a pool, or
// a region's roll-up) as of the head, a sequence number, or a business date (DESIGN.md
// section 5).
//
// Every process that writes a ledger opens it through OpenWithViews or CreateWithViews;
// verification rebuilds the same rows from the records and compares them byte for byte.
//
// As of the head, a ViewPoint reads the stored rows: a project's views are a few point reads,
// whatever the length of the journal. As of an earlier point, it folds the events of the scope
// alone (found through the history rows of its projects or pool, filtered by seq and date)
// into rows in memory, so the time grows with the scope's history, not the journal's.
//
// Ownership: the caller owns both the Views and the Journal; the Views must outlive the Journal
// (declare the Views first). A ViewPoint must not outlive its Journal.
// Thread safety: a ViewPoint reads the journal's committed state; REQUIRES no concurrent Append.
// A point folded as of an earlier point reads only records, which never change, and may be read
// by several threads at once after PrepareSharedReads.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/journal.h"
#include "replay/view_rows.h"

namespace fundledger {

// The stored view rows of a journal (column family "projections").
class JournalRows : public RowSource {
 public:
  explicit JournalRows(const Journal& journal) : journal_(journal) {}
  Status Get(std::string_view key, std::string* value, bool* found) const override;
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) const override;

 private:
  const Journal& journal_;
};

class Views {
 public:
  Views() = default;
  Views(const Views&) = delete;
  Views& operator=(const Views&) = delete;

  ProjectionHook* hook() { return &rows_; }
  // Reads rows back from `journal` from now on.
  void Attach(const Journal& journal);

 private:
  std::unique_ptr<JournalRows> stored_;
  ViewRows rows_;
};

Status OpenWithViews(const std::string& dir, JournalOptions options, Views* views,
                     std::unique_ptr<Journal>* out);
Status CreateWithViews(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       JournalOptions options, Views* views, std::unique_ptr<Journal>* out);

enum class ScopeKind { kProject, kPool, kRegion };

// "project", "pool" or "region": a scope kind's name in queries, JSON and headings.
const char* ScopeKindName(ScopeKind kind);

struct Scope {
  ScopeKind kind = ScopeKind::kProject;
  std::string id;  // project id, pool (finance bureau org) id, or region prefix
  bool operator==(const Scope&) const = default;
};

struct AsOf {
  uint64_t seq = 0;            // the events recorded up to this seq; 0: the head
  std::optional<int64_t> day;  // and of those, the ones whose occurred_on is on or before it
};

// A scope at one point of the ledger: the rows its views read, and what they need besides.
class ViewPoint {
 public:
  // NotFound "project_unknown" / "pool_unknown" if the scope names nothing that existed at that
  // point; InvalidArgument "as_of_seq_beyond_head" (field as_of_seq) or "bad_region" (region).
  //
  // With `gate`, which the caller does not hold: the journal's in-memory state is read only
  // under it, and the view is folded from the records up to as_of.seq even where that is the
  // head, so that a writer appending meanwhile changes nothing the view reads (public reads at
  // a checkpoint, which so never hold the writer back for a fold). REQUIRES: as_of.seq given.
  static Status Open(const Journal& journal, const Scope& scope, const AsOf& as_of,
                     std::unique_ptr<ViewPoint>* out, StateGate* gate = nullptr);

  const Scope& scope() const { return scope_; }
  const Journal& journal() const { return journal_; }
  uint64_t as_of_seq() const { return as_of_seq_; }  // the head's size when not given
  const std::optional<int64_t>& as_of_day() const { return as_of_day_; }
  // "Today" for the flags: the as-of date if given, else the business day of the last record
  // in view (so a view of the same point always says the same thing).
  int64_t reference_day() const { return reference_day_; }
  const RowSource& rows() const {
    if (folded_) return *folded_;
    return stored_;
  }
  // The projects in scope: the project, or every project under the region in id order (none
  // for a pool).
  const std::vector<std::string>& projects() const { return projects_; }
  // The region whose policy applies to the scope as a whole.
  const std::string& region() const { return region_; }
  // The policy in force in `region` at this point.
  Policy PolicyIn(std::string_view region) const;
  // For a point read by several threads at once (ViewPoints): prepares now what the first read
  // would build, drops what no read needs (ViewRows::PrepareSharedReads), and returns an
  // estimate of the bytes the point holds (0 at the head, where it reads the stored rows).
  size_t PrepareSharedReads();
  // True if `registered` (a project's HolderView times) was live at this point: registered
  // within it, and not settled or cancelled within it.
  bool LiveAt(uint64_t registered_seq, int64_t registered_day, uint64_t closed_seq,
              int64_t closed_day) const;

 private:
  explicit ViewPoint(const Journal& journal) : journal_(journal), stored_(journal) {}
  // Calls `fn` with each record of `seqs` whose event is within the as-of date.
  Status ForEachEvent(const std::vector<uint64_t>& seqs,
                      const std::function<Status(schema::Envelope::Reader, uint64_t)>& fn) const;
  Status Fold(const std::vector<uint64_t>& seqs);
  Status LoadPolicies(StateGate* gate);

  const Journal& journal_;
  JournalRows stored_;
  Scope scope_;
  uint64_t as_of_seq_ = 0;
  std::optional<int64_t> as_of_day_;
  int64_t reference_day_ = 0;
  std::vector<std::string> projects_;
  std::string region_;
  std::unique_ptr<ViewRows> folded_;       // as of an earlier point
  std::unique_ptr<LedgerState> policies_;  // as of an earlier point
};

}  // namespace fundledger
