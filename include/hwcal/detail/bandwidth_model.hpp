#pragma once
// Achieved bandwidth as a function of the working set, from a profile's
// memory sweep (or, without one, its per-level figures): log-log linear
// between measured working sets, the end values held beyond them. The
// largest working set's figure is the memory's (DRAM/HBM) bandwidth.

#include <hwcal/detail/fast_math.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace hwcal {
namespace detail {

class BandwidthModel {
 public:
  BandwidthModel() = default;
  explicit BandwidthModel(const MemoryCalibration& m) {
    for (const auto& b : m.sweep)
      if (b.gbps > 0) pts_.push_back({std::log2(double(b.working_set_bytes)), std::log2(b.gbps * 1e9)});
    if (pts_.empty())
      for (const auto& l : m.levels)
        if (l.measured_at_bytes > 0) pts_.push_back({std::log2(double(l.measured_at_bytes)), std::log2(l.gbps * 1e9)});
    std::sort(pts_.begin(), pts_.end());
  }

  bool empty() const noexcept { return pts_.empty(); }

  /// Bytes per second at a working set (0 without a memory calibration).
  double at(double working_set_bytes) const noexcept {
    if (pts_.empty()) return 0;
    const double x = fast_log2(std::max(working_set_bytes, 1.0));
    if (x <= pts_.front().first) return fast_exp2(pts_.front().second);
    if (x >= pts_.back().first) return fast_exp2(pts_.back().second);
    const auto it = std::lower_bound(pts_.begin(), pts_.end(), x, [](const auto& p, double v) { return p.first < v; });
    const auto& b = *it;
    const auto& a = *(it - 1);
    const double t = (x - a.first) / (b.first - a.first);
    return fast_exp2(a.second + t * (b.second - a.second));
  }

  /// The fastest point of the sweep (the L1's bandwidth when the sweep is sound).
  double fastest() const noexcept {
    double best = 0;
    for (const auto& p : pts_) best = std::max(best, p.second);
    return pts_.empty() ? 0 : fast_exp2(best);
  }

  /// The memory's bandwidth: the largest working set measured.
  double memory() const noexcept { return pts_.empty() ? 0 : fast_exp2(pts_.back().second); }

 private:
  std::vector<std::pair<double, double>> pts_;  ///< (log2 working set, log2 bytes/s)
};

}  // namespace detail
}  // namespace hwcal
