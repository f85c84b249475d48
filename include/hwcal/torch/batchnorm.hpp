#pragma once
// BatchNormKernel: inference batchnorm through at::batch_norm with
// training=false and eps 1e-5 (nn.BatchNorm2d.eval() -> F.batch_norm).

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <memory>

namespace hwcal {
namespace aten {
namespace detail {

/// Inference batchnorm parameters: gamma, beta, running mean, running var
/// (fusion.hpp folds the same ones into a convolution).
struct BatchNormParams {
  at::Tensor gamma, beta, mean, var;
  BatchNormParams(i64 c, at::ScalarType dt)
      : gamma(uniform({c}, dt, 11)),
        beta(uniform({c}, dt, 12)),
        mean(uniform({c}, dt, 13, -0.5, 0.5)),
        var(uniform({c}, dt, 14, 0.5, 1.5)) {}
  /// F.batch_norm in eval mode; cudnn_enabled as torch.backends.cudnn.enabled.
  at::Tensor apply(const at::Tensor& x) const {
    return at::batch_norm(x, gamma, beta, mean, var, false, 0.1, 1e-5, true);
  }
};

}  // namespace detail

/// batchnorm (ShapeFamily::map).
struct BatchNormKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    const auto s = std::get<MapShape>(op.shape);
    const at::Tensor x = detail::uniform({s.n, s.c, s.h, s.w}, dt, 1);
    const detail::BatchNormParams bn(s.c, dt);
    return std::make_unique<TorchKernel>(
        [=] { return bn.apply(x); },
        [=](const at::Tensor& out) {
          const detail::HostCopy xd(x), g(bn.gamma), be(bn.beta), m(bn.mean), v(bn.var);
          return detail::compare_elements(out, s.n * s.c * s.h * s.w, p, 1, "batchnorm", [&](i64 i) {
            return reference::batchnorm_at(xd.p, m.p, v.p, g.p, be.p, 1e-5, s, i);
          });
        },
        "at::batch_norm");
  }
};

}  // namespace aten
}  // namespace hwcal
