#pragma once
// Whole-measurement outliers of a curve: a sample that ran far slower per
// unit of work than both its neighbours, one with less work and one with
// more. A measurement taken while the machine was busy can be steady (a
// small spread, no drift: the other process ran the whole time) and still
// be wrong by any factor; this is what gives it away. The calibrator
// measures such samples again (calibrator.hpp) and keeps them only when the
// repeats agree.
//
// "Per unit of work" is the efficiency against the sample's own roofline
// (the mapper's normalisation: FLOPs at the peak, bytes at the bandwidth of
// the working set), so a sample whose data moved to a slower cache level is
// not mistaken for a disturbed one. Neighbours are the nearest samples in
// the curve's feature space (log2 of the shape, ops.hpp) with less and with
// more work; on a one-feature curve, the samples beside it.

#include <hwcal/ops.hpp>

#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

namespace hwcal {
namespace detail {

struct CurvePoint {
  Features x{};
  int dims = 0;
  double work = 0;     ///< FLOPs + bytes: orders the neighbours
  double log_eff = 0;  ///< log(efficiency) (or of work per second): higher is faster
};

/// Factor by which a sample must be slower than both neighbours to be suspect.
inline constexpr double outlier_factor = 1.5;

/// For each point, how many times slower per unit of work it ran than the
/// slower of its two neighbours (so > 1 means slower than both), 0 where it
/// lacks a neighbour on either side.
inline std::vector<double> slowdown_vs_neighbours(const std::vector<CurvePoint>& pts) {
  std::vector<double> out(pts.size(), 0.0);
  for (std::size_t i = 0; i < pts.size(); ++i) {
    double best_lo = std::numeric_limits<double>::max(), best_hi = best_lo;
    std::size_t lo = pts.size(), hi = pts.size();
    for (std::size_t j = 0; j < pts.size(); ++j) {
      if (j == i || pts[j].work == pts[i].work) continue;
      double d2 = 0;
      for (int d = 0; d < pts[i].dims; ++d) {
        const double diff =
            double(pts[i].x[static_cast<std::size_t>(d)]) - double(pts[j].x[static_cast<std::size_t>(d)]);
        d2 += diff * diff;
      }
      // ties in distance go to the neighbour closest in work
      d2 += 1e-9 * std::abs(std::log(pts[j].work / pts[i].work));
      if (pts[j].work < pts[i].work && d2 < best_lo) best_lo = d2, lo = j;
      if (pts[j].work > pts[i].work && d2 < best_hi) best_hi = d2, hi = j;
    }
    if (lo == pts.size() || hi == pts.size()) continue;
    out[i] = std::exp(std::min(pts[lo].log_eff, pts[hi].log_eff) - pts[i].log_eff);
  }
  return out;
}

}  // namespace detail
}  // namespace hwcal
