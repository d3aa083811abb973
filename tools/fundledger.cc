// fundledger: the command line (DESIGN.md section 8). main() builds the parts and hands them to
// the subcommand; each subcommand returns the process exit status.

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "api/http_handler.h"
#include "api/reads.h"
#include "api/submit.h"
#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "ledger/codec.h"
#include "ledger/journal.h"
#include "ledger/key_file.h"
#include "ledger/rules.h"
#include "ledger/storage_format.h"
#include "replay/rebuild.h"
#include "replay/reports.h"
#include "replay/verify.h"
#include "replay/views.h"
#include "tools/bench.h"
#include "tools/cli_util.h"
#include "tools/csv_import.h"
#include "tools/demo.h"
#include "tools/public_export.h"
#include "tools/remote.h"

namespace fundledger::cli {
namespace {

using nlohmann::json;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Opens a ledger read-only, or, given `views` to keep in step, for appending.
Status OpenLedger(const std::string& dir, Views* views, std::unique_ptr<Journal>* out) {
  JournalOptions options;
  if (views != nullptr) return OpenWithViews(dir, options, views, out);
  options.read_only = true;
  return Journal::Open(dir, options, out);
}

// ---- keygen ----
struct KeygenArgs {
  std::string name;
  std::string out;
};

int Keygen(const KeygenArgs& args) {
  if (!IsValidNoteKeyName(args.name)) {
    return Report(
        Status::InvalidArgument("bad_key_name", "a key name has no '+' or spaces", "name"));
  }
  // Both files are new, or neither is written: a secret key must not sit beside another key's
  // public half.
  for (const char* ext : {".key", ".pub"}) {
    std::error_code ec;
    // A link counts, a dangling one too: it is not followed. So does a path that cannot be
    // looked at (its type is `none`).
    if (std::filesystem::symlink_status(args.out + ext, ec).type() !=
        std::filesystem::file_type::not_found) {
      return Report(Status::InvalidArgument(
          "key_file_exists", args.out + ext + " exists; keys are never replaced", "out"));
    }
  }
  NoteSigner signer{args.name, 0, KeyPair::Generate()};
  signer.key_hash = NoteKeyHash(signer.name, signer.key.public_key());
  // A file that fails to be written removes itself; a file this run did not create (one made
  // at the path meanwhile) stays.
  Status s = WriteSecretKeyFile(args.out + ".key", signer);
  if (!s.ok()) return Report(s);
  s = WritePublicKeyFile(args.out + ".pub", VerifierOf(signer));
  if (!s.ok()) {
    std::error_code ec;
    std::filesystem::remove(args.out + ".key", ec);  // written by this run, just above
    return Report(s);
  }
  std::cout << FormatVerifierKey(signer.name, signer.key.public_key()) << "\n";
  return kExitOk;
}

// ---- init ----
struct InitArgs {
  std::string data;
  std::string origin;
  std::string log_key;
  std::string operator_id;
  std::string operator_name = "fundledger operator";
  std::string operator_key;
};

int Init(const InitArgs& args) {
  NoteSigner log_key, operator_key;
  Status s = ReadSecretKeyFile(args.log_key, &log_key);
  if (s.ok()) s = ReadSecretKeyFile(args.operator_key, &operator_key);
  if (!s.ok()) return Report(s);
  // The genesis signed before anything is created, so that a bad operator id is refused with
  // nothing written.
  json genesis = GenesisEvent(args.operator_id, args.operator_name, operator_key.key.public_key(),
                              FormatDate(BusinessDay(NowMs())));
  SignedEvent event;
  s = SignedEvent::Sign(genesis, args.operator_id, operator_key.key, &event);
  if (!s.ok()) return Report(s);
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool dir_existed = fs::exists(args.data, ec);
  Views views;
  std::unique_ptr<Journal> journal;
  s = CreateWithViews(args.data, args.origin, log_key, JournalOptions(), &views, &journal);
  if (!s.ok()) return Report(s);
  std::vector<AppendResult> results;
  s = journal->Append(std::span<const SignedEvent>(&event, 1), &results);
  if (s.ok()) s = results[0].status;
  std::string note;
  if (s.ok()) s = journal->WriteCheckpoint(&note);
  if (!s.ok()) {
    // A ledger without its genesis would take the first operator registration anyone submits:
    // what this init created goes, so that it can be run again.
    journal.reset();
    if (dir_existed) {
      fs::remove_all(fs::path(args.data) / storage::kDatabaseDir, ec);
      fs::remove(fs::path(args.data) / storage::kLogKeyFile, ec);
    } else {
      fs::remove_all(args.data, ec);
    }
    return Report(s);
  }
  std::cout << note;
  return kExitOk;
}

// ---- sign ----
struct SignArgs {
  std::string key;
  std::string signer;
  std::string input = "-";
};

Status LoadSigning(const std::string& key_path, const std::string& signer_arg, NoteSigner* key,
                   std::string* signer) {
  FL_RETURN_IF_ERROR(ReadSecretKeyFile(key_path, key));
  *signer = signer_arg.empty() ? key->name : signer_arg;
  return Status::Ok();
}

// Signs every item of `body`; returns the envelopes, or the first error naming its item.
Status SignItems(std::string_view body, const NoteSigner& key, const std::string& signer,
                 std::vector<json>* envelopes) {
  std::vector<json> items;
  std::vector<Status> errors;
  FL_RETURN_IF_ERROR(ParseJsonItems(body, &items, &errors));
  for (size_t i = 0; i < items.size(); ++i) {
    FL_RETURN_IF_ERROR(errors[i]);
    SignedEvent event;
    Status s = SignedEvent::Sign(items[i], signer, key.key, &event);
    if (!s.ok()) {
      std::string id = items[i].is_object() && items[i].contains("id") && items[i]["id"].is_string()
                           ? items[i]["id"].get<std::string>()
                           : "item " + std::to_string(i + 1);
      return s.WithEventId(id);
    }
    envelopes->push_back(event.ToEnvelopeJson());
  }
  return Status::Ok();
}

int Sign(const SignArgs& args) {
  NoteSigner key;
  std::string signer, body;
  Status s = LoadSigning(args.key, args.signer, &key, &signer);
  if (s.ok()) s = ReadInput(args.input, &body);
  std::vector<json> envelopes;
  if (s.ok()) s = SignItems(body, key, signer, &envelopes);
  if (!s.ok()) {
    // An event that does not encode is bad input, as a line that is not JSON is: no rule is
    // checked here, so nothing signs with exit 1 but a failure to read or write.
    int code = Report(s);
    return s.kind() == Status::Kind::kInvalidArgument ? kExitUsage : code;
  }
  for (const auto& e : envelopes) PrintJsonLine(e);
  return kExitOk;
}

// ---- submit ----
struct SubmitArgs {
  std::string data;
  std::string key;
  std::string signer;
  std::string input = "-";
  std::string format = "json";
  RemoteArgs remote;
};

int Submit(const SubmitArgs& args) {
  std::string body;
  Status s = ReadInput(args.input, &body);
  if (s.ok() && !args.key.empty()) {
    // Bare events: sign them here, then submit the envelopes.
    NoteSigner key;
    std::string signer;
    std::vector<json> envelopes;
    s = LoadSigning(args.key, args.signer, &key, &signer);
    if (s.ok()) s = SignItems(body, key, signer, &envelopes);
    body = json(envelopes).dump();
  }
  if (s.ok() && !args.remote.server.empty()) return RemoteSubmit(args.remote, body, args.format);
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  if (s.ok()) s = OpenLedger(args.data, &views, &journal);
  json results;
  bool accepted_all = false;
  if (s.ok()) s = SubmitEnvelopes(*journal, body, &results, &accepted_all);
  if (!s.ok()) return Report(s);
  for (const auto& r : results) {
    if (args.format == "table") {
      if (r.contains("error")) {
        const json& e = r["error"];
        std::cout << "rejected " << e["event_id"].dump() << " " << e["code"].get<std::string>()
                  << " field=" << e["field"].dump() << ": " << e["message"].get<std::string>()
                  << "\n";
      } else {
        std::cout << "seq " << r["seq"] << " " << r["id"].get<std::string>()
                  << (r["duplicate"].get<bool>() ? " (already recorded)" : "") << "\n";
      }
    } else {
      PrintJsonLine(r);
    }
  }
  return accepted_all ? kExitOk : kExitFailure;
}

// ---- log ----
struct LogArgs {
  std::string data;
  uint64_t from = 1;
  uint64_t limit = 100;
  std::string format = "json";
  RemoteArgs remote;
};

int Log(const LogArgs& args) {
  if (!args.remote.server.empty())
    return RemoteLog(args.remote, args.from, args.limit, args.format);
  std::unique_ptr<Journal> journal;
  Status s = OpenLedger(args.data, /*views=*/nullptr, &journal);
  if (!s.ok()) return Report(s);
  uint64_t count = 0;
  Status failure;
  s = journal->ScanRecords(args.from, [&](uint64_t seq, std::string_view bytes) {
    if (count++ >= args.limit) return false;
    if (args.format == "table") {
      std::string line;
      failure = RecordTableLine(seq, bytes, &line);
      if (failure.ok()) std::cout << line << "\n";
    } else {
      json record;
      failure = RecordJson(seq, bytes, &record);
      if (failure.ok()) PrintJsonLine(record);
    }
    return failure.ok();
  });
  if (s.ok()) s = failure;
  return s.ok() ? kExitOk : Report(s);
}

// ---- checkpoint ----
struct CheckpointArgs {
  std::string data;
  std::string format = "note";
  RemoteArgs remote;
  HeldCheckpoints held;
};

// Whether the ledger's checkpoints are signed by the log key the reader trusts (a verifier key
// file or its text). A ledger rewritten whole, with checkpoints re-signed by a new key, is
// consistent with its own stored key; only a key obtained independently anchors it.
Status CheckTrustedLogKey(const Journal& journal, const std::string& log_key) {
  NoteVerifier trusted;
  FL_RETURN_IF_ERROR(ReadPublicKey(log_key, &trusted));
  const NoteVerifier& stored = journal.log_verifier();
  if (trusted.name != stored.name || trusted.key != stored.key) {
    return Status::Corruption("log_key_mismatch",
                              "the ledger's checkpoints are signed by " + stored.name +
                                  ", not by the trusted log key " + trusted.name);
  }
  return Status::Ok();
}

// Whether the ledger extends each held checkpoint; an error names the file.
Status CheckHeldNotes(const Journal& journal, const std::vector<std::string>& files,
                      const std::vector<std::string>& notes) {
  for (size_t i = 0; i < notes.size(); ++i) {
    Status s = VerifyHeldCheckpoint(journal, notes[i], journal.log_verifier());
    if (!s.ok()) return Status::Corruption(s.code(), files[i] + ": " + s.message(), s.field());
  }
  return Status::Ok();
}

int CheckpointCmd(const CheckpointArgs& args) {
  if (!args.remote.server.empty()) return RemoteCheckpoint(args.remote, args.held, args.format);
  std::vector<std::string> held_notes;
  Status s = ReadHeldNotes(args.held.files, &held_notes);
  if (!s.ok()) return Report(s);
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  s = OpenLedger(args.data, &views, &journal);
  if (s.ok() && !args.held.log_key.empty()) s = CheckTrustedLogKey(*journal, args.held.log_key);
  // Checked before a checkpoint is signed: a ledger that does not extend what a reader holds
  // gets no new checkpoint from this command.
  if (s.ok()) s = CheckHeldNotes(*journal, args.held.files, held_notes);
  json out;
  if (s.ok()) s = CheckpointJson(*journal, &out);
  if (!s.ok()) return Report(s);
  if (!args.held.files.empty()) out["held_checkpoints"] = held_notes.size();
  PrintCheckpoint(out, args.format, args.held.files);
  return kExitOk;
}

// ---- proof ----
struct ProofArgs {
  std::string data;
  uint64_t seq = 0;
  std::string id;
  uint64_t size = 0;
  uint64_t from = 0;
  uint64_t to = 0;
  std::string format = "json";
  RemoteArgs remote;
  std::string log_key;  // the log's verifier key the reader trusts
  std::string held;     // a checkpoint the reader kept: the proof is at its size, under its root
};

// An inclusion proof under a checkpoint the reader kept, from a local ledger: the ledger must
// extend the checkpoint (VerifyHeldCheckpoint), and the record, hashed here, must lead by the
// proof at the checkpoint's size to its root; what is printed is what was checked.
int LocalHeldInclusion(const ProofArgs& args) {
  std::string note;
  Status s = ReadInput(args.held, &note, kNoteBytesMax);
  if (!s.ok()) return Report(s);
  std::unique_ptr<Journal> journal;
  s = OpenLedger(args.data, /*views=*/nullptr, &journal);
  if (s.ok() && !args.log_key.empty()) s = CheckTrustedLogKey(*journal, args.log_key);
  if (s.ok()) s = CheckHeldNotes(*journal, {args.held}, std::vector<std::string>{note});
  Checkpoint held;
  if (s.ok()) s = OpenCheckpoint(note, journal->log_verifier(), &held);
  if (s.ok() && held.size == 0) {
    s = Status::InvalidArgument(
        "bad_proof_request", args.held + ": the held checkpoint is of the empty log", "checkpoint");
  }
  uint64_t seq = args.seq;
  if (s.ok() && !args.id.empty()) s = journal->FindEvent(args.id, &seq);
  std::vector<Hash> proof;
  Hash stored_leaf, root;
  if (s.ok()) s = journal->InclusionProof(seq, held.size, &proof, &stored_leaf, &root);
  std::string record;
  if (s.ok()) s = journal->ReadRecord(seq, &record);
  Hash leaf{};
  if (s.ok()) {
    leaf = MerkleLeafHash(AsBytes(record));
    s = MerkleVerifyInclusion(seq - 1, held.size, leaf, proof, held.root);
    if (!s.ok()) {
      s = Status::Corruption("inclusion_proof_invalid",
                             "record " + std::to_string(seq) +
                                 " as stored does not lead by its proof to the held checkpoint's "
                                 "root: the record or the tree was changed",
                             "proof");
    }
  }
  if (!s.ok()) return Report(s);
  PrintProof(InclusionJson(seq, held.size, leaf, held.root, proof), /*inclusion=*/true,
             args.format);
  std::cerr << "record " << seq << " is in the log of the held checkpoint " << args.held << "\n";
  return kExitOk;
}

int ProofInclusion(const ProofArgs& args) {
  if (!args.held.empty()) {
    return args.remote.server.empty() ? LocalHeldInclusion(args)
                                      : RemoteHeldInclusion(args.remote, args.seq, args.id,
                                                            args.log_key, args.held, args.format);
  }
  if (!args.remote.server.empty()) {
    std::string query =
        args.id.empty() ? "seq=" + std::to_string(args.seq) : QueryPart("id", args.id);
    if (args.size) query += "&size=" + std::to_string(args.size);
    return RemoteProof(args.remote, "inclusion", query, args.format);
  }
  std::unique_ptr<Journal> journal;
  Status s = OpenLedger(args.data, /*views=*/nullptr, &journal);
  json out;
  if (s.ok()) s = InclusionProofJson(*journal, args.seq, args.id, args.size, &out);
  if (!s.ok()) return Report(s);
  PrintProof(out, /*inclusion=*/true, args.format);
  return kExitOk;
}

int ProofConsistency(const ProofArgs& args) {
  if (!args.remote.server.empty()) {
    std::string query = "from=" + std::to_string(args.from);
    if (args.to) query += "&to=" + std::to_string(args.to);
    return RemoteProof(args.remote, "consistency", query, args.format);
  }
  std::unique_ptr<Journal> journal;
  Status s = OpenLedger(args.data, /*views=*/nullptr, &journal);
  json out;
  if (s.ok()) s = ConsistencyProofJson(*journal, args.from, args.to, &out);
  if (!s.ok()) return Report(s);
  PrintProof(out, /*inclusion=*/false, args.format);
  return kExitOk;
}

// ---- verify ----
struct VerifyArgs {
  std::string data;
  unsigned threads = 0;
  std::string format = "table";
  std::string log_key;            // the verifier key the auditor trusts; empty: the ledger's own
  std::vector<std::string> held;  // checkpoints the auditor kept, which the ledger must extend
};

int Verify(const VerifyArgs& args) {
  std::unique_ptr<Journal> journal;
  Status s = OpenLedger(args.data, /*views=*/nullptr, &journal);
  if (!s.ok()) {
    // A ledger too damaged to open gets its report too, for whoever reads the JSON.
    if (args.format == "json") {
      PrintJsonLine({{"ok", false}, {"error", ErrorJson(s)}, {"first_bad_seq", json()}});
    }
    return Report(s);
  }
  if (!args.log_key.empty()) {
    s = CheckTrustedLogKey(*journal, args.log_key);
    if (!s.ok()) return Report(s);
  }
  std::vector<std::string> held_notes;
  s = ReadHeldNotes(args.held, &held_notes);
  if (!s.ok()) return Report(s);
  Progress progress("verifying");
  VerifyOptions options;
  options.threads = args.threads;
  options.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
  std::shared_ptr<void> rebuilt;
  options.keep_rebuilt = &rebuilt;
  VerifyReport report;
  s = VerifyLedger(*journal, options, &report);
  LeaveToExit(std::move(rebuilt));  // the command ends here
  if (s.ok() && !args.log_key.empty() && report.records > 0 && report.checkpointed_size == 0) {
    // The stored key is a file anyone with the directory can set: only a checkpoint ties the
    // records to the trusted key (a ledger made up whole would otherwise pass).
    s = Status::Corruption("checkpoint_missing",
                           "the ledger's " + std::to_string(report.records) +
                               " records hold no checkpoint, so nothing in it is signed by the "
                               "trusted log key",
                           "checkpoints");
  }
  if (s.ok()) s = CheckHeldNotes(*journal, args.held, held_notes);
  Journal::Head head = journal->head();
  if (args.format == "json") {
    json out = {{"ok", s.ok()},
                {"records", report.records},
                {"signatures", report.signatures},
                {"checkpoints", report.checkpoints},
                {"checkpointed_size", report.checkpointed_size},
                {"held_checkpoints", held_notes.size()},
                {"size", head.size},
                {"root", Base64Encode(head.root)}};
    if (!s.ok()) {
      out["error"] = ErrorJson(s);
      out["first_bad_seq"] = report.first_bad_seq ? json(report.first_bad_seq) : json();
    }
    PrintJsonLine(out);
  } else if (s.ok()) {
    std::cout << "ok: " << report.records << " records, " << report.signatures << " signatures, "
              << report.checkpoints << " checkpoints; root " << Base64Encode(head.root) << "\n";
    std::cout << "the latest checkpoint covers " << report.checkpointed_size << " of the "
              << report.records << " records"
              << (args.log_key.empty() ? " (signed by the ledger's own stored key)\n"
                                       : " (signed by the trusted log key)\n");
    for (const std::string& path : args.held) {
      std::cout << "extends the held checkpoint " << path << "\n";
    }
  }
  if (!s.ok()) {
    std::cerr << "fundledger: verification failed: " << s.ToString() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

// ---- replay ----
struct ReplayArgs {
  std::string data;
  std::string format = "table";
};

int Replay(const ReplayArgs& args) {
  Views views;
  std::unique_ptr<Journal> journal;
  Status s = OpenLedger(args.data, &views, &journal);
  if (!s.ok()) return Report(s);
  auto start = std::chrono::steady_clock::now();
  ViewRows rebuilt;
  uint64_t records = 0;
  {
    Progress progress("replaying");
    RebuildOptions options;
    options.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
    s = RebuildViews(*journal, options, &rebuilt, &records);
  }
  if (!s.ok()) return Report(s);
  double rebuild_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ReplaceReport report;
  s = ReplaceViews(journal.get(), rebuilt, &report);
  if (!s.ok()) return Report(s);
  if (args.format == "json") {
    PrintJsonLine({{"records", records},
                   {"rows", report.rows},
                   {"rows_written", report.written},
                   {"rows_deleted", report.deleted},
                   {"rebuild_seconds", rebuild_s}});
  } else {
    std::cout << "replayed " << records << " records into " << report.rows << " view rows in "
              << rebuild_s << " s; ";
    if (report.written + report.deleted == 0) {
      std::cout << "the stored views were already equal to them\n";
    } else {
      std::cout << report.written << " stored rows rewritten and " << report.deleted
                << " deleted to match\n";
    }
  }
  return kExitOk;
}

// ---- show ----
struct ShowArgs {
  std::string data;
  std::string project;
  std::string pool;
  std::string region;
  bool by_region = false;
  uint64_t as_of_seq = 0;
  std::string as_of_date;
  std::string format = "table";
  RemoteArgs remote;
};

int Show(const std::string& view, const ShowArgs& args) {
  std::optional<std::string> region;
  if (args.by_region) region = args.region;
  ViewQuery query;
  Status s =
      MakeViewQuery(view, args.project, args.pool, region, args.as_of_seq, args.as_of_date, &query);
  if (!s.ok()) return Report(s);
  if (!args.remote.server.empty()) {
    std::string text = args.project.empty() ? "" : QueryPart("project", args.project);
    if (!args.pool.empty()) text = QueryPart("pool", args.pool);
    if (args.by_region) text = QueryPart("region", args.region);
    if (args.as_of_seq) text += "&as_of_seq=" + std::to_string(args.as_of_seq);
    if (!args.as_of_date.empty()) text += "&" + QueryPart("as_of_date", args.as_of_date);
    return RemoteShow(args.remote, query, text, args.format);
  }
  std::unique_ptr<Journal> journal;
  s = OpenLedger(args.data, /*views=*/nullptr, &journal);
  std::unique_ptr<ViewPoint> point;
  if (s.ok()) s = OpenView(*journal, query, &point);
  RenderedView rendered;
  if (s.ok()) s = RenderView(*point, query, args.format, &rendered);
  if (!s.ok()) return Report(s);
  if (args.format == "json") {
    PrintJsonLine(rendered.json);
  } else if (args.format == "csv") {
    std::cout << rendered.csv;
  } else {
    std::cout << rendered.table;
  }
  return kExitOk;
}

// --data DIR or --server URL (with --key/--org to sign reads), exactly one.
void AddLedgerOrServer(CLI::App* cmd, std::string* data, RemoteArgs* remote, bool signs_reads) {
  auto* data_opt = cmd->add_option("--data", *data, "data directory");
  auto* server_opt =
      cmd->add_option("--server", remote->server, "a fundledger server: http://HOST:PORT");
  data_opt->excludes(server_opt);
  if (signs_reads) {
    cmd->add_option("--key", remote->key, "secret key that signs the requests to --server")
        ->check(CLI::ExistingFile);
    cmd->add_option("--org", remote->org, "the org the key signs for (default: the key's name)");
  }
}

void RequireLedgerOrServer(const std::string& data, const RemoteArgs& remote) {
  if (data.empty() == remote.server.empty()) {
    throw CLI::ValidationError("--data or --server", "exactly one of them is required");
  }
}

void AddFormat(CLI::App* cmd, std::string* format, std::vector<std::string> choices) {
  cmd->add_option("--format", *format, "output format")->check(CLI::IsMember(choices));
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"fundledger: a signed, Merkle-verifiable ledger of renovation funds"};
  app.require_subcommand(1);
  int status = kExitOk;

  KeygenArgs keygen;
  auto* keygen_cmd = app.add_subcommand("keygen", "create an Ed25519 key pair (NAME.key, .pub)");
  keygen_cmd->add_option("--name", keygen.name, "key name: the org id it signs for")->required();
  keygen_cmd->add_option("--out", keygen.out, "path prefix of the key files")->required();
  keygen_cmd->callback([&] { status = Keygen(keygen); });

  InitArgs init;
  auto* init_cmd = app.add_subcommand("init", "create a ledger with its operator's genesis event");
  init_cmd->add_option("--data", init.data, "data directory")->required();
  init_cmd->add_option("--origin", init.origin, "checkpoint origin line")->required();
  init_cmd->add_option("--log-key", init.log_key, "secret key that signs checkpoints")
      ->required()
      ->check(CLI::ExistingFile);
  init_cmd->add_option("--operator", init.operator_id, "the operator's org id")->required();
  init_cmd->add_option("--operator-key", init.operator_key, "the operator's secret key")
      ->required()
      ->check(CLI::ExistingFile);
  init_cmd->add_option("--operator-name", init.operator_name, "the operator's name");
  init_cmd->callback([&] { status = Init(init); });

  SignArgs sign;
  auto* sign_cmd = app.add_subcommand("sign", "sign JSON events into envelopes");
  sign_cmd->add_option("--key", sign.key, "secret key file")->required()->check(CLI::ExistingFile);
  sign_cmd->add_option("--signer", sign.signer, "signing org id (default: the key's name)");
  sign_cmd->add_option("input", sign.input, "events: a file or - for stdin");
  sign_cmd->callback([&] { status = Sign(sign); });

  SubmitArgs submit;
  auto* submit_cmd = app.add_subcommand("submit", "append signed envelopes (or events with --key)");
  AddLedgerOrServer(submit_cmd, &submit.data, &submit.remote, /*signs_reads=*/false);
  submit_cmd->add_option("--key", submit.key, "sign bare events with this secret key first")
      ->check(CLI::ExistingFile);
  submit_cmd->add_option("--signer", submit.signer, "signing org id (default: the key's name)");
  submit_cmd->add_option("input", submit.input, "a file or - for stdin");
  AddFormat(submit_cmd, &submit.format, {"json", "table"});
  submit_cmd->callback([&] {
    RequireLedgerOrServer(submit.data, submit.remote);
    status = Submit(submit);
  });

  ImportArgs import;
  auto* import_cmd =
      app.add_subcommand("import", "sign and append the rows of a spreadsheet saved as CSV");
  import_cmd->add_option("--data", import.data, "data directory")->required();
  import_cmd->add_option("--key", import.key, "secret key that signs every row")
      ->required()
      ->check(CLI::ExistingFile);
  import_cmd->add_option("--signer", import.signer, "signing org id (default: the key's name)");
  import_cmd->add_option("--type", import.type, "what the rows record")
      ->required()
      ->check(CLI::IsMember({"receipts", "allocations", "disbursements"}));
  import_cmd->add_flag("--all-or-nothing", import.all_or_nothing,
                       "append no row unless every row is good");
  import_cmd->add_option("input", import.input, "a CSV file, or - for stdin")->required();
  AddFormat(import_cmd, &import.format, {"table", "json"});
  import_cmd->callback([&] { status = Import(import); });

  LogArgs log;
  auto* log_cmd = app.add_subcommand("log", "list records");
  AddLedgerOrServer(log_cmd, &log.data, &log.remote, /*signs_reads=*/true);
  log_cmd->add_option("--from", log.from, "first seq");
  log_cmd->add_option("--limit", log.limit, "records at most");
  AddFormat(log_cmd, &log.format, {"json", "table"});
  log_cmd->callback([&] {
    RequireLedgerOrServer(log.data, log.remote);
    status = Log(log);
  });

  CheckpointArgs checkpoint;
  auto* checkpoint_cmd =
      app.add_subcommand("checkpoint", "sign a checkpoint at the head if needed and print it");
  AddLedgerOrServer(checkpoint_cmd, &checkpoint.data, &checkpoint.remote, /*signs_reads=*/true);
  checkpoint_cmd->add_option("--log-key", checkpoint.held.log_key,
                             "the log's verifier key (.pub) as obtained independently; the "
                             "checkpoint must be signed by it");
  checkpoint_cmd->add_option("--checkpoint", checkpoint.held.files,
                             "a checkpoint (signed note file) kept from before: the log must "
                             "extend it, which a server proves (repeatable)");
  AddFormat(checkpoint_cmd, &checkpoint.format, {"note", "json"});
  checkpoint_cmd->callback([&] {
    RequireLedgerOrServer(checkpoint.data, checkpoint.remote);
    if (!checkpoint.remote.server.empty() && checkpoint.remote.key.empty() &&
        checkpoint.held.log_key.empty()) {
      throw CLI::ValidationError("--log-key",
                                 "without --key, the server's public checkpoint is read, and "
                                 "checked against the log's key given by --log-key");
    }
    if (!checkpoint.remote.server.empty() && !checkpoint.held.files.empty() &&
        checkpoint.held.log_key.empty()) {
      throw CLI::ValidationError("--checkpoint",
                                 "with --server, a held checkpoint is checked against the log's "
                                 "key given by --log-key, not one the server names");
    }
    status = CheckpointCmd(checkpoint);
  });

  ProofArgs proof;
  auto* proof_cmd = app.add_subcommand("proof", "Merkle proofs (RFC 9162)");
  proof_cmd->require_subcommand(1);
  auto* inclusion_cmd = proof_cmd->add_subcommand("inclusion", "inclusion proof of a record");
  AddLedgerOrServer(inclusion_cmd, &proof.data, &proof.remote, /*signs_reads=*/true);
  auto* seq_opt = inclusion_cmd->add_option("--seq", proof.seq, "record seq");
  auto* id_opt = inclusion_cmd->add_option("--id", proof.id, "event id");
  seq_opt->excludes(id_opt);
  auto* size_opt = inclusion_cmd->add_option("--size", proof.size, "tree size (default: head)");
  auto* log_key_opt = inclusion_cmd->add_option(
      "--log-key", proof.log_key, "the log's verifier key (.pub) as obtained independently");
  inclusion_cmd
      ->add_option("--checkpoint", proof.held,
                   "a checkpoint (signed note file) kept from before: the proof is at its size "
                   "and must lead to its root")
      ->excludes(size_opt);
  log_key_opt->needs("--checkpoint");
  AddFormat(inclusion_cmd, &proof.format, {"json", "table"});
  inclusion_cmd->callback([&] {
    if (proof.seq == 0 && proof.id.empty()) {
      throw CLI::ValidationError("--seq or --id", "one of them is required");
    }
    if (!proof.remote.server.empty() && !proof.held.empty() && proof.log_key.empty()) {
      throw CLI::ValidationError("--checkpoint",
                                 "with --server, a held checkpoint is opened with the log's key "
                                 "given by --log-key, not one the server names");
    }
    RequireLedgerOrServer(proof.data, proof.remote);
    status = ProofInclusion(proof);
  });
  auto* consistency_cmd = proof_cmd->add_subcommand("consistency", "consistency proof");
  AddLedgerOrServer(consistency_cmd, &proof.data, &proof.remote, /*signs_reads=*/true);
  consistency_cmd->add_option("--from", proof.from, "older tree size")->required();
  consistency_cmd->add_option("--to", proof.to, "newer tree size (default: head)");
  AddFormat(consistency_cmd, &proof.format, {"json", "table"});
  consistency_cmd->callback([&] {
    RequireLedgerOrServer(proof.data, proof.remote);
    status = ProofConsistency(proof);
  });

  VerifyArgs verify;
  auto* verify_cmd = app.add_subcommand("verify", "verify every record, signature and checkpoint");
  verify_cmd->add_option("--data", verify.data, "data directory")->required();
  verify_cmd->add_option("--threads", verify.threads, "signature threads (default: all cores)");
  verify_cmd->add_option("--log-key", verify.log_key,
                         "the log's verifier key (.pub) as obtained independently; checkpoints "
                         "must be signed by it");
  verify_cmd->add_option("--checkpoint", verify.held,
                         "a checkpoint (signed note file) kept from before: the ledger must "
                         "extend it (repeatable)");
  AddFormat(verify_cmd, &verify.format, {"table", "json"});
  verify_cmd->callback([&] { status = Verify(verify); });

  DemoArgs demo;
  auto* demo_cmd = app.add_subcommand("demo", "build a realistic demo ledger of the programme");
  demo_cmd->add_option("--data", demo.data, "data directory (must not hold a ledger)")->required();
  demo_cmd->add_option("--seed", demo.seed, "seed of the events and keys");
  demo_cmd->add_option("--projects", demo.projects, "number of renovation projects")
      ->check(CLI::Range(1u, kDemoProjectsMax));
  demo_cmd->callback([&] { status = Demo(demo); });

  ReplayArgs replay;
  auto* replay_cmd =
      app.add_subcommand("replay", "rebuild every view from the records and store the result");
  replay_cmd->add_option("--data", replay.data, "data directory")->required();
  AddFormat(replay_cmd, &replay.format, {"table", "json"});
  replay_cmd->callback([&] { status = Replay(replay); });

  ShowArgs show;
  auto* show_cmd = app.add_subcommand("show", "views for auditors");
  show_cmd->require_subcommand(1);
  std::vector<std::pair<std::string, std::string>> views = {
      {"balance", "money in, out and available, by source category"},
      {"ratios", "funding mix, shares, progress rates, plan deviation and policy targets"},
      {"disbursements", "payments with their status, and totals by work, item, payee, month"},
      {"flags", "red and yellow lights for auditors"}};
  for (const auto& [name, description] : views) {
    auto* cmd = show_cmd->add_subcommand(name, description);
    AddLedgerOrServer(cmd, &show.data, &show.remote, /*signs_reads=*/true);
    cmd->add_option("--project", show.project, "one project");
    cmd->add_option("--pool", show.pool, "one finance bureau's pool");
    auto* region_opt =
        cmd->add_option("--region", show.region, "every project in a region (roll-up)");
    cmd->add_option("--as-of-seq", show.as_of_seq, "only the events recorded up to this seq");
    cmd->add_option("--as-of-date", show.as_of_date,
                    "only the events that occurred on or before YYYY-MM-DD");
    AddFormat(cmd, &show.format, {"table", "json", "csv"});
    cmd->callback([&, region_opt, view = name] {
      show.by_region = region_opt->count() > 0;
      RequireLedgerOrServer(show.data, show.remote);
      status = Show(view, show);
    });
  }

  ExportArgs export_args;
  auto* export_cmd =
      app.add_subcommand("export", "write the public bundle of a project or a region (公示)");
  export_cmd->add_option("--data", export_args.data, "data directory")->required();
  auto* export_project = export_cmd->add_option("--project", export_args.project, "one project");
  auto* export_region = export_cmd->add_option("--region", export_args.region,
                                               "every project in a region (\"\": all)");
  export_project->excludes(export_region);
  export_cmd->add_option("--out", export_args.out, "a new or empty directory")->required();
  export_cmd->callback([&, export_region] {
    export_args.by_region = export_region->count() > 0;
    status = Export(export_args);
  });

  VerifyExportArgs verify_export;
  auto* verify_export_cmd =
      app.add_subcommand("verify-export", "check a public bundle offline against the log's key");
  verify_export_cmd->add_option("dir", verify_export.dir, "the bundle's directory")->required();
  verify_export_cmd
      ->add_option("--log-key", verify_export.log_key,
                   "the log's verifier key (.pub or its text) as obtained independently")
      ->required();
  verify_export_cmd->add_option("--origin", verify_export.origin,
                                "the log (its checkpoint origin line) the bundle must be of");
  auto* verify_export_project = verify_export_cmd->add_option("--project", verify_export.project,
                                                              "the project the bundle must be of");
  auto* verify_export_region =
      verify_export_cmd->add_option("--region", verify_export.region,
                                    "the region the bundle must be of (\"\": the whole ledger)");
  verify_export_project->excludes(verify_export_region);
  verify_export_cmd->add_option("--size-min", verify_export.size_min,
                                "the least tree size the bundle's checkpoint may have (one you "
                                "saw earlier): the bundle of an earlier checkpoint is refused");
  verify_export_cmd->callback([&] { status = VerifyExport(verify_export); });

  ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "serve the ledger over HTTP (DESIGN.md section 9)");
  serve_cmd->add_option("--data", serve.data, "data directory")->required();
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0: any free one)");
  serve_cmd->add_option("--threads", serve.threads, "request threads (default: one per core)");
  serve_cmd->add_option("--connections-max", serve.connections_max, "open connections at most")
      ->check(CLI::Range(uint64_t(1), uint64_t(100000)));
  serve_cmd->add_option("--request-events-max", serve.request_events_max, "events per POST at most")
      ->check(CLI::Range(uint64_t(1), uint64_t(kSubmissionEventsMax)));
  serve_cmd
      ->add_option("--view-lines-max", serve.view_lines_max,
                   "disbursements listed per answer of a view at most (then paged)")
      ->check(CLI::Range(uint64_t(1), uint64_t(1000000)));
  serve_cmd
      ->add_option("--queue-events-max", serve.queue_events_max,
                   "events waiting for the writer at most (then 503)")
      ->check(CLI::Range(uint64_t(1), uint64_t(10000000)));
  serve_cmd->add_option("--body-bytes-max", serve.body_bytes_max, "request body bytes at most")
      ->check(CLI::Range(uint64_t(1024), uint64_t(kJsonDocumentBytesMax)));
  serve_cmd->add_option("--web-dir", serve.web_dir,
                        "the dashboard's files (default: web/ of the source tree)");
  serve_cmd->add_option("--echarts", serve.echarts_file,
                        "ECharts' echarts.min.js (default: the source tree's node_modules)");
  serve_cmd->callback([&] { status = Serve(serve); });

