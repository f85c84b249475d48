#pragma once
// ElementwiseKernel: every elementwise op kind as one oneDNN primitive, out of
// place: add, mul and div as binary (the second input broadcast as a [1][b]
// row); activations and the clamps as eltwise (relu6, hardtanh and clamp are
// clip_v2 with their bounds). hardsigmoid and silu_mul have no algorithm of
// their own in oneDNN 2.6: each is one binary primitive adding a scalar to x
// with post-ops (an eltwise primitive with post-ops runs only oneDNN's
// reference implementation). Whether an op reads one input or two is the op
// table's `inputs`.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/detail.hpp>

#include <sstream>
#include <string>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

/// oneDNN's eltwise algorithm and its alpha and beta for a one-input op;
/// false when oneDNN 2.6 has none.
inline bool eltwise_alg(OpKind kind, algorithm& alg, float& alpha, float& beta) {
  alpha = beta = 0;
  switch (kind) {
    case OpKind::relu: alg = algorithm::eltwise_relu; return true;
    case OpKind::gelu: alg = algorithm::eltwise_gelu_erf; return true;
    case OpKind::silu:  // swish is x * sigmoid(alpha x)
      alg = algorithm::eltwise_swish;
      alpha = 1;
      return true;
    case OpKind::sigmoid: alg = algorithm::eltwise_logistic; return true;
    case OpKind::hardswish: alg = algorithm::eltwise_hardswish; return true;
    case OpKind::tanh: alg = algorithm::eltwise_tanh; return true;
    case OpKind::relu6:
      alg = algorithm::eltwise_clip_v2;
      alpha = 0, beta = 6;
      return true;
    case OpKind::hardtanh:
      alg = algorithm::eltwise_clip_v2;
      alpha = -1, beta = 1;
      return true;
    case OpKind::clamp:
      alg = algorithm::eltwise_clip_v2;
      alpha = static_cast<float>(reference::clamp_lo), beta = static_cast<float>(reference::clamp_hi);
      return true;
    case OpKind::neg:  // linear is alpha x + beta
      alg = algorithm::eltwise_linear;
      alpha = -1;
      return true;
    case OpKind::exp: alg = algorithm::eltwise_exp; return true;
    case OpKind::square: alg = algorithm::eltwise_square; return true;
    case OpKind::sqrt: alg = algorithm::eltwise_sqrt; return true;
    case OpKind::rsqrt:  // pow is alpha x^beta
      alg = algorithm::eltwise_pow;
      alpha = 1, beta = -0.5F;
      return true;
    default: return false;
  }
}

/// Ops that run as a binary add of the scalar `shift` to x with post-ops:
/// hardsigmoid = linear(1/6) of clip(x + 3, 0, 6); silu_mul = swish(x + 0)
/// times b (a binary-mul post-op reading b). False for the rest.
inline bool scalar_binary(OpKind kind, const md& b, float& shift, dnnl::post_ops& po) {
  switch (kind) {
    case OpKind::hardsigmoid:
      shift = 3;
      po.append_eltwise(1.f, algorithm::eltwise_clip, 0.f, 6.f);
      po.append_eltwise(1.f, algorithm::eltwise_linear, 1.f / 6.f, 0.f);
      return true;
    case OpKind::silu_mul:
      shift = 0;
      po.append_eltwise(1.f, algorithm::eltwise_swish, 1.f, 0.f);
      po.append_binary(algorithm::binary_mul, b);
      return true;
    default: return false;
  }
}

inline md scalar_md() { return md({1}, dt::f32, tag::a); }

inline algorithm binary_alg(OpKind kind) {
  switch (kind) {
    case OpKind::add: return algorithm::binary_add;
    case OpKind::mul: return algorithm::binary_mul;
    case OpKind::div: return algorithm::binary_div;
    default: throw UnavailableError("onednn: no binary algorithm for " + std::string(to_string(kind)));
  }
}

/// Shapes of the inputs: the output as [elements / b][b] and the second input
/// as [1][b] when broadcast, else both flat.
inline void elementwise_mds(const ElementwiseShape& s, dt t, md& a, md& b) {
  if (s.broadcast > 0 && s.broadcast < s.elements) {
    a = md({s.elements / s.broadcast, s.broadcast}, t, tag::ab);
    b = md({1, s.broadcast}, t, tag::ab);
  } else {
    a = md({s.elements}, t, tag::a);
    b = a;
  }
}

