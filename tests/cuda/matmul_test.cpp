// CUDA MatMul / EmbedRows against the CPU reference: weights quantized on the host, dequantized
// with trueno's scalar DequantizeRow, and multiplied in float64. Outputs are poisoned with NaN
// before every launch, so an unwritten element fails the finiteness check.
//
// Error bounds (relative L2 norm of the difference):
//  - n_tokens <= 8, fused kernels: f32 products and sums over <= 4096 terms, ~1e-6 in practice;
//    bound 2e-5.
//  - n_tokens > 8, cuBLAS: weights and activations rounded to f16 (relative rounding error
//    <= 2^-11 each, random sign), f32 accumulation: ~3e-4 expected; bound 2e-3. F32 weights use
//    an f32 GEMM: bound 2e-5 like the fused kernels... unless cuBLAS picks TF32; 1e-4 then is
//    still far below TF32's ~5e-4, so a silent TF32 fallback fails the test.
//  - Q4_K / Q6_K at n_tokens <= 16 (up to 64 with SetMatMulInt8MaxTokens) multiply 8-bit
//    activations (MatMulQuantizesActivations; dp4a up to 8 tokens, int8 tensor cores above —
//    exact integer sums either way): the
//    reference is then recomputed from activations quantized here the documented way (blocks of
//    32, d = max|x| / 127, q = round-half-even(x * (1/d))): products of the same values, bound
//    2e-5 again (5e-3 after an RMSNorm / SwiGLU transform, whose f32 result can land on the
//    other side of a rounding tie than the float64 one: one flipped q moves a row by
//    ~d|w| ~ 1e-4 of its norm). Against the unquantized activations the error is the
//    quantization's own: uniform rounding of d/2 on values of rms ~d*127/2.5 gives ~0.6 %
//    relative; bound 2e-2.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "trueno/cuda.h"
#include "trueno/dtype.h"
#include "trueno/quantize.h"

namespace tc = trueno::cuda;
using trueno::DType;

