#pragma once
// Fusion patterns on oneDNN: each prepared fused (post-ops, folded weights)
// and unfused (one primitive per framework op, each writing a new tensor).
// Both kernels of a pair get the same inputs and are checked against the same
// reference. Unfused convolution chains keep the conv's blocked layout between
// primitives (no reorders), so they measure only the extra passes fusion saves.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/attention.hpp>
#include <hwcal/onednn/batchnorm.hpp>
#include <hwcal/onednn/conv.hpp>
#include <hwcal/onednn/detail.hpp>
#include <hwcal/onednn/gemm.hpp>

#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

inline dnnl::post_ops eltwise_post_op(algorithm alg) {
  dnnl::post_ops po;
  po.append_eltwise(1.f, alg, 0.f, 0.f);
  return po;
}

/// linear_bias, linear_bias_relu, linear_bias_gelu.
inline FusionKernels make_linear_fusion(const Context& c, FusionPattern f, const MatmulShape& s, Precision p) {
  const bool act = f != FusionPattern::linear_bias;
  const algorithm alg = f == FusionPattern::linear_bias_gelu ? algorithm::eltwise_gelu_erf : algorithm::eltwise_relu;
  const Post post = !act                                   ? Post()
                    : f == FusionPattern::linear_bias_gelu ? Post([](double v, i64) { return reference::gelu(v); })
                                                           : Post([](double v, i64) { return reference::relu(v); });
  FusionKernels out;
  {
    auto k = std::make_unique<ChainKernel>(c);
    const auto pd = linear_pd(c, s, p, true, act ? eltwise_post_op(alg) : dnnl::post_ops());
    LinearInputs in = make_linear_inputs(c, pd, s);
    const dnnl::memory y = make_output(c, pd.dst_desc());
    k->add(pd, {{DNNL_ARG_SRC, in.x.mem}, {DNNL_ARG_WEIGHTS, in.w.mem}, {DNNL_ARG_BIAS, in.b.mem}, {DNNL_ARG_DST, y}});
    k->set_output(y, tag::nc,
                  linear_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host), post));
    out.fused = std::move(k);
  }
  auto k = std::make_unique<ChainKernel>(c);
  const auto pd = linear_pd(c, s, p, act);
  LinearInputs in = make_linear_inputs(c, pd, s);
  const dnnl::memory y0 = make_output(c, pd.dst_desc()), y = make_output(c, pd.dst_desc());
  Args args{{DNNL_ARG_SRC, in.x.mem}, {DNNL_ARG_WEIGHTS, in.w.mem}, {DNNL_ARG_DST, y0}};
  if (act) {
    args[DNNL_ARG_BIAS] = in.b.mem;
    k->add(pd, std::move(args));
    k->add(eltwise_pd(c, pd.dst_desc(), alg, 0.f, 0.f), {{DNNL_ARG_SRC, y0}, {DNNL_ARG_DST, y}});
  } else {
    k->add(pd, std::move(args));
    // The bias as a [1][N] row broadcast over the output rows.
    const md row({1, s.n}, dt::f32, tag::ab);
    const dnnl::memory bias_row(row, c.engine, in.b.mem.get_data_handle());
    k->keep(in.b.mem);
    k->add(binary_pd(c, algorithm::binary_add, pd.dst_desc(), row, pd.dst_desc()),
           {{DNNL_ARG_SRC_0, y0}, {DNNL_ARG_SRC_1, bias_row}, {DNNL_ARG_DST, y}});
  }
  k->set_output(y, tag::nc,
                linear_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host), post));
  out.unfused = std::move(k);
  out.note =
      act ? "fused: one inner_product with bias and a " +
                std::string(f == FusionPattern::linear_bias_gelu ? "gelu_erf" : "relu") +
                " eltwise post-op; unfused: inner_product with bias, then an eltwise primitive writing a new tensor"
          : "fused: one inner_product with bias; unfused: inner_product without bias, then a binary add of the [1][N] "
            "bias "
            "writing a new tensor";
  return out;
}

