#pragma once
// AttentionKernel: scaled dot-product attention through
// at::_scaled_dot_product_attention, the one ATen attention call in 1.13
// (torch.nn.functional._scaled_dot_product_attention), on Q [B][H][Sq][D]
// and K, V [B][kv_heads][Skv][D].
//  - Its CPU path is the composite _scaled_dot_product_attention_math: scale
//    q and k by d^-1/4, matmul, add the mask, softmax, matmul.
//  - Grouped-query attention (kv_heads < heads): 1.13's SDPA takes K and V
//    with all H heads, so eager LLaMA code repeats each KV head over its
//    group first (repeat_kv: expand + reshape, one copy of K and one of V per
//    call; the same tensors as repeat_interleave(H / kv_heads, dim=1)), and
//    that copy is timed with the attention.
//  - Causal: is_causal is aligned at the start (tril of ones(Sq, Skv)), so
//    when Sq != Skv the mask aligned at the end (a KV cache) is passed as a
//    boolean attn_mask. A decode step (Sq = 1) sees every key: no mask, as
//    eager decoding passes none.

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <tuple>

namespace hwcal {
namespace aten {
namespace detail {

/// Query, key and value, and the reference check of an attention output.
struct AttentionInputs {
  AttentionShape s;
  at::Tensor q, k, v;
  AttentionInputs(const AttentionShape& shape, at::ScalarType dt)
      : s(shape),
        q(uniform({s.batch, s.heads, s.seq_q, s.head_dim}, dt, 1)),
        k(uniform({s.batch, s.kv(), s.seq_kv, s.head_dim}, dt, 2)),
        v(uniform({s.batch, s.kv(), s.seq_kv, s.head_dim}, dt, 3)) {}

  /// Query heads per KV head.
  i64 group() const noexcept { return s.heads / s.kv(); }

  CheckResult check(const at::Tensor& out, Precision p, i64 reduction) const {
    const HostCopy qd(q), kd(k), vd(v);
    return compare_rows(out, s.batch * s.heads * s.seq_q, s.head_dim, p, reduction, "attention",
                        [&](i64 r, double* want) {
                          reference::attention_row(qd.p, kd.p, vd.p, s, r / (s.heads * s.seq_q),
                                                   (r / s.seq_q) % s.heads, r % s.seq_q, want);
                        });
  }
};

/// K or V [B][kv_heads][S][D] with each head repeated for the `group` query
/// heads that share it, [B][kv_heads * group][S][D]: LLaMA's repeat_kv
/// (x[:, :, None].expand(...).reshape(...); the reshape of the expanded view
/// is a copy). group 1 returns kv itself, as repeat_kv does.
inline at::Tensor repeat_kv(const at::Tensor& kv, i64 group) {
  if (group == 1) return kv;
  const i64 b = kv.size(0), h = kv.size(1), n = kv.size(2), d = kv.size(3);
  return kv.unsqueeze(2).expand({b, h, group, n, d}).reshape({b, h * group, n, d});
}

/// How the inputs reach the attention call, for implementation().
inline std::string repeat_kv_note(const AttentionShape& s) {
  if (s.kv() == s.heads) return {};
  return "K, V repeated over the " + std::to_string(s.heads / s.kv()) +
         " query heads of each KV head (LLaMA's repeat_kv: expand + reshape, a copy each; 1.13 has no GQA), then ";
}

/// The causal mask aligned at the end, where is_causal (aligned at the start)
/// differs from it; undefined where none is needed.
inline at::Tensor end_aligned_causal_mask(const AttentionShape& s) {
  if (!s.causal || s.seq_q == s.seq_kv || s.seq_q == 1) return {};
  return at::ones({s.seq_q, s.seq_kv}, at::TensorOptions().dtype(at::kBool)).tril(s.seq_kv - s.seq_q);
}

inline std::unique_ptr<TorchKernel> make_sdpa(const OpDesc& op, Precision p, at::ScalarType dt) {
  const AttentionInputs in(std::get<AttentionShape>(op.shape), dt);
  const auto& s = in.s;
  const bool is_causal = s.causal && s.seq_q == s.seq_kv;
  const at::Tensor mask = end_aligned_causal_mask(s);
  const c10::optional<at::Tensor> attn_mask = mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt;
  const i64 group = in.group();
  std::string how = "at::_scaled_dot_product_attention (math path";
  if (is_causal) how += ", is_causal";
  if (mask.defined()) how += ", end-aligned causal attn_mask";
  if (s.causal && s.seq_q == 1 && s.seq_kv > 1) how += ", decode: no mask";
  return std::make_unique<TorchKernel>(
      [=] {
        return std::get<0>(at::_scaled_dot_product_attention(in.q, repeat_kv(in.k, group), repeat_kv(in.v, group),
                                                             attn_mask, 0.0, false, is_causal));
      },
      [=](const at::Tensor& out) { return in.check(out, p, reduction_length(op)); }, repeat_kv_note(s) + how + ")");
}

}  // namespace detail

/// attention (ShapeFamily::attention): full, causal, grouped-query, decode.
struct AttentionKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    return detail::make_sdpa(op, p, dt);
  }
};

}  // namespace aten
}  // namespace hwcal
