// The demo ledger generator. Its parts, top to bottom:
//
//   - small pure helpers: a portable random stream, dates, keys, credit codes, amounts;
//   - World: the fixed tables of demo_data.h indexed, the policies in force, and the precomputed
//     core of every project (place, year, sequence number, government money it needs);
//   - event builders: one JSON event of each type;
//   - sources: each tells one story in date order (the registry; one budget year of the
//     government chain; one project) and hands out one event at a time, with follow-ups
//     (acknowledgements, audit resolutions) dated later;
//   - Builder: merges the sources by date, numbers documents, signs each batch in parallel,
//     appends it (one durable write) and keeps the figures of the summary.
//
// A project's story is built a stage at a time (registration, approval, works, completion,
// settlement) as closures run in date order, so memory holds only the current stage of the
// projects under way, and every amount is decided from the balances the project has at that
// moment: no overdraft, by construction. Pools are funded for each year before any project of
// that year draws on them (the chain runs March..May, project allocations from 10 June).

#include "tools/demo.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "crypto/encoding.h"
#include "crypto/note.h"
#include "crypto/sha256.h"
#include "ledger/event.h"
#include "ledger/journal.h"
#include "ledger/key_file.h"
#include "ledger/parallel.h"
#include "ledger/rules.h"
#include "replay/views.h"
#include "tools/cli_util.h"
#include "tools/demo_data.h"

namespace fundledger::cli {
namespace {

namespace fs = std::filesystem;
using demo::kCategoryCount;
using demo::kCategoryNames;
using demo::kCentral;
using demo::kDistrict;
using demo::kEnhancement;
using demo::kEnterprise;
using demo::kGovernmentCategoryCount;
using demo::kMunicipal;
using demo::kProvincial;
using demo::kResident;
using demo::kSocialCapital;
using demo::kUtility;
using demo::OrgSpec;
using demo::Scheme;
using demo::Work;
using nlohmann::json;

constexpr size_t kBatchEvents = 1000;
constexpr const char* kOrigin = "demo.fundledger.example/renovation";
constexpr const char* kLogKeyName = "demo.fundledger.example";
constexpr const char* kOperatorId = "operator";
constexpr const char* kOperatorName = "城镇老旧小区改造资金监管平台运营方（演示）";
constexpr const char* kFirstDay = "2019-01-02";
constexpr int kFirstYear = 2019;
constexpr int kLastYear = 2026;
constexpr uint64_t kYuan = 100;                      // fen per yuan
constexpr uint64_t kAmountFenMax = 100000000000000;  // 10^14, the rules' limit per event
constexpr uint32_t kConsentDefaultBp = 6667;
constexpr uint32_t kSatisfactionDefaultBp = 8000;
// Acknowledgements come a day or more after their target, so that they never precede it.
constexpr int kAckDaysMin = 1;
constexpr int kAckDaysMax = 20;
constexpr int kAckMissingPercent = 4;

// ---------------------------------------------------------------------------------------------
// Small pure helpers.

// splitmix64: the same seed gives the same stream on every platform and standard library,
// which std::uniform_int_distribution does not promise.
class Rng {
 public:
  explicit Rng(const Hash& seed) { memcpy(&state_, seed.data(), sizeof(state_)); }
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  int64_t Range(int64_t lo, int64_t hi) {
    uint64_t span = uint64_t(hi - lo) + 1;
    return lo + int64_t((static_cast<unsigned __int128>(Next()) * span) >> 64);
  }
  bool Chance(int percent) { return Range(0, 99) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[size_t(Range(0, int64_t(items.size()) - 1))];
  }

 private:
  uint64_t state_ = 0;
};

// Concatenation by appending. `"literal" + std::string(...)` inlines into a memcpy that g++ 12
// at -O3 wrongly reports as overlapping (-Werror=restrict, GCC bug 105329).
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out.append(part);
  return out;
}

// SHA-256("fundledger-demo" || 0 || decimal seed || 0 || purpose): every random stream and key
// of the demo comes from one of these.
Hash DemoHash(uint64_t seed, std::string_view purpose) {
  std::string material = "fundledger-demo";
  material.push_back('\0');
  material += std::to_string(seed);
  material.push_back('\0');
  material += purpose;
  return Sha256(material);
}

KeyPair DemoKey(uint64_t seed, std::string_view org, int generation) {
  std::string purpose(org);
  if (generation > 1) purpose += Cat({"#", std::to_string(generation)});
  Hash hash = DemoHash(seed, purpose);
  KeySeed key_seed;
  std::copy(hash.begin(), hash.end(), key_seed.begin());
  return KeyPair::FromSeed(key_seed);
}

int64_t Day(std::string_view ymd) {
  int64_t day = 0;
  Status s = ParseDate(ymd, "date", &day);
  if (!s.ok()) std::abort();  // the demo's own constants are valid dates
  return day;
}

int64_t Day(int year, int month, int day) {
  char text[16];
  snprintf(text, sizeof(text), "%04d-%02d-%02d", year, month, day);
  return Day(text);
}

int YearOf(int64_t day) { return std::stoi(FormatDate(day).substr(0, 4)); }

// 统一社会信用代码 (GB 32100-2015): registration authority 9 (market regulation) and type 1
// (enterprise), the administrative division, the 9-character organisation code whose last
// character is its GB 11714 check, and the check character over the first 17.
std::string CreditCode(std::string_view division, std::string_view name) {
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  static constexpr int kOrgWeights[8] = {3, 7, 9, 10, 5, 8, 4, 2};
  Hash hash = Sha256(name);
  std::string org;
  int org_sum = 0;
  for (int i = 0; i < 8; ++i) {
    int digit = hash[size_t(i)] % 10;
    org.push_back(char('0' + digit));
    org_sum += digit * kOrgWeights[i];
  }
  int org_check = 11 - org_sum % 11;
  org.push_back(org_check == 10 ? 'X' : org_check == 11 ? '0' : char('0' + org_check));
  std::string code = "91" + std::string(division) + org;
  if (code.size() != 17) std::abort();  // division codes are 6 digits
  int sum = 0, weight = 1;
  for (char c : code) {
    sum += int(kAlphabet.find(c)) * weight;
    weight = weight * 3 % 31;
  }
  code.push_back(kAlphabet[size_t((31 - sum % 31) % 31)]);
  return code;
}

uint64_t RoundYuan(uint64_t fen) { return fen / kYuan * kYuan; }
// Whole yuan, to the nearest 100.
uint64_t RoundHundreds(uint64_t fen) { return (fen + 5000) / 10000 * 10000; }
uint64_t ShareBp(uint64_t amount, uint64_t bp) {
  return uint64_t(static_cast<unsigned __int128>(amount) * bp / 10000);
}

std::string Yuan(uint64_t fen) {
  std::string whole = std::to_string(fen / kYuan);
  std::string grouped;
  for (size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(whole[i]);
  }
  char cents[8];
  snprintf(cents, sizeof(cents), ".%02u", unsigned(fen % kYuan));
  return grouped + cents;
}

// "12.35万元" for memos.
std::string Wan(uint64_t fen) {
  char text[32];
  snprintf(text, sizeof(text), "%.2f万元", double(fen) / 1e6);
  return text;
}

// ---------------------------------------------------------------------------------------------
// The world: tables indexed, policies in force, and the core of every project.

struct Street {
  const demo::StreetSpec* spec;
  const demo::DistrictSpec* district;
  const demo::CitySpec* city;
  const demo::ProvinceSpec* province;
  std::string region;
};

struct CityOrgs {
  std::vector<const OrgSpec*> utilities, enterprises, investors;
  std::map<std::string, std::vector<const OrgSpec*>> contractors;  // by role
};

enum class Fate { kCompleted, kCancelledBeforeApproval, kCancelledAfterApproval };

// What the whole run must know of a project before its story starts.
struct ProjectCore {
  uint32_t street = 0;
  int year = 0;
  int64_t reg_day = 0;
  Fate fate = Fate::kCompleted;
  uint32_t seq = 0;             // within its district and year
  uint32_t compound_first = 0;  // ordinal of its first compound within its city
  uint32_t compound_count = 0;
  int64_t duplicate_of = -1;  // an earlier project of the district whose compound it repeats
  std::array<uint64_t, kGovernmentCategoryCount> government{};
};

class World {
 public:
  World(uint64_t seed, uint32_t projects);

  uint64_t seed() const { return seed_; }
  uint32_t projects() const { return uint32_t(cores_.size()); }
  int64_t end_day() const { return end_day_; }
  const std::vector<OrgSpec>& orgs() const { return orgs_; }
  const OrgSpec& org(std::string_view id) const;
  const std::vector<Street>& streets() const { return streets_; }
  const CityOrgs& city_orgs(const demo::CitySpec* city) const { return city_orgs_.at(city); }
  const ProjectCore& core(uint32_t index) const { return cores_[index]; }
  std::vector<ProjectCore>& mutable_cores() { return cores_; }
  // Day from which `org` may no longer sign or be paid (0: never revoked).
  int64_t revoked_day(std::string_view org) const;

  // The strictest of every policy that can be in force for `region` at any time, so that what
  // the demo does passes whichever one is.
  uint32_t ConsentMin(std::string_view region) const;
  uint32_t SatisfactionMin(std::string_view region) const;
  uint64_t UnitCap(std::string_view region, std::string_view item) const;  // 0: no cap
  bool Allowed(std::string_view region, int category, Work work) const;

  std::string CompoundName(const demo::CitySpec* city, uint32_t ordinal) const;

 private:
  void IndexOrgs();
  void IndexStreets();

  uint64_t seed_;
  int64_t end_day_;
  OrgSpec operator_spec_;
  std::vector<OrgSpec> orgs_;
  std::unordered_map<std::string_view, const OrgSpec*> by_id_;
  std::vector<Street> streets_;
  std::map<const demo::CitySpec*, CityOrgs> city_orgs_;
  std::vector<ProjectCore> cores_;
};

World::World(uint64_t seed, uint32_t projects) : seed_(seed), end_day_(Day(kDemoLastDay)) {
  operator_spec_ = {kOperatorId, kOperatorName, "operator", "none", ""};
  IndexOrgs();
  IndexStreets();
  cores_.resize(projects);
}

void World::IndexOrgs() {
  orgs_.push_back(operator_spec_);
  for (const auto& org : demo::DemoOrgs()) orgs_.push_back(org);
  for (const auto& org : orgs_) {
    if (!by_id_.emplace(org.id, &org).second) std::abort();  // ids are unique
  }
}

const OrgSpec& World::org(std::string_view id) const {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) std::abort();  // the tables name only registered orgs
  return *it->second;
}

void World::IndexStreets() {
  // Compounds are named after a city's work units and roads: the same name in two cities would
  // look like one compound renovated twice (the auditors' duplicate_compound flag).
  std::set<std::string_view> names;
  for (const auto& province : demo::DemoProvinces()) {
    for (const auto& city : province.cities) {
      for (const char* name : city.units) {
        if (!names.insert(name).second) std::abort();
      }
      for (const char* name : city.roads) {
        if (!names.insert(name).second) std::abort();
      }
    }
  }
  for (const auto& province : demo::DemoProvinces()) {
    for (const auto& city : province.cities) {
      CityOrgs& lists = city_orgs_[&city];
      for (const auto& org : orgs_) {
        if (std::string_view(org.region) != city.region) continue;
        std::string_view kind = org.kind;
        if (kind == "utility") lists.utilities.push_back(&org);
        if (kind == "enterprise") lists.enterprises.push_back(&org);
        if (kind == "social_capital") lists.investors.push_back(&org);
        if (kind == "contractor") lists.contractors[org.role].push_back(&org);
      }
      for (const auto& district : city.districts) {
        for (const auto& street : district.streets) {
          (void)org(street.office), (void)org(street.residents);
          streets_.push_back({&street, &district, &city, &province,
                              std::string(district.region) + "/" + street.slug});
        }
      }
    }
  }
}

int64_t World::revoked_day(std::string_view org) const {
  for (const auto& change : demo::DemoRegistryChanges()) {
    if (std::string_view(change.type) == "org_revoked" && org == change.org) {
      return Day(change.occurred_on);
    }
  }
  return 0;
}

uint32_t World::ConsentMin(std::string_view region) const {
  uint32_t min = kConsentDefaultBp;
  for (const auto& p : demo::DemoPolicies()) {
    if (RegionWithin(region, p.region)) min = std::max(min, p.consent_min_bp);
  }
  return min;
}

uint32_t World::SatisfactionMin(std::string_view region) const {
  uint32_t min = kSatisfactionDefaultBp;
  for (const auto& p : demo::DemoPolicies()) {
    if (RegionWithin(region, p.region)) min = std::max(min, p.satisfaction_min_bp);
  }
  return min;
}

uint64_t World::UnitCap(std::string_view region, std::string_view item) const {
  uint64_t cap = 0;
  for (const auto& p : demo::DemoPolicies()) {
    if (!RegionWithin(region, p.region)) continue;
    for (const auto& [slug, max_fen] : p.unit_caps) {
      if (item == slug && (cap == 0 || max_fen < cap)) cap = max_fen;
    }
  }
  return cap;
}

bool World::Allowed(std::string_view region, int category, Work work) const {
  // The default policy: central and provincial money pays basic and improvement work only.
  if ((category == demo::kCentral || category == demo::kProvincial) && work == demo::kEnhancement) {
    return false;
  }
  for (const auto& p : demo::DemoPolicies()) {
    if (!RegionWithin(region, p.region)) continue;
    for (const auto& r : p.restricted_use) {
      if (r.category == category && (r.works & demo::WorkBit(work)) == 0) return false;
    }
  }
  return true;
}

std::string World::CompoundName(const demo::CitySpec* city, uint32_t ordinal) const {
  static constexpr const char* kSuffixes[] = {"家属院", "宿舍区", "生活区", "小区"};
  const uint32_t units = uint32_t(city->units.size()), suffixes = 4;
  if (ordinal < units * suffixes) {
    return std::string(city->units[ordinal % units]) + kSuffixes[ordinal / units];
  }
  uint32_t rest = ordinal - units * suffixes, roads = uint32_t(city->roads.size());
  return std::string(city->roads[rest % roads]) + std::to_string(rest / roads * 2 + 1) + "号院";
}

// ---------------------------------------------------------------------------------------------
// Event builders: one JSON event each, without `occurred_on` (the Builder sets it from the day).

json OrgRegistered(const OrgSpec& org, const PublicKey& key) {
  return {{"id", "reg-" + std::string(org.id)},
          {"type", "org_registered"},
          {"org", org.id},
          {"name", org.name},
          {"kind", org.kind},
          {"level", org.level},
          {"region", org.region},
          {"public_key", Base64Encode(key)}};
}