namespace {

const DType kAllTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0,
                           DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

size_t RowBytes(DType t, int cols) {
  const auto& tr = trueno::Traits(t);
  return static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;
}

// Random weights of `type` and their float dequantization (the reference values).
struct Weights {
  std::vector<uint8_t> bytes;
  std::vector<float> deq;
};

Weights MakeWeights(DType type, int rows, int cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Weights w;
  const size_t rb = RowBytes(type, cols);
  w.bytes.resize(rb * rows);
  w.deq.resize(static_cast<size_t>(rows) * cols);
  std::vector<float> src(cols);
  for (int r = 0; r < rows; ++r) {
    // Rows of different magnitude, so per-block scales vary.
    const float scale = 0.02f * (1.0f + static_cast<float>(r % 7));
    for (float& v : src) v = dist(rng) * scale;
    REQUIRE(trueno::QuantizeRow(type, src.data(), w.bytes.data() + rb * r, cols).ok());
    REQUIRE(trueno::DequantizeRow(type, w.bytes.data() + rb * r,
                                  w.deq.data() + static_cast<size_t>(r) * cols, cols)
                .ok());
  }
  return w;
}

std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

template <typename T>
tc::DeviceBuffer ToDevice(tc::Context& ctx, const std::vector<T>& v, size_t extra_bytes = 0) {
  auto buf = tc::DeviceBuffer::Allocate(v.size() * sizeof(T) + extra_bytes + 16, "test buffer");
  REQUIRE(buf.ok());
  REQUIRE(ctx.Upload(static_cast<char*>(buf->data()) + extra_bytes, v.data(), v.size() * sizeof(T))
              .ok());
  return std::move(*buf);
}

void Poison(tc::Context& ctx, void* dst, size_t floats) {
  std::vector<uint8_t> nan(floats * sizeof(float), 0xFF);  // 0xFFFFFFFF is a NaN
  REQUIRE(ctx.Upload(dst, nan.data(), nan.size()).ok());
}

struct Errors {
  double rel_l2 = 0;
  int non_finite = 0;
};

Errors Compare(const std::vector<float>& got, const std::vector<double>& ref) {
  double num = 0, den = 0;
  Errors e;
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!std::isfinite(got[i])) {
      ++e.non_finite;
      continue;
    }
    const double d = static_cast<double>(got[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  e.rel_l2 = std::sqrt(num / (den > 0 ? den : 1.0));
  return e;
}

// Activations as the device's 8-bit path sees them: per block of 32, d = max|x| / 127 and
// q = round-half-even(x * (1 / d)), all in float like the kernel; returns d * q.
std::vector<double> QuantizedQ8(const std::vector<float>& x) {
  std::vector<double> out(x.size());
  for (size_t b = 0; b + 32 <= x.size(); b += 32) {
    float amax = 0.0f;
    for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = amax / 127.0f;
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    for (size_t i = b; i < b + 32; ++i) {
      out[i] = static_cast<double>(d) * std::nearbyint(x[i] * id);
    }
  }
  return out;
}

// ref[t][r] = sum_c W[r][c] X[t][c] in float64.
template <typename X>
std::vector<double> Product(const Weights& w, int rows, int cols, const std::vector<X>& x,
                            int n_tokens) {
  std::vector<double> ref(static_cast<size_t>(n_tokens) * rows);
  for (int t = 0; t < n_tokens; ++t) {
    for (int r = 0; r < rows; ++r) {
      double acc = 0;
      const float* wr = w.deq.data() + static_cast<size_t>(r) * cols;
      const X* xt = x.data() + static_cast<size_t>(t) * cols;
      for (int c = 0; c < cols; ++c) acc += static_cast<double>(wr[c]) * xt[c];
      ref[static_cast<size_t>(t) * rows + r] = acc;
    }
  }
  return ref;
}

// Runs one MatMul on the device and checks it against the float64 reference.
void CheckMatMul(tc::Context& ctx, DType type, int rows, int cols, int n_tokens, uint32_t seed,
                 size_t x_offset_bytes = 0) {
  INFO("type=" << trueno::DTypeName(type) << " rows=" << rows << " cols=" << cols
               << " n_tokens=" << n_tokens << " seed=" << seed << " x_offset=" << x_offset_bytes);
  const Weights w = MakeWeights(type, rows, cols, seed);
  const std::vector<float> x = RandomFloats(static_cast<size_t>(n_tokens) * cols, seed + 1);
  const bool q8 = tc::MatMulQuantizesActivations(type, n_tokens) && x_offset_bytes % 16 == 0;
  const std::vector<double> plain_ref = Product(w, rows, cols, x, n_tokens);
  const std::vector<double> ref = q8 ? Product(w, rows, cols, QuantizedQ8(x), n_tokens) : plain_ref;
  tc::DeviceBuffer dw = ToDevice(ctx, w.bytes);
  tc::DeviceBuffer dx = ToDevice(ctx, x, x_offset_bytes);
  auto dy = tc::DeviceBuffer::Allocate(ref.size() * sizeof(float), "y");
  REQUIRE(dy.ok());
  Poison(ctx, dy->data(), ref.size());
  const auto* xp =
      reinterpret_cast<const float*>(static_cast<const char*>(dx.data()) + x_offset_bytes);
  absl::Status st = tc::MatMul(ctx, type, dw.data(), rows, cols, xp, n_tokens, dy->as<float>());
  INFO(std::string(st.message()));
  REQUIRE(st.ok());
  REQUIRE(ctx.Synchronize().ok());
  std::vector<float> got(ref.size());
  REQUIRE(ctx.Download(got.data(), dy->data(), got.size() * sizeof(float)).ok());
  const Errors e = Compare(got, ref);
  const bool gemm = n_tokens > 8;
  const double bound = (!gemm || q8) ? 2e-5 : (type == DType::kF32 ? 1e-4 : 2e-3);
  std::printf("matmul %-5s rows=%-5d cols=%-5d n=%-4d%s rel_l2=%.3g (bound %.0e)\n",
              std::string(trueno::DTypeName(type)).c_str(), rows, cols, n_tokens, q8 ? " q8" : "",
              e.rel_l2, bound);
  CHECK(e.non_finite == 0);
  CHECK(e.rel_l2 <= bound);
  if (q8) {
    const Errors plain = Compare(got, plain_ref);
    std::printf("  vs unquantized activations rel_l2=%.3g (bound 2e-2)\n", plain.rel_l2);
    CHECK(plain.rel_l2 <= 2e-2);
  }
}

}  // namespace

TEST_CASE("cuda MatMul matches the float64 reference for every weight type and batch size",
          "[gpu]") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  uint32_t seed = 1000;
  for (DType type : kAllTypes) {
    REQUIRE(tc::MatMulSupports(type));
    for (int n : {1, 2, 3, 5, 8, 64, 300}) CheckMatMul(**ctx, type, 37, 512, n, ++seed);
  }
  // The K types again with float activations (SetMatVecQ8(false)), and wide rows that the 8-bit
  // path splits over 2 and 4 warps (8 and 16+ groups of four super-blocks).
  tc::SetMatVecQ8(false);
  for (DType type : {DType::kQ4_K, DType::kQ6_K}) {
    CHECK_FALSE(tc::MatMulQuantizesActivations(type, 1));
    for (int n : {1, 3, 8}) CheckMatMul(**ctx, type, 37, 512, n, ++seed);
  }
  tc::SetMatVecQ8(true);
  for (DType type : {DType::kQ4_K, DType::kQ6_K}) {
    CHECK(tc::MatMulQuantizesActivations(type, 1));
    for (int cols : {2048, 4096, 8960}) {
      for (int n : {1, 2, 6}) CheckMatMul(**ctx, type, 13, cols, n, ++seed);
    }
  }
}

