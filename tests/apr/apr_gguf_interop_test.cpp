// GGUF -> .apr -> GGUF keeps tensor bytes and metadata exactly, on a file written by llama.cpp.
#include <catch2/catch.hpp>

#include <cstring>

#include "apr_test_model.h"
#include "aprender/apr_format.h"
#include "aprender/gguf.h"
#include "test_assets.h"

TEST_CASE("llama.cpp GGUF -> .apr -> GGUF gives identical tensor bytes and metadata",
          "[apr][gguf]") {
  const std::string rel = "gguf-interop/tiny-Q4_K_S.gguf";
  APR_REQUIRE_ASSET(rel);
  const std::string src = (apr_test::SharedAssets() / rel).string();
  auto original = aprender::ReadGguf(src);
  REQUIRE(original.ok());
  REQUIRE_FALSE(original->tensors.empty());

  apr_test::ScratchDir dir;
  for (auto c :
       {aprender::Compression::kNone, aprender::Compression::kLz4, aprender::Compression::kZstd}) {
    INFO("compression " << static_cast<int>(c));
    aprender::AprWriteOptions opts;
    opts.compression = c;
    const std::string apr_path = dir.file("m.apr");
    REQUIRE(aprender::WriteApr(*original, apr_path, opts).ok());
    auto via_apr = aprender::ReadApr(apr_path);
    REQUIRE(via_apr.ok());
    const std::string back = dir.file("back.gguf");
    REQUIRE(aprender::WriteGguf(*via_apr, back).ok());
    auto again = aprender::ReadGguf(back);
    REQUIRE(again.ok());

    CHECK(apr_test::FirstMetadataDifference(original->metadata, again->metadata).empty());
    REQUIRE(again->tensors.size() == original->tensors.size());
    for (size_t i = 0; i < original->tensors.size(); ++i) {
      const auto& a = original->tensors[i];
      const auto& b = again->tensors[i];
      INFO("tensor " << a.name);
      CHECK(a.name == b.name);
      CHECK(a.type == b.type);
      CHECK(a.dims == b.dims);
      REQUIRE(a.data.size() == b.data.size());
      CHECK(std::memcmp(a.data.data(), b.data.data(), a.data.size()) == 0);
    }
    // Provenance records the source file and its SHA-256.
    auto checks = aprender::VerifyApr(apr_path);
    REQUIRE(checks.ok());
    const std::string meta = (*checks)[1].detail;
    CHECK(meta.find("source: gguf:" + src) != std::string::npos);
    CHECK(meta.find("(sha256 ") != std::string::npos);
  }
}
