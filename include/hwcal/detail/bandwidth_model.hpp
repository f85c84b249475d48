#pragma once
// Achieved bandwidth as a function of the working set, from a profile's
// memory sweep (or, without one, its per-level figures): log-log linear
// between measured working sets, the end values held beyond them. The
// largest working set's figure is the memory's (DRAM/HBM) bandwidth.
//
// The mapper asks for a bandwidth on every estimate, so at() does no log or
// exp: the log-log curve is tabulated when the model is built, in cells of
// 1/64 of an octave read straight from the bits of the working set (its
// exponent and the top 6 bits of its mantissa), and is linear in the working
// set inside a cell. A sweep point inside a cell splits it, so measured
// points come out as measured and the kinks between cache levels stay
// sharp; the only error is the curvature of a power law over 1.6% of a
// working set: |s (s - 1)| / 8 x (1/64)^2 of the value at a log-log slope s,
// 1e-4 at s = -2.5 (a cache edge), 1.2e-3 at the steepest slope a sweep has
// shown (-6, a quarter-octave step from L2 to L3).

#include <hwcal/schema.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace hwcal {
namespace detail {

class BandwidthModel {
 public:
  BandwidthModel() = default;
  explicit BandwidthModel(const MemoryCalibration& m) {
    for (const auto& b : m.sweep)
      if (b.gbps > 0 && b.working_set_bytes > 0)
        pts_.push_back({std::log2(double(b.working_set_bytes)), std::log2(b.gbps * 1e9)});
    if (pts_.empty())
      for (const auto& l : m.levels)
        if (l.measured_at_bytes > 0 && l.gbps > 0)
          pts_.push_back({std::log2(double(l.measured_at_bytes)), std::log2(l.gbps * 1e9)});
    std::sort(pts_.begin(), pts_.end());
    if (pts_.empty()) return;
    front_ = std::exp2(pts_.front().second);
    back_ = std::exp2(pts_.back().second);
    lo_ = std::exp2(pts_.front().first);
    hi_ = std::exp2(pts_.back().first);
    first_cell_ = cell_of(lo_);
    const std::uint64_t last = cell_of(hi_);
    cells_.resize(static_cast<std::size_t>(last - first_cell_ + 1));
    std::size_t next = 0;  // the first sweep point above the cell's start
    double at_start = exact(cell_start(first_cell_));
    for (std::uint64_t k = first_cell_; k <= last; ++k) {
      const double start = cell_start(k), end = cell_start(k + 1), at_end = exact(end);
      while (next < pts_.size() && std::exp2(pts_[next].first) <= start) ++next;
      const double split = next < pts_.size() ? std::exp2(pts_[next].first) : end;
      Cell& c = cells_[static_cast<std::size_t>(k - first_cell_)];
      c.bw0 = static_cast<float>(at_start);
      if (split < end) {
        const double at_split = exact(split);
        c.split = static_cast<float>(split);
        c.bw1 = static_cast<float>(at_split);
        c.s0 = static_cast<float>((at_split - at_start) / (split - start));
        c.s1 = static_cast<float>((at_end - at_split) / (end - split));
      } else {
        c.s0 = static_cast<float>((at_end - at_start) / (end - start));
      }
      at_start = at_end;  // the next cell starts where this one ends
    }
  }

  bool empty() const noexcept { return pts_.empty(); }

  /// Bytes per second at a working set (0 without a memory calibration).
  double at(double working_set_bytes) const noexcept {
    if (cells_.empty()) return 0;
    const double x = working_set_bytes;
    if (!(x > lo_)) return front_;
    if (x >= hi_) return back_;
    const std::uint64_t k = cell_of(x);
    const Cell& c = cells_[static_cast<std::size_t>(k - first_cell_)];
    return x < c.split ? c.bw0 + (x - cell_start(k)) * double(c.s0) : c.bw1 + (x - double(c.split)) * double(c.s1);
  }

  /// The fastest point of the sweep (the L1's bandwidth when the sweep is sound).
  double fastest() const noexcept {
    double best = 0;
    for (const auto& p : pts_) best = std::max(best, p.second);
    return pts_.empty() ? 0 : std::exp2(best);
  }

  /// The memory's bandwidth: the largest working set measured.
  double memory() const noexcept { return back_; }

 private:
  /// A 1/64-octave cell: linear from its start to `split` (a sweep point
  /// inside it, else +inf), and from there to its end.
  struct Cell {
    float split = std::numeric_limits<float>::infinity();
    float bw0 = 0, s0 = 0;  ///< bytes/s at the start, slope per byte
    float bw1 = 0, s1 = 0;  ///< at the split, slope after it
  };

  static constexpr int mantissa_bits = 6;  ///< 64 cells per octave
  static constexpr int shift = 52 - mantissa_bits;

  static std::uint64_t cell_of(double x) noexcept {
    std::uint64_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return bits >> shift;
  }
  static double cell_start(std::uint64_t k) noexcept {
    const std::uint64_t bits = k << shift;
    double x;
    std::memcpy(&x, &bits, sizeof x);
    return x;
  }

  /// The log-log interpolation itself (construction only).
  double exact(double x) const noexcept {
    const double l = std::log2(x);
    if (l <= pts_.front().first) return front_;
    if (l >= pts_.back().first) return back_;
    const auto b = std::lower_bound(pts_.begin(), pts_.end(), l, [](const auto& p, double v) { return p.first < v; });
    const auto a = b - 1;
    return std::exp2(a->second + (l - a->first) / (b->first - a->first) * (b->second - a->second));
  }

  std::vector<std::pair<double, double>> pts_;  ///< (log2 working set, log2 bytes/s), sorted
  std::vector<Cell> cells_;                     ///< from the first point's cell to the last one's
  std::uint64_t first_cell_ = 0;
  double lo_ = 0, hi_ = 0;       ///< the smallest and the largest working set measured
  double front_ = 0, back_ = 0;  ///< bytes/s at those
};

}  // namespace detail
}  // namespace hwcal
