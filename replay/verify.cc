#include "replay/verify.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "ledger/parallel.h"
#include "ledger/rules.h"
#include "ledger/state.h"
#include "ledger/storage_format.h"
#include "replay/rebuild.h"
#include "replay/view_rows.h"

namespace fundledger {
namespace {

// Records per batch handed to the checking threads: small enough that no worker idles long at
// the end, large enough that the queue's lock is cheap per record.
constexpr size_t kCheckBatchRecords = 256;
// Words an event takes, for the room of a batch's events: typical events take 30 to 80.
constexpr size_t kEventWordsTypical = 64;
// How often (in records) progress is reported.
constexpr uint64_t kProgressRecords = 16384;

Status Bad(uint64_t seq, std::string_view code, const std::string& what) {
  return Status::Corruption(code, "seq " + std::to_string(seq) + ": " + what);
}

struct Pending {
  uint64_t seq;
  SignedEvent event;
  PublicKey key;
};

// The per-record checks that need no state (signature, one JSON form), on worker threads fed
// in batches through a bounded queue. The verifying thread is one of the `threads`: it hands
// batches over as its sequential checks pass them; when the queue is full it checks the oldest
// batch itself instead of waiting, and at the end it drains the queue beside the workers. So
// every core stays busy whichever side is slower, no core is shared by two threads (a thread per
// core more would time-slice with the others and cool their caches), and small batches keep the
// workers from idling at the end of one large chunk.
//
// Thread safety: Submit, Finish and failed are called by the verifying thread only.
class RecordChecker {
 public:
  struct Result {
    uint64_t first_bad = UINT64_MAX;  // the lowest failing seq, if any
    Status failure;                   // its failure
  };

  // `threads` counts the calling thread: threads - 1 workers are started.
  explicit RecordChecker(unsigned threads) {
    for (unsigned i = 1; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~RecordChecker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& worker : workers_) worker.join();
  }
  RecordChecker(const RecordChecker&) = delete;
  RecordChecker& operator=(const RecordChecker&) = delete;

  void Submit(std::vector<Pending> batch) {
    if (batch.empty()) return;
    if (workers_.empty()) {
      Check(batch);
      return;
    }
    std::unique_lock<std::mutex> lock(mu_);
    while (queue_.size() >= kQueueBatchesMax) {
      std::vector<Pending> oldest = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      Check(oldest);
      lock.lock();
    }
    queue_.push_back(std::move(batch));
    lock.unlock();
    work_cv_.notify_one();
  }

  // Checks the batches still queued beside the workers, then waits until every batch submitted
  // is checked; the lowest failure among them.
  Result Finish() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!queue_.empty()) {
      std::vector<Pending> oldest = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      Check(oldest);
      lock.lock();
    }
    idle_cv_.wait(lock, [&] { return queue_.empty() && busy_ == 0; });
    return result_;
  }

  // Whether some record has failed already (cheap; for stopping early).
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  // Records checked so far, for progress displays.
  uint64_t checked() const { return checked_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kQueueBatchesMax = 32;

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      std::vector<Pending> batch = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
      lock.unlock();
      Check(batch);
      lock.lock();
      --busy_;
      if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
    }
  }

  // The JSON forms of the batch first, then its signatures: each loop keeps its own code and
  // tables in the core's caches.
  void Check(const std::vector<Pending>& batch) {
    for (const Pending& p : batch) {
      Status s = p.event.CheckOneJsonForm();
      if (!s.ok()) NoteFailure(p.seq, Bad(p.seq, "record_event_malformed", s.ToString()));
    }
    for (const Pending& p : batch) {
      if (!VerifyEventSignature(p.key, p.event.canonical_event(), p.event.signature())) {
        // Named as the journal names it at submission: the field and the event's id.
        NoteFailure(p.seq, Status::Corruption("signature_invalid",
                                              "seq " + std::to_string(p.seq) +
                                                  ": the signature does not verify with " +
                                                  p.event.signer() + "'s key at that point",
                                              "signature")
                               .WithEventId(p.event.id()));
      }
    }
    checked_.fetch_add(batch.size(), std::memory_order_relaxed);
  }

  // A record's failure; the lowest seq's is kept.
  void NoteFailure(uint64_t seq, const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    if (seq < result_.first_bad) result_ = {seq, s};
  }

  std::mutex mu_;
  std::condition_variable work_cv_;  // a batch is queued, or stopping
  std::condition_variable idle_cv_;  // the queue is empty and no worker is checking
  std::deque<std::vector<Pending>> queue_;
  size_t busy_ = 0;  // workers checking a batch
  bool stop_ = false;
  Result result_;
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> checked_{0};
  std::vector<std::thread> workers_;
};

