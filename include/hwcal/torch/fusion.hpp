#pragma once
// The fusion patterns eager ATen runs as one call, each prepared fused and
// unfused on the same inputs:
//   linear_bias  at::linear(x, W, b) (addmm)  vs  at::add(at::matmul(x, W.t()), b)
//   conv_bn      at::conv2d with the batchnorm folded into weights and bias
//                (what torch.ao.quantization.fuse_modules / torch.fx's
//                fuse do before inference)  vs  at::conv2d + at::batch_norm
//   attention    at::_scaled_dot_product_attention (attention.hpp)  vs
//                nn.MultiheadAttention's div, bmm, softmax, bmm
// Each side is checked against the reference of what it computes.

#include <hwcal/torch/guard.hpp>

#include <hwcal/error.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/attention.hpp>
#include <hwcal/torch/batchnorm.hpp>
#include <hwcal/torch/gemm.hpp>
#include <hwcal/torch/kernel.hpp>
#include <hwcal/torch/runtime.hpp>
#include <hwcal/torch/support.hpp>

#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

namespace hwcal {
namespace aten {
namespace detail {

inline FusionKernels make_linear_bias(const OpDesc& anchor, Precision p, at::ScalarType dt) {
  OpDesc op = anchor;
  std::get<MatmulShape>(op.shape).bias = true;
  const auto s = std::get<MatmulShape>(op.shape);
  FusionKernels k;
  k.fused = make_linear(op, p, dt);
  // Same seeds as make_linear: the same x, W and b.
  const at::Tensor x = uniform({s.m, s.k}, dt, 1), w = uniform({s.n, s.k}, dt, 2), b = uniform({s.n}, dt, 3);
  k.unfused = std::make_unique<TorchKernel>(
      [=] { return at::add(at::matmul(x, w.t()), b); },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), wd(w), bd(b);
        return compare_elements(out, s.m * s.n, p, s.k, "linear_bias",
                                [&](i64 i) { return reference::linear_at(xd.p, wd.p, bd.p, s, i / s.n, i % s.n); });
      },
      "at::matmul -> mm, at::add");
  k.note = fusion_support(FusionPattern::linear_bias, p).note;
  return k;
}

inline FusionKernels make_conv_bn(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<Conv2dShape>(op.shape);
  const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
  const at::Tensor w = uniform({s.k, s.c / s.groups, s.r, s.s}, dt, 2);
  const at::Tensor b = s.bias ? uniform({s.k}, dt, 3) : at::zeros({s.k}, x.options());
  const c10::optional<at::Tensor> conv_bias = s.bias ? c10::optional<at::Tensor>(b) : c10::nullopt;
  const BatchNormParams bn(s.k, dt);
  const std::array<i64, 2> stride{s.stride_h, s.stride_w}, pad{s.pad_h, s.pad_w}, dil{s.dil_h, s.dil_w};

  // Fold in fp64, round once to the precision: W' = W * g / sqrt(v + eps),
  // b' = (b - m) * g / sqrt(v + eps) + beta.
  const at::Tensor scale = bn.gamma.to(at::kDouble) / at::sqrt(bn.var.to(at::kDouble) + 1e-5);
  const at::Tensor folded_w = (w.to(at::kDouble) * scale.view({s.k, 1, 1, 1})).to(dt);
  const at::Tensor folded_b = ((b.to(at::kDouble) - bn.mean.to(at::kDouble)) * scale + bn.beta.to(at::kDouble)).to(dt);

  const i64 oh = s.out_h(), ow = s.out_w();
  FusionKernels f;
  // The fused side is checked against the folded weights as stored: in bf16
  // their rounding alone moves outputs further than the tolerance allows
  // around zero once C*R*S reaches a few thousand. (Tests compare the two
  // sides with each other, which checks the folding.)
  f.fused = std::make_unique<TorchKernel>(
      [=] { return at::conv2d(x, folded_w, folded_b, stride, pad, dil, s.groups); },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), wd(folded_w), bd(folded_b);
        return compare_elements(out, s.n * s.k * oh * ow, p, reduction_length(op), "conv_bn", [&](i64 i) {
          return reference::conv2d_at(xd.p, wd.p, bd.p, s, i / (s.k * oh * ow), (i / (oh * ow)) % s.k, (i / ow) % oh,
                                      i % ow);
        });
      },
      "at::conv2d, batchnorm folded");
  f.unfused = std::make_unique<TorchKernel>(
      [=] { return bn.apply(at::conv2d(x, w, conv_bias, stride, pad, dil, s.groups)); },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), wd(w), bd(b), g(bn.gamma), be(bn.beta), m(bn.mean), v(bn.var);
        return compare_elements(out, s.n * s.k * oh * ow, p, reduction_length(op), "conv_bn", [&](i64 i) {
          const i64 k = (i / (oh * ow)) % s.k;
          const double y = reference::conv2d_at(xd.p, wd.p, bd.p, s, i / (s.k * oh * ow), k, (i / ow) % oh, i % ow);
          return (y - m.p[k]) / std::sqrt(v.p[k] + 1e-5) * g.p[k] + be.p[k];
        });
      },
      "at::conv2d, at::batch_norm");
  f.note = fusion_support(FusionPattern::conv_bn, p).note;
  return f;
}

