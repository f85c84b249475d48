#pragma once
// CalibratedMapper: latency of a subgraph from a profile.
//
// One op (docs/mapper.md has the derivation and the fallbacks):
//   ideal    = max(flops / peak, bytes / bandwidth(working set))      the roofline of the shape
//   body     = ideal / efficiency(op, shape)                           efficiency interpolated from the curve
//   CPU:     latency = fixed cost(op) + framework cost(op) + body      calls run on the calling thread
//   device:  latency = max(floor(op), body)                            samples are per-launch times in a CUDA
//                                                                      graph; floor = the op's fastest launch
//   eager:   latency = max(host cost(op), device latency)              the host issues ops asynchronously
// Parts are split as compute (FLOPs at the interpolated rate for compute
// ops, at the peak otherwise) and memory (bytes at the bandwidth of the
// working set, or at the op's own rate for memory ops).
//
// Two latencies per estimate: `latency_s`, the subgraph run on its own and
// repeated (what timing one layer in isolation measures), and
// `in_sequence_s`, the subgraph inside a forward pass (SequenceContext):
//  - CPU: run alone and repeated, an op finds its data at the cache level its
//    own bytes B fit in; in a pass its activations come from the op before,
//    as warm as when repeated, but its weights w were last read a pass ago,
//    with everything the other layers touched since, so they are taken at
//    the memory sweep's bandwidth for the pass's bytes P, and so are the
//    bytes o it writes (each output evicts other layers' dirty lines):
//    extra = (w + o) x max(0, 1/bw(max(P, B)) - 1/bw(B)); and each call pays the
//    profile's in-pass cost of its op once (the call timed between other
//    ops' calls, which displace its code and state; torch).
//  - devices: activations come warm from the op before (as when repeated),
//    but when the pass moves more than the L2 holds, its weights come cold
//    from memory on every replay: latency + w/B x (cold - latency), with w
//    the weight bytes and cold the op's time with the L2 flushed (measured,
//    or the ideal at memory bandwidth over the warm efficiency); its written
//    bytes cross at the pass's bandwidth as on a CPU, but hidden under a
//    compute-bound body and under the op's floor.
// A model's total is sequence_total() of the estimates (estimate.hpp).
//
// Fused subgraphs (conv2d + batchnorm + relu, linear + relu/gelu, matmul +
// softmax) are the unfused chain divided by the measured fusion speedup of
// their pattern.
//
// Collectives (all_reduce ... send_recv) come from the profile's collectives
// section instead (detail/collective_table.hpp): the curve of the op, GPU
// count, precision and launch mode (device mode: graph; eager: eager),
// interpolated in log-log between measured sizes and along its alpha-beta
// fit outside them; Estimate::bus_gbps reports the bus bandwidth. A profile
// without any curve of the op gives latency 0 and warn_no_collective:
// missing_curve() says so first, and `hwcal predict` stops on it.
//
// Fallbacks, each flagged in Estimate::warnings, never silent:
//   no curve for the variant   -> another variant of the op (grouped -> dense)
//   no curve at the precision  -> the op's curve at another precision (its
//                                 efficiency, applied to this precision's roofline)
//   no curve for the op        -> conv2d/attention/linear/matmul as their
//                                 equivalent GEMM; an elementwise op as relu
//                                 (one input) or add (two); otherwise half the
//                                 peak (compute) or the memory sweep (others)
//   fusion pattern unmeasured  -> the unfused chain
//   collective: other launch mode or precision, then the nearest GPU count
//
// The mapper is immutable after construction, so it is thread-safe, and
// estimate() allocates nothing.

#include <hwcal/config.hpp>
#include <hwcal/detail/bandwidth_model.hpp>
#include <hwcal/detail/collective_table.hpp>
#include <hwcal/detail/curve_set.hpp>
#include <hwcal/detail/fusion_table.hpp>
#include <hwcal/estimate.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/roofline.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