// A keyed fingerprint of a set of (event id, seq) pairs: their count and the lane-wise sum of
// a 128-bit SipHash of each pair, under a key drawn for one verification. Stored rows, written
// before the key was drawn, whose pairs differ from the records' match their fingerprint with a
// probability of about 2^-128. It replaces a point read of the id row per record.
class IdFingerprint {
 public:
  using Key = std::array<uint8_t, crypto_shorthash_siphashx24_KEYBYTES>;
  static Key NewKey() {
    Key key;
    randombytes_buf(key.data(), key.size());
    return key;
  }
  explicit IdFingerprint(const Key& key) : key_(key) {}

  void Add(std::string_view id, uint64_t seq) {
    input_.assign(id);
    input_ += storage::EncodeU64(seq);
    uint8_t out[crypto_shorthash_siphashx24_BYTES];
    crypto_shorthash_siphashx24(out, reinterpret_cast<const uint8_t*>(input_.data()), input_.size(),
                                key_.data());
    uint64_t lane[2];
    memcpy(lane, out, sizeof(lane));
    sum_[0] += lane[0];
    sum_[1] += lane[1];
    ++count_;
  }
  bool operator==(const IdFingerprint& other) const {
    return count_ == other.count_ && sum_[0] == other.sum_[0] && sum_[1] == other.sum_[1];
  }
  const Key& key() const { return key_; }

 private:
  Key key_;
  uint64_t count_ = 0;
  uint64_t sum_[2] = {0, 0};
  std::string input_;  // reused
};

class LedgerVerifier {
 public:
  LedgerVerifier(const Journal& journal, const VerifyOptions& options, VerifyReport* report)
      : journal_(journal), options_(options), report_(report) {}

  Status Run() {
    head_size_ = journal_.head().size;
    // The head is the last record's key, which a changed store can set anywhere: the tables are
    // sized by the records the store holds.
    const uint64_t expected_records = std::min(head_size_, journal_.EstimatedRecords());
    views_->Reserve(expected_records);
    state_->Reserve(expected_records);
    state_->set_direct();  // the first refused event ends the verification
    FL_RETURN_IF_ERROR(journal_.ScanCheckpoints([&](uint64_t size, std::string_view note) {
      checkpoints_.emplace(size, std::string(note));
      return true;
    }));
    if (!checkpoints_.empty() && checkpoints_.rbegin()->first > head_size_) {
      return Status::Corruption(
          "records_missing", "a checkpoint covers " + std::to_string(checkpoints_.rbegin()->first) +
                                 " records but the journal ends at seq " +
                                 std::to_string(head_size_));
    }
    // A checkpoint of the empty log is checked like any other (against the empty tree's root).
    if (auto it = checkpoints_.find(0); it != checkpoints_.end()) {
      FL_RETURN_IF_ERROR(CheckCheckpoint(0, it->second));
    }
    // Seqs start at 1: a row stored before seq 1 is no record of the log.
    const std::string first_seq = storage::EncodeU64(1);
    std::string before_first;
    FL_RETURN_IF_ERROR(
        journal_.ScanFamily(storage::kRecordsFamily, [&](std::string_view key, std::string_view) {
          if (key < first_seq) before_first = storage::PrintableKey(key);
          return false;
        }));
    if (!before_first.empty()) {
      return Status::Corruption(
          "record_key_invalid",
          "a row is stored under the key \"" + before_first + "\", before seq 1 (seqs start at 1)");
    }
    checker_ = std::make_unique<RecordChecker>(ThreadsOrCores(options_.threads));
    Status failure;
    FL_RETURN_IF_ERROR(journal_.ScanRecords(1, [&](uint64_t seq, std::string_view bytes) {
      if (seq > head_size_) return false;
      failure = CheckRecord(seq, bytes);
      if (failure.ok() && batch_.size() >= kCheckBatchRecords) {
        checker_->Submit(std::move(batch_));
        batch_.clear();
        batch_.reserve(kCheckBatchRecords);
        arena_ = EventArena::New(kCheckBatchRecords, kEventWordsTypical);
        if (options_.progress && seq % kProgressRecords < kCheckBatchRecords) {
          options_.progress(checker_->checked(), head_size_);
        }
        // A failed signature ends the scan; Finish names the first failure.
        if (checker_->failed()) return false;
      }
      return failure.ok();
    }));
    if (!failure.ok()) {
      Status earlier = EarlierFailure();
      return EarlierIdFailure(earlier.ok() ? failure : earlier);
    }
    checker_->Submit(std::move(batch_));
    if (Status s = Settle(checker_->Finish()); !s.ok()) return EarlierIdFailure(s);
    report_->records = report_->signatures = range_.size();
    if (options_.progress) options_.progress(range_.size(), head_size_);
    if (range_.size() != head_size_) {
      return Bad(range_.size() + 1, "record_missing", "record is missing");
    }
    return CompareStoredRows();
  }

