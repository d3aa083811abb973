#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "crypto/checkpoint.h"
#include "ledger/key_file.h"
#include "ledger/storage_format.h"
#include "replay/verify.h"
#include "tests/ledger/fund_events.h"
#include "tests/ledger/test_ledger.h"

namespace fundledger::testing {
namespace {

using nlohmann::json;

// Appends `event` and checks that it is rejected with `code` naming `field`, and that neither
// the journal's size and root nor its registry changed.
void ExpectRejected(Journal& journal, const SignedEvent& event, const std::string& code,
                    const std::string& field) {
  Journal::Head before = journal.head();
  auto registry_before = journal.state().orgs();
  std::vector<AppendResult> results;
  ASSERT_TRUE(journal.Append(std::span<const SignedEvent>(&event, 1), &results).ok());
  AppendResult r = results.at(0);
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.code(), code) << r.status.ToString();
  EXPECT_EQ(r.status.field(), field) << r.status.ToString();
  EXPECT_EQ(r.status.event_id(), event.id());
  Journal::Head after = journal.head();
  EXPECT_EQ(after.size, before.size);
  EXPECT_EQ(after.root, before.root);
  EXPECT_EQ(journal.state().orgs(), registry_before);
  uint64_t seq = 0;
  Status found = journal.FindEvent(event.id(), &seq);
  if (found.ok()) {
    EXPECT_LE(seq, before.size);  // an earlier event, never this one
  }
}
void ExpectRejected(TestLedger& ledger, const SignedEvent& event, const std::string& code,
                    const std::string& field) {
  ExpectRejected(ledger.journal(), event, code, field);
}

// A key_rotated event of `org` to `key`.
json KeyRotation(const std::string& id, const std::string& org, const KeyPair& key) {
  return {{"id", id},
          {"type", "key_rotated"},
          {"occurred_on", "2026-11-05"},
          {"org", org},
          {"public_key", Base64Encode(key.public_key())}};
}

TEST(Journal, GenesisRegistersTheOperator) {
  TestLedger ledger;
  EXPECT_EQ(ledger.journal().head().size, 1u);
  const Org* op = ledger.journal().state().FindOrg("operator");
  ASSERT_NE(op, nullptr);
  EXPECT_EQ(op->kind, schema::OrgKind::OPERATOR);
  EXPECT_EQ(ledger.journal().state().operator_id(), "operator");
}

TEST(Journal, FirstEventMustBeTheSelfSignedGenesis) {
  auto dir = std::filesystem::temp_directory_path() / ("fl-genesis-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  NoteSigner log{"log", 0, KeyPair::Generate()};
  log.key_hash = NoteKeyHash(log.name, log.key.public_key());
  std::unique_ptr<Journal> journal;
  JournalOptions options;
  options.now_ms = [] { return kTestNowMs; };
  ASSERT_TRUE(Journal::Create(dir.string(), "o", log, options, &journal).ok());
  KeyPair op = KeyPair::Generate(), other = KeyPair::Generate();
  json genesis = {{"id", "g"},
                  {"type", "org_registered"},
                  {"occurred_on", "2026-11-01"},
                  {"org", "op"},
                  {"name", "op"},
                  {"kind", "operator"},
                  {"level", "none"},
                  {"region", ""},
                  {"public_key", Base64Encode(op.public_key())}};
  std::vector<AppendResult> results;
  // Not an operator registration.
  json receipt = Receipt("r", "op", 1);
  ASSERT_TRUE(
      journal->Append(std::vector<SignedEvent>{TestLedger::SignedWith("op", op, receipt)}, &results)
          .ok());
  EXPECT_EQ(results[0].status.code(), "genesis_required");
  // Signed by a key other than the one it registers.
  ASSERT_TRUE(
      journal
          ->Append(std::vector<SignedEvent>{TestLedger::SignedWith("op", other, genesis)}, &results)
          .ok());
  EXPECT_EQ(results[0].status.code(), "signature_invalid");
  // Signer is not the org it registers.
  ASSERT_TRUE(
      journal->Append(std::vector<SignedEvent>{TestLedger::SignedWith("x", op, genesis)}, &results)
          .ok());
  EXPECT_EQ(results[0].status.code(), "genesis_required");
  // The operator is national: its region is empty (only the genesis registers an operator).
  json regional = genesis;
  regional["region"] = "hunan";
  ExpectRejected(*journal, TestLedger::SignedWith("op", op, regional), "operator_region", "region");
  EXPECT_EQ(journal->head().size, 0u);
  ASSERT_TRUE(
      journal->Append(std::vector<SignedEvent>{TestLedger::SignedWith("op", op, genesis)}, &results)
          .ok());
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(results[0].seq, 1u);
  journal.reset();
  std::filesystem::remove_all(dir);
}

TEST(Journal, SecondGenesisIsRejected) {
  TestLedger ledger;
  json again = ledger.Genesis();
  again["id"] = "genesis-2";
  ExpectRejected(ledger, ledger.Signed("operator", again), "second_genesis", "kind");
  json other = ledger.Registration("op2", "operator", "none", "");
  ExpectRejected(ledger, ledger.Signed("op2", other), "signer_unknown", "signer");
  ExpectRejected(ledger, ledger.Signed("operator", other), "second_genesis", "kind");
}

TEST(Journal, OnlyTheOperatorRegistersOrganisations) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  json reg = ledger.Registration("xt-housing", "housing_bureau", "municipal", "hunan/xiangtan");
  ExpectRejected(ledger, ledger.Signed("xt-finance", reg), "not_authorised", "signer");
  ledger.AppendOk(ledger.Signed("operator", reg));
  json again = ledger.Registration("xt-housing", "housing_bureau", "municipal", "hunan/xiangtan");
  again["id"] = "reg-again";
  ExpectRejected(ledger, ledger.Signed("operator", again), "org_exists", "org");
}

TEST(Journal, RegistrationFieldsAreChecked) {
  TestLedger ledger;
  json reg = ledger.Registration("x", "finance_bureau", "municipal", "hunan/xiangtan");
  json e = reg;
  e["region"] = "Hunan/Xiangtan";
  ExpectRejected(ledger, ledger.Signed("operator", e), "bad_region", "region");
  e = reg;
  e["region"] = "hunan//xiangtan";
  ExpectRejected(ledger, ledger.Signed("operator", e), "bad_region", "region");
  e = reg;
  e["level"] = "none";
  ExpectRejected(ledger, ledger.Signed("operator", e), "level_required", "level");
  e = reg;
  e["public_key"] = Base64Encode(std::vector<uint8_t>(31, 1));
  ExpectRejected(ledger, ledger.Signed("operator", e), "bad_public_key", "public_key");
  e = reg;
  e["name"] = "";
  ExpectRejected(ledger, ledger.Signed("operator", e), "text_empty", "name");
  e = reg;
  e["org"] = "bad org";
  ExpectRejected(ledger, ledger.Signed("operator", e), "bad_id", "org");
}

TEST(Journal, SignaturesAreCheckedAgainstTheSignersCurrentKey) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  ledger.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
  // Unknown signer.
  ExpectRejected(
      ledger, TestLedger::SignedWith("nobody", KeyPair::Generate(), Receipt("r0", "xt-finance", 1)),
      "signer_unknown", "signer");
  // Another org's key, claiming to be xt-finance.
  ExpectRejected(ledger,
                 TestLedger::SignedWith("xt-finance", ledger.keys().at("yh-finance"),
                                        Receipt("r1", "xt-finance", 1)),
                 "signature_invalid", "signature");
  // A valid signature over different content (one field changed after signing).
  SignedEvent good = ledger.Signed("xt-finance", Receipt("r2", "xt-finance", 100));
  json tampered = good.ToEnvelopeJson();
  tampered["event"]["amount_fen"] = 1000000;
  SignedEvent forged;
  ASSERT_TRUE(SignedEvent::FromEnvelopeJson(tampered, &forged).ok());
  ExpectRejected(ledger, forged, "signature_invalid", "signature");
  ledger.AppendOk(good);
}

