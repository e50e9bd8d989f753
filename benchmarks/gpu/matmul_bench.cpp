// GPU matrix kernels: measures the device-to-device copy bandwidth (bytes read + written), then
// for each weight type / shape the fused kernel's time at n_tokens = 1..8 (GB/s of weights +
// activations moved, and % of the copy bandwidth), n_tokens = 16 / 32 / 64 (the server's batches)
// and the cuBLAS path at n_tokens = 512
// (TFLOP/s, next to a plain f16 cuBLAS GEMM of the same shape measured in the same run).
//
// Timing: each measurement captures `kCalls` launches in a CUDA graph and times replays with a
// host clock around Synchronize (median of `kReps`); the weights rotate over enough copies
// (>= 256 MiB in all) that the 50 MB L2 cannot hold them. Usage: matmul_bench [--quick]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "trueno/cuda.h"
#include "trueno/dtype.h"
#include "trueno/quantize.h"

namespace tc = trueno::cuda;
using trueno::DType;

namespace {

constexpr int kReps = 7;

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    absl::Status st_ = (expr);                                                                     \
    if (!st_.ok()) {                                                                               \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, std::string(st_.message()).c_str()); \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device-to-device copy of `bytes`: returns GB/s counting read + write.
double CopyBandwidth(size_t bytes) {
  void *a = nullptr, *b = nullptr;
  if (cudaMalloc(&a, bytes) != cudaSuccess || cudaMalloc(&b, bytes) != cudaSuccess) {
    std::fprintf(stderr, "cudaMalloc failed for the copy test\n");
    std::exit(1);
  }
  cudaMemset(a, 1, bytes);
  cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);  // warm-up
  cudaDeviceSynchronize();
  std::vector<double> t;
  for (int i = 0; i < kReps; ++i) {
    const double t0 = Now();
    cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaDeviceSynchronize();
    t.push_back(Now() - t0);
  }
  cudaFree(a);
  cudaFree(b);
  return 2.0 * static_cast<double>(bytes) / Median(t) / 1e9;
}

struct Case {
  DType type;
  int rows, cols;
  const char* what;
};

// Random weights: quantize one random row and reuse it (quantizing 500 MB on the host is slow;
// the kernels' speed does not depend on which rows repeat), then vary the block scales a bit.
std::vector<uint8_t> MakeWeights(DType type, int rows, int cols, std::mt19937& rng) {
  const auto& tr = trueno::Traits(type);
  const size_t rb = static_cast<size_t>(cols) / tr.block_elems * tr.block_bytes;
  std::vector<uint8_t> out(rb * rows);
  const int distinct = 16;
  std::vector<uint8_t> rowbuf(rb * distinct);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> src(cols);
  for (int k = 0; k < distinct; ++k) {
    for (float& v : src) v = dist(rng);
    CHECK_OK(trueno::QuantizeRow(type, src.data(), rowbuf.data() + rb * k, cols));
  }
  for (int r = 0; r < rows; ++r)
    std::memcpy(out.data() + rb * r, rowbuf.data() + rb * (r % distinct), rb);
  return out;
}

