#include "api/verify_export.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "crypto/encoding.h"
#include "crypto/merkle.h"
#include "ledger/codec.h"
#include "ledger/event.h"
#include "ledger/fund_rules.h"

namespace fundledger {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

Status Invalid(std::string_view file, size_t line, std::string_view what) {
  return Status::Rejected(
      "export_invalid",
      std::string(file) + " line " + std::to_string(line) + ": " + std::string(what), file);
}

Status Malformed(std::string_view file, size_t line, std::string_view what) {
  return Status::InvalidArgument(
      "export_malformed",
      std::string(file) + " line " + std::to_string(line) + ": " + std::string(what), file);
}

bool IsBundleFile(std::string_view name) {
  return std::find_if(std::begin(kBundleFiles), std::end(kBundleFiles),
                      [&](const char* n) { return name == n; }) != std::end(kBundleFiles);
}

size_t SizeMax(std::string_view name) {
  if (name == "events.jsonl") return kBundleEventsBytesMax;
  if (name == "project.json" || name.ends_with(".csv")) return kBundleTableBytesMax;
  if (name == "residents.txt") return kBundleStatementBytesMax;
  return kBundleTextBytesMax;
}

size_t LineCount(std::string_view text) {
  return size_t(std::count(text.begin(), text.end(), '\n'));
}

// Opens a signed note written by the exporter: its text, a blank line and exactly one
// signature line, by the log key. The failure names the line at fault where it can.
Status OpenBundleNote(std::string_view file, std::string_view note, const NoteVerifier& log_key,
                      std::string* text) {
  size_t split = note.rfind("\n\n");
  size_t signature_line =
      split == std::string_view::npos ? 1 : LineCount(note.substr(0, split)) + 3;
  if (split == std::string_view::npos ||
      note.substr(split + 2).find('\n') + 1 != note.size() - split - 2) {
    return Malformed(file, signature_line,
                     "a signed note is its text, a blank line and one signature line");
  }
  Status s = OpenNote(note, log_key, text,
                      file == "residents.txt" ? kBundleStatementBytesMax : kNoteBytesMax);
  if (s.ok()) return s;
  if (s.code() == "note_signature_invalid") {
    return Invalid(file, signature_line,
                   "the log key's signature does not verify lines 1 to " +
                       std::to_string(signature_line - 2) + " (" + s.message() + ")");
  }
  // Malformed: the first line holding a byte a note cannot hold, else the signature line.
  size_t line = 1;
  for (size_t i = 0; i < note.size(); ++i) {
    unsigned char c = note[i];
    if (c == '\n') {
      ++line;
    } else if (c < 0x20 || c == 0x7f) {
      return Malformed(file, line, s.message());
    }
  }
  size_t start = 0;
  line = 1;
  while (start < note.size()) {
    size_t end = note.find('\n', start);
    if (end == std::string_view::npos) end = note.size();
    if (!IsValidUtf8(note.substr(start, end - start))) return Malformed(file, line, s.message());
    start = end + 1;
    ++line;
  }
  return Malformed(file, signature_line, s.message());
}

// The keys of the orgs as the bundle's registry events give them, as ledger/state.h keeps
// them: a registration's key applies from its own seq, a rotation's from the next.
class KeyHistory {
 public:
  // The key `signer` held at `seq`; nullptr if none (unregistered by then, or revoked).
  const PublicKey* KeyAt(const std::string& signer, uint64_t seq) const {
    auto it = orgs_.find(signer);
    if (it == orgs_.end()) return nullptr;
    if (it->second.revoked_seq != 0 && it->second.revoked_seq < seq) return nullptr;
    const PublicKey* found = nullptr;
    for (const auto& [from, key] : it->second.keys) {
      if (from <= seq) found = &key;
    }
    return found;
  }
  void Apply(uint64_t seq, schema::Event::Reader e) {
    auto key_of = [](capnp::Data::Reader data) {
      PublicKey key{};
      if (data.size() == key.size()) std::copy(data.begin(), data.end(), key.begin());
      return key;
    };
    if (e.isOrgRegistered()) {
      Org& org = orgs_[e.getOrgRegistered().getOrg()];
      org.keys = {{seq, key_of(e.getOrgRegistered().getPublicKey())}};
      org.revoked_seq = 0;
    } else if (e.isKeyRotated()) {
      orgs_[e.getKeyRotated().getOrg()].keys.emplace_back(seq + 1,
                                                          key_of(e.getKeyRotated().getPublicKey()));
    } else if (e.isOrgRevoked()) {
      orgs_[e.getOrgRevoked().getOrg()].revoked_seq = seq;
    }
  }

