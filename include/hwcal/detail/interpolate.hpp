#pragma once
// The one interpolation of measured values over a shape's features (log2 of
// its dimensions, ops.hpp), used for op efficiencies and fusion speedups
// alike.
//
//  - one feature: linear in the feature (log-log, since values are logs)
//    between the bracketing points, the end value held beyond them;
//  - several: the k = 4 nearest points by Euclidean distance, weighted by
//    inverse squared distance (an exact hit returns that point). The
//    neighbours' disagreement, weighted the same way, widens the spread.
// A query more than one octave (a factor of 2) outside the points' range on
// any feature is flagged `outside`.

#include <hwcal/ops.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace hwcal {
namespace detail {

struct InterpolationPoint {
  Features x{};
  float value = 0;   ///< the interpolated quantity (a log)
  float spread = 0;  ///< its relative uncertainty
};

struct Interpolated {
  double value = 0, spread = 0.5;
  bool outside = false;
};

/// The range of a set of points along each feature.
struct FeatureRange {
  Features lo, hi;
  FeatureRange() {
    lo.fill(std::numeric_limits<float>::max());
    hi.fill(-std::numeric_limits<float>::max());
  }
  void add(const Features& x) noexcept {
    for (std::size_t d = 0; d < max_features; ++d) lo[d] = std::min(lo[d], x[d]), hi[d] = std::max(hi[d], x[d]);
  }
  bool outside(const Features& x, int dims) const noexcept {
    for (int d = 0; d < dims; ++d)
      if (x[static_cast<std::size_t>(d)] < lo[static_cast<std::size_t>(d)] - 1.0f ||
          x[static_cast<std::size_t>(d)] > hi[static_cast<std::size_t>(d)] + 1.0f)
        return true;
    return false;
  }
};

/// Interpolates at q over pts[0, n). With one feature the points must be
/// sorted by it (ascending). n > 0.
inline Interpolated interpolate(const InterpolationPoint* pts, std::size_t n, int dims, const Features& q) noexcept {
  Interpolated r;
  if (dims <= 1) {
    const float x = q[0];
    const InterpolationPoint* end = pts + n;
    const InterpolationPoint* above =
        std::lower_bound(pts, end, x, [](const InterpolationPoint& p, float v) { return p.x[0] < v; });
    if (above == end) {
      r.value = pts[n - 1].value, r.spread = pts[n - 1].spread;
      return r;
    }
    if (above == pts || above->x[0] == x) {
      r.value = above->value, r.spread = above->spread;
      return r;
    }
    const InterpolationPoint* below = above - 1;
    const double t = (double(x) - below->x[0]) / (double(above->x[0]) - below->x[0]);
    r.value = below->value + t * (double(above->value) - below->value);
    r.spread = below->spread + t * (double(above->spread) - below->spread);
    return r;
  }
  constexpr int k = 4;
  float best_d[k];
  std::size_t best_i[k] = {};
  int found = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float d2 = 0;
    for (int d = 0; d < max_features; ++d) {  // unused features are 0 on both sides
      const float diff = q[static_cast<std::size_t>(d)] - pts[i].x[static_cast<std::size_t>(d)];
      d2 += diff * diff;
    }
    if (found == k && d2 >= best_d[k - 1]) continue;
    int pos = found < k ? found++ : k - 1;
    while (pos > 0 && best_d[pos - 1] > d2) {
      best_d[pos] = best_d[pos - 1];
      best_i[pos] = best_i[pos - 1];
      --pos;
    }
    best_d[pos] = d2;
    best_i[pos] = i;
  }
  if (best_d[0] < 1e-8f) {
    r.value = pts[best_i[0]].value, r.spread = pts[best_i[0]].spread;
    return r;
  }
  double wsum = 0, acc = 0, sp = 0;
  for (int j = 0; j < found; ++j) {
    const double w = 1.0 / best_d[j];
    wsum += w;
    acc += w * pts[best_i[j]].value;
    sp += w * pts[best_i[j]].spread;
  }
  r.value = acc / wsum;
  double var = 0;
  for (int j = 0; j < found; ++j) {
    const double d = pts[best_i[j]].value - r.value;
    var += d * d / best_d[j];
  }
  r.spread = sp / wsum + std::sqrt(var / wsum);
  return r;
}

}  // namespace detail
}  // namespace hwcal
