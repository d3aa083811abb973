#include "ledger/journal.h"

#include <kj/exception.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>

#include "crypto/encoding.h"
#include "ledger/key_file.h"
#include "ledger/parallel.h"
#include "ledger/rules.h"
#include "ledger/storage_format.h"

namespace fundledger {

namespace fs = std::filesystem;

// RocksDB's block cache, shared by the column families.
constexpr size_t kBlockCacheBytes = 32 << 20;
// The memtables of all column families together. Each family's own limit (64 MiB, and a second
// one while the first flushes) would let eight families hold 1 GiB between them; past this sum
// RocksDB flushes the largest, so a server's memory stays bounded as the ledger grows.
constexpr size_t kWriteBuffersBytesMax = 256 << 20;
// Signatures checked per chunk in Append: about half a millisecond of one core, small enough that
// the sequencer seldom waits for the first, large enough that taking one costs nothing.
constexpr size_t kSignatureChunk = 16;

struct Journal::Families {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // owned; destroyed before the DB
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> by_name;
  // The families every append writes, found once rather than by name per row.
  rocksdb::ColumnFamilyHandle* records = nullptr;
  rocksdb::ColumnFamilyHandle* ids = nullptr;
  rocksdb::ColumnFamilyHandle* tree = nullptr;
  rocksdb::ColumnFamilyHandle* checkpoints = nullptr;
  rocksdb::ColumnFamilyHandle* projections = nullptr;
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

// The options of one column family, for the append path.
rocksdb::ColumnFamilyOptions FamilyOptions(std::string_view name,
                                           const rocksdb::Options& db_options,
                                           const std::shared_ptr<rocksdb::Cache>& block_cache) {
  rocksdb::ColumnFamilyOptions family(db_options);
  // Each append inserts a few thousand keys into the memtables, and a skip-list insert that
  // descends from the top costs a dozen or more key comparisons on cold memory. With a hint, an
  // insert starts from where the last one with the same prefix went, which is nearly free for a
  // key just after it: records follow each other, tree nodes follow each other per level (the
  // key's first byte), and the journal puts the other families' rows of a batch in key order.
  family.memtable_insert_with_hint_prefix_extractor.reset(
      rocksdb::NewFixedPrefixTransform(name == storage::kTreeFamily ? 1 : 0));
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = block_cache;  // one for all families
  // Table blocks are checksummed as they are written (flushes and compactions) and read; XXH3
  // costs a fraction of CRC32C where RocksDB is built without the CPU's CRC instruction.
  table.checksum = rocksdb::kXXH3;
  if (name == storage::kIdsFamily || name == storage::kAccountsFamily ||
      name == storage::kProjectionsFamily || name == storage::kRegistryFamily) {
    // Point reads during appends: a whole-key bloom filter per table file answers most reads of
    // absent keys without reading its blocks.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
  }
  if (name == storage::kIdsFamily) {
    // Every append looks up each new event's id, which is absent: a bloom filter over the
    // memtable answers that without searching it.
    family.memtable_prefix_bloom_size_ratio = 0.02;
    family.memtable_whole_key_filtering = true;
  }
  family.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return family;
}

}  // namespace

// RocksDB's background errors fail the journal. A flush syncs the WAL files it closes on a
// RocksDB thread; if that sync fails, a later sync of the same file may report success for
// pages the kernel dropped (and Debian's RocksDB, built with assertions, aborts in SyncWAL on a
// file whose earlier sync failed), so the journal's next Sync must fail without syncing. The
// listener runs on the thread that met the error, before RocksDB records it.
class Journal::BackgroundErrors : public rocksdb::EventListener {
 public:
  explicit BackgroundErrors(Journal* journal) : journal_(journal) {}
  const char* Name() const override { return "fundledger.Journal.BackgroundErrors"; }
  void OnBackgroundError(rocksdb::BackgroundErrorReason reason,
                         rocksdb::Status* bg_error) override {
    if (bg_error == nullptr || bg_error->ok()) return;
    const char* what = "background work";
    switch (reason) {
      case rocksdb::BackgroundErrorReason::kFlush:
      case rocksdb::BackgroundErrorReason::kFlushNoWAL:
        what = "a flush";
        break;
      case rocksdb::BackgroundErrorReason::kCompaction:
        what = "a compaction";
        break;
      case rocksdb::BackgroundErrorReason::kManifestWrite:
      case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
        what = "a manifest write";
        break;
      case rocksdb::BackgroundErrorReason::kWriteCallback:
      case rocksdb::BackgroundErrorReason::kMemTable:
        what = "write";  // a batch's own write (its WAL append): the writer fails as well
        break;
      default:
        break;
    }
    (void)journal_->Fail(Status::IOError(
        "rocksdb", std::string("RocksDB's ") + what + " failed: " + bg_error->ToString()));
  }

