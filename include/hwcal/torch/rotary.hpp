#pragma once
// RotaryKernel: rotary position embedding of x [tokens][heads][head_dim] as
// eager PyTorch LLaMA code runs it (Hugging Face's apply_rotary_pos_emb with
// rotate_half): x * cos + cat(-x2, x1) * sin, x1 and x2 the two halves of the
// last dimension (views), cos and sin [tokens][1][head_dim] broadcast over
// the heads. Five kernels, in the order Python evaluates them: at::mul(x, cos),
// at::neg(x2), at::cat(-1), at::mul(sin), at::add. ATen 1.13 has no fused
// rotary op.

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <memory>

namespace hwcal {
namespace aten {
namespace detail {

/// cos or sin of LLaMA's rotary angles for positions 0..tokens-1: angle
/// t * 10000^(-2i/d) for pair i, repeated for both halves (emb = cat(freqs,
/// freqs)), computed in double and rounded once to `dt`.
inline at::Tensor rotary_table(i64 tokens, i64 head_dim, at::ScalarType dt, bool sine) {
  at::Tensor t = at::empty({tokens, 1, head_dim}, at::TensorOptions().dtype(at::kFloat));
  float* v = t.data_ptr<float>();
  const i64 half = head_dim / 2;
  for (i64 pos = 0; pos < tokens; ++pos)
    for (i64 j = 0; j < head_dim; ++j) {
      const double angle = double(pos) * std::pow(10000.0, -2.0 * double(j % half) / double(head_dim));
      v[pos * head_dim + j] = static_cast<float>(sine ? std::sin(angle) : std::cos(angle));
    }
  return dt == at::kFloat ? t : t.to(dt);
}

}  // namespace detail

/// rotary (ShapeFamily::rotary).
struct RotaryKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    const auto s = std::get<RotaryShape>(op.shape);
    const i64 half = s.head_dim / 2;
    const at::Tensor x = detail::uniform({s.tokens, s.heads, s.head_dim}, dt, 1);
    const at::Tensor cos = detail::rotary_table(s.tokens, s.head_dim, dt, false);
    const at::Tensor sin = detail::rotary_table(s.tokens, s.head_dim, dt, true);
    return std::make_unique<TorchKernel>(
        [=] {
          const at::Tensor x_cos = at::mul(x, cos);
          const at::Tensor rotated = at::cat({at::neg(x.slice(-1, half)), x.slice(-1, 0, half)}, -1);
          return at::add(x_cos, at::mul(rotated, sin));
        },
        [=](const at::Tensor& out) {
          const detail::HostCopy xd(x), cd(cos), sd(sin);
          const i64 per_token = s.heads * s.head_dim;
          return detail::compare_elements(out, s.tokens * per_token, p, reduction_length(op), "rotary", [&](i64 i) {
            return reference::rotary_at(xd.p, cd.p, sd.p, s, i / per_token, (i / s.head_dim) % s.heads, i % s.head_dim);
          });
        },
        "at::mul(x, cos), at::neg(x2), at::cat({-x2, x1}, -1), at::mul(sin), at::add (rotate_half, as eager LLaMA "
        "code runs it; ATen 1.13 has no rotary op)");
  }
};

}  // namespace aten
}  // namespace hwcal