 private:
  struct Org {
    std::vector<std::pair<uint64_t, PublicKey>> keys;
    uint64_t revoked_seq = 0;
  };
  std::map<std::string, Org> orgs_;
};

// Reads at most `bytes_max` bytes of a bundle's file into `*content`.
using FileLoader =
    std::function<Status(const std::string& name, size_t bytes_max, std::string* content)>;

class Verifier {
 public:
  // With `load`, the files that are rendered from the records (project.json, the CSV files,
  // README.txt) and are not among `files` are read once their expected content is known, and no
  // more of each than that and a byte: a file larger than what the events add up to differs
  // within it. The caller has checked that they exist within their limits.
  Verifier(const std::map<std::string, std::string>& files, const NoteVerifier& log_key,
           const FileLoader* load = nullptr)
      : files_(files), log_key_(log_key), load_(load) {}
  Status Run(ExportSummary* out);
  // Checks 2 and 3 alone. REQUIRES: files holds checkpoint.txt and residents.txt.
  Status Notes();

 private:
  const std::string& File(const char* name) const { return files_.at(name); }
  Status EventLine(size_t n, std::string_view line, uint64_t* last_seq);
  Status Published(size_t n, const json& item, BundleRecord* record);
  Status Withheld(size_t n, const BundleRecord& record);
  Status Signatures();
  Status Compare(const BundleFile& expected) const;

