#include "api/public_reads.h"

#include <kj/exception.h>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>

#include "api/export.h"
#include "api/http_handler.h"
#include "crypto/encoding.h"
#include "ledger/rules.h"
#include "replay/reports.h"
#include "replay/view_rows.h"

namespace fundledger {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kWebFileBytesMax = 8 << 20;

Status ReadWebFile(const fs::path& path, std::string* out, bool* found) {
  std::error_code ec;
  *found = fs::is_regular_file(path, ec);
  if (!*found) return Status::Ok();
  uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kWebFileBytesMax) {
    return Status::IOError("web_file", path.string() + ": unreadable or over 8 MiB");
  }
  std::ifstream stream(path, std::ios::binary);
  out->assign(size, '\0');
  stream.read(out->data(), std::streamsize(size));
  if (!stream) return Status::IOError("web_file", path.string() + ": cannot be read");
  return Status::Ok();
}

std::string ScopeKey(const Scope& scope) {
  return std::string(ScopeKindName(scope.kind)) + ":" + scope.id;
}

std::string ScopeQuery(const Scope& scope) {
  return QueryPart(ScopeKindName(scope.kind), scope.id);
}

json Bp(const std::optional<int64_t>& v) { return v ? json(*v) : json(); }

json CategoryFen(const std::array<int64_t, kCategories>& fen) {
  json out = json::object();
  for (size_t c = 0; c < kCategories; ++c) out[CategoryName(schema::Category(c))] = fen[c];
  return out;
}

std::array<int64_t, kCategories> MoneyInOf(const Balance& balance) {
  std::array<int64_t, kCategories> in{};
  for (size_t c = 0; c < kCategories; ++c) in[c] = balance.by_category[c].money_in_fen();
  return in;
}

json Totals(const std::vector<DisbursementTotal>& totals, size_t max) {
  json out = json::array();
  int64_t rest_fen = 0, rest_count = 0;
  for (size_t i = 0; i < totals.size(); ++i) {
    const DisbursementTotal& t = totals[i];
    if (i >= max) {
      rest_fen += t.amount_fen;
      rest_count += t.count;
      continue;
    }
    out.push_back({{"key", t.key},
                   {"name", t.name.empty() ? t.key : t.name},
                   {"amount_fen", t.amount_fen},
                   {"count", t.count},
                   {"share_bp", Bp(t.share_bp)}});
  }
  if (rest_count > 0) {
    out.push_back({{"key", ""},
                   {"name", "其他 others"},
                   {"amount_fen", rest_fen},
                   {"count", rest_count},
                   {"share_bp", nullptr}});
  }
  return out;
}

}  // namespace

Status LoadWebAssets(const std::string& web_dir, const std::string& echarts_file, WebAssets* out) {
  out->files.clear();
  const std::pair<const char*, const char*> kFiles[] = {
      {"index.html", "text/html; charset=utf-8"},
      {"dashboard.js", "text/javascript; charset=utf-8"},
      {"dashboard.css", "text/css; charset=utf-8"}};
  for (const auto& [name, type] : kFiles) {
    std::string body;
    bool found = false;
    FL_RETURN_IF_ERROR(ReadWebFile(fs::path(web_dir) / name, &body, &found));
    std::string path = std::string("/") + (std::string_view(name) == "index.html" ? "" : name);
    if (found) out->files[path] = {type, std::make_shared<const std::string>(std::move(body))};
  }
  std::string body;
  bool found = false;
  FL_RETURN_IF_ERROR(ReadWebFile(echarts_file, &body, &found));
  if (found) {
    out->files["/vendor/echarts.min.js"] = {"text/javascript; charset=utf-8",
                                            std::make_shared<const std::string>(std::move(body))};
  }
  return Status::Ok();
}

