#pragma once
// BatchNormKernel: inference batchnorm on oneDNN's batch_normalization
// primitive with given statistics, scale and shift, plain NCHW.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/detail.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

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

}  // namespace detail

class BatchNormKernel final : public detail::ChainKernel {
 public:
  BatchNormKernel(const detail::Context& c, const OpDesc& op, Precision p) : ChainKernel(c) {
    using namespace detail;
    const auto& s = std::get<MapShape>(op.shape);
    const auto pd = batchnorm_pd(c, data_md(s, p));
    Tensor x = make_activation(c, pd.src_desc(), tag::nchw, 1);
    auto bn = std::make_shared<BnParams>(make_bn_params(c, s.c));
    const dnnl::memory y = make_output(c, pd.dst_desc());
    Args args{{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}};
    bn->add_to(args);
    add(pd, std::move(args));
    set_output(y, tag::nchw, [s, p, bn, x = std::move(x.host)](const std::vector<float>& out) {
      reference::SampledCheck chk(p, 1);
      for (i64 idx : sample_indices(s.n * s.c * s.h * s.w))
        chk.add(out[static_cast<std::size_t>(idx)],
                bn->apply(x[static_cast<std::size_t>(idx)], idx / (s.h * s.w) % s.c), "batchnorm", idx);
      return chk.result();
    });
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    return {detail::batchnorm_pd(c, data_md(std::get<MapShape>(op.shape), p))};
  }
  static std::string realisation(const OpDesc&, Precision) { return {}; }

 private:
  static detail::md data_md(const MapShape& s, Precision p) {
    return detail::md({s.n, s.c, s.h, s.w}, detail::types_of(p).src, detail::tag::nchw);
  }
};

}  // namespace onednn
}  // namespace hwcal
