// Helpers shared by the `fundledger` subcommands: exit codes, input, output, progress.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crypto/status.h"
#include "ledger/codec.h"

namespace fundledger::cli {

// Exit status: 0 success, 1 a rule or verification failure, 2 bad usage.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Prints "fundledger: <status>" to stderr and returns the exit code that fits its kind.
int Report(const Status& status);

// Reads a whole file, or standard input for "-", of at most `bytes_max` bytes.
// InvalidArgument "input_unreadable", or "input_too_large".
Status ReadInput(const std::string& path, std::string* out,
                 size_t bytes_max = kJsonDocumentBytesMax);

void PrintJsonLine(const nlohmann::json& value);

// Text from a file or a signer as a terminal line shows it: the C0 controls (tab and newline
// too, which separate the line's parts), DEL and the C1 controls as \xNN or \u00NN, so that a
// cell cannot end the line, fake another or send the terminal an escape. Other UTF-8 as it is.
std::string TerminalText(std::string_view text);

// Reads the checkpoints a reader kept (signed notes, at most kNoteBytesMax each).
Status ReadHeldNotes(const std::vector<std::string>& files, std::vector<std::string>* notes);
// Prints a checkpoint as `checkpoint` does: its note, or with `format` "json" the whole of
// `checkpoint`; then names on stderr each held checkpoint the log was shown to extend.
void PrintCheckpoint(const nlohmann::json& checkpoint, const std::string& format,
                     const std::vector<std::string>& held_files);

// Prints a proof (the JSON of /v1/proofs/inclusion or /consistency) as `proof` does: a JSON line,
// or with `format` "table" the sizes, hashes and the proof's hashes one per line.
void PrintProof(const nlohmann::json& proof, bool inclusion, const std::string& format);

// A one-line progress display on stderr, shown only when stderr is a terminal.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  void Update(uint64_t done, uint64_t total);

 private:
  std::string label_;
  bool enabled_;
  int64_t last_ms_ = 0;
};

}  // namespace fundledger::cli
