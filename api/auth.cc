#include "api/auth.h"

#include <charconv>

#include "crypto/encoding.h"
#include "ledger/rules.h"

namespace fundledger {

std::shared_ptr<const OrgDirectory> OrgDirectory::FromState(const LedgerState& state) {
  auto directory = std::make_shared<OrgDirectory>();
  for (const auto& [id, org] : state.orgs()) {
    directory->orgs_.emplace(
        id, OrgAccess{org.id, org.kind, org.region, org.current_key(), org.revoked()});
  }
  return directory;
}

const OrgAccess* OrgDirectory::Find(std::string_view id) const {
  auto it = orgs_.find(id);
  return it == orgs_.end() ? nullptr : &it->second;
}

std::optional<PublicKey> OrgDirectory::SignerKeyOf(const SignedEvent& event) const {
  const OrgAccess* org = Find(event.signer());
  if (org == nullptr || org->revoked) return std::nullopt;
  return org->key;
}

std::string RequestSigningBytes(std::string_view method, std::string_view path,
                                std::string_view query, std::string_view timestamp) {
  std::string out = kRequestDomain;
  out.append(method).append("\n").append(path).append("\n").append(query).append("\n");
  out.append(timestamp);
  return out;
}

RequestSignature SignRequest(const KeyPair& key, std::string_view org, std::string_view method,
                             std::string_view path, std::string_view query, int64_t now_ms) {
  RequestSignature out{std::string(org), std::to_string(now_ms), "", ""};
  std::string bytes = RequestSigningBytes(method, path, query, out.timestamp);
  Signature signature = key.Sign(AsBytes(bytes));
  out.signature = Base64Encode(signature);
  return out;
}

namespace {

Status AuthError(std::string_view code, std::string_view message, std::string_view header) {
  return Status::Rejected(code, message, header);
}

}  // namespace

Status AuthenticateRequest(const OrgDirectory& directory, std::string_view method,
                           std::string_view path, std::string_view query,
                           const RequestSignature& headers, int64_t now_ms, const OrgAccess** out) {
  if (!headers.repeated.empty()) {
    return AuthError("auth_header_repeated",
                     "the header " + headers.repeated + " is given more than once",
                     headers.repeated);
  }
  if (headers.org.empty() || headers.timestamp.empty() || headers.signature.empty()) {
    return AuthError(
        "auth_missing",
        "this read needs a request signed by a registered organisation (headers " +
            std::string(kOrgHeader) + ", " + kTimestampHeader + ", " + kSignatureHeader + ")",
        headers.org.empty() ? kOrgHeader
                            : (headers.timestamp.empty() ? kTimestampHeader : kSignatureHeader));
  }
  int64_t timestamp_ms = 0;
  const char* end = headers.timestamp.data() + headers.timestamp.size();
  auto [ptr, ec] = std::from_chars(headers.timestamp.data(), end, timestamp_ms);
  if (ec != std::errc() || ptr != end || headers.timestamp.size() > 16) {
    return AuthError("auth_timestamp_malformed", "the timestamp is ms since the Unix epoch",
                     kTimestampHeader);
  }
  if (timestamp_ms < now_ms - kRequestSkewMsMax || timestamp_ms > now_ms + kRequestSkewMsMax) {
    return AuthError("auth_timestamp_stale",
                     "the timestamp is more than 5 minutes from the server's clock",
                     kTimestampHeader);
  }
  const OrgAccess* org = directory.Find(headers.org);
  if (org == nullptr) {
    return AuthError("auth_org_unknown", "no registered organisation " + headers.org, kOrgHeader);
  }
  std::vector<uint8_t> raw;
  Status decoded = Base64Decode(headers.signature, &raw, 64);
  if (!decoded.ok() || raw.size() != Signature().size()) {
    return AuthError("auth_signature_malformed", "the signature is base64 of 64 bytes",
                     kSignatureHeader);
  }
  Signature signature;
  std::copy(raw.begin(), raw.end(), signature.begin());
  std::string bytes = RequestSigningBytes(method, path, query, headers.timestamp);
  if (!VerifySignature(org->key, AsBytes(bytes), signature)) {
    return AuthError("auth_signature_invalid",
                     "the signature does not verify with " + org->id + "'s current key",
                     kSignatureHeader);
  }
  if (org->revoked) return AuthError("org_revoked", org->id + " is revoked", kOrgHeader);
  *out = org;
  return Status::Ok();
}

Status AuthorizeEverything(const OrgAccess& org) {
  if (org.kind == schema::OrgKind::AUDITOR || org.kind == schema::OrgKind::OPERATOR) {
    return Status::Ok();
  }
  return Status::Rejected("forbidden_kind", "only auditors and the operator read this", kOrgHeader);
}

Status AuthorizeRegion(const OrgAccess& org, std::string_view region) {
  if (AuthorizeEverything(org).ok()) return Status::Ok();
  switch (org.kind) {
    case schema::OrgKind::FINANCE_BUREAU:
    case schema::OrgKind::HOUSING_BUREAU:
    case schema::OrgKind::STREET_OFFICE:
      break;
    default:
      return Status::Rejected("forbidden_kind",
                              "views are read by auditors, the operator, finance and housing "
                              "bureaus and street offices",
                              kOrgHeader);
  }
  if (!RegionWithin(region, org.region)) {
    return Status::Rejected("forbidden_region",
                            org.id + " reads only within region \"" + org.region + "\"",
                            kOrgHeader);
  }
  return Status::Ok();
}

}  // namespace fundledger
