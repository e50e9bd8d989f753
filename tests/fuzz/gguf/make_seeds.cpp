// Writes the seed corpus with WriteGguf. Not part of the build; regenerate with e.g.
//   g++ -std=c++20 -Ilibs/formats/include -Ilibs/compute/include tests/fuzz/gguf/make_seeds.cpp \
//     build/release/libs/formats/libaprender.a build/release/libs/compute/libtrueno.a \
//     -labsl_statusor -labsl_status -labsl_cord -labsl_strings -labsl_str_format_internal \
//     -labsl_throw_delegate -labsl_raw_logging_internal -o /tmp/make_seeds && /tmp/make_seeds
//     tests/fuzz/gguf/corpus
#include <cstdio>
#include <string>
#include <vector>

#include "aprender/gguf.h"
#include "aprender/model_config.h"

using aprender::MetaArray;
using aprender::MetaType;
using aprender::MetaValue;
using aprender::ModelFile;
using aprender::Tensor;

namespace {

struct Builder {
  ModelFile model;
  std::vector<std::vector<uint8_t>> buffers;
  Builder() { buffers.reserve(64); }
  void Add(const std::string& name, trueno::DType type, std::vector<uint64_t> dims) {
    uint64_t n = 1;
    for (auto d : dims) n *= d;
    const auto& tr = trueno::Traits(type);
    buffers.emplace_back(n / tr.block_elems * tr.block_bytes);
    for (size_t i = 0; i < buffers.back().size(); ++i)
      buffers.back()[i] = static_cast<uint8_t>(i * 37 + 11);
    model.tensors.push_back(
        Tensor{name, type, std::move(dims), {buffers.back().data(), buffers.back().size()}});
  }
};

void TinyModel(Builder& b, aprender::Architecture arch, trueno::DType type, bool tied) {
  aprender::ModelConfig c;
  c.arch = arch;
  c.arch_name = arch == aprender::Architecture::kQwen2 ? "qwen2" : "llama";
  c.n_layers = 1;
  c.n_embd = 8;
  c.n_ff = 16;
  c.n_head = 2;
  c.n_head_kv = 1;
  c.head_dim = 4;
  c.n_vocab = 4;
  c.n_ctx_train = 64;
  aprender::ModelConfigToMetadata(c, b.model.metadata);
  b.model.metadata.Set("tokenizer.ggml.tokens", MetaValue::StringArray({"a", "b", "c", "d"}));
  b.Add("token_embd.weight", type, {8, 4});
  b.Add("output_norm.weight", trueno::DType::kF32, {8});
  if (!tied) b.Add("output.weight", type, {8, 4});
  b.Add("blk.0.attn_norm.weight", trueno::DType::kF32, {8});
  b.Add("blk.0.attn_q.weight", type, {8, 8});
  b.Add("blk.0.attn_k.weight", type, {8, 4});
  b.Add("blk.0.attn_v.weight", type, {8, 4});
  if (arch == aprender::Architecture::kQwen2) {
    b.Add("blk.0.attn_q.bias", trueno::DType::kF32, {8});
    b.Add("blk.0.attn_k.bias", trueno::DType::kF32, {4});
    b.Add("blk.0.attn_v.bias", trueno::DType::kF32, {4});
  }
  b.Add("blk.0.attn_output.weight", type, {8, 8});
  b.Add("blk.0.ffn_norm.weight", trueno::DType::kF32, {8});
  b.Add("blk.0.ffn_gate.weight", type, {8, 16});
  b.Add("blk.0.ffn_up.weight", type, {8, 16});
  b.Add("blk.0.ffn_down.weight", type, {16, 8});
}

int Write(const Builder& b, const std::string& path, aprender::GgufWriteOptions o = {}) {
  auto s = aprender::WriteGguf(b.model, path, o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : ".";
  int rc = 0;
  {
    Builder b;
    TinyModel(b, aprender::Architecture::kLlama, trueno::DType::kF32, false);
    rc |= Write(b, dir + "/llama-f32.gguf");
  }
  {
    Builder b;
    TinyModel(b, aprender::Architecture::kQwen2, trueno::DType::kF16, true);
    rc |= Write(b, dir + "/qwen2-f16-tied-v2.gguf", {2, 16});
  }
  {
    Builder b;
    b.model.metadata.Set("general.architecture", MetaValue::String("llama"));
    b.model.metadata.Set("u8", MetaValue::U8(1));
    b.model.metadata.Set("i8", MetaValue::I8(-1));
    b.model.metadata.Set("u16", MetaValue::U16(2));
    b.model.metadata.Set("i16", MetaValue::I16(-2));
    b.model.metadata.Set("i32", MetaValue::I32(-3));
    b.model.metadata.Set("u64", MetaValue::U64(4));
    b.model.metadata.Set("i64", MetaValue::I64(-4));
    b.model.metadata.Set("f64", MetaValue::F64(0.5));
    b.model.metadata.Set("b", MetaValue::Bool(true));
    b.model.metadata.Set("s", MetaValue::String("\xff\xfe"));
    b.model.metadata.Set("scores", MetaValue::F32Array({1.0f, 2.0f}));
    MetaArray inner{MetaType::kInt32, {MetaValue::I32(1), MetaValue::I32(2)}};
    MetaArray inner2{MetaType::kString, {MetaValue::String("x")}};
    MetaArray outer{MetaType::kArray, {MetaValue::Array(inner), MetaValue::Array(inner2)}};
    b.model.metadata.Set("nested", MetaValue::Array(outer));
    b.Add("empty", trueno::DType::kF32, {0, 3});
    b.Add("scalar", trueno::DType::kF32, {});
    rc |= Write(b, dir + "/metadata-all-types-a64.gguf", {3, 64});
  }
  {
    Builder b;
    b.model.metadata.Set("general.architecture", MetaValue::String("llama"));
    b.Add("q8_0", trueno::DType::kQ8_0, {32, 2});
    b.Add("q4_0", trueno::DType::kQ4_0, {32});
    b.Add("q4_k", trueno::DType::kQ4_K, {256});
    b.Add("q6_k", trueno::DType::kQ6_K, {256});
    b.Add("bf16", trueno::DType::kBF16, {2, 2, 2, 2});
    rc |= Write(b, dir + "/quant-types.gguf");
  }
  return rc;
}