namespace hwcal {

struct MapperOptions {
  int threads = 0;           ///< curves of this thread count (0: the profile's)
  Mode mode = Mode::device;  ///< devices: device time (graph replay) or eager framework time
  /// GEMMs (linear, matmul): weight of the regime coordinate, log2 of how much
  /// slower the memory sweep is at the op's working set than at its fastest
  /// point (0 in L1, growing through L2, L3 and memory), added to the interpolation
  /// features so that neighbours in the same cache level count more than
  /// neighbours across a level boundary (docs/mapper.md). 0: off.
  double regime_weight = default_regime_weight;
  static constexpr double default_regime_weight = 0.0;
  /// Curves of several features: interpolated at each query (exact), or
  /// looked up in a table of that interpolation precomputed when the mapper is
  /// built (table: for searches that call estimate() millions of times; it
  /// costs time and memory at construction and differs from exact between
  /// the measured shapes, docs/mapper.md).
  Lookup lookup = Lookup::exact;
};

class CalibratedMapper {
 public:
  explicit CalibratedMapper(const HardwareCalibration& profile, MapperOptions opt = {})
      : threads_(opt.threads > 0 ? opt.threads : profile.threads),
        mode_(opt.mode),
        regime_weight_(opt.regime_weight),
        device_(profile.target != "cpu"),
        overhead_(profile.overhead.per_call_s),
        l2_bytes_(profile.device ? double(profile.device->l2_bytes) : 0.0),
        peak_(peaks_of(profile)),
        bw_(profile.memory),
        curves_(
            profile, threads_, !device_, overhead_, opt.lookup,
            [this](const OpDesc& op, Precision p, bool cold) { return ideal(counts(op, p), p, cold); },
            [this](const OpDesc& op, Precision p, FeatureSet& f) { add_coordinates(op, counts(op, p).bytes, f); }),
        fusions_(profile.fusions, opt.lookup),
        collectives_(profile.collectives),
        roofline_(profile) {
    for (const auto& [k, v] : profile.overhead.framework_s) framework_[static_cast<std::size_t>(k)] = v;
    for (const auto& [k, v] : profile.overhead.framework_sequence_s) sequence_[static_cast<std::size_t>(k)] = v;
  }

  /// Latency of one subgraph. Allocation-free.
  Estimate estimate(const Subgraph& g, const SequenceContext& ctx = {}) const noexcept {
    // The main op's counts and features, computed once: its estimate and its
    // fusion pattern's speedup both read them. (Built in place, never copied:
    // a copy of a struct just stored field by field stalls on store
    // forwarding, a cost the size of a curve lookup.)
    const bool collective = is_collective(g.op.kind);
    const OpAnalysis main = collective ? OpAnalysis{} : analyze(g.op, g.precision);
    Estimate e =
        collective ? estimate_collective(g.op, g.precision, true) : estimate_op<true>(g.op, main, g.precision, ctx);
    if (g.fused || bias_pass(g)) add_passes(g, main, ctx, e);
    return e;
  }

  /// Why this profile cannot predict `g` at all, or empty: a collective
  /// without any curve of its kind (other GPU counts, precisions and launch
  /// modes are fallbacks, flagged in the estimate).
  std::string missing_curve(const Subgraph& g) const {
    if (!is_collective(g.op.kind) || collectives_.has(g.op.kind)) return {};
    return std::string(to_string(g.op.kind)) + ": the profile has no " + std::string(to_string(g.op.kind)) +
           " curve (calibrate a machine with 2 or more GPUs with `hwcal calibrate --backend cuda --collectives`)";
  }

  /// The datasheet-roofline baseline of the same profile.
  Estimate roofline(const Subgraph& g) const noexcept { return roofline_.estimate(g); }

  int threads() const noexcept { return threads_; }

  /// A CPU convolution curve's channel tail (detail/channel_tiles.hpp): an
  /// off-tile layer runs `ratio` times slower a FLOP than its features'
  /// efficiency, the median of `pairs` measured beside their twins.
  struct ChannelTail {
    OpKind op;
    Precision precision;
    Variant variant;
    double ratio;
    int pairs;
  };
  std::vector<ChannelTail> channel_tails() const {
    std::vector<ChannelTail> out;
    for (const auto& c : curves_.curves())
      if (c.tail_pairs > 0) out.push_back({c.op, c.precision, c.variant, std::exp(c.tail_log), c.tail_pairs});
    return out;
  }
  /// The channel tile of the profile's host (fp32 lanes of its widest vectors).
  i64 channel_tile() const noexcept { return curves_.channel_tile(); }
  Mode mode() const noexcept { return mode_; }
  /// Whether the profile describes a device (GPU) rather than a CPU.
  bool device() const noexcept { return device_; }
  double overhead_s() const noexcept { return overhead_; }
  /// Memory-sweep bandwidth (bytes/s) at a working set.
  double bandwidth(double working_set_bytes) const noexcept { return bw_.at(working_set_bytes); }

