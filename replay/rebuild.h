// Rebuilding the views from the records alone (`fundledger replay`), and putting the rebuilt
// rows in place of the stored ones.
//
// The rebuild folds every record from genesis into fresh in-memory ViewRows. It checks neither
// signatures nor rules (that is `verify`, which rebuilds the same rows and compares them): it is
// the fast path an operator runs after a change to the views' code or to repair a damaged
// projection row; `fundledger bench views` measures its rate against a raw scan of the records.
#pragma once

#include <cstdint>
#include <functional>

#include "crypto/status.h"
#include "ledger/journal.h"
#include "replay/view_rows.h"

namespace fundledger {

struct RebuildOptions {
  // Called now and then with (records folded, records in all).
  std::function<void(uint64_t, uint64_t)> progress;
};

// Folds records 1..head into `out`. REQUIRES: `out` is fresh and has no stored source.
Status RebuildViews(const Journal& journal, const RebuildOptions& options, ViewRows* out,
                    uint64_t* records);

// Walks the rebuilt rows and the stored projections side by side in key order and calls `diff`
// for each key whose rows differ byte for byte: `rebuilt` null when the row is only stored,
// `stored` null when it is only rebuilt. `*equal` counts the rows that are the same.
// REQUIRES: `rebuilt` has no stored source.
using RowDiffFn = std::function<void(std::string_view key, const std::string_view* rebuilt,
                                     const std::string_view* stored)>;
Status DiffViews(const Journal& journal, const ViewRows& rebuilt, const RowDiffFn& diff,
                 uint64_t* equal);

// DiffViews in parts, which may run on threads of their own: DiffViewRange walks the rows of
// one key range, adding to `*equal` and to `*keyed_matched` (the keyed rows found stored and
// rebuilt); once every range is walked, DiffUnstoredKeyedRows, given the sum of the ranges'
// `keyed_matched`, finds the keyed rows that are rebuilt but not stored.
Status DiffViewRange(const Journal& journal, const ViewRows& rebuilt,
                     const ViewRows::KeyRange& range, const RowDiffFn& diff, uint64_t* equal,
                     uint64_t* keyed_matched);
Status DiffUnstoredKeyedRows(const Journal& journal, const ViewRows& rebuilt,
                             uint64_t keyed_matched, const RowDiffFn& diff);

struct ReplaceReport {
  uint64_t rows = 0;     // rows rebuilt
  uint64_t written = 0;  // stored rows that were missing or differed
  uint64_t deleted = 0;  // stored rows that no record rebuilds
};

// Makes the stored projections equal `rebuilt`, writing only what differs.
// REQUIRES: `journal` is writable and nothing appends meanwhile; a hook attached to it must
// not append afterwards (it may hold rows read before).
Status ReplaceViews(Journal* journal, const ViewRows& rebuilt, ReplaceReport* report);

}  // namespace fundledger
