#include "replay/views.h"

#include <cstdio>

#include "ledger/rules.h"
#include "ledger/storage_format.h"

namespace fundledger {
namespace {

constexpr const char* kCategoryNames[kCategories] = {"central",    "provincial",    "municipal",
                                                     "district",   "utility",       "resident",
                                                     "enterprise", "social_capital"};

// The figures of the balance view, in the order of DESIGN.md section 5.
std::vector<std::pair<const char*, int64_t>> Columns(const Figures& f) {
  return {{"received_fen", f.received_fen},
          {"allocated_in_fen", f.allocated_in_fen},
          {"allocated_out_fen", f.allocated_out_fen},
          {"disbursed_fen", f.disbursed_fen},
          {"refunded_fen", f.refunded_fen},
          {"available_fen", f.available_fen()},
          {"pledged_fen", f.pledged_fen},
          {"pledge_outstanding_fen", f.pledge_outstanding_fen()}};
}

// Fen as yuan with two decimals and thousands separators, exactly.
std::string Yuan(int64_t fen) {
  bool negative = fen < 0;
  uint64_t v = negative ? uint64_t(0) - uint64_t(fen) : uint64_t(fen);
  std::string digits = std::to_string(v / 100);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  char cents[4];
  snprintf(cents, sizeof(cents), ".%02u", unsigned(v % 100));
  return (negative ? "-" : "") + grouped + cents;
}

}  // namespace

Status RegionBalance(const Journal& journal, std::string_view region, Balance* out,
                     uint64_t* projects) {
  *out = Balance();
  *projects = 0;
  std::string start = BalanceView::RegionKey(region, "");
  start.pop_back();  // 'r' region: every project at or below it sorts from here
  std::vector<std::string> ids;
  Status s;
  FL_RETURN_IF_ERROR(journal.ScanFamilyFrom(
      storage::kProjectionsFamily, start, [&](std::string_view key, std::string_view) {
        if (key.substr(0, start.size()) != start) return false;
        size_t nul = key.find('\0');
        if (nul == std::string_view::npos) {
          s = Status::Corruption("projection_row_malformed", "region index row");
          return false;
        }
        if (RegionWithin(key.substr(1, nul - 1), region)) ids.emplace_back(key.substr(nul + 1));
        return true;
      }));
  FL_RETURN_IF_ERROR(s);
  BalanceView view(&journal);
  for (const std::string& id : ids) {
    Balance b;
    FL_RETURN_IF_ERROR(view.HolderBalance(schema::AccountHolder::PROJECT, id, &b));
    *out += b;
  }
  *projects = ids.size();
  return Status::Ok();
}

nlohmann::json BalanceJson(const Balance& balance) {
  auto figures = [](const Figures& f) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, value] : Columns(f)) out[name] = value;
    return out;
  };
  nlohmann::json categories = nlohmann::json::object();
  for (size_t c = 0; c < kCategories; ++c) {
    categories[kCategoryNames[c]] = figures(balance.by_category[c]);
  }
  return {{"categories", categories}, {"total", figures(balance.Total())}};
}

std::string BalanceCsv(const Balance& balance) {
  std::string out = "category";
  for (const auto& [name, _] : Columns(Figures())) out += std::string(",") + name;
  out += "\n";
  auto line = [&](const char* name, const Figures& f) {
    out += name;
    for (const auto& [_, value] : Columns(f)) out += "," + std::to_string(value);
    out += "\n";
  };
  for (size_t c = 0; c < kCategories; ++c) line(kCategoryNames[c], balance.by_category[c]);
  line("total", balance.Total());
  return out;
}

std::string BalanceTable(const Balance& balance) {
  static const char* kHeads[] = {"received", "allocated in", "allocated out", "disbursed",
                                 "refunded", "available",    "pledged",       "outstanding"};
  char buf[64];
  std::string out = "amounts in yuan (元)\ncategory        ";
  for (const char* h : kHeads) {
    snprintf(buf, sizeof(buf), "%18s", h);
    out += buf;
  }
  out += "\n";
  auto line = [&](const char* name, const Figures& f) {
    snprintf(buf, sizeof(buf), "%-16s", name);
    out += buf;
    for (const auto& [_, value] : Columns(f)) {
      snprintf(buf, sizeof(buf), "%18s", Yuan(value).c_str());
      out += buf;
    }
    out += "\n";
  };
  for (size_t c = 0; c < kCategories; ++c) line(kCategoryNames[c], balance.by_category[c]);
  line("total", balance.Total());
  return out;
}

Status OpenWithViews(const std::string& dir, JournalOptions options, Views* views,
                     std::unique_ptr<Journal>* out) {
  options.projection = views->hook();
  FL_RETURN_IF_ERROR(Journal::Open(dir, options, out));
  views->Attach(**out);
  return Status::Ok();
}

Status CreateWithViews(const std::string& dir, std::string_view origin, const NoteSigner& log_key,
                       JournalOptions options, Views* views, std::unique_ptr<Journal>* out) {
  options.projection = views->hook();
  FL_RETURN_IF_ERROR(Journal::Create(dir, origin, log_key, options, out));
  views->Attach(**out);
  return Status::Ok();
}

}  // namespace fundledger
