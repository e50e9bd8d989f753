#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "apr_test_model.h"
#include "aprender/apr_format.h"
#include "aprender/signing.h"
#include "test_assets.h"

namespace {

// Header field offsets from docs/formats/apr.md.
constexpr size_t kMetaOffset = 16, kIndexOffset = 32, kIndexSize = 40, kDataOffset = 56,
                 kTrailerOffset = 72;
constexpr size_t kTrailerManifest = 8, kTrailerSignature = 72;

struct Fixture {
  apr_test::ScratchDir dir;
  std::vector<std::vector<uint8_t>> storage;
  aprender::ModelFile model;
  aprender::KeyPair key;
  std::string path;
  std::vector<uint8_t> bytes;

  explicit Fixture(aprender::Compression c = aprender::Compression::kNone) {
    model = apr_test::MakeTestModel(1234, storage);
    key = *aprender::GenerateEd25519KeyPair();
    path = dir.file("signed.apr");
    aprender::AprWriteOptions opts;
    opts.compression = c;
    opts.signing_key_pem = key.private_pem;
    opts.source_description = "tamper fixture";
    REQUIRE(aprender::WriteApr(model, path, opts).ok());
    bytes = apr_test::ReadBytes(path);
  }
  uint64_t Field(size_t off) const { return apr_test::LeU64(bytes, off); }

  // Writes a copy with one bit flipped and returns its path.
  std::string Flipped(uint64_t offset, uint8_t mask = 0x01) {
    auto copy = bytes;
    REQUIRE(offset < copy.size());
    copy[offset] ^= mask;
    const std::string p = dir.file("tampered.apr");
    apr_test::WriteBytes(p, copy);
    return p;
  }
};

const aprender::AprCheck& Check(const std::vector<aprender::AprCheck>& checks,
                                const std::string& name) {
  for (const auto& c : checks) {
    if (c.name == name) return c;
  }
  FAIL("no check named " << name);
  return checks.front();
}

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("a signed .apr passes every check and records provenance", "[apr][tamper]") {
  Fixture f;
  auto checks = aprender::VerifyApr(f.path, f.key.public_pem);
  REQUIRE(checks.ok());
  std::vector<std::string> names;
  for (const auto& c : *checks) {
    INFO(c.name << ": " << c.detail);
    CHECK(c.passed);
    names.push_back(c.name);
  }
  CHECK(names == std::vector<std::string>{"header", "metadata", "index", "tensor checksums",
                                          "decompression", "manifest", "signature"});
  CHECK(Contains(Check(*checks, "metadata").detail, "source: tamper fixture"));
  CHECK(Contains(Check(*checks, "metadata").detail, "created: 20"));
  CHECK(Contains(Check(*checks, "signature").detail, "valid"));
}

TEST_CASE("flipping one bit of tensor data names the tensor and fails checksum and manifest",
          "[apr][tamper]") {
  Fixture f;
  const auto p = f.Flipped(f.Field(kDataOffset) + 5);  // first tensor starts at data_offset
  auto r = aprender::ReadApr(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Contains(Msg(r.status()), "tensor 'token_embd.weight' checksum mismatch"));
  auto checks = *aprender::VerifyApr(p);
  CHECK(Check(checks, "header").passed);
  CHECK(Check(checks, "metadata").passed);
  CHECK(Check(checks, "index").passed);
  CHECK_FALSE(Check(checks, "tensor checksums").passed);
  CHECK(Contains(Check(checks, "tensor checksums").detail, "'token_embd.weight'"));
  CHECK_FALSE(Check(checks, "manifest").passed);
}

TEST_CASE("flipping one bit of compressed tensor data is caught before decompression",
          "[apr][tamper]") {
  Fixture f(aprender::Compression::kZstd);
  const auto p = f.Flipped(f.Field(kTrailerOffset) - 3);  // inside the last tensor
  auto r = aprender::ReadApr(p);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kDataLoss);
  CHECK(Contains(Msg(r.status()), "checksum mismatch"));
}

