#include "tools/remote.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "api/client.h"
#include "api/export.h"
#include "api/http_handler.h"
#include "api/reads.h"
#include "api/server.h"
#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "ledger/event.h"
#include "ledger/key_file.h"
#include "ledger/rules.h"
#include "replay/views.h"
#include "tools/cli_util.h"

namespace fundledger::cli {

using nlohmann::json;

namespace {

// A connection and, when --key is given, the signer of reads.
struct Remote {
  std::unique_ptr<HttpConnection> connection;
  NoteSigner key;
  std::optional<RequestSigner> signer;
};

Status OpenRemote(const RemoteArgs& args, Remote* out) {
  ServerAddress address;
  FL_RETURN_IF_ERROR(ParseServerUrl(args.server, &address));
  out->connection = std::make_unique<HttpConnection>(address);
  if (!args.key.empty()) {
    FL_RETURN_IF_ERROR(ReadSecretKeyFile(args.key, &out->key));
    out->signer = RequestSigner{args.org.empty() ? out->key.name : args.org, &out->key.key};
  }
  return Status::Ok();
}

// A signed GET whose answer must be 2xx.
Status Get(Remote& remote, const std::string& target, HttpReply* reply) {
  FL_RETURN_IF_ERROR(remote.connection->Exchange("GET", target, "", "", remote.signer, reply));
  return StatusOfReply(*reply);
}

Status ParseReply(const HttpReply& reply, json* out) {
  *out = json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (out->is_discarded()) return Status::IOError("http_reply", "the server's answer is not JSON");
  return Status::Ok();
}

// A server's answer that is not of the form the protocol says is the server's error, not the
// user's: exit 1, not the usage code a client's own bad view JSON would get.
Status AnswerError(const Status& s) {
  if (s.ok() || s.kind() != Status::Kind::kInvalidArgument) return s;
  return Status::IOError(s.code(), "the server's answer: " + s.message());
}

std::string TextOf(const json& value, const char* name) {
  auto it = value.find(name);
  return it != value.end() && it->is_string() ? it->get<std::string>() : std::string();
}

void PrintSubmitResult(const json& r, const std::string& format) {
  if (format != "table") return PrintJsonLine(r);
  if (r.contains("error")) {
    const json& e = r.at("error");
    std::cout << "rejected " << e.value("event_id", json()).dump() << " " << TextOf(e, "code")
              << " field=" << e.value("field", json()).dump() << ": " << TextOf(e, "message")
              << "\n";
  } else {
    std::cout << "seq " << r.at("seq") << " " << TextOf(r, "id")
              << (r.value("duplicate", false) ? " (already recorded)" : "") << "\n";
  }
}

// HOST:PORT, HOST may be a bracketed IPv6 address.
Status ParseListen(const std::string& listen, std::string* host, uint16_t* port) {
  size_t colon = listen.rfind(':');
  auto bad = [] {
    return Status::InvalidArgument("bad_listen", "--listen is HOST:PORT", "listen");
  };
  if (colon == std::string::npos || colon == 0) return bad();
  std::string port_text = listen.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port_text) > 65535) {
    return bad();
  }
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  *port = uint16_t(std::stoul(port_text));
  return Status::Ok();
}

}  // namespace

int Serve(const ServeArgs& args) {
  ServerOptions options;
  Status s = ParseListen(args.listen, &options.host, &options.port);
  if (!s.ok()) return Report(s);
  options.threads = args.threads;
  options.handle_signals = true;
  options.limits.connections_max = args.connections_max;
  options.limits.request_events_max = args.request_events_max;
  options.limits.view_lines_max = args.view_lines_max;
  options.limits.queue_events_max = args.queue_events_max;
  options.limits.body_bytes_max = args.body_bytes_max;
  options.web_dir = args.web_dir.empty() ? FL_WEB_DIR : args.web_dir;
  options.echarts_file = args.echarts_file.empty() ? FL_ECHARTS_FILE : args.echarts_file;
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  s = OpenWithViews(args.data, JournalOptions(), &views, &journal);
  NoteSigner log_signer;  // signs the public exports' residents statements
  if (s.ok()) s = ReadLogSigner(args.data, *journal, &log_signer);
  if (!s.ok()) return Report(s);
  options.log_signer = &log_signer;
  std::unique_ptr<Server> server;
  s = Server::Start(*journal, options, &server);
  if (!s.ok()) return Report(s);
  std::cout << "fundledger: serving " << args.data << " on http://" << options.host << ":"
            << server->port() << std::endl;
  server->Wait();
  server.reset();
  journal.reset();  // closes the database cleanly
  std::cout << "fundledger: stopped" << std::endl;
  return kExitOk;
}