Status PublicReads::Latest(std::string* note, Checkpoint* checkpoint,
                           std::optional<uint64_t> size) const {
  // The newest durable checkpoint, without the read gate: a request does not wait for the
  // writer's batch and sync, nor make the writer stop for it. Nothing once the journal has
  // failed.
  Status s = journal_.LatestDurableCheckpoint(note);
  if (s.IsNotFound()) {
    return Status::NotFound("no_checkpoint", "the log has not signed a checkpoint yet");
  }
  FL_RETURN_IF_ERROR(s);
  {
    // Opened (its signature checked) once, not at every request.
    std::lock_guard<std::mutex> lock(latest_mu_);
    if (*note != latest_note_) {
      Checkpoint opened;
      FL_RETURN_IF_ERROR(OpenCheckpoint(*note, journal_.log_verifier(), &opened));
      latest_note_ = *note;
      latest_ = opened;
    }
    *checkpoint = latest_;
  }
  if (!size || *size == checkpoint->size) return Status::Ok();
  if (*size > checkpoint->size) {
    return Status::NotFound("checkpoint_unknown",
                            "the latest checkpoint is at size " + std::to_string(checkpoint->size),
                            "size");
  }
  s = journal_.ReadCheckpoint(*size, note);
  if (s.code() == "checkpoint_unknown") {
    return Status::NotFound(s.code(), s.message(), "size");
  }
  FL_RETURN_IF_ERROR(s);
  return OpenCheckpoint(*note, journal_.log_verifier(), checkpoint);
}

size_t PublicReads::cache_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_bytes_;
}

size_t PublicReads::builds_waiting() {
  std::lock_guard<std::mutex> lock(mu_);
  return flights_.size();
}

uint64_t PublicReads::builds() {
  std::lock_guard<std::mutex> lock(mu_);
  return builds_;
}

void PublicReads::RememberLocked(const std::string& key, std::shared_ptr<const std::string> value,
                                 bool cheap, bool earlier) {
  if (value->size() > kPublicCacheBytesMax || cache_.count(key)) return;
  earlier = earlier && !cheap;  // a cheap answer is bounded as one
  if (earlier && value->size() > kPublicEarlierBytesMax) return;
  auto evict = [&](std::vector<std::string>::iterator at) {
    auto entry = cache_.find(*at);
    cache_bytes_ -= entry->second->size();
    if (earlier_.erase(*at) > 0) earlier_bytes_ -= entry->second->size();
    cache_.erase(entry);
    cheap_.erase(*at);
    cache_order_.erase(at);
  };
  // In the place of the oldest answer of its own kind, not of one at the latest checkpoint
  // that cost a build of its scope.
  auto oldest_of = [&](const std::set<std::string>& kind) {
    return std::find_if(cache_order_.begin(), cache_order_.end(),
                        [&](const std::string& k) { return kind.count(k) > 0; });
  };
  if (cheap && cheap_.size() >= kPublicCheapEntriesMax) {
    if (auto at = oldest_of(cheap_); at != cache_order_.end()) evict(at);
  }
  while (earlier && !earlier_.empty() &&
         (earlier_.size() >= kPublicEarlierEntriesMax ||
          earlier_bytes_ + value->size() > kPublicEarlierBytesMax)) {
    auto at = oldest_of(earlier_);
    if (at == cache_order_.end()) break;
    evict(at);
  }
  while (!cache_order_.empty() && (cache_.size() >= kPublicCacheEntriesMax ||
                                   cache_bytes_ + value->size() > kPublicCacheBytesMax)) {
    evict(cache_order_.begin());
  }
  const size_t bytes = value->size();
  cache_.emplace(key, std::move(value));
  cache_bytes_ += bytes;
  cache_order_.push_back(key);
  // After the entry is in place: an allocation that fails leaves no kind without its entry.
  if (cheap) cheap_.insert(key);
  if (earlier) {
    earlier_.insert(key);
    earlier_bytes_ += bytes;
  }
}

PublicReads::PublicReads(const Journal& journal, ReadGate& gate, const NoteSigner* log_signer,
                         std::function<void()> before_build, std::function<void()> after_build,
                         int64_t refresh_ms)
    : journal_(journal),
      gate_(gate),
      log_signer_(log_signer),
      refresh_(std::chrono::milliseconds(refresh_ms)),
      before_build_(std::move(before_build)),
      after_build_(std::move(after_build)) {
  builder_ = std::thread([this] { BuilderLoop(); });
}

PublicReads::~PublicReads() { Stop(); }

void PublicReads::Refuse() {
  std::vector<std::pair<std::string, Done>> refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (const std::string& name : queue_) {
      auto flight = flights_.extract(name);
      waiters_ -= flight.mapped().waiting.size();
      for (auto& waiter : flight.mapped().waiting) refused.push_back(std::move(waiter));
    }
    queue_.clear();
  }
  work_.notify_all();
  Built stopping;
  stopping.status = Status::InvalidArgument("stopping", "the server is stopping");
  Answer_(refused, stopping);
}

void PublicReads::Stop() {
  Refuse();
  if (builder_.joinable()) builder_.join();
}

