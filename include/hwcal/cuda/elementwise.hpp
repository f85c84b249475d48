#pragma once
// Elementwise ops (ElementwiseKernel): the unary activations (relu ... tanh,
// relu6, hardtanh, clamp), the binary ops add, mul, div (second input
// broadcast or not) and SwiGLU's silu_mul, out of place or in place. Inputs
// are generated on the device; kernels in kernels/elementwise.cuh.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

#include <memory>
#include <string>

namespace hwcal {
namespace cuda {

/// In place (nn.ReLU(inplace=True), x += y) the result overwrites the first
/// input: a run costs the same whatever the values, so back-to-back runs time
/// the op; prepare() restores the input from a pristine copy (an enqueued
/// device-to-device copy) so check() compares one run against the reference.
class ElementwiseKernel final : public CudaKernel {
 public:
  ElementwiseKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p), shape_(std::get<ElementwiseShape>(op.shape)) {
    const DType t = storage_of(p);
    const bool positive = info(op.kind).positive_inputs;  // sqrt, rsqrt
    a_ = ctx().random(t, shape_.elements, positive ? 0.5 : -4, positive ? 2 : 4);
    if (shape_.inputs >= 2) {
      period_ = shape_.broadcast > 0 ? shape_.broadcast : shape_.elements;
      b_ = kind_ == OpKind::div ? ctx().random(t, period_, 0.5, 2) : ctx().random(t, period_, -2, 2);
    }
    if (shape_.inplace) {
      pristine_ = DeviceTensor(t, shape_.elements);
      HWCAL_CUDA_CHECK(cudaMemcpyAsync(pristine_.get(), a_.get(), static_cast<std::size_t>(a_.bytes()),
                                       cudaMemcpyDeviceToDevice, stream()));
    } else {
      y_ = DeviceTensor(t, shape_.elements);
    }
  }

  void run() override {
    const DeviceTensor& y = output();
    const i64 n = shape_.elements;
    if (shape_.inputs >= 2)
      HWCAL_CUDA_CHECK(
          launch::binary(kind_, y.dtype, a_.get(), b_.get(), y.get(), n, period_ < n ? period_ : 0, stream()));
    else if (kind_ == OpKind::clamp)
      HWCAL_CUDA_CHECK(
          launch::clamp(y.dtype, a_.get(), y.get(), n, reference::clamp_lo, reference::clamp_hi, stream()));
    else
      HWCAL_CUDA_CHECK(launch::unary(kind_, y.dtype, a_.get(), y.get(), n, stream()));
  }

  bool needs_prepare() const override { return shape_.inplace; }
  void prepare() override {
    if (!shape_.inplace) return;
    HWCAL_CUDA_CHECK(cudaMemcpyAsync(a_.get(), pristine_.get(), static_cast<std::size_t>(a_.bytes()),
                                     cudaMemcpyDeviceToDevice, stream()));
  }

  CheckResult check() override {
    finish();
    const DeviceTensor& in = shape_.inplace ? pristine_ : a_;
    reference::SampledCheck chk(precision_, 1);
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 i = rng.below(shape_.elements);
      const double b = shape_.inputs >= 2 ? fetch_one(b_, i % period_) : 0.0;
      chk.add(fetch_one(output(), i), reference::elementwise(kind_, fetch_one(in, i), b), "y", i);
    }
    return chk.result();
  }

  std::string implementation() const override {
    const bool broadcast = shape_.inputs >= 2 && period_ < shape_.elements;
    return std::string(
               broadcast ? "hwcal broadcast kernel (as PyTorch's generic one: 128 threads x 4 elements, an offset each)"
                         : "hwcal elementwise kernel (16-byte vectors, 4 in flight per thread)") +
           (shape_.inplace ? ", in place" : "");
  }

 private:
  const DeviceTensor& output() const { return shape_.inplace ? a_ : y_; }

  OpKind kind_;
  Precision precision_;
  ElementwiseShape shape_;
  i64 period_ = 1;
  DeviceTensor a_, b_, y_, pristine_;
};

}  // namespace cuda
}  // namespace hwcal