TEST(Journal, KeyRotationSwitchesKeysAtItsSeq) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  KeyPair old_key = ledger.keys().at("xt-finance");
  KeyPair new_key = KeyPair::Generate();
  json rotate = KeyRotation("rot-1", "xt-finance", new_key);
  // Another org may not rotate it.
  ledger.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
  ExpectRejected(ledger, ledger.Signed("yh-finance", rotate), "not_authorised", "signer");
  // Signed with the new key (not yet valid): rejected.
  ExpectRejected(ledger, TestLedger::SignedWith("xt-finance", new_key, rotate), "signature_invalid",
                 "signature");
  AppendResult r = ledger.AppendOk(TestLedger::SignedWith("xt-finance", old_key, rotate));
  ExpectRejected(ledger,
                 TestLedger::SignedWith("xt-finance", old_key, Receipt("r1", "xt-finance", 1)),
                 "signature_invalid", "signature");
  ledger.AppendOk(TestLedger::SignedWith("xt-finance", new_key, Receipt("r1", "xt-finance", 1)));
  const Org* org = ledger.journal().state().FindOrg("xt-finance");
  ASSERT_EQ(org->keys.size(), 2u);
  EXPECT_EQ(*org->KeyAt(r.seq), old_key.public_key());
  EXPECT_EQ(*org->KeyAt(r.seq + 1), new_key.public_key());
  json same = rotate;
  same["id"] = "rot-2";
  ExpectRejected(ledger, TestLedger::SignedWith("xt-finance", new_key, same), "key_unchanged",
                 "public_key");
  // Verification replays the history with the key of each moment.
  VerifyReport report;
  Status s = VerifyLedger(ledger.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(Journal, RevokedSignersAreRejected) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  json revoke = {{"id", "rev-1"},
                 {"type", "org_revoked"},
                 {"occurred_on", "2026-11-05"},
                 {"org", "xt-finance"}};
  ExpectRejected(ledger, ledger.Signed("xt-finance", revoke), "not_authorised", "signer");
  ledger.AppendOk(ledger.Signed("operator", revoke));
  ExpectRejected(ledger, ledger.Signed("xt-finance", Receipt("r1", "xt-finance", 1)),
                 "signer_revoked", "signer");
  json again = revoke;
  again["id"] = "rev-2";
  ExpectRejected(ledger, ledger.Signed("operator", again), "org_revoked", "org");
  json op = revoke;
  op["id"] = "rev-3";
  op["org"] = "operator";
  ExpectRejected(ledger, ledger.Signed("operator", op), "operator_irrevocable", "org");
  // A revoked org's id is never reused.
  json reg = ledger.Registration("xt-finance", "finance_bureau", "municipal", "hunan/xiangtan");
  reg["id"] = "reg-xt-finance-2";
  ExpectRejected(ledger, ledger.Signed("operator", reg), "org_exists", "org");
}

TEST(Journal, RegistryEventsOnAnUnknownOrRevokedOrgAreRefused) {
  TestLedger ledger;
  auto revocation = [](const std::string& id, const std::string& org) {
    return json{{"id", id}, {"type", "org_revoked"}, {"occurred_on", "2026-11-05"}, {"org", org}};
  };
  ExpectRejected(ledger,
                 ledger.Signed("operator", KeyRotation("rot-1", "ghost", KeyPair::Generate())),
                 "org_unknown", "org");
  ExpectRejected(ledger, ledger.Signed("operator", revocation("rev-1", "ghost")), "org_unknown",
                 "org");
  ledger.Register("xt-finance");
  ledger.AppendOk(ledger.Signed("operator", revocation("rev-2", "xt-finance")));
  ExpectRejected(ledger,
                 ledger.Signed("operator", KeyRotation("rot-2", "xt-finance", KeyPair::Generate())),
                 "org_revoked", "org");
}

TEST(Journal, DatesAreChecked) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  auto with_date = [&](const std::string& id, const std::string& date) {
    json e = Receipt(id, "xt-finance", 1);
    e["occurred_on"] = date;
    return ledger.Signed("xt-finance", e);
  };
  ExpectRejected(ledger, with_date("d1", "2026-11-23"), "date_in_future", "occurred_on");
  ExpectRejected(ledger, with_date("d2", "1999-12-31"), "date_too_early", "occurred_on");
  ExpectRejected(ledger, with_date("d3", "2026-02-29"), "bad_date", "occurred_on");
  ExpectRejected(ledger, with_date("d4", "2026-1-05"), "bad_date", "occurred_on");
  ledger.AppendOk(with_date("d5", "2026-11-22"));  // the recording day itself (UTC+8)
  ledger.AppendOk(with_date("d6", "2000-01-01"));
  ledger.AppendOk(with_date("d7", "2024-02-29"));
  // The recording day is China's: the test clock is 2026-11-22 04:00Z, and China's 2026-11-23
  // begins at 16:00Z.
  const int64_t china_midnight = kTestNowMs + 12 * 3600 * 1000;  // 2026-11-22T16:00Z
  ledger.set_now_ms(china_midnight - 1);                         // 15:59:59.999Z
  ExpectRejected(ledger, with_date("d8", "2026-11-23"), "date_in_future", "occurred_on");
  ledger.set_now_ms(china_midnight);
  ledger.AppendOk(with_date("d9", "2026-11-23"));
  ledger.set_now_ms(china_midnight + 30 * 60 * 1000);  // 16:30Z
  ExpectRejected(ledger, with_date("d10", "2026-11-24"), "date_in_future", "occurred_on");
  ledger.AppendOk(with_date("d11", "2026-11-23"));
}

