// QuantizeModel: the per-tensor type policy of each preset, value fidelity, ownership, progress.
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "aprender/gguf.h"
#include "aprender/quantize_model.h"
#include "test_assets.h"
#include "trueno/half.h"
#include "trueno/quantize.h"

namespace {

using aprender::ModelFile;
using aprender::QuantPreset;
using aprender::Tensor;
using trueno::DType;

constexpr int kLayers = 8;  // llama.cpp's "more bits" layers for 8 layers: 0, 3, 6, 7

void AddF32(ModelFile& m, const std::string& name, std::vector<uint64_t> dims, std::mt19937& rng) {
  uint64_t n = 1;
  for (auto d : dims) n *= d;
  auto buf = std::make_shared<std::vector<uint8_t>>(n * 4);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  for (uint64_t i = 0; i < n; ++i) {
    const float v = dims.size() == 1 ? 1.0f + dist(rng) : dist(rng);
    std::memcpy(buf->data() + 4 * i, &v, 4);
  }
  m.tensors.push_back(Tensor{name, DType::kF32, std::move(dims), std::span<const uint8_t>(*buf)});
  m.storage.push_back(buf);
}

void AddF16(ModelFile& m, const std::string& name, std::vector<uint64_t> dims) {
  uint64_t n = 1;
  for (auto d : dims) n *= d;
  auto buf = std::make_shared<std::vector<uint8_t>>(n * 2);
  for (uint64_t i = 0; i < n; ++i) {
    const uint16_t h = trueno::Fp32ToFp16(0.5f + 0.001f * static_cast<float>(i));
    std::memcpy(buf->data() + 2 * i, &h, 2);
  }
  m.tensors.push_back(Tensor{name, DType::kF16, std::move(dims), std::span<const uint8_t>(*buf)});
  m.storage.push_back(buf);
}

ModelFile TinyLlama(bool with_output = true) {
  std::mt19937 rng(4242);
  ModelFile m;
  m.metadata.Set("general.architecture", aprender::MetaValue::String("llama"));
  m.metadata.Set("llama.block_count", aprender::MetaValue::U32(kLayers));
  m.metadata.Set("general.file_type", aprender::MetaValue::U32(0));
  AddF32(m, "token_embd.weight", {256, 16}, rng);
  for (int i = 0; i < kLayers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    AddF32(m, p + "attn_norm.weight", {256}, rng);
    AddF32(m, p + "attn_q.weight", {256, 8}, rng);
    AddF32(m, p + "attn_k.weight", {256, 4}, rng);
    AddF32(m, p + "attn_v.weight", {256, 4}, rng);
    AddF32(m, p + "attn_output.weight", {256, 8}, rng);
    AddF32(m, p + "ffn_norm.weight", {256}, rng);
    AddF32(m, p + "ffn_gate.weight", {256, 8}, rng);
    AddF32(m, p + "ffn_up.weight", {256, 8}, rng);
    AddF32(m, p + "ffn_down.weight", {512, 4}, rng);
  }
  AddF16(m, "output_norm.weight", {256});
  if (with_output) AddF32(m, "output.weight", {256, 16}, rng);
  AddF32(m, "odd32.weight", {96, 4}, rng);  // fits 32-blocks, not 256
  AddF32(m, "odd.weight", {100, 4}, rng);   // fits no block
  return m;
}

std::map<std::string, DType> PlanByName(const ModelFile& m, QuantPreset p) {
  auto plan = aprender::PlanQuantization(m, p);
  REQUIRE(plan.ok());
  std::map<std::string, DType> by_name;
  for (size_t i = 0; i < m.tensors.size(); ++i) by_name[m.tensors[i].name] = (*plan)[i];
  return by_name;
}

bool MoreBitsLayer(int i) { return i == 0 || i == 3 || i == 6 || i == 7; }

std::vector<float> Decode(const Tensor& t) {
  std::vector<float> out(t.elements());
  REQUIRE(trueno::DequantizeRow(t.type, t.data.data(), out.data(), out.size()).ok());
  return out;
}

}  // namespace

