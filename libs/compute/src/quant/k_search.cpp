#include "quant/k_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace trueno::quant {

float SearchSymmetricScale(int n, int nmax, const float* x, const float* w, int* levels, int fan) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a > amax) {
      amax = a;
      max = x[i];
    }
  }
  if (!(amax >= 1e-30f) || !std::isfinite(amax)) {
    std::fill(levels, levels + n, 0);
    return 0.0f;
  }
  // Score of a level set: (sum w x l)^2 / (sum w l^2), i.e. the error reduction of its optimal
  // scale. Compared by cross-multiplication to avoid divisions.
  float best_slx = 0.0f, best_sl2 = 0.0f;
  int tmp[256];
  for (int k = -fan; k <= fan; ++k) {
    const float iscale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    float slx = 0.0f, sl2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
      tmp[i] = l;
      slx += w[i] * x[i] * static_cast<float>(l);
      sl2 += w[i] * static_cast<float>(l * l);
    }
    if (sl2 > 0.0f && (best_sl2 == 0.0f || slx * slx * best_sl2 > best_slx * best_slx * sl2)) {
      best_slx = slx;
      best_sl2 = sl2;
      std::copy(tmp, tmp + n, levels);
    }
  }
  if (best_sl2 == 0.0f) {
    std::fill(levels, levels + n, 0);
    return 0.0f;
  }
  // Coordinate descent: move single levels to their nearest value under the current scale when
  // that raises the score.
  for (int pass = 0; pass < 4; ++pass) {
    bool changed = false;
    for (int i = 0; i < n; ++i) {
      const float scale = best_slx / best_sl2;
      const int l_new = std::clamp(NearestInt(x[i] / scale), -nmax, nmax - 1);
      const int l_old = levels[i];
      if (l_new == l_old) continue;
      const float slx = best_slx + w[i] * x[i] * static_cast<float>(l_new - l_old);
      const float sl2 = best_sl2 + w[i] * static_cast<float>(l_new * l_new - l_old * l_old);
      if (sl2 > 0.0f && slx * slx * best_sl2 > best_slx * best_slx * sl2) {
        best_slx = slx;
        best_sl2 = sl2;
        levels[i] = l_new;
        changed = true;
      }
    }
    if (!changed) break;
  }
  return best_slx / best_sl2;
}

namespace {

// Weighted sums of one level assignment; everything the least-squares fit and its error need.
struct AffineSums {
  double sw = 0, sl = 0, sl2 = 0, sx = 0, slx = 0, sx2 = 0;
};

// Rounds x onto the grid offset + l/inv_scale and accumulates the sums in the same pass.
AffineSums RoundAffine(int n, int nmax, const float* x, const float* w, float inv_scale,
                       float offset, int* levels) {
  AffineSums s;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(NearestInt(inv_scale * (x[i] - offset)), 0, nmax);
    levels[i] = l;
    const double wi = w[i], xi = x[i], li = l;
    s.sw += wi;
    s.sl += wi * li;
    s.sl2 += wi * li * li;
    s.sx += wi * xi;
    s.slx += wi * li * xi;
    s.sx2 += wi * xi * xi;
  }
  return s;
}

// sum w (scale*l + offset - x)^2 expanded in the sums.
double AffineError(const AffineSums& s, double scale, double offset) {
  return s.sx2 + scale * scale * s.sl2 + offset * offset * s.sw - 2 * scale * s.slx -
         2 * offset * s.sx + 2 * scale * offset * s.sl;
}

// Weighted least squares for x ~ scale*l + offset with offset <= 0. False when degenerate.
bool FitAffine(const AffineSums& s, float* scale, float* offset) {
  const double det = s.sw * s.sl2 - s.sl * s.sl;
  if (!(det > 0.0)) return false;
  double a = (s.sw * s.slx - s.sl * s.sx) / det;
  double b = (s.sl2 * s.sx - s.sl * s.slx) / det;
  if (b > 0.0) {  // the format cannot represent a positive offset
    b = 0.0;
    a = s.slx / s.sl2;
  }
  if (!(a > 0.0) || !std::isfinite(a) || !std::isfinite(b)) return false;
  *scale = static_cast<float>(a);
  *offset = static_cast<float>(b);
  return true;
}

}  // namespace

float SearchAffineScale(int n, int nmax, const float* x, const float* w, int* levels, float* min,
                        float rmin, float rdelta, int nstep) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (lo > 0.0f) lo = 0.0f;
  if (!(hi > lo) || !std::isfinite(hi - lo)) {
    std::fill(levels, levels + n, 0);
    *min = std::isfinite(lo) ? -lo : 0.0f;
    return 0.0f;
  }
  // Baseline: the plain min/max grid.
  float best_scale = (hi - lo) / static_cast<float>(nmax);
  float best_offset = lo;
  double best_err = AffineError(RoundAffine(n, nmax, x, w, 1.0f / best_scale, best_offset, levels),
                                best_scale, best_offset);

  int tmp[256];
  for (int k = 0; k <= nstep; ++k) {
    const float iscale =
        (rmin + rdelta * static_cast<float>(k) + static_cast<float>(nmax)) / (hi - lo);
    const AffineSums sums = RoundAffine(n, nmax, x, w, iscale, lo, tmp);
    float s, b;
    if (!FitAffine(sums, &s, &b)) continue;
    const double err = AffineError(sums, s, b);
    if (err < best_err) {
      best_err = err;
      best_scale = s;
      best_offset = b;
      std::copy(tmp, tmp + n, levels);
    }
  }
  // Polish: alternate re-rounding under the best (scale, offset) and refitting; keep a step only
  // when it lowers the error.
  for (int it = 0; it < 3; ++it) {
    const AffineSums sums = RoundAffine(n, nmax, x, w, 1.0f / best_scale, best_offset, tmp);
    float s, b;
    if (!FitAffine(sums, &s, &b)) break;
    const double err = AffineError(sums, s, b);
    if (!(err < best_err)) break;
    best_err = err;
    best_scale = s;
    best_offset = b;
    std::copy(tmp, tmp + n, levels);
  }
  *min = -best_offset;
  return best_scale;
}

}  // namespace trueno::quant
