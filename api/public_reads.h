// The public side of `fundledger serve` (DESIGN.md sections 9 and 10): everyone's reads, no
// signature, all tied to the latest signed checkpoint, and the dashboard's files.
//
//   GET /v1/public/checkpoint                       the latest signed checkpoint note (text)
//   GET /v1/public/projects                         every project at that checkpoint
//   GET /v1/public/summary?project=P | ?region=R    the dashboard's figures for a scope
//   GET /v1/public/export/FILE?project=P | ?region=R  one file of the scope's export bundle
//                                                   (api/bundle.h), FILE one of kBundleFiles
//   GET /, /dashboard.js, /dashboard.css, /vendor/echarts.min.js    the dashboard
//
// Public answers use the latest stored checkpoint (written every 10,000 events or 60 s of
// activity, and by `fundledger checkpoint`), never one signed on request: an anonymous reader
// cannot make the server write. A scope's answers at one checkpoint never change, so they are
// kept in a small cache (kPublicCacheEntriesMax answers, kPublicCacheBytesMax bytes), and an
// answer is built once however many readers ask for it at once: those who ask while it is being
// built wait for that build and share its answer (or its error).
//
// Thread safety: every method may be called from many threads at once.
#pragma once

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/bundle.h"
#include "api/sequencer.h"
#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

inline constexpr size_t kPublicCacheEntriesMax = 64;
inline constexpr size_t kPublicCacheBytesMax = 256 << 20;
inline constexpr size_t kSummaryPayeesMax = 20;  // the dashboard's payee chart

// The files the dashboard is made of, read once when the server starts.
struct WebAssets {
  struct File {
    std::string content_type;
    std::string body;
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
  // `log_signer` signs the residents statement of export bundles (api/export.h); nullptr:
  // exports answer NotFound "export_unavailable". Not owned; all outlive this.
  PublicReads(const Journal& journal, ReadGate& gate, const NoteSigner* log_signer)
      : journal_(journal), gate_(gate), log_signer_(log_signer) {}

  // Each answer is the body to send, JSON or the file's bytes.
  // {checkpoint, projects: [{id, name, region, phase}]} of the whole ledger.
  Status Projects(std::shared_ptr<const std::string>* out);
  // The dashboard's figures of a project or region scope: {scope, checkpoint, projects,
  // money_in {total_fen, by_category}, money_in_by_project (regions), progress
  // {allocation_rate_bp, allocation_basis, payment_rate_bp, ...}, disbursements {total_fen,
  // count, by_work, by_payee}, flags, exports}. NotFound "project_unknown" etc. as the views.
  Status Summary(const Scope& scope, std::shared_ptr<const std::string>* out);
  // One file of the bundle of `scope`. NotFound "no_such_file" for a name not in kBundleFiles.
  Status ExportFile(const Scope& scope, std::string_view name,
                    std::shared_ptr<const std::string>* out);
  // The bytes of the answers kept in the cache (at most kPublicCacheBytesMax).
  size_t cache_bytes();
  // The answers built so far (every other answer came from the cache or from a build under way).
  uint64_t builds();

 private:
  // The latest checkpoint: NotFound "no_checkpoint" if none has been signed yet.
  Status Latest(std::string* note, Checkpoint* checkpoint) const;
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
    std::map<std::string, std::shared_ptr<const std::string>> answers;
  };
  // The answer of `key`: from the cache; else from the build named `flight` under way, waited
  // for; else from `build`, run here, whose answers go to the cache and to every caller that
  // waited for it. NotFound "no_such_answer" if the build gave no answer of `key`.
  Status Once(const std::string& flight, const std::string& key,
              const std::function<Status(Built*)>& build, std::shared_ptr<const std::string>* out);
  // The cache: answers by key, oldest evicted first. REQUIRES: mu_ held.
  void RememberLocked(const std::string& key, std::shared_ptr<const std::string> value);

  const Journal& journal_;
  ReadGate& gate_;
  const NoteSigner* log_signer_;
  std::mutex mu_;  // guards the cache, the builds under way and the count
  std::map<std::string, std::shared_ptr<const std::string>> cache_;
  std::vector<std::string> cache_order_;
  size_t cache_bytes_ = 0;
  std::map<std::string, std::shared_future<std::shared_ptr<const Built>>> flights_;
  uint64_t builds_ = 0;
};

}  // namespace fundledger