 private:
  Status Fail(uint64_t seq, Status s) {
    report_->first_bad_seq = seq;
    report_->records = seq - 1;
    return s;
  }

  // Structural checks of one record, in order; rules are applied here too (they are cheap);
  // signatures are deferred to the checking threads. A canonical record can still hold a field
  // that Cap'n Proto refuses to read (a text without its NUL, a pointer of the wrong kind); the
  // rules and views read the event before the checking threads check its JSON form, so such a
  // record is named here rather than ending the process.
  Status CheckRecord(uint64_t seq, std::string_view bytes) {
    try {
      return CheckReadableRecord(seq, bytes);
    } catch (const kj::Exception& e) {
      return Fail(seq, Bad(seq, "record_event_malformed",
                           "a field of the event cannot be read: " +
                               storage::PrintableKey(e.getDescription().cStr())));
    }
  }

  Status CheckReadableRecord(uint64_t seq, std::string_view bytes) {
    uint64_t expected = range_.size() + 1;
    if (seq != expected) return Fail(expected, Bad(expected, "record_missing", "record missing"));
    RecordReader record;
    Status s = RecordReader::Open(bytes, &record);
    if (!s.ok()) return Fail(seq, Bad(seq, s.code(), s.message()));
    auto r = record.record();
    if (r.getSeq() != seq) return Fail(seq, Bad(seq, "record_seq_mismatch", "seq field differs"));
    if (r.getRecordedAtMs() < last_recorded_at_ms_) {
      return Fail(seq, Bad(seq, "record_time_backwards", "recorded before its predecessor"));
    }
    last_recorded_at_ms_ = r.getRecordedAtMs();
    Pending pending{seq, SignedEvent(), PublicKey{}};
    // The one-JSON-form check is per record and needs no state: it runs with the signatures.
    s = SignedEvent::FromStoredRecord(record, arena_, &pending.event);
    if (!s.ok()) return Fail(seq, Bad(seq, "record_event_malformed", s.ToString()));

    FL_RETURN_IF_ERROR(CheckTree(seq, bytes));
    capnp::Text::Reader id = pending.event.event().getId();
    record_ids_.Add(std::string_view(id.cStr(), id.size()), seq);
    s = SignerKey(*state_, pending.event, &pending.key);
    if (s.ok()) s = ApplyEvent(pending.event, EventContext{seq, r.getRecordedAtMs()}, state_.get());
    if (!s.ok()) {
      // The rule's own code and field, and the event's id, as its submission would be refused.
      return Fail(seq, Status::Corruption(
                           s.code(), "seq " + std::to_string(seq) + ": " + s.message(), s.field())
                           .WithEventId(pending.event.id()));
    }
    s = views_->OnAccepted(pending.event, EventContext{seq, r.getRecordedAtMs()}, *state_);
    if (!s.ok()) return Fail(seq, Bad(seq, s.code(), s.message()));
    state_->Commit();
    views_->Commit();
    batch_.push_back(std::move(pending));
    return Status::Ok();
  }

