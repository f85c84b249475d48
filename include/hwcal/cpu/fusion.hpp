#pragma once
// Fusion patterns on the CPU backends, fused vs unfused, same result both ways.
//   linear_bias       fused: bias pre-filled, GEMM accumulates (PyTorch addmm)
//                     unfused: GEMM, then a bias pass
//   linear_bias_relu/gelu  fused: addmm + one activation pass
//                     unfused: GEMM, bias pass, activation pass
//   conv_relu         fused: bias+relu in the conv epilogue (each output channel
//                     while in cache); unfused: conv, then a relu pass
//   conv_bn           fused: BN folded into the weights and bias (one conv);
//                     unfused: conv, then a batchnorm pass
//   conv_bn_relu      fused: folded conv with a bias+relu epilogue;
//                     unfused: conv, batchnorm pass, relu pass
//   qkt_softmax       fused: per head, scores softmaxed while in cache;
//                     unfused: all scores materialised, then a softmax pass
//   attention         fused: per head QK^T -> softmax -> PV; unfused: three
//                     passes over a materialised score tensor
// Eigen and OpenBLAS have no GEMM epilogues, so linear fusion saves passes over
// the output, not the GEMM's own store; the note in each profile says so.

#include <hwcal/cpu/attention.hpp>
#include <hwcal/cpu/batchnorm.hpp>
#include <hwcal/cpu/conv.hpp>
#include <hwcal/cpu/elementwise.hpp>
#include <hwcal/cpu/gemm.hpp>
#include <hwcal/kernel.hpp>

namespace hwcal {
namespace cpu {

inline const char* fusion_note(FusionPattern f) {
  switch (f) {
    case FusionPattern::linear_bias:
      return "fused: bias pre-filled and accumulated by the GEMM (addmm); unfused: GEMM then a bias pass";
    case FusionPattern::linear_bias_relu:
    case FusionPattern::linear_bias_gelu:
      return "fused: addmm then one activation pass (no GEMM epilogue in this library); unfused: GEMM, bias pass, "
             "activation pass";
    case FusionPattern::conv_relu:
      return "fused: bias+relu applied per output channel while in cache; unfused: conv then a relu pass";
    case FusionPattern::conv_bn:
      return "fused: batchnorm folded into conv weights and bias; unfused: conv then a batchnorm pass";
    case FusionPattern::conv_bn_relu:
      return "fused: folded batchnorm + relu in the conv epilogue; unfused: conv, batchnorm pass, relu pass";
    case FusionPattern::qkt_softmax:
      return "fused: per head, scores softmaxed while in cache; unfused: all scores materialised, then softmax";
    case FusionPattern::attention:
      return "fused: per head QK^T, softmax, PV back to back; unfused: three passes over materialised scores";
  }
  return "";
}

/// One side (fused or unfused) of a linear_* or conv_* pattern.
template <class Gemm, class T>
class EpilogueFusionKernel final : public Kernel {
 public:
  EpilogueFusionKernel(FusionPattern f, const OpDesc& anchor, Precision p, int threads, bool fused)
      : f_(f), p_(p), threads_(threads), fused_(fused) {
    if (anchor.kind == OpKind::linear) {
      lin_ = std::get<MatmulShape>(anchor.shape);
      lin_.bias = true;
      x_ = random_buffer<T>(lin_.m * lin_.k, 1);
      w_ = random_buffer<T>(lin_.n * lin_.k, 2);
      bias_ = random_buffer<T>(lin_.n, 3);
      y_ = Buffer<T>::Zero(lin_.m * lin_.n);
      return;
    }
    conv_ = std::get<Conv2dShape>(anchor.shape);
    conv_.bias = true;
    x_ = random_buffer<T>(conv_.n * conv_.c * conv_.h * conv_.w, 11);
    w_ = random_buffer<T>(conv_.k * (conv_.c / conv_.groups) * conv_.r * conv_.s, 12);
    bias_ = random_buffer<T>(conv_.k, 13);
    y_ = Buffer<T>::Zero(conv_.n * conv_.k * conv_.out_h() * conv_.out_w());
    scratch_ = Buffer<T>::Zero(std::max<i64>(1, detail::conv_scratch_elements(conv_) * std::max(1, threads_)));
    bn_ = detail::BatchNormParams<T>(conv_.k);
    if (has_bn() && fused_) {
      // Inference engines fold once, at load time: not part of the timed run.
      bn_.fold(scale_, shift_);
      folded_w_ = w_;
      const i64 per_k = folded_w_.size() / conv_.k;
      for (i64 k = 0; k < conv_.k; ++k) folded_w_.segment(k * per_k, per_k) *= scale_[k];
      folded_b_ = bias_ * scale_ + shift_;
    }
  }

  void run() override {
    if (conv_.k == 0)
      run_linear();
    else
      run_conv();
  }