 private:
  Journal* journal_;  // outlives the database (~Journal closes it first)
};

Journal::Journal() : tree_(std::make_unique<TreeReader>(this)), state_(this) {}

const NodeReader& Journal::tree() const { return *tree_; }

Journal::~Journal() {
  // Written rows are durable in the write-ahead log already. Flushing them into table files
  // as the writer closes spares every later opening the log's replay (a read-only opening, as
  // `verify` and `show` make, replays it each time: 5% of a verification of 1M fresh records).
  // Not after a failed write, which must leave the files as they are.
  if (db_ && families_ && !options_.read_only && !failed_.load()) {
    rocksdb::FlushOptions flush;
    flush.wait = true;
    db_->Flush(flush, families_->handles).PermitUncheckedError();
  }
  if (db_ && families_) {
    for (auto* handle : families_->handles) {
      db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
  }
  // Closed while every member is alive: its background threads may still call
  // BackgroundErrors, which fails this journal.
  db_.reset();
}

rocksdb::ColumnFamilyHandle* Journal::Family(std::string_view name) const {
  return families_->by_name.find(name)->second;
}

Journal::Memory Journal::MemoryUsage() const {
  Memory m;
  uint64_t v = 0;
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
    m.memtables_bytes = v;
  }
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &v)) {
    m.table_readers_bytes = v;
  }
  if (block_cache_) m.block_cache_bytes = block_cache_->GetUsage();
  return m;
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
  // Appends are written unsynced and made durable by SyncWAL (Journal::Sync). After a crash
  // the WAL is replayed up to its first torn or lost record: the recovered ledger is a prefix
  // of the written batches, each whole, holding at least every synced one.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.manual_wal_flush = false;  // each write reaches the WAL file before it returns
  // After a failed write or sync the journal stops for good (Journal::Fail); RocksDB must not
  // resume writing on its own either.
  db_options.max_bgerror_resume_count = 0;
  // One writer: its batches go into the memtables one at a time, which lets them use the
  // insert hints (FamilyOptions).
  db_options.allow_concurrent_memtable_write = false;
  if (options.env != nullptr) db_options.env = options.env;
  if (!options.read_only) {
    db_options.listeners.push_back(std::make_shared<BackgroundErrors>(journal.get()));
  }
  db_options.IncreaseParallelism(int(std::max(2u, std::thread::hardware_concurrency())));
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  db_options.db_write_buffer_size = kWriteBuffersBytesMax;
  auto block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);
  for (auto name : FamilyNames()) {
    descriptors.emplace_back(std::string(name), FamilyOptions(name, db_options, block_cache));
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
  journal->block_cache_ = block_cache;
  for (size_t i = 0; i < descriptors.size(); ++i) {
    families->by_name[descriptors[i].name] = families->handles[i];
  }
  auto named = [&](std::string_view name) { return families->by_name.find(name)->second; };
  families->records = named(storage::kRecordsFamily);
  families->ids = named(storage::kIdsFamily);
  families->tree = named(storage::kTreeFamily);
  families->checkpoints = named(storage::kCheckpointsFamily);
  families->projections = named(storage::kProjectionsFamily);
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
  const fs::path db_path = fs::path(dir) / storage::kDatabaseDir;
  // Anything at either path, a dangling link too, is not replaced.
  auto present = [&](const fs::path& path) {
    std::error_code status_ec;
    return fs::symlink_status(path, status_ec).type() != fs::file_type::not_found;
  };
  if (present(db_path) || present(key_path)) {
    return Status::InvalidArgument("ledger_exists", dir + " already holds a ledger");
  }
  std::unique_ptr<Journal> journal;
  JournalOptions write_options = options;
  write_options.read_only = false;
  FL_RETURN_IF_ERROR(OpenDb(dir, /*create=*/true, write_options, &journal));
  // A database without its log key or its description cannot be opened, nor created again: if
  // either is not written, the database goes (the key file removes itself when it fails).
  auto undo = [&](const Status& failed) {
    journal.reset();
    std::error_code remove_ec;
    fs::remove_all(db_path, remove_ec);
    return failed;
  };
  Status s = WriteSecretKeyFile(key_path, log_key);
  if (!s.ok()) return undo(s);
  rocksdb::WriteBatch batch;
  auto* meta = journal->Family(storage::kMetaFamily);
  batch.Put(meta, ToSlice(storage::kMetaFormatVersion), std::to_string(storage::kFormatVersion));
  batch.Put(meta, ToSlice(storage::kMetaOrigin), ToSlice(origin));
  batch.Put(meta, ToSlice(storage::kMetaLogVerifierKey),
            FormatVerifierKey(log_key.name, log_key.key.public_key()));
  if (options.projection != nullptr) {
    for (const LedgerState::Row& row : options.projection->InitialRows()) {
      batch.Put(journal->Family(row.family), ToSlice(row.key), ToSlice(row.value));
    }
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  s = FromRocks(journal->db_->Write(sync, &batch));
  if (s.ok()) s = journal->Load();
  if (!s.ok()) {
    std::error_code remove_ec;
    fs::remove(key_path, remove_ec);  // written above by this call
    return undo(s);
  }
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

Status Journal::UpgradeFromFormat2(rocksdb::WriteBatch* batch) {
  auto* accounts = Family(storage::kAccountsFamily);
  // The day of the event at `seq`, which must be of type `type` and name `id` (as `named` reads
  // it); what went wrong otherwise.
  auto day_of = [&](uint64_t seq, schema::Event::Which type,
                    const std::function<std::string(schema::Event::Reader)>& named,
                    const std::string& id, int64_t* day) {
    std::string bytes;
    RecordReader record;
    SignedEvent event;
    Status s = ReadRecord(seq, &bytes);
    if (s.ok()) s = RecordReader::Open(bytes, &record);
    if (s.ok()) s = SignedEvent::FromStoredRecord(record, &event);
    try {
      if (s.ok() && (event.event().which() != type || named(event.event()) != id ||
                     event.occurred_day() == SignedEvent::kNoDay)) {
        s = Status::Corruption("record_malformed", "not the event that made it");
      }
    } catch (const kj::Exception&) {  // a field Cap'n Proto refuses to read
      s = Status::Corruption("record_malformed", "a field of the event cannot be read");
    }
    *day = event.occurred_day();
    return s;
  };
  auto failed = [](std::string_view what, std::string_view id, uint64_t seq, const Status& s) {
    return Status::Corruption("format_upgrade_failed",
                              std::string(what) + " " + storage::PrintableKey(id) + " is " +
                                  "recorded at seq " + std::to_string(seq) + ": " + s.message());
  };
  // Each row of `prefix`: decoded, given its day, written again.
  auto each = [&](char prefix,
                  const std::function<Status(const std::string& key, std::string_view value)>& fn) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), accounts));
    const std::string start(1, prefix);
    for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next()) {
      FL_RETURN_IF_ERROR(fn(it->key().ToString(), it->value().ToStringView()));
    }
    return FromRocks(it->status());
  };
  auto malformed = [](const std::string& key) {
    return Status::Corruption("state_row_malformed",
                              "accounts row " + storage::PrintableKey(key) + " is malformed");
  };
  FL_RETURN_IF_ERROR(each(storage::kProjectRow, [&](const std::string& key,
                                                    std::string_view value) {
    Project project;
    if (!DecodeProjectRow(value, &project)) return malformed(key);
    Status s = day_of(
        project.registered_seq, schema::Event::PROJECT_REGISTERED,
        [](schema::Event::Reader e) { return std::string(e.getProjectRegistered().getProject()); },
        project.id, &project.registered_day);
    if (!s.ok()) return failed("the project", project.id, project.registered_seq, s);
    batch->Put(accounts, key, EncodeProjectRow(project));
    return Status::Ok();
  }));
  FL_RETURN_IF_ERROR(
      each(storage::kFindingRow, [&](const std::string& key, std::string_view value) {
        Finding finding;
        if (!DecodeFindingRow(value, &finding)) return malformed(key);
        Status s = day_of(
            finding.opened_seq, schema::Event::AUDIT_FINDING,
            [](schema::Event::Reader e) { return std::string(e.getAuditFinding().getFinding()); },
            finding.id, &finding.opened_day);
        if (!s.ok()) return failed("the finding", finding.id, finding.opened_seq, s);
        batch->Put(accounts, key, EncodeFindingRow(finding));
        return Status::Ok();
      }));
  return Status::Ok();
}

