#pragma once
// 2-D convolutions through cuDNN 9 (ConvKernel), optionally with a fused bias
// add and relu, and the unfused post-op kernels of the conv fusion patterns.
//
// Primary path: the graph (backend) API, as PyTorch's cudnn-frontend does:
// the operation graph conv -> [+ bias] -> [relu], then GraphPlan
// (cudnn_graph.hpp) picks the engine as the backend's Algorithm says
// (heuristics mode A's first engine that runs, PyTorch's choice with
// cudnn.benchmark = False; or the fastest of 8). When no engine builds for a
// plain convolution, the legacy API is used instead
// (cudnnGetConvolutionForwardAlgorithm_v7's first choice, or
// cudnnFindConvolutionForwardAlgorithm's fastest); implementation() says
// which path and engine ran.
//
// Layout: NHWC for a channels_last shape, else the backend's ConvLayout (for
// every precision). NCHW (filters KCRS)
// is PyTorch's default contiguous format: cuDNN then runs what PyTorch runs,
// including the engines that transpose NCHW half-precision tensors for their
// tensor-core kernels; NHWC (filters KRSC) is channels_last. fp32 excludes
// engines noted TENSOR_CORE, DOWN_CONVERT_INPUTS or
// REDUCED_PRECISION_REDUCTION, so it is true fp32 (Winograd and FFT stay
// allowed: they compute in fp32); tf32 excludes only down-conversion.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/cudnn_graph.hpp>
#include <hwcal/cuda/dtype.hpp>
#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/runtime.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hwcal {
namespace cuda {

/// Dimensions in cuDNN's logical order (n, c, h, w) and strides of the
/// physical layout. Filters: (k, c/g, r, s).
struct Dims4 {
  std::array<std::int64_t, 4> dims, strides;
};

inline Dims4 dims4(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, ConvLayout l) noexcept {
  if (l == ConvLayout::nhwc) return {{n, c, h, w}, {h * w * c, 1, w * c, c}};
  return {{n, c, h, w}, {c * h * w, h * w, w, 1}};
}

struct ConvProblem {
  Conv2dShape shape;
  Precision precision = Precision::fp32;
  ConvLayout layout = ConvLayout::nchw;
  Algorithm algorithm = Algorithm::heuristic_first;
  bool bias = false;  ///< fused bias add (the graph's second op)
  bool relu = false;  ///< fused relu
};

struct ConvPointers {
  const void* x = nullptr;
  const void* w = nullptr;
  void* y = nullptr;
  const void* bias = nullptr;  ///< k elements, when ConvProblem::bias
};

/// A prepared convolution; run() enqueues on the cuDNN handle's stream.
class Convolution {
 public:
  virtual ~Convolution() = default;
  virtual void run() = 0;
  virtual std::string implementation() const = 0;
};

/// Graph-API convolution [+ bias] [+ relu].
class GraphConvolution final : public Convolution {
 public:
  GraphConvolution(cudnnHandle_t handle, const ConvProblem& p, const ConvPointers& ptr, cudaStream_t stream) {
    const Conv2dShape& s = p.shape;
    const cudnnDataType_t io = cudnn_type(storage_of(p.precision));
    const bool dbl = p.precision == Precision::fp64;
    const cudnnDataType_t compute = dbl ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    enum : std::int64_t { uid_x = 1, uid_w, uid_y, uid_bias, uid_conv_out, uid_bias_out };

    using detail::BackendDesc;
    auto tensor = [&](std::int64_t uid, cudnnDataType_t type, const Dims4& d, bool is_virtual) -> const BackendDesc& {
      keep_.push_back(detail::tensor(
          {uid, type, {d.dims.begin(), d.dims.end()}, {d.strides.begin(), d.strides.end()}, is_virtual, false}));
      return keep_.back();
    };
    // Every descriptor stays alive as long as the plan built from it.
    auto keep = [this](BackendDesc d) -> const BackendDesc& {
      keep_.push_back(std::move(d));
      return keep_.back();
    };
    const Dims4 yd = dims4(s.n, s.k, s.out_h(), s.out_w(), p.layout);
    const BackendDesc& x = tensor(uid_x, io, dims4(s.n, s.c, s.h, s.w, p.layout), false);
    const BackendDesc& w = tensor(uid_w, io, dims4(s.k, s.c / s.groups, s.r, s.s, p.layout), false);
    const BackendDesc& y = tensor(uid_y, io, yd, false);
    const bool fused = p.bias || p.relu;
    const BackendDesc& conv_out = fused ? tensor(uid_conv_out, compute, yd, true) : y;

    BackendDesc conv(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    const std::int64_t dims = 2;
    const std::array<std::int64_t, 2> dil{s.dil_h, s.dil_w}, stride{s.stride_h, s.stride_w}, pad{s.pad_h, s.pad_w};
    const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
    conv.set(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, compute)
        .set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, mode)
        .set(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, dims)
        .set(CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, dil.data(), 2)
        .set(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, stride.data(), 2)
        .set(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, pad.data(), 2)
        .set(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, pad.data(), 2)
        .finalize();
    const BackendDesc& conv_desc = keep(std::move(conv));

    BackendDesc conv_op(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    conv_op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, conv_out)
        .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv_desc);
    if (dbl) {
      const double one = 1, zero = 0;
      conv_op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_DOUBLE, one)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_DOUBLE, zero);
    } else {
      const float one = 1, zero = 0;
      conv_op.set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, one)
          .set(CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, zero);
    }
    conv_op.finalize();

    std::vector<cudnnBackendDescriptor_t> ops{keep(std::move(conv_op)).get()};
    std::vector<std::int64_t> uids{uid_x, uid_w, uid_y};
    std::vector<void*> data{const_cast<void*>(ptr.x), const_cast<void*>(ptr.w), ptr.y};
    const BackendDesc* last = &conv_out;
    if (p.bias) {
      const BackendDesc& bias = tensor(uid_bias, io, Dims4{{1, s.k, 1, 1}, {s.k, 1, 1, 1}}, false);
      const BackendDesc& out = p.relu ? tensor(uid_bias_out, compute, yd, true) : y;
      ops.push_back(
          keep(detail::pointwise_op(CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, *last, &bias, nullptr, out)).get());
      last = &out;
      uids.push_back(uid_bias);
      data.push_back(const_cast<void*>(ptr.bias));
    }
    if (p.relu)
      ops.push_back(
          keep(detail::pointwise_op(CUDNN_POINTWISE_RELU_FWD, CUDNN_DATA_FLOAT, *last, nullptr, nullptr, y)).get());

    BackendDesc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    graph
        .set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, ops.data(),
             static_cast<std::int64_t>(ops.size()))
        .set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle)
        .finalize();

    PlanChoice choice;
    choice.algorithm = p.algorithm;
    // Fused graphs may use runtime-compiled engines (NVRTC, slow to build): fewer timed candidates.
    choice.candidates = fused ? 4 : 8;
    const Precision precision = p.precision;
    choice.excluded = [precision](cudnnBackendDescriptor_t engine) { return excluded(engine, precision); };
    plan_ = std::make_unique<GraphPlan>(handle, graph, choice, std::move(uids), std::move(data), stream);
    layout_ = std::string(to_string(p.layout));
  }

  void run() override { plan_->run(); }

  std::string implementation() const override { return "cudnn graph " + plan_->describe() + " " + layout_; }

 private:
  static bool excluded(cudnnBackendDescriptor_t engine, Precision p) {
    std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
    std::int64_t n = 0;
    if (cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                 static_cast<std::int64_t>(notes.size()), &n, notes.data()) != CUDNN_STATUS_SUCCESS)
      return false;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto note = notes[static_cast<std::size_t>(i)];
      if ((p == Precision::fp32 || p == Precision::tf32) && note == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)
        return true;
      if (p == Precision::fp32 &&
          (note == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || note == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION))
        return true;
    }
    return false;
  }

  std::deque<detail::BackendDesc> keep_;
  std::unique_ptr<GraphPlan> plan_;
  std::string layout_;
};

