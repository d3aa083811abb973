#include "ledger/rules.h"

#include <cstdlib>

#include <cstdio>
#include <cstring>
#include <string>

#include "ledger/fund_rules.h"

namespace fundledger {
namespace {

using schema::Event;
using schema::OrgKind;

Status Reject(std::string_view code, std::string_view message, std::string_view field) {
  return Status::Rejected(code, message, field);
}

}  // namespace

bool BeginsAsFormula(std::string_view text) {
  static constexpr std::string_view kFormulaStarts = "=+-@\t";
  return !text.empty() && kFormulaStarts.find(text[0]) != std::string_view::npos;
}

Status CheckTextBytes(capnp::Text::Reader text, size_t max, std::string_view field, bool required) {
  if (required && text.size() == 0) {
    return Status::InvalidArgument("text_empty", "must not be empty", field);
  }
  if (text.size() > max) {
    return Status::InvalidArgument("text_too_long", "at most " + std::to_string(max) + " bytes",
                                   field);
  }
  // A spreadsheet opening the CSV files (the public funding and disbursement lists, the views'
  // CSV) reads a cell that begins with one of these as a formula: a payee's name could then
  // fetch a URL or run a command on a citizen's machine. Refused at the source, so that every
  // file shows a text exactly as it is signed.
  if (BeginsAsFormula(std::string_view(text.begin(), text.size()))) {
    return Status::InvalidArgument(
        "text_formula_start",
        "a text must not begin with =, +, -, @ or a tab (a spreadsheet reads it as a formula)",
        field);
  }
  // Text is valid UTF-8 (the codec checks it), so a character's continuation bytes follow its
  // first byte.
  const auto* b = reinterpret_cast<const uint8_t*>(text.begin());
  for (size_t i = 0, n = text.size(); i < n; ++i) {
    if ((b[i] < 0x20 && b[i] != '\n' && b[i] != '\t') || b[i] == 0x7f ||
        (b[i] == 0xc2 && i + 1 < n && b[i + 1] >= 0x80 && b[i + 1] <= 0x9f)) {
      return Status::InvalidArgument(
          "text_control_character",
          "control characters (C0 other than newline and tab, DEL, C1) are not text", field);
    }
    // Bidirectional embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069) show a
    // name or a reference in another order than its characters are (a payee's name reversed on
    // the public pages); the marks U+200E and U+200F stay allowed.
    if (b[i] == 0xe2 && i + 2 < n &&
        ((b[i + 1] == 0x80 && b[i + 2] >= 0xaa && b[i + 2] <= 0xae) ||
         (b[i + 1] == 0x81 && b[i + 2] >= 0xa6 && b[i + 2] <= 0xa9))) {
      return Status::InvalidArgument(
          "text_control_character",
          "bidirectional embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069)",
          field);
    }
  }
  return Status::Ok();
}

namespace {

Status CheckPublicKey(capnp::Data::Reader key, std::string_view field, PublicKey* out) {
  if (key.size() != sizeof(PublicKey)) {
    return Status::InvalidArgument("bad_public_key", "an Ed25519 public key is 32 bytes", field);
  }
  memcpy(out->data(), key.begin(), key.size());
  return Status::Ok();
}

Status CheckCommonFields(const SignedEvent& signed_event, const EventContext& context) {
  Event::Reader event = signed_event.event();
  // A record's time comes from the writer's clock; one outside this range is a broken clock or
  // a forged record, and would make every date check meaningless.
  static constexpr int64_t kRecordTimeMinMs = 946684800000;   // 2000-01-01
  static constexpr int64_t kRecordTimeMaxMs = 4102444800000;  // 2100-01-01
  if (context.recorded_at_ms < kRecordTimeMinMs || context.recorded_at_ms >= kRecordTimeMaxMs) {
    return Reject("bad_record_time", "the record's time is not between 2000 and 2100",
                  "recorded_at_ms");
  }
  int64_t day = signed_event.occurred_day();
  if (day == SignedEvent::kNoDay) {  // read when the event was made; ParseDate says what is wrong
    FL_RETURN_IF_ERROR(ParseDate(event.getOccurredOn().cStr(), "occurred_on", &day));
  }
  static constexpr int64_t kFirstDay = 10957;  // 2000-01-01
  if (day < kFirstDay) return Reject("date_too_early", "before 2000-01-01", "occurred_on");
  if (day > BusinessDay(context.recorded_at_ms)) {
    return Reject("date_in_future", "after the day it is recorded (UTC+8)", "occurred_on");
  }
  FL_RETURN_IF_ERROR(CheckId(event.getId().cStr(), "id"));
  if (event.hasDocRef()) {
    FL_RETURN_IF_ERROR(CheckTextBytes(event.getDocRef(), kDocRefBytesMax, "doc_ref", true));
  }
  if (event.hasMemo()) {
    FL_RETURN_IF_ERROR(CheckTextBytes(event.getMemo(), kMemoBytesMax, "memo", false));
  }
  return Status::Ok();
}

bool IsOperator(const LedgerState& state, std::string_view signer) {
  return state.has_operator() && state.operator_id() == signer;
}

Status ApplyOrgRegistered(const SignedEvent& event, const EventContext& context,
                          LedgerState* state) {
  auto body = event.event().getOrgRegistered();
  bool genesis = !state->has_operator();
  if (!genesis && body.getKind() == OrgKind::OPERATOR) {
    return Reject("second_genesis", "the ledger already has its operator", "kind");
  }
  if (!genesis && !IsOperator(*state, event.signer())) {
    return Reject("not_authorised", "only the operator registers organisations", "signer");
  }
  if (genesis && (body.getKind() != OrgKind::OPERATOR || event.signer() != body.getOrg().cStr())) {
    return Reject("genesis_required",
                  "the first event registers the operator, signed by the operator itself", "kind");
  }
  FL_RETURN_IF_ERROR(CheckId(body.getOrg().cStr(), "org"));
  if (state->FindOrg(body.getOrg().cStr()) != nullptr) {
    return Reject("org_exists", "an organisation with this id is already registered", "org");
  }
  FL_RETURN_IF_ERROR(CheckTextBytes(body.getName(), kNameBytesMax, "name", true));
  if (!IsValidRegion(body.getRegion().cStr())) {
    return Status::InvalidArgument("bad_region", "lowercase ascii slugs joined by '/'", "region");
  }
  bool government =
      body.getKind() == OrgKind::FINANCE_BUREAU || body.getKind() == OrgKind::HOUSING_BUREAU;
  if (government && body.getLevel() == schema::Level::NONE) {
    return Reject("level_required", "a bureau has a government level", "level");
  }
  if (body.getKind() == OrgKind::OPERATOR && body.getRegion().size() != 0) {
    return Reject("operator_region", "the operator is national (empty region)", "region");
  }
  Org org;
  OrgKey key;
  FL_RETURN_IF_ERROR(CheckPublicKey(body.getPublicKey(), "public_key", &key.key));
  key.from_seq = context.seq;
  org.id = body.getOrg().cStr();
  org.name = body.getName().cStr();
  org.kind = body.getKind();
  org.level = body.getLevel();
  org.region = body.getRegion().cStr();
  org.registered_seq = context.seq;
  org.keys.push_back(key);
  state->StageOrg(std::move(org));
  return Status::Ok();
}

Status ApplyKeyRotated(const SignedEvent& event, const EventContext& context, LedgerState* state) {
  auto body = event.event().getKeyRotated();
  const Org* org = state->FindOrg(body.getOrg().cStr());
  if (org == nullptr) return Reject("org_unknown", "no such organisation", "org");
  if (org->revoked()) return Reject("org_revoked", "the organisation is revoked", "org");
  if (event.signer() != org->id && !IsOperator(*state, event.signer())) {
    return Reject("not_authorised", "only the organisation itself or the operator rotates its key",
                  "signer");
  }
  OrgKey key;
  FL_RETURN_IF_ERROR(CheckPublicKey(body.getPublicKey(), "public_key", &key.key));
  if (key.key == org->current_key()) {
    return Reject("key_unchanged", "the new key is the current key", "public_key");
  }
  // The rotation itself is signed with the old key; the new one signs from the next event on.
  key.from_seq = context.seq + 1;
  Org updated = *org;
  updated.keys.push_back(key);
  state->StageOrg(std::move(updated));
  return Status::Ok();
}

Status ApplyOrgRevoked(const SignedEvent& event, const EventContext& context, LedgerState* state) {
  auto body = event.event().getOrgRevoked();
  if (!IsOperator(*state, event.signer())) {
    return Reject("not_authorised", "only the operator revokes organisations", "signer");
  }
  const Org* org = state->FindOrg(body.getOrg().cStr());
  if (org == nullptr) return Reject("org_unknown", "no such organisation", "org");
  if (org->revoked()) return Reject("org_revoked", "the organisation is already revoked", "org");
  if (org->kind == OrgKind::OPERATOR) {
    return Reject("operator_irrevocable", "the operator cannot be revoked", "org");
  }
  Org updated = *org;
  updated.revoked_seq = context.seq;
  state->StageOrg(std::move(updated));
  return Status::Ok();
}

}  // namespace

Status SignerKey(const LedgerState& state, const SignedEvent& event, PublicKey* key) {
  if (!state.has_operator()) {
    auto e = event.event();
    if (e.which() != Event::ORG_REGISTERED || e.getOrgRegistered().getKind() != OrgKind::OPERATOR ||
        event.signer() != e.getOrgRegistered().getOrg().cStr()) {
      return Reject("genesis_required",
                    "the first event registers the operator, signed by the operator itself",
                    "type");
    }
    return CheckPublicKey(e.getOrgRegistered().getPublicKey(), "public_key", key);
  }
  const Org* signer = state.FindOrg(event.signer());
  if (signer == nullptr) return Reject("signer_unknown", "no such organisation", "signer");
  if (signer->revoked()) return Reject("signer_revoked", "the signer is revoked", "signer");
  *key = signer->current_key();
  return Status::Ok();
}

namespace {

Status ApplyRules(const SignedEvent& event, const EventContext& context, LedgerState* state) {
  Event::Reader e = event.event();
  FL_RETURN_IF_ERROR(CheckCommonFields(event, context));
  switch (e.which()) {
    case Event::ORG_REGISTERED:
      return ApplyOrgRegistered(event, context, state);
    case Event::KEY_ROTATED:
      return ApplyKeyRotated(event, context, state);
    case Event::ORG_REVOKED:
      return ApplyOrgRevoked(event, context, state);
    default:
      return ApplyFundEvent(event, context, state);
  }
}

}  // namespace

Status ApplyEvent(const SignedEvent& event, const EventContext& context, LedgerState* state) {
  FL_RETURN_IF_ERROR(ApplyRules(event, context, state));
  state->StageEventId(event.id(), context.seq);
  // Double entry: every movement credits what it debits, so all accounts, external ones
  // included, sum to zero after every event. Anything else is a bug; the batch must not land.
  if (state->balance_sum() != 0) {
    fprintf(stderr, "fundledger: accounts do not sum to zero after event %s (seq %llu)\n",
            event.id().c_str(), (unsigned long long)context.seq);
    std::abort();
  }
  return Status::Ok();
}

bool IsRegistryEvent(const SignedEvent& event) {
  auto which = event.event().which();
  return which == Event::ORG_REGISTERED || which == Event::KEY_ROTATED ||
         which == Event::ORG_REVOKED;
}

bool IsValidCreditCode(std::string_view code) {
  // GB 32100-2015: 17 characters of a 31-letter alphabet and a check character.
  static constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  static constexpr int kWeights[17] = {1,  3,  9,  27, 19, 26, 16, 17, 20,
                                       29, 25, 13, 8,  24, 10, 30, 28};
  if (code.size() != 18) return false;
  int sum = 0;
  for (size_t i = 0; i < 18; ++i) {
    size_t v = kAlphabet.find(code[i]);
    if (v == std::string_view::npos) return false;
    if (i < 17) {
      sum += int(v) * kWeights[i];
    } else {
      return int(v) == (31 - sum % 31) % 31;
    }
  }
  return false;
}

Status ParseDate(std::string_view text, std::string_view field, int64_t* days) {
  auto bad = [&] { return Status::InvalidArgument("bad_date", "a date is YYYY-MM-DD", field); };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  int v[3] = {0, 0, 0};
  const int starts[3] = {0, 5, 8}, lens[3] = {4, 2, 2};
  for (int p = 0; p < 3; ++p) {
    for (int i = 0; i < lens[p]; ++i) {
      char c = text[starts[p] + i];
      if (c < '0' || c > '9') return bad();
      v[p] = v[p] * 10 + (c - '0');
    }
  }
  int y = v[0], m = v[1], d = v[2];
  static constexpr int kDaysInMonth[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (m < 1 || m > 12) return bad();
  int month_days = kDaysInMonth[m - 1] + (m == 2 && leap ? 1 : 0);
  if (d < 1 || d > month_days) return bad();
  // Days from civil (H. Hinnant's algorithm).
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  *days = era * 146097 + doe - 719468;
  return Status::Ok();
}

int64_t BusinessDay(int64_t unix_ms) {
  static constexpr int64_t kUtc8Ms = 8 * 3600 * 1000;
  static constexpr int64_t kDayMs = 86400 * 1000;
  int64_t local = unix_ms + kUtc8Ms;
  return local >= 0 ? local / kDayMs : -((-local + kDayMs - 1) / kDayMs);
}

std::string FormatDate(int64_t days) {
  // Civil from days (H. Hinnant's algorithm).
  days += 719468;
  int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int64_t d = doy - (153 * mp + 2) / 5 + 1;
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[16];
  snprintf(buf, sizeof(buf), "%04d-%02d-%02d", int(y), int(m), int(d));
  return buf;
}

bool IsValidRegion(std::string_view region) {
  if (region.empty()) return true;
  if (region.size() > kRegionBytesMax) return false;
  size_t segment = 0;
  for (char c : region) {
    if (c == '/') {
      if (segment == 0) return false;
      segment = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
    ++segment;
  }
  return segment > 0;
}

bool RegionWithin(std::string_view region, std::string_view scope) {
  if (scope.empty()) return true;
  if (region.size() < scope.size() || region.substr(0, scope.size()) != scope) return false;
  return region.size() == scope.size() || region[scope.size()] == '/';
}

}  // namespace fundledger
