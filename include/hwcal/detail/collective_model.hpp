#pragma once
// The latency model of a collective: an alpha-beta line (a fixed latency plus
// the bytes at a bandwidth) fitted to a measured curve, and the curve itself
// interpolated piecewise in log-log between measured sizes. The calibration
// fits (collectives.hpp), the profile stores the fit (schema.hpp) and the
// mapper interpolates (detail/collective_table.hpp) with these functions only.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace hwcal {
namespace detail {

/// t(bytes) = alpha + bytes / bandwidth. bytes_per_s 0: the time does not
/// grow with the bytes over the fitted range (latency only).
struct AlphaBeta {
  double alpha_s = 0, bytes_per_s = 0;
  double at(double bytes) const noexcept { return alpha_s + (bytes_per_s > 0 ? bytes / bytes_per_s : 0.0); }
};

/// Fits t = alpha + gamma * bytes to (bytes, seconds) points by least squares
/// on the relative error, sum ((alpha + gamma b_i) / t_i - 1)^2: plain least
/// squares would fit the 1 GiB points and ignore the 4 KiB ones, whose times
/// are 10^4 smaller, and the latency alpha would be noise. alpha >= 0 and
/// gamma >= 0 (a negative one is refitted with the other fixed at 0).
inline AlphaBeta fit_alpha_beta(const std::vector<std::pair<double, double>>& pts) noexcept {
  // minimise sum (alpha u_i + gamma v_i - 1)^2 with u = 1/t, v = b/t
  double uu = 0, uv = 0, vv = 0, u1 = 0, v1 = 0;
  for (const auto& [b, t] : pts) {
    if (!(t > 0) || !(b > 0)) continue;
    const double u = 1 / t, v = b / t;
    uu += u * u, uv += u * v, vv += v * v, u1 += u, v1 += v;
  }
  AlphaBeta f;
  if (!(uu > 0)) return f;
  const double det = uu * vv - uv * uv;
  double alpha = 0, gamma = 0;
  if (det > 1e-12 * uu * vv) {
    alpha = (u1 * vv - v1 * uv) / det;
    gamma = (v1 * uu - u1 * uv) / det;
  }
  if (!(det > 1e-12 * uu * vv) || alpha < 0 || gamma < 0) {
    // one parameter: the better of latency only and bandwidth only
    const double a_only = u1 / uu, g_only = vv > 0 ? v1 / vv : 0;
    const double err_a = uu * a_only * a_only - 2 * a_only * u1, err_g = vv * g_only * g_only - 2 * g_only * v1;
    if (gamma < 0 || (alpha >= 0 && err_a <= err_g))
      alpha = a_only, gamma = 0;
    else
      alpha = 0, gamma = g_only;
  }
  f.alpha_s = alpha;
  f.bytes_per_s = gamma > 0 ? 1 / gamma : 0;
  return f;
}

/// Largest |fit - t| / t over the points.
inline double max_relative_error(const AlphaBeta& f, const std::vector<std::pair<double, double>>& pts) noexcept {
  double worst = 0;
  for (const auto& [b, t] : pts)
    if (t > 0) worst = std::max(worst, std::abs(f.at(b) - t) / t);
  return worst;
}

/// The time at `bytes` of a curve given as ascending log(bytes) and log(time)
/// arrays: piecewise linear in log-log between the measured sizes; outside
/// them the alpha-beta line, scaled to pass through the nearest measured
/// point (no jump at the edge of the range). `outside` tells which was used.
inline double interpolate_loglog(const double* log_bytes, const double* log_time, std::size_t n, const AlphaBeta& fit,
                                 double bytes, bool& outside) noexcept {
  outside = false;
  if (n == 0) return fit.at(bytes);
  const double lb = std::log(std::max(bytes, 1.0));
  if (n == 1 || lb < log_bytes[0] || lb > log_bytes[n - 1]) {
    outside = n > 1 || lb != log_bytes[0];
    const std::size_t edge = lb < log_bytes[0] ? 0 : n - 1;
    const double edge_fit = fit.at(std::exp(log_bytes[edge]));
    const double t_edge = std::exp(log_time[edge]);
    return edge_fit > 0 ? t_edge * fit.at(bytes) / edge_fit : t_edge;
  }
  const std::size_t hi = static_cast<std::size_t>(std::upper_bound(log_bytes, log_bytes + n, lb) - log_bytes);
  if (hi >= n) return std::exp(log_time[n - 1]);
  const std::size_t lo = hi - 1;
  const double w = (lb - log_bytes[lo]) / (log_bytes[hi] - log_bytes[lo]);
  return std::exp(log_time[lo] + w * (log_time[hi] - log_time[lo]));
}

}  // namespace detail
}  // namespace hwcal