  BenchArgs bench;
  std::string bench_ledger;
  auto* bench_cmd = app.add_subcommand("bench", "benchmarks against this machine's limits");
  bench_cmd->require_subcommand(1);
  auto* bench_append = bench_cmd->add_subcommand("append", "append pre-signed events");
  bench_append->add_option("--events", bench.events, "events to append");
  bench_append->add_option("--batch", bench.batch, "events per durable batch");
  bench_append->add_option("--dir", bench.dir, "scratch directory (default: a temp dir)");
  bench_append->add_option("--json", bench.json, "also write the figures to this JSON file");
  bench_append->callback([&] { status = BenchAppend(bench); });
  auto* bench_views = bench_cmd->add_subcommand(
      "views", "rebuild, full verify, project views and proofs on a ledger of --events");
  auto* views_events =
      bench_views->add_option("--events", bench.events, "events in the ledger (default 1000000)");
  bench_views->add_option("--batch", bench.batch, "events per durable batch while building it");
  bench_views->add_option("--dir", bench.dir, "scratch directory (default: a temp dir)");
  bench_views->add_option("--json", bench.json, "also write the figures to this JSON file");
  bench_views->add_flag("--keep", bench.keep,
                        "keep the ledger in DIR/ledger afterwards (to profile replay and verify)");
  bench_views->add_option("--ledger", bench_ledger,
                          "measure this existing ledger (one left by --keep), read only");
  bench_views->callback([&, views_events] {
    if (views_events->count() == 0) bench.events = 1'000'000;
    status = BenchViews(bench, bench_ledger);
  });

