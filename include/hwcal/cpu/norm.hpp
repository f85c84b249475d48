#pragma once
// Normalisation: inference batchnorm (per-channel scale and shift computed
// from the running statistics on every call, as frameworks do) and layernorm
// over the last dimension (two passes over each row while it is in cache).

#include <hwcal/cpu/elementwise.hpp>

#include <cmath>

namespace hwcal {
namespace cpu {

inline constexpr double norm_eps = 1e-5;

/// Running statistics and affine parameters of an inference batchnorm.
template <class T>
struct BatchNormParams {
  Buffer<T> mean, var, gamma, beta;
  explicit BatchNormParams(i64 c = 0)
      : mean(random_buffer<T>(c, 51, -0.5, 0.5)), var(random_buffer<T>(c, 52, 0.5, 2)),
        gamma(random_buffer<T>(c, 53, 0.5, 1.5)), beta(random_buffer<T>(c, 54, -0.5, 0.5)) {}
  /// y = x * scale + shift per channel.
  void fold(Buffer<T>& scale, Buffer<T>& shift) const {
    scale = gamma / (var + T(norm_eps)).sqrt();
    shift = beta - mean * scale;
  }
};

template <class T>
void scale_shift(const T* x, T* y, i64 len, T scale, T shift) {
  ConstArrayMap<T> in(x, len);
  ArrayMap<T> out(y, len);
  out = in * scale + shift;
}

template <class T>
void layernorm_row(const T* xp, const T* gamma, const T* beta, T* yp, i64 cols) {
  ConstArrayMap<T> x(xp, cols), g(gamma, cols), b(beta, cols);
  ArrayMap<T> y(yp, cols);
  const T mean = x.mean();
  const T var = (x - mean).square().mean();
  const T inv = T(1) / std::sqrt(var + T(norm_eps));
  y = (x - mean) * inv * g + b;
}

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
    const i64 hw = s_.h * s_.w;
    parallel_for(threads_, s_.n * s_.c, [&](i64 p0, i64 p1) {
      for (i64 p = p0; p < p1; ++p) scale_shift(x_.data() + p * hw, y_.data() + p * hw, hw, scale_[p % s_.c], shift_[p % s_.c]);
    });
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
  BatchNormParams<T> params_;
  Buffer<T> x_, y_, scale_, shift_;
};

template <class T>
class LayerNormKernel final : public Kernel {
 public:
  LayerNormKernel(const OpDesc& op, Precision p, int threads) : s_(std::get<RowsShape>(op.shape)), p_(p), threads_(threads) {
    x_ = random_buffer<T>(s_.rows * s_.cols, 61);
    gamma_ = random_buffer<T>(s_.cols, 62, 0.5, 1.5);
    beta_ = random_buffer<T>(s_.cols, 63, -0.5, 0.5);
    y_ = Buffer<T>::Zero(x_.size());
  }
  void run() override {
    parallel_for(threads_, s_.rows, [&](i64 r0, i64 r1) {
      for (i64 r = r0; r < r1; ++r) layernorm_row(x_.data() + r * s_.cols, gamma_.data(), beta_.data(), y_.data() + r * s_.cols, s_.cols);
    });
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, s_.cols);
    std::vector<double> want(static_cast<std::size_t>(s_.cols));
    for (i64 r : sample_indices(s_.rows, 8)) {
      reference::layernorm_row(x_.data() + r * s_.cols, gamma_.data(), beta_.data(), s_.cols, norm_eps, want.data());
      for (i64 j : sample_indices(s_.cols, 8))
        chk.add(hwcal::detail::as_double(y_[r * s_.cols + j]), want[static_cast<std::size_t>(j)], "y", r * s_.cols + j);
    }
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  RowsShape s_;
  Precision p_;
  int threads_;
  Buffer<T> x_, gamma_, beta_, y_;
};

}  // namespace cpu
}  // namespace hwcal
