# Derived state kept by the journal beside the records (format version 1). Everything here can
# be rebuilt from the records; `fundledger verify` rebuilds it and compares byte for byte.

@0x9e54318230584502;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("fundledger::schema");

using Event = import "event.capnp";

struct OrgKey {
  fromSeq @0 :UInt64;     # the first seq whose events are verified with this key
  publicKey @1 :Data;
}

struct OrgState {
  org @0 :Text;
  name @1 :Text;
  kind @2 :Event.OrgKind;
  level @3 :Event.Level;
  region @4 :Text;
  registeredSeq @5 :UInt64;
  revokedSeq @6 :UInt64;  # 0 while the org is active
  keys @7 :List(OrgKey);  # in seq order; the last is current
}

# The fund domain (column family `accounts`, keys in ledger/storage_format.h).

enum ProjectPhase {
  registered @0;
  approved @1;
  started @2;
  completed @3;
  settled @4;
  cancelled @5;
}

struct ProjectState {
  project @0 :Text;
  region @1 :Text;
  phase @2 :ProjectPhase;
  registeredSeq @3 :UInt64;
  phaseSeq @4 :UInt64;  # the seq of the event that set the phase
  registeredDay @5 :Int64;  # the registration's occurred_on, days since 1970-01-01 (format 3)
  # Format 4, days since 1970-01-01 as registeredDay:
  phaseDay @6 :Int64;       # the occurred_on of the event at phaseSeq
  approvedDay @7 :Int64;    # the approval's occurred_on; 0 before it
  lastMoneyDay @8 :Int64;   # the latest occurred_on of money moved in or out; 0 before any
}

struct PolicyState {
  region @0 :Text;
  setSeq @1 :UInt64;
  policy @2 :Event.PolicySet;
  setter @3 :Text;  # the org that set it; each org has at most one policy per region
}

enum AccountHolder {
  project @0;
  pool @1;
  external @2;
}

struct AccountRef {
  holderKind @0 :AccountHolder;
  holder @1 :Text;  # project id, pool (finance bureau) org id, or an outside party's key
}

# What later events need to know of a pledge or a movement of money: reversals, acknowledgements
# and receipts against a pledge.
struct EventFact {
  id @0 :Text;
  seq @1 :UInt64;
  type @2 :UInt16;          # Event's union discriminant (Event.which())
  signer @3 :Text;
  occurredDay @4 :Int64;    # days since 1970-01-01
  counterparty @5 :Text;    # the org that may acknowledge it; empty if none
  category @6 :Event.Category;
  amountFen @7 :UInt64;
  from @8 :AccountRef;      # movements: money leaves `from` and enters `to`
  to @9 :AccountRef;        # pledges: to is the project, from the source org
  pledge @10 :Text;         # a receipt against a pledge
  receivedFen @11 :UInt64;  # a pledge: received against it so far
  reversedBy @12 :Text;
  acknowledgedBy @13 :Text;
}

struct FindingState {
  finding @0 :Text;
  auditor @1 :Text;
  scope @2 :Text;           # the region it concerns: its project's, else the auditor's
  project @3 :Text;
  openedSeq @4 :UInt64;
  resolvedSeq @5 :UInt64;   # 0 while open
  openedDay @6 :Int64;      # the finding's occurred_on, days since 1970-01-01 (format 3)
}
