#pragma once
// Which (op, precision) pairs ATen 1.13 runs on the CPU, and how. A static
// table, verified against libtorch 1.13 (Debian 1.13.1) by running every op
// in every dtype and watching oneDNN's verbose log:
//  - fp32, fp64: every op has a CPU kernel.
//  - bf16: every op has a kernel. conv2d always goes to oneDNN, and
//    linear/matmul (and attention's batched products) go to oneDNN's matmul
//    when the product has more than 16^3 multiply-adds; both use bf16
//    instructions only where the CPU has avx512_bf16 (ATen's own check asks
//    for avx512bw/vl/dq; without those it falls back to its reference gemm).
//    Smaller products run ATen's reference gemm. Without oneDNN (an AVX2-only
//    CPU: a Zen 3, 2026-12-07) at::matmul's products (bmm, and mm of an
//    untransposed B) and slow_conv2d accumulate bf16 in bf16, so their error
//    grows with the reduction length (512 terms: 35-45% of the result; a 3x3
//    convolution of 64 channels: 129%), while linear's x W^T keeps an fp32
//    sum (0.3%): not a bf16 product's result, so those are refused there,
//    with that reason.
//    Pooling, norms, softmax and activations keep bf16 in memory and compute
//    in fp32 registers (Vectorized<BFloat16>), which is how every CPU does it.
//  - fp16: only add/mul/div, neg, pow (square), cat, mean (and adaptive_avg_pool2d to 1x1,
//    which is a mean) and the data movers (embedding's index_select too)
//    have kernels; ATen 1.13 has no Vectorized<Half>, so the arithmetic runs
//    a scalar loop through float (about 4x slower than fp32 here). Of the
//    chains, rotary (mul, neg, cat, add) and rmsnorm (LLaMA's upcasts to
//    fp32; only the casts and the weight multiply are Half) therefore run;
//    everything else throws "... not implemented for 'Half'" (silu for
//    silu_mul, clamp_scalar for relu6/hardtanh/clamp).
//  - tf32, int8, fp8: no eager CPU float ops at all.
// Attention is also refused where eager PyTorch would not fit in half of the
// machine's memory (op_support).

#include <hwcal/torch/guard.hpp>

#include <hwcal/kernel.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/ops.hpp>

#include <cstdio>
#include <string>
#include <variant>

#include <unistd.h>