  BenchHttpArgs bench_http;
  auto* bench_http_cmd = bench_cmd->add_subcommand(
      "http",
      "ingest over HTTP with concurrent clients, then a project's view over 64 connections");
  bench_http_cmd->add_option("--events", bench_http.events, "events to post");
  bench_http_cmd->add_option("--batch", bench_http.batch, "events per request");
  bench_http_cmd->add_option("--clients", bench_http.clients, "concurrent writers");
  bench_http_cmd->add_option("--connections", bench_http.connections, "concurrent readers");
  bench_http_cmd->add_option("--public-readers", bench_http.public_readers,
                             "anonymous readers of the public summary during the ingest");
  bench_http_cmd->add_option("--checkpoint-readers", bench_http.checkpoint_readers,
                             "registered readers of GET /v1/checkpoint during the ingest");
  bench_http_cmd->add_option("--read-seconds", bench_http.read_seconds, "how long to read");
  bench_http_cmd->add_option("--format", bench_http.format, "request bodies")
      ->check(CLI::IsMember({"capnp", "json"}));
  bench_http_cmd->add_option("--dir", bench_http.dir, "scratch directory (default: a temp dir)");
  bench_http_cmd->add_option("--json", bench_http.json, "also write the figures to this JSON file");
  bench_http_cmd->callback([&] { status = BenchHttp(bench_http); });