/// Legacy-API convolution (no fusion): cudnnGetConvolutionForwardAlgorithm_v7's
/// first choice that runs (heuristic_first) or cudnnFindConvolutionForwardAlgorithm's
/// fastest (fastest), within 512 MiB of workspace.
class LegacyConvolution final : public Convolution {
 public:
  LegacyConvolution(cudnnHandle_t handle, const ConvProblem& p, const ConvPointers& ptr, cudaStream_t stream,
                    std::string why = {})
      : handle_(handle), ptr_(ptr), dbl_(p.precision == Precision::fp64), why_(std::move(why)) {
    const Conv2dShape& s = p.shape;
    const cudnnTensorFormat_t fmt = p.layout == ConvLayout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    const cudnnDataType_t io = cudnn_type(storage_of(p.precision));
    HWCAL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x_));
    HWCAL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y_));
    HWCAL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w_));
    HWCAL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv_));
    auto i = [](std::int64_t v) { return static_cast<int>(v); };
    HWCAL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x_, fmt, io, i(s.n), i(s.c), i(s.h), i(s.w)));
    HWCAL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y_, fmt, io, i(s.n), i(s.k), i(s.out_h()), i(s.out_w())));
    HWCAL_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w_, io, fmt, i(s.k), i(s.c / s.groups), i(s.r), i(s.s)));
    HWCAL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv_, i(s.pad_h), i(s.pad_w), i(s.stride_h), i(s.stride_w),
                                                      i(s.dil_h), i(s.dil_w), CUDNN_CROSS_CORRELATION,
                                                      dbl_ ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT));
    HWCAL_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv_, i(s.groups)));
    // fp32: FMA only (no TF32); tf32: default math (allows TF32); fp16/bf16: tensor ops.
    const cudnnMathType_t math = p.precision == Precision::fp32 || dbl_ ? CUDNN_FMA_MATH
                                 : p.precision == Precision::tf32       ? CUDNN_DEFAULT_MATH
                                                                        : CUDNN_TENSOR_OP_MATH;
    HWCAL_CUDNN_CHECK(cudnnSetConvolutionMathType(conv_, math));
    HWCAL_CUDNN_CHECK(cudnnSetStream(handle, stream));
    std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
    int returned = 0;
    const bool find = p.algorithm == Algorithm::fastest;
    if (find)
      HWCAL_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(handle, x_, w_, conv_, y_, static_cast<int>(perf.size()),
                                                             &returned, perf.data()));
    else
      HWCAL_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, x_, w_, conv_, y_, static_cast<int>(perf.size()),
                                                               &returned, perf.data()));
    constexpr std::size_t max_workspace = std::size_t{512} << 20;
    for (int k = 0; k < returned && !found_; ++k) {  // sorted: fastest (or most promising) first
      const cudnnConvolutionFwdAlgoPerf_t& a = perf[static_cast<std::size_t>(k)];
      if (a.status != CUDNN_STATUS_SUCCESS || a.memory > max_workspace) continue;
      algo_ = a.algo;
      workspace_ = DeviceBuffer(static_cast<std::int64_t>(a.memory));
      found_ = launch() == CUDNN_STATUS_SUCCESS;
    }
    if (!found_) throw UnavailableError("cuDNN legacy API: no algorithm runs this convolution");
    HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream));
    layout_ = std::string(to_string(p.layout));
    choice_ = find ? "fastest of cudnnFind" : "first of cudnnGet_v7 that runs";
  }
  ~LegacyConvolution() override {
    if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
    if (w_) cudnnDestroyFilterDescriptor(w_);
    if (y_) cudnnDestroyTensorDescriptor(y_);
    if (x_) cudnnDestroyTensorDescriptor(x_);
  }
  LegacyConvolution(const LegacyConvolution&) = delete;
  LegacyConvolution& operator=(const LegacyConvolution&) = delete;

  void run() override { HWCAL_CUDNN_CHECK(launch()); }

  std::string implementation() const override {
    static constexpr const char* names[] = {
        "implicit_gemm", "implicit_precomp_gemm", "gemm", "direct", "fft", "fft_tiling",
        "winograd",      "winograd_nonfused"};
    const auto a = static_cast<std::size_t>(algo_);
    return std::string("cudnn legacy ") + (a < 8 ? names[a] : "algo " + std::to_string(a)) + " (" + choice_ + ") " +
           layout_ + (why_.empty() ? "" : " (graph API: " + why_ + ")");
  }

 private:
  cudnnStatus_t launch() const {
    const double one_d = 1, zero_d = 0;
    const float one_f = 1, zero_f = 0;
    const void* one = dbl_ ? static_cast<const void*>(&one_d) : static_cast<const void*>(&one_f);
    const void* zero = dbl_ ? static_cast<const void*>(&zero_d) : static_cast<const void*>(&zero_f);
    return cudnnConvolutionForward(handle_, one, x_, ptr_.x, w_, ptr_.w, conv_, algo_, workspace_.get(),
                                   static_cast<std::size_t>(workspace_.bytes()), zero, y_, ptr_.y);
  }

  cudnnHandle_t handle_;
  ConvPointers ptr_;
  bool dbl_;
  std::string why_;
  cudnnTensorDescriptor_t x_ = nullptr, y_ = nullptr;
  cudnnFilterDescriptor_t w_ = nullptr;
  cudnnConvolutionDescriptor_t conv_ = nullptr;
  cudnnConvolutionFwdAlgo_t algo_ = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  bool found_ = false;
  DeviceBuffer workspace_;
  std::string layout_, choice_;
};