json PolicySet(const demo::PolicySpec& p, const std::string& id) {
  json restricted = json::array(), caps = json::array(), targets = json::array();
  for (const auto& r : p.restricted_use) {
    json works = json::array();
    for (int w = 0; w < demo::kWorkCount; ++w) {
      if (r.works & demo::WorkBit(Work(w))) works.push_back(demo::kWorkNames[w]);
    }
    restricted.push_back({{"category", kCategoryNames[r.category]}, {"works", works}});
  }
  for (const auto& [item, max_fen] : p.unit_caps) {
    caps.push_back({{"item", item}, {"max_fen_per_unit", max_fen}});
  }
  for (const auto& t : p.targets) {
    json target = {{"metric", t.metric}};
    if (t.min_bp >= 0) target["min_bp"] = t.min_bp;
    if (t.max_bp >= 0) target["max_bp"] = t.max_bp;
    targets.push_back(target);
  }
  return {{"id", id},
          {"type", "policy_set"},
          {"doc_ref", p.doc_ref},
          {"memo", p.memo},
          {"region", p.region},
          {"restricted_use", restricted},
          {"consent_min_bp", p.consent_min_bp},
          {"satisfaction_min_bp", p.satisfaction_min_bp},
          {"unit_caps", caps},
          {"targets", targets},
          {"idle_days_max", p.idle_days_max}};
}

json Receipt(const std::string& id, const std::string& to, const char* to_kind, int category,
             const std::string& source, const char* channel, uint64_t amount_fen) {
  return {{"id", id},
          {"type", "funds_received"},
          {"to", to},
          {"to_kind", to_kind},
          {"category", kCategoryNames[category]},
          {"source_org", source},
          {"channel", channel},
          {"amount_fen", amount_fen}};
}

json Allocation(const std::string& id, const std::string& from, const std::string& to,
                const char* to_kind, int category, uint64_t amount_fen) {
  return {{"id", id},
          {"type", "funds_allocated"},
          {"from", from},
          {"to", to},
          {"to_kind", to_kind},
          {"category", kCategoryNames[category]},
          {"amount_fen", amount_fen}};
}

json Pledge(const std::string& id, const std::string& project, const std::string& source,
            int category, uint64_t amount_fen) {
  return {{"id", id},
          {"type", "funds_pledged"},
          {"project", project},
          {"source_org", source},
          {"category", kCategoryNames[category]},
          {"amount_fen", amount_fen}};
}

json Refund(const std::string& id, const std::string& from, const char* from_kind, int category,
            const std::string& to_org, uint64_t amount_fen) {
  return {{"id", id},
          {"type", "funds_refunded"},
          {"from", from},
          {"from_kind", from_kind},
          {"category", kCategoryNames[category]},
          {"to_org", to_org},
          {"amount_fen", amount_fen}};
}

json StatusChange(const std::string& id, const std::string& project, const char* status) {
  return {{"id", id}, {"type", "project_status"}, {"project", project}, {"status", status}};
}

json Reversal(const std::string& id, const std::string& target) {
  return {{"id", id}, {"type", "event_reversed"}, {"target", target}};
}

json Ack(const std::string& target) {
  return {{"id", target + ".ack"}, {"type", "acknowledged"}, {"target", target}};
}

json Finding(const std::string& id, const std::string& finding, const std::string& project,
             const std::vector<std::string>& targets, const char* severity,
             const std::string& text) {
  json event = {{"id", id},           {"type", "audit_finding"}, {"finding", finding},
                {"targets", targets}, {"severity", severity},    {"text", text}};
  if (!project.empty()) event["project"] = project;
  return event;
}

json Resolved(const std::string& finding, const std::string& text) {
  return {{"id", finding + ".resolved"},
          {"type", "finding_resolved"},
          {"finding", finding},
          {"text", text}};
}

// ---------------------------------------------------------------------------------------------
// Sources.

// One event as a source hands it out: the Builder sets `occurred_on` from `day`, and numbers
// the document when `doc_prefix` is set ("潭财建" -> 潭财建〔2021〕7号, one number per issuer,
// day and event type).
struct Draft {
  int64_t day = 0;
  std::string signer;
  json event;
  std::string doc_prefix;
  // Money that entered the system (a receipt, or minus a reversed one) and that left it, for
  // the summary.
  int received_category = -1;
  int64_t received_fen = 0;
  int64_t disbursed_fen = 0;
  int64_t refunded_fen = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  // The next event, dated no earlier than the previous one; `later` gets follow-ups dated at
  // least a day after it. False when the story is over.
  virtual bool Next(Draft* next, std::vector<Draft>* later) = 0;
};

// A source built from closures that each make one event when its day comes. Closures run in
// (day, order) order, one stage at a time; a stage is built only when the previous one has run,
// so it may depend on the state the earlier closures left.
class StagedSource : public Source {
 public:
  using Step = std::function<bool(Draft* next, std::vector<Draft>* later)>;

  bool Next(Draft* next, std::vector<Draft>* later) override;

 protected:
  // Builds stage `stage` by calling Add(); returns false when there are no more stages.
  virtual bool BuildStage(int stage) = 0;
  // Runs `step` on `day` (or on the last day run, if that is later). A step returning false
  // made no event (e.g. a payment with nothing left to pay).
  void Add(int64_t day, Step step);
  int64_t last_day() const { return last_day_; }

 private:
  struct Entry {
    int64_t day;
    uint64_t order;
    Step step;
  };
  std::vector<Entry> pending_;  // current stage, sorted by (day, order) descending
  bool sorted_ = true;
  int stage_ = 0;
  bool done_ = false;
  uint64_t order_ = 0;
  int64_t last_day_ = 0;
};

void StagedSource::Add(int64_t day, Step step) {
  pending_.push_back({day, order_++, std::move(step)});
  sorted_ = false;
}

bool StagedSource::Next(Draft* next, std::vector<Draft>* later) {
  while (true) {
    if (pending_.empty()) {
      if (done_ || !BuildStage(stage_++)) {
        done_ = true;
        return false;
      }
      continue;
    }
    if (!sorted_) {
      std::sort(pending_.begin(), pending_.end(), [](const Entry& a, const Entry& b) {
        return a.day != b.day ? a.day > b.day : a.order > b.order;
      });
      sorted_ = true;
    }
    Entry entry = std::move(pending_.back());
    pending_.pop_back();
    last_day_ = std::max(last_day_, entry.day);
    *next = Draft();
    next->day = last_day_;
    if (entry.step(next, later)) return true;
  }
}

// Follow-up acknowledgement of `target` by `counterparty`, a few days after `day`, or none in a
// small share of cases (left for the auditors' `unacknowledged` flag).
void MaybeAck(Rng* rng, int64_t day, const std::string& counterparty, const std::string& target,
              std::vector<Draft>* later) {
  if (rng->Chance(kAckMissingPercent)) return;
  Draft ack;
  ack.day = day + rng->Range(kAckDaysMin, kAckDaysMax);
  ack.signer = counterparty;
  ack.event = Ack(target);
  later->push_back(std::move(ack));
}

// ---- the registry: genesis, organisations, policies, key rotations, a revocation ----

class RegistrySource : public StagedSource {
 public:
  explicit RegistrySource(const World* world) : world_(world) {}

 protected:
  bool BuildStage(int stage) override;

 private:
  int64_t RegistrationDay(const OrgSpec& org) const;
  const World* world_;
};

int64_t RegistrySource::RegistrationDay(const OrgSpec& org) const {
  std::string_view kind = org.kind;
  int day = kind == "finance_bureau" || kind == "housing_bureau"  ? 3
            : kind == "auditor"                                   ? 4
            : kind == "street_office" || kind == "resident_group" ? 7
            : kind == "contractor"                                ? 9
                                                                  : 8;
  return Day(kFirstYear, 1, day);
}

bool RegistrySource::BuildStage(int stage) {
  if (stage > 0) return false;
  const World* w = world_;
  Add(Day(kFirstDay), [w](Draft* d, std::vector<Draft>*) {
    d->signer = kOperatorId;
    d->event = GenesisEvent(kOperatorId, kOperatorName,
                            DemoKey(w->seed(), kOperatorId, 1).public_key(), kFirstDay);
    d->event.erase("occurred_on");
    return true;
  });
  for (const OrgSpec& org : w->orgs()) {
    if (std::string_view(org.kind) == "operator") continue;
    Add(RegistrationDay(org), [w, &org](Draft* d, std::vector<Draft>*) {
      d->signer = kOperatorId;
      d->event = OrgRegistered(org, DemoKey(w->seed(), org.id, 1).public_key());
      return true;
    });
  }
  const auto& policies = demo::DemoPolicies();
  for (size_t i = 0; i < policies.size(); ++i) {
    const demo::PolicySpec& p = policies[i];
    Add(Day(p.occurred_on), [&p, i](Draft* d, std::vector<Draft>*) {
      d->signer = p.signer;
      d->event =
          PolicySet(p, "policy-" + std::string(p.signer) + "-" +
                           std::string(p.occurred_on).substr(0, 4) + "-" + std::to_string(i + 1));
      return true;
    });
  }
  for (const auto& change : demo::DemoRegistryChanges()) {
    Add(Day(change.occurred_on), [w, &change](Draft* d, std::vector<Draft>*) {
      d->signer = change.signer;
      std::string type = change.type;
      d->event = {{"id", type == "key_rotated" ? "rotate-" + std::string(change.org)
                                               : "revoke-" + std::string(change.org)},
                  {"type", type},
                  {"memo", change.memo},
                  {"org", change.org}};
      if (type == "key_rotated") {
        d->event["public_key"] = Base64Encode(DemoKey(w->seed(), change.org, 2).public_key());
      }
      return true;
    });
  }
  return true;
}

// ---- one budget year of the government chain ----

// Money each district's pool needs for the projects of one year, by government category.
using Needs = std::map<const demo::DistrictSpec*, std::array<uint64_t, kGovernmentCategoryCount>>;

class BudgetYearSource : public StagedSource {
 public:
  BudgetYearSource(const World* world, int year, Needs needs)
      : world_(world),
        year_(year),
        needs_(std::move(needs)),
        rng_(DemoHash(world->seed(), Cat({"budget-", std::to_string(year)}))) {}

 protected:
  bool BuildStage(int stage) override;

 private:
  // Adds a receipt of the bureau's own money into its pool, in pieces of at most 10^14 fen.
  void OwnMoney(int64_t day, const std::string& bureau, int category, const char* channel,
                uint64_t amount_fen, const std::string& doc_prefix, const std::string& memo);
  // Adds an allocation between pools (acknowledged by the receiver).
  void PoolAllocation(int64_t day, const std::string& from, const std::string& to, int category,
                      uint64_t amount_fen, const std::string& doc_prefix, const std::string& memo);
  void Province(const demo::ProvinceSpec& province);

  const World* world_;
  int year_;
  Needs needs_;
  Rng rng_;
};

void BudgetYearSource::OwnMoney(int64_t day, const std::string& bureau, int category,
                                const char* channel, uint64_t amount_fen,
                                const std::string& doc_prefix, const std::string& memo) {
  for (int piece = 1; amount_fen > 0; ++piece) {
    uint64_t part = std::min(amount_fen, kAmountFenMax);
    amount_fen -= part;
    std::string id = std::to_string(year_) + "." + bureau + ".recv-" + kCategoryNames[category] +
                     "-" + channel + (piece > 1 ? Cat({"-", std::to_string(piece)}) : "");
    Add(day, [=](Draft* d, std::vector<Draft>*) {
      d->signer = bureau;
      d->event = Receipt(id, bureau, "pool", category, bureau, channel, part);
      d->event["memo"] = memo;
      d->doc_prefix = doc_prefix;
      d->received_category = category;
      d->received_fen = int64_t(part);
      return true;
    });
  }
}

void BudgetYearSource::PoolAllocation(int64_t day, const std::string& from, const std::string& to,
                                      int category, uint64_t amount_fen,
                                      const std::string& doc_prefix, const std::string& memo) {
  for (int piece = 1; amount_fen > 0; ++piece) {
    uint64_t part = std::min(amount_fen, kAmountFenMax);
    amount_fen -= part;
    std::string id = std::to_string(year_) + "." + from + ".alloc-" + to + "-" +
                     kCategoryNames[category] +
                     (piece > 1 ? Cat({"-", std::to_string(piece)}) : "");
    Rng* rng = &rng_;
    Add(day, [=](Draft* d, std::vector<Draft>* later) {
      d->signer = from;
      d->event = Allocation(id, from, to, "pool", category, part);
      d->event["memo"] = memo;
      d->doc_prefix = doc_prefix;
      MaybeAck(rng, d->day, to, id, later);
      return true;
    });
  }
}

std::string YearMemo(int year, int category, const char* what) {
  static constexpr const char* kFunds[kGovernmentCategoryCount] = {
      "中央财政城镇保障性安居工程补助资金（老旧小区改造）", "省级老旧小区改造补助资金",
      "市级老旧小区改造配套资金", "区（县）级老旧小区改造配套资金"};
  return std::string(what) + std::to_string(year) + "年" + kFunds[category];
}

