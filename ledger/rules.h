// The ledger's rules: who may sign what, and what each event may do to the state.
//
// Used identically by the journal's sequencer (to accept or reject an event) and by full
// verification (to replay history), so that a ledger that verifies is one the rules produced.
// Every failure is Status::Rejected (or InvalidArgument for malformed values) with the rule's
// name as code and the offending field; the event id is added by the caller.
//
// Thread safety: pure functions of their arguments.
//
// The rule catalogue (DESIGN.md sections 3 and 4). Each line: event type, what must hold, and
// the error code (field) returned when it does not. "Within R" means the region is R or lies
// under it; the empty region is national. Every event also passes the common checks (dates
// 2000-01-01 .. recording day in UTC+8, doc_ref <= 200 bytes, memo <= 1000 bytes, no control
// characters but newline and tab, no bidirectional overrides: text_control_character; no text
// beginning with =, +, -, @ or a tab, which a spreadsheet opening the CSV files reads as a
// formula: text_formula_start; ids of [A-Za-z0-9._:-] beginning with a letter or a digit:
// bad_id) and its signer must be registered and not revoked.
//
//   amounts            every *_fen of a movement or pledge is 1..10^14     amount_out_of_range
//   balances           no account may pass +-10^18 fen                      balance_overflow
//   volume             every amount moved or pledged and every budget registered or revised,
//                      over the ledger's life, at most 10^18 fen in all    volume_overflow
//                      (so no view's total overflows; it bounds the balances too)
//   org_registered     operator only; id new; bureaus have a level; ...    (see registry rules)
//   policy_set         operator, or a finance bureau with region within its own   not_authorised
//                      region valid                                         bad_region
//                      consent/satisfaction_min_bp 1..10000, idle_days_max 1..3650  out_of_range
//                      one restricted_use entry per category, works distinct  duplicate_category
//                      nothing looser than the policy in force from the others (below): no
//                      work a listed category may not already pay for, no lower consent or
//                      satisfaction minimum, no higher idle_days_max or unit cap; only the
//                      operator's national policy is exempt                 policy_loosens
//                      unit_caps: item slug, distinct, 1..10^14 fen, at most 64; targets: known
//                      ratio metric, min_bp <= max_bp <= 10^6, at most 32  bad_item/bad_metric
//   project_registered housing bureau or street office, region within its own  not_authorised
//                      project id new                                       project_exists
//                      1..100 distinct compounds; households 1..10^6; buildings 1..10^5;
//                      floor_area_m2 1..10^9; built_year 1900..this year   out_of_range
//                      budget total >= 1; funding_plan categories distinct, amounts 1..10^14
//                      funding_plan total == budget total                  funding_plan_mismatch
//   project_revised    as registered, project must exist and not be settled/cancelled
//   any event naming a project (status, revision, pledge, money into or out of it, finding)
//                      dated on or after the project's registration  date_before_registration
//   project_status     registered->approved->started->completed->settled; cancelled from any
//                      state before completed                               status_transition
//                      approved needs consent_bp >= consent_min_bp          consent_below_minimum
//                      completed needs satisfaction_bp >= satisfaction_min_bp
//                      consent_bp only with approved, satisfaction_bp only with completed
//                      not dated before the current status (date_before_status); settled or
//                      cancelled not dated before a receipt, allocation or payment of the
//                      project's (date_before_money; refunds and reversals do not count)
//   funds_pledged      the source org itself or a finance bureau, with the project in region
//                      project exists and is open (not settled/cancelled)  project_closed
//                      the category is the source's (see "sources" below)  category_mismatch
//   funds_received     finance bureau: into its own pool or a project in its region, any category;
//                      street office: resident money into a project in its region
//                      source org registered, category and channel match it  category_mismatch,
//                      channel_not_allowed; government money names the recipient itself or a
//                      bureau of a higher level whose region holds the recipient's
//                      (source_not_above), which is then its counterparty; a street office's
//                      source is itself or a resident group in its area; households and
//                      contributor_ref (64 hex digits) only
//                      with resident money; a pledge must be live, for the same project, source
//                      and category, and not be exceeded                    pledge_*
//                      not dated before the pledge                          date_before_target
//                      a project receives money until settled/cancelled      project_closed
//   funds_allocated    the finance bureau owning the `from` pool; `to` is another finance
//                      bureau's pool or a project, within the signer's region; no overdraft
//   funds_disbursed    finance bureau with the project in region; project approved, started or
//                      completed (project_not_active); the category may pay for the work under
//                      the policy in force (restricted_use); no overdraft; payee kind is one that
//                      is paid (contractor, utility, enterprise, social_capital, resident_group:
//                      bad_payee_kind); credit_code is a valid 18-character
//                      统一社会信用代码 (bad_credit_code); payee.org registered, not revoked,
//                      named and of the kind it was registered with (payee_mismatch); not dated
//                      before the project's approval (date_before_status); an item the policy
//                      in force caps per unit names its units (units_required)
//   funds_refunded     finance bureau owning the pool, or with the project in region; to_org
//                      registered and not revoked; it gives the category (category_mismatch):
//                      government money goes back up its own chain to the bureau of its level
//                      whose region holds the account (out_of_region); no overdraft; allowed in
//                      every project state
//   event_reversed     target is a pledge or a movement (not_reversible), not yet reversed
//                      (already_reversed); signed by the target's signer or the operator;
//                      dated on or after the target and on the day it is recorded, or the day
//                      before (reversal_backdated); the opposite movement must not overdraw
//                      (overdraft) and must not touch a settled/cancelled project (project_closed)
//   acknowledged       target is a pledge, receipt, pool allocation, disbursement to a payee
//                      org, or refund (no_counterparty); signer is the counterparty named in it
//                      (not_counterparty) but not its own signer (self_acknowledgement); once
//                      (already_acknowledged); not of a reversed event (target_reversed); not
//                      dated before its target (date_before_target)
//   audit_finding      auditors only (not_authorised); finding id new (finding_exists);
//                      project, if given, exists and is within the auditor's region; targets
//                      are distinct recorded events (target_unknown), at most 100, and a
//                      money movement among them has a project or pool account within the
//                      auditor's region (out_of_region), and is not dated after the finding
//                      (date_before_target); a project or at least one target
//                      (finding_subject_required); text 1..4000 bytes
//   finding_resolved   an auditor whose region covers the finding's; finding open
//                      (finding_unknown, finding_already_resolved); not dated before the
//                      finding (date_before_target)
//
//   sources (the category a source org may give): a finance bureau gives its own level's
//   category; utility -> utility; enterprise -> enterprise; social_capital -> social_capital;
//   resident_group or street_office -> resident.
//   channels: government: transfer, bond; utility: transfer, in_kind_works; resident: transfer,
//   provident_fund, maintenance_fund, public_revenue, donation, in_kind_labour; enterprise:
//   transfer, donation, in_kind_works; social_capital: transfer, loan, donation, in_kind_works.
//   pools: a finance bureau's pool is named by its org id.
//   policy in force for a region: the operator's national policy, else the default (central
//   and provincial money pays basic and improvement work only, consent_min_bp 6667,
//   satisfaction_min_bp 8000, idle_days_max 180, no unit caps, no targets), made stricter by
//   every policy set for the region or a region above it, by whichever bureau: restricted use
//   intersected, minimums the highest, idle days and unit caps the lowest. Each org has one
//   policy per region (setting it again replaces it). A target comes from the nearest region
//   that sets one for its metric. So a district's policy overrides its city's where it is
//   stricter, and a province's tightening binds every city and district below at once.
//   records: a record's time is between 2000 and 2100 (bad_record_time).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/ed25519.h"
#include "crypto/status.h"
#include "ledger/event.h"
#include "ledger/state.h"

