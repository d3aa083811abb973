// The public side of `fundledger serve` (DESIGN.md sections 9 and 10): everyone's reads, no
// signature, all tied to the latest signed checkpoint, and the dashboard's files.
//
//   GET /v1/public/checkpoint                       the latest durable checkpoint note (text)
//   GET /v1/public/projects                         every project at that checkpoint
//   GET /v1/public/summary?project=P | ?region=R    the dashboard's figures for a scope
//   GET /v1/public/export/FILE?project=P | ?region=R  one file of the scope's export bundle
//                                                   (api/bundle.h), FILE one of kBundleFiles
//   GET /, /dashboard.js, /dashboard.css, /vendor/echarts.min.js    the dashboard
//
// Public answers use the latest durable checkpoint (written every 10,000 events or 60 s of
// activity, and by `fundledger checkpoint`), never one signed on request: an anonymous reader
// cannot make the server write. A scope's answers at one checkpoint never change, so they are
// kept in a small cache (kPublicCacheEntriesMax answers, kPublicCacheBytesMax bytes), and an
// answer is built once however many readers ask for it at once: those who ask while it is being
// built wait for that build and share its answer (or its error).
//
// The builds (a fold of the checkpoint's records for a scope, an export bundle) run one at a time
// on a thread of their own, never on the caller's: a server's request threads, which also decode
// and verify the events posted, are not held by anonymous readers, and public builds take at
// most one core. At most kPublicBuildsMax builds wait or run at once; past that a reader whose
// answer is not at hand is refused 503 "public_busy", unless a queued build that nobody waits
// for (see below) can give way to it. At most kPublicWaitersMax readers wait for builds at once,
// all builds together; past that the next is refused "public_busy" too, so that readers waiting
// for public answers cannot hold every connection the server allows. Builds that readers wait
// for are started first.
//
// The summary and the project list of a newer checkpoint are built while readers get those of
// the newest checkpoint already built (each answer names its checkpoint): under ingest a new
// checkpoint comes every 10,000 events, and a reader need not wait for its fold. Only a reader
// with no earlier answer in the cache waits. A scope's answer is built anew at most once every
// kPublicRefreshMs: readers of a busy ledger see figures a few seconds old, and the public
// builds take a share of a core, not all of it. Export files are always of the checkpoint asked
// for (the latest, or `size`), so that a bundle's files are of one checkpoint.
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "api/bundle.h"
#include "api/sequencer.h"
#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

inline constexpr size_t kPublicCacheEntriesMax = 1024;  // a summary per project, and more
inline constexpr size_t kPublicCheapEntriesMax = 128;   // of them, regions without a project
inline constexpr size_t kPublicCacheBytesMax = 256 << 20;
// Of them, the files of bundles pinned to a checkpoint before the latest (`?size=N`).
inline constexpr size_t kPublicEarlierEntriesMax = 128;
inline constexpr size_t kPublicEarlierBytesMax = kPublicCacheBytesMax / 4;
inline constexpr size_t kSummaryPayeesMax = 20;   // the dashboard's payee chart
inline constexpr size_t kPublicBuildsMax = 64;    // builds waiting or running
inline constexpr size_t kPublicWaitersMax = 256;  // readers waiting for them, all together
// A scope's summary (or the project list) is built anew for a newer checkpoint at most once in
// this time, while readers get the newest one built: under ingest a checkpoint comes every
// 10,000 events, and rebuilding each would keep a core busy with public reads.
inline constexpr int64_t kPublicRefreshMs = 5000;

// The files the dashboard is made of, read once when the server starts.
struct WebAssets {
  struct File {
    std::string content_type;
    std::shared_ptr<const std::string> body;  // written to every reader from these bytes
  };
  std::map<std::string, File, std::less<>> files;  // by path: "/", "/dashboard.js", ...
};

// Reads the dashboard (index.html, dashboard.js, dashboard.css from `web_dir`) and ECharts
// (`echarts_file`, the npm package's dist/echarts.min.js). A file that is missing is left out
// (the dashboard then shows its figures without charts); IOError for a file that exists but
// cannot be read or is over 8 MiB.
Status LoadWebAssets(const std::string& web_dir, const std::string& echarts_file, WebAssets* out);

