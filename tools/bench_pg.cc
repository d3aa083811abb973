// `fundledger bench pg`: the baseline a finance bureau would build instead of fundledger. An
// append-only PostgreSQL table of the same events, the application checking every signature
// (libsodium, on all cores) and chaining SHA-256 over the records, batches stored in
// transactions; PostgreSQL with fsync and synchronous_commit on, so that an acknowledged batch
// is durable, as an appended one is in fundledger.
//
// The server is Debian's (the postgresql package), started by the benchmark in a private
// directory and reached on a unix socket there, never on the network. PostgreSQL refuses to run
// as root, so a root benchmark runs initdb, pg_ctl and the server as the unprivileged user the
// package created (`postgres`).

#include <cstdio>
#include <filesystem>

#include "tools/bench.h"
#include "tools/cli_util.h"

#ifdef FL_HAVE_LIBPQ
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "ledger/parallel.h"
#endif

namespace fundledger::cli {

namespace fs = std::filesystem;

namespace {

constexpr char kInstallHint[] =
    "install Debian's postgresql and libpq-dev with scripts/install-bench-deps.sh (as root), "
    "then rebuild";

Status CheckPgArgs(const BenchPgArgs& args) {
  if (args.batch == 0 || args.batch > 10000 || args.methods.empty() || args.writers.empty()) {
    return Status::InvalidArgument("bad_bench_args", "need 0 < pg batch <= 10000");
  }
  for (const auto& m : args.methods) {
    if (m != "copy" && m != "insert") {
      return Status::InvalidArgument("bad_bench_args", "pg methods are copy and insert");
    }
  }
  for (unsigned w : args.writers) {
    if (w == 0 || w > 64) return Status::InvalidArgument("bad_bench_args", "0 < writers <= 64");
  }
  return Status::Ok();
}

}  // namespace

const PgRun* PgFigures::best() const {
  const PgRun* best = nullptr;
  for (const auto& run : runs) {
    if (best == nullptr || run.events_per_s > best->events_per_s) best = &run;
  }
  return best;
}

#ifdef FL_HAVE_LIBPQ

namespace {

using Clock = std::chrono::steady_clock;

// Who the server's programs run as: this process's user, or `postgres` when this is root.
struct RunAs {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Status ResolveRunAs(const std::string& user, RunAs* out) {
  if (geteuid() != 0) return Status::Ok();
  struct passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) {
    return Status::NotFound("postgresql_missing",
                            "PostgreSQL refuses to run as root and there is no user " + user +
                                " to run it as (the postgresql package creates one); " +
                                kInstallHint);
  }
  *out = RunAs{true, pw->pw_uid, pw->pw_gid};
  return Status::Ok();
}

// Runs `argv` (argv[0] a full path) in `cwd` as `as`, its output appended to `log_path`, and
// waits for it. InvalidArgument "postgresql_failed" unless it exits 0.
Status RunProgram(const std::vector<std::string>& argv, const RunAs& as, const std::string& cwd,
                  const std::string& log_path) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return Status::IOError("postgresql_log", "cannot open " + log_path);
  pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    dup2(log, 1);
    dup2(log, 2);
    if (as.drop && (setgroups(1, &as.gid) != 0 || setgid(as.gid) != 0 || setuid(as.uid) != 0)) {
      _exit(126);
    }
    if (chdir(cwd.c_str()) != 0) _exit(126);
    execv(args[0], args.data());
    _exit(127);
  }
  close(log);
  if (pid < 0) return Status::IOError("fork", "cannot start " + argv[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::InvalidArgument("postgresql_failed",
                                   argv[0] + " failed; its output is in " + log_path);
  }
  return Status::Ok();
}

// The newest /usr/lib/postgresql/VERSION/bin holding initdb and pg_ctl, or `bin_dir` if given.
Status FindPgBin(const std::string& bin_dir, std::string* out) {
  auto usable = [](const fs::path& dir) {
    return fs::exists(dir / "initdb") && fs::exists(dir / "pg_ctl");
  };
  if (!bin_dir.empty()) {
    if (usable(bin_dir)) {
      *out = bin_dir;
      return Status::Ok();
    }
    return Status::NotFound("postgresql_missing", bin_dir + " holds no initdb and pg_ctl");
  }
  int best = -1;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = std::atoi(entry.path().filename().c_str());
    if (version > best && usable(entry.path() / "bin")) {
      best = version;
      *out = (entry.path() / "bin").string();
    }
  }
  if (best < 0) {
    return Status::NotFound(
        "postgresql_missing",
        std::string("no PostgreSQL server in /usr/lib/postgresql; ") + kInstallHint);
  }
  return Status::Ok();
}

