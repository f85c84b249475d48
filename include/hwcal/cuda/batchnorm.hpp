#pragma once
// Inference batchnorm over NCHW with running statistics, eps 1e-5
// (BatchNormKernel); kernel in kernels/elementwise.cuh.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

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
    mean_ = ctx().random(t, s.c, -0.5, 0.5);
    var_ = ctx().random(t, s.c, 0.5, 1.5);
    gamma_ = ctx().random(t, s.c, 0.5, 1.5);
    beta_ = ctx().random(t, s.c, -0.5, 0.5);
    y_ = DeviceTensor(t, x_.elements);
  }

  void run() override {
    HWCAL_CUDA_CHECK(launch::batchnorm(y_.dtype, x_.get(), mean_.get(), var_.get(), gamma_.get(), beta_.get(),
                                       y_.get(), y_.elements, shape_.c, shape_.h * shape_.w, norm_eps, false,
                                       stream()));
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

  std::string implementation() const override { return "hwcal batchnorm kernel (16-byte vectors, NCHW)"; }

 private:
  Precision precision_;
  MapShape shape_;
  DeviceTensor x_, mean_, var_, gamma_, beta_, y_;
};

}  // namespace cuda
}  // namespace hwcal