TEST(Journal, DuplicateIdsAreIdempotentOrConflicts) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  SignedEvent event = ledger.Signed("xt-finance", Receipt("r1", "xt-finance", 100));
  AppendResult first = ledger.AppendOk(event);
  AppendResult again = ledger.AppendOk(event);
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(again.leaf_hash, first.leaf_hash);
  ExpectRejected(ledger, ledger.Signed("xt-finance", Receipt("r1", "xt-finance", 101)),
                 "duplicate_id", "id");
  // Same content survives a reopen.
  ledger.Reopen();
  EXPECT_EQ(ledger.AppendOk(event).seq, first.seq);
  // Within one batch: the copy is a duplicate, a different event with the id is a conflict.
  SignedEvent a = ledger.Signed("xt-finance", Receipt("r2", "xt-finance", 5));
  SignedEvent b = ledger.Signed("xt-finance", Receipt("r2", "xt-finance", 6));
  std::vector<AppendResult> results;
  ASSERT_TRUE(ledger.journal().Append(std::vector<SignedEvent>{a, a, b}, &results).ok());
  EXPECT_TRUE(results[0].status.ok());
  EXPECT_TRUE(results[1].duplicate);
  EXPECT_EQ(results[1].seq, results[0].seq);
  EXPECT_EQ(results[2].status.code(), "duplicate_id");
}

TEST(Journal, ARejectedEventDoesNotSpoilItsBatch) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  Journal::Head before = ledger.journal().head();
  std::vector<SignedEvent> batch = {
      ledger.Signed("xt-finance", Receipt("b1", "xt-finance", 1)),
      TestLedger::SignedWith("nobody", KeyPair::Generate(), Receipt("b2", "xt-finance", 1)),
      ledger.Signed("xt-finance", Receipt("b3", "xt-finance", 1))};
  std::vector<AppendResult> results;
  ASSERT_TRUE(ledger.journal().Append(batch, &results).ok());
  EXPECT_EQ(results[0].seq, before.size + 1);
  EXPECT_EQ(results[1].status.code(), "signer_unknown");
  EXPECT_EQ(results[2].seq, before.size + 2);
  EXPECT_EQ(ledger.journal().head().size, before.size + 2);
}

// The signatures of a batch are checked on every core ahead of the sequencer. Whatever the
// threads, each event gets its own result: forged and unknown signers rejected wherever they fall
// in the chunks, and a key rotated in the middle of the batch taking effect at its place (the
// events after it were checked ahead against the key the batch started with).
TEST(Journal, SignaturesCheckedAheadOfTheSequencerGiveEachEventItsOwnResult) {
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    TestLedger ledger;
    ledger.set_verify_threads(threads);
    ledger.Reopen();
    ledger.Register("xt-finance");
    ledger.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
    const KeyPair old_key = ledger.keys().at("xt-finance");
    const KeyPair new_key = KeyPair::Generate();
    const size_t kEvents = 301, kRotateAt = 150;
    std::vector<SignedEvent> batch;
    std::vector<std::string> expected;  // "" for accepted, else the code
    for (size_t i = 0; i < kEvents; ++i) {
      const std::string id = "e" + std::to_string(i);
      const bool rotated = i > kRotateAt;
      if (i == kRotateAt) {
        batch.push_back(
            TestLedger::SignedWith("xt-finance", old_key, KeyRotation(id, "xt-finance", new_key)));
        expected.push_back("");
      } else if (i % 7 == 3) {  // another org's key
        batch.push_back(TestLedger::SignedWith("xt-finance", ledger.keys().at("yh-finance"),
                                               Receipt(id, "xt-finance", 1)));
        expected.push_back("signature_invalid");
      } else if (i % 11 == 5) {
        batch.push_back(
            TestLedger::SignedWith("nobody", KeyPair::Generate(), Receipt(id, "xt-finance", 1)));
        expected.push_back("signer_unknown");
      } else if (i % 13 == 4) {  // the key of the other side of the rotation
        batch.push_back(TestLedger::SignedWith("xt-finance", rotated ? old_key : new_key,
                                               Receipt(id, "xt-finance", 1)));
        expected.push_back("signature_invalid");
      } else {
        batch.push_back(TestLedger::SignedWith("xt-finance", rotated ? new_key : old_key,
                                               Receipt(id, "xt-finance", 1)));
        expected.push_back("");
      }
    }
    const uint64_t size_before = ledger.journal().head().size;
    std::vector<AppendResult> results;
    ASSERT_TRUE(ledger.journal().Append(batch, &results).ok());
    ASSERT_EQ(results.size(), kEvents);
    uint64_t accepted = 0;
    for (size_t i = 0; i < kEvents; ++i) {
      if (expected[i].empty()) {
        ASSERT_TRUE(results[i].status.ok())
            << threads << " threads, event " << i << ": " << results[i].status.ToString();
        EXPECT_EQ(results[i].seq, size_before + ++accepted) << i;
      } else {
        EXPECT_EQ(results[i].status.code(), expected[i]) << threads << " threads, event " << i;
        EXPECT_EQ(results[i].status.event_id(), batch[i].id());
      }
    }
    EXPECT_EQ(ledger.journal().head().size, size_before + accepted);
    VerifyReport report;
    Status s = VerifyLedger(ledger.journal(), VerifyOptions(), &report);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
}

// Events for AppendInBatches to split across batches of 7: a key rotation in the middle of a
// batch, an org registered in one batch and signing in the next (and once before it was
// registered), forged and unknown signers, a resubmitted event of an earlier batch, a
// conflicting one, and a copy within one batch.
std::vector<SignedEvent> EventsAcrossBatches(TestLedger& ledger) {
  const KeyPair old_key = ledger.keys().at("xt-finance");
  const KeyPair new_key = KeyPair::Generate();
  const SignedEvent registration = ledger.Signed(
      "operator",
      ledger.Registration("ls-finance", "finance_bureau", "district", "hunan/xiangtan/lianshui"));
  std::vector<SignedEvent> events;
  for (size_t i = 0; i < 120; ++i) {
    const std::string id = "e" + std::to_string(i);
    const KeyPair& xt = i > 60 ? new_key : old_key;
    if (i == 60) {
      events.push_back(
          TestLedger::SignedWith("xt-finance", old_key, KeyRotation(id, "xt-finance", new_key)));
    } else if (i == 20) {
      events.push_back(registration);
    } else if (i == 9 || i == 30 || i == 31) {  // before and after its registration
      events.push_back(ledger.Signed("ls-finance", Receipt(id, "ls-finance", 7, "district")));
    } else if (i == 40) {
      events.push_back(events[18]);  // a batch before: a duplicate
    } else if (i == 41) {            // the id of an event a batch before, other content
      events.push_back(
          TestLedger::SignedWith("xt-finance", old_key, Receipt("e12", "xt-finance", 9)));
    } else if (i == 47) {
      events.push_back(events[46]);  // the same batch: a duplicate
    } else if (i % 7 == 3) {
      events.push_back(TestLedger::SignedWith("xt-finance", ledger.keys().at("yh-finance"),
                                              Receipt(id, "xt-finance", 1)));
    } else if (i % 11 == 5) {
      events.push_back(
          TestLedger::SignedWith("nobody", KeyPair::Generate(), Receipt(id, "xt-finance", 1)));
    } else if (i % 13 == 4) {  // the key of the other side of the rotation
      events.push_back(TestLedger::SignedWith("xt-finance", i > 60 ? old_key : new_key,
                                              Receipt(id, "xt-finance", 1)));
    } else {
      events.push_back(TestLedger::SignedWith("xt-finance", xt, Receipt(id, "xt-finance", 1)));
    }
  }
  return events;
}

