#pragma once
// Row-major GEMMs through cuBLASLt (LtGemm), configured the way PyTorch does:
// operands swapped so cuBLASLt's column-major D^T = B^T A^T is our row-major
// D = A B, a large workspace, and the compute type of each precision; and the
// matmul / linear kernel built on it (GemmKernel), with the post-ops of the
// linear fusion patterns. The algorithm is the backend's choice: cuBLASLt's
// first heuristic that launches (PyTorch's cuBLAS calls take the library's
// own first choice), or the fastest of the first six, timed once when the
// kernel is prepared.
//
// Problem: D[b] (m x n) = alpha * A[b] (m x k) * B[b] (+ bias[n], relu/gelu),
// with B stored either [k][n] (row-major matmul) or [n][k] (a linear layer's
// weight, y = x W^T). int8 and fp8 tensor-core GEMMs exist only in the "TN"
// form (cuBLASLt's A transposed, B not), i.e. with B stored [n][k]; matmuls at
// those precisions therefore keep B as [n][k] internally, as torch._int_mm and
// torch._scaled_mm require of their second operand.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/dtype.hpp>
#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/runtime.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/reference.hpp>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace hwcal {
namespace cuda {

/// How B is stored: [k][n] (row-major matmul) or [n][k] (linear weight).
enum class BLayout : std::uint8_t { kn, nk };

/// Post-GEMM epilogues cuBLASLt fuses.
enum class Epilogue : std::uint8_t { none, bias, bias_relu, bias_gelu };

/// Types and operations cuBLASLt is asked for, in its own (column-major) terms:
/// its "A" is our B and its "B" is our A.
struct GemmConfig {
  cudaDataType_t ab_type, cd_type, scale_type;
  cublasComputeType_t compute;
  cublasOperation_t trans_a, trans_b;
  bool scales = false;  ///< fp8: per-tensor scale pointers for A and B
};

inline cudaDataType_t cuda_type(DType t) noexcept {
  switch (t) {
    case DType::f64: return CUDA_R_64F;
    case DType::f32: return CUDA_R_32F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    case DType::i8: return CUDA_R_8I;
    case DType::i32: return CUDA_R_32I;
    case DType::e4m3: return CUDA_R_8F_E4M3;
    case DType::i64: return CUDA_R_64I;
  }
  return CUDA_R_32F;
}

/// The cuBLASLt configuration of a precision and B layout.
inline GemmConfig gemm_config(Precision p, BLayout b) noexcept {
  GemmConfig c{};
  c.ab_type = cuda_type(storage_of(p));
  c.cd_type = cuda_type(gemm_output_of(p));
  c.trans_a = b == BLayout::nk ? CUBLAS_OP_T : CUBLAS_OP_N;
  c.trans_b = CUBLAS_OP_N;
  switch (p) {
    case Precision::fp64:
      c.compute = CUBLAS_COMPUTE_64F;
      c.scale_type = CUDA_R_64F;
      break;
    case Precision::tf32:
      c.compute = CUBLAS_COMPUTE_32F_FAST_TF32;
      c.scale_type = CUDA_R_32F;
      break;
    case Precision::int8:
      c.compute = CUBLAS_COMPUTE_32I;
      c.scale_type = CUDA_R_32I;
      break;
    case Precision::fp8:
      c.compute = CUBLAS_COMPUTE_32F;
      c.scale_type = CUDA_R_32F;
      c.scales = true;
      break;
    default:  // fp32 (plain SIMT fp32: no TF32, no emulation), fp16, bf16 (fp32 accumulate)
      c.compute = CUBLAS_COMPUTE_32F;
      c.scale_type = CUDA_R_32F;
      break;
  }
  return c;
}

/// Why cuBLASLt has no kernel for this problem, or empty.
inline std::string gemm_unsupported_reason(Precision p, BLayout b, std::int64_t m, std::int64_t n, std::int64_t k,
                                           Epilogue e, int cc_major, int cc_minor) {
  if (p == Precision::fp8) {
    if (cc_major * 10 + cc_minor < 89) return "fp8 GEMMs need compute capability 8.9 or newer";
    if (b != BLayout::nk) return "fp8 GEMMs exist only with B stored [n][k] (TN)";
    if (m % 16 || n % 16 || k % 16) return "fp8 GEMMs need m, n and k to be multiples of 16";
  }
  if (p == Precision::int8) {
    if (b != BLayout::nk) return "int8 GEMMs exist only with B stored [n][k] (TN)";
    if (n % 4 || k % 4) return "int8 GEMMs need n and k to be multiples of 4";
    if (e != Epilogue::none) return "cuBLASLt has no bias epilogue for int32 output";
  }
  if (e != Epilogue::none && p == Precision::fp64) return "hwcal does not use cuBLASLt epilogues at fp64";
  return {};
}

struct GemmProblem {
  Precision precision = Precision::fp32;
  BLayout b_layout = BLayout::kn;
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  Epilogue epilogue = Epilogue::none;
  double alpha = 1;
};

/// One prepared cuBLASLt matmul on fixed device pointers.
class LtGemm {
 public:
  struct Pointers {
    const void* a = nullptr;  ///< [batch][m][k]
    const void* b = nullptr;  ///< [batch][k][n] or [batch][n][k]
    void* d = nullptr;        ///< [batch][m][n]
    const void* bias = nullptr;
    const float* scale_a = nullptr;  ///< fp8 only (device scalars)
    const float* scale_b = nullptr;
  };

