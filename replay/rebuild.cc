#include "replay/rebuild.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "ledger/event.h"
#include "ledger/storage_format.h"

namespace fundledger {
namespace {

constexpr size_t kReplaceBatchRows = 100'000;

constexpr size_t kChunkRecords = 4096;
constexpr size_t kChunksInFlight = 2;

// Records copied out of the scan into aligned words, for the folding thread. Held as uint64_t
// (capnp::word's layout): capnp::word cannot be copied, which a vector of it needs for clang.
struct Chunk {
  std::vector<uint64_t> words;
  std::vector<std::pair<size_t, size_t>> records;  // word offset and size of each record
  uint64_t first_seq = 0;
};
static_assert(sizeof(capnp::word) == sizeof(uint64_t) && alignof(capnp::word) <= alignof(uint64_t));

// Hands chunks from the scanning thread to the folding one; at most kChunksInFlight wait.
class ChunkQueue {
 public:
  // False if the consumer has stopped.
  bool Push(Chunk chunk) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return queue_.size() < kChunksInFlight || stopped_; });
    if (stopped_) return false;
    queue_.push_back(std::move(chunk));
    cv_.notify_all();
    return true;
  }
  // Ends the stream with the scan's status.
  void Close(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    status_ = std::move(status);
    cv_.notify_all();
  }
  // False at the end of the stream.
  bool Pop(Chunk* out) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return false;
    *out = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
    return true;
  }
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  Status status() {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> queue_;
  bool closed_ = false, stopped_ = false;
  Status status_;
};

// Scans records 1..head into chunks: the RocksDB reads and copies run beside the fold.
void ScanChunks(const Journal& journal, uint64_t head, ChunkQueue* queue) {
  Chunk chunk;
  uint64_t expected = 1;
  Status failure;
  Status scan = journal.ScanRecords(1, [&](uint64_t seq, std::string_view bytes) {
    if (seq > head) return false;
    if (seq != expected) {
      failure = Status::Corruption("record_missing",
                                   "seq " + std::to_string(expected) + ": record is missing");
      return false;
    }
    if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0) {
      failure = Status::Corruption("record_malformed",
                                   "seq " + std::to_string(seq) + ": not a whole number of words");
      return false;
    }
    if (chunk.records.empty()) chunk.first_seq = seq;
    size_t at = chunk.words.size();
    chunk.words.resize(at + bytes.size() / sizeof(capnp::word));
    memcpy(chunk.words.data() + at, bytes.data(), bytes.size());
    chunk.records.emplace_back(at, bytes.size() / sizeof(capnp::word));
    ++expected;
    if (chunk.records.size() < kChunkRecords) return true;
    bool more = queue->Push(std::move(chunk));
    chunk = Chunk();
    return more;
  });
  if (failure.ok() && !scan.ok()) failure = scan;
  if (failure.ok() && !chunk.records.empty()) queue->Push(std::move(chunk));
  if (failure.ok() && expected - 1 != head) {
    failure = Status::Corruption("record_missing",
                                 "seq " + std::to_string(expected) + ": record is missing");
  }
  queue->Close(failure);
}

// Folds one record of a chunk. The rebuild trusts the records' encoding (verification checks
// that they are canonical and signed); they are read within the reader limits.
Status FoldRecord(kj::ArrayPtr<const capnp::word> words, uint64_t seq, ViewRows* out) {
  kj::ArrayPtr<const capnp::word> segments[1] = {words};
  try {
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1), LedgerReaderOptions());
    auto envelope = reader.getRoot<schema::Record>().getEnvelope();
    return out->Fold(envelope.getEvent(), envelope.getSigner().cStr(), seq);
  } catch (const kj::Exception& e) {
    return Status::Corruption("record_malformed", e.getDescription().cStr());
  }
}

}  // namespace

Status RebuildViews(const Journal& journal, const RebuildOptions& options, ViewRows* out,
                    uint64_t* records) {
  *records = 0;
  uint64_t head = journal.head().size;
  // Sized by the records stored, not by the head's key, which a changed store can set anywhere.
  out->Reserve(std::min(head, journal.EstimatedRecords()));
  ChunkQueue queue;
  std::thread scanner([&] { ScanChunks(journal, head, &queue); });
  Status failure;
  Chunk chunk;
  while (failure.ok() && queue.Pop(&chunk)) {
    for (size_t i = 0; i < chunk.records.size() && failure.ok(); ++i) {
      uint64_t seq = chunk.first_seq + i;
      auto [at, size] = chunk.records[i];
      failure = FoldRecord(
          kj::arrayPtr(reinterpret_cast<const capnp::word*>(chunk.words.data() + at), size), seq,
          out);
      if (!failure.ok()) {
        failure = Status::Corruption(failure.code(),
                                     "seq " + std::to_string(seq) + ": " + failure.message());
        break;
      }
      out->Commit();
      ++*records;
    }
    if (options.progress && failure.ok()) options.progress(*records, head);
  }
  queue.Stop();
  scanner.join();
  FL_RETURN_IF_ERROR(failure);
  return queue.status();
}

Status DiffViewRange(const Journal& journal, const ViewRows& rebuilt,
                     const ViewRows::KeyRange& range, const RowDiffFn& diff, uint64_t* equal,
                     uint64_t* keyed_matched) {
  // The rows that are not keyed are merged in key order with the stored rows. A stored keyed
  // row (movement, payment) is looked up among the rebuilt ones where the walk meets it, which
  // spares sorting a million of them; rebuilt keyed rows that are not stored show as a count
  // short (DiffUnstoredKeyedRows).
  std::string keyed_value;
  auto stored = journal.NewCursor(storage::kProjectionsFamily, range.from);
  auto stored_before = [&](const std::string_view* key) {
    while (stored->Valid() && (key == nullptr || stored->key() < *key)) {
      std::string_view stored_key = stored->key(), stored_value = stored->value();
      if (!range.Contains(stored_key)) return;  // past the range's end
      if (!ViewRows::IsKeyedRow(stored_key) || !rebuilt.FindKeyedRow(stored_key, &keyed_value)) {
        diff(stored_key, nullptr, &stored_value);
      } else {
        ++*keyed_matched;
        if (stored_value == keyed_value) {
          ++*equal;
        } else {
          std::string_view now = keyed_value;
          diff(stored_key, &now, &stored_value);
        }
      }
      stored->Next();
    }
  };
  rebuilt.ForEachRow(
      [&](std::string_view key, std::string_view value) {
        stored_before(&key);
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
      },
      /*with_keyed=*/false, range);
  stored_before(nullptr);
  return stored->status();
}

Status DiffUnstoredKeyedRows(const Journal& journal, const ViewRows& rebuilt,
                             uint64_t keyed_matched, const RowDiffFn& diff) {
  if (keyed_matched == rebuilt.keyed_row_count()) return Status::Ok();
  auto again = journal.NewCursor(storage::kProjectionsFamily);
  rebuilt.ForEachKeyedRow([&](std::string_view key, std::string_view value) {
    while (again->Valid() && again->key() < key) again->Next();
    if (again->Valid() && again->key() == key) return;  // compared above
    diff(key, &value, nullptr);
  });
  return again->status();
}

Status DiffViews(const Journal& journal, const ViewRows& rebuilt, const RowDiffFn& diff,
                 uint64_t* equal) {
  *equal = 0;
  uint64_t keyed_matched = 0;
  FL_RETURN_IF_ERROR(DiffViewRange(journal, rebuilt, {}, diff, equal, &keyed_matched));
  return DiffUnstoredKeyedRows(journal, rebuilt, keyed_matched, diff);
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
