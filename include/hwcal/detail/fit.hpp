#pragma once
// The one line fit hwcal needs: the fixed cost of a call, as the intercept of
// time against work over a curve's smallest samples, where the work itself
// costs least and the fixed part shows.

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

namespace hwcal {
namespace detail {

/// Least-squares intercept of t = a + b * work over the `count` points with
/// the least work, (work, seconds) pairs, when those points are launch-bound:
/// their work spans at least 4x while their time less than doubles. Otherwise
/// (too few points, or time growing with work, where an intercept would only
/// absorb the rising efficiency of larger sizes) empty. Clamped to
/// [0, smallest time].
inline std::optional<double> fixed_cost(std::vector<std::pair<double, double>> pts, std::size_t count = 3) {
  std::sort(pts.begin(), pts.end());
  if (pts.size() > count) pts.resize(count);
  if (pts.size() < 2 || pts.back().first < 4 * pts.front().first || pts.back().second > 2 * pts.front().second)
    return std::nullopt;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [x, y] : pts) sx += x, sy += y, sxx += x * x, sxy += x * y;
  const double n = double(pts.size()), den = n * sxx - sx * sx;
  if (!(den > 0)) return std::nullopt;
  const double b = (n * sxy - sx * sy) / den;
  if (!(b > 0)) return std::nullopt;
  const double a = (sy - b * sx) / n;
  return std::clamp(a, 0.0, pts.front().second);
}

}  // namespace detail
}  // namespace hwcal
