#include "ledger/fund_rules.h"

#include <set>
#include <string>

namespace fundledger {
namespace {

using schema::AccountHolder;
using schema::Category;
using schema::Channel;
using schema::Event;
using schema::HolderKind;
using schema::OrgKind;
using schema::ProjectPhase;
using schema::ProjectStatus;
using schema::Work;

constexpr size_t kCompoundsMax = 100;
constexpr uint32_t kHouseholdsMax = 1'000'000;
constexpr uint32_t kBuildingsMax = 100'000;
constexpr uint64_t kFloorAreaM2Max = 1'000'000'000;
constexpr uint32_t kBuiltYearMin = 1900;
constexpr uint32_t kBpMax = 10'000;
constexpr uint32_t kTargetBpMax = 1'000'000;
constexpr uint32_t kIdleDaysMax = 3650;
constexpr size_t kUnitCapsMax = 64;
constexpr size_t kTargetsMax = 32;
constexpr size_t kFindingTargetsMax = 100;
constexpr size_t kFindingTextBytesMax = 4000;
constexpr size_t kItemBytesMax = 32;
constexpr size_t kRefBytesMax = 200;
constexpr uint32_t kUnitsMax = 1'000'000'000;

// Ratio fields of DESIGN.md section 5 a policy target may name.
const std::set<std::string, std::less<>>& TargetMetrics() {
  static const std::set<std::string, std::less<>> metrics = {
      "government_share_bp",       "social_capital_to_government_bp",
      "utility_share_bp",          "resident_share_bp",
      "local_government_share_bp", "allocation_rate_bp",
      "payment_rate_bp",           "pledge_fulfilment_bp"};
  return metrics;
}

Status Reject(std::string_view code, std::string_view message, std::string_view field) {
  return Status::Rejected(code, message, field);
}

Status OutOfRange(std::string_view field, uint64_t min, uint64_t max) {
  return Status::InvalidArgument(
      "out_of_range", "must be " + std::to_string(min) + ".." + std::to_string(max), field);
}

std::string Str(capnp::Text::Reader t) { return std::string(t.cStr(), t.size()); }

bool IsGovernment(Category c) { return uint8_t(c) <= uint8_t(Category::DISTRICT); }

// The category of money an org gives when it is a source (DESIGN.md section 1).
bool MayGive(const Org& org, Category c) {
  switch (org.kind) {
    case OrgKind::FINANCE_BUREAU:
      return org.level != schema::Level::NONE && IsGovernment(c) &&
             uint8_t(org.level) == uint8_t(c);
    case OrgKind::UTILITY:
      return c == Category::UTILITY;
    case OrgKind::ENTERPRISE:
      return c == Category::ENTERPRISE;
    case OrgKind::SOCIAL_CAPITAL:
      return c == Category::SOCIAL_CAPITAL;
    case OrgKind::RESIDENT_GROUP:
    case OrgKind::STREET_OFFICE:
      return c == Category::RESIDENT;
    default:
      return false;
  }
}

bool ChannelAllowed(Category c, Channel ch) {
  if (ch == Channel::TRANSFER) return true;
  if (IsGovernment(c)) return ch == Channel::BOND;
  switch (c) {
    case Category::UTILITY:
      return ch == Channel::IN_KIND_WORKS;
    case Category::RESIDENT:
      return ch == Channel::PROVIDENT_FUND || ch == Channel::MAINTENANCE_FUND ||
             ch == Channel::PUBLIC_REVENUE || ch == Channel::DONATION ||
             ch == Channel::IN_KIND_LABOUR;
    case Category::ENTERPRISE:
      return ch == Channel::DONATION || ch == Channel::IN_KIND_WORKS;
    case Category::SOCIAL_CAPITAL:
      return ch == Channel::LOAN || ch == Channel::DONATION || ch == Channel::IN_KIND_WORKS;
    default:
      return false;
  }
}

bool IsPaidKind(OrgKind k) {
  return k == OrgKind::CONTRACTOR || k == OrgKind::UTILITY || k == OrgKind::ENTERPRISE ||
         k == OrgKind::SOCIAL_CAPITAL || k == OrgKind::RESIDENT_GROUP;
}

bool IsSlug(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool IsLowerHex(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status CheckAmount(uint64_t amount, std::string_view field) {
  if (amount < 1 || amount > kAmountFenMax) {
    return Status::InvalidArgument("amount_out_of_range", "an amount is 1..10^14 fen", field);
  }
  return Status::Ok();
}

Status CheckOptionalRef(bool has, capnp::Text::Reader text, std::string_view field) {
  return has ? CheckTextBytes(text, kRefBytesMax, field, true) : Status::Ok();
}

// The external account of an outside party.
AccountKey External(std::string_view party, Category c) {
  return AccountKey{AccountHolder::EXTERNAL, std::string(party), c};
}

std::string OrgParty(std::string_view org) { return "org:" + std::string(org); }

// Checks that `fen` more keeps the ledger's volume within its bound.
Status CheckVolume(const LedgerState& state, uint64_t fen, std::string_view field) {
  const uint64_t volume = state.volume_fen();
  if (volume > kLedgerVolumeFenMax || fen > kLedgerVolumeFenMax - volume) {
    return Reject("volume_overflow",
                  "the ledger's amounts moved, pledged and budgeted would pass 10^18 fen in all "
                  "(it holds " +
                      std::to_string(volume) + ")",
                  field);
  }
  return Status::Ok();
}

// Checks that `amount` can move from `from` to `to`: no internal account goes negative, no
// account passes the balance limit and the ledger's volume stays within its bound.
Status CheckMove(const LedgerState& state, const AccountKey& from, const AccountKey& to,
                 uint64_t amount, std::string_view overdraft_field) {
  int64_t from_fen = state.Balance(from), to_fen = state.Balance(to);
  int64_t a = int64_t(amount);
  if (from.kind != AccountHolder::EXTERNAL && from_fen < a) {
    return Reject("overdraft",
                  "the " + std::string(from.kind == AccountHolder::POOL ? "pool " : "project ") +
                      from.holder + " holds " + std::to_string(from_fen) + " fen of this category",
                  overdraft_field);
  }
  if (from_fen - a < -kBalanceFenMax || to_fen > kBalanceFenMax - a) {
    return Reject("balance_overflow", "an account would pass 10^18 fen", "amount_fen");
  }
  return CheckVolume(state, amount, overdraft_field);
}

void StageMove(LedgerState* state, const AccountKey& from, const AccountKey& to, uint64_t amount) {
  state->StageBalance(from, state->Balance(from) - int64_t(amount));
  state->StageBalance(to, state->Balance(to) + int64_t(amount));
  state->AddVolume(amount);
}

// Money came into a project or was paid out of it on `day` (a receipt, an allocation, a
// payment; not a refund, which a settled project may still make, nor a reversal, dated on the
// day of the correction): the project keeps the latest such day, before which it is not settled
// or cancelled. The journal's upgrade to format 5 finds the same days (UpgradeFromFormat3).
void MoneyMoved(LedgerState* state, const AccountKey& account, int64_t day) {
  if (account.kind != AccountHolder::PROJECT) return;
  const Project* project = state->FindProject(account.holder);
  if (project == nullptr || project->last_money_day >= day) return;
  Project updated = *project;
  updated.last_money_day = day;
  state->StageProject(std::move(updated));
}

EventFact NewFact(const SignedEvent& event, const EventContext& context) {
  EventFact fact;
  fact.id = event.id();
  fact.seq = context.seq;
  fact.type = uint16_t(event.event().which());
  fact.signer = event.signer();
  fact.occurred_day = event.occurred_day();  // a date: the rules checked it
  return fact;
}

// Registered, not revoked.
Status LiveOrg(const LedgerState& state, std::string_view id, std::string_view field,
               const Org** out) {
  *out = state.FindOrg(id);
  if (*out == nullptr) return Reject("org_unknown", "no such organisation", field);
  if ((*out)->revoked()) return Reject("org_revoked", "the organisation is revoked", field);
  return Status::Ok();
}

// The project `id` names, for an event dated `day`: nothing of a project is dated before it is
// registered (money paid "before" the project existed, or an as-of-date view showing money in
// a project it does not know).
Status FindProject(const LedgerState& state, std::string_view id, std::string_view field,
                   int64_t day, const Project** out) {
  *out = state.FindProject(id);
  if (*out == nullptr) return Reject("project_unknown", "no such project", field);
  if (day < (*out)->registered_day) {
    return Reject("date_before_registration",
                  "dated before the project " + std::string(id) + " was registered (" +
                      FormatDate((*out)->registered_day) + ")",
                  "occurred_on");
  }
  return Status::Ok();
}

Status OpenProject(const LedgerState& state, std::string_view id, std::string_view field,
                   int64_t day, const Project** out) {
  FL_RETURN_IF_ERROR(FindProject(state, id, field, day, out));
  if ((*out)->closed()) {
    return Reject("project_closed", "the project is settled or cancelled; only refunds move money",
                  field);
  }
  return Status::Ok();
}

Status InRegion(const Org& signer, std::string_view region, std::string_view field) {
  if (!RegionWithin(region, signer.region)) {
    // Built by appending: g++ 12 at -O3 misreports `"literal" + std::string` as an overlapping
    // copy (-Wrestrict, GCC bug 105329).
    std::string message = "region '";
    message.append(region).append("' is outside ").append(signer.id);
    message.append("'s region '").append(signer.region).append("'");
    return Reject("out_of_region", message, field);
  }
  return Status::Ok();
}

bool IsProjectAuthority(const Org& org) {
  return org.kind == OrgKind::HOUSING_BUREAU || org.kind == OrgKind::STREET_OFFICE;
}

Status NotAuthorised(std::string_view message, std::string_view field = "signer") {
  return Reject("not_authorised", message, field);
}

// ---- policies ----

Status CheckPolicyValues(const Policy& p, schema::PolicySet::Reader in) {
  if (p.consent_min_bp < 1 || p.consent_min_bp > kBpMax) {
    return OutOfRange("consent_min_bp", 1, kBpMax);
  }
  if (p.satisfaction_min_bp < 1 || p.satisfaction_min_bp > kBpMax) {
    return OutOfRange("satisfaction_min_bp", 1, kBpMax);
  }
  if (p.idle_days_max < 1 || p.idle_days_max > kIdleDaysMax) {
    return OutOfRange("idle_days_max", 1, kIdleDaysMax);
  }
  if (in.getUnitCaps().size() > kUnitCapsMax) return OutOfRange("unit_caps", 0, kUnitCapsMax);
  std::set<std::string> items;
  for (size_t i = 0; i < p.unit_caps.size(); ++i) {
    std::string field = "unit_caps[" + std::to_string(i) + "]";
    if (!IsSlug(p.unit_caps[i].first, kItemBytesMax)) {
      return Status::InvalidArgument("bad_item", "an item is a slug of [a-z0-9_], 1..32 bytes",
                                     field + ".item");
    }
    if (!items.insert(p.unit_caps[i].first).second) {
      return Status::InvalidArgument("duplicate_item", "one cap per item", field + ".item");
    }
    FL_RETURN_IF_ERROR(CheckAmount(p.unit_caps[i].second, field + ".max_fen_per_unit"));
  }
  if (in.getTargets().size() > kTargetsMax) return OutOfRange("targets", 0, kTargetsMax);
  for (size_t i = 0; i < p.targets.size(); ++i) {
    std::string field = "targets[" + std::to_string(i) + "]";
    const PolicyTargetRule& t = p.targets[i];
    if (!TargetMetrics().contains(t.metric)) {
      return Status::InvalidArgument("bad_metric", "not a ratio of the views", field + ".metric");
    }
    if (!t.min_bp && !t.max_bp) {
      return Status::InvalidArgument("bad_bounds", "a target needs min_bp or max_bp", field);
    }
    if ((t.min_bp && *t.min_bp > kTargetBpMax) || (t.max_bp && *t.max_bp > kTargetBpMax)) {
      return OutOfRange(field, 0, kTargetBpMax);
    }
    if (t.min_bp && t.max_bp && *t.min_bp > *t.max_bp) {
      return Status::InvalidArgument("bad_bounds", "min_bp is above max_bp", field);
    }
  }
  return Status::Ok();
}

// A policy can only make the rules that already apply to its region stricter (PolicyInForce
// combines them so); one that says otherwise is refused rather than silently overruled, so that
// what a bureau signs is what applies. Only the operator's national policy sets the baseline.
Status CheckNotLoosening(const LedgerState& state, const Org& signer, const Policy& p,
                         schema::PolicySet::Reader in) {
  Policy inherited = state.PolicyInForce(p.region, signer.id);
  auto loosens = [](std::string_view what, std::string field) {
    return Reject("policy_loosens",
                  std::string(what) + " is looser than the policy in force from above", field);
  };
  size_t i = 0;
  for (auto use : in.getRestrictedUse()) {
    size_t c = size_t(use.getCategory());
    if (p.works_allowed[c] & ~inherited.works_allowed[c]) {
      return loosens("this use of the category", "restricted_use[" + std::to_string(i) + "].works");
    }
    ++i;
  }
  if (p.consent_min_bp < inherited.consent_min_bp) {
    return loosens("the consent minimum", "consent_min_bp");
  }
  if (p.satisfaction_min_bp < inherited.satisfaction_min_bp) {
    return loosens("the satisfaction minimum", "satisfaction_min_bp");
  }
  if (p.idle_days_max > inherited.idle_days_max) return loosens("idle_days_max", "idle_days_max");
  for (size_t k = 0; k < p.unit_caps.size(); ++k) {
    for (const auto& [item, cap] : inherited.unit_caps) {
      if (item == p.unit_caps[k].first && p.unit_caps[k].second > cap) {
        return loosens("the unit cap", "unit_caps[" + std::to_string(k) + "].max_fen_per_unit");
      }
    }
  }
  return Status::Ok();
}

Status ApplyPolicySet(const SignedEvent& event, const EventContext& context, const Org& signer,
                      LedgerState* state) {
  auto body = event.event().getPolicySet();
  std::string region = Str(body.getRegion());
  bool is_operator = signer.kind == OrgKind::OPERATOR;
  if (!is_operator && signer.kind != OrgKind::FINANCE_BUREAU) {
    return NotAuthorised("only the operator or a finance bureau sets a policy");
  }
  if (!IsValidRegion(region)) {
    return Status::InvalidArgument("bad_region", "lowercase ascii slugs joined by '/'", "region");
  }
  if (!is_operator) FL_RETURN_IF_ERROR(InRegion(signer, region, "region"));
  Policy policy;
  FL_RETURN_IF_ERROR(PolicyFromEvent(body, &policy));
  FL_RETURN_IF_ERROR(CheckPolicyValues(policy, body));
  policy.setter = signer.id;
  if (!(is_operator && region.empty())) {
    FL_RETURN_IF_ERROR(CheckNotLoosening(*state, signer, policy, body));
  }
  policy.set_seq = context.seq;
  state->StagePolicy(std::move(policy));
  return Status::Ok();
}

// ---- projects ----

// Checks a budget and its funding plan, and that the budget keeps the ledger's volume within its
// bound; `*total` gets the budget's total.
Status CheckBudgetAndPlan(const LedgerState& state, schema::Budget::Reader budget,
                          capnp::List<schema::CategoryAmount>::Reader plan, uint64_t* total_out) {
  uint64_t parts[3] = {budget.getBasicFen(), budget.getImprovementFen(),
                       budget.getEnhancementFen()};
  const char* names[3] = {"budget.basic_fen", "budget.improvement_fen", "budget.enhancement_fen"};
  uint64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    if (parts[i] > kAmountFenMax) {
      return Status::InvalidArgument("amount_out_of_range", "an amount is 0..10^14 fen", names[i]);
    }
    total += parts[i];
  }
  if (total == 0) return Status::InvalidArgument("budget_empty", "the budget is zero", "budget");
  if (plan.size() > kCategories) return OutOfRange("funding_plan", 0, kCategories);
  bool seen[kCategories] = {};
  uint64_t planned = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    std::string field = "funding_plan[" + std::to_string(i) + "]";
    size_t c = size_t(plan[i].getCategory());
    if (c >= kCategories) return Status::InvalidArgument("bad_category", "unknown", field);
    if (seen[c]) {
      return Status::InvalidArgument("duplicate_category", "one entry per category",
                                     field + ".category");
    }
    seen[c] = true;
    FL_RETURN_IF_ERROR(CheckAmount(plan[i].getAmountFen(), field + ".amount_fen"));
    planned += plan[i].getAmountFen();
  }
  if (planned != total) {
    return Reject("funding_plan_mismatch",
                  "the funding plan totals " + std::to_string(planned) +
                      " fen but the budget totals " + std::to_string(total),
                  "funding_plan");
  }
  *total_out = total;
  return CheckVolume(state, total, "budget");
}

Status CheckProjectFacts(schema::ProjectRegistered::Reader body, const EventContext& context) {
  auto compounds = body.getCompounds();
  if (compounds.size() < 1 || compounds.size() > kCompoundsMax) {
    return OutOfRange("compounds", 1, kCompoundsMax);
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < compounds.size(); ++i) {
    std::string field = "compounds[" + std::to_string(i) + "]";
    FL_RETURN_IF_ERROR(CheckTextBytes(compounds[i], kNameBytesMax, field, true));
    if (!seen.insert(Str(compounds[i])).second) {
      return Status::InvalidArgument("duplicate_compound", "a compound is listed once", field);
    }
  }
  if (body.getHouseholds() < 1 || body.getHouseholds() > kHouseholdsMax) {
    return OutOfRange("households", 1, kHouseholdsMax);
  }
  if (body.getBuildings() < 1 || body.getBuildings() > kBuildingsMax) {
    return OutOfRange("buildings", 1, kBuildingsMax);
  }
  if (body.getFloorAreaM2() < 1 || body.getFloorAreaM2() > kFloorAreaM2Max) {
    return OutOfRange("floor_area_m2", 1, kFloorAreaM2Max);
  }
  uint32_t this_year = uint32_t(std::stoi(FormatDate(BusinessDay(context.recorded_at_ms))));
  if (body.getBuiltYear() < kBuiltYearMin || body.getBuiltYear() > this_year) {
    return OutOfRange("built_year", kBuiltYearMin, this_year);
  }
  return Status::Ok();
}

Status ApplyProjectRegistered(const SignedEvent& event, const EventContext& context,
                              const Org& signer, LedgerState* state) {
  auto body = event.event().getProjectRegistered();
  if (!IsProjectAuthority(signer)) {
    return NotAuthorised("only a housing bureau or street office registers projects");
  }
  std::string id = Str(body.getProject());
  FL_RETURN_IF_ERROR(CheckId(id, "project"));
  if (state->FindProject(id) != nullptr) {
    return Reject("project_exists", "a project with this id is already registered", "project");
  }
  FL_RETURN_IF_ERROR(CheckTextBytes(body.getName(), kNameBytesMax, "name", true));
  std::string region = Str(body.getRegion());
  if (region.empty() || !IsValidRegion(region)) {
    return Status::InvalidArgument("bad_region", "lowercase ascii slugs joined by '/', not empty",
                                   "region");
  }
  FL_RETURN_IF_ERROR(InRegion(signer, region, "region"));
  FL_RETURN_IF_ERROR(CheckProjectFacts(body, context));
  uint64_t budget = 0;
  FL_RETURN_IF_ERROR(CheckBudgetAndPlan(*state, body.getBudget(), body.getFundingPlan(), &budget));
  Project project{id,          region,      ProjectPhase::REGISTERED,
                  context.seq, context.seq, event.occurred_day()};
  project.phase_day = event.occurred_day();
  state->StageProject(std::move(project));
  state->AddVolume(budget);
  return Status::Ok();
}

Status ApplyProjectRevised(const SignedEvent& event, const Org& signer, LedgerState* state) {
  auto body = event.event().getProjectRevised();
  if (!IsProjectAuthority(signer)) {
    return NotAuthorised("only a housing bureau or street office revises projects");
  }
  const Project* project = nullptr;
  FL_RETURN_IF_ERROR(
      OpenProject(*state, Str(body.getProject()), "project", event.occurred_day(), &project));
  FL_RETURN_IF_ERROR(InRegion(signer, project->region, "project"));
  uint64_t budget = 0;
  FL_RETURN_IF_ERROR(CheckBudgetAndPlan(*state, body.getBudget(), body.getFundingPlan(), &budget));
  state->AddVolume(budget);
  return Status::Ok();
}

const char* PhaseName(ProjectPhase p) {
  static const char* names[] = {"registered", "approved", "started",
                                "completed",  "settled",  "cancelled"};
  return names[size_t(p)];
}

bool TransitionAllowed(ProjectPhase from, ProjectStatus to) {
  switch (to) {
    case ProjectStatus::APPROVED:
      return from == ProjectPhase::REGISTERED;
    case ProjectStatus::STARTED:
      return from == ProjectPhase::APPROVED;
    case ProjectStatus::COMPLETED:
      return from == ProjectPhase::STARTED;
    case ProjectStatus::SETTLED:
      return from == ProjectPhase::COMPLETED;
    case ProjectStatus::CANCELLED:
      return from == ProjectPhase::REGISTERED || from == ProjectPhase::APPROVED ||
             from == ProjectPhase::STARTED;
  }
  return false;
}

// A share that must be present exactly with `needed_with`, at least `minimum`.
template <typename Group>
Status CheckShare(Group group, bool needed, std::string_view field, uint32_t minimum,
                  std::string_view below_code, std::string_view what) {
  if (!needed) {
    if (group.isValue()) {
      return Status::InvalidArgument("field_not_allowed", "only with its status", field);
    }
    return Status::Ok();
  }
  if (!group.isValue()) {
    return Status::InvalidArgument("field_required", std::string(what) + " is required", field);
  }
  uint32_t v = group.getValue();
  if (v > kBpMax) return OutOfRange(field, 0, kBpMax);
  if (v < minimum) {
    return Reject(below_code,
                  std::string(what) + " " + std::to_string(v) + " bp is below the " +
                      std::to_string(minimum) + " bp the policy in force requires",
                  field);
  }
  return Status::Ok();
}

Status ApplyProjectStatus(const SignedEvent& event, const EventContext& context, const Org& signer,
                          LedgerState* state) {
  auto body = event.event().getProjectStatus();
  if (!IsProjectAuthority(signer)) {
    return NotAuthorised("only a housing bureau or street office records a project's status");
  }
  const Project* project = nullptr;
  FL_RETURN_IF_ERROR(
      FindProject(*state, Str(body.getProject()), "project", event.occurred_day(), &project));
  FL_RETURN_IF_ERROR(InRegion(signer, project->region, "project"));
  ProjectStatus to = body.getStatus();
  if (!TransitionAllowed(project->phase, to)) {
    return Reject("status_transition",
                  std::string("a project cannot go from ") + PhaseName(project->phase) + " to " +
                      PhaseName(ProjectPhase(uint8_t(to) + 1)),
                  "status");
  }
  const Policy policy = state->PolicyInForce(project->region);
  FL_RETURN_IF_ERROR(CheckShare(body.getConsentBp(), to == ProjectStatus::APPROVED, "consent_bp",
                                policy.consent_min_bp, "consent_below_minimum",
                                "residents' consent"));
  FL_RETURN_IF_ERROR(CheckShare(body.getSatisfactionBp(), to == ProjectStatus::COMPLETED,
                                "satisfaction_bp", policy.satisfaction_min_bp,
                                "satisfaction_below_minimum", "residents' satisfaction"));
  // The lifecycle runs forward in business time too: a status is not dated before the one it
  // follows, and a project is not settled or cancelled before money it moved.
  const int64_t day = event.occurred_day();
  if (day < project->phase_day) {
    return Reject("date_before_status",
                  std::string("dated before the project's current status (") +
                      PhaseName(project->phase) + " on " + FormatDate(project->phase_day) + ")",
                  "occurred_on");
  }
  if ((to == ProjectStatus::SETTLED || to == ProjectStatus::CANCELLED) &&
      day < project->last_money_day) {
    return Reject("date_before_money",
                  "dated before money the project moved (last on " +
                      FormatDate(project->last_money_day) + ")",
                  "occurred_on");
  }
  Project updated = *project;
  updated.phase = ProjectPhase(uint8_t(to) + 1);
  updated.phase_seq = context.seq;
  updated.phase_day = day;
  if (to == ProjectStatus::APPROVED) updated.approved_day = day;
  state->StageProject(std::move(updated));
  return Status::Ok();
}

// ---- money ----

Status ApplyFundsPledged(const SignedEvent& event, const EventContext& context, const Org& signer,
                         LedgerState* state) {
  auto body = event.event().getFundsPledged();
  const Project* project = nullptr;
  FL_RETURN_IF_ERROR(
      OpenProject(*state, Str(body.getProject()), "project", event.occurred_day(), &project));
  const Org* source = nullptr;
  FL_RETURN_IF_ERROR(LiveOrg(*state, Str(body.getSourceOrg()), "source_org", &source));
  bool by_source = signer.id == source->id;
  bool by_bureau = signer.kind == OrgKind::FINANCE_BUREAU;
  if (!by_source && !by_bureau) {
    return NotAuthorised("a pledge is signed by its source or a finance bureau");
  }
  FL_RETURN_IF_ERROR(InRegion(signer, project->region, "project"));
  if (!MayGive(*source, body.getCategory())) {
    return Reject("category_mismatch", "the source org does not give money of this category",
                  "category");
  }
  FL_RETURN_IF_ERROR(CheckAmount(body.getAmountFen(), "amount_fen"));
  FL_RETURN_IF_ERROR(CheckVolume(*state, body.getAmountFen(), "amount_fen"));
  EventFact fact = NewFact(event, context);
  fact.counterparty = source->id;
  fact.category = body.getCategory();
  fact.amount_fen = body.getAmountFen();
  fact.from = External(OrgParty(source->id), fact.category);
  fact.to = AccountKey{AccountHolder::PROJECT, project->id, fact.category};
  state->StageFact(std::move(fact));
  state->AddVolume(body.getAmountFen());
  return Status::Ok();
}

// The pool or project account money goes into or comes out of, after checking it may.
Status Holder(const LedgerState& state, const Org& signer, HolderKind kind, std::string_view id,
              Category c, std::string_view field, bool must_be_open, int64_t day, AccountKey* out) {
  if (kind == HolderKind::POOL) {
    const Org* pool = state.FindOrg(id);
    if (pool == nullptr || pool->kind != OrgKind::FINANCE_BUREAU) {
      return Reject("pool_unknown", "no finance bureau's pool of this id", field);
    }
    if (pool->revoked()) return Reject("org_revoked", "the pool's bureau is revoked", field);
    *out = AccountKey{AccountHolder::POOL, pool->id, c};
    return Status::Ok();
  }
  const Project* project = nullptr;
  FL_RETURN_IF_ERROR(must_be_open ? OpenProject(state, id, field, day, &project)
                                  : FindProject(state, id, field, day, &project));
  FL_RETURN_IF_ERROR(InRegion(signer, project->region, field));
  *out = AccountKey{AccountHolder::PROJECT, project->id, c};
  return Status::Ok();
}

// Government money enters at its own level naming that bureau itself; money of a higher level
// received directly (when the higher bureau allocates outside this ledger) names a bureau above
// the recipient in its own chain, which is then its counterparty. A street office records
// residents' money from its own residents (a resident group in its area) or itself.
Status CheckSourceInChain(const Org& signer, const Org& source, Category c) {
  if (IsGovernment(c)) {
    if (source.id == signer.id) return Status::Ok();
    if (uint8_t(source.level) >= uint8_t(signer.level) ||
        !RegionWithin(signer.region, source.region)) {
      return Reject("source_not_above",
                    "government money from another bureau comes from one above the recipient in "
                    "its own chain; a bureau's own money names the bureau itself",
                    "source_org");
    }
    return Status::Ok();
  }
  if (signer.kind == OrgKind::STREET_OFFICE) {
    if ((source.kind == OrgKind::STREET_OFFICE && source.id != signer.id) ||
        !RegionWithin(source.region, signer.region)) {
      return Reject("out_of_region", "a street office records its own residents' money",
                    "source_org");
    }
  }
  return Status::Ok();
}

Status CheckResidentFields(schema::FundsReceived::Reader body) {
  bool resident = body.getCategory() == Category::RESIDENT;
  if (body.getHouseholds().isValue()) {
    if (!resident) {
      return Status::InvalidArgument("field_not_allowed", "households count resident money only",
                                     "households");
    }
    uint32_t h = body.getHouseholds().getValue();
    if (h < 1 || h > kHouseholdsMax) return OutOfRange("households", 1, kHouseholdsMax);
  }
  if (body.hasContributorRef()) {
    if (!resident) {
      return Status::InvalidArgument("field_not_allowed", "a contributor_ref is a resident's",
                                     "contributor_ref");
    }
    if (!IsLowerHex(Str(body.getContributorRef()), 64)) {
      return Status::InvalidArgument("bad_contributor_ref",
                                     "a commitment is 64 lowercase hex digits (32 bytes)",
                                     "contributor_ref");
    }
  }
  return Status::Ok();
}

Status CheckPledge(const LedgerState& state, schema::FundsReceived::Reader body, int64_t day,
                   const AccountKey& to, const EventFact** pledge) {
  FL_RETURN_IF_ERROR(state.FindFact(Str(body.getPledge()), pledge));
  const EventFact* p = *pledge;
  if (p == nullptr || p->type != uint16_t(Event::FUNDS_PLEDGED)) {
    return Reject("pledge_unknown", "no pledge with this event id", "pledge");
  }
  if (!p->reversed_by.empty())
    return Reject("pledge_reversed", "the pledge was reversed", "pledge");
  if (p->to.holder != to.holder || to.kind != AccountHolder::PROJECT ||
      p->from.holder != OrgParty(Str(body.getSourceOrg())) || p->category != body.getCategory()) {
    return Reject("pledge_mismatch", "the pledge is for another project, source or category",
                  "pledge");
  }
  if (day < p->occurred_day) {
    return Reject("date_before_target",
                  "dated before the pledge it pays (" + FormatDate(p->occurred_day) + ")",
                  "occurred_on");
  }
  if (p->received_fen + body.getAmountFen() > p->amount_fen) {
    return Reject(
        "pledge_exceeded",
        "the pledge has " + std::to_string(p->amount_fen - p->received_fen) + " fen outstanding",
        "amount_fen");
  }
  return Status::Ok();
}

Status ApplyFundsReceived(const SignedEvent& event, const EventContext& context, const Org& signer,
                          LedgerState* state) {
  auto body = event.event().getFundsReceived();
  Category c = body.getCategory();
  if (signer.kind == OrgKind::FINANCE_BUREAU) {
    if (body.getToKind() == HolderKind::POOL && signer.id != body.getTo().cStr()) {
      return NotAuthorised("a finance bureau receives into its own pool only", "to");
    }
  } else if (signer.kind == OrgKind::STREET_OFFICE) {
    if (c != Category::RESIDENT) {
      return NotAuthorised("a street office records residents' money only", "category");
    }
    if (body.getToKind() != HolderKind::PROJECT) {
      return NotAuthorised("a street office receives into projects only", "to_kind");
    }
  } else {
    return NotAuthorised("receipts are recorded by a finance bureau or a street office");
  }
  AccountKey to;
  FL_RETURN_IF_ERROR(Holder(*state, signer, body.getToKind(), Str(body.getTo()), c, "to",
                            /*must_be_open=*/true, event.occurred_day(), &to));
  const Org* source = nullptr;
  FL_RETURN_IF_ERROR(LiveOrg(*state, Str(body.getSourceOrg()), "source_org", &source));
  if (!MayGive(*source, c)) {
    return Reject("category_mismatch", "the source org does not give money of this category",
                  "category");
  }
  FL_RETURN_IF_ERROR(CheckSourceInChain(signer, *source, c));
  if (!ChannelAllowed(c, body.getChannel())) {
    return Reject("channel_not_allowed", "money of this category does not come by this channel",
                  "channel");
  }
  FL_RETURN_IF_ERROR(CheckAmount(body.getAmountFen(), "amount_fen"));
  FL_RETURN_IF_ERROR(CheckResidentFields(body));
  const EventFact* pledge = nullptr;
  if (body.hasPledge()) {
    FL_RETURN_IF_ERROR(CheckPledge(*state, body, event.occurred_day(), to, &pledge));
  }
  AccountKey from = External(OrgParty(source->id), c);
  FL_RETURN_IF_ERROR(CheckMove(*state, from, to, body.getAmountFen(), "amount_fen"));

  EventFact fact = NewFact(event, context);
  fact.counterparty = source->id;
  fact.category = c;
  fact.amount_fen = body.getAmountFen();
  fact.from = from;
  fact.to = to;
  if (pledge != nullptr) {
    EventFact updated = *pledge;
    updated.received_fen += body.getAmountFen();
    fact.pledge = updated.id;
    state->StageFact(std::move(updated));
  }
  StageMove(state, from, to, body.getAmountFen());
  MoneyMoved(state, to, event.occurred_day());
  state->StageFact(std::move(fact));
  return Status::Ok();
}

Status ApplyFundsAllocated(const SignedEvent& event, const EventContext& context, const Org& signer,
                           LedgerState* state) {
  auto body = event.event().getFundsAllocated();
  if (signer.kind != OrgKind::FINANCE_BUREAU || signer.id != body.getFrom().cStr()) {
    return NotAuthorised("only the finance bureau owning the pool allocates from it", "from");
  }
  Category c = body.getCategory();
  AccountKey from{AccountHolder::POOL, signer.id, c}, to;
  if (body.getToKind() == HolderKind::POOL && signer.id == body.getTo().cStr()) {
    return Reject("self_allocation", "a pool cannot allocate to itself", "to");
  }
  FL_RETURN_IF_ERROR(Holder(*state, signer, body.getToKind(), Str(body.getTo()), c, "to", true,
                            event.occurred_day(), &to));
  if (body.getToKind() == HolderKind::POOL) {
    FL_RETURN_IF_ERROR(InRegion(signer, state->FindOrg(to.holder)->region, "to"));
  }
  FL_RETURN_IF_ERROR(CheckAmount(body.getAmountFen(), "amount_fen"));
  FL_RETURN_IF_ERROR(CheckMove(*state, from, to, body.getAmountFen(), "amount_fen"));
  EventFact fact = NewFact(event, context);
  if (to.kind == AccountHolder::POOL) fact.counterparty = to.holder;
  fact.category = c;
  fact.amount_fen = body.getAmountFen();
  fact.from = from;
  fact.to = to;
  StageMove(state, from, to, body.getAmountFen());
  MoneyMoved(state, to, event.occurred_day());
  state->StageFact(std::move(fact));
  return Status::Ok();
}

Status CheckPayee(const LedgerState& state, schema::Payee::Reader payee, std::string* party) {
  FL_RETURN_IF_ERROR(CheckTextBytes(payee.getName(), kNameBytesMax, "payee.name", true));
  if (!IsPaidKind(payee.getKind())) {
    return Reject("bad_payee_kind",
                  "payees are contractors, utilities, enterprises, social capital or resident "
                  "groups",
                  "payee.kind");
  }
  if (payee.hasCreditCode() && !IsValidCreditCode(Str(payee.getCreditCode()))) {
    return Status::InvalidArgument("bad_credit_code",
                                   "not a valid 18-character unified social credit code",
                                   "payee.credit_code");
  }
  if (payee.hasOrg()) {
    const Org* org = nullptr;
    FL_RETURN_IF_ERROR(LiveOrg(state, Str(payee.getOrg()), "payee.org", &org));
    if (org->kind != payee.getKind()) {
      return Reject("payee_mismatch", "payee.kind differs from the registered org's kind",
                    "payee.kind");
    }
    if (org->name != payee.getName().cStr()) {
      return Reject("payee_mismatch",
                    "payee.name differs from the registered org's name '" + org->name + "'",
                    "payee.name");
    }
    *party = OrgParty(org->id);
  } else if (payee.hasCreditCode()) {
    *party = "code:" + Str(payee.getCreditCode());
  } else {
    *party = "name:" + Str(payee.getName());
  }
  return Status::Ok();
}

Status ApplyFundsDisbursed(const SignedEvent& event, const EventContext& context, const Org& signer,
                           LedgerState* state) {
  auto body = event.event().getFundsDisbursed();
  if (signer.kind != OrgKind::FINANCE_BUREAU) {
    return NotAuthorised("only a finance bureau records disbursements");
  }
  const Project* project = nullptr;
  FL_RETURN_IF_ERROR(
      FindProject(*state, Str(body.getProject()), "project", event.occurred_day(), &project));
  FL_RETURN_IF_ERROR(InRegion(signer, project->region, "project"));
  if (project->phase != ProjectPhase::APPROVED && project->phase != ProjectPhase::STARTED &&
      project->phase != ProjectPhase::COMPLETED) {
    return Reject("project_not_active",
                  std::string("money is disbursed only in approved, started or completed "
                              "projects; this one is ") +
                      PhaseName(project->phase),
                  "project");
  }
  if (event.occurred_day() < project->approved_day) {
    return Reject("date_before_status",
                  "dated before the project's approval (" + FormatDate(project->approved_day) +
                      "): money is disbursed only once a project is approved",
                  "occurred_on");
  }
  Category c = body.getCategory();
  const Policy policy = state->PolicyInForce(project->region);
  if (!(policy.works_allowed[size_t(c)] & (1u << uint8_t(body.getWork())))) {
    return Reject("restricted_use",
                  "the policy in force" +
                      (policy.set_seq ? " (set at seq " + std::to_string(policy.set_seq) + ")"
                                      : std::string(" (the default)")) +
                      " does not let this category pay for this work",
                  "work");
  }
  std::string party;
  FL_RETURN_IF_ERROR(CheckPayee(*state, body.getPayee(), &party));
  if (!IsSlug(Str(body.getItem()), kItemBytesMax)) {
    return Status::InvalidArgument("bad_item", "an item is a slug of [a-z0-9_], 1..32 bytes",
                                   "item");
  }
  if (body.getUnits().isValue() &&
      (body.getUnits().getValue() < 1 || body.getUnits().getValue() > kUnitsMax)) {
    return OutOfRange("units", 1, kUnitsMax);
  }
  // A cap per unit is checked on the units paid for (the unit_cap_exceeded flag): a payment for
  // a capped item that names none would escape it.
  if (!body.getUnits().isValue()) {
    for (const auto& [item, cap] : policy.unit_caps) {
      if (item != Str(body.getItem())) continue;
      return Reject("units_required",
                    "the policy in force caps " + item + " at " + std::to_string(cap) +
                        " fen per unit: say how many units this pays for",
                    "units");
    }
  }
  FL_RETURN_IF_ERROR(
      CheckOptionalRef(body.hasContractRef(), body.getContractRef(), "contract_ref"));
  FL_RETURN_IF_ERROR(CheckOptionalRef(body.hasInvoiceRef(), body.getInvoiceRef(), "invoice_ref"));
  FL_RETURN_IF_ERROR(CheckAmount(body.getAmountFen(), "amount_fen"));
  AccountKey from{AccountHolder::PROJECT, project->id, c}, to = External(party, c);
  FL_RETURN_IF_ERROR(CheckMove(*state, from, to, body.getAmountFen(), "amount_fen"));
  EventFact fact = NewFact(event, context);
  if (body.getPayee().hasOrg()) fact.counterparty = Str(body.getPayee().getOrg());
  fact.category = c;
  fact.amount_fen = body.getAmountFen();
  fact.from = from;
  fact.to = to;
  StageMove(state, from, to, body.getAmountFen());
  MoneyMoved(state, from, event.occurred_day());
  state->StageFact(std::move(fact));
  return Status::Ok();
}

Status ApplyFundsRefunded(const SignedEvent& event, const EventContext& context, const Org& signer,
                          LedgerState* state) {
  auto body = event.event().getFundsRefunded();
  if (signer.kind != OrgKind::FINANCE_BUREAU) {
    return NotAuthorised("only a finance bureau records refunds");
  }
  if (body.getFromKind() == HolderKind::POOL && signer.id != body.getFrom().cStr()) {
    return NotAuthorised("a finance bureau refunds from its own pool only", "from");
  }
  Category c = body.getCategory();
  AccountKey from;
  FL_RETURN_IF_ERROR(Holder(*state, signer, body.getFromKind(), Str(body.getFrom()), c, "from",
                            /*must_be_open=*/false, event.occurred_day(), &from));
  const Org* to_org = nullptr;
  FL_RETURN_IF_ERROR(LiveOrg(*state, Str(body.getToOrg()), "to_org", &to_org));
  if (!MayGive(*to_org, c)) {
    return Reject("category_mismatch",
                  "money goes back to an org that gives its category (government money to the "
                  "finance bureau of its level)",
                  "category");
  }
  if (IsGovernment(c)) {
    std::string_view holder_region =
        from.kind == AccountHolder::POOL
            ? std::string_view(state->FindOrg(from.holder)->region)
            : std::string_view(state->FindProject(from.holder)->region);
    if (!RegionWithin(holder_region, to_org->region)) {
      return Reject("out_of_region",
                    "government money goes back up its own chain, to the bureau of its level "
                    "above the account",
                    "to_org");
    }
  }
  FL_RETURN_IF_ERROR(CheckAmount(body.getAmountFen(), "amount_fen"));
  AccountKey to = External(OrgParty(to_org->id), c);
  FL_RETURN_IF_ERROR(CheckMove(*state, from, to, body.getAmountFen(), "amount_fen"));
  EventFact fact = NewFact(event, context);
  fact.counterparty = to_org->id;
  fact.category = c;
  fact.amount_fen = body.getAmountFen();
  fact.from = from;
  fact.to = to;
  StageMove(state, from, to, body.getAmountFen());
  state->StageFact(std::move(fact));
  return Status::Ok();
}

// ---- corrections, confirmations and findings ----

// The target's fact, after checking the target is a recorded event.
Status TargetFact(const LedgerState& state, std::string_view target, const EventFact** fact) {
  FL_RETURN_IF_ERROR(CheckIdChars(target, "target"));  // an id recorded, of any age
  // A fact is kept only for a recorded event, so a target with one is known without reading its
  // id row: an acknowledgement or a reversal of a movement reads one row here, not two.
  FL_RETURN_IF_ERROR(state.FindFact(target, fact));
  if (*fact != nullptr) return Status::Ok();
  uint64_t seq = 0;
  FL_RETURN_IF_ERROR(state.EventSeq(target, &seq));
  if (seq == 0) return Reject("target_unknown", "no recorded event with this id", "target");
  return Status::Ok();
}

Status CheckClosedProject(const LedgerState& state, const AccountKey& account) {
  if (account.kind != AccountHolder::PROJECT) return Status::Ok();
  const Project* p = state.FindProject(account.holder);
  if (p != nullptr && p->closed()) {
    return Reject(
        "project_closed",
        "the target moved money of project " + account.holder + ", which is settled or cancelled",
        "target");
  }
  return Status::Ok();
}

Status ApplyEventReversed(const SignedEvent& event, const EventContext& context, const Org& signer,
                          LedgerState* state) {
  std::string target = Str(event.event().getEventReversed().getTarget());
  const EventFact* fact = nullptr;
  FL_RETURN_IF_ERROR(TargetFact(*state, target, &fact));
  if (fact == nullptr) {
    return Reject("not_reversible", "only pledges and movements of money are reversed", "target");
  }
  if (!fact->reversed_by.empty()) {
    return Reject("already_reversed", "reversed already by " + fact->reversed_by, "target");
  }
  if (signer.id != fact->signer && signer.kind != OrgKind::OPERATOR) {
    return NotAuthorised("only the target's signer or the operator reverses it");
  }
  const int64_t day = event.occurred_day();  // a date: the rules checked it
  if (day < fact->occurred_day) {
    return Reject("reversal_before_target", "a reversal is dated on or after its target",
                  "occurred_on");
  }
  // Corrections are dated on the day they are made, so that a balance already published for
  // an earlier date stays what it was (DESIGN.md section 3). The day before is accepted for an
  // event signed just before midnight and recorded just after.
  if (day < BusinessDay(context.recorded_at_ms) - 1) {
    return Reject("reversal_backdated", "a reversal is dated on the day of the correction",
                  "occurred_on");
  }
  EventFact updated = *fact;
  updated.reversed_by = event.id();
  if (fact->type == uint16_t(Event::FUNDS_PLEDGED)) {
    if (fact->received_fen != 0) {
      return Reject("pledge_has_receipts", "reverse the receipts against the pledge first",
                    "target");
    }
    state->StageFact(std::move(updated));
    return Status::Ok();
  }
  FL_RETURN_IF_ERROR(CheckClosedProject(*state, fact->from));
  FL_RETURN_IF_ERROR(CheckClosedProject(*state, fact->to));
  FL_RETURN_IF_ERROR(CheckMove(*state, fact->to, fact->from, fact->amount_fen, "target"));
  const EventFact* pledge = nullptr;
  if (!fact->pledge.empty()) {
    FL_RETURN_IF_ERROR(state->FindFact(fact->pledge, &pledge));
    if (pledge == nullptr || pledge->received_fen < fact->amount_fen) {
      return Status::Corruption("fact_inconsistent", "pledge " + fact->pledge + " of " + target);
    }
  }
  AccountKey from = fact->to, to = fact->from;
  uint64_t amount = fact->amount_fen;
  if (pledge != nullptr) {
    EventFact p = *pledge;
    p.received_fen -= amount;
    state->StageFact(std::move(p));
  }
  StageMove(state, from, to, amount);
  state->StageFact(std::move(updated));
  return Status::Ok();
}

Status ApplyAcknowledged(const SignedEvent& event, const Org& signer, LedgerState* state) {
  std::string target = Str(event.event().getAcknowledged().getTarget());
  const EventFact* fact = nullptr;
  FL_RETURN_IF_ERROR(TargetFact(*state, target, &fact));
  if (fact == nullptr || fact->counterparty.empty()) {
    return Reject("no_counterparty", "the target names no registered counterparty", "target");
  }
  if (signer.id != fact->counterparty) {
    return Reject("not_counterparty", "only " + fact->counterparty + " acknowledges this event",
                  "signer");
  }
  if (signer.id == fact->signer) {
    return Reject("self_acknowledgement", "the signer of an event does not acknowledge it",
                  "signer");
  }
  if (!fact->reversed_by.empty()) {
    return Reject("target_reversed", "the target was reversed by " + fact->reversed_by, "target");
  }
  if (!fact->acknowledged_by.empty()) {
    return Reject("already_acknowledged", "acknowledged already by " + fact->acknowledged_by,
                  "target");
  }
  if (event.occurred_day() < fact->occurred_day) {
    return Reject("date_before_target",
                  "dated before the event it acknowledges (" + FormatDate(fact->occurred_day) + ")",
                  "occurred_on");
  }
  EventFact updated = *fact;
  updated.acknowledged_by = event.id();
  state->StageFact(std::move(updated));
  return Status::Ok();
}

// A finding is shown on every project its money targets move money in or out of (the views),
// so an auditor may name a movement only where it acts: at least one of its project or pool
// accounts is in the auditor's region. Other targets (a registration, a status) are listed in
// the finding alone and touch no project's views.
Status TargetInRegion(const LedgerState& state, const Org& signer, const std::string& target,
                      const std::string& field) {
  const EventFact* fact = nullptr;
  FL_RETURN_IF_ERROR(state.FindFact(target, &fact));
  if (fact == nullptr) return Status::Ok();
  std::string outside;
  for (const AccountKey* side : {&fact->from, &fact->to}) {
    std::string region;
    if (side->kind == AccountHolder::PROJECT) {
      const Project* project = state.FindProject(side->holder);
      if (project == nullptr) continue;
      region = project->region;
    } else if (side->kind == AccountHolder::POOL) {
      const Org* pool = state.FindOrg(side->holder);
      if (pool == nullptr) continue;
      region = pool->region;
    } else {
      continue;
    }
    if (RegionWithin(region, signer.region)) return Status::Ok();
    outside = side->holder;
  }
  std::string message = "the event moves money of ";
  message.append(outside.empty() ? "no project or pool" : outside);
  message.append(", outside ").append(signer.id).append("'s region '");
  message.append(signer.region).append("'");
  return Reject("out_of_region", message, field);
}

// A finding is not dated before a movement it names (date_before_target), nor before the
// registration of a project whose money that moves (date_before_registration).
Status TargetNotBeforeRegistration(const LedgerState& state, const std::string& target,
                                   int64_t day) {
  const EventFact* fact = nullptr;
  FL_RETURN_IF_ERROR(state.FindFact(target, &fact));
  if (fact == nullptr) return Status::Ok();
  if (day < fact->occurred_day) {
    return Reject(
        "date_before_target",
        "dated before " + target + ", which it names (" + FormatDate(fact->occurred_day) + ")",
        "occurred_on");
  }
  for (const AccountKey* side : {&fact->from, &fact->to}) {
    if (side->kind != AccountHolder::PROJECT) continue;
    const Project* project = nullptr;
    FL_RETURN_IF_ERROR(FindProject(state, side->holder, "occurred_on", day, &project));
  }
  return Status::Ok();
}

Status ApplyAuditFinding(const SignedEvent& event, const EventContext& context, const Org& signer,
                         LedgerState* state) {
  auto body = event.event().getAuditFinding();
  if (signer.kind != OrgKind::AUDITOR) return NotAuthorised("only auditors record findings");
  std::string id = Str(body.getFinding());
  FL_RETURN_IF_ERROR(CheckId(id, "finding"));
  if (state->FindFinding(id) != nullptr) {
    return Reject("finding_exists", "a finding with this id is already recorded", "finding");
  }
  std::string scope = signer.region, project_id;
  if (body.hasProject()) {
    const Project* project = nullptr;
    FL_RETURN_IF_ERROR(
        FindProject(*state, Str(body.getProject()), "project", event.occurred_day(), &project));
    FL_RETURN_IF_ERROR(InRegion(signer, project->region, "project"));
    scope = project->region;
    project_id = project->id;
  }
  auto targets = body.getTargets();
  if (targets.size() > kFindingTargetsMax) return OutOfRange("targets", 0, kFindingTargetsMax);
  std::set<std::string> seen;
  for (size_t i = 0; i < targets.size(); ++i) {
    std::string field = "targets[" + std::to_string(i) + "]";
    std::string target = Str(targets[i]);
    FL_RETURN_IF_ERROR(CheckIdChars(target, field));  // an id recorded, of any age
    if (!seen.insert(target).second) {
      return Status::InvalidArgument("duplicate_target", "each target once", field);
    }
    uint64_t seq = 0;
    FL_RETURN_IF_ERROR(state->EventSeq(target, &seq));
    if (seq == 0) return Reject("target_unknown", "no recorded event with this id", field);
    FL_RETURN_IF_ERROR(TargetInRegion(*state, signer, target, field));
    FL_RETURN_IF_ERROR(TargetNotBeforeRegistration(*state, target, event.occurred_day()));
  }
  if (!body.hasProject() && targets.size() == 0) {
    return Status::InvalidArgument("finding_subject_required",
                                   "a finding names a project or at least one target event",
                                   "targets");
  }
  FL_RETURN_IF_ERROR(CheckTextBytes(body.getText(), kFindingTextBytesMax, "text", true));
  state->StageFinding(
      Finding{id, signer.id, scope, project_id, context.seq, 0, event.occurred_day()});
  return Status::Ok();
}

Status ApplyFindingResolved(const SignedEvent& event, const EventContext& context,
                            const Org& signer, LedgerState* state) {
  auto body = event.event().getFindingResolved();
  if (signer.kind != OrgKind::AUDITOR) return NotAuthorised("only auditors resolve findings");
  const Finding* finding = state->FindFinding(Str(body.getFinding()));
  if (finding == nullptr) return Reject("finding_unknown", "no such finding", "finding");
  if (finding->resolved_seq != 0) {
    return Reject("finding_already_resolved",
                  "resolved at seq " + std::to_string(finding->resolved_seq), "finding");
  }
  FL_RETURN_IF_ERROR(InRegion(signer, finding->scope, "finding"));
  if (event.occurred_day() < finding->opened_day) {
    return Reject("date_before_target",
                  "dated before the finding it resolves (" + FormatDate(finding->opened_day) + ")",
                  "occurred_on");
  }
  FL_RETURN_IF_ERROR(CheckTextBytes(body.getText(), kFindingTextBytesMax, "text", true));
  Finding updated = *finding;
  updated.resolved_seq = context.seq;
  state->StageFinding(std::move(updated));
  return Status::Ok();
}

}  // namespace

Status ApplyFundEvent(const SignedEvent& event, const EventContext& context, LedgerState* state) {
  const Org* signer = state->FindOrg(event.signer());
  if (signer == nullptr) return Reject("signer_unknown", "no such organisation", "signer");
  // The signer is copied: staging may move the org map's entries.
  const Org me = *signer;
  switch (event.event().which()) {
    case Event::POLICY_SET:
      return ApplyPolicySet(event, context, me, state);
    case Event::PROJECT_REGISTERED:
      return ApplyProjectRegistered(event, context, me, state);
    case Event::PROJECT_REVISED:
      return ApplyProjectRevised(event, me, state);
    case Event::PROJECT_STATUS:
      return ApplyProjectStatus(event, context, me, state);
    case Event::FUNDS_PLEDGED:
      return ApplyFundsPledged(event, context, me, state);
    case Event::FUNDS_RECEIVED:
      return ApplyFundsReceived(event, context, me, state);
    case Event::FUNDS_ALLOCATED:
      return ApplyFundsAllocated(event, context, me, state);
    case Event::FUNDS_DISBURSED:
      return ApplyFundsDisbursed(event, context, me, state);
    case Event::FUNDS_REFUNDED:
      return ApplyFundsRefunded(event, context, me, state);
    case Event::EVENT_REVERSED:
      return ApplyEventReversed(event, context, me, state);
    case Event::ACKNOWLEDGED:
      return ApplyAcknowledged(event, me, state);
    case Event::AUDIT_FINDING:
      return ApplyAuditFinding(event, context, me, state);
    case Event::FINDING_RESOLVED:
      return ApplyFindingResolved(event, context, me, state);
    default:
      return Status::InvalidArgument("unknown_type", "not a fund-domain event", "type");
  }
}

}  // namespace fundledger
