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

Status ReplaceViews(Journal* journal, const ViewRows& rebuilt, ReplaceReport* report) {
  *report = ReplaceReport();
  const auto& rows = rebuilt.rows();
  report->rows = rows.size();
  std::vector<LedgerState::Row> puts;
  std::vector<std::string> deletes;
  auto flush = [&]() -> Status {
    if (puts.empty() && deletes.empty()) return Status::Ok();
    Status s = journal->WriteProjectionRows(puts, deletes);
    puts.clear();
    deletes.clear();
    return s;
  };
  // Walk the stored and rebuilt rows side by side in key order. The scan reads a snapshot, so
  // writing the family as it goes does not disturb it.
  auto next = rows.begin();
  Status failure;
  FL_RETURN_IF_ERROR(journal->ScanFamily(
      storage::kProjectionsFamily, [&](std::string_view key, std::string_view value) {
        while (next != rows.end() && std::string_view(next->first) < key) {
          puts.push_back({storage::kProjectionsFamily, next->first, next->second});
          ++report->written;
          ++next;
        }
        if (next != rows.end() && std::string_view(next->first) == key) {
          if (next->second != value) {
            puts.push_back({storage::kProjectionsFamily, next->first, next->second});
            ++report->written;
          }
          ++next;
        } else {
          deletes.emplace_back(key);
          ++report->deleted;
        }
        if (puts.size() + deletes.size() >= kReplaceBatchRows) failure = flush();
        return failure.ok();
      }));
  FL_RETURN_IF_ERROR(failure);
  for (; next != rows.end(); ++next) {
    puts.push_back({storage::kProjectionsFamily, next->first, next->second});
    ++report->written;
    if (puts.size() >= kReplaceBatchRows) FL_RETURN_IF_ERROR(flush());
  }
  return flush();
}

}  // namespace fundledger