TEST_CASE("flipping one bit in the index is reported", "[apr][tamper]") {
  Fixture f;
  const uint64_t index = f.Field(kIndexOffset), index_size = f.Field(kIndexSize);
  SECTION("in a recorded checksum: the tensor is named") {
    const auto p = f.Flipped(index + index_size - 1);  // last byte = last entry's checksum
    auto r = aprender::ReadApr(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
    CHECK(Contains(Msg(r.status()), "tensor 'blk.0.attn_k.weight' checksum mismatch"));
    auto checks = *aprender::VerifyApr(p);
    CHECK(Check(checks, "index").passed);
    CHECK_FALSE(Check(checks, "tensor checksums").passed);
    CHECK_FALSE(Check(checks, "manifest").passed);
  }
  SECTION("in a tensor name: the manifest catches it") {
    const auto p = f.Flipped(index + 4);  // first character of the first name
    auto r = aprender::ReadApr(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
    CHECK(Contains(Msg(r.status()), "manifest mismatch"));
    auto checks = *aprender::VerifyApr(p);
    CHECK(Check(checks, "index").passed);
    CHECK(Check(checks, "tensor checksums").passed);
    CHECK_FALSE(Check(checks, "manifest").passed);
    CHECK_FALSE(Check(checks, "signature").passed);
  }
  SECTION("in a dimension: the index check names the tensor") {
    const auto p = f.Flipped(index + 4 + 17 + 8,
                             0x10);  // name_len, "token_embd.weight", dtype, n_dims, dims[0]
    auto r = aprender::ReadApr(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
    CHECK(Contains(Msg(r.status()), "index: tensor 'token_embd.weight'"));
    auto checks = *aprender::VerifyApr(p);
    CHECK_FALSE(Check(checks, "index").passed);
    CHECK_FALSE(Check(checks, "manifest").passed);
  }
}

TEST_CASE("flipping one bit in the metadata is reported", "[apr][tamper]") {
  Fixture f;
  SECTION("inside a string value: manifest mismatch") {
    const std::string needle = "tiny-apr-test";
    const auto it = std::search(f.bytes.begin(), f.bytes.end(), needle.begin(), needle.end());
    REQUIRE(it != f.bytes.end());
    const auto p = f.Flipped(static_cast<uint64_t>(it - f.bytes.begin()));
    auto r = aprender::ReadApr(p);
    REQUIRE_FALSE(r.ok());
    CHECK(Contains(Msg(r.status()), "manifest mismatch"));
    auto checks = *aprender::VerifyApr(p);
    CHECK(Check(checks, "metadata").passed);
    CHECK_FALSE(Check(checks, "manifest").passed);
  }
  SECTION("in the JSON syntax: the metadata check fails") {
    const auto p = f.Flipped(f.Field(kMetaOffset));  // '{' -> 'z'
    auto r = aprender::ReadApr(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
    CHECK(Contains(Msg(r.status()), "metadata: not valid JSON"));
    auto checks = *aprender::VerifyApr(p);
    CHECK_FALSE(Check(checks, "metadata").passed);
    CHECK(Check(checks, "index").passed);
    CHECK_FALSE(Check(checks, "manifest").passed);
  }
}

TEST_CASE("flipping one bit of the signature or the manifest is reported", "[apr][tamper]") {
  Fixture f;
  const uint64_t trailer = f.Field(kTrailerOffset);
  SECTION("signature") {
    const auto p = f.Flipped(trailer + kTrailerSignature + 3);
    auto r = aprender::ReadApr(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
    CHECK(Contains(Msg(r.status()), "bad signature"));
    auto checks = *aprender::VerifyApr(p);
    CHECK(Check(checks, "manifest").passed);
    CHECK(Check(checks, "tensor checksums").passed);
    CHECK_FALSE(Check(checks, "signature").passed);
    CHECK(Contains(Check(checks, "signature").detail, "invalid"));
  }
  SECTION("manifest") {
    const auto p = f.Flipped(trailer + kTrailerManifest);
    auto r = aprender::ReadApr(p);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kDataLoss);
    CHECK(Contains(Msg(r.status()), "manifest mismatch"));
    auto checks = *aprender::VerifyApr(p);
    CHECK(Check(checks, "tensor checksums").passed);
    CHECK_FALSE(Check(checks, "manifest").passed);
    CHECK_FALSE(Check(checks, "signature").passed);
  }
}

TEST_CASE("every truncated prefix of an .apr file is rejected without crashing", "[apr][tamper]") {
  for (auto c : {aprender::Compression::kNone, aprender::Compression::kLz4}) {
    Fixture f(c);
    for (size_t len = 0; len < f.bytes.size(); len += (len < 200 ? 1 : 7)) {
      INFO("prefix length " << len);
      std::vector<uint8_t> prefix(f.bytes.begin(),
                                  f.bytes.begin() + static_cast<std::ptrdiff_t>(len));
      auto r = aprender::ParseApr(prefix, "cut.apr");
      REQUIRE_FALSE(r.ok());
      if (len >= 8) {
        CHECK(r.status().code() == absl::StatusCode::kDataLoss);
        CHECK(Contains(Msg(r.status()), "truncated"));
      }
    }
    // Through the file API too, with the header's claim in the message.
    std::vector<uint8_t> half(f.bytes.begin(),
                              f.bytes.begin() + static_cast<std::ptrdiff_t>(f.bytes.size() / 2));
    apr_test::WriteBytes(f.dir.file("half.apr"), half);
    auto r = aprender::ReadApr(f.dir.file("half.apr"));
    CHECK(Contains(Msg(r.status()),
                   "file is truncated: header says " + std::to_string(f.bytes.size())));
    auto checks = *aprender::VerifyApr(f.dir.file("half.apr"));
    CHECK_FALSE(Check(checks, "header").passed);
  }
}

TEST_CASE("wrong magic and wrong version are InvalidArgument with a clear message",
          "[apr][tamper]") {
  Fixture f;
  auto v3 = f.bytes;
  v3[4] = 3;
  auto r = aprender::ParseApr(v3, "future.apr");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Msg(r.status()) == "future.apr: file is .apr v3, this build reads v2");
  auto magic = f.bytes;
  magic[0] = 'G';
  r = aprender::ParseApr(magic, "x.apr");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Contains(Msg(r.status()), "not an .apr file"));
}

TEST_CASE("SignApr adds a signature that VerifyApr checks against the expected key",
          "[apr][signing]") {
  apr_test::ScratchDir dir;
  std::vector<std::vector<uint8_t>> storage;
  const auto model = apr_test::MakeTestModel(5, storage);
  const std::string path = dir.file("m.apr");
  REQUIRE(aprender::WriteApr(model, path).ok());
  auto a = *aprender::GenerateEd25519KeyPair();
  auto b = *aprender::GenerateEd25519KeyPair();

  auto unsigned_checks = *aprender::VerifyApr(path);
  CHECK(Check(unsigned_checks, "signature").passed);
  CHECK(Contains(Check(unsigned_checks, "signature").detail, "absent"));
  unsigned_checks = *aprender::VerifyApr(path, a.public_pem);
  CHECK_FALSE(Check(unsigned_checks, "signature").passed);

  const auto before = apr_test::ReadBytes(path);
  REQUIRE(aprender::SignApr(path, a.private_pem).ok());
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  const auto after = apr_test::ReadBytes(path);
  REQUIRE(after.size() == before.size());
  // Only the trailer's signature fields change (header, metadata, index, data, manifest intact).
  const auto trailer = static_cast<std::ptrdiff_t>(apr_test::LeU64(before, kTrailerOffset));
  CHECK(std::equal(before.begin(), before.begin() + trailer + 4, after.begin()));
  CHECK(std::equal(before.begin() + trailer + 8, before.begin() + trailer + 40,
                   after.begin() + trailer + 8));
  CHECK(after[static_cast<size_t>(trailer) + 4] == 1);  // signature algorithm: Ed25519

  auto right = *aprender::VerifyApr(path, a.public_pem);
  CHECK(Check(right, "signature").passed);
  auto wrong = *aprender::VerifyApr(path, b.public_pem);
  CHECK_FALSE(Check(wrong, "signature").passed);
  CHECK(Contains(Check(wrong, "signature").detail, "not the expected key"));
  CHECK(aprender::ReadApr(path).ok());

  // Re-signing with another key replaces the signature.
  REQUIRE(aprender::SignApr(path, b.private_pem).ok());
  CHECK(Check(*aprender::VerifyApr(path, b.public_pem), "signature").passed);
  CHECK_FALSE(Check(*aprender::VerifyApr(path, a.public_pem), "signature").passed);

  // A bad key is InvalidArgument and leaves the file alone.
  CHECK(aprender::SignApr(path, "garbage").code() == absl::StatusCode::kInvalidArgument);
  CHECK(aprender::VerifyApr(path, "garbage").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("SignApr refuses to sign a damaged file", "[apr][signing]") {
  Fixture f;
  const auto p = f.Flipped(f.Field(kDataOffset) + 1);
  auto s = aprender::SignApr(p, f.key.private_pem);
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(Contains(Msg(s), "refusing to sign"));
}

TEST_CASE("VerifyApr on a missing file is NotFound", "[apr]") {
  CHECK(aprender::VerifyApr("/nonexistent/x.apr").status().code() == absl::StatusCode::kNotFound);
  CHECK(aprender::ReadApr("/nonexistent/x.apr").status().code() == absl::StatusCode::kNotFound);
}