  BenchScaleArgs bench_scale;
  auto* bench_scale_cmd = bench_cmd->add_subcommand(
      "scale", "one ledger grown through stages: append, rebuild, proofs and views at each");
  bench_scale_cmd->add_option("--events", bench_scale.events, "events at the end (default 10M)");
  bench_scale_cmd->add_option("--stages", bench_scale.stages,
                              "ledger sizes to measure at, rising, the last = --events "
                              "(default 100000 1000000 10000000 below it, then --events)");
  bench_scale_cmd->add_option("--batch", bench_scale.batch, "events per durable batch");
  bench_scale_cmd->add_option("--seconds", bench_scale.seconds,
                              "seconds per timed read measurement (default 2)");
  bench_scale_cmd->add_option("--dir", bench_scale.dir, "scratch directory (default: a temp dir)");
  bench_scale_cmd->add_flag("--keep", bench_scale.keep, "leave the ledger in DIR/ledger");
  bench_scale_cmd->callback([&] { status = BenchScale(bench_scale); });

  BenchSoakArgs bench_soak;
  auto* bench_soak_cmd = bench_cmd->add_subcommand(
      "soak", "mixed reads and writes over HTTP for minutes: errors, memory, latency over time");
  bench_soak_cmd->add_option("--minutes", bench_soak.minutes, "how long (default 10)");
  bench_soak_cmd->add_option("--seconds", bench_soak.seconds, "how long, instead of --minutes");
  bench_soak_cmd->add_option("--interval-seconds", bench_soak.interval_seconds,
                             "seconds per report line (default 60)");
  bench_soak_cmd->add_option("--writers", bench_soak.writers, "posting clients (default 2)");
  bench_soak_cmd->add_option("--readers", bench_soak.readers, "reading clients (default 4)");
  bench_soak_cmd->add_option("--write-rate", bench_soak.write_rate,
                             "events/s over all writers, 0 = unthrottled (default 1000)");
  bench_soak_cmd->add_option("--server-threads", bench_soak.server_threads,
                             "the server's --threads (default 2)");
  bench_soak_cmd->add_option("--dir", bench_soak.dir, "scratch directory (default: a temp dir)");
  bench_soak_cmd->add_flag("--keep", bench_soak.keep,
                           "leave the ledger and the server's log in DIR afterwards");
  bench_soak_cmd->callback([&] { status = BenchSoak(bench_soak); });

