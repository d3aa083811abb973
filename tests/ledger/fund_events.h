// JSON builders of the fund-domain events (DESIGN.md section 3) for tests on a TestLedger:
// dated 2025-06-01 unless told otherwise, with values that pass the rules in the world of
// FundRules (tests/ledger/fund_rules_test.cc).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace fundledger::testing {

inline constexpr char kHeping[] = "hunan/xiangtan/yuhu/heping";
inline constexpr char kValidCreditCode[] = "91430300MA4L00001W";

inline nlohmann::json Event(const std::string& id, const std::string& type, nlohmann::json fields,
                            const std::string& day = "2025-06-01") {
  fields["id"] = id;
  fields["type"] = type;
  fields["occurred_on"] = day;
  return fields;
}

inline nlohmann::json Budget(uint64_t basic, uint64_t improvement = 0, uint64_t enhancement = 0) {
  return {{"basic_fen", basic}, {"improvement_fen", improvement}, {"enhancement_fen", enhancement}};
}

inline nlohmann::json ProjectRegistration(const std::string& project,
                                          const std::string& region = kHeping) {
  return Event("reg-" + project, "project_registered",
               {{"project", project},
                {"name", "和平街道建设路片区老旧小区改造"},
                {"region", region},
                {"compounds", {"建设路小区", "和平里小区"}},
                {"households", 600},
                {"buildings", 12},
                {"floor_area_m2", 48000},
                {"built_year", 1995},
                {"budget", Budget(800'000'000, 400'000'000, 200'000'000)},
                {"funding_plan",
                 {{{"category", "central"}, {"amount_fen", 600'000'000}},
                  {{"category", "district"}, {"amount_fen", 400'000'000}},
                  {{"category", "social_capital"}, {"amount_fen", 400'000'000}}}}});
}

inline nlohmann::json StatusChange(const std::string& id, const std::string& project,
                                   const std::string& status, std::optional<uint32_t> consent = {},
                                   std::optional<uint32_t> satisfaction = {}) {
  nlohmann::json e = Event(id, "project_status", {{"project", project}, {"status", status}});
  if (consent) e["consent_bp"] = *consent;
  if (satisfaction) e["satisfaction_bp"] = *satisfaction;
  return e;
}

inline nlohmann::json Received(const std::string& id, const std::string& to,
                               const std::string& to_kind, const std::string& category,
                               const std::string& source, uint64_t amount,
                               const std::string& channel = "transfer") {
  return Event(id, "funds_received",
               {{"to", to},
                {"to_kind", to_kind},
                {"category", category},
                {"source_org", source},
                {"channel", channel},
                {"amount_fen", amount}});
}

inline nlohmann::json Allocated(const std::string& id, const std::string& from,
                                const std::string& to, const std::string& to_kind,
                                const std::string& category, uint64_t amount) {
  return Event(id, "funds_allocated",
               {{"from", from},
                {"to", to},
                {"to_kind", to_kind},
                {"category", category},
                {"amount_fen", amount}});
}

// A contractor; a registered one is named as registered (TestLedger names org X "X name").
inline nlohmann::json Payee(const std::string& org = "jianshe") {
  nlohmann::json p = {{"name", "湘潭市建设工程有限公司"}, {"kind", "contractor"}};
  if (!org.empty()) {
    p["org"] = org;
    p["name"] = org + " name";
  }
  return p;
}

inline nlohmann::json Disbursed(const std::string& id, const std::string& project,
                                const std::string& category, uint64_t amount,
                                const std::string& work = "basic", nlohmann::json payee = Payee()) {
  return Event(id, "funds_disbursed",
               {{"project", project},
                {"category", category},
                {"amount_fen", amount},
                {"payee", payee},
                {"work", work},
                {"item", "pipe_network"},
                {"contract_ref", "XTJS-2025-017"},
                {"invoice_ref", "No.43001234"}});
}

inline nlohmann::json Refunded(const std::string& id, const std::string& from,
                               const std::string& from_kind, const std::string& category,
                               const std::string& to_org, uint64_t amount) {
  return Event(id, "funds_refunded",
               {{"from", from},
                {"from_kind", from_kind},
                {"category", category},
                {"to_org", to_org},
                {"amount_fen", amount}});
}

inline nlohmann::json Pledged(const std::string& id, const std::string& project,
                              const std::string& source, const std::string& category,
                              uint64_t amount) {
  return Event(id, "funds_pledged",
               {{"project", project},
                {"source_org", source},
                {"category", category},
                {"amount_fen", amount}});
}

// Dated on the day of the correction: the test clock's day.
inline nlohmann::json Reversal(const std::string& id, const std::string& target,
                               const std::string& day = "2026-11-22") {
  return Event(id, "event_reversed", {{"target", target}}, day);
}

inline nlohmann::json Ack(const std::string& id, const std::string& target) {
  return Event(id, "acknowledged", {{"target", target}});
}

inline nlohmann::json PolicyFor(const std::string& id, const std::string& region) {
  return Event(id, "policy_set",
               {{"region", region},
                {"restricted_use",
                 {{{"category", "central"}, {"works", {"basic", "improvement"}}},
                  {{"category", "provincial"}, {"works", {"basic", "improvement"}}}}},
                {"consent_min_bp", 6667},
                {"satisfaction_min_bp", 8000},
                {"unit_caps", {{{"item", "elevator"}, {"max_fen_per_unit", 35'000'000}}}},
                {"targets", {{{"metric", "social_capital_to_government_bp"}, {"min_bp", 10000}}}},
                {"idle_days_max", 180}});
}

inline nlohmann::json FindingEvent(const std::string& id, const std::string& finding,
                                   nlohmann::json targets, const std::string& project = "") {
  nlohmann::json e = Event(id, "audit_finding",
                           {{"finding", finding},
                            {"targets", targets},
                            {"severity", "major"},
                            {"text", "付款凭证与合同金额不一致"}});
  if (!project.empty()) e["project"] = project;
  return e;
}

}  // namespace fundledger::testing