/// conv_relu, conv_bn, conv_bn_relu. The conv keeps the shape's bias flag;
/// batchnorm statistics, scale and shift are per output channel.
inline FusionKernels make_conv_fusion(const Context& c, FusionPattern f, const Conv2dShape& s, Precision p) {
  const bool bn = f != FusionPattern::conv_relu, relu = f != FusionPattern::conv_bn;
  auto params = std::make_shared<BnParams>(make_bn_params(c, s.k));
  const Post post = [bn, relu, params](double v, i64 ch) {
    if (bn) v = params->apply(v, ch);
    return relu ? reference::relu(v) : v;
  };
  const dnnl::post_ops relu_po = relu ? eltwise_post_op(algorithm::eltwise_relu) : dnnl::post_ops();
  FusionKernels out;

  // Fused: batchnorm folded into the weights and bias at make(), as inference
  // engines fold it: w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta.
  {
    auto k = std::make_unique<ChainKernel>(c);
    const auto pd = conv_pd(c, s, p, bn || s.bias, relu_po);
    ConvInputs in = make_conv_inputs(c, pd, s, s.bias);
    Args args = in.args;
    if (bn) {
      std::vector<float> w = in.w.host, b(static_cast<std::size_t>(s.k));
      const std::size_t per_k = w.size() / static_cast<std::size_t>(s.k);
      for (std::size_t ch = 0; ch < b.size(); ++ch) {
        const double g = params->gamma.host[ch] / std::sqrt(double(params->var.host[ch]) + norm_eps);
        for (std::size_t i = 0; i < per_k; ++i) w[ch * per_k + i] = static_cast<float>(w[ch * per_k + i] * g);
        const double b0 = in.b.host.empty() ? 0.0 : in.b.host[ch];
        b[ch] = static_cast<float>((b0 - params->mean.host[ch]) * g + params->beta.host[ch]);
      }
      args[DNNL_ARG_WEIGHTS] = make_input(c, pd.weights_desc(), conv_weights_tag(s), std::move(w)).mem;
      args[DNNL_ARG_BIAS] = make_input(c, pd.bias_desc(), tag::x, std::move(b)).mem;
    }
    const dnnl::memory y = make_output(c, pd.dst_desc());
    args[DNNL_ARG_DST] = y;
    k->add(pd, std::move(args));
    k->describe(conv_formats(pd));
    k->set_output(y, tag::nchw,
                  conv_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host), post));
    out.fused = std::move(k);
  }

  auto k = std::make_unique<ChainKernel>(c);
  const auto pd = conv_pd(c, s, p, s.bias);
  ConvInputs in = make_conv_inputs(c, pd, s, s.bias);
  dnnl::memory y = make_output(c, pd.dst_desc());
  in.args[DNNL_ARG_DST] = y;
  k->add(pd, std::move(in.args));
  k->describe(conv_formats(pd));
  if (bn) {
    const dnnl::memory z = make_output(c, pd.dst_desc());
    Args args{{DNNL_ARG_SRC, y}, {DNNL_ARG_DST, z}};
    params->add_to(args);
    k->add(batchnorm_pd(c, pd.dst_desc()), std::move(args));
    y = z;
  }
  if (relu) {
    const dnnl::memory z = make_output(c, pd.dst_desc());
    k->add(eltwise_pd(c, pd.dst_desc(), algorithm::eltwise_relu, 0.f, 0.f), {{DNNL_ARG_SRC, y}, {DNNL_ARG_DST, z}});
    y = z;
  }
  k->set_output(y, tag::nchw,
                conv_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host), post));
  out.unfused = std::move(k);
  const std::string unfused = bn && relu ? "conv, batch_normalization and relu eltwise primitives"
                              : bn       ? "conv, then a batch_normalization primitive"
                                         : "conv, then a relu eltwise primitive";
  const std::string fused = bn ? std::string("batchnorm folded into the conv weights and bias at make()") +
                                     (relu ? " and a relu eltwise post-op" : "") + ": one conv with bias"
                               : "one conv with a relu eltwise post-op";
  out.note = "fused: " + fused + "; unfused: " + unfused + ", each writing a new tensor in the conv's blocked layout";
  return out;
}

inline FusionKernels make_attention_fusion(const Context& c, FusionPattern f, const OpDesc& op, Precision p) {
  const auto& s = std::get<AttentionShape>(op.shape);
  const bool stop = f == FusionPattern::qkt_softmax;
  FusionKernels out;
  out.fused = std::make_unique<AttentionKernel>(c, op, p, true, stop);
  out.unfused = std::make_unique<AttentionKernel>(c, op, p, false, stop);
  const std::string mask = s.causal ? " and the causal mask (binary-add post-op)" : "";
  if (stop) {
    out.note =
        "fused: the QK^T matmul applies the 1/sqrt(d) scale (output scale)" + mask +
        ", softmax runs in place as a separate primitive (oneDNN 2.6 has no softmax post-op); unfused: matmul, eltwise "
        "linear scale" +
        (s.causal ? ", binary add of the mask" : "") + " and softmax, each writing a new score tensor";
  } else {
    out.note =
        "nothing is fused across the softmax: oneDNN 2.6 has no fused attention. 'fused' is the shortest chain, QK^T "
        "matmul with the scale" +
        mask +
        " folded in, softmax in place, PV matmul (the score tensor still goes through "
        "memory); unfused: matmul, eltwise scale" +
        (s.causal ? ", mask add" : "") + ", softmax, matmul, each writing a new tensor";
  }
  return out;
}

}  // namespace detail
}  // namespace onednn
}  // namespace hwcal