int RemoteSubmit(const RemoteArgs& args, const std::string& body, const std::string& format) {
  Remote remote;
  Status s = OpenRemote(args, &remote);
  if (!s.ok()) return Report(s);
  // One envelope is sent as a list of one, so that the answer is always a list of results.
  json whole = json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string payload = !whole.is_discarded() && whole.is_object() ? "[" + body + "]" : body;
  HttpReply reply;
  s = remote.connection->Exchange("POST", "/v1/events", "application/json", payload, std::nullopt,
                                  &reply);
  if (s.ok()) s = StatusOfReply(reply);
  json results;
  if (s.ok()) s = ParseReply(reply, &results);
  if (s.ok() && !results.is_array()) s = Status::IOError("http_reply", "expected a list");
  if (!s.ok()) return Report(s);
  bool accepted_all = true;
  for (const auto& r : results) {
    accepted_all &= !r.contains("error");
    PrintSubmitResult(r, format);
  }
  return accepted_all ? kExitOk : kExitFailure;
}

namespace {

// The target of a disbursements page: the scope and as_of_date of `query`, the point pinned.
std::string PageTarget(const ViewQuery& query, uint64_t as_of_seq, uint64_t from) {
  std::string target = "/v1/views/disbursements?" +
                       QueryPart(ScopeKindName(query.scope.kind), query.scope.id) +
                       "&as_of_seq=" + std::to_string(as_of_seq);
  if (query.as_of.day) target += "&" + QueryPart("as_of_date", FormatDate(*query.as_of.day));
  return target + "&from=" + std::to_string(from) + "&format=json";
}

// GET /v1/views/disbursements page after page, joined into the answer the ledger itself would
// give with the whole list: `*out` is that JSON. The first page is asked for as `first` says;
// the later ones at its point, each from where the list so far ends. The client builds those
// targets itself, so that a server cannot have it sign a request of the server's choosing, and
// a page that does not continue the list where it ended, or runs past the first page's total,
// ends the read: a server cannot keep the client reading.
Status JoinedDisbursements(Remote& remote, const ViewQuery& query, const std::string& first,
                           json* out) {
  auto wrong = [](const std::string& what) {
    return Status::IOError("http_reply", "the server's disbursements pages: " + what);
  };
  std::string target = first;
  json lines = json::array();
  uint64_t total = 0, as_of_seq = 0;
  for (bool more = true, first_page = true; more; first_page = false) {
    HttpReply reply;
    json page;
    FL_RETURN_IF_ERROR(Get(remote, target, &reply));
    FL_RETURN_IF_ERROR(ParseReply(reply, &page));
    Disbursements d;  // checks the page's form
    FL_RETURN_IF_ERROR(AnswerError(DisbursementsFromJson(page, &d)));
    auto seq = page.find("as_of_seq");
    if (seq == page.end() || !seq->is_number_unsigned()) return wrong("no as_of_seq");
    if (first_page) {
      *out = page;
      total = d.lines_total;
      as_of_seq = seq->get<uint64_t>();
    } else if (seq->get<uint64_t>() != as_of_seq || d.lines_total != total) {
      return wrong("a page is of another point");
    }
    if (d.lines_from != lines.size()) return wrong("a page does not go on where the list ended");
    if (d.lines.size() > total - lines.size()) return wrong("the pages list more than the total");
    for (auto& line : page["disbursements"]) lines.push_back(std::move(line));
    more = page["page"]["next"].is_string();
    if (more && (d.lines.empty() || lines.size() == total)) {
      return wrong("the list goes on past its end");
    }
    target = PageTarget(query, as_of_seq, lines.size());
  }
  if (lines.size() != total) return wrong("the pages do not add up to the total");
  (*out)["disbursements"] = std::move(lines);
  (*out)["page"] = {{"from", 0}, {"listed", total}, {"total", total}, {"next", nullptr}};
  return Status::Ok();
}

}  // namespace

