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
