#pragma once
// CalibratedMapper: latency of a subgraph from a profile.
//
//   latency = overhead + max(compute, memory)           CPU: the call's fixed cost adds
//   latency = max(overhead, max(compute, memory))      GPU: launch overlaps device work
//   compute ops (matmul, linear, conv2d, attention):
//     compute = flops / rate(op, shape)      rate interpolated from the curve
//     memory  = bytes / bandwidth(working set)   from the memory sweep
//   memory ops (everything else):
//     memory  = bytes / rate(op, shape)      the op's own achieved bandwidth
//     compute = flops / peak
// rate(op, shape) is interpolated in the op's feature space (log2 of the shape
// dimensions that move it, ops.hpp features()): the k nearest samples of the
// curve, weighted by inverse squared distance, on log(rate); along one axis
// this is linear interpolation in log-log between the bracketing sizes.
// Beyond the measured range the nearest samples' rates are held (throughput
// saturates; along one axis, the end sample's) and the estimate carries an
// `extrapolated` warning once a feature is more than 2x outside the range;
// a memory op larger than its curve's largest sample has that sample's rate
// scaled by the memory sweep's bandwidth ratio between the two sizes (the
// data moves out a cache level, the kernel does not change). Rates are taken net of
// the backend's per-call overhead, which is added back once.
//
// Two latencies per estimate: `latency_s`, the subgraph run on its own (data
// warm, as the calibration's repeated timing and as timing one layer in
// isolation), and `in_sequence_s`, the subgraph inside a model's forward pass
// (CPU targets; devices are timed with the L2 flushed and need no second
// figure). Run alone and repeated, an op finds its data at the cache level
// its own bytes B fit in; inside a forward pass, the weights were last read a
// pass ago, the output lands in a block last used layers ago, and even the
// input, just written, shares the caches with everything the previous layer
// and the framework touched in between. So the op's bytes are taken at the
// memory sweep's bandwidth for the bytes the whole pass moves, P
// (SequenceContext), instead of for B:
//   extra = B x max(0, 1/bw(max(P, B)) - 1/bw(B))
// A model's total is the sum of in_sequence_s.
//
// Fused subgraphs (conv2d + batchnorm + relu, linear + relu/gelu, matmul +
// softmax) are predicted as the unfused chain divided by the measured fusion
// speedup of their pattern. The roofline baseline treats folded ops as free
// (ideal fusion: only the main op's FLOPs and bytes).
//
// Fallbacks, each flagged in Estimate::warnings, never silent:
//   no curve at the precision  -> the op's curve at another precision, scaled
//                                 by the ratio of peaks (compute ops) or as is
//                                 (bandwidth-bound ops, bytes already scale)
//   no curve for the variant   -> another variant of the op (grouped -> dense)
//   no curve for the op        -> conv2d/attention/linear as their equivalent
//                                 GEMM on the matmul curve; otherwise half the
//                                 peak (compute) or the memory sweep (others)
//   fusion pattern unmeasured  -> the unfused chain
//
// The mapper is immutable after construction, so it is thread-safe, and
// estimate() allocates nothing.

#include <hwcal/detail/fit.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace hwcal {

/// Bit of an op in Subgraph::fused.
constexpr std::uint32_t fused_bit(OpKind k) noexcept { return 1u << static_cast<unsigned>(k); }

/// Ops that may be folded into a main op: batchnorm, softmax and the unary
/// activations.
constexpr bool is_fusable(OpKind k) noexcept {
  return k == OpKind::batchnorm || k == OpKind::softmax || (is_elementwise(k) && k != OpKind::add && k != OpKind::mul && k != OpKind::div);
}

struct Subgraph {
  OpDesc op;
  Precision precision = Precision::fp32;
  std::uint32_t fused = 0;  ///< fused_bit() of each op folded into `op`
};

/// Where a subgraph runs: the bytes its whole forward pass moves, which sets
/// how far out in the memory hierarchy a layer finds its data. 0: unknown.
struct SequenceContext {
  double pass_bytes = 0;
};

