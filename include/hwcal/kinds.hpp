#pragma once
// The vocabularies every other header speaks: precisions, the op table (one
// entry per operation kind) and fusion patterns. Names are the JSON
// spellings; parse() returns false on an unknown name so callers can report
// where it came from.
//
// Adding an op kind: one enumerator in OpKind and one row in op_table (same
// order; a static_assert checks it). When it is sized like an existing kind
// (every elementwise op is an ElementwiseShape) that is all the description
// it needs: JSON fields, validity, FLOP and byte counts, interpolation
// features and docs follow from its family (ops.hpp). A new family adds a
// struct to shapes.hpp and its ShapeTraits to ops.hpp. Then each backend that
// can run it gets a kernel.
//
// The collectives (all_reduce ... send_recv, family `collective`) are the
// exception: no backend runs them as a kernel; they are calibrated over
// several GPUs into the profile's `collectives` section (collectives.hpp) and
// predicted from it (docs/collectives.md).

#include <hwcal/shapes.hpp>

#include <array>
#include <cstdint>
#include <string_view>

namespace hwcal {

enum class Precision : std::uint8_t { fp64, fp32, tf32, fp16, bf16, int8, fp8 };
inline constexpr std::array<Precision, 7> all_precisions{Precision::fp64, Precision::fp32, Precision::tf32,
                                                         Precision::fp16, Precision::bf16, Precision::int8,
                                                         Precision::fp8};

/// Bytes one element occupies in memory. tf32 is stored as fp32.
constexpr int element_bytes(Precision p) noexcept {
  switch (p) {
    case Precision::fp64: return 8;
    case Precision::fp32:
    case Precision::tf32: return 4;
    case Precision::fp16:
    case Precision::bf16: return 2;
    case Precision::int8:
    case Precision::fp8: return 1;
  }
  return 4;
}

constexpr std::string_view to_string(Precision p) noexcept {
  constexpr std::array<std::string_view, 7> names{"fp64", "fp32", "tf32", "fp16", "bf16", "int8", "fp8"};
  return names[static_cast<std::size_t>(p)];
}

inline bool parse(std::string_view s, Precision& out) noexcept {
  for (Precision p : all_precisions)
    if (to_string(p) == s) {
      out = p;
      return true;
    }
  return false;
}

/// Operation kinds, one per workload "op" name (op_table has their rows).
enum class OpKind : std::uint8_t {
  matmul,
  linear,
  conv2d,
  attention,
  maxpool,
  avgpool,
  adaptive_avgpool,
  batchnorm,
  layernorm,
  rmsnorm,
  softmax,
  reduce_mean,
  add,
  mul,
  div,
  silu_mul,
  relu,
  gelu,
  silu,
  sigmoid,
  hardswish,
  hardsigmoid,
  tanh,
  relu6,
  hardtanh,
  clamp,
  neg,
  exp,
  square,
  sqrt,
  rsqrt,
  copy,
  transpose,
  permute,
  concat,
  rotary,
  embedding,
  all_reduce,
  all_gather,
  reduce_scatter,
  all_to_all,
  broadcast,
  send_recv,
};

/// What an op's throughput is measured against: FLOPs (compute ops) or bytes
/// moved (everything else).
enum class OpAxis : std::uint8_t { flops, bytes };

/// One row of the op table.
struct OpInfo {
  OpKind kind;
  std::string_view name;
  ShapeFamily family;
  OpAxis axis;
  /// Elementwise: inputs by default (1 unary, 2 binary); others 0.
  std::uint8_t inputs;
  /// Elementwise binary: the second input may be broadcast.
  bool broadcast;
  /// May be folded into a main op (a subgraph's "fused" list).
  bool fusable;
  /// May run in place (overwriting its first input).
  bool inplace;
  /// FLOPs per element (elementwise, rows, map and rotary families).
  double flops_per_element;
  /// Rows family: parameters read per column (layernorm gamma and beta: 2).
  std::uint8_t params_per_col;
  /// Rows family: one output per row instead of one per element.
  bool reduces;
  /// One line for docs and messages.
  std::string_view summary;
  /// Elementwise: defined on positive inputs only (sqrt, rsqrt), so the
  /// benchmarks draw them from [0.5, 2) instead of straddling zero.
  bool positive_inputs = false;
};

namespace detail {
constexpr OpInfo compute_op(OpKind k, std::string_view name, ShapeFamily f, std::string_view summary) {
  return {k, name, f, OpAxis::flops, 0, false, false, false, 0, 0, false, summary, false};
}
constexpr OpInfo memory_op(OpKind k, std::string_view name, ShapeFamily f, double flops_per_element,
                           std::string_view summary) {
  return {k, name, f, OpAxis::bytes, 0, false, false, false, flops_per_element, 0, false, summary, false};
}
constexpr OpInfo rows_op(OpKind k, std::string_view name, double flops_per_element, std::uint8_t params_per_col,
                         bool reduces, bool fusable, std::string_view summary) {
  return {k,       name,  ShapeFamily::rows, OpAxis::bytes,  0,       false,
          fusable, false, flops_per_element, params_per_col, reduces, summary,
          false};
}
/// Collectives: measured against the message's bytes; the reductions'
/// additions are not counted (communication bounds them, not arithmetic).
constexpr OpInfo collective_op(OpKind k, std::string_view name, std::string_view summary) {
  return {k, name, ShapeFamily::collective, OpAxis::bytes, 0, false, false, false, 0, 0, false, summary, false};
}
constexpr OpInfo unary_op(OpKind k, std::string_view name, std::string_view summary) {
  return {k, name, ShapeFamily::elementwise, OpAxis::bytes, 1, false, true, true, 1, 0, false, summary, false};
}
/// Elementwise math PyTorch runs as one kernel each (torch.neg, torch.exp, ...):
/// the pieces of norms and rotary embeddings a model writes by hand. Not
/// folded into a main op (no library epilogue has them).
constexpr OpInfo math_op(OpKind k, std::string_view name, bool positive_inputs, std::string_view summary) {
  return {k,     name,    ShapeFamily::elementwise, OpAxis::bytes, 1, false, false, true, 1, 0,
          false, summary, positive_inputs};
}
constexpr OpInfo binary_op(OpKind k, std::string_view name, bool broadcast, bool inplace, std::string_view summary) {
  return {k, name, ShapeFamily::elementwise, OpAxis::bytes, 2, broadcast, false, inplace, 1, 0, false, summary, false};
}
}  // namespace detail

/// The op table, in OpKind order.
inline constexpr std::array op_table{
    detail::compute_op(OpKind::matmul, "matmul", ShapeFamily::matmul, "batched GEMM C[b] = A[b] B[b]"),
    detail::compute_op(OpKind::linear, "linear", ShapeFamily::matmul, "y = x W^T (+ bias), one weight for all rows"),
    detail::compute_op(OpKind::conv2d, "conv2d", ShapeFamily::conv2d, "2-D convolution (dense, grouped, depthwise)"),
    detail::compute_op(OpKind::attention, "attention", ShapeFamily::attention,
                       "scaled dot-product attention, fused (flash-style), grouped-query and decode"),
    detail::memory_op(OpKind::maxpool, "maxpool", ShapeFamily::pool2d, 1, "2-D max pooling"),
    detail::memory_op(OpKind::avgpool, "avgpool", ShapeFamily::pool2d, 1, "2-D average pooling"),
    detail::memory_op(OpKind::adaptive_avgpool, "adaptive_avgpool", ShapeFamily::adaptive_pool, 1,
                      "adaptive average pooling to out_h x out_w"),
    OpInfo{OpKind::batchnorm, "batchnorm", ShapeFamily::map, OpAxis::bytes, 0, false, true, false, 2, 0, false,
           "inference batchnorm (running statistics)", false},
    detail::rows_op(OpKind::layernorm, "layernorm", 5, 2, false, false, "layer normalisation over the last dimension"),
    detail::rows_op(OpKind::rmsnorm, "rmsnorm", 4, 1, false, false, "RMS normalisation over the last dimension"),
    detail::rows_op(OpKind::softmax, "softmax", 5, 0, false, true, "softmax over the last dimension"),
    detail::rows_op(OpKind::reduce_mean, "reduce_mean", 1, 0, true, false, "mean over the last dimension"),
    detail::binary_op(OpKind::add, "add", true, true, "a + b (b may broadcast)"),
    detail::binary_op(OpKind::mul, "mul", true, true, "a * b (b may broadcast)"),
    detail::binary_op(OpKind::div, "div", true, true, "a / b (b may broadcast)"),
    detail::binary_op(OpKind::silu_mul, "silu_mul", false, false, "silu(a) * b in one kernel (SwiGLU)"),
    detail::unary_op(OpKind::relu, "relu", "max(x, 0)"),
    detail::unary_op(OpKind::gelu, "gelu", "x * Phi(x) (erf form)"),
    detail::unary_op(OpKind::silu, "silu", "x * sigmoid(x)"),
    detail::unary_op(OpKind::sigmoid, "sigmoid", "1 / (1 + exp(-x))"),
    detail::unary_op(OpKind::hardswish, "hardswish", "x * relu6(x + 3) / 6"),
    detail::unary_op(OpKind::hardsigmoid, "hardsigmoid", "relu6(x + 3) / 6"),
    detail::unary_op(OpKind::tanh, "tanh", "tanh(x)"),
    detail::unary_op(OpKind::relu6, "relu6", "min(max(x, 0), 6)"),
    detail::unary_op(OpKind::hardtanh, "hardtanh", "min(max(x, -1), 1)"),
    detail::unary_op(OpKind::clamp, "clamp", "min(max(x, lo), hi)"),
    detail::math_op(OpKind::neg, "neg", false, "-x"),
    detail::math_op(OpKind::exp, "exp", false, "e^x"),
    detail::math_op(OpKind::square, "square", false, "x * x (torch.square, x.pow(2))"),
    detail::math_op(OpKind::sqrt, "sqrt", true, "sqrt(x)"),
    detail::math_op(OpKind::rsqrt, "rsqrt", true, "1 / sqrt(x)"),
    detail::memory_op(OpKind::copy, "copy", ShapeFamily::bytes, 0, "a contiguous copy"),
    detail::memory_op(OpKind::transpose, "transpose", ShapeFamily::bytes, 0,
                      "a 2-D transpose materialised (permute + contiguous)"),
    detail::memory_op(OpKind::permute, "permute", ShapeFamily::bytes, 0,
                      "a tensor copied out of a permuted layout in runs: a head split or merge, a channel "
                      "shuffle (permute + contiguous where the innermost dimension stays near-contiguous)"),
    detail::memory_op(OpKind::concat, "concat", ShapeFamily::bytes, 0,
                      "tensors joined along one dimension (torch.cat, torch.stack)"),
    detail::memory_op(OpKind::rotary, "rotary", ShapeFamily::rotary, 3,
                      "rotary position embedding of one tensor, one kernel"),
    detail::memory_op(OpKind::embedding, "embedding", ShapeFamily::embedding, 0,
                      "rows gathered from an embedding table"),
    detail::collective_op(OpKind::all_reduce, "all_reduce",
                          "every GPU ends with the sum of all GPUs' buffers (NCCL AllReduce)"),
    detail::collective_op(OpKind::all_gather, "all_gather",
                          "every GPU ends with the concatenation of all GPUs' pieces (NCCL AllGather)"),
    detail::collective_op(OpKind::reduce_scatter, "reduce_scatter",
                          "every GPU ends with its piece of the sum of all GPUs' buffers (NCCL ReduceScatter)"),
    detail::collective_op(OpKind::all_to_all, "all_to_all",
                          "every GPU sends a distinct piece to every other GPU (NCCL AlltoAll)"),
    detail::collective_op(OpKind::broadcast, "broadcast", "one GPU's buffer copied to every GPU (NCCL Broadcast)"),
    detail::collective_op(
        OpKind::send_recv, "send_recv",
        "every GPU sends its buffer to the next GPU of a ring and receives the previous one's (NCCL Send/Recv)"),
};
inline constexpr int op_kind_count = static_cast<int>(op_table.size());

namespace detail {
constexpr bool op_table_in_order() {
  for (int i = 0; i < op_kind_count; ++i)
    if (static_cast<int>(op_table[static_cast<std::size_t>(i)].kind) != i) return false;
  return true;
}
}  // namespace detail
static_assert(detail::op_table_in_order(), "op_table rows must follow the order of OpKind");
static_assert(op_kind_count <= 64, "Subgraph::fused holds one bit per op kind");

constexpr const OpInfo& info(OpKind k) noexcept { return op_table[static_cast<std::size_t>(k)]; }
constexpr std::string_view to_string(OpKind k) noexcept { return info(k).name; }

inline bool parse(std::string_view s, OpKind& out) noexcept {
  for (const OpInfo& o : op_table)
    if (o.name == s) {
      out = o.kind;
      return true;
    }
  return false;
}

/// Ops measured against FLOPs (the rest against bytes moved).
constexpr bool is_compute_op(OpKind k) noexcept { return info(k).axis == OpAxis::flops; }
constexpr bool is_elementwise(OpKind k) noexcept { return info(k).family == ShapeFamily::elementwise; }
/// The op whose curve stands in for k where a profile has none of k's (it
/// was calibrated before k was an op kind): an elementwise op moves the bytes
/// of relu (one input) or add (two), a permute those of a copy; k otherwise.
constexpr OpKind stand_in(OpKind k) noexcept {
  if (is_elementwise(k)) return info(k).inputs == 2 ? OpKind::add : OpKind::relu;
  return k == OpKind::permute ? OpKind::copy : k;
}
/// Communication between GPUs, calibrated in the profile's collectives section
/// rather than as a kernel of one backend.
constexpr bool is_collective(OpKind k) noexcept { return info(k).family == ShapeFamily::collective; }
/// Ops that may be folded into a main op: batchnorm, softmax and the unary activations.
constexpr bool is_fusable(OpKind k) noexcept { return info(k).fusable; }

/// Fusion patterns measured fused vs unfused.
enum class FusionPattern : std::uint8_t {
  linear_bias,
  linear_bias_relu,
  linear_bias_gelu,
  conv_relu,
  conv_bn,
  conv_bn_relu,
  qkt_softmax,
  attention,
};
inline constexpr int fusion_pattern_count = static_cast<int>(FusionPattern::attention) + 1;

constexpr std::string_view to_string(FusionPattern f) noexcept {
  constexpr std::array<std::string_view, fusion_pattern_count> names{
      "linear_bias", "linear_bias_relu", "linear_bias_gelu", "conv_relu",
      "conv_bn",     "conv_bn_relu",     "qkt_softmax",      "attention"};
  return names[static_cast<std::size_t>(f)];
}

inline bool parse(std::string_view s, FusionPattern& out) noexcept {
  for (int i = 0; i < fusion_pattern_count; ++i)
    if (to_string(static_cast<FusionPattern>(i)) == s) {
      out = static_cast<FusionPattern>(i);
      return true;
    }
  return false;
}

/// The op each fusion pattern is anchored on (the shape its samples record).
constexpr OpKind fusion_anchor(FusionPattern f) noexcept {
  switch (f) {
    case FusionPattern::linear_bias:
    case FusionPattern::linear_bias_relu:
    case FusionPattern::linear_bias_gelu: return OpKind::linear;
    case FusionPattern::conv_relu:
    case FusionPattern::conv_bn:
    case FusionPattern::conv_bn_relu: return OpKind::conv2d;
    case FusionPattern::qkt_softmax:
    case FusionPattern::attention: return OpKind::attention;
  }
  return OpKind::linear;
}

}  // namespace hwcal
