#include "engine/resident_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "trueno/str_cat.h"

namespace realizar::internal {
namespace {

constexpr size_t kAlign = 64;

size_t RoundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Drops the whole pages of `r` from this process when `r` lies inside one of `mapped`. A page
// that `r` only partly covers stays (its other bytes may belong to a tensor not copied yet).
void DropMappedPages(std::span<const uint8_t> r, std::span<const std::span<const uint8_t>> mapped,
                     uintptr_t page) {
  const auto lo = reinterpret_cast<uintptr_t>(r.data());
  const uintptr_t hi = lo + r.size();
  for (std::span<const uint8_t> m : mapped) {
    const auto mlo = reinterpret_cast<uintptr_t>(m.data());
    if (lo < mlo || hi > mlo + m.size()) continue;
    const uintptr_t a = RoundUp(lo, page), b = hi / page * page;
    // Advisory: a failure leaves the pages mapped, which costs memory, not correctness.
    if (a < b) (void)::madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
    return;
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ResidentWeights>> ResidentWeights::Copy(
    std::span<const std::span<const uint8_t>> sources,
    std::span<const std::span<const uint8_t>> mapped) {
  std::vector<std::span<const uint8_t>> unique;
  for (std::span<const uint8_t> s : sources) {
    const bool seen = std::any_of(unique.begin(), unique.end(),
                                  [&](const auto& u) { return u.data() == s.data(); });
    if (!seen && !s.empty()) unique.push_back(s);
  }
  size_t total = 0;
  for (const auto& s : unique) total = RoundUp(total, kAlign) + s.size();
  std::shared_ptr<ResidentWeights> r(new ResidentWeights());
  if (total == 0) return std::shared_ptr<const ResidentWeights>(std::move(r));
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(trueno::Concat(
        "cannot allocate ", total, " bytes for the CPU's copy of the weights (",
        std::strerror(errno), "); --mmap reads them through the file mapping instead"));
  }
  r->base_ = static_cast<uint8_t*>(p);
  r->size_ = total;
  // Copied in page-aligned pieces of ~8 MiB, each piece's source pages dropped right after, so
  // that the peak resident set grows by one piece, not by the largest tensor (the head: 100+ MiB).
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  constexpr uintptr_t kPiece = uintptr_t{8} << 20;
  size_t off = 0;
  for (const auto& s : unique) {
    off = RoundUp(off, kAlign);
    const auto src = reinterpret_cast<uintptr_t>(s.data()), end = src + s.size();
    for (uintptr_t cur = src; cur < end;) {
      const uintptr_t next = std::min(end, std::max((cur + kPiece) / page * page, cur + 1));
      std::memcpy(r->base_ + off + (cur - src), reinterpret_cast<const void*>(cur), next - cur);
      DropMappedPages({reinterpret_cast<const uint8_t*>(cur), next - cur}, mapped, page);
      cur = next;
    }
    r->copies_.emplace_back(s.data(), r->base_ + off);
    off += s.size();
  }
  (void)::mprotect(p, total, PROT_READ);  // the weights are never written
  std::sort(r->copies_.begin(), r->copies_.end());
  return std::shared_ptr<const ResidentWeights>(std::move(r));
}

ResidentWeights::~ResidentWeights() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

const uint8_t* ResidentWeights::Find(const uint8_t* source) const {
  auto it = std::lower_bound(copies_.begin(), copies_.end(),
                             std::make_pair(source, static_cast<const uint8_t*>(nullptr)));
  return it != copies_.end() && it->first == source ? it->second : nullptr;
}

}  // namespace realizar::internal
