#include "api/http_handler.h"

#include <kj/exception.h>

#include <cctype>
#include <charconv>
#include <map>

#include "api/reads.h"
#include "api/submit.h"
#include "crypto/checkpoint.h"
#include "crypto/encoding.h"
#include "ledger/rules.h"

namespace fundledger {

using nlohmann::json;

namespace {

using Query = std::map<std::string, std::string, std::less<>>;

ApiResponse JsonResponse(const json& body, unsigned status = 200) {
  ApiResponse out;
  out.status = status;
  out.body = body.dump();
  return out;
}

ApiResponse TextResponse(std::string body, std::string content_type) {
  ApiResponse out;
  out.content_type = std::move(content_type);
  out.body = std::move(body);
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of a query component ('+' is a space).
Status Unescape(std::string_view text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out->push_back(' ');
    } else if (text[i] != '%') {
      out->push_back(text[i]);
    } else if (i + 2 < text.size() + 0 && HexValue(text[i + 1]) >= 0 &&
               HexValue(text[i + 2]) >= 0) {
      out->push_back(char(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else {
      return Status::InvalidArgument("bad_query", "a '%' is followed by two hex digits");
    }
  }
  return Status::Ok();
}

// Calls `fn(name, value)` for each non-empty `name=value` part of `a=1&b=2`, undecoded, until it
// returns a non-ok Status, which is returned.
template <typename Fn>
Status ForEachQueryPart(std::string_view query, Fn fn) {
  for (size_t pos = 0; pos < query.size();) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    std::string_view part = query.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    FL_RETURN_IF_ERROR(fn(part.substr(0, eq),
                          eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1)));
  }
  return Status::Ok();
}

// Parses `a=1&b=2`; every name must be among `allowed` and appear once.
Status ParseQuery(std::string_view query, std::initializer_list<std::string_view> allowed,
                  Query* out) {
  out->clear();
  return ForEachQueryPart(query, [&](std::string_view raw_name, std::string_view raw_value) {
    std::string name, value;
    FL_RETURN_IF_ERROR(Unescape(raw_name, &name));
    Status s = Unescape(raw_value, &value);
    if (!s.ok()) return Status::InvalidArgument(s.code(), s.message(), name);
    if (name.empty()) {
      return Status::InvalidArgument("unknown_parameter", "a query parameter has no name");
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Status::InvalidArgument("unknown_parameter", "this endpoint takes no " + name, name);
    }
    if (!out->emplace(name, value).second) {
      return Status::InvalidArgument("repeated_parameter", name + " is given twice", name);
    }
    return Status::Ok();
  });
}

// A decimal parameter; `*out` is left alone when absent.
Status QueryU64(const Query& query, std::string_view name, uint64_t* out) {
  auto it = query.find(name);
  if (it == query.end()) return Status::Ok();
  const std::string& text = it->second;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::InvalidArgument("bad_number", std::string(name) + " is a decimal number", name);
  }
  return Status::Ok();
}

std::string QueryText(const Query& query, std::string_view name) {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

// The signing org of a request that is not public.
Status Authenticate(const ApiContext& context, const ApiRequest& request, std::string_view path,
                    std::string_view query, const OrgAccess** org,
                    std::shared_ptr<const OrgDirectory>* directory) {
  *directory = context.sequencer->directory();
  return AuthenticateRequest(**directory, request.method, path, query, request.signature,
                             context.now_ms(), org);
}

}  // namespace

std::string QueryPart(std::string_view name, std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out = std::string(name) + "=";
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out.push_back(char(c));
    } else {
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

unsigned HttpStatusOf(const Status& status) {
  const std::string& code = status.code();
  if (code.rfind("auth_", 0) == 0) return 401;
  if (code == "org_revoked" || code.rfind("forbidden_", 0) == 0) return 403;
  if (code == "too_many_events" || code == "too_many_values" || code == "body_too_large" ||
      code == "header_too_large") {
    return 413;
  }
  if (code == "method_not_allowed") return 405;
  if (code == "queue_full" || code == "stopping" || code == "bodies_full" ||
      code == "public_busy" || code == "views_busy" || code == "answer_timeout") {
    return 503;
  }
  switch (status.kind()) {
    case Status::Kind::kOk:
      return 200;
    case Status::Kind::kNotFound:
      return 404;
    case Status::Kind::kInvalidArgument:
      return 400;
    case Status::Kind::kRejected:
      return 422;
    case Status::Kind::kConflict:
      return 409;
    case Status::Kind::kCorruption:
    case Status::Kind::kIOError:
      return 500;
  }
  return 500;
}

ApiResponse ErrorResponse(const Status& status) {
  ApiResponse out = JsonResponse(ErrorJson(status), HttpStatusOf(status));
  if (out.status == 503) out.retry_after_s = 1;
  return out;
}

namespace {

ApiResponse GetEvents(const ApiContext& context, const Query& query) {
  uint64_t from = 1, limit = 100;
  Status s = QueryU64(query, "from", &from);
  if (s.ok()) s = QueryU64(query, "limit", &limit);
  if (s.ok() && (limit == 0 || limit > kLogRecordsMax)) {
    s = Status::InvalidArgument("bad_limit", "limit is 1 to " + std::to_string(kLogRecordsMax),
                                "limit");
  }
  if (!s.ok()) return ErrorResponse(s);
  json records = json::array();
  Status failure;
  s = context.journal->ScanRecords(from, [&](uint64_t seq, std::string_view bytes) {
    json record;
    failure = RecordJson(seq, bytes, &record);
    if (!failure.ok()) return false;
    records.push_back(std::move(record));
    return records.size() < limit;
  });
  if (s.ok()) s = failure;
  return s.ok() ? JsonResponse(records) : ErrorResponse(s);
}

// Every read of the journal holds the read gate shared (the writer keeps it while a batch is
// half applied or not yet durable) and is refused once the journal has failed: its state may
// then hold a batch that never became durable. A view as of an earlier point holds it only
// while it fixes that point (GetView).
class JournalRead {
 public:
  explicit JournalRead(const ApiContext& context)
      : hold_(*context.gate), failure_(context.journal->failure()) {}
  const Status& failure() const { return failure_; }

 private:
  ReadGate::Shared hold_;
  Status failure_;
};

ApiResponse GetView(const ApiContext& context, std::string_view view, const Query& query,
                    const OrgAccess& org) {
  uint64_t as_of_seq = 0;
  Status s = QueryU64(query, "as_of_seq", &as_of_seq);
  std::optional<std::string> region;
  if (auto it = query.find("region"); it != query.end()) region = it->second;
  ViewQuery view_query;
  if (s.ok()) {
    s = MakeViewQuery(view, QueryText(query, "project"), QueryText(query, "pool"), region,
                      as_of_seq, QueryText(query, "as_of_date"), &view_query);
  }
  std::string format = query.count("format") ? QueryText(query, "format") : "json";
  if (s.ok() && format != "json" && format != "csv" && format != "table") {
    s = Status::InvalidArgument("bad_format", "format is json, csv or table", "format");
  }
  // The disbursements list comes in pages of at most view_lines_max lines.
  uint64_t limit = context.view_lines_max;
  for (const char* name : {"from", "limit"}) {
    if (s.ok() && query.count(name) && view != "disbursements") {
      s = Status::InvalidArgument("bad_page", "from and limit page the disbursements list only",
                                  name);
    }
  }
  if (s.ok()) s = QueryU64(query, "from", &view_query.lines.from);
  if (s.ok()) s = QueryU64(query, "limit", &limit);
  if (s.ok() && (limit == 0 || limit > context.view_lines_max)) {
    s = Status::InvalidArgument("bad_limit",
                                "limit is 1 to " + std::to_string(context.view_lines_max), "limit");
  }
  view_query.lines.limit = limit;
  if (!s.ok()) return ErrorResponse(s);
  std::optional<JournalRead> read(std::in_place, context);
  if (!read->failure().ok()) return ErrorResponse(read->failure());
  // Refused before anything is read or folded. A scope whose region is not known names nothing,
  // and OpenView says so.
  if (std::string region; ScopeRegion(*context.journal, view_query.scope, &region)) {
    s = AuthorizeRegion(org, region);
    if (!s.ok()) return ErrorResponse(s);
  }
  std::shared_ptr<const ViewPoint> point;
  RenderedView rendered;
  // A point that is the head (an as_of_seq equal to it: the later pages of a list asked for at
  // the head) reads the stored rows too; only a point the head has moved past is folded.
  if (!view_query.as_of.day &&
      (view_query.as_of.seq == 0 || view_query.as_of.seq == context.journal->head().size)) {
    view_query.as_of.seq = 0;
    // At the head: the stored rows, read under the gate.
    std::unique_ptr<ViewPoint> at_head;
    s = OpenView(*context.journal, view_query, &at_head);
    point = std::move(at_head);
    if (s.ok()) s = RenderView(*point, view_query, format, &rendered);
  } else {
    // As of an earlier point: a fold of durable records, with the gate released (only the
    // journal's in-memory state is read under it), so that a fold of a large scope does not
    // hold the writer back. The point is fixed while the gate shows only durable records.
    ViewQuery at = view_query;
    const uint64_t head = context.journal->head().size;
    if (at.as_of.seq > head) {
      return ErrorResponse(Status::InvalidArgument(
          "as_of_seq_beyond_head", "the ledger holds " + std::to_string(head) + " records",
          "as_of_seq"));
    }
    if (at.as_of.seq == 0) at.as_of.seq = head;
    read.reset();
    // The later pages of a list name the same point: the fold of a page that has a next one is
    // kept for it (a fold read once, as most are, is not: it would only take memory).
    const ViewPoints::Key key{at.scope, at.as_of.seq, at.as_of.day};
    // A kept list's later pages read its totals and line counts from the first page's index.
    std::shared_ptr<const DisbursementsIndex> index;
    if (context.view_points != nullptr) point = context.view_points->Find(key, &index);
    std::shared_ptr<ViewPoint> folded;  // made for this request, not kept yet
    std::shared_ptr<DisbursementsIndex> made;
    if (point == nullptr) {
      std::unique_ptr<ViewPoint> opened;
      s = OpenView(*context.journal, at, &opened, context.gate);
      folded = std::move(opened);
      point = folded;
      made = std::make_shared<DisbursementsIndex>();
      if (s.ok() && context.view_points != nullptr) context.view_points->CountFold();
    }
    if (s.ok()) s = RenderView(*point, at, format, &rendered, index.get(), made.get());
    if (s.ok() && folded != nullptr && rendered.next_from && context.view_points != nullptr) {
      // Read by no other thread until now.
      context.view_points->Keep(key, folded, made->made ? std::move(made) : nullptr);
    }
  }
  if (!s.ok()) return ErrorResponse(s);
  // The next page is of the same point: as_of_seq pinned to this answer's.
  std::string next;
  if (rendered.next_from) {
    Query next_query = query;
    next_query["as_of_seq"] = std::to_string(point->as_of_seq());
    next_query["from"] = std::to_string(*rendered.next_from);
    next = "/v1/views/" + std::string(view);
    char separator = '?';
    for (const auto& [name, value] : next_query) {
      next += separator + QueryPart(name, value);
      separator = '&';
    }
    if (format == "json") rendered.json["page"]["next"] = next;
  }
  ApiResponse out;
  if (format == "csv") {
    out = TextResponse(std::move(rendered.csv), "text/csv; charset=utf-8");
  } else if (format == "table") {
    out = TextResponse(std::move(rendered.table), "text/plain; charset=utf-8");
  } else {
    out = JsonResponse(rendered.json);
  }
  out.link_next = std::move(next);
  return out;
}

ApiResponse GetProof(const ApiContext& context, std::string_view kind, const Query& query) {
  json out;
  Status s;
  if (kind == "inclusion") {
    uint64_t seq = 0, size = 0;
    s = QueryU64(query, "seq", &seq);
    if (s.ok()) s = QueryU64(query, "size", &size);
    std::string id = QueryText(query, "id");
    if (s.ok() && (seq == 0) == id.empty()) {
      s = Status::InvalidArgument("bad_proof_request", "give seq or id", "seq");
    }
    if (s.ok()) s = InclusionProofJson(*context.journal, seq, id, size, &out);
  } else {
    uint64_t from = 0, to = 0;
    s = QueryU64(query, "from", &from);
    if (s.ok()) s = QueryU64(query, "to", &to);
    if (s.ok()) s = ConsistencyProofJson(*context.journal, from, to, &out);
  }
  return s.ok() ? JsonResponse(out) : ErrorResponse(s);
}

// GET /v1/public/proofs/consistency?from=M[&to=N], for anyone who keeps the public checkpoints
// (a witness, a citizen): between sizes up to the newest durable checkpoint, the trees the public
// has been shown (to defaults to its size). Hashes only, no record.
constexpr std::string_view kPublicConsistencyPath = "/v1/public/proofs/consistency";

ApiResponse PublicConsistencyProof(const ApiContext& context, std::string_view raw_query) {
  std::string note;
  Status s = context.journal->LatestDurableCheckpoint(&note);
  Checkpoint durable;
  if (s.ok()) s = OpenCheckpoint(note, context.journal->log_verifier(), &durable);
  Query query;
  if (s.ok()) s = ParseQuery(raw_query, {"from", "to"}, &query);
  uint64_t from = 0, to = 0;
  if (s.ok()) s = QueryU64(query, "from", &from);
  if (s.ok()) s = QueryU64(query, "to", &to);
  if (s.ok() && to == 0) to = durable.size;
  if (s.ok() && to > durable.size) {
    s = Status::InvalidArgument(
        "bad_proof_request",
        "to is at most the public checkpoint's size, " + std::to_string(durable.size), "to");
  }
  // Named here with the public checkpoint's size: the journal's own check would name the head's.
  if (s.ok() && (from < 1 || from > to)) {
    s = Status::InvalidArgument("bad_proof_request",
                                "need 1 <= from <= to <= " + std::to_string(durable.size) +
                                    " (the public checkpoint's size)",
                                "from");
  }
  json out;
  if (s.ok()) {
    JournalRead read(context);
    s = read.failure();
    if (s.ok()) s = ConsistencyProofJson(*context.journal, from, to, &out);
  }
  return s.ok() ? JsonResponse(out) : ErrorResponse(s);
}

// The signed reads: authentication, then the route.
ApiResponse SignedRead(const ApiContext& context, const ApiRequest& request, std::string_view path,
                       std::string_view raw_query) {
  const OrgAccess* org = nullptr;
  std::shared_ptr<const OrgDirectory> directory;  // keeps *org alive
  Status s = Authenticate(context, request, path, raw_query, &org, &directory);
  if (!s.ok()) return ErrorResponse(s);
  Query query;
  constexpr std::string_view kViews = "/v1/views/";
  if (path.substr(0, kViews.size()) == kViews) {  // holds the gate itself (GetView)
    s = ParseQuery(
        raw_query,
        {"project", "pool", "region", "as_of_seq", "as_of_date", "format", "from", "limit"},
        &query);
    return s.ok() ? GetView(context, path.substr(kViews.size()), query, *org) : ErrorResponse(s);
  }
  JournalRead read(context);
  if (!read.failure().ok()) return ErrorResponse(read.failure());
  if (path == "/v1/events") {
    s = AuthorizeEverything(*org);
    if (s.ok()) s = ParseQuery(raw_query, {"from", "limit"}, &query);
    return s.ok() ? GetEvents(context, query) : ErrorResponse(s);
  }
  std::string_view kind = path.substr(std::string_view("/v1/proofs/").size());
  if (kind == "inclusion") {
    s = ParseQuery(raw_query, {"seq", "id", "size"}, &query);
  } else {
    s = ParseQuery(raw_query, {"from", "to"}, &query);
  }
  return s.ok() ? GetProof(context, kind, query) : ErrorResponse(s);
}

// The page at / when the server has no dashboard files (see LoadWebAssets).
ApiResponse PlainPage(const ApiContext& context) {
  Journal::Head head = context.journal->head();
  std::string html =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>fundledger</title></head><body>\n<h1>fundledger</h1>\n<p>Ledger " +
      context.journal->origin() + ": " + std::to_string(head.size) + " records, root " +
      Base64Encode(head.root) +
      ".</p>\n<p><a href=\"/v1/public/checkpoint\">Latest signed checkpoint</a> (verify it with "
      "the log's public key: " +
      FormatVerifierKey(context.journal->log_verifier().name, context.journal->log_verifier().key) +
      ").</p>\n<p>The dashboard's files were not found when the server started (serve "
      "--web-dir).</p>\n</body></html>\n";
  return TextResponse(std::move(html), "text/html; charset=utf-8");
}

ApiResponse BodyResponse(const Status& s, std::shared_ptr<const std::string> body,
                         std::string content_type) {
  if (!s.ok()) return ErrorResponse(s);
  ApiResponse out;
  out.content_type = std::move(content_type);
  out.shared_body = std::move(body);
  return out;
}

// ?project=P or ?region=R (R may be empty: the whole ledger), exactly one.
// With `size` (exports only), also an optional size=N: the checkpoint the file is of.
Status PublicScope(std::string_view raw_query, Scope* out,
                   std::optional<uint64_t>* size = nullptr) {
  Query query;
  if (size != nullptr) {
    FL_RETURN_IF_ERROR(ParseQuery(raw_query, {"project", "region", "size"}, &query));
    if (query.count("size")) {
      uint64_t n = 0;
      FL_RETURN_IF_ERROR(QueryU64(query, "size", &n));
      *size = n;
    }
  } else {
    FL_RETURN_IF_ERROR(ParseQuery(raw_query, {"project", "region"}, &query));
  }
  auto project = query.find("project");
  auto region = query.find("region");
  if ((project == query.end()) == (region == query.end())) {
    return Status::InvalidArgument("bad_scope", "give exactly one of project, region", "project");
  }
  if (project != query.end()) {
    FL_RETURN_IF_ERROR(CheckIdChars(project->second, "project"));
    *out = {ScopeKind::kProject, project->second};
  } else {
    if (!IsValidRegion(region->second)) {
      return Status::InvalidArgument("bad_region", "lowercase ascii slugs joined by '/'", "region");
    }
    *out = {ScopeKind::kRegion, region->second};
  }
  return Status::Ok();
}

const char* ExportContentType(std::string_view name) {
  if (name.ends_with(".csv")) return "text/csv; charset=utf-8";
  if (name.ends_with(".jsonl")) return "application/x-ndjson; charset=utf-8";
  if (name.ends_with(".json")) return "application/json; charset=utf-8";
  return "text/plain; charset=utf-8";
}

constexpr std::string_view kExportPath = "/v1/public/export/";

// The transparency reads beyond the checkpoint (api/public_reads.h): answered once their build is
// done, on the builder thread, not here.
void PublicExportRead(const ApiContext& context, std::string_view path, std::string_view raw_query,
                      std::function<void(ApiResponse)> answer) {
  if (context.public_reads == nullptr) {
    return answer(ErrorResponse(Status::NotFound("no_route", "no public exports on this server")));
  }
  auto respond = [&answer](std::string content_type, std::string disposition = "") {
    return [answer, content_type = std::move(content_type), disposition = std::move(disposition)](
               const Status& s, PublicReads::Answer body) {
      ApiResponse out = BodyResponse(s, body, content_type);
      if (s.ok()) out.content_disposition = disposition;
      answer(std::move(out));
    };
  };
  if (path == "/v1/public/projects") {
    Query query;
    Status s = ParseQuery(raw_query, {}, &query);
    if (!s.ok()) return answer(ErrorResponse(s));
    return context.public_reads->Projects(respond("application/json"));
  }
  Scope scope;
  if (path == "/v1/public/summary") {
    Status s = PublicScope(raw_query, &scope);
    if (!s.ok()) return answer(ErrorResponse(s));
    return context.public_reads->Summary(scope, respond("application/json"));
  }
  std::optional<uint64_t> size;
  Status s = PublicScope(raw_query, &scope, &size);
  if (!s.ok()) return answer(ErrorResponse(s));
  std::string_view name = path.substr(kExportPath.size());
  context.public_reads->ExportFile(
      scope, name,
      respond(ExportContentType(name),
              name == "project.json" ? "" : "attachment; filename=\"" + std::string(name) + "\""),
      size);
}

bool IsPublicExportPath(std::string_view path) {
  return path == "/v1/public/projects" || path == "/v1/public/summary" ||
         path.starts_with(kExportPath);
}

// Everyone's reads: no signature.
std::optional<ApiResponse> PublicRead(const ApiContext& context, std::string_view path) {
  if (path == "/healthz") {
    bool draining = context.draining != nullptr && context.draining->load();
    if (draining)
      return ErrorResponse(Status::InvalidArgument("stopping", "the server is stopping"));
    Status failure = context.journal->failure();
    if (!failure.ok()) return ErrorResponse(failure);
    return JsonResponse({{"status", "ok"}});
  }
  if (path == "/metrics") {
    MemoryGauges memory;
    ProcessMemory(&memory);
    const Journal::Memory rocks = context.journal->MemoryUsage();
    memory.memtables = rocks.memtables_bytes;
    memory.block_cache = rocks.block_cache_bytes;
    memory.table_readers = rocks.table_readers_bytes;
    if (context.public_reads != nullptr) {
      memory.public_cache = context.public_reads->cache_bytes();
      memory.public_builds = context.public_reads->builds();
      memory.public_builds_waiting = context.public_reads->builds_waiting();
    }
    if (context.view_points != nullptr) {
      memory.view_points = context.view_points->bytes();
      memory.view_folds = context.view_points->folds();
      memory.view_fold_reuses = context.view_points->reuses();
    }
    return TextResponse(context.metrics->Render() + RenderMemory(memory),
                        "text/plain; version=0.0.4; charset=utf-8");
  }
  if (context.web != nullptr) {
    auto file = context.web->files.find(path);
    if (file != context.web->files.end()) {
      return BodyResponse(Status::Ok(), file->second.body, file->second.content_type);
    }
  }
  if (path != "/" && path != "/v1/public/checkpoint") return std::nullopt;
  if (path == "/v1/public/checkpoint") {
    // The newest durable one, without the read gate (Journal::LatestDurableCheckpoint).
    std::string note;
    Status s = context.journal->LatestDurableCheckpoint(&note);
    if (!s.ok()) return ErrorResponse(s);
    return TextResponse(std::move(note), "text/plain; charset=utf-8");
  }
  JournalRead read(context);
  if (!read.failure().ok()) return ErrorResponse(read.failure());
  return PlainPage(context);
}

bool IsWebPath(const ApiContext& context, std::string_view path) {
  return path == "/" || (context.web != nullptr && context.web->files.count(path) > 0);
}

// A view as of an earlier point, which folds the scope's records (GetView).
bool IsAsOfView(std::string_view path, std::string_view raw_query) {
  if (path.substr(0, 10) != "/v1/views/") return false;
  bool as_of = false;
  (void)ForEachQueryPart(raw_query, [&](std::string_view raw_name, std::string_view) {
    std::string name;
    as_of |= Unescape(raw_name, &name).ok() && (name == "as_of_seq" || name == "as_of_date");
    return Status::Ok();
  });
  return as_of;
}

bool IsSignedRead(std::string_view path) {
  return path == "/v1/events" || path == "/v1/checkpoint" || path.substr(0, 10) == "/v1/views/" ||
         path == "/v1/proofs/inclusion" || path == "/v1/proofs/consistency";
}

// POST /v1/events: decoded and verified here, appended by the sequencer.
void PostEvents(const ApiContext& context, const ApiRequest& request,
                std::function<void(ApiResponse)> reply);

// The answer when the sequencer refuses a request: it is stopping, or its queue is full.
ApiResponse SequencerRefusal(const ApiContext& context) {
  bool stopping = context.draining != nullptr && context.draining->load();
  return ErrorResponse(
      stopping ? Status::InvalidArgument("stopping", "the server is stopping")
               : Status::InvalidArgument("queue_full", "the write queue is full; retry shortly"));
}

// GET /v1/checkpoint: signed by the sequencer with its next batch, answered once durable. No
// request thread waits for that sync, and the writer is not held back for one of its own.
void GetCheckpoint(const ApiContext& context, const ApiRequest& request, std::string_view path,
                   std::string_view raw_query, std::function<void(ApiResponse)> reply) {
  const OrgAccess* org = nullptr;
  std::shared_ptr<const OrgDirectory> directory;  // keeps *org alive
  Status s = Authenticate(context, request, path, raw_query, &org, &directory);
  Query query;
  if (s.ok()) s = ParseQuery(raw_query, {}, &query);  // it takes none
  if (s.ok()) s = context.journal->failure();
  if (!s.ok()) return reply(ErrorResponse(s));
  // At a head already checkpointed and synced (a quiet ledger), the stored note: the writer is
  // not stopped for it.
  if (std::string note; context.journal->CheckpointAtHeadIfDurable(&note)) {
    json out;
    s = CheckpointNoteJson(*context.journal, note, &out);
    return reply(s.ok() ? JsonResponse(out) : ErrorResponse(s));
  }
  auto done = [journal = context.journal, reply, defer = context.defer](Status status,
                                                                        std::string note) {
    defer([journal, reply, status, note = std::move(note)] {
      json out;
      Status s = status.ok() ? CheckpointNoteJson(*journal, note, &out) : status;
      reply(s.ok() ? JsonResponse(out) : ErrorResponse(s));
    });
  };
  if (!context.sequencer->RequestCheckpoint(std::move(done))) reply(SequencerRefusal(context));
}

}  // namespace

Route RouteOf(std::string_view method, std::string_view path) {
  if (path == "/v1/events") return method == "POST" ? Route::kPostEvents : Route::kGetEvents;
  if (path.substr(0, 10) == "/v1/views/") return Route::kViews;
  if (path == "/v1/checkpoint") return Route::kCheckpoint;
  if (path.substr(0, 11) == "/v1/proofs/") return Route::kProofs;
  if (path.substr(0, 11) == "/v1/public/" || path == "/" || path == "/dashboard.js" ||
      path == "/dashboard.css" || path.substr(0, 8) == "/vendor/") {
    return Route::kPublic;
  }
  return Route::kOther;
}

void HandleRequest(const ApiContext& context, const ApiRequest& request,
                   std::function<void(ApiResponse)> reply) {
  std::string_view target = request.target;
  size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  Route route = RouteOf(request.method, path);
  auto answer = [&](ApiResponse response) {
    response.route = route;
    reply(std::move(response));
  };
  if (path == "/v1/events" && request.method == "POST") {
    PostEvents(context, request, [reply, route](ApiResponse response) {
      response.route = route;
      reply(std::move(response));
    });
    return;
  }
  bool known = IsSignedRead(path) || path == "/healthz" || path == "/metrics" ||
               IsWebPath(context, path) || path == "/v1/public/checkpoint" ||
               path == kPublicConsistencyPath || IsPublicExportPath(path);
  if (!known) {
    return answer(ErrorResponse(Status::NotFound("no_route", "no endpoint " + std::string(path))));
  }
  // HEAD is GET without the body, which the connection leaves out (RFC 9110 section 9.3.2).
  if (request.method != "GET" && request.method != "HEAD") {
    ApiResponse refused = ErrorResponse(
        Status::InvalidArgument("method_not_allowed", "use GET or HEAD (POST only on /v1/events)"));
    refused.allow = path == "/v1/events" ? "GET, HEAD, POST" : "GET, HEAD";
    return answer(std::move(refused));
  }
  if (IsPublicExportPath(path)) {
    // Answered later, from the public reads' builder thread (they hold the read gate themselves).
    return PublicExportRead(context, path, query, [reply, route](ApiResponse response) {
      response.route = route;
      reply(std::move(response));
    });
  }
  if (path == "/v1/checkpoint") {
    return GetCheckpoint(context, request, path, query, [reply, route](ApiResponse response) {
      response.route = route;
      reply(std::move(response));
    });
  }
  if (path == kPublicConsistencyPath) return answer(PublicConsistencyProof(context, query));
  if (auto response = PublicRead(context, path)) return answer(std::move(*response));
  if (context.fold && IsAsOfView(path, query)) {
    // A fold of the scope's records: on a fold thread, so that the request threads go on
    // accepting, reading and answering meanwhile. Only a signed request takes a place among the
    // folds (the fold thread authenticates it again, as every signed read is).
    {
      const OrgAccess* org = nullptr;
      std::shared_ptr<const OrgDirectory> directory;
      Status s = Authenticate(context, request, path, query, &org, &directory);
      if (!s.ok()) return answer(ErrorResponse(s));
    }
    auto work = [&context, request, path = std::string(path), query = std::string(query), reply,
                 route] {
      ApiResponse response;
      try {
        response = SignedRead(context, request, path, query);
      } catch (const std::exception& e) {
        response = ErrorResponse(Status::IOError("internal", e.what()));
      } catch (const kj::Exception& e) {
        response = ErrorResponse(Status::IOError("internal", e.getDescription().cStr()));
      }
      response.route = route;
      reply(std::move(response));
    };
    if (!context.fold(std::move(work), request.abandoned)) {
      answer(ErrorResponse(Status::InvalidArgument(
          "views_busy", "too many views as of an earlier point are being folded")));
    }
    return;
  }
  answer(SignedRead(context, request, path, query));
}

namespace {

// Verifies each event's signature with its signer's current key, where the directory knows it.
std::vector<std::optional<PublicKey>> VerifySignatures(const OrgDirectory& directory,
                                                       const std::vector<SignedEvent>& events) {
  std::vector<std::optional<PublicKey>> keys(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    std::optional<PublicKey> key = directory.SignerKeyOf(events[i]);
    if (key && VerifyEventSignature(*key, events[i].canonical_event(), events[i].signature())) {
      keys[i] = key;
    }
  }
  return keys;
}

// The answer to a POST: a single envelope gets its own result and status; a list gets 200.
ApiResponse SubmissionResponse(const Submission& submission, bool single,
                               const std::vector<AppendResult>& appended) {
  if (!single) {
    ApiResponse out;
    out.body = RenderSubmissionText(submission, appended);
    return out;
  }
  bool accepted_all = false;
  json results = RenderSubmission(submission, appended, &accepted_all);
  if (accepted_all) return JsonResponse(results[0]);
  Status error = submission.errors[0];
  if (error.ok() && !appended.empty()) error = appended[0].status;
  return JsonResponse(results[0]["error"], HttpStatusOf(error));
}

Status DecodeBody(const ApiRequest& request, size_t events_max, Submission* submission,
                  bool* single) {
  std::string_view type = std::string_view(request.content_type);
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
  if (type == "application/x-capnp") {
    FL_RETURN_IF_ERROR(DecodeCapnpSubmission(request.body, submission, events_max));
    *single = submission->errors.size() == 1;
  } else if (type == "application/json" || type.empty()) {
    FL_RETURN_IF_ERROR(DecodeJsonSubmission(request.body, submission, events_max));
    size_t first = request.body.find_first_not_of(" \t\r\n");
    *single =
        submission->errors.size() == 1 && first != std::string::npos && request.body[first] == '{';
  } else {
    return Status::InvalidArgument("content_type_unsupported",
                                   "send application/json or application/x-capnp", "Content-Type");
  }
  if (submission->errors.size() > events_max) {
    return Status::InvalidArgument("too_many_events",
                                   "at most " + std::to_string(events_max) + " events per request");
  }
  return Status::Ok();
}

void PostEvents(const ApiContext& context, const ApiRequest& request,
                std::function<void(ApiResponse)> reply) {
  Status failure = context.journal->failure();
  if (!failure.ok()) return reply(ErrorResponse(failure));
  auto submission = std::make_shared<Submission>();
  bool single = false;
  Status s = DecodeBody(request, context.request_events_max, submission.get(), &single);
  if (!s.ok()) return reply(ErrorResponse(s));
  if (submission->events.empty()) return reply(SubmissionResponse(*submission, single, {}));
  std::vector<std::optional<PublicKey>> keys =
      VerifySignatures(*context.sequencer->directory(), submission->events);
  auto done = [submission, single, reply, defer = context.defer](
                  Status status, std::vector<AppendResult> results) {
    // Rendering runs on a request thread, leaving the sequencer to the next batch.
    defer([submission, single, reply, status, results = std::move(results)] {
      if (!status.ok()) return reply(ErrorResponse(status));
      reply(SubmissionResponse(*submission, single, results));
    });
  };
  // The sequencer reads the events from the submission, which the callback keeps alive.
  std::shared_ptr<const std::vector<SignedEvent>> events(submission, &submission->events);
  if (!context.sequencer->Submit(std::move(events), std::move(keys), std::move(done))) {
    reply(SequencerRefusal(context));
  }
}

}  // namespace

}  // namespace fundledger