Status Journal::UpgradeFromFormat3(rocksdb::WriteBatch* batch) {
  auto* accounts = Family(storage::kAccountsFamily);
  // The days of each project, as the fund rules keep them (fund_rules.cc: ApplyProjectStatus,
  // MoneyMoved), read from the records alone: no rule is applied again, so records accepted
  // under the rules of their day are upgraded whatever rules were added since.
  struct Days {
    bool registered = false;
    int64_t registered_day = 0, phase_day = 0, approved_day = 0, last_money_day = 0;
  };
  std::unordered_map<std::string, Days> days;
  const uint64_t size = range_.size();
  for (uint64_t seq = 1; seq <= size; ++seq) {
    std::string bytes;
    RecordReader record;
    SignedEvent event;
    Status s = ReadRecord(seq, &bytes);
    if (s.ok()) s = RecordReader::Open(bytes, &record);
    if (s.ok()) s = SignedEvent::FromStoredRecord(record, &event);
    try {
      const int64_t day = s.ok() ? event.occurred_day() : 0;
      auto moved = [&](const std::string& project) {
        Days& d = days[project];
        d.last_money_day = std::max(d.last_money_day, day);
      };
      if (s.ok()) {
        schema::Event::Reader e = event.event();
        switch (e.which()) {
          case schema::Event::PROJECT_REGISTERED: {
            Days& d = days[e.getProjectRegistered().getProject()];
            d.registered = true;
            d.registered_day = d.phase_day = day;
            break;
          }
          case schema::Event::PROJECT_STATUS: {
            Days& d = days[e.getProjectStatus().getProject()];
            d.phase_day = day;
            if (e.getProjectStatus().getStatus() == schema::ProjectStatus::APPROVED) {
              d.approved_day = day;
            }
            break;
          }
          case schema::Event::FUNDS_RECEIVED:
            if (e.getFundsReceived().getToKind() == schema::HolderKind::PROJECT) {
              moved(e.getFundsReceived().getTo());
            }
            break;
          case schema::Event::FUNDS_ALLOCATED:
            if (e.getFundsAllocated().getToKind() == schema::HolderKind::PROJECT) {
              moved(e.getFundsAllocated().getTo());
            }
            break;
          case schema::Event::FUNDS_DISBURSED:
            moved(e.getFundsDisbursed().getProject());
            break;
          default:
            break;
        }
      }
    } catch (const kj::Exception&) {  // a field Cap'n Proto refuses to read
      s = Status::Corruption("record_malformed", "a field of the event cannot be read");
    }
    if (!s.ok()) {
      return Status::Corruption(
          "format_upgrade_failed",
          "the record at seq " + std::to_string(seq) + " cannot be read: " + s.message());
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), accounts));
  const std::string start(1, storage::kProjectRow);
  for (it->Seek(start); it->Valid() && it->key().starts_with(start); it->Next()) {
    Project project;
    if (!DecodeProjectRow(it->value().ToStringView(), &project)) {
      return Status::Corruption(
          "format_upgrade_failed",
          "accounts row " + storage::PrintableKey(it->key().ToStringView()) + " is malformed");
    }
    auto d = days.find(project.id);
    if (d == days.end() || !d->second.registered) {
      return Status::Corruption("format_upgrade_failed",
                                "the project " + storage::PrintableKey(project.id) +
                                    " has a row but no registration among the records");
    }
    project.registered_day = d->second.registered_day;
    project.phase_day = d->second.phase_day;
    project.approved_day = d->second.approved_day;
    project.last_money_day = d->second.last_money_day;
    batch->Put(accounts, it->key(), EncodeProjectRow(project));
  }
  return FromRocks(it->status());
}

