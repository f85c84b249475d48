#pragma once
// ElementwiseKernel: the elementwise ops as the nn modules and Python
// operators call them, on contiguous tensors.
//   relu gelu(exact) silu sigmoid hardswish hardsigmoid tanh  at::<name>
//   relu6     at::hardtanh(x, 0, 6): nn.ReLU6 is nn.Hardtanh(0, 6), and
//             F.relu6's at::relu6 is that same call
//   hardtanh  at::hardtanh(x, -1, 1) (nn.Hardtanh())
//   clamp     at::clamp(x, lo, hi) at reference::clamp_lo / clamp_hi (torch.clamp)
//   add mul div  at::add / mul / div; a broadcast operand is [cols] against [rows][cols]
//   silu_mul  at::silu(a), then at::mul with b: eager SwiGLU (LLaMA's MLP
//             act_fn(gate) * up) is two kernels, there is no fused one
// In place (where the op table allows it): the trailing-underscore call
// (nn.ReLU(inplace=True), x += y), with prepare() restoring the input.

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <memory>
#include <sstream>
#include <string>
#include <utility>

namespace hwcal {
namespace aten {
namespace detail {

/// One unary op: its ATen call out of place and in place, and how to name it.
struct UnaryCall {
  at::Tensor (*out_of_place)(const at::Tensor&);
  at::Tensor& (*in_place)(at::Tensor&);
  std::string name;  ///< the ATen function, without the in-place underscore
  std::string args;  ///< arguments beyond the input, as written in implementation()

