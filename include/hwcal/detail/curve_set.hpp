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
//
// Algorithm families (OpSample::family): where a library switches family by
// shape (PyTorch's CPU 1x1 convolution: im2col + GEMM below 16 images at one
// thread, oneDNN from 16, 3-5x faster), efficiency is not a function of the
// features across the switch, and a neighbour of the other family pulls an
// interpolation into the wrong regime (batch-8 layers predicted 0.3-0.7x of
// their time from batch-32 samples of the same rows). A curve whose samples
// name two or more families keeps one block per family; a query takes the
// family of its nearest sample of the same window (kernel, stride and
// dilation: libraries switch on them outright, e.g. ATen runs every strided
// convolution through oneDNN), any sample when none has it, the batch counted
// beside the features (families switch by batch, which the features merge
// with the map), and is interpolated within that family's block.

#include <hwcal/detail/channel_tiles.hpp>
#include <hwcal/detail/fit.hpp>
#include <hwcal/detail/interpolate.hpp>
#include <hwcal/estimate.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
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
  PointBlock warm;  ///< log efficiency of the warm samples (empty when split by family, below)
  PointBlock cold;  ///< of the cold samples (devices); empty when not measured
  /// Algorithm families (see above): 0 when the samples name fewer than two;
  /// else family f's warm samples are block family[f], and the samples'
  /// (features, batch, family) are CurveSet's members [sites, sites + site_count).
  int families = 0;
  std::array<PointBlock, 4> family{};
  std::uint32_t sites = 0, site_count = 0;
  /// CPU convolutions: log of the median ratio, over the curve's pairs, of
  /// the twin's efficiency on the channel tile to the off-tile sample's
  /// (detail/channel_tiles.hpp); 0 without pairs.
  double tail_log = 0;
  int tail_pairs = 0;
};

/// The batch a query is classified by beside its features (Curve::families):
/// images of a convolution or pooling, 1 for other shapes.
inline double batch_of(const OpDesc& op) noexcept {
  if (const auto* c = std::get_if<Conv2dShape>(&op.shape)) return double(c->n);
  if (const auto* p = std::get_if<Pool2dShape>(&op.shape)) return double(p->n);
  return 1;
}

/// The window a query is classified within (Curve::families): a
/// convolution's or pool's kernel, stride and dilation in one number (each
/// field below 2^10 counts as itself, larger ones share a value); 0 for
/// other shapes.
inline std::uint64_t window_of(const OpDesc& op) noexcept {
  std::uint64_t w = 0;
  const auto put = [&w](i64 v) { w = (w << 10) | static_cast<std::uint64_t>(std::clamp<i64>(v, 0, 1023)); };
  if (const auto* c = std::get_if<Conv2dShape>(&op.shape)) {
    for (i64 v : {c->r, c->s, c->stride_h, c->stride_w, c->dil_h, c->dil_w}) put(v);
  } else if (const auto* p = std::get_if<Pool2dShape>(&op.shape)) {
    for (i64 v : {p->r, p->s, p->stride_h, p->stride_w}) put(v);
  }
  return w;
}

class CurveSet {
 public:
  /// `ideal(op, precision, cold)`: the roofline time of a shape (warm: its
  /// data at the bandwidth of its own working set; cold: from memory).
  /// `fixed_costs`: CPU curves carry a per-call fixed cost; device curves a floor.
  /// `extra(op, precision, features)`: may append a feature (the mapper's
  /// regime coordinate of GEMMs, a device convolution's batch); the same call must be made on queries.
  /// `lookup`: interpolation computed per query, or tabulated (interpolate.hpp).
  template <class Ideal, class Extra>
  CurveSet(const HardwareCalibration& profile, int threads, bool fixed_costs, double overhead_s, Lookup lookup,
           Ideal&& ideal, Extra&& extra)
      : points_(lookup), tile_(detail::channel_tile(profile.host.isa)) {
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
    // The precision ladder depends on nothing but the key: walked once here.
    choices_.resize(std::size_t{op_kind_count} * all_precisions.size() * variant_count);
    for (int k = 0; k < op_kind_count; ++k)
      for (Precision p : all_precisions)
        for (int v = 0; v < variant_count; ++v) {
          Choice& ch = choices_[choice_index(static_cast<OpKind>(k), p, static_cast<Variant>(v))];
          const Curve* c = find(static_cast<OpKind>(k), p, static_cast<Variant>(v), ch.warnings);
          for (Precision q : {Precision::fp32, Precision::bf16, Precision::fp16, Precision::tf32, Precision::fp64,
                              Precision::int8, Precision::fp8}) {
            if (c) break;
            if (q == p) continue;
            std::uint32_t w = 0;
            if ((c = find(static_cast<OpKind>(k), q, static_cast<Variant>(v), w)))
              ch.warnings |= w | warn_other_precision;
          }
          ch.curve = c ? static_cast<std::int32_t>(c - curves_.data()) : -1;
        }
  }