  Status CheckTree(uint64_t seq, std::string_view bytes) {
    Status failure;
    range_.Append(MerkleLeafHash(AsBytes(bytes)), [&](uint32_t level, uint64_t index,
                                                      const Hash& hash) {
      if (!failure.ok()) return;
      if (!StoredNodeEquals(level, index, hash)) {
        failure = Fail(seq, Bad(seq, level == 0 ? "leaf_hash_mismatch" : "tree_node_mismatch",
                                "stored tree node " + std::to_string(level) + "/" +
                                    std::to_string(index) + " differs from the recomputed one"));
      }
    });
    FL_RETURN_IF_ERROR(failure);
    if (auto it = checkpoints_.find(range_.size()); it != checkpoints_.end()) {
      FL_RETURN_IF_ERROR(CheckCheckpoint(it->first, it->second));
    } else if (range_.size() % storage::kCheckpointEveryEvents == 0) {
      // The journal writes one in the batch of every 10,000th record: without it, the log's
      // signed view of this point was removed (as it would be to hide a history rewritten by
      // someone without the log key).
      return Fail(seq, Bad(seq, "checkpoint_missing",
                           "no checkpoint at " + std::to_string(range_.size()) +
                               " records, where the journal writes one with every " +
                               std::to_string(storage::kCheckpointEveryEvents) + "th record"));
    }
    return Status::Ok();
  }

  // Whether the stored tree node (level, index) is `hash`. Nodes of a level are completed in
  // index order, so each level is read by its own cursor walking forward, not by a point read
  // per node.
  bool StoredNodeEquals(uint32_t level, uint64_t index, const Hash& hash) {
    if (tree_cursors_.size() <= level) tree_cursors_.resize(level + 1);
    auto& cursor = tree_cursors_[level];
    if (!cursor) cursor = journal_.NewCursor(storage::kTreeFamily, storage::TreeKey(level, 0));
    std::string key = storage::TreeKey(level, index);
    while (cursor->Valid() && cursor->key() < key) cursor->Next();  // rows no node needs
    if (!cursor->Valid() || cursor->key() != key) return false;
    std::string_view stored = cursor->value();
    bool equal =
        stored.size() == hash.size() && memcmp(stored.data(), hash.data(), hash.size()) == 0;
    cursor->Next();
    return equal;
  }

  Status CheckCheckpoint(uint64_t size, const std::string& note) {
    Checkpoint checkpoint;
    Status s = OpenCheckpoint(note, journal_.log_verifier(), &checkpoint);
    if (!s.ok()) {
      return Status::Corruption("checkpoint_invalid",
                                "checkpoint at size " + std::to_string(size) + ": " + s.message());
    }
    if (checkpoint.origin != journal_.origin()) {
      // Not the records' fault: the checkpoint or the ledger's stored origin was changed.
      return Status::Corruption("checkpoint_mismatch",
                                "checkpoint at size " + std::to_string(size) +
                                    " names the origin \"" + checkpoint.origin +
                                    "\", not the ledger's stored origin \"" + journal_.origin() +
                                    "\"");
    }
    if (checkpoint.size != size || checkpoint.root != range_.Root()) {
      report_->first_bad_seq = size;
      return Status::Corruption("checkpoint_mismatch",
                                "checkpoint at size " + std::to_string(size) +
                                    " does not match the recomputed tree (records up to seq " +
                                    std::to_string(size) + " differ from what was signed)");
    }
    ++report_->checkpoints;
    report_->checkpointed_size = std::max(report_->checkpointed_size, size);
    return Status::Ok();
  }

