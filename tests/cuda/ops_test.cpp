// The CUDA element-wise kernels and paged attention against the CPU kernels of trueno/kernels.h
// (themselves checked against float64 scalar references in tests/engine/kernels_test.cpp).
// Every device output is poisoned (NaN) before the kernel runs, so an unwritten element fails.
// Bounds: the kernels accumulate in float32 like the CPU ones but in a different order (tree
// reductions, online softmax), so results differ by rounding only: max|Δ| ≤ 1e-5·max|ref| for
// the element-wise ops (a handful of float ops per element), ≤ 2e-5·max|ref| for attention
// (sums of up to a few thousand terms), and exact equality for the K/V pool writes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "gpu_test_util.h"
#include "trueno/cuda.h"
#include "trueno/cuda_ops.h"
#include "trueno/half.h"
#include "trueno/kernels.h"

namespace tc = trueno::cuda;

namespace {

struct Gpu {
  std::unique_ptr<tc::Context> ctx;
  std::vector<tc::DeviceBuffer> keep;

  template <typename T>
  T* Put(const std::vector<T>& host) {
    auto buf = tc::DeviceBuffer::Allocate(std::max<size_t>(1, host.size() * sizeof(T)), "test");
    REQUIRE(buf.ok());
    if (!host.empty()) REQUIRE(ctx->Upload(buf->data(), host.data(), host.size() * sizeof(T)).ok());
    T* p = static_cast<T*>(buf->data());
    keep.push_back(std::move(*buf));
    return p;
  }
  // A device array of n floats filled with NaN.
  float* Poisoned(size_t n) { return Put(std::vector<float>(n, std::nanf(""))); }
  template <typename T>
  std::vector<T> Get(const T* dev, size_t n) {
    std::vector<T> host(n);
    REQUIRE(ctx->Download(host.data(), dev, n * sizeof(T)).ok());
    return host;
  }
};

Gpu MakeGpu() {
  Gpu g;
  auto ctx = tc::Context::Create(0);
  REQUIRE(ctx.ok());
  g.ctx = std::move(*ctx);
  return g;
}

std::vector<float> Random(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// max|got - want| <= tol * max|want|, every element finite.
void CheckClose(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double max_ref = 0.0, max_err = 0.0;
  size_t worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    REQUIRE(std::isfinite(got[i]));
    max_ref = std::max(max_ref, std::fabs(double(want[i])));
    const double e = std::fabs(double(got[i]) - double(want[i]));
    if (e > max_err) max_err = e, worst = i;
  }
  INFO("max|err| " << max_err << " at " << worst << " (got " << got[worst] << ", want "
                   << want[worst] << "), max|ref| " << max_ref);
  CHECK(max_err <= tol * std::max(max_ref, 1e-30));
}

uint32_t Seed() {
  const uint32_t seed = std::random_device{}();
  WARN("seed " << seed);
  return seed;
}

}  // namespace

TEST_CASE("cuda RmsNorm matches the CPU RmsNorm row by row") {
  APR_REQUIRE_GPU();
  Gpu g = MakeGpu();
  std::mt19937 rng(Seed());
  for (int n : {1000, 4096, 3584}) {
    const int rows = 5;
    auto x = Random(rng, size_t(rows) * n, 3.0f), w = Random(rng, n);
    std::vector<float> want(x.size());
    for (int r = 0; r < rows; ++r) trueno::RmsNorm(&x[r * n], w.data(), n, 1e-6f, &want[r * n]);
    float* out = g.Poisoned(x.size());
    REQUIRE(tc::RmsNorm(*g.ctx, g.Put(x), g.Put(w), rows, n, 1e-6f, out).ok());
    CheckClose(g.Get(out, x.size()), want, 1e-5);
  }
}