  std::string implementation(bool inplace) const {
    return "at::" + name + (inplace ? "_" : "") + args + (inplace ? " (in place)" : "");
  }
};

inline std::string clamp_args() {
  std::ostringstream os;
  os << "(x, " << reference::clamp_lo << ", " << reference::clamp_hi << ")";
  return os.str();
}

inline UnaryCall unary_call(OpKind k) {
  using T = const at::Tensor&;
  using M = at::Tensor&;
  switch (k) {
    case OpKind::relu: return {[](T x) { return at::relu(x); }, [](M x) -> M { return at::relu_(x); }, "relu", ""};
    case OpKind::gelu:  // nn.GELU(): the exact erf form
      return {[](T x) { return at::gelu(x, "none"); }, [](M x) -> M { return at::gelu_(x, "none"); }, "gelu",
              "(approximate='none')"};
    case OpKind::silu: return {[](T x) { return at::silu(x); }, [](M x) -> M { return at::silu_(x); }, "silu", ""};
    case OpKind::sigmoid:
      return {[](T x) { return at::sigmoid(x); }, [](M x) -> M { return at::sigmoid_(x); }, "sigmoid", ""};
    case OpKind::hardswish:
      return {[](T x) { return at::hardswish(x); }, [](M x) -> M { return at::hardswish_(x); }, "hardswish", ""};
    case OpKind::hardsigmoid:
      return {[](T x) { return at::hardsigmoid(x); }, [](M x) -> M { return at::hardsigmoid_(x); }, "hardsigmoid", ""};
    case OpKind::tanh: return {[](T x) { return at::tanh(x); }, [](M x) -> M { return at::tanh_(x); }, "tanh", ""};
    case OpKind::relu6:
      return {[](T x) { return at::hardtanh(x, 0, 6); }, [](M x) -> M { return at::hardtanh_(x, 0, 6); }, "hardtanh",
              "(x, 0, 6), as nn.ReLU6 and F.relu6 run it"};
    case OpKind::hardtanh:
      return {[](T x) { return at::hardtanh(x, -1, 1); }, [](M x) -> M { return at::hardtanh_(x, -1, 1); }, "hardtanh",
              "(x, -1, 1)"};
    case OpKind::clamp:
      return {[](T x) { return at::clamp(x, reference::clamp_lo, reference::clamp_hi); },
              [](M x) -> M { return at::clamp_(x, reference::clamp_lo, reference::clamp_hi); }, "clamp", clamp_args()};
    case OpKind::neg: return {[](T x) { return at::neg(x); }, [](M x) -> M { return at::neg_(x); }, "neg", ""};
    case OpKind::exp: return {[](T x) { return at::exp(x); }, [](M x) -> M { return at::exp_(x); }, "exp", ""};
    case OpKind::square:  // torch.square(x) and x.pow(2) both run pow(x, 2)
      return {[](T x) { return at::pow(x, 2); }, [](M x) -> M { return x.pow_(2); }, "pow", "(x, 2)"};
    case OpKind::sqrt: return {[](T x) { return at::sqrt(x); }, [](M x) -> M { return at::sqrt_(x); }, "sqrt", ""};
    case OpKind::rsqrt: return {[](T x) { return at::rsqrt(x); }, [](M x) -> M { return at::rsqrt_(x); }, "rsqrt", ""};
    default: no_kernel(k, "ElementwiseKernel (unary)");
  }
}

inline std::unique_ptr<TorchKernel> make_unary(OpKind k, const ElementwiseShape& s, Precision p, at::ScalarType dt) {
  const UnaryCall call = unary_call(k);
  // [-4, 4) reaches the clamped parts of hardsigmoid/hardswish (|x| > 3) and
  // of every clamp-style op; sqrt and rsqrt see positive numbers.
  const bool positive = info(k).positive_inputs;
  const at::Tensor a = uniform({s.elements}, dt, 1, positive ? 0.5 : -4, positive ? 2 : 4);
  auto verify = [=](const at::Tensor& out) {
    const HostCopy ad(a);
    return compare_elements(out, s.elements, p, 1, to_string(k).data(),
                            [&](i64 i) { return reference::elementwise(k, ad.p[i]); });
  };
  if (!s.inplace)
    return std::make_unique<TorchKernel>([=] { return call.out_of_place(a); }, verify, call.implementation(false));
  // The op overwrites x; prepare() restores it from `a` (untimed).
  at::Tensor x = a.clone();
  return std::make_unique<TorchKernel>([=]() mutable { return call.in_place(x); }, verify, call.implementation(true),
                                       [x, a]() mutable { x.copy_(a); });
}

inline std::unique_ptr<TorchKernel> make_binary(OpKind k, const ElementwiseShape& s, Precision p, at::ScalarType dt) {
  // A broadcast operand of `broadcast` elements repeats along the output
  // (output i uses b[i % broadcast]): [rows][broadcast] against [broadcast].
  const i64 bc = s.broadcast > 0 ? s.broadcast : s.elements;
  // silu_mul's gate spans [-4, 4) like the unary activations' inputs.
  const double lo = k == OpKind::silu_mul ? -4 : -1;
  const at::Tensor a = s.broadcast > 0 ? uniform({s.elements / bc, bc}, dt, 1) : uniform({s.elements}, dt, 1, lo, -lo);
  // Divisors in [0.5, 1.5) keep div away from 0.
  const at::Tensor b = k == OpKind::div ? uniform({bc}, dt, 2, 0.5, 1.5) : uniform({bc}, dt, 2);
  auto verify = [=](const at::Tensor& out) {
    const HostCopy ad(a), bd(b);
    return compare_elements(out, s.elements, p, 1, to_string(k).data(),
                            [&](i64 i) { return reference::elementwise(k, ad.p[i], bd.p[i % bc]); });
  };
  if (s.inplace) {
    at::Tensor x = a.clone();
    TorchKernel::Compute compute;
    switch (k) {
      case OpKind::add: compute = [=]() mutable { return x.add_(b); }; break;
      case OpKind::mul: compute = [=]() mutable { return x.mul_(b); }; break;
      case OpKind::div: compute = [=]() mutable { return x.div_(b); }; break;
      default: no_kernel(k, "ElementwiseKernel (binary, in place)");
    }
    return std::make_unique<TorchKernel>(std::move(compute), verify,
                                         "Tensor::" + std::string(to_string(k)) + "_ (in place)",
                                         [x, a]() mutable { x.copy_(a); });
  }
  switch (k) {
    case OpKind::add: return std::make_unique<TorchKernel>([=] { return at::add(a, b); }, verify, "at::add");
    case OpKind::mul: return std::make_unique<TorchKernel>([=] { return at::mul(a, b); }, verify, "at::mul");
    case OpKind::div: return std::make_unique<TorchKernel>([=] { return at::div(a, b); }, verify, "at::div");
    case OpKind::silu_mul:
      return std::make_unique<TorchKernel>([=] { return at::mul(at::silu(a), b); }, verify,
                                           "at::silu(a), at::mul(silu, b): eager SwiGLU, two kernels");
    default: no_kernel(k, "ElementwiseKernel (binary)");
  }
}

}  // namespace detail

/// Every op of ShapeFamily::elementwise: unary activations, clamp-style ops,
/// add/mul/div (broadcast, in place) and silu_mul.
struct ElementwiseKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    const auto& s = std::get<ElementwiseShape>(op.shape);
    return s.inputs == 1 ? detail::make_unary(op.kind, s, p, dt) : detail::make_binary(op.kind, s, p, dt);
  }
};

}  // namespace aten
}  // namespace hwcal