 private:
  static constexpr std::size_t index(Precision p) noexcept { return static_cast<std::size_t>(p); }

  /// On a device a convolution's bias is a kernel of its own: cuDNN's
  /// convolution has no bias, frameworks add it afterwards (PyTorch's
  /// _convolution: output.add_(bias)), a broadcast add over the output.
  bool bias_pass(const Subgraph& g) const noexcept {
    const auto* conv = std::get_if<Conv2dShape>(&g.op.shape);
    return conv && conv->bias && device_;
  }

  /// Adds to the main op's estimate e a device convolution's bias pass, and
  /// the folded ops of a fused subgraph.
  void add_passes(const Subgraph& g, const OpAnalysis& main, const SequenceContext& ctx, Estimate& e) const noexcept {
    const OutputLayout out = output_layout(g.op);
    if (bias_pass(g))
      add_pass(e, estimate_pass(OpKind::add,
                                ElementwiseShape{out.rows * out.cols, 2, std::get<Conv2dShape>(g.op.shape).k, false},
                                g.precision, ctx));
    if (!g.fused) return;
    // The unfused chain: the main op, then each folded op as its own pass over
    // the main op's output (summed, so their order does not matter). The
    // passes change neither the overhead nor the compute part.
    static_assert(op_kind_count < 64, "Subgraph::fused holds a bit per op kind");
    for (std::uint64_t bits = g.fused & ((std::uint64_t{1} << op_kind_count) - 1); bits; bits &= bits - 1) {
      const auto kind = static_cast<OpKind>(__builtin_ctzll(bits));
      if (kind == OpKind::batchnorm)
        add_pass(e, estimate_pass(kind, out.map, g.precision, ctx));
      else if (kind == OpKind::softmax)
        add_pass(e, estimate_pass(kind, RowsShape{out.rows, out.cols}, g.precision, ctx));
      else
        add_pass(e, estimate_pass(kind, ElementwiseShape{out.rows * out.cols, 1, 0, false}, g.precision, ctx));
    }
    FusionPattern pattern;
    double speedup = 1, spread = 0;
    if (!fusion_pattern_of(g, pattern))
      e.warnings |= warn_fusion_unknown;
    else if (!fusions_.speedup(pattern, g, main.features.x, speedup, spread, e.warnings))
      e.warnings |= warn_fusion_unmeasured;
    // One call of the fused op: the main op's overhead and arithmetic, the rest
    // of the (sped-up) chain attributed to memory passes.
    e.latency_s /= speedup;
    e.in_sequence_s /= speedup;
    e.device_s /= speedup;
    e.compute_s = std::clamp(e.latency_s - e.overhead_s, 0.0, e.compute_s);
    e.memory_s = std::max(0.0, e.latency_s - e.overhead_s - e.compute_s);
    e.bound = e.overhead_s > std::max(e.compute_s, e.memory_s) ? Bound::overhead
              : e.compute_s >= e.memory_s                      ? Bound::compute
                                                               : Bound::memory;
    e.interval_lo_s = std::min(e.latency_s, e.interval_lo_s / speedup * detail::fast_exp(-spread));
    e.interval_hi_s = std::max(e.latency_s, e.interval_hi_s / speedup * detail::fast_exp(spread));
  }

  /// Whether the target adds a coordinate to the features of an op kind.
  bool adds_coordinates(OpKind k) const noexcept {
    return (regime_weight_ > 0 && (k == OpKind::linear || k == OpKind::matmul)) || (device_ && k == OpKind::conv2d);
  }

  /// The coordinates the target adds to an op's features: the regime of a
  /// GEMM's working set (MapperOptions::regime_weight); on a device, a
  /// convolution's batch beside the rows it shares with the map (N x OH x OW):
  /// cuDNN and cuBLAS run an NCHW batch as per-image GEMMs, not as one of
  /// N x OH x OW rows (an H100, PyTorch, bf16, 1x1 256 -> 64: 2.9 us at
  /// 1 x 56^2, 8.5 us at 64 x 7^2, the same features without it). (A channel
  /// alignment coordinate was tried and removed: docs/mapper.md.)
  void add_coordinates(const OpDesc& op, double bytes, FeatureSet& f) const noexcept {
    if (f.count >= max_features || !adds_coordinates(op.kind)) return;
    if (op.kind == OpKind::conv2d) {
      f.push(double(std::get<Conv2dShape>(op.shape).n));
      return;
    }
    if (bw_.empty()) return;
    const double slow = bw_.fastest() / std::max(bw_.at(bytes), 1.0);
    f.x[static_cast<std::size_t>(f.count++)] =
        static_cast<float>(regime_weight_ * detail::fast_log2(std::max(slow, 1.0)));
  }

