#pragma once
// 2-D convolutions through cuDNN 9, optionally with a fused bias add and relu.
//
// Primary path: the graph (backend) API, as PyTorch's cudnn-frontend does:
// build the operation graph (conv -> [+ bias] -> [relu]), ask heuristics
// (mode A, then the fallback list), finalize plans, time up to `candidates`
// of them and keep the fastest (what torch.backends.cudnn.benchmark does).
// When no engine builds for a plain convolution, the legacy API
// (cudnnFindConvolutionForwardAlgorithm, deprecated in cuDNN 9 but present)
// is used instead; implementation() says which path and engine ran.
//
// Layouts: NHWC (filters KRSC) for fp16, bf16 and tf32, the tensor-core
// layouts; NCHW (filters KCRS) for fp32 and fp64. fp32 excludes engines
// noted TENSOR_CORE, DOWN_CONVERT_INPUTS or REDUCED_PRECISION_REDUCTION, so it
// is true fp32 (Winograd and FFT stay allowed: they compute in fp32); tf32
// excludes only down-conversion.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/dtype.hpp>
#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/runtime.hpp>
#include <hwcal/ops.hpp>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hwcal {
namespace cuda {

enum class ConvLayout : std::uint8_t { nchw, nhwc };

constexpr ConvLayout conv_layout(Precision p) noexcept {
  return p == Precision::fp16 || p == Precision::bf16 || p == Precision::tf32 ? ConvLayout::nhwc : ConvLayout::nchw;
}

inline cudnnDataType_t cudnn_type(DType t) noexcept {
  switch (t) {
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    case DType::i8: return CUDNN_DATA_INT8;
    case DType::i32: return CUDNN_DATA_INT32;
    case DType::e4m3: return CUDNN_DATA_FP8_E4M3;
    default: return CUDNN_DATA_FLOAT;
  }
}

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
  bool bias = false;  ///< fused bias add (the graph's second op)
  bool relu = false;  ///< fused relu
};

struct ConvPointers {
  const void* x = nullptr;
  const void* w = nullptr;
  void* y = nullptr;
  const void* bias = nullptr;  ///< k elements, when ConvProblem::bias
};

namespace detail {

/// RAII cudnnBackendDescriptor_t with typed attribute setters.
class BackendDesc {
 public:
  explicit BackendDesc(cudnnBackendDescriptorType_t t) { HWCAL_CUDNN_CHECK(cudnnBackendCreateDescriptor(t, &d_)); }
  ~BackendDesc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  BackendDesc(BackendDesc&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
  BackendDesc& operator=(BackendDesc&& o) noexcept {
    std::swap(d_, o.d_);
    return *this;
  }
  BackendDesc(const BackendDesc&) = delete;
  BackendDesc& operator=(const BackendDesc&) = delete;

  cudnnBackendDescriptor_t get() const noexcept { return d_; }

  template <class T>
  BackendDesc& set(cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, const T* v, std::int64_t n) {
    HWCAL_CUDNN_CHECK(cudnnBackendSetAttribute(d_, a, t, n, v));
    return *this;
  }
  template <class T>
  BackendDesc& set(cudnnBackendAttributeName_t a, cudnnBackendAttributeType_t t, const T& v) {
    return set(a, t, &v, 1);
  }
  BackendDesc& set(cudnnBackendAttributeName_t a, const BackendDesc& v) {
    const cudnnBackendDescriptor_t raw = v.get();
    return set(a, CUDNN_TYPE_BACKEND_DESCRIPTOR, raw);
  }
  BackendDesc& finalize() {
    HWCAL_CUDNN_CHECK(cudnnBackendFinalize(d_));
    return *this;
  }
  /// Finalize that may fail (an engine that does not apply to the graph).
  bool try_finalize() noexcept { return cudnnBackendFinalize(d_) == CUDNN_STATUS_SUCCESS; }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

inline BackendDesc tensor(std::int64_t uid, cudnnDataType_t type, const Dims4& d, bool is_virtual) {
  BackendDesc t(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const std::int64_t alignment = 16;
  const bool virt = is_virtual;
  t.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, type)
      .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, d.dims.data(), 4)
      .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, d.strides.data(), 4)
      .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, uid)
      .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment)
      .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, virt)
      .finalize();
  return t;
}

