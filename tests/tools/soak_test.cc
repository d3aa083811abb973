// `fundledger bench soak` for a few seconds, so that the soak mode keeps working: the server
// starts, every kind of request is made and answered without error, a line per interval shows
// the server's memory and latencies, and the ledger verifies at the end.

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "tests/tools/test_dir.h"

namespace fundledger::test {
namespace {

TEST(SoakTest, AShortSoakRunsWithoutErrorsAndReportsEveryInterval) {
  TestDir dir;
  CliResult r = RunBinary(FL_BINARY, dir,
                          {"bench", "soak", "--seconds", "4", "--interval-seconds", "1",
                           "--write-rate", "400", "--readers", "3", "--dir", dir / "soak"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  std::regex interval(
      "records +[0-9]+ +events/s +[0-9]+ +reads/s +[0-9]+ +errors 0 +rss [0-9.]+ MiB +ms "
      "p50/p99/max: write [0-9.]+/[0-9.]+/[0-9]+ view [0-9.]+/[0-9.]+/[0-9]+ public "
      "[0-9.]+/[0-9.]+/[0-9]+ proof [0-9.]+/[0-9.]+/[0-9]+ log [-0-9./]+");
  auto lines = std::distance(std::sregex_iterator(r.out.begin(), r.out.end(), interval),
                             std::sregex_iterator());
  EXPECT_GE(lines, 3) << r.out;
  EXPECT_NE(r.out.find(" 0 errors\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("server RSS: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("the ledger verifies: "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("error:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace fundledger::test