// A private PostgreSQL server in `dir` (data in dir/data, socket and logs in dir), stopped by
// the destructor.
class PgServer {
 public:
  ~PgServer() {
    if (started_) {
      RunProgram({bin_ + "/pg_ctl", "-D", data_, "-m", "fast", "-w", "stop"}, as_, dir_,
                 dir_ + "/pg_ctl.log")
          .ok();
    }
  }
  Status Start(const std::string& bin, const std::string& dir, const std::string& user) {
    bin_ = bin;
    dir_ = dir;
    data_ = dir + "/data";
    FL_RETURN_IF_ERROR(ResolveRunAs(user, &as_));
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return Status::IOError("mkdir", dir + ": " + ec.message());
    if (as_.drop) {
      // The server's user must reach its directory: it owns it, and may pass through the
      // scratch directory above it.
      fs::permissions(fs::path(dir).parent_path(), fs::perms::group_exec | fs::perms::others_exec,
                      fs::perm_options::add, ec);
      if (chown(dir.c_str(), as_.uid, as_.gid) != 0) {
        return Status::IOError("chown", "cannot give " + dir + " to the server's user");
      }
    }
    if (dir.size() + 20 > 107) {  // sizeof(sockaddr_un::sun_path) - 1
      return Status::InvalidArgument("bad_bench_args", dir + " is too long for a unix socket");
    }
    // initdb --no-sync: only the initial catalogue skips its fsync; every later commit is
    // synced (fsync and synchronous_commit are on).
    FL_RETURN_IF_ERROR(RunProgram({bin + "/initdb", "-D", data_, "-U", "bench", "--auth=trust",
                                   "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                                  as_, dir, dir + "/initdb.log"));
    // Appended to postgresql.conf: reachable only through the socket in `dir`; durability as
    // fundledger's (each commit's WAL flushed before it is acknowledged); memory and WAL sized
    // as a DBA would for a write-heavy table on this machine, which only makes it faster.
    std::ofstream conf(data_ + "/postgresql.conf", std::ios::app);
    conf << "listen_addresses = ''\n"
         << "unix_socket_directories = '" << dir << "'\n"
         << "port = 5432\n"
         << "fsync = on\n"
         << "synchronous_commit = on\n"
         << "full_page_writes = on\n"
         << "wal_sync_method = fdatasync\n"
         << "shared_buffers = 1GB\n"
         << "max_wal_size = 8GB\n"
         << "checkpoint_timeout = 15min\n";
    if (!conf.flush()) return Status::IOError("postgresql_conf", "cannot write postgresql.conf");
    conf.close();
    // Stopped by the destructor even if pg_ctl gives up waiting for a server it did start.
    started_ = true;
    FL_RETURN_IF_ERROR(RunProgram(
        {bin + "/pg_ctl", "-D", data_, "-l", dir + "/server.log", "-w", "-t", "60", "start"}, as_,
        dir, dir + "/pg_ctl.log"));
    return Status::Ok();
  }
  std::string ConnInfo() const {
    return "host=" + dir_ +
           " port=5432 dbname=postgres user=bench connect_timeout=30 "
           "options='-c client_min_messages=warning'";
  }

 private:
  std::string bin_, dir_, data_;
  RunAs as_;
  bool started_ = false;
};

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgConn = std::unique_ptr<PGconn, PgConnDeleter>;
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, PgResultDeleter>;

Status Connect(const std::string& conninfo, PgConn* out) {
  PgConn conn(PQconnectdb(conninfo.c_str()));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Status::IOError("postgresql_connect", PQerrorMessage(conn.get()));
  }
  *out = std::move(conn);
  return Status::Ok();
}

Status Check(PGconn* conn, const PgResult& result, ExecStatusType expected) {
  if (PQresultStatus(result.get()) == expected) return Status::Ok();
  return Status::IOError("postgresql", PQerrorMessage(conn));
}

Status Exec(PGconn* conn, const std::string& sql, ExecStatusType expected = PGRES_COMMAND_OK,
            std::string* first_value = nullptr) {
  PgResult result(PQexec(conn, sql.c_str()));
  FL_RETURN_IF_ERROR(Check(conn, result, expected));
  if (first_value) *first_value = PQgetvalue(result.get(), 0, 0);
  return Status::Ok();
}

// The bureau's table: one row per event, nothing ever updated or deleted (the trigger refuses
// it), ids unique as in fundledger.
constexpr char kSchema[] = R"(
DROP TABLE IF EXISTS events;
CREATE TABLE events (
  seq       bigint PRIMARY KEY,
  id        text   NOT NULL UNIQUE,
  signer    text   NOT NULL,
  event     bytea  NOT NULL,  -- the canonical Cap'n Proto event, as signed
  signature bytea  NOT NULL,  -- Ed25519, 64 bytes
  chain     bytea  NOT NULL   -- SHA-256(previous chain || record)
);
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'events is append-only'; END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
)";

void PutU16(std::string* out, uint16_t v) {
  out->push_back(char(v >> 8));
  out->push_back(char(v));
}
void PutU32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(char(v >> shift));
}
std::string BigEndian64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = char(v >> (56 - 8 * i));
  return out;
}