TEST_CASE("cuda MatMul handles rows not multiple of 16 bytes and unaligned activations", "[gpu]") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  uint32_t seed = 2000;
  // Plain types with cols % 8 != 0: per-element kernels (both paths).
  for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (int n : {1, 3, 8, 64}) CheckMatMul(**ctx, type, 29, 100, n, ++seed);
  }
  // Activations at a 4-byte offset: every type falls back to the per-element kernel.
  for (DType type : kAllTypes) CheckMatMul(**ctx, type, 21, 256, 3, ++seed, 4);
}

TEST_CASE("cuda MatMul over several f16 scratch tiles and qwen-like widths", "[gpu]") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  // 4096 columns -> 8192 rows per f16 tile: 8195 rows need two tiles, the second of 3 rows.
  CheckMatMul(**ctx, DType::kQ4_K, 8195, 4096, 9, 3001);
  // 896-wide rows as in qwen2.5-0.5B (Q5_0 / Q8_0 there) and a 4864-wide Q6_K down projection.
  for (int n : {1, 7, 33}) {
    CheckMatMul(**ctx, DType::kQ5_0, 131, 896, n, 3100 + n);
    CheckMatMul(**ctx, DType::kQ8_0, 131, 896, n, 3200 + n);
    CheckMatMul(**ctx, DType::kQ6_K, 67, 4864, n, 3300 + n);
  }
  // More rows than the GPU holds warps for at once: the 8-bit kernels' warps take several rows
  // each (grid-stride), also with rows split over 4 warps (16384 columns).
  for (int n : {1, 3}) {
    CheckMatMul(**ctx, DType::kQ4_K, 20011, 512, n, 3400 + n);
    CheckMatMul(**ctx, DType::kQ6_K, 2503, 16384, n, 3500 + n);
  }
}

