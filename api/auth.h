// Who is asking: the registered organisations as the server sees them between appends, the
// signed-request scheme of the HTTP API, and what each kind of organisation may read.
//
// A request that is not public carries three headers:
//   X-Fundledger-Org:        the org id (as registered in the ledger)
//   X-Fundledger-Timestamp:  ms since the Unix epoch, decimal, within 5 minutes of the server's
//                            clock (either way)
//   X-Fundledger-Signature:  base64 of the Ed25519 signature, with the org's current key, over
//                            "fundledger/request/v1\n" METHOD "\n" PATH "\n" QUERY "\n" TIMESTAMP
// PATH is the request target's path and QUERY the raw text after '?' (empty if none), both
// exactly as sent. A captured request can be replayed until its timestamp leaves the window;
// reads change nothing and show only what the signing org may see anyway, and the server is
// meant to run behind TLS, so the window is the whole defence against replay.
//
// Access: auditors and the operator read everything; finance bureaus, housing bureaus and
// street offices read the views of projects, pools and regions within their own region; any
// registered org reads checkpoints and proofs (hashes only). Revoked orgs read nothing.
//
// Thread safety: an OrgDirectory is immutable once built and may be shared between threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/ed25519.h"
#include "crypto/status.h"
#include "ledger/event.h"
#include "ledger/state.h"

namespace fundledger {

inline constexpr char kOrgHeader[] = "X-Fundledger-Org";
inline constexpr char kTimestampHeader[] = "X-Fundledger-Timestamp";
inline constexpr char kSignatureHeader[] = "X-Fundledger-Signature";
inline constexpr char kRequestDomain[] = "fundledger/request/v1\n";
inline constexpr int64_t kRequestSkewMsMax = 5 * 60 * 1000;

struct OrgAccess {
  std::string id;
  schema::OrgKind kind = schema::OrgKind::OPERATOR;
  std::string region;
  PublicKey key{};  // the current key
  bool revoked = false;
};

// The committed registry, copied out of the ledger state so that request threads can read it
// while the writer appends.
class OrgDirectory {
 public:
  // REQUIRES: no concurrent Append on the journal that owns `state`.
  static std::shared_ptr<const OrgDirectory> FromState(const LedgerState& state);

  // nullptr if no org has this id.
  const OrgAccess* Find(std::string_view id) const;
  // The key the signer of `event` signs with now, if it is registered and not revoked (else
  // nullopt: the journal decides, e.g. for an org registered in the same batch).
  std::optional<PublicKey> SignerKeyOf(const SignedEvent& event) const;

 private:
  std::map<std::string, OrgAccess, std::less<>> orgs_;
};

// The bytes a request signature covers.
std::string RequestSigningBytes(std::string_view method, std::string_view path,
                                std::string_view query, std::string_view timestamp);

struct RequestSignature {
  std::string org;
  std::string timestamp;
  std::string signature;  // base64
  // On the server: the name of a signature header the request gives more than once (refused:
  // what a proxy and the server read of it could differ).
  std::string repeated;
};
// What a client puts in the three headers.
RequestSignature SignRequest(const KeyPair& key, std::string_view org, std::string_view method,
                             std::string_view path, std::string_view query, int64_t now_ms);

// Checks the three header values (empty when absent) and returns the org that signed.
// Rejected, with codes the server answers 401 to: "auth_missing", "auth_timestamp_malformed",
// "auth_timestamp_stale", "auth_org_unknown", "auth_signature_malformed",
// "auth_signature_invalid"; and 403: "org_revoked".
Status AuthenticateRequest(const OrgDirectory& directory, std::string_view method,
                           std::string_view path, std::string_view query,
                           const RequestSignature& headers, int64_t now_ms, const OrgAccess** out);

// Rejected "forbidden_kind" (403) unless `org` reads everything (auditor, operator).
Status AuthorizeEverything(const OrgAccess& org);
// Rejected "forbidden_kind" or "forbidden_region" (403) unless `org` may read the views of a
// scope lying in `region`.
Status AuthorizeRegion(const OrgAccess& org, std::string_view region);

}  // namespace fundledger
