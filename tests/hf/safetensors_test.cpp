// SafeTensors reading (hand-built images), writing (round trip) and sharded sets.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "aprender/safetensors.h"
#include "st_bytes.h"
#include "test_assets.h"
#include "trueno/half.h"

using aprender::ModelFile;
using aprender::Tensor;
using trueno::DType;

TEST_CASE("hand-built SafeTensors image parses with reversed dims and zero-copy views") {
  const std::string header = R"({"__metadata__":{"format":"pt","note":"hi"},)"
                             R"("b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
                             R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  std::vector<uint8_t> data = apr_test::FloatBytes({1, 2, 3, 4, 5, 6});
  const uint16_t h[2] = {trueno::Fp32ToFp16(0.5f), trueno::Fp32ToFp16(-2.0f)};
  data.insert(data.end(), reinterpret_cast<const uint8_t*>(h),
              reinterpret_cast<const uint8_t*>(h) + 4);
  const auto bytes = apr_test::StImage(header, data);
  auto m = aprender::ParseSafetensors(bytes, "mem");
  REQUIRE(m.ok());
  REQUIRE(m->tensors.size() == 2);
  const Tensor* a = m->FindTensor("a");
  const Tensor* b = m->FindTensor("b");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a->type == DType::kF32);
  CHECK(a->dims == std::vector<uint64_t>{3, 2});              // [rows=2, cols=3] -> GGML {3, 2}
  CHECK(a->data.data() == bytes.data() + 8 + header.size());  // a view, not a copy
  float row1[3];
  std::memcpy(row1, a->data.data() + 12, 12);
  CHECK(row1[0] == 4.0f);
  CHECK(row1[2] == 6.0f);
  CHECK(b->type == DType::kF16);
  CHECK(b->dims == std::vector<uint64_t>{2});
  uint16_t hb[2];
  std::memcpy(hb, b->data.data(), 4);
  CHECK(trueno::Fp16ToFp32(hb[1]) == -2.0f);
  CHECK(m->metadata.GetStringOr("format") == "pt");
  CHECK(m->metadata.GetStringOr("note") == "hi");
}

TEST_CASE("SafeTensors accepts BF16 and F64 and integer dtypes") {
  const std::string header = R"({"x":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},)"
                             R"("y":{"dtype":"F64","shape":[1],"data_offsets":[4,12]},)"
                             R"("z":{"dtype":"I64","shape":[1,1],"data_offsets":[12,20]},)"
                             R"("s":{"dtype":"I32","shape":[],"data_offsets":[20,24]}})";
  const auto bytes = apr_test::StImage(header, std::vector<uint8_t>(24, 0));
  auto m = aprender::ParseSafetensors(bytes, "mem");
  REQUIRE(m.ok());
  CHECK(m->FindTensor("x")->type == DType::kBF16);
  CHECK(m->FindTensor("y")->type == DType::kF64);
  CHECK(m->FindTensor("z")->type == DType::kI64);
  CHECK(m->FindTensor("s")->data.size() == 4);
}

TEST_CASE("SafeTensors rejects unsupported dtypes as Unimplemented naming the tensor") {
  for (const char* dtype : {"U8", "BOOL", "F8_E4M3", "U64"}) {
    const std::string header = std::string(R"({"weird.weight":{"dtype":")") + dtype +
                               R"(","shape":[8],"data_offsets":[0,8]}})";
    auto m = aprender::ParseSafetensors(apr_test::StImage(header, std::vector<uint8_t>(8)), "mem");
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().code() == absl::StatusCode::kUnimplemented);
    CHECK(std::string(m.status().message()).find("weird.weight") != std::string::npos);
  }
}

