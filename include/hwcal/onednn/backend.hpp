#pragma once
// hwcal::onednn::OneDnnBackend: every hwcal op on oneDNN's CPU primitives.
// PyTorch runs its CPU convolutions (and bf16 matmuls) on oneDNN, so a profile
// made with this backend predicts what the framework gets.
//
// Precisions: fp32 everywhere; bf16 where oneDNN has a real (non-reference)
// implementation, native with avx512_bf16 or AMX and labelled emulated
// without; int8 (u8 x s8 -> f32) for conv2d, matmul and linear, and s8 data
// movement; fp16 wherever oneDNN 2.6 implements it (on CPU, only reorders);
// never fp64, tf32 or fp8, which oneDNN lacks on CPU.
// Threads: OpenMP (oneDNN's CPU runtime here); kernels are created and run
// with the thread count set when they were made.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/attention.hpp>
#include <hwcal/onednn/detail.hpp>
#include <hwcal/onednn/fusion.hpp>
#include <hwcal/onednn/ops.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

/// Why oneDNN (or hwcal on it) cannot run op kind `k` at precision p at all;
/// empty when it depends on the shape and the primitives.
inline std::string precision_gap(OpKind k, Precision p) {
  switch (p) {
    case Precision::fp32:
    case Precision::bf16:
    case Precision::fp16:
      return {};
    case Precision::fp64:
      return "oneDNN has no fp64 on CPU";
    case Precision::tf32:
      return "oneDNN 2.6 has no tf32 on CPU (its fpmath_mode allows only bf16 and f16 down-conversion)";
    case Precision::fp8:
      return "oneDNN 2.6 has no fp8 data types";
    case Precision::int8:
      if (k == OpKind::conv2d || k == OpKind::matmul || k == OpKind::linear || k == OpKind::copy || k == OpKind::transpose ||
          k == OpKind::concat)
        return {};
      return "hwcal measures int8 on oneDNN only for conv2d, matmul and linear (u8 x s8 -> f32) and data movement";
  }
  return "unknown precision";
}

/// The primitive descriptors an op runs, created without allocating anything.
inline std::vector<dnnl::primitive_desc_base> plan(const Context& c, const OpDesc& op, Precision p) {
  switch (op.kind) {
    case OpKind::conv2d: {
      const auto& s = std::get<Conv2dShape>(op.shape);
      return {conv_pd(c, s, p, s.bias)};
    }
    case OpKind::matmul:
      return {matmul_pd(c, std::get<MatmulShape>(op.shape), p)};
    case OpKind::linear: {
      const auto& s = std::get<MatmulShape>(op.shape);
      return {linear_pd(c, s, p, s.bias)};
    }
    case OpKind::attention:
      return attention_pds(c, std::get<AttentionShape>(op.shape), p);
    case OpKind::maxpool:
      return {pool_pd(c, std::get<Pool2dShape>(op.shape), algorithm::pooling_max, p)};
    case OpKind::avgpool:
      return {pool_pd(c, std::get<Pool2dShape>(op.shape), algorithm::pooling_avg_include_padding, p)};
    case OpKind::adaptive_avgpool:
      return {pool_pd(c, adaptive_as_pool(std::get<AdaptivePoolShape>(op.shape)), algorithm::pooling_avg_include_padding, p)};
    case OpKind::batchnorm: {
      const auto& s = std::get<MapShape>(op.shape);
      return {batchnorm_pd(c, md({s.n, s.c, s.h, s.w}, types_of(p).src, tag::nchw))};
    }
    case OpKind::layernorm:
      return {layernorm_pd(c, std::get<RowsShape>(op.shape), p)};
    case OpKind::softmax:
      return {softmax_pd(c, rows_md(std::get<RowsShape>(op.shape), p), 1)};
    case OpKind::reduce_mean:
      return {reduce_mean_pd(c, std::get<RowsShape>(op.shape), p)};
    case OpKind::copy:
    case OpKind::transpose:
    case OpKind::concat:
      return data_movement_pds(c, op.kind, std::get<BytesShape>(op.shape), p);
    default:
      break;
  }
  const auto& s = std::get<ElementwiseShape>(op.shape);
  check_arity(op.kind, s);
  md a, b;
  binary_mds(s, types_of(p).src, a, b);
  algorithm alg{};
  float alpha = 0;
  if (is_binary(op.kind)) return {binary_pd(c, binary_alg(op.kind), a, b, a)};
  if (eltwise_alg(op.kind, alg, alpha)) return {eltwise_pd(c, a, alg, alpha, 0.f)};
  return {hardsigmoid_pd(c, a)};
}