  // After a sequential check failed: a per-record failure of an earlier record, handed over
  // or not, is the first one.
  Status EarlierFailure() {
    checker_->Submit(std::move(batch_));
    RecordChecker::Result result = checker_->Finish();
    uint64_t sequential_bad = report_->first_bad_seq ? report_->first_bad_seq : UINT64_MAX;
    return result.first_bad < sequential_bad ? Settle(result) : Status::Ok();
  }

  // Records the checks' outcome in the report (on the verifying thread).
  Status Settle(const RecordChecker::Result& result) {
    if (result.first_bad != UINT64_MAX) {
      report_->first_bad_seq = result.first_bad;
      report_->records = result.first_bad - 1;
      report_->signatures = result.first_bad - 1;
      return result.failure;
    }
    return Status::Ok();
  }

  // Every record's id row points at it, and there is no other id row within the head: the id
  // rows within the head, fingerprinted, equal the records' (id, seq) pairs. When they differ,
  // the first record whose id row does not point at it is searched for and named. An id row
  // pointing past the verified head is left by a record cut from the end of the log (its
  // submitter may hold a receipt for it), unless a concurrent append has since written that
  // record.
  Status CheckIdRows() {
    IdFingerprint stored(record_ids_.key());
    uint64_t missing = 0;
    bool malformed = false;
    std::string bytes;
    FL_RETURN_IF_ERROR(
        journal_.ScanFamily(storage::kIdsFamily, [&](std::string_view id, std::string_view value) {
          uint64_t seq = value.size() == 8 ? storage::DecodeU64(value) : 0;
          if (seq == 0) {
            malformed = true;
          } else if (seq <= head_size_) {
            stored.Add(id, seq);
          } else if (!journal_.ReadRecord(seq, &bytes).ok() && (missing == 0 || seq < missing)) {
            missing = seq;
          }
          return true;
        }));
    if (malformed || !(stored == record_ids_)) {
      FL_RETURN_IF_ERROR(FirstIdFailure(head_size_ + 1));
      return Status::Corruption("id_index_mismatch", "the id rows are not one per record");
    }
    if (missing != 0) {
      return Fail(missing,
                  Bad(missing, "record_missing", "an id row points at this missing record"));
    }
    return Status::Ok();
  }

  // The first record before `before_seq` whose id row does not point at it, by a point read per
  // record: only once something is known to be wrong.
  Status FirstIdFailure(uint64_t before_seq) {
    Status failure;
    FL_RETURN_IF_ERROR(journal_.ScanRecords(1, [&](uint64_t seq, std::string_view bytes) {
      if (seq >= before_seq) return false;
      RecordReader record;
      SignedEvent event;
      if (!RecordReader::Open(bytes, &record).ok() ||
          !SignedEvent::FromStoredRecord(record, &event).ok()) {
        return false;  // checked in order before; not reached below a failure
      }
      uint64_t id_seq = 0;
      if (!journal_.FindEvent(event.id(), &id_seq).ok() || id_seq != seq) {
        failure = Fail(seq, Bad(seq, "id_index_mismatch",
                                "id " + event.id() + " does not point at this record"));
      }
      return failure.ok();
    }));
    return failure;
  }

  // `failure` was found at report_->first_bad_seq; an id row of an earlier record that does not
  // point at it is the first failure instead.
  Status EarlierIdFailure(Status failure) {
    if (report_->first_bad_seq > 1) FL_RETURN_IF_ERROR(FirstIdFailure(report_->first_bad_seq));
    return failure;
  }

