// The benchmarks' output: one line per figure, with the figure's ratio to the limit it is bounded
// by (measured in the same run) and, where issue targets exist, whether the ratio meets them; the
// same figures as JSON for regenerating BENCHMARKS.md.
//
// Thread safety: a BenchReport is used from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fundledger::cli {

struct BenchFigure {
  std::string key;    // stable name in the JSON output and the tests: "append_in_process"
  std::string label;  // the left column of the line
  double value = 0;   // the absolute figure, in `unit`
  std::string unit;   // "events/s", "us", "bytes/event", ...
  std::string text;   // the right column: the figure as a person reads it, with its details
  // value / limit, with the limit's name ("verify limit"); absent for the limits themselves.
  std::optional<double> ratio;
  std::string ratio_to;
  // The ratio the figure should reach (issue 7's targets); absent when there is none.
  std::optional<double> target;
};

class BenchReport {
 public:
  // Lines are printed on stdout as they are added (a long run shows its progress); `json_path`,
  // when not empty, receives every figure as JSON at Finish().
  explicit BenchReport(std::string json_path = "");

  // A limit, or a figure without one.
  void Add(std::string key, std::string label, double value, std::string unit, std::string text);
  // A figure with its ratio to `ratio_to`, and the ratio's target if there is one.
  void Add(std::string key, std::string label, double value, std::string unit, std::string text,
           double ratio, std::string ratio_to, std::optional<double> target = std::nullopt);
  // A line that is not a figure (the workload, the machine, a skipped part).
  void Note(const std::string& key, const std::string& label, const std::string& text);
  // Writes the JSON file, if any. False (with a message on stderr) if it could not be written.
  [[nodiscard]] bool Finish(const std::string& command) const;

  const std::vector<BenchFigure>& figures() const { return figures_; }

 private:
  std::string json_path_;
  std::vector<BenchFigure> figures_;
  void Add(BenchFigure figure);

  nlohmann::json notes_ = nlohmann::json::object();
};

// "%.0f", "%.2f" and the like as a std::string.
std::string Format(const char* format, double value);
// The ratio as the lines print it: "0.52 x verify limit".
std::string RatioText(double ratio, const std::string& limit);

// The machine, as BENCHMARKS.md describes it: the CPU model (/proc/cpuinfo), the cores that
// std::thread sees (what `nproc` prints), and the load average (/proc/loadavg) right now.
std::string CpuModel();
std::string LoadAverage();
// The "machine" line: CPU model, cores and the load average at the start of a run.
void ReportMachine(BenchReport* report);

}  // namespace fundledger::cli