/// The context of a workload's subgraphs run one after the other.
template <class It, class Project>
SequenceContext sequence_context(It first, It last, Project graph_of) noexcept {
  SequenceContext c;
  for (; first != last; ++first) {
    const Subgraph& g = graph_of(*first);
    c.pass_bytes += bytes(g.op, g.precision);
  }
  return c;
}

enum class Bound : std::uint8_t { compute, memory, overhead };

constexpr const char* to_string(Bound b) noexcept {
  return b == Bound::compute ? "compute" : b == Bound::memory ? "memory" : "overhead";
}

/// Why an estimate is less than a straight lookup (bit flags).
enum EstimateWarning : std::uint32_t {
  warn_other_precision = 1u << 0,   ///< curve of another precision, scaled
  warn_other_variant = 1u << 1,     ///< curve of another variant of the op
  warn_equivalent_gemm = 1u << 2,   ///< op predicted as its equivalent GEMM
  warn_no_curve = 1u << 3,          ///< no usable curve: default efficiency or roofline
  warn_extrapolated = 1u << 4,      ///< shape outside the measured range
  warn_no_peak = 1u << 5,           ///< no peak for the precision
  warn_fusion_unmeasured = 1u << 6, ///< fusion pattern not in the profile: unfused chain
  warn_fusion_unknown = 1u << 7,    ///< fused ops form no known pattern: unfused chain
  warn_no_bandwidth = 1u << 8,      ///< profile has no memory calibration
  warn_other_threads = 1u << 9,     ///< curve measured at another thread count
  warn_fusion_other = 1u << 10,     ///< fusion speedup measured at another precision
};

struct Estimate {
  /// The subgraph run on its own, repeatedly (its data warm in cache): what
  /// timing one layer in isolation measures. Parts below refer to this.
  double latency_s = 0, compute_s = 0, memory_s = 0, overhead_s = 0;
  /// The subgraph run inside a sequence of others (a model's forward pass):
  /// its bytes at the bandwidth of the pass's footprint (see the top of this
  /// file). Equal to latency_s for devices (timed with the L2 flushed) and
  /// without a SequenceContext.
  double in_sequence_s = 0;
  Bound bound = Bound::compute;
  /// compute ops: achieved / peak of the precision; memory ops: achieved /
  /// memory-sweep bandwidth at the working set. 0 when unknown.
  double efficiency = 0;
  double interval_lo_s = 0, interval_hi_s = 0;
  std::uint32_t warnings = 0;
};

/// Human-readable text of the warning flags of an estimate.
inline std::vector<std::string> warning_messages(std::uint32_t w) {
  std::vector<std::string> out;
  if (w & warn_other_precision)
    out.push_back("no curve at this precision: used another precision's (compute ops scaled by the ratio of peaks where both are known)");
  if (w & warn_other_variant) out.push_back("no curve for this variant: used another variant of the op");
  if (w & warn_equivalent_gemm) out.push_back("no curve for this op: predicted as its equivalent GEMM");
  if (w & warn_no_curve) out.push_back("no curve for this op: assumed half of peak (compute) or the memory sweep (bandwidth)");
  if (w & warn_extrapolated) out.push_back("shape outside the calibrated range: nearest measured throughput held");
  if (w & warn_no_peak) out.push_back("no peak known for this precision");
  if (w & warn_fusion_unmeasured) out.push_back("fusion pattern not calibrated: predicted as the unfused chain");
  if (w & warn_fusion_unknown) out.push_back("fused ops form no known pattern: predicted as the unfused chain");
  if (w & warn_no_bandwidth) out.push_back("profile has no memory calibration: memory time not bounded");
  if (w & warn_other_threads) out.push_back("curve measured at another thread count (the nearest in the profile)");
  if (w & warn_fusion_other) out.push_back("fusion speedup measured at another precision");
  return out;
}