  const std::map<std::string, std::string>& files_;
  const NoteVerifier& log_key_;
  const FileLoader* const load_;
  BundleInput input_;
  KeyHistory keys_;
  struct SignedRecord {
    size_t line = 0;
    uint64_t seq = 0;
    SignedEvent event;
  };
  std::vector<SignedRecord> signed_;  // the published records, in seq order
  std::set<uint64_t> withheld_seen_;
  // Every record's event id, withheld and published: a ledger never records one twice, and the
  // figures find a reversal's or an acknowledgement's target by it.
  std::set<std::string> event_ids_;
  uint64_t volume_ = 0;  // BundleAmountsOutOfBounds
};

Status Verifier::Notes() {
  std::string text;
  input_.checkpoint_note = File("checkpoint.txt");
  FL_RETURN_IF_ERROR(OpenBundleNote("checkpoint.txt", input_.checkpoint_note, log_key_, &text));
  Status s = ParseCheckpointBody(text, &input_.checkpoint);
  if (!s.ok()) return Malformed("checkpoint.txt", 1, s.message());
  if (LineCount(text) != 3) return Malformed("checkpoint.txt", 4, "a checkpoint has three lines");
  input_.residents_note = File("residents.txt");
  FL_RETURN_IF_ERROR(OpenBundleNote("residents.txt", input_.residents_note, log_key_, &text));
  s = ParseResidentsStatement(text, &input_.residents);
  if (!s.ok()) return Malformed("residents.txt", 1, s.message());
  if (!(input_.residents.checkpoint == input_.checkpoint)) {
    return Invalid("residents.txt", 3, "the statement is of another checkpoint");
  }
  input_.scope = input_.residents.scope;
  input_.log_key = FormatVerifierKey(log_key_.name, log_key_.key);
  event_ids_.clear();
  for (size_t i = 0; i < input_.residents.withheld.size(); ++i) {
    const std::string& id = input_.residents.withheld[i].event_id;
    if (!event_ids_.insert(id).second) {
      return Invalid("residents.txt", kResidentsFirstWithheldLine + i,
                     "the event id " + id + " is listed twice");
    }
  }
  return Status::Ok();
}

Status HashField(const json& item, const char* name, Hash* out) {
  if (!item.contains(name) || !item[name].is_string() ||
      !Base64DecodeExact(item[name].get<std::string>(), *out)) {
    return Status::InvalidArgument("bad_hash", std::string(name) + " is 32 bytes in base64");
  }
  return Status::Ok();
}

Status Verifier::EventLine(size_t n, std::string_view line, uint64_t* last_seq) {
  constexpr const char* kFile = "events.jsonl";
  if (line.size() > kBundleLineBytesMax) return Malformed(kFile, n, "the line is too long");
  json item;
  Status s = ParseJson(line, &item);
  if (!s.ok() || !item.is_object()) return Malformed(kFile, n, "not a JSON object");
  BundleRecord record;
  if (!item.contains("seq") || !item["seq"].is_number_unsigned()) {
    return Malformed(kFile, n, "seq is a positive integer");
  }
  record.seq = item["seq"].get<uint64_t>();
  if (record.seq <= *last_seq || record.seq > input_.checkpoint.size) {
    return Invalid(kFile, n,
                   "seq " + std::to_string(record.seq) +
                       " is out of order or beyond the checkpoint's tree size");
  }
  *last_seq = record.seq;
  s = HashField(item, "leaf_hash", &record.leaf_hash);
  if (!s.ok()) return Malformed(kFile, n, s.message());
  if (!item.contains("proof") || !item["proof"].is_array() ||
      item["proof"].size() > kMerkleLevelsMax) {
    return Malformed(kFile, n, "proof is a list of hashes");
  }
  for (const json& h : item["proof"]) {
    Hash hash;
    s = HashField(json{{"proof", h}}, "proof", &hash);
    if (!s.ok()) return Malformed(kFile, n, "proof: " + s.message());
    record.proof.push_back(hash);
  }
  s = MerkleVerifyInclusion(record.seq - 1, input_.checkpoint.size, record.leaf_hash, record.proof,
                            input_.checkpoint.root);
  if (!s.ok()) {
    return Invalid(kFile, n,
                   "the inclusion proof of seq " + std::to_string(record.seq) +
                       " does not lead to the checkpoint's root");
  }
  FL_RETURN_IF_ERROR(item.contains("withheld") ? Withheld(n, record) : Published(n, item, &record));
  std::string expected;
  FL_RETURN_IF_ERROR(RenderEventLine(record, &expected));
  if (expected != std::string(line) + "\n") {
    return Invalid(kFile, n,
                   "the line is not exactly what its record decodes to (a changed or added field)");
  }
  input_.records.push_back(std::move(record));
  return Status::Ok();
}

Status Verifier::Withheld(size_t n, const BundleRecord& record) {
  const auto& list = input_.residents.withheld;  // in seq order (ParseResidentsStatement)
  auto it = std::lower_bound(list.begin(), list.end(), record.seq,
                             [](const WithheldRecord& w, uint64_t seq) { return w.seq < seq; });
  if (it == list.end() || it->seq != record.seq || it->leaf_hash != record.leaf_hash) {
    return Invalid("events.jsonl", n,
                   "a withheld record that residents.txt does not list with this leaf hash");
  }
  withheld_seen_.insert(record.seq);
  return Status::Ok();
}

Status Verifier::Published(size_t n, const json& item, BundleRecord* record) {
  constexpr const char* kFile = "events.jsonl";
  std::vector<uint8_t> bytes;
  if (!item.contains("record") || !item["record"].is_string() ||
      !Base64Decode(item["record"].get<std::string>(), &bytes, kBundleRecordBytesMax).ok() ||
      bytes.empty()) {
    return Malformed(kFile, n, "record is the record's bytes in base64");
  }
  record->bytes.assign(bytes.begin(), bytes.end());
  if (MerkleLeafHash(bytes) != record->leaf_hash) {
    return Invalid(kFile, n, "leaf_hash is not the hash of the record bytes");
  }
  RecordReader reader;
  SignedEvent event;
  Status s = RecordReader::Open(record->bytes, &reader);
  if (s.ok()) s = SignedEvent::FromRecordEnvelope(reader, &event);
  if (!s.ok()) return Invalid(kFile, n, "the record does not decode: " + s.message());
  if (reader.record().getSeq() != record->seq) {
    return Invalid(kFile, n, "the record's own seq is not the line's");
  }
  if (IsWithheldEvent(event.event())) {
    return Invalid(kFile, n, "a published record carries a contributor_ref");
  }
  if (!event_ids_.insert(event.id()).second) {
    return Invalid(kFile, n, "the event id " + event.id() + " is another record's too");
  }
  if (std::string what = BundleAmountsOutOfBounds(event.event(), &volume_); !what.empty()) {
    return Invalid(kFile, n, what);
  }
  signed_.push_back({n, record->seq, std::move(event)});
  return Status::Ok();
}

// Every event's signature, with the key its signer held at its seq as the registry events
// before it give them. Last, since it costs the most: a bundle whose bytes were changed fails
// on the cheaper checks first.
Status Verifier::Signatures() {
  for (const SignedRecord& r : signed_) {
    schema::Event::Reader e = r.event.event();
    bool genesis = r.seq == 1 && e.isOrgRegistered() &&
                   e.getOrgRegistered().getKind() == schema::OrgKind::OPERATOR &&
                   r.event.signer() == e.getOrgRegistered().getOrg().cStr();
    if (genesis) keys_.Apply(r.seq, e);
    const PublicKey* key = keys_.KeyAt(r.event.signer(), r.seq);
    if (key == nullptr) {
      return Invalid("events.jsonl", r.line,
                     "the signer " + r.event.signer() + " holds no key at seq " +
                         std::to_string(r.seq) + " in the bundle's registry events");
    }
    if (!VerifyEventSignature(*key, r.event.canonical_event(), r.event.signature())) {
      return Invalid("events.jsonl", r.line,
                     "the signature of " + r.event.signer() + " does not verify");
    }
    if (!genesis) keys_.Apply(r.seq, e);
  }
  return Status::Ok();
}

// The first line where `expected` and the file differ.
Status Verifier::Compare(const BundleFile& expected) const {
  std::string loaded;
  auto it = files_.find(expected.name);
  if (it == files_.end()) {
    FL_RETURN_IF_ERROR((*load_)(expected.name, expected.content.size() + 1, &loaded));
  }
  const std::string& found = it == files_.end() ? loaded : it->second;
  if (found == expected.content) return Status::Ok();
  size_t at = 0, line = 1;
  while (at < found.size() && at < expected.content.size() && found[at] == expected.content[at]) {
    if (found[at] == '\n') ++line;
    ++at;
  }
  auto line_of = [&](const std::string& text) {
    size_t start = text.rfind('\n', at == 0 ? 0 : at - 1);
    start = (start == std::string::npos || at == 0) ? 0 : start + 1;
    size_t end = text.find('\n', at);
    std::string out = text.substr(start, std::min<size_t>(end - start, 160));
    return out;
  };
  return Invalid(expected.name, line,
                 "not what the events add up to: expected \"" + line_of(expected.content) +
                     "\", found \"" + line_of(found) + "\"");
}

Status Verifier::Run(ExportSummary* out) {
  for (const char* name : kBundleFiles) {
    const bool loaded_later = load_ != nullptr && name != std::string_view("events.jsonl") &&
                              name != std::string_view("checkpoint.txt") &&
                              name != std::string_view("residents.txt");
    if (!files_.count(name) && !loaded_later) return Malformed(name, 1, "the file is missing");
  }
  for (const auto& [name, content] : files_) {
    if (!IsBundleFile(name)) return Malformed(name, 1, "not a file of a bundle");
    if (content.size() > SizeMax(name)) return Malformed(name, 1, "the file is too large");
  }
  FL_RETURN_IF_ERROR(Notes());
  const std::string& events = File("events.jsonl");
  if (!events.empty() && events.back() != '\n') {
    return Malformed("events.jsonl", LineCount(events) + 1, "the last line has no newline");
  }
  uint64_t last_seq = 0;
  size_t n = 0;
  for (size_t start = 0; start < events.size();) {
    size_t end = events.find('\n', start);
    if (++n > kBundleRecordsMax) return Malformed("events.jsonl", n, "too many lines");
    // No more lines are read than the log signed records (the count is checked again below).
    if (n > input_.residents.records) {
      return Invalid("events.jsonl", n,
                     "more lines than the " + std::to_string(input_.residents.records) +
                         " records the log signed in residents.txt");
    }
    FL_RETURN_IF_ERROR(
        EventLine(n, std::string_view(events).substr(start, end - start), &last_seq));
    start = end + 1;
  }
  RecordsDigest digest;
  for (const BundleRecord& r : input_.records) digest.Add(r.seq, r.leaf_hash);
  if (digest.count() != input_.residents.records ||
      digest.Finish() != input_.residents.records_digest) {
    return Invalid("events.jsonl", n,
                   "its " + std::to_string(n) + " records are not the " +
                       std::to_string(input_.residents.records) +
                       " the log signed in residents.txt (a line left out, added or changed)");
  }
  if (withheld_seen_.size() != input_.residents.withheld.size()) {
    return Invalid("residents.txt", kResidentsFirstWithheldLine,
                   "lists a withheld record that events.jsonl does not hold");
  }
  std::vector<BundleFile> expected;
  Status s = RenderBundle(input_, &expected);
  if (s.code() == "residents_receipts_mismatch" || s.code() == "residents_line_invalid" ||
      s.code() == "text_formula_start") {
    return Status::Rejected("export_invalid", s.message(), s.field());
  }
  if (!s.ok()) return Invalid("events.jsonl", 1, s.message());
  for (const BundleFile& file : expected) FL_RETURN_IF_ERROR(Compare(file));
  FL_RETURN_IF_ERROR(Signatures());
  *out = {input_.scope, input_.checkpoint, input_.records.size() - withheld_seen_.size(),
          withheld_seen_.size()};
  return Status::Ok();
}

}  // namespace

