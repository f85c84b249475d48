#pragma once
// The backend's compute-bound kernels: GEMMs (matmul, linear) through
// cuBLASLt, convolutions through cuDNN, and attention as the PyTorch "math"
// chain (Q K^T, softmax, P V). Each may carry post-ops, fused into the library
// call or run as separate kernels, which is how the fusion patterns measure
// fused against unfused.
//
// Inputs are generated on the device. Ranges are mean-shifted ([-0.5, 1)):
// sums then grow like k while rounding errors grow like sqrt(k), so sampled
// checks of tf32 and half precisions are well conditioned at any k.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/conv.hpp>
#include <hwcal/cuda/gemm.hpp>
#include <hwcal/reference.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace cuda {

inline constexpr double compute_input_lo = -0.5, compute_input_hi = 1.0;
inline constexpr double batchnorm_eps = 1e-5;

namespace detail {

/// cuBLASLt's GELU epilogue is the tanh approximation (PyTorch falls back to
/// gelu(approximate="tanh") where it cannot use the epilogue).
inline double gelu_tanh(double x) {
  const double c = std::sqrt(2.0 / 3.14159265358979323846);
  return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
}

inline void check_cuda_launch(cudaError_t e, const char* what) {
  if (e != cudaSuccess)
    throw Error(std::string(what) + " launch failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

}  // namespace detail

/// Post-ops of a GEMM: fused in cuBLASLt's epilogue, or separate kernels.
struct GemmPostOps {
  Epilogue epilogue = Epilogue::none;  ///< fused: bias, bias+relu, bias+gelu(tanh)
  bool bias_kernel = false;            ///< separate bias-add kernel
  OpKind act_kernel = OpKind::copy;    ///< separate activation kernel: relu or gelu (erf); copy = none
  bool has_bias() const noexcept { return epilogue != Epilogue::none || bias_kernel; }
};

/// matmul (row-major, batched) or linear (y = x W^T [+ b], batch folded into rows).
class GemmKernel final : public CudaKernel {
 public:
  GemmKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p, GemmPostOps post)
      : CudaKernel(std::move(c)), precision_(p), post_(post), linear_(op.kind == OpKind::linear) {
    const auto& s = std::get<MatmulShape>(op.shape);
    batch_ = linear_ ? 1 : s.batch;
    m_ = linear_ ? s.batch * s.m : s.m;
    n_ = s.n;
    k_ = s.k;
    layout_ = linear_ || p == Precision::int8 || p == Precision::fp8 ? BLayout::nk : BLayout::kn;
    const DType in = storage_of(p), out = gemm_output_of(p);
    const double lo = p == Precision::int8 ? -8 : compute_input_lo, hi = p == Precision::int8 ? 8 : compute_input_hi;
    a_ = ctx().random(in, batch_ * m_ * k_, lo, hi);
    b_ = ctx().random(in, batch_ * k_ * n_, lo, hi);
    d_ = DeviceTensor(out, batch_ * m_ * n_);
    LtGemm::Pointers ptr{a_.get(), b_.get(), d_.get(), nullptr, nullptr, nullptr};
    if (post_.has_bias()) {
      bias_ = ctx().random(out, n_, -0.5, 0.5);
      ptr.bias = bias_.get();
    }
    if (p == Precision::fp8) {
      // Unit scales, as torch._scaled_mm with scale 1; each scalar on its own
      // 16-byte boundary (cuBLASLt rejects misaligned scale pointers).
      scales_ = ctx().random(DType::f32, 8, 1.0, 1.0);
      ptr.scale_a = scales_.memory.as<float>();
      ptr.scale_b = scales_.memory.as<float>() + 4;
    }
    GemmProblem problem{p, layout_, batch_, m_, n_, k_, post_.epilogue, 1.0};
    gemm_ = std::make_unique<LtGemm>(ctx().lt(), problem, ptr, ctx().gemm_workspace(), ctx().gemm_workspace_size());
    gemm_->tune(stream());
  }

  void run() override {
    gemm_->run(stream());
    const i64 total = batch_ * m_ * n_;
    if (post_.bias_kernel)
      detail::check_cuda_launch(launch::bias_act(OpKind::copy, d_.dtype, d_.get(), bias_.get(), total, n_, 1, stream()),
                                "bias");
    if (post_.act_kernel != OpKind::copy)
      detail::check_cuda_launch(launch::unary(post_.act_kernel, d_.dtype, d_.get(), d_.get(), total, stream()),
                                "activation");
  }

  CheckResult check() override {
    finish();
    reference::SampledCheck chk(precision_, k_);
    hwcal::detail::Rng rng = sampler();
    const MatmulShape one{1, 1, 1, k_, false};
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 b = rng.below(batch_), i = rng.below(m_), j = rng.below(n_);
      const std::vector<double> a = fetch(a_, (b * m_ + i) * k_, k_);
      // Column j of B: a row of the [n][k] layout, a strided column of [k][n].
      const std::vector<double> bc =
          layout_ == BLayout::nk ? fetch(b_, (b * n_ + j) * k_, k_) : fetch(b_, b * k_ * n_ + j, k_, n_);
      double want;
      if (post_.has_bias()) {
        const double bias = fetch_one(bias_, j);
        want = reference::linear_at(a.data(), bc.data(), &bias, one, 0, 0);
      } else {
        want = reference::matmul_at(a.data(), bc.data(), one, 0, 0, 0);
      }
      if (post_.epilogue == Epilogue::bias_relu || post_.act_kernel == OpKind::relu) want = reference::relu(want);
      if (post_.epilogue == Epilogue::bias_gelu) want = detail::gelu_tanh(want);
      if (post_.act_kernel == OpKind::gelu) want = reference::gelu(want);
      const i64 at = (b * m_ + i) * n_ + j;
      chk.add(fetch_one(d_, at), want, "D", at);
    }
    return chk.result();
  }

