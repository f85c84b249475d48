#pragma once
// Attention on oneDNN 2.6, which has no fused scaled-dot-product primitive:
// QK^T as a batched matmul over [B][H] (K read transposed through its
// strides), the 1/sqrt(d) scale as the matmul's output scale, the causal mask
// as a binary-add post-op, softmax over the last dim in place, then PV.
//
// The mask is an additive f32 [B][1][Sq][Skv] tensor (0 or -inf), broadcast
// over heads: the form oneDNN 2.6's brgemm matmul accepts as a post-op (a
// [1][1][Sq][Skv] mask sends the matmul to its reference implementation) and
// the one HuggingFace models build.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/ops.hpp>

namespace hwcal {
namespace onednn {
namespace detail {

inline md q_md(const AttentionShape& s, dt t) { return md({s.batch, s.heads, s.seq_q, s.head_dim}, t, tag::abcd); }
/// K is stored [B][H][Skv][D] and read as [B][H][D][Skv].
inline md kt_md(const AttentionShape& s, dt t) { return md({s.batch, s.heads, s.head_dim, s.seq_kv}, t, tag::abdc); }
inline md v_md(const AttentionShape& s, dt t) { return md({s.batch, s.heads, s.seq_kv, s.head_dim}, t, tag::abcd); }
inline md scores_md(const AttentionShape& s, dt t) { return md({s.batch, s.heads, s.seq_q, s.seq_kv}, t, tag::abcd); }
inline md mask_md(const AttentionShape& s) { return md({s.batch, 1, s.seq_q, s.seq_kv}, dt::f32, tag::abcd); }
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

/// The attention op: QK^T (scale and mask folded) -> softmax in place -> PV.
inline std::vector<dnnl::primitive_desc_base> attention_pds(const Context& c, const AttentionShape& s, Precision p) {
  check_causal(s);
  return {qk_pd(c, s, p, true), softmax_pd(c, scores_md(s, types_of(p).src), 3), pv_pd(c, s, p)};
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
    // Aligned at the end: query i sees keys j <= i + (seq_kv - seq_q).
    std::vector<float> m(elements(mask_md(s).dims()));
    for (i64 b = 0; b < s.batch; ++b)
      for (i64 i = 0; i < s.seq_q; ++i)
        for (i64 j = 0; j < s.seq_kv; ++j)
          m[static_cast<std::size_t>((b * s.seq_q + i) * s.seq_kv + j)] =
              j <= i + (s.seq_kv - s.seq_q) ? 0.f : -std::numeric_limits<float>::infinity();
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
  k.add(eltwise_pd(c, scores, algorithm::eltwise_linear, attention_scale(s), 0.f), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, scaled}});
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

/// Row `row` (over [B][H][Sq]) of softmax(scale * Q K^T + causal mask).
inline void probabilities_row(const std::vector<float>& q, const std::vector<float>& k, const AttentionShape& s, i64 row,
                              double* out) {
  const i64 d = s.head_dim, i = row % s.seq_q, bh = row / s.seq_q;
  const i64 limit = s.causal ? std::min(s.seq_kv, i + 1 + (s.seq_kv - s.seq_q)) : s.seq_kv;
  const float* qr = q.data() + row * d;
  const float* kh = k.data() + bh * s.seq_kv * d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  double m = -std::numeric_limits<double>::infinity(), sum = 0;
  for (i64 j = 0; j < limit; ++j) {
    double acc = 0;
    for (i64 t = 0; t < d; ++t) acc += double(qr[t]) * kh[j * d + t];
    out[j] = acc * scale;
    m = std::max(m, out[j]);
  }
  for (i64 j = 0; j < limit; ++j) sum += (out[j] = std::exp(out[j] - m));
  for (i64 j = 0; j < s.seq_kv; ++j) out[j] = j < limit ? out[j] / sum : 0.0;
}

/// Checks the probabilities [B][H][Sq][Skv] (qkt_softmax).
inline ChainKernel::Checker probabilities_checker(const AttentionShape& s, Precision p, std::vector<float> q,
                                                  std::vector<float> k) {
  return [s, p, q = std::move(q), k = std::move(k)](const std::vector<float>& out) {
    reference::SampledCheck chk(p, s.head_dim);
    std::vector<double> want(static_cast<std::size_t>(s.seq_kv));
    for (i64 row : sample_indices(s.batch * s.heads * s.seq_q)) {
      probabilities_row(q, k, s, row, want.data());
      for (i64 j = 0; j < s.seq_kv; ++j)
        chk.add(out[static_cast<std::size_t>(row * s.seq_kv + j)], want[static_cast<std::size_t>(j)], "qkt_softmax",
                row * s.seq_kv + j);
    }
    return chk.result();
  };
}

/// The attention op, or the pair of the attention fusion pattern.
inline std::unique_ptr<ChainKernel> make_attention(const Context& c, const AttentionShape& s, Precision p, bool fused = true) {
  check_causal(s);
  auto k = std::make_unique<ChainKernel>(c);
  AttentionInputs in = make_attention_inputs(c, s, p);
  const dnnl::memory probs = add_probabilities(*k, c, s, p, in, fused);
  const dnnl::memory y = make_output(c, q_md(s, types_of(p).src));
  k->add(pv_pd(c, s, p), {{DNNL_ARG_SRC, probs}, {DNNL_ARG_WEIGHTS, in.v.mem}, {DNNL_ARG_DST, y}});
  k->set_output(
      y, tag::abcd,
      [s, p, q = std::move(in.q.host), kk = std::move(in.k.host), v = std::move(in.v.host)](const std::vector<float>& out) {
        reference::SampledCheck chk(p, std::max(s.head_dim, s.seq_kv));
        std::vector<double> want(static_cast<std::size_t>(s.head_dim));
        for (i64 row : sample_indices(s.batch * s.heads * s.seq_q)) {
          const i64 i = row % s.seq_q, h = row / s.seq_q % s.heads, b = row / (s.seq_q * s.heads);
          reference::attention_row(q.data(), kk.data(), v.data(), s, b, h, i, want.data());
          for (i64 t = 0; t < s.head_dim; ++t)
            chk.add(out[static_cast<std::size_t>(row * s.head_dim + t)], want[static_cast<std::size_t>(t)], "attention",
                    row * s.head_dim + t);
        }
        return chk.result();
      });
  return k;
}

/// The qkt_softmax pair: probabilities only.
inline std::unique_ptr<ChainKernel> make_qkt_softmax(const Context& c, const AttentionShape& s, Precision p, bool fused) {
  check_causal(s);
  auto k = std::make_unique<ChainKernel>(c);
  AttentionInputs in = make_attention_inputs(c, s, p);
  const dnnl::memory probs = add_probabilities(*k, c, s, p, in, fused);
  k->set_output(probs, tag::abcd, probabilities_checker(s, p, std::move(in.q.host), std::move(in.k.host)));
  return k;
}

}  // namespace detail
}  // namespace onednn
}  // namespace hwcal
