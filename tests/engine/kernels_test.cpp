// Every CPU kernel, for every compiled Highway target, against its scalar reference
// (libs/compute/src/cpu/*_ref.cpp) on seeded random data.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cpu/kernels_ref.h"
#include "hwy/highway.h"
#include "hwy/targets.h"
#include "trueno/bandwidth.h"
#include "trueno/half.h"
#include "trueno/kernels.h"
#include "trueno/quant_blocks.h"

namespace {

using trueno::DType;

constexpr uint32_t kSeed = 20261125;

// Runs `fn` once per Highway target compiled into trueno and supported by this CPU.
template <class Fn>
void ForEachTarget(Fn&& fn) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    const std::string name = hwy::TargetName(target);
    INFO("Highway target " << name);
    CHECK(std::string(trueno::ActiveSimdTarget()) == name);
    fn();
  }
  hwy::SetSupportedTargetsForTest(0);
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

void PutHalf(uint8_t* p, float v) {
  const uint16_t h = trueno::Fp16ToFp32(trueno::Fp32ToFp16(v)) == v ? trueno::Fp32ToFp16(v)
                                                                    : trueno::Fp32ToFp16(v);
  std::memcpy(p, &h, 2);
}

// Random weight bytes of `type`: quant bits uniformly random, block scales set to finite
// values of a realistic size, so every bit pattern of the quants is exercised.
std::vector<uint8_t> RandomWeights(std::mt19937& rng, DType type, int rows, int cols) {
  const auto& tr = trueno::Traits(type);
  const size_t row_bytes = static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;
  std::vector<uint8_t> w(row_bytes * rows);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> scale(0.002f, 0.03f);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  const size_t n_blocks = w.size() / tr.block_bytes;
  for (size_t i = 0; i < n_blocks; ++i) {
    uint8_t* blk = w.data() + i * tr.block_bytes;
    switch (type) {
      case DType::kF32:
        for (uint32_t j = 0; j < tr.block_bytes; j += 4) {
          const float v = normal(rng);
          std::memcpy(blk + j, &v, 4);
        }
        break;
      case DType::kF16:
        PutHalf(blk, normal(rng));
        break;
      case DType::kBF16: {
        const uint16_t h = trueno::Fp32ToBf16(normal(rng));
        std::memcpy(blk, &h, 2);
        break;
      }
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ5_0:
        PutHalf(blk, scale(rng));
        break;
      case DType::kQ4_1:
      case DType::kQ5_1:
        PutHalf(blk, scale(rng));
        PutHalf(blk + 2, -8 * scale(rng));
        break;
      case DType::kQ4_K:
      case DType::kQ5_K:
        PutHalf(blk + offsetof(trueno::BlockQ4_K, d), scale(rng) / 8);
        PutHalf(blk + offsetof(trueno::BlockQ4_K, dmin), scale(rng) / 8);
        break;
      case DType::kQ6_K:
        PutHalf(blk + offsetof(trueno::BlockQ6_K, d), scale(rng) / 16);
        break;
      default:
        break;
    }
  }
  return w;
}

const DType kMatTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                           DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

}  // namespace

