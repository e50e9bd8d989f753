// A temporary output file for the .apr writer and signer: positioned writes, read-back hashing,
// and an atomic commit (fsync + rename over the destination). Dropped uncommitted, it is removed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "apr_layout.h"

namespace aprender::apr_internal {

class AprFile {
 public:
  // Creates (truncates) `dest + ".tmp"`.
  static absl::StatusOr<std::unique_ptr<AprFile>> CreateTemp(const std::string& dest);
  ~AprFile();
  AprFile(const AprFile&) = delete;
  AprFile& operator=(const AprFile&) = delete;

  absl::Status WriteAt(uint64_t offset, std::span<const uint8_t> bytes);
  // SHA-256 of the first `n` bytes as written so far.
  absl::StatusOr<Digest> HashPrefix(uint64_t n);
  // fsync, close and rename onto the destination.
  absl::Status Commit();

 private:
  AprFile(std::string dest, std::string tmp, int fd)
      : dest_(std::move(dest)), tmp_(std::move(tmp)), fd_(fd) {}
  std::string dest_;
  std::string tmp_;
  int fd_ = -1;
};

}  // namespace aprender::apr_internal