class PublicReads {
 public:
  using Answer = std::shared_ptr<const std::string>;
  // Gets a request's outcome and, when it is ok, the body. Called exactly once: at once on the
  // caller's thread where the answer is at hand or the request is refused before any build, else
  // on the builder thread once the build is done.
  using Done = std::function<void(const Status&, Answer)>;

  // `log_signer` signs the residents statement of export bundles (api/export.h); nullptr:
  // exports answer NotFound "export_unavailable". Not owned; all outlive this. Starts the
  // builder thread. `before_build` and `after_build`, if set, run on the builder thread before
  // and after each build (tests hold the builder with the first; a server hands the build's
  // freed memory back to the system with the second). `refresh_ms`: see kPublicRefreshMs.
  PublicReads(const Journal& journal, ReadGate& gate, const NoteSigner* log_signer,
              std::function<void()> before_build = {}, std::function<void()> after_build = {},
              int64_t refresh_ms = kPublicRefreshMs);
  ~PublicReads();  // Stop()
  PublicReads(const PublicReads&) = delete;
  PublicReads& operator=(const PublicReads&) = delete;

  // Each answer is the body to send, JSON or the file's bytes.
  // {checkpoint, projects: [{id, name, region, phase}]} of the whole ledger.
  void Projects(Done done);
  // The dashboard's figures of a project or region scope: {scope, checkpoint, projects,
  // money_in {total_fen, by_category}, money_in_by_project (regions), progress
  // {allocation_rate_bp, allocation_basis, payment_rate_bp, ...}, disbursements {total_fen,
  // count, by_work, by_payee}, flags, exports}. NotFound "project_unknown" etc. as the views.
  void Summary(const Scope& scope, Done done);
  // One file of the bundle of `scope` at the latest checkpoint, or at the stored checkpoint of
  // tree size `size` (no later than the latest), so that the files of one bundle can be fetched
  // one by one while newer checkpoints are signed. NotFound "no_such_file" for a name not in
  // kBundleFiles, "checkpoint_unknown" for a size with no checkpoint stored or past the latest.
  void ExportFile(const Scope& scope, std::string_view name, Done done,
                  std::optional<uint64_t> size = std::nullopt);
  // The same, waiting for the answer, for callers that may block.
  // REQUIRES: not called on the builder thread (from a Done).
  Status Projects(Answer* out);
  Status Summary(const Scope& scope, Answer* out);
  Status ExportFile(const Scope& scope, std::string_view name, Answer* out,
                    std::optional<uint64_t> size = std::nullopt);

  // Answers the builds still waiting (not the one running) 503 "stopping", at once, and so
  // every later request whose answer is not at hand. Does not wait.
  void Refuse();
  // Refuse(), then ends the builder thread once the build it is running is done.
  void Stop();

  // The bytes of the answers kept in the cache (at most kPublicCacheBytesMax).
  size_t cache_bytes();
  // The builds waiting or running now (at most kPublicBuildsMax).
  size_t builds_waiting();
  // The builds started so far (every other answer came from the cache, from a build under way,
  // or was refused).
  uint64_t builds();