  LtGemm(cublasLtHandle_t handle, const GemmProblem& p, const Pointers& ptr, void* workspace,
         std::size_t workspace_bytes)
      : handle_(handle), problem_(p), ptr_(ptr), workspace_(workspace), workspace_bytes_(workspace_bytes) {
    const GemmConfig c = gemm_config(p.precision, p.b_layout);
    cublasLtMatmulDesc_t desc = nullptr;
    HWCAL_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, c.compute, c.scale_type));
    desc_.reset(desc);
    set(CUBLASLT_MATMUL_DESC_TRANSA, c.trans_a);
    set(CUBLASLT_MATMUL_DESC_TRANSB, c.trans_b);
    if (p.epilogue != Epilogue::none) {
      const cublasLtEpilogue_t e = p.epilogue == Epilogue::bias        ? CUBLASLT_EPILOGUE_BIAS
                                   : p.epilogue == Epilogue::bias_relu ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                                       : CUBLASLT_EPILOGUE_GELU_BIAS;
      set(CUBLASLT_MATMUL_DESC_EPILOGUE, e);
      set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, ptr.bias);
      set(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, c.cd_type);
    }
    if (c.scales) {
      // cuBLASLt's A is our B.
      set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, ptr.scale_b);
      set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, ptr.scale_a);
    }
    alpha_d_ = p.alpha;
    alpha_f_ = static_cast<float>(p.alpha);
    alpha_i_ = static_cast<std::int32_t>(p.alpha);
    scale_type_ = c.scale_type;

    // Column-major view: D^T (n x m, ld n) = op(B^T) (n x k) * A^T (k x m, ld k).
    const bool bt = p.b_layout == BLayout::nk;
    la_ = layout(c.ab_type, bt ? p.k : p.n, bt ? p.n : p.k, bt ? p.k : p.n, p.k * p.n);
    lb_ = layout(c.ab_type, p.k, p.m, p.k, p.m * p.k);
    lc_ = layout(c.cd_type, p.n, p.m, p.n, p.m * p.n);
    find_algorithms(c);
  }
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  /// Enqueues one GEMM with the chosen algorithm (capturable: the workspace is preallocated).
  void run(cudaStream_t stream) const { HWCAL_CUBLAS_CHECK(launch(algos_[chosen_].algo, stream)); }

  /// Picks the algorithm run() uses, as `algorithm` says, and waits for the
  /// GEMMs this enqueued. Inputs must be initialised.
  void choose(Algorithm algorithm, cudaStream_t stream) {
    if (algorithm == Algorithm::fastest)
      tune(stream, 6);
    else
      first_that_launches(stream);
    HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  /// "cublasLt algo 66 tile 20 stages 8 splitK 1 (fastest of 6 heuristics)".
  std::string implementation() const {
    const cublasLtMatmulAlgo_t& a = algos_[chosen_].algo;
    auto attr = [&](cublasLtMatmulAlgoConfigAttributes_t which) {
      std::int32_t v = 0;
      std::size_t written = 0;
      cublasLtMatmulAlgoConfigGetAttribute(&a, which, &v, sizeof v, &written);
      return std::to_string(v);
    };
    std::string s = "cublasLt algo " + attr(CUBLASLT_ALGO_CONFIG_ID) + " tile " + attr(CUBLASLT_ALGO_CONFIG_TILE_ID) +
                    " stages " + attr(CUBLASLT_ALGO_CONFIG_STAGES_ID) + " splitK " +
                    attr(CUBLASLT_ALGO_CONFIG_SPLITK_NUM);
    s += tuned_ > 0     ? " (fastest of " + std::to_string(tuned_) + " heuristics)"
         : chosen_ == 0 ? " (first heuristic)"
                        : " (heuristic " + std::to_string(chosen_ + 1) + ", the first that launched)";
    return s;
  }

 private:
  /// Times up to `candidates` heuristic algorithms (1 warm-up + 3 timed runs
  /// each) and keeps the fastest.
  void tune(cudaStream_t stream, int candidates) {
    Event start, stop;
    float best = std::numeric_limits<float>::infinity();
    const int n = std::min<int>(candidates, static_cast<int>(algos_.size()));
    for (int i = 0; i < n; ++i) {
      if (launch(algos_[i].algo, stream) != CUBLAS_STATUS_SUCCESS) continue;
      start.record(stream);
      bool ok = true;
      for (int r = 0; r < 3 && ok; ++r) ok = launch(algos_[i].algo, stream) == CUBLAS_STATUS_SUCCESS;
      stop.record(stream);
      HWCAL_CUDA_CHECK(cudaEventSynchronize(stop.get()));
      const float ms = stop.since(start);
      if (ok && ms < best) {
        best = ms;
        chosen_ = i;
      }
    }
    tuned_ = n;
    if (!std::isfinite(best))
      throw UnavailableError("cuBLASLt offered " + std::to_string(n) +
                             " algorithms for this problem and none launched (CUBLAS_STATUS_NOT_SUPPORTED)");
  }

  /// The heuristic's first algorithm, or the next one when it does not launch.
  void first_that_launches(cudaStream_t stream) {
    for (int i = 0; i < static_cast<int>(algos_.size()); ++i)
      if (launch(algos_[i].algo, stream) == CUBLAS_STATUS_SUCCESS) {
        chosen_ = i;
        return;
      }
    throw UnavailableError("cuBLASLt offered " + std::to_string(algos_.size()) +
                           " algorithms for this problem and none launched (CUBLAS_STATUS_NOT_SUPPORTED)");
  }

  template <class T>
  void set(cublasLtMatmulDescAttributes_t a, const T& v) {
    HWCAL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc_.get(), a, &v, sizeof v));
  }

  template <class H, auto Destroy>
  struct Deleter {
    void operator()(H h) const noexcept { Destroy(h); }
  };
  using Desc = std::unique_ptr<std::remove_pointer_t<cublasLtMatmulDesc_t>,
                               Deleter<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>>;
  using Layout = std::unique_ptr<std::remove_pointer_t<cublasLtMatrixLayout_t>,
                                 Deleter<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>>;

  Layout layout(cudaDataType_t t, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::int64_t batch_stride) {
    cublasLtMatrixLayout_t raw = nullptr;
    HWCAL_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&raw, t, static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols), ld));
    Layout l(raw);
    if (problem_.batch > 1) {
      const auto count = static_cast<std::int32_t>(problem_.batch);
      HWCAL_CUBLAS_CHECK(
          cublasLtMatrixLayoutSetAttribute(raw, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
      HWCAL_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(raw, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                          &batch_stride, sizeof batch_stride));
    }
    return l;
  }

  /// Largest power of two <= 256 dividing the byte stride between batches:
  /// cuBLASLt then excludes kernels that would need more alignment than every
  /// batch's matrix has (cudaMalloc gives 256).
  std::uint32_t alignment(std::int64_t stride_elements, cudaDataType_t t) const {
    if (problem_.batch <= 1) return 256;
    const int eb = t == CUDA_R_64F                         ? 8
                   : (t == CUDA_R_32F || t == CUDA_R_32I)  ? 4
                   : (t == CUDA_R_16F || t == CUDA_R_16BF) ? 2
                                                           : 1;
    std::uint32_t a = 256;
    while (a > 1 && (stride_elements * eb) % a != 0) a /= 2;
    return a;
  }

  void find_algorithms(const GemmConfig& c) {
    cublasLtMatmulPreference_t pref = nullptr;
    HWCAL_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>,
                          Deleter<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>>
        guard(pref);
    const std::uint64_t ws = workspace_bytes_;
    HWCAL_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    const std::uint32_t align_a = alignment(problem_.k * problem_.n, c.ab_type);  // cuBLASLt's A = our B
    const std::uint32_t align_b = alignment(problem_.m * problem_.k, c.ab_type);
    const std::uint32_t align_c = alignment(problem_.m * problem_.n, c.cd_type);
    HWCAL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                            sizeof align_a));
    HWCAL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                            sizeof align_b));
    HWCAL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c,
                                                            sizeof align_c));
    HWCAL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c,
                                                            sizeof align_c));
    algos_.resize(8);
    int returned = 0;
    HWCAL_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, desc_.get(), la_.get(), lb_.get(), lc_.get(), lc_.get(),
                                                      pref, static_cast<int>(algos_.size()), algos_.data(), &returned));
    algos_.resize(static_cast<std::size_t>(returned));
    if (algos_.empty())
      throw UnavailableError("cuBLASLt has no algorithm for this " + std::string(to_string(problem_.precision)) +
                             " GEMM (m=" + std::to_string(problem_.m) + " n=" + std::to_string(problem_.n) +
                             " k=" + std::to_string(problem_.k) + ")");
  }

  cublasStatus_t launch(const cublasLtMatmulAlgo_t& algo, cudaStream_t stream) const {
    const void* alpha = scale_type_ == CUDA_R_64F   ? static_cast<const void*>(&alpha_d_)
                        : scale_type_ == CUDA_R_32I ? static_cast<const void*>(&alpha_i_)
                                                    : static_cast<const void*>(&alpha_f_);
    const void* beta = scale_type_ == CUDA_R_64F   ? static_cast<const void*>(&zero_d_)
                       : scale_type_ == CUDA_R_32I ? static_cast<const void*>(&zero_i_)
                                                   : static_cast<const void*>(&zero_f_);
    return cublasLtMatmul(handle_, desc_.get(), alpha, ptr_.b, la_.get(), ptr_.a, lb_.get(), beta, ptr_.d, lc_.get(),
                          ptr_.d, lc_.get(), &algo, workspace_, workspace_bytes_, stream);
  }

  cublasLtHandle_t handle_;
  GemmProblem problem_;
  Pointers ptr_;
  void* workspace_;
  std::size_t workspace_bytes_;
  Desc desc_;
  Layout la_, lb_, lc_;
  std::vector<cublasLtMatmulHeuristicResult_t> algos_;
  int chosen_ = 0, tuned_ = 0;
  cudaDataType_t scale_type_ = CUDA_R_32F;
  double alpha_d_ = 1, zero_d_ = 0;
  float alpha_f_ = 1, zero_f_ = 0;
  std::int32_t alpha_i_ = 1, zero_i_ = 0;
};