TEST_CASE("MatMul matches the scalar reference for every type and Highway target", "[kernels]") {
  INFO("seed " << kSeed);
  for (int threads : {1, 2}) {
    trueno::SetNumThreads(threads);
    for (DType type : kMatTypes) {
      std::mt19937 rng(kSeed + static_cast<uint32_t>(type));
      const int rows = 37;
      const int cols = trueno::Traits(type).quantized ? 512 : 515;  // float rows test the tail
      const auto w = RandomWeights(rng, type, rows, cols);
      for (int n_tokens : {1, 2, 3, 6, 15}) {  // 15 = an 8-token tile, then 7 (VNNI) or 4 + 3
        const auto X = RandomFloats(rng, static_cast<size_t>(n_tokens) * cols);
        std::vector<float> want(static_cast<size_t>(n_tokens) * rows);
        REQUIRE(trueno::ref::MatMulRef(type, w.data(), rows, cols, X.data(), n_tokens, want.data())
                    .ok());
        // Scale of the sum for the tolerance: sum |w * x| per output.
        const size_t row_bytes = w.size() / rows;
        ForEachTarget([&] {
          std::vector<float> got(want.size(), -1.0f);
          REQUIRE(trueno::MatMul(type, w.data(), rows, cols, X.data(), n_tokens, got.data()).ok());
          for (int t = 0; t < n_tokens; ++t) {
            for (int r = 0; r < rows; ++r) {
              double mass = 0.0;
              for (int c = 0; c < cols; ++c) {
                mass += std::fabs(trueno::ref::WeightElement(type, w.data() + r * row_bytes, c) *
                                  X[static_cast<size_t>(t) * cols + c]);
              }
              const size_t i = static_cast<size_t>(t) * rows + r;
              INFO(trueno::DTypeName(type)
                   << " threads " << threads << " token " << t << " row " << r);
              // float32 accumulation of exact integer block sums: a few ulp of the L1 mass.
              REQUIRE(std::fabs(got[i] - want[i]) <= 2e-5 * mass + 1e-6);
            }
          }
          if (n_tokens == 1) {  // MatVec is MatMul with one token
            std::vector<float> y(rows);
            REQUIRE(trueno::MatVec(type, w.data(), rows, cols, X.data(), y.data()).ok());
            for (int r = 0; r < rows; ++r) REQUIRE(y[r] == got[r]);
          }
        });
      }
    }
  }
  trueno::SetNumThreads(0);
}

TEST_CASE("Quantized MatVec reference is within the activation quantization bound of float64",
          "[kernels]") {
  // |sum w (a_q - x)| <= sum |w| * d_block / 2 with d_block = max|x| / 127 over the x block.
  INFO("seed " << kSeed);
  for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                     DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    std::mt19937 rng(kSeed + 100 + static_cast<uint32_t>(type));
    const int rows = 9, cols = 512;
    const int act_block = static_cast<int>(trueno::Traits(type).block_elems);
    const auto w = RandomWeights(rng, type, rows, cols);
    const auto x = RandomFloats(rng, cols);
    std::vector<float> y(rows);
    REQUIRE(trueno::MatVec(type, w.data(), rows, cols, x.data(), y.data()).ok());
    const size_t row_bytes = w.size() / rows;
    for (int r = 0; r < rows; ++r) {
      double exact = 0.0, bound = 1e-5;
      for (int c = 0; c < cols; ++c) {
        const double wv = trueno::ref::WeightElement(type, w.data() + r * row_bytes, c);
        exact += wv * x[c];
        double amax = 0.0;
        const int b0 = c / act_block * act_block;
        for (int k = b0; k < b0 + act_block; ++k) amax = std::max(amax, std::fabs(double(x[k])));
        bound += std::fabs(wv) * amax / 127.0 / 2.0 * 1.0001;
      }
      INFO(trueno::DTypeName(type) << " row " << r);
      REQUIRE(std::fabs(y[r] - exact) <= bound);
    }
  }
}