// Times MatMul over `copies` weight buffers (rotating) with n tokens.
double TimeMatMul(tc::Context& ctx, DType type, const std::vector<tc::DeviceBuffer>& w, int rows,
                  int cols, const float* x, int n, float* y, size_t n_buf = 0) {
  const int calls = n >= 64 ? 4 : 40;
  if (n_buf == 0 || n_buf > w.size()) n_buf = w.size();
  // Warm-up (grows scratch before capture).
  for (size_t i = 0; i < n_buf; ++i) {
    CHECK_OK(tc::MatMul(ctx, type, w[i].data(), rows, cols, x, n, y));
  }
  CHECK_OK(ctx.Synchronize());
  CHECK_OK(ctx.BeginCapture());
  for (int i = 0; i < calls; ++i) {
    CHECK_OK(tc::MatMul(ctx, type, w[i % n_buf].data(), rows, cols, x, n, y));
  }
  auto id = ctx.EndCapture();
  CHECK_OK(id.status());
  CHECK_OK(ctx.Replay(*id));
  CHECK_OK(ctx.Synchronize());
  std::vector<double> t;
  for (int i = 0; i < kReps; ++i) {
    const double t0 = Now();
    CHECK_OK(ctx.Replay(*id));
    CHECK_OK(ctx.Synchronize());
    t.push_back((Now() - t0) / calls);
  }
  return Median(t);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  auto info = tc::QueryDevice(0);
  CHECK_OK(info.status());
  std::printf("device: %s, %d SMs, %.1f GiB, driver %d, runtime %d\n", info->name.c_str(),
              info->multiprocessors, info->total_bytes / 1073741824.0, info->driver_version,
              info->runtime_version);
  const double copy_gbs = CopyBandwidth(size_t{2} << 30);
  std::printf("device-to-device copy (2 GiB, read+write): %.0f GB/s\n\n", copy_gbs);

  auto ctx_or = tc::Context::Create(0);
  CHECK_OK(ctx_or.status());
  tc::Context& ctx = **ctx_or;
  std::mt19937 rng(42);
  std::printf("seed 42\n");

  std::vector<Case> cases = {
      {DType::kQ4_K, 3584, 3584, "7B attn q/o"},  {DType::kQ4_K, 18944, 3584, "7B ffn gate/up"},
      {DType::kQ6_K, 3584, 18944, "7B ffn down"}, {DType::kQ6_K, 152064, 3584, "7B head"},
      {DType::kQ4_K, 512, 3584, "7B attn k/v"},
  };
  if (!quick) {
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                    DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ5_K, DType::kQ6_K}) {
      cases.push_back({t, 18944, 3584, "ffn-sized"});
    }
  }
  const int max_n = 512;
  const int max_cols = 18944, max_rows = 152064;
  std::vector<float> xh(static_cast<size_t>(max_n) * max_cols);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : xh) v = dist(rng);
  auto x = tc::DeviceBuffer::Allocate(xh.size() * sizeof(float), "x");
  CHECK_OK(x.status());
  CHECK_OK(ctx.Upload(x->data(), xh.data(), xh.size() * sizeof(float)));
  auto y = tc::DeviceBuffer::Allocate(static_cast<size_t>(max_n) * max_rows * sizeof(float), "y");
  CHECK_OK(y.status());

  std::printf("%-6s %-15s %7s %6s | %8s %7s %6s | %7s %7s %7s %7s | %9s %9s %6s\n", "type", "shape",
              "rows", "cols", "n=1 us", "GB/s", "%copy", "n=2 us", "n=4 us", "n=8 us", "n8 GB/s",
              "n512 ms", "TFLOP/s", "f16=");
  for (const Case& c : cases) {
    std::vector<uint8_t> wh = MakeWeights(c.type, c.rows, c.cols, rng);
    const size_t copies = std::max<size_t>(1, ((size_t{256} << 20) + wh.size() - 1) / wh.size());
    std::vector<tc::DeviceBuffer> w;
    for (size_t i = 0; i < copies; ++i) {
      auto b = tc::DeviceBuffer::Allocate(wh.size(), "weights");
      CHECK_OK(b.status());
      CHECK_OK(ctx.Upload(b->data(), wh.data(), wh.size()));
      w.push_back(std::move(*b));
    }
    double us[9] = {};
    for (int n : {1, 2, 4, 8}) {
      us[n] = 1e6 * TimeMatMul(ctx, c.type, w, c.rows, c.cols, x->as<float>(), n, y->as<float>());
    }
    // The same batch sizes through the cuBLAS path (where the fused kernels stop paying).
    double blas_us[9] = {};
    tc::SetMatVecMaxTokens(0);
    for (int n : {2, 4, 8}) {
      blas_us[n] =
          1e6 * TimeMatMul(ctx, c.type, w, c.rows, c.cols, x->as<float>(), n, y->as<float>());
    }
    tc::SetMatVecMaxTokens(8);
    // Server-sized batches: int8 tensor cores for Q4_K / Q6_K (whole range), then cuBLAS.
    double mid_us[3] = {}, mid_blas_us[3] = {};
    for (int i = 0; i < 3; ++i) {
      tc::SetMatMulInt8MaxTokens(64);
      mid_us[i] =
          1e6 * TimeMatMul(ctx, c.type, w, c.rows, c.cols, x->as<float>(), 16 << i, y->as<float>());
      tc::SetMatMulInt8MaxTokens(8);
      mid_blas_us[i] =
          1e6 * TimeMatMul(ctx, c.type, w, c.rows, c.cols, x->as<float>(), 16 << i, y->as<float>());
    }
    tc::SetMatMulInt8MaxTokens(16);
    auto gbs = [&](int n) {
      const double bytes =
          static_cast<double>(wh.size()) + 4.0 * n * (static_cast<double>(c.rows) + c.cols);
      return bytes / (us[n] * 1e-6) / 1e9;
    };
    const double flops = 2.0 * c.rows * c.cols * 512.0;
    const double s512 =
        TimeMatMul(ctx, c.type, w, c.rows, c.cols, x->as<float>(), 512, y->as<float>(), 1);
    // Plain f16 GEMM of the same shape (weights already f16: no dequantization).
    std::vector<tc::DeviceBuffer> wf;
    {
      auto b = tc::DeviceBuffer::Allocate(static_cast<size_t>(c.rows) * c.cols * 2, "f16 w");
      CHECK_OK(b.status());
      std::vector<uint8_t> hw = MakeWeights(DType::kF16, std::min(c.rows, 64), c.cols, rng);
      for (size_t off = 0; off < b->size(); off += hw.size()) {
        CHECK_OK(ctx.Upload(static_cast<char*>(b->data()) + off, hw.data(),
                            std::min(hw.size(), b->size() - off)));
      }
      wf.push_back(std::move(*b));
    }
    const double f512 =
        TimeMatMul(ctx, DType::kF16, wf, c.rows, c.cols, x->as<float>(), 512, y->as<float>());
    std::printf(
        "%-6s %-15s %7d %6d | %8.1f %7.0f %5.0f%% | %7.1f %7.1f %7.1f %7.0f | %9.3f %9.1f %6.1f\n",
        std::string(trueno::DTypeName(c.type)).c_str(), c.what, c.rows, c.cols, us[1], gbs(1),
        100.0 * gbs(1) / copy_gbs, us[2], us[4], us[8], gbs(8), s512 * 1e3, flops / s512 / 1e12,
        flops / f512 / 1e12);
    std::printf(
        "       blas n=2/4/8 us: %.1f %.1f %.1f; n=16/32/64 us: %.1f %.1f %.1f, cuBLAS %.1f %.1f "
        "%.1f\n",
        blas_us[2], blas_us[4], blas_us[8], mid_us[0], mid_us[1], mid_us[2], mid_blas_us[0],
        mid_blas_us[1], mid_blas_us[2]);
    std::fflush(stdout);
  }
  return 0;
}
