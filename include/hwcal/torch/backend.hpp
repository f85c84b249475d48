#pragma once
// TorchBackend ("torch"): calibrates through ATen, the library PyTorch's CPU
// ops run in (oneDNN for convolutions, BLAS for linear/matmul, ATen's own
// vectorised loops for the rest), so a profile predicts eager PyTorch rather
// than a bandwidth roofline: some ATen kernels are far from one (max_pool2d
// on NCHW, for instance).
//
//   #include <hwcal/torch/backend.hpp>   // target hwcal::torch
//   hwcal::aten::TorchBackend torch;
//   torch.set_threads(1);                // = torch.set_num_threads(1) + OpenBLAS
//   auto k = torch.make(op, hwcal::Precision::fp32);
//
// The namespace is hwcal::aten, not hwcal::torch, so that ::torch (libtorch's
// own namespace) stays unambiguous in user code.
//
// One file per shape family, the same names in every backend (docs/backends.md
// maps each op to its file, class and ATen calls):
//   gemm.hpp         GemmKernel         matmul, linear
//   conv.hpp         ConvKernel         conv2d
//   attention.hpp    AttentionKernel    attention (full, causal, grouped-query, decode)
//   pool.hpp         PoolKernel         maxpool, avgpool, adaptive_avgpool
//   batchnorm.hpp    BatchNormKernel    batchnorm
//   rows.hpp         RowsKernel         layernorm, rmsnorm, softmax, reduce_mean
//   elementwise.hpp  ElementwiseKernel  activations, clamps, add/mul/div, silu_mul
//   move.hpp         MoveKernel         copy, transpose, permute, concat
//   rotary.hpp       RotaryKernel       rotary
//   embedding.hpp    EmbeddingKernel    embedding
//   fusion.hpp       linear_bias, conv_bn, attention: fused and unfused
// and around them:
//   guard.hpp        the compile-time check that libtorch is linked
//   kernel.hpp       TorchKernel (what every family's make() returns) and the shared checks
//   support.hpp      which op runs at which precision, verified against 1.13
//   runtime.hpp      dtypes, threads, versions
//   framework.hpp    what PyTorch's Python layer adds per op (measured)

#include <hwcal/torch/guard.hpp>

#include <hwcal/error.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/schema.hpp>
#include <hwcal/torch/attention.hpp>
#include <hwcal/torch/batchnorm.hpp>
#include <hwcal/torch/conv.hpp>
#include <hwcal/torch/elementwise.hpp>
#include <hwcal/torch/embedding.hpp>
#include <hwcal/torch/framework.hpp>
#include <hwcal/torch/fusion.hpp>
#include <hwcal/torch/gemm.hpp>
#include <hwcal/torch/kernel.hpp>
#include <hwcal/torch/move.hpp>
#include <hwcal/torch/pool.hpp>
#include <hwcal/torch/rotary.hpp>
#include <hwcal/torch/rows.hpp>
#include <hwcal/torch/runtime.hpp>
#include <hwcal/torch/support.hpp>

#include <c10/util/Exception.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <limits>
#include <memory>
#include <string>

