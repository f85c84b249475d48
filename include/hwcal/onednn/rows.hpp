#pragma once
// RowsKernel: ops over the last dimension of a rows x cols tensor on oneDNN's
// primitives: layernorm (layer_normalization with scale and shift), softmax
// (softmax over axis 1) and reduce_mean (reduction_mean to [rows][1]).
// rmsnorm has no oneDNN 2.6 primitive and is refused with that reason.

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

inline md rows_md(const RowsShape& s, Precision p) { return md({s.rows, s.cols}, types_of(p).src, tag::ab); }

/// The one primitive a rows op runs.
inline dnnl::primitive_desc_base rows_pd(const Context& c, OpKind kind, const RowsShape& s, Precision p) {
  using flags = dnnl::normalization_flags;
  switch (kind) {
    case OpKind::layernorm:
      return dnnl::layer_normalization_forward::primitive_desc(
          {prop_kind::forward_inference, rows_md(s, p), norm_eps, flags::use_scale | flags::use_shift},
          user_scratchpad(), c.engine);
    case OpKind::softmax: return softmax_pd(c, rows_md(s, p), 1);
    case OpKind::reduce_mean:
      return dnnl::reduction::primitive_desc(
          {algorithm::reduction_mean, rows_md(s, p), md({s.rows, 1}, types_of(p).src, tag::ab), 0.f, 0.f},
          user_scratchpad(), c.engine);
    case OpKind::rmsnorm:
      throw UnavailableError(
          "oneDNN 2.6 has no RMS normalisation (its layer_normalization always subtracts the mean); hwcal runs no "
          "other library's kernel under the onednn name");
    default: throw UnavailableError("onednn: no primitive for " + std::string(to_string(kind)));
  }
}

}  // namespace detail

class RowsKernel final : public detail::ChainKernel {
 public:
  RowsKernel(const detail::Context& c, const OpDesc& op, Precision p) : ChainKernel(c) {
    using namespace detail;
    const OpKind kind = op.kind;
    const auto& s = std::get<RowsShape>(op.shape);
    const dnnl::primitive_desc_base pd = rows_pd(c, kind, s, p);
    Tensor x = make_activation(c, rows_md(s, p), tag::ab, 1);
    const dnnl::memory y = make_output(c, pd.dst_desc());
    Args args{{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}};
    Tensor gamma, beta;
    if (kind == OpKind::layernorm) {
      gamma = make_random(c, md({s.cols}, dt::f32, tag::x), tag::x, 2, 0.5, 1.5);
      beta = make_random(c, md({s.cols}, dt::f32, tag::x), tag::x, 3, -0.5, 0.5);
      args[DNNL_ARG_SCALE] = gamma.mem;
      args[DNNL_ARG_SHIFT] = beta.mem;
      // Inference computes the statistics internally; pass memories only if asked.
      for (int arg : {DNNL_ARG_MEAN, DNNL_ARG_VARIANCE})
        if (const md d = pd.query_md(dnnl::query::exec_arg_md, arg); !d.is_zero())
          args[arg] = dnnl::memory(d, c.engine);
    }
    add(pd, std::move(args));
    set_output(y, tag::ab,
               [kind, s, p, x = std::move(x.host), g = std::move(gamma.host),
                b = std::move(beta.host)](const std::vector<float>& out) {
                 reference::SampledCheck chk(p, s.cols);
                 std::vector<double> want(static_cast<std::size_t>(s.cols));
                 for (i64 row : sample_indices(s.rows)) {
                   const float* xr = x.data() + row * s.cols;
                   if (kind == OpKind::reduce_mean) {
                     chk.add(out[static_cast<std::size_t>(row)], reference::reduce_mean_row(xr, s.cols), "reduce_mean",
                             row);
                     continue;
                   }
                   if (kind == OpKind::layernorm)
                     reference::layernorm_row(xr, g.data(), b.data(), s.cols, norm_eps, want.data());
                   else
                     reference::softmax_row(xr, s.cols, want.data());
                   for (i64 j = 0; j < s.cols; ++j)
                     chk.add(out[static_cast<std::size_t>(row * s.cols + j)], want[static_cast<std::size_t>(j)],
                             to_string(kind).data(), row * s.cols + j);
                 }
                 return chk.result();
               });
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    return {detail::rows_pd(c, op.kind, std::get<RowsShape>(op.shape), p)};
  }
  static std::string realisation(const OpDesc&, Precision) { return {}; }
};

}  // namespace onednn
}  // namespace hwcal
