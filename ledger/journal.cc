#include "ledger/journal.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <filesystem>
#include <map>

#include "crypto/encoding.h"
#include "ledger/key_file.h"
#include "ledger/parallel.h"
#include "ledger/rules.h"
#include "ledger/storage_format.h"

namespace fundledger {

namespace fs = std::filesystem;

struct Journal::Families {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // owned; destroyed before the DB
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> by_name;
};

class Journal::TreeReader : public NodeReader {
 public:
  explicit TreeReader(const Journal* journal) : journal_(journal) {}
  Status ReadNode(uint32_t level, uint64_t index, Hash* out) const override {
    std::string value;
    auto s = journal_->db_->Get(rocksdb::ReadOptions(), journal_->Family(storage::kTreeFamily),
                                storage::TreeKey(level, index), &value);
    if (s.IsNotFound()) {
      return Status::NotFound("tree_node_missing", "tree node " + std::to_string(level) + "/" +
                                                       std::to_string(index) + " is not stored");
    }
    if (!s.ok()) return Status::IOError("rocksdb", s.ToString());
    if (value.size() != out->size()) {
      return Status::Corruption(
          "tree_node_malformed",
          "tree node " + std::to_string(level) + "/" + std::to_string(index) + " is not 32 bytes");
    }
    std::copy(value.begin(), value.end(), out->begin());
    return Status::Ok();
  }

