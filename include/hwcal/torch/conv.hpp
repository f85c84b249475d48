#pragma once
// ConvKernel: conv2d through at::conv2d (nn.Conv2d -> F.conv2d), NCHW input,
// [K][C/g][R][S] weights. implementation() names the backend ATen's
// select_conv_backend picks for the shape (oneDNN, slow_conv2d, ...), and
// family() the same name: the sample's algorithm family (OpSample::family).

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>
#include <ATen/native/ConvUtils.h>

#include <array>
#include <memory>
#include <string>

namespace hwcal {
namespace aten {
namespace detail {

inline const char* conv_backend_name(at::native::ConvBackend b) noexcept {
  using B = at::native::ConvBackend;
  switch (b) {
    case B::Mkldnn: return "oneDNN";
    case B::MkldnnEmpty:
    case B::Empty: return "empty";
    case B::Slow2d: return "slow_conv2d (im2col + gemm)";
    case B::SlowDilated2d: return "slow_conv_dilated2d (im2col + gemm)";
    case B::Winograd3x3Depthwise: return "winograd 3x3 depthwise";
    case B::NnpackSpatial: return "NNPACK";
    case B::Xnnpack2d: return "XNNPACK";
    default: return "other";
  }
}

}  // namespace detail

/// conv2d (ShapeFamily::conv2d).
struct ConvKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    using detail::uniform;
    const auto s = std::get<Conv2dShape>(op.shape);
    const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
    const at::Tensor w = uniform({s.k, s.c / s.groups, s.r, s.s}, dt, 2);
    const c10::optional<at::Tensor> b = s.bias ? c10::optional<at::Tensor>(uniform({s.k}, dt, 3)) : c10::nullopt;
    const std::array<i64, 2> stride{s.stride_h, s.stride_w}, pad{s.pad_h, s.pad_w}, dil{s.dil_h, s.dil_w};
    const auto backend = at::native::select_conv_backend(x, w, b, stride, pad, dil, false, {0, 0}, s.groups);
    const i64 oh = s.out_h(), ow = s.out_w();
    return std::make_unique<TorchKernel>(
        [=] { return at::conv2d(x, w, b, stride, pad, dil, s.groups); },
        [=](const at::Tensor& out) {
          const detail::HostCopy xd(x), wd(w), bd(b ? *b : at::zeros({1}, x.options()));
          return detail::compare_elements(out, s.n * s.k * oh * ow, p, reduction_length(op), "conv2d", [&](i64 i) {
            return reference::conv2d_at(xd.p, wd.p, b ? bd.p : nullptr, s, i / (s.k * oh * ow), (i / (oh * ow)) % s.k,
                                        (i / ow) % oh, i % ow);
          });
        },
        std::string("at::conv2d -> ") + detail::conv_backend_name(backend), TorchKernel::Prepare{},
        // ATen picks the backend by shape, batch and threads (1x1 convolutions
        // below 16 images at one thread: im2col + GEMM, several times slower
        // than oneDNN): a family of its own for the mapper
        detail::conv_backend_name(backend));
  }
};

}  // namespace aten
}  // namespace hwcal
