// A RocksDB file system for durability tests. For each WAL file (*.log) it counts the bytes
// appended and the bytes a successful sync has covered; it can make syncs fail, hold them until
// released, and copy the database as a power cut would leave it (each WAL file cut back to what
// was synced, or to any length between that and what was written).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace fundledger::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  FaultFs() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FaultFs"; }

  // An Env over a FaultFs, for JournalOptions::env.
  struct WithEnv {
    std::shared_ptr<FaultFs> fs = std::make_shared<FaultFs>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  };

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, &file, dbg);
    if (!s.ok()) return s;
    if (IsWal(name)) {
      std::lock_guard<std::mutex> lock(mu_);
      wal_[name] = Wal{};
      *result = std::make_unique<WalFile>(std::move(file), this, name);
    } else {
      *result = std::move(file);
    }
    return s;
  }

  // Syncs of WAL files fail (true) or work again (false).
  void FailSyncs(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_syncs_ = fail;
  }
  // The next `n` syncs of WAL files fail, whichever thread makes them (RocksDB's own flushes
  // sync the WAL files they close); later ones reach the disk again and report its answer, as a
  // retried fsync on Linux reports success after the kernel has dropped the pages it could not
  // write.
  void FailNextSyncs(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_syncs_ = n;
  }
  // The next append to a WAL file fails (EIO, say) after `keep` bytes of it reached the file.
  void FailNextAppend(size_t keep) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_next_append_ = true;
    fail_append_keep_ = keep;
  }
  uint64_t failed_syncs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_syncs_;
  }
  // Syncs of WAL files wait (true) until released (false).
  void HoldSyncs(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_syncs_ = hold;
    cv_.notify_all();
  }
  // Waits until a sync is being held; false after `timeout_ms`.
  bool WaitForHeldSync(int64_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return held_ > 0; });
  }

  uint64_t AppendedBytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (const auto& [name, wal] : wal_) n += wal.appended;
    return n;
  }
  // Bytes appended to WAL files that no successful sync has covered.
  uint64_t UnsyncedBytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (const auto& [name, wal] : wal_) n += wal.appended - wal.synced;
    return n;
  }
  uint64_t syncs() const {
    std::lock_guard<std::mutex> lock(mu_);
    return syncs_;
  }

  // Copies database directory `from` to `to` as a power cut now would leave it: every file as
  // it is, except that each WAL file keeps what was synced plus `keep_unsynced(unsynced)` of the
  // bytes after it (0: none, as with a clean cut; more: pages written back before the cut).
  // The database must not be flushing meanwhile (tests stay below one memtable).
  template <typename KeepFn>
  void CopyAsAfterPowerCut(const std::filesystem::path& from, const std::filesystem::path& to,
                           KeepFn keep_unsynced) const {
    namespace fs = std::filesystem;
    std::lock_guard<std::mutex> lock(mu_);
    fs::create_directories(to);
    for (const auto& entry : fs::directory_iterator(from)) {
      if (!entry.is_regular_file() || entry.path().filename() == "LOCK") continue;
      fs::path target = to / entry.path().filename();
      fs::copy_file(entry.path(), target, fs::copy_options::overwrite_existing);
      auto wal = wal_.find(entry.path().string());
      if (wal == wal_.end()) continue;
      uint64_t unsynced = wal->second.appended - wal->second.synced;
      fs::resize_file(target, wal->second.synced + std::min(unsynced, keep_unsynced(unsynced)));
    }
  }

 private:
  struct Wal {
    uint64_t appended = 0;
    uint64_t synced = 0;
  };

  class WalFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    WalFile(std::unique_ptr<rocksdb::FSWritableFile> file, FaultFs* fs, std::string name)
        : rocksdb::FSWritableFileOwnerWrapper(std::move(file)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      if (size_t keep = 0; fs_->TakeAppendFailure(&keep)) {
        (void)target()->Append(rocksdb::Slice(data.data(), std::min(keep, data.size())), options,
                               dbg);
        return rocksdb::IOStatus::IOError("injected: the WAL append failed");
      }
      rocksdb::IOStatus s = target()->Append(data, options, dbg);
      if (s.ok()) fs_->OnAppend(name_, data.size());
      return s;
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (size_t keep = 0; fs_->TakeAppendFailure(&keep)) {
        (void)target()->Append(rocksdb::Slice(data.data(), std::min(keep, data.size())), options,
                               info, dbg);
        return rocksdb::IOStatus::IOError("injected: the WAL append failed");
      }
      rocksdb::IOStatus s = target()->Append(data, options, info, dbg);
      if (s.ok()) fs_->OnAppend(name_, data.size());
      return s;
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      return fs_->OnSync(name_, [&] { return target()->Sync(options, dbg); });
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      return fs_->OnSync(name_, [&] { return target()->Fsync(options, dbg); });
    }

   private:
    FaultFs* fs_;
    std::string name_;
  };

  static bool IsWal(const std::string& name) {
    return name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0;
  }
  bool TakeAppendFailure(size_t* keep) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fail_next_append_) return false;
    fail_next_append_ = false;
    *keep = fail_append_keep_;
    return true;
  }
  void OnAppend(const std::string& name, uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    wal_[name].appended += bytes;
  }
  template <typename SyncFn>
  rocksdb::IOStatus OnSync(const std::string& name, SyncFn sync) {
    uint64_t covered = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      ++held_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !hold_syncs_; });
      --held_;
      if (fail_syncs_ || fail_next_syncs_ > 0) {
        if (fail_next_syncs_ > 0) --fail_next_syncs_;
        ++failed_syncs_;
        // Marked retryable, as RocksDB treats a transient device error: RocksDB itself may then
        // resume writing, so the journal must stop on its own.
        rocksdb::IOStatus failure = rocksdb::IOStatus::IOError("injected sync failure");
        failure.SetRetryable(true);
        return failure;
      }
      covered = wal_[name].appended;  // what was written before the sync began
    }
    rocksdb::IOStatus s = sync();
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      ++syncs_;
      wal_[name].synced = std::max(wal_[name].synced, covered);
    }
    return s;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Wal> wal_;  // by path
  bool fail_syncs_ = false;
  int fail_next_syncs_ = 0;
  bool fail_next_append_ = false;
  size_t fail_append_keep_ = 0;
  uint64_t failed_syncs_ = 0;
  bool hold_syncs_ = false;
  int held_ = 0;  // syncs waiting in a hold
  uint64_t syncs_ = 0;
};

}  // namespace fundledger::testing