namespace fundledger {

inline constexpr size_t kNameBytesMax = 200;
inline constexpr size_t kDocRefBytesMax = 200;
inline constexpr size_t kMemoBytesMax = 1000;
inline constexpr size_t kRegionBytesMax = 200;

struct EventContext {
  uint64_t seq = 0;            // the seq the event will have
  int64_t recorded_at_ms = 0;  // the record's time, ms since the Unix epoch
};

// Finds the key that must verify `event`'s signature at this point of the log: the signer's
// current key, or, for the genesis event, the operator key it registers. Rejected with
// "genesis_required", "signer_unknown" or "signer_revoked" otherwise.
Status SignerKey(const LedgerState& state, const SignedEvent& event, PublicKey* key);

// Checks every rule for `event` and stages its changes in `state`.
// REQUIRES: the signature was verified with the key SignerKey() gave for this state.
Status ApplyEvent(const SignedEvent& event, const EventContext& context, LedgerState* state);

// org_registered, key_rotated, org_revoked: the events that change who may sign.
bool IsRegistryEvent(const SignedEvent& event);

// Days since 1970-01-01 of a "YYYY-MM-DD" calendar date; InvalidArgument "bad_date" otherwise.
Status ParseDate(std::string_view text, std::string_view field, int64_t* days);
// The business day (China Standard Time, UTC+8) of a time in ms since the epoch.
int64_t BusinessDay(int64_t unix_ms);
// "YYYY-MM-DD" of a day number as ParseDate gives it.
std::string FormatDate(int64_t days);

// A 统一社会信用代码 (GB 32100-2015): 18 characters with a valid check character.
bool IsValidCreditCode(std::string_view code);

// "" (national) or lowercase ascii slugs [a-z0-9_-] joined by '/'.
bool IsValidRegion(std::string_view region);
// True if `region` is `scope` or lies under it ("hunan/xiangtan" is within "hunan").
bool RegionWithin(std::string_view region, std::string_view scope);

}  // namespace fundledger