 private:
  const Journal* journal_;
};

namespace {

const std::vector<std::string_view>& FamilyNames() {
  static const std::vector<std::string_view> names = {
      storage::kMetaFamily,     storage::kRecordsFamily,     storage::kIdsFamily,
      storage::kTreeFamily,     storage::kCheckpointsFamily, storage::kRegistryFamily,
      storage::kAccountsFamily, storage::kProjectionsFamily, storage::kIndexFamily};
  return names;
}

Status FromRocks(const rocksdb::Status& s) {
  if (s.ok()) return Status::Ok();
  if (s.IsNotFound()) return Status::NotFound("rocksdb_not_found", s.ToString());
  if (s.IsCorruption()) return Status::Corruption("rocksdb_corruption", s.ToString());
  return Status::IOError("rocksdb", s.ToString());
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

}  // namespace

Journal::Journal() : tree_(std::make_unique<TreeReader>(this)), state_(this) {}

const NodeReader& Journal::tree() const { return *tree_; }

Journal::~Journal() {
  if (db_ && families_) {
    for (auto* handle : families_->handles) {
      db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
  }
}

rocksdb::ColumnFamilyHandle* Journal::Family(std::string_view name) const {
  return families_->by_name.find(name)->second;
}

int64_t Journal::NowMs() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

Status Journal::OpenDb(const std::string& dir, bool create, const JournalOptions& options,
                       std::unique_ptr<Journal>* out) {
  std::unique_ptr<Journal> journal(new Journal());
  journal->options_ = options;
  journal->dir_ = dir;
  rocksdb::Options db_options;
  db_options.create_if_missing = create;
  db_options.error_if_exists = create;
  db_options.create_missing_column_families = create;
  // Group commit depends on few, large synced batches; pipelining lets the WAL write of one
  // batch overlap the memtable insert of the previous.
  db_options.enable_pipelined_write = true;
  db_options.IncreaseParallelism(int(std::max(2u, std::thread::hardware_concurrency())));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (auto name : FamilyNames()) {
    descriptors.emplace_back(std::string(name), rocksdb::ColumnFamilyOptions(db_options));
  }
  std::string db_path = (fs::path(dir) / storage::kDatabaseDir).string();
  auto families = std::make_unique<Families>();
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, db_path, descriptors, &families->handles, &db);
  } else {
    s = rocksdb::DB::Open(db_options, db_path, descriptors, &families->handles, &db);
  }
  if (!s.ok()) {
    if (!create && !fs::exists(db_path)) {
      return Status::NotFound("ledger_missing", dir + " holds no ledger (run init)");
    }
    return FromRocks(s);
  }
  journal->db_.reset(db);
  for (size_t i = 0; i < descriptors.size(); ++i) {
    families->by_name[descriptors[i].name] = families->handles[i];
  }
  journal->families_ = std::move(families);
  *out = std::move(journal);
  return Status::Ok();
}

Status Journal::Create(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       const JournalOptions& options, std::unique_ptr<Journal>* out) {
  if (origin.empty() || origin.find('\n') != std::string_view::npos) {
    return Status::InvalidArgument("bad_origin", "the origin is one non-empty line", "origin");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("mkdir", dir + ": " + ec.message());
  std::string key_path = (fs::path(dir) / storage::kLogKeyFile).string();
  if (fs::exists(fs::path(dir) / storage::kDatabaseDir) || fs::exists(key_path)) {
    return Status::InvalidArgument("ledger_exists", dir + " already holds a ledger");
  }
  std::unique_ptr<Journal> journal;
  JournalOptions write_options = options;
  write_options.read_only = false;
  FL_RETURN_IF_ERROR(OpenDb(dir, /*create=*/true, write_options, &journal));
  FL_RETURN_IF_ERROR(WriteSecretKeyFile(key_path, log_key));
  rocksdb::WriteBatch batch;
  auto* meta = journal->Family(storage::kMetaFamily);
  batch.Put(meta, ToSlice(storage::kMetaFormatVersion), std::to_string(storage::kFormatVersion));
  batch.Put(meta, ToSlice(storage::kMetaOrigin), ToSlice(origin));
  batch.Put(meta, ToSlice(storage::kMetaLogVerifierKey),
            FormatVerifierKey(log_key.name, log_key.key.public_key()));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  FL_RETURN_IF_ERROR(FromRocks(journal->db_->Write(sync, &batch)));
  FL_RETURN_IF_ERROR(journal->Load());
  *out = std::move(journal);
  return Status::Ok();
}

Status Journal::Open(const std::string& dir, const JournalOptions& options,
                     std::unique_ptr<Journal>* out) {
  std::unique_ptr<Journal> journal;
  FL_RETURN_IF_ERROR(OpenDb(dir, /*create=*/false, options, &journal));
  FL_RETURN_IF_ERROR(journal->Load());
  *out = std::move(journal);
  return Status::Ok();
}

Status Journal::Load() {
  auto* meta = Family(storage::kMetaFamily);
  std::string version, vkey;
  FL_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), meta, ToSlice(storage::kMetaFormatVersion), &version)));
  if (version != std::to_string(storage::kFormatVersion)) {
    return Status::Corruption("format_version_unknown",
                              "ledger format version " + version +
                                  " is not supported (this "
                                  "build reads version " +
                                  std::to_string(storage::kFormatVersion) + ")");
  }
  FL_RETURN_IF_ERROR(
      FromRocks(db_->Get(rocksdb::ReadOptions(), meta, ToSlice(storage::kMetaOrigin), &origin_)));
  FL_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), meta, ToSlice(storage::kMetaLogVerifierKey), &vkey)));
  Status s = ParseVerifierKey(vkey, &log_verifier_);
  if (!s.ok()) return Status::Corruption("log_key_malformed", s.message());

  if (!options_.read_only) {
    std::string key_path = (fs::path(dir_) / storage::kLogKeyFile).string();
    NoteSigner signer;
    FL_RETURN_IF_ERROR(ReadSecretKeyFile(key_path, &signer));
    if (signer.key.public_key() != log_verifier_.key || signer.name != log_verifier_.name) {
      return Status::Corruption("log_key_mismatch", key_path + " is not this ledger's log key");
    }
    log_signer_ = std::move(signer);
  }

  // Head: the last record.
  uint64_t size = 0;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), Family(storage::kRecordsFamily)));
  it->SeekToLast();
  FL_RETURN_IF_ERROR(FromRocks(it->status()));
  if (it->Valid()) {
    if (it->key().size() != 8) return Status::Corruption("record_key_malformed", "record key");
    size = storage::DecodeU64(it->key().ToStringView());
    RecordReader record;
    Status head = RecordReader::Open(it->value().ToStringView(), &record);
    if (head.ok()) {
      last_recorded_at_ms_ = record.record().getRecordedAtMs();
    } else if (!options_.read_only) {
      // A writer needs the head record's time; a reader (verification above all) can do without
      // it and must be able to open the ledger to name the bad record.
      return Status::Corruption(head.code(), "seq " + std::to_string(size) + ": " + head.message());
    }
  }
  FL_RETURN_IF_ERROR(CompactRange::Load(*tree_, size, &range_));

  // Registry and fund-domain state. Event facts (one per movement of money) stay on disk and
  // are read on demand, so opening does not grow with the history.
  for (auto family : {storage::kRegistryFamily, storage::kAccountsFamily}) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Family(family)));
    for (it->SeekToFirst(); it->Valid();) {
      std::string_view key = it->key().ToStringView();
      if (family == storage::kAccountsFamily && !key.empty() && key[0] == storage::kFactRow) {
        it->Seek(std::string(1, char(storage::kFactRow + 1)));
        continue;
      }
      if (!state_.LoadRow(family, key, it->value().ToStringView())) {
        return Status::Corruption("state_row_malformed", std::string(family) + " row " +
                                                             std::string(key) + " is malformed");
      }
      it->Next();
    }
    FL_RETURN_IF_ERROR(FromRocks(it->status()));
  }
  // A writer must not build on unbalanced accounts; a reader (verification) opens anyway so
  // that it can name the row that differs.
  if (state_.balance_sum() != 0 && !options_.read_only) {
    return Status::Corruption("accounts_unbalanced", "the stored accounts do not sum to zero");
  }

  // Latest checkpoint, and the time of the record it ends at.
  std::unique_ptr<rocksdb::Iterator> cp(
      db_->NewIterator(rocksdb::ReadOptions(), Family(storage::kCheckpointsFamily)));
  cp->SeekToLast();
  FL_RETURN_IF_ERROR(FromRocks(cp->status()));
  if (cp->Valid()) last_checkpoint_size_ = storage::DecodeU64(cp->key().ToStringView());
  if (size > 0) {
    // The time of the last checkpointed record, or of the first record if none is.
    std::string bytes;
    if (ReadRecord(std::max<uint64_t>(1, last_checkpoint_size_), &bytes).ok()) {
      RecordReader record;
      if (RecordReader::Open(bytes, &record).ok()) {
        last_checkpoint_ms_ = record.record().getRecordedAtMs();
      }
    }
  }
  return Status::Ok();
}

