#pragma once
// What the mappers take and return: a Subgraph (one main op, possibly with
// cheap ops folded into it), the context it runs in, and an Estimate of its
// latency with its parts, bound, interval and warnings.

#include <hwcal/ops.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace hwcal {

/// Bit of an op in Subgraph::fused.
constexpr std::uint64_t fused_bit(OpKind k) noexcept { return std::uint64_t{1} << static_cast<unsigned>(k); }

struct Subgraph {
  OpDesc op;
  Precision precision = Precision::fp32;
  std::uint64_t fused = 0;  ///< fused_bit() of each op folded into `op`
};

/// How a device runs the ops (CPU targets run every op as a call on the
/// calling thread and ignore it).
enum class Mode : std::uint8_t {
  device,  ///< device time: a CUDA-graph replay or a compiled runtime, launch gaps of ~1 us
  eager,   ///< an eager framework: each op is issued by the host, whose per-op cost can exceed the kernel's
};

constexpr const char* to_string(Mode m) noexcept { return m == Mode::device ? "device" : "eager"; }

inline bool parse(std::string_view s, Mode& out) noexcept {
  if (s == "device" || s == "graph") return out = Mode::device, true;
  if (s == "eager") return out = Mode::eager, true;
  return false;
}

/// How the mapper evaluates a curve of several features between its measured
/// shapes (MapperOptions::lookup, detail/interpolate.hpp).
enum class Lookup : std::uint8_t {
  exact,  ///< the interpolation computed at each query
  table,  ///< a table of it precomputed on a grid through the measured shapes, blended multilinearly
};

constexpr const char* to_string(Lookup l) noexcept { return l == Lookup::exact ? "exact" : "table"; }

inline bool parse(std::string_view s, Lookup& out) noexcept {
  if (s == "exact") return out = Lookup::exact, true;
  if (s == "table") return out = Lookup::table, true;
  return false;
}

/// Where a subgraph runs: what the whole forward pass moves, which sets how
/// far out in the memory hierarchy a layer finds its data. Zeros: unknown
/// (the subgraph is predicted as if repeated alone).
struct SequenceContext {
  double pass_bytes = 0;         ///< bytes the pass's subgraphs move, summed
  double pass_weight_bytes = 0;  ///< of which weights (parameters)
};

/// The context of a workload's subgraphs run one after the other.
template <class It, class Project>
SequenceContext sequence_context(It first, It last, Project graph_of) noexcept {
  SequenceContext c;
  for (; first != last; ++first) {
    const Subgraph& g = graph_of(*first);
    const Counts n = counts(g.op, g.precision);
    c.pass_bytes += n.bytes;
    c.pass_weight_bytes += n.weight_bytes;
  }
  return c;
}

/// What limits an op: arithmetic, memory traffic, a fixed per-call cost, or
/// (collectives) the links between GPUs.
enum class Bound : std::uint8_t { compute, memory, overhead, communication };

constexpr const char* to_string(Bound b) noexcept {
  return b == Bound::compute    ? "compute"
         : b == Bound::memory   ? "memory"
         : b == Bound::overhead ? "overhead"
                                : "communication";
}

/// Why an estimate is less than a straight lookup (bit flags).
enum EstimateWarning : std::uint32_t {
  warn_other_precision = 1u << 0,           ///< curve of another precision
  warn_other_variant = 1u << 1,             ///< curve of another variant of the op
  warn_equivalent_gemm = 1u << 2,           ///< op predicted as its equivalent GEMM
  warn_no_curve = 1u << 3,                  ///< no usable curve: default efficiency
  warn_extrapolated = 1u << 4,              ///< shape outside the measured range
  warn_no_peak = 1u << 5,                   ///< no peak for the precision
  warn_fusion_unmeasured = 1u << 6,         ///< fusion pattern not in the profile: unfused chain
  warn_fusion_unknown = 1u << 7,            ///< fused ops form no known pattern: unfused chain
  warn_no_bandwidth = 1u << 8,              ///< profile has no memory calibration
  warn_other_threads = 1u << 9,             ///< curve measured at another thread count
  warn_fusion_other = 1u << 10,             ///< fusion speedup measured at another precision
  warn_no_host_cost = 1u << 11,             ///< eager mode without a measured per-op host cost
  warn_collective_other_launch = 1u << 12,  ///< collective curve of the other launch mode (graph/eager)
  warn_collective_other_gpus = 1u << 13,    ///< no collective curve at this GPU count: nearest count's alpha-beta
  warn_no_collective = 1u << 14,            ///< no curve of this collective in the profile: not predicted
  warn_stand_in = 1u << 15,                 ///< op without a curve: its stand_in()'s (relu/add, copy for permute)
};

