#pragma once
// AttentionKernel: attention on oneDNN 2.6, which has no fused scaled-dot-
// product primitive: QK^T as a batched matmul (K read transposed through its
// strides), the 1/sqrt(d) scale as the matmul's output scale, the causal mask
// as a binary-add post-op, softmax over the last dim in place, then PV.
//
// Grouped-query attention: the G = heads / kv_heads query heads that share a
// KV head are adjacent in Q and O ([B][H][Sq][D] is [B][KVH][G*Sq][D]), so both
// products run over [B][KVH] with G*Sq rows each: every K and V is read by
// one product and never copied per query head, and a decode step (Sq = 1) is
// a product of G rows rather than G products of one.
//
// The mask is an additive f32 [B][1][G*Sq][Skv] tensor (0 or -inf), broadcast
// over KV heads: the form oneDNN 2.6's brgemm matmul accepts as a post-op (a
// [1][1][...] mask sends the matmul to its reference implementation) and the
// one HuggingFace models build.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/detail.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

/// Query rows per KV head: the G query heads of its group, Sq rows each.
inline i64 group_rows(const AttentionShape& s) { return s.heads / s.kv() * s.seq_q; }
inline md q_md(const AttentionShape& s, dt t) { return md({s.batch, s.kv(), group_rows(s), s.head_dim}, t, tag::abcd); }
/// K is stored [B][KVH][Skv][D] and read as [B][KVH][D][Skv].
inline md kt_md(const AttentionShape& s, dt t) { return md({s.batch, s.kv(), s.head_dim, s.seq_kv}, t, tag::abdc); }
inline md v_md(const AttentionShape& s, dt t) { return md({s.batch, s.kv(), s.seq_kv, s.head_dim}, t, tag::abcd); }
inline md scores_md(const AttentionShape& s, dt t) {
  return md({s.batch, s.kv(), group_rows(s), s.seq_kv}, t, tag::abcd);
}
inline md mask_md(const AttentionShape& s) { return md({s.batch, 1, group_rows(s), s.seq_kv}, dt::f32, tag::abcd); }
inline float attention_scale(const AttentionShape& s) { return 1.f / std::sqrt(static_cast<float>(s.head_dim)); }

inline void check_causal(const AttentionShape& s) {
  if (s.causal && s.seq_q > s.seq_kv)
    throw UnavailableError("onednn: causal attention with seq_q > seq_kv leaves the first queries no key to attend to");
}

/// Q K^T; with `folded`, the scale as output scale and the mask as a post-op.
inline dnnl::matmul::primitive_desc qk_pd(const Context& c, const AttentionShape& s, Precision p, bool folded) {
  const dt t = types_of(p).src;
  dnnl::post_ops po;
  if (folded && s.causal) po.append_binary(algorithm::binary_add, mask_md(s));
  dnnl::primitive_attr attr = user_scratchpad(po);
  if (folded) attr.set_output_scales(0, {attention_scale(s)});
  return {dnnl::matmul::desc(q_md(s, t), kt_md(s, t), scores_md(s, t)), attr, c.engine};
}

inline dnnl::matmul::primitive_desc pv_pd(const Context& c, const AttentionShape& s, Precision p) {
  const dt t = types_of(p).src;
  return {dnnl::matmul::desc(scores_md(s, t), v_md(s, t), q_md(s, t)), user_scratchpad(), c.engine};
}

struct AttentionInputs {
  Tensor q, k, v, mask;
};

inline AttentionInputs make_attention_inputs(const Context& c, const AttentionShape& s, Precision p) {
  const dt t = types_of(p).src;
  AttentionInputs in{make_activation(c, q_md(s, t), tag::abcd, 1),
                     make_activation(c, kt_md(s, t), tag::abdc, 2),
                     make_activation(c, v_md(s, t), tag::abcd, 3),
                     {}};
  if (s.causal) {
    // Row r of a group is query r % Sq, which sees reference::visible_keys of the keys.
    const i64 rows = group_rows(s);
    std::vector<float> m(elements(mask_md(s).dims()));
    for (i64 b = 0; b < s.batch; ++b)
      for (i64 r = 0; r < rows; ++r)
        for (i64 j = 0; j < s.seq_kv; ++j)
          m[static_cast<std::size_t>((b * rows + r) * s.seq_kv + j)] =
              j < reference::visible_keys(s, r % s.seq_q) ? 0.f : -std::numeric_limits<float>::infinity();
    in.mask = make_input(c, mask_md(s), tag::abcd, std::move(m));
  }
  return in;
}