Journal::Head Journal::head() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {range_.size(), range_.Root()};
}

Status Journal::ReadRecord(uint64_t seq, std::string* bytes) const {
  auto s = db_->Get(rocksdb::ReadOptions(), Family(storage::kRecordsFamily),
                    storage::EncodeU64(seq), bytes);
  if (s.IsNotFound()) {
    return Status::NotFound("record_not_found", "no record " + std::to_string(seq));
  }
  return FromRocks(s);
}

Status Journal::ScanRecords(uint64_t from_seq,
                            const std::function<bool(uint64_t, std::string_view)>& fn) const {
  rocksdb::ReadOptions options;
  options.fill_cache = false;  // a full scan would evict the working set
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, Family(storage::kRecordsFamily)));
  for (it->Seek(storage::EncodeU64(from_seq)); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return Status::Corruption("record_key_malformed", "record key");
    if (!fn(storage::DecodeU64(it->key().ToStringView()), it->value().ToStringView())) break;
  }
  return FromRocks(it->status());
}

Status Journal::ScanFamily(
    std::string_view family,
    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  return ScanFamilyFrom(family, std::string_view(), fn);
}

Status Journal::ScanFamilyFrom(
    std::string_view family, std::string_view start,
    const std::function<bool(std::string_view, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), Family(family)));
  for (it->Seek(ToSlice(start)); it->Valid(); it->Next()) {
    if (!fn(it->key().ToStringView(), it->value().ToStringView())) break;
  }
  return FromRocks(it->status());
}