TEST(Journal, AppendInBatchesGivesTheResultsOfAppendingEachBatchInTurn) {
  for (unsigned threads : {1u, 2u, 8u}) {
    TestLedger one_by_one;
    one_by_one.Register("xt-finance");
    one_by_one.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
    const std::vector<SignedEvent> events = EventsAcrossBatches(one_by_one);
    TestLedger all_at_once(one_by_one.keys());
    all_at_once.set_verify_threads(threads);
    all_at_once.Reopen();
    all_at_once.Register("xt-finance");
    all_at_once.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
    ASSERT_EQ(all_at_once.journal().head().root, one_by_one.journal().head().root);

    const size_t kBatch = 7;
    std::vector<AppendResult> expected, part;
    for (size_t at = 0; at < events.size(); at += kBatch) {
      size_t n = std::min(kBatch, events.size() - at);
      ASSERT_TRUE(one_by_one.journal().Append(std::span(events).subspan(at, n), &part).ok());
      expected.insert(expected.end(), part.begin(), part.end());
    }
    std::vector<AppendResult> results;
    std::vector<size_t> progress;
    Status s = all_at_once.journal().AppendInBatches(events, kBatch, &results,
                                                     [&](size_t n) { progress.push_back(n); });
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_EQ(results.size(), events.size());
    size_t accepted = 0, rejected = 0, duplicates = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      EXPECT_EQ(results[i].status.code(), expected[i].status.code())
          << threads << " threads, event " << i << ": " << results[i].status.ToString();
      EXPECT_EQ(results[i].status.event_id(), expected[i].status.event_id()) << i;
      EXPECT_EQ(results[i].seq, expected[i].seq) << i;
      EXPECT_EQ(results[i].leaf_hash, expected[i].leaf_hash) << i;
      EXPECT_EQ(results[i].duplicate, expected[i].duplicate) << i;
      accepted += results[i].status.ok() && !results[i].duplicate;
      rejected += !results[i].status.ok();
      duplicates += results[i].duplicate;
    }
    // Every kind of result is there: the comparison above is not of all-accepted batches.
    EXPECT_GT(accepted, 60u);
    EXPECT_GT(rejected, 20u);
    EXPECT_EQ(duplicates, 2u);
    EXPECT_EQ(results[31].status.code(), "") << "registered a batch before";
    EXPECT_EQ(results[9].status.code(), "signer_unknown");
    EXPECT_EQ(results[63].status.code(), "") << "signed with the key rotated a batch before";
    EXPECT_EQ(results[41].status.code(), "duplicate_id");
    EXPECT_EQ(all_at_once.journal().head().size, one_by_one.journal().head().size);
    EXPECT_EQ(all_at_once.journal().head().root, one_by_one.journal().head().root);
    std::vector<size_t> batches;
    for (size_t at = kBatch; at < events.size() + kBatch; at += kBatch) {
      batches.push_back(std::min(at, events.size()));
    }
    EXPECT_EQ(progress, batches);
    VerifyReport report;
    s = VerifyLedger(all_at_once.journal(), VerifyOptions(), &report);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
}

TEST(Journal, AppendInBatchesRefusesABadBatchSizeOrAReadOnlyLedgerAndWritesNothing) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  std::vector<SignedEvent> events{ledger.Signed("xt-finance", Receipt("r1", "xt-finance", 1))};
  const Journal::Head before = ledger.journal().head();
  std::vector<AppendResult> results;
  for (size_t batch : {size_t(0), kAppendBatchEventsMax + 1}) {
    Status s = ledger.journal().AppendInBatches(events, batch, &results);
    EXPECT_EQ(s.code(), "batch_events") << s.ToString();
    EXPECT_EQ(s.kind(), Status::Kind::kInvalidArgument);
  }
  EXPECT_EQ(ledger.journal().head().size, before.size);
  EXPECT_TRUE(ledger.journal().AppendInBatches({}, 10, &results).ok());
  EXPECT_TRUE(results.empty());
  EXPECT_EQ(ledger.journal().head().root, before.root);

  JournalOptions options;
  options.read_only = true;
  std::unique_ptr<Journal> reader;
  ASSERT_TRUE(Journal::Open(ledger.dir().string(), options, &reader).ok());
  EXPECT_EQ(reader->AppendInBatches(events, 10, &results).code(), "read_only");
}

TEST(Journal, EventsLaterInABatchSeeEarlierOnes) {
  TestLedger ledger;
  json reg = ledger.Registration("xt-finance", "finance_bureau", "municipal", "hunan/xiangtan");
  std::vector<SignedEvent> batch = {ledger.Signed("operator", reg),
                                    ledger.Signed("xt-finance", Receipt("r1", "xt-finance", 1))};
  std::vector<AppendResult> results;
  ASSERT_TRUE(ledger.journal().Append(batch, &results).ok());
  EXPECT_TRUE(results[0].status.ok());
  EXPECT_TRUE(results[1].status.ok()) << results[1].status.ToString();
}

// Closing the writer moves what the write-ahead log holds into table files, so that a later
// opening (read-only ones included) has no log to replay; the ledger reads the same after it.
TEST(Journal, ClosingTheWriterLeavesNoLogToReplay) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  for (int i = 0; i < 40; ++i) {
    ledger.AppendOk(ledger.Signed("xt-finance", Receipt("r" + std::to_string(i), "xt-finance", 1)));
  }
  Journal::Head before = ledger.journal().head();
  auto log_bytes = [&] {
    uintmax_t bytes = 0;
    for (const auto& f :
         std::filesystem::directory_iterator(ledger.dir() / storage::kDatabaseDir)) {
      if (f.path().extension() == ".log") bytes += f.file_size();
    }
    return bytes;
  };
  EXPECT_GT(log_bytes(), 0u);  // the appends are in the log
  ledger.Close();
  EXPECT_EQ(log_bytes(), 0u);
  ledger.Reopen();
  EXPECT_EQ(ledger.journal().head().size, before.size);
  EXPECT_EQ(ledger.journal().head().root, before.root);
}

