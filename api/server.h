// Server: `fundledger serve`, the HTTP/1.1 server on Boost.Beast. It only moves bytes: the
// listener accepts connections, each session reads requests within its limits and time-outs and
// writes the answers of HandleRequest (api/http_handler.h); the Sequencer (api/sequencer.h) is
// the single writer.
//
// Limits (ServerLimits, defaults in brackets): request header bytes [16 KiB] (413
// header_too_large), body bytes [8 MiB] (413 body_too_large), events per request [5000] (413),
// open connections [1024] (a further one gets 503 and is closed), events waiting for the
// writer [50000] (503 queue_full with Retry-After: 1), events per group-commit batch [10000];
// time to the first byte of a request on an open connection [30 s idle], to read the rest of
// the header [10 s], the body [30 s], and to write an answer [30 s]: the connection is closed
// when one runs out. Stop() (and SIGINT/SIGTERM) stops accepting, closes idle connections,
// lets requests in flight finish (their events appended and answered) for up to [10 s], then
// stops the writer; the caller then closes the journal.
//
// Thread safety: Start, Stop and Wait may be called from any thread; Wait from one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/view_points.h"
#include "crypto/note.h"
#include "crypto/status.h"
#include "ledger/journal.h"

namespace fundledger {

struct ServerLimits {
  size_t header_bytes_max = 16 << 10;
  size_t body_bytes_max = 8 << 20;
  // The bodies of every connection's request together, from its header until its answer is
  // written, counted as they arrive: the bytes received and one read (64 KiB) more, up to the
  // declared length (body_bytes_max when chunked). A request that would pass it is answered 503
  // "bodies_full" then, the rest of its body unread.
  size_t bodies_bytes_max = 256 << 20;
  size_t request_events_max = 5000;
  // Disbursements listed in one answer of GET /v1/views/disbursements (the totals are always of
  // the whole list); the rest is paged with from= (see README).
  size_t view_lines_max = 10000;
  // The folds of earlier points kept for the pages that follow (api/view_points.h).
  size_t view_points_bytes_max = kViewPointsBytesMax;
  int64_t view_points_idle_ms = kViewPointsIdleMs;
  // Views as of an earlier point fold the scope's records, which may take seconds: they run on
  // threads of their own, not on the request threads, at most this many at once, and this many
  // more wait; past that a request is answered 503 "views_busy".
  unsigned view_fold_threads = 1;
  size_t view_folds_waiting_max = 64;
  size_t connections_max = 1024;
  size_t queue_events_max = 50000;
  size_t batch_events_max = 10000;
  int64_t idle_timeout_ms = 30000;
  int64_t header_timeout_ms = 10000;
  int64_t body_timeout_ms = 30000;
  // Writing an answer may take write_timeout_ms plus its size at write_bytes_per_s_min: a large
  // export reaches a slow link, and a reader slower than that is cut off.
  int64_t write_timeout_ms = 30000;
  size_t write_bytes_per_s_min = 64 << 10;
  // A read whose answer waits (for a public build, a fold of an earlier point, the writer's next
  // batch) is answered 503 "answer_timeout" past this, and its answer, if it comes later, is
  // dropped. POST /v1/events is not: its events may be appended whatever it is told, so it waits
  // for its durable batch.
  int64_t read_answer_timeout_ms = 60000;
  int64_t drain_timeout_ms = 10000;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;     // 0: any free port (see Server::port())
  unsigned threads = 0;  // request threads; 0: one per core
  ServerLimits limits;
  bool handle_signals = false;      // SIGINT and SIGTERM call Stop()
  std::function<int64_t()> now_ms;  // wall clock for request timestamps; default the system's
  // The public exports' residents statements are signed with the log key (api/export.h); not
  // owned, must outlive the Server. nullptr: /v1/public/export/ answers 404.
  const NoteSigner* log_signer = nullptr;
  // The dashboard's files (index.html, dashboard.js, dashboard.css) and ECharts' echarts.min.js,
  // read at Start (LoadWebAssets); empty or missing: a plain page at /, figures without charts.
  std::string web_dir;
  std::string echarts_file;
  // Tests only: runs on a fold thread before each view it answers.
  std::function<void()> before_view_fold;
};

class Server {
 public:
  // Binds, then serves on its own threads until Stop(). `journal` (opened for writing, with its
  // views) must outlive the Server and sees no other writer meanwhile.
  static Status Start(Journal& journal, const ServerOptions& options, std::unique_ptr<Server>* out);
  ~Server();  // Stop() and Wait()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  uint16_t port() const;
  // Begins a graceful stop; returns at once. Idempotent.
  void Stop();
  // Blocks until the server has stopped (after Stop() or a signal): connections drained or
  // timed out, the writer's queue appended, the threads joined.
  void Wait();

  struct Impl;  // the implementation's, named here for its sessions

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fundledger