TEST_CASE("cuda MatMul on int8 tensor cores for 9..64 tokens (Q4_K, Q6_K)", "[gpu]") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  uint32_t seed = 3600;
  // The default limit (16 rows) and the kernel's whole range (up to 64: three tile widths).
  for (DType type : {DType::kQ4_K, DType::kQ6_K}) {
    CHECK(tc::MatMulQuantizesActivations(type, 16));
    CHECK_FALSE(tc::MatMulQuantizesActivations(type, 17));
  }
  tc::SetMatMulInt8MaxTokens(64);
  for (DType type : {DType::kQ4_K, DType::kQ6_K}) {
    REQUIRE(tc::MatMulQuantizesActivations(type, 9));
    REQUIRE(tc::MatMulQuantizesActivations(type, 64));
    CHECK_FALSE(tc::MatMulQuantizesActivations(type, 65));
    // Token counts at and around the 8-token tiles (16 / 32 / 64 per launch); rows not a
    // multiple of the 16 a warp owns; one to many super-blocks per row (and rows split over
    // 2 / 4 warps: few rows).
    for (int n : {9, 15, 16, 17, 31, 33, 48, 63, 64}) CheckMatMul(**ctx, type, 37, 512, n, ++seed);
    for (int n : {12, 40}) {
      CheckMatMul(**ctx, type, 5, 256, n, ++seed);
      CheckMatMul(**ctx, type, 300, 4096, n, ++seed);
      CheckMatMul(**ctx, type, 9000, 256, n, ++seed);   // 2 warps per row group
      CheckMatMul(**ctx, type, 17000, 256, n, ++seed);  // 1 warp per row group
    }
  }
  tc::SetMatMulInt8MaxTokens(8);  // off: the cuBLAS path again
  CHECK_FALSE(tc::MatMulQuantizesActivations(DType::kQ4_K, 9));
  CheckMatMul(**ctx, DType::kQ4_K, 37, 512, 12, ++seed);
  tc::SetMatMulInt8MaxTokens(16);
}