TEST_CASE("SafeTensors write then read round trips F32 and F16 and BF16 tensors bit-exactly") {
  const uint32_t seed = 1234;
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> f(5 * 7);
  for (float& x : f) x = dist(rng);
  std::vector<uint16_t> h(11), bf(3 * 2 * 2);
  for (auto& x : h) x = trueno::Fp32ToFp16(dist(rng));
  for (auto& x : bf) x = trueno::Fp32ToBf16(dist(rng));
  ModelFile in;
  in.metadata.Set("format", aprender::MetaValue::String("pt"));
  in.metadata.Set("ignored.number", aprender::MetaValue::U32(5));
  auto span = [](const auto& v) {
    return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v.data()),
                                    v.size() * sizeof(v[0]));
  };
  in.tensors.push_back({"w.f32", DType::kF32, {7, 5}, span(f)});
  in.tensors.push_back({"w.f16", DType::kF16, {11}, span(h)});
  in.tensors.push_back({"w.bf16", DType::kBF16, {2, 2, 3}, span(bf)});
  apr_test::ScratchDir dir;
  const std::string path = dir.file("rt.safetensors");
  REQUIRE(aprender::WriteSafetensors(in, path).ok());

  auto out = aprender::ReadSafetensors(path);
  REQUIRE(out.ok());
  CHECK(out->format == aprender::FileFormat::kSafetensors);
  REQUIRE(out->tensors.size() == 3);
  for (const Tensor& t : in.tensors) {
    const Tensor* o = out->FindTensor(t.name);
    REQUIRE(o != nullptr);
    CHECK(o->type == t.type);
    CHECK(o->dims == t.dims);
    REQUIRE(o->data.size() == t.data.size());
    CHECK(std::memcmp(o->data.data(), t.data.data(), t.data.size()) == 0);
  }
  CHECK(out->metadata.GetStringOr("format") == "pt");
  CHECK(out->metadata.Find("ignored.number") == nullptr);  // only strings go to __metadata__

  // The file is standard: LE header size, header padded to 8 bytes, shape in row-major order.
  std::ifstream raw(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(raw)),
                             std::istreambuf_iterator<char>());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<size_t>(i)];
  CHECK(n % 8 == 0);
  const std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n));
  CHECK(header.find(R"("w.f32":{"dtype":"F32","shape":[5,7],"data_offsets":[0,140]})") !=
        std::string::npos);
}

TEST_CASE("SafeTensors writer rejects quantized tensors naming the tensor and apr convert") {
  std::vector<uint8_t> q(18, 0);
  ModelFile in;
  in.tensors.push_back({"blk.0.attn_q.weight", DType::kQ4_0, {32}, q});
  apr_test::ScratchDir dir;
  const absl::Status s = aprender::WriteSafetensors(in, dir.file("q.safetensors"));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("blk.0.attn_q.weight") != std::string::npos);
  CHECK(std::string(s.message()).find("apr convert") != std::string::npos);
}

TEST_CASE("sharded SafeTensors set loads every tensor from the shard the index names") {
  apr_test::ScratchDir dir;
  apr_test::WriteBytes(
      dir.file("model-00001-of-00002.safetensors"),
      apr_test::StImage(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                        apr_test::FloatBytes({1, 2, 3})));
  apr_test::WriteBytes(
      dir.file("model-00002-of-00002.safetensors"),
      apr_test::StImage(R"({"c":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}})",
                        apr_test::FloatBytes({7, 8})));
  auto write_index = [&](const std::string& c_shard) {
    std::ofstream(dir.file("model.safetensors.index.json"))
        << R"({"metadata":{"total_size":20},"weight_map":{"c":")" << c_shard
        << R"(","a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors"}})";
  };
  write_index("model-00002-of-00002.safetensors");
  auto m = aprender::ReadSafetensors(dir.file("model.safetensors.index.json"));
  REQUIRE(m.ok());
  REQUIRE(m->tensors.size() == 3);
  CHECK(m->tensors[0].name == "c");  // index order
  CHECK(m->FindTensor("c")->dims == std::vector<uint64_t>{2, 1});
  float c[2];
  std::memcpy(c, m->FindTensor("c")->data.data(), 8);
  CHECK(c[1] == 8.0f);
  float b;
  std::memcpy(&b, m->FindTensor("b")->data.data(), 4);
  CHECK(b == 3.0f);
  CHECK(m->storage.size() == 2);  // each shard mapped once

  write_index("model-00001-of-00002.safetensors");  // the index lies about "c"
  auto bad = aprender::ReadSafetensors(dir.file("model.safetensors.index.json"));
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("\"c\"") != std::string::npos);

  write_index("../model-00002-of-00002.safetensors");
  auto escape = aprender::ReadSafetensors(dir.file("model.safetensors.index.json"));
  CHECK(escape.status().code() == absl::StatusCode::kInvalidArgument);

  write_index("missing.safetensors");
  CHECK(aprender::ReadSafetensors(dir.file("model.safetensors.index.json")).status().code() ==
        absl::StatusCode::kNotFound);
}