TEST(Journal, StatePersistsAcrossReopen) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  for (int i = 0; i < 40; ++i) {
    ledger.AppendOk(ledger.Signed("xt-finance", Receipt("r" + std::to_string(i), "xt-finance", 1)));
  }
  Journal::Head before = ledger.journal().head();
  auto registry = ledger.journal().state().orgs();
  ledger.Reopen();
  EXPECT_EQ(ledger.journal().head().size, before.size);
  EXPECT_EQ(ledger.journal().head().root, before.root);
  EXPECT_EQ(ledger.journal().state().orgs(), registry);
  // And appending continues the same tree.
  ledger.AppendOk(ledger.Signed("xt-finance", Receipt("after", "xt-finance", 1)));
  VerifyReport report;
  EXPECT_TRUE(VerifyLedger(ledger.journal(), VerifyOptions(), &report).ok());
  EXPECT_EQ(report.records, before.size + 1);
}

TEST(Journal, ReadOnlyOpenCannotAppend) {
  TestLedger ledger;
  JournalOptions options;
  options.read_only = true;
  std::unique_ptr<Journal> reader;
  ASSERT_TRUE(Journal::Open(ledger.dir().string(), options, &reader).ok());
  EXPECT_EQ(reader->head().size, 1u);
  std::vector<AppendResult> results;
  EXPECT_EQ(
      reader
          ->Append(std::vector<SignedEvent>{ledger.Signed("operator", ledger.Genesis())}, &results)
          .code(),
      "read_only");
}

TEST(Journal, UnknownFormatVersionRefusesToOpen) {
  TestLedger ledger;
  // A later format, and the first one (before the accounts family's volume row).
  for (int version : {storage::kFormatVersion + 1, 1}) {
    ASSERT_TRUE(ledger.journal()
                    .PutRawForTesting(storage::kMetaFamily, storage::kMetaFormatVersion,
                                      std::to_string(version))
                    .ok());
    std::unique_ptr<Journal> again;
    JournalOptions options;
    options.read_only = true;
    Status s = Journal::Open(ledger.dir().string(), options, &again);
    EXPECT_EQ(s.code(), "format_version_unknown") << s.ToString();
  }
}

// For the upgrade tests: a project's row key, the stored row of a key in a family (empty if
// none), a raw write, a date as days, and the stored format version.
std::string ProjectKey(const std::string& id) { return std::string(1, storage::kProjectRow) + id; }
std::string StoredRow(TestLedger& ledger, std::string_view family, std::string_view key) {
  std::string row;
  bool found = false;
  EXPECT_TRUE(ledger.journal().Get(family, key, &row, &found).ok());
  EXPECT_TRUE(found) << key;
  return row;
}
void PutRaw(TestLedger& ledger, std::string_view family, std::string_view key,
            std::string_view value) {
  ASSERT_TRUE(ledger.journal().PutRawForTesting(family, key, value).ok());
}
int64_t DayOf(const char* date) {
  int64_t d = 0;
  EXPECT_TRUE(ParseDate(date, "occurred_on", &d).ok());
  return d;
}
std::string StoredFormatVersion(TestLedger& ledger) {
  return StoredRow(ledger, storage::kMetaFamily, storage::kMetaFormatVersion);
}