/// The chain nn.MultiheadAttention runs in 1.13 (F.multi_head_attention_forward):
/// q / sqrt(d), bmm with k^T (baddbmm onto an additive float mask when
/// causal), softmax, bmm with v, on [B*H][S][D] views. With grouped-query
/// heads K and V are repeated first, as for the fused side.
inline std::unique_ptr<TorchKernel> make_attention_chain(const OpDesc& op, Precision p, at::ScalarType dt) {
  const AttentionInputs in(std::get<AttentionShape>(op.shape), dt);
  const auto& s = in.s;
  const i64 bh = s.batch * s.heads, group = in.group();
  const at::Tensor q = in.q.view({bh, s.seq_q, s.head_dim});
  const double scale = std::sqrt(static_cast<double>(s.head_dim));
  at::Tensor mask;  // [1][Sq][Skv], 0 where attended, -inf where masked
  if (s.causal) {
    const auto keep = at::ones({1, s.seq_q, s.seq_kv}, at::TensorOptions().dtype(at::kBool)).tril(s.seq_kv - s.seq_q);
    mask = at::zeros({1, s.seq_q, s.seq_kv}, q.options())
               .masked_fill_(keep.logical_not(), -std::numeric_limits<double>::infinity());
  }
  const std::array<i64, 4> out_shape{s.batch, s.heads, s.seq_q, s.head_dim};
  return std::make_unique<TorchKernel>(
      [=] {
        const at::Tensor k = repeat_kv(in.k, group).view({bh, s.seq_kv, s.head_dim});
        const at::Tensor v = repeat_kv(in.v, group).view({bh, s.seq_kv, s.head_dim});
        const at::Tensor q_scaled = at::div(q, scale);
        const at::Tensor scores =
            mask.defined() ? at::baddbmm(mask, q_scaled, k.transpose(-2, -1)) : at::bmm(q_scaled, k.transpose(-2, -1));
        return at::bmm(at::softmax(scores, -1), v).view(out_shape);
      },
      [=](const at::Tensor& out) { return in.check(out, p, reduction_length(op)); },
      repeat_kv_note(s) + (s.causal ? "div, baddbmm, softmax, bmm (nn.MultiheadAttention)"
                                    : "div, bmm, softmax, bmm (nn.MultiheadAttention)"));
}

}  // namespace detail

/// Fused and unfused kernels of a pattern; support must have been checked.
inline FusionKernels make_fusion_kernels(FusionPattern f, const OpDesc& anchor, Precision p) {
  const auto dt = scalar_type(p);
  if (!dt) throw UnavailableError("torch backend: no ATen dtype for " + std::string(to_string(p)));
  switch (f) {
    case FusionPattern::linear_bias: return detail::make_linear_bias(anchor, p, *dt);
    case FusionPattern::conv_bn: return detail::make_conv_bn(anchor, p, *dt);
    default: {  // attention
      FusionKernels k;
      k.fused = detail::make_sdpa(anchor, p, *dt);
      k.unfused = detail::make_attention_chain(anchor, p, *dt);
      k.note = fusion_support(f, p).note;
      return k;
    }
  }
}

}  // namespace aten
}  // namespace hwcal
