#pragma once
// PoolKernel: maxpool, avgpool (padding counted in the divisor, PyTorch's
// count_include_pad) and adaptive_avgpool on oneDNN's pooling primitive, plain
// NCHW. adaptive_avgpool runs as a plain average pooling where PyTorch's bins
// are uniform; oneDNN pooling has one window and stride, so other bins are
// unsupported.

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

inline dnnl::pooling_forward::primitive_desc pool_pd(const Context& c, const Pool2dShape& s, algorithm alg,
                                                     Precision p) {
  const dt t = types_of(p).src;
  const dnnl::pooling_forward::desc d(prop_kind::forward_inference, alg, md({s.n, s.c, s.h, s.w}, t, tag::nchw),
                                      md({s.n, s.c, s.out_h(), s.out_w()}, t, tag::nchw), {s.stride_h, s.stride_w},
                                      {s.r, s.s}, {s.pad_h, s.pad_w}, {s.pad_h, s.pad_w});
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

/// The pooling an op runs: its window (adaptive bins as a window) and algorithm.
inline Pool2dShape pool_window(const OpDesc& op) {
  return op.kind == OpKind::adaptive_avgpool ? adaptive_as_pool(std::get<AdaptivePoolShape>(op.shape))
                                             : std::get<Pool2dShape>(op.shape);
}

/// avgpool counts padding in the divisor; adaptive windows have no padding,
/// so either average is the same.
inline algorithm pool_alg(OpKind kind) {
  return kind == OpKind::maxpool ? algorithm::pooling_max : algorithm::pooling_avg_include_padding;
}

}  // namespace detail

class PoolKernel final : public detail::ChainKernel {
 public:
  PoolKernel(const detail::Context& c, const OpDesc& op, Precision p) : ChainKernel(c) {
    using namespace detail;
    const Pool2dShape s = pool_window(op);
    const auto pd = pool_pd(c, s, pool_alg(op.kind), p);
    Tensor x = make_activation(c, pd.src_desc(), tag::nchw, 1);
    const dnnl::memory y = make_output(c, pd.dst_desc());
    add(pd, {{DNNL_ARG_SRC, x.mem}, {DNNL_ARG_DST, y}});
    set_output(y, tag::nchw, [op, s, p, x = std::move(x.host)](const std::vector<float>& out) {
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
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    return {detail::pool_pd(c, detail::pool_window(op), detail::pool_alg(op.kind), p)};
  }
  static std::string realisation(const OpDesc& op, Precision) {
    if (op.kind != OpKind::adaptive_avgpool) return {};
    const Pool2dShape q = detail::pool_window(op);
    return "average pooling with PyTorch's (uniform) bins: window " + std::to_string(q.r) + "x" + std::to_string(q.s) +
           ", stride " + std::to_string(q.stride_h) + "x" + std::to_string(q.stride_w);
  }
};

}  // namespace onednn
}  // namespace hwcal