void PublicReads::Answer_(std::vector<std::pair<std::string, Done>>& waiting, const Built& built) {
  for (auto& [key, done] : waiting) {
    auto it = built.answers.find(key);
    // A Done that throws (out of memory while it posts its answer) must not keep the others
    // from theirs; its own request is then left to its connection's time-outs.
    try {
      if (!built.status.ok()) {
        done(built.status, nullptr);
      } else if (it == built.answers.end()) {
        done(Status::NotFound("no_such_answer", "the build gave no answer " + key), nullptr);
      } else {
        done(Status::Ok(), it->second);
      }
    } catch (...) {
    }
  }
}

PublicReads::Answer PublicReads::EarlierLocked(const std::string& earlier, uint64_t size) const {
  if (earlier.empty()) return nullptr;
  Answer newest;
  uint64_t newest_size = 0;
  for (auto it = cache_.lower_bound(earlier);
       it != cache_.end() && it->first.compare(0, earlier.size(), earlier) == 0; ++it) {
    uint64_t at = 0;
    const std::string_view digits = std::string_view(it->first).substr(earlier.size());
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), at);
    if (ec != std::errc() || end != digits.data() + digits.size() || at >= size) continue;
    if (!newest || at > newest_size) {
      newest = it->second;
      newest_size = at;
    }
  }
  return newest;
}

bool PublicReads::RefreshDueLocked(const std::string& earlier) const {
  auto it = built_at_.find(earlier);
  return it == built_at_.end() || (it->second != kRefreshPending &&
                                   std::chrono::steady_clock::now() - it->second >= refresh_);
}

void PublicReads::StampLocked(const std::string& earlier,
                              std::chrono::steady_clock::time_point at) {
  if (built_at_.size() >= prune_at_) {
    // Times past the interval decide nothing. Pruned when the map has doubled since the last
    // prune, so that the scan costs each stamp a constant share.
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(built_at_, [&](const auto& entry) {
      return entry.second != kRefreshPending && now - entry.second >= refresh_;
    });
    prune_at_ = std::max(2 * kPublicCacheEntriesMax, 2 * built_at_.size());
  }
  built_at_[earlier] = at;
}

bool PublicReads::DropRefreshLocked() {
  for (auto it = queue_.rbegin(); it != queue_.rend(); ++it) {
    auto flight = flights_.find(*it);
    if (flight->second.waiting.empty()) {
      // The next reader may queue it again.
      if (!flight->second.refresh_of.empty()) built_at_.erase(flight->second.refresh_of);
      flights_.erase(flight);
      queue_.erase(std::next(it).base());
      return true;
    }
  }
  return false;
}

void PublicReads::Once(const std::string& flight, const std::string& key,
                       std::function<Status(Built*)> build, Done done, const std::string& earlier,
                       uint64_t size) {
  Answer answer;
  Status refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Answer before = EarlierLocked(earlier, size);
    if (auto it = cache_.find(key); it != cache_.end()) {
      answer = it->second;
    } else if (!before && waiters_ >= kPublicWaitersMax) {
      refused = Status::InvalidArgument(
          "public_busy", std::to_string(kPublicWaitersMax) + " readers wait for public answers");
    } else if (auto f = flights_.find(flight); f != flights_.end()) {
      if (!before) {
        f->second.waiting.emplace_back(key, std::move(done));
        ++waiters_;
        return;
      }
      answer = std::move(before);  // while the newer one is being built
    } else if (stopping_) {
      refused = Status::InvalidArgument("stopping", "the server is stopping");
    } else if (before && !RefreshDueLocked(earlier)) {
      answer = std::move(before);  // built anew once kPublicRefreshMs has passed
    } else if (flights_.size() >= kPublicBuildsMax && (before || !DropRefreshLocked())) {
      // Full: a reader with an earlier answer gets it and no build is queued; one without is
      // refused, unless a queued build nobody waits for (a refresh) made room.
      if (before) {
        answer = std::move(before);
      } else {
        refused = Status::InvalidArgument(
            "public_busy", std::to_string(kPublicBuildsMax) + " public answers are being built");
      }
    } else {
      Flight& f = flights_[flight];
      f.build = std::move(build);
      queue_.push_back(flight);
      f.family = earlier;
      if (before) {
        f.refresh_of = earlier;
        StampLocked(earlier, kRefreshPending);  // one refresh of a family at a time
      }
      work_.notify_one();
      if (!before) {
        f.waiting.emplace_back(key, std::move(done));
        ++waiters_;
        return;
      }
      answer = std::move(before);  // the newer one is built for those who come later
    }
  }
  done(refused, std::move(answer));
}