inline BackendDesc pointwise_op(cudnnPointwiseMode_t mode, const BackendDesc& x, const BackendDesc* b,
                                const BackendDesc& y) {
  BackendDesc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
  pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode)
      .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, prec)
      .finalize();
  BackendDesc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw).set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
  if (b) op.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y).finalize();
  return op;
}

inline std::int64_t get_int64(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t a) {
  std::int64_t v = 0, n = 0;
  HWCAL_CUDNN_CHECK(cudnnBackendGetAttribute(d, a, CUDNN_TYPE_INT64, 1, &n, &v));
  return v;
}

}  // namespace detail

/// A prepared convolution; run() enqueues on the cuDNN handle's stream.
class Convolution {
 public:
  virtual ~Convolution() = default;
  virtual void run() = 0;
  virtual std::string implementation() const = 0;
};

/// Graph-API convolution [+ bias] [+ relu], autotuned over heuristic engines.
class GraphConvolution final : public Convolution {
 public:
  GraphConvolution(cudnnHandle_t handle, const ConvProblem& p, const ConvPointers& ptr, cudaStream_t stream,
                   int candidates = 8, std::int64_t max_workspace = std::int64_t{512} << 20)
      : handle_(handle) {
    const Conv2dShape& s = p.shape;
    const ConvLayout layout = conv_layout(p.precision);
    const cudnnDataType_t io = cudnn_type(storage_of(p.precision));
    const bool dbl = p.precision == Precision::fp64;
    const cudnnDataType_t compute = dbl ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    enum : std::int64_t { uid_x = 1, uid_w, uid_y, uid_bias, uid_conv_out, uid_bias_out };

    using detail::BackendDesc;
    using detail::tensor;
    // Every descriptor stays alive as long as the plans built from it.
    auto keep = [this](BackendDesc d) -> const BackendDesc& {
      keep_.push_back(std::move(d));
      return keep_.back();
    };
    const Dims4 yd = dims4(s.n, s.k, s.out_h(), s.out_w(), layout);
    const BackendDesc& x = keep(tensor(uid_x, io, dims4(s.n, s.c, s.h, s.w, layout), false));
    const BackendDesc& w = keep(tensor(uid_w, io, dims4(s.k, s.c / s.groups, s.r, s.s, layout), false));
    const BackendDesc& y = keep(tensor(uid_y, io, yd, false));
    const bool fused = p.bias || p.relu;
    const BackendDesc& conv_out = fused ? keep(tensor(uid_conv_out, compute, yd, true)) : y;

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
      const BackendDesc& bias = keep(tensor(uid_bias, io, Dims4{{1, s.k, 1, 1}, {s.k, 1, 1, 1}}, false));
      const BackendDesc& out = p.relu ? keep(tensor(uid_bias_out, compute, yd, true)) : y;
      ops.push_back(keep(detail::pointwise_op(CUDNN_POINTWISE_ADD, *last, &bias, out)).get());
      last = &out;
      uids.push_back(uid_bias);
      data.push_back(const_cast<void*>(ptr.bias));
    }
    if (p.relu) ops.push_back(keep(detail::pointwise_op(CUDNN_POINTWISE_RELU_FWD, *last, nullptr, y)).get());