namespace hwcal {
namespace aten {

/// The kernel of one op, by its shape family; support must have been checked
/// (TorchBackend::make).
inline std::unique_ptr<TorchKernel> make_op_kernel(const OpDesc& op, Precision p) {
  const auto dt = scalar_type(p);
  if (!dt) throw UnavailableError("torch backend: no ATen dtype for " + std::string(to_string(p)));
  switch (info(op.kind).family) {
    case ShapeFamily::matmul: return GemmKernel::make(op, p, *dt);
    case ShapeFamily::conv2d: return ConvKernel::make(op, p, *dt);
    case ShapeFamily::attention: return AttentionKernel::make(op, p, *dt);
    case ShapeFamily::pool2d:
    case ShapeFamily::adaptive_pool: return PoolKernel::make(op, p, *dt);
    case ShapeFamily::map: return BatchNormKernel::make(op, p, *dt);
    case ShapeFamily::rows: return RowsKernel::make(op, p, *dt);
    case ShapeFamily::elementwise: return ElementwiseKernel::make(op, p, *dt);
    case ShapeFamily::bytes: return MoveKernel::make(op, p, *dt);
    case ShapeFamily::rotary: return RotaryKernel::make(op, p, *dt);
    case ShapeFamily::embedding: return EmbeddingKernel::make(op, p, *dt);
    case ShapeFamily::collective: break;  // op_support() refused it
  }
  throw UnavailableError("torch backend: no kernel for the shape family of " + std::string(to_string(op.kind)));
}

class TorchBackend final : public Backend {
 public:
  /// Eager PyTorch allocates every op's output. In a process that has run a
  /// model for a while that memory comes back from glibc's heap, already
  /// faulted in; in a fresh process glibc maps each block above its mmap
  /// threshold (32 MiB at most) anew and unmaps it on free, so every call of
  /// a large op page-faults its output again: an 8x16x112x112 -> 96 1x1
  /// convolution (38.5 MB output) took 18.8 ms per call fresh and 4.2 ms in
  /// the validation's warmed-up processes. The backend therefore keeps every
  /// allocation on the heap and never gives it back (process-wide, for the
  /// life of the process), so calibration times the kernel, as a serving
  /// process runs it, and not the page faults.
  TorchBackend() {
#if defined(__GLIBC__)
    heap_only_ = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1;
#endif
  }

  std::string name() const override { return "torch"; }

  nlohmann::json software() const override {
    nlohmann::json sw = aten::software();
    sw["malloc"] =
        heap_only_
            ? "glibc heap only, never trimmed (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=INT_MAX): warm-process allocation"
            : "allocator defaults";
    return sw;
  }

  void set_threads(int n) override { aten::set_threads(n); }
  int threads() const override { return aten::threads(); }

  Support supports(const OpDesc& op, Precision p) const override { return op_support(op, p); }

  /// Prepares the op and runs it once, so that an ATen refusal surfaces here
  /// as UnavailableError and not in the middle of a measurement.
  std::unique_ptr<Kernel> make(const OpDesc& op, Precision p) override {
    const std::string what = "torch backend: " + std::string(to_string(op.kind)) + " at " + std::string(to_string(p));
    if (const auto why = invalid_reason(op); !why.empty()) throw Error(what + ": " + std::string(why));
    const Support s = supports(op, p);
    if (!s.usable()) throw UnavailableError(what + ": " + s.note);
    return guarded(what, [&] {
      std::unique_ptr<Kernel> k = make_op_kernel(op, p);
      k->run();
      return k;
    });
  }

  /// What PyTorch's Python layer adds per op (torch/framework.hpp).
  std::optional<FrameworkCost> framework_cost(const MeasureOptions& opt) override {
    return measure_framework_cost(*this, opt);
  }

  Support supports_fusion(FusionPattern f, Precision p) const override { return fusion_support(f, p); }

  FusionKernels make_fusion(FusionPattern f, const OpDesc& anchor, Precision p) override {
    const std::string what = "torch backend: fusion " + std::string(to_string(f)) + " at " + std::string(to_string(p));
    const Support s = supports_fusion(f, p);
    if (!s.usable()) throw UnavailableError(what + ": " + s.note);
    if (is_channels_last(anchor)) throw UnavailableError(what + ": " + std::string(nchw_only));
    if (anchor.kind != fusion_anchor(f))
      throw Error(what + ": anchor op must be " + std::string(to_string(fusion_anchor(f))) + ", got " +
                  std::string(to_string(anchor.kind)));
    if (const auto why = invalid_reason(anchor); !why.empty()) throw Error(what + ": " + std::string(why));
    return guarded(what, [&] {
      FusionKernels k = make_fusion_kernels(f, anchor, p);
      k.fused->run();
      k.unfused->run();
      return k;
    });
  }

 private:
  /// Runs `prepare`, turning ATen's own refusals (c10::Error: "not
  /// implemented for ...") into UnavailableError.
  template <class Prepare>
  static auto guarded(const std::string& what, Prepare prepare) -> decltype(prepare()) {
    try {
      return prepare();
    } catch (const c10::Error& e) {
      throw UnavailableError(what + ": ATen refused it: " + e.what_without_backtrace());
    }
  }

  bool heap_only_ = false;
};

}  // namespace aten
}  // namespace hwcal
