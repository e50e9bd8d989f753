// Dynamic dispatch for the Q2_K / Q3_K matvec bodies in matvec_lowk-inl.h.
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "cpu/matvec_lowk.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "cpu/matvec_lowk-inl.h"
#include "hwy/highway.h"

#if HWY_ONCE
#include "cpu/matvec_lowk.h"

namespace trueno::cpu {

HWY_EXPORT(MatMulRowsLowKImpl);

void MatMulRowsLowK(DType wtype, const uint8_t* w, size_t row_bytes, int row_begin, int row_end,
                    int cols, const uint8_t* act, size_t act_stride, int n_tokens, float* Y,
                    int rows) {
  HWY_DYNAMIC_DISPATCH(MatMulRowsLowKImpl)
  (wtype, w, row_bytes, row_begin, row_end, cols, act, act_stride, n_tokens, Y, rows);
}

}  // namespace trueno::cpu
#endif  // HWY_ONCE