Status Journal::Load() {
  auto* meta = Family(storage::kMetaFamily);
  std::string version, vkey;
  FL_RETURN_IF_ERROR(FromRocks(
      db_->Get(rocksdb::ReadOptions(), meta, ToSlice(storage::kMetaFormatVersion), &version)));
  // Formats 2 and 3 lack days the rules need of projects (format 2 the registration's, both the
  // phase's, the approval's and the last money's), and format 4 has last money days counted
  // otherwise: a writer writes them (below, once the ledger is known to be whole enough to write
  // to), format 2's registration days first; a reader cannot.
  static_assert(storage::kFormatVersion == 5);
  // Format 4's last money days counted refunds and reversals: its project rows are read again.
  const bool upgrade = version == "2" || version == "3" || version == "4";
  if (upgrade && options_.read_only) {
    return Status::Corruption(
        "format_version_unknown",
        "ledger format version " + version +
            " is read by this build once it is upgraded to version 5 (the days of its "
            "projects' registration, status, approval and last money): a command that opens the "
            "ledger to write (serve, submit, import, replay, checkpoint, ...) upgrades it, "
            "keeping every record");
  }
  if (!upgrade && version != std::to_string(storage::kFormatVersion)) {
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
  if (!s.ok()) {
    return Status::Corruption("log_key_malformed", "the ledger's stored log key: " + s.message());
  }

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
  if (upgrade) {
    // One synced batch: the ledger is of its earlier format or of format 5, nothing between.
    rocksdb::WriteBatch batch;
    if (version == "2") FL_RETURN_IF_ERROR(UpgradeFromFormat2(&batch));
    FL_RETURN_IF_ERROR(UpgradeFromFormat3(&batch));  // a project row's Put after format 2's
    batch.Put(Family(storage::kMetaFamily), ToSlice(storage::kMetaFormatVersion),
              std::to_string(storage::kFormatVersion));
    rocksdb::WriteOptions sync;
    sync.sync = true;
    FL_RETURN_IF_ERROR(FromRocks(db_->Write(sync, &batch)));
  }

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
      // A writer must not build on a row it cannot read; a reader (verification above all)
      // leaves it out and opens, so that verification can name it among the stored rows that
      // differ from the ones rebuilt from the records.
      if (!state_.LoadRow(family, key, it->value().ToStringView()) && !options_.read_only) {
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
  if (cp->Valid()) {
    last_checkpoint_size_ = storage::DecodeU64(cp->key().ToStringView());
    // Durable once a writer has opened the ledger: RocksDB flushes the WAL it recovers into
    // table files. (A read-only open beside a live writer may see unsynced rows; nothing reads
    // the durable note of a read-only journal.)
    durable_note_ = cp->value().ToString();
  }
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

uint64_t Journal::EstimatedRecords() const {
  uint64_t rows = 0;
  if (!db_->GetIntProperty(families_->records, rocksdb::DB::Properties::kEstimateNumKeys, &rows)) {
    return 0;
  }
  return rows;
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
  // Seqs start at 1: a row stored under 0 is no record of the log (verification names it).
  for (it->Seek(storage::EncodeU64(std::max<uint64_t>(from_seq, 1))); it->Valid(); it->Next()) {
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
  FL_RETURN_IF_ERROR(failure());
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
  rocksdb::Status s = db_->Write(sync, &batch);
  return s.ok() ? Status::Ok() : Fail(FromRocks(s));
}

Status Journal::PutRawForTesting(std::string_view family, std::string_view key,
                                 std::string_view value) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  return FromRocks(db_->Put(sync, Family(family), ToSlice(key), ToSlice(value)));
}

Status Journal::FlushForTesting() {
  rocksdb::FlushOptions flush;
  flush.wait = true;
  return FromRocks(db_->Flush(flush, families_->handles));
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
                                   "need 1 <= seq <= tree size <= " + std::to_string(head().size),
                                   size > head().size ? "size" : "seq");
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
                                   "need 1 <= from <= to <= " + std::to_string(head_size),
                                   size2 > head_size ? "to" : "from");
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
  uint64_t sync_ticket = 0;
  std::string written;
  FL_RETURN_IF_ERROR(AppendCheckpointUnsynced(&written, &sync_ticket));
  // Given out once durable, with all it signs: a crash must not lose a head that someone holds
  // a signed checkpoint of.
  FL_RETURN_IF_ERROR(Sync(sync_ticket));
  *note = std::move(written);
  return Status::Ok();
}

Status Journal::AppendCheckpointUnsynced(std::string* note, uint64_t* sync_ticket) {
  std::lock_guard<std::mutex> lock(mu_);
  *sync_ticket = written_batches_.load(std::memory_order_relaxed);
  if (range_.size() <= last_checkpoint_size_) {
    // The latest may be one a batch wrote and has not synced yet: that batch is in the ticket.
    return last_checkpoint_size_ == 0 ? LatestCheckpoint(note)  // none written yet: NotFound
                                      : ReadCheckpoint(last_checkpoint_size_, note);
  }
  if (options_.read_only || !log_signer_) {
    return Status::InvalidArgument("read_only", "this ledger is open read-only");
  }
  FL_RETURN_IF_ERROR(failure());
  std::string signed_note;
  FL_RETURN_IF_ERROR(SignCheckpointAt(range_.size(), range_.Root(), &signed_note));
  rocksdb::WriteOptions write;
  write.sync = false;
  rocksdb::Status s =
      db_->Put(write, families_->checkpoints, storage::EncodeU64(range_.size()), signed_note);
  if (!s.ok()) return Fail(FromRocks(s));
  last_checkpoint_size_ = range_.size();
  last_checkpoint_ms_ = last_recorded_at_ms_;
  // Recorded before the batch is counted: a sync that counts it then promotes it.
  *sync_ticket = written_batches_.load(std::memory_order_relaxed) + 1;
  CheckpointWritten(*sync_ticket, signed_note);
  written_batches_.store(*sync_ticket, std::memory_order_release);
  *note = std::move(signed_note);
  return Status::Ok();
}

bool Journal::CheckpointAtHeadIfDurable(std::string* note) const {
  uint64_t size = 0;
  {
    // An append under way holds mu_ for its whole batch: the head is moving, so no wait for it.
    std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    if (last_checkpoint_size_ == 0 || range_.size() != last_checkpoint_size_) return false;
    const uint64_t written = written_batches_.load(std::memory_order_relaxed);
    if (durable_batches_.load(std::memory_order_acquire) < written) return false;
    size = last_checkpoint_size_;
  }
  // Durable: every batch written up to it has been synced. Later batches change nothing of it.
  return failure().ok() && ReadCheckpoint(size, note).ok();
}

void Journal::CheckpointWritten(uint64_t sync_ticket, std::string note) {
  std::lock_guard<std::mutex> lock(durable_mu_);
  pending_ticket_ = sync_ticket;  // a newer one replaces it: the durable one lags by a sync
  pending_note_ = std::move(note);
}

void Journal::PromoteDurableCheckpoint(uint64_t synced) {
  std::lock_guard<std::mutex> lock(durable_mu_);
  if (!pending_note_.empty() && pending_ticket_ <= synced) {
    durable_note_ = std::move(pending_note_);
    pending_note_.clear();
  }
}

Status Journal::LatestDurableCheckpoint(std::string* note) const {
  FL_RETURN_IF_ERROR(failure());
  std::lock_guard<std::mutex> lock(durable_mu_);
  if (durable_note_.empty()) {
    return Status::NotFound("no_checkpoint", "no checkpoint has been written");
  }
  *note = durable_note_;
  return Status::Ok();
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

Status Journal::ReadCheckpoint(uint64_t size, std::string* note) const {
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), Family(storage::kCheckpointsFamily),
                               storage::EncodeU64(size), note);
  if (s.IsNotFound()) {
    return Status::NotFound("checkpoint_unknown",
                            "no checkpoint is stored at size " + std::to_string(size));
  }
  return FromRocks(s);
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

void Journal::ResolveSignerKeys(std::span<const SignedEvent> events, std::vector<PublicKey>* keys,
                                std::vector<uint8_t>* valid) const {
  keys->assign(events.size(), PublicKey{});
  // 2 = not checked (the signer is unknown now; the sequencer decides), 0 = to be checked.
  valid->assign(events.size(), 0);
  for (size_t i = 0; i < events.size(); ++i) {
    if (!SignerKey(state_, events[i], &(*keys)[i]).ok()) (*valid)[i] = 2;
  }
}

void Journal::CheckSignatures(std::span<const SignedEvent> events, size_t begin, size_t end,
                              const std::vector<PublicKey>& keys, std::vector<uint8_t>* valid) {
  for (size_t i = begin; i < end; ++i) {
    if ((*valid)[i] == 2) continue;
    (*valid)[i] =
        VerifyEventSignature(keys[i], events[i].canonical_event(), events[i].signature()) ? 1 : 0;
  }
}

// The caller's verified keys (AppendOptions::verified_keys) in the form CheckSignatures leaves
// (1 = valid with that key, 2 = not checked).
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
  s = SignedEvent::FromRecordEnvelope(record, &original);
  if (!s.ok()) return Status::Corruption("record_malformed", "record " + std::to_string(*seq));
  if (!original.HasSameContent(event)) {
    return Status::Conflict(
        "duplicate_id",
        "id already recorded at seq " + std::to_string(*seq) + " with different content", "id");
  }
  return Status::Ok();
}

