#pragma once
// hwcal::onednn::OneDnnBackend: the hwcal ops oneDNN has primitives for, one
// kernel class per shape family (a file each, the same names as the other
// backends'). rmsnorm, rotary and embedding have no oneDNN 2.6 primitive and
// are refused with that reason.
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
#include <hwcal/onednn/batchnorm.hpp>
#include <hwcal/onednn/conv.hpp>
#include <hwcal/onednn/detail.hpp>
#include <hwcal/onednn/elementwise.hpp>
#include <hwcal/onednn/fusion.hpp>
#include <hwcal/onednn/gemm.hpp>
#include <hwcal/onednn/move.hpp>
#include <hwcal/onednn/pool.hpp>
#include <hwcal/onednn/rows.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

/// What the backend runs for one shape family: its kernel class (the
/// primitives it plans, how it is made, how it realises an op), whether hwcal
/// measures it in int8, or why oneDNN cannot run the family at all.
struct Family {
  std::vector<dnnl::primitive_desc_base> (*plan)(const Context&, const OpDesc&, Precision) = nullptr;
  std::unique_ptr<Kernel> (*make)(const Context&, const OpDesc&, Precision) = nullptr;
  std::string (*realisation)(const OpDesc&, Precision) = nullptr;
  bool int8 = false;
  std::string_view missing;
};

template <class K>
Family family_of(bool int8) {
  return {&K::plan,
          [](const Context& c, const OpDesc& op, Precision p) -> std::unique_ptr<Kernel> {
            return std::make_unique<K>(c, op, p);
          },
          &K::realisation,
          int8,
          {}};
}

/// The one dispatch: the op's shape family picks the kernel class. int8 is
/// the u8 x s8 -> f32 compute of convolutions and products, and s8 data movement.
inline Family family(ShapeFamily f) {
  switch (f) {
    case ShapeFamily::matmul: return family_of<GemmKernel>(true);
    case ShapeFamily::conv2d: return family_of<ConvKernel>(true);
    case ShapeFamily::attention: return family_of<AttentionKernel>(false);
    case ShapeFamily::pool2d:
    case ShapeFamily::adaptive_pool: return family_of<PoolKernel>(false);
    case ShapeFamily::map: return family_of<BatchNormKernel>(false);
    case ShapeFamily::rows: return family_of<RowsKernel>(false);
    case ShapeFamily::elementwise: return family_of<ElementwiseKernel>(false);
    case ShapeFamily::bytes: return family_of<MoveKernel>(true);
    case ShapeFamily::rotary:
      return {nullptr, nullptr, nullptr, false,
              "oneDNN 2.6 has no rotary-embedding primitive (and no single primitive that computes x cos + "
              "rotate_half(x) sin); hwcal runs no other library's kernel under the onednn name"};
    case ShapeFamily::embedding:
      return {nullptr, nullptr, nullptr, false,
              "oneDNN 2.6 has no gather primitive for an embedding lookup; hwcal runs no other library's kernel under "
              "the onednn name"};
    case ShapeFamily::collective: return {nullptr, nullptr, nullptr, false, collective_not_kernel};
  }
  return {};
}

/// Why oneDNN (or hwcal on it) cannot run family `f` at precision p at all;
/// empty when it depends on the shape and the primitives.
inline std::string precision_gap(const Family& f, Precision p) {
  switch (p) {
    case Precision::fp32:
    case Precision::bf16:
    case Precision::fp16: return {};
    case Precision::fp64: return "oneDNN has no fp64 on CPU";
    case Precision::tf32:
      return "oneDNN 2.6 has no tf32 on CPU (its fpmath_mode allows only bf16 and f16 down-conversion)";
    case Precision::fp8: return "oneDNN 2.6 has no fp8 data types";
    case Precision::int8:
      if (f.int8) return {};
      return "hwcal measures int8 on oneDNN only for conv2d, matmul and linear (u8 x s8 -> f32) and data movement";
  }
  return "unknown precision";
}

inline std::string isa() { return isa_name(dnnl::get_effective_cpu_isa()); }

/// Native, emulated (bf16 arithmetic without hardware bf16) or unsupported
/// (a low-precision primitive that is only oneDNN's scalar reference code).
inline Support judge(const std::vector<std::string>& impls, bool reference_impl, Precision p, OpKind kind,
                     const std::string& how) {
  const std::string what(to_string(kind));
  const bool moves_only = info(kind).family == ShapeFamily::bytes;
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
    if (is_channels_last(op)) return {SupportLevel::unsupported, std::string(nchw_only)};
    if (const auto* e = std::get_if<ElementwiseShape>(&op.shape); e && e->inplace)
      return {SupportLevel::unsupported, "this backend measures elementwise ops out of place only"};
    const detail::Family f = detail::family(info(op.kind).family);
    if (!f.missing.empty()) return {SupportLevel::unsupported, std::string(f.missing)};
    if (const auto why = detail::precision_gap(f, p); !why.empty()) return {SupportLevel::unsupported, why};
    // Implementations may depend on the thread count: ask for the one kernels get.
    omp_set_num_threads(ctx_.threads);
    const std::string what(to_string(op.kind));
    try {
      std::vector<std::string> impls;
      bool reference_impl = false;
      for (const auto& pd : f.plan(ctx_, op, p)) {
        impls.push_back(pd.impl_info_str());
        reference_impl = reference_impl || detail::is_reference_impl(pd);
      }
      return detail::judge(impls, reference_impl, p, op.kind, f.realisation(op, p));
    } catch (const UnavailableError& e) {
      return {SupportLevel::unsupported, e.what()};
    } catch (const dnnl::error& e) {
      return {SupportLevel::unsupported, "oneDNN has no " + std::string(to_string(p)) + " implementation of this " +
                                             what + " on this CPU (ISA " + detail::isa() + "): " + e.what()};
    }
  }

  /// Prepares the op: primitives created, inputs filled and reordered into
  /// the layouts the primitives chose, outputs and scratchpads allocated.
  std::unique_ptr<Kernel> make(const OpDesc& op, Precision p) override {
    const Support s = supports(op, p);
    if (!s.usable())
      throw UnavailableError("onednn cannot run " + std::string(to_string(op.kind)) + " in " +
                             std::string(to_string(p)) + ": " + s.note);
    omp_set_num_threads(ctx_.threads);
    return detail::family(info(op.kind).family).make(ctx_, op, p);
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
    if (const auto why = invalid_reason(op); !why.empty())
      throw UnavailableError("onednn: " + what + ": " + std::string(why));
    if (is_channels_last(op)) throw UnavailableError("onednn: " + what + ": " + std::string(nchw_only));
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
        case FusionPattern::attention: k = detail::make_attention_fusion(ctx_, f, op, p); break;
      }
    } catch (const dnnl::error& e) {
      throw UnavailableError("onednn has no " + std::string(to_string(p)) + " implementation for " + what +
                             " here: " + e.what());
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