TEST_CASE("cuda Add, AddBias and SiluMul match the CPU kernels") {
  APR_REQUIRE_GPU();
  Gpu g = MakeGpu();
  std::mt19937 rng(Seed());
  const int n = 100003;
  auto a = Random(rng, n, 4.0f), b = Random(rng, n, 4.0f);
  std::vector<float> want(n);
  trueno::Add(a.data(), b.data(), want.data(), n);
  float* out = g.Poisoned(n);
  REQUIRE(tc::Add(*g.ctx, g.Put(a), g.Put(b), out, n).ok());
  CheckClose(g.Get(out, n), want, 1e-6);

  trueno::SiluMul(a.data(), b.data(), want.data(), n);
  out = g.Poisoned(n);
  REQUIRE(tc::SiluMul(*g.ctx, g.Put(a), g.Put(b), out, n).ok());
  CheckClose(g.Get(out, n), want, 1e-5);

  const int rows = 7, width = 1000;
  auto x = Random(rng, size_t(rows) * width), bias = Random(rng, width);
  std::vector<float> xb = x;
  for (int r = 0; r < rows; ++r) trueno::Add(&xb[r * width], bias.data(), &xb[r * width], width);
  float* dx = g.Put(x);
  REQUIRE(tc::AddBias(*g.ctx, dx, g.Put(bias), rows, width).ok());
  CheckClose(g.Get(dx, x.size()), xb, 1e-6);
}

TEST_CASE("cuda Rope matches the CPU Rope in normal and NeoX modes at per-row positions") {
  APR_REQUIRE_GPU();
  Gpu g = MakeGpu();
  std::mt19937 rng(Seed());
  for (auto mode : {trueno::RopeMode::kNormal, trueno::RopeMode::kNeox}) {
    for (int n_rot : {0, 32}) {
      const int rows = 9, heads = 3, hd = 64;
      trueno::RopeParams p;
      p.mode = mode;
      p.theta = 1000000.0f;
      p.freq_scale = 0.5f;
      p.n_rot = n_rot;
      auto x = Random(rng, size_t(rows) * heads * hd);
      std::vector<int32_t> pos(rows);
      for (auto& v : pos) v = static_cast<int32_t>(rng() % 30000);
      pos[0] = 0;
      std::vector<float> want = x;
      for (int r = 0; r < rows; ++r)
        trueno::Rope(&want[size_t(r) * heads * hd], heads, hd, pos[r], p);
      float* dx = g.Put(x);
      const tc::RopeConfig rc{mode == trueno::RopeMode::kNeox, p.theta, p.freq_scale, p.n_rot};
      REQUIRE(tc::Rope(*g.ctx, dx, rows, heads, hd, g.Put(pos), rc).ok());
      CheckClose(g.Get(dx, x.size()), want, 1e-5);
    }
  }
}