  /// The curve of (op, precision, variant) as find() gives it, else the op's
  /// curve at another precision (the first of fp32, bf16, fp16, tf32, fp64,
  /// int8, fp8 that has one; flagged), or null.
  const Curve* choose(OpKind k, Precision p, Variant v, std::uint32_t& warnings) const noexcept {
    const Choice& ch = choices_[choice_index(k, p, v)];
    if (ch.curve < 0) return nullptr;
    warnings |= ch.warnings;
    return &curves_[static_cast<std::size_t>(ch.curve)];
  }

  /// The curve of (op, precision, variant); another variant of the op when
  /// that one is missing (flagged), or null.
  const Curve* find(OpKind k, Precision p, Variant v, std::uint32_t& warnings) const noexcept {
    const auto& slot = by_key_[index(k)][index(p)];
    const Variant nchw = nchw_variant(v);
    // the stand-in: the same convolution in NCHW, else (grouped) a dense one,
    // which a grouped convolution resembles more than a depthwise one, in its
    // own layout first, else any
    const bool nhwc = nchw != v;
    auto rank = [&](Variant c) {
      if (c == nchw) return 4;
      if (nchw == Variant::grouped && nchw_variant(c) == Variant::dense) return (nchw_variant(c) != c) == nhwc ? 3 : 2;
      return 1;
    };
    const Curve* any = nullptr;
    int best = 0;
    for (int i : slot) {
      const Curve& c = curves_[static_cast<std::size_t>(i)];
      if (c.variant == v) return &c;
      if (const int r = rank(c.variant); r > best) best = r, any = &c;
    }
    if (any) warnings |= warn_other_variant;
    return any;
  }

  /// Interpolated log efficiency of a curve at features x of shape `op`
  /// (cold: the cold samples, when the curve has them).
  Interpolated efficiency(const Curve& c, const Features& x, const OpDesc& op, bool cold = false) const noexcept {
    if (cold && c.cold.n > 0) return points_.interpolate(c.cold, x);
    if (c.families < 2) return points_.interpolate(c.warm, x);
    // the family of the nearest sample of the same window (any, when none
    // has it), the batch a coordinate beside the features: one pass keeps both
    const std::uint64_t window = window_of(op);
    const float b = static_cast<float>(std::log2(std::max(batch_of(op), 1.0)));
    float best[2] = {std::numeric_limits<float>::max(), std::numeric_limits<float>::max()};  // any, same window
    int f[2] = {-1, -1};
    for (std::uint32_t i = c.sites; i < c.sites + c.site_count; ++i) {
      const Site& s = sites_[i];
      float d2 = (s.batch - b) * (s.batch - b);
      for (int d = 0; d < c.dims; ++d) {
        const float t = s.x[static_cast<std::size_t>(d)] - x[static_cast<std::size_t>(d)];
        d2 += t * t;
      }
      for (int k = 0; k < 1 + (s.window == window); ++k)
        if (d2 < best[k]) best[k] = d2, f[k] = s.family;
    }
    return points_.interpolate(c.family[static_cast<std::size_t>(f[1] >= 0 ? f[1] : f[0])], x);
  }

  const std::vector<Curve>& curves() const noexcept { return curves_; }
  i64 channel_tile() const noexcept { return tile_; }