TEST_CASE("MatMul rejects unsupported types and misaligned shapes", "[kernels]") {
  std::vector<uint8_t> w(1024);
  std::vector<float> x(256), y(4);
  CHECK(trueno::MatVec(DType::kQ8_K, w.data(), 1, 256, x.data(), y.data()).code() ==
        absl::StatusCode::kUnimplemented);
  CHECK(trueno::MatVec(DType::kQ4_K, w.data(), 1, 100, x.data(), y.data()).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(trueno::MatVec(DType::kF32, w.data(), 0, 4, x.data(), y.data()).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Element-wise kernels match their scalar references on every Highway target",
          "[kernels]") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed);
  const int n = 203;  // not a multiple of any vector width
  const auto a = RandomFloats(rng, n, 2.0f);
  const auto b = RandomFloats(rng, n, 2.0f);
  const auto wt = RandomFloats(rng, n);
  auto close = [](const std::vector<float>& got, const std::vector<float>& want, double rel) {
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("index " << i);
      REQUIRE(std::fabs(got[i] - want[i]) <= rel * (std::fabs(want[i]) + 1e-2));
    }
  };
  ForEachTarget([&] {
    std::vector<float> got(n), want(n);
    trueno::RmsNorm(a.data(), wt.data(), n, 1e-5f, got.data());
    trueno::ref::RmsNormRef(a.data(), wt.data(), n, 1e-5f, want.data());
    close(got, want, 1e-5);

    trueno::SiluMul(a.data(), b.data(), got.data(), n);
    trueno::ref::SiluMulRef(a.data(), b.data(), want.data(), n);
    close(got, want, 1e-5);

    trueno::Add(a.data(), b.data(), got.data(), n);
    trueno::ref::AddRef(a.data(), b.data(), want.data(), n);
    close(got, want, 0.0);

    got = a;
    want = a;
    trueno::Softmax(got.data(), n);
    trueno::ref::SoftmaxRef(want.data(), n);
    close(got, want, 1e-5);

    got = b;
    want = b;
    trueno::Axpy(0.37f, a.data(), got.data(), n);
    trueno::ref::AxpyRef(0.37f, a.data(), want.data(), n);
    close(got, want, 1e-5);

    double mass = 0.0;
    for (int i = 0; i < n; ++i) mass += std::fabs(a[i] * b[i]);
    REQUIRE(std::fabs(trueno::Dot(a.data(), b.data(), n) -
                      trueno::ref::DotRef(a.data(), b.data(), n)) <= 1e-6 * mass);

    for (auto mode : {trueno::RopeMode::kNormal, trueno::RopeMode::kNeox}) {
      for (float freq_scale : {1.0f, 0.25f}) {
        trueno::RopeParams p;
        p.mode = mode;
        p.theta = 10000.0f;
        p.freq_scale = freq_scale;
        const int heads = 3, head_dim = 64;
        auto x = RandomFloats(rng, heads * head_dim);
        std::vector<float> g = x, w2 = x;
        trueno::Rope(g.data(), heads, head_dim, 123, p);
        trueno::ref::RopeRef(w2.data(), heads, head_dim, 123, p);
        for (size_t i = 0; i < g.size(); ++i) REQUIRE(std::fabs(g[i] - w2[i]) <= 1e-5);
      }
    }
  });
}

TEST_CASE("RoPE rotates adjacent pairs (normal) or halves (NeoX) by pos * theta^(-2i/d)",
          "[kernels]") {
  // Hand-computed: head_dim 4, pos 1, theta 100: angles 1 and 0.1 rad.
  trueno::RopeParams p;
  p.theta = 100.0f;
  std::vector<float> x = {1, 0, 1, 0};
  trueno::Rope(x.data(), 1, 4, 1, p);
  CHECK(x[0] == Approx(std::cos(1.0)).margin(1e-6));
  CHECK(x[1] == Approx(std::sin(1.0)).margin(1e-6));
  CHECK(x[2] == Approx(std::cos(0.1)).margin(1e-6));
  CHECK(x[3] == Approx(std::sin(0.1)).margin(1e-6));
  p.mode = trueno::RopeMode::kNeox;
  std::vector<float> y = {1, 1, 0, 0};
  trueno::Rope(y.data(), 1, 4, 1, p);
  CHECK(y[0] == Approx(std::cos(1.0)).margin(1e-6));
  CHECK(y[2] == Approx(std::sin(1.0)).margin(1e-6));
  CHECK(y[1] == Approx(std::cos(0.1)).margin(1e-6));
  CHECK(y[3] == Approx(std::sin(0.1)).margin(1e-6));
}

TEST_CASE("SetNumThreads changes the arena size and 0 restores the default", "[kernels]") {
  trueno::SetNumThreads(3);
  CHECK(trueno::NumThreads() == 3);
  trueno::SetNumThreads(0);
  CHECK(trueno::NumThreads() >= 1);
}

