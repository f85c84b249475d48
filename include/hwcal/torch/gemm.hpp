#pragma once
// GemmKernel: matmul and linear, through the entry points torch.matmul and
// nn.Linear call.
//   linear  at::linear (addmm with a bias, mm without)
//   matmul  at::matmul on [batch][m][k] x [batch][k][n] (bmm)
// In bf16 the product goes to oneDNN or to ATen's reference gemm depending on
// its size (support.hpp); implementation() says which.

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>
#include <hwcal/torch/support.hpp>

#include <ATen/ATen.h>

#include <memory>
#include <string>

namespace hwcal {
namespace aten {
namespace detail {

/// The entry point, and for bf16 whether ATen hands the product to oneDNN.
inline std::string gemm_path(const char* entry, Precision p, double product, bool sums_in_bf16) {
  return p == Precision::bf16 ? std::string(entry) + " [" + bf16_gemm_support(product, sums_in_bf16).note + "]" : entry;
}

/// y = x W^T (+ b), x [m][k], W [n][k]. fusion.hpp builds the unfused side
/// on the same tensors (the same seeds).
inline std::unique_ptr<TorchKernel> make_linear(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<MatmulShape>(op.shape);
  const at::Tensor x = uniform({s.m, s.k}, dt, 1);
  const at::Tensor w = uniform({s.n, s.k}, dt, 2);
  const c10::optional<at::Tensor> b = s.bias ? c10::optional<at::Tensor>(uniform({s.n}, dt, 3)) : c10::nullopt;
  return std::make_unique<TorchKernel>(
      [=] { return at::linear(x, w, b); },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), wd(w), bd(b ? *b : at::zeros({1}, x.options()));
        return compare_elements(out, s.m * s.n, p, s.k, "linear", [&](i64 i) {
          return reference::linear_at(xd.p, wd.p, b ? bd.p : nullptr, s, i / s.n, i % s.n);
        });
      },
      gemm_path(s.bias ? "at::linear -> addmm" : "at::linear -> mm", p, double(s.m) * s.n * s.k, false));
}

inline std::unique_ptr<TorchKernel> make_matmul(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<MatmulShape>(op.shape);
  const at::Tensor a = uniform({s.batch, s.m, s.k}, dt, 1);
  const at::Tensor b = uniform({s.batch, s.k, s.n}, dt, 2);
  return std::make_unique<TorchKernel>(
      [=] { return at::matmul(a, b); },
      [=](const at::Tensor& out) {
        const HostCopy ad(a), bd(b);
        return compare_elements(out, s.batch * s.m * s.n, p, s.k, "matmul", [&](i64 i) {
          return reference::matmul_at(ad.p, bd.p, s, i / (s.m * s.n), (i / s.n) % s.m, i % s.n);
        });
      },
      gemm_path("at::matmul -> bmm", p, double(s.batch) * s.m * s.n * s.k, true));
}

}  // namespace detail

/// matmul and linear (ShapeFamily::matmul).
struct GemmKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    return op.kind == OpKind::linear ? detail::make_linear(op, p, dt) : detail::make_matmul(op, p, dt);
  }
};

}  // namespace aten
}  // namespace hwcal