int RemoteShow(const RemoteArgs& args, const ViewQuery& view_query, const std::string& query,
               const std::string& format) {
  Remote remote;
  Status s = OpenRemote(args, &remote);
  const std::string target = "/v1/views/" + view_query.view + "?" + query;
  if (s.ok() && view_query.view == "disbursements") {
    // The list comes in pages, the rest of the answer with the first of them.
    json joined;
    Disbursements d;
    s = JoinedDisbursements(remote, view_query, target + "&format=json", &joined);
    if (s.ok() && format != "json") s = AnswerError(DisbursementsFromJson(joined, &d));
    if (!s.ok()) return Report(s);
    if (format == "json") {
      PrintJsonLine(joined);
    } else if (format == "csv") {
      std::cout << DisbursementsCsv(d);
    } else {
      std::optional<int64_t> as_of_day;
      if (joined["as_of_date"].is_string()) {
        int64_t day = 0;
        s = ParseDate(joined["as_of_date"].get<std::string>(), "as_of_date", &day);
        if (!s.ok()) return Report(s);
        as_of_day = day;
      }
      std::cout << ViewTableHeading(view_query, joined["as_of_seq"].get<uint64_t>(), as_of_day)
                << DisbursementsTable(d);
    }
    return kExitOk;
  }
  HttpReply reply;
  if (s.ok()) s = Get(remote, target + "&" + QueryPart("format", format), &reply);
  if (!s.ok()) return Report(s);
  std::cout << reply.body;
  if (format == "json") std::cout << "\n";
  return kExitOk;
}

int RemoteLog(const RemoteArgs& args, uint64_t from, uint64_t limit, const std::string& format) {
  Remote remote;
  Status s = OpenRemote(args, &remote);
  if (!s.ok()) return Report(s);
  // Pages of at most kLogRecordsMax records, until `limit` or the head.
  for (uint64_t printed = 0; printed < limit;) {
    uint64_t page = std::min(kLogRecordsMax, limit - printed);
    HttpReply reply;
    json records;
    s = Get(remote, "/v1/events?from=" + std::to_string(from) + "&limit=" + std::to_string(page),
            &reply);
    if (s.ok()) s = ParseReply(reply, &records);
    if (!s.ok()) return Report(s);
    for (const auto& r : records) {
      if (format == "table") {
        const json& envelope = r.at("envelope");
        std::cout << r.at("seq").get<uint64_t>() << "\t"
                  << FormatDate(BusinessDay(r.at("recorded_at_ms").get<int64_t>())) << "\t"
                  << TextOf(envelope.at("event"), "type") << "\t"
                  << TextOf(envelope.at("event"), "id") << "\t" << TextOf(envelope, "signer")
                  << "\n";
      } else {
        PrintJsonLine(r);
      }
    }
    printed += records.size();
    if (records.size() < page) break;
    from = records.back()["seq"].get<uint64_t>() + 1;
  }
  return kExitOk;
}