namespace {

// float64 attention of one head over rows gathered through a block table; `kv` holds the
// cached rows as the kernel sees them (already rounded to f16 for an F16 cache).
std::vector<double> AttendRef(const std::vector<float>& q, const std::vector<float>& k_rows,
                              const std::vector<float>& v_rows, int hd, int n_ctx, double scale) {
  std::vector<double> s(n_ctx), out(hd, 0.0);
  double mx = -1e300;
  for (int p = 0; p < n_ctx; ++p) {
    double dot = 0.0;
    for (int i = 0; i < hd; ++i) dot += double(q[i]) * k_rows[static_cast<size_t>(p) * hd + i];
    s[p] = dot * scale;
    mx = std::max(mx, s[p]);
  }
  double sum = 0.0;
  for (int p = 0; p < n_ctx; ++p) sum += (s[p] = std::exp(s[p] - mx));
  for (int p = 0; p < n_ctx; ++p) {
    for (int i = 0; i < hd; ++i) out[i] += s[p] / sum * v_rows[static_cast<size_t>(p) * hd + i];
  }
  return out;
}

}  // namespace

TEST_CASE("AttendHead matches float64 attention through a scrambled block table, f32 and f16",
          "[kernels]") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed + 7);
  for (DType kv_type : {DType::kF32, DType::kF16}) {
    // Block size 5 puts block boundaries inside the kernel's 4-position groups; the largest
    // context fills the table exactly, so a read past its last entry shows under ASan.
    for (const auto& shape : {std::pair{64, 16}, std::pair{20, 16}, std::pair{64, 5}}) {
      const int hd = shape.first, bs = shape.second;  // plain ints: lambdas capture them
      const int n_kv_heads = 3, kv_dim = n_kv_heads * hd, n_blocks = 128 / bs + 1;
      const int head = 1;  // the kernel reads KV head 1 of 3
      // Blocks in a scrambled order, as a sequence gets them from the pool.
      std::vector<int> table(static_cast<size_t>(n_blocks));
      for (int b = 0; b < n_blocks; ++b) table[b] = b;
      std::shuffle(table.begin(), table.end(), rng);
      const auto pool = RandomFloats(rng, static_cast<size_t>(n_blocks) * bs * kv_dim);
      const auto vpool = RandomFloats(rng, pool.size());
      std::vector<uint16_t> pool16(pool.size()), vpool16(pool.size());
      for (size_t i = 0; i < pool.size(); ++i) {
        pool16[i] = trueno::Fp32ToFp16(pool[i]);
        vpool16[i] = trueno::Fp32ToFp16(vpool[i]);
      }
      const auto q = RandomFloats(rng, hd);
      for (int n_ctx : {1, 17, 100, n_blocks * bs}) {
        // Gather the rows the kernel should see, in position order, as exact values.
        std::vector<float> k_rows, v_rows;
        for (int p = 0; p < n_ctx; ++p) {
          const size_t row =
              (static_cast<size_t>(table[p / bs]) * bs + p % bs) * kv_dim + head * hd;
          for (int i = 0; i < hd; ++i) {
            const bool h = kv_type == DType::kF16;
            k_rows.push_back(h ? trueno::Fp16ToFp32(pool16[row + i]) : pool[row + i]);
            v_rows.push_back(h ? trueno::Fp16ToFp32(vpool16[row + i]) : vpool[row + i]);
          }
        }
        const double scale = 1.0 / std::sqrt(double(hd));
        const auto want = AttendRef(q, k_rows, v_rows, hd, n_ctx, scale);
        const void* kb = kv_type == DType::kF16
                             ? static_cast<const void*>(pool16.data() + head * hd)
                             : static_cast<const void*>(pool.data() + head * hd);
        const void* vb = kv_type == DType::kF16
                             ? static_cast<const void*>(vpool16.data() + head * hd)
                             : static_cast<const void*>(vpool.data() + head * hd);
        ForEachTarget([&] {
          std::vector<float> scores(n_ctx), out(hd, 123.0f);
          trueno::AttendHead(q.data(), hd, kv_type, kb, vb, table.data(), bs, kv_dim, n_ctx,
                             static_cast<float>(scale), scores.data(), out.data());
          INFO(trueno::DTypeName(kv_type) << " hd " << hd << " bs " << bs << " n_ctx " << n_ctx);
          for (int i = 0; i < hd; ++i) REQUIRE(std::fabs(out[i] - want[i]) <= 1e-5);
        });
      }
    }
  }
}