// One batch being sequenced: the WriteBatch it builds, and what it changes besides.
struct Journal::Staging {
  explicit Staging(int64_t now_ms_in) : now_ms(now_ms_in) {}
  const int64_t now_ms;
  rocksdb::WriteBatch batch;
  // Ids accepted in this batch -> index in the events. The views point into the events, which
  // outlive the batch.
  std::unordered_map<std::string_view, size_t> ids;
  // The id rows (id -> seq), put in id order when the batch is finished (FamilyOptions).
  std::vector<std::pair<std::string_view, uint64_t>> id_rows;
  uint64_t checkpoint_size = 0;  // the checkpoint the batch ends at
  std::string checkpoint_note;   // the newest checkpoint the batch writes, if any
};

Status Journal::Append(std::span<const SignedEvent> events, std::vector<AppendResult>* results,
                       const AppendOptions& append_options) {
  uint64_t sync_ticket = 0;
  FL_RETURN_IF_ERROR(AppendUnsynced(events, results, append_options, &sync_ticket));
  return Sync(sync_ticket);
}

// The signatures of the events being appended: each event's signer key as of the start (1 =
// valid, 0 = invalid, 2 = not checked: the sequencer checks it against the key at the event's
// point of the log), checked from the front on every core while the appending thread
// sequences the events already checked, so that the sequencing overlaps the checks of the events
// after it. The checks read only the events and `keys` (resolved before any state is staged)
// and write only `valid`, each chunk its own items.
struct Journal::Checks {
  struct Fn {
    std::span<const SignedEvent> events;
    Checks* checks;
    void operator()(size_t begin, size_t end) const {
      CheckSignatures(events, begin, end, checks->keys, &checks->valid);
    }
  };
  std::vector<PublicKey> keys;
  std::vector<uint8_t> valid;
  std::optional<WorkAhead<Fn>> ahead;  // declared last: joined before the vectors go

