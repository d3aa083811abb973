// A small real ledger in a temporary directory, with keys and helpers to sign events.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "crypto/encoding.h"
#include "ledger/journal.h"
#include "ledger/rules.h"
#include "replay/reports.h"
#include "replay/views.h"

namespace fundledger::testing {

// 2026-11-22 12:00 China time.
inline constexpr int64_t kTestNowMs = 1795320000000;

class TestLedger {
 public:
  TestLedger() : TestLedger(std::map<std::string, KeyPair>()) {}
  // A ledger whose orgs sign with `keys` (another ledger's keys()), so that the same signed
  // events append to both; the operator's key is generated if it is not among them.
  // `env` (not owned; nullptr: RocksDB's default) is the RocksDB environment the journal uses,
  // until set_env changes it.
  explicit TestLedger(std::map<std::string, KeyPair> keys, rocksdb::Env* env = nullptr)
      : keys_(std::move(keys)), env_(env) {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("fl-ledger-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    log_key_.name = "test.fundledger";
    log_key_.key = KeyPair::Generate();
    log_key_.key_hash = NoteKeyHash(log_key_.name, log_key_.key.public_key());
    keys_.emplace("operator", KeyPair::Generate());
    Reopen(/*create=*/true);
    Append(Signed("operator", Genesis()));
  }
  ~TestLedger() {
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Closes the ledger (so that a test can open it itself).
  void Close() { journal_.reset(); }
  const Views& views() const { return *views_; }

  // The balance view of a scope (as of the head unless `as_of` says otherwise); `projects` gets
  // how many projects it covers.
  Status ScopeBalance(ScopeKind kind, const std::string& id, Balance* out,
                      uint64_t* projects = nullptr, const AsOf& as_of = AsOf()) {
    std::unique_ptr<ViewPoint> point;
    FL_RETURN_IF_ERROR(ViewPoint::Open(*journal_, Scope{kind, id}, as_of, &point));
    if (projects != nullptr) *projects = point->projects().size();
    return BalanceOf(*point, out);
  }
  Status HolderBalance(schema::AccountHolder kind, const std::string& id, Balance* out) {
    return ScopeBalance(
        kind == schema::AccountHolder::POOL ? ScopeKind::kPool : ScopeKind::kProject, id, out);
  }

  // The threads the journal checks signatures on (JournalOptions::verify_threads) from the next
  // Reopen on.
  void set_verify_threads(unsigned threads) { verify_threads_ = threads; }
  // Appends without the fund rules (JournalOptions::skip_fund_rules_for_benchmark) from the next
  // Reopen on: a record an earlier build's rules accepted that today's refuse.
  void set_skip_fund_rules(bool skip) { skip_fund_rules_ = skip; }

  void Reopen(bool create = false) {
    journal_.reset();
    JournalOptions options;
    options.now_ms = [this] { return now_ms_; };
    options.env = env_;
    options.verify_threads = verify_threads_;
    options.skip_fund_rules_for_benchmark = skip_fund_rules_;
    views_ = std::make_unique<Views>();
    Status s = create ? CreateWithViews(dir_.string(), "test.fundledger/ledger", log_key_, options,
                                        views_.get(), &journal_)
                      : OpenWithViews(dir_.string(), options, views_.get(), &journal_);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  nlohmann::json Genesis() const {
    return {{"id", "genesis"},
            {"type", "org_registered"},
            {"occurred_on", "2026-11-01"},
            {"org", "operator"},
            {"name", "operator"},
            {"kind", "operator"},
            {"level", "none"},
            {"region", ""},
            {"public_key", Base64Encode(keys_.at("operator").public_key())}};
  }

  // An org_registered event for a new org with a fresh key (remembered under its id).
  nlohmann::json Registration(const std::string& org, const std::string& kind,
                              const std::string& level, const std::string& region) {
    auto [it, inserted] = keys_.emplace(org, KeyPair::Generate());
    return {{"id", "reg-" + org},
            {"type", "org_registered"},
            {"occurred_on", "2026-11-02"},
            {"org", org},
            {"name", org + " name"},
            {"kind", kind},
            {"level", level},
            {"region", region},
            {"public_key", Base64Encode(it->second.public_key())}};
  }

  void Register(const std::string& org, const std::string& kind = "finance_bureau",
                const std::string& level = "municipal",
                const std::string& region = "hunan/xiangtan") {
    AppendOk(Signed("operator", Registration(org, kind, level, region)));
  }

  SignedEvent Signed(const std::string& signer, const nlohmann::json& event) const {
    return SignedWith(signer, keys_.at(signer), event);
  }
  static SignedEvent SignedWith(const std::string& signer, const KeyPair& key,
                                const nlohmann::json& event) {
    SignedEvent out;
    Status s = SignedEvent::Sign(event, signer, key, &out);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  AppendResult Append(const SignedEvent& event) {
    std::vector<AppendResult> results;
    Status s = journal_->Append(std::span<const SignedEvent>(&event, 1), &results);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return results.at(0);
  }
  AppendResult AppendOk(const SignedEvent& event) {
    AppendResult r = Append(event);
    EXPECT_TRUE(r.status.ok()) << r.status.ToString();
    return r;
  }

  Journal& journal() { return *journal_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::map<std::string, KeyPair>& keys() { return keys_; }
  void set_now_ms(int64_t ms) { now_ms_ = ms; }
  // The environment of the next Reopen.
  void set_env(rocksdb::Env* env) { env_ = env; }
  const NoteSigner& log_key() const { return log_key_; }

 private:
  std::filesystem::path dir_;
  NoteSigner log_key_;
  std::map<std::string, KeyPair> keys_;
  rocksdb::Env* env_ = nullptr;
  unsigned verify_threads_ = 0;
  bool skip_fund_rules_ = false;
  std::unique_ptr<Views> views_;  // outlives journal_ (declared before it)
  std::unique_ptr<Journal> journal_;
  int64_t now_ms_ = kTestNowMs;
};

// A funds_received event of a finance bureau's own money into its own pool (`category` is the
// bureau's level), signed later by `to`.
inline nlohmann::json Receipt(const std::string& id, const std::string& to, uint64_t amount_fen,
                              const std::string& category = "municipal") {
  return {{"id", id},         {"type", "funds_received"}, {"occurred_on", "2026-11-03"},
          {"to", to},         {"to_kind", "pool"},        {"category", category},
          {"source_org", to}, {"channel", "transfer"},    {"amount_fen", amount_fen}};
}

}  // namespace fundledger::testing