 private:
  // The latest checkpoint: NotFound "no_checkpoint" if none has been signed yet. With `size`,
  // the stored checkpoint of that size instead, if it is no later than the latest.
  Status Latest(std::string* note, Checkpoint* checkpoint,
                std::optional<uint64_t> size = std::nullopt) const;
  Status BuildSummary(const Scope& scope, const std::string& note, const Checkpoint& checkpoint,
                      nlohmann::json* out) const;
  // How the views of the checkpoint of `size` are read. Where it is the head, the stored rows
  // under the read gate, which `*hold` then holds: nullptr. Otherwise the checkpoint's records
  // are folded beside the writer (ViewPoint::Open), so that a large scope's fold does not hold
  // the writer back: the gate, not held, to read the journal's in-memory state under.
  StateGate* ReadAt(uint64_t size, std::optional<ReadGate::Shared>* hold) const;
  Status PoolProgress(const Scope& scope, uint64_t size, StateGate* beside,
                      nlohmann::json* out) const;
  // What one build gives: its answers by cache key (a bundle gives all its files), or its error.
  struct Built {
    Status status;
    std::map<std::string, Answer> answers;
    // True for the answers of a region that holds no project: they cost little to build, and
    // anyone may ask for any region path. At most kPublicCheapEntriesMax of them are kept, each
    // in the place of an older one of them, so that they never push out answers that cost much.
    bool cheap = false;
    // True for the files of a bundle pinned to a checkpoint before the latest: anyone may ask
    // for the bundle of every earlier checkpoint, each a build of its own. They keep at most
    // kPublicEarlierEntriesMax answers and kPublicEarlierBytesMax bytes, each in the place of
    // older ones of them, so that they never push out the answers at the latest checkpoint.
    bool earlier = false;
  };
  // A build waiting or running, and who waits for it (each for the answer of its key).
  struct Flight {
    std::function<Status(Built*)> build;
    std::vector<std::pair<std::string, Done>> waiting;
    std::string family;      // the answer's key without its size (Once's `earlier`), if any
    std::string refresh_of;  // the family, if readers got an earlier answer of it meanwhile
  };
  // The answer of `key`: from the cache; else from the build named `flight` under way, waited
  // for; else from `build`, queued for the builder thread, whose answers go to the cache and to
  // every caller that waited for it. NotFound "no_such_answer" if the build gave no answer of
  // `key`. With `earlier` (the key of the same answer without its checkpoint size, whose key is
  // `earlier` + size), a caller who would wait, or be refused, gets the newest answer in the
  // cache at a checkpoint before `size` instead, if there is one; the build still runs.
  void Once(const std::string& flight, const std::string& key, std::function<Status(Built*)> build,
            Done done, const std::string& earlier = "", uint64_t size = 0);
  // Whether an answer of `earlier` may be built anew: none is being refreshed, and none was
  // built in the last refresh_. REQUIRES: mu_ held.
  bool RefreshDueLocked(const std::string& earlier) const;
  // Notes a build of `earlier`'s family done at `at`, or kRefreshPending. REQUIRES: mu_ held.
  void StampLocked(const std::string& earlier, std::chrono::steady_clock::time_point at);
  static constexpr std::chrono::steady_clock::time_point kRefreshPending =
      std::chrono::steady_clock::time_point::max();
  // Drops the newest queued build that nobody waits for; false if there is none.
  // REQUIRES: mu_ held.
  bool DropRefreshLocked();
  // The newest cached answer whose key is `earlier` + a size below `size`; nullptr if none.
  // REQUIRES: mu_ held.
  Answer EarlierLocked(const std::string& earlier, uint64_t size) const;
  void BuilderLoop();
  // The cache: answers by key, oldest evicted first. REQUIRES: mu_ held.
  void RememberLocked(const std::string& key, Answer value, bool cheap, bool earlier);
  // Gives each waiter its answer of `built`; a waiter's Done that throws does not keep the next
  // from theirs.
  static void Answer_(std::vector<std::pair<std::string, Done>>& waiting, const Built& built);
  // Waits for an answer given to a Done.
  static Status Wait(const std::function<void(Done)>& ask, Answer* out);

  const Journal& journal_;
  ReadGate& gate_;
  const NoteSigner* log_signer_;
  const std::chrono::steady_clock::duration refresh_;
  mutable std::mutex latest_mu_;  // guards the two below: the latest checkpoint, opened
  mutable std::string latest_note_;
  mutable Checkpoint latest_;
  std::mutex mu_;  // guards the cache, the builds under way and the count
  std::map<std::string, std::shared_ptr<const std::string>> cache_;
  std::vector<std::string> cache_order_;
  std::set<std::string> cheap_;    // the keys of cache_order_ that are cheap answers
  std::set<std::string> earlier_;  // and those of bundles at an earlier checkpoint
  size_t earlier_bytes_ = 0;       // their bytes
  size_t cache_bytes_ = 0;
  std::map<std::string, Flight> flights_;  // waiting or running, by name
  // When each family's last build ended (kRefreshPending while a refresh of it is queued or
  // running), while it may matter; pruned once it reaches prune_at_ entries.
  std::map<std::string, std::chrono::steady_clock::time_point> built_at_;
  size_t prune_at_ = 2 * kPublicCacheEntriesMax;
  std::deque<std::string> queue_;  // the flights not yet started, oldest first
  std::condition_variable work_;   // signalled when queue_ or stopping_ changes
  bool stopping_ = false;
  uint64_t builds_ = 0;
  size_t waiters_ = 0;  // readers in the flights' waiting lists
  std::function<void()> before_build_, after_build_;
  std::thread builder_;  // last: started once the rest is ready
};

}  // namespace fundledger