  // The id rows, the state rows and the view rows are compared with the rebuilt ones in parts,
  // on as many threads as checked the records (they are idle now), and the rebuilt tables are
  // then freed on two. The parts are taken largest first so that the threads end together; a
  // failure is reported in the order ids, registry, accounts, projections (in key order).
  Status CompareStoredRows() {
    // The projections by kind of row (view_rows.h): the movements ('v'), the payments ('d')
    // and the histories ('x') are the large parts.
    static constexpr ViewRows::KeyRange kViewParts[] = {
        {"", "d"}, {"d", "e"}, {"e", "v"}, {"v", "w"}, {"w", ""}};
    constexpr size_t kParts = std::size(kViewParts);
    Status ids, registry, accounts;
    Status projections[kParts];
    uint64_t keyed_matched[kParts] = {}, equal[kParts] = {};
    auto view_part = [&](size_t i) {
      return [&, i] {
        projections[i] = CompareProjections(kViewParts[i], &equal[i], &keyed_matched[i]);
      };
    };
    const std::function<void()> parts[] = {
        view_part(3),  // movements
        [&] { accounts = CompareState(storage::kAccountsFamily, "accounts_mismatch"); },
        view_part(1),  // payments
        view_part(4),  // histories
        [&] { ids = CheckIdRows(); },
        view_part(2),
        view_part(0),
        [&] { registry = CompareState(storage::kRegistryFamily, "registry_mismatch"); },
    };
    RunParts(parts, ThreadsOrCores(options_.threads));
    Status unstored;  // keyed rows rebuilt but not stored, looked for when the rest is equal
    if (std::all_of(std::begin(projections), std::end(projections),
                    [](const Status& s) { return s.ok(); })) {
      uint64_t matched = std::accumulate(std::begin(keyed_matched), std::end(keyed_matched), 0ull);
      Status found;
      unstored = DiffUnstoredKeyedRows(journal_, *views_, matched, ProjectionDiff(&found));
      if (unstored.ok()) unstored = found;
    }

    const bool keep = options_.keep_rebuilt != nullptr;
    if (keep) {
      struct Rebuilt {
        std::unique_ptr<LedgerState> state;
        std::unique_ptr<ViewRows> views;
      };
      *options_.keep_rebuilt =
          std::make_shared<Rebuilt>(Rebuilt{std::move(state_), std::move(views_)});
    } else {
      std::thread views_freed([&] { views_.reset(); });
      state_.reset();
      views_freed.join();
    }
    for (Status* s : {&ids, &registry, &accounts}) FL_RETURN_IF_ERROR(*s);
    for (const Status& s : projections) FL_RETURN_IF_ERROR(s);
    return unstored;
  }