TEST_CASE("Presets parse by their llama.cpp names and map to GGUF file types") {
  CHECK(*aprender::ParseQuantPreset("q4_k_m") == QuantPreset::kQ4_K_M);
  CHECK(*aprender::ParseQuantPreset("Q5_K_M") == QuantPreset::kQ5_K_M);
  CHECK(*aprender::ParseQuantPreset("bf16") == QuantPreset::kBF16);
  CHECK(aprender::ParseQuantPreset("q3_k_xl").status().code() ==
        absl::StatusCode::kInvalidArgument);
  const std::pair<QuantPreset, uint32_t> ids[] = {
      {QuantPreset::kF32, 0},   {QuantPreset::kF16, 1},     {QuantPreset::kQ4_0, 2},
      {QuantPreset::kQ8_0, 7},  {QuantPreset::kQ4_K_M, 15}, {QuantPreset::kQ5_K_M, 17},
      {QuantPreset::kQ6_K, 18}, {QuantPreset::kBF16, 32}};
  for (auto [p, id] : ids) CHECK(aprender::QuantPresetFileType(p) == id);
}

TEST_CASE("Q4_K_M and Q5_K_M give Q6_K to attn_v and ffn_down of the more-bits layers and output") {
  const auto m = TinyLlama();
  for (auto [preset, base] : {std::pair{QuantPreset::kQ4_K_M, DType::kQ4_K},
                              std::pair{QuantPreset::kQ5_K_M, DType::kQ5_K}}) {
    const auto plan = PlanByName(m, preset);
    CHECK(plan.at("token_embd.weight") == base);
    CHECK(plan.at("output.weight") == DType::kQ6_K);
    CHECK(plan.at("output_norm.weight") == DType::kF32);
    for (int i = 0; i < kLayers; ++i) {
      INFO("layer " << i);
      const std::string p = "blk." + std::to_string(i) + ".";
      const DType more = MoreBitsLayer(i) ? DType::kQ6_K : base;
      CHECK(plan.at(p + "attn_v.weight") == more);
      CHECK(plan.at(p + "ffn_down.weight") == more);
      CHECK(plan.at(p + "attn_q.weight") == base);
      CHECK(plan.at(p + "attn_k.weight") == base);
      CHECK(plan.at(p + "attn_output.weight") == base);
      CHECK(plan.at(p + "ffn_gate.weight") == base);
      CHECK(plan.at(p + "attn_norm.weight") == DType::kF32);
    }
    // Rows that do not fit a 256-block: Q4_K -> Q5_0, Q5_K -> Q5_1; nothing fits -> F16.
    CHECK(plan.at("odd32.weight") == (base == DType::kQ4_K ? DType::kQ5_0 : DType::kQ5_1));
    CHECK(plan.at("odd.weight") == DType::kF16);
  }
}

TEST_CASE("Tied embeddings take the output treatment; uniform presets stay uniform") {
  const auto tied = PlanByName(TinyLlama(false), QuantPreset::kQ4_K_M);
  CHECK(tied.at("token_embd.weight") == DType::kQ6_K);

  const auto m = TinyLlama();
  const auto q4 = PlanByName(m, QuantPreset::kQ4_0);
  CHECK(q4.at("output.weight") == DType::kQ6_K);
  CHECK(q4.at("blk.0.attn_v.weight") == DType::kQ4_0);
  CHECK(q4.at("blk.0.ffn_down.weight") == DType::kQ4_0);
  CHECK(q4.at("odd32.weight") == DType::kQ4_0);
  CHECK(q4.at("odd.weight") == DType::kF16);
  const auto q8 = PlanByName(m, QuantPreset::kQ8_0);
  CHECK(q8.at("output.weight") == DType::kQ8_0);
  CHECK(q8.at("blk.3.attn_v.weight") == DType::kQ8_0);
  const auto q6 = PlanByName(m, QuantPreset::kQ6_K);
  CHECK(q6.at("blk.1.attn_q.weight") == DType::kQ6_K);
  CHECK(q6.at("odd32.weight") == DType::kQ8_0);
  const auto f16 = PlanByName(m, QuantPreset::kF16);
  CHECK(f16.at("output.weight") == DType::kF16);
  CHECK(f16.at("odd.weight") == DType::kF16);
  CHECK(f16.at("output_norm.weight") == DType::kF32);
  const auto bf16 = PlanByName(m, QuantPreset::kBF16);
  CHECK(bf16.at("blk.2.ffn_up.weight") == DType::kBF16);
}