namespace hwcal {
namespace aten {
namespace detail {

/// ATen's mkldnn_bf16_device_check() (oneDNN takes bf16 work at all) and
/// whether the CPU has bf16 dot products (oneDNN runs it natively).
struct Bf16Cpu {
  bool onednn = false;
  bool native = false;
  static const Bf16Cpu& get() noexcept {
    static const Bf16Cpu instance = [] {
      Bf16Cpu c;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
      c.onednn = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512dq");
      c.native = c.onednn && __builtin_cpu_supports("avx512bf16");
#endif
      return c;
    }();
    return instance;
  }
};

/// ATen hands a bf16 product to oneDNN above this many multiply-adds
/// (ATen's size check before mkldnn_matmul; verified with ONEDNN_VERBOSE=1:
/// 16x16x16 stays in ATen, 16x16x17 goes to oneDNN).
inline constexpr double onednn_bf16_min_product = 16.0 * 16 * 16;

/// Why ATen's bf16 fallbacks are refused on a CPU without oneDNN bf16.
inline constexpr const char* bf16_sum_in_bf16 =
    "accumulates bf16 products in bf16 on a CPU without oneDNN bf16 (avx512bw/vl/dq): its error grows with the "
    "reduction length, not a bf16 product's result";

/// bf16 convolutions (and the conv_bn fusion) on a CPU without oneDNN bf16:
/// ATen falls back to slow_conv2d, which sums in bf16.
inline Support slow_conv2d_bf16_refusal() {
  return {SupportLevel::unsupported, std::string("ATen 1.13's slow_conv2d ") + bf16_sum_in_bf16};
}

/// `sums_in_bf16`: the path ATen takes without oneDNN accumulates in bf16
/// (at::matmul's; linear's transposed weight keeps an fp32 sum).
inline Support bf16_gemm_support(double product, bool sums_in_bf16) {
  const auto& cpu = Bf16Cpu::get();
  if (!cpu.onednn && sums_in_bf16)
    return {SupportLevel::unsupported, std::string("ATen 1.13's matmul ") + bf16_sum_in_bf16};
  if (!cpu.onednn || product <= onednn_bf16_min_product)
    return {SupportLevel::emulated, "ATen's reference gemm (no oneDNN for " +
                                        std::string(cpu.onednn ? "products of at most 16^3" : "this CPU") + ")"};
  if (!cpu.native) return {SupportLevel::emulated, "oneDNN matmul without avx512_bf16: bf16 converted to fp32"};
  return {SupportLevel::native, "oneDNN matmul (avx512_bf16/AMX)"};
}

inline Support bf16_support(const OpDesc& op) {
  switch (op.kind) {
    case OpKind::conv2d: {
      const auto& cpu = Bf16Cpu::get();
      if (!cpu.onednn) return slow_conv2d_bf16_refusal();
      if (!cpu.native)
        return {SupportLevel::emulated, "oneDNN convolution without avx512_bf16: bf16 converted to fp32"};
      return {SupportLevel::native, "oneDNN convolution (avx512_bf16/AMX)"};
    }
    case OpKind::linear:
    case OpKind::matmul: {
      const auto& s = std::get<MatmulShape>(op.shape);
      const double batch = op.kind == OpKind::matmul ? double(s.batch) : 1.0;
      return bf16_gemm_support(batch * double(s.m) * double(s.n) * double(s.k), op.kind == OpKind::matmul);
    }
    case OpKind::attention: {
      // (the softmax-weighted sums stay near their inputs: within the check on the AVX2 CPU too)
      const auto& s = std::get<AttentionShape>(op.shape);
      return bf16_gemm_support(double(s.batch) * s.heads * s.seq_q * s.seq_kv * s.head_dim, false);
    }
    case OpKind::rmsnorm:
      return {SupportLevel::native, "LLaMA's RMSNorm upcasts to fp32 (x.float()) and casts back before the weight"};
    case OpKind::copy:
    case OpKind::transpose:
    case OpKind::permute:
    case OpKind::concat:
    case OpKind::embedding: return {SupportLevel::native, "data movement"};
    default: return {SupportLevel::native, "bf16 in memory, fp32 arithmetic in registers"};
  }
}

inline Support fp16_support(const OpDesc& op) {
  const OpKind k = op.kind;
  if (k == OpKind::adaptive_avgpool) {
    // adaptive_avg_pool2d to 1x1 is at::mean over H and W, which has Half.
    const auto& s = std::get<AdaptivePoolShape>(op.shape);
    if (s.out_h == 1 && s.out_w == 1)
      return {SupportLevel::emulated, "global pooling runs as at::mean; no vectorised Half: scalar loop through float"};
  }
  switch (k) {
    case OpKind::copy:
    case OpKind::transpose:
    case OpKind::permute:
    case OpKind::concat:
    case OpKind::embedding: return {SupportLevel::native, "data movement"};
    case OpKind::add:
    case OpKind::mul:
    case OpKind::div:
    case OpKind::neg:
    case OpKind::square:
    case OpKind::reduce_mean:
    case OpKind::rotary: return {SupportLevel::emulated, "ATen 1.13 has no vectorised Half: scalar loop through float"};
    case OpKind::rmsnorm:
      return {SupportLevel::emulated,
              "LLaMA's RMSNorm computes in fp32; the casts and the weight multiply run a scalar Half loop"};
    default: return {SupportLevel::unsupported, "ATen 1.13 has no CPU fp16 kernel for " + std::string(to_string(k))};
  }
}

/// What ATen 1.13 has for the op at precision p.
inline Support precision_support(const OpDesc& op, Precision p) {
  switch (p) {
    case Precision::fp64:
    case Precision::fp32: return {SupportLevel::native, {}};
    case Precision::bf16: return bf16_support(op);
    case Precision::fp16: return fp16_support(op);
    case Precision::tf32: return {SupportLevel::unsupported, "tf32 is a CUDA math mode; ATen's CPU ops have none"};
    case Precision::int8:
      return {SupportLevel::unsupported, "eager ATen float ops have no int8; quantized ops are a separate API"};
    case Precision::fp8: return {SupportLevel::unsupported, "ATen 1.13 has no fp8 dtype"};
  }
  return {SupportLevel::unsupported, "unknown precision"};
}

inline double physical_memory_bytes() noexcept {
  static const double bytes = [] {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? double(pages) * double(page) : 0.0;
  }();
  return bytes;
}

/// Bytes one attention call holds at once here, far more than its tensors:
/// Q, K, V and O; K and V repeated over each group (grouped-query); the 1.13
/// math path's scaled copies of Q and K and its scores and probabilities; and
/// check()'s fp64 copies of Q, K and V. A decode step of 64 sequences against
/// 8192 fp32 keys of 8 KV heads (32 query heads) needs about 39 GB.
inline double attention_footprint(const AttentionShape& s, Precision p) noexcept {
  const double e = element_bytes(p), bh = double(s.batch) * double(s.heads), d = double(s.head_dim);
  const double q = bh * double(s.seq_q) * d, kv = double(s.batch) * double(s.kv()) * double(s.seq_kv) * d;
  const double all_heads = bh * double(s.seq_kv) * d, scores = bh * double(s.seq_q) * double(s.seq_kv);
  const double repeated = s.kv() == s.heads ? 0.0 : 2 * all_heads;
  return e * (2 * q + 2 * kv + repeated + q + all_heads + 2 * scores) + 8 * (q + 2 * kv);
}

inline std::string gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GB", bytes / 1e9);
  return buf;
}

}  // namespace detail

/// Support of one op at one precision; cheap (a table lookup and shape
/// arithmetic). Attention shapes that eager PyTorch could not hold in half
/// of this machine's memory are refused: the rest is the process's, the
/// heap's kept blocks (TorchBackend never trims it) and the system's, and a
/// calibration killed by the OOM killer loses every measurement before it.
inline Support op_support(const OpDesc& op, Precision p) {
  if (const auto why = invalid_reason(op); !why.empty())
    return {SupportLevel::unsupported, "invalid shape: " + std::string(why)};
  if (is_collective(op.kind)) return {SupportLevel::unsupported, std::string(collective_not_kernel)};
  if (is_channels_last(op)) return {SupportLevel::unsupported, std::string(nchw_only)};
  if (op.kind == OpKind::matmul && std::get<MatmulShape>(op.shape).bias)
    return {SupportLevel::unsupported, "matmul has no bias in the reference; use linear"};
  const Support s = detail::precision_support(op, p);
  if (s.usable() && op.kind == OpKind::attention) {
    const double need = detail::attention_footprint(std::get<AttentionShape>(op.shape), p);
    const double have = detail::physical_memory_bytes();
    if (have > 0 && need > have / 2)
      return {SupportLevel::unsupported, "eager attention would hold about " + detail::gigabytes(need) +
                                             " at once (K/V repeated per group, scores materialised, fp64 check "
                                             "copies), more than half of this machine's " +
                                             detail::gigabytes(have)};
  }
  return s;
}

/// Fusion patterns eager ATen runs as one call. The rest have no fused
/// kernel in eager mode (oneDNN post-op fusion needs TorchScript freezing).
inline Support fusion_support(FusionPattern f, Precision p) {
  switch (f) {
    case FusionPattern::linear_bias:
    case FusionPattern::conv_bn:
    case FusionPattern::attention:
      if (f == FusionPattern::conv_bn && p == Precision::bf16 && !detail::Bf16Cpu::get().onednn)
        return detail::slow_conv2d_bf16_refusal();
      if (p == Precision::fp32 || p == Precision::fp64 || p == Precision::bf16) break;
      return {SupportLevel::unsupported,
              "ATen 1.13 has no CPU " + std::string(to_string(p)) + " kernels for " + std::string(to_string(f))};
    default: return {SupportLevel::unsupported, "eager ATen has no fused kernel for " + std::string(to_string(f))};
  }
  switch (f) {
    case FusionPattern::linear_bias:
      return {SupportLevel::native, "at::linear with bias (addmm) vs at::matmul + at::add"};
    case FusionPattern::conv_bn:
      return {SupportLevel::native,
              "one at::conv2d with batchnorm folded into weights and bias vs at::conv2d + at::batch_norm"};
    default:
      return {SupportLevel::native,
              "at::_scaled_dot_product_attention vs MultiheadAttention's div, bmm, softmax, bmm; in ATen 1.13 the CPU "
              "SDPA is itself the composite math path, so this measures one call vs the chain, not a fused kernel"};
  }
}

}  // namespace aten
}  // namespace hwcal
