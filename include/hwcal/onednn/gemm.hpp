#pragma once
// GemmKernel: matmul as oneDNN's (batched) matmul primitive, plain row-major
// tensors, and linear as its inner_product primitive (what oneDNN runs linear
// layers with), the weights in the layout it picks, reordered once at make().

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

inline dnnl::matmul::primitive_desc matmul_pd(const Context& c, const MatmulShape& s, Precision p) {
  const Types t = types_of(p);
  const dnnl::matmul::desc d(md({s.batch, s.m, s.k}, t.src, tag::abc), md({s.batch, s.k, s.n}, t.wei, tag::abc),
                             s.bias ? md({1, 1, s.n}, dt::f32, tag::abc) : md(),
                             md({s.batch, s.m, s.n}, t.dst, tag::abc));
  return {d, user_scratchpad(), c.engine};
}

/// y = x W^T (+ b) as an inner product, the primitive oneDNN runs linear
/// layers with; weights in the layout it picks.
inline dnnl::inner_product_forward::primitive_desc linear_pd(const Context& c, const MatmulShape& s, Precision p,
                                                             bool bias, const dnnl::post_ops& po = dnnl::post_ops()) {
  const Types t = types_of(p);
  const dnnl::inner_product_forward::desc d(prop_kind::forward_inference, md({s.m, s.k}, t.src, tag::nc),
                                            md({s.n, s.k}, t.wei, tag::any), bias ? md({s.n}, dt::f32, tag::x) : md(),
                                            md({s.m, s.n}, t.dst, tag::nc));
  return {d, user_scratchpad(po), c.engine};
}

inline ChainKernel::Checker linear_checker(const MatmulShape& s, Precision p, std::vector<float> x,
                                           std::vector<float> w, std::vector<float> b, Post post = {}) {
  return [s, p, x = std::move(x), w = std::move(w), b = std::move(b),
          post = std::move(post)](const std::vector<float>& out) {
    reference::SampledCheck chk(p, s.k);
    for (i64 idx : sample_indices(s.m * s.n)) {
      const i64 i = idx / s.n, j = idx % s.n;
      double want = reference::linear_at(x.data(), w.data(), b.empty() ? nullptr : b.data(), s, i, j);
      if (post) want = post(want, j);
      chk.add(out[static_cast<std::size_t>(idx)], want, "linear", idx);
    }
    return chk.result();
  };
}

struct LinearInputs {
  Tensor x, w, b;
};

/// Inputs of a linear layer; the bias is made whether or not `pd` reads it, so
/// fused and unfused kernels of a pattern see the same one.
inline LinearInputs make_linear_inputs(const Context& c, const dnnl::inner_product_forward::primitive_desc& pd,
                                       const MatmulShape& s) {
  LinearInputs in;
  in.x = make_activation(c, pd.src_desc(), tag::nc, 1);
  in.w = make_activation(c, pd.weights_desc(), tag::oi, 2);
  in.b = make_random(c, md({s.n}, dt::f32, tag::x), tag::x, 3);
  return in;
}

}  // namespace detail

class GemmKernel final : public detail::ChainKernel {
 public:
  GemmKernel(const detail::Context& c, const OpDesc& op, Precision p) : ChainKernel(c) {
    const auto& s = std::get<MatmulShape>(op.shape);
    if (op.kind == OpKind::linear)
      make_linear(c, s, p);
    else
      make_matmul(c, s, p);
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    const auto& s = std::get<MatmulShape>(op.shape);
    if (op.kind == OpKind::linear) return {detail::linear_pd(c, s, p, s.bias)};
    return {detail::matmul_pd(c, s, p)};
  }
  static std::string realisation(const OpDesc&, Precision) { return {}; }

 private:
  void make_matmul(const detail::Context& c, const MatmulShape& s, Precision p) {
    using namespace detail;
    const auto pd = matmul_pd(c, s, p);
    Tensor a = make_activation(c, pd.src_desc(), tag::abc, 1);
    Tensor b = make_activation(c, pd.weights_desc(), tag::abc, 2);
    Args args{{DNNL_ARG_SRC, a.mem}, {DNNL_ARG_WEIGHTS, b.mem}};
    Tensor bias;
    if (s.bias) {
      bias = make_random(c, pd.bias_desc(), tag::abc, 3);
      args[DNNL_ARG_BIAS] = bias.mem;
    }
    const dnnl::memory y = make_output(c, pd.dst_desc());
    args[DNNL_ARG_DST] = y;
    add(pd, std::move(args));
    set_output(y, tag::abc,
               [s, p, a = std::move(a.host), b = std::move(b.host),
                bias = std::move(bias.host)](const std::vector<float>& out) {
                 reference::SampledCheck chk(p, s.k);
                 for (i64 idx : sample_indices(s.batch * s.m * s.n)) {
                   const i64 j = idx % s.n, i = idx / s.n % s.m, bi = idx / (s.n * s.m);
                   const double want = reference::matmul_at(a.data(), b.data(), s, bi, i, j) +
                                       (bias.empty() ? 0.0 : bias[static_cast<std::size_t>(j)]);
                   chk.add(out[static_cast<std::size_t>(idx)], want, "matmul", idx);
                 }
                 return chk.result();
               });
  }
  void make_linear(const detail::Context& c, const MatmulShape& s, Precision p) {
    using namespace detail;
    const auto pd = linear_pd(c, s, p, s.bias);
    LinearInputs in = make_linear_inputs(c, pd, s);
    const dnnl::memory y = make_output(c, pd.dst_desc());
    Args args{{DNNL_ARG_SRC, in.x.mem}, {DNNL_ARG_WEIGHTS, in.w.mem}, {DNNL_ARG_DST, y}};
    if (s.bias) args[DNNL_ARG_BIAS] = in.b.mem;
    add(pd, std::move(args));
    describe("(weights " + format_of(pd.weights_desc()) + ")");
    if (!s.bias) in.b.host.clear();  // the checker adds no bias then
    set_output(y, tag::nc, linear_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host)));
  }
};

}  // namespace onednn
}  // namespace hwcal
