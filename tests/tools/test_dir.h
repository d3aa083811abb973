// Helpers shared by the tools tests: a scratch directory per test, small file utilities, and a
// runner of the fundledger binary.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <vector>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "crypto/ed25519.h"

namespace fundledger::test {

// The number in environment variable `name` (a test's long mode, its seed), else `fallback`.
inline uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  return text != nullptr && *text != '\0' ? std::strtoull(text, nullptr, 10) : fallback;
}

// A fixed key, for ledgers that separate processes or runs must agree on.
inline KeyPair SeededKey(uint8_t fill) {
  KeySeed seed;
  seed.fill(fill);
  return KeyPair::FromSeed(seed);
}

// A fresh directory under the system temp dir, removed with everything in it on destruction.
// Resource type: not copyable.
class TestDir {
 public:
  TestDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fundledger-test-XXXXXX");
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  ~TestDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TestDir(const TestDir&) = delete;
  TestDir& operator=(const TestDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The path of `name` inside the directory.
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string Describe(const CliResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "stderr:\n" + r.err;
}

// Runs `binary` with `args` in `dir`, `input` on its standard input, and collects what it said.
inline CliResult RunBinary(const std::string& binary, const TestDir& dir,
                           const std::vector<std::string>& args, const std::string& input = "") {
  const std::string in_path = dir / ".stdin", out_path = dir / ".stdout",
                    err_path = dir / ".stderr", cwd = dir.path().string();
  WriteFile(in_path, input);
  std::vector<std::string> words = {binary};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    int in = ::open(in_path.c_str(), O_RDONLY);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 ||
        ::dup2(err, 2) < 0 || ::chdir(cwd.c_str()) != 0) {
      ::_exit(127);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  CliResult result;
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "cannot run " << binary;
    return result;
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

// Runs like RunBinary and expects exit status `expected`, reporting everything the binary said
// otherwise.
inline CliResult ExpectExit(const std::string& binary, const TestDir& dir, int expected,
                            const std::vector<std::string>& args, const std::string& input = "") {
  CliResult r = RunBinary(binary, dir, args, input);
  EXPECT_EQ(r.exit_code, expected) << "fundledger " << ::testing::PrintToString(args) << "\n"
                                   << Describe(r);
  return r;
}

// Starts `binary serve --data DATA --listen 127.0.0.1:0 --threads 2` in `dir`, its output going
// to dir/serve.out. Returns its pid (the caller stops it) and sets *url to
// http://127.0.0.1:PORT once it serves, or leaves it empty if it does not within 5 s.
inline pid_t StartServe(const std::string& binary, const TestDir& dir, const std::string& data,
                        std::string* url, const std::vector<std::string>& options = {}) {
  std::string out_path = dir / "serve.out", cwd = dir.path().string();
  // Gone before the child starts, so that a server started before in `dir` is not read as this one.
  ::unlink(out_path.c_str());
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0 || ::chdir(cwd.c_str()) != 0) {
      ::_exit(127);
    }
    std::vector<std::string> args = {binary,     "serve",       "--data",    data,
                                     "--listen", "127.0.0.1:0", "--threads", "2"};
    args.insert(args.end(), options.begin(), options.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  std::regex serving("on (http://127\\.0\\.0\\.1:[0-9]+)");
  url->clear();
  // Up to 30 s: a sanitizer build of the binary starts slowly on a busy machine.
  for (int i = 0; i < 3000 && url->empty(); ++i) {
    std::smatch match;
    std::string text = ReadFile(out_path);
    if (std::regex_search(text, match, serving)) *url = match[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pid;
}

// One JSON value per non-empty line; a test failure, not an exception, for a line that is not.
inline std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (end > pos) {
      auto line = nlohmann::json::parse(text.substr(pos, end - pos), nullptr, false);
      if (line.is_discarded()) ADD_FAILURE() << "not JSON: " << text.substr(pos, end - pos);
      lines.push_back(line);
    }
    pos = end + 1;
  }
  return lines;
}

}  // namespace fundledger::test