    BackendDesc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    graph
        .set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, ops.data(),
             static_cast<std::int64_t>(ops.size()))
        .set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle)
        .finalize();
    const BackendDesc& graph_desc = keep(std::move(graph));

    // Plans from heuristics mode A, then the fallback list.
    for (cudnnBackendHeurMode_t heur_mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
      collect_plans(graph_desc, heur_mode, p.precision, candidates, max_workspace);
      if (!plans_.empty()) break;
    }
    if (plans_.empty())
      throw UnavailableError("cuDNN graph API: no engine for this " + std::string(to_string(p.precision)) +
                             " convolution" + (fused ? " with fused bias/relu" : ""));

    std::int64_t ws = 0;
    for (const auto& c : plans_) ws = std::max(ws, c.workspace);
    workspace_ = DeviceBuffer(ws);
    HWCAL_CUDNN_CHECK(cudnnSetStream(handle, stream));
    pack_ = make_pack(uids, data);
    tune(stream);
    // Keep only the winner and its workspace.
    Plan best = std::move(plans_[chosen_]);
    plans_.clear();
    plans_.push_back(std::move(best));
    chosen_ = 0;
    if (plans_[0].workspace < workspace_.bytes()) {
      workspace_ = DeviceBuffer(plans_[0].workspace);
      pack_ = make_pack(uids, data);
    }
    layout_ = layout == ConvLayout::nhwc ? "NHWC" : "NCHW";
  }

  void run() override { HWCAL_CUDNN_CHECK(cudnnBackendExecute(handle_, plans_[chosen_].plan.get(), pack_.get())); }

  std::string implementation() const override {
    return "cudnn graph engine " + std::to_string(plans_[chosen_].engine) + " " + layout_ +
           (tuned_ > 1 ? " (fastest of " + std::to_string(tuned_) + " engines)" : "");
  }

 private:
  struct Plan {
    detail::BackendDesc plan;
    std::int64_t engine = -1;
    std::int64_t workspace = 0;
  };

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

  void collect_plans(const detail::BackendDesc& graph, cudnnBackendHeurMode_t mode, Precision p, int candidates,
                     std::int64_t max_workspace) {
    detail::BackendDesc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph).set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, mode);
    if (!heur.try_finalize()) return;
    std::int64_t count = 0;
    if (cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                 nullptr) != CUDNN_STATUS_SUCCESS ||
        count <= 0)
      return;
    std::vector<detail::BackendDesc> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (std::int64_t i = 0; i < count; ++i) {
      configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
      raw.push_back(configs.back().get());
    }
    std::int64_t got = 0;
    HWCAL_CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                               count, &got, raw.data()));
    for (auto& c : configs) keep_.push_back(std::move(c));
    const auto first = keep_.end() - static_cast<std::ptrdiff_t>(configs.size());
    for (std::int64_t i = 0; i < got && static_cast<int>(plans_.size()) < candidates; ++i) {
      detail::BackendDesc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
      cudnnBackendDescriptor_t raw_engine = engine.get();
      std::int64_t n = 0;
      if (cudnnBackendGetAttribute(raw[static_cast<std::size_t>(i)], CUDNN_ATTR_ENGINECFG_ENGINE,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw_engine) != CUDNN_STATUS_SUCCESS)
        continue;
      if (excluded(raw_engine, p)) continue;
      Plan c{detail::BackendDesc(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR), -1, 0};
      c.plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, handle_)
          .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, *(first + static_cast<std::ptrdiff_t>(i)));
      if (!c.plan.try_finalize()) continue;
      c.workspace = detail::get_int64(c.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE);
      if (c.workspace > max_workspace) continue;
      std::int64_t idx = -1;
      if (cudnnBackendGetAttribute(raw_engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &idx) ==
          CUDNN_STATUS_SUCCESS)
        c.engine = idx;
      plans_.push_back(std::move(c));
    }
  }

  detail::BackendDesc make_pack(const std::vector<std::int64_t>& uids, const std::vector<void*>& data) {
    detail::BackendDesc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    void* ws = workspace_.get();
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids.data(), static_cast<std::int64_t>(uids.size()))
        .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, data.data(),
             static_cast<std::int64_t>(data.size()))
        .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, ws)
        .finalize();
    return pack;
  }

  /// 1 warm-up + 3 timed executions per plan; plans that fail to execute are skipped.
  void tune(cudaStream_t stream) {
    Event start, stop;
    float best = std::numeric_limits<float>::infinity();
    bool any = false;
    for (std::size_t i = 0; i < plans_.size(); ++i) {
      const auto plan = plans_[i].plan.get();
      if (cudnnBackendExecute(handle_, plan, pack_.get()) != CUDNN_STATUS_SUCCESS) continue;
      start.record(stream);
      bool ok = true;
      for (int r = 0; r < 3 && ok; ++r) ok = cudnnBackendExecute(handle_, plan, pack_.get()) == CUDNN_STATUS_SUCCESS;
      stop.record(stream);
      HWCAL_CUDA_CHECK(cudaEventSynchronize(stop.get()));
      const float ms = stop.since(start);
      if (ok && ms < best) {
        best = ms;
        chosen_ = i;
        any = true;
      }
    }
    if (!any) throw UnavailableError("cuDNN graph API: every candidate engine failed to execute");
    tuned_ = static_cast<int>(plans_.size());
  }

  cudnnHandle_t handle_;
  std::deque<detail::BackendDesc> keep_;
  std::vector<Plan> plans_;
  std::size_t chosen_ = 0;
  int tuned_ = 1;
  DeviceBuffer workspace_;
  detail::BackendDesc pack_{CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR};
  std::string layout_;
};

