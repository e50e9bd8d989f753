// Scalar references for every kernel in trueno/kernels.h: plain loops, double accumulation,
// element-wise dequantization formulas written independently of the SIMD layout tricks. Tests
// compare each Highway target against these.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "trueno/dtype.h"
#include "trueno/kernels.h"

namespace trueno::ref {

// Same contract as trueno::MatMul; activations are quantized exactly as the SIMD path does
// (cpu/act_quant.h) and weights dequantized element by element in double.
[[nodiscard]] absl::Status MatMulRef(DType wtype, const uint8_t* w, int rows, int cols,
                                     const float* X, int n_tokens, float* Y);

// Dequantizes weight element `e` (< cols) of one row in double.
double WeightElement(DType wtype, const uint8_t* row, int e);

void RmsNormRef(const float* x, const float* weight, int n, float eps, float* out);
void RopeRef(float* x, int n_heads, int head_dim, int pos, const RopeParams& params);
void SoftmaxRef(float* x, int n);
int ArgMaxRef(const float* x, int n);
void SiluMulRef(const float* gate, const float* up, float* out, int n);
void AddRef(const float* a, const float* b, float* out, int n);
float DotRef(const float* a, const float* b, int n);
void AxpyRef(float alpha, const float* x, float* y, int n);

}  // namespace trueno::ref
