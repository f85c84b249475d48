#pragma once
// What every CUDA benchmark kernel shares on one device: the backend's
// options (which algorithm a library call runs, the convolution layout), the
// stream all work is enqueued on, the cuBLASLt and cuDNN handles bound to it,
// cuBLASLt's workspace, and the seeds of generated inputs. Kernels hold a
// shared_ptr to it, so they stay valid whatever order they and the backend
// are destroyed in.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/device.hpp>
#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/launch.hpp>
#include <hwcal/cuda/runtime.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/kernel.hpp>

#include <cublasLt.h>
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace hwcal {
namespace cuda {

/// Which of a library's candidate algorithms a kernel runs.
enum class Algorithm : std::uint8_t {
  /// cuBLASLt's first heuristic, cuDNN's heuristics mode A first engine that
  /// runs: what PyTorch runs (cuBLAS's own choice; cudnn.benchmark = False).
  heuristic_first,
  /// The fastest of several candidates, timed once when the kernel is
  /// prepared (what cudnn.benchmark = True does for convolutions).
  fastest,
};

/// Memory format of convolution activations and filters.
enum class ConvLayout : std::uint8_t {
  nchw,  ///< PyTorch's default contiguous format (filters KCRS), every precision
  nhwc,  ///< channels_last (filters KRSC)
};

constexpr std::string_view to_string(Algorithm a) noexcept {
  return a == Algorithm::fastest ? "fastest" : "heuristic_first";
}
constexpr std::string_view to_string(ConvLayout l) noexcept { return l == ConvLayout::nhwc ? "nhwc" : "nchw"; }

/// How the CUDA backend runs the library calls it measures. The defaults are
/// what a PyTorch model runs: predictions are judged against PyTorch.
struct CudaOptions {
  Algorithm algorithm = Algorithm::heuristic_first;
  ConvLayout conv_layout = ConvLayout::nchw;
  /// "algorithm=heuristic_first conv_layout=nchw"
  std::string describe() const {
    return "algorithm=" + std::string(to_string(algorithm)) + " conv_layout=" + std::string(to_string(conv_layout));
  }
};

/// Inputs of compute-bound ops are mean-shifted ([-0.5, 1)): sums then grow
/// like k while rounding errors grow like sqrt(k), so sampled checks of tf32
/// and half precisions are well conditioned at any k.
inline constexpr double compute_input_lo = -0.5, compute_input_hi = 1.0;
/// eps of layernorm, rmsnorm and batchnorm (PyTorch's default).
inline constexpr double norm_eps = 1e-5;

/// cuBLASLt workspace: PyTorch uses 32 MiB on Hopper; more never hurts a benchmark.
inline constexpr std::int64_t gemm_workspace_bytes = std::int64_t{64} << 20;

class DeviceContext {
 public:
  /// Makes `device` current for the calling thread (the stream and handles
  /// belong to it; the backend's kernels run on it).
  DeviceContext(int device, CudaOptions options)
      : info_(query_device(device)), device_(select(device)), options_(options) {
    HWCAL_CUBLAS_CHECK(cublasLtCreate(&lt_));
    HWCAL_CUDNN_CHECK(cudnnCreate(&dnn_));
    HWCAL_CUDNN_CHECK(cudnnSetStream(dnn_, stream_.get()));
    lt_workspace_ = DeviceBuffer(gemm_workspace_bytes);
  }
  ~DeviceContext() {
    if (dnn_) cudnnDestroy(dnn_);
    if (lt_) cublasLtDestroy(lt_);
  }
  DeviceContext(const DeviceContext&) = delete;
  DeviceContext& operator=(const DeviceContext&) = delete;

  int device() const noexcept { return device_; }
  const DeviceInfo& info() const noexcept { return info_; }
  const CudaOptions& options() const noexcept { return options_; }
  cudaStream_t stream() const noexcept { return stream_.get(); }
  cublasLtHandle_t lt() const noexcept { return lt_; }
  cudnnHandle_t dnn() const noexcept { return dnn_; }
  void* gemm_workspace() const noexcept { return lt_workspace_.get(); }
  std::size_t gemm_workspace_size() const noexcept { return static_cast<std::size_t>(lt_workspace_.bytes()); }
  void sync() const { stream_.sync(); }

  /// A device tensor filled with values uniform in [lo, hi), each tensor with its own seed.
  DeviceTensor random(DType t, std::int64_t n, double lo, double hi) {
    DeviceTensor x(t, n);
    HWCAL_CUDA_CHECK(launch::fill_uniform(t, x.get(), n, ++seed_, lo, hi, stream()));
    return x;
  }
  /// Seed for the host-side choice of which outputs a check samples.
  std::uint64_t next_seed() noexcept { return ++seed_; }

 private:
  static int select(int device) {
    HWCAL_CUDA_CHECK(cudaSetDevice(device));
    return device;
  }

  DeviceInfo info_;  // first: query_device throws UnavailableError for a missing device
  int device_;
  CudaOptions options_;
  Stream stream_;
  cublasLtHandle_t lt_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  DeviceBuffer lt_workspace_;
  std::uint64_t seed_ = 0;
};

/// Base of the backend's kernels: the shared context, and helpers for checks.
///
/// The run() contract, which lets the timing harness capture R back-to-back
/// run() calls in a CUDA graph and replay it (per-launch device time):
/// run() enqueues exactly one execution on the context's stream and returns.
/// It never synchronises, allocates (no cudaMalloc, no library call that
/// allocates: cuBLASLt and cuDNN get preallocated workspaces), copies between
/// host and device, or touches pageable memory. Everything a run needs (inputs,
/// outputs, workspaces, plans, the algorithm choice) is prepared by the
/// constructor, which also runs the kernel once wherever a library must load,
/// compile or autotune; call run() once outside a capture before capturing
/// (a CUDA module loads lazily at its first launch). prepare() (in-place ops)
/// is enqueued too and capturable, but is not part of a run.
class CudaKernel : public Kernel {
 public:
  explicit CudaKernel(std::shared_ptr<DeviceContext> ctx) : ctx_(std::move(ctx)), check_seed_(ctx_->next_seed()) {}

 protected:
  DeviceContext& ctx() const noexcept { return *ctx_; }
  const CudaOptions& options() const noexcept { return ctx_->options(); }
  cudaStream_t stream() const noexcept { return ctx_->stream(); }
  /// Checks read results with synchronous copies on another stream: wait first.
  void finish() const {
    DeviceGuard guard(ctx_->device());
    ctx_->sync();
  }
  /// Deterministic sample positions for check().
  hwcal::detail::Rng sampler() const { return hwcal::detail::Rng(check_seed_); }

 private:
  std::shared_ptr<DeviceContext> ctx_;
  std::uint64_t check_seed_;
};

}  // namespace cuda
}  // namespace hwcal