TEST_CASE("Fp32ToFp16Row/Fp16ToFp32Row equal the scalar conversions bit for bit", "[kernels]") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed + 8);
  auto x = RandomFloats(rng, 203, 3.0f);
  // Ties, subnormals, overflow, infinities and signed zero.
  const float specials[] = {
      0.0f, -0.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 6e-8f,  -3e-6f,   65504.0f, 65520.0f,
      1e6f, -1e6f, INFINITY,           -INFINITY,          1e-30f, 5.96e-8f, 2.98e-8f, 0.1f};
  x.insert(x.end(), std::begin(specials), std::end(specials));
  const int n = static_cast<int>(x.size());
  ForEachTarget([&] {
    std::vector<uint16_t> h(n);
    trueno::Fp32ToFp16Row(x.data(), h.data(), n);
    for (int i = 0; i < n; ++i) {
      INFO("x = " << x[i]);
      REQUIRE(h[i] == trueno::Fp32ToFp16(x[i]));
    }
    std::vector<float> back(n);
    trueno::Fp16ToFp32Row(h.data(), back.data(), n);
    for (int i = 0; i < n; ++i) {
      const float want = trueno::Fp16ToFp32(h[i]);
      REQUIRE(std::memcmp(&back[i], &want, 4) == 0);
    }
  });
}

TEST_CASE("MatMulMulti equals the scalar reference for each job of a mixed-type group",
          "[kernels]") {
  INFO("seed " << kSeed);
  std::mt19937 rng(kSeed + 9);
  const int cols = 512;
  const DType types[] = {DType::kQ5_0, DType::kQ8_0, DType::kQ4_K, DType::kF16};
  const int rows[] = {37, 5, 11, 3};
  std::vector<std::vector<uint8_t>> w;
  for (int j = 0; j < 4; ++j) w.push_back(RandomWeights(rng, types[j], rows[j], cols));
  for (int threads : {1, 2}) {
    trueno::SetNumThreads(threads);
    for (int n_tokens : {1, 6}) {
      const auto X = RandomFloats(rng, static_cast<size_t>(n_tokens) * cols);
      std::vector<std::vector<float>> got(4), want(4);
      std::vector<trueno::MatMulJob> jobs;
      for (int j = 0; j < 4; ++j) {
        got[j].assign(static_cast<size_t>(n_tokens) * rows[j], -1.0f);
        want[j].resize(got[j].size());
        REQUIRE(trueno::ref::MatMulRef(types[j], w[j].data(), rows[j], cols, X.data(), n_tokens,
                                       want[j].data())
                    .ok());
        jobs.push_back({types[j], w[j].data(), rows[j], got[j].data()});
      }
      REQUIRE(trueno::MatMulMulti(jobs, cols, X.data(), n_tokens).ok());
      for (int j = 0; j < 4; ++j) {
        const size_t row_bytes = w[j].size() / rows[j];
        for (int t = 0; t < n_tokens; ++t) {
          for (int r = 0; r < rows[j]; ++r) {
            double mass = 0.0;
            for (int c = 0; c < cols; ++c) {
              mass +=
                  std::fabs(trueno::ref::WeightElement(types[j], w[j].data() + r * row_bytes, c) *
                            X[static_cast<size_t>(t) * cols + c]);
            }
            const size_t i = static_cast<size_t>(t) * rows[j] + r;
            INFO("job " << j << " threads " << threads << " token " << t << " row " << r);
            REQUIRE(std::fabs(got[j][i] - want[j][i]) <= 2e-5 * mass + 1e-6);
          }
        }
      }
    }
  }
  trueno::SetNumThreads(0);
}