inline std::unique_ptr<ChainKernel> build(const Context& c, const OpDesc& op, Precision p) {
  switch (op.kind) {
    case OpKind::conv2d:
      return make_conv2d(c, std::get<Conv2dShape>(op.shape), p);
    case OpKind::matmul:
      return make_matmul(c, std::get<MatmulShape>(op.shape), p);
    case OpKind::linear:
      return make_linear(c, std::get<MatmulShape>(op.shape), p);
    case OpKind::attention:
      return make_attention(c, std::get<AttentionShape>(op.shape), p);
    case OpKind::maxpool:
    case OpKind::avgpool:
    case OpKind::adaptive_avgpool:
      return make_pool(c, op, p);
    case OpKind::batchnorm:
      return make_batchnorm(c, std::get<MapShape>(op.shape), p);
    case OpKind::layernorm:
    case OpKind::softmax:
    case OpKind::reduce_mean:
      return make_rows(c, op.kind, std::get<RowsShape>(op.shape), p);
    case OpKind::copy:
    case OpKind::transpose:
    case OpKind::concat:
      return make_data_movement(c, op.kind, std::get<BytesShape>(op.shape), p);
    default:
      return make_elementwise(c, op.kind, std::get<ElementwiseShape>(op.shape), p);
  }
}

/// How an op without a primitive of its own is realised; empty for the rest.
inline std::string realisation(const OpDesc& op) {
  switch (op.kind) {
    case OpKind::hardsigmoid:
      return "oneDNN 2.6 has no hardsigmoid: one binary primitive computes x + 3 with clip(0, 6) and linear(1/6) post-ops";
    case OpKind::adaptive_avgpool: {
      const Pool2dShape q = adaptive_as_pool(std::get<AdaptivePoolShape>(op.shape));
      return "average pooling with PyTorch's (uniform) bins: window " + std::to_string(q.r) + "x" + std::to_string(q.s) +
             ", stride " + std::to_string(q.stride_h) + "x" + std::to_string(q.stride_w);
    }
    case OpKind::attention:
      return "no fused attention in oneDNN 2.6: QK^T matmul (scale as output scale, causal mask as binary post-op), softmax "
             "in place, PV matmul";
    case OpKind::transpose:
      return "reorder of an [r][c] matrix to column-major, r the largest divisor of the elements <= sqrt";
    case OpKind::concat:
      return "concat primitive: two [1][n/2] halves along dim 0";
    case OpKind::copy:
      return "reorder between two plain buffers";
    default:
      return {};
  }
}

inline std::string isa() { return isa_name(dnnl::get_effective_cpu_isa()); }

/// Native, emulated (bf16 arithmetic without hardware bf16) or unsupported
/// (a low-precision primitive that is only oneDNN's scalar reference code).
inline Support judge(const std::vector<std::string>& impls, bool reference_impl, Precision p, OpKind kind,
                     const std::string& how) {
  const std::string what(to_string(kind));
  const bool moves_only = kind == OpKind::copy || kind == OpKind::transpose || kind == OpKind::concat;
  std::string list;
  for (const auto& s : impls) list += (list.empty() ? "" : ", ") + s;
  if (p != Precision::fp32 && reference_impl)
    return {SupportLevel::unsupported, "oneDNN " + std::string(to_string(p)) + " " + what +
                                           " is only its reference implementation here (" + list + ", ISA " + isa() +
                                           "): it would time a scalar fallback"};
  std::string note = "oneDNN runs " + list + (how.empty() ? "" : "; " + how);
  if (p == Precision::bf16 && !has_native_bf16() && !moves_only)
    return {SupportLevel::emulated,
            "no avx512_bf16 or AMX (ISA " + isa() + "): oneDNN converts bf16 to fp32 around fp32 arithmetic; " + note};
  return {SupportLevel::native, note};
}

}  // namespace detail

class OneDnnBackend final : public Backend {
 public:
  OneDnnBackend() { ctx_.threads = omp_get_max_threads(); }

  std::string name() const override { return "onednn"; }

