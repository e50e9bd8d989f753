#include "apr_file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "apr_signing_internal.h"
#include "trueno/str_cat.h"

namespace aprender::apr_internal {
namespace {

absl::Status IoError(const std::string& what, const std::string& file) {
  const int err = errno;
  std::string msg = trueno::Concat(file, ": ", what, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT)
    return absl::ResourceExhaustedError(msg + " (free some disk space)");
  if (err == ENOENT) return absl::NotFoundError(msg + " (does the directory exist?)");
  return absl::InvalidArgumentError(msg);
}

}  // namespace

absl::StatusOr<std::unique_ptr<AprFile>> AprFile::CreateTemp(const std::string& dest) {
  std::string tmp = dest + ".tmp";
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create the temporary output file", tmp);
  return std::unique_ptr<AprFile>(new AprFile(dest, std::move(tmp), fd));
}

AprFile::~AprFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

absl::Status AprFile::WriteAt(uint64_t offset, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("write failed", tmp_);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<Digest> AprFile::HashPrefix(uint64_t n) {
  Sha256Stream sha;
  std::vector<uint8_t> buf(size_t{4} << 20);
  uint64_t pos = 0;
  while (pos < n) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), n - pos));
    const ssize_t got = ::pread(fd_, buf.data(), want, static_cast<off_t>(pos));
    if (got < 0) {
      if (errno == EINTR) continue;
      return IoError("reading back for the manifest hash failed", tmp_);
    }
    if (got == 0) {
      return absl::InternalError(
          trueno::Concat(tmp_, ": file shorter than written (", pos, " of ", n, " bytes)"));
    }
    sha.Update({buf.data(), static_cast<size_t>(got)});
    pos += static_cast<uint64_t>(got);
  }
  return sha.Finish();
}

absl::Status AprFile::Commit() {
  if (::fsync(fd_) != 0) return IoError("fsync failed", tmp_);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(tmp_.c_str());
    return IoError("close failed", tmp_);
  }
  if (std::rename(tmp_.c_str(), dest_.c_str()) != 0) {
    const auto s = IoError(trueno::Concat("cannot rename onto ", dest_), tmp_);
    ::unlink(tmp_.c_str());
    return s;
  }
  return absl::OkStatus();
}

}  // namespace aprender::apr_internal