TEST_CASE("MatMulMulti checks every job before running any", "[kernels]") {
  std::vector<uint8_t> w(4096, 0);
  std::vector<float> x(256, 1.0f), y0(4, -1.0f), y1(4, -1.0f);
  const trueno::MatMulJob jobs[] = {{DType::kF32, w.data(), 2, y0.data()},
                                    {DType::kQ8_K, w.data(), 1, y1.data()}};
  CHECK(trueno::MatMulMulti(jobs, 256, x.data(), 1).code() == absl::StatusCode::kUnimplemented);
  CHECK(y0[0] == -1.0f);  // the valid first job did not run
}

TEST_CASE("SetSimdTarget pins the dispatch target and 'best' restores it", "[kernels]") {
  // TRUENO_SIMD may pin the run to a lower target: 'best' is what SetSimdTarget("best") gives,
  // and the test leaves the target as it found it.
  const std::string initial = trueno::ActiveSimdTarget();
  REQUIRE(trueno::SetSimdTarget("best").ok());
  const std::string best = trueno::ActiveSimdTarget();
  CHECK(trueno::SetSimdTarget("nonsense").code() == absl::StatusCode::kInvalidArgument);
  const std::pair<const char*, std::vector<std::string>> cases[] = {
      {"avx3", {"AVX3"}}, {"avx2", {"AVX2"}}, {"sse4", {"SSE4"}}, {"scalar", {"EMU128", "SCALAR"}}};
  for (const auto& [name, expect] : cases) {
    INFO("target " << name);
    const absl::Status s = trueno::SetSimdTarget(name);
    if (s.ok()) {
      const std::string active = trueno::ActiveSimdTarget();
      CHECK(std::find(expect.begin(), expect.end(), active) != expect.end());
      // The kernels still compute correctly on the pinned target.
      const float a[5] = {1, 2, 3, 4, 5}, b[5] = {5, 4, 3, 2, 1};
      CHECK(trueno::Dot(a, b, 5) == 35.0f);
    } else {
      CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    }
    REQUIRE(trueno::SetSimdTarget("best").ok());
    CHECK(std::string(trueno::ActiveSimdTarget()) == best);
  }
  if (initial != best) {
    std::string name = initial;
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "emu128") name = "scalar";
    REQUIRE(trueno::SetSimdTarget(name).ok());
    CHECK(std::string(trueno::ActiveSimdTarget()) == initial);
  }
}

// Also the single-token kernels' 8-block scale groups and their tails (17, 28 = the 896-wide rows,
// 35 blocks) and their packed activations for 1-3 trailing tokens (n_tokens % 4).
TEST_CASE("Legacy-block MatMul handles odd block counts (pair kernels' tails) on every target",
          "[kernels]") {
  INFO("seed " << kSeed);
  for (DType type : {DType::kQ5_0, DType::kQ8_0, DType::kQ4_0}) {
    for (int blocks : {1, 3, 7, 17, 28, 35}) {
      std::mt19937 rng(kSeed + 200 + static_cast<uint32_t>(type) + blocks);
      const int rows = 6, cols = 32 * blocks;
      const auto w = RandomWeights(rng, type, rows, cols);
      for (int n_tokens : {1, 3, 5}) {
        const auto X = RandomFloats(rng, static_cast<size_t>(n_tokens) * cols);
        std::vector<float> want(static_cast<size_t>(n_tokens) * rows);
        REQUIRE(trueno::ref::MatMulRef(type, w.data(), rows, cols, X.data(), n_tokens, want.data())
                    .ok());
        const size_t row_bytes = w.size() / rows;
        ForEachTarget([&] {
          std::vector<float> got(want.size(), -1.0f);
          REQUIRE(trueno::MatMul(type, w.data(), rows, cols, X.data(), n_tokens, got.data()).ok());
          for (int t = 0; t < n_tokens; ++t) {
            for (int r = 0; r < rows; ++r) {
              double mass = 0.0;
              for (int c = 0; c < cols; ++c) {
                mass += std::fabs(trueno::ref::WeightElement(type, w.data() + r * row_bytes, c) *
                                  X[static_cast<size_t>(t) * cols + c]);
              }
              const size_t i = static_cast<size_t>(t) * rows + r;
              INFO(trueno::DTypeName(type) << " blocks " << blocks << " token " << t);
              REQUIRE(std::fabs(got[i] - want[i]) <= 2e-5 * mass + 1e-6);
            }
          }
        });
      }
    }
  }
}

