#pragma once
// The cuDNN 9 graph (backend) API, as cudnn-frontend drives it, for the
// convolutions (conv.hpp) and fused attention (attention.hpp): descriptor
// RAII with typed setters, tensor and operation builders, and GraphPlan,
// which turns a finalized operation graph into the execution plan a kernel
// runs:
//
//   heuristic_first  heuristics mode A (then the fallback list) in order; the
//                    first engine config that is allowed, finalizes, fits the
//                    workspace limit and executes (PyTorch with
//                    cudnn.benchmark = False builds and runs exactly this one)
//   fastest          up to `candidates` such plans, each timed (1 warm-up + 3
//                    runs); the fastest is kept (cudnn.benchmark = True)
//
// Every plan executes once at preparation, so engines compiled at run time
// (NVRTC) are built and loaded before any timing or graph capture.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/dtype.hpp>
#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/runtime.hpp>

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace hwcal {
namespace cuda {

inline cudnnDataType_t cudnn_type(DType t) noexcept {
  switch (t) {
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    case DType::i8: return CUDNN_DATA_INT8;
    case DType::i32: return CUDNN_DATA_INT32;
    case DType::e4m3: return CUDNN_DATA_FP8_E4M3;
    case DType::i64: return CUDNN_DATA_INT64;
  }
  return CUDNN_DATA_FLOAT;
}

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

/// A tensor descriptor: dims in cuDNN's logical order with the strides of
/// the physical layout. Virtual tensors live inside a fused engine only;
/// by-value tensors are scalars passed through host memory at execution.
struct TensorSpec {
  std::int64_t uid = 0;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  std::vector<std::int64_t> dims, strides;
  bool is_virtual = false;
  bool by_value = false;
};

inline BackendDesc tensor(const TensorSpec& t) {
  BackendDesc d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const std::int64_t alignment = 16;
  const auto rank = static_cast<std::int64_t>(t.dims.size());
  d.set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, t.type)
      .set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, t.dims.data(), rank)
      .set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, t.strides.data(), rank)
      .set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, t.uid)
      .set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, alignment)
      .set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, t.is_virtual);
  if (t.by_value) d.set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, t.by_value);
  return std::move(d.finalize());
}