void BudgetYearSource::Province(const demo::ProvinceSpec& province) {
  std::array<uint64_t, kGovernmentCategoryCount> sum{};
  for (const auto& [district, need] : needs_) {
    if (RegionWithin(district->region, province.slug)) {
      for (int c = 0; c < kGovernmentCategoryCount; ++c) sum[size_t(c)] += need[size_t(c)];
    }
  }
  if (sum == std::array<uint64_t, kGovernmentCategoryCount>{}) return;
  int y = year_;
  PoolAllocation(Day(y, 3, 20) + rng_.Range(0, 6), "mof", province.finance, demo::kCentral,
                 sum[demo::kCentral], "财综", YearMemo(y, demo::kCentral, "下达"));
  uint64_t provincial = sum[demo::kProvincial];
  uint64_t bond = province.bonds ? RoundYuan(ShareBp(provincial, 4000)) : 0;
  int64_t own_day = Day(y, 4, 1) + rng_.Range(0, 6);
  OwnMoney(own_day, province.finance, demo::kProvincial, "transfer", provincial - bond,
           province.finance_doc, YearMemo(y, demo::kProvincial, "安排"));
  OwnMoney(own_day, province.finance, demo::kProvincial, "bond", bond, province.finance_doc,
           std::to_string(y) + "年地方政府专项债券（城镇老旧小区改造）");
  for (const auto& city : province.cities) {
    std::array<uint64_t, kGovernmentCategoryCount> city_sum{};
    for (const auto& district : city.districts) {
      auto it = needs_.find(&district);
      if (it == needs_.end()) continue;
      for (int c = 0; c < kGovernmentCategoryCount; ++c) {
        city_sum[size_t(c)] += it->second[size_t(c)];
      }
    }
    // A province-level city (Beijing, Chongqing) has no municipal level: the province
    // allocates straight to its districts.
    std::string to = city.finance ? city.finance : "";
    int64_t down_day = Day(y, 4, 12) + rng_.Range(0, 6);
    for (int c : {demo::kCentral, demo::kProvincial}) {
      if (!city.finance) break;
      PoolAllocation(down_day, province.finance, to, c, city_sum[size_t(c)], province.finance_doc,
                     YearMemo(y, c, "下达"));
    }
    if (city.finance) {
      OwnMoney(Day(y, 4, 22) + rng_.Range(0, 5), city.finance, demo::kMunicipal, "transfer",
               city_sum[demo::kMunicipal], city.finance_doc, YearMemo(y, demo::kMunicipal, "安排"));
    }
    for (const auto& district : city.districts) {
      auto it = needs_.find(&district);
      if (it == needs_.end()) continue;
      const auto& need = it->second;
      std::string from = city.finance ? city.finance : province.finance;
      std::string doc = city.finance ? city.finance_doc : province.finance_doc;
      int64_t day = city.finance ? Day(y, 5, 5) + rng_.Range(0, 6) : down_day;
      for (int c = 0; c < demo::kDistrict; ++c) {
        if (need[size_t(c)] > 0) {
          PoolAllocation(day, from, district.finance, c, need[size_t(c)], doc,
                         YearMemo(y, c, "下达"));
        }
      }
      OwnMoney(Day(y, 5, 15) + rng_.Range(0, 8), district.finance, demo::kDistrict, "transfer",
               need[demo::kDistrict], district.finance_doc, YearMemo(y, demo::kDistrict, "安排"));
    }
  }
}

bool BudgetYearSource::BuildStage(int stage) {
  if (stage > 0) return false;
  uint64_t central = 0;
  for (const auto& [district, need] : needs_) central += need[demo::kCentral];
  OwnMoney(Day(year_, 3, 2) + rng_.Range(0, 5), "mof", demo::kCentral, "transfer", central, "财综",
           YearMemo(year_, demo::kCentral, "安排"));
  for (const auto& province : demo::DemoProvinces()) Province(province);
  return true;
}

// ---------------------------------------------------------------------------------------------
// A project's plan: where, when, how big, what works, who pays for what. A pure function of the
// seed and the project's index.

// One contribution by one non-government source.
struct Part {
  int category = 0;
  const OrgSpec* source = nullptr;  // utility, enterprise, investor or resident group
  const char* channel = "transfer";
  uint64_t amount_fen = 0;  // planned
  uint32_t households = 0;  // resident money: the households it covers
  bool individual = false;  // one household's own contribution, with a contributor_ref
  std::string memo;
  bool pledged = false;           // social capital: pledged before it is paid
  bool pledge_by_bureau = false;  // the district finance bureau records the pledge
  uint32_t fulfil_bp = 10000;     // share of the pledge that is actually paid
  int item = -1;                  // the in-kind item it pays for
};

struct PlannedItem {
  const demo::ItemSpec* spec = nullptr;
  uint64_t cost_fen = 0;
  uint32_t units = 0;
  const OrgSpec* payee = nullptr;                 // a registered payee
  const demo::PayeeSpec* unregistered = nullptr;  // or one paid by name and credit code only
  int part = -1;                                  // in kind: the part that pays it
  int contract = 0;                               // number of its contract in the project
  std::array<uint64_t, kCategoryCount> funded{};  // what each category pays of it
};

struct Milestones {
  int64_t reg = 0, approve = 0, t1 = 0, start = 0, t2 = 0, complete = 0;
  int64_t settle_payments = 0, retention = 0, settle = 0, cancel = 0;
};

struct Features {
  bool revise = false;
  bool reverse_receipt = false;     // a resident receipt entered twice, the copy reversed
  bool reverse_payment = false;     // a payment to the wrong contractor, reversed and re-paid
  bool reverse_allocation = false;  // an allocation with a wrong amount, reversed and redone
  bool reverse_pledge = false;      // a pledge with a wrong amount, reversed and re-pledged
  bool finding_papers = false;      // a payment without its papers, later put right
  bool finding_unacked = false;     // a payment acknowledged only after the auditor asks
  bool finding_progress = false;    // a progress payment without certified measurement
  bool settlement_audit = false;
  bool all_channels = false;
  bool in_kind_works = false;
  bool elevator = false;
};

struct ProjectPlan {
  uint32_t index = 0;
  const Street* street = nullptr;
  int year = 0;
  Fate fate = Fate::kCompleted;
  bool settled = false;
  uint32_t compounds = 0, households = 0, buildings = 0, built_year = 0;
  uint64_t floor_area_m2 = 0;
  uint32_t consent_bp = 0, satisfaction_bp = 0, settlement_cut_bp = 0;
  Milestones days;
  Features features;
  std::vector<PlannedItem> items;
  std::vector<Part> parts;
  std::array<uint64_t, kCategoryCount> plan{};  // the funding plan, by category
  uint64_t elevator_resident_fen = 0;           // residents' share of the elevators
};

struct FixedProject {
  const char* office;
  int year;
};
// The first projects of every demo, so that even a small one shows every region's mix and every
// kind of event: the pilots, Yuzhou, Baoding, Zhanhe, Shijingshan, Yongchuan and Gulou.
constexpr FixedProject kFixedProjects[] = {{"yuhu-heping", 2020},      {"yuzhou-yingchuan", 2020},
                                           {"lianchi-dongguan", 2021}, {"zhanhe-hebin", 2021},
                                           {"sjs-lugu", 2021},         {"yc-zhongshanlu", 2022},
                                           {"gulou-gudong", 2022},     {"yuetang-xintang", 2021}};
constexpr uint32_t kFixedCount = sizeof(kFixedProjects) / sizeof(kFixedProjects[0]);
// Share of later projects by programme year (2019..2026), in percent.
constexpr int kYearPercent[kLastYear - kFirstYear + 1] = {6, 12, 15, 15, 15, 14, 13, 10};

void PlanPlace(const World& w, Rng* rng, ProjectPlan* p) {
  const auto& streets = w.streets();
  if (p->index < kFixedCount) {
    const FixedProject& fixed = kFixedProjects[p->index];
    p->year = fixed.year;
    for (const auto& street : streets) {
      if (std::string_view(street.spec->office) == fixed.office) p->street = &street;
    }
  } else {
    int roll = int(rng->Range(0, 99)), year = kFirstYear;
    for (int share : kYearPercent) {
      if (roll < share) break;
      roll -= share;
      ++year;
    }
    p->year = year;
    // The three pilot areas were renovated in 2020 and 2021 only.
    bool pilot_year = year == 2020 || year == 2021;
    std::vector<const Street*> open;
    for (const auto& street : streets) {
      if (!street.spec->pilot || pilot_year) open.push_back(&street);
    }
    p->street = rng->Pick(open);
  }
  if (p->street == nullptr) std::abort();
  uint32_t i = p->index;
  p->fate = i % 60 == 3    ? Fate::kCancelledAfterApproval
            : i % 60 == 38 ? Fate::kCancelledBeforeApproval
                           : Fate::kCompleted;
  bool normal = p->fate == Fate::kCompleted;
  Features& f = p->features;
  f.revise = i % 9 == 5;
  f.reverse_receipt = normal && i % 20 == 1;
  f.reverse_payment = normal && i % 20 == 6;
  f.reverse_allocation = normal && i % 40 == 5;
  f.reverse_pledge = normal && i % 40 == 7;
  f.finding_papers = i % 10 == 2;
  f.finding_unacked = i % 10 == 4;
  f.finding_progress = i % 15 == 5;
  f.settlement_audit = i < kFixedCount || rng->Chance(35);
  f.all_channels = i < kFixedCount;
  f.in_kind_works = i == 0 || i == 2 || rng->Chance(35);
  f.elevator = (i < kFixedCount && normal) || rng->Chance(50);
}

void PlanDates(const World& w, Rng* rng, ProjectPlan* p) {
  Milestones& d = p->days;
  int y = p->year;
  d.reg = Day(y, 2, 20) + rng->Range(0, 89);
  d.approve = d.reg + rng->Range(25, 50);
  // Project allocations start on 10 June, after the year's money has come down the chain.
  d.t1 = std::max(d.approve + rng->Range(3, 10), Day(y, 6, 10) + rng->Range(0, 15));
  d.start = d.t1 + rng->Range(25, 60);
  d.t2 = d.start + rng->Range(30, 60);
  d.complete = d.start + rng->Range(150, 330);
  d.settle_payments = d.complete + rng->Range(20, 60);
  d.retention = d.complete + rng->Range(365, 400);
  int64_t last = d.retention;
  if (p->street->district->mix == demo::Mix::kZhanhe) last = std::max(last, d.complete + 30 + 730);
  d.settle = last + rng->Range(15, 60);
  bool settle_chance = rng->Chance(75);
  p->settled = p->fate == Fate::kCompleted && (p->index < kFixedCount || settle_chance);
  if (p->fate == Fate::kCancelledBeforeApproval) d.cancel = d.reg + rng->Range(20, 45);
  if (p->fate == Fate::kCancelledAfterApproval) d.cancel = d.t1 + rng->Range(30, 50);
  const std::string& region = p->street->region;
  p->consent_bp = uint32_t(std::min<int64_t>(10000, w.ConsentMin(region) + rng->Range(150, 1500)));
  p->satisfaction_bp =
      uint32_t(std::min<int64_t>(10000, w.SatisfactionMin(region) + rng->Range(200, 1500)));
  p->settlement_cut_bp = uint32_t(rng->Range(0, 300));
}

void PlanSize(Rng* rng, ProjectPlan* p) {
  bool pilot = p->street->spec->pilot;
  p->compounds = uint32_t(pilot ? rng->Range(3, 6) : rng->Range(1, 4));
  p->households = uint32_t(pilot ? rng->Range(600, 2000) : rng->Range(120, 900));
  p->buildings = std::max<uint32_t>(p->compounds, p->households / uint32_t(rng->Range(18, 36)));
  p->floor_area_m2 = uint64_t(p->households) * uint64_t(rng->Range(55, 88));
  p->built_year = uint32_t(rng->Range(1976, 1999));
}

void AddItem(ProjectPlan* p, const char* key, uint64_t cost_fen, uint32_t units = 0) {
  PlannedItem item;
  item.spec = &demo::DemoItem(key);
  item.cost_fen = cost_fen;
  item.units = units;
  p->items.push_back(item);
}

// Costs follow the seeds: basic work about 1.5..2.5万元 per household (Xiangtan: 5.29亿元 for
// 2.6万 households), elevators 55..68万元 each, design 3% and supervision 2.5% of the works.
void PlanItems(const World& w, Rng* rng, ProjectPlan* p) {
  const uint64_t h = p->households, floor = p->floor_area_m2;
  auto yuan = [](int64_t v) { return RoundHundreds(uint64_t(v) * kYuan); };
  AddItem(p, "pipe_network", yuan(int64_t(h) * rng->Range(3000, 6000)));
  AddItem(p, "roof", yuan(int64_t(floor / 6) * rng->Range(120, 180)));
  AddItem(p, "exterior_wall", yuan(int64_t(floor) * rng->Range(35, 80)));
  AddItem(p, "road", yuan(int64_t(h) * rng->Range(1500, 3000)));
  if (rng->Chance(70)) AddItem(p, "lighting", yuan(int64_t(h) * rng->Range(300, 700)));
  if (rng->Chance(70)) AddItem(p, "security", yuan(int64_t(h) * rng->Range(500, 1200)));
  if (rng->Chance(50)) AddItem(p, "greening", yuan(int64_t(h) * rng->Range(400, 1000)));
  if (p->features.elevator) {
    // One elevator serves one stairwell of 12..18 households.
    int64_t most = std::max<int64_t>(1, std::min<int64_t>({p->buildings, 12, int64_t(h / 40)}));
    uint32_t units = uint32_t(rng->Range(1, most));
    uint64_t each = yuan(rng->Range(550000, 680000));
    uint64_t cap = w.UnitCap(p->street->region, "elevator");
    uint64_t subsidy = yuan(rng->Range(150000, 350000));
    if (cap != 0) subsidy = std::min(subsidy, cap);
    AddItem(p, "elevator", each * units, units);
    p->elevator_resident_fen = (each - subsidy) * units;
  }
  if (rng->Chance(50)) AddItem(p, "parking", yuan(int64_t(h) * rng->Range(800, 2000)));
  if (rng->Chance(40)) {
    uint32_t points = uint32_t(rng->Range(10, 40));
    AddItem(p, "ev_charging", yuan(rng->Range(3000, 6000)) / 10000 * 10000 * points, points);
  }
  if (rng->Chance(30)) AddItem(p, "energy_retrofit", yuan(int64_t(floor) * rng->Range(60, 110)));
  // Facilities for the elderly and children, and a neighbourhood centre, where the compounds
  // are large enough to need them.
  if (h >= 300 && rng->Chance(40)) {
    AddItem(p, "elderly_care", yuan(int64_t(h) * rng->Range(1500, 3000)));
  }
  if (h >= 500 && rng->Chance(25)) {
    AddItem(p, "childcare", yuan(int64_t(h) * rng->Range(800, 2000)));
  }
  if (p->street->spec->pilot) {
    AddItem(p, "community_centre", yuan(rng->Range(3000000, 12000000)));
  } else if (h >= 500 && rng->Chance(15)) {
    AddItem(p, "community_centre", yuan(int64_t(h) * rng->Range(2500, 6000)));
  }
  if (p->street->district->mix == demo::Mix::kZhanhe) {
    // 0.3 元 per m² and month, for three years (平湛政办〔2020〕10号).
    AddItem(p, "property_subsidy", floor * 30 * 36);
  }
  uint64_t works = 0;
  for (const auto& item : p->items) works += item.cost_fen;
  AddItem(p, "design", RoundHundreds(ShareBp(works, 300)));
  AddItem(p, "supervision", RoundHundreds(ShareBp(works, 250)));
}

uint64_t TotalCost(const ProjectPlan& p) {
  uint64_t total = 0;
  for (const auto& item : p.items) total += item.cost_fen;
  return total;
}

PlannedItem* FindItem(ProjectPlan* p, std::string_view key) {
  for (auto& item : p->items) {
    if (key == item.spec->key) return &item;
  }
  return nullptr;
}