Journal::RowCursor::RowCursor(std::unique_ptr<rocksdb::Iterator> it) : it_(std::move(it)) {}
Journal::RowCursor::~RowCursor() = default;
bool Journal::RowCursor::Valid() const { return it_->Valid(); }
std::string_view Journal::RowCursor::key() const { return it_->key().ToStringView(); }
std::string_view Journal::RowCursor::value() const { return it_->value().ToStringView(); }
void Journal::RowCursor::Next() { it_->Next(); }
Status Journal::RowCursor::status() const { return FromRocks(it_->status()); }

std::unique_ptr<Journal::RowCursor> Journal::NewCursor(std::string_view family,
                                                       std::string_view start,
                                                       bool fill_cache) const {
  rocksdb::ReadOptions options;
  options.fill_cache = fill_cache;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options, Family(family)));
  it->Seek(ToSlice(start));
  return std::unique_ptr<RowCursor>(new RowCursor(std::move(it)));
}

Status Journal::WriteProjectionRows(const std::vector<LedgerState::Row>& puts,
                                    const std::vector<std::string>& deletes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (options_.read_only) return Status::InvalidArgument("read_only", "opened read-only");
  rocksdb::WriteBatch batch;
  rocksdb::ColumnFamilyHandle* family = Family(storage::kProjectionsFamily);
  for (const auto& row : puts) {
    if (row.family != storage::kProjectionsFamily) {
      return Status::InvalidArgument("projection_family", "views write the projections family");
    }
    batch.Put(family, ToSlice(row.key), ToSlice(row.value));
  }
  for (const std::string& key : deletes) batch.Delete(family, ToSlice(key));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return FromRocks(db_->Write(sync, &batch));
}

Status Journal::PutRawForTesting(std::string_view family, std::string_view key,
                                 std::string_view value) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return FromRocks(db_->Put(sync, Family(family), ToSlice(key), ToSlice(value)));
}

Status Journal::DeleteRawForTesting(std::string_view family, std::string_view key) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return FromRocks(db_->Delete(sync, Family(family), ToSlice(key)));
}

Status Journal::Get(std::string_view family, std::string_view key, std::string* value,
                    bool* found) const {
  auto s = db_->Get(rocksdb::ReadOptions(), Family(family), ToSlice(key), value);
  *found = s.ok();
  if (s.ok() || s.IsNotFound()) return Status::Ok();
  return FromRocks(s);
}

Status Journal::FindEvent(std::string_view id, uint64_t* seq) const {
  std::string value;
  auto s = db_->Get(rocksdb::ReadOptions(), Family(storage::kIdsFamily), ToSlice(id), &value);
  if (s.IsNotFound()) return Status::NotFound("event_not_found", "no event " + std::string(id));
  FL_RETURN_IF_ERROR(FromRocks(s));
  if (value.size() != 8) return Status::Corruption("id_row_malformed", "id row " + std::string(id));
  *seq = storage::DecodeU64(value);
  return Status::Ok();
}

Status Journal::InclusionProof(uint64_t seq, uint64_t tree_size, std::vector<Hash>* proof,
                               Hash* leaf_hash, Hash* root) const {
  uint64_t size = tree_size == 0 ? head().size : tree_size;
  if (seq == 0 || seq > size || size > head().size) {
    return Status::InvalidArgument("bad_proof_request",
                                   "need 1 <= seq <= tree size <= " + std::to_string(head().size));
  }
  FL_RETURN_IF_ERROR(tree_->ReadNode(0, seq - 1, leaf_hash));
  FL_RETURN_IF_ERROR(MerkleRoot(*tree_, size, root));
  return MerkleInclusionProof(*tree_, seq - 1, size, proof);
}

