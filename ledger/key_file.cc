#include "ledger/key_file.h"

#include <fcntl.h>
#include <sodium.h>
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

// Opens `path` to read a key: without waiting on a FIFO or a device, which are refused by
// ReadSmallFile.
int OpenKeyFile(const std::string& path) {
  return ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

// Reads a key file, a regular file of at most kKeyFileBytesMax bytes, without its line end. The
// bytes read are wiped from the stack (a secret key's seed is among them).
Status ReadSmallFile(int fd, const std::string& path, std::string* out) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::IOError("key_file_read", path + ": " + strerror(errno));
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("bad_key", path + ": not a regular file");
  }
  char buf[kKeyFileBytesMax + 1];
  size_t got = 0;
  while (got < sizeof(buf)) {
    ssize_t n = ::read(fd, buf + got, sizeof(buf) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      sodium_memzero(buf, sizeof(buf));
      return Status::IOError("key_file_read", path + ": " + strerror(saved));
    }
    if (n == 0) break;
    got += size_t(n);
  }
  if (got > kKeyFileBytesMax) {
    sodium_memzero(buf, sizeof(buf));
    return Status::InvalidArgument("bad_key", path + ": file too large for a key");
  }
  out->assign(buf, got);
  sodium_memzero(buf, sizeof(buf));
  while (!out->empty() && (out->back() == '\n' || out->back() == '\r')) out->pop_back();
  return Status::Ok();
}

}  // namespace

Status WriteSecretKeyFile(const std::string& path, const NoteSigner& signer) {
  std::string text = FormatSignerKey(signer.name, signer.key);
  text.push_back('\n');
  Status s = WriteNewFile(path, text, 0600);
  sodium_memzero(text.data(), text.size());
  return s;
}

Status ReadSecretKeyFile(const std::string& path, NoteSigner* out) {
  int fd = OpenKeyFile(path);
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
  sodium_memzero(text.data(), text.size());
  if (!s.ok()) return Status::InvalidArgument(s.code(), path + ": " + s.message());
  return Status::Ok();
}

Status WritePublicKeyFile(const std::string& path, const NoteVerifier& verifier) {
  return WriteNewFile(path, FormatVerifierKey(verifier.name, verifier.key) + "\n", 0644);
}

Status ReadPublicKey(const std::string& path_or_text, NoteVerifier* out) {
  if (ParseVerifierKey(path_or_text, out).ok()) return Status::Ok();
  int fd = OpenKeyFile(path_or_text);
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