/// The measured fusion pattern a main op with fused ops forms, if any.
inline bool fusion_pattern_of(const Subgraph& g, FusionPattern& out) noexcept {
  const std::uint32_t f = g.fused, relu = fused_bit(OpKind::relu), gelu = fused_bit(OpKind::gelu),
                      bn = fused_bit(OpKind::batchnorm), softmax = fused_bit(OpKind::softmax);
  switch (g.op.kind) {
    case OpKind::linear:
      if (f == relu) return out = FusionPattern::linear_bias_relu, true;
      if (f == gelu) return out = FusionPattern::linear_bias_gelu, true;
      return false;
    case OpKind::conv2d:
      if (f == relu) return out = FusionPattern::conv_relu, true;
      if (f == bn) return out = FusionPattern::conv_bn, true;
      if (f == (bn | relu)) return out = FusionPattern::conv_bn_relu, true;
      return false;
    case OpKind::matmul:
      if (f == softmax) return out = FusionPattern::qkt_softmax, true;
      return false;
    default: return false;
  }
}

struct MapperOptions {
  int threads = 0;  ///< curves of this thread count (0: the profile's)
};

class CalibratedMapper {
 public:
  explicit CalibratedMapper(const HardwareCalibration& profile, MapperOptions opt = {}) {
    threads_ = opt.threads > 0 ? opt.threads : profile.threads;
    overhead_ = profile.overhead.per_call_s;
    for (const auto& [k, v] : profile.overhead.framework_s) framework_[static_cast<std::size_t>(k)] = v;
    // A device runs asynchronously: the host's launch cost of one op overlaps
    // the device executing the previous one, so an op costs the larger of the
    // two. A CPU op runs on the calling thread: the costs add.
    overlap_ = profile.target != "cpu";
    for (const auto& p : profile.peaks)
      if (p.gflops) peak_[index(p.precision)] = *p.gflops * 1e9;
    for (const auto& b : profile.memory.sweep) bw_.push_back({std::log2(double(b.working_set_bytes)), std::log(b.gbps * 1e9)});
    if (bw_.empty())
      for (const auto& l : profile.memory.levels)
        if (l.measured_at_bytes > 0) bw_.push_back({std::log2(double(l.measured_at_bytes)), std::log(l.gbps * 1e9)});
    std::sort(bw_.begin(), bw_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

    // Per (op, precision): the curves at the requested thread count, or, when
    // the profile has none, every curve at the nearest thread count measured.
    std::array<std::array<int, all_precisions.size()>, op_kind_count> chosen{};
    for (const auto& c : profile.operations) {
      int& t = chosen[static_cast<std::size_t>(c.op)][index(c.precision)];
      auto distance = [this](int x) { return std::abs(std::log(double(x) / double(threads_))); };
      if (!c.samples.empty() && (t == 0 || distance(c.threads) < distance(t))) t = c.threads;
    }
    for (const auto& c : profile.operations) {
      if (c.samples.empty() || c.threads != chosen[static_cast<std::size_t>(c.op)][index(c.precision)]) continue;
      by_key_[static_cast<std::size_t>(c.op)][index(c.precision)].push_back(static_cast<int>(curves_.size()));
      add_curve(c, c.threads != threads_);
    }
    for (const auto& f : profile.fusions) {
      FusionCurve fc;
      fc.pattern = f.pattern;
      fc.precision = f.precision;
      for (const auto& s : f.samples) {
        if (s.fused.median_s <= 0 || s.unfused.median_s <= 0) continue;
        fc.points.push_back({features(OpDesc{fusion_anchor(f.pattern), s.shape}), float(std::log(s.speedup())),
                             float(s.fused.rel_spread() + s.unfused.rel_spread())});
      }
      if (!fc.points.empty()) fusions_.push_back(std::move(fc));
    }
  }

  /// Latency of one subgraph. Allocation-free.
  Estimate estimate(const Subgraph& g, const SequenceContext& ctx = {}) const noexcept {
    Estimate e = estimate_op(g.op, g.precision, ctx);
    if (!g.fused) return e;
    // The unfused chain: the main op, then each folded op as its own pass over
    // the main op's output (summed, so their order does not matter).
    double chain = e.latency_s, chain_seq = e.in_sequence_s, lo = e.interval_lo_s, hi = e.interval_hi_s;
    std::uint32_t warnings = e.warnings;
    i64 rows = 0, cols = 0;
    MapShape map;
    output_layout(g.op, rows, cols, map);
    for (int k = 0; k < op_kind_count; ++k) {
      const auto kind = static_cast<OpKind>(k);
      if (!(g.fused & fused_bit(kind))) continue;
      OpDesc pass{kind, ElementwiseShape{rows * cols, 1, 0}};
      if (kind == OpKind::batchnorm) pass.shape = map;
      if (kind == OpKind::softmax) pass.shape = RowsShape{rows, cols};
      const Estimate x = estimate_op(pass, g.precision, ctx);
      chain += x.latency_s;
      chain_seq += x.in_sequence_s;
      lo += x.interval_lo_s;
      hi += x.interval_hi_s;
      warnings |= x.warnings;
    }
    FusionPattern pattern;
    double speedup = 1, spread = 0;
    if (!fusion_pattern_of(g, pattern))
      warnings |= warn_fusion_unknown;
    else if (!fusion_speedup(pattern, g, speedup, spread, warnings))
      warnings |= warn_fusion_unmeasured;
    // One call of the fused op: its overhead once, the main op's arithmetic,
    // and the rest of the (sped-up) chain attributed to memory passes.
    Estimate r = e;
    r.latency_s = chain / speedup;
    r.in_sequence_s = chain_seq / speedup;
    r.compute_s = std::clamp(r.latency_s - r.overhead_s, 0.0, e.compute_s);
    r.memory_s = std::max(0.0, r.latency_s - r.overhead_s - r.compute_s);
    r.bound = r.overhead_s > std::max(r.compute_s, r.memory_s) ? Bound::overhead
              : r.compute_s >= r.memory_s                     ? Bound::compute
                                                               : Bound::memory;
    r.interval_lo_s = lo / speedup * std::exp(-spread);
    r.interval_hi_s = hi / speedup * std::exp(spread);
    r.warnings = warnings;
    return r;
  }

  /// The datasheet-roofline baseline: max(flops / peak, bytes / DRAM
  /// bandwidth), no efficiencies, no overhead.
  Estimate roofline(const Subgraph& g) const noexcept {
    Estimate e;
    const double peak = peak_[index(g.precision)] > 0 ? peak_[index(g.precision)] : peak_[index(Precision::fp32)];
    if (!(peak_[index(g.precision)] > 0)) e.warnings |= warn_no_peak;
    e.compute_s = peak > 0 ? flops(g.op) / peak : 0;
    const double dram = bw_.empty() ? 0 : std::exp(bw_.back().second);
    if (bw_.empty()) e.warnings |= warn_no_bandwidth;
    e.memory_s = dram > 0 ? bytes(g.op, g.precision) / dram : 0;
    e.latency_s = e.in_sequence_s = std::max(e.compute_s, e.memory_s);
    e.bound = e.compute_s >= e.memory_s ? Bound::compute : Bound::memory;
    e.interval_lo_s = e.interval_hi_s = e.latency_s;
    return e;
  }

  int threads() const noexcept { return threads_; }
  double overhead_s() const noexcept { return overhead_; }
  /// Memory-sweep bandwidth (bytes/s) at a working set, interpolated in log-log.
  double bandwidth(double working_set_bytes) const noexcept {
    if (bw_.empty()) return 0;
    const double x = std::log2(std::max(working_set_bytes, 1.0));
    if (x <= bw_.front().first) return std::exp(bw_.front().second);
    if (x >= bw_.back().first) return std::exp(bw_.back().second);
    const auto it = std::lower_bound(bw_.begin(), bw_.end(), x, [](const auto& p, double v) { return p.first < v; });
    const auto& b = *it;
    const auto& a = *(it - 1);
    const double t = (x - a.first) / (b.first - a.first);
    return std::exp(a.second + t * (b.second - a.second));
  }

 private:
  struct Curve {
    OpKind op;
    Precision precision;
    Variant variant;
    int dims = 0;
    bool other_threads = false;
    double fixed_s = 0;              ///< fixed cost of one call of this op (CPU; devices: the launch)
    std::size_t begin = 0, end = 0;  ///< samples in points_
    Features lo{}, hi{};
    double max_bytes = 0;            ///< the largest sample's bytes
  };
  struct Point {
    Features x;
    float log_rate;  ///< log(work per second), net of the per-call overhead
    float spread;    ///< relative p10-p90 half width
  };
  struct FusionPoint {
    FeatureSet anchor;
    float log_speedup;
    float spread;
  };
  struct FusionCurve {
    FusionPattern pattern;
    Precision precision;
    std::vector<FusionPoint> points;
  };

  static constexpr std::size_t index(Precision p) noexcept { return static_cast<std::size_t>(p); }

  /// The main op's output as rows x cols (activations, softmax) and as an
  /// NCHW map (batchnorm: channels are conv output channels or linear features).
  static void output_layout(const OpDesc& op, i64& rows, i64& cols, MapShape& map) noexcept {
    rows = cols = 1;
    map = MapShape{1, 1, 1, 1};
    if (const auto* c = std::get_if<Conv2dShape>(&op.shape)) {
      rows = c->n * c->k, cols = c->out_h() * c->out_w();
      map = MapShape{c->n, c->k, c->out_h(), c->out_w()};
    } else if (const auto* m = std::get_if<MatmulShape>(&op.shape)) {
      rows = m->batch * m->m, cols = m->n;
      map = MapShape{rows, cols, 1, 1};
    } else if (const auto* a = std::get_if<AttentionShape>(&op.shape)) {
      rows = a->batch * a->heads * a->seq_q, cols = a->head_dim;
      map = MapShape{a->batch * a->seq_q, a->heads * a->head_dim, 1, 1};
    } else {
      // Other ops: folding acts on an output about the size of the input.
      rows = std::max<i64>(1, static_cast<i64>(bytes(op, Precision::fp32) / 8));
      map = MapShape{rows, 1, 1, 1};
    }
  }

  void add_curve(const OperationCalibration& c, bool other_threads) {
    Curve cv;
    cv.op = c.op;
    cv.precision = c.precision;
    cv.variant = c.variant;
    cv.other_threads = other_threads;
    cv.begin = points_.size();
    // A CPU call's fixed cost differs by op (a oneDNN convolution pays far more
    // than an elementwise loop): the intercept of time vs work over the
    // curve's smallest samples, at least the backend's per-call overhead.
    // Device samples are event-timed device work: their fixed cost is the launch.
    cv.fixed_s = overhead_;
    if (!overlap_) {
      std::vector<std::pair<double, double>> pts;
      for (std::size_t i = 0; i < c.samples.size(); ++i) pts.push_back({work(c.desc(i), c.precision), c.samples[i].time.median_s});
      if (const auto a = detail::fixed_cost(pts)) cv.fixed_s = std::max(cv.fixed_s, *a);
    }
    for (std::size_t d = 0; d < max_features; ++d) cv.lo[d] = std::numeric_limits<float>::max(), cv.hi[d] = -cv.lo[d];
    for (std::size_t i = 0; i < c.samples.size(); ++i) {
      const OpSample& s = c.samples[i];
      const OpDesc op = c.desc(i);
      const FeatureSet f = features(op);
      cv.dims = f.count;
      const double w = work(op, c.precision);
      const double t = s.time.median_s;
      // (a floor keeps launch-bound samples' tiny work time positive)
      auto net = [&](double seconds) { return overlap_ ? seconds : std::max(seconds - cv.fixed_s, 1e-3 * seconds); };
      points_.push_back({f.x, float(std::log(std::max(w, 1.0) / net(t))), float(s.time.rel_spread())});
      cv.max_bytes = std::max(cv.max_bytes, bytes(op, c.precision));
      for (std::size_t d = 0; d < max_features; ++d) cv.lo[d] = std::min(cv.lo[d], f.x[d]), cv.hi[d] = std::max(cv.hi[d], f.x[d]);
    }
    cv.end = points_.size();
    curves_.push_back(cv);
  }

  struct Interpolated {
    double log_rate = 0, spread = 0.5;
    bool outside = false;  ///< a feature more than 2x beyond the measured range
  };

  /// Interpolated log rate at x, with the spread.
  Interpolated interpolate(const Curve& c, const Features& x) const noexcept {
    Interpolated r;
    for (int d = 0; d < c.dims; ++d)
      if (x[d] < c.lo[d] - 1.0f || x[d] > c.hi[d] + 1.0f) r.outside = true;
    if (c.dims == 1) {
      // Linear in log-log between the bracketing sizes, held beyond the ends.
      const Point *below = nullptr, *above = nullptr;
      for (std::size_t i = c.begin; i < c.end; ++i) {
        const Point& p = points_[i];
        if (p.x[0] <= x[0] && (!below || p.x[0] > below->x[0])) below = &p;
        if (p.x[0] >= x[0] && (!above || p.x[0] < above->x[0])) above = &p;
      }
      if (!below) below = above;
      if (!above) above = below;
      if (!below) return r;  // empty curve: callers never build one
      const double span = double(above->x[0]) - below->x[0];
      const double t = span > 1e-9 ? (x[0] - below->x[0]) / span : 0.0;
      auto lerp = [t](double a, double b) { return a + t * (b - a); };
      r.log_rate = lerp(below->log_rate, above->log_rate);
      r.spread = lerp(below->spread, above->spread);
      return r;
    }
    // k nearest by squared distance, inverse-square weights.
    constexpr int k = 4;
    double best_d[k] = {};
    std::size_t best_i[k] = {};
    int found = 0;
    for (std::size_t i = c.begin; i < c.end; ++i) {
      double d2 = 0;
      for (int d = 0; d < c.dims; ++d) {
        const double diff = double(x[d]) - points_[i].x[d];
        d2 += diff * diff;
      }
      int pos = found < k ? found++ : k;
      if (pos == k) {
        if (d2 >= best_d[k - 1]) continue;
        pos = k - 1;
      }
      while (pos > 0 && best_d[pos - 1] > d2) {
        best_d[pos] = best_d[pos - 1];
        best_i[pos] = best_i[pos - 1];
        --pos;
      }
      best_d[pos] = d2;
      best_i[pos] = i;
    }
    if (best_d[0] < 1e-8) {
      const Point& p0 = points_[best_i[0]];
      r.log_rate = p0.log_rate, r.spread = p0.spread;
      return r;
    }
    double wsum = 0, acc = 0, sp = 0;
    for (int j = 0; j < found; ++j) {
      const double w = 1.0 / best_d[j];
      const Point& pj = points_[best_i[j]];
      wsum += w;
      acc += w * pj.log_rate;
      sp += w * pj.spread;
    }
    r.log_rate = acc / wsum;
    // Disagreement between the neighbours adds to the measured spread.
    double var = 0;
    for (int j = 0; j < found; ++j) {
      const double d = points_[best_i[j]].log_rate - r.log_rate;
      var += d * d / best_d[j];
    }
    r.spread = sp / wsum + std::sqrt(var / wsum);
    return r;
  }

  const Curve* find_curve(OpKind k, Precision p, Variant v, std::uint32_t& warnings) const noexcept {
    const auto& slot = by_key_[static_cast<std::size_t>(k)][index(p)];
    const Curve* any = nullptr;
    for (int i : slot) {
      if (curves_[static_cast<std::size_t>(i)].variant == v) return &curves_[static_cast<std::size_t>(i)];
      if (!any) any = &curves_[static_cast<std::size_t>(i)];
    }
    if (any) {
      // grouped convolutions behave like dense ones; prefer that over depthwise
      for (int i : slot)
        if (v == Variant::grouped && curves_[static_cast<std::size_t>(i)].variant == Variant::dense) any = &curves_[static_cast<std::size_t>(i)];
      warnings |= warn_other_variant;
    }
    return any;
  }

  /// Equivalent GEMM of an op without its own curve (implicit-GEMM view).
  static bool equivalent_gemm(const OpDesc& op, OpDesc& out) noexcept {
    if (op.kind == OpKind::conv2d) {
      const auto& s = std::get<Conv2dShape>(op.shape);
      out = {OpKind::matmul, MatmulShape{s.groups, s.k / s.groups, s.n * s.out_h() * s.out_w(), (s.c / s.groups) * s.r * s.s, false}};
      return true;
    }
    if (op.kind == OpKind::linear) {
      const auto& s = std::get<MatmulShape>(op.shape);
      out = {OpKind::matmul, MatmulShape{1, s.m, s.n, s.k, false}};
      return true;
    }
    if (op.kind == OpKind::attention) {
      const auto& s = std::get<AttentionShape>(op.shape);
      out = {OpKind::matmul, MatmulShape{2 * s.batch * s.heads, s.seq_q, s.seq_kv, s.head_dim, false}};
      return true;
    }
    if (op.kind == OpKind::matmul) {
      const auto& s = std::get<MatmulShape>(op.shape);
      if (s.batch != 1) return false;
      out = {OpKind::linear, MatmulShape{1, s.m, s.n, s.k, false}};
      return true;
    }
    return false;
  }

  Estimate estimate_op(const OpDesc& op, Precision p, const SequenceContext& ctx) const noexcept {
    Estimate e;
    const bool compute = is_compute_op(op.kind);
    const double w = work(op, p);
    const double fl = flops(op), by = bytes(op, p);
    const double peak = peak_[index(p)];
    const double peak_any = peak > 0 ? peak : peak_[index(Precision::fp32)];
    if (!(peak > 0) && compute) e.warnings |= warn_no_peak;

    // Find a curve: exact, other variant, other precision, equivalent GEMM.
    const Curve* c = find_curve(op.kind, p, variant_of(op), e.warnings);
    OpDesc lookup = op;
    double scale = 1;  // rate multiplier for curves of another precision
    if (!c) {
      for (Precision q : {Precision::fp32, Precision::bf16, Precision::fp16, Precision::tf32, Precision::fp64, Precision::int8, Precision::fp8}) {
        if (q == p) continue;
        std::uint32_t wv = 0;
        if ((c = find_curve(op.kind, q, variant_of(op), wv))) {
          e.warnings |= wv | warn_other_precision;
          if (compute) scale = (peak > 0 && peak_[index(q)] > 0) ? peak / peak_[index(q)] : 1.0;
          break;
        }
      }
    }
    if (!c && compute && equivalent_gemm(op, lookup)) {
      std::uint32_t wv = 0;
      c = find_curve(lookup.kind, p, variant_of(lookup), wv);
      if (c) e.warnings |= warn_equivalent_gemm;
    }

    double rate = 0, spread = 0.5, fixed = overhead_;
    if (c) {
      fixed = c->fixed_s;
      const Interpolated in = interpolate(*c, features(lookup).x);
      rate = std::exp(in.log_rate) * scale;
      if (!compute && by > c->max_bytes && c->max_bytes > 0 && !bw_.empty()) rate *= bandwidth(by) / bandwidth(c->max_bytes);
      spread = in.spread;
      if (in.outside) e.warnings |= warn_extrapolated;
      if (c->other_threads) e.warnings |= warn_other_threads;
      if (e.warnings & (warn_other_precision | warn_other_variant | warn_equivalent_gemm)) spread += 0.25;
    } else {
      e.warnings |= warn_no_curve;
      rate = compute ? 0.5 * peak_any : bandwidth(by);
    }
    // The curve's rate is FLOP/s for compute ops and B/s otherwise; an
    // equivalent-GEMM lookup keeps the op's own FLOP count.
    const double body = rate > 0 ? w / rate : 0;
    const double bw = bandwidth(by);
    if (bw_.empty()) e.warnings |= warn_no_bandwidth;
    if (compute) {
      e.compute_s = body;
      e.memory_s = bw > 0 ? by / bw : 0;
      e.efficiency = peak > 0 && body > 0 ? fl / body / peak : 0;
    } else {
      e.memory_s = body;
      e.compute_s = peak_any > 0 ? fl / peak_any : 0;
      e.efficiency = bw > 0 && body > 0 ? (by / body) / bw : 0;
    }
    // The framework's own per-call cost (Python dispatch) adds to the library's.
    e.overhead_s = fixed + framework_[static_cast<std::size_t>(op.kind)];
    const double m = std::max(e.compute_s, e.memory_s);
    auto total = [&](double t) { return overlap_ ? std::max(e.overhead_s, t) : e.overhead_s + t; };
    e.latency_s = total(m);
    e.bound = e.overhead_s > m ? Bound::overhead : e.compute_s >= e.memory_s ? Bound::compute : Bound::memory;
    const double f = std::exp(spread);
    e.interval_lo_s = total(m / f);
    e.interval_hi_s = total(m * f);
    // In a sequence (top of the file): the op's bytes at the bandwidth of the
    // pass's footprint instead of its own.
    double body_seq = body;
    if (!overlap_ && ctx.pass_bytes > 0 && by > 0 && bw > 0)
      body_seq += by * std::max(0.0, 1 / bandwidth(std::max(ctx.pass_bytes, by)) - 1 / bw);
    e.in_sequence_s = total(std::max(body_seq, compute ? e.memory_s : e.compute_s));
    return e;
  }

  bool fusion_speedup(FusionPattern f, const Subgraph& g, double& speedup, double& spread,
                      std::uint32_t& warnings) const noexcept {
    const FusionCurve* fc = nullptr;
    for (const auto& c : fusions_)
      if (c.pattern == f && (c.precision == g.precision || !fc)) fc = &c;
    if (!fc) return false;
    if (fc->precision != g.precision) warnings |= warn_fusion_other;
    OpDesc anchor = g.op;
    if (f == FusionPattern::qkt_softmax) {
      const auto& s = std::get<MatmulShape>(g.op.shape);
      anchor = {OpKind::attention, AttentionShape{s.batch, 1, s.m, s.n, s.k, false}};
    }
    const FeatureSet q = features(anchor);
    double wsum = 0, acc = 0, sp = 0;
    for (const auto& p : fc->points) {
      double d2 = 1e-6;
      for (int d = 0; d < q.count; ++d) {
        const double diff = double(q.x[d]) - p.anchor.x[d];
        d2 += diff * diff;
      }
      acc += p.log_speedup / d2;
      sp += p.spread / d2;
      wsum += 1 / d2;
    }
    speedup = std::exp(acc / wsum);
    spread = sp / wsum;
    return true;
  }

  int threads_ = 1;
  double overhead_ = 0;
  std::array<double, op_kind_count> framework_{};  ///< per-call framework cost by op
  bool overlap_ = false;
  std::array<double, all_precisions.size()> peak_{};
  std::vector<std::pair<double, double>> bw_;  ///< (log2 working set, log bytes/s)
  std::vector<Curve> curves_;
  std::vector<Point> points_;
  std::array<std::array<std::vector<int>, all_precisions.size()>, op_kind_count> by_key_;
  std::vector<FusionCurve> fusions_;
};

}  // namespace hwcal