namespace {

// A proof's hashes (a JSON list of base64) into `out`; false, with `*error`, if it is not a list
// of at most `count_max` hashes.
bool DecodeHashList(const json& hashes, size_t count_max, std::vector<Hash>* out,
                    std::string* error) {
  if (!hashes.is_array() || hashes.size() > count_max) {
    *error = "\"proof\" is not a list of at most " + std::to_string(count_max) + " hashes";
    return false;
  }
  out->clear();
  for (const json& h : hashes) {
    Hash hash;
    if (!h.is_string() || !Base64DecodeExact(h.get<std::string>(), hash)) {
      *error = "a hash is not 32 bytes of base64";
      return false;
    }
    out->push_back(hash);
  }
  return true;
}

// The server's consistency proof from size1 to size2 records. A proof in another form than
// the protocol's is the server's error (http_reply); whether it proves anything is for
// CheckpointExtends.
Status FetchConsistencyProof(Remote& remote, std::string_view path, uint64_t size1, uint64_t size2,
                             std::vector<Hash>* proof) {
  HttpReply reply;
  json answer;
  FL_RETURN_IF_ERROR(Get(
      remote, std::string(path) + "?from=" + std::to_string(size1) + "&to=" + std::to_string(size2),
      &reply));
  FL_RETURN_IF_ERROR(ParseReply(reply, &answer));
  const auto malformed = [&](const std::string& what) {
    return Status::IOError("http_reply", "the server's consistency proof from " +
                                             std::to_string(size1) + " to " +
                                             std::to_string(size2) + " records: " + what);
  };
  if (answer.at("size1") != size1 || answer.at("size2") != size2) {
    return malformed("it is between other sizes (" + answer.at("size1").dump() + " to " +
                     answer.at("size2").dump() + ")");
  }
  // RFC 9162: at most one hash per level on each side of the split.
  std::string error;
  if (!DecodeHashList(answer.at("proof"), 2 * size_t(kMerkleLevelsMax), proof, &error)) {
    return malformed(error);
  }
  return Status::Ok();
}

// Checks the server's checkpoint `note` against the trusted `log_key` and each held checkpoint
// (`held_notes`, read from held.files), and sets `*out` to what the note says.
Status CheckServerCheckpoint(Remote& remote, std::string_view proof_path,
                             const NoteVerifier& log_key, const HeldCheckpoints& held,
                             const std::vector<std::string>& held_notes, const std::string& note,
                             json* out) {
  Checkpoint latest;
  Status s = OpenCheckpoint(note, log_key, &latest);
  if (!s.ok()) {
    return Status::Corruption(s.code(), "the server's checkpoint: " + s.message(), "note");
  }
  for (size_t i = 0; i < held_notes.size(); ++i) {
    Checkpoint kept;
    s = OpenCheckpoint(held_notes[i], log_key, &kept);
    std::vector<Hash> proof;
    if (s.ok() && kept.origin == latest.origin && kept.size > 0 && kept.size < latest.size) {
      FL_RETURN_IF_ERROR(FetchConsistencyProof(remote, proof_path, kept.size, latest.size, &proof));
    }
    if (s.ok()) s = CheckpointExtends(kept, latest, proof);
    if (!s.ok()) return Status::Corruption(s.code(), held.files[i] + ": " + s.message(), s.field());
  }
  // What is printed is the note's, not the answer's other fields.
  *out = {{"origin", latest.origin},
          {"size", latest.size},
          {"root", Base64Encode(latest.root)},
          {"note", note},
          {"log_key", FormatVerifierKey(log_key.name, log_key.key)},
          {"held_checkpoints", held_notes.size()}};
  return Status::Ok();
}

}  // namespace

int RemoteCheckpoint(const RemoteArgs& args, const HeldCheckpoints& held,
                     const std::string& format) {
  // The reader's own inputs first: a bad one is bad usage, before any exchange.
  std::vector<std::string> held_notes;
  NoteVerifier log_key;
  Status s = ReadHeldNotes(held.files, &held_notes);
  if (s.ok() && !held.log_key.empty()) s = ReadPublicKey(held.log_key, &log_key);
  if (!s.ok()) return Report(s);
  // Without a key that signs reads, the public checkpoint and the public consistency proofs.
  const bool public_reads = args.key.empty();
  Remote remote;
  s = OpenRemote(args, &remote);
  HttpReply reply;
  json out;
  std::string note;
  if (s.ok()) s = Get(remote, public_reads ? "/v1/public/checkpoint" : "/v1/checkpoint", &reply);
  if (s.ok() && public_reads) {
    note = reply.body;
  } else if (s.ok()) {
    s = ParseReply(reply, &out);
    if (s.ok()) note = out.at("note").get<std::string>();
  }
  if (s.ok() && !held.log_key.empty()) {
    s = CheckServerCheckpoint(
        remote, public_reads ? "/v1/public/proofs/consistency" : "/v1/proofs/consistency", log_key,
        held, held_notes, note, &out);
  }
  if (!s.ok()) return Report(s);
  PrintCheckpoint(out, format, held.files);
  return kExitOk;
}

