// Ed25519 keys and signatures (OpenSSL), PEM encoded.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aprender {

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

absl::StatusOr<KeyPair> GenerateEd25519KeyPair();
absl::StatusOr<std::string> PublicKeyFromPrivate(const std::string& private_pem);
absl::StatusOr<std::vector<uint8_t>> SignEd25519(const std::string& private_pem,
                                                 std::span<const uint8_t> message);
// OK when valid; DataLoss("signature does not match") when not; InvalidArgument for a bad key.
absl::Status VerifyEd25519(const std::string& public_pem, std::span<const uint8_t> message,
                           std::span<const uint8_t> signature);

// SHA-256 of a byte range, as 32 raw bytes / lower-case hex.
std::vector<uint8_t> Sha256(std::span<const uint8_t> bytes);
std::string HexEncode(std::span<const uint8_t> bytes);

}  // namespace aprender
