# The materialised view rows of the read side (column family `projections`, keys in
# replay/view_rows.h). Everything here is rebuilt from the records by `fundledger replay` and
# compared byte for byte by `fundledger verify`; rows are capnp::canonicalize of these structs.

@0xc4eb4519cbd8280b;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("fundledger::schema");

using Event = import "/ledger/schema/event.capnp";
using State = import "/ledger/schema/state.capnp";

# One money movement, as reversals, acknowledgements and findings need to find it again.
struct MovementView {
  seq @0 :UInt64;
  type @1 :UInt16;         # Event.Event union member (which())
  day @2 :Int64;           # occurred_on, days since 1970-01-01
  category @3 :Event.Category;
  amountFen @4 :UInt64;
  fromKind @5 :State.AccountHolder;
  from @6 :Text;           # empty when the money comes from outside
  toKind @7 :State.AccountHolder;
  to @8 :Text;             # empty when the money leaves
  againstPledge @9 :Bool;  # a receipt against a pledge
}

# What the views need to know about a project or a pool beyond its figures.
struct HolderView {
  project @0 :Event.ProjectRegistered;  # projects: as registered, budget and plan as revised
  phase @1 :State.ProjectPhase;
  registeredSeq @2 :UInt64;
  registeredDay @3 :Int64;
  closedSeq @4 :UInt64;     # settled or cancelled; 0 while live
  closedDay @5 :Int64;
  firstInDay @6 :Int64;     # the first day money came in; 0 if none has, or all was reversed
  lastOutDay @7 :Int64;     # no longer written (0): views format 1 kept the last day money went
                            # out here, reversals left it; idle_funds reads the payments' rows and
                            # the pool's allocation rows, which know what was reversed.
}

struct DisbursementView {
  seq @0 :UInt64;
  id @1 :Text;
  day @2 :Int64;
  body @3 :Event.FundsDisbursed;
  acknowledgedBy @4 :Text;  # the acknowledging event's id, empty if none
  reversedBy @5 :Text;      # the reversing event's id, empty if none
  findings @6 :List(Text);  # findings that name it, in the order they were opened
}

struct FindingView {
  finding @0 :Text;
  seq @1 :UInt64;
  day @2 :Int64;
  auditor @3 :Text;
  severity @4 :Event.Severity;
  text @5 :Text;
  targets @6 :List(Text);
  projects @7 :List(Text);  # the project it names and the projects of its targets
  resolvedSeq @8 :UInt64;   # 0 while open
  resolvedDay @9 :Int64;
  resolution @10 :Text;
}