/// Legacy-API convolution (no fusion): cudnnFindConvolutionForwardAlgorithm
/// times cuDNN's algorithms and the fastest that fits in memory is kept.
class LegacyConvolution final : public Convolution {
 public:
  LegacyConvolution(cudnnHandle_t handle, const ConvProblem& p, const ConvPointers& ptr, cudaStream_t stream,
                    std::string why = {})
      : handle_(handle), ptr_(ptr), dbl_(p.precision == Precision::fp64), why_(std::move(why)) {
    const Conv2dShape& s = p.shape;
    const ConvLayout layout = conv_layout(p.precision);
    const cudnnTensorFormat_t fmt = layout == ConvLayout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
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
    HWCAL_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(handle, x_, w_, conv_, y_, static_cast<int>(perf.size()),
                                                           &returned, perf.data()));
    for (int k = 0; k < returned; ++k)  // sorted fastest first
      if (perf[static_cast<std::size_t>(k)].status == CUDNN_STATUS_SUCCESS) {
        algo_ = perf[static_cast<std::size_t>(k)].algo;
        workspace_ = DeviceBuffer(static_cast<std::int64_t>(perf[static_cast<std::size_t>(k)].memory));
        found_ = true;
        break;
      }
    if (!found_) throw UnavailableError("cuDNN legacy API: no algorithm for this convolution");
    layout_ = layout == ConvLayout::nhwc ? "NHWC" : "NCHW";
  }
  ~LegacyConvolution() override {
    if (conv_) cudnnDestroyConvolutionDescriptor(conv_);
    if (w_) cudnnDestroyFilterDescriptor(w_);
    if (y_) cudnnDestroyTensorDescriptor(y_);
    if (x_) cudnnDestroyTensorDescriptor(x_);
  }
  LegacyConvolution(const LegacyConvolution&) = delete;
  LegacyConvolution& operator=(const LegacyConvolution&) = delete;

  void run() override {
    const double one_d = 1, zero_d = 0;
    const float one_f = 1, zero_f = 0;
    const void* one = dbl_ ? static_cast<const void*>(&one_d) : static_cast<const void*>(&one_f);
    const void* zero = dbl_ ? static_cast<const void*>(&zero_d) : static_cast<const void*>(&zero_f);
    HWCAL_CUDNN_CHECK(cudnnConvolutionForward(handle_, one, x_, ptr_.x, w_, ptr_.w, conv_, algo_, workspace_.get(),
                                              static_cast<std::size_t>(workspace_.bytes()), zero, y_, ptr_.y));
  }

  std::string implementation() const override {
    static constexpr const char* names[] = {
        "implicit_gemm", "implicit_precomp_gemm", "gemm", "direct", "fft", "fft_tiling",
        "winograd",      "winograd_nonfused"};
    const auto a = static_cast<std::size_t>(algo_);
    return std::string("cudnn legacy ") + (a < 8 ? names[a] : "algo " + std::to_string(a)) + " " + layout_ +
           (why_.empty() ? "" : " (graph API: " + why_ + ")");
  }

 private:
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
  std::string layout_;
};

/// The graph API first; for a plain convolution the legacy API when no graph
/// engine builds. Fused problems have no legacy route here.
inline std::unique_ptr<Convolution> make_convolution(cudnnHandle_t handle, const ConvProblem& p,
                                                     const ConvPointers& ptr, cudaStream_t stream) {
  std::string why;
  try {
    // Fused graphs may use runtime-compiled engines (NVRTC, slow to build): fewer candidates.
    return std::make_unique<GraphConvolution>(handle, p, ptr, stream, p.bias || p.relu ? 4 : 8);
  } catch (const Error& e) {
    if (p.bias || p.relu) throw;
    why = e.what();
  }
  return std::make_unique<LegacyConvolution>(handle, p, ptr, stream, why);
}

}  // namespace cuda
}  // namespace hwcal
