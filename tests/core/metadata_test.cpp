#include <catch2/catch.hpp>

#include "aprender/metadata.h"

using aprender::Metadata;
using aprender::MetaValue;

TEST_CASE("Metadata keeps insertion order and Set replaces") {
  Metadata md;
  md.Set("b", MetaValue::U32(1));
  md.Set("a", MetaValue::String("x"));
  md.Set("b", MetaValue::U32(7));
  REQUIRE(md.size() == 2);
  CHECK(md.entries()[0].first == "b");
  CHECK(*md.GetUint("b") == 7);
  CHECK(*md.GetString("a") == "x");
}

TEST_CASE("Typed getters name the key on a missing or mistyped value") {
  Metadata md;
  md.Set("llama.block_count", MetaValue::String("four"));
  auto missing = md.GetUint("llama.context_length");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("llama.context_length") != std::string::npos);
  auto wrong = md.GetUint("llama.block_count");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.status().message().find("expected a non-negative integer") != std::string::npos);
  md.Set("neg", MetaValue::I32(-3));
  CHECK_FALSE(md.GetUint("neg").ok());
}

TEST_CASE("Array values compare element-wise") {
  auto a = MetaValue::StringArray({"x", "y"});
  auto b = MetaValue::StringArray({"x", "y"});
  auto c = MetaValue::StringArray({"x", "z"});
  CHECK(a == b);
  CHECK_FALSE(a == c);
  CHECK(a.ToString() == "[string x 2] [\"x\", \"y\"]");
}