  // Starts checking every event of `events` that has a key.
  void Start(std::span<const SignedEvent> events, unsigned threads) {
    ahead.emplace(events.size(), kSignatureChunk, threads, Fn{events, this});
  }
  // Returns once event i's entry of `valid` is final.
  void WaitFor(size_t i) {
    if (ahead) ahead->WaitFor(i);
  }
};

Status Journal::CheckWritable() const {
  if (options_.read_only || !log_signer_) {
    return Status::InvalidArgument("read_only", "this ledger is open read-only");
  }
  return Status::Ok();
}

Status Journal::AppendUnsynced(std::span<const SignedEvent> events,
                               std::vector<AppendResult>* results,
                               const AppendOptions& append_options, uint64_t* sync_ticket) {
  *sync_ticket = 0;
  FL_RETURN_IF_ERROR(CheckWritable());
  if (events.size() > kAppendBatchEventsMax) {
    return Status::InvalidArgument(
        "batch_too_large",
        "at most " + std::to_string(kAppendBatchEventsMax) + " events per batch");
  }
  std::lock_guard<std::mutex> lock(mu_);
  FL_RETURN_IF_ERROR(failure());
  results->assign(events.size(), AppendResult{});
  Checks checks;
  if (append_options.verified_keys.empty()) {
    ResolveSignerKeys(events, &checks.keys, &checks.valid);
    checks.Start(events, options_.verify_threads);
  } else {
    UsePreverifiedKeys(events.size(), append_options.verified_keys, &checks.keys, &checks.valid);
  }
  return SequenceAndWrite(events, 0, events.size(), &checks, append_options.all_or_nothing, results,
                          sync_ticket);
}

namespace {

// Syncs, on a thread of its own, every batch posted to it, while the thread that posts them
// sequences the next (Journal::AppendInBatches).
class SyncsBehind {
 public:
  explicit SyncsBehind(Journal* journal) : journal_(journal), thread_([this] { Run(); }) {}
  // On an early return: the syncs still posted are done (the batches are written), and what
  // they return is the journal's failure() if they fail.
  ~SyncsBehind() { (void)Finish(); }
  SyncsBehind(const SyncsBehind&) = delete;
  SyncsBehind& operator=(const SyncsBehind&) = delete;

  void Post(uint64_t sync_ticket) {
    std::lock_guard<std::mutex> lock(mu_);
    posted_ = std::max(posted_, sync_ticket);
    cv_.notify_one();
  }
  // Waits until every posted batch is synced; the first failed sync, else ok.
  Status Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      finishing_ = true;
      cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
    return status_;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return posted_ > synced_ || finishing_; });
      if (posted_ == synced_) return;  // finishing, with nothing left to sync
      const uint64_t ticket = posted_;
      lock.unlock();
      Status s = journal_->Sync(ticket);
      lock.lock();
      synced_ = ticket;
      if (!s.ok() && status_.ok()) status_ = s;
    }
  }

  Journal* const journal_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t posted_ = 0;  // guarded by mu_, as are the three below
  uint64_t synced_ = 0;
  bool finishing_ = false;
  Status status_;
  std::thread thread_;  // declared last: started once the rest is set
};

}  // namespace

Status Journal::AppendInBatches(std::span<const SignedEvent> events, size_t batch_events,
                                std::vector<AppendResult>* results,
                                const std::function<void(size_t written)>& progress) {
  FL_RETURN_IF_ERROR(CheckWritable());
  if (batch_events == 0 || batch_events > kAppendBatchEventsMax) {
    return Status::InvalidArgument(
        "batch_events", "a batch holds 1 to " + std::to_string(kAppendBatchEventsMax) + " events");
  }
  results->assign(events.size(), AppendResult{});
  if (events.empty()) return Status::Ok();
  // The signer keys as of the first batch. A later batch's event whose signer was registered
  // or rotated in an earlier batch has another key at its point of the log, so the sequencer
  // checks it again there, exactly as a batch appended on its own would be checked.
  Checks checks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    FL_RETURN_IF_ERROR(failure());
    ResolveSignerKeys(events, &checks.keys, &checks.valid);
  }
  checks.Start(events, options_.verify_threads);
  SyncsBehind syncs(this);
  for (size_t at = 0; at < events.size(); at += batch_events) {
    const size_t end = std::min(events.size(), at + batch_events);
    uint64_t ticket = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Status s = failure();
      if (s.ok()) s = SequenceAndWrite(events, at, end, &checks, false, results, &ticket);
      // After a failed write the journal has failed: a batch before this one whose sync had
      // not run yet is not synced (its sync gets journal_failed), so it may be recorded or not,
      // which reopening the ledger settles (the import's message says so).
      if (!s.ok()) return s;
    }
    syncs.Post(ticket);
    if (progress) progress(end);
  }
  return syncs.Finish();
}

