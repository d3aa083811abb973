# fundledger events, envelopes and journal records (format version 1).
#
# This file is the stored and signed format: a field is never renumbered, retyped or removed.
# The JSON form of every struct here is derived from it one-to-one by ledger/codec.h:
#   - a field's JSON name is its name in snake_case (occurredOn -> occurred_on), as is an
#     enumerant's (financeBureau -> finance_bureau);
#   - the unnamed union of Event is written as "type": "<member in snake_case>" with the member
#     struct's fields alongside the common ones;
#   - a field is required unless annotated $optional (pointer fields) or written as an
#     optional number (a group `x :union { none @n :Void; value @m :T; }`);
#   - Data is standard base64; integers are JSON integers.
# Money is integer fen (`*Fen`), shares integer basis points (`*Bp`, 10000 = 100%).

@0xf0ce8459c6910fcb;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("fundledger::schema");

annotation optional @0xc3b1d1e0a6f24d01 (field) :Void;
# The field may be absent from the JSON form (a null pointer here).

enum Category {
  central @0;
  provincial @1;
  municipal @2;
  district @3;
  utility @4;
  resident @5;
  enterprise @6;
  socialCapital @7;
}

enum Work {
  basic @0;
  improvement @1;
  enhancement @2;
}

enum OrgKind {
  operator @0;
  financeBureau @1;
  housingBureau @2;
  streetOffice @3;
  utility @4;
  enterprise @5;
  socialCapital @6;
  residentGroup @7;
  contractor @8;
  auditor @9;
}

enum Level {
  central @0;
  provincial @1;
  municipal @2;
  district @3;
  none @4;
}

enum HolderKind {
  project @0;
  pool @1;
}

enum Channel {
  transfer @0;
  providentFund @1;
  maintenanceFund @2;
  publicRevenue @3;
  donation @4;
  inKindLabour @5;
  inKindWorks @6;
  loan @7;
  bond @8;
}

enum ProjectStatus {
  approved @0;
  started @1;
  completed @2;
  settled @3;
  cancelled @4;
}

enum Severity {
  info @0;
  minor @1;
  major @2;
  critical @3;
}

struct Budget {
  basicFen @0 :UInt64;
  improvementFen @1 :UInt64;
  enhancementFen @2 :UInt64;
}

struct CategoryAmount {
  category @0 :Category;
  amountFen @1 :UInt64;
}

struct RestrictedUse {
  category @0 :Category;
  works @1 :List(Work);
}

struct UnitCap {
  item @0 :Text;
  maxFenPerUnit @1 :UInt64;
}

struct PolicyTarget {
  metric @0 :Text;
  minBp :union {
    none @1 :Void;
    value @2 :UInt32;
  }
  maxBp :union {
    none @3 :Void;
    value @4 :UInt32;
  }
}

struct Payee {
  name @0 :Text;
  kind @1 :OrgKind;
  creditCode @2 :Text $optional;
  org @3 :Text $optional;
}

struct OrgRegistered {
  org @0 :Text;
  name @1 :Text;
  kind @2 :OrgKind;
  level @3 :Level;
  region @4 :Text;
  publicKey @5 :Data;
}

struct KeyRotated {
  org @0 :Text;
  publicKey @1 :Data;
}

struct OrgRevoked {
  org @0 :Text;
}

struct PolicySet {
  region @0 :Text;
  restrictedUse @1 :List(RestrictedUse);
  consentMinBp @2 :UInt32;
  satisfactionMinBp @3 :UInt32;
  unitCaps @4 :List(UnitCap);
  targets @5 :List(PolicyTarget);
  idleDaysMax @6 :UInt32;
}

struct ProjectRegistered {
  project @0 :Text;
  name @1 :Text;
  region @2 :Text;
  compounds @3 :List(Text);
  households @4 :UInt32;
  buildings @5 :UInt32;
  floorAreaM2 @6 :UInt64;
  builtYear @7 :UInt32;
  budget @8 :Budget;
  fundingPlan @9 :List(CategoryAmount);
}

struct ProjectRevised {
  project @0 :Text;
  budget @1 :Budget;
  fundingPlan @2 :List(CategoryAmount);
}

struct ProjectStatusChanged {
  project @0 :Text;
  status @1 :ProjectStatus;
  consentBp :union {
    none @2 :Void;
    value @3 :UInt32;
  }
  satisfactionBp :union {
    none @4 :Void;
    value @5 :UInt32;
  }
}

struct FundsPledged {
  project @0 :Text;
  sourceOrg @1 :Text;
  category @2 :Category;
  amountFen @3 :UInt64;
}

struct FundsReceived {
  to @0 :Text;
  toKind @1 :HolderKind;
  category @2 :Category;
  sourceOrg @3 :Text;
  channel @4 :Channel;
  amountFen @5 :UInt64;
  pledge @6 :Text $optional;
  households :union {
    none @7 :Void;
    value @8 :UInt32;
  }
  contributorRef @9 :Text $optional;
}

struct FundsAllocated {
  from @0 :Text;
  to @1 :Text;
  toKind @2 :HolderKind;
  category @3 :Category;
  amountFen @4 :UInt64;
}

struct FundsDisbursed {
  project @0 :Text;
  category @1 :Category;
  amountFen @2 :UInt64;
  payee @3 :Payee;
  work @4 :Work;
  item @5 :Text;
  units :union {
    none @6 :Void;
    value @7 :UInt32;
  }
  contractRef @8 :Text $optional;
  invoiceRef @9 :Text $optional;
}

struct FundsRefunded {
  from @0 :Text;
  fromKind @1 :HolderKind;
  category @2 :Category;
  toOrg @3 :Text;
  amountFen @4 :UInt64;
}

struct EventReversed {
  target @0 :Text;
}

struct Acknowledged {
  target @0 :Text;
}

struct AuditFinding {
  finding @0 :Text;
  project @1 :Text $optional;
  targets @2 :List(Text);
  severity @3 :Severity;
  text @4 :Text;
}

struct FindingResolved {
  finding @0 :Text;
  text @1 :Text;
}

struct Event {
  id @0 :Text;
  occurredOn @1 :Text;
  docRef @2 :Text $optional;
  memo @3 :Text $optional;
  union {
    orgRegistered @4 :OrgRegistered;
    keyRotated @5 :KeyRotated;
    orgRevoked @6 :OrgRevoked;
    policySet @7 :PolicySet;
    projectRegistered @8 :ProjectRegistered;
    projectRevised @9 :ProjectRevised;
    projectStatus @10 :ProjectStatusChanged;
    fundsPledged @11 :FundsPledged;
    fundsReceived @12 :FundsReceived;
    fundsAllocated @13 :FundsAllocated;
    fundsDisbursed @14 :FundsDisbursed;
    fundsRefunded @15 :FundsRefunded;
    eventReversed @16 :EventReversed;
    acknowledged @17 :Acknowledged;
    auditFinding @18 :AuditFinding;
    findingResolved @19 :FindingResolved;
  }
}

struct Envelope {
  signer @0 :Text;
  signature @1 :Data;
  event @2 :Event;
}

# One journal entry. Its canonical encoding is the Merkle leaf: leaf hash =
# SHA-256(0x00 || capnp::canonicalize(record)).
struct Record {
  seq @0 :UInt64;
  recordedAtMs @1 :Int64;
  envelope @2 :Envelope;
}