TEST_CASE("QuantizeModel converts every tensor to its planned type and keeps the values") {
  auto in = std::make_unique<ModelFile>(TinyLlama());
  const auto plan = aprender::PlanQuantization(*in, QuantPreset::kQ4_K_M);
  REQUIRE(plan.ok());
  std::vector<std::pair<size_t, size_t>> calls;
  auto out = aprender::QuantizeModel(*in, QuantPreset::kQ4_K_M, [&](size_t done, size_t total) {
    calls.emplace_back(done, total);
  });
  REQUIRE(out.ok());
  REQUIRE(out->tensors.size() == in->tensors.size());
  REQUIRE(calls.size() == in->tensors.size());
  CHECK(calls.back() == std::make_pair(in->tensors.size(), in->tensors.size()));
  CHECK(out->metadata.GetUint("general.file_type").value() == 15);
  CHECK(out->metadata.GetString("general.architecture").value() == "llama");

  // Decode the inputs now, then drop the input: the output must not depend on its storage.
  std::vector<std::vector<float>> originals;
  for (const auto& t : in->tensors) originals.push_back(Decode(t));
  in.reset();
  for (size_t i = 0; i < out->tensors.size(); ++i) {
    const auto& t = out->tensors[i];
    INFO("tensor " << t.name << " type " << std::string(trueno::DTypeName(t.type)));
    CHECK(t.type == (*plan)[i]);
    REQUIRE(t.data.size() == trueno::ByteSize(t.type, t.elements()).value());
    const auto got = Decode(t);
    const auto& want = originals[i];
    double err = 0, sum = 0;
    for (size_t j = 0; j < got.size(); ++j) {
      err += (static_cast<double>(got[j]) - want[j]) * (static_cast<double>(got[j]) - want[j]);
      sum += static_cast<double>(want[j]) * want[j];
    }
    if (t.dims.size() == 1) {
      CHECK(err == 0.0);  // F32 copied exactly, F16 widened exactly
    } else {
      CHECK(std::sqrt(err / sum) <= 0.09);  // the Q4_K bound of the error table (the worst type)
    }
  }
}

TEST_CASE("QuantizeModel is deterministic and rejects tensors whose bytes do not match the shape") {
  const auto m = TinyLlama();
  auto a = aprender::QuantizeModel(m, QuantPreset::kQ5_K_M);
  auto b = aprender::QuantizeModel(m, QuantPreset::kQ5_K_M);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  for (size_t i = 0; i < a->tensors.size(); ++i) {
    CHECK(std::equal(a->tensors[i].data.begin(), a->tensors[i].data.end(),
                     b->tensors[i].data.begin(), b->tensors[i].data.end()));
  }
  auto bad = TinyLlama();
  bad.tensors[1].data = bad.tensors[1].data.subspan(0, 100);
  CHECK(aprender::QuantizeModel(bad, QuantPreset::kQ4_0).status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("A quantized llama.cpp model survives GGUF write and read") {
  APR_REQUIRE_ASSET("gguf-interop/tiny-f32.gguf");
  auto in = aprender::ReadGguf((apr_test::SharedAssets() / "gguf-interop/tiny-f32.gguf").string());
  REQUIRE(in.ok());
  auto q = aprender::QuantizeModel(*in, QuantPreset::kQ4_K_M);
  REQUIRE(q.ok());
  apr_test::ScratchDir dir;
  REQUIRE(aprender::WriteGguf(*q, dir.file("q4km.gguf")).ok());
  auto back = aprender::ReadGguf(dir.file("q4km.gguf"));
  REQUIRE(back.ok());
  REQUIRE(back->tensors.size() == q->tensors.size());
  for (size_t i = 0; i < q->tensors.size(); ++i) {
    INFO("tensor " << q->tensors[i].name);
    CHECK(back->tensors[i].type == q->tensors[i].type);
    CHECK(std::equal(back->tensors[i].data.begin(), back->tensors[i].data.end(),
                     q->tensors[i].data.begin(), q->tensors[i].data.end()));
  }
  CHECK(back->metadata.GetUint("general.file_type").value() == 15);
  // With 2 layers llama.cpp's rule selects only layer 1 (i >= 7*2/8) for more bits.
  CHECK(back->FindTensor("blk.0.attn_v.weight")->type == DType::kQ4_K);
  CHECK(back->FindTensor("blk.1.attn_v.weight")->type == DType::kQ6_K);
}