  // Runs every part once on `threads` threads (the calling one among them), each taking the
  // next part not yet taken.
  template <size_t N>
  static void RunParts(const std::function<void()> (&parts)[N], unsigned threads) {
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < N;) parts[i]();
    };
    std::vector<std::thread> helpers;
    for (unsigned t = 1; t < std::min<size_t>(threads, N); ++t) helpers.emplace_back(work);
    work();
    for (auto& helper : helpers) helper.join();
  }

  // The state rebuilt from the records (registry, accounts, projects, policies, event facts,
  // findings) must equal the stored rows byte for byte. The stored rows are walked in key order
  // and each is looked up among the rebuilt ones, so the first differing stored row is named;
  // a rebuilt row that is not stored shows as a count short, and is then searched for.
  Status CompareState(std::string_view family, std::string_view code) {
    auto differs = [&](std::string_view key, std::string_view what) {
      return Status::Corruption(code, "stored " + std::string(family) + " row " +
                                          storage::PrintableKey(key) + " " + std::string(what));
    };
    uint64_t matched = 0;
    std::string rebuilt;
    auto cursor = journal_.NewCursor(family);
    for (; cursor->Valid(); cursor->Next()) {
      if (!state_->FindRow(family, cursor->key(), &rebuilt)) {
        return differs(cursor->key(), "is not rebuilt from any record");
      }
      if (rebuilt != cursor->value()) {
        return differs(cursor->key(), "differs from the one rebuilt from the records");
      }
      ++matched;
    }
    FL_RETURN_IF_ERROR(cursor->status());
    if (matched == state_->RowCount(family)) return Status::Ok();
    Status failure;
    std::string stored;
    state_->ForEachRow(family, [&](std::string_view key, std::string_view) {
      bool found = false;
      if (!failure.ok()) return;
      failure = journal_.Get(family, key, &stored, &found);
      if (failure.ok() && !found)
        failure = differs(key, "is missing (it is rebuilt from the records)");
    });
    FL_RETURN_IF_ERROR(failure);
    return Status::Corruption(code, "the stored " + std::string(family) +
                                        " rows are not the rebuilt ones");  // not reached
  }

  // The rebuilt view rows of `range` must equal the stored ones byte for byte; both are walked
  // in key order side by side, so the first differing row is named. The keyed rows rebuilt but
  // not stored are looked for once every range is walked (by the caller).
  Status CompareProjections(const ViewRows::KeyRange& range, uint64_t* equal,
                            uint64_t* keyed_matched) {
    Status failure;
    FL_RETURN_IF_ERROR(
        DiffViewRange(journal_, *views_, range, ProjectionDiff(&failure), equal, keyed_matched));
    return failure;
  }

  // A RowDiffFn that keeps the first difference it is called with as `*failure`.
  static RowDiffFn ProjectionDiff(Status* failure) {
    return [failure](std::string_view key, const std::string_view* rebuilt,
                     const std::string_view* stored) {
      if (!failure->ok()) return;
      std::string what = rebuilt == nullptr  ? "is not rebuilt from any record"
                         : stored == nullptr ? "is missing (it is rebuilt from the records)"
                                             : "differs from the one rebuilt from the records";
      if (key == ViewRows::kVersionKey) {
        // Every row may differ then: the views were written by a build of another format.
        what += ": the views are not of this build's format " +
                std::string(ViewRows::kViewsVersion) +
                "; opening the ledger to write, or `fundledger replay`, rebuilds them";
      }
      *failure =
          Status::Corruption("projections_mismatch",
                             "stored projections row " + storage::PrintableKey(key) + " " + what);
    };
  }

  const Journal& journal_;
  const VerifyOptions& options_;
  VerifyReport* report_;
  uint64_t head_size_ = 0;
  std::map<uint64_t, std::string> checkpoints_;
  // Rebuilt from the records; freed once compared (their destruction takes a while).
  std::unique_ptr<LedgerState> state_ = std::make_unique<LedgerState>();
  std::unique_ptr<ViewRows> views_ = std::make_unique<ViewRows>();
  CompactRange range_;
  IdFingerprint record_ids_{IdFingerprint::NewKey()};              // of every record verified
  std::vector<std::unique_ptr<Journal::RowCursor>> tree_cursors_;  // by level
  int64_t last_recorded_at_ms_ = 0;
  std::vector<Pending> batch_;  // checked sequentially, not yet handed to the checker
  // Holds the events of batch_: a batch's events are freed together, by the thread that last
  // holds one of them, rather than one by one across threads.
  std::shared_ptr<EventArena> arena_ = EventArena::New(kCheckBatchRecords, kEventWordsTypical);
  std::unique_ptr<RecordChecker> checker_;
};

}  // namespace

void LeaveToExit(std::shared_ptr<void> memory) {
  static std::mutex mu;
  static auto* kept = new std::vector<std::shared_ptr<void>>();  // never freed, by design
  std::lock_guard<std::mutex> lock(mu);
  kept->push_back(std::move(memory));
}

Status VerifyLedger(const Journal& journal, const VerifyOptions& options, VerifyReport* report) {
  *report = VerifyReport{};
  LedgerVerifier verifier(journal, options, report);
  return verifier.Run();
}

Status VerifyHeldCheckpoint(const Journal& journal, std::string_view note,
                            const NoteVerifier& log_key) {
  Checkpoint held;
  FL_RETURN_IF_ERROR(OpenCheckpoint(note, log_key, &held));
  const Journal::Head head = journal.head();
  const Checkpoint latest{journal.origin(), head.size, head.root};
  std::vector<Hash> proof;
  if (held.origin == latest.origin && held.size > 0 && held.size < head.size) {
    Hash root1, root2;
    FL_RETURN_IF_ERROR(journal.ConsistencyProof(held.size, head.size, &proof, &root1, &root2));
  }
  return CheckpointExtends(held, latest, proof);
}

}  // namespace fundledger
