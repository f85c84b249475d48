#pragma once
// The vocabularies every other header speaks: precisions, operation kinds,
// fusion patterns. Names are the JSON spellings; parse_* return false on an
// unknown name so callers can report where it came from.

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
  switch (p) {
    case Precision::fp64: return "fp64";
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::fp16: return "fp16";
    case Precision::bf16: return "bf16";
    case Precision::int8: return "int8";
    case Precision::fp8: return "fp8";
  }
  return "?";
}

inline bool parse(std::string_view s, Precision& out) noexcept {
  for (Precision p : all_precisions)
    if (to_string(p) == s) {
      out = p;
      return true;
    }
  return false;
}

/// Operation kinds, one per workload "op" name. Grouped by what limits them:
/// the first group is measured against FLOPs, the rest against bytes moved.
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
  softmax,
  reduce_mean,
  add,
  mul,
  div,
  relu,
  gelu,
  silu,
  sigmoid,
  hardswish,
  hardsigmoid,
  tanh,
  copy,
  transpose,
  concat,
};
inline constexpr int op_kind_count = static_cast<int>(OpKind::concat) + 1;

constexpr std::string_view to_string(OpKind k) noexcept {
  constexpr std::array<std::string_view, op_kind_count> names{
      "matmul", "linear",  "conv2d",    "attention",   "maxpool", "avgpool", "adaptive_avgpool", "batchnorm",
      "layernorm", "softmax", "reduce_mean", "add",     "mul",     "div",     "relu",             "gelu",
      "silu",   "sigmoid", "hardswish", "hardsigmoid", "tanh",    "copy",    "transpose",        "concat"};
  return names[static_cast<std::size_t>(k)];
}

inline bool parse(std::string_view s, OpKind& out) noexcept {
  for (int i = 0; i < op_kind_count; ++i)
    if (to_string(static_cast<OpKind>(i)) == s) {
      out = static_cast<OpKind>(i);
      return true;
    }
  return false;
}

/// Ops whose cost is dominated by arithmetic (efficiency is measured against the
/// FLOP peak); all others are measured as achieved bandwidth over bytes moved.
constexpr bool is_compute_op(OpKind k) noexcept {
  return k == OpKind::matmul || k == OpKind::linear || k == OpKind::conv2d || k == OpKind::attention;
}

constexpr bool is_elementwise(OpKind k) noexcept {
  return k >= OpKind::add && k <= OpKind::tanh;
}

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

}  // namespace hwcal