  /// Adds a separate pass (a kernel of its own after the main op) to an estimate.
  static void add_pass(Estimate& e, const Estimate& x) noexcept {
    e.latency_s += x.latency_s;
    e.in_sequence_s += x.in_sequence_s;
    e.device_s += x.device_s;
    e.memory_s += x.latency_s;
    e.interval_lo_s += x.interval_lo_s;
    e.interval_hi_s += x.interval_hi_s;
    e.warnings |= x.warnings;
  }

  static std::array<double, all_precisions.size()> peaks_of(const HardwareCalibration& profile) noexcept {
    std::array<double, all_precisions.size()> out{};
    for (const auto& p : profile.peaks)
      if (p.gflops) out[index(p.precision)] = *p.gflops * 1e9;
    return out;
  }

  double peak(Precision p) const noexcept {
    return peak_[index(p)] > 0 ? peak_[index(p)] : peak_[index(Precision::fp32)];
  }

  /// The roofline time of counts at precision p: warm, the bytes at the
  /// bandwidth of their own working set; cold, at the memory's.
  double ideal(const Counts& n, Precision p, bool cold) const noexcept {
    return roofline_time(n, peak(p), cold ? bw_.memory() : bw_.at(n.bytes));
  }
  static double roofline_time(const Counts& n, double peak, double bw) noexcept {
    return std::max(peak > 0 ? n.flops / peak : 0.0, bw > 0 ? n.bytes / bw : 0.0);
  }

  /// The eager host's per-op cost overlapping the device's work of an op.
  void overlap_host(Estimate& e, OpKind k) const noexcept {
    double host = framework_[static_cast<std::size_t>(k)];
    if (!(host > 0)) {
      host = overhead_;
      e.warnings |= warn_no_host_cost;
    }
    e.host_s = host;
    e.latency_s = std::max(host, e.latency_s);
    e.interval_lo_s = std::max(host, e.interval_lo_s);
    e.interval_hi_s = std::max(host, e.interval_hi_s);
    e.in_sequence_s = std::max(host, e.in_sequence_s);
  }

  Estimate estimate_collective(const OpDesc& op, Precision p, bool main_op) const noexcept {
    Estimate e;
    const auto& s = std::get<CollectiveShape>(op.shape);
    const LaunchMode launch = mode_ == Mode::eager ? LaunchMode::eager : LaunchMode::graph;
    const detail::CollectiveTable::Lookup r = collectives_.time(op.kind, s.bytes, s.gpus, p, launch);
    e.warnings = r.warnings;
    if (!r.found) {
      e.warnings |= warn_no_collective;
      return e;
    }
    e.latency_s = e.in_sequence_s = e.device_s = r.latency_s;
    e.interval_lo_s = r.lo_s;
    e.interval_hi_s = r.hi_s;
    e.overhead_s = r.alpha_s;
    e.bound = r.alpha_s * 2 > r.latency_s ? Bound::overhead : Bound::communication;
    e.bus_gbps = r.latency_s > 0 ? double(s.bytes) / r.latency_s / 1e9 * collective_bus_factor(op.kind, s.gpus) : 0;
    if (mode_ == Mode::eager && main_op) overlap_host(e, op.kind);
    return e;
  }

  /// A pass after the main op (a folded op, a device convolution's bias).
  template <class S>
  Estimate estimate_pass(OpKind k, const S& shape, Precision p, const SequenceContext& ctx) const noexcept {
    const OpDesc op{k, shape};
    if (is_collective(k)) return estimate_collective(op, p, false);
    return estimate_op<false>(op, analyze(k, shape, p), p, ctx);
  }