// One row as the application prepares it, its fields in the table's column order, each in
// PostgreSQL's binary form (bigint big-endian, text and bytea as bytes).
struct Row {
  std::string fields[6];
};

// The record the chain hashes: seq || signer length || signer || event || signature.
Hash ChainNext(const Hash& previous, uint64_t seq, const SignedEvent& event) {
  Sha256Hasher h;
  h.Update(previous);
  std::string head = BigEndian64(seq);
  head.push_back(char(event.signer().size()));
  head += event.signer();
  h.Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(head.data()), head.size()));
  h.Update(event.canonical_event());
  h.Update(event.signature());
  return h.Finish();
}

std::string Bytes(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// COPY ... FROM STDIN (FORMAT binary): the bulk path, one statement and one transaction.
Status CopyRows(PGconn* conn, const std::vector<Row>& rows) {
  std::string data("PGCOPY\n\377\r\n\0", 11);
  PutU32(&data, 0);  // flags
  PutU32(&data, 0);  // header extension
  for (const auto& row : rows) {
    PutU16(&data, 6);
    for (const auto& field : row.fields) {
      PutU32(&data, uint32_t(field.size()));
      data += field;
    }
  }
  PutU16(&data, 0xffff);
  PgResult start(PQexec(conn,
                        "COPY events (seq, id, signer, event, signature, chain) "
                        "FROM STDIN (FORMAT binary)"));
  FL_RETURN_IF_ERROR(Check(conn, start, PGRES_COPY_IN));
  if (PQputCopyData(conn, data.data(), int(data.size())) != 1 || PQputCopyEnd(conn, nullptr) != 1) {
    return Status::IOError("postgresql", PQerrorMessage(conn));
  }
  PgResult done(PQgetResult(conn));
  FL_RETURN_IF_ERROR(Check(conn, done, PGRES_COMMAND_OK));
  while (PGresult* extra = PQgetResult(conn)) PQclear(extra);
  return Status::Ok();
}

// A multi-row INSERT of the batch, prepared once per batch size, binary parameters: what an
// application's driver sends. One statement, so one transaction.
Status InsertRows(PGconn* conn, const std::vector<Row>& rows,
                  std::map<size_t, std::string>* prepared) {
  auto [it, added] = prepared->try_emplace(rows.size(), "ins" + std::to_string(rows.size()));
  if (added) {
    std::string sql = "INSERT INTO events (seq, id, signer, event, signature, chain) VALUES ";
    for (size_t r = 0; r < rows.size(); ++r) {
      sql += r ? ",(" : "(";
      for (int f = 0; f < 6; ++f) {
        sql += (f ? ",$" : "$") + std::to_string(r * 6 + f + 1);
      }
      sql += ")";
    }
    PgResult result(PQprepare(conn, it->second.c_str(), sql.c_str(), 0, nullptr));
    FL_RETURN_IF_ERROR(Check(conn, result, PGRES_COMMAND_OK));
  }
  std::vector<const char*> values;
  std::vector<int> lengths, formats(rows.size() * 6, 1);
  for (const auto& row : rows) {
    for (const auto& field : row.fields) {
      values.push_back(field.data());
      lengths.push_back(int(field.size()));
    }
  }
  PgResult result(PQexecPrepared(conn, it->second.c_str(), int(values.size()), values.data(),
                                 lengths.data(), formats.data(), 0));
  return Check(conn, result, PGRES_COMMAND_OK);
}

// The application's write path, shared by its writers: batches are taken in turn, their
// signatures checked, then chained strictly in batch order under a lock; each writer then stores
// its batch on its own connection, so commits of different writers overlap (a later batch may
// commit before an earlier one; a reader of the chain stops at the first gap).
class Ingest {
 public:
  Ingest(const BenchWorkload& world, uint64_t batch, unsigned writers)
      : world_(world), batch_(batch), writers_(writers) {
    for (const char* signer : {"operator", "xt-finance", "xt-housing", "jianshe"}) {
      keys_[signer] = world.KeyOf(signer);
    }
    batches_ = (world.workload.size() + batch - 1) / batch;
  }

  Status Run(const std::string& conninfo, const std::string& method, double* rate) {
    std::vector<PgConn> conns(writers_);
    for (auto& conn : conns) FL_RETURN_IF_ERROR(Connect(conninfo, &conn));
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (unsigned w = 0; w < writers_; ++w) {
      threads.emplace_back([&, w] { Writer(conns[w].get(), method); });
    }
    for (auto& t : threads) t.join();
    *rate = double(world_.workload.size()) / Seconds(start);
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  // The chain value of the last event. REQUIRES: Run() returned.
  const Hash& chain() const { return chain_; }

 private:
  void Fail(const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = s;
    failed_ = true;
    turn_changed_.notify_all();
  }

  void Writer(PGconn* conn, const std::string& method) {
    std::map<size_t, std::string> prepared;
    // The writers share the cores for checking signatures.
    unsigned threads = std::max(1u, ThreadsOrCores(0) / writers_);
    std::vector<Row> rows;
    for (size_t k = next_++; k < batches_ && !failed_; k = next_++) {
      size_t begin = k * batch_, end = std::min(world_.workload.size(), begin + batch_);
      std::atomic<bool> bad{false};
      ParallelFor(end - begin, threads, [&](size_t b, size_t e) {
        for (size_t i = begin + b; i < begin + e; ++i) {
          const SignedEvent& event = world_.workload[i];
          auto key = keys_.find(event.signer());
          if (key == keys_.end() ||
              !VerifyEventSignature(key->second, event.canonical_event(), event.signature())) {
            bad = true;
          }
        }
      });
      if (bad) return Fail(Status::Rejected("signature_invalid", "a signature did not verify"));
      rows.assign(end - begin, Row());
      {
        std::unique_lock<std::mutex> lock(mu_);
        turn_changed_.wait(lock, [&] { return turn_ == k || failed_; });
        if (failed_) return;
        for (size_t i = begin; i < end; ++i) {
          const SignedEvent& event = world_.workload[i];
          chain_ = ChainNext(chain_, ++seq_, event);
          Row& row = rows[i - begin];
          row.fields[0] = BigEndian64(seq_);
          row.fields[1] = event.id();
          row.fields[2] = event.signer();
          row.fields[3] = Bytes(event.canonical_event());
          row.fields[4] = Bytes(event.signature());
          row.fields[5] = Bytes(chain_);
        }
        ++turn_;
        turn_changed_.notify_all();
      }
      Status s = method == "copy" ? CopyRows(conn, rows) : InsertRows(conn, rows, &prepared);
      if (!s.ok()) return Fail(s);
    }
  }

  const BenchWorkload& world_;
  const uint64_t batch_;
  const unsigned writers_;
  std::map<std::string, PublicKey, std::less<>> keys_;  // the application's cache of keys
  size_t batches_ = 0;
  std::atomic<size_t> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;
  std::condition_variable turn_changed_;
  size_t turn_ = 0;   // the batch to chain next
  uint64_t seq_ = 0;  // the last seq given
  Hash chain_{};      // the chain value of seq_
  Status error_;
};

Status RunOne(const BenchWorkload& world, const std::string& conninfo, const BenchPgArgs& args,
              const std::string& method, unsigned writers, PgRun* out) {
  PgConn admin;
  FL_RETURN_IF_ERROR(Connect(conninfo, &admin));
  // Each configuration starts on an empty table and a clean checkpoint, so that one run's
  // dirty pages are not written during the next.
  FL_RETURN_IF_ERROR(Exec(admin.get(), kSchema));
  FL_RETURN_IF_ERROR(Exec(admin.get(), "CHECKPOINT"));
  Ingest ingest(world, args.batch, writers);
  *out = PgRun{method, writers, 0, 0};
  FL_RETURN_IF_ERROR(ingest.Run(conninfo, method, &out->events_per_s));
  // Every event stored, and the chain as the application computed it.
  std::string count, last_chain, bytes;
  FL_RETURN_IF_ERROR(Exec(admin.get(), "SELECT count(*) FROM events", PGRES_TUPLES_OK, &count));
  FL_RETURN_IF_ERROR(Exec(admin.get(),
                          "SELECT encode(chain, 'hex') FROM events ORDER BY seq DESC LIMIT 1",
                          PGRES_TUPLES_OK, &last_chain));
  if (std::stoull(count) != world.workload.size() || last_chain != HexEncode(ingest.chain())) {
    return Status::Corruption("postgresql_rows",
                              "the table holds " + count + " events or the wrong chain");
  }
  FL_RETURN_IF_ERROR(
      Exec(admin.get(), "SELECT pg_total_relation_size('events')", PGRES_TUPLES_OK, &bytes));
  out->table_bytes = std::stoull(bytes);
  return Status::Ok();
}

}  // namespace

bool BenchPgBuilt() { return true; }

Status BenchPgRun(const BenchWorkload& world, const BenchPgArgs& args, const std::string& dir,
                  PgFigures* out) {
  FL_RETURN_IF_ERROR(CheckPgArgs(args));
  std::string bin;
  FL_RETURN_IF_ERROR(FindPgBin(args.bin_dir, &bin));
  PgServer server;
  FL_RETURN_IF_ERROR(server.Start(bin, dir, args.user));
  PgConn admin;
  FL_RETURN_IF_ERROR(Connect(server.ConnInfo(), &admin));
  FL_RETURN_IF_ERROR(Exec(admin.get(), "SHOW server_version", PGRES_TUPLES_OK, &out->version));
  // What the report states about durability, read back from the running server.
  for (const char* name : {"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method"}) {
    std::string value;
    FL_RETURN_IF_ERROR(Exec(admin.get(), std::string("SHOW ") + name, PGRES_TUPLES_OK, &value));
    out->settings += std::string(out->settings.empty() ? "" : ", ") + name + "=" + value;
  }
  out->events = world.workload.size();
  for (const auto& method : args.methods) {
    for (unsigned writers : args.writers) {
      PgRun run;
      FL_RETURN_IF_ERROR(RunOne(world, server.ConnInfo(), args, method, writers, &run));
      out->runs.push_back(run);
    }
  }
  return Status::Ok();
}

#else  // no libpq in this build

bool BenchPgBuilt() { return false; }

Status BenchPgRun(const BenchWorkload&, const BenchPgArgs& args, const std::string&, PgFigures*) {
  FL_RETURN_IF_ERROR(CheckPgArgs(args));
  return Status::NotFound("postgresql_missing",
                          std::string("this build has no libpq (bench pg); ") + kInstallHint);
}

#endif

void ReportPg(const PgFigures& pg, uint64_t batch, const VerifyLimit& limit, BenchReport* report) {
  report->Note("postgresql_server", "PostgreSQL server",
               pg.version + "; " + pg.settings + "; unix socket, same machine");
  for (const auto& run : pg.runs) {
    report->Add("postgresql_" + run.method + "_" + std::to_string(run.writers),
                "  PostgreSQL, " + std::string(run.method == "copy" ? "COPY" : "INSERT") + ", " +
                    std::to_string(run.writers) + (run.writers == 1 ? " writer" : " writers"),
                run.events_per_s, "events/s",
                Format("%.0f events/s", run.events_per_s) +
                    Format(", table and indexes %.0f bytes/event",
                           double(run.table_bytes) / double(std::max<uint64_t>(1, pg.events))));
  }
  const PgRun* best = pg.best();
  if (best == nullptr) return;
  report->Add("postgresql", "PostgreSQL baseline (best)", best->events_per_s, "events/s",
              Format("%.0f events/s", best->events_per_s) + " (" +
                  (best->method == "copy" ? "COPY" : "multi-row INSERT") + ", " +
                  std::to_string(best->writers) +
                  (best->writers == 1 ? " writer, " : " writers, ") + std::to_string(batch) +
                  " events per transaction)",
              best->events_per_s / limit.limit(), VerifyLimitName(limit));
}

int BenchPg(const BenchArgs& args, const BenchPgArgs& pg_args) {
  Status s = CheckPgArgs(pg_args);
  if (!s.ok()) return Report(s);
  BenchWorkload world;
  BenchReport report(args.json);
  VerifyLimit limit;
  s = BeginBench(args, &world, &report, &limit);
  if (!s.ok()) return Report(s);
  ReportWorkload(world, pg_args.batch, &report);
  PgFigures pg;
  s = BenchPgRun(world, pg_args, (fs::path(world.dir) / "pg").string(), &pg);
  fs::remove_all(world.dir);
  if (!s.ok()) return Report(s);
  ReportPg(pg, pg_args.batch, limit, &report);
  return report.Finish("fundledger bench pg") ? kExitOk : kExitFailure;
}

}  // namespace fundledger::cli
