#include "cpu/threading.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include "trueno/kernels.h"

namespace trueno {
namespace {

int DefaultThreads() {
  // One thread per CPU the process may use. (On SMT machines physical cores would be better
  // for this bandwidth-bound work; the CPUs we target report one thread per core.)
  return std::max(1, tbb::info::default_concurrency());
}

struct ArenaState {
  std::mutex mu;
  int threads = 0;
  std::unique_ptr<tbb::task_arena> arena;
};

ArenaState& State() {
  static ArenaState* state = new ArenaState();
  return *state;
}

tbb::task_arena& Arena() {
  ArenaState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.arena) {
    if (s.threads <= 0) s.threads = DefaultThreads();
    s.arena = std::make_unique<tbb::task_arena>(s.threads);
  }
  return *s.arena;
}

}  // namespace

void SetNumThreads(int n) {
  ArenaState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  s.threads = n > 0 ? n : DefaultThreads();
  s.arena.reset();
}

int NumThreads() {
  ArenaState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.threads > 0 ? s.threads : DefaultThreads();
}

namespace cpu {

void ParallelFor(int n, int grain, const std::function<void(int, int)>& fn) {
  if (n <= 0) return;
  grain = std::max(1, grain);
  const int threads = NumThreads();
  if (threads <= 1 || n <= grain) {
    fn(0, n);
    return;
  }
  // Static chunks: a few per thread so a late-starting worker does not hold up the step.
  const int chunks = std::min((n + grain - 1) / grain, threads * 4);
  const int per = (n + chunks - 1) / chunks;
  Arena().execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<int>(0, chunks, 1),
        [&](const tbb::blocked_range<int>& r) {
          for (int c = r.begin(); c < r.end(); ++c) {
            const int b = c * per;
            const int e = std::min(n, b + per);
            if (b < e) fn(b, e);
          }
        },
        tbb::simple_partitioner());
  });
}

}  // namespace cpu
}  // namespace trueno