Part ResidentPart(const ProjectPlan& p, const World& w, const char* channel, uint64_t amount_fen,
                  uint32_t households, std::string memo) {
  Part part;
  part.category = demo::kResident;
  part.source = &w.org(p.street->spec->residents);
  part.channel = channel;
  part.amount_fen = amount_fen;
  part.households = std::max<uint32_t>(1, std::min(households, p.households));
  part.memo = std::move(memo);
  return part;
}

// Residents pay through every channel the Hunan notice lists: their own money, provident fund,
// maintenance fund, ceded public revenue, donations and valued labour.
void PlanResidents(const World& w, Rng* rng, ProjectPlan* p) {
  bool all = p->features.all_channels;
  const uint32_t h = p->households;
  if (p->elevator_resident_fen > 0) {
    uint64_t fund = RoundYuan(ShareBp(p->elevator_resident_fen, 4000));
    uint32_t served = uint32_t(FindItem(p, "elevator")->units * rng->Range(8, 16));
    p->parts.push_back(ResidentPart(*p, w, "provident_fund", fund, served / 2,
                                    "加装电梯居民分摊（提取住房公积金）"));
    p->parts.push_back(ResidentPart(*p, w, "transfer", p->elevator_resident_fen - fund, served,
                                    "加装电梯居民分摊（直接出资）"));
  }
  uint32_t paying = uint32_t(h * rng->Range(80, 95) / 100);
  p->parts.push_back(ResidentPart(*p, w, "transfer",
                                  uint64_t(paying) * rng->Range(200, 600) * kYuan, paying,
                                  "居民自筹改造资金（按户出资）"));
  if (p->street->district->mix == demo::Mix::kGulou) {
    int64_t rate = rng->Range(5, 8);
    p->parts.push_back(ResidentPart(
        *p, w, "maintenance_fund", p->floor_area_m2 * uint64_t(rate) * kYuan, h * 96 / 100,
        "老旧小区共建基金（按房屋面积每平方米" + std::to_string(rate) + "元一次性缴存）"));
  } else if (all || rng->Chance(50)) {
    p->parts.push_back(ResidentPart(*p, w, "maintenance_fund",
                                    p->floor_area_m2 * uint64_t(rng->Range(2, 6)) * kYuan,
                                    h * 90 / 100, "使用住宅专项维修资金（屋面防水、外墙）"));
  }
  if (all || p->street->spec->pilot || rng->Chance(40)) {
    p->parts.push_back(ResidentPart(*p, w, "public_revenue",
                                    uint64_t(rng->Range(3, 20)) * 10000 * kYuan, h,
                                    "让渡小区公共收益（停车、广告收益）"));
  }
  if (all || rng->Chance(40)) {
    int64_t donors = rng->Range(1, 3);
    for (int64_t i = 0; i < donors; ++i) {
      Part gift = ResidentPart(*p, w, "donation", uint64_t(rng->Range(20, 200)) * 100 * kYuan, 1,
                               "居民自愿捐赠");
      gift.individual = true;
      p->parts.push_back(gift);
    }
  }
  if (all || rng->Chance(40)) {
    Part labour = ResidentPart(*p, w, "in_kind_labour", uint64_t(rng->Range(2, 8)) * 10000 * kYuan,
                               uint32_t(rng->Range(20, 60)), "居民投工投劳折价（清运、绿化养护）");
    AddItem(p, "in_kind_labour", labour.amount_fen);
    labour.item = int(p->items.size() - 1);
    p->items.back().part = int(p->parts.size());
    p->items.back().payee = labour.source;
    p->parts.push_back(labour);
  }
}

// Utilities: 600 元 per household in Xiangtan (四网合一), about 37% in Baoding, a share of the
// budget elsewhere; one of them may do its own pipe work, valued, instead of paying.
void PlanUtilities(const World& w, Rng* rng, uint64_t total, ProjectPlan* p) {
  const auto& utilities = w.city_orgs(p->street->city).utilities;
  demo::Mix mix = p->street->district->mix;
  std::vector<uint64_t> amounts(utilities.size());
  std::string memo = "管线专营单位出资";
  if (mix == demo::Mix::kXiangtan || mix == demo::Mix::kXiangtanPilot) {
    static constexpr uint64_t kPerHousehold[] = {250, 150, 120, 80};  // power, water, gas, telecom
    for (size_t i = 0; i < amounts.size(); ++i) {
      amounts[i] = p->households * kPerHousehold[i] * kYuan;
    }
    memo = "四网合一管线改造管线单位出资（按600元/户）";
  } else {
    int64_t bp = mix == demo::Mix::kBaoding       ? rng->Range(3500, 3900)
                 : mix == demo::Mix::kYongchuan   ? rng->Range(1200, 1500)
                 : mix == demo::Mix::kZhanhe      ? rng->Range(600, 1000)
                 : mix == demo::Mix::kShijingshan ? 500
                 : mix == demo::Mix::kGulou       ? 400
                 : mix == demo::Mix::kXuchang     ? 300
                                                  : 200;
    uint64_t share = ShareBp(total, uint64_t(bp)), weights = 0;
    std::vector<uint64_t> weight(utilities.size());
    for (auto& x : weight) weights += (x = uint64_t(rng->Range(1, 3)));
    for (size_t i = 0; i < amounts.size(); ++i) {
      amounts[i] = RoundHundreds(share * weight[i] / weights);
    }
    if (mix == demo::Mix::kBaoding) {
      memo = "管线专营单位出资（水暖电气信同步改造，负责管线设施迁移更换）";
    }
    if (mix == demo::Mix::kZhanhe) memo = "专业经营单位承担管线规整和仪表箱体刷新费用";
  }
  size_t smallest = size_t(std::min_element(amounts.begin(), amounts.end()) - amounts.begin());
  PlannedItem* pipe = FindItem(p, "pipe_network");
  bool in_kind = p->features.in_kind_works && amounts[smallest] * 10 <= pipe->cost_fen * 6;
  for (size_t i = 0; i < amounts.size(); ++i) {
    if (amounts[i] == 0) continue;
    Part part;
    part.category = demo::kUtility;
    part.source = utilities[i];
    part.amount_fen = amounts[i];
    part.memo = memo;
    if (in_kind && i == smallest) {
      part.channel = "in_kind_works";
      part.memo = "管线单位自行实施管线迁改（按审定造价折价计入）";
      pipe->cost_fen -= amounts[i];
      AddItem(p, "in_kind_pipe", amounts[i]);
      part.item = int(p->items.size() - 1);
      p->items.back().part = int(p->parts.size());
      p->items.back().payee = part.source;
      pipe = FindItem(p, "pipe_network");
    }
    p->parts.push_back(part);
  }
}

void PlanEnterprise(const World& w, Rng* rng, uint64_t total, ProjectPlan* p) {
  const auto& enterprises = w.city_orgs(p->street->city).enterprises;
  demo::Mix mix = p->street->district->mix;
  int percent = mix == demo::Mix::kXiangtan || mix == demo::Mix::kXiangtanPilot ? 40
                : mix == demo::Mix::kXuchang                                    ? 60
                : mix == demo::Mix::kZhanhe || mix == demo::Mix::kShijingshan   ? 50
                                                                                : 30;
  bool chance = rng->Chance(percent);
  if (enterprises.empty() || !chance) return;
  Part part;
  part.category = demo::kEnterprise;
  part.source = rng->Pick(enterprises);
  part.amount_fen = RoundHundreds(ShareBp(total, uint64_t(rng->Range(200, 800))));
  if (std::string_view(part.source->id) == "xc-renfang") {
    part.amount_fen = std::min<uint64_t>(part.amount_fen, 1000000 * kYuan);  // 人防办出资100万元
  }
  if (std::string_view(part.source->id) == "yz-jixie" && mix != demo::Mix::kYuzhou) return;
  part.channel = rng->Chance(70) ? "transfer" : "donation";
  part.memo = "原产权单位出资（三供一业及家属区改造）";
  p->parts.push_back(part);
}

Part InvestorPart(const OrgSpec* investor, uint64_t amount_fen, const char* channel,
                  std::string memo) {
  Part part;
  part.category = demo::kSocialCapital;
  part.source = investor;
  part.channel = channel;
  part.amount_fen = amount_fen;
  part.memo = std::move(memo);
  part.pledged = true;
  return part;
}

// Social capital: matched 1:1 against government money in Xiangtan's pilot areas; the 鲁谷 model
// in Shijingshan; a development bank's loan in Gulou; occasional investors elsewhere.
void PlanSocialCapital(const World& w, Rng* rng, uint64_t total, ProjectPlan* p) {
  const auto& investors = w.city_orgs(p->street->city).investors;
  demo::Mix mix = p->street->district->mix;
  if (investors.empty()) return;
  uint64_t others = 0;
  for (const auto& part : p->parts) others += part.amount_fen;
  size_t first = p->parts.size();
  if (p->street->spec->pilot) {
    uint64_t match = RoundYuan((total - others) / 2 + kYuan);
    uint64_t lead = RoundYuan(ShareBp(match, 6000));
    const OrgSpec* a = rng->Pick(investors);
    const OrgSpec* b = rng->Pick(investors);
    p->parts.push_back(InvestorPart(a, lead, "transfer", "社会资本投资（四标合一，按1:1配比）"));
    p->parts.push_back(InvestorPart(b == a ? investors[0] == a ? investors[1] : investors[0] : b,
                                    match - lead, "transfer",
                                    "社会资本投资（四标合一，按1:1配比）"));
  } else if (mix == demo::Mix::kGulou) {
    uint64_t room = 0;
    for (const auto& item : p->items) {
      if (item.spec->work != demo::kBasic && item.part < 0) room += item.cost_fen;
    }
    uint64_t loan = std::min(RoundHundreds(ShareBp(total, uint64_t(rng->Range(800, 1400)))),
                             RoundHundreds(ShareBp(room, 5000)));
    uint64_t equity = std::min(RoundHundreds(ShareBp(total, uint64_t(rng->Range(300, 600)))),
                               RoundHundreds(ShareBp(room, 2500)));
    if (loan > 0) {
      p->parts.push_back(
          InvestorPart(&w.org("fz-cdb"), loan, "loan", "项目贷款（投融资+建设+运营，运营期25年）"));
    }
    if (equity > 0) {
      p->parts.push_back(
          InvestorPart(&w.org("fz-yuanqu"), equity, "transfer", "实施运营主体资本金投入"));
    }
  } else {
    int percent = mix == demo::Mix::kShijingshan                             ? 80
                  : mix == demo::Mix::kXiangtan || mix == demo::Mix::kZhanhe ? 30
                  : mix == demo::Mix::kYuzhou || mix == demo::Mix::kXuchang  ? 20
                                                                             : 0;
    bool chance = rng->Chance(percent);
    if (!chance) return;
    int64_t bp = mix == demo::Mix::kShijingshan ? rng->Range(1500, 2500) : rng->Range(500, 1200);
    p->parts.push_back(
        InvestorPart(rng->Pick(investors), RoundHundreds(ShareBp(total, uint64_t(bp))), "transfer",
                     mix == demo::Mix::kShijingshan ? "社会资本投资（投资+建设+运营一体化招标）"
                                                    : "社会资本投资（微利可持续，运营收益回收）"));
  }
  for (size_t i = first; i < p->parts.size(); ++i) {
    Part& part = p->parts[i];
    part.pledge_by_bureau = rng->Chance(50) || (p->features.reverse_pledge && i == first);
    bool full = p->street->spec->pilot || rng->Chance(75);
    part.fulfil_bp = full ? 10000 : uint32_t(rng->Range(6000, 9500));
  }
}

// Government money fills what the other sources leave of the budget, split between the levels
// as each region's documents say (Yuzhou: municipal and county money about 60% of the whole).
std::array<uint64_t, kCategoryCount> FundingTargets(const ProjectPlan& p, uint64_t total,
                                                    Rng* rng) {
  std::array<uint64_t, kCategoryCount> t{};
  uint64_t others = 0;
  for (const auto& part : p.parts) {
    t[size_t(part.category)] += part.amount_fen;
    others += part.amount_fen;
  }
  if (others >= total) std::abort();  // the mixes leave government a share; a bug otherwise
  uint64_t g = total - others;
  demo::Mix mix = p.street->district->mix;
  if (mix == demo::Mix::kYuzhou) {
    uint64_t local = std::min(g, RoundYuan(ShareBp(total, uint64_t(rng->Range(5800, 6200)))));
    t[demo::kMunicipal] = RoundYuan(ShareBp(local, 2500));
    t[demo::kDistrict] = local - t[demo::kMunicipal];
    t[demo::kCentral] = RoundYuan(ShareBp(g - local, 7500));
    t[demo::kProvincial] = g - local - t[demo::kCentral];
    return t;
  }
  std::array<uint64_t, 3> bp{};  // central, provincial, municipal; the district takes the rest
  switch (mix) {
    case demo::Mix::kShijingshan:
      bp = {3500, 4500, 0};
      break;
    case demo::Mix::kYongchuan:
      bp = {5000, 2000, 0};
      break;
    case demo::Mix::kZhanhe:
      bp = {5000, 1200, 1300};
      break;
    case demo::Mix::kGulou:
      bp = {4000, 1500, 2000};
      break;
    case demo::Mix::kXiangtan:
    case demo::Mix::kXiangtanPilot:
      bp = {4500, 1500, 2000};
      break;
    default:
      bp = {5000, 1500, 1500};
      break;
  }
  uint64_t assigned = 0;
  for (int c = 0; c < 3; ++c) assigned += (t[size_t(c)] = RoundYuan(ShareBp(g, bp[size_t(c)])));
  t[demo::kDistrict] = g - assigned;
  return t;
}

