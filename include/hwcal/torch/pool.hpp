#pragma once
// PoolKernel: the pooling modules' ATen calls on NCHW input.
//   maxpool           at::max_pool2d (nn.MaxPool2d, dilation 1, floor mode)
//   avgpool           at::avg_pool2d (nn.AvgPool2d, count_include_pad)
//   adaptive_avgpool  at::adaptive_avg_pool2d (nn.AdaptiveAvgPool2d)

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <memory>
#include <utility>

namespace hwcal {
namespace aten {
namespace detail {

inline std::unique_ptr<TorchKernel> make_pool(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<Pool2dShape>(op.shape);
  const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
  const i64 oh = s.out_h(), ow = s.out_w();
  const bool is_max = op.kind == OpKind::maxpool;
  TorchKernel::Compute compute;
  if (is_max)
    compute = [=] {
      return at::max_pool2d(x, {s.r, s.s}, {s.stride_h, s.stride_w}, {s.pad_h, s.pad_w}, {1, 1}, false);
    };
  else
    compute = [=] {
      return at::avg_pool2d(x, {s.r, s.s}, {s.stride_h, s.stride_w}, {s.pad_h, s.pad_w}, false, true, c10::nullopt);
    };
  return std::make_unique<TorchKernel>(
      std::move(compute),
      [=](const at::Tensor& out) {
        const HostCopy xd(x);
        return compare_elements(
            out, s.n * s.c * oh * ow, p, reduction_length(op), is_max ? "maxpool" : "avgpool", [&](i64 i) {
              const i64 nc = i / (oh * ow);
              return is_max ? reference::maxpool_at(xd.p, s, nc / s.c, nc % s.c, (i / ow) % oh, i % ow)
                            : reference::avgpool_at(xd.p, s, nc / s.c, nc % s.c, (i / ow) % oh, i % ow);
            });
      },
      is_max ? "at::max_pool2d" : "at::avg_pool2d");
}

inline std::unique_ptr<TorchKernel> make_adaptive_avgpool(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<AdaptivePoolShape>(op.shape);
  const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
  return std::make_unique<TorchKernel>(
      [=] {
        return at::adaptive_avg_pool2d(x, {s.out_h, s.out_w});
      },
      [=](const at::Tensor& out) {
        const HostCopy xd(x);
        return compare_elements(
            out, s.n * s.c * s.out_h * s.out_w, p, reduction_length(op), "adaptive_avgpool", [&](i64 i) {
              const i64 nc = i / (s.out_h * s.out_w);
              return reference::adaptive_avgpool_at(xd.p, s, nc / s.c, nc % s.c, (i / s.out_w) % s.out_h, i % s.out_w);
            });
      },
      "at::adaptive_avg_pool2d");
}

}  // namespace detail

/// maxpool, avgpool (ShapeFamily::pool2d) and adaptive_avgpool (ShapeFamily::adaptive_pool).
struct PoolKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    return op.kind == OpKind::adaptive_avgpool ? detail::make_adaptive_avgpool(op, p, dt)
                                               : detail::make_pool(op, p, dt);
  }
};

}  // namespace aten
}  // namespace hwcal
