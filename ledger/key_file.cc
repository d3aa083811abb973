#include "ledger/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fundledger {
namespace {

constexpr size_t kKeyFileBytesMax = 4096;

// Syncs the directory that holds `path`, so that a file just created in it survives a crash:
// syncing the file's bytes does not make its directory entry durable.
bool SyncParentDirectory(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

// Creates `path` (never replacing a file) holding `text`, durable with its directory entry once
// this returns ok. On failure the file it created is removed, so that a later attempt can run.
Status WriteNewFile(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Status::IOError("key_file_write", path + ": " + strerror(errno));
  // The umask may have narrowed the mode; make it exact.
  bool ok = ::fchmod(fd, mode) == 0;
  if (ok) {
    ssize_t n = ::write(fd, text.data(), text.size());
    ok = n == ssize_t(text.size());
    if (!ok && n >= 0) errno = EIO;  // a short write sets no errno
  }
  if (ok) ok = ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  if (ok && !SyncParentDirectory(path)) {
    ok = false;
    saved = errno;
  }
  if (!ok) {
    ::unlink(path.c_str());
    return Status::IOError("key_file_write", path + ": " + strerror(saved));
  }
  return Status::Ok();
}

Status ReadSmallFile(int fd, const std::string& path, std::string* out) {
  char buf[kKeyFileBytesMax + 1];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  if (n < 0) return Status::IOError("key_file_read", path + ": " + strerror(errno));
  if (size_t(n) > kKeyFileBytesMax) {
    return Status::InvalidArgument("bad_key", path + ": file too large for a key");
  }
  out->assign(buf, size_t(n));
  while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
  return Status::Ok();
}

}  // namespace

Status WriteSecretKeyFile(const std::string& path, const NoteSigner& signer) {
  return WriteNewFile(path, FormatSignerKey(signer.name, signer.key) + "\n", 0600);
}

Status ReadSecretKeyFile(const std::string& path, NoteSigner* out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("key_file_read", path + ": " + strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int saved = errno;
    ::close(fd);
    return Status::IOError("key_file_read", path + ": " + strerror(saved));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Status::InvalidArgument(
        "key_file_permissions",
        path + ": a secret key file must be readable by its owner only (chmod 600)");
  }
  std::string text;
  Status s = ReadSmallFile(fd, path, &text);
  ::close(fd);
  FL_RETURN_IF_ERROR(s);
  s = ParseSignerKey(text, out);
  if (!s.ok()) return Status::InvalidArgument(s.code(), path + ": " + s.message());
  return Status::Ok();
}

Status WritePublicKeyFile(const std::string& path, const NoteVerifier& verifier) {
  return WriteNewFile(path, FormatVerifierKey(verifier.name, verifier.key) + "\n", 0644);
}

Status ReadPublicKey(const std::string& path_or_text, NoteVerifier* out) {
  if (ParseVerifierKey(path_or_text, out).ok()) return Status::Ok();
  int fd = ::open(path_or_text.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Status::InvalidArgument("bad_key",
                                   path_or_text + ": neither a verifier key nor a readable file");
  }
  std::string text;
  Status s = ReadSmallFile(fd, path_or_text, &text);
  ::close(fd);
  FL_RETURN_IF_ERROR(s);
  s = ParseVerifierKey(text, out);
  if (!s.ok()) return Status::InvalidArgument(s.code(), path_or_text + ": " + s.message());
  return Status::Ok();
}

}  // namespace fundledger
