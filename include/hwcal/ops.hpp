#pragma once
// Operation descriptors and the one set of counting functions that both the
// benchmarks and the mapper use, so a benchmarked conv and a predicted conv can
// never count differently.
//
// Conventions (docs/method.md):
//  - FLOPs: 2 per multiply-add. Elementwise ops count 1 FLOP per output element
//    whatever the function (a relu and a gelu both count 1); pooling counts one
//    per window element; batchnorm 2 per element (scale and shift folded);
//    layernorm and softmax 5 per element; attention counts the dense work
//    (QK^T + PV = 4*b*h*sq*skv*d, plus 5 per score for scale and softmax),
//    also when causal.
//  - Bytes: each input and weight read once, each output written once, at the
//    element size of the precision. copy/transpose/concat move `bytes` in and
//    `bytes` out.
// Shapes use the NCHW / PyTorch conventions: conv weights are [K][C/g][R][S],
// linear weights [N][K] (out x in).

#include <hwcal/kinds.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <variant>

namespace hwcal {

using i64 = std::int64_t;

/// Batched GEMM C[b] = A[b] (m x k) * B[b] (k x n); also linear (batch 1,
/// y = x W^T + bias with x: m x k, W: n x k).
struct MatmulShape {
  i64 batch = 1, m = 0, n = 0, k = 0;
  bool bias = false;
};

struct Conv2dShape {
  i64 n = 1, c = 0, h = 0, w = 0;  // input NCHW
  i64 k = 0, r = 0, s = 0;         // output channels and kernel height/width
  i64 stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  i64 groups = 1;
  bool bias = false;
  constexpr i64 out_h() const noexcept { return (h + 2 * pad_h - dil_h * (r - 1) - 1) / stride_h + 1; }
  constexpr i64 out_w() const noexcept { return (w + 2 * pad_w - dil_w * (s - 1) - 1) / stride_w + 1; }
};

/// maxpool / avgpool (avgpool counts padding in the divisor, as PyTorch's default).
struct Pool2dShape {
  i64 n = 1, c = 0, h = 0, w = 0;
  i64 r = 0, s = 0;
  i64 stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  constexpr i64 out_h() const noexcept { return (h + 2 * pad_h - r) / stride_h + 1; }
  constexpr i64 out_w() const noexcept { return (w + 2 * pad_w - s) / stride_w + 1; }
};

struct AdaptivePoolShape {
  i64 n = 1, c = 0, h = 0, w = 0, out_h = 1, out_w = 1;
};

/// Activations in NCHW (batchnorm).
struct MapShape {
  i64 n = 1, c = 0, h = 1, w = 1;
};

/// Row-wise ops over the last dimension (layernorm, softmax, reduce_mean).
struct RowsShape {
  i64 rows = 0, cols = 0;
};

/// Elementwise ops. A two-input op reads `broadcast` elements of its second
/// input when it is broadcast (0 = same size as the output). In place, the
/// result overwrites the (first) input: no output tensor is allocated and the
/// footprint halves (nn.ReLU(inplace=True), `x += y`).
struct ElementwiseShape {
  i64 elements = 0;
  int inputs = 1;
  i64 broadcast = 0;
  bool inplace = false;
};

struct AttentionShape {
  i64 batch = 1, heads = 1, seq_q = 0, seq_kv = 0, head_dim = 0;
  bool causal = false;
};

/// Pure data movement (copy, transpose, concat): size of the tensor produced.
struct BytesShape {
  i64 bytes = 0;
};

using Shape = std::variant<MatmulShape, Conv2dShape, Pool2dShape, AdaptivePoolShape, MapShape, RowsShape,
                           ElementwiseShape, AttentionShape, BytesShape>;

/// One operation: what it is and its shape.
struct OpDesc {
  OpKind kind = OpKind::matmul;
  Shape shape = MatmulShape{};
};

/// Which Shape alternative an op kind uses.
constexpr std::size_t shape_index(OpKind k) noexcept {
  switch (k) {
    case OpKind::matmul:
    case OpKind::linear: return 0;
    case OpKind::conv2d: return 1;
    case OpKind::maxpool:
    case OpKind::avgpool: return 2;
    case OpKind::adaptive_avgpool: return 3;
    case OpKind::batchnorm: return 4;
    case OpKind::layernorm:
    case OpKind::softmax:
    case OpKind::reduce_mean: return 5;
    case OpKind::attention: return 7;
    case OpKind::copy:
    case OpKind::transpose:
    case OpKind::concat: return 8;
    default: return 6;  // elementwise
  }
}

inline bool shape_matches(const OpDesc& op) noexcept { return op.shape.index() == shape_index(op.kind); }

namespace detail {
template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

inline i64 elements_of(const MapShape& s) noexcept { return s.n * s.c * s.h * s.w; }
inline double log2p(double x) noexcept { return std::log2(std::max(x, 1.0)); }
}  // namespace detail

/// Floating-point (or integer) operations of one execution, 2 per multiply-add.
inline double flops(const OpDesc& op) noexcept {
  using namespace detail;
  return std::visit(
      overloaded{
          [&](const MatmulShape& s) {
            double f = 2.0 * s.batch * s.m * s.n * s.k;
            if (s.bias) f += double(s.batch) * s.m * s.n;
            return f;
          },
          [&](const Conv2dShape& s) {
            const double outputs = double(s.n) * s.k * s.out_h() * s.out_w();
            double f = 2.0 * outputs * (s.c / s.groups) * s.r * s.s;
            if (s.bias) f += outputs;
            return f;
          },
          [&](const Pool2dShape& s) { return double(s.n) * s.c * s.out_h() * s.out_w() * s.r * s.s; },
          [&](const AdaptivePoolShape& s) { return double(s.n) * s.c * (double(s.h) * s.w + double(s.out_h) * s.out_w); },
          [&](const MapShape& s) { return 2.0 * elements_of(s); },
          [&](const RowsShape& s) {
            const double per = op.kind == OpKind::reduce_mean ? 1.0 : 5.0;
            return per * s.rows * s.cols;
          },
          [&](const ElementwiseShape& s) { return double(s.elements); },
          [&](const AttentionShape& s) {
            const double scores = double(s.batch) * s.heads * s.seq_q * s.seq_kv;
            return 4.0 * scores * s.head_dim + 5.0 * scores;
          },
          [&](const BytesShape&) { return 0.0; },
      },
      op.shape);
}

/// Bytes moved by one execution at precision p: inputs and weights read once,
/// outputs written once.
inline double bytes(const OpDesc& op, Precision p) noexcept {
  using namespace detail;
  const double e = element_bytes(p);
  return std::visit(
      overloaded{
          [&](const MatmulShape& s) {
            double n = double(s.batch) * (double(s.m) * s.k + double(s.m) * s.n);
            // linear has one weight matrix for all rows; matmul one B per batch
            n += (op.kind == OpKind::linear ? 1.0 : double(s.batch)) * double(s.k) * s.n;
            if (s.bias) n += double(s.n);
            return n * e;
          },
          [&](const Conv2dShape& s) {
            double n = double(s.n) * s.c * s.h * s.w + double(s.k) * (s.c / s.groups) * s.r * s.s +
                       double(s.n) * s.k * s.out_h() * s.out_w();
            if (s.bias) n += double(s.k);
            return n * e;
          },
          [&](const Pool2dShape& s) { return (double(s.n) * s.c * s.h * s.w + double(s.n) * s.c * s.out_h() * s.out_w()) * e; },
          [&](const AdaptivePoolShape& s) {
            return (double(s.n) * s.c * s.h * s.w + double(s.n) * s.c * s.out_h * s.out_w) * e;
          },
          [&](const MapShape& s) { return (2.0 * elements_of(s) + 4.0 * s.c) * e; },
          [&](const RowsShape& s) {
            const double x = double(s.rows) * s.cols;
            switch (op.kind) {
              case OpKind::layernorm: return (2.0 * x + 2.0 * s.cols) * e;
              case OpKind::reduce_mean: return (x + double(s.rows)) * e;
              default: return 2.0 * x * e;
            }
          },
          [&](const ElementwiseShape& s) {
            double n = 2.0 * s.elements;  // first input + output
            if (s.inputs >= 2) n += s.broadcast > 0 ? double(s.broadcast) : double(s.elements);
            return n * e;
          },
          [&](const AttentionShape& s) {
            const double bh = double(s.batch) * s.heads;
            return bh * (2.0 * s.seq_q * s.head_dim + 2.0 * s.seq_kv * s.head_dim) * e;
          },
          [&](const BytesShape& s) { return 2.0 * double(s.bytes); },
      },
      op.shape);
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

/// Memory traffic of a fusion pattern, by the byte convention above: fused, the
/// anchor op reads its inputs and writes the final output once; unfused, every
/// op after the first is a separate pass that reads the intermediate and writes
/// it back (plus its own parameters).
inline double fusion_bytes(FusionPattern f, const OpDesc& anchor, Precision p, bool fused) noexcept {
  const double e = element_bytes(p);
  if (f == FusionPattern::qkt_softmax || f == FusionPattern::attention) {
    const auto& s = std::get<AttentionShape>(anchor.shape);
    const double bh = double(s.batch) * s.heads;
    const double qk = bh * (double(s.seq_q) + s.seq_kv) * s.head_dim * e;  // read Q and K
    const double scores = bh * double(s.seq_q) * s.seq_kv * e;
    const double v_o = bh * (double(s.seq_kv) + s.seq_q) * s.head_dim * e;  // read V, write O
    if (f == FusionPattern::qkt_softmax) return fused ? qk + scores : qk + 3 * scores;  // S written, read, P written
    return fused ? qk + v_o : qk + 4 * scores + v_o;  // S w/r, P w/r
  }
  const double anchor_bytes = bytes(anchor, p);
  double out = 0, channels = 0;
  if (anchor.kind == OpKind::linear) {
    const auto& s = std::get<MatmulShape>(anchor.shape);
    out = double(s.m) * s.n * e;
    channels = double(s.n);
  } else {
    const auto& s = std::get<Conv2dShape>(anchor.shape);
    out = double(s.n) * s.k * s.out_h() * s.out_w() * e;
    channels = double(s.k);
  }
  if (fused) return anchor_bytes;
  double extra = 0;
  switch (f) {
    case FusionPattern::linear_bias: extra = 2 * out + channels * e; break;
    case FusionPattern::linear_bias_relu:
    case FusionPattern::linear_bias_gelu: extra = 4 * out + channels * e; break;
    case FusionPattern::conv_relu: extra = 2 * out; break;
    case FusionPattern::conv_bn: extra = 2 * out + 4 * channels * e; break;
    case FusionPattern::conv_bn_relu: extra = 4 * out + 4 * channels * e; break;
    default: break;
  }
  return anchor_bytes + extra;
}

/// Longest reduction an output element accumulates over (used for numerical
/// tolerances when checking results).
inline i64 reduction_length(const OpDesc& op) noexcept {
  using namespace detail;
  return std::visit(overloaded{
                        [](const MatmulShape& s) { return s.k; },
                        [](const Conv2dShape& s) { return (s.c / s.groups) * s.r * s.s; },
                        [](const Pool2dShape& s) { return s.r * s.s; },
                        [](const AdaptivePoolShape& s) { return (s.h + s.out_h - 1) / s.out_h * ((s.w + s.out_w - 1) / s.out_w); },
                        [](const RowsShape& s) { return s.cols; },
                        [](const AttentionShape& s) { return std::max(s.head_dim, s.seq_kv); },
                        [](const auto&) { return i64{1}; },
                    },
                    op.shape);
}

/// Sub-families of an op whose efficiency curves are kept apart: depthwise and
/// dense convolutions, unary and binary elementwise, causal attention.
enum class Variant : std::uint8_t {
  none,
  dense,
  depthwise,
  grouped,
  unary,
  binary,
  broadcast,
  full,
  causal,
  unary_inplace,
  binary_inplace,
};

constexpr std::string_view to_string(Variant v) noexcept {
  constexpr std::array<std::string_view, 11> names{"",          "dense", "depthwise", "grouped",       "unary",         "binary",
                                                   "broadcast", "full",  "causal",    "unary_inplace", "binary_inplace"};
  return names[static_cast<std::size_t>(v)];
}

inline bool parse(std::string_view s, Variant& out) noexcept {
  for (int i = 0; i <= static_cast<int>(Variant::binary_inplace); ++i)
    if (to_string(static_cast<Variant>(i)) == s) {
      out = static_cast<Variant>(i);
      return true;
    }
  return false;
}

inline Variant variant_of(const OpDesc& op) noexcept {
  using namespace detail;
  return std::visit(overloaded{
                        [](const Conv2dShape& s) {
                          if (s.groups == 1) return Variant::dense;
                          if (s.groups == s.c) return Variant::depthwise;
                          return Variant::grouped;
                        },
                        [](const ElementwiseShape& s) {
                          if (s.inputs < 2) return s.inplace ? Variant::unary_inplace : Variant::unary;
                          if (s.broadcast > 0 && s.broadcast < s.elements) return Variant::broadcast;
                          return s.inplace ? Variant::binary_inplace : Variant::binary;
                        },
                        [](const AttentionShape& s) { return s.causal ? Variant::causal : Variant::full; },
                        [](const auto&) { return Variant::none; },
                    },
                    op.shape);
}

/// The axes along which an op's efficiency is interpolated: log2 of the shape
/// dimensions that move it. Unused trailing entries are 0.
inline constexpr int max_features = 5;
using Features = std::array<float, max_features>;

struct FeatureSet {
  Features x{};
  int count = 0;
};

inline FeatureSet features(const OpDesc& op) noexcept {
  using namespace detail;
  FeatureSet f;
  auto push = [&f](double v) { f.x[static_cast<std::size_t>(f.count++)] = static_cast<float>(log2p(v)); };
  std::visit(overloaded{
                 [&](const MatmulShape& s) {
                   if (op.kind == OpKind::matmul) push(double(s.batch));
                   push(double(s.m));
                   push(double(s.n));
                   push(double(s.k));
                 },
                 [&](const Conv2dShape& s) {
                   push(double(s.n) * s.out_h() * s.out_w());
                   push(double(s.c / s.groups));
                   push(double(s.groups == s.c ? s.c : s.k / s.groups));
                   push(double(s.r) * s.s);
                   push(double(s.stride_h) * s.stride_w);
                 },
                 [&](const Pool2dShape& s) {
                   push(double(s.n) * s.c);
                   push(double(s.out_h()) * s.out_w());
                   push(double(s.r) * s.s);
                   push(double(s.stride_h) * s.stride_w);
                 },
                 [&](const AdaptivePoolShape& s) {
                   push(double(s.n) * s.c);
                   push(double(s.h) * s.w);
                   push(double(s.out_h) * s.out_w);
                 },
                 [&](const MapShape& s) {
                   push(double(s.n) * s.c);
                   push(double(s.h) * s.w);
                 },
                 [&](const RowsShape& s) {
                   push(double(s.rows));
                   push(double(s.cols));
                 },
                 [&](const ElementwiseShape& s) { push(double(s.elements)); },
                 [&](const AttentionShape& s) {
                   push(double(s.batch) * s.heads);
                   push(double(s.seq_q));
                   push(double(s.seq_kv));
                   push(double(s.head_dim));
                 },
                 [&](const BytesShape& s) { push(double(s.bytes)); },
             },
             op.shape);
  return f;
}

/// The work an op's throughput is measured against: FLOPs for compute ops,
/// bytes for the rest.
inline double work(const OpDesc& op, Precision p) noexcept { return is_compute_op(op.kind) ? flops(op) : bytes(op, p); }

/// Why a shape is invalid, or empty when it is fine. Used by the workload
/// parser and by benchmarks before allocating.
inline std::string_view invalid_reason(const OpDesc& op) noexcept {
  using namespace detail;
  if (!shape_matches(op)) return "shape does not match the op";
  return std::visit(
      overloaded{
          [](const MatmulShape& s) -> std::string_view {
            if (s.batch < 1 || s.m < 1 || s.n < 1 || s.k < 1) return "batch, m, n and k must be positive";
            return {};
          },
          [](const Conv2dShape& s) -> std::string_view {
            if (s.n < 1 || s.c < 1 || s.h < 1 || s.w < 1 || s.k < 1 || s.r < 1 || s.s < 1)
              return "n, c, h, w, k, r and s must be positive";
            if (s.stride_h < 1 || s.stride_w < 1 || s.dil_h < 1 || s.dil_w < 1) return "stride and dilation must be positive";
            if (s.pad_h < 0 || s.pad_w < 0) return "padding must not be negative";
            if (s.groups < 1 || s.c % s.groups != 0 || s.k % s.groups != 0)
              return "groups must divide both c and k";
            if (s.out_h() < 1 || s.out_w() < 1) return "kernel larger than the padded input";
            return {};
          },
          [](const Pool2dShape& s) -> std::string_view {
            if (s.n < 1 || s.c < 1 || s.h < 1 || s.w < 1 || s.r < 1 || s.s < 1) return "n, c, h, w, r and s must be positive";
            if (s.stride_h < 1 || s.stride_w < 1) return "stride must be positive";
            if (s.pad_h < 0 || s.pad_w < 0) return "padding must not be negative";
            if (2 * s.pad_h > s.r || 2 * s.pad_w > s.s) return "padding must be at most half the window";
            if (s.out_h() < 1 || s.out_w() < 1) return "window larger than the padded input";
            return {};
          },
          [](const AdaptivePoolShape& s) -> std::string_view {
            if (s.n < 1 || s.c < 1 || s.h < 1 || s.w < 1 || s.out_h < 1 || s.out_w < 1) return "all sizes must be positive";
            return {};
          },
          [](const MapShape& s) -> std::string_view {
            if (s.n < 1 || s.c < 1 || s.h < 1 || s.w < 1) return "n, c, h and w must be positive";
            return {};
          },
          [](const RowsShape& s) -> std::string_view {
            if (s.rows < 1 || s.cols < 1) return "rows and cols must be positive";
            return {};
          },
          [](const ElementwiseShape& s) -> std::string_view {
            if (s.elements < 1) return "elements must be positive";
            if (s.inputs != 1 && s.inputs != 2) return "inputs must be 1 or 2";
            if (s.broadcast < 0 || s.broadcast > s.elements) return "broadcast must be between 0 and elements";
            if (s.broadcast > 0 && s.elements % s.broadcast != 0) return "broadcast must divide elements";
            return {};
          },
          [](const AttentionShape& s) -> std::string_view {
            if (s.batch < 1 || s.heads < 1 || s.seq_q < 1 || s.seq_kv < 1 || s.head_dim < 1)
              return "batch, heads, seq_q, seq_kv and head_dim must be positive";
            return {};
          },
          [](const BytesShape& s) -> std::string_view {
            if (s.bytes < 1) return "bytes must be positive";
            return {};
          },
      },
      op.shape);
}

}  // namespace hwcal