void PublicReads::BuilderLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and Refuse() has answered the rest
    // Builds someone waits for first; a refresh (its readers got an earlier answer) after them.
    auto next = std::find_if(queue_.begin(), queue_.end(), [&](const std::string& name) {
      return !flights_[name].waiting.empty();
    });
    if (next == queue_.end()) next = queue_.begin();
    const std::string name = std::move(*next);
    queue_.erase(next);
    std::function<Status(Built*)> build = std::move(flights_[name].build);
    ++builds_;
    lock.unlock();
    Built built;
    // An exception (a bug, or stored data Cap'n Proto could not read) must still end the build
    // for those waiting for it.
    try {
      if (before_build_) before_build_();
      built.status = build(&built);
    } catch (const std::exception& e) {
      built.status = Status::IOError("internal", e.what());
    } catch (const kj::Exception& e) {
      built.status = Status::IOError("internal", e.getDescription().cStr());
    }
    if (after_build_) after_build_();
    lock.lock();
    if (built.status.ok()) {
      try {
        for (const auto& [key, value] : built.answers)
          RememberLocked(key, value, built.cheap, built.earlier);
      } catch (...) {  // out of memory: the answers are still given, only not kept
      }
    }
    auto flight = flights_.extract(name);
    waiters_ -= flight.mapped().waiting.size();
    // The refresh interval counts from the end of a family's last build.
    const std::string& family = flight.mapped().family;
    const bool refresh = !flight.mapped().refresh_of.empty();
    if (!family.empty()) {
      auto stamp = built_at_.find(family);
      // A build at another size does not end a refresh still under way.
      const bool other_pending =
          !refresh && stamp != built_at_.end() && stamp->second == kRefreshPending;
      if (built.status.ok() && !other_pending) {
        try {
          StampLocked(family, std::chrono::steady_clock::now());
        } catch (...) {  // out of memory: the next reader may build it again sooner
        }
      } else if (refresh) {
        built_at_.erase(family);
      }
    }
    lock.unlock();
    Answer_(flight.mapped().waiting, built);
    lock.lock();
  }
}

Status PublicReads::Wait(const std::function<void(Done)>& ask, Answer* out) {
  auto answered = std::make_shared<std::promise<std::pair<Status, Answer>>>();
  auto future = answered->get_future();
  ask([answered](const Status& s, Answer body) { answered->set_value({s, std::move(body)}); });
  auto [status, body] = future.get();
  *out = std::move(body);
  return status;
}

Status PublicReads::Projects(Answer* out) {
  return Wait([&](Done done) { Projects(std::move(done)); }, out);
}

Status PublicReads::Summary(const Scope& scope, Answer* out) {
  return Wait([&](Done done) { Summary(scope, std::move(done)); }, out);
}

Status PublicReads::ExportFile(const Scope& scope, std::string_view name, Answer* out,
                               std::optional<uint64_t> size) {
  return Wait([&](Done done) { ExportFile(scope, name, std::move(done), size); }, out);
}

void PublicReads::Projects(Done done) {
  std::string note;
  Checkpoint checkpoint;
  if (Status s = Latest(&note, &checkpoint); !s.ok()) return done(s, nullptr);
  const std::string key = "projects|" + std::to_string(checkpoint.size);
  Once(
      key, key,
      [this, key, checkpoint](Built* built) {
        std::vector<ProjectSummary> projects;
        {
          std::optional<ReadGate::Shared> hold;
          StateGate* beside = ReadAt(checkpoint.size, &hold);
          std::unique_ptr<ViewPoint> point;
          FL_RETURN_IF_ERROR(ViewPoint::Open(journal_, {ScopeKind::kRegion, ""},
                                             AsOf{checkpoint.size, {}}, &point, beside));
          FL_RETURN_IF_ERROR(ProjectsOf(*point, &projects));
        }
        json list = json::array();
        for (const ProjectSummary& p : projects) {
          list.push_back(
              {{"id", p.id}, {"name", p.name}, {"region", p.region}, {"phase", p.phase}});
        }
        json body = {{"checkpoint",
                      {{"origin", checkpoint.origin},
                       {"size", checkpoint.size},
                       {"root", Base64Encode(checkpoint.root)}}},
                     {"projects", list}};
        built->answers[key] = std::make_shared<const std::string>(body.dump());
        return Status::Ok();
      },
      std::move(done), "projects|", checkpoint.size);
}

