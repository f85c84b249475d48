#pragma once
// BatchNormKernel: inference batchnorm on an NCHW map, the per-channel scale
// and shift computed from the running statistics on every call (as frameworks
// do), then one vectorised pass per plane.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <cmath>

namespace hwcal {
namespace cpu {
namespace detail {

/// Running statistics and affine parameters of an inference batchnorm.
template <class T>
struct BatchNormParams {
  Buffer<T> mean, var, gamma, beta;
  explicit BatchNormParams(i64 c = 0)
      : mean(random_buffer<T>(c, 51, -0.5, 0.5)),
        var(random_buffer<T>(c, 52, 0.5, 2)),
        gamma(random_buffer<T>(c, 53, 0.5, 1.5)),
        beta(random_buffer<T>(c, 54, -0.5, 0.5)) {}
  /// y = x * scale + shift per channel.
  void fold(Buffer<T>& scale, Buffer<T>& shift) const {
    scale = gamma / (var + T(norm_eps)).sqrt();
    shift = beta - mean * scale;
  }
  /// The reference of channel c applied to v.
  double apply(double v, i64 c) const {
    using hwcal::detail::as_double;
    return (v - as_double(mean[c])) / std::sqrt(as_double(var[c]) + norm_eps) * as_double(gamma[c]) +
           as_double(beta[c]);
  }
};

template <class T>
void scale_shift(const T* x, T* y, i64 len, T scale, T shift) {
  ConstArrayMap<T> in(x, len);
  ArrayMap<T> out(y, len);
  out = in * scale + shift;
}

/// y = x * scale[c] + shift[c] over the planes of an NCHW map (y may alias x).
template <class T>
void batchnorm_planes(const MapShape& s, const T* x, T* y, const Buffer<T>& scale, const Buffer<T>& shift,
                      int threads) {
  const i64 hw = s.h * s.w;
  parallel_for(threads, s.n * s.c, [&](i64 p0, i64 p1) {
    for (i64 p = p0; p < p1; ++p) scale_shift(x + p * hw, y + p * hw, hw, scale[p % s.c], shift[p % s.c]);
  });
}

}  // namespace detail

template <class T>
class BatchNormKernel final : public Kernel {
 public:
  BatchNormKernel(const OpDesc& op, Precision p, int threads)
      : s_(std::get<MapShape>(op.shape)), p_(p), threads_(threads), params_(s_.c) {
    x_ = random_buffer<T>(s_.n * s_.c * s_.h * s_.w, 55);
    y_ = Buffer<T>::Zero(x_.size());
  }
  void run() override {
    params_.fold(scale_, shift_);
    detail::batchnorm_planes(s_, x_.data(), y_.data(), scale_, shift_, threads_);
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 4);
    for (i64 i : sample_indices(y_.size()))
      chk.add(hwcal::detail::as_double(y_[i]),
              reference::batchnorm_at(x_.data(), params_.mean.data(), params_.var.data(), params_.gamma.data(),
                                      params_.beta.data(), norm_eps, s_, i),
              "y", i);
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  MapShape s_;
  Precision p_;
  int threads_;
  detail::BatchNormParams<T> params_;
  Buffer<T> x_, y_, scale_, shift_;
};

}  // namespace cpu
}  // namespace hwcal