// Which category pays for which item. In-kind items are paid by their contribution; elevators
// by residents up to their share and then by government (so that government money per elevator
// stays within the subsidy cap); enhancement work by money that may pay for it; pipes by the
// utilities first; the rest by government first. Money left over where the rules allow it
// nowhere is dropped from the plan (government) or from the contributions (others), and work
// left unfunded falls to the district: the funding plan is what this assigns, so it always
// equals the budget.
void Assign(const World& w, std::array<uint64_t, kCategoryCount> left, ProjectPlan* p) {
  const std::string& region = p->street->region;
  std::vector<uint64_t> open;
  for (auto& item : p->items) open.push_back(item.cost_fen);
  auto fill = [&](size_t i, std::initializer_list<int> prefs, int capped = -1, uint64_t cap = 0) {
    PlannedItem& item = p->items[i];
    for (int c : prefs) {
      if (open[i] == 0) break;
      if (!w.Allowed(region, c, item.spec->work)) continue;
      uint64_t take = std::min(open[i], left[size_t(c)]);
      if (c == capped) take = std::min(take, cap);
      item.funded[size_t(c)] += take;
      left[size_t(c)] -= take;
      open[i] -= take;
    }
  };
  for (size_t i = 0; i < p->items.size(); ++i) {
    if (p->items[i].part >= 0) fill(i, {p->parts[size_t(p->items[i].part)].category});
  }
  for (size_t i = 0; i < p->items.size(); ++i) {
    if (std::string_view(p->items[i].spec->key) != "elevator") continue;
    fill(i, {kResident}, kResident, p->elevator_resident_fen);
    fill(i, {kCentral, kProvincial, kMunicipal, kDistrict, kSocialCapital, kEnterprise, kUtility});
  }
  for (size_t i = 0; i < p->items.size(); ++i) {
    if (p->items[i].spec->work == kEnhancement) {
      fill(i, {kSocialCapital, kEnterprise, kDistrict, kMunicipal, kResident, kUtility});
    }
  }
  for (size_t i = 0; i < p->items.size(); ++i) {
    if (std::string_view(p->items[i].spec->key) == "pipe_network") {
      fill(i, {kUtility, kCentral, kProvincial, kMunicipal, kDistrict, kEnterprise, kSocialCapital,
               kResident});
    }
  }
  // Design and supervision first, so that government money pays the professional fees.
  for (bool fees : {true, false}) {
    for (size_t i = 0; i < p->items.size(); ++i) {
      demo::Scheme scheme = p->items[i].spec->scheme;
      if (fees != (scheme == Scheme::kDesign || scheme == Scheme::kSupervision)) continue;
      fill(i, {kCentral, kProvincial, kMunicipal, kDistrict, kEnterprise, kSocialCapital, kUtility,
               kResident});
    }
  }
  for (size_t i = 0; i < p->items.size(); ++i) {
    if (!w.Allowed(region, kDistrict, p->items[i].spec->work)) std::abort();
    p->items[i].funded[kDistrict] += open[i];
  }
  for (size_t j = p->parts.size(); j-- > 0;) {
    Part& part = p->parts[j];
    uint64_t cut = std::min(part.item < 0 ? part.amount_fen : 0, left[size_t(part.category)]);
    part.amount_fen -= cut;
    left[size_t(part.category)] -= cut;
  }
  p->plan = {};
  for (const auto& item : p->items) {
    for (int c = 0; c < kCategoryCount; ++c) p->plan[size_t(c)] += item.funded[size_t(c)];
  }
}

// The contractors: one general contractor for the works (a second one may build the
// enhancement facilities), and the city's designer, supervisor, elevator installer and
// property manager; none that is revoked before the project's last payment is acknowledged.
void PlanPayees(const World& w, Rng* rng, ProjectPlan* p) {
  const CityOrgs& orgs = w.city_orgs(p->street->city);
  auto hire = [&](const std::string& role) -> const OrgSpec* {
    std::vector<const OrgSpec*> eligible;
    for (const OrgSpec* org : orgs.contractors.at(role)) {
      int64_t revoked = w.revoked_day(org->id);
      if (revoked == 0 || p->days.settle + 120 < revoked) eligible.push_back(org);
    }
    return rng->Pick(eligible);
  };
  const OrgSpec* builder = hire("builder");
  const OrgSpec* facilities = hire("builder");
  std::map<const void*, int> contracts;
  for (auto& item : p->items) {
    std::string role = item.spec->role;
    if (item.part >= 0) {
      // paid to its contributor, set by the plan of the contribution
    } else if (role == "landscaper") {
      item.unregistered = &p->street->city->payees.front();
    } else if (role == "builder") {
      item.payee = item.spec->work == demo::kEnhancement ? facilities : builder;
    } else {
      item.payee = hire(role);
    }
    const void* who = item.unregistered ? static_cast<const void*>(item.unregistered)
                                        : static_cast<const void*>(item.payee);
    item.contract = contracts.emplace(who, int(contracts.size()) + 1).first->second;
  }
}

ProjectPlan BuildPlan(const World& w, uint32_t index) {
  Rng rng(DemoHash(w.seed(), Cat({"project-", std::to_string(index)})));
  ProjectPlan p;
  p.index = index;
  PlanPlace(w, &rng, &p);
  PlanDates(w, &rng, &p);
  PlanSize(&rng, &p);
  PlanItems(w, &rng, &p);
  PlanResidents(w, &rng, &p);
  uint64_t total = TotalCost(p);
  PlanUtilities(w, &rng, total, &p);
  PlanEnterprise(w, &rng, total, &p);
  PlanSocialCapital(w, &rng, total, &p);
  Assign(w, FundingTargets(p, total, &rng), &p);
  PlanPayees(w, &rng, &p);
  return p;
}

// Numbers projects within their district and year in order of registration, gives each its
// compounds, picks the project a duplicate registration repeats, and sums the government money
// each district needs each year. Returns the needs by year.
std::map<int, Needs> PrepareProjects(World* w, const std::function<void(uint32_t)>& progress) {
  auto& cores = w->mutable_cores();
  std::map<int, Needs> needs;
  for (uint32_t i = 0; i < cores.size(); ++i) {
    ProjectPlan plan = BuildPlan(*w, i);
    ProjectCore& core = cores[i];
    core.street = uint32_t(plan.street - w->streets().data());
    core.year = plan.year;
    core.reg_day = plan.days.reg;
    core.fate = plan.fate;
    core.compound_count = plan.compounds;
    for (int c = 0; c < kGovernmentCategoryCount; ++c) {
      core.government[size_t(c)] = plan.plan[size_t(c)];
    }
    if (plan.fate != Fate::kCancelledBeforeApproval) {
      auto& need = needs[plan.year][plan.street->district];
      for (int c = 0; c < kGovernmentCategoryCount; ++c) need[size_t(c)] += plan.plan[size_t(c)];
    }
    if (i % 1024 == 0) progress(i);
  }
  std::vector<uint32_t> order(cores.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return cores[a].reg_day != cores[b].reg_day ? cores[a].reg_day < cores[b].reg_day : a < b;
  });
  std::map<std::pair<const void*, int>, uint32_t> seq;
  std::map<const void*, uint32_t> compounds;
  std::map<const void*, int64_t> last_live;
  for (uint32_t i : order) {
    ProjectCore& core = cores[i];
    const Street& street = w->streets()[core.street];
    core.seq = ++seq[{street.district, core.year}];
    core.compound_first = compounds[street.city];
    compounds[street.city] += core.compound_count;
    auto live = last_live.find(street.district);
    if (core.fate == Fate::kCancelledBeforeApproval) {
      if (live != last_live.end() && i % 2 == 0) core.duplicate_of = live->second;
    } else {
      last_live[street.district] = i;
    }
  }
  return needs;
}

// ---- one project's story ----

class ProjectSource : public StagedSource {
 public:
  ProjectSource(const World* world, uint32_t index);

 protected:
  bool BuildStage(int stage) override;

 private:
  std::string Id(std::string_view suffix) const { return id_ + "." + std::string(suffix); }
  void Name();
  json Registered(bool preliminary) const;
  void AddStatus(int64_t day, const char* status, std::string memo);

  void StageRegistration();
  void StageApproval();
  void StageCancellation();
  void StageWorks();
  void StageCompletion();
  void StageSettlement();

  void AddPledge(size_t part);
  void AddAllocations(int64_t day, int tranche);
  void AddAllocation(int64_t day, int category, uint64_t amount_fen, const std::string& suffix,
                     const std::string& memo);
  void AddReceipt(int64_t day, size_t part, uint64_t amount_fen, const std::string& suffix);
  void AddDuplicateReceipt(int64_t day, size_t part);
  void AddInstalments(int64_t from, int64_t to, demo::Scheme scheme, uint32_t cum_bp, bool final,
                      const char* name);
  void AddInKind(int64_t from, int64_t to, size_t part);
  void AddRefunds(int64_t day, const std::string& memo);
  void AddPaymentStories(const std::string& payment, int64_t day, size_t item,
                         const std::string& memo, std::vector<Draft>* later);

  bool Pay(Draft* d, std::vector<Draft>* later, size_t item, int category, uint64_t target_fen,
           const std::string& memo);
  bool PayWrongPayee(Draft* d, size_t item, int category, uint64_t target_fen,
                     const std::string& memo);
  json Disbursement(const std::string& id, int64_t day, size_t item, int category,
                    uint64_t amount_fen, const OrgSpec* payee, const std::string& memo);
  Draft FindingDraft(int64_t day, const std::string& auditor, const std::string& finding,
                     const std::vector<std::string>& targets, const char* severity,
                     const std::string& text) const;
  const char* PickAuditor();
  std::string RefundTo(int category) const;
  std::string ContributorRef(uint32_t household) const;
  std::string InvoiceRef(int64_t day);
  std::string NextFinding() { return Id(Cat({"F", std::to_string(++findings_)})); }

  const World* w_;
  ProjectPlan p_;
  const ProjectCore& core_;
  const Street& street_;
  std::string id_, name_;
  std::vector<std::string> compounds_;
  const char* finance_;
  const char* housing_;
  const char* office_;
  Rng rng_;
  std::array<uint64_t, kCategoryCount> balance_{};  // what the project holds, by category
  // Money a pending reversal will take back (or that a reversed payment will bring back only
  // then): payments do not spend it.
  std::array<uint64_t, kCategoryCount> held_{};
  std::array<uint64_t, kGovernmentCategoryCount> allocated_{};
  std::vector<std::string> pledge_ids_;                     // by part
  std::vector<uint64_t> received_;                          // by part
  std::vector<std::array<uint64_t, kCategoryCount>> paid_;  // by item
  std::vector<std::string> refund_ids_;
  std::string settled_id_;
  int payments_ = 0, receipts_ = 0, findings_ = 0;
  bool papers_story_done_ = false, unacked_story_done_ = false, progress_story_done_ = false;
  bool wrong_payee_done_ = false, wrong_pledge_done_ = false;
};

ProjectSource::ProjectSource(const World* world, uint32_t index)
    : w_(world),
      p_(BuildPlan(*world, index)),
      core_(world->core(index)),
      street_(*p_.street),
      finance_(street_.district->finance),
      housing_(street_.district->housing),
      office_(street_.spec->office),
      rng_(DemoHash(world->seed(), Cat({"story-", std::to_string(index)}))) {
  pledge_ids_.resize(p_.parts.size());
  received_.resize(p_.parts.size());
  paid_.resize(p_.items.size());
  Name();
}

void ProjectSource::Name() {
  std::string_view district = street_.district->region;
  district = district.substr(district.rfind('/') + 1);
  char seq[16];
  snprintf(seq, sizeof(seq), "%04u", core_.seq);
  id_ = std::string(district) + "-" + std::to_string(p_.year) + "-" + seq;
  for (uint32_t k = 0; k < core_.compound_count; ++k) {
    compounds_.push_back(w_->CompoundName(street_.city, core_.compound_first + k));
  }
  if (core_.duplicate_of >= 0) {
    const ProjectCore& other = w_->core(uint32_t(core_.duplicate_of));
    compounds_[0] = w_->CompoundName(street_.city, other.compound_first);
  }
  std::string more =
      compounds_.size() > 1 ? "等" + std::to_string(compounds_.size()) + "个小区" : std::string();
  if (street_.spec->pilot) {
    name_ = std::string(street_.spec->name) + "美好社区建设项目（" + compounds_[0] + more + "）";
  } else {
    name_ = std::string(street_.district->name) + street_.spec->name + compounds_[0] + more +
            "老旧小区改造项目";
  }
}

json ProjectSource::Registered(bool preliminary) const {
  std::array<uint64_t, demo::kWorkCount> budget{};
  for (const auto& item : p_.items) budget[size_t(item.spec->work)] += item.cost_fen;
  std::array<uint64_t, kCategoryCount> plan = p_.plan;
  if (preliminary) {
    // The feasibility estimate (概算) before the construction drawings' budget (预算).
    uint64_t bp = 9200, budget_sum = 0, plan_sum = 0;
    for (auto& b : budget) budget_sum += (b = RoundYuan(ShareBp(b, bp)));
    for (auto& c : plan) plan_sum += (c = RoundYuan(ShareBp(c, bp)));
    budget[demo::kBasic] += plan_sum - budget_sum;  // both are rounded down: the plan is exact
  }
  json funding = json::array();
  for (int c = 0; c < kCategoryCount; ++c) {
    if (plan[size_t(c)] > 0) {
      funding.push_back({{"category", kCategoryNames[c]}, {"amount_fen", plan[size_t(c)]}});
    }
  }
  return {{"project", id_},
          {"budget",
           {{"basic_fen", budget[demo::kBasic]},
            {"improvement_fen", budget[demo::kImprovement]},
            {"enhancement_fen", budget[demo::kEnhancement]}}},
          {"funding_plan", funding}};
}

void ProjectSource::AddStatus(int64_t day, const char* status, std::string memo) {
  Add(day, [this, status, memo](Draft* d, std::vector<Draft>*) {
    d->signer = housing_;
    d->event = StatusChange(Id(status), id_, status);
    d->event["memo"] = memo;
    if (std::string_view(status) == "approved") {
      d->event["consent_bp"] = p_.consent_bp;
      d->doc_prefix = street_.district->housing_doc;
    }
    if (std::string_view(status) == "completed") d->event["satisfaction_bp"] = p_.satisfaction_bp;
    if (std::string_view(status) == "settled") {
      d->doc_prefix = street_.district->housing_doc;
      settled_id_ = Id(status);
    }
    return true;
  });
}

bool ProjectSource::BuildStage(int stage) {
  bool cancelled_before = p_.fate == Fate::kCancelledBeforeApproval;
  bool cancelled_after = p_.fate == Fate::kCancelledAfterApproval;
  switch (stage) {
    case 0:
      StageRegistration();
      return true;
    case 1:
      if (cancelled_before) return false;
      StageApproval();
      return true;
    case 2:
      if (cancelled_after) {
        StageCancellation();
      } else {
        StageWorks();
      }
      return true;
    case 3:
      if (cancelled_after) return false;
      StageCompletion();
      return true;
    case 4:
      if (!p_.settled) return false;
      StageSettlement();
      return true;
    default:
      return false;
  }
}

std::string ProjectId(const World& w, const ProjectCore& core) {
  std::string_view district = w.streets()[core.street].district->region;
  district = district.substr(district.rfind('/') + 1);
  char seq[16];
  snprintf(seq, sizeof(seq), "%04u", core.seq);
  return std::string(district) + "-" + std::to_string(core.year) + "-" + seq;
}