/// The graph API first; for a plain convolution the legacy API when no graph
/// engine builds. Fused problems have no legacy route here.
inline std::unique_ptr<Convolution> make_convolution(cudnnHandle_t handle, const ConvProblem& p,
                                                     const ConvPointers& ptr, cudaStream_t stream) {
  std::string why;
  try {
    return std::make_unique<GraphConvolution>(handle, p, ptr, stream);
  } catch (const Error& e) {
    if (p.bias || p.relu) throw;
    why = e.what();
  }
  return std::make_unique<LegacyConvolution>(handle, p, ptr, stream, why);
}

/// Post-ops of a convolution, fused in the cuDNN graph or as separate kernels.
struct ConvPostOps {
  bool batchnorm = false;  ///< inference batchnorm after the conv (and its bias)
  bool relu = false;
  bool fused = false;  ///< one cuDNN graph: conv (+ bias, batchnorm folded into w and bias) (+ relu)
};

/// conv2d, and the fused / unfused halves of conv_relu, conv_bn, conv_bn_relu.
class ConvKernel final : public CudaKernel {
 public:
  ConvKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p, ConvPostOps post)
      : CudaKernel(std::move(c)),
        precision_(p),
        post_(post),
        shape_(std::get<Conv2dShape>(op.shape)),
        // a channels_last shape is NHWC whatever the backend's default layout
        layout_(shape_.channels_last ? ConvLayout::nhwc : options().conv_layout) {
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
    ConvProblem problem{s, p, layout_, options().algorithm, false, post_.fused && post_.relu};
    ConvPointers ptr{x_.get(), w_.get(), y_.get(), nullptr};
    if (post_.fused && post_.batchnorm) {
      // Inference-time folding, as TensorRT and torch.compile do: w' = w s, b' = (b - mean) s + beta.
      w_fold_ = DeviceTensor(t, s.k * per_k);
      bias_fold_ = DeviceTensor(t, s.k);
      HWCAL_CUDA_CHECK(launch::fold_batchnorm(t, w_.get(), s.bias ? bias_.get() : nullptr, mean_.get(), var_.get(),
                                              gamma_.get(), beta_.get(), w_fold_.get(), bias_fold_.get(), s.k, per_k,
                                              norm_eps, stream()));
      ptr.w = w_fold_.get();
      ptr.bias = bias_fold_.get();
      problem.bias = true;
    } else if (post_.fused && s.bias) {
      ptr.bias = bias_.get();
      problem.bias = true;
    }
    ctx().sync();  // inputs ready before cuDNN runs (and times) its candidates
    conv_ = make_convolution(ctx().dnn(), problem, ptr, stream());
  }

  void run() override {
    conv_->run();
    if (post_.fused) return;
    const Conv2dShape& s = shape_;
    const i64 total = y_.elements, inner = layout_ == ConvLayout::nhwc ? 1 : s.out_h() * s.out_w();
    if (s.bias)
      HWCAL_CUDA_CHECK(launch::bias_act(OpKind::copy, y_.dtype, y_.get(), bias_.get(), total, s.k, inner, stream()));
    if (post_.batchnorm)
      HWCAL_CUDA_CHECK(launch::batchnorm(y_.dtype, y_.get(), mean_.get(), var_.get(), gamma_.get(), beta_.get(),
                                         y_.get(), total, s.k, inner, norm_eps, false, stream()));
    if (post_.relu) HWCAL_CUDA_CHECK(launch::unary(OpKind::relu, y_.dtype, y_.get(), y_.get(), total, stream()));
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
        want = reference::batchnorm_at(&want, &mean[ck], &var[ck], &gamma[ck], &beta[ck], norm_eps,
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

}  // namespace cuda
}  // namespace hwcal
