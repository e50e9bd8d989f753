// The oneTBB arena every parallel kernel runs in (size set by trueno::SetNumThreads).
#pragma once

#include <functional>

namespace trueno::cpu {

// Calls fn(begin, end) over [0, n) split into chunks of at least `grain`, on the kernel arena.
void ParallelFor(int n, int grain, const std::function<void(int, int)>& fn);

}  // namespace trueno::cpu
