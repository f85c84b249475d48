#pragma once
// The curves of a profile as the mapper reads them: per (op, precision,
// variant), the measured samples turned into efficiencies against the
// roofline ideal of their own shape, in feature space, ready to interpolate.
//
// Why efficiency and not throughput: an op's time between two measured
// shapes follows its roofline (FLOPs at the peak, bytes at the bandwidth of
// its working set) far more closely than a blend of its neighbours'
// throughputs, which may sit in other regimes (an in-cache GEMV beside a
// DRAM-bound one, a launch-bound kernel beside a saturated one). So each
// sample stores log(ideal / time), and a prediction is ideal(shape) /
// interpolated efficiency: the roofline supplies the shape's first-order
// dependence, the measurements what the hardware and library add.

#include <hwcal/detail/fit.hpp>
#include <hwcal/detail/interpolate.hpp>
#include <hwcal/estimate.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace hwcal {
namespace detail {

struct Curve {
  OpKind op = OpKind::matmul;
  Precision precision = Precision::fp32;
  Variant variant = Variant::none;
  int dims = 0;
  bool other_threads = false;
  /// CPU: the fixed cost of one call of this op (subtracted from every
  /// sample, added back once); devices: 0 (a graph launch is part of the time).
  double fixed_s = 0;
  /// Devices: the shortest time of any sample, the floor below which no
  /// launch of this op goes; 0 on CPUs.
  double floor_s = 0;
  PointBlock warm;  ///< log efficiency of the warm samples
  PointBlock cold;  ///< of the cold samples (devices); empty when not measured
};

class CurveSet {
 public:
  /// `ideal(op, precision, cold)`: the roofline time of a shape (warm: its
  /// data at the bandwidth of its own working set; cold: from memory).
  /// `fixed_costs`: CPU curves carry a per-call fixed cost; device curves a floor.
  /// `extra(op, precision, features)`: may append a feature (the mapper's
  /// regime coordinate of GEMMs); the same call must be made on queries.
  /// `lookup`: interpolation computed per query, or tabulated (interpolate.hpp).
  template <class Ideal, class Extra>
  CurveSet(const HardwareCalibration& profile, int threads, bool fixed_costs, double overhead_s, Lookup lookup,
           Ideal&& ideal, Extra&& extra)
      : points_(lookup) {
    // Per (op, precision): the curves at the requested thread count, or, when
    // the profile has none, every curve at the nearest thread count measured.
    std::array<std::array<int, all_precisions.size()>, op_kind_count> chosen{};
    auto distance = [threads](int x) { return std::abs(std::log(double(x) / double(threads))); };
    for (const auto& c : profile.operations) {
      int& t = chosen[index(c.op)][index(c.precision)];
      if (!c.samples.empty() && (t == 0 || distance(c.threads) < distance(t))) t = c.threads;
    }
    for (const auto& c : profile.operations) {
      if (c.samples.empty() || c.threads != chosen[index(c.op)][index(c.precision)]) continue;
      by_key_[index(c.op)][index(c.precision)].push_back(static_cast<int>(curves_.size()));
      add(c, c.threads != threads, fixed_costs, overhead_s, ideal, extra);
    }
  }

  /// The curve of (op, precision, variant); another variant of the op when
  /// that one is missing (flagged), or null.
  const Curve* find(OpKind k, Precision p, Variant v, std::uint32_t& warnings) const noexcept {
    const auto& slot = by_key_[index(k)][index(p)];
    const Curve* any = nullptr;
    for (int i : slot) {
      const Curve& c = curves_[static_cast<std::size_t>(i)];
      if (c.variant == v) return &c;
      // grouped convolutions behave like dense ones more than like depthwise
      if (!any || (v == Variant::grouped && c.variant == Variant::dense)) any = &c;
    }
    if (any) warnings |= warn_other_variant;
    return any;
  }

  /// Interpolated log efficiency of a curve at features x (cold: the cold
  /// samples, when the curve has them).
  Interpolated efficiency(const Curve& c, const Features& x, bool cold = false) const noexcept {
    return points_.interpolate(cold && c.cold.n > 0 ? c.cold : c.warm, x);
  }

  const std::vector<Curve>& curves() const noexcept { return curves_; }

 private:
  static constexpr std::size_t index(Precision p) noexcept { return static_cast<std::size_t>(p); }
  static constexpr std::size_t index(OpKind k) noexcept { return static_cast<std::size_t>(k); }

  template <class Ideal, class Extra>
  void add(const OperationCalibration& c, bool other_threads, bool fixed_costs, double overhead_s, Ideal& ideal,
           Extra& extra) {
    Curve cv;
    cv.op = c.op;
    cv.precision = c.precision;
    cv.variant = c.variant;
    cv.other_threads = other_threads;
    if (fixed_costs) {
      // A CPU call's fixed cost differs by op (a oneDNN convolution pays far
      // more than an elementwise loop): the intercept of time vs work over the
      // curve's smallest samples, at least the backend's per-call overhead.
      cv.fixed_s = overhead_s;
      std::vector<std::pair<double, double>> pts;
      for (std::size_t i = 0; i < c.samples.size(); ++i)
        if (c.samples[i].disturbed.empty()) pts.push_back({work(c.desc(i), c.precision), c.samples[i].time.median_s});
      if (const auto a = fixed_cost(pts)) cv.fixed_s = std::max(cv.fixed_s, *a);
    } else {
      cv.floor_s = std::numeric_limits<double>::max();
      for (const auto& s : c.samples) cv.floor_s = std::min(cv.floor_s, s.time.median_s);
    }
    // (a floor keeps the net time of launch-bound CPU samples positive)
    auto net = [&](double t) { return fixed_costs ? std::max(t - cv.fixed_s, 1e-3 * t) : t; };
    std::vector<PointStore::Point> warm, cold;
    // Samples the calibrator could not measure cleanly stand in only when
    // the curve has too few others.
    std::size_t clean = 0;
    for (const auto& s : c.samples) clean += s.disturbed.empty();
    for (const auto& s : c.samples) {
      if (!s.disturbed.empty() && clean >= 2) continue;
      const OpDesc op{c.op, s.shape};
      FeatureSet f = features(op);
      extra(op, c.precision, f);
      cv.dims = f.count;
      auto point = [&](const TimeStats& t, bool is_cold) {
        const double id = ideal(op, c.precision, is_cold);
        // efficiencies outside [1e-12, 1e12] are not measurements (a corrupt
        // or hand-made profile); clamped so every prediction stays finite
        const double eff = std::clamp(id > 0 ? id / net(t.median_s) : 1e-9, 1e-12, 1e12);
        return PointStore::Point{f.x, float(std::log(eff)), float(std::min(t.rel_spread(), 3.0))};
      };
      warm.push_back(point(s.time, false));
      if (s.cold) cold.push_back(point(*s.cold, true));
    }
    cv.warm = points_.add(std::move(warm), cv.dims, Interpolation::automatic);
    if (!cold.empty()) cv.cold = points_.add(std::move(cold), cv.dims, Interpolation::automatic);
    curves_.push_back(cv);
  }

  std::vector<Curve> curves_;
  PointStore points_;
  std::array<std::array<std::vector<int>, all_precisions.size()>, op_kind_count> by_key_;
};

}  // namespace detail
}  // namespace hwcal