  /// What an op's log efficiency loses to its channels' tail: the curve's
  /// tail ratio (Curve::tail_log) for a convolution off the host's channel
  /// tile, else 0.
  double tail(const Curve& c, const OpDesc& op) const noexcept {
    if (c.tail_log == 0) return 0;
    const auto* s = std::get_if<Conv2dShape>(&op.shape);
    return s && off_tile(*s, tile_) ? c.tail_log : 0;
  }

 private:
  static constexpr std::size_t index(Precision p) noexcept { return static_cast<std::size_t>(p); }
  static constexpr std::size_t index(OpKind k) noexcept { return static_cast<std::size_t>(k); }
  static constexpr std::size_t choice_index(OpKind k, Precision p, Variant v) noexcept {
    return (index(k) * all_precisions.size() + index(p)) * variant_count + static_cast<std::size_t>(v);
  }

  /// What choose() returns for a key: a curve index (-1: none) and its warnings.
  struct Choice {
    std::int32_t curve = -1;
    std::uint32_t warnings = 0;
  };

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
    // A device's compute sweeps are grids (shapes x batches): a query on a
    // grid line between two samples is read along it (PointStore::on_segment).
    // By `hwcal show --loo` it lowers conv2d, matmul and attention's errors on
    // every GPU profile (the H100 PyTorch-kernel profile's convolutions: 24.2%
    // against 26.9%); on norms it raises them (rmsnorm 36.6% -> 45.6%), and on
    // CPU profiles it is mixed (OpenBLAS conv2d 27.6% -> 28.5%), so those keep
    // the neighbours' mean or the plane (docs/mapper.md).
    const bool segments = !fixed_costs && is_compute_op(c.op);
    // (a floor keeps the net time of launch-bound CPU samples positive)
    auto net = [&](double t) { return fixed_costs ? std::max(t - cv.fixed_s, 1e-3 * t) : t; };
    std::vector<PointStore::Point> warm, cold;
    std::vector<std::string> names;     // the families, in order of first sample
    std::vector<int> family;            // of each warm point
    std::vector<float> batch;           // log2 batch_of, of each warm point
    std::vector<std::uint64_t> window;  // window_of, of each warm point
    // Samples the calibrator could not measure cleanly stand in only when
    // the curve has too few others.
    std::size_t clean = 0;
    for (const auto& s : c.samples) clean += s.disturbed.empty();
    const std::vector<bool> paired = tile_pairs(c, cv, fixed_costs, ideal, net);
    for (std::size_t i = 0; i < c.samples.size(); ++i) {
      const OpSample& s = c.samples[i];
      if ((!s.disturbed.empty() && clean >= 2) || paired[i]) continue;
      const auto known = std::find(names.begin(), names.end(), s.family);
      family.push_back(static_cast<int>(known - names.begin()));
      if (known == names.end()) names.push_back(s.family);
      const OpDesc op{c.op, s.shape};
      batch.push_back(static_cast<float>(std::log2(std::max(batch_of(op), 1.0))));
      window.push_back(window_of(op));
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
    // An optional feature the samples never varied (a concat's inputs x
    // largest and input count where every sample is an even pair, as in
    // profiles calibrated before the concat sweep had uneven ones) tells the
    // curve nothing: it is dropped, and a query is read along the others.
    for (int k = 0; k < optional_features(c.op) && cv.dims > 1 && never_varied(warm, cv.dims - 1); ++k) --cv.dims;
    // One block per family, when the samples name 2 to 4 (more: the names are
    // not families but per-shape choices) and each has samples enough to
    // interpolate in (a few launch-bound shapes of another family, as
    // PyTorch's tiniest convolutions at two threads, would otherwise claim
    // the queries nearest them): else the curve stays whole.
    std::vector<std::size_t> per_family(names.size());
    for (int f : family) ++per_family[static_cast<std::size_t>(f)];
    const bool split = names.size() >= 2 && names.size() <= cv.family.size() &&
                       *std::min_element(per_family.begin(), per_family.end()) >= min_family_samples;
    if (split) {
      cv.families = static_cast<int>(names.size());
      cv.sites = static_cast<std::uint32_t>(sites_.size());
      cv.site_count = static_cast<std::uint32_t>(warm.size());
      for (std::size_t f = 0; f < names.size(); ++f) {
        std::vector<PointStore::Point> mine;
        for (std::size_t i = 0; i < warm.size(); ++i)
          if (family[i] == static_cast<int>(f)) mine.push_back(warm[i]);
        cv.family[f] = points_.add(std::move(mine), cv.dims, Interpolation::automatic, segments);
      }
      for (std::size_t i = 0; i < warm.size(); ++i) sites_.push_back({warm[i].x, batch[i], window[i], family[i]});
    }
    // (a curve split by family is read only through its families' blocks)
    if (!split) cv.warm = points_.add(std::move(warm), cv.dims, Interpolation::automatic, segments);
    if (!cold.empty()) cv.cold = points_.add(std::move(cold), cv.dims, Interpolation::automatic, segments);
    curves_.push_back(cv);
  }