  /// Curve c's efficiency (warm, and cold on devices) at the op's own
  /// features, read in place unless the target adds a coordinate (a copy of
  /// floats just stored one by one stalls on store forwarding).
  void read_curve(const detail::Curve& c, const OpDesc& op, const OpAnalysis& a, detail::Interpolated& in,
                  detail::Interpolated& in_cold) const noexcept {
    const Features* x = &a.features.x;
    FeatureSet fs;
    if (adds_coordinates(op.kind)) {
      fs = a.features;
      add_coordinates(op, a.counts.bytes, fs);
      x = &fs.x;
    }
    in = curves_.efficiency(c, *x, op);
    if (device_) in_cold = curves_.efficiency(c, *x, op, true);
  }

  /// The curve of an op that choose() has none for, and its efficiency
  /// (warm, and cold on devices) at the op's features: a compute op as its
  /// equivalent GEMM, an op the profile predates as its stand_in(); null
  /// when neither has a curve. Out of line: rare, and its OpDesc costs dozens of
  /// instructions to construct.
  HWCAL_NOINLINE const detail::Curve* fallback_curve(const OpDesc& op, const OpAnalysis& a, Precision p,
                                                     std::uint32_t& warnings, detail::Interpolated& in,
                                                     detail::Interpolated& in_cold) const noexcept {
    const detail::Curve* c = nullptr;
    OpDesc gemm;
    if (is_compute_op(op.kind) && equivalent_gemm(op, gemm)) {
      std::uint32_t w = 0;
      if ((c = curves_.find(gemm.kind, p, variant_of(gemm), w))) {
        warnings |= warn_equivalent_gemm;
        FeatureSet fs = features(gemm);
        add_coordinates(gemm, counts(gemm, p).bytes, fs);
        in = curves_.efficiency(*c, fs.x, gemm);
        if (device_) in_cold = curves_.efficiency(*c, fs.x, gemm, true);
        return c;
      }
    }
    if (stand_in(op.kind) != op.kind) {
      // An op the profile predates (neg, exp, ... permute in older profiles):
      // the curve of its stand-in keeps the per-call floor a bare memory
      // sweep would miss; at another precision where the stand-in has none at
      // this one (tf32: memory-bound ops are measured at fp32), as its own
      // lookup would.
      std::uint32_t w = 0;
      if ((c = curves_.choose(stand_in(op.kind), p, a.variant, w))) {
        warnings |= w | warn_stand_in;
        read_curve(*c, op, a, in, in_cold);
      }
    }
    return c;
  }

