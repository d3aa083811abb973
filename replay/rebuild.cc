#include "replay/rebuild.h"

#include "ledger/event.h"
#include "ledger/storage_format.h"

namespace fundledger {
namespace {

constexpr uint64_t kProgressEvery = 4096;
constexpr size_t kReplaceBatchRows = 100'000;

}  // namespace

Status RebuildViews(const Journal& journal, const RebuildOptions& options, ViewRows* out,
                    uint64_t* records) {
  *records = 0;
  uint64_t head = journal.head().size;
  Status failure;
  uint64_t expected = 1;
  FL_RETURN_IF_ERROR(journal.ScanRecords(1, [&](uint64_t seq, std::string_view bytes) {
    if (seq > head) return false;
    if (seq != expected) {
      failure = Status::Corruption("record_missing",
                                   "seq " + std::to_string(expected) + ": record is missing");
      return false;
    }
    ++expected;
    RecordReader record;
    failure = RecordReader::Open(bytes, &record);
    if (failure.ok()) {
      auto envelope = record.record().getEnvelope();
      failure = out->Fold(envelope.getEvent(), envelope.getSigner().cStr(), seq);
    }
    if (!failure.ok()) {
      failure = Status::Corruption(failure.code(),
                                   "seq " + std::to_string(seq) + ": " + failure.message());
      return false;
    }
    out->Commit();
    ++*records;
    if (options.progress && *records % kProgressEvery == 0) options.progress(*records, head);
    return true;
  }));
  FL_RETURN_IF_ERROR(failure);
  if (*records != head) {
    return Status::Corruption("record_missing",
                              "seq " + std::to_string(*records + 1) + ": record is missing");
  }
  if (options.progress) options.progress(*records, head);
  return Status::Ok();
}

Status DiffViews(const Journal& journal, const ViewRows& rebuilt, const RowDiffFn& diff,
                 uint64_t* equal) {
  *equal = 0;
  auto stored = journal.NewCursor(storage::kProjectionsFamily);
  auto stored_only = [&] {
    std::string_view value = stored->value();
    diff(stored->key(), nullptr, &value);
    stored->Next();
  };
  rebuilt.ForEachRow([&](std::string_view key, std::string_view value) {
    while (stored->Valid() && stored->key() < key) stored_only();
    if (stored->Valid() && stored->key() == key) {
      if (stored->value() == value) {
        ++*equal;
      } else {
        std::string_view old = stored->value();
        diff(key, &value, &old);
      }
      stored->Next();
    } else {
      diff(key, &value, nullptr);
    }
  });
  while (stored->Valid()) stored_only();
  return stored->status();
}

Status ReplaceViews(Journal* journal, const ViewRows& rebuilt, ReplaceReport* report) {
  *report = ReplaceReport();
  std::vector<LedgerState::Row> puts;
  std::vector<std::string> deletes;
  Status failure;
  auto flush = [&]() {
    if (failure.ok() && !(puts.empty() && deletes.empty())) {
      failure = journal->WriteProjectionRows(puts, deletes);
    }
    puts.clear();
    deletes.clear();
  };
  // The cursor reads a snapshot, so writing the family as the walk goes does not disturb it.
  uint64_t equal = 0;
  FL_RETURN_IF_ERROR(DiffViews(
      *journal, rebuilt,
      [&](std::string_view key, const std::string_view* now, const std::string_view*) {
        if (now != nullptr) {
          puts.push_back({storage::kProjectionsFamily, std::string(key), std::string(*now)});
          ++report->written;
        } else {
          deletes.emplace_back(key);
          ++report->deleted;
        }
        if (puts.size() + deletes.size() >= kReplaceBatchRows) flush();
      },
      &equal));
  flush();
  report->rows = equal + report->written;
  return failure;
}

}  // namespace fundledger
