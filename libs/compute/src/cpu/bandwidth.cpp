// MeasureReadBandwidth: threads streaming a large buffer with vector loads. A scalar or
// baseline-SSE loop measures the core's load issue rate rather than the memory system on
// CPUs whose cores can pull more than 16 bytes per cycle, and then decode steps appear to read
// faster than the "roofline".
#include <algorithm>
#include <barrier>
#include <chrono>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/bandwidth.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace trueno {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_NOINLINE uint64_t ReadSumImpl(const uint64_t* HWY_RESTRICT data, size_t n) {
  const hn::ScalableTag<uint64_t> d;
  const size_t N = hn::Lanes(d);
  // Four independent accumulators keep four loads in flight per iteration.
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::LoadU(d, data + i));
    a1 = hn::Add(a1, hn::LoadU(d, data + i + N));
    a2 = hn::Add(a2, hn::LoadU(d, data + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(d, data + i + 3 * N));
  }
  uint64_t s = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) s += data[i];
  return s;
}

}  // namespace HWY_NAMESPACE
}  // namespace trueno
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "trueno/bandwidth.h"
#include "trueno/str_cat.h"

namespace trueno {

HWY_EXPORT(ReadSumImpl);

uint64_t ReadSum(const uint64_t* data, size_t n) {
  return HWY_DYNAMIC_DISPATCH(ReadSumImpl)(data, n);
}

absl::StatusOr<double> MeasureReadBandwidth(size_t bytes, int threads, int passes) {
  if (bytes < (size_t{1} << 20)) {
    return absl::InvalidArgumentError(
        Concat("MeasureReadBandwidth: ", bytes,
               " bytes is too small to leave the caches (need >= 1 MiB)"));
  }
  if (threads < 1 || passes < 1) {
    return absl::InvalidArgumentError(Concat("MeasureReadBandwidth: threads (", threads,
                                             ") and passes (", passes, ") must be >= 1"));
  }
  const size_t n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t[]> buf(new (std::nothrow) uint64_t[n]);
  if (!buf) {
    return absl::ResourceExhaustedError(
        Concat("MeasureReadBandwidth: cannot allocate ", bytes >> 20, " MiB"));
  }
  using Clock = std::chrono::steady_clock;
  std::barrier sync(threads + 1);
  std::vector<uint64_t> sums(static_cast<size_t>(threads) * 8);  // one cache line each
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const size_t b = n * t / threads, e = n * (t + 1) / threads;
      for (size_t i = b; i < e; ++i) buf[i] = i;
      uint64_t s = 0;
      for (int p = 0; p < passes; ++p) {
        sync.arrive_and_wait();  // start together
        s += ReadSum(buf.get() + b, e - b);
        sync.arrive_and_wait();  // all done
      }
      sums[static_cast<size_t>(t) * 8] = s;
    });
  }
  double best = 0;
  for (int p = 0; p < passes; ++p) {
    sync.arrive_and_wait();
    const auto t0 = Clock::now();
    sync.arrive_and_wait();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > 0) best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s);
  }
  for (auto& th : pool) th.join();
  // The sums are consumed so that the reads cannot be optimized away.
  volatile uint64_t sink = 0;
  for (uint64_t s : sums) sink = sink + s;
  (void)sink;
  return best;
}

}  // namespace trueno
#endif  // HWY_ONCE
