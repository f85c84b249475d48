#pragma once
// RowsKernel: the row-wise ops over the last dimension of [rows][cols].
//   layernorm    at::layer_norm, eps 1e-5 (nn.LayerNorm)
//   rmsnorm      ATen 1.13 has no RMSNorm op: the chain LLaMA's RMSNorm
//                module runs (Meta's and Hugging Face's alike), one ATen call
//                per Python operator: x.float(), pow(2), mean(-1, keepdim),
//                add eps, rsqrt, mul by x, type_as(x), mul by the weight. The
//                casts are no-ops at fp32 (still dispatched, as in eager
//                mode) and upcast 16-bit inputs; fp64 is kept in fp64 (the
//                module would compute it in fp32), without them.
//   softmax      at::softmax(-1) (nn.Softmax(dim=-1))
//   reduce_mean  at::mean(-1)

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <memory>
#include <string>

namespace hwcal {
namespace aten {
namespace detail {

/// Hugging Face's LlamaRMSNorm default (rms_norm_eps).
inline constexpr double rmsnorm_eps = 1e-6;

inline std::unique_ptr<TorchKernel> make_rmsnorm(const RowsShape& s, Precision p, at::ScalarType dt, at::Tensor x) {
  const at::Tensor gamma = uniform({s.cols}, dt, 2);
  const bool cast = dt != at::kDouble;
  return std::make_unique<TorchKernel>(
      [=] {
        const at::Tensor h = cast ? x.to(at::kFloat) : x;
        const at::Tensor variance = at::mean(at::pow(h, 2), at::IntArrayRef{-1}, true);
        const at::Tensor normed = at::mul(h, at::rsqrt(at::add(variance, rmsnorm_eps)));
        return at::mul(cast ? normed.type_as(x) : normed, gamma);
      },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), g(gamma);
        return compare_rows(out, s.rows, s.cols, p, s.cols, "rmsnorm", [&](i64 r, double* want) {
          reference::rmsnorm_row(xd.p + r * s.cols, g.p, s.cols, rmsnorm_eps, want);
        });
      },
      std::string(cast ? "x.float(), " : "") +
          "at::pow(2), at::mean(-1, keepdim), at::add(eps), at::rsqrt, at::mul(x), " + (cast ? "type_as(x), " : "") +
          "at::mul(weight): LLaMA's RMSNorm, eager (ATen 1.13 has no rms_norm op)");
}

}  // namespace detail

/// layernorm, rmsnorm, softmax, reduce_mean (ShapeFamily::rows).
struct RowsKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    using detail::compare_rows;
    using detail::HostCopy;
    const auto s = std::get<RowsShape>(op.shape);
    const at::Tensor x = detail::uniform({s.rows, s.cols}, dt, 1);
    switch (op.kind) {
      case OpKind::layernorm: {
        const at::Tensor gamma = detail::uniform({s.cols}, dt, 2), beta = detail::uniform({s.cols}, dt, 3);
        return std::make_unique<TorchKernel>(
            [=] { return at::layer_norm(x, {s.cols}, gamma, beta, 1e-5, true); },
            [=](const at::Tensor& out) {
              const HostCopy xd(x), g(gamma), b(beta);
              return compare_rows(out, s.rows, s.cols, p, s.cols, "layernorm", [&](i64 r, double* want) {
                reference::layernorm_row(xd.p + r * s.cols, g.p, b.p, s.cols, 1e-5, want);
              });
            },
            "at::layer_norm");
      }
      case OpKind::rmsnorm: return detail::make_rmsnorm(s, p, dt, x);
      case OpKind::softmax:
        return std::make_unique<TorchKernel>([=] { return at::softmax(x, -1); },
                                             [=](const at::Tensor& out) {
                                               const HostCopy xd(x);
                                               return compare_rows(
                                                   out, s.rows, s.cols, p, s.cols, "softmax", [&](i64 r, double* want) {
                                                     reference::softmax_row(xd.p + r * s.cols, s.cols, want);
                                                   });
                                             },
                                             "at::softmax");
      case OpKind::reduce_mean:
        return std::make_unique<TorchKernel>([=] { return at::mean(x, at::IntArrayRef{-1}); },
                                             [=](const at::Tensor& out) {
                                               const HostCopy xd(x);
                                               return detail::compare_elements(
                                                   out, s.rows, p, s.cols, "reduce_mean", [&](i64 r) {
                                                     return reference::reduce_mean_row(xd.p + r * s.cols, s.cols);
                                                   });
                                             },
                                             "at::mean");
      default: detail::no_kernel(op.kind, "RowsKernel");
    }
  }
};

}  // namespace aten
}  // namespace hwcal
