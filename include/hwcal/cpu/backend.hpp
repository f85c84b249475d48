#pragma once
// The CPU backends built on Eigen:
//   EigenBackend     every op through Eigen (header-only, always available)
//   OpenBlasBackend  the same kernels with every matrix product computed by
//                    OpenBLAS (needs hwcal::openblas; HWCAL_HAS_OPENBLAS)
// Both run every op kind of the op table, in fp32 and fp64, one kernel class
// per shape family (a file each, the same names as the other backends').
// Lower precisions are refused: Eigen has no native bf16/fp16 GEMM kernels and
// would convert element by element.

#include <hwcal/cpu/attention.hpp>
#include <hwcal/cpu/batchnorm.hpp>
#include <hwcal/cpu/conv.hpp>
#include <hwcal/cpu/elementwise.hpp>
#include <hwcal/cpu/embedding.hpp>
#include <hwcal/cpu/fusion.hpp>
#include <hwcal/cpu/gemm.hpp>
#include <hwcal/cpu/move.hpp>
#include <hwcal/cpu/pool.hpp>
#include <hwcal/cpu/rotary.hpp>
#include <hwcal/cpu/rows.hpp>
#include <hwcal/kernel.hpp>

#include <memory>
#include <string>

namespace hwcal {
namespace cpu {

/// Compiler and Eigen facts every CPU profile records.
inline nlohmann::json build_software() {
  nlohmann::json j;
#if defined(__clang__)
  j["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  j["compiler"] = std::string("gcc ") + __VERSION__;
#else
  j["compiler"] = "unknown";
#endif
  j["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
               std::to_string(EIGEN_MINOR_VERSION);
  j["eigen_simd"] = Eigen::SimdInstructionSetsInUse();
#if HWCAL_HAS_OPENMP
  j["openmp"] = std::to_string(_OPENMP);
#else
  j["openmp"] = "not enabled (kernels run on one thread)";
#endif
  j["nlohmann_json"] = std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." + std::to_string(NLOHMANN_JSON_VERSION_MINOR) +
                       "." + std::to_string(NLOHMANN_JSON_VERSION_PATCH);
  return j;
}

template <class Gemm>
class CpuBackend : public Backend {
 public:
  CpuBackend() { set_threads(1); }
  std::string name() const override { return Gemm::backend; }
  nlohmann::json software() const override {
    nlohmann::json j = build_software();
    j["gemm"] = Gemm::backend;
#if HWCAL_HAS_OPENBLAS
    if (std::string(Gemm::backend) == "openblas") j["openblas"] = openblas_get_config();
#endif
    return j;
  }
  void set_threads(int n) override {
    threads_ = std::max(1, n);
    Gemm::set_threads(threads_);
#if HWCAL_HAS_OPENMP
    omp_set_num_threads(threads_);
#endif
  }
  int threads() const override { return threads_; }

  Support supports(const OpDesc& op, Precision p) const override {
    if (auto why = invalid_reason(op); !why.empty()) return {SupportLevel::unsupported, std::string(why)};
    if (is_collective(op.kind)) return {SupportLevel::unsupported, std::string(collective_not_kernel)};
    if (is_channels_last(op)) return {SupportLevel::unsupported, std::string(nchw_only)};
    if (p == Precision::fp32 || p == Precision::fp64) return {SupportLevel::native, {}};
    return {SupportLevel::unsupported,
            std::string(to_string(p)) + ": the " + name() +
                " backend computes fp32 and fp64 only (Eigen has no native low-precision kernels)"};
  }

  std::unique_ptr<Kernel> make(const OpDesc& op, Precision p) override {
    const Support s = supports(op, p);
    if (!s.usable()) throw UnavailableError(name() + " backend: " + std::string(to_string(op.kind)) + ": " + s.note);
    return p == Precision::fp64 ? make_typed<double>(op, p) : make_typed<float>(op, p);
  }

  Support supports_fusion(FusionPattern, Precision p) const override {
    if (p == Precision::fp32 || p == Precision::fp64) return {SupportLevel::native, {}};
    return {SupportLevel::unsupported, std::string(to_string(p)) + ": fp32 and fp64 only"};
  }
  FusionKernels make_fusion(FusionPattern f, const OpDesc& anchor, Precision p) override {
    const Support s = supports_fusion(f, p);
    if (!s.usable()) throw UnavailableError(name() + " backend: " + std::string(to_string(f)) + ": " + s.note);
    if (is_channels_last(anchor)) throw UnavailableError(name() + " backend: " + std::string(nchw_only));
    if (anchor.kind != fusion_anchor(f) || !invalid_reason(anchor).empty())
      throw Error(std::string(to_string(f)) + " needs a valid " + std::string(to_string(fusion_anchor(f))) + " shape");
    return p == Precision::fp64 ? make_cpu_fusion<Gemm, double>(f, anchor, p, threads_)
                                : make_cpu_fusion<Gemm, float>(f, anchor, p, threads_);
  }

 private:
  /// The one dispatch: the op's shape family picks the kernel class.
  template <class T>
  std::unique_ptr<Kernel> make_typed(const OpDesc& op, Precision p) {
    switch (info(op.kind).family) {
      case ShapeFamily::matmul: return std::make_unique<GemmKernel<Gemm, T>>(op, p, threads_);
      case ShapeFamily::conv2d: return std::make_unique<ConvKernel<Gemm, T>>(op, p, threads_);
      case ShapeFamily::attention: return std::make_unique<AttentionKernel<Gemm, T>>(op, p, threads_);
      case ShapeFamily::pool2d:
      case ShapeFamily::adaptive_pool: return std::make_unique<PoolKernel<T>>(op, p, threads_);
      case ShapeFamily::map: return std::make_unique<BatchNormKernel<T>>(op, p, threads_);
      case ShapeFamily::rows: return std::make_unique<RowsKernel<T>>(op, p, threads_);
      case ShapeFamily::elementwise: return std::make_unique<ElementwiseKernel<T>>(op, p, threads_);
      case ShapeFamily::bytes: return std::make_unique<MoveKernel<T>>(op, p, threads_);
      case ShapeFamily::rotary: return std::make_unique<RotaryKernel<T>>(op, p, threads_);
      case ShapeFamily::embedding: return std::make_unique<EmbeddingKernel<T>>(op, p, threads_);
      case ShapeFamily::collective: break;  // supports() refused it
    }
    throw Error(name() + " backend: no kernel for shape family of " + std::string(to_string(op.kind)));
  }

  int threads_ = 1;
};

using EigenBackend = CpuBackend<EigenGemm>;
#if HWCAL_HAS_OPENBLAS
using OpenBlasBackend = CpuBackend<BlasGemm>;
#endif

}  // namespace cpu
}  // namespace hwcal