Status Journal::ConsistencyProof(uint64_t size1, uint64_t size2, std::vector<Hash>* proof,
                                 Hash* root1, Hash* root2) const {
  uint64_t head_size = head().size;
  if (size1 == 0 || size1 > size2 || size2 > head_size) {
    return Status::InvalidArgument("bad_proof_request",
                                   "need 1 <= from <= to <= " + std::to_string(head_size));
  }
  FL_RETURN_IF_ERROR(MerkleRoot(*tree_, size1, root1));
  FL_RETURN_IF_ERROR(MerkleRoot(*tree_, size2, root2));
  return MerkleConsistencyProof(*tree_, size1, size2, proof);
}

Status Journal::SignCheckpointAt(uint64_t size, const Hash& root, std::string* note) const {
  if (!log_signer_) return Status::InvalidArgument("log_key_missing", "no log key to sign with");
  return SignCheckpoint(Checkpoint{origin_, size, root}, *log_signer_, note);
}

Status Journal::WriteCheckpoint(std::string* note) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (range_.size() > last_checkpoint_size_) {
      if (options_.read_only || !log_signer_) {
        return Status::InvalidArgument("read_only", "this ledger is open read-only");
      }
      std::string signed_note;
      FL_RETURN_IF_ERROR(SignCheckpointAt(range_.size(), range_.Root(), &signed_note));
      rocksdb::WriteOptions sync;
      sync.sync = true;
      FL_RETURN_IF_ERROR(FromRocks(db_->Put(sync, Family(storage::kCheckpointsFamily),
                                            storage::EncodeU64(range_.size()), signed_note)));
      last_checkpoint_size_ = range_.size();
      last_checkpoint_ms_ = last_recorded_at_ms_;
    }
  }
  return LatestCheckpoint(note);
}

Status Journal::LatestCheckpoint(std::string* note) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), Family(storage::kCheckpointsFamily)));
  it->SeekToLast();
  FL_RETURN_IF_ERROR(FromRocks(it->status()));
  if (!it->Valid()) return Status::NotFound("no_checkpoint", "no checkpoint has been written");
  *note = it->value().ToString();
  return Status::Ok();
}

Status Journal::ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), Family(storage::kCheckpointsFamily)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() != 8) {
      return Status::Corruption("checkpoint_key_malformed", "checkpoint key");
    }
    if (!fn(storage::DecodeU64(it->key().ToStringView()), it->value().ToStringView())) break;
  }
  return FromRocks(it->status());
}

void Journal::PreverifySignatures(std::span<const SignedEvent> events, std::vector<PublicKey>* keys,
                                  std::vector<uint8_t>* valid) const {
  keys->assign(events.size(), PublicKey{});
  valid->assign(events.size(), 0);
  // 2 = not checked (the signer is unknown now; the sequencer decides), 1 = valid, 0 = invalid.
  auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      if (!SignerKey(state_, events[i], &(*keys)[i]).ok()) {
        (*valid)[i] = 2;
        continue;
      }
      (*valid)[i] =
          VerifyEventSignature((*keys)[i], events[i].canonical_event(), events[i].signature()) ? 1
                                                                                               : 0;
    }
  };
  ParallelFor(events.size(), options_.verify_threads, work);
}

// The caller's verified keys (AppendOptions::verified_keys) in PreverifySignatures' form.
void Journal::UsePreverifiedKeys(size_t events, std::span<const std::optional<PublicKey>> verified,
                                 std::vector<PublicKey>* keys, std::vector<uint8_t>* valid) {
  assert(verified.size() == events);
  keys->assign(events, PublicKey{});
  valid->assign(events, 2);  // not checked: Append verifies it
  for (size_t i = 0; i < events && i < verified.size(); ++i) {
    if (!verified[i]) continue;
    (*keys)[i] = *verified[i];
    (*valid)[i] = 1;
  }
}