  /// CPU convolutions: marks each cleanly measured off-tile sample whose
  /// twin on the tile (detail/channel_tiles.hpp) the curve also measured, and
  /// sets the curve's tail ratio from those pairs. A pair is read as that
  /// ratio, not as points: by every feature the two are neighbours, and an
  /// off-tile point would pull the twin's on-tile neighbours down with it. An
  /// off-tile sample without its twin stays a point, as before pairs existed.
  template <class Ideal, class Net>
  std::vector<bool> tile_pairs(const OperationCalibration& c, Curve& cv, bool cpu, Ideal& ideal, Net& net) const {
    std::vector<bool> paired(c.samples.size());
    if (!cpu || c.op != OpKind::conv2d) return paired;
    auto log_eff = [&](const OpSample& s) {
      const double id = ideal(OpDesc{c.op, s.shape}, c.precision, false);
      return std::log(std::max(id, 1e-30) / net(s.time.median_s));
    };
    std::vector<double> logs;
    for (std::size_t i = 0; i < c.samples.size(); ++i) {
      const auto* s = std::get_if<Conv2dShape>(&c.samples[i].shape);
      if (!s || !c.samples[i].disturbed.empty() || !off_tile(*s, tile_)) continue;
      const Conv2dShape t = tile_twin(*s, tile_);
      for (const OpSample& u : c.samples) {
        const auto* q = std::get_if<Conv2dShape>(&u.shape);
        if (!q || !u.disturbed.empty() || !same_conv(*q, t)) continue;
        logs.push_back(log_eff(u) - log_eff(c.samples[i]));
        paired[i] = true;
        break;
      }
    }
    if (logs.empty()) return paired;
    std::sort(logs.begin(), logs.end());
    const std::size_t m = logs.size() / 2;
    cv.tail_log = logs.size() % 2 ? logs[m] : 0.5 * (logs[m - 1] + logs[m]);
    cv.tail_pairs = static_cast<int>(logs.size());
    return paired;
  }

  /// Whether feature j is the same at every point, or equals one earlier
  /// feature at every point (log2 values: within 0.001, a 0.07% difference).
  static bool never_varied(const std::vector<PointStore::Point>& pts, int j) {
    const auto ju = static_cast<std::size_t>(j);
    for (std::size_t i = 0; i <= ju; ++i) {  // i == j: against its own first value
      bool same = true;
      for (const auto& p : pts) same = same && std::abs(p.x[ju] - (i == ju ? pts.front().x[ju] : p.x[i])) <= 1e-3f;
      if (same) return true;
    }
    return false;
  }

  /// Samples each family needs for a curve to be split by family.
  static constexpr std::size_t min_family_samples = 8;

  /// A warm sample of a curve of several families: where it lies, its family.
  struct Site {
    Features x;
    float batch;           ///< log2 batch_of
    std::uint64_t window;  ///< window_of
    int family;
  };

  std::vector<Curve> curves_;
  std::vector<Site> sites_;
  PointStore points_;
  i64 tile_;  ///< the host's channel tile (CPU convolutions)
  std::array<std::array<std::vector<int>, all_precisions.size()>, op_kind_count> by_key_;
  std::vector<Choice> choices_;  ///< by choice_index
};

}  // namespace detail
}  // namespace hwcal
