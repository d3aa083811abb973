// The fixed world of the demo ledger: organisations, regions, policies, funding mixes and the
// vocabulary of renovation works.
//
// It follows the seed documents of the programme: Xiangtan's pilot areas (和平, 新塘, 新塘里) with
// social capital matched 1:1 against government money and utilities paying 600 元 per household,
// Yuzhou's local match of about 60%, Baoding's utilities paying about 37%, Zhanhe's streets and
// property-service subsidy, Shijingshan's 鲁谷 model, Yongchuan's provident-fund elevators and
// Fuzhou Gulou's bank loan and 5 元/m² co-building fund. Governments, utilities and the
// enterprises and investors named in those documents keep their real names; contractors, their
// unified social credit codes, compounds, amounts and document numbers are invented.
//
// Thread safety: the tables are immutable after first use.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace fundledger::demo {

// The money source categories, in the order of the schema's Category enum.
enum Category : int {
  kCentral,
  kProvincial,
  kMunicipal,
  kDistrict,
  kUtility,
  kResident,
  kEnterprise,
  kSocialCapital,
};
inline constexpr int kCategoryCount = 8;
inline constexpr int kGovernmentCategoryCount = 4;  // kCentral..kDistrict
inline constexpr const char* kCategoryNames[kCategoryCount] = {
    "central", "provincial", "municipal",  "district",
    "utility", "resident",   "enterprise", "social_capital"};
inline constexpr const char* kCategoryNamesZh[kCategoryCount] = {
    "中央财政", "省级财政", "市级财政",   "区（县）级财政",
    "管线单位", "居民",     "原产权单位", "社会资本"};

enum Work : int { kBasic, kImprovement, kEnhancement };
inline constexpr int kWorkCount = 3;
inline constexpr const char* kWorkNames[kWorkCount] = {"basic", "improvement", "enhancement"};
inline constexpr uint8_t WorkBit(Work w) { return uint8_t(1u << w); }

// An organisation as registered by the operator.
struct OrgSpec {
  const char* id;
  const char* name;
  const char* kind;    // DESIGN.md org kind
  const char* level;   // central, provincial, municipal, district or none
  const char* region;  // "" is national
  // For organisations that are paid: the 6-digit administrative division code of their unified
  // social credit code, and for contractors what they are hired for (see ItemSpec::role).
  const char* division = "";
  const char* role = "";
};

// A payee that is not a registered organisation (paid by name and credit code only).
struct PayeeSpec {
  const char* name;
  const char* division;
  const char* role;
};

struct StreetSpec {
  const char* slug;       // last segment of the project region
  const char* name;       // "广场街道", "和平片区"
  const char* office;     // the street office (实施主体) org id
  const char* residents;  // the resident group org id
  bool pilot;             // one of Xiangtan's three pilot areas
};

// How a district's projects are funded (see demo.cc, FundingTargets()).
enum class Mix {
  kXiangtanPilot,  // social capital 1:1 against government; utilities 600 元/户
  kXiangtan,       // utilities 600 元/户
  kYuzhou,         // municipal + county money about 60% of the budget
  kXuchang,        // original work units pay for their old housing
  kZhanhe,         // utilities pay for tidying their lines; property subsidy 0.3 元/m²/month
  kBaoding,        // utilities about 37%
  kShijingshan,    // social capital (鲁谷 model), Shougang as original owner
  kYongchuan,      // utilities 12-15%; residents draw provident fund for elevators
  kGulou,          // bank loan to the implementing company; residents' 5 元/m² fund
};

struct DistrictSpec {
  const char* region;  // "hunan/xiangtan/yuhu"
  const char* name;    // "雨湖区"
  const char* finance;
  const char* housing;
  const char* finance_doc;  // prefix of the finance bureau's document numbers, e.g. "雨财建"
  const char* housing_doc;
  Mix mix;
  std::vector<StreetSpec> streets;
};

struct CitySpec {
  const char* region;  // "hunan/xiangtan"; the province itself for Beijing and Chongqing
  const char* name;
  const char* finance;  // nullptr where a province-level city has no separate municipal level
  const char* finance_doc;
  const char* auditor;             // the city's audit office, or nullptr
  const char* invoice_area;        // 2-digit province code printed on invoices
  std::vector<const char*> units;  // work units whose staff housing makes up old compounds
  std::vector<const char*> roads;
  std::vector<PayeeSpec> payees;  // unregistered payees (landscaping firms)
  std::vector<DistrictSpec> districts;
};

struct ProvinceSpec {
  const char* slug;
  const char* name;
  const char* finance;
  const char* housing;
  const char* auditor;
  const char* finance_doc;
  bool bonds;  // raises part of its share through special-purpose bonds (专项债)
  std::vector<CitySpec> cities;
};

struct TargetSpec {
  const char* metric;
  int64_t min_bp;  // -1: none
  int64_t max_bp;  // -1: none
};

struct RestrictionSpec {
  Category category;
  uint8_t works;  // WorkBit mask of the works this money may pay for
};

struct PolicySpec {
  const char* occurred_on;
  const char* signer;
  const char* region;
  const char* doc_ref;
  const char* memo;
  std::vector<RestrictionSpec> restricted_use;
  uint32_t consent_min_bp;
  uint32_t satisfaction_min_bp;
  std::vector<std::pair<const char*, uint64_t>> unit_caps;  // item, max fen per unit
  std::vector<TargetSpec> targets;
  uint32_t idle_days_max;
};

// A change to the registry after the start: a key rotation (signed by the org itself with its
// old key, or by the operator) or a revocation (by the operator).
struct RegistryChangeSpec {
  const char* occurred_on;
  const char* type;  // "key_rotated" or "org_revoked"
  const char* org;
  const char* signer;
  const char* memo;
};

// How a work item is paid: in instalments against a works contract, once for in-kind value, or
// yearly for a subsidy.
enum class Scheme { kConstruction, kDesign, kSupervision, kElevator, kAnnual, kInKind };

struct ItemSpec {
  const char* key;   // unique in the table
  const char* slug;  // the event's `item`
  const char* name;  // for memos
  Work work;
  Scheme scheme;
  const char* role;           // who is paid: builder, designer, supervisor, elevator, property,
                              // landscaper (unregistered), or the in-kind contributor
  const char* contract_code;  // in contract numbers: SG 施工, SJ 设计, JL 监理, DT 电梯, WY 物业
};

const std::vector<OrgSpec>& DemoOrgs();
const std::vector<ProvinceSpec>& DemoProvinces();
const std::vector<PolicySpec>& DemoPolicies();
const std::vector<RegistryChangeSpec>& DemoRegistryChanges();
const std::vector<ItemSpec>& DemoItems();
// The item of that key. REQUIRES: it is in DemoItems().
const ItemSpec& DemoItem(std::string_view key);

}  // namespace fundledger::demo
