#pragma once
// Measured fusion speedups (unfused chain time / fused time) per pattern and
// precision, interpolated over the anchor op's features like op
// efficiencies (interpolate.hpp).

#include <hwcal/detail/interpolate.hpp>
#include <hwcal/estimate.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace hwcal {
namespace detail {

class FusionTable {
 public:
  FusionTable() = default;
  explicit FusionTable(const std::vector<FusionCalibration>& fusions, Lookup lookup = Lookup::exact) : points_(lookup) {
    for (const auto& f : fusions) {
      std::vector<PointStore::Point> pts;
      int dims = 0;
      for (const auto& s : f.samples) {
        if (s.fused.median_s <= 0 || s.unfused.median_s <= 0) continue;
        const FeatureSet x = features(OpDesc{fusion_anchor(f.pattern), s.shape});
        dims = x.count;
        // a speedup is a ratio of two measured times: clamped to [1/100, 100]
        // (a corrupt or hand-made profile), spreads to 3 in log space
        pts.push_back({x.x, float(std::log(std::clamp(s.speedup(), 0.01, 100.0))),
                       float(std::min(s.fused.rel_spread() + s.unfused.rel_spread(), 3.0))});
      }
      if (!pts.empty()) entries_.push_back({f.pattern, f.precision, points_.add(std::move(pts), dims)});
    }
    // Which entry a (pattern, precision) reads: that precision's last one, else the pattern's first.
    for (int f = 0; f < fusion_pattern_count; ++f)
      for (Precision p : all_precisions) {
        int& best = chosen_[static_cast<std::size_t>(f)][static_cast<std::size_t>(p)];
        for (std::size_t i = 0; i < entries_.size(); ++i)
          if (static_cast<int>(entries_[i].pattern) == f && (entries_[i].precision == p || best == 0))
            best = static_cast<int>(i) + 1;
      }
  }

  /// The speedup of pattern f for subgraph g, whose main op has features
  /// `main` (its precision's measurement, else another precision's, flagged);
  /// false when the pattern was not measured.
  bool speedup(FusionPattern f, const Subgraph& g, const Features& main, double& speedup, double& spread,
               std::uint32_t& warnings) const noexcept {
    const int i = chosen_[static_cast<std::size_t>(f)][static_cast<std::size_t>(g.precision)];
    if (i == 0) return false;
    const Entry* best = &entries_[static_cast<std::size_t>(i - 1)];
    if (best->precision != g.precision) warnings |= warn_fusion_other;
    Interpolated r;
    if (f == FusionPattern::qkt_softmax) {
      // a matmul + softmax subgraph is the QK^T half of attention
      const auto& s = std::get<MatmulShape>(g.op.shape);
      r = points_.interpolate(best->points,
                              features(OpDesc{OpKind::attention, AttentionShape{s.batch, 1, s.m, s.n, s.k, false}}).x);
    } else {
      r = points_.interpolate(best->points, main);
    }
    speedup = fast_exp(r.value);
    spread = r.spread;
    return true;
  }

 private:
  struct Entry {
    FusionPattern pattern;
    Precision precision;
    PointBlock points;
  };
  std::vector<Entry> entries_;
  /// 1 + the entry index of (pattern, precision); 0: the pattern was not measured.
  std::array<std::array<int, all_precisions.size()>, fusion_pattern_count> chosen_{};
  PointStore points_;
};

}  // namespace detail
}  // namespace hwcal