TEST_CASE("cuda MatMul rejects bad arguments with clear statuses", "[gpu]") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  auto buf = tc::DeviceBuffer::Allocate(1 << 16, "args");
  REQUIRE(buf.ok());
  float* p = buf->as<float>();
  CHECK_FALSE(tc::MatMulSupports(DType::kQ2_K));
  CHECK(tc::MatMul(**ctx, DType::kQ2_K, p, 4, 256, p, 1, p).code() ==
        absl::StatusCode::kUnimplemented);
  CHECK(tc::MatMul(**ctx, DType::kQ4_K, p, 4, 100, p, 1, p).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(tc::MatMul(**ctx, DType::kQ4_0, p, 0, 32, p, 1, p).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(tc::MatMul(**ctx, DType::kQ4_0, p, 4, 32, p, 0, p).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(tc::MatMul(**ctx, DType::kQ4_0, nullptr, 4, 32, p, 1, p).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(tc::EmbedRows(**ctx, DType::kQ4_K, p, 4, 100, nullptr, 0, p).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ctx->get()->Synchronize().ok());
}

TEST_CASE("cuda EmbedRows returns dequantized rows and zeros for ids out of range", "[gpu]") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  uint32_t seed = 4000;
  const std::vector<int32_t> ids = {0, 7, -1, 49, 50, 7, 1 << 30, 23};
  for (DType type : kAllTypes) {
    for (int dim : {256, 512, 100}) {
      if (dim % static_cast<int>(trueno::Traits(type).block_elems) != 0) continue;
      INFO("type=" << trueno::DTypeName(type) << " dim=" << dim << " seed=" << seed + 1);
      const int n_rows = 50;
      const Weights w = MakeWeights(type, n_rows, dim, ++seed);
      tc::DeviceBuffer dt = ToDevice(**ctx, w.bytes);
      tc::DeviceBuffer di = ToDevice(**ctx, ids);
      const size_t n_out = ids.size() * dim;
      auto dout = tc::DeviceBuffer::Allocate(n_out * sizeof(float), "embed out");
      REQUIRE(dout.ok());
      Poison(**ctx, dout->data(), n_out);
      REQUIRE(tc::EmbedRows(**ctx, type, dt.data(), n_rows, dim, di.as<int32_t>(),
                            static_cast<int>(ids.size()), dout->as<float>())
                  .ok());
      std::vector<float> got(n_out);
      REQUIRE(ctx->get()->Download(got.data(), dout->data(), n_out * sizeof(float)).ok());
      int bad = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        const int id = ids[i];
        const bool valid = id >= 0 && id < n_rows;
        for (int j = 0; j < dim; ++j) {
          const float g = got[i * dim + j];
          // The device may fuse d*q - m into one FMA: a few ulps of the row's largest value.
          const float r = valid ? w.deq[static_cast<size_t>(id) * dim + j] : 0.0f;
          if (!std::isfinite(g) || std::fabs(g - r) > 1e-6f * (std::fabs(r) + 0.2f)) ++bad;
        }
      }
      CHECK(bad == 0);
    }
  }
}

namespace {

// MatMulMulti against float64: the input transform (RMSNorm with weights, or SwiGLU), each
// output's W X + bias, added to its previous (random) contents when accumulating. Bounds as for
// MatMul (the transform adds a few f32 roundings per element).
struct MultiOut {
  DType type;
  int rows;
  bool bias, accumulate;
};

void CheckMatMulMulti(tc::Context& ctx, const std::vector<MultiOut>& spec, int cols, int n,
                      bool rms, bool swiglu, uint32_t seed, size_t x_offset_bytes = 0) {
  INFO("cols=" << cols << " n=" << n << " rms=" << rms << " swiglu=" << swiglu << " seed=" << seed
               << " x_offset=" << x_offset_bytes);
  const std::vector<float> x = RandomFloats(static_cast<size_t>(n) * cols, seed);
  const std::vector<float> up = RandomFloats(x.size(), seed + 1);
  std::vector<float> norm_w = RandomFloats(cols, seed + 2);
  const float eps = 1e-5f;
  std::vector<double> X(x.size());
  std::vector<float> Xf(x.size());  // X rounded to float: what the device quantizes
  for (int t = 0; t < n; ++t) {
    const float* xt = x.data() + static_cast<size_t>(t) * cols;
    double ss = 0;
    for (int c = 0; c < cols; ++c) ss += static_cast<double>(xt[c]) * xt[c];
    const double inv = 1.0 / std::sqrt(ss / cols + eps);
    for (int c = 0; c < cols; ++c) {
      const size_t i = static_cast<size_t>(t) * cols + c;
      const double v = xt[c];
      X[i] = rms ? v * inv * norm_w[c] : swiglu ? v / (1.0 + std::exp(-v)) * up[i] : v;
      Xf[i] = static_cast<float>(X[i]);
    }
  }
  const std::vector<double> Xq = QuantizedQ8(Xf);
  tc::DeviceBuffer dx = ToDevice(ctx, x, x_offset_bytes);
  tc::DeviceBuffer dup = ToDevice(ctx, up);
  tc::DeviceBuffer dnorm = ToDevice(ctx, norm_w);
  std::vector<Weights> ws;
  std::vector<tc::DeviceBuffer> keep;
  std::vector<std::vector<double>> refs, plains;
  std::vector<bool> q8s;
  std::vector<tc::MatMulOutput> outs;
  for (size_t o = 0; o < spec.size(); ++o) {
    const MultiOut& s = spec[o];
    ws.push_back(MakeWeights(s.type, s.rows, cols, seed + 10 + static_cast<uint32_t>(o)));
    const std::vector<float> bias = RandomFloats(s.rows, seed + 20 + static_cast<uint32_t>(o));
    const std::vector<float> y0 =
        RandomFloats(static_cast<size_t>(n) * s.rows, seed + 30 + static_cast<uint32_t>(o));
    const bool q8 = tc::MatMulQuantizesActivations(s.type, n) && x_offset_bytes % 16 == 0;
    std::vector<double> ref = Product(ws.back(), s.rows, cols, q8 ? Xq : X, n);
    std::vector<double> plain = q8 ? Product(ws.back(), s.rows, cols, X, n) : ref;
    for (int t = 0; t < n; ++t) {
      for (int r = 0; r < s.rows; ++r) {
        const size_t i = static_cast<size_t>(t) * s.rows + r;
        const double add = (s.bias ? bias[r] : 0.0) + (s.accumulate ? y0[i] : 0.0);
        ref[i] += add;
        plain[i] += add;
      }
    }
    q8s.push_back(q8);
    plains.push_back(std::move(plain));
    refs.push_back(std::move(ref));
    keep.push_back(ToDevice(ctx, ws.back().bytes));
    const void* wdev = keep.back().data();
    keep.push_back(ToDevice(ctx, bias));
    const float* bdev = keep.back().as<float>();
    keep.push_back(ToDevice(ctx, y0));
    float* ydev = keep.back().as<float>();
    if (!s.accumulate) Poison(ctx, ydev, y0.size());
    tc::MatMulOutput mo;
    mo.wtype = s.type;
    mo.w = wdev;
    mo.rows = s.rows;
    mo.y = ydev;
    mo.bias = s.bias ? bdev : nullptr;
    mo.accumulate = s.accumulate;
    outs.push_back(mo);
  }
  tc::MatMulInput in;
  in.x = reinterpret_cast<const float*>(static_cast<const char*>(dx.data()) + x_offset_bytes);
  if (rms) {
    in.rms_weight = dnorm.as<float>();
    in.rms_eps = eps;
  }
  if (swiglu) in.up = dup.as<float>();
  absl::Status st = tc::MatMulMulti(ctx, in, cols, n, outs.data(), static_cast<int>(outs.size()));
  INFO(std::string(st.message()));
  REQUIRE(st.ok());
  REQUIRE(ctx.Synchronize().ok());
  for (size_t o = 0; o < spec.size(); ++o) {
    std::vector<float> got(refs[o].size());
    REQUIRE(ctx.Download(got.data(), outs[o].y, got.size() * sizeof(float)).ok());
    const Errors e = Compare(got, refs[o]);
    const bool transformed = rms || swiglu;
    const double bound = q8s[o]   ? (transformed ? 5e-3 : 2e-5)
                         : n <= 8 ? 2e-5
                                  : (spec[o].type == DType::kF32 ? 1e-4 : 2e-3);
    std::printf(
        "multi %-5s rows=%-4d cols=%-5d n=%-3d rms=%d swiglu=%d bias=%d acc=%d%s "
        "rel_l2=%.3g (bound %.0e)\n",
        std::string(trueno::DTypeName(spec[o].type)).c_str(), spec[o].rows, cols, n, rms, swiglu,
        spec[o].bias, spec[o].accumulate, q8s[o] ? " q8" : "", e.rel_l2, bound);
    CHECK(e.non_finite == 0);
    CHECK(e.rel_l2 <= bound);
    if (q8s[o]) {
      const double plain = Compare(got, plains[o]).rel_l2;
      std::printf("  vs unquantized activations rel_l2=%.3g (bound 2e-2)\n", plain);
      CHECK(plain <= 2e-2);
    }
  }
}

}  // namespace

TEST_CASE("cuda MatMulMulti folds RmsNorm / SwiGLU inputs, biases and residual adds", "[gpu]") {
  APR_REQUIRE_GPU();
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  uint32_t seed = 5000;
  // A qkv-like call: two types (two reorders, two launches), biases, RMSNorm input.
  const std::vector<MultiOut> qkv = {{DType::kQ4_K, 96, true, false},
                                     {DType::kQ4_K, 33, true, false},
                                     {DType::kQ6_K, 33, true, false}};
  tc::SetMatMulInt8MaxTokens(64);
  for (int n : {1, 3, 8, 24, 64}) CheckMatMulMulti(**ctx, qkv, 512, n, true, false, seed += 100);
  // The same on the tensor-core path with SwiGLU input, accumulate, and more outputs of one type
  // than one launch takes (five Q4_K: two launches).
  const std::vector<MultiOut> six = {
      {DType::kQ4_K, 40, true, true},  {DType::kQ6_K, 17, false, true},
      {DType::kQ4_K, 3, false, false}, {DType::kQ4_K, 64, true, false},
      {DType::kQ4_K, 20, false, true}, {DType::kQ4_K, 1, true, true}};
  for (int n : {10, 33}) CheckMatMulMulti(**ctx, six, 768, n, false, true, seed += 100);
  tc::SetMatMulInt8MaxTokens(16);
  // The test models' q/k/v (gpu_model_test: 256-wide rows, one super-block, rows split over four
  // warps) at the prompt lengths whose positions 6+ disagreed with the <= 8-row path
  // (docs/benchmarks.md, "Open: 9-16-row prompts").
  const std::vector<MultiOut> qkv256 = {{DType::kQ4_K, 256, true, false},
                                        {DType::kQ4_K, 128, true, false},
                                        {DType::kQ4_K, 128, true, false}};
  for (int n : {8, 9, 12, 16}) CheckMatMulMulti(**ctx, qkv256, 256, n, true, false, seed += 100);
  // Down projections: SwiGLU input, accumulate into the residual.
  for (DType type : kAllTypes) {
    for (int n : {1, 5, 17}) {
      CheckMatMulMulti(**ctx, {{type, 45, false, true}}, 256, n, false, true, seed += 100);
    }
  }
  // Long rows: 2 and 4 warps per row (64 / 128+ chunks), several outputs with their row counts
  // not multiples of the rows per block.
  const std::vector<MultiOut> wide = {{DType::kQ4_K, 13, true, false},
                                      {DType::kQ4_K, 6, false, true},
                                      {DType::kQ8_0, 5, false, false},
                                      {DType::kF16, 3, true, true}};
  for (int n : {1, 2, 7}) CheckMatMulMulti(**ctx, wide, 4096, n, true, false, seed += 100);
  for (int n : {1, 4}) {
    CheckMatMulMulti(**ctx, {{DType::kQ6_K, 9, false, true}, {DType::kQ5_0, 10, false, true}},
                     18944, n, false, true, seed += 100);
  }
  // Two outputs whose rows together exceed one grid of resident warps: a warp's rows cross from
  // the first output into the second.
  CheckMatMulMulti(**ctx, {{DType::kQ4_K, 9001, true, false}, {DType::kQ4_K, 9003, false, true}},
                   512, 1, true, false, seed += 100);
  // Plain input, bias and accumulate together, four outputs of one type in one launch.
  const std::vector<MultiOut> four = {{DType::kQ8_0, 7, true, true},
                                      {DType::kQ8_0, 64, false, false},
                                      {DType::kQ8_0, 1, true, false},
                                      {DType::kQ8_0, 30, false, true}};
  for (int n : {2, 9}) CheckMatMulMulti(**ctx, four, 1024, n, false, false, seed += 100);
  // Unaligned activations: the transform is written out first, then the per-element kernels.
  for (int n : {1, 4, 12}) {
    CheckMatMulMulti(**ctx, {{DType::kQ4_0, 19, true, false}, {DType::kF16, 8, false, true}}, 256,
                     n, true, false, seed += 100, 4);
  }
  // Bad arguments.
  tc::MatMulInput in;
  auto buf = tc::DeviceBuffer::Allocate(1 << 16, "args");
  REQUIRE(buf.ok());
  in.x = buf->as<float>();
  in.rms_weight = in.x;
  in.up = in.x;
  tc::MatMulOutput o;
  o.wtype = DType::kQ4_0;
  o.w = buf->data();
  o.rows = 4;
  o.y = buf->as<float>() + 4096;
  CHECK(tc::MatMulMulti(**ctx, in, 32, 1, &o, 1).code() == absl::StatusCode::kInvalidArgument);
  in.up = nullptr;
  CHECK(tc::MatMulMulti(**ctx, in, 32, 1, &o, 0).code() == absl::StatusCode::kInvalidArgument);
  o.wtype = DType::kQ2_K;
  CHECK(tc::MatMulMulti(**ctx, in, 256, 1, &o, 1).code() == absl::StatusCode::kUnimplemented);
  CHECK(ctx->get()->Synchronize().ok());
}
