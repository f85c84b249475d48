#pragma once
// Achieved bandwidth as a function of the working set, from a profile's
// memory sweep (or, without one, its per-level figures): log-log linear
// between measured working sets, the end values held beyond them. The
// largest working set's figure is the memory's (DRAM/HBM) bandwidth.

#include <hwcal/detail/fast_math.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
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
    if (pts_.empty()) return;
    front_ = fast_exp2(pts_.front().second);
    back_ = fast_exp2(pts_.back().second);
    // cell c (a quarter octave from the first point) starts at segment
    // first_[c]: the last point below the cell's start, so that at() steps
    // forward a point or two instead of bisecting the sweep on every estimate
    const double span = pts_.back().first - pts_.front().first;
    first_.resize(static_cast<std::size_t>(span * cells_per_octave) + 1);
    std::size_t i = 0;
    for (std::size_t c = 0; c < first_.size(); ++c) {
      const double start = pts_.front().first + double(c) / cells_per_octave;
      while (i + 2 < pts_.size() && pts_[i + 1].first < start) ++i;
      first_[c] = static_cast<std::uint32_t>(i);
    }
  }

  bool empty() const noexcept { return pts_.empty(); }

  /// Bytes per second at a working set (0 without a memory calibration).
  double at(double working_set_bytes) const noexcept {
    if (pts_.empty()) return 0;
    const double x = fast_log2(std::max(working_set_bytes, 1.0));
    if (x <= pts_.front().first) return front_;
    if (x >= pts_.back().first) return back_;
    // the segment [a, b] with a < x <= b (the first b at or above x)
    const auto c = static_cast<std::size_t>((x - pts_.front().first) * cells_per_octave);
    std::size_t i = first_[std::min(c, first_.size() - 1)];
    while (pts_[i + 1].first < x) ++i;
    const auto& a = pts_[i];
    const auto& b = pts_[i + 1];
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
  double memory() const noexcept { return back_; }

 private:
  static constexpr double cells_per_octave = 4;
  std::vector<std::pair<double, double>> pts_;  ///< (log2 working set, log2 bytes/s)
  std::vector<std::uint32_t> first_;            ///< per quarter octave: the segment at() starts from
  double front_ = 0, back_ = 0;                 ///< bytes/s at the smallest and the largest working set
};

}  // namespace detail
}  // namespace hwcal