std::string BundleAmountsOutOfBounds(schema::Event::Reader e, uint64_t* volume) {
  std::vector<std::pair<const char*, uint64_t>> amounts;  // field, fen (at least 1)
  std::vector<std::pair<const char*, uint64_t>> parts;    // field, fen (0 allowed)
  auto budget = [&](schema::Budget::Reader b, capnp::List<schema::CategoryAmount>::Reader plan) {
    parts = {{"budget.basic_fen", b.getBasicFen()},
             {"budget.improvement_fen", b.getImprovementFen()},
             {"budget.enhancement_fen", b.getEnhancementFen()}};
    for (auto item : plan) amounts.push_back({"funding_plan[].amount_fen", item.getAmountFen()});
  };
  switch (e.which()) {
    case schema::Event::PROJECT_REGISTERED:
      budget(e.getProjectRegistered().getBudget(), e.getProjectRegistered().getFundingPlan());
      break;
    case schema::Event::PROJECT_REVISED:
      budget(e.getProjectRevised().getBudget(), e.getProjectRevised().getFundingPlan());
      break;
    case schema::Event::FUNDS_PLEDGED:
      amounts.push_back({"amount_fen", e.getFundsPledged().getAmountFen()});
      break;
    case schema::Event::FUNDS_RECEIVED:
      amounts.push_back({"amount_fen", e.getFundsReceived().getAmountFen()});
      break;
    case schema::Event::FUNDS_ALLOCATED:
      amounts.push_back({"amount_fen", e.getFundsAllocated().getAmountFen()});
      break;
    case schema::Event::FUNDS_DISBURSED:
      amounts.push_back({"amount_fen", e.getFundsDisbursed().getAmountFen()});
      break;
    case schema::Event::FUNDS_REFUNDED:
      amounts.push_back({"amount_fen", e.getFundsRefunded().getAmountFen()});
      break;
    default:
      break;
  }
  // The movement's amount, or the budget's total as the ledger counts it; a funding plan adds up
  // to its budget in the ledger, and the larger of the two counts here, so that the plans the
  // bundle adds up are bounded too.
  uint64_t budget_total = 0, amounts_total = 0;
  for (const auto& [field, fen] : parts) {
    if (fen > kAmountFenMax) return std::string(field) + " is over 10^14 fen";
    budget_total += fen;
  }
  for (const auto& [field, fen] : amounts) {
    if (fen < 1 || fen > kAmountFenMax) return std::string(field) + " is not 1..10^14 fen";
    if (amounts_total > kLedgerVolumeFenMax) break;  // over in any case, and no overflow
    amounts_total += fen;
  }
  const uint64_t added = std::max(budget_total, amounts_total);
  if (added > kLedgerVolumeFenMax - *volume) {
    return "the events' amounts pass the ledger's bound of 10^18 fen in all";
  }
  *volume += added;
  return {};
}