TEST_CASE("ReadSum adds every word (mod 2^64) at every length and alignment, on every target",
          "[kernels]") {
  std::mt19937_64 rng(kSeed + 9);
  std::vector<uint64_t> data(1000);
  for (auto& v : data) v = rng();  // large words: the sum wraps many times
  for (size_t offset : {size_t{0}, size_t{1}, size_t{3}}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{31}, size_t{64}, size_t{997}}) {
      uint64_t want = 0;
      for (size_t i = 0; i < n; ++i) want += data[offset + i];
      ForEachTarget([&] {
        INFO("offset " << offset << " n " << n);
        REQUIRE(trueno::ReadSum(data.data() + offset, n) == want);
      });
    }
  }
}

TEST_CASE("MeasureReadBandwidth validates its arguments and returns a positive rate", "[kernels]") {
  CHECK(trueno::MeasureReadBandwidth(1000, 1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(trueno::MeasureReadBandwidth(size_t{4} << 20, 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(trueno::MeasureReadBandwidth(size_t{4} << 20, 2, 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  for (int threads : {1, 3}) {  // 3 does not divide the buffer evenly
    auto bw = trueno::MeasureReadBandwidth(size_t{4} << 20, threads, 2);
    REQUIRE(bw.ok());
    REQUIRE(*bw > 0.0);
  }
}

TEST_CASE("ArgMax equals the scalar reference: ties, NaN, -inf, every length, every target",
          "[kernels]") {
  std::mt19937 rng(kSeed + 10);
  std::uniform_int_distribution<int> pick(0, 3);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int n : {1, 2, 7, 16, 17, 33, 100, 1000, 151936}) {
    for (int variant = 0; variant < 6; ++variant) {
      std::vector<float> x = RandomFloats(rng, static_cast<size_t>(n));
      if (variant == 1) {  // coarse values: many ties, the first one must win
        for (auto& v : x) v = static_cast<float>(pick(rng));
      } else if (variant == 2) {  // NaNs sprinkled in, one of them first
        for (size_t i = 0; i < x.size(); i += 3) x[i] = nan;
      } else if (variant == 3) {  // all NaN but the last
        for (auto& v : x) v = nan;
        x.back() = -5.0f;
      } else if (variant == 4) {  // all -inf: index 0
        for (auto& v : x) v = -inf;
      } else if (variant == 5) {  // every entry NaN: 0
        for (auto& v : x) v = nan;
      }
      const int want = trueno::ref::ArgMaxRef(x.data(), n);
      ForEachTarget([&] {
        INFO("n " << n << " variant " << variant);
        REQUIRE(trueno::ArgMax(x.data(), n) == want);
      });
    }
  }
  // The reference itself on hand-computed cases.
  const std::vector<float> ties = {1.0f, 3.0f, nan, 3.0f, -inf};
  CHECK(trueno::ref::ArgMaxRef(ties.data(), 5) == 1);
  const std::vector<float> lead_nan = {nan, -1.0f, 2.0f, 2.0f};
  CHECK(trueno::ref::ArgMaxRef(lead_nan.data(), 4) == 2);
  CHECK(trueno::ArgMax(ties.data(), 0) == 0);
}