  CheckResult check() override {
    const bool linear = conv_.k == 0;
    reference::SampledCheck chk(p_, linear ? lin_.k : (conv_.c / conv_.groups) * conv_.r * conv_.s);
    const bool approx = f_ == FusionPattern::linear_bias_gelu;  // vectorised erf
    reference::SampledCheck loose(p_, 64 * (linear ? lin_.k : (conv_.c / conv_.groups) * conv_.r * conv_.s));
    for (i64 idx : sample_indices(y_.size())) {
      double want = 0;
      if (linear) {
        want = reference::linear_at(x_.data(), w_.data(), bias_.data(), lin_, idx / lin_.n, idx % lin_.n);
      } else {
        const i64 ohw = conv_.out_h() * conv_.out_w(), n = idx / (conv_.k * ohw), k = (idx / ohw) % conv_.k;
        want = reference::conv2d_at(x_.data(), w_.data(), bias_.data(), conv_, n, k, (idx % ohw) / conv_.out_w(),
                                    idx % conv_.out_w());
        if (has_bn()) want = bn_.apply(want, k);
      }
      if (activation() != OpKind::copy) want = reference::elementwise(activation(), want);
      (approx ? loose : chk).add(hwcal::detail::as_double(y_[idx]), want, "y", idx);
    }
    return approx ? loose.result() : chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  bool has_bn() const noexcept { return f_ == FusionPattern::conv_bn || f_ == FusionPattern::conv_bn_relu; }
  /// The trailing activation (copy = none).
  OpKind activation() const noexcept {
    switch (f_) {
      case FusionPattern::linear_bias_relu:
      case FusionPattern::conv_relu:
      case FusionPattern::conv_bn_relu: return OpKind::relu;
      case FusionPattern::linear_bias_gelu: return OpKind::gelu;
      default: return OpKind::copy;
    }
  }
  void activation_pass() {
    if (activation() == OpKind::copy) return;
    parallel_chunks(threads_, y_.size(), [&](i64 i0, i64 i1) {
      detail::unary_chunk(activation(), y_.data() + i0, y_.data() + i0, i1 - i0);
    });
  }

  void run_linear() {
    if (fused_) {
      detail::linear_forward<Gemm>(lin_, x_.data(), w_.data(), bias_.data(), y_.data(), threads_);
    } else {
      MatmulShape no_bias = lin_;
      no_bias.bias = false;
      detail::linear_forward<Gemm>(no_bias, x_.data(), w_.data(), static_cast<const T*>(nullptr), y_.data(), threads_);
      parallel_for(threads_, lin_.m, [&](i64 r0, i64 r1) {
        for (i64 r = r0; r < r1; ++r)
          ArrayMap<T>(y_.data() + r * lin_.n, lin_.n) += ConstArrayMap<T>(bias_.data(), lin_.n);
      });
    }
    activation_pass();
  }

  void run_conv() {
    if (fused_) {
      const T* w = has_bn() ? folded_w_.data() : w_.data();
      const T* b = has_bn() ? folded_b_.data() : bias_.data();
      const bool relu = activation() == OpKind::relu;
      detail::conv2d_forward<Gemm>(conv_, x_.data(), w, y_.data(), scratch_.data(), threads_,
                                   [b, relu](i64 k, T* row, i64 len) {
                                     ArrayMap<T> y(row, len);
                                     if (relu)
                                       y = (y + b[k]).max(T(0));
                                     else
                                       y += b[k];
                                   });
      return;
    }
    detail::conv2d_forward<Gemm>(conv_, x_.data(), w_.data(), y_.data(), scratch_.data(), threads_,
                                 detail::BiasEpilogue<T>{bias_.data()});
    if (has_bn()) {
      bn_.fold(scale_, shift_);  // a standalone batchnorm derives scale/shift on every call
      detail::batchnorm_planes(MapShape{conv_.n, conv_.k, conv_.out_h(), conv_.out_w()}, y_.data(), y_.data(), scale_,
                               shift_, threads_);
    }
    activation_pass();
  }

  FusionPattern f_;
  Precision p_;
  int threads_;
  bool fused_;
  MatmulShape lin_{};
  Conv2dShape conv_{};
  detail::BatchNormParams<T> bn_{};
  Buffer<T> x_, w_, bias_, y_, scratch_, scale_, shift_, folded_w_, folded_b_;
};

template <class Gemm, class T>
FusionKernels make_cpu_fusion(FusionPattern f, const OpDesc& anchor, Precision p, int threads) {
  FusionKernels k;
  k.note = fusion_note(f);
  if (f == FusionPattern::qkt_softmax || f == FusionPattern::attention) {
    const bool stop = f == FusionPattern::qkt_softmax;
    k.fused = std::make_unique<AttentionKernel<Gemm, T>>(anchor, p, threads, AttentionSchedule::per_head, stop);
    k.unfused = std::make_unique<AttentionKernel<Gemm, T>>(anchor, p, threads, AttentionSchedule::staged, stop);
    return k;
  }
  k.fused = std::make_unique<EpilogueFusionKernel<Gemm, T>>(f, anchor, p, threads, true);
  k.unfused = std::make_unique<EpilogueFusionKernel<Gemm, T>>(f, anchor, p, threads, false);
  return k;
}

}  // namespace cpu
}  // namespace hwcal
