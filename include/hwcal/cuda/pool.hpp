#pragma once
// maxpool, avgpool (padding counted in the divisor) and adaptive_avgpool
// over NCHW (PoolKernel); kernels in kernels/pool.cuh.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace cuda {

class PoolKernel final : public CudaKernel {
 public:
  PoolKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p), op_(op) {
    const DType t = storage_of(p);
    i64 in = 0, out = 0;
    if (kind_ == OpKind::adaptive_avgpool) {
      const auto& s = std::get<AdaptivePoolShape>(op.shape);
      in = s.n * s.c * s.h * s.w;
      out = s.n * s.c * s.out_h * s.out_w;
    } else {
      const auto& s = std::get<Pool2dShape>(op.shape);
      in = s.n * s.c * s.h * s.w;
      out = s.n * s.c * s.out_h() * s.out_w();
    }
    x_ = ctx().random(t, in, -2, 2);
    y_ = DeviceTensor(t, out);
  }

  void run() override {
    if (kind_ == OpKind::adaptive_avgpool)
      HWCAL_CUDA_CHECK(
          launch::adaptive_avgpool(y_.dtype, x_.get(), y_.get(), std::get<AdaptivePoolShape>(op_.shape), stream()));
    else
      HWCAL_CUDA_CHECK(launch::pool2d(kind_, y_.dtype, x_.get(), y_.get(), std::get<Pool2dShape>(op_.shape), stream()));
  }

  CheckResult check() override {
    finish();
    reference::SampledCheck chk(precision_, reduction_length(op_));
    hwcal::detail::Rng rng = sampler();
    std::map<i64, std::vector<double>> planes;  // input planes (n, c) read so far
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 o = rng.below(y_.elements);
      double want = 0;
      if (kind_ == OpKind::adaptive_avgpool) {
        auto s = std::get<AdaptivePoolShape>(op_.shape);
        const i64 plane = o / (s.out_h * s.out_w), oh = o / s.out_w % s.out_h, ow = o % s.out_w;
        const std::vector<double>& x = input_plane(planes, plane, s.h * s.w);
        s.n = s.c = 1;
        want = reference::adaptive_avgpool_at(x.data(), s, 0, 0, oh, ow);
      } else {
        auto s = std::get<Pool2dShape>(op_.shape);
        const i64 out_h = s.out_h(), out_w = s.out_w();
        const i64 plane = o / (out_h * out_w), oh = o / out_w % out_h, ow = o % out_w;
        const std::vector<double>& x = input_plane(planes, plane, s.h * s.w);
        s.n = s.c = 1;
        want = kind_ == OpKind::maxpool ? reference::maxpool_at(x.data(), s, 0, 0, oh, ow)
                                        : reference::avgpool_at(x.data(), s, 0, 0, oh, ow);
      }
      chk.add(fetch_one(y_, o), want, "y", o);
    }
    return chk.result();
  }

  std::string implementation() const override {
    return kind_ == OpKind::adaptive_avgpool
               ? "hwcal adaptive pooling kernel (a lane group or a block per output, NCHW)"
               : "hwcal pooling kernel (thread per output, NCHW)";
  }

 private:
  const std::vector<double>& input_plane(std::map<i64, std::vector<double>>& planes, i64 plane, i64 hw) const {
    auto& x = planes[plane];
    if (x.empty()) x = fetch(x_, plane * hw, hw);
    return x;
  }

  OpKind kind_;
  Precision precision_;
  OpDesc op_;
  DeviceTensor x_, y_;
};

}  // namespace cuda
}  // namespace hwcal