  std::string implementation() const override {
    std::string s = gemm_->implementation();
    if (!linear_ && layout_ == BLayout::nk) s += "; B kept as [n][k] (TN)";
    if (post_.bias_kernel) s += " + bias kernel";
    if (post_.act_kernel != OpKind::copy) s += " + " + std::string(to_string(post_.act_kernel)) + " kernel";
    return s;
  }

 private:
  Precision precision_;
  GemmPostOps post_;
  bool linear_;
  i64 batch_ = 1, m_ = 0, n_ = 0, k_ = 0;
  BLayout layout_ = BLayout::kn;
  DeviceTensor a_, b_, d_, bias_, scales_;
  std::unique_ptr<LtGemm> gemm_;
};

/// Post-ops of a convolution, fused in the cuDNN graph or as separate kernels.
struct ConvPostOps {
  bool batchnorm = false;  ///< inference batchnorm after the conv (and its bias)
  bool relu = false;
  bool fused = false;  ///< one cuDNN graph: conv (+ bias, batchnorm folded into w and bias) (+ relu)
};

class ConvKernel final : public CudaKernel {
 public:
  ConvKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p, ConvPostOps post)
      : CudaKernel(std::move(c)),
        precision_(p),
        post_(post),
        shape_(std::get<Conv2dShape>(op.shape)),
        layout_(conv_layout(p)) {
    const Conv2dShape& s = shape_;
    const DType t = storage_of(p);
    const i64 per_k = (s.c / s.groups) * s.r * s.s;
    x_ = ctx().random(t, s.n * s.c * s.h * s.w, compute_input_lo, compute_input_hi);
    w_ = ctx().random(t, s.k * per_k, compute_input_lo, compute_input_hi);
    y_ = DeviceTensor(t, s.n * s.k * s.out_h() * s.out_w());
    if (s.bias) bias_ = ctx().random(t, s.k, -0.5, 0.5);
    if (post_.batchnorm) {
      mean_ = ctx().random(t, s.k, -0.5, 0.5);
      var_ = ctx().random(t, s.k, 0.5, 1.5);
      gamma_ = ctx().random(t, s.k, 0.5, 1.5);
      beta_ = ctx().random(t, s.k, -0.5, 0.5);
    }
    ConvProblem problem{s, p, false, post_.fused && post_.relu};
    ConvPointers ptr{x_.get(), w_.get(), y_.get(), nullptr};
    if (post_.fused && post_.batchnorm) {
      // Inference-time folding, as TensorRT and torch.compile do: w' = w s, b' = (b - mean) s + beta.
      w_fold_ = DeviceTensor(t, s.k * per_k);
      bias_fold_ = DeviceTensor(t, s.k);
      detail::check_cuda_launch(
          launch::fold_batchnorm(t, w_.get(), s.bias ? bias_.get() : nullptr, mean_.get(), var_.get(), gamma_.get(),
                                 beta_.get(), w_fold_.get(), bias_fold_.get(), s.k, per_k, batchnorm_eps, stream()),
          "fold_batchnorm");
      ptr.w = w_fold_.get();
      ptr.bias = bias_fold_.get();
      problem.bias = true;
    } else if (post_.fused && s.bias) {
      ptr.bias = bias_.get();
      problem.bias = true;
    }
    ctx().sync();  // inputs ready before cuDNN times its candidates
    conv_ = make_convolution(ctx().dnn(), problem, ptr, stream());
  }

  void run() override {
    conv_->run();
    if (post_.fused) return;
    const Conv2dShape& s = shape_;
    const i64 total = y_.elements, inner = layout_ == ConvLayout::nhwc ? 1 : s.out_h() * s.out_w();
    if (s.bias)
      detail::check_cuda_launch(
          launch::bias_act(OpKind::copy, y_.dtype, y_.get(), bias_.get(), total, s.k, inner, stream()), "bias");
    if (post_.batchnorm)
      detail::check_cuda_launch(
          launch::batchnorm(y_.dtype, y_.get(), mean_.get(), var_.get(), gamma_.get(), beta_.get(), y_.get(), total,
                            s.k, inner, batchnorm_eps, false, stream()),
          "batchnorm");
    if (post_.relu)
      detail::check_cuda_launch(launch::unary(OpKind::relu, y_.dtype, y_.get(), y_.get(), total, stream()), "relu");
  }

  CheckResult check() override {
    finish();
    const Conv2dShape& s = shape_;
    const i64 cg = s.c / s.groups, oh_n = s.out_h(), ow_n = s.out_w();
    // Weights as [k][c/g][r][s] whatever the device layout.
    const std::vector<double> w_dev = fetch_all(w_);
    std::vector<double> w(w_dev.size());
    for (i64 k = 0; k < s.k; ++k)
      for (i64 c = 0; c < cg; ++c)
        for (i64 r = 0; r < s.r; ++r)
          for (i64 q = 0; q < s.s; ++q)
            w[static_cast<std::size_t>(((k * cg + c) * s.r + r) * s.s + q)] = w_dev[static_cast<std::size_t>(
                layout_ == ConvLayout::nhwc ? ((k * s.r + r) * s.s + q) * cg + c : ((k * cg + c) * s.r + r) * s.s + q)];
    const std::vector<double> bias = s.bias ? fetch_all(bias_) : std::vector<double>();
    std::vector<double> mean, var, gamma, beta;
    if (post_.batchnorm) {
      mean = fetch_all(mean_);
      var = fetch_all(var_);
      gamma = fetch_all(gamma_);
      beta = fetch_all(beta_);
    }
    // Samples come from a few images only, so a check reads at most four of them.
    hwcal::detail::Rng rng = sampler();
    const i64 images[4] = {0, s.n - 1, rng.below(s.n), rng.below(s.n)};
    std::map<i64, std::vector<double>> slices;
    Conv2dShape one = s;
    one.n = 1;
    reference::SampledCheck chk(precision_, reduction_length(OpDesc{OpKind::conv2d, s}));
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 n = images[rng.below(4)], k = rng.below(s.k), oh = rng.below(oh_n), ow = rng.below(ow_n);
      auto& x = slices[n];
      if (x.empty()) x = image(n);
      double want = reference::conv2d_at(x.data(), w.data(), s.bias ? bias.data() : nullptr, one, 0, k, oh, ow);
      if (post_.batchnorm) {
        const auto ck = static_cast<std::size_t>(k);
        want = reference::batchnorm_at(&want, &mean[ck], &var[ck], &gamma[ck], &beta[ck], batchnorm_eps,
                                       MapShape{1, 1, 1, 1}, 0);
      }
      if (post_.relu) want = reference::relu(want);
      const i64 at = layout_ == ConvLayout::nhwc ? ((n * oh_n + oh) * ow_n + ow) * s.k + k
                                                 : ((n * s.k + k) * oh_n + oh) * ow_n + ow;
      chk.add(fetch_one(y_, at), want, "y", at);
    }
    return chk.result();
  }

  std::string implementation() const override {
    std::string s = conv_->implementation();
    if (post_.fused) {
      if (post_.batchnorm) s += " (batchnorm folded)";
      return s;
    }
    if (shape_.bias) s += " + bias kernel";
    if (post_.batchnorm) s += " + batchnorm kernel";
    if (post_.relu) s += " + relu kernel";
    return s;
  }

 private:
  /// Image n of the input, as [c][h][w].
  std::vector<double> image(i64 n) const {
    const Conv2dShape& s = shape_;
    const i64 chw = s.c * s.h * s.w;
    std::vector<double> dev = fetch(x_, n * chw, chw);
    if (layout_ == ConvLayout::nchw) return dev;
    std::vector<double> x(dev.size());
    for (i64 c = 0; c < s.c; ++c)
      for (i64 h = 0; h < s.h; ++h)
        for (i64 w = 0; w < s.w; ++w)
          x[static_cast<std::size_t>((c * s.h + h) * s.w + w)] = dev[static_cast<std::size_t>((h * s.w + w) * s.c + c)];
    return x;
  }

  Precision precision_;
  ConvPostOps post_;
  Conv2dShape shape_;
  ConvLayout layout_;
  DeviceTensor x_, w_, y_, bias_, mean_, var_, gamma_, beta_, w_fold_, bias_fold_;
  std::unique_ptr<Convolution> conv_;
};

