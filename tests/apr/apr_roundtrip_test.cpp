#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

#include "apr_test_model.h"
#include "aprender/apr_format.h"
#include "aprender/model_file.h"
#include "aprender/signing.h"
#include "test_assets.h"

namespace {

using aprender::Compression;

struct Case {
  Compression compression;
  const char* name;
};

}  // namespace

TEST_CASE(".apr round trip keeps every metadata value and tensor byte, for none/lz4/zstd",
          "[apr]") {
  const uint32_t seed = 20260125;
  INFO("seed " << seed);
  std::vector<std::vector<uint8_t>> storage;
  const aprender::ModelFile model = apr_test::MakeTestModel(seed, storage);
  apr_test::ScratchDir dir;
  uint64_t uncompressed_size = 0;
  for (const Case c : {Case{Compression::kNone, "none"}, Case{Compression::kLz4, "lz4"},
                       Case{Compression::kZstd, "zstd"}}) {
    SECTION(std::string("compression ") + c.name) {
      const std::string path = dir.file(std::string("m-") + c.name + ".apr");
      aprender::AprWriteOptions opts;
      opts.compression = c.compression;
      opts.source_description = "unit test";
      REQUIRE(aprender::WriteApr(model, path, opts).ok());
      CHECK_FALSE(std::filesystem::exists(path + ".tmp"));

      auto got = aprender::ReadApr(path);
      REQUIRE(got.ok());
      CHECK(got->format == aprender::FileFormat::kApr);
      CHECK(got->version == 2);
      INFO(apr_test::FirstMetadataDifference(model.metadata, got->metadata));
      CHECK(apr_test::FirstMetadataDifference(model.metadata, got->metadata).empty());
      REQUIRE(got->tensors.size() == model.tensors.size());
      for (size_t i = 0; i < model.tensors.size(); ++i) {
        const auto& a = model.tensors[i];
        const auto& b = got->tensors[i];
        INFO("tensor " << a.name);
        CHECK(a.name == b.name);
        CHECK(a.type == b.type);
        CHECK(a.dims == b.dims);
        REQUIRE(a.data.size() == b.data.size());
        CHECK(std::memcmp(a.data.data(), b.data.data(), a.data.size()) == 0);
      }
      // LoadModelFile detects the format by its magic.
      auto loaded = aprender::LoadModelFile(path);
      REQUIRE(loaded.ok());
      CHECK(loaded->format == aprender::FileFormat::kApr);

      const uint64_t size = std::filesystem::file_size(path);
      if (c.compression == Compression::kNone) {
        uncompressed_size = size;
      } else {
        auto plain = dir.file("plain.apr");
        REQUIRE(aprender::WriteApr(model, plain).ok());
        CHECK(size < std::filesystem::file_size(plain));  // the compressible tensors shrank
      }
      auto checks = aprender::VerifyApr(path);
      REQUIRE(checks.ok());
      for (const auto& check : *checks) {
        INFO(check.name << ": " << check.detail);
        CHECK(check.passed);
      }
    }
  }
  (void)uncompressed_size;
}

TEST_CASE(".apr tensor data offsets are 64-byte aligned and uncompressed tensors are zero-copy",
          "[apr]") {
  std::vector<std::vector<uint8_t>> storage;
  const auto model = apr_test::MakeTestModel(7, storage);
  apr_test::ScratchDir dir;
  const std::string path = dir.file("a.apr");
  REQUIRE(aprender::WriteApr(model, path).ok());
  const auto bytes = apr_test::ReadBytes(path);
  REQUIRE(bytes.size() > 128);
  // Header fields read by hand (docs/formats/apr.md): data_offset at byte 56.
  CHECK(std::memcmp(bytes.data(), "APR\0", 4) == 0);
  CHECK(apr_test::LeU64(bytes, 56) % 64 == 0);

  auto got = aprender::ReadApr(path);
  REQUIRE(got.ok());
  for (const auto& t : got->tensors) {
    INFO(t.name);
    CHECK(reinterpret_cast<uintptr_t>(t.data.data()) % 64 == 0);
  }
  // ParseApr over an in-memory image points straight into it.
  auto parsed = aprender::ParseApr(bytes, "memory");
  REQUIRE(parsed.ok());
  for (const auto& t : parsed->tensors) {
    const auto off = static_cast<uint64_t>(t.data.data() - bytes.data());
    CHECK(off < bytes.size());
    CHECK((off - apr_test::LeU64(bytes, 56)) % 64 == 0);
  }
}