/// A pointwise operation y = mode(x [, b [, t]]) computed in `math`; `axis`
/// >= 0 for GEN_INDEX.
inline BackendDesc pointwise_op(cudnnPointwiseMode_t mode, cudnnDataType_t math, const BackendDesc& x,
                                const BackendDesc* b, const BackendDesc* t, const BackendDesc& y,
                                std::int64_t axis = -1) {
  BackendDesc pw(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
  pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, mode)
      .set(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, math);
  if (axis >= 0) pw.set(CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, axis);
  pw.finalize();
  BackendDesc op(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw).set(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
  if (b) op.set(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
  if (t) op.set(CUDNN_ATTR_OPERATION_POINTWISE_TDESC, *t);
  op.set(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y).finalize();
  return op;
}

inline std::int64_t get_int64(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t a) {
  std::int64_t v = 0, n = 0;
  HWCAL_CUDNN_CHECK(cudnnBackendGetAttribute(d, a, CUDNN_TYPE_INT64, 1, &n, &v));
  return v;
}

}  // namespace detail

/// How a GraphPlan chooses among the engines cuDNN's heuristics offer.
struct PlanChoice {
  Algorithm algorithm = Algorithm::heuristic_first;
  int candidates = 8;  ///< fastest: plans timed at most
  std::int64_t max_workspace = std::int64_t{512} << 20;
  /// Engines a precision must not use (numerical notes); null: none excluded.
  std::function<bool(cudnnBackendDescriptor_t engine)> excluded;
};

/// One execution plan of a finalized operation graph, with its variant pack
/// (device pointers by tensor uid, host pointers for by-value scalars) and
/// its workspace. run() is cudnnBackendExecute: capturable in a CUDA graph.
class GraphPlan {
 public:
  /// Throws UnavailableError (with cuDNN's words) when no engine builds and runs.
  GraphPlan(cudnnHandle_t handle, const detail::BackendDesc& graph, const PlanChoice& choice,
            std::vector<std::int64_t> uids, std::vector<void*> pointers, cudaStream_t stream)
      : handle_(handle), uids_(std::move(uids)), pointers_(std::move(pointers)) {
    HWCAL_CUDNN_CHECK(cudnnSetStream(handle, stream));
    for (cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
      if (choice.algorithm == Algorithm::heuristic_first ? first_that_runs(graph, mode, choice, stream)
                                                         : fastest(graph, mode, choice, stream))
        return;
    }
    throw UnavailableError("cuDNN graph API: no engine " + std::string(why_.empty() ? "offered" : why_));
  }
  GraphPlan(const GraphPlan&) = delete;
  GraphPlan& operator=(const GraphPlan&) = delete;

  void run() const { HWCAL_CUDNN_CHECK(cudnnBackendExecute(handle_, plan_.get(), pack_.get())); }

  /// "engine 12 (heuristic mode A, first that runs)" or "engine 3 (fastest of 8)".
  std::string describe() const {
    return "engine " + std::to_string(engine_) +
           (timed_ > 0 ? " (fastest of " + std::to_string(timed_) + ")" : " (heuristic mode A, first that runs)");
  }
  std::int64_t workspace_bytes() const noexcept { return workspace_.bytes(); }

 private:
  struct Candidate {
    detail::BackendDesc plan{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
    std::int64_t engine = -1, workspace = 0;
  };

  /// The heuristic's engine configs in order, as finalized plans that pass
  /// the choice's filters; stops after `limit`.
  std::vector<Candidate> candidates(const detail::BackendDesc& graph, cudnnBackendHeurMode_t mode,
                                    const PlanChoice& choice, int limit) {
    std::vector<Candidate> out;
    detail::BackendDesc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    heur.set(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph).set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, mode);
    if (!heur.try_finalize()) {
      note_failure("heuristics did not finalize");
      return out;
    }
    std::int64_t count = 0;
    if (cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &count,
                                 nullptr) != CUDNN_STATUS_SUCCESS ||
        count <= 0) {
      note_failure("heuristics returned no engine config");
      return out;
    }
    std::vector<detail::BackendDesc> configs;
    std::vector<cudnnBackendDescriptor_t> raw;
    for (std::int64_t i = 0; i < count; ++i) {
      configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
      raw.push_back(configs.back().get());
    }
    std::int64_t got = 0;
    HWCAL_CUDNN_CHECK(cudnnBackendGetAttribute(heur.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                               count, &got, raw.data()));
    for (std::int64_t i = 0; i < got && static_cast<int>(out.size()) < limit; ++i) {
      detail::BackendDesc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
      cudnnBackendDescriptor_t raw_engine = engine.get();
      std::int64_t n = 0;
      if (cudnnBackendGetAttribute(raw[static_cast<std::size_t>(i)], CUDNN_ATTR_ENGINECFG_ENGINE,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &raw_engine) != CUDNN_STATUS_SUCCESS)
        continue;
      if (choice.excluded && choice.excluded(raw_engine)) continue;
      Candidate c;
      c.plan.set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, handle_)
          .set(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, configs[static_cast<std::size_t>(i)]);
      if (!c.plan.try_finalize()) {
        note_failure("no engine config finalized");
        continue;
      }
      c.workspace = detail::get_int64(c.plan.get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE);
      if (c.workspace > choice.max_workspace) {
        note_failure("every engine wanted more than " + std::to_string(choice.max_workspace >> 20) +
                     " MiB of workspace");
        continue;
      }
      if (cudnnBackendGetAttribute(raw_engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n, &c.engine) !=
          CUDNN_STATUS_SUCCESS)
        c.engine = -1;
      out.push_back(std::move(c));
    }
    // The plans reference their engine configs: keep them alive with the plans.
    for (auto& c : configs) configs_.push_back(std::move(c));
    return out;
  }

  bool first_that_runs(const detail::BackendDesc& graph, cudnnBackendHeurMode_t mode, const PlanChoice& choice,
                       cudaStream_t stream) {
    for (Candidate& c : candidates(graph, mode, choice, std::numeric_limits<int>::max())) {
      adopt(std::move(c));
      if (execute_once(stream)) return true;
    }
    return false;
  }

  bool fastest(const detail::BackendDesc& graph, cudnnBackendHeurMode_t mode, const PlanChoice& choice,
               cudaStream_t stream) {
    std::vector<Candidate> all = candidates(graph, mode, choice, choice.candidates);
    Event start, stop;
    float best = std::numeric_limits<float>::infinity();
    std::size_t chosen = all.size();
    for (std::size_t i = 0; i < all.size(); ++i) {
      set_workspace(all[i].workspace);
      const cudnnBackendDescriptor_t plan = all[i].plan.get();
      if (cudnnBackendExecute(handle_, plan, pack_.get()) != CUDNN_STATUS_SUCCESS) continue;  // warm-up
      start.record(stream);
      bool ok = true;
      for (int r = 0; r < 3 && ok; ++r) ok = cudnnBackendExecute(handle_, plan, pack_.get()) == CUDNN_STATUS_SUCCESS;
      stop.record(stream);
      HWCAL_CUDA_CHECK(cudaEventSynchronize(stop.get()));
      const float ms = stop.since(start);
      if (ok && ms < best) {
        best = ms;
        chosen = i;
      }
    }
    if (chosen == all.size()) {
      note_failure("no candidate engine executed");
      return false;
    }
    timed_ = static_cast<int>(all.size());
    adopt(std::move(all[chosen]));
    return execute_once(stream);
  }

  void adopt(Candidate&& c) {
    plan_ = std::move(c.plan);
    engine_ = c.engine;
    set_workspace(c.workspace);
  }

  /// Runs the adopted plan once and waits: a plan that fails here is skipped.
  bool execute_once(cudaStream_t stream) {
    if (cudnnBackendExecute(handle_, plan_.get(), pack_.get()) != CUDNN_STATUS_SUCCESS) {
      note_failure("engine " + std::to_string(engine_) + " failed to execute");
      return false;
    }
    HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream));
    return true;
  }

  /// A workspace of `bytes` and the variant pack pointing at it.
  void set_workspace(std::int64_t bytes) {
    if (bytes != workspace_.bytes() || !pack_ready_) {
      workspace_ = DeviceBuffer(bytes);
      detail::BackendDesc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
      void* ws = workspace_.get();
      pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, uids_.data(),
               static_cast<std::int64_t>(uids_.size()))
          .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, pointers_.data(),
               static_cast<std::int64_t>(pointers_.size()))
          .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, ws)
          .finalize();
      pack_ = std::move(pack);
      pack_ready_ = true;
    }
  }

  void note_failure(std::string why) {
    if (why_.empty()) why_ = std::move(why);
  }

  cudnnHandle_t handle_;
  std::vector<std::int64_t> uids_;
  std::vector<void*> pointers_;
  std::deque<detail::BackendDesc> configs_;
  detail::BackendDesc plan_{CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR};
  detail::BackendDesc pack_{CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR};
  bool pack_ready_ = false;
  DeviceBuffer workspace_;
  std::int64_t engine_ = -1;
  int timed_ = 0;
  std::string why_;
};

}  // namespace cuda
}  // namespace hwcal
