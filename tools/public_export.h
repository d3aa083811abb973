// `fundledger export` and `fundledger verify-export`: the public bundle of a project or a region
// (DESIGN.md section 10; api/bundle.h), and its offline verification.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fundledger::cli {

struct ExportArgs {
  std::string data;
  std::string project;
  std::string region;
  bool by_region = false;  // --region given (even empty: the whole ledger)
  std::string out;
};

// Signs a checkpoint at the head if needed, then writes the bundle of that checkpoint to
// --out (a new or empty directory). Needs the ledger opened for writing (no running server).
int Export(const ExportArgs& args);

struct VerifyExportArgs {
  std::string dir;
  std::string log_key;  // the log's verifier key, a .pub file or the key text
  std::string origin;   // if set, the log the checkpoint must be of (one key may sign several)
  // If set, the scope the bundle must be of (a bundle of another scope verifies as itself).
  std::optional<std::string> project, region;
  uint64_t size_min = 0;  // the least tree size its checkpoint may have (not an earlier one's)
};

// Exit 0 and a summary when the bundle verifies; exit 1 naming the file and line otherwise.
int VerifyExport(const VerifyExportArgs& args);

}  // namespace fundledger::cli
