// Ed25519 keys/signatures and SHA-256 through OpenSSL 3's EVP interface. OpenSSL stays private
// to this file (and the raw-key helpers in apr_signing_internal.h).
#include "aprender/signing.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "apr_signing_internal.h"
#include "trueno/str_cat.h"

namespace aprender {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The most recent OpenSSL error as text (and clears the queue so errors do not leak into the
// next call).
std::string OpensslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no OpenSSL error detail";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

absl::StatusOr<std::string> BioToString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  if (len < 0 || (len > 0 && data == nullptr)) {
    return absl::InternalError("reading PEM output from OpenSSL memory BIO failed");
  }
  return std::string(data, static_cast<size_t>(len));
}

absl::StatusOr<std::string> PrivatePem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(trueno::Concat("writing Ed25519 private key PEM: ", OpensslError()));
  }
  return BioToString(bio.get());
}

absl::StatusOr<std::string> PublicPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1) {
    return absl::InternalError(trueno::Concat("writing Ed25519 public key PEM: ", OpensslError()));
  }
  return BioToString(bio.get());
}

absl::Status RequireEd25519(EVP_PKEY* key, const char* what) {
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        trueno::Concat(what, " is not an Ed25519 key; generate one with `apr keygen`"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PkeyPtr> LoadPrivate(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("OpenSSL BIO_new_mem_buf failed");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(trueno::Concat(
        "private key: not a PEM private key (expected '-----BEGIN PRIVATE KEY-----'): ",
        OpensslError()));
  }
  if (auto s = RequireEd25519(key.get(), "private key"); !s.ok()) return s;
  return key;
}

// Accepts a public key PEM, or a private key PEM (whose public half is used).
absl::StatusOr<PkeyPtr> LoadPublic(const std::string& pem) {
  {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return absl::InternalError("OpenSSL BIO_new_mem_buf failed");
    PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
    if (key) {
      if (auto s = RequireEd25519(key.get(), "public key"); !s.ok()) return s;
      return key;
    }
    ERR_clear_error();
  }
  auto priv = LoadPrivate(pem);
  if (priv.ok()) return priv;
  return absl::InvalidArgumentError(
      "public key: not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')");
}

}  // namespace

absl::StatusOr<KeyPair> GenerateEd25519KeyPair() {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) {
    return absl::InternalError(trueno::Concat("Ed25519 keygen init: ", OpensslError()));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return absl::InternalError(trueno::Concat("Ed25519 keygen: ", OpensslError()));
  }
  PkeyPtr key(raw);
  KeyPair pair;
  auto priv = PrivatePem(key.get());
  if (!priv.ok()) return priv.status();
  auto pub = PublicPem(key.get());
  if (!pub.ok()) return pub.status();
  pair.private_pem = std::move(*priv);
  pair.public_pem = std::move(*pub);
  return pair;
}

absl::StatusOr<std::string> PublicKeyFromPrivate(const std::string& private_pem) {
  auto key = LoadPrivate(private_pem);
  if (!key.ok()) return key.status();
  return PublicPem(key->get());
}

absl::StatusOr<std::vector<uint8_t>> SignEd25519(const std::string& private_pem,
                                                 std::span<const uint8_t> message) {
  auto key = LoadPrivate(private_pem);
  if (!key.ok()) return key.status();
  MdCtxPtr md(EVP_MD_CTX_new());
  // Ed25519 is a one-shot scheme: no digest (nullptr) and EVP_DigestSign over the whole message.
  if (!md || EVP_DigestSignInit(md.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return absl::InternalError(trueno::Concat("Ed25519 sign init: ", OpensslError()));
  }
  std::vector<uint8_t> sig(apr_internal::kEd25519SignatureBytes);
  size_t sig_len = sig.size();
  if (EVP_DigestSign(md.get(), sig.data(), &sig_len, message.data(), message.size()) != 1 ||
      sig_len != apr_internal::kEd25519SignatureBytes) {
    return absl::InternalError(trueno::Concat("Ed25519 sign: ", OpensslError()));
  }
  return sig;
}

absl::Status VerifyEd25519(const std::string& public_pem, std::span<const uint8_t> message,
                           std::span<const uint8_t> signature) {
  auto key = LoadPublic(public_pem);
  if (!key.ok()) return key.status();
  if (signature.size() != apr_internal::kEd25519SignatureBytes) {
    return absl::DataLossError(trueno::Concat(
        "signature does not match (Ed25519 signatures are 64 bytes, got ", signature.size(), ")"));
  }
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return absl::InternalError(trueno::Concat("Ed25519 verify init: ", OpensslError()));
  }
  const int rc = EVP_DigestVerify(md.get(), signature.data(), signature.size(), message.data(),
                                  message.size());
  ERR_clear_error();
  if (rc != 1) return absl::DataLossError("signature does not match");
  return absl::OkStatus();
}

std::vector<uint8_t> Sha256(std::span<const uint8_t> bytes) {
  apr_internal::Sha256Stream s;
  s.Update(bytes);
  const auto d = s.Finish();
  return std::vector<uint8_t>(d.begin(), d.end());
}

std::string HexEncode(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

namespace apr_internal {

absl::StatusOr<std::array<uint8_t, kEd25519PublicKeyBytes>> Ed25519RawPublicKey(
    const std::string& pem) {
  auto key = LoadPublic(pem);
  if (!key.ok()) return key.status();
  std::array<uint8_t, kEd25519PublicKeyBytes> raw{};
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key->get(), raw.data(), &len) != 1 || len != raw.size()) {
    return absl::InternalError(
        trueno::Concat("extracting raw Ed25519 public key: ", OpensslError()));
  }
  return raw;
}

absl::StatusOr<std::string> Ed25519PublicPemFromRaw(std::span<const uint8_t> raw) {
  if (raw.size() != kEd25519PublicKeyBytes) {
    return absl::InvalidArgumentError("raw Ed25519 public key must be 32 bytes");
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!key) {
    return absl::InvalidArgumentError(
        trueno::Concat("embedded Ed25519 public key is invalid: ", OpensslError()));
  }
  return PublicPem(key.get());
}

Sha256Stream::Sha256Stream() {
  auto* md = EVP_MD_CTX_new();
  // Allocation failure or init failure leaves ctx_ null; Finish then reports all-zero, which can
  // never match a real digest, so the failure surfaces as a checksum error rather than a crash.
  if (md != nullptr && EVP_DigestInit_ex(md, EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(md);
    md = nullptr;
  }
  ctx_ = md;
}

Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256Stream::Update(std::span<const uint8_t> bytes) {
  if (ctx_ != nullptr && !bytes.empty()) {
    EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), bytes.data(), bytes.size());
  }
}

std::array<uint8_t, 32> Sha256Stream::Finish() {
  std::array<uint8_t, 32> out{};
  if (ctx_ == nullptr) return out;
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), out.data(), &len);
  EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_));
  ctx_ = nullptr;
  return out;
}

}  // namespace apr_internal
}  // namespace aprender
