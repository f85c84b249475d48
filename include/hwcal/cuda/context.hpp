#pragma once
// What every CUDA benchmark kernel shares on one device: the stream all work
// is enqueued on, the cuBLASLt and cuDNN handles bound to it, cuBLASLt's
// workspace, and the seeds of generated inputs. Kernels hold a shared_ptr to
// it, so they stay valid whatever order they and the backend are destroyed in.

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

namespace hwcal {
namespace cuda {

/// cuBLASLt workspace: PyTorch uses 32 MiB on Hopper; more never hurts a benchmark.
inline constexpr std::int64_t gemm_workspace_bytes = std::int64_t{64} << 20;

class DeviceContext {
 public:
  /// Makes `device` current for the calling thread (the stream and handles
  /// belong to it; the backend's kernels run on it).
  explicit DeviceContext(int device) : info_(query_device(device)), device_(select(device)) {
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
  Stream stream_;
  cublasLtHandle_t lt_ = nullptr;
  cudnnHandle_t dnn_ = nullptr;
  DeviceBuffer lt_workspace_;
  std::uint64_t seed_ = 0;
};

/// Base of the backend's kernels: the shared context, and helpers for checks.
class CudaKernel : public Kernel {
 public:
  explicit CudaKernel(std::shared_ptr<DeviceContext> ctx) : ctx_(std::move(ctx)), check_seed_(ctx_->next_seed()) {}

 protected:
  DeviceContext& ctx() const noexcept { return *ctx_; }
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