std::string Percent(uint32_t bp) {
  char text[16];
  snprintf(text, sizeof(text), "%.2f%%", bp / 100.0);
  return text;
}

void ProjectSource::StageRegistration() {
  const Milestones& d = p_.days;
  Add(d.reg, [this](Draft* e, std::vector<Draft>*) {
    e->signer = housing_;
    json reg = Registered(p_.features.revise);
    e->event = {{"id", Id("reg")},
                {"type", "project_registered"},
                {"memo", std::to_string(p_.year) + "年度城镇老旧小区改造计划项目；" +
                             std::to_string(p_.built_year) + "年建成，" +
                             std::to_string(p_.buildings) + "栋" + std::to_string(p_.households) +
                             "户，建筑面积" + std::to_string(p_.floor_area_m2) + "平方米"},
                {"project", id_},
                {"name", name_},
                {"region", street_.region},
                {"compounds", compounds_},
                {"households", p_.households},
                {"buildings", p_.buildings},
                {"floor_area_m2", p_.floor_area_m2},
                {"built_year", p_.built_year},
                {"budget", reg["budget"]},
                {"funding_plan", reg["funding_plan"]}};
    e->doc_prefix = street_.district->housing_doc;
    return true;
  });
  if (p_.features.revise) {
    Add(d.reg + rng_.Range(10, 20), [this](Draft* e, std::vector<Draft>*) {
      e->signer = housing_;
      json revised = Registered(false);
      e->event = {{"id", Id("revised")},
                  {"type", "project_revised"},
                  {"memo", "根据施工图预算调整项目总投资（原为可研概算）"},
                  {"project", id_},
                  {"budget", revised["budget"]},
                  {"funding_plan", revised["funding_plan"]}};
      return true;
    });
  }
  if (p_.fate != Fate::kCancelledBeforeApproval) {
    for (size_t i = 0; i < p_.parts.size(); ++i) {
      if (p_.parts[i].pledged && p_.parts[i].amount_fen > 0) AddPledge(i);
    }
    return;
  }
  if (core_.duplicate_of < 0) {
    AddStatus(d.cancel, "cancelled",
              "征求意见阶段居民同意率为" + Percent(uint32_t(rng_.Range(4500, 6400))) +
                  "，未达到三分之二，项目终止");
    return;
  }
  std::string other = ProjectId(*w_, w_->core(uint32_t(core_.duplicate_of)));
  std::string auditor = PickAuditor(), finding = NextFinding();
  Add(d.reg + rng_.Range(8, 15), [=, this](Draft* e, std::vector<Draft>*) {
    *e = FindingDraft(e->day, auditor, finding, {other + ".reg", Id("reg")}, "major",
                      "重复立项：" + compounds_[0] + "已列入" + other +
                          "项目改造范围，同一小区不得重复申报改造补助资金");
    return true;
  });
  AddStatus(d.cancel, "cancelled", "因与" + other + "项目重复立项，撤销本项目");
  Add(d.cancel, [=, this](Draft* e, std::vector<Draft>* later) {
    // Runs after the cancellation (same day, added later): the resolution follows it.
    Draft resolved;
    resolved.day = e->day + rng_.Range(3, 15);
    resolved.signer = auditor;
    resolved.event = Resolved(finding, "重复立项项目已撤销，未拨付资金，问题已整改");
    later->push_back(std::move(resolved));
    return false;
  });
}

void ProjectSource::AddPledge(size_t i) {
  const Part& part = p_.parts[i];
  int64_t day = p_.days.reg + rng_.Range(3, 15);
  std::string signer = part.pledge_by_bureau ? finance_ : part.source->id;
  std::string id = Id(Cat({"pledge-", std::to_string(i + 1)}));
  bool wrong_first = p_.features.reverse_pledge && part.pledge_by_bureau && !wrong_pledge_done_;
  wrong_pledge_done_ = wrong_pledge_done_ || wrong_first;
  auto pledge = [this, i, signer](const std::string& pledge_id, uint64_t amount, bool ack) {
    return [this, i, signer, pledge_id, amount, ack](Draft* e, std::vector<Draft>* later) {
      const Part& part = p_.parts[i];
      e->signer = signer;
      e->event = Pledge(pledge_id, id_, part.source->id, part.category, amount);
      e->event["memo"] = "社会资本出资承诺（" + part.memo + "）";
      if (ack && signer != part.source->id) {
        MaybeAck(&rng_, e->day, part.source->id, pledge_id, later);
      }
      return true;
    };
  };
  if (!wrong_first) {
    pledge_ids_[i] = id;
    Add(day, pledge(id, part.amount_fen, true));
    return;
  }
  // Entered with one zero too many, reversed by the bureau, and entered again.
  std::string right = id + "-r";
  pledge_ids_[i] = right;
  Add(day, pledge(id, part.amount_fen * 10, false));
  int64_t fix = day + rng_.Range(2, 5);
  Add(fix, [this, id](Draft* e, std::vector<Draft>*) {
    e->signer = finance_;
    e->event = Reversal(id + ".reversed", id);
    e->event["memo"] = "承诺金额录入错误（多录一位），予以冲正";
    return true;
  });
  Add(fix, pledge(right, part.amount_fen, true));
}

void ProjectSource::StageApproval() {
  const Milestones& d = p_.days;
  bool cancelled = p_.fate == Fate::kCancelledAfterApproval;
  AddStatus(d.approve, "approved",
            "经两轮征询、两轮公示和两级评审，居民同意率" + Percent(p_.consent_bp));
  AddAllocations(d.t1, 1);
  int64_t end = cancelled ? d.cancel - 1 : d.start - 1;
  bool duplicated = false;
  for (size_t i = 0; i < p_.parts.size(); ++i) {
    const Part& part = p_.parts[i];
    if (part.item >= 0 || part.amount_fen == 0) continue;
    bool resident = part.category == demo::kResident;
    int64_t day = rng_.Range(resident ? d.approve + 1 : d.t1, end);
    uint64_t amount = part.amount_fen;
    if (part.category == demo::kSocialCapital) {
      amount = RoundYuan(ShareBp(RoundYuan(ShareBp(part.amount_fen, part.fulfil_bp)), 5000));
    }
    AddReceipt(day, i, amount, Cat({"recv-", std::to_string(i + 1)}));
    if (p_.features.reverse_receipt && resident && !duplicated &&
        std::string_view(part.channel) == "transfer") {
      duplicated = true;
      AddDuplicateReceipt(day, i);
    }
  }
  if (end >= d.t1 + 5) {
    AddInstalments(d.t1 + 5, end, demo::Scheme::kDesign, 6000, false, "费（首付60%）");
  }
  if (cancelled) AddStatus(d.cancel, "cancelled", "因片区规划调整，居民意见未能统一，项目终止实施");
}

void ProjectSource::AddAllocations(int64_t day, int tranche) {
  static constexpr const char* kFunds[kGovernmentCategoryCount] = {
      "中央财政补助资金", "省级补助资金", "市级配套资金", "区（县）级配套资金"};
  bool wrong = tranche == 1 && p_.features.reverse_allocation;
  for (int c = 0; c < kGovernmentCategoryCount; ++c) {
    uint64_t plan = p_.plan[size_t(c)];
    uint64_t amount = tranche == 1 ? RoundYuan(ShareBp(plan, 5000)) : plan - allocated_[size_t(c)];
    if (amount == 0) continue;
    allocated_[size_t(c)] += amount;
    std::string suffix = Cat({"alloc-", kCategoryNames[c], "-", std::to_string(tranche)});
    std::string memo = "拨付" + std::to_string(p_.year) + "年" + kFunds[c] +
                       (tranche == 1 ? "（第一批）" : "（第二批）");
    if (!wrong || amount < 100 * kYuan) {
      AddAllocation(day, c, amount, suffix, memo);
      continue;
    }
    // Entered with one digit too few, reversed, and allocated again.
    wrong = false;
    uint64_t short_fen = RoundYuan(amount / 10);
    std::string bad = Id(suffix + "-x");
    Add(day, [=, this](Draft* e, std::vector<Draft>*) {
      e->signer = finance_;
      e->event = Allocation(bad, finance_, id_, "project", c, short_fen);
      e->event["memo"] = memo;
      e->doc_prefix = street_.district->finance_doc;
      balance_[size_t(c)] += short_fen;
      held_[size_t(c)] += short_fen;
      return true;
    });
    int64_t fix = day + rng_.Range(1, 3);
    Add(fix, [=, this](Draft* e, std::vector<Draft>*) {
      e->signer = finance_;
      e->event = Reversal(bad + ".reversed", bad);
      e->event["memo"] = "拨付金额录入错误（少录一位），予以冲正后重新拨付";
      balance_[size_t(c)] -= short_fen;
      held_[size_t(c)] -= short_fen;
      return true;
    });
    AddAllocation(fix, c, amount, suffix, memo);
  }
}

void ProjectSource::AddAllocation(int64_t day, int c, uint64_t amount_fen,
                                  const std::string& suffix, const std::string& memo) {
  Add(day, [=, this](Draft* e, std::vector<Draft>*) {
    e->signer = finance_;
    e->event = Allocation(Id(suffix), finance_, id_, "project", c, amount_fen);
    e->event["memo"] = memo;
    e->doc_prefix = street_.district->finance_doc;
    balance_[size_t(c)] += amount_fen;
    return true;
  });
}

void ProjectSource::AddReceipt(int64_t day, size_t i, uint64_t amount_fen,
                               const std::string& suffix) {
  Add(day, [=, this](Draft* e, std::vector<Draft>* later) {
    const Part& part = p_.parts[i];
    bool resident = part.category == demo::kResident;
    std::string id = Id(suffix + (received_[i] > 0 ? "-2" : ""));
    e->signer = resident ? office_ : finance_;
    e->event =
        Receipt(id, id_, "project", part.category, part.source->id, part.channel, amount_fen);
    e->event["memo"] = part.memo + (received_[i] > 0 ? "（第二期）" : "");
    if (!pledge_ids_[i].empty()) e->event["pledge"] = pledge_ids_[i];
    if (resident) {
      e->event["households"] = part.households;
      if (part.individual) {
        e->event["contributor_ref"] = ContributorRef(uint32_t(rng_.Range(1, p_.households)));
      }
    }
    e->received_category = part.category;
    e->received_fen = int64_t(amount_fen);
    balance_[size_t(part.category)] += amount_fen;
    received_[i] += amount_fen;
    if (e->signer != part.source->id) MaybeAck(&rng_, e->day, part.source->id, id, later);
    return true;
  });
}

// The same residents' receipt entered twice; the street office reverses the copy.
void ProjectSource::AddDuplicateReceipt(int64_t day, size_t i) {
  int64_t fix = std::min(day + rng_.Range(2, 8), p_.days.start - 1);
  std::string copy = Id("recv-" + std::to_string(i + 1) + "-dup");
  uint64_t amount = p_.parts[i].amount_fen;
  Add(day, [=, this](Draft* e, std::vector<Draft>*) {
    const Part& part = p_.parts[i];
    e->signer = office_;
    e->event = Receipt(copy, id_, "project", part.category, part.source->id, part.channel, amount);
    e->event["memo"] = part.memo;
    e->event["households"] = part.households;
    e->received_category = part.category;
    e->received_fen = int64_t(amount);
    balance_[size_t(part.category)] += amount;
    held_[size_t(part.category)] += amount;
    return true;
  });
  Add(std::max(fix, day), [=, this](Draft* e, std::vector<Draft>*) {
    e->signer = office_;
    e->event = Reversal(copy + ".reversed", copy);
    e->event["memo"] = "同一笔居民出资重复录入，予以冲正";
    e->received_category = demo::kResident;
    e->received_fen = -int64_t(amount);
    balance_[demo::kResident] -= amount;
    held_[demo::kResident] -= amount;
    return true;
  });
}

void ProjectSource::AddInstalments(int64_t from, int64_t to, demo::Scheme scheme, uint32_t cum_bp,
                                   bool final, const char* name) {
  for (size_t i = 0; i < p_.items.size(); ++i) {
    const PlannedItem& item = p_.items[i];
    if (item.spec->scheme != scheme) continue;
    int64_t day = rng_.Range(from, std::max(from, to));
    for (int c = 0; c < kCategoryCount; ++c) {
      if (item.funded[size_t(c)] == 0) continue;
      Add(day, [=, this](Draft* e, std::vector<Draft>* later) {
        const PlannedItem& item = p_.items[i];
        uint64_t funded = item.funded[size_t(c)];
        // Works are settled at the audited price (审减 of up to 3%); the rest stays in the
        // project and goes back when it is settled.
        bool audited = scheme == demo::Scheme::kConstruction || scheme == demo::Scheme::kElevator;
        uint64_t base = audited && (final || cum_bp > 9000)
                            ? funded - RoundYuan(ShareBp(funded, p_.settlement_cut_bp))
                            : funded;
        uint64_t target = final ? base : RoundYuan(ShareBp(base, cum_bp));
        std::string memo = std::string(item.spec->name) + name;
        bool progress = scheme == demo::Scheme::kConstruction && cum_bp == 7000;
        if (progress && p_.features.reverse_payment && !wrong_payee_done_ && item.payee) {
          wrong_payee_done_ = true;
          return PayWrongPayee(e, i, c, target, memo);
        }
        return Pay(e, later, i, c, target, memo);
      });
    }
  }
}

std::string Upper(std::string text) {
  for (char& c : text) c = char(std::toupper(uint8_t(c)));
  return text;
}

json ProjectSource::Disbursement(const std::string& id, int64_t day, size_t i, int category,
                                 uint64_t amount_fen, const OrgSpec* payee,
                                 const std::string& memo) {
  const PlannedItem& item = p_.items[i];
  json to;
  if (payee != nullptr) {
    to = {{"name", payee->name}, {"kind", payee->kind}, {"org", payee->id}};
    if (std::string_view(payee->kind) == "contractor") {
      to["credit_code"] = CreditCode(payee->division, payee->name);
    }
  } else {
    to = {{"name", item.unregistered->name},
          {"kind", "contractor"},
          {"credit_code", CreditCode(item.unregistered->division, item.unregistered->name)}};
  }
  json event = {{"id", id},
                {"type", "funds_disbursed"},
                {"memo", memo},
                {"project", id_},
                {"category", kCategoryNames[category]},
                {"amount_fen", amount_fen},
                {"payee", to},
                {"work", demo::kWorkNames[item.spec->work]},
                {"item", item.spec->slug}};
  if (item.units > 0) event["units"] = item.units;
  char contract[8];
  snprintf(contract, sizeof(contract), "%02d", item.contract);
  event["contract_ref"] = Upper(id_) + "-" + item.spec->contract_code + contract;
  if (item.spec->scheme != demo::Scheme::kInKind) event["invoice_ref"] = InvoiceRef(day);
  return event;
}

