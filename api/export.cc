#include "api/export.h"

#include <capnp/schema.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "ledger/codec.h"
#include "ledger/event.h"
#include "ledger/key_file.h"
#include "ledger/rules.h"
#include "ledger/storage_format.h"
#include "replay/reports.h"
#include "replay/view_rows.h"

namespace fundledger {

namespace fs = std::filesystem;

namespace {

using schema::Event;

// The projects of the scope registered by seq `size`, in id order.
Status ScopeProjects(const Journal& journal, const Scope& scope, uint64_t size,
                     std::vector<std::string>* out) {
  if (scope.kind == ScopeKind::kPool) {
    return Status::InvalidArgument("bad_scope", "an export is of a project or a region");
  }
  std::unique_ptr<ViewPoint> head;
  FL_RETURN_IF_ERROR(ViewPoint::Open(journal, scope, AsOf{}, &head));
  for (const std::string& id : head->projects()) {
    const Project* project = journal.state().FindProject(id);
    if (project != nullptr && project->registered_seq <= size) out->push_back(id);
  }
  if (scope.kind == ScopeKind::kProject && out->empty()) {
    return Status::NotFound("project_unknown", "no project " + scope.id + " at the checkpoint",
                            "project");
  }
  return Status::Ok();
}

// The orgs an event signs for or names.
void NamedOrgs(const std::string& signer, Event::Reader e, std::set<std::string>* out) {
  out->insert(signer);
  switch (e.which()) {
    case Event::FUNDS_PLEDGED:
      out->insert(e.getFundsPledged().getSourceOrg());
      break;
    case Event::FUNDS_RECEIVED:
      out->insert(e.getFundsReceived().getSourceOrg());
      break;
    case Event::FUNDS_ALLOCATED:
      out->insert(e.getFundsAllocated().getFrom());
      break;
    case Event::FUNDS_DISBURSED:
      if (e.getFundsDisbursed().getPayee().hasOrg()) {
        out->insert(e.getFundsDisbursed().getPayee().getOrg());
      }
      break;
    case Event::FUNDS_REFUNDED:
      out->insert(e.getFundsRefunded().getToOrg());
      break;
    default:
      break;
  }
}

// The seqs of an org's registry events up to `size`.
void RegistrySeqs(const Org& org, uint64_t size, std::set<uint64_t>* out) {
  auto add = [&](uint64_t seq) {
    if (seq >= 1 && seq <= size) out->insert(seq);
  };
  add(org.registered_seq);
  // A rotation's key applies from the seq after the key_rotated event.
  for (size_t i = 1; i < org.keys.size(); ++i) add(org.keys[i].from_seq - 1);
  if (org.revoked_seq != 0) add(org.revoked_seq);
}

struct Decoded {
  std::string bytes;
  RecordReader record;
};

Status ReadDecoded(const Journal& journal, uint64_t seq, Decoded* out) {
  FL_RETURN_IF_ERROR(journal.ReadRecord(seq, &out->bytes));
  return RecordReader::Open(out->bytes, &out->record);
}

// The registry events of every org the records name, and of their signers, transitively. The
// orgs' keys are read under `gate`.
Status AddRegistry(const Journal& journal, uint64_t size, StateGate* gate,
                   std::map<uint64_t, Decoded>* records) {
  std::set<std::string> orgs, done;
  for (auto& [seq, d] : *records) {
    auto envelope = d.record.record().getEnvelope();
    NamedOrgs(envelope.getSigner(), envelope.getEvent(), &orgs);
  }
  {
    StateGate::Shared hold(gate);
    orgs.insert(journal.state().operator_id());
  }
  while (!orgs.empty()) {
    std::string id = *orgs.begin();
    orgs.erase(orgs.begin());
    if (!done.insert(id).second) continue;
    std::set<uint64_t> seqs;
    {
      StateGate::Shared hold(gate);
      const Org* org = journal.state().FindOrg(id);
      if (org == nullptr) continue;  // a payee org is always registered; others are not orgs
      RegistrySeqs(*org, size, &seqs);
    }
    for (uint64_t seq : seqs) {
      if (records->count(seq)) continue;
      Decoded d;
      FL_RETURN_IF_ERROR(ReadDecoded(journal, seq, &d));
      std::string signer = d.record.record().getEnvelope().getSigner();
      if (!done.count(signer)) orgs.insert(signer);
      records->emplace(seq, std::move(d));
    }
  }
  return Status::Ok();
}

// A channel's name in the event JSON ("provident_fund").
std::string ChannelName(schema::Channel channel) {
  auto enumerants = capnp::Schema::from<schema::Channel>().getEnumerants();
  if (uint16_t(channel) >= enumerants.size()) return std::to_string(uint16_t(channel));
  return SnakeCase(enumerants[uint16_t(channel)].getProto().getName().cStr());
}

// The residents statement of `records`: their digest, and the withheld receipts among them.
ResidentsStatement StatementOf(const Scope& scope, const Checkpoint& checkpoint,
                               const std::map<uint64_t, Decoded>& records) {
  ResidentsStatement statement;
  statement.scope = scope;
  statement.checkpoint = checkpoint;
  std::set<std::string> reversed;
  RecordsDigest digest;
  for (const auto& [seq, d] : records) {
    Event::Reader e = d.record.record().getEnvelope().getEvent();
    if (e.isEventReversed()) reversed.insert(e.getEventReversed().getTarget());
    digest.Add(seq, MerkleLeafHash(AsBytes(d.bytes)));
  }
  statement.records = digest.count();
  statement.records_digest = digest.Finish();
  std::map<std::tuple<std::string, std::string, std::string>, ResidentTotal> totals;
  for (const auto& [seq, d] : records) {
    Event::Reader e = d.record.record().getEnvelope().getEvent();
    if (!IsWithheldEvent(e)) continue;
    statement.withheld.push_back({seq, MerkleLeafHash(AsBytes(d.bytes)), e.getId()});
    if (reversed.count(e.getId())) continue;  // the sums are net of reversals
    auto r = e.getFundsReceived();
    std::string channel = ChannelName(r.getChannel());
    ResidentTotal& t = totals[{r.getTo(), r.getSourceOrg(), channel}];
    t.project = r.getTo();
    t.source_org = r.getSourceOrg();
    t.channel = channel;
    t.amount_fen += int64_t(r.getAmountFen());
    t.households += r.getHouseholds().isValue() ? r.getHouseholds().getValue() : 0;
    t.receipts += 1;
  }
  for (auto& [key, t] : totals) statement.totals.push_back(std::move(t));
  return statement;
}

}  // namespace

Status BuildBundle(const Journal& journal, const Scope& scope, std::string_view checkpoint_note,
                   const NoteSigner& log_signer, BundleInput* out, StateGate* gate) {
  *out = BundleInput();
  out->scope = scope;
  out->checkpoint_note = std::string(checkpoint_note);
  FL_RETURN_IF_ERROR(OpenCheckpoint(checkpoint_note, journal.log_verifier(), &out->checkpoint));
  out->log_key = FormatVerifierKey(journal.log_verifier().name, journal.log_verifier().key);
  uint64_t size = out->checkpoint.size;
  std::vector<std::string> projects;
  {
    StateGate::Shared hold(gate);
    FL_RETURN_IF_ERROR(ScopeProjects(journal, scope, size, &projects));
  }
  out->projects = projects.size();
  // From here on the rows, records and tree nodes of the tree of `size`, all written before the
  // checkpoint was signed, and RocksDB's reads are safe beside the appends of later records.
  std::set<uint64_t> seqs;
  JournalRows rows(journal);
  for (const std::string& p : projects) {
    FL_RETURN_IF_ERROR(rows.Scan(ViewRows::HistoryPrefix(schema::AccountHolder::PROJECT, p),
                                 [&](std::string_view key, std::string_view) {
                                   uint64_t seq = ViewRows::KeySeq(key);
                                   if (seq > size) return false;  // in seq order
                                   seqs.insert(seq);
                                   return seqs.size() <= kBundleRecordsMax;
                                 }));
  }
  std::map<uint64_t, Decoded> records;
  for (uint64_t seq : seqs) {
    if (records.size() >= kBundleRecordsMax) break;
    FL_RETURN_IF_ERROR(ReadDecoded(journal, seq, &records[seq]));
  }
  FL_RETURN_IF_ERROR(AddRegistry(journal, size, gate, &records));
  if (records.size() > kBundleRecordsMax || seqs.size() > kBundleRecordsMax) {
    return Status::InvalidArgument("export_too_large", "the scope holds more than " +
                                                           std::to_string(kBundleRecordsMax) +
                                                           " records; export "
                                                           "a smaller region");
  }
  out->residents = StatementOf(scope, out->checkpoint, records);
  std::string statement = FormatResidentsStatement(out->residents);
  constexpr size_t kSignatureRoom = 4096;  // the blank line and the log key's signature line
  if (statement.size() + kSignatureRoom > kBundleStatementBytesMax) {
    return Status::InvalidArgument(
        "export_too_large",
        "the scope withholds " + std::to_string(out->residents.withheld.size()) +
            " residents' own receipts, more than residents.txt may list (" +
            std::to_string(kBundleStatementBytesMax >> 20) + " MiB); export a smaller region");
  }
  FL_RETURN_IF_ERROR(
      SignNote(statement, log_signer, &out->residents_note, kBundleStatementBytesMax));
  for (auto& [seq, d] : records) {
    BundleRecord r;
    r.seq = seq;
    Hash root;
    FL_RETURN_IF_ERROR(journal.InclusionProof(seq, size, &r.proof, &r.leaf_hash, &root));
    if (root != out->checkpoint.root) {
      return Status::Corruption(
          "checkpoint_root_mismatch",
          "the tree of size " + std::to_string(size) + " does not have the checkpoint's root");
    }
    if (!IsWithheldEvent(d.record.record().getEnvelope().getEvent())) r.bytes = std::move(d.bytes);
    out->records.push_back(std::move(r));
  }
  return Status::Ok();
}

Status ReadLogSigner(const std::string& data_dir, const Journal& journal, NoteSigner* out) {
  std::string path = (fs::path(data_dir) / storage::kLogKeyFile).string();
  FL_RETURN_IF_ERROR(ReadSecretKeyFile(path, out));
  if (out->key.public_key() != journal.log_verifier().key ||
      out->name != journal.log_verifier().name) {
    return Status::Corruption("log_key_mismatch", path + " is not this ledger's log key");
  }
  return Status::Ok();
}

Status WriteBundleFiles(const std::vector<BundleFile>& files, const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    return Status::InvalidArgument("export_dir_not_empty", dir + " exists and is not empty", "out");
  }
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("mkdir", dir + ": " + ec.message());
  for (const BundleFile& file : files) {
    std::string path = (fs::path(dir) / file.name).string();
    std::ofstream stream(path, std::ios::binary | std::ios::trunc);
    stream.write(file.content.data(), std::streamsize(file.content.size()));
    stream.close();
    if (!stream) return Status::IOError("write", path + ": cannot write");
  }
  return Status::Ok();
}

}  // namespace fundledger