  // The PostgreSQL baseline's options, shared by bench pg and bench all.
  BenchPgArgs bench_pg;
  auto add_pg_options = [&](CLI::App* cmd, const std::string& prefix) {
    cmd->add_option("--" + prefix + "writers", bench_pg.writers,
                    "concurrent writers to try (default 1 2 4)")
        ->check(CLI::Range(1, 64));
    cmd->add_option("--" + prefix + "methods", bench_pg.methods,
                    "how batches are stored: copy (COPY binary), insert (multi-row INSERT)")
        ->check(CLI::IsMember({"copy", "insert"}));
    cmd->add_option(
        "--" + prefix + "bin", bench_pg.bin_dir,
        "directory of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin)");
    cmd->add_option("--" + prefix + "user", bench_pg.user,
                    "the user the server runs as when started by root (default postgres)");
  };
  BenchArgs bench_pg_base;
  auto* bench_pg_cmd = bench_cmd->add_subcommand(
      "pg", "the PostgreSQL baseline: signatures checked, hash chain, append-only table");
  bench_pg_cmd->add_option("--events", bench_pg_base.events, "events to store");
  bench_pg_cmd->add_option("--batch", bench_pg.batch, "events per transaction")
      ->check(CLI::Range(1, 10000));
  bench_pg_cmd->add_option("--dir", bench_pg_base.dir, "scratch directory (default: a temp dir)");
  bench_pg_cmd->add_option("--json", bench_pg_base.json,
                           "also write the figures to this JSON file");
  add_pg_options(bench_pg_cmd, "");
  bench_pg_cmd->callback([&] { status = BenchPg(bench_pg_base, bench_pg); });