Status Journal::LookupDuplicate(const SignedEvent& event, uint64_t* seq, bool* found) const {
  Status s = FindEvent(event.id(), seq);
  if (s.IsNotFound()) {
    *found = false;
    return Status::Ok();
  }
  FL_RETURN_IF_ERROR(s);
  *found = true;
  std::string bytes;
  FL_RETURN_IF_ERROR(ReadRecord(*seq, &bytes));
  RecordReader record;
  FL_RETURN_IF_ERROR(RecordReader::Open(bytes, &record));
  SignedEvent original;
  s = SignedEvent::FromEnvelopeReader(record.record().getEnvelope(), &original);
  if (!s.ok()) return Status::Corruption("record_malformed", "record " + std::to_string(*seq));
  if (!original.HasSameContent(event)) {
    return Status::Conflict(
        "duplicate_id",
        "id already recorded at seq " + std::to_string(*seq) + " with different content", "id");
  }
  return Status::Ok();
}

Status Journal::Append(std::span<const SignedEvent> events, std::vector<AppendResult>* results,
                       const AppendOptions& append_options) {
  if (options_.read_only || !log_signer_) {
    return Status::InvalidArgument("read_only", "this ledger is open read-only");
  }
  if (events.size() > kAppendBatchEventsMax) {
    return Status::InvalidArgument(
        "batch_too_large",
        "at most " + std::to_string(kAppendBatchEventsMax) + " events per batch");
  }
  std::lock_guard<std::mutex> lock(mu_);
  results->assign(events.size(), AppendResult{});
  std::vector<PublicKey> keys;
  std::vector<uint8_t> valid;
  if (append_options.verified_keys.empty()) {
    PreverifySignatures(events, &keys, &valid);
  } else {
    UsePreverifiedKeys(events.size(), append_options.verified_keys, &keys, &valid);
  }
  if (append_options.write_us != nullptr) *append_options.write_us = 0;

  const int64_t now_ms = std::max(NowMs(), last_recorded_at_ms_);
  // The 60 s of activity before the first checkpoint count from the first record.
  if (range_.size() == 0) last_checkpoint_ms_ = now_ms;
  const CompactRange saved_range = range_;
  rocksdb::WriteBatch batch;
  auto* records = Family(storage::kRecordsFamily);
  auto* ids = Family(storage::kIdsFamily);
  auto* tree = Family(storage::kTreeFamily);
  auto* checkpoints = Family(storage::kCheckpointsFamily);
  std::map<std::string, size_t, std::less<>> batch_ids;  // id -> index in events
  uint64_t checkpoint_size = last_checkpoint_size_;
  // Until the batch is durable, every staged change is undone on the way out.
  bool durable = false;
  struct Undo {
    std::function<void()> fn;
    ~Undo() { fn(); }
  } undo{[&] {
    if (!durable) {
      state_.Abort();
      if (options_.projection != nullptr) options_.projection->Abort();
      range_ = saved_range;
    }
  }};

  for (size_t i = 0; i < events.size(); ++i) {
    const SignedEvent& event = events[i];
    AppendResult& result = (*results)[i];
    std::string id = event.id();
    if (auto it = batch_ids.find(id); it != batch_ids.end()) {
      const AppendResult& first = (*results)[it->second];
      if (events[it->second].HasSameContent(event) && first.status.ok()) {
        result = first;
        result.duplicate = true;
      } else {
        result.status =
            Status::Conflict("duplicate_id", "id used twice in one batch", "id").WithEventId(id);
      }
      continue;
    }
    bool found = false;
    uint64_t original_seq = 0;
    Status s = LookupDuplicate(event, &original_seq, &found);
    if (s.ok() && found) {
      result.seq = original_seq;
      result.duplicate = true;
      FL_RETURN_IF_ERROR(tree_->ReadNode(0, original_seq - 1, &result.leaf_hash));
      continue;
    }
    PublicKey key;
    if (s.ok()) s = SignerKey(state_, event, &key);
    if (s.ok()) {
      bool ok = (valid[i] != 2 && keys[i] == key)
                    ? valid[i] == 1
                    : VerifyEventSignature(key, event.canonical_event(), event.signature());
      if (!ok) {
        s = Status::Rejected(
            "signature_invalid",
            "the signature does not verify with " + event.signer() + "'s current key", "signature");
      }
    }
    EventContext context{range_.size() + 1, now_ms};
    if (s.ok()) {
      s = options_.skip_fund_rules_for_benchmark && !IsRegistryEvent(event)
              ? Status::Ok()
              : ApplyEvent(event, context, &state_);
    }
    if (!s.ok()) {
      if (s.kind() == Status::Kind::kIOError) return s;
      result.status = s.WithEventId(id);
      continue;
    }
    if (options_.projection != nullptr) {
      FL_RETURN_IF_ERROR(options_.projection->OnAccepted(event, context, state_));
    }
    batch_ids.emplace(id, i);
    RecordBytes record = EncodeRecord(context.seq, now_ms, event);
    std::string seq_key = storage::EncodeU64(context.seq);
    batch.Put(records, seq_key, record.bytes);
    batch.Put(ids, id, seq_key);
    range_.Append(record.leaf_hash, [&](uint32_t level, uint64_t index, const Hash& hash) {
      batch.Put(tree, storage::TreeKey(level, index),
                rocksdb::Slice(reinterpret_cast<const char*>(hash.data()), hash.size()));
    });
    result.seq = context.seq;
    result.leaf_hash = record.leaf_hash;
    if (range_.size() % storage::kCheckpointEveryEvents == 0) {
      std::string note;
      FL_RETURN_IF_ERROR(SignCheckpointAt(range_.size(), range_.Root(), &note));
      batch.Put(checkpoints, storage::EncodeU64(range_.size()), note);
      checkpoint_size = range_.size();
    }
  }
  if (range_.size() == saved_range.size()) return Status::Ok();  // nothing accepted
  if (append_options.all_or_nothing) {
    bool any_rejected = false;
    for (const auto& r : *results) any_rejected |= !r.status.ok();
    if (any_rejected) {
      for (size_t i = 0; i < events.size(); ++i) {
        AppendResult& r = (*results)[i];
        if (!r.status.ok() || (r.duplicate && r.seq <= saved_range.size())) continue;
        r = AppendResult{};
        r.status = Status::Rejected("batch_not_appended",
                                    "not appended: another event of the batch was rejected")
                       .WithEventId(events[i].id());
      }
      return Status::Ok();  // the Undo guard drops every staged change
    }
  }
  int64_t checkpoint_ms = checkpoint_size != last_checkpoint_size_ ? now_ms : last_checkpoint_ms_;
  if (checkpoint_size < range_.size() && now_ms - checkpoint_ms >= storage::kCheckpointEveryMs) {
    std::string note;
    FL_RETURN_IF_ERROR(SignCheckpointAt(range_.size(), range_.Root(), &note));
    batch.Put(checkpoints, storage::EncodeU64(range_.size()), note);
    checkpoint_size = range_.size();
    checkpoint_ms = now_ms;
  }
  for (const auto& row : state_.StagedRows()) batch.Put(Family(row.family), row.key, row.value);
  if (options_.projection != nullptr) {
    for (const auto& row : options_.projection->StagedRows()) {
      if (row.family != storage::kProjectionsFamily) {
        return Status::InvalidArgument("projection_family", "views write the projections family");
      }
      batch.Put(Family(row.family), row.key, row.value);
    }
  }

  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto write_start = std::chrono::steady_clock::now();
  FL_RETURN_IF_ERROR(FromRocks(db_->Write(sync, &batch)));
  if (append_options.write_us != nullptr) {
    *append_options.write_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - write_start)
                                   .count();
  }
  durable = true;
  state_.Commit();
  if (options_.projection != nullptr) options_.projection->Commit();
  last_recorded_at_ms_ = now_ms;
  last_checkpoint_size_ = checkpoint_size;
  last_checkpoint_ms_ = checkpoint_ms;
  return Status::Ok();
}

}  // namespace fundledger