namespace detail {
/// cuBLASLt's GELU epilogue is the tanh approximation (PyTorch falls back to
/// gelu(approximate="tanh") where it cannot use the epilogue).
inline double gelu_tanh(double x) {
  const double c = std::sqrt(2.0 / 3.14159265358979323846);
  return 0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x)));
}
}  // namespace detail

/// Post-ops of a GEMM: fused in cuBLASLt's epilogue, or separate kernels.
struct GemmPostOps {
  Epilogue epilogue = Epilogue::none;  ///< fused: bias, bias+relu, bias+gelu(tanh)
  bool bias_kernel = false;            ///< separate bias-add kernel
  OpKind act_kernel = OpKind::copy;    ///< separate activation kernel: relu or gelu (erf); copy = none
  bool has_bias() const noexcept { return epilogue != Epilogue::none || bias_kernel; }
};

/// A linear layer's bias: cuBLASLt's bias epilogue, as PyTorch's addmm uses
/// it; at fp64 (where hwcal uses no epilogues) a separate bias kernel.
inline GemmPostOps linear_post_ops(Precision p, bool bias) {
  GemmPostOps post;
  if (bias && p == Precision::fp64)
    post.bias_kernel = true;
  else if (bias)
    post.epilogue = Epilogue::bias;
  return post;
}

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
    gemm_->choose(options().algorithm, stream());
  }

  void run() override {
    gemm_->run(stream());
    const i64 total = batch_ * m_ * n_;
    if (post_.bias_kernel)
      HWCAL_CUDA_CHECK(launch::bias_act(OpKind::copy, d_.dtype, d_.get(), bias_.get(), total, n_, 1, stream()));
    if (post_.act_kernel != OpKind::copy)
      HWCAL_CUDA_CHECK(launch::unary(post_.act_kernel, d_.dtype, d_.get(), d_.get(), total, stream()));
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

}  // namespace cuda
}  // namespace hwcal
