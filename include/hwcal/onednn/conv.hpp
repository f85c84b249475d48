#pragma once
// ConvKernel: 2-D convolution on oneDNN's convolution primitive. Source,
// weights and destination use format_tag::any, so the primitive picks the
// blocked layouts it runs fastest on; inputs are reordered into them once at
// make(), as inference engines do, and implementation() records the layouts.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/detail.hpp>

#include <string>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

inline tag conv_weights_tag(const Conv2dShape& s) { return s.groups == 1 ? tag::oihw : tag::goihw; }

inline dnnl::convolution_forward::primitive_desc conv_pd(const Context& c, const Conv2dShape& s, Precision p, bool bias,
                                                         const dnnl::post_ops& po = dnnl::post_ops()) {
  const Types t = types_of(p);
  const dims wei = s.groups == 1 ? dims{s.k, s.c, s.r, s.s} : dims{s.groups, s.k / s.groups, s.c / s.groups, s.r, s.s};
  // oneDNN counts dilation from 0; symmetric padding gives the floor output
  // size of ops.hpp, which oneDNN accepts.
  const dnnl::convolution_forward::desc d(
      prop_kind::forward_inference, algorithm::convolution_direct, md({s.n, s.c, s.h, s.w}, t.src, tag::any),
      md(wei, t.wei, tag::any), bias ? md({s.k}, dt::f32, tag::x) : md(),
      md({s.n, s.k, s.out_h(), s.out_w()}, t.dst, tag::any), {s.stride_h, s.stride_w}, {s.dil_h - 1, s.dil_w - 1},
      {s.pad_h, s.pad_w}, {s.pad_h, s.pad_w});
  return {d, user_scratchpad(po), c.engine};
}

inline std::string conv_formats(const dnnl::convolution_forward::primitive_desc& pd) {
  return "(src " + format_of(pd.src_desc()) + ", weights " + format_of(pd.weights_desc()) + ", dst " +
         format_of(pd.dst_desc()) + ")";
}

/// Compares sampled NCHW outputs against post(conv(x, w) + b).
inline ChainKernel::Checker conv_checker(const Conv2dShape& s, Precision p, std::vector<float> x, std::vector<float> w,
                                         std::vector<float> b, Post post = {}) {
  return [s, p, x = std::move(x), w = std::move(w), b = std::move(b),
          post = std::move(post)](const std::vector<float>& out) {
    reference::SampledCheck chk(p, reduction_length(OpDesc{OpKind::conv2d, s}));
    const i64 oh = s.out_h(), ow = s.out_w();
    for (i64 idx : sample_indices(s.n * s.k * oh * ow)) {
      const i64 q = idx % ow, r = idx / ow % oh, k = idx / (ow * oh) % s.k, n = idx / (ow * oh * s.k);
      double want = reference::conv2d_at(x.data(), w.data(), b.empty() ? nullptr : b.data(), s, n, k, r, q);
      if (post) want = post(want, k);
      chk.add(out[static_cast<std::size_t>(idx)], want, "conv2d", idx);
    }
    return chk.result();
  };
}

/// The conv's inputs, made once for the pd that will run them.
struct ConvInputs {
  Tensor x, w, b;
  Args args;
};

inline ConvInputs make_conv_inputs(const Context& c, const dnnl::convolution_forward::primitive_desc& pd,
                                   const Conv2dShape& s, bool bias) {
  ConvInputs in;
  in.x = make_activation(c, pd.src_desc(), tag::nchw, 1);
  in.w = make_activation(c, pd.weights_desc(), conv_weights_tag(s), 2);
  in.args = {{DNNL_ARG_SRC, in.x.mem}, {DNNL_ARG_WEIGHTS, in.w.mem}};
  if (bias) {
    in.b = make_random(c, pd.bias_desc(), tag::x, 3);
    in.args[DNNL_ARG_BIAS] = in.b.mem;
  }
  return in;
}

}  // namespace detail

class ConvKernel final : public detail::ChainKernel {
 public:
  ConvKernel(const detail::Context& c, const OpDesc& op, Precision p) : ChainKernel(c) {
    using namespace detail;
    const auto& s = std::get<Conv2dShape>(op.shape);
    const auto pd = conv_pd(c, s, p, s.bias);
    ConvInputs in = make_conv_inputs(c, pd, s, s.bias);
    const dnnl::memory y = make_output(c, pd.dst_desc());
    in.args[DNNL_ARG_DST] = y;
    add(pd, std::move(in.args));
    describe(conv_formats(pd));
    set_output(y, tag::nchw, conv_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host)));
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    const auto& s = std::get<Conv2dShape>(op.shape);
    return {detail::conv_pd(c, s, p, s.bias)};
  }
  static std::string realisation(const OpDesc&, Precision) { return {}; }
};

}  // namespace onednn
}  // namespace hwcal