StateGate* PublicReads::ReadAt(uint64_t size, std::optional<ReadGate::Shared>* hold) const {
  hold->emplace(gate_);
  if (journal_.head().size == size) return nullptr;
  hold->reset();
  return &gate_;
}

// 分配进度 of a region: what the finance bureaus' pools in it passed on of what they got, the
// pools taken as one: money one of them allocates to another stays within the region and is
// neither money in nor passed on (a province's allocation to its city's pool counts once, when
// the city allocates it to a project).
Status PublicReads::PoolProgress(const Scope& scope, uint64_t size, StateGate* beside,
                                 json* out) const {
  std::set<std::string, std::less<>> bureaus;
  {
    StateGate::Shared hold(beside);
    for (const auto& [id, org] : journal_.state().orgs()) {
      if (org.kind == schema::OrgKind::FINANCE_BUREAU && org.registered_seq <= size &&
          RegionWithin(org.region, scope.id)) {
        bureaus.insert(id);
      }
    }
  }
  int64_t in = 0, allocated = 0, within = 0;
  for (const std::string& id : bureaus) {
    std::unique_ptr<ViewPoint> point;
    FL_RETURN_IF_ERROR(
        ViewPoint::Open(journal_, {ScopeKind::kPool, id}, AsOf{size, {}}, &point, beside));
    Balance balance;
    FL_RETURN_IF_ERROR(BalanceOf(*point, &balance));
    in += balance.Total().money_in_fen();
    allocated += balance.Total().allocated_out_fen;
    const std::string prefix = ViewRows::PoolFlowPrefix(id);
    Status bad = Status::Ok();
    FL_RETURN_IF_ERROR(
        point->rows().Scan(prefix, [&](std::string_view key, std::string_view value) {
          int64_t flow = 0;
          bad = ViewRows::DecodeI64Row("pool flow", key, value, &flow);
          if (bureaus.contains(key.substr(prefix.size()))) within += flow;
          return bad.ok();
        }));
    FL_RETURN_IF_ERROR(bad);
  }
  in -= within;
  allocated -= within;
  (*out)["allocation_rate_bp"] = Bp(RatioBp(allocated, in));
  (*out)["allocation_basis"] = "pools";
  (*out)["pools"] = bureaus.size();
  (*out)["pools_money_in_fen"] = in;
  (*out)["pools_allocated_out_fen"] = allocated;
  return Status::Ok();
}

Status PublicReads::BuildSummary(const Scope& scope, const std::string& note,
                                 const Checkpoint& checkpoint, json* out) const {
  std::optional<ReadGate::Shared> hold;
  StateGate* beside = ReadAt(checkpoint.size, &hold);
  std::unique_ptr<ViewPoint> point;
  FL_RETURN_IF_ERROR(ViewPoint::Open(journal_, scope, AsOf{checkpoint.size, {}}, &point, beside));
  Balance balance;
  Ratios ratios;
  Disbursements disbursements;
  std::vector<Flag> flags;
  std::vector<ProjectSummary> projects;
  FL_RETURN_IF_ERROR(BalanceOf(*point, &balance));
  FL_RETURN_IF_ERROR(RatiosOf(*point, &ratios));
  // The totals only: no line of the list is kept.
  FL_RETURN_IF_ERROR(DisbursementsOf(*point, &disbursements, LinesWindow{0, 0}));
  FL_RETURN_IF_ERROR(FlagsOf(*point, &flags));
  FL_RETURN_IF_ERROR(ProjectsOf(*point, &projects));
  Figures total = balance.Total();
  json project_list = json::array(), by_project = json::array();
  int64_t plan_fen = 0;
  for (const ProjectSummary& p : projects) {
    project_list.push_back(
        {{"id", p.id}, {"name", p.name}, {"region", p.region}, {"phase", p.phase}});
    plan_fen += p.plan_fen;
    if (scope.kind != ScopeKind::kRegion) continue;
    Balance b;  // from the region's own fold
    FL_RETURN_IF_ERROR(ProjectBalanceOf(*point, p.id, &b));
    by_project.push_back(
        {{"project", p.id}, {"name", p.name}, {"by_category", CategoryFen(MoneyInOf(b))}});
  }
  json progress = {{"money_in_fen", total.money_in_fen()},
                   {"disbursed_fen", total.disbursed_fen},
                   {"plan_fen", plan_fen},
                   {"payment_rate_bp", Bp(ratios.payment_rate_bp)}};
  if (scope.kind == ScopeKind::kRegion) {
    FL_RETURN_IF_ERROR(PoolProgress(scope, checkpoint.size, beside, &progress));
  } else {
    progress["allocation_rate_bp"] = Bp(RatioBp(total.money_in_fen(), plan_fen));
    progress["allocation_basis"] = "funding_plan";
  }
  json exports = json::object();
  for (const char* name : kBundleFiles) {
    // Pinned to this checkpoint: the files fetched one by one are of one bundle.
    exports[name] = "/v1/public/export/" + std::string(name) + "?" + ScopeQuery(scope) +
                    "&size=" + std::to_string(checkpoint.size);
  }
  *out = {
      {"scope", {{"kind", ScopeKindName(scope.kind)}, {"id", scope.id}}},
      {"checkpoint",
       {{"origin", checkpoint.origin},
        {"size", checkpoint.size},
        {"root", Base64Encode(checkpoint.root)},
        {"note", note},
        {"log_key", FormatVerifierKey(journal_.log_verifier().name, journal_.log_verifier().key)}}},
      {"reference_date", FormatDate(point->reference_day())},
      {"projects", project_list},
      {"money_in",
       {{"total_fen", total.money_in_fen()}, {"by_category", CategoryFen(MoneyInOf(balance))}}},
      {"money_in_by_project", by_project},
      {"progress", progress},
      {"disbursements",
       {{"total_fen", disbursements.total_fen},
        {"count", disbursements.count},
        {"by_work", Totals(disbursements.by_work, kCategories)},
        {"by_payee", Totals(disbursements.by_payee, kSummaryPayeesMax)}}},
      {"flags", FlagsJson(flags)},
      {"exports", exports}};
  return Status::Ok();
}