inline tag plain_tag(const md& d) { return d.dims().size() == 1 ? tag::a : tag::ab; }

/// The one primitive an elementwise op runs.
inline dnnl::primitive_desc_base elementwise_pd(const Context& c, OpKind kind, const md& a, const md& b) {
  float shift = 0;
  dnnl::post_ops po;
  if (scalar_binary(kind, b, shift, po)) return binary_pd(c, algorithm::binary_add, a, scalar_md(), a, po);
  if (info(kind).inputs == 2) return binary_pd(c, binary_alg(kind), a, b, a);
  algorithm alg{};
  float alpha = 0, beta = 0;
  if (!eltwise_alg(kind, alg, alpha, beta))
    throw UnavailableError("onednn: oneDNN 2.6 has no eltwise algorithm for " + std::string(to_string(kind)));
  return eltwise_pd(c, a, alg, alpha, beta);
}

}  // namespace detail

class ElementwiseKernel final : public detail::ChainKernel {
 public:
  ElementwiseKernel(const detail::Context& c, const OpDesc& op, Precision p) : ChainKernel(c) {
    using namespace detail;
    const OpKind kind = op.kind;
    const auto& s = std::get<ElementwiseShape>(op.shape);
    const bool binary = info(kind).inputs == 2;
    md a_md, b_md;
    elementwise_mds(s, types_of(p).src, a_md, b_md);
    const auto pd = elementwise_pd(c, kind, a_md, b_md);
    // Past every clamp bound and every piece of hardswish/hardsigmoid (sqrt and
    // rsqrt: positive numbers); divisors away from 0.
    const bool positive = info(kind).positive_inputs;
    Tensor a = make_random(c, a_md, plain_tag(a_md), 1, positive ? 0.5 : -8, positive ? 2 : 8);
    Tensor b;
    if (binary) b = make_random(c, b_md, plain_tag(b_md), 2, 0.5, 1.5);
    const dnnl::memory y = make_output(c, a_md);
    Args args{{DNNL_ARG_DST, y}};
    float shift = 0;
    dnnl::post_ops po;
    if (scalar_binary(kind, b_md, shift, po)) {
      args[DNNL_ARG_SRC_0] = a.mem;
      args[DNNL_ARG_SRC_1] = make_input(c, scalar_md(), tag::a, {shift}).mem;
      if (binary) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1] = b.mem;
    } else if (binary) {
      args[DNNL_ARG_SRC_0] = a.mem;
      args[DNNL_ARG_SRC_1] = b.mem;
    } else {
      args[DNNL_ARG_SRC] = a.mem;
    }
    add(pd, std::move(args));
    set_output(y, plain_tag(a_md),
               [kind, s, p, a = std::move(a.host), b = std::move(b.host)](const std::vector<float>& out) {
                 reference::SampledCheck chk(p, 1);
                 const i64 bn = b.empty() ? 1 : static_cast<i64>(b.size());
                 for (i64 i : sample_indices(s.elements)) {
                   const double bv = b.empty() ? 0.0 : b[static_cast<std::size_t>(i % bn)];
                   chk.add(out[static_cast<std::size_t>(i)],
                           reference::elementwise(kind, a[static_cast<std::size_t>(i)], bv), to_string(kind).data(), i);
                 }
                 return chk.result();
               });
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    detail::md a, b;
    detail::elementwise_mds(std::get<ElementwiseShape>(op.shape), detail::types_of(p).src, a, b);
    return {detail::elementwise_pd(c, op.kind, a, b)};
  }
  static std::string realisation(const OpDesc& op, Precision) {
    switch (op.kind) {
      case OpKind::hardsigmoid:
        return "oneDNN 2.6 has no hardsigmoid: one binary primitive computes x + 3 with clip(0, 6) and linear(1/6) "
               "post-ops";
      case OpKind::silu_mul:
        return "oneDNN 2.6 has no silu_mul: one binary primitive computes a + 0 with a swish(1) eltwise post-op and a "
               "binary-mul post-op reading b";
      case OpKind::relu6:
      case OpKind::hardtanh:
      case OpKind::clamp: {
        detail::algorithm alg{};
        float lo = 0, hi = 0;
        detail::eltwise_alg(op.kind, alg, lo, hi);
        std::ostringstream os;
        os << "eltwise clip_v2 to [" << lo << ", " << hi << "]";
        return os.str();
      }
      default: return {};
    }
  }
};

}  // namespace onednn
}  // namespace hwcal