struct Estimate {
  /// The subgraph run on its own, repeatedly (data warm where it fits): what
  /// timing one layer in isolation measures. The parts below refer to it.
  double latency_s = 0, compute_s = 0, memory_s = 0, overhead_s = 0;
  /// The subgraph inside a sequence of others (a model's forward pass), with
  /// the cache state the pass leaves: equal to latency_s without a context.
  double in_sequence_s = 0;
  /// The executing unit's part of in_sequence_s (device work; the whole call
  /// on CPUs) and, in eager mode, the host's cost of issuing the subgraph
  /// (framework dispatch and launches), which overlaps the device's work of
  /// earlier ops: in_sequence_s = max(host_s, device_s). host_s is 0 outside
  /// eager mode.
  double device_s = 0, host_s = 0;
  Bound bound = Bound::compute;
  /// compute ops: achieved / peak of the precision; memory ops: achieved /
  /// memory-sweep bandwidth at the working set. 0 when unknown.
  double efficiency = 0;
  /// Collectives: bus bandwidth at the predicted latency (nccl-tests' busbw,
  /// ops.hpp collective_bus_factor), GB/s; 0 for other ops.
  double bus_gbps = 0;
  double interval_lo_s = 0, interval_hi_s = 0;
  std::uint32_t warnings = 0;
};

/// Human-readable text of the warning flags of an estimate.
inline std::vector<std::string> warning_messages(std::uint32_t w) {
  static const char* const text[] = {
      "no curve at this precision: used another precision's efficiency",
      "no curve for this variant: used another variant of the op",
      "no curve for this op: predicted as its equivalent GEMM",
      "no curve for this op: assumed half of peak (compute) or the memory sweep (bandwidth)",
      "shape outside the calibrated range: nearest measured efficiency held",
      "no peak known for this precision",
      "fusion pattern not calibrated: predicted as the unfused chain",
      "fused ops form no known pattern: predicted as the unfused chain",
      "profile has no memory calibration: memory time not bounded",
      "curve measured at another thread count (the nearest in the profile)",
      "fusion speedup measured at another precision",
      "eager mode: no per-op host cost measured for this op; used the profile's launch cost",
      "no collective curve of this launch mode (graph/eager): used the other one",
      "no collective curve at this GPU count: alpha and bus bandwidth of the nearest GPU count",
      "no curve of this collective in the profile (the roofline model has none): not predicted (latency 0)",
      "no curve for this elementwise op: used the curve of relu (one input) or add (two), which move the same bytes",
  };
  std::vector<std::string> out;
  for (std::size_t i = 0; i < sizeof text / sizeof text[0]; ++i)
    if (w & (1u << i)) out.emplace_back(text[i]);
  return out;
}

/// The measured fusion pattern a main op with fused ops forms, if any.
inline bool fusion_pattern_of(const Subgraph& g, FusionPattern& out) noexcept {
  const std::uint64_t f = g.fused, relu = fused_bit(OpKind::relu), gelu = fused_bit(OpKind::gelu),
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

/// A model's time from its subgraphs' estimates, in order: the host issues
/// subgraph i after subgraph i-1 (host_s each) and the device runs it once it
/// is issued and the previous one is done; the total is when the last one
/// finishes. Without host costs (device mode, CPUs) it is the sum of device_s.
template <class It, class Project>
double sequence_total(It first, It last, Project estimate_of) noexcept {
  double host = 0, device = 0;
  for (; first != last; ++first) {
    const Estimate& e = estimate_of(*first);
    host += e.host_s;
    device = std::max(device, host) + e.device_s;
  }
  return device;
}

}  // namespace hwcal