  BenchAllArgs bench_all;
  auto* bench_all_cmd = bench_cmd->add_subcommand(
      "all", "every benchmark in one run, each figure next to its limit (see BENCHMARKS.md)");
  bench_all_cmd->add_option("--events", bench_all.base.events, "events of the workload");
  bench_all_cmd->add_option("--batch", bench_all.base.batch, "events per in-process append");
  bench_all_cmd->add_option("--seconds", bench_all.seconds,
                            "length of each timed measurement (limits, reads, proofs)");
  bench_all_cmd->add_option("--http-batch", bench_all.http.batch, "events per HTTP request");
  bench_all_cmd->add_option("--clients", bench_all.http.clients, "concurrent HTTP writers");
  bench_all_cmd->add_option("--connections", bench_all.http.connections, "concurrent HTTP readers");
  bench_all_cmd->add_option("--format", bench_all.http.format, "HTTP request bodies")
      ->check(CLI::IsMember({"capnp", "json"}));
  bench_all_cmd
      ->add_option("--postgresql", bench_all.postgresql,
                   "the baseline: auto (when installed), skip, require")
      ->check(CLI::IsMember({"auto", "skip", "require"}));
  bench_all_cmd->add_option("--pg-batch", bench_all.pg.batch, "events per PostgreSQL transaction")
      ->check(CLI::Range(1, 10000));
  add_pg_options(bench_all_cmd, "pg-");
  bench_all_cmd->add_option("--dir", bench_all.base.dir, "scratch directory (default: a temp dir)");
  bench_all_cmd->add_option("--json", bench_all.base.json,
                            "also write the figures to this JSON file");
  bench_all_cmd->callback([&] {
    bench_all.pg.writers = bench_pg.writers;
    bench_all.pg.methods = bench_pg.methods;
    bench_all.pg.bin_dir = bench_pg.bin_dir;
    bench_all.pg.user = bench_pg.user;
    std::string command = "fundledger bench all";
    for (int i = 3; i < argc; ++i) command += std::string(" ") + argv[i];
    status = BenchAll(bench_all, command);
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  } catch (const nlohmann::json::exception& e) {
    // The verbs with --server read the fields the protocol names from the server's answers; an
    // answer without one, or with one of another type, is the server's error, not a crash.
    return Report(Status::IOError(
        "http_reply",
        std::string("the server's answer lacks a field of the protocol: ") + e.what()));
  }
  return status;
}

}  // namespace fundledger::cli

int main(int argc, char** argv) { return fundledger::cli::Main(argc, argv); }
