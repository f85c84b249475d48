#pragma once
// RooflineMapper: the datasheet-roofline baseline every prediction is
// compared with. latency = max(flops / peak, bytes / memory bandwidth), no
// measured efficiencies, no overheads; ops folded into a main op are free
// (ideal fusion: only the main op's FLOPs and bytes). The peak is the
// profile's theoretical one for the precision, the bandwidth the memory's
// (largest working set of the sweep). Collectives are not modelled (latency
// 0, warn_no_collective): the profile holds no datasheet link bandwidth.

#include <hwcal/detail/bandwidth_model.hpp>
#include <hwcal/estimate.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <array>

namespace hwcal {

class RooflineMapper {
 public:
  explicit RooflineMapper(const HardwareCalibration& profile) : bw_(profile.memory) {
    for (const auto& p : profile.peaks)
      if (p.gflops) peak_[static_cast<std::size_t>(p.precision)] = *p.gflops * 1e9;
  }

  Estimate estimate(const Subgraph& g, const SequenceContext& = {}) const noexcept {
    Estimate e;
    // A collective is bound by links a profile has no datasheet figure for.
    if (is_collective(g.op.kind)) {
      e.warnings |= warn_no_collective;
      return e;
    }
    double peak = peak_[static_cast<std::size_t>(g.precision)];
    if (!(peak > 0)) {
      e.warnings |= warn_no_peak;
      peak = peak_[static_cast<std::size_t>(Precision::fp32)];
    }
    const Counts n = counts(g.op, g.precision);
    e.compute_s = peak > 0 ? n.flops / peak : 0;
    if (bw_.empty()) e.warnings |= warn_no_bandwidth;
    e.memory_s = bw_.empty() ? 0 : n.bytes / bw_.memory();
    e.latency_s = e.in_sequence_s = e.device_s = std::max(e.compute_s, e.memory_s);
    e.bound = e.compute_s >= e.memory_s ? Bound::compute : Bound::memory;
    e.interval_lo_s = e.interval_hi_s = e.latency_s;
    return e;
  }

 private:
  std::array<double, all_precisions.size()> peak_{};
  detail::BandwidthModel bw_;
};

}  // namespace hwcal
