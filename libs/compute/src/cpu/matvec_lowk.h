// MatMul rows for the 2- and 3-bit K types (Q2_K, Q3_K): integer dot products of the weight
// quants with Q8_K activations. Kept apart from matvec-inl.h so the two low-bit kernels and their
// scalar reference read in one place.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trueno/dtype.h"
#include "trueno/quant_blocks.h"

namespace trueno::cpu {

// Same contract as the per-target MatMulRows in matvec-inl.h for wtype Q2_K or Q3_K: fills
// Y[t * rows + r] for r in [row_begin, row_end), t < n_tokens; `act` holds n_tokens rows of
// BlockQ8_K, `act_stride` bytes apart. Dispatches to the best compiled Highway target.
void MatMulRowsLowK(DType wtype, const uint8_t* w, size_t row_bytes, int row_begin, int row_end,
                    int cols, const uint8_t* act, size_t act_stride, int n_tokens, float* Y,
                    int rows);

// Scalar references (plain loops, exact integer sums, double per block): the dot product of
// `nb` super-blocks of Q2_K / Q3_K weights with Q8_K activations.
double DotQ2_KRef(const BlockQ2_K* w, const BlockQ8_K* a, int nb);
double DotQ3_KRef(const BlockQ3_K* w, const BlockQ8_K* a, int nb);

}  // namespace trueno::cpu
