#pragma once
// The oneDNN realisation of every hwcal op. Each family has a *_pd function
// that only creates primitive descriptors (supports() asks oneDNN through it
// what it would run, cheaply) and a make_* function that prepares the kernel.
//
// Layouts: conv src/weights/dst and linear weights use format_tag::any, so the
// primitive picks the blocked layout it runs fastest on; inputs are reordered
// into it once at make(), as inference engines do. Everything else is plain
// (NCHW activations, row-major matrices, [B][H][S][D] attention tensors).

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <cmath>
#include <hwcal/onednn/detail.hpp>
#include <limits>
#include <variant>

namespace hwcal {
namespace onednn {
namespace detail {

using dnnl::algorithm;
using dnnl::prop_kind;

/// Input value range of a data type: [-1, 1) for floats; small integers for
/// int8 so that products and sums stay exact.
inline std::pair<double, double> value_range(dt t) {
  if (t == dt::u8) return {0, 32};
  if (t == dt::s8) return {-16, 16};
  return {-1, 1};
}

inline Tensor make_activation(const Context& c, const md& target, tag host_tag, std::uint64_t seed) {
  const auto [lo, hi] = value_range(target.data_type());
  return make_random(c, target, host_tag, seed, lo, hi);
}

/// Applied by checkers to the reference value of output channel `ch` (fused
/// activations, folded batchnorm); empty for none.
using Post = std::function<double(double value, i64 ch)>;

// ---------------------------------------------------------------- conv2d

inline tag conv_weights_tag(const Conv2dShape& s) { return s.groups == 1 ? tag::oihw : tag::goihw; }

inline dnnl::convolution_forward::primitive_desc conv_pd(const Context& c, const Conv2dShape& s, Precision p, bool bias,
                                                         const dnnl::post_ops& po = dnnl::post_ops()) {
  const Types t = types_of(p);
  const dims wei = s.groups == 1 ? dims{s.k, s.c, s.r, s.s} : dims{s.groups, s.k / s.groups, s.c / s.groups, s.r, s.s};
  // oneDNN counts dilation from 0; symmetric padding gives the floor output
  // size of ops.hpp, which oneDNN accepts.
  const dnnl::convolution_forward::desc d(
      prop_kind::forward_inference, algorithm::convolution_direct, md({s.n, s.c, s.h, s.w}, t.src, tag::any),
      md(wei, t.wei, tag::any), bias ? md({s.k}, dt::f32, tag::x) : md(), md({s.n, s.k, s.out_h(), s.out_w()}, t.dst, tag::any),
      {s.stride_h, s.stride_w}, {s.dil_h - 1, s.dil_w - 1}, {s.pad_h, s.pad_w}, {s.pad_h, s.pad_w});
  return {d, user_scratchpad(po), c.engine};
}

inline std::string conv_formats(const dnnl::convolution_forward::primitive_desc& pd) {
  return "(src " + format_of(pd.src_desc()) + ", weights " + format_of(pd.weights_desc()) + ", dst " + format_of(pd.dst_desc()) +
         ")";
}

/// Compares sampled NCHW outputs against post(conv(x, w) + b).
inline ChainKernel::Checker conv_checker(const Conv2dShape& s, Precision p, std::vector<float> x, std::vector<float> w,
                                         std::vector<float> b, Post post = {}) {
  return [s, p, x = std::move(x), w = std::move(w), b = std::move(b), post = std::move(post)](const std::vector<float>& out) {
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

inline ConvInputs make_conv_inputs(const Context& c, const dnnl::convolution_forward::primitive_desc& pd, const Conv2dShape& s,
                                   bool bias) {
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

inline std::unique_ptr<ChainKernel> make_conv2d(const Context& c, const Conv2dShape& s, Precision p) {
  const auto pd = conv_pd(c, s, p, s.bias);
  auto k = std::make_unique<ChainKernel>(c);
  ConvInputs in = make_conv_inputs(c, pd, s, s.bias);
  const dnnl::memory y = make_output(c, pd.dst_desc());
  in.args[DNNL_ARG_DST] = y;
  k->add(pd, std::move(in.args));
  k->describe(conv_formats(pd));
  k->set_output(y, tag::nchw, conv_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host)));
  return k;
}

// ---------------------------------------------------------------- matmul, linear

inline dnnl::matmul::primitive_desc matmul_pd(const Context& c, const MatmulShape& s, Precision p) {
  const Types t = types_of(p);
  const dnnl::matmul::desc d(md({s.batch, s.m, s.k}, t.src, tag::abc), md({s.batch, s.k, s.n}, t.wei, tag::abc),
                             s.bias ? md({1, 1, s.n}, dt::f32, tag::abc) : md(), md({s.batch, s.m, s.n}, t.dst, tag::abc));
  return {d, user_scratchpad(), c.engine};
}

inline std::unique_ptr<ChainKernel> make_matmul(const Context& c, const MatmulShape& s, Precision p) {
  const auto pd = matmul_pd(c, s, p);
  auto k = std::make_unique<ChainKernel>(c);
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
  k->add(pd, std::move(args));
  k->set_output(y, tag::abc,
                [s, p, a = std::move(a.host), b = std::move(b.host), bias = std::move(bias.host)](const std::vector<float>& out) {
                  reference::SampledCheck chk(p, s.k);
                  for (i64 idx : sample_indices(s.batch * s.m * s.n)) {
                    const i64 j = idx % s.n, i = idx / s.n % s.m, bi = idx / (s.n * s.m);
                    const double want = reference::matmul_at(a.data(), b.data(), s, bi, i, j) +
                                        (bias.empty() ? 0.0 : bias[static_cast<std::size_t>(j)]);
                    chk.add(out[static_cast<std::size_t>(idx)], want, "matmul", idx);
                  }
                  return chk.result();
                });
  return k;
}

/// A linear layer's rows: batch x m rows share the one weight matrix.
inline MatmulShape linear_rows(const MatmulShape& s) {
  MatmulShape r = s;
  r.m = s.batch * s.m;
  r.batch = 1;
  return r;
}

/// y = x W^T (+ b) as an inner product, the primitive oneDNN runs linear
/// layers with; weights in the layout it picks.
inline dnnl::inner_product_forward::primitive_desc linear_pd(const Context& c, const MatmulShape& shape, Precision p, bool bias,
                                                             const dnnl::post_ops& po = dnnl::post_ops()) {
  const MatmulShape s = linear_rows(shape);
  const Types t = types_of(p);
  const dnnl::inner_product_forward::desc d(prop_kind::forward_inference, md({s.m, s.k}, t.src, tag::nc),
                                            md({s.n, s.k}, t.wei, tag::any), bias ? md({s.n}, dt::f32, tag::x) : md(),
                                            md({s.m, s.n}, t.dst, tag::nc));
  return {d, user_scratchpad(po), c.engine};
}

inline ChainKernel::Checker linear_checker(const MatmulShape& shape, Precision p, std::vector<float> x, std::vector<float> w,
                                           std::vector<float> b, Post post = {}) {
  const MatmulShape s = linear_rows(shape);
  return [s, p, x = std::move(x), w = std::move(w), b = std::move(b), post = std::move(post)](const std::vector<float>& out) {
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

inline std::unique_ptr<ChainKernel> make_linear(const Context& c, const MatmulShape& s, Precision p) {
  const auto pd = linear_pd(c, s, p, s.bias);
  auto k = std::make_unique<ChainKernel>(c);
  LinearInputs in = make_linear_inputs(c, pd, s);
  const dnnl::memory y = make_output(c, pd.dst_desc());
  Args args{{DNNL_ARG_SRC, in.x.mem}, {DNNL_ARG_WEIGHTS, in.w.mem}, {DNNL_ARG_DST, y}};
  if (s.bias) args[DNNL_ARG_BIAS] = in.b.mem;
  k->add(pd, std::move(args));
  k->describe("(weights " + format_of(pd.weights_desc()) + ")");
  if (!s.bias) in.b.host.clear();  // the checker adds no bias then
  k->set_output(y, tag::nc, linear_checker(s, p, std::move(in.x.host), std::move(in.w.host), std::move(in.b.host)));
  return k;
}

// ---------------------------------------------------------------- pooling

inline dnnl::pooling_forward::primitive_desc pool_pd(const Context& c, const Pool2dShape& s, algorithm alg, Precision p) {
  const dt t = types_of(p).src;
  const dnnl::pooling_forward::desc d(prop_kind::forward_inference, alg, md({s.n, s.c, s.h, s.w}, t, tag::nchw),
                                      md({s.n, s.c, s.out_h(), s.out_w()}, t, tag::nchw), {s.stride_h, s.stride_w}, {s.r, s.s},
                                      {s.pad_h, s.pad_w}, {s.pad_h, s.pad_w});
  return {d, user_scratchpad(), c.engine};
}

/// One dimension of PyTorch's adaptive bins [floor(i*in/out), ceil((i+1)*in/out))
/// as a fixed window and step; false when the bins differ in size or step.
inline bool uniform_bins(i64 in, i64 out, i64& window, i64& step) {
  auto begin = [&](i64 i) { return i * in / out; };
  auto end = [&](i64 i) { return ((i + 1) * in + out - 1) / out; };
  window = end(0) - begin(0);
  step = out > 1 ? begin(1) - begin(0) : 1;
  if (step < 1) return false;
  for (i64 i = 0; i < out; ++i)
    if (end(i) - begin(i) != window || begin(i) != i * step) return false;
  return true;
}

/// adaptive_avgpool as a plain average pooling where PyTorch's bins are uniform
/// (divisible sizes, global pooling, and a few others such as 7 -> 2).
inline Pool2dShape adaptive_as_pool(const AdaptivePoolShape& s) {
  Pool2dShape q;
  q.n = s.n;
  q.c = s.c;
  q.h = s.h;
  q.w = s.w;
  if (!uniform_bins(s.h, s.out_h, q.r, q.stride_h) || !uniform_bins(s.w, s.out_w, q.s, q.stride_w))
    throw UnavailableError("onednn: adaptive_avgpool " + std::to_string(s.h) + "x" + std::to_string(s.w) + " -> " +
                           std::to_string(s.out_h) + "x" + std::to_string(s.out_w) +
                           " has PyTorch bins of different sizes or steps; oneDNN pooling has one window and stride");
  return q;
}

inline std::unique_ptr<ChainKernel> make_pool(const Context& c, const OpDesc& op, Precision p) {
  const bool adaptive = op.kind == OpKind::adaptive_avgpool;
  const Pool2dShape s = adaptive ? adaptive_as_pool(std::get<AdaptivePoolShape>(op.shape)) : std::get<Pool2dShape>(op.shape);
  // avgpool counts padding in the divisor (PyTorch's count_include_pad);
  // adaptive windows have no padding, so either average is the same.
  const algorithm alg = op.kind == OpKind::maxpool ? algorithm::pooling_max : algorithm::pooling_avg_include_padding;
  const auto pd = pool_pd(c, s, alg, p);
  auto k = std::make_unique<ChainKernel>(c);
  Tensor x = make_activation(c, pd.src_desc(), tag::nchw, 1);
  const dnnl::memory y = make_output(c, pd.dst_desc());
  k->add(pd, {{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}});
  k->set_output(y, tag::nchw, [op, s, p, x = std::move(x.host)](const std::vector<float>& out) {
    reference::SampledCheck chk(p, reduction_length(op));
    const i64 oh = s.out_h(), ow = s.out_w();
    for (i64 idx : sample_indices(s.n * s.c * oh * ow)) {
      const i64 q = idx % ow, r = idx / ow % oh, ch = idx / (ow * oh) % s.c, n = idx / (ow * oh * s.c);
      double want = 0;
      if (op.kind == OpKind::maxpool)
        want = reference::maxpool_at(x.data(), s, n, ch, r, q);
      else if (op.kind == OpKind::avgpool)
        want = reference::avgpool_at(x.data(), s, n, ch, r, q);
      else
        want = reference::adaptive_avgpool_at(x.data(), std::get<AdaptivePoolShape>(op.shape), n, ch, r, q);
      chk.add(out[static_cast<std::size_t>(idx)], want, to_string(op.kind).data(), idx);
    }
    return chk.result();
  });
  return k;
}

// ---------------------------------------------------------------- normalisation, softmax, reduction

inline constexpr float norm_eps = 1e-5f;

/// Inference batchnorm with given statistics, scale and shift (all f32) on
/// activations of any layout (plain NCHW here, the conv's blocked one in conv_bn).
inline dnnl::batch_normalization_forward::primitive_desc batchnorm_pd(const Context& c, const md& data) {
  using flags = dnnl::normalization_flags;
  const dnnl::batch_normalization_forward::desc d(prop_kind::forward_inference, data, norm_eps,
                                                  flags::use_global_stats | flags::use_scale | flags::use_shift);
  return {d, user_scratchpad(), c.engine};
}

/// Per-channel batchnorm parameters: mean, var (positive), gamma, beta.
struct BnParams {
  Tensor mean, var, gamma, beta;
  /// The reference: (v - mean) / sqrt(var + eps) * gamma + beta.
  double apply(double v, i64 ch) const {
    const auto i = static_cast<std::size_t>(ch);
    return (v - mean.host[i]) / std::sqrt(double(var.host[i]) + norm_eps) * gamma.host[i] + beta.host[i];
  }
  void add_to(Args& args) const {
    args[DNNL_ARG_MEAN] = mean.mem;
    args[DNNL_ARG_VARIANCE] = var.mem;
    args[DNNL_ARG_SCALE] = gamma.mem;
    args[DNNL_ARG_SHIFT] = beta.mem;
  }
};

inline BnParams make_bn_params(const Context& c, i64 channels) {
  const md d({channels}, dt::f32, tag::x);
  return {make_random(c, d, tag::x, 11, -0.5, 0.5), make_random(c, d, tag::x, 12, 0.5, 1.5),
          make_random(c, d, tag::x, 13, 0.5, 1.5), make_random(c, d, tag::x, 14, -0.5, 0.5)};
}

inline std::unique_ptr<ChainKernel> make_batchnorm(const Context& c, const MapShape& s, Precision p) {
  const auto pd = batchnorm_pd(c, md({s.n, s.c, s.h, s.w}, types_of(p).src, tag::nchw));
  auto k = std::make_unique<ChainKernel>(c);
  Tensor x = make_activation(c, pd.src_desc(), tag::nchw, 1);
  auto bn = std::make_shared<BnParams>(make_bn_params(c, s.c));
  const dnnl::memory y = make_output(c, pd.dst_desc());
  Args args{{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}};
  bn->add_to(args);
  k->add(pd, std::move(args));
  k->set_output(y, tag::nchw, [s, p, bn, x = std::move(x.host)](const std::vector<float>& out) {
    reference::SampledCheck chk(p, 1);
    for (i64 idx : sample_indices(s.n * s.c * s.h * s.w))
      chk.add(out[static_cast<std::size_t>(idx)], bn->apply(x[static_cast<std::size_t>(idx)], idx / (s.h * s.w) % s.c),
              "batchnorm", idx);
    return chk.result();
  });
  return k;
}

inline md rows_md(const RowsShape& s, Precision p) { return md({s.rows, s.cols}, types_of(p).src, tag::ab); }

inline dnnl::layer_normalization_forward::primitive_desc layernorm_pd(const Context& c, const RowsShape& s, Precision p) {
  using flags = dnnl::normalization_flags;
  const dnnl::layer_normalization_forward::desc d(prop_kind::forward_inference, rows_md(s, p), norm_eps,
                                                  flags::use_scale | flags::use_shift);
  return {d, user_scratchpad(), c.engine};
}

inline dnnl::softmax_forward::primitive_desc softmax_pd(const Context& c, const md& data, int axis) {
  return {dnnl::softmax_forward::desc(prop_kind::forward_inference, data, axis), user_scratchpad(), c.engine};
}

inline dnnl::reduction::primitive_desc reduce_mean_pd(const Context& c, const RowsShape& s, Precision p) {
  const dnnl::reduction::desc d(algorithm::reduction_mean, rows_md(s, p), md({s.rows, 1}, types_of(p).src, tag::ab), 0.f, 0.f);
  return {d, user_scratchpad(), c.engine};
}

/// layernorm, softmax and reduce_mean: checked a row at a time.
inline std::unique_ptr<ChainKernel> make_rows(const Context& c, OpKind kind, const RowsShape& s, Precision p) {
  auto k = std::make_unique<ChainKernel>(c);
  Tensor x = make_activation(c, rows_md(s, p), tag::ab, 1);
  Tensor gamma, beta;
  dnnl::memory y;
  if (kind == OpKind::layernorm) {
    const auto pd = layernorm_pd(c, s, p);
    gamma = make_random(c, md({s.cols}, dt::f32, tag::x), tag::x, 2, 0.5, 1.5);
    beta = make_random(c, md({s.cols}, dt::f32, tag::x), tag::x, 3, -0.5, 0.5);
    y = make_output(c, pd.dst_desc());
    Args args{{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}, {DNNL_ARG_SCALE, gamma.mem}, {DNNL_ARG_SHIFT, beta.mem}};
    // Inference computes the statistics internally; pass memories only if asked.
    if (!pd.mean_desc().is_zero()) args[DNNL_ARG_MEAN] = dnnl::memory(pd.mean_desc(), c.engine);
    if (!pd.variance_desc().is_zero()) args[DNNL_ARG_VARIANCE] = dnnl::memory(pd.variance_desc(), c.engine);
    k->add(pd, std::move(args));
  } else if (kind == OpKind::softmax) {
    const auto pd = softmax_pd(c, rows_md(s, p), 1);
    y = make_output(c, pd.dst_desc());
    k->add(pd, {{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}});
  } else {
    const auto pd = reduce_mean_pd(c, s, p);
    y = make_output(c, pd.dst_desc());
    k->add(pd, {{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}});
  }
  k->set_output(
      y, tag::ab,
      [kind, s, p, x = std::move(x.host), g = std::move(gamma.host), b = std::move(beta.host)](const std::vector<float>& out) {
        reference::SampledCheck chk(p, s.cols);
        std::vector<double> want(static_cast<std::size_t>(s.cols));
        for (i64 row : sample_indices(s.rows)) {
          const float* xr = x.data() + row * s.cols;
          if (kind == OpKind::reduce_mean) {
            chk.add(out[static_cast<std::size_t>(row)], reference::reduce_mean_row(xr, s.cols), "reduce_mean", row);
            continue;
          }
          if (kind == OpKind::layernorm)
            reference::layernorm_row(xr, g.data(), b.data(), s.cols, norm_eps, want.data());
          else
            reference::softmax_row(xr, s.cols, want.data());
          for (i64 j = 0; j < s.cols; ++j)
            chk.add(out[static_cast<std::size_t>(row * s.cols + j)], want[static_cast<std::size_t>(j)], to_string(kind).data(),
                    row * s.cols + j);
        }
        return chk.result();
      });
  return k;
}

// ---------------------------------------------------------------- elementwise

/// oneDNN's eltwise algorithm for a unary op; false for hardsigmoid, which
/// oneDNN 2.6 lacks.
inline bool eltwise_alg(OpKind kind, algorithm& alg, float& alpha) {
  alpha = 0;
  switch (kind) {
    case OpKind::relu:
      alg = algorithm::eltwise_relu;
      return true;
    case OpKind::gelu:
      alg = algorithm::eltwise_gelu_erf;
      return true;
    case OpKind::silu:  // swish is x * sigmoid(alpha x)
      alg = algorithm::eltwise_swish;
      alpha = 1;
      return true;
    case OpKind::sigmoid:
      alg = algorithm::eltwise_logistic;
      return true;
    case OpKind::hardswish:
      alg = algorithm::eltwise_hardswish;
      return true;
    case OpKind::tanh:
      alg = algorithm::eltwise_tanh;
      return true;
    default:
      return false;
  }
}

inline dnnl::eltwise_forward::primitive_desc eltwise_pd(const Context& c, const md& data, algorithm alg, float alpha,
                                                        float beta) {
  return {dnnl::eltwise_forward::desc(prop_kind::forward_inference, alg, data, alpha, beta), user_scratchpad(), c.engine};
}

inline dnnl::binary::primitive_desc binary_pd(const Context& c, algorithm alg, const md& a, const md& b, const md& dst,
                                              const dnnl::post_ops& po = dnnl::post_ops()) {
  return {dnnl::binary::desc(alg, a, b, dst), user_scratchpad(po), c.engine};
}

/// hardsigmoid(x) = clip(x + 3, 0, 6) / 6 in one pass: a binary add of the
/// scalar 3 with clip and linear post-ops (an eltwise primitive with an
/// eltwise post-op falls back to oneDNN's reference implementation).
inline dnnl::binary::primitive_desc hardsigmoid_pd(const Context& c, const md& data) {
  dnnl::post_ops po;
  po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
  po.append_eltwise(1.f, algorithm::eltwise_linear, 1.f / 6.f, 0.f);
  return binary_pd(c, algorithm::binary_add, data, md({1}, dt::f32, tag::a), data, po);
}

inline algorithm binary_alg(OpKind kind) {
  return kind == OpKind::add ? algorithm::binary_add : kind == OpKind::mul ? algorithm::binary_mul : algorithm::binary_div;
}

inline bool is_binary(OpKind kind) { return kind == OpKind::add || kind == OpKind::mul || kind == OpKind::div; }

/// Shapes of a two-input op: the output as [elements / b][b] and the second
/// input as [1][b] when broadcast, else both flat.
inline void binary_mds(const ElementwiseShape& s, dt t, md& a, md& b) {
  if (s.inputs == 2 && s.broadcast > 0 && s.broadcast < s.elements) {
    a = md({s.elements / s.broadcast, s.broadcast}, t, tag::ab);
    b = md({1, s.broadcast}, t, tag::ab);
  } else {
    a = md({s.elements}, t, tag::a);
    b = a;
  }
}

inline void check_arity(OpKind kind, const ElementwiseShape& s) {
  if (is_binary(kind) != (s.inputs == 2))
    throw UnavailableError("onednn: " + std::string(to_string(kind)) + " takes " +
                           (is_binary(kind) ? "two inputs" : "one input") + ", the shape has " + std::to_string(s.inputs));
}

inline std::unique_ptr<ChainKernel> make_elementwise(const Context& c, OpKind kind, const ElementwiseShape& s, Precision p) {
  check_arity(kind, s);
  const dt t = types_of(p).src;
  auto k = std::make_unique<ChainKernel>(c);
  md a_md, b_md;
  binary_mds(s, t, a_md, b_md);
  // Wide enough to cover every piece of hardswish/hardsigmoid; divisors kept away from 0.
  Tensor a = make_random(c, a_md, a_md.dims().size() == 1 ? tag::a : tag::ab, 1, -4, 4);
  Tensor b;
  const dnnl::memory y = make_output(c, a_md);
  algorithm alg{};
  float alpha = 0;
  if (is_binary(kind)) {
    b = make_random(c, b_md, b_md.dims().size() == 1 ? tag::a : tag::ab, 2, 0.5, 1.5);
    k->add(binary_pd(c, binary_alg(kind), a_md, b_md, a_md),
           {{DNNL_ARG_SRC_0, a.mem}, {DNNL_ARG_SRC_1, b.mem}, {DNNL_ARG_DST, y}});
  } else if (eltwise_alg(kind, alg, alpha)) {
    k->add(eltwise_pd(c, a_md, alg, alpha, 0.f), {{DNNL_ARG_SRC, a.mem}, {DNNL_ARG_DST, y}});
  } else {
    const Tensor three = make_input(c, md({1}, dt::f32, tag::a), tag::a, {3.f});
    k->add(hardsigmoid_pd(c, a_md), {{DNNL_ARG_SRC_0, a.mem}, {DNNL_ARG_SRC_1, three.mem}, {DNNL_ARG_DST, y}});
  }
  k->set_output(y, a_md.dims().size() == 1 ? tag::a : tag::ab,
                [kind, s, p, a = std::move(a.host), b = std::move(b.host)](const std::vector<float>& out) {
                  reference::SampledCheck chk(p, 1);
                  const i64 bn = b.empty() ? 1 : static_cast<i64>(b.size());
                  for (i64 i : sample_indices(s.elements)) {
                    const double bv = b.empty() ? 0.0 : b[static_cast<std::size_t>(i % bn)];
                    chk.add(out[static_cast<std::size_t>(i)], reference::elementwise(kind, a[static_cast<std::size_t>(i)], bv),
                            to_string(kind).data(), i);
                  }
                  return chk.result();
                });
  return k;
}

// ---------------------------------------------------------------- data movement

/// Elements of a data-movement op: bytes / element size (at least 1).
inline i64 moved_elements(const BytesShape& s, Precision p) { return std::max<i64>(1, s.bytes / element_bytes(p)); }

/// transpose moves an [r][c] matrix, r the largest divisor of the element
/// count not above its square root (square for even powers of two).
inline std::pair<i64, i64> transpose_dims(i64 n) {
  auto r = static_cast<i64>(std::sqrt(static_cast<double>(n)));
  while (r > 1 && n % r != 0) --r;
  return {r, n / r};
}

/// concat joins two halves of n/2 elements ([1][n/2] each) along dim 0 into
/// [2][n/2]: also what an NCHW channel concat is at batch 1. n rounds down to even.
inline i64 concat_half(i64 n) { return std::max<i64>(1, n / 2); }

inline std::vector<dnnl::primitive_desc_base> data_movement_pds(const Context& c, OpKind kind, const BytesShape& s, Precision p) {
  const dt t = storage_type(p);
  const i64 n = moved_elements(s, p);
  if (kind == OpKind::copy)
    return {dnnl::reorder::primitive_desc(c.engine, md({n}, t, tag::a), c.engine, md({n}, t, tag::a), user_scratchpad())};
  if (kind == OpKind::transpose) {
    const auto [r, cols] = transpose_dims(n);
    return {dnnl::reorder::primitive_desc(c.engine, md({r, cols}, t, tag::ab), c.engine, md({r, cols}, t, tag::ba),
                                          user_scratchpad())};
  }
  const i64 h = concat_half(n);
  return {dnnl::concat::primitive_desc(md({2, h}, t, tag::ab), 0, {md({1, h}, t, tag::ab), md({1, h}, t, tag::ab)}, c.engine,
                                       user_scratchpad())};
}

inline std::unique_ptr<ChainKernel> make_data_movement(const Context& c, OpKind kind, const BytesShape& s, Precision p) {
  const auto pd = data_movement_pds(c, kind, s, p).front();
  auto k = std::make_unique<ChainKernel>(c);
  const dt t = storage_type(p);
  const auto [lo, hi] = value_range(t);
  std::vector<float> want;  // what the output holds, in its physical order
  dnnl::memory y = make_output(c, pd.dst_desc());
  if (kind == OpKind::concat) {
    Tensor a = make_random(c, pd.src_desc(0), tag::ab, 1, lo, hi), b = make_random(c, pd.src_desc(1), tag::ab, 2, lo, hi);
    k->add(pd, {{DNNL_ARG_MULTIPLE_SRC, a.mem}, {DNNL_ARG_MULTIPLE_SRC + 1, b.mem}, {DNNL_ARG_DST, y}});
    want = std::move(a.host);
    want.insert(want.end(), b.host.begin(), b.host.end());
  } else {
    const md src = pd.src_desc();
    Tensor x = make_random(c, src, src.dims().size() == 1 ? tag::a : tag::ab, 1, lo, hi);
    k->add(pd, {{DNNL_ARG_FROM, x.mem}, {DNNL_ARG_TO, y}});
    want = std::move(x.host);
    if (kind == OpKind::transpose) {
      // Read the output as the [c][r] matrix it physically is.
      const i64 r = src.dims()[0], cols = src.dims()[1];
      std::vector<float> moved(want.size());
      for (i64 i = 0; i < r; ++i)
        for (i64 j = 0; j < cols; ++j) moved[static_cast<std::size_t>(j * r + i)] = want[static_cast<std::size_t>(i * cols + j)];
      want = std::move(moved);
      const dnnl::memory physical(md({cols, r}, t, tag::ab), c.engine, y.get_data_handle());
      k->keep(y);
      y = physical;
    }
  }
  k->set_output(y, y.get_desc().dims().size() == 1 ? tag::a : tag::ab,
                [kind, p, want = std::move(want)](const std::vector<float>& out) {
                  reference::SampledCheck chk(p, 1);
                  for (i64 i : sample_indices(static_cast<i64>(want.size())))
                    chk.add(out[static_cast<std::size_t>(i)], want[static_cast<std::size_t>(i)], to_string(kind).data(), i);
                  return chk.result();
                });
  return k;
}

}  // namespace detail
}  // namespace onednn
}  // namespace hwcal