/// softmax(Q K^T / sqrt(d) [+ causal mask]) V as PyTorch's math path runs it:
/// two batched cuBLASLt GEMMs (the scale in the first one's alpha) around the
/// row softmax kernel; scores are stored at the input precision.
class AttentionKernel final : public CudaKernel {
 public:
  AttentionKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), precision_(p), shape_(std::get<AttentionShape>(op.shape)) {
    const AttentionShape& s = shape_;
    const DType t = storage_of(p);
    const i64 bh = s.batch * s.heads;
    q_ = ctx().random(t, bh * s.seq_q * s.head_dim, compute_input_lo, compute_input_hi);
    k_ = ctx().random(t, bh * s.seq_kv * s.head_dim, compute_input_lo, compute_input_hi);
    v_ = ctx().random(t, bh * s.seq_kv * s.head_dim, compute_input_lo, compute_input_hi);
    scores_ = DeviceTensor(t, bh * s.seq_q * s.seq_kv);
    o_ = DeviceTensor(t, bh * s.seq_q * s.head_dim);
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
    qk_ = std::make_unique<LtGemm>(
        ctx().lt(), GemmProblem{p, BLayout::nk, bh, s.seq_q, s.seq_kv, s.head_dim, Epilogue::none, scale},
        LtGemm::Pointers{q_.get(), k_.get(), scores_.get(), nullptr, nullptr, nullptr}, ctx().gemm_workspace(),
        ctx().gemm_workspace_size());
    pv_ = std::make_unique<LtGemm>(ctx().lt(),
                                   GemmProblem{p, BLayout::kn, bh, s.seq_q, s.head_dim, s.seq_kv, Epilogue::none, 1.0},
                                   LtGemm::Pointers{scores_.get(), v_.get(), o_.get(), nullptr, nullptr, nullptr},
                                   ctx().gemm_workspace(), ctx().gemm_workspace_size());
    qk_->tune(stream());
    pv_->tune(stream());
  }

  void run() override {
    const AttentionShape& s = shape_;
    qk_->run(stream());
    detail::check_cuda_launch(launch::softmax(scores_.dtype, scores_.get(), scores_.get(), s.batch * s.heads * s.seq_q,
                                              s.seq_kv, s.causal ? s.seq_q : 0, stream()),
                              "softmax");
    pv_->run(stream());
  }

  CheckResult check() override {
    finish();
    const AttentionShape& s = shape_;
    const i64 d = s.head_dim;
    reference::SampledCheck chk(precision_, reduction_length(OpDesc{OpKind::attention, s}));
    hwcal::detail::Rng rng = sampler();
    struct Head {
      std::vector<double> q, k, v;
    };
    std::map<i64, Head> heads;
    const AttentionShape one{1, 1, s.seq_q, s.seq_kv, d, s.causal};
    std::vector<double> out(static_cast<std::size_t>(d));
    // Rows whose causal window is empty (seq_q > seq_kv) have no reference value.
    const i64 first_row = s.causal && s.seq_q > s.seq_kv ? s.seq_q - s.seq_kv : 0;
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 bh = rng.below(s.batch * s.heads), i = first_row + rng.below(s.seq_q - first_row);
      Head& h = heads[bh];
      if (h.q.empty()) {
        h.q = fetch(q_, bh * s.seq_q * d, s.seq_q * d);
        h.k = fetch(k_, bh * s.seq_kv * d, s.seq_kv * d);
        h.v = fetch(v_, bh * s.seq_kv * d, s.seq_kv * d);
      }
      reference::attention_row(h.q.data(), h.k.data(), h.v.data(), one, 0, 0, i, out.data());
      const std::vector<double> got = fetch(o_, (bh * s.seq_q + i) * d, d);
      for (i64 e = 0; e < d; ++e)
        chk.add(got[static_cast<std::size_t>(e)], out[static_cast<std::size_t>(e)], "O", (bh * s.seq_q + i) * d + e);
    }
    return chk.result();
  }

  std::string implementation() const override {
    return "QK^T: " + qk_->implementation() + "; softmax kernel; PV: " + pv_->implementation();
  }

 private:
  Precision precision_;
  AttentionShape shape_;
  DeviceTensor q_, k_, v_, scores_, o_;
  std::unique_ptr<LtGemm> qk_, pv_;
};

}  // namespace cuda
}  // namespace hwcal