bool ProjectSource::Pay(Draft* e, std::vector<Draft>* later, size_t i, int c, uint64_t target_fen,
                        const std::string& memo) {
  const PlannedItem& item = p_.items[i];
  uint64_t& paid = paid_[i][size_t(c)];
  uint64_t available = balance_[size_t(c)] - held_[size_t(c)];
  if (target_fen <= paid || available == 0) return false;
  uint64_t amount = std::min(target_fen - paid, available);
  std::string id = Id(Cat({"pay-", std::to_string(++payments_)}));
  e->signer = finance_;
  e->event = Disbursement(id, e->day, i, c, amount, item.payee, memo);
  e->disbursed_fen = int64_t(amount);
  balance_[size_t(c)] -= amount;
  paid += amount;
  AddPaymentStories(id, e->day, i, memo, later);
  return true;
}

// Paid to the wrong contractor; the bureau reverses it a few days later and pays again.
bool ProjectSource::PayWrongPayee(Draft* e, size_t i, int c, uint64_t target_fen,
                                  const std::string& memo) {
  const PlannedItem& item = p_.items[i];
  uint64_t available = balance_[size_t(c)] - held_[size_t(c)];
  uint64_t paid = paid_[i][size_t(c)];
  if (target_fen <= paid || available == 0) return false;
  uint64_t amount = std::min(target_fen - paid, available);
  const OrgSpec* wrong = nullptr;
  for (const auto& [role, orgs] : w_->city_orgs(street_.city).contractors) {
    for (const OrgSpec* org : orgs) {
      int64_t revoked = w_->revoked_day(org->id);
      if (org != item.payee && wrong == nullptr && (revoked == 0 || e->day + 30 < revoked)) {
        wrong = org;
      }
    }
  }
  std::string id = Id(Cat({"pay-", std::to_string(++payments_)}));
  e->signer = finance_;
  e->event = Disbursement(id, e->day, i, c, amount, wrong, memo);
  e->disbursed_fen = int64_t(amount);
  balance_[size_t(c)] -= amount;
  int64_t fix = e->day + rng_.Range(3, 8);
  std::string reason = "收款单位错误（误付" + std::string(wrong->name) + "），予以冲正后重新支付";
  Add(fix, [=, this](Draft* r, std::vector<Draft>*) {
    r->signer = finance_;
    r->event = Reversal(id + ".reversed", id);
    r->event["memo"] = reason;
    r->disbursed_fen = -int64_t(amount);
    balance_[size_t(c)] += amount;
    return true;
  });
  Add(fix, [=, this](Draft* again, std::vector<Draft>* later) {
    return Pay(again, later, i, c, target_fen, memo + "（冲正后重新支付）");
  });
  return true;
}

Draft ProjectSource::FindingDraft(int64_t day, const std::string& auditor,
                                  const std::string& finding,
                                  const std::vector<std::string>& targets, const char* severity,
                                  const std::string& text) const {
  Draft d;
  d.day = day;
  d.signer = auditor;
  d.event = Finding(finding, finding, id_, targets, severity, text);
  return d;
}

const char* ProjectSource::PickAuditor() {
  std::vector<const char*> auditors = {"cnao", street_.province->auditor};
  if (street_.city->auditor != nullptr) auditors.push_back(street_.city->auditor);
  return rng_.Pick(auditors);
}

// The acknowledgement of a payment by its payee, and the audit stories told about payments.
void ProjectSource::AddPaymentStories(const std::string& payment, int64_t day, size_t i,
                                      const std::string& memo, std::vector<Draft>* later) {
  const PlannedItem& item = p_.items[i];
  bool works = item.payee != nullptr && std::string_view(item.payee->kind) == "contractor" &&
               item.spec->scheme == demo::Scheme::kConstruction;
  if (works && p_.features.finding_unacked && !unacked_story_done_) {
    // Not acknowledged; the auditor asks after 30 days; the payee acknowledges; resolved.
    unacked_story_done_ = true;
    std::string auditor = PickAuditor(), finding = NextFinding();
    Draft found = FindingDraft(day + rng_.Range(35, 45), auditor, finding, {payment}, "minor",
                               "该笔工程款支付后超过30日未获收款单位确认，请建设单位核实收款情况");
    Draft ack;
    ack.day = found.day + rng_.Range(3, 10);
    ack.signer = item.payee->id;
    ack.event = Ack(payment);
    Draft resolved;
    resolved.day = ack.day + rng_.Range(2, 10);
    resolved.signer = auditor;
    resolved.event = Resolved(finding, "收款单位已补充确认收款，核对无误");
    later->push_back(std::move(found));
    later->push_back(std::move(ack));
    later->push_back(std::move(resolved));
    return;
  }
  if (item.payee != nullptr) MaybeAck(&rng_, day, item.payee->id, payment, later);
  bool papers = works && p_.features.finding_papers && !papers_story_done_;
  bool progress = works && p_.features.finding_progress && !progress_story_done_ &&
                  memo.find("进度款") != std::string::npos;
  if (!papers && !progress) return;
  (papers ? papers_story_done_ : progress_story_done_) = true;
  std::string auditor = PickAuditor(), finding = NextFinding();
  Draft found = FindingDraft(
      day + rng_.Range(30, 90), auditor, finding, {payment}, papers ? "minor" : "major",
      papers ? "支付凭证未附施工合同备案编号及对应发票，资金支付依据不完整"
             : "工程进度款支付前未见监理单位签认的工程量计量文件，存在超进度支付风险");
  Draft resolved;
  resolved.day = found.day + rng_.Range(20, 60);
  resolved.signer = auditor;
  resolved.event = Resolved(finding, papers ? "建设单位已补充合同备案及发票，经核对一致"
                                            : "已补充监理签认的计量文件，核实支付未超进度");
  later->push_back(std::move(found));
  // Some findings stay open: the auditors' `open_finding` flag has something to show.
  if (!rng_.Chance(25)) later->push_back(std::move(resolved));
}

void ProjectSource::AddInKind(int64_t from, int64_t to, size_t i) {
  const Part& part = p_.parts[i];
  int64_t day = rng_.Range(from, std::max(from, to));
  AddReceipt(day, i, part.amount_fen, Cat({"recv-", std::to_string(i + 1)}));
  size_t item = size_t(part.item);
  int c = part.category;
  Add(day + rng_.Range(1, 3), [=, this](Draft* e, std::vector<Draft>* later) {
    const PlannedItem& planned = p_.items[item];
    return Pay(e, later, item, c, planned.funded[size_t(c)],
               std::string(planned.spec->name) + "，按审定价值折价入账");
  });
}

void ProjectSource::StageWorks() {
  const Milestones& d = p_.days;
  int64_t end = d.complete - 1;
  using demo::Scheme;
  AddStatus(d.start, "started", "施工预许可办理完毕，施工单位进场");
  AddInstalments(d.start + 3, d.start + 20, Scheme::kConstruction, 3000, false,
                 "预付款（合同价30%）");
  AddInstalments(d.start + 3, d.start + 20, Scheme::kElevator, 4000, false, "设备预付款（40%）");
  AddInstalments(d.start + 3, d.start + 20, Scheme::kSupervision, 3000, false, "费（首付30%）");
  AddAllocations(d.t2, 2);
  for (size_t i = 0; i < p_.parts.size(); ++i) {
    const Part& part = p_.parts[i];
    if (part.item >= 0) {
      bool pipes = part.category == demo::kUtility;
      AddInKind(pipes ? d.start + 20 : d.start + 40, pipes ? d.t2 + 40 : end - 10, i);
      continue;
    }
    if (part.category != demo::kSocialCapital || part.amount_fen == 0) continue;
    uint64_t fulfilled = RoundYuan(ShareBp(part.amount_fen, part.fulfil_bp));
    uint64_t first = RoundYuan(ShareBp(fulfilled, 5000));
    if (fulfilled > first) {
      AddReceipt(d.t2 + rng_.Range(0, 10), i, fulfilled - first,
                 Cat({"recv-", std::to_string(i + 1)}));
    }
  }
  AddInstalments(d.t2 + 10, end - 9, Scheme::kConstruction, 7000, false, "进度款（累计70%）");
  AddInstalments(d.t2 + 10, end - 9, Scheme::kElevator, 9000, false, "安装验收款（累计90%）");
  AddInstalments(d.t2 + 10, end - 9, Scheme::kSupervision, 7000, false, "费（累计70%）");
}

void ProjectSource::StageCompletion() {
  const Milestones& d = p_.days;
  using demo::Scheme;
  AddStatus(d.complete, "completed",
            "竣工联合验收，居民代表签署验收意见，满意度" + Percent(p_.satisfaction_bp));
  int64_t from = d.complete + 20, to = d.settle_payments;
  AddInstalments(from, to, Scheme::kConstruction, 9500, false, "结算款（审定价累计95%）");
  AddInstalments(from, to, Scheme::kDesign, 10000, true, "费（尾款）");
  AddInstalments(from, to, Scheme::kSupervision, 10000, true, "费（尾款）");
  for (int year = 0; year < 3; ++year) {
    int64_t day = d.complete + 30 + 365 * year;
    AddInstalments(day, day, Scheme::kAnnual, uint32_t(3334 * (year + 1)), year == 2,
                   year == 0   ? "（第1年）"
                   : year == 1 ? "（第2年）"
                               : "（第3年）");
  }
  AddInstalments(d.retention, d.retention + 10, Scheme::kConstruction, 10000, true, "质保金");
  AddInstalments(d.retention, d.retention + 10, Scheme::kElevator, 10000, true, "质保金");
  if (p_.settled) AddStatus(d.settle, "settled", "竣工财务决算批复");
}

std::string ProjectSource::RefundTo(int c) const {
  switch (c) {
    case demo::kCentral:
      return "mof";
    case demo::kProvincial:
      return street_.province->finance;
    case demo::kMunicipal:
      return street_.city->finance;
    case demo::kDistrict:
      return finance_;
    default:
      for (const auto& part : p_.parts) {
        if (part.category == c) return part.source->id;
      }
      std::abort();  // money of a category no contribution brought
  }
}

void ProjectSource::AddRefunds(int64_t day, const std::string& memo) {
  for (int c = 0; c < kCategoryCount; ++c) {
    Add(day, [=, this](Draft* e, std::vector<Draft>* later) {
      uint64_t amount = balance_[size_t(c)];
      if (amount == 0) return false;
      std::string id = Id(std::string("refund-") + kCategoryNames[c]);
      std::string to = RefundTo(c);
      e->signer = finance_;
      e->event = Refund(id, id_, "project", c, to, amount);
      e->event["memo"] = memo;
      e->doc_prefix = street_.district->finance_doc;
      e->refunded_fen = int64_t(amount);
      balance_[size_t(c)] = 0;
      refund_ids_.push_back(id);
      if (to != finance_) MaybeAck(&rng_, e->day, to, id, later);
      return true;
    });
  }
}

void ProjectSource::StageCancellation() {
  int64_t day = p_.days.cancel + rng_.Range(5, 20);
  AddRefunds(day, "项目终止实施，已到位资金按原渠道退回");
  std::string auditor = PickAuditor(), finding = NextFinding();
  Add(day + rng_.Range(20, 60), [=, this](Draft* e, std::vector<Draft>*) {
    std::vector<std::string> targets = refund_ids_;
    if (targets.empty()) targets.push_back(Id("cancelled"));
    *e = FindingDraft(e->day, auditor, finding, targets, "info",
                      "项目终止实施，已到位资金已按原渠道全额退回，前期勘察设计费按合同结算");
    return true;
  });
}

void ProjectSource::StageSettlement() {
  int64_t day = p_.days.settle + rng_.Range(5, 20);
  AddRefunds(day, "竣工决算结余资金按原渠道退回");
  if (!p_.features.settlement_audit) return;
  std::string auditor = PickAuditor(), finding = NextFinding();
  Add(day + rng_.Range(30, 90), [=, this](Draft* e, std::vector<Draft>*) {
    uint64_t budget = 0, paid = 0;
    for (size_t i = 0; i < p_.items.size(); ++i) {
      budget += p_.items[i].cost_fen;
      for (uint64_t x : paid_[i]) paid += x;
    }
    std::vector<std::string> targets = refund_ids_;
    if (targets.empty()) targets.push_back(settled_id_);
    *e = FindingDraft(e->day, auditor, finding, targets, "info",
                      "竣工决算审计：批复预算" + Wan(budget) + "，审定支出" + Wan(paid) +
                          "，结余资金已按原渠道退回");
    return true;
  });
}

std::string ProjectSource::ContributorRef(uint32_t household) const {
  // SHA-256 of the street office's secret salt and a household's identifier; the salt and the
  // identifiers stay with the street office, off the ledger.
  Hash salt = DemoHash(w_->seed(), std::string("salt-") + office_);
  std::string material(salt.begin(), salt.end());
  material += id_ + "/household-" + std::to_string(household);
  Hash ref = Sha256(material);
  return HexEncode(ref);
}

std::string ProjectSource::InvoiceRef(int64_t day) {
  // Paper VAT invoices (12-digit code and 8-digit number) until 2022, fully digital ones
  // (20 digits) from 2023.
  char text[48];
  const char* area = street_.city->invoice_area;
  int year = YearOf(day) % 100;
  if (year < 23) {
    snprintf(text, sizeof(text), "0%s002%02d0411 No.%08lld", area, year,
             (long long)rng_.Range(0, 99999999));
  } else {
    snprintf(text, sizeof(text), "%02d%s2000000%09lld", year, area,
             (long long)rng_.Range(0, 999999999));
  }
  return text;
}

// ---------------------------------------------------------------------------------------------
// The Builder: merges the sources by date and appends their events.

// The current key of every organisation, derived from the seed; a rotation moves an
// organisation to its next key once the rotation is in the log.
class Keyring {
 public:
  explicit Keyring(uint64_t seed) : seed_(seed) {}
  const KeyPair& Current(const std::string& org) {
    auto it = keys_.find(org);
    if (it == keys_.end()) it = keys_.emplace(org, Entry{DemoKey(seed_, org, 1), 1}).first;
    return it->second.key;
  }
  void Rotate(const std::string& org) {
    Entry& entry = keys_.emplace(org, Entry{DemoKey(seed_, org, 1), 1}).first->second;
    entry.key = DemoKey(seed_, org, ++entry.generation);
  }