/// Appends softmax(scale * Q K^T + mask) and returns the memory holding it.
/// Fused: the scale and mask ride on the matmul, softmax runs in place.
/// Unfused: matmul, eltwise scale, binary-add mask, softmax, each writing a
/// new score tensor, as eager frameworks run it op by op.
inline dnnl::memory add_probabilities(ChainKernel& k, const Context& c, const AttentionShape& s, Precision p,
                                      const AttentionInputs& in, bool fused) {
  const dt t = types_of(p).src;
  const md scores = scores_md(s, t);
  const auto qk = qk_pd(c, s, p, fused);
  dnnl::memory x = make_output(c, scores);
  Args args{{DNNL_ARG_SRC, in.q.mem}, {DNNL_ARG_WEIGHTS, in.k.mem}, {DNNL_ARG_DST, x}};
  if (fused && s.causal) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = in.mask.mem;
  k.add(qk, std::move(args));
  if (fused) {
    k.add(softmax_pd(c, scores, 3), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, x}});
    return x;
  }
  dnnl::memory scaled = make_output(c, scores);
  k.add(eltwise_pd(c, scores, algorithm::eltwise_linear, attention_scale(s), 0.f),
        {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, scaled}});
  if (s.causal) {
    dnnl::memory masked = make_output(c, scores);
    k.add(binary_pd(c, algorithm::binary_add, scores, mask_md(s), scores),
          {{DNNL_ARG_SRC_0, scaled}, {DNNL_ARG_SRC_1, in.mask.mem}, {DNNL_ARG_DST, masked}});
    scaled = masked;
  }
  dnnl::memory probs = make_output(c, scores);
  k.add(softmax_pd(c, scores, 3), {{DNNL_ARG_SRC, scaled}, {DNNL_ARG_DST, probs}});
  return probs;
}

/// Compares rows of the output ([B][H][Sq][width]): the probabilities
/// (width Skv) or the attention output (width D).
inline ChainKernel::Checker attention_checker(const AttentionShape& s, Precision p, bool probabilities,
                                              std::vector<float> q, std::vector<float> k, std::vector<float> v) {
  return [s, p, probabilities, q = std::move(q), k = std::move(k), v = std::move(v)](const std::vector<float>& out) {
    reference::SampledCheck chk(p, probabilities ? s.head_dim : std::max(s.head_dim, s.seq_kv));
    const i64 width = probabilities ? s.seq_kv : s.head_dim;
    const char* what = probabilities ? "qkt_softmax" : "attention";
    std::vector<double> want(static_cast<std::size_t>(width));
    for (i64 row : sample_indices(s.batch * s.heads * s.seq_q)) {
      const i64 i = row % s.seq_q, h = row / s.seq_q % s.heads, b = row / (s.seq_q * s.heads);
      if (probabilities)
        reference::attention_probabilities_row(q.data(), k.data(), s, b, h, i, want.data());
      else
        reference::attention_row(q.data(), k.data(), v.data(), s, b, h, i, want.data());
      for (i64 j = 0; j < width; ++j)
        chk.add(out[static_cast<std::size_t>(row * width + j)], want[static_cast<std::size_t>(j)], what,
                row * width + j);
    }
    return chk.result();
  };
}

}  // namespace detail

/// The attention op; with `fused` false the unfused chain of the attention
/// fusion pattern, with `stop_after_softmax` the qkt_softmax pattern
/// (probabilities only).
class AttentionKernel final : public detail::ChainKernel {
 public:
  AttentionKernel(const detail::Context& c, const OpDesc& op, Precision p, bool fused = true,
                  bool stop_after_softmax = false)
      : ChainKernel(c) {
    using namespace detail;
    const auto& s = std::get<AttentionShape>(op.shape);
    check_causal(s);
    AttentionInputs in = make_attention_inputs(c, s, p);
    dnnl::memory y = add_probabilities(*this, c, s, p, in, fused);
    if (!stop_after_softmax) {
      const dnnl::memory probs = y;
      y = make_output(c, q_md(s, types_of(p).src));
      add(pv_pd(c, s, p), {{DNNL_ARG_SRC, probs}, {DNNL_ARG_WEIGHTS, in.v.mem}, {DNNL_ARG_DST, y}});
    }
    set_output(
        y, tag::abcd,
        attention_checker(s, p, stop_after_softmax, std::move(in.q.host), std::move(in.k.host), std::move(in.v.host)));
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    using namespace detail;
    const auto& s = std::get<AttentionShape>(op.shape);
    check_causal(s);
    return {qk_pd(c, s, p, true), softmax_pd(c, scores_md(s, types_of(p).src), 3), pv_pd(c, s, p)};
  }
  static std::string realisation(const OpDesc& op, Precision) {
    const auto& s = std::get<AttentionShape>(op.shape);
    std::string how = std::string("no fused attention in oneDNN 2.6: QK^T matmul (scale as output scale") +
                      (s.causal ? ", causal mask as binary post-op" : "") + "), softmax in place, PV matmul";
    if (s.kv() != s.heads)
      how += ", each over " + std::to_string(s.batch * s.kv()) + " KV heads with the " +
             std::to_string(s.heads / s.kv()) + " query heads of each as one block of rows (K and V not copied)";
    return how;
  }
};

}  // namespace onednn
}  // namespace hwcal