void PublicReads::Summary(const Scope& scope, Done done) {
  std::string note;
  Checkpoint checkpoint;
  if (Status s = Latest(&note, &checkpoint); !s.ok()) return done(s, nullptr);
  const std::string key = "summary|" + ScopeKey(scope) + "|" + std::to_string(checkpoint.size);
  Once(
      key, key,
      [this, key, scope, note, checkpoint](Built* built) {
        json body;
        FL_RETURN_IF_ERROR(BuildSummary(scope, note, checkpoint, &body));
        built->cheap = body["projects"].empty();
        built->answers[key] = std::make_shared<const std::string>(body.dump());
        return Status::Ok();
      },
      std::move(done), "summary|" + ScopeKey(scope) + "|", checkpoint.size);
}

void PublicReads::ExportFile(const Scope& scope, std::string_view name, Done done,
                             std::optional<uint64_t> size) {
  auto known = std::find_if(std::begin(kBundleFiles), std::end(kBundleFiles),
                            [&](const char* file) { return name == file; });
  if (known == std::end(kBundleFiles)) {
    return done(Status::NotFound("no_such_file", "a bundle has no file " + std::string(name)),
                nullptr);
  }
  if (log_signer_ == nullptr) {
    return done(
        Status::NotFound("export_unavailable", "this server has no log key to sign exports"),
        nullptr);
  }
  std::string note;
  Checkpoint checkpoint;
  if (Status s = Latest(&note, &checkpoint); !s.ok()) return done(s, nullptr);
  const uint64_t latest_size = checkpoint.size;
  if (Status s = Latest(&note, &checkpoint, size); !s.ok()) return done(s, nullptr);
  const bool earlier = checkpoint.size < latest_size;
  // One build renders every file of the bundle: the flight is the bundle, not the file.
  const std::string prefix =
      "export|" + ScopeKey(scope) + "|" + std::to_string(checkpoint.size) + "|";
  Once(
      prefix, prefix + std::string(name),
      [this, prefix, scope, note, earlier](Built* built) {
        BundleInput bundle;
        FL_RETURN_IF_ERROR(BuildBundle(journal_, scope, note, *log_signer_, &bundle, &gate_));
        built->cheap = bundle.projects == 0;
        built->earlier = earlier;
        std::vector<BundleFile> files;
        FL_RETURN_IF_ERROR(RenderBundle(bundle, &files));
        for (BundleFile& file : files) {
          built->answers[prefix + file.name] =
              std::make_shared<const std::string>(std::move(file.content));
        }
        return Status::Ok();
      },
      std::move(done));
}

}  // namespace fundledger