 private:
  struct Entry {
    KeyPair key;
    int generation;
  };
  uint64_t seed_;
  std::unordered_map<std::string, Entry> keys_;
};

struct Summary {
  std::map<std::string, uint64_t> events_by_type;
  std::map<std::string, uint64_t> orgs_by_kind;
  std::map<std::string, std::string> project_status;  // project id -> latest status
  std::array<int64_t, kCategoryCount> received_fen{};
  int64_t disbursed_fen = 0;
  int64_t refunded_fen = 0;
  uint64_t events = 0;
  uint64_t batches = 0;
};

class Builder {
 public:
  // `clock_ms` is the journal's clock (JournalOptions::now_ms): the Builder sets it to each
  // batch's record time.
  Builder(const World* world, Journal* journal, int64_t* clock_ms)
      : world_(world),
        journal_(journal),
        clock_ms_(clock_ms),
        keys_(world->seed()),
        progress_("demo: months of 2019-01.." + std::string(kDemoLastDay).substr(0, 7) +
                  " recorded") {}

  // Appends every event; the first rejection (or failed write) stops it and is returned.
  Status Run(std::map<int, Needs> needs);
  const Summary& summary() const { return summary_; }
  Keyring* keys() { return &keys_; }

 private:
  enum class Kind { kHead, kFollowUp, kLaunch };
  struct Item {
    Kind kind = Kind::kFollowUp;
    std::unique_ptr<Source> source;  // kHead: the source whose next event `draft` is
    Draft draft;
    std::vector<Draft> later;  // kHead: follow-ups of `draft`, queued once it is emitted
    uint32_t project = 0;      // kLaunch
  };
  struct Pending {
    json event;
    std::string signer;
    KeyPair key;
  };

  void Push(int64_t day, Item item) {
    queue_.emplace(std::make_pair(day, order_++), std::move(item));
  }
  void Pull(std::unique_ptr<Source> source);
  Status Emit(Draft draft);
  // The issuer's next document number of the year; events of one issuer and day share one.
  std::string DocNumber(const std::string& prefix, int64_t day);
  void Count(const Draft& draft);
  Status Flush();

  const World* world_;
  Journal* journal_;
  int64_t* clock_ms_;
  Keyring keys_;
  Progress progress_;
  std::map<std::pair<int64_t, uint64_t>, Item> queue_;  // by (day, order of queueing)
  uint64_t order_ = 0;
  int64_t last_day_ = 0;
  std::vector<Pending> batch_;
  // A batch holding a correction is recorded on the correction's day.
  int64_t correction_day_ = -1;
  struct DocCounter {
    int year = 0;
    int64_t day = 0;
    int number = 0;
  };
  std::map<std::string, DocCounter> docs_;
  Summary summary_;
};

void Builder::Pull(std::unique_ptr<Source> source) {
  Item item;
  item.kind = Kind::kHead;
  if (!source->Next(&item.draft, &item.later)) return;
  if (item.draft.day > world_->end_day()) return;  // the rest of its story is in the future
  item.source = std::move(source);
  int64_t day = item.draft.day;
  Push(day, std::move(item));
}

Status Builder::Run(std::map<int, Needs> needs) {
  Pull(std::make_unique<RegistrySource>(world_));
  for (auto& [year, year_needs] : needs) {
    Pull(std::make_unique<BudgetYearSource>(world_, year, std::move(year_needs)));
  }
  for (uint32_t i = 0; i < world_->projects(); ++i) {
    Item launch;
    launch.kind = Kind::kLaunch;
    launch.project = i;
    Push(world_->core(i).reg_day, std::move(launch));
  }
  while (!queue_.empty()) {
    auto node = queue_.extract(queue_.begin());
    Item& item = node.mapped();
    switch (item.kind) {
      case Kind::kLaunch:
        Pull(std::make_unique<ProjectSource>(world_, item.project));
        break;
      case Kind::kHead:
        FL_RETURN_IF_ERROR(Emit(std::move(item.draft)));
        for (Draft& later : item.later) {
          if (later.day > world_->end_day()) continue;
          Item follow_up;
          follow_up.draft = std::move(later);
          int64_t day = follow_up.draft.day;
          Push(day, std::move(follow_up));
        }
        Pull(std::move(item.source));
        break;
      case Kind::kFollowUp:
        FL_RETURN_IF_ERROR(Emit(std::move(item.draft)));
        break;
    }
  }
  return Flush();
}

std::string Builder::DocNumber(const std::string& prefix, int64_t day) {
  DocCounter& counter = docs_[prefix];
  int year = YearOf(day);
  if (counter.year != year) counter = {year, 0, 0};
  if (counter.day != day) {
    counter.day = day;
    ++counter.number;
  }
  return prefix + "〔" + std::to_string(year) + "〕" + std::to_string(counter.number) + "号";
}

void Builder::Count(const Draft& draft) {
  const std::string& type = draft.event["type"].get_ref<const std::string&>();
  ++summary_.events;
  ++summary_.events_by_type[type];
  if (type == "org_registered") ++summary_.orgs_by_kind[draft.event["kind"].get<std::string>()];
  if (type == "project_registered") {
    summary_.project_status[draft.event["project"].get<std::string>()] = "registered";
  }
  if (type == "project_status") {
    summary_.project_status[draft.event["project"].get<std::string>()] =
        draft.event["status"].get<std::string>();
  }
  if (draft.received_category >= 0) {
    summary_.received_fen[size_t(draft.received_category)] += draft.received_fen;
  }
  summary_.disbursed_fen += draft.disbursed_fen;
  summary_.refunded_fen += draft.refunded_fen;
}

Status Builder::Emit(Draft draft) {
  if (draft.day < last_day_ || draft.day > world_->end_day()) {
    std::cerr << "demo: event " << draft.event["id"] << " is out of date order\n";
    std::abort();  // a source broke its contract: a bug in the generator
  }
  if (correction_day_ >= 0 && draft.day > correction_day_) FL_RETURN_IF_ERROR(Flush());
  last_day_ = draft.day;
  draft.event["occurred_on"] = FormatDate(draft.day);
  const std::string& type = draft.event["type"].get_ref<const std::string&>();
  if (!draft.doc_prefix.empty()) {
    draft.event["doc_ref"] = DocNumber(draft.doc_prefix, draft.day);
  }
  Count(draft);
  batch_.push_back({std::move(draft.event), draft.signer, keys_.Current(draft.signer)});
  // A rotation is signed with the old key; the organisation signs with the new one after it.
  if (type == "key_rotated") keys_.Rotate(batch_.back().event["org"].get<std::string>());
  if (type == "event_reversed" && correction_day_ < 0) correction_day_ = last_day_;
  return batch_.size() >= kBatchEvents ? Flush() : Status::Ok();
}

Status Builder::Flush() {
  if (batch_.empty()) return Status::Ok();
  std::vector<SignedEvent> events(batch_.size());
  std::vector<Status> errors(batch_.size());
  ParallelFor(batch_.size(), 0, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      errors[i] = SignedEvent::Sign(batch_[i].event, batch_[i].signer, batch_[i].key, &events[i]);
    }
  });
  for (size_t i = 0; i < errors.size(); ++i) {
    if (!errors[i].ok()) return errors[i].WithEventId(batch_[i].event["id"].get<std::string>());
  }
  // Recorded at 18:00 (UTC+8) on the day of its last event, or just after the previous batch.
  static constexpr int64_t kDayMs = 86400000, kEveningUtcMs = 10 * 3600000;
  *clock_ms_ = std::max(*clock_ms_ + 1, last_day_ * kDayMs + kEveningUtcMs);
  correction_day_ = -1;
  std::vector<AppendResult> results;
  AppendOptions options;
  options.all_or_nothing = true;
  FL_RETURN_IF_ERROR(journal_->Append(events, &results, options));
  for (size_t i = 0; i < results.size(); ++i) {
    const Status& s = results[i].status;
    if (!s.ok() && s.code() != "batch_not_appended") {
      return s.event_id().empty() ? s.WithEventId(events[i].id()) : s;
    }
  }
  batch_.clear();
  ++summary_.batches;
  int64_t first = Day(kFirstDay), months = (world_->end_day() - first) / 30 + 1;
  progress_.Update(uint64_t(std::min(months, (last_day_ - first) / 30 + 1)), uint64_t(months));
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// The subcommand.

Status WriteKeys(const fs::path& dir, const World& world, Keyring* keys,
                 const NoteSigner& log_key) {
  std::error_code ec;
  fs::create_directory(dir, ec);
  if (ec) return Status::IOError("mkdir", dir.string() + ": " + ec.message());
  for (const OrgSpec& org : world.orgs()) {
    NoteSigner signer{org.id, 0, keys->Current(org.id)};
    signer.key_hash = NoteKeyHash(signer.name, signer.key.public_key());
    FL_RETURN_IF_ERROR(WriteSecretKeyFile((dir / (std::string(org.id) + ".key")).string(), signer));
    FL_RETURN_IF_ERROR(
        WritePublicKeyFile((dir / (std::string(org.id) + ".pub")).string(), VerifierOf(signer)));
  }
  return WritePublicKeyFile((dir / "log.pub").string(), VerifierOf(log_key));
}

void PrintSummary(const DemoArgs& args, const World& world, const Summary& s, const Journal& j,
                  const std::string& note, double seconds) {
  static constexpr const char* kTypes[] = {
      "org_registered",     "key_rotated",     "org_revoked",     "policy_set",
      "project_registered", "project_revised", "project_status",  "funds_pledged",
      "funds_received",     "funds_allocated", "funds_disbursed", "funds_refunded",
      "event_reversed",     "acknowledged",    "audit_finding",   "finding_resolved"};
  static constexpr const char* kStatuses[] = {"registered", "approved", "started",
                                              "completed",  "settled",  "cancelled"};
  printf("demo ledger in %s (seed %llu, %u projects, %s..%s)\n", args.data.c_str(),
         (unsigned long long)args.seed, world.projects(), kFirstDay, kDemoLastDay);
  uint64_t orgs = 0;
  std::string kinds;
  for (const auto& [kind, n] : s.orgs_by_kind) {
    orgs += n;
    kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  }
  printf("organisations  %llu (%s)\n", (unsigned long long)orgs, kinds.c_str());
  std::map<std::string, uint64_t> statuses;
  for (const auto& [project, status] : s.project_status) ++statuses[status];
  std::string by_status;
  for (const char* status : kStatuses) {
    by_status += (by_status.empty() ? "" : ", ") + std::string(status) + " " +
                 std::to_string(statuses[status]);
  }
  printf("projects       %zu (%s)\n", s.project_status.size(), by_status.c_str());
  printf("events         %llu in %llu batches\n", (unsigned long long)s.events,
         (unsigned long long)s.batches);
  for (const char* type : kTypes) {
    auto it = s.events_by_type.find(type);
    printf("  %-20s %10llu\n", type,
           (unsigned long long)(it == s.events_by_type.end() ? 0 : it->second));
  }
  printf("money received into pools and projects, by category (元, net of reversals)\n");
  int64_t total = 0;
  for (int c = 0; c < kCategoryCount; ++c) {
    total += s.received_fen[size_t(c)];
    printf("  %-20s %22s\n", kCategoryNames[c], Yuan(uint64_t(s.received_fen[size_t(c)])).c_str());
  }
  printf("  %-20s %22s\n", "total", Yuan(uint64_t(total)).c_str());
  printf("paid to payees         %22s 元\n", Yuan(uint64_t(s.disbursed_fen)).c_str());
  printf("refunded               %22s 元\n", Yuan(uint64_t(s.refunded_fen)).c_str());
  Journal::Head head = j.head();
  printf("head           size %llu, root %s\n", (unsigned long long)head.size,
         Base64Encode(head.root).c_str());
  printf("keys           %s/keys/<org>.key and .pub; log key %s/log.key, verifier keys/log.pub\n",
         args.data.c_str(), args.data.c_str());
  printf("time           %.1f s\n", seconds);
  printf("checkpoint\n%s", note.c_str());
}

}  // namespace

int Demo(const DemoArgs& args) {
  using Clock = std::chrono::steady_clock;
  auto start = Clock::now();
  if (args.projects == 0 || args.projects > kDemoProjectsMax) {
    return Report(Status::InvalidArgument(
        "bad_projects", Cat({"between 1 and ", std::to_string(kDemoProjectsMax)}), "projects"));
  }
  int64_t today = BusinessDay(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
  if (today < Day(kDemoLastDay)) {
    return Report(Status::Rejected("clock_before_demo",
                                   std::string("the demo's events run to ") + kDemoLastDay +
                                       "; this machine's date is " + FormatDate(today)));
  }
  fs::path dir = args.data;
  for (const char* name : {"db", "log.key", "keys"}) {
    if (fs::exists(dir / name)) {
      return Report(Status::Rejected("ledger_exists",
                                     args.data + " already holds a ledger or demo keys (" + name +
                                         "); the demo needs a new or empty directory"));
    }
  }
  World world(args.seed, args.projects);
  std::map<int, Needs> needs;
  {
    Progress planning("demo: planning projects");
    needs = PrepareProjects(&world, [&](uint32_t done) { planning.Update(done, args.projects); });
  }
  NoteSigner log_key{kLogKeyName, 0, DemoKey(args.seed, "log-key", 1)};
  log_key.key_hash = NoteKeyHash(log_key.name, log_key.key.public_key());
  // The demo records its history as it happens: each batch on the day of its last event (see
  // Builder::Flush). So corrections are recorded on the day they are dated, as the rules
  // require, and the whole ledger, record times, root and checkpoints included, follows from
  // the seed.
  int64_t clock_ms = 0;
  JournalOptions options;
  options.now_ms = [&clock_ms] { return clock_ms; };
  Views views;  // before the journal, which uses it
  std::unique_ptr<Journal> journal;
  Status s = CreateWithViews(args.data, kOrigin, log_key, options, &views, &journal);
  if (!s.ok()) return Report(s);
  Builder builder(&world, journal.get(), &clock_ms);
  s = builder.Run(std::move(needs));
  if (!s.ok()) {
    std::cerr << "fundledger: the demo's event was rejected: " << s.ToString() << "\n";
    return kExitFailure;
  }
  std::string note;
  s = journal->WriteCheckpoint(&note);
  if (s.ok()) s = WriteKeys(dir / "keys", world, builder.keys(), log_key);
  if (!s.ok()) return Report(s);
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  PrintSummary(args, world, builder.summary(), *journal, note, seconds);
  return kExitOk;
}

}  // namespace fundledger::cli