Status VerifyBundleFiles(const std::map<std::string, std::string>& files,
                         const NoteVerifier& log_key, ExportSummary* out) {
  return Verifier(files, log_key).Run(out);
}

Status VerifyBundleDir(const std::string& dir, const NoteVerifier& log_key, ExportSummary* out) {
  std::map<std::string, std::pair<fs::path, uintmax_t>> paths;  // by name: where, how large
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  if (ec) return Status::InvalidArgument("export_malformed", dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!IsBundleFile(name)) return Malformed(name, 1, "not a file of a bundle");
    if (!it->is_regular_file(ec)) return Malformed(name, 1, "not a regular file");
    uintmax_t size = it->file_size(ec);
    if (ec || size > SizeMax(name)) return Malformed(name, 1, "the file is too large");
    paths[name] = {it->path(), size};
  }
  if (ec) return Status::InvalidArgument("export_malformed", dir + ": " + ec.message());
  for (const char* name : kBundleFiles) {
    if (!paths.count(name)) return Malformed(name, 1, "the file is missing");
  }
  std::map<std::string, std::string> files;
  auto read = [&](const std::string& name) {
    const auto& [path, size] = paths.at(name);
    std::ifstream stream(path, std::ios::binary);
    std::string content(size, '\0');
    stream.read(content.data(), std::streamsize(size));
    if (!stream) return Malformed(name, 1, "cannot be read");
    files[name] = std::move(content);
    return Status::Ok();
  };
  // The signed notes first: a bundle not signed by the log key fails before its large files are
  // read (events.jsonl may be 2 GiB). Then the records; the files rendered from them are read
  // last, each no further than what the records add up to (and a byte).
  for (const char* name : {"checkpoint.txt", "residents.txt"}) FL_RETURN_IF_ERROR(read(name));
  FL_RETURN_IF_ERROR(Verifier(files, log_key).Notes());
  FL_RETURN_IF_ERROR(read("events.jsonl"));
  const FileLoader load = [&](const std::string& name, size_t bytes_max, std::string* content) {
    const auto& [path, size] = paths.at(name);
    const size_t bytes = size_t(std::min<uintmax_t>(size, bytes_max));
    std::ifstream stream(path, std::ios::binary);
    content->assign(bytes, '\0');
    stream.read(content->data(), std::streamsize(bytes));
    if (!stream) return Malformed(name, 1, "cannot be read");
    return Status::Ok();
  };
  return Verifier(files, log_key, &load).Run(out);
}

}  // namespace fundledger