  /// One op, not a collective, from its analysis: the subgraph's main op,
  /// or a pass after it (add_pass() reads its times and warnings only, so a
  /// pass skips the efficiency and the bound).
  template <bool main_op>
  Estimate estimate_op(const OpDesc& op, const OpAnalysis& a, Precision p, const SequenceContext& ctx) const noexcept {
    Estimate e;
    const Counts& n = a.counts;
    const bool compute = is_compute_op(op.kind);
    if (compute && !(peak_[index(p)] > 0)) e.warnings |= warn_no_peak;
    if (bw_.empty()) e.warnings |= warn_no_bandwidth;

    // Find a curve: exact, other variant, other precision (resolved at
    // construction); else the rare fallbacks, out of line.
    detail::Interpolated in, in_cold;
    const detail::Curve* c = curves_.choose(op.kind, p, a.variant, e.warnings);
    if (c) {
      read_curve(*c, op, a, in, in_cold);
    } else {
      c = fallback_curve(op, a, p, e.warnings, in, in_cold);
    }
    double log_eff = compute ? -0.6931471805599453 : 0.0, log_eff_cold = log_eff, spread = 0.5,
           floor = 0;  // log(0.5), log(1)
    double fixed = device_ ? 0.0 : overhead_;
    if (c) {
      log_eff = in.value - curves_.tail(*c, op);
      log_eff_cold = device_ ? in_cold.value : log_eff;
      // A sample's spread is its p10-p90 width; a profile may hold a wildly
      // noisy one (the calibrator drops them, a hand-edited file may not):
      // intervals stay within 20x of the estimate.
      spread = std::min(in.spread, max_spread);
      if (in.outside) e.warnings |= warn_extrapolated;
      if (c->other_threads) e.warnings |= warn_other_threads;
      if (e.warnings & (warn_other_precision | warn_other_variant | warn_equivalent_gemm | warn_stand_in))
        spread = std::min(spread + 0.25, max_spread);
      fixed = c->fixed_s;
      floor = c->floor_s;
    } else {
      e.warnings |= warn_no_curve;
    }

    const double bw = bw_.at(n.bytes), pk = peak(p);
    const double body = roofline_time(n, pk, bw) * detail::fast_exp(-log_eff);
    if (compute) {
      e.compute_s = body;
      e.memory_s = bw > 0 ? n.bytes / bw : 0;
      if constexpr (main_op) e.efficiency = peak_[index(p)] > 0 && body > 0 ? n.flops / body / peak_[index(p)] : 0;
    } else {
      e.memory_s = body;
      if constexpr (main_op) {
        e.compute_s = pk > 0 ? n.flops / pk : 0;
        e.efficiency = bw > 0 && body > 0 ? (n.bytes / body) / bw : 0;
      }
    }
    const double f = detail::fast_exp(spread);
    // In a pass, per byte, what the pass's working set costs beyond the op's
    // own; and the op's written bytes at that cost: repeated alone, an op
    // rewrites the same lines while they stay in cache, but in a pass that
    // outgrows the caches every output evicts another layer's dirty lines, so
    // its bytes also cross at the pass's bandwidth. On a CPU they add in full,
    // a convolution's too: its body is not arithmetic that could hide them (a
    // depthwise or pointwise convolution's low efficiency is its memory
    // traffic; docs/mapper.md has the in-context timings). A device op hides
    // them under a compute-bound body (only what its memory time then exceeds
    // its compute time adds).
    const double slower =
        ctx.pass_bytes > 0 && bw > 0 ? std::max(0.0, 1 / bw_.at(std::max(ctx.pass_bytes, n.bytes)) - 1 / bw) : 0.0;
    const double written = n.output_bytes * slower;
    const double write_back = compute && device_ ? std::clamp(e.memory_s + written - body, 0.0, written) : written;
    if (!device_) {
      // CPU: the call's fixed cost and the framework's add to the work.
      e.overhead_s = fixed + framework_[static_cast<std::size_t>(op.kind)];
      e.latency_s = e.overhead_s + body;
      e.interval_lo_s = e.overhead_s + body / f;
      e.interval_hi_s = e.overhead_s + body * f;
      // weights were last read a pass ago: at the pass's bandwidth
      const double body_seq = body + n.weight_bytes * slower + write_back;
      // a call inside a pass finds its code and the framework's state displaced
      // by the other layers' calls: once per call, measured per op
      const double cold_call = ctx.pass_bytes > 0 && main_op ? sequence_[static_cast<std::size_t>(op.kind)] : 0.0;
      e.in_sequence_s = e.device_s = e.overhead_s + cold_call + body_seq;
    } else {
      e.overhead_s = floor;
      e.latency_s = std::max(floor, body);
      e.interval_lo_s = std::max(floor, body / f);
      e.interval_hi_s = std::max(floor, body * f);
      double seq = std::max(floor, body + write_back);  // the floor (a launch) hides small writes too
      if (ctx.pass_bytes > l2_bytes_ && l2_bytes_ > 0 && n.weight_bytes > 0) {
        const double cold = std::max(floor, roofline_time(n, pk, bw_.memory()) * detail::fast_exp(-log_eff_cold));
        seq += n.weight_bytes / n.bytes * std::max(0.0, cold - e.latency_s);
      }
      e.in_sequence_s = e.device_s = seq;
      // The host's per-op cost (framework dispatch and launch) overlaps the
      // device's work; measured per op where the profile has it.
      if (mode_ == Mode::eager && main_op) overlap_host(e, op.kind);
    }
    if constexpr (main_op) {
      const double m = std::max(e.compute_s, e.memory_s);
      e.bound = e.overhead_s > m ? Bound::overhead : e.compute_s >= e.memory_s ? Bound::compute : Bound::memory;
    }
    return e;
  }

  /// Interval half-width in log space at most log(20).
  static constexpr double max_spread = 3.0;

  int threads_ = 1;
  Mode mode_ = Mode::device;
  double regime_weight_ = 0;
  bool device_ = false;
  double overhead_ = 0;
  double l2_bytes_ = 0;
  std::array<double, all_precisions.size()> peak_{};
  std::array<double, op_kind_count> framework_{};  ///< per-call framework (host) cost by op
  std::array<double, op_kind_count> sequence_{};   ///< CPU: what a call adds inside a pass, by op
  detail::BandwidthModel bw_;
  detail::CurveSet curves_;
  detail::FusionTable fusions_;
  detail::CollectiveTable collectives_;
  RooflineMapper roofline_;
};

}  // namespace hwcal