TEST_CASE(".apr compression falls back to stored when it does not help", "[apr]") {
  // Random bytes do not compress: every tensor is stored raw, so the file matches the
  // uncompressed one in size.
  std::vector<uint8_t> noise(4096);
  std::mt19937 rng(99);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  aprender::ModelFile m;
  m.metadata.Set("general.architecture", aprender::MetaValue::String("llama"));
  aprender::Tensor t;
  t.name = "noise";
  t.type = trueno::DType::kF32;
  t.dims = {1024};
  t.data = noise;
  m.tensors.push_back(t);
  apr_test::ScratchDir dir;
  aprender::AprWriteOptions zstd;
  zstd.compression = Compression::kZstd;
  REQUIRE(aprender::WriteApr(m, dir.file("z.apr"), zstd).ok());
  REQUIRE(aprender::WriteApr(m, dir.file("n.apr")).ok());
  auto checks = aprender::VerifyApr(dir.file("z.apr"));
  REQUIRE(checks.ok());
  CHECK((*checks)[2].name == "index");
  CHECK((*checks)[2].detail.find("1 none") != std::string::npos);
  auto got = aprender::ReadApr(dir.file("z.apr"));
  REQUIRE(got.ok());
  CHECK(std::memcmp(got->tensors[0].data.data(), noise.data(), noise.size()) == 0);
}

TEST_CASE(".apr writer rejects a tensor whose data size disagrees with its type and dims",
          "[apr]") {
  std::vector<uint8_t> bytes(10);
  aprender::ModelFile m;
  aprender::Tensor t;
  t.name = "w";
  t.type = trueno::DType::kF32;
  t.dims = {4};
  t.data = bytes;
  m.tensors.push_back(t);
  apr_test::ScratchDir dir;
  auto s = aprender::WriteApr(m, dir.file("bad.apr"));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("'w'") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir.file("bad.apr")));
  CHECK_FALSE(std::filesystem::exists(dir.file("bad.apr.tmp")));
}

TEST_CASE(".apr of an empty model (no tensors, no metadata) round-trips", "[apr]") {
  aprender::ModelFile m;
  apr_test::ScratchDir dir;
  REQUIRE(aprender::WriteApr(m, dir.file("e.apr")).ok());
  auto got = aprender::ReadApr(dir.file("e.apr"));
  REQUIRE(got.ok());
  CHECK(got->tensors.empty());
  CHECK(got->metadata.size() == 0);
}

// Not run by default: regenerates the fuzz seed corpus (tests/fuzz/apr/corpus) with
//   APR_FUZZ_CORPUS_OUT=tests/fuzz/apr/corpus build/release/tests/apr/apr_format_test "[.corpus]"
TEST_CASE("write the .apr fuzz seed corpus", "[.corpus]") {
  const char* out = std::getenv("APR_FUZZ_CORPUS_OUT");
  REQUIRE(out != nullptr);
  std::vector<uint8_t> a(32 * 4), b(34 * 2);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i % 7);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 37);
  aprender::ModelFile m;
  m.metadata.Set("general.architecture", aprender::MetaValue::String("llama"));
  m.metadata.Set("llama.block_count", aprender::MetaValue::U32(1));
  m.metadata.Set("f", aprender::MetaValue::F32(apr_test::FloatFromBits(0x7fc00001)));
  m.metadata.Set("s", aprender::MetaValue::String("\xff"));
  m.metadata.Set("tokenizer.ggml.tokens", aprender::MetaValue::StringArray({"a", "b"}));
  m.metadata.Set(
      "n",
      apr_test::Arr(aprender::MetaType::kArray,
                    {apr_test::Arr(aprender::MetaType::kInt8, {aprender::MetaValue::I8(-1)})}));
  m.tensors.push_back({"w", trueno::DType::kF32, {32}, a});
  m.tensors.push_back({"q", trueno::DType::kQ8_0, {64}, b});
  const auto key = *aprender::GenerateEd25519KeyPair();
  const std::string dir = out;
  aprender::AprWriteOptions o;
  REQUIRE(aprender::WriteApr(m, dir + "/plain.apr", o).ok());
  o.compression = aprender::Compression::kLz4;
  REQUIRE(aprender::WriteApr(m, dir + "/lz4.apr", o).ok());
  o.compression = aprender::Compression::kZstd;
  REQUIRE(aprender::WriteApr(m, dir + "/zstd.apr", o).ok());
  o.signing_key_pem = key.private_pem;
  REQUIRE(aprender::WriteApr(m, dir + "/zstd-signed.apr", o).ok());
  REQUIRE(aprender::WriteApr(aprender::ModelFile{}, dir + "/empty.apr").ok());
}
