#include "tools/public_export.h"

#include <chrono>
#include <iostream>

#include "api/export.h"
#include "api/verify_export.h"
#include "crypto/encoding.h"
#include "ledger/key_file.h"
#include "ledger/rules.h"
#include "replay/views.h"
#include "tools/cli_util.h"

namespace fundledger::cli {

namespace {

Status ExportScope(const ExportArgs& args, Scope* out) {
  if (args.project.empty() == !args.by_region) {
    return Status::InvalidArgument("bad_scope", "give exactly one of --project, --region");
  }
  if (args.by_region && !IsValidRegion(args.region)) {
    return Status::InvalidArgument("bad_region", "lowercase ascii slugs joined by '/'", "region");
  }
  *out = args.by_region ? Scope{ScopeKind::kRegion, args.region}
                        : Scope{ScopeKind::kProject, args.project};
  return Status::Ok();
}

}  // namespace

int Export(const ExportArgs& args) {
  auto started = std::chrono::steady_clock::now();
  Scope scope;
  Status s = ExportScope(args, &scope);
  if (!s.ok()) return Report(s);
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  s = OpenWithViews(args.data, JournalOptions(), &views, &journal);
  std::string note;
  if (s.ok()) s = journal->WriteCheckpoint(&note);
  NoteSigner log_signer;
  if (s.ok()) s = ReadLogSigner(args.data, *journal, &log_signer);
  BundleInput bundle;
  if (s.ok()) s = BuildBundle(*journal, scope, note, log_signer, &bundle);
  std::vector<BundleFile> files;
  if (s.ok()) s = RenderBundle(bundle, &files);
  if (s.ok()) s = WriteBundleFiles(files, args.out);
  if (!s.ok()) return Report(s);
  size_t bytes = 0;
  for (const BundleFile& file : files) bytes += file.content.size();
  size_t withheld = bundle.residents.withheld.size();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started)
                .count();
  std::cout << "exported " << (scope.kind == ScopeKind::kRegion ? "region \"" : "project \"")
            << scope.id << "\" to " << args.out << ": " << bundle.records.size() - withheld
            << " records published, " << withheld << " resident receipts withheld, " << bytes
            << " bytes in " << files.size() << " files, " << ms << " ms; checkpoint size "
            << bundle.checkpoint.size << " root " << Base64Encode(bundle.checkpoint.root) << "\n";
  return kExitOk;
}

int VerifyExport(const VerifyExportArgs& args) {
  NoteVerifier log_key;
  Status s = ReadPublicKey(args.log_key, &log_key);
  if (!s.ok()) return Report(s);
  ExportSummary summary;
  s = VerifyBundleDir(args.dir, log_key, &summary);
  if (s.ok() && !args.origin.empty() && summary.checkpoint.origin != args.origin) {
    s = Status::Rejected("export_invalid",
                         "checkpoint.txt line 1: the checkpoint is of the log \"" +
                             summary.checkpoint.origin + "\", not of \"" + args.origin +
                             "\" (--origin)",
                         "checkpoint.txt");
  }
  if (s.ok() && (args.project || args.region)) {
    // A bundle of another scope, or of the right id as the other kind, verifies as what it is.
    const Scope wanted = args.project ? Scope{ScopeKind::kProject, *args.project}
                                      : Scope{ScopeKind::kRegion, *args.region};
    auto name = [](const Scope& scope) {
      return std::string(scope.kind == ScopeKind::kRegion ? "region \"" : "project \"") + scope.id +
             "\"";
    };
    if (summary.scope.kind != wanted.kind || summary.scope.id != wanted.id) {
      s = Status::Rejected("export_invalid",
                           "residents.txt line 2: the bundle is of " + name(summary.scope) +
                               ", not of " + name(wanted) +
                               (args.project ? " (--project)" : " (--region)"),
                           "residents.txt");
    }
  }
  if (s.ok() && summary.checkpoint.size < args.size_min) {
    s = Status::Rejected("export_invalid",
                         "checkpoint.txt line 2: the checkpoint is at tree size " +
                             std::to_string(summary.checkpoint.size) + ", before " +
                             std::to_string(args.size_min) +
                             " (--size-min): the bundle of an earlier checkpoint leaves out "
                             "what was recorded since",
                         "checkpoint.txt");
  }
  if (!s.ok()) {
    std::cerr << "fundledger: the export does not verify: " << s.message() << "\n";
    return kExitFailure;
  }
  std::cout << "ok: " << (summary.scope.kind == ScopeKind::kRegion ? "region \"" : "project \"")
            << summary.scope.id << "\", " << summary.published << " records published and "
            << summary.withheld << " withheld, all in the log of " << summary.checkpoint.origin
            << " at tree size " << summary.checkpoint.size << " (root "
            << Base64Encode(summary.checkpoint.root)
            << "); every signature, proof, figure and total checks\n";
  return kExitOk;
}

}  // namespace fundledger::cli