// A ledger of format 2, whose project rows lack the registration day, is upgraded when it is
// opened to write: each row gets the day of its registration's record, and the ledger verifies.
// Opened read only (verify), it is refused, saying what upgrades it.
TEST(Journal, AFormat2LedgerIsUpgradedWhenOpenedToWrite) {
  TestLedger ledger;
  ledger.Register("yh-housing", "housing_bureau", "district", "hunan/xiangtan/yuhu");
  ledger.AppendOk(ledger.Signed("yh-housing", testing::ProjectRegistration("p1")));
  json p2 = testing::ProjectRegistration("p2");
  p2["occurred_on"] = "2025-07-15";
  ledger.AppendOk(ledger.Signed("yh-housing", p2));
  ledger.Register("xt-audit", "auditor", "none", "hunan/xiangtan");
  json opened = testing::FindingEvent("find-1", "F-1", json::array(), "p1");
  opened["occurred_on"] = "2025-08-01";
  ledger.AppendOk(ledger.Signed("xt-audit", opened));
  // The finding's row, as format 3 writes it and as format 2 wrote it (no day).
  const std::string finding_key = std::string(1, storage::kFindingRow) + "F-1";
  std::string finding_row;
  Finding finding2;
  {
    bool found = false;
    ASSERT_TRUE(
        ledger.journal().Get(storage::kAccountsFamily, finding_key, &finding_row, &found).ok());
    ASSERT_TRUE(found && DecodeFindingRow(finding_row, &finding2));
    int64_t day = 0;
    ASSERT_TRUE(ParseDate("2025-08-01", "occurred_on", &day).ok());
    EXPECT_EQ(finding2.opened_day, day);
    finding2.opened_day = 0;
  }
  auto key = ProjectKey;
  auto read = [&](const std::string& id, Project* out) {
    std::string row = StoredRow(ledger, storage::kAccountsFamily, key(id));
    EXPECT_TRUE(DecodeProjectRow(row, out)) << id;
    return row;
  };
  auto day = DayOf;
  std::map<std::string, std::string> rows;  // as format 3 writes them
  std::map<std::string, Project> format2;   // as format 2 wrote them: no registration day
  for (const auto& [id, date] :
       {std::pair<std::string, const char*>{"p1", "2025-06-01"}, {"p2", "2025-07-15"}}) {
    Project project;
    rows[id] = read(id, &project);
    EXPECT_EQ(project.registered_day, day(date)) << id;
    project.registered_day = 0;  // the field format 2 did not have reads as 0
    format2[id] = project;
  }
  auto write_format2 = [&](const Project& p2_row) {
    PutRaw(ledger, storage::kAccountsFamily, key("p1"), EncodeProjectRow(format2["p1"]));
    PutRaw(ledger, storage::kAccountsFamily, key("p2"), EncodeProjectRow(p2_row));
    PutRaw(ledger, storage::kAccountsFamily, finding_key, EncodeFindingRow(finding2));
    PutRaw(ledger, storage::kMetaFamily, storage::kMetaFormatVersion, "2");
  };
  auto version = [&] { return StoredFormatVersion(ledger); };

  // Refused read only, saying what upgrades it; opened to write, every project row gets its day
  // from its registration's record, and the ledger verifies.
  write_format2(format2["p2"]);
  ledger.Close();
  std::unique_ptr<Journal> journal;
  JournalOptions read_only;
  read_only.read_only = true;
  Status s = Journal::Open(ledger.dir().string(), read_only, &journal);
  EXPECT_EQ(s.code(), "format_version_unknown") << s.ToString();
  EXPECT_NE(s.message().find("opens the ledger to write"), std::string::npos) << s.ToString();
  journal.reset();
  ledger.Reopen();
  EXPECT_EQ(version(), std::to_string(storage::kFormatVersion));
  for (const auto& [id, row] : rows) {
    Project project;
    EXPECT_EQ(read(id, &project), row) << id;
  }
  std::string upgraded_finding;
  bool found = false;
  ASSERT_TRUE(
      ledger.journal().Get(storage::kAccountsFamily, finding_key, &upgraded_finding, &found).ok());
  EXPECT_EQ(upgraded_finding, finding_row);
  VerifyReport report;
  s = VerifyLedger(ledger.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // The rule holds on the upgraded ledger: nothing of p2 is dated before 2025-07-15.
  json early = testing::StatusChange("approve-p2", "p2", "approved", 7500);
  early["occurred_on"] = "2025-07-14";
  AppendResult r = ledger.Append(ledger.Signed("yh-housing", early));
  EXPECT_EQ(r.status.code(), "date_before_registration") << r.status.ToString();

  // A project row whose registration seq is not its registration: the upgrade names it and
  // writes nothing; the ledger stays of format 2.
  Project wrong = format2["p2"];
  wrong.registered_seq = 1;  // the genesis
  write_format2(wrong);
  ledger.Close();
  s = Journal::Open(ledger.dir().string(), JournalOptions(), &journal);
  EXPECT_EQ(s.code(), "format_upgrade_failed") << s.ToString();
  EXPECT_NE(s.message().find("the project p2 is recorded at seq 1"), std::string::npos)
      << s.ToString();
  journal.reset();
  s = Journal::Open(ledger.dir().string(), read_only, &journal);
  EXPECT_EQ(s.code(), "format_version_unknown") << s.ToString();
}

// Format 5 keeps a project's phase, approval and last money days in its row. A ledger of format
// 3 (or 4, whose last money days counted refunds and reversals) gets them when first opened to
// write, from the fund rules applied to its records again;
// until then a read-only open refuses it; a project row that no record registers fails the
// upgrade, which then writes nothing.
TEST(Journal, AFormat3LedgerIsUpgradedWhenOpenedToWrite) {
  TestLedger ledger;
  ledger.Register("yh-housing", "housing_bureau", "district", "hunan/xiangtan/yuhu");
  ledger.Register("yh-finance", "finance_bureau", "district", "hunan/xiangtan/yuhu");
  ledger.Register("jianshe", "contractor", "none", "hunan/xiangtan");
  ledger.AppendOk(ledger.Signed("yh-housing", testing::ProjectRegistration("p1")));
  ledger.AppendOk(ledger.Signed("yh-housing", testing::ProjectRegistration("p2")));
  json approve = testing::StatusChange("approve-p1", "p1", "approved", 7500);
  approve["occurred_on"] = "2025-06-10";
  ledger.AppendOk(ledger.Signed("yh-housing", approve));
  ledger.AppendOk(ledger.Signed("yh-finance", testing::Received("own", "yh-finance", "pool",
                                                                "district", "yh-finance", 1000)));
  json allocated = testing::Allocated("to-p1", "yh-finance", "p1", "project", "district", 500);
  allocated["occurred_on"] = "2025-06-20";
  ledger.AppendOk(ledger.Signed("yh-finance", allocated));

  auto key = ProjectKey;
  auto read = [&](const std::string& id) {
    return StoredRow(ledger, storage::kAccountsFamily, key(id));
  };
  auto day = DayOf;
  std::map<std::string, std::string> rows;  // as format 5 writes them
  std::map<std::string, Project> format3;   // as format 3 wrote them: none of the three days
  for (const char* id : {"p1", "p2"}) {
    rows[id] = read(id);
    Project project;
    ASSERT_TRUE(DecodeProjectRow(rows[id], &project));
    format3[id] = project;
    format3[id].phase_day = format3[id].approved_day = format3[id].last_money_day = 0;
  }
  {
    Project p1;
    ASSERT_TRUE(DecodeProjectRow(rows["p1"], &p1));
    EXPECT_EQ(p1.phase_day, day("2025-06-10"));
    EXPECT_EQ(p1.approved_day, day("2025-06-10"));
    EXPECT_EQ(p1.last_money_day, day("2025-06-20"));
  }
  auto write_format3 = [&](const std::string& extra) {
    for (const auto& [id, project] : format3) {
      PutRaw(ledger, storage::kAccountsFamily, key(id), EncodeProjectRow(project));
    }
    if (!extra.empty()) {
      Project ghost = format3["p2"];
      ghost.id = extra;
      PutRaw(ledger, storage::kAccountsFamily, key(extra), EncodeProjectRow(ghost));
    }
    PutRaw(ledger, storage::kMetaFamily, storage::kMetaFormatVersion, "3");
  };
  auto version = [&] { return StoredFormatVersion(ledger); };

  write_format3("");
  ledger.Close();
  std::unique_ptr<Journal> journal;
  JournalOptions read_only;
  read_only.read_only = true;
  Status s = Journal::Open(ledger.dir().string(), read_only, &journal);
  EXPECT_EQ(s.code(), "format_version_unknown") << s.ToString();
  EXPECT_NE(s.message().find("version 3"), std::string::npos) << s.ToString();
  journal.reset();
  ledger.Reopen();
  EXPECT_EQ(version(), std::to_string(storage::kFormatVersion));
  for (const auto& [id, row] : rows) EXPECT_EQ(read(id), row) << id;
  VerifyReport report;
  s = VerifyLedger(ledger.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  // The rules hold on the upgraded ledger: no payment before the approval.
  json early = testing::Disbursed("pay", "p1", "district", 100);
  early["occurred_on"] = "2025-06-09";
  AppendResult r = ledger.Append(ledger.Signed("yh-finance", early));
  EXPECT_EQ(r.status.code(), "date_before_status") << r.status.ToString();

  // Format 4 counted refunds and reversals in the last money day: its rows are read again.
  {
    Project counted;
    ASSERT_TRUE(DecodeProjectRow(rows["p1"], &counted));
    counted.last_money_day = day("2025-09-01");  // as a refund of that day would have made it
    PutRaw(ledger, storage::kAccountsFamily, key("p1"), EncodeProjectRow(counted));
    PutRaw(ledger, storage::kMetaFamily, storage::kMetaFormatVersion, "4");
    ledger.Reopen();
    EXPECT_EQ(version(), std::to_string(storage::kFormatVersion));
    EXPECT_EQ(read("p1"), rows["p1"]);
  }

  // A record an earlier build accepted and today's rules refuse (a payment dated before the
  // approval) does not stop the upgrade: the days are read from the records, no rule applied
  // again. `verify` then names the record and the rule it breaks.
  ledger.set_skip_fund_rules(true);
  ledger.Reopen();
  json before_approval = testing::Disbursed("pay-early", "p1", "district", 1);
  before_approval["occurred_on"] = "2025-06-25";
  ledger.AppendOk(ledger.Signed("yh-finance", before_approval));
  json approved_again = testing::StatusChange("restart-p1", "p1", "started");
  approved_again["occurred_on"] = "2025-06-01";  // before the approval of 2025-06-10
  ledger.AppendOk(ledger.Signed("yh-housing", approved_again));
  ledger.set_skip_fund_rules(false);
  write_format3("");
  ledger.Reopen();
  EXPECT_EQ(version(), std::to_string(storage::kFormatVersion));
  {
    Project p1;
    ASSERT_TRUE(DecodeProjectRow(read("p1"), &p1));
    EXPECT_EQ(p1.phase_day, day("2025-06-01"));
    EXPECT_EQ(p1.approved_day, day("2025-06-10"));
    EXPECT_EQ(p1.last_money_day, day("2025-06-25"));
  }
  s = VerifyLedger(ledger.journal(), VerifyOptions(), &report);
  EXPECT_EQ(s.code(), "date_before_status") << s.ToString();
  EXPECT_EQ(s.event_id(), "restart-p1") << s.ToString();

  // A project row that no record registers: the upgrade names it and writes nothing; the
  // ledger stays of format 3.
  write_format3("ghost");
  ledger.Close();
  s = Journal::Open(ledger.dir().string(), JournalOptions(), &journal);
  EXPECT_EQ(s.code(), "format_upgrade_failed") << s.ToString();
  EXPECT_NE(s.message().find("the project ghost"), std::string::npos) << s.ToString();
  journal.reset();
  s = Journal::Open(ledger.dir().string(), read_only, &journal);
  EXPECT_EQ(s.code(), "format_version_unknown") << s.ToString();
}

TEST(Journal, ProofsVerifyAgainstTheRoots) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  for (int i = 0; i < 37; ++i) {
    ledger.AppendOk(ledger.Signed("xt-finance", Receipt("r" + std::to_string(i), "xt-finance", 1)));
  }
  uint64_t size = ledger.journal().head().size;
  for (uint64_t n = 1; n <= size; ++n) {
    for (uint64_t seq = 1; seq <= n; ++seq) {
      std::vector<Hash> proof;
      Hash leaf, root;
      ASSERT_TRUE(ledger.journal().InclusionProof(seq, n, &proof, &leaf, &root).ok());
      std::string bytes;
      ASSERT_TRUE(ledger.journal().ReadRecord(seq, &bytes).ok());
      EXPECT_EQ(leaf, MerkleLeafHash(AsBytes(bytes)));
      EXPECT_TRUE(MerkleVerifyInclusion(seq - 1, n, leaf, proof, root).ok());
    }
    for (uint64_t m = 1; m <= n; ++m) {
      std::vector<Hash> proof;
      Hash r1, r2;
      ASSERT_TRUE(ledger.journal().ConsistencyProof(m, n, &proof, &r1, &r2).ok());
      EXPECT_TRUE(MerkleVerifyConsistency(m, n, r1, r2, proof).ok()) << m << " " << n;
    }
  }
  std::vector<Hash> proof;
  Hash a, b;
  EXPECT_EQ(ledger.journal().InclusionProof(size + 1, 0, &proof, &a, &b).code(),
            "bad_proof_request");
  EXPECT_EQ(ledger.journal().ConsistencyProof(0, size, &proof, &a, &b).code(), "bad_proof_request");
}

TEST(Journal, CheckpointsAreSignedAutomaticallyAndOnDemand) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  std::string note;
  EXPECT_TRUE(ledger.journal().LatestCheckpoint(&note).IsNotFound());
  // 60 s of activity later, the next append writes one.
  ledger.set_now_ms(kTestNowMs + storage::kCheckpointEveryMs);
  ledger.AppendOk(ledger.Signed("xt-finance", Receipt("r1", "xt-finance", 1)));
  ASSERT_TRUE(ledger.journal().LatestCheckpoint(&note).ok());
  Checkpoint checkpoint;
  ASSERT_TRUE(OpenCheckpoint(note, ledger.journal().log_verifier(), &checkpoint).ok());
  EXPECT_EQ(checkpoint.size, ledger.journal().head().size);
  EXPECT_EQ(checkpoint.root, ledger.journal().head().root);
  EXPECT_EQ(checkpoint.origin, "test.fundledger/ledger");
  // On demand: only when the head moved.
  ledger.AppendOk(ledger.Signed("xt-finance", Receipt("r2", "xt-finance", 1)));
  ASSERT_TRUE(ledger.journal().WriteCheckpoint(&note).ok());
  ASSERT_TRUE(OpenCheckpoint(note, ledger.journal().log_verifier(), &checkpoint).ok());
  EXPECT_EQ(checkpoint.size, ledger.journal().head().size);
}

