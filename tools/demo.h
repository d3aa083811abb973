// `fundledger demo`: builds a realistic demonstration ledger of the renovation programme.
//
// The ledger holds the national, provincial, municipal and district finance and housing bureaus
// of seven regions (Hunan/Xiangtan, Henan/Xuchang (Yuzhou) and Pingdingshan (Zhanhe),
// Hebei/Baoding, Beijing/Shijingshan, Chongqing/Yongchuan, Fujian/Fuzhou), their street offices,
// utilities, original property-owning enterprises, social-capital investors, resident groups,
// contractors and auditors, each with its own key; and `projects` renovation projects whose
// money flows from the Ministry of Finance down the chain while every level adds its own, with
// residents, utilities, enterprises and investors contributing, contractors paid by work item,
// counterparties acknowledging, a few corrections, audit findings and policies (tools/demo_data.h
// names the sources of the mixes). Every event is dated between 2019-01-02 and kDemoLastDay, in
// the order it is appended, and passes the ledger's rules.
//
// Record times: the demo records its history as it happens, each batch of events at 18:00
// (UTC+8) on the business day of its last event, so that corrections are recorded on the day
// they are dated, as the rules require.
//
// Determinism: the events (ids, contents, signatures), their records (times included), the tree,
// the checkpoints and the keys are a function of `seed` and `projects` only. Keys:
// DIR/keys/<org>.key (mode 0600) and .pub for every organisation, the operator included, each
// derived as Ed25519 seed = SHA-256("fundledger-demo" || 0x00 || decimal seed || 0x00 || org) (a
// rotated key appends "#2" to the org), so anyone can sign further events as any organisation; the
// log's checkpoint key (derived from "log-key") is DIR/log.key as for every ledger, its verifier
// key DIR/keys/log.pub.
//
// Size: about 140..160 events per project (9,542 for the default 60, 140,018 for 1,000); the
// time grows linearly, about a second for the default and ten for 1,000 projects.
#pragma once

#include <cstdint>
#include <string>

namespace fundledger::cli {

inline constexpr uint32_t kDemoProjectsDefault = 60;
inline constexpr uint32_t kDemoProjectsMax = 100000;
inline constexpr const char* kDemoLastDay = "2026-10-31";

struct DemoArgs {
  std::string data;
  uint64_t seed = 1;
  uint32_t projects = kDemoProjectsDefault;
};

// Creates the demo ledger in `args.data`, which must not hold a ledger or demo keys already
// (exit 1, nothing changed). Shows progress on a terminal, prints a summary (organisations,
// projects, events by type, money received by category, head, checkpoint) and returns the exit
// status: 0, 1 if any event is rejected (its reason is printed), 2 on bad arguments.
int Demo(const DemoArgs& args);

}  // namespace fundledger::cli
