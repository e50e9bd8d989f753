// Raw-key helpers shared by signing.cpp and the .apr container, which embeds the 32-byte raw
// Ed25519 public key rather than PEM text. Not part of the public API.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace aprender::apr_internal {

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

// The 32-byte raw public key of a PEM public *or* private key.
absl::StatusOr<std::array<uint8_t, kEd25519PublicKeyBytes>> Ed25519RawPublicKey(
    const std::string& pem);

// PEM (SubjectPublicKeyInfo) text for a raw 32-byte public key.
absl::StatusOr<std::string> Ed25519PublicPemFromRaw(std::span<const uint8_t> raw);

// Incremental SHA-256 over chunks (the writer hashes the file as it reads it back).
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::span<const uint8_t> bytes);
  std::array<uint8_t, 32> Finish();

 private:
  void* ctx_ = nullptr;  // EVP_MD_CTX*
};

}  // namespace aprender::apr_internal
