#include "tools/bench_report.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace fundledger::cli {

using nlohmann::json;

namespace {

// The left column's width: the labels line up as the earlier benchmarks printed them.
constexpr int kLabelWidth = 39;

void PrintLine(const std::string& label, const std::string& text) {
  if (label.empty()) {
    printf("%s\n", text.c_str());  // a detail under the line above
  } else {
    printf("%-*s%s\n", kLabelWidth - 1, label.c_str(), text.c_str());
  }
  fflush(stdout);
}

std::string FirstLineOf(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

std::string Format(const char* format, double value) {
  char buf[64];
  snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string RatioText(double ratio, const std::string& limit) {
  return Format("%.2f", ratio) + " x " + limit;
}

BenchReport::BenchReport(std::string json_path) : json_path_(std::move(json_path)) {}

void BenchReport::Add(std::string key, std::string label, double value, std::string unit,
                      std::string text) {
  Add(BenchFigure{std::move(key), std::move(label), value, std::move(unit), std::move(text),
                  std::nullopt, "", std::nullopt});
}

void BenchReport::Add(std::string key, std::string label, double value, std::string unit,
                      std::string text, double ratio, std::string ratio_to,
                      std::optional<double> target) {
  Add(BenchFigure{std::move(key), std::move(label), value, std::move(unit), std::move(text), ratio,
                  std::move(ratio_to), target});
}

void BenchReport::Add(BenchFigure figure) {
  std::string text = figure.text;
  if (figure.ratio) {
    text += (text.empty() ? "" : " = ") + RatioText(*figure.ratio, figure.ratio_to);
  }
  if (figure.target) {
    text += Format(" (target %.2f: ", *figure.target) +
            (*figure.ratio >= *figure.target ? "met)" : "not met)");
  }
  PrintLine(figure.label, text);
  figures_.push_back(std::move(figure));
}

void BenchReport::Note(const std::string& key, const std::string& label, const std::string& text) {
  PrintLine(label, text);
  notes_[key] = text;
}

bool BenchReport::Finish(const std::string& command) const {
  if (json_path_.empty()) return true;
  json figures = json::object();
  for (const auto& f : figures_) {
    json entry = {{"label", f.label}, {"value", f.value}, {"unit", f.unit}, {"text", f.text}};
    if (f.ratio) {
      entry["ratio"] = *f.ratio;
      entry["ratio_to"] = f.ratio_to;
    }
    if (f.target) {
      entry["target"] = *f.target;
      entry["met"] = *f.ratio >= *f.target;
    }
    figures[f.key] = std::move(entry);
  }
  json out = {{"command", command},
              {"machine",
               {{"cpu", CpuModel()},
                {"cores", std::thread::hardware_concurrency()},
                {"load_at_finish", LoadAverage()}}},
              {"notes", notes_},
              {"figures", std::move(figures)}};
  std::ofstream file(json_path_, std::ios::trunc);
  file << out.dump(2) << "\n";
  if (!file.flush()) {
    fprintf(stderr, "fundledger: could not write %s\n", json_path_.c_str());
    return false;
  }
  return true;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos && colon + 2 <= line.size()) return line.substr(colon + 2);
    }
  }
  return "unknown CPU";
}

std::string LoadAverage() {
  // "1.23 1.50 1.60 2/345 6789": the 1, 5 and 15 minute averages are the first three fields.
  std::istringstream fields(FirstLineOf("/proc/loadavg"));
  std::string one, five, fifteen;
  fields >> one >> five >> fifteen;
  return one.empty() ? "unknown" : one + " " + five + " " + fifteen;
}

void ReportMachine(BenchReport* report) {
  report->Note("machine", "machine",
               CpuModel() + ", " + std::to_string(std::thread::hardware_concurrency()) +
                   " cores, load average " + LoadAverage() + " (1, 5, 15 min)");
}

}  // namespace fundledger::cli