// Sequences events [begin, end) as one batch and writes it, unsynced. Results go to their
// events' places in `results`. REQUIRES: mu_ held; `checks` covers all of `events`.
Status Journal::SequenceAndWrite(std::span<const SignedEvent> events, size_t begin, size_t end,
                                 Checks* checks, bool all_or_nothing,
                                 std::vector<AppendResult>* results, uint64_t* sync_ticket) {
  // Even with nothing written, the results may rest on batches written and not yet synced (a
  // duplicate of one of their events, a balance they changed): they hold once those are durable.
  *sync_ticket = written_batches_.load(std::memory_order_relaxed);
  Staging staging(std::max(NowMs(), last_recorded_at_ms_));
  // The 60 s of activity before the first checkpoint count from the first record.
  if (range_.size() == 0) last_checkpoint_ms_ = staging.now_ms;
  staging.checkpoint_size = last_checkpoint_size_;
  staging.ids.reserve(end - begin);
  staging.id_rows.reserve(end - begin);
  const CompactRange saved_range = range_;
  // Until the batch is written, every staged change is undone on the way out.
  bool written = false;
  struct Undo {
    std::function<void()> fn;
    ~Undo() { fn(); }
  } undo{[&] {
    if (!written) {
      state_.Abort();
      if (options_.projection != nullptr) options_.projection->Abort();
      range_ = saved_range;
    }
  }};

  for (size_t i = begin; i < end; ++i) {
    checks->WaitFor(i);
    FL_RETURN_IF_ERROR(
        SequenceEvent(events, i, checks->keys[i], checks->valid[i], &staging, results));
  }
  if (range_.size() == saved_range.size()) return Status::Ok();  // nothing accepted
  assert(!all_or_nothing || (begin == 0 && end == events.size()));
  if (all_or_nothing && RefuseAllIfAnyRejected(events, saved_range.size(), results)) {
    return Status::Ok();  // the Undo guard drops every staged change
  }
  int64_t checkpoint_ms = 0;
  FL_RETURN_IF_ERROR(FinishBatch(&staging, &checkpoint_ms));

  // Not synced here: Sync() makes the batch durable outside the lock, so that the next batch is
  // sequenced meanwhile. Each write reaches the WAL file before Write returns (no manual WAL
  // flush), so a SyncWAL that starts after it covers it.
  // A sync or RocksDB's background work may have failed while this batch was sequenced.
  FL_RETURN_IF_ERROR(failure());
  rocksdb::WriteOptions write;
  write.sync = false;
  rocksdb::Status s = db_->Write(write, &staging.batch);
  if (!s.ok()) return Fail(FromRocks(s));
  written = true;
  state_.Commit();
  if (options_.projection != nullptr) options_.projection->Commit();
  last_recorded_at_ms_ = staging.now_ms;
  last_checkpoint_size_ = staging.checkpoint_size;
  last_checkpoint_ms_ = checkpoint_ms;
  // A checkpoint the batch wrote is recorded before the batch is counted: a sync that counts
  // the batch then promotes it (CheckpointWritten). Batches are counted under mu_.
  *sync_ticket = written_batches_.load(std::memory_order_relaxed) + 1;
  if (!staging.checkpoint_note.empty()) {
    CheckpointWritten(*sync_ticket, std::move(staging.checkpoint_note));
  }
  written_batches_.store(*sync_ticket, std::memory_order_release);
  return Status::Ok();
}

// Sequences events[i] through the rules onto the staged state and adds its rows to the batch.
// Non-ok only for failures that drop the whole batch (I/O); a rejection goes in its result.
Status Journal::SequenceEvent(std::span<const SignedEvent> events, size_t i,
                              const PublicKey& verified_key, uint8_t verified, Staging* staging,
                              std::vector<AppendResult>* results) {
  const SignedEvent& event = events[i];
  AppendResult& result = (*results)[i];
  capnp::Text::Reader id_text = event.event().getId();
  std::string_view id(id_text.cStr(), id_text.size());
  if (auto it = staging->ids.find(id); it != staging->ids.end()) {
    const AppendResult& first = (*results)[it->second];
    if (events[it->second].HasSameContent(event) && first.status.ok()) {
      result = first;
      result.duplicate = true;
    } else {
      result.status = Status::Conflict("duplicate_id", "id used twice in one batch", "id")
                          .WithEventId(std::string(id));
    }
    return Status::Ok();
  }
  bool found = false;
  uint64_t original_seq = 0;
  Status s = LookupDuplicate(event, &original_seq, &found);
  if (s.ok() && found) {
    result.seq = original_seq;
    result.duplicate = true;
    return tree_->ReadNode(0, original_seq - 1, &result.leaf_hash);
  }
  PublicKey key;
  if (s.ok()) s = SignerKey(state_, event, &key);
  if (s.ok()) {
    bool ok = (verified != 2 && verified_key == key)
                  ? verified == 1
                  : VerifyEventSignature(key, event.canonical_event(), event.signature());
    if (!ok) {
      s = Status::Rejected(
          "signature_invalid",
          "the signature does not verify with " + event.signer() + "'s current key", "signature");
    }
  }
  EventContext context{range_.size() + 1, staging->now_ms};
  if (s.ok()) {
    s = options_.skip_fund_rules_for_benchmark && !IsRegistryEvent(event)
            ? Status::Ok()
            : ApplyEvent(event, context, &state_);
  }
  if (!s.ok()) {
    if (s.kind() == Status::Kind::kIOError) return s;
    result.status = s.WithEventId(std::string(id));
    return Status::Ok();
  }
  if (options_.projection != nullptr) {
    FL_RETURN_IF_ERROR(options_.projection->OnAccepted(event, context, state_));
  }
  staging->ids.emplace(id, i);
  RecordBytes record = EncodeRecord(context.seq, staging->now_ms, event);
  const std::string seq_key = storage::EncodeU64(context.seq);
  rocksdb::WriteBatch& batch = staging->batch;
  batch.Put(families_->records, seq_key, record.bytes);
  staging->id_rows.emplace_back(id, context.seq);
  range_.Append(record.leaf_hash, [&](uint32_t level, uint64_t index, const Hash& hash) {
    batch.Put(families_->tree, storage::TreeKey(level, index),
              rocksdb::Slice(reinterpret_cast<const char*>(hash.data()), hash.size()));
  });
  result.seq = context.seq;
  result.leaf_hash = record.leaf_hash;
  if (range_.size() % storage::kCheckpointEveryEvents == 0) {
    std::string note;
    FL_RETURN_IF_ERROR(SignCheckpointAt(range_.size(), range_.Root(), &note));
    batch.Put(families_->checkpoints, storage::EncodeU64(range_.size()), note);
    staging->checkpoint_size = range_.size();
    staging->checkpoint_note = std::move(note);
  }
  return Status::Ok();
}

