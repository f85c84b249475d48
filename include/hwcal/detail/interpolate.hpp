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
//
// Points are stored feature-major (all points' first feature, then all
// second features, ...), so the distance of a query to every point of a
// curve is a few vectorised passes: the mapper's uncached path spends most of
// its time here.

#include <hwcal/ops.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace hwcal {
namespace detail {

struct Interpolated {
  double value = 0, spread = 0.5;
  bool outside = false;
};

/// A block of points in a PointStore.
struct PointBlock {
  std::uint32_t begin = 0, n = 0;  ///< point index range in the store
  std::uint32_t x = 0;             ///< offset of the feature-major coordinates
  int dims = 0;
  Features lo{}, hi{};             ///< range along each feature
};

/// Points of many curves, feature-major per block, built once.
class PointStore {
 public:
  struct Point {
    Features x;
    float value;
    float spread;
  };

  /// Appends a block (sorted by the first feature when it has one feature).
  PointBlock add(std::vector<Point> pts, int dims) {
    PointBlock b;
    b.begin = static_cast<std::uint32_t>(value_.size());
    b.n = static_cast<std::uint32_t>(pts.size());
    b.x = static_cast<std::uint32_t>(x_.size());
    b.dims = dims;
    if (dims <= 1) std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& c) { return a.x[0] < c.x[0]; });
    b.lo.fill(std::numeric_limits<float>::max());
    b.hi.fill(-std::numeric_limits<float>::max());
    for (int d = 0; d < std::max(dims, 1); ++d)
      for (const Point& p : pts) x_.push_back(p.x[static_cast<std::size_t>(d)]);
    for (const Point& p : pts) {
      value_.push_back(p.value);
      spread_.push_back(p.spread);
      for (std::size_t d = 0; d < max_features; ++d) b.lo[d] = std::min(b.lo[d], p.x[d]), b.hi[d] = std::max(b.hi[d], p.x[d]);
    }
    return b;
  }

  /// Interpolates block b at q. b.n > 0.
  Interpolated interpolate(const PointBlock& b, const Features& q) const noexcept {
    Interpolated r;
    for (int d = 0; d < b.dims; ++d)
      if (q[static_cast<std::size_t>(d)] < b.lo[static_cast<std::size_t>(d)] - 1.0f ||
          q[static_cast<std::size_t>(d)] > b.hi[static_cast<std::size_t>(d)] + 1.0f)
        r.outside = true;
    const float* x = x_.data() + b.x;
    const float* value = value_.data() + b.begin;
    const float* spread = spread_.data() + b.begin;
    if (b.dims <= 1) {
      const float* end = x + b.n;
      const float* above = std::lower_bound(x, end, q[0]);
      if (above == end) return r.value = value[b.n - 1], r.spread = spread[b.n - 1], r;
      const std::size_t i = static_cast<std::size_t>(above - x);
      if (i == 0 || *above == q[0]) return r.value = value[i], r.spread = spread[i], r;
      const double t = (double(q[0]) - x[i - 1]) / (double(x[i]) - x[i - 1]);
      r.value = value[i - 1] + t * (double(value[i]) - value[i - 1]);
      r.spread = spread[i - 1] + t * (double(spread[i]) - spread[i - 1]);
      return r;
    }
    constexpr int k = 4;
    constexpr std::uint32_t chunk = 256;
    float d2[chunk];
    float best_d[k];
    std::uint32_t best_i[k] = {};
    int found = 0;
    for (std::uint32_t start = 0; start < b.n; start += chunk) {
      const std::uint32_t m = std::min(chunk, b.n - start);
      std::fill(d2, d2 + m, 0.0f);
      for (int d = 0; d < b.dims; ++d) {
        const float* xd = x + static_cast<std::size_t>(d) * b.n + start;
        const float qd = q[static_cast<std::size_t>(d)];
        for (std::uint32_t i = 0; i < m; ++i) {
          const float diff = qd - xd[i];
          d2[i] += diff * diff;
        }
      }
      for (std::uint32_t i = 0; i < m; ++i) {
        if (found == k && d2[i] >= best_d[k - 1]) continue;
        int pos = found < k ? found++ : k - 1;
        while (pos > 0 && best_d[pos - 1] > d2[i]) {
          best_d[pos] = best_d[pos - 1];
          best_i[pos] = best_i[pos - 1];
          --pos;
        }
        best_d[pos] = d2[i];
        best_i[pos] = start + i;
      }
    }
    if (best_d[0] < 1e-8f) return r.value = value[best_i[0]], r.spread = spread[best_i[0]], r;
    double wsum = 0, acc = 0, sp = 0;
    for (int j = 0; j < found; ++j) {
      const double w = 1.0 / best_d[j];
      wsum += w;
      acc += w * value[best_i[j]];
      sp += w * spread[best_i[j]];
    }
    r.value = acc / wsum;
    double var = 0;
    for (int j = 0; j < found; ++j) {
      const double d = value[best_i[j]] - r.value;
      var += d * d / best_d[j];
    }
    r.spread = sp / wsum + std::sqrt(var / wsum);
    return r;
  }

 private:
  std::vector<float> x_, value_, spread_;
};

}  // namespace detail
}  // namespace hwcal