namespace {

// A paged pool with several sequences on shuffled blocks, filled through KvStore.
struct PoolCase {
  int n_heads, n_kv, hd, block_size;
  trueno::DType type;
  std::vector<int> lengths;  // context length of each sequence
};

void RunAttentionCase(Gpu& g, std::mt19937& rng, const PoolCase& pc, bool prefill) {
  const int kv_dim = pc.n_kv * pc.hd, q_dim = pc.n_heads * pc.hd;
  const int n_seq = static_cast<int>(pc.lengths.size());
  int max_blocks = 0, total_blocks = 0;
  for (int len : pc.lengths) {
    const int nb = (len + pc.block_size - 1) / pc.block_size;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  total_blocks += 3;  // unused blocks stay untouched
  std::vector<int> ids(total_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> tables(size_t(n_seq) * max_blocks, -1);
  size_t next = 0;
  for (int s = 0; s < n_seq; ++s) {
    for (int b = 0; b < (pc.lengths[s] + pc.block_size - 1) / pc.block_size; ++b) {
      tables[size_t(s) * max_blocks + b] = ids[next++];
    }
  }
  const size_t elem = pc.type == trueno::DType::kF16 ? 2 : 4;
  const size_t pool_elems = size_t(total_blocks) * pc.block_size * kv_dim;
  // Host pool as the CPU cache would hold it; device pool poisoned, written by KvStore.
  std::vector<uint8_t> hk(pool_elems * elem, 0), hv(pool_elems * elem, 0);
  std::vector<uint8_t> poison(pool_elems * elem, 0xFF);  // NaN in f32 and f16
  uint8_t* dk = g.Put(poison);
  uint8_t* dv = g.Put(poison);
  tc::PagedKvLayer layer{dk, dv, pc.type, pc.block_size, pc.n_kv, pc.hd, total_blocks};
  int32_t* dtables = g.Put(tables);
  for (int s = 0; s < n_seq; ++s) {
    const int len = pc.lengths[s];
    auto k = Random(rng, size_t(len) * kv_dim), v = Random(rng, size_t(len) * kv_dim);
    std::vector<int32_t> row_table(len, s), pos(len);
    std::iota(pos.begin(), pos.end(), 0);
    for (int p = 0; p < len; ++p) {
      const size_t off =
          (size_t(tables[size_t(s) * max_blocks + p / pc.block_size]) * pc.block_size +
           p % pc.block_size) *
          kv_dim;
      if (pc.type == trueno::DType::kF16) {
        trueno::Fp32ToFp16Row(&k[size_t(p) * kv_dim], reinterpret_cast<uint16_t*>(hk.data()) + off,
                              kv_dim);
        trueno::Fp32ToFp16Row(&v[size_t(p) * kv_dim], reinterpret_cast<uint16_t*>(hv.data()) + off,
                              kv_dim);
      } else {
        std::memcpy(hk.data() + off * 4, &k[size_t(p) * kv_dim], kv_dim * 4);
        std::memcpy(hv.data() + off * 4, &v[size_t(p) * kv_dim], kv_dim * 4);
      }
    }
    tc::RowMap map{dtables, max_blocks, g.Put(row_table), g.Put(pos)};
    REQUIRE(tc::KvStore(*g.ctx, layer, g.Put(k), g.Put(v), len, map).ok());
  }
  // The pool holds exactly what the CPU cache would (unused blocks still poisoned).
  auto gk = g.Get(dk, hk.size()), gv = g.Get(dv, hv.size());
  for (int s = 0; s < n_seq; ++s) {
    for (int p = 0; p < pc.lengths[s]; ++p) {
      const size_t off =
          (size_t(tables[size_t(s) * max_blocks + p / pc.block_size]) * pc.block_size +
           p % pc.block_size) *
          kv_dim * elem;
      REQUIRE(std::memcmp(gk.data() + off, hk.data() + off, kv_dim * elem) == 0);
      REQUIRE(std::memcmp(gv.data() + off, hv.data() + off, kv_dim * elem) == 0);
    }
  }

  const float scale = 1.0f / std::sqrt(float(pc.hd));
  const int group = pc.n_heads / pc.n_kv;
  auto reference = [&](const float* q, int seq, int n_ctx, float* out) {
    std::vector<float> scores(n_ctx);
    const int* table = &tables[size_t(seq) * max_blocks];
    for (int h = 0; h < pc.n_heads; ++h) {
      const size_t kv_off = size_t(h / group) * pc.hd * elem;
      trueno::AttendHead(q + h * pc.hd, pc.hd, pc.type, hk.data() + kv_off, hv.data() + kv_off,
                         table, pc.block_size, kv_dim, n_ctx, scale, scores.data(),
                         out + h * pc.hd);
    }
  };
  INFO("heads " << pc.n_heads << " kv " << pc.n_kv << " hd " << pc.hd << " block " << pc.block_size
                << " f16 " << (pc.type == trueno::DType::kF16) << " prefill " << prefill);
  if (!prefill) {
    // One decode row per sequence, at its last position.
    const int rows = n_seq;
    auto q = Random(rng, size_t(rows) * q_dim);
    std::vector<int32_t> row_table(rows), pos(rows);
    int max_pos = 0;
    std::vector<float> want(q.size());
    for (int r = 0; r < rows; ++r) {
      row_table[r] = r;
      pos[r] = pc.lengths[r] - 1;
      max_pos = std::max(max_pos, pos[r]);
      reference(&q[size_t(r) * q_dim], r, pc.lengths[r], &want[size_t(r) * q_dim]);
    }
    float* out = g.Poisoned(q.size());
    tc::RowMap map{dtables, max_blocks, g.Put(row_table), g.Put(pos)};
    REQUIRE(tc::AttentionDecode(*g.ctx, layer, g.Put(q), rows, pc.n_heads, scale, map, max_pos, out)
                .ok());
    CheckClose(g.Get(out, q.size()), want, 2e-5);
  } else {
    // The last `rows` positions of sequence 0 as a prefill over the cached prefix.
    const int len = pc.lengths[0];
    for (const int rows : {len, 1 + int(rng() % len)}) {
      const int start = len - rows;
      auto q = Random(rng, size_t(rows) * q_dim);
      std::vector<float> want(q.size());
      for (int r = 0; r < rows; ++r)
        reference(&q[size_t(r) * q_dim], 0, start + r + 1, &want[size_t(r) * q_dim]);
      float* out = g.Poisoned(q.size());
      REQUIRE(tc::AttentionPrefill(*g.ctx, layer, g.Put(q), rows, pc.n_heads, scale, dtables, start,
                                   out)
                  .ok());
      INFO("rows " << rows << " start " << start);
      CheckClose(g.Get(out, q.size()), want, 2e-5);
    }
  }
  REQUIRE(g.ctx->Synchronize().ok());
}

}  // namespace

TEST_CASE(
    "cuda KvStore fills the paged pool and AttentionDecode matches AttendHead (GQA, splits)") {
  APR_REQUIRE_GPU();
  Gpu g = MakeGpu();
  std::mt19937 rng(Seed());
  for (auto type : {trueno::DType::kF32, trueno::DType::kF16}) {
    RunAttentionCase(g, rng, {4, 2, 16, 16, type, {1, 5, 17}}, false);
    RunAttentionCase(g, rng, {28, 4, 128, 16, type, {1, 300, 2500}}, false);  // qwen 7B heads
    RunAttentionCase(g, rng, {12, 2, 128, 32, type, {4000}}, false);          // one long sequence
    RunAttentionCase(g, rng, {8, 8, 64, 8, type, {33, 64, 65, 100, 7, 1, 2, 3, 9}}, false);
    RunAttentionCase(g, rng, {4, 1, 256, 16, type, {129, 1000}}, false);
  }
}

TEST_CASE("cuda AttentionPrefill (tiled, causal, cached prefix) matches AttendHead per row") {
  APR_REQUIRE_GPU();
  Gpu g = MakeGpu();
  std::mt19937 rng(Seed());
  for (auto type : {trueno::DType::kF32, trueno::DType::kF16}) {
    RunAttentionCase(g, rng, {4, 2, 16, 16, type, {1}}, true);
    RunAttentionCase(g, rng, {4, 2, 16, 16, type, {50}}, true);
    RunAttentionCase(g, rng, {28, 4, 128, 16, type, {600}}, true);
    RunAttentionCase(g, rng, {12, 2, 128, 32, type, {513}}, true);
    RunAttentionCase(g, rng, {8, 8, 64, 8, type, {97}}, true);
    RunAttentionCase(g, rng, {4, 1, 256, 16, type, {77}}, true);
    // head_dim 80 (float4 groups past the end for some threads) and 18 (not a multiple of 4:
    // the scalar kernel).
    RunAttentionCase(g, rng, {6, 2, 80, 16, type, {45}}, true);
    RunAttentionCase(g, rng, {4, 2, 18, 16, type, {40}}, true);
  }
}

TEST_CASE("cuda RopeKvStore rotates q and k like the CPU Rope and stores K and V like KvStore") {
  APR_REQUIRE_GPU();
  Gpu g = MakeGpu();
  std::mt19937 rng(Seed());
  for (auto type : {trueno::DType::kF32, trueno::DType::kF16}) {
    for (auto mode : {trueno::RopeMode::kNormal, trueno::RopeMode::kNeox}) {
      for (int n_rot : {0, 32}) {
        const int rows = 5, heads = 6, kv_heads = 2, hd = 64, block_size = 16, n_blocks = 12;
        const int kv_dim = kv_heads * hd;
        INFO("f16 " << (type == trueno::DType::kF16) << " neox "
                    << (mode == trueno::RopeMode::kNeox) << " n_rot " << n_rot);
        trueno::RopeParams p;
        p.mode = mode;
        p.theta = 1000000.0f;
        p.n_rot = n_rot;
        auto q = Random(rng, size_t(rows) * heads * hd);
        auto k = Random(rng, size_t(rows) * kv_dim);
        auto v = Random(rng, size_t(rows) * kv_dim);
        // Two sequences on shuffled blocks; rows at scattered positions.
        std::vector<int32_t> tables(2 * 6);
        std::vector<int> ids(n_blocks);
        std::iota(ids.begin(), ids.end(), 0);
        std::shuffle(ids.begin(), ids.end(), rng);
        for (size_t i = 0; i < tables.size(); ++i) tables[i] = ids[i];
        const std::vector<int32_t> row_table = {0, 1, 0, 1, 1};
        const std::vector<int32_t> pos = {0, 95, 17, 40, 3};
        std::vector<float> want_q = q, want_k = k;
        for (int r = 0; r < rows; ++r) {
          trueno::Rope(&want_q[size_t(r) * heads * hd], heads, hd, pos[r], p);
          trueno::Rope(&want_k[size_t(r) * kv_dim], kv_heads, hd, pos[r], p);
        }
        const size_t elem = type == trueno::DType::kF16 ? 2 : 4;
        const size_t pool_bytes = size_t(n_blocks) * block_size * kv_dim * elem;
        std::vector<uint8_t> poison(pool_bytes, 0xFF);
        uint8_t* dk = g.Put(poison);
        uint8_t* dv = g.Put(poison);
        const tc::PagedKvLayer layer{dk, dv, type, block_size, kv_heads, hd, n_blocks};
        const tc::RowMap map{g.Put(tables), 6, g.Put(row_table), g.Put(pos)};
        float* dq = g.Put(q);
        float* dkr = g.Put(k);
        const tc::RopeConfig rc{mode == trueno::RopeMode::kNeox, p.theta, p.freq_scale, p.n_rot};
        REQUIRE(tc::RopeKvStore(*g.ctx, layer, dq, dkr, g.Put(v), rows, heads, map, rc).ok());
        CheckClose(g.Get(dq, q.size()), want_q, 1e-5);
        CheckClose(g.Get(dkr, k.size()), want_k, 1e-5);
        // The pool rows hold the device's rotated K (converted to the pool type) and V exactly.
        const auto got_k = g.Get(dkr, k.size());
        auto pk = g.Get(dk, pool_bytes), pv = g.Get(dv, pool_bytes);
        for (int r = 0; r < rows; ++r) {
          const size_t off =
              (size_t(tables[size_t(row_table[r]) * 6 + pos[r] / block_size]) * block_size +
               pos[r] % block_size) *
              kv_dim;
          std::vector<uint8_t> ek(kv_dim * elem), ev(kv_dim * elem);
          if (type == trueno::DType::kF16) {
            trueno::Fp32ToFp16Row(&got_k[size_t(r) * kv_dim],
                                  reinterpret_cast<uint16_t*>(ek.data()), kv_dim);
            trueno::Fp32ToFp16Row(&v[size_t(r) * kv_dim], reinterpret_cast<uint16_t*>(ev.data()),
                                  kv_dim);
          } else {
            std::memcpy(ek.data(), &got_k[size_t(r) * kv_dim], kv_dim * 4);
            std::memcpy(ev.data(), &v[size_t(r) * kv_dim], kv_dim * 4);
          }
          REQUIRE(std::memcmp(pk.data() + off * elem, ek.data(), ek.size()) == 0);
          REQUIRE(std::memcmp(pv.data() + off * elem, ev.data(), ev.size()) == 0);
        }
      }
    }
  }
}
