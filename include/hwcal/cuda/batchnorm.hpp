#pragma once
// Inference batchnorm over NCHW with running statistics, eps 1e-5
// (BatchNormKernel), through cuDNN's inference batchnorm: the kernel PyTorch
// runs at fp32 (cudnn::bn_fw_inf_1C11_kernel_NCHW in a profiled forward on
// the H200). PyTorch's fp16/bf16 path is its own three kernels and ran as
// slowly as cuDNN's fp32 one there (32x2048x7x7: 47 us bf16, 44 us fp32,
// where hwcal's 16-byte vector kernel took 7.6 us): a calibration of the
// faster kernel predicted every batchnorm of a CNN 2x too fast. Where cuDNN
// refuses a type, hwcal's kernel (kernels/elementwise.cuh) runs and
// implementation() says so.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/cudnn_graph.hpp>
#include <hwcal/cuda/error.hpp>
#include <hwcal/reference.hpp>

#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace cuda {

class BatchNormKernel final : public CudaKernel {
 public:
  BatchNormKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), precision_(p), shape_(std::get<MapShape>(op.shape)) {
    const DType t = storage_of(p);
    const MapShape& s = shape_;
    x_ = ctx().random(t, s.n * s.c * s.h * s.w, -2, 2);
    y_ = DeviceTensor(t, x_.elements);
    // cuDNN keeps the statistics of half-precision data in fp32 (its derived
    // descriptor), as PyTorch's modules do under autocast
    const DType stats = cudnn_stats_type(t);
    mean_ = ctx().random(stats, s.c, -0.5, 0.5);
    var_ = ctx().random(stats, s.c, 0.5, 1.5);
    gamma_ = ctx().random(stats, s.c, 0.5, 1.5);
    beta_ = ctx().random(stats, s.c, -0.5, 0.5);
    if (!try_cudnn()) {
      mean_ = ctx().random(t, s.c, -0.5, 0.5);
      var_ = ctx().random(t, s.c, 0.5, 1.5);
      gamma_ = ctx().random(t, s.c, 0.5, 1.5);
      beta_ = ctx().random(t, s.c, -0.5, 0.5);
    }
  }
  ~BatchNormKernel() override {
    if (x_desc_) cudnnDestroyTensorDescriptor(x_desc_);
    if (stats_desc_) cudnnDestroyTensorDescriptor(stats_desc_);
  }

  void run() override {
    if (x_desc_) {
      HWCAL_CUDNN_CHECK(launch_cudnn());
      return;
    }
    HWCAL_CUDA_CHECK(launch::batchnorm(y_.dtype, x_.get(), mean_.get(), var_.get(), gamma_.get(), beta_.get(), y_.get(),
                                       y_.elements, shape_.c, shape_.h * shape_.w, norm_eps, false, stream()));
  }

  CheckResult check() override {
    finish();
    const std::vector<double> mean = fetch_all(mean_), var = fetch_all(var_), gamma = fetch_all(gamma_),
                              beta = fetch_all(beta_);
    reference::SampledCheck chk(precision_, 1);
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 i = rng.below(y_.elements);
      const auto c = static_cast<std::size_t>((i / (shape_.h * shape_.w)) % shape_.c);
      const double x = fetch_one(x_, i);
      // The reference on a 1x1x1x1 map with channel c's statistics.
      const double want =
          reference::batchnorm_at(&x, &mean[c], &var[c], &gamma[c], &beta[c], norm_eps, MapShape{1, 1, 1, 1}, 0);
      chk.add(fetch_one(y_, i), want, "y", i);
    }
    return chk.result();
  }

  std::string implementation() const override {
    return x_desc_ ? "cuDNN batchnorm forward inference (spatial, NCHW)"
                   : "hwcal batchnorm kernel (16-byte vectors, NCHW): cuDNN refused this type (" + refused_ + ")";
  }

 private:
  static DType cudnn_stats_type(DType t) noexcept { return t == DType::f64 ? DType::f64 : DType::f32; }

  cudnnStatus_t launch_cudnn() {
    const double one_d = 1, zero_d = 0;
    const float one_f = 1, zero_f = 0;
    const bool dbl = y_.dtype == DType::f64;
    const void* one = dbl ? static_cast<const void*>(&one_d) : &one_f;
    const void* zero = dbl ? static_cast<const void*>(&zero_d) : &zero_f;
    return cudnnBatchNormalizationForwardInference(ctx().dnn(), CUDNN_BATCHNORM_SPATIAL, one, zero, x_desc_, x_.get(),
                                                   x_desc_, y_.get(), stats_desc_, gamma_.get(), beta_.get(),
                                                   mean_.get(), var_.get(), norm_eps);
  }

  /// Sets up cuDNN and runs it once; false (descriptors released, why in
  /// refused_) where cuDNN does not take this type or shape.
  bool try_cudnn() {
    auto i = [](i64 v) { return static_cast<int>(v); };
    cudnnStatus_t st = cudnnCreateTensorDescriptor(&x_desc_);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateTensorDescriptor(&stats_desc_);
    if (st == CUDNN_STATUS_SUCCESS)
      st = cudnnSetTensor4dDescriptor(x_desc_, CUDNN_TENSOR_NCHW, cudnn_type(y_.dtype), i(shape_.n), i(shape_.c),
                                      i(shape_.h), i(shape_.w));
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnDeriveBNTensorDescriptor(stats_desc_, x_desc_, CUDNN_BATCHNORM_SPATIAL);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnSetStream(ctx().dnn(), stream());
    if (st == CUDNN_STATUS_SUCCESS) st = launch_cudnn();
    if (st == CUDNN_STATUS_SUCCESS) {
      HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream()));
      return true;
    }
    refused_ = cudnnGetErrorString(st);
    cudaGetLastError();
    if (x_desc_) cudnnDestroyTensorDescriptor(x_desc_);
    if (stats_desc_) cudnnDestroyTensorDescriptor(stats_desc_);
    x_desc_ = stats_desc_ = nullptr;
    return false;
  }

  Precision precision_;
  MapShape shape_;
  DeviceTensor x_, mean_, var_, gamma_, beta_, y_;
  cudnnTensorDescriptor_t x_desc_ = nullptr, stats_desc_ = nullptr;
  std::string refused_;
};

}  // namespace cuda
}  // namespace hwcal
