// `fundledger serve`, and the client verbs run against a server (--server URL): submit, show,
// log, checkpoint and proof print what they print on a local --data ledger.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "api/reads.h"

namespace fundledger::cli {

// How a client verb reaches a server, and who signs its reads.
struct RemoteArgs {
  std::string server;  // http://HOST:PORT[/PREFIX]; empty: a local ledger
  std::string key;     // secret key file that signs reads
  std::string org;     // the org it signs for (default: the key's name)
};

struct ServeArgs {
  std::string data;
  std::string listen = "127.0.0.1:8080";
  unsigned threads = 0;
  uint64_t connections_max = 1024;
  uint64_t request_events_max = 5000;
  uint64_t view_lines_max = 10000;
  uint64_t queue_events_max = 50000;
  uint64_t body_bytes_max = 8 << 20;
  std::string web_dir;       // the dashboard's files; default: web/ of the source tree
  std::string echarts_file;  // default: the source tree's node_modules/echarts/dist/echarts.min.js
};

int Serve(const ServeArgs& args);

// Posts `body` (envelopes: a JSON value, an array or JSON lines) to POST /v1/events and prints
// one result per event as `submit` does; `format` json or table.
int RemoteSubmit(const RemoteArgs& remote, const std::string& body, const std::string& format);
// GET /v1/views/VIEW with the scope and point as query parameters; prints the answer.
// GET /v1/views/VIEW?QUERY; prints the view as `show` does. A disbursements list is fetched
// page after page and printed whole.
int RemoteShow(const RemoteArgs& remote, const ViewQuery& view_query, const std::string& query,
               const std::string& format);
int RemoteLog(const RemoteArgs& remote, uint64_t from, uint64_t limit, const std::string& format);
// What a reader checks a log's checkpoint against: the log's key, obtained independently (not
// from the server), and checkpoints kept from before, which the log must extend.
struct HeldCheckpoints {
  std::string log_key;             // a verifier key file or its text; empty: nothing is checked
  std::vector<std::string> files;  // signed notes; REQUIRES: log_key when not empty
};

// GET /v1/checkpoint; prints the note (or JSON). With a log key, the note must be signed by it,
// and the server must prove, with its consistency proofs, that the log extends each held
// checkpoint (codes as CheckpointExtends, exit 1); what is printed is then what the note says.
int RemoteCheckpoint(const RemoteArgs& remote, const HeldCheckpoints& held,
                     const std::string& format);
// The inclusion proof of record `seq` (or of event `id`) in the log of the checkpoint a reader
// kept (`held_file`, opened with the log key `log_key` the reader names): the server's proof at
// that checkpoint's size, and the record itself (GET /v1/events), which must be the event asked
// for and hash to a leaf the proof shows under the checkpoint's root. Otherwise exit 1:
// record_mismatch, inclusion_proof_invalid, or http_reply for an answer not of the protocol's
// form. Prints the proof as `proof` does.
int RemoteHeldInclusion(const RemoteArgs& remote, uint64_t seq, const std::string& id,
                        const std::string& log_key, const std::string& held_file,
                        const std::string& format);
// GET /v1/proofs/KIND?QUERY; prints the proof as `proof` does.
int RemoteProof(const RemoteArgs& remote, const std::string& kind, const std::string& query,
                const std::string& format);

}  // namespace fundledger::cli