  nlohmann::json software() const override {
    const dnnl_version_t* v = dnnl::version();
    return {{"onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)},
            {"onednn_git_hash", v->hash},
            {"onednn_cpu_isa", detail::isa()},
            {"onednn_cpu_runtime", "OpenMP"}};
  }

  /// Kernels made after this call run with n OpenMP threads.
  void set_threads(int n) override {
    if (n < 1) throw Error("onednn: thread count must be positive, got " + std::to_string(n));
    ctx_.threads = n;
    omp_set_num_threads(n);
  }
  int threads() const override { return ctx_.threads; }

  Support supports(const OpDesc& op, Precision p) const override {
    if (const auto why = invalid_reason(op); !why.empty()) return {SupportLevel::unsupported, std::string(why)};
    if (const auto* e = std::get_if<ElementwiseShape>(&op.shape); e && e->inplace)
      return {SupportLevel::unsupported, "this backend measures elementwise ops out of place only"};
    if (const auto why = detail::precision_gap(op.kind, p); !why.empty()) return {SupportLevel::unsupported, why};
    // Implementations may depend on the thread count: ask for the one kernels get.
    omp_set_num_threads(ctx_.threads);
    const std::string what(to_string(op.kind));
    try {
      std::vector<std::string> impls;
      bool reference_impl = false;
      for (const auto& pd : detail::plan(ctx_, op, p)) {
        impls.push_back(pd.impl_info_str());
        reference_impl = reference_impl || detail::is_reference_impl(pd);
      }
      return detail::judge(impls, reference_impl, p, op.kind, detail::realisation(op));
    } catch (const UnavailableError& e) {
      return {SupportLevel::unsupported, e.what()};
    } catch (const dnnl::error& e) {
      return {SupportLevel::unsupported, "oneDNN has no " + std::string(to_string(p)) + " implementation of this " + what +
                                             " on this CPU (ISA " + detail::isa() + "): " + e.what()};
    }
  }

  /// Prepares the op: primitives created, inputs filled and reordered into
  /// the layouts the primitives chose, outputs and scratchpads allocated.
  std::unique_ptr<Kernel> make(const OpDesc& op, Precision p) override {
    const Support s = supports(op, p);
    if (!s.usable())
      throw UnavailableError("onednn cannot run " + std::string(to_string(op.kind)) + " in " + std::string(to_string(p)) + ": " +
                             s.note);
    omp_set_num_threads(ctx_.threads);
    return detail::build(ctx_, op, p);
  }

  Support supports_fusion(FusionPattern, Precision p) const override {
    if (p == Precision::fp32) return {SupportLevel::native, {}};
    if (p == Precision::bf16 && detail::has_native_bf16()) return {SupportLevel::native, {}};
    if (p == Precision::bf16)
      return {SupportLevel::emulated,
              "no avx512_bf16 or AMX (ISA " + detail::isa() + "): oneDNN converts bf16 to fp32 around fp32 arithmetic"};
    return {SupportLevel::unsupported, "hwcal measures oneDNN fusion patterns in fp32 and bf16 only"};
  }

  FusionKernels make_fusion(FusionPattern f, const OpDesc& op, Precision p) override {
    const std::string what(to_string(f));
    if (!supports_fusion(f, p).usable())
      throw UnavailableError("onednn cannot measure " + what + " in " + std::string(to_string(p)) + ": " +
                             supports_fusion(f, p).note);
    if (op.kind != fusion_anchor(f))
      throw UnavailableError("onednn: " + what + " is anchored on a " + std::string(to_string(fusion_anchor(f))) +
                             " shape, got " + std::string(to_string(op.kind)));
    if (const auto why = invalid_reason(op); !why.empty()) throw UnavailableError("onednn: " + what + ": " + std::string(why));
    omp_set_num_threads(ctx_.threads);
    FusionKernels k;
    try {
      switch (f) {
        case FusionPattern::linear_bias:
        case FusionPattern::linear_bias_relu:
        case FusionPattern::linear_bias_gelu:
          k = detail::make_linear_fusion(ctx_, f, std::get<MatmulShape>(op.shape), p);
          break;
        case FusionPattern::conv_relu:
        case FusionPattern::conv_bn:
        case FusionPattern::conv_bn_relu:
          k = detail::make_conv_fusion(ctx_, f, std::get<Conv2dShape>(op.shape), p);
          break;
        case FusionPattern::qkt_softmax:
        case FusionPattern::attention:
          k = detail::make_attention_fusion(ctx_, f, std::get<AttentionShape>(op.shape), p);
          break;
      }
    } catch (const dnnl::error& e) {
      throw UnavailableError("onednn has no " + std::string(to_string(p)) + " implementation for " + what + " here: " + e.what());
    }
    for (const Kernel* kernel : {k.fused.get(), k.unfused.get()})
      if (p != Precision::fp32 && static_cast<const detail::ChainKernel*>(kernel)->uses_reference_impl())
        throw UnavailableError("onednn " + what + " in " + std::string(to_string(p)) +
                               " falls back to oneDNN's reference implementation (" + kernel->implementation() + ")");
    return k;
  }

 private:
  detail::Context ctx_;
};

}  // namespace onednn
}  // namespace hwcal