// With all_or_nothing: if any event was rejected, every other event of the batch gets
// "batch_not_appended" (a duplicate of an event recorded before the batch keeps its result).
// True if so.
bool Journal::RefuseAllIfAnyRejected(std::span<const SignedEvent> events, uint64_t size_before,
                                     std::vector<AppendResult>* results) {
  bool any_rejected = false;
  for (const auto& r : *results) any_rejected |= !r.status.ok();
  if (!any_rejected) return false;
  for (size_t i = 0; i < events.size(); ++i) {
    AppendResult& r = (*results)[i];
    if (!r.status.ok() || (r.duplicate && r.seq <= size_before)) continue;
    r = AppendResult{};
    r.status = Status::Rejected("batch_not_appended",
                                "not appended: another event of the batch was rejected")
                   .WithEventId(events[i].id());
  }
  return true;
}

// Adds the time-based checkpoint (if due) and the staged state and view rows to the batch.
// `*checkpoint_ms` gets the time of the latest checkpoint once the batch is written.
Status Journal::FinishBatch(Staging* staging, int64_t* checkpoint_ms) {
  rocksdb::WriteBatch& batch = staging->batch;
  *checkpoint_ms =
      staging->checkpoint_size != last_checkpoint_size_ ? staging->now_ms : last_checkpoint_ms_;
  if (staging->checkpoint_size < range_.size() &&
      staging->now_ms - *checkpoint_ms >= storage::kCheckpointEveryMs) {
    std::string note;
    FL_RETURN_IF_ERROR(SignCheckpointAt(range_.size(), range_.Root(), &note));
    batch.Put(families_->checkpoints, storage::EncodeU64(range_.size()), note);
    staging->checkpoint_size = range_.size();
    staging->checkpoint_note = std::move(note);
    *checkpoint_ms = staging->now_ms;
  }
  // Rows in key order within each family, for the memtables' insert hints (FamilyOptions). Keys
  // are unique within a batch, so the order changes nothing of what is written.
  std::sort(staging->id_rows.begin(), staging->id_rows.end());
  for (const auto& [id, seq] : staging->id_rows) {
    batch.Put(families_->ids, ToSlice(id), storage::EncodeU64(seq));
  }
  // The state's rows come in order of family and key.
  for (const auto& row : state_.StagedRows()) batch.Put(Family(row.family), row.key, row.value);
  if (options_.projection != nullptr) {
    std::vector<LedgerState::Row> rows = options_.projection->StagedRows();
    std::vector<const LedgerState::Row*> ordered;
    ordered.reserve(rows.size());
    for (const auto& row : rows) {
      if (row.family != storage::kProjectionsFamily) {
        return Status::InvalidArgument("projection_family", "views write the projections family");
      }
      ordered.push_back(&row);
    }
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const auto* a, const auto* b) { return a->key < b->key; });
    for (const auto* row : ordered) batch.Put(families_->projections, row->key, row->value);
  }
  return Status::Ok();
}

Status Journal::Sync(uint64_t sync_ticket) {
  std::lock_guard<std::mutex> lock(sync_mu_);
  FL_RETURN_IF_ERROR(failure());
  if (sync_ticket <= synced_batches_) {  // a sync since covered it
    PromoteDurableCheckpoint(synced_batches_);
    return Status::Ok();
  }
  // Every batch whose write has returned is in the WAL file: one sync covers them all.
  const uint64_t written = written_batches_.load(std::memory_order_acquire);
  assert(sync_ticket <= written);
  rocksdb::Status s = db_->SyncWAL();
  if (!s.ok()) return Fail(FromRocks(s));
  synced_batches_ = written;
  durable_batches_.store(written, std::memory_order_release);
  PromoteDurableCheckpoint(written);
  return Status::Ok();
}

Status Journal::failure() const {
  if (!failed_.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard<std::mutex> lock(failure_mu_);
  return failure_;
}

Status Journal::Fail(const Status& cause) {
  std::lock_guard<std::mutex> lock(failure_mu_);
  // The writer and the sync thread may each fail, in either order: when a sync fails, RocksDB's
  // next write fails too ("Writer has previous error"), possibly before the sync returns. Every
  // distinct cause is named, so that the root one is there whichever came first.
  if (failure_causes_.size() < kFailureCausesMax &&
      std::find(failure_causes_.begin(), failure_causes_.end(), cause.message()) ==
          failure_causes_.end()) {
    failure_causes_.push_back(cause.message());
    std::string causes;
    for (const std::string& c : failure_causes_) causes += (causes.empty() ? "" : "; ") + c;
    failure_ = Status::IOError(
        "journal_failed",
        "a write or sync of the journal failed (" + causes +
            "); the ledger accepts no more writes until it is opened again, which recovers "
            "every acknowledged event from what is on disk");
  }
  failed_.store(true, std::memory_order_release);
  return failure_;
}

}  // namespace fundledger