// From the first record, then from each checkpoint, reopened or not.
TEST(Journal, ATimedCheckpointIsWrittenSixtySecondsAfterTheLastOne) {
  ASSERT_EQ(storage::kCheckpointEveryMs, 60'000);
  TestLedger ledger;  // the genesis is recorded at kTestNowMs
  ledger.Register("xt-finance");
  std::vector<uint64_t> sizes;
  auto checkpoints = [&] {
    sizes.clear();
    EXPECT_TRUE(ledger.journal()
                    .ScanCheckpoints([&](uint64_t size, std::string_view) {
                      sizes.push_back(size);
                      return true;
                    })
                    .ok());
    return sizes.size();
  };
  auto append_at = [&](const std::string& id, int64_t ms) {
    ledger.set_now_ms(ms);
    ledger.AppendOk(ledger.Signed("xt-finance", Receipt(id, "xt-finance", 1)));
  };
  append_at("r1", kTestNowMs + 59'999);
  EXPECT_EQ(checkpoints(), 0u);
  append_at("r2", kTestNowMs + 60'000);
  ASSERT_EQ(checkpoints(), 1u);
  EXPECT_EQ(sizes.back(), ledger.journal().head().size);
  const int64_t last = kTestNowMs + 60'000;
  append_at("r3", last + 59'999);
  EXPECT_EQ(checkpoints(), 1u);
  append_at("r4", last + 60'000);
  ASSERT_EQ(checkpoints(), 2u);
  EXPECT_EQ(sizes.back(), ledger.journal().head().size);
  ledger.Reopen();
  append_at("r5", last + 60'000 + 59'999);
  EXPECT_EQ(checkpoints(), 2u);
  append_at("r6", last + 120'000);
  ASSERT_EQ(checkpoints(), 3u);
  EXPECT_EQ(sizes.back(), ledger.journal().head().size);
}

TEST(Journal, CheckpointEveryTenThousandEvents) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  std::vector<SignedEvent> batch;
  for (uint64_t i = 0; i < storage::kCheckpointEveryEvents; ++i) {
    batch.push_back(ledger.Signed("xt-finance", Receipt("r" + std::to_string(i), "xt-finance", 1)));
  }
  std::vector<AppendResult> results;
  ASSERT_TRUE(ledger.journal().Append(batch, &results).ok());
  std::vector<uint64_t> sizes;
  ASSERT_TRUE(ledger.journal()
                  .ScanCheckpoints([&](uint64_t size, std::string_view) {
                    sizes.push_back(size);
                    return true;
                  })
                  .ok());
  ASSERT_EQ(sizes.size(), 1u);
  EXPECT_EQ(sizes[0], storage::kCheckpointEveryEvents);
  VerifyReport report;
  Status s = VerifyLedger(ledger.journal(), VerifyOptions(), &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(report.checkpoints, 1u);
  // Verification expects it there: a ledger without it is one whose checkpoint was removed.
  ASSERT_TRUE(ledger.journal()
                  .DeleteRawForTesting(storage::kCheckpointsFamily,
                                       storage::EncodeU64(storage::kCheckpointEveryEvents))
                  .ok());
  report = VerifyReport();
  s = VerifyLedger(ledger.journal(), VerifyOptions(), &report);
  EXPECT_EQ(s.code(), "checkpoint_missing") << s.ToString();
  EXPECT_EQ(report.first_bad_seq, storage::kCheckpointEveryEvents) << s.ToString();
}

TEST(KeyFile, SecretKeysAreOwnerOnly) {
  auto path = std::filesystem::temp_directory_path() / ("fl-key-" + std::to_string(getpid()));
  std::filesystem::remove(path);
  NoteSigner signer{"xt-finance", 0, KeyPair::Generate()};
  signer.key_hash = NoteKeyHash(signer.name, signer.key.public_key());
  ASSERT_TRUE(WriteSecretKeyFile(path.string(), signer).ok());
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  NoteSigner loaded;
  ASSERT_TRUE(ReadSecretKeyFile(path.string(), &loaded).ok());
  EXPECT_EQ(loaded.key.public_key(), signer.key.public_key());
  EXPECT_FALSE(WriteSecretKeyFile(path.string(), signer).ok());  // never overwritten
  chmod(path.c_str(), 0644);
  EXPECT_EQ(ReadSecretKeyFile(path.string(), &loaded).code(), "key_file_permissions");
  chmod(path.c_str(), 0640);
  EXPECT_EQ(ReadSecretKeyFile(path.string(), &loaded).code(), "key_file_permissions");
  std::filesystem::remove(path);
}

// A key file that cannot be written whole is not left behind, part written, to block the next
// attempt: here the process may write no byte to a file (RLIMIT_FSIZE 0; SIGXFSZ ignored, so the
// write fails with EFBIG).
TEST(KeyFile, AKeyFileWrittenInPartIsRemoved) {
  auto path = std::filesystem::temp_directory_path() / ("fl-key-part-" + std::to_string(getpid()));
  std::filesystem::remove(path);
  NoteSigner signer{"xt-finance", 0, KeyPair::Generate()};
  signer.key_hash = NoteKeyHash(signer.name, signer.key.public_key());
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit none = saved;
  none.rlim_cur = 0;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &none), 0);
  Status s = WriteSecretKeyFile(path.string(), signer);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_EQ(sigaction(SIGXFSZ, &old_action, nullptr), 0);
  EXPECT_EQ(s.code(), "key_file_write") << s.ToString();
  EXPECT_NE(s.message().find("too large"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(path));
  // The next attempt, with room, writes it.
  ASSERT_TRUE(WriteSecretKeyFile(path.string(), signer).ok());
  std::filesystem::remove(path);
}

// A view that counts accepted events per signer, to watch the hook's contract.
class CountingView : public ProjectionHook {
 public:
  Status OnAccepted(const SignedEvent& event, const EventContext& context,
                    const LedgerState& state) override {
    EXPECT_NE(state.FindOrg(event.signer()), nullptr);
    EXPECT_EQ(context.seq, last_seq_ + 1) << "events come in seq order";
    last_seq_ = context.seq;
    ++staged_[event.signer()];
    return Status::Ok();
  }
  std::vector<LedgerState::Row> StagedRows() const override {
    std::vector<LedgerState::Row> rows;
    for (const auto& [signer, n] : staged_) {
      rows.push_back(
          {storage::kProjectionsFamily, "count/" + signer,
           std::to_string(n + (committed_.contains(signer) ? committed_.at(signer) : 0))});
    }
    return rows;
  }
  void Commit() override {
    for (const auto& [signer, n] : staged_) committed_[signer] += n;
    staged_.clear();
    ++commits_;
  }
  void Abort() override {
    staged_.clear();
    ++aborts_;
  }
  void set_last_seq(uint64_t seq) { last_seq_ = seq; }

  std::map<std::string, uint64_t> staged_, committed_;
  uint64_t last_seq_ = 0;
  int commits_ = 0, aborts_ = 0;
};

TEST(Journal, TheProjectionHookSeesEveryAcceptedEventAndWritesInTheSameBatch) {
  TestLedger ledger;
  ledger.Register("xt-finance");
  CountingView view;
  view.set_last_seq(ledger.journal().head().size);
  ledger.Close();
  JournalOptions options;
  options.now_ms = [] { return kTestNowMs; };
  options.projection = &view;
  std::unique_ptr<Journal> journal;
  ASSERT_TRUE(Journal::Open(ledger.dir().string(), options, &journal).ok());
  std::vector<SignedEvent> batch = {
      ledger.Signed("xt-finance", Receipt("r1", "xt-finance", 10)),
      ledger.Signed("xt-finance", Receipt("r2", "xt-finance", 0)),  // refused: no row
      ledger.Signed("xt-finance", Receipt("r3", "xt-finance", 30))};
  std::vector<AppendResult> results;
  ASSERT_TRUE(journal->Append(batch, &results).ok());
  EXPECT_EQ(view.committed_["xt-finance"], 2u);
  EXPECT_EQ(view.commits_, 1);
  std::string value;
  ASSERT_TRUE(journal
                  ->ScanFamily(storage::kProjectionsFamily,
                               [&](std::string_view k, std::string_view v) {
                                 if (k == "count/xt-finance") value = std::string(v);
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(value, "2");
  // An all-or-nothing batch with a refused event is dropped, views included.
  batch = {ledger.Signed("xt-finance", Receipt("r4", "xt-finance", 40)),
           ledger.Signed("xt-finance", Receipt("r5", "xt-finance", 0))};
  ASSERT_TRUE(journal->Append(batch, &results, AppendOptions{.all_or_nothing = true}).ok());
  EXPECT_EQ(view.aborts_, 1);
  EXPECT_EQ(view.committed_["xt-finance"], 2u);
  view.set_last_seq(journal->head().size);
  ASSERT_TRUE(journal->Append(std::span(batch.data(), 1), &results).ok());
  EXPECT_EQ(view.committed_["xt-finance"], 3u);
}

}  // namespace
}  // namespace fundledger::testing