namespace {

// The record `seq` (or of event `id`) as the server has it, and the server's inclusion proof of
// it under the held checkpoint's root: the record must be the event asked for and hash to the
// leaf the proof shows. Sets `*out` to the proof as checked, built from what was checked alone.
// REQUIRES: held.size > 0.
Status CheckHeldInclusion(Remote& remote, uint64_t seq, const std::string& id,
                          const Checkpoint& held, json* out) {
  HttpReply reply;
  json answer;
  std::string query = id.empty() ? "seq=" + std::to_string(seq) : QueryPart("id", id);
  FL_RETURN_IF_ERROR(
      Get(remote, "/v1/proofs/inclusion?" + query + "&size=" + std::to_string(held.size), &reply));
  FL_RETURN_IF_ERROR(ParseReply(reply, &answer));
  const auto malformed = [&](const std::string& what) {
    return Status::IOError("http_reply", "the server's inclusion proof: " + what);
  };
  if (!answer.at("seq").is_number_unsigned()) return malformed("\"seq\" is not a record's seq");
  const uint64_t got = answer.at("seq").get<uint64_t>();
  if (got == 0 || got > held.size || (id.empty() && got != seq)) {
    return malformed("it is of record " + std::to_string(got) +
                     ", not of one asked for in a log of " + std::to_string(held.size));
  }
  std::vector<Hash> proof;
  std::string error;
  if (!DecodeHashList(answer.at("proof"), kMerkleLevelsMax, &proof, &error)) {
    return malformed(error);
  }
  // The record itself, hashed here: the leaf the answer names is not taken on trust, nor its
  // tree size, index or root (the proof is checked at the held size, under the held root).
  json records;
  FL_RETURN_IF_ERROR(Get(remote, "/v1/events?from=" + std::to_string(got) + "&limit=1", &reply));
  FL_RETURN_IF_ERROR(ParseReply(reply, &records));
  const json& record = records.at(0);
  if (record.at("seq") != got || !record.at("recorded_at_ms").is_number_integer()) {
    return Status::IOError("http_reply", "the server's answer for record " + std::to_string(got) +
                                             " is not that record");
  }
  SignedEvent event;
  Status s = SignedEvent::FromEnvelopeJson(record.at("envelope"), &event);
  if (!s.ok()) {
    return Status::IOError("http_reply",
                           "the server's record " + std::to_string(got) + ": " + s.message());
  }
  if (!id.empty() && event.id() != id) {
    return Status::Corruption("record_mismatch",
                              "the server proves record " + std::to_string(got) + ", the event \"" +
                                  event.id() + "\", not \"" + id + "\"",
                              "id");
  }
  const RecordBytes bytes = EncodeRecord(got, record.at("recorded_at_ms").get<int64_t>(), event);
  s = MerkleVerifyInclusion(got - 1, held.size, bytes.leaf_hash, proof, held.root);
  if (!s.ok()) {
    return Status::Corruption("inclusion_proof_invalid",
                              "record " + std::to_string(got) + " as the server sends it (leaf " +
                                  Base64Encode(bytes.leaf_hash) +
                                  ") is not shown by its proof under the held "
                                  "checkpoint's root " +
                                  Base64Encode(held.root) + " at " + std::to_string(held.size) +
                                  " records",
                              "proof");
  }
  *out = InclusionJson(got, held.size, bytes.leaf_hash, held.root, proof);
  return Status::Ok();
}

}  // namespace

int RemoteHeldInclusion(const RemoteArgs& args, uint64_t seq, const std::string& id,
                        const std::string& log_key, const std::string& held_file,
                        const std::string& format) {
  std::string note;
  NoteVerifier key;
  Status s = ReadInput(held_file, &note, kNoteBytesMax);
  if (s.ok()) s = ReadPublicKey(log_key, &key);
  if (!s.ok()) return Report(s);
  Checkpoint held;
  s = OpenCheckpoint(note, key, &held);
  if (!s.ok()) {
    return Report(Status::Corruption(s.code(), held_file + ": " + s.message(), s.field()));
  }
  if (held.size == 0) {
    return Report(Status::InvalidArgument("bad_proof_request",
                                          held_file + ": the held checkpoint is of the empty log",
                                          "checkpoint"));
  }
  Remote remote;
  json out;
  s = OpenRemote(args, &remote);
  if (s.ok()) s = CheckHeldInclusion(remote, seq, id, held, &out);
  if (!s.ok()) return Report(s);
  PrintProof(out, /*inclusion=*/true, format);
  std::cerr << "record " << out.at("seq") << " is in the log of the held checkpoint " << held_file
            << "\n";
  return kExitOk;
}

int RemoteProof(const RemoteArgs& args, const std::string& kind, const std::string& query,
                const std::string& format) {
  Remote remote;
  Status s = OpenRemote(args, &remote);
  HttpReply reply;
  json out;
  if (s.ok()) s = Get(remote, "/v1/proofs/" + kind + "?" + query, &reply);
  if (s.ok()) s = ParseReply(reply, &out);
  if (!s.ok()) return Report(s);
  PrintProof(out, kind == "inclusion", format);
  return kExitOk;
}

}  // namespace fundledger::cli
