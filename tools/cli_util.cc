#include "tools/cli_util.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "crypto/note.h"
#include "ledger/codec.h"

namespace fundledger::cli {

int Report(const Status& status) {
  std::cerr << "fundledger: " << status.ToString() << "\n";
  return status.kind() == Status::Kind::kInvalidArgument && status.event_id().empty()
             ? kExitUsage
             : kExitFailure;
}

std::string TerminalText(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto b = uint8_t(text[i]);
    if (b < 0x20 || b == 0x7f) {
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    } else if (b == 0xc2 && i + 1 < text.size() && uint8_t(text[i + 1]) >= 0x80 &&
               uint8_t(text[i + 1]) <= 0x9f) {
      const auto c = uint8_t(text[++i]);
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(char(b));
    }
  }
  return out;
}

Status ReadInput(const std::string& path, std::string* out, size_t bytes_max) {
  std::istream* in = &std::cin;
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return Status::InvalidArgument("input_unreadable", "cannot read " + path);
    in = &file;
  }
  out->clear();
  char buf[1 << 16];
  while (in->read(buf, sizeof(buf)) || in->gcount() > 0) {
    out->append(buf, size_t(in->gcount()));
    if (out->size() > bytes_max) {
      return Status::InvalidArgument("input_too_large",
                                     "input larger than " + std::to_string(bytes_max) + " bytes");
    }
  }
  if (in->bad()) return Status::InvalidArgument("input_unreadable", "cannot read " + path);
  return Status::Ok();
}

void PrintJsonLine(const nlohmann::json& value) {
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

Status ReadHeldNotes(const std::vector<std::string>& files, std::vector<std::string>* notes) {
  notes->assign(files.size(), std::string());
  for (size_t i = 0; i < files.size(); ++i) {
    FL_RETURN_IF_ERROR(ReadInput(files[i], &(*notes)[i], kNoteBytesMax));
  }
  return Status::Ok();
}

void PrintCheckpoint(const nlohmann::json& checkpoint, const std::string& format,
                     const std::vector<std::string>& held_files) {
  if (format == "json") {
    PrintJsonLine(checkpoint);
  } else {
    std::cout << checkpoint.at("note").get<std::string>();
  }
  for (const std::string& path : held_files) {
    std::cerr << "the log extends the held checkpoint " << path << "\n";
  }
}

void PrintProof(const nlohmann::json& proof, bool inclusion, const std::string& format) {
  if (format != "table") {
    PrintJsonLine(proof);
    return;
  }
  const auto text = [&](const char* name) {
    auto it = proof.find(name);
    return it != proof.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (inclusion) {
    std::cout << "seq " << proof.at("seq") << " in tree of " << proof.at("tree_size") << "\nleaf "
              << text("leaf_hash") << "\nroot " << text("root") << "\n";
  } else {
    std::cout << "from " << proof.at("size1") << " " << text("root1") << "\nto "
              << proof.at("size2") << " " << text("root2") << "\n";
  }
  for (const auto& h : proof.at("proof")) std::cout << h.get<std::string>() << "\n";
}

namespace {
int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Progress::Progress(std::string label) : label_(std::move(label)), enabled_(isatty(2) == 1) {}

Progress::~Progress() {
  if (enabled_ && last_ms_ != 0) fprintf(stderr, "\n");
}

void Progress::Update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  int64_t now = SteadyMs();
  if (now - last_ms_ < 200 && done != total) return;  // a terminal need not redraw faster
  last_ms_ = now;
  unsigned percent = total ? unsigned(done * 100 / total) : 100;
  fprintf(stderr, "\r%s %llu/%llu (%u%%)", label_.c_str(), (unsigned long long)done,
          (unsigned long long)total, percent);
  fflush(stderr);
}

}  // namespace fundledger::cli
