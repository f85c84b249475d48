#pragma once
// PoolKernel: max and average pooling (NCHW, padding counted in the average as PyTorch's
// default) and adaptive average pooling with PyTorch's bin edges. Planes are
// independent, so threads split the N*C planes.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <limits>

namespace hwcal {
namespace cpu {
namespace detail {

template <class T>
void pool_plane(bool max, const Pool2dShape& s, const T* x, T* y) {
  const i64 oh_n = s.out_h(), ow_n = s.out_w();
  const T inv = T(1) / T(s.r * s.s);
  for (i64 oh = 0; oh < oh_n; ++oh) {
    const i64 h0 = oh * s.stride_h - s.pad_h;
    const i64 r0 = std::max<i64>(0, -h0), r1 = std::min<i64>(s.r, s.h - h0);
    T* yr = y + oh * ow_n;
    for (i64 ow = 0; ow < ow_n; ++ow) {
      const i64 w0 = ow * s.stride_w - s.pad_w;
      const i64 q0 = std::max<i64>(0, -w0), q1 = std::min<i64>(s.s, s.w - w0);
      T acc = max ? -std::numeric_limits<T>::infinity() : T(0);
      for (i64 r = r0; r < r1; ++r) {
        const T* xr = x + (h0 + r) * s.w + w0;
        for (i64 q = q0; q < q1; ++q) acc = max ? std::max(acc, xr[q]) : acc + xr[q];
      }
      yr[ow] = max ? acc : acc * inv;
    }
  }
}

template <class T>
void adaptive_avgpool_plane(const AdaptivePoolShape& s, const T* x, T* y) {
  for (i64 oh = 0; oh < s.out_h; ++oh) {
    const i64 h0 = oh * s.h / s.out_h, h1 = ((oh + 1) * s.h + s.out_h - 1) / s.out_h;
    for (i64 ow = 0; ow < s.out_w; ++ow) {
      const i64 w0 = ow * s.w / s.out_w, w1 = ((ow + 1) * s.w + s.out_w - 1) / s.out_w;
      T acc(0);
      for (i64 ih = h0; ih < h1; ++ih) {
        const T* xr = x + ih * s.w;
        for (i64 iw = w0; iw < w1; ++iw) acc += xr[iw];
      }
      y[oh * s.out_w + ow] = acc / T((h1 - h0) * (w1 - w0));
    }
  }
}

}  // namespace detail

template <class T>
class PoolKernel final : public Kernel {
 public:
  PoolKernel(const OpDesc& op, Precision p, int threads) : kind_(op.kind), shape_(op.shape), p_(p), threads_(threads) {
    i64 planes = 0, in = 0, out = 0;
    if (kind_ == OpKind::adaptive_avgpool) {
      const auto& s = std::get<AdaptivePoolShape>(shape_);
      planes = s.n * s.c, in = s.h * s.w, out = s.out_h * s.out_w;
    } else {
      const auto& s = std::get<Pool2dShape>(shape_);
      planes = s.n * s.c, in = s.h * s.w, out = s.out_h() * s.out_w();
    }
    planes_ = planes, in_ = in, out_ = out;
    x_ = random_buffer<T>(planes * in, 41);
    y_ = Buffer<T>::Zero(planes * out);
  }
  void run() override {
    parallel_for(threads_, planes_, [&](i64 p0, i64 p1) {
      for (i64 p = p0; p < p1; ++p) {
        if (kind_ == OpKind::adaptive_avgpool)
          detail::adaptive_avgpool_plane(std::get<AdaptivePoolShape>(shape_), x_.data() + p * in_,
                                         y_.data() + p * out_);
        else
          detail::pool_plane(kind_ == OpKind::maxpool, std::get<Pool2dShape>(shape_), x_.data() + p * in_,
                             y_.data() + p * out_);
      }
    });
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 64);
    for (i64 idx : sample_indices(y_.size())) {
      const i64 plane = idx / out_, o = idx % out_;
      double want = 0;
      if (kind_ == OpKind::adaptive_avgpool) {
        const auto& s = std::get<AdaptivePoolShape>(shape_);
        want = reference::adaptive_avgpool_at(x_.data(), s, plane / s.c, plane % s.c, o / s.out_w, o % s.out_w);
      } else {
        const auto& s = std::get<Pool2dShape>(shape_);
        want = kind_ == OpKind::maxpool
                   ? reference::maxpool_at(x_.data(), s, plane / s.c, plane % s.c, o / s.out_w(), o % s.out_w())
                   : reference::avgpool_at(x_.data(), s, plane / s.c, plane % s.c, o / s.out_w(), o % s.out_w());
      }
      chk.add(hwcal::detail::as_double(y_[idx]), want, "y", idx);
    }
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  OpKind kind_;
  Shape shape_;
  Precision p_;
  int threads_;
  i64 planes_ = 0, in_ = 0, out_ = 0;
  Buffer<T> x_, y_;
};

}  // namespace cpu
}  // namespace hwcal
