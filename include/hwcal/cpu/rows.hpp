#pragma once
// RowsKernel: ops over the last dimension of a rows x cols tensor, one row at
// a time while it is in cache, rows split across threads: layernorm (mean,
// variance, normalise: two passes), rmsnorm (mean square, scale: two passes),
// softmax (max, exp-sum, scale: three passes) and reduce_mean (one).

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <cmath>
#include <vector>

namespace hwcal {
namespace cpu {
namespace detail {

/// y = softmax(scale * x) over one row (y may alias x).
template <class T>
void softmax_row(const T* xp, T* yp, i64 cols, T scale = T(1)) {
  ConstArrayMap<T> x(xp, cols);
  ArrayMap<T> y(yp, cols);
  const T m = x.maxCoeff() * scale;
  y = (x * scale - m).exp();
  y *= T(1) / y.sum();
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
void rmsnorm_row(const T* xp, const T* gamma, T* yp, i64 cols) {
  ConstArrayMap<T> x(xp, cols), g(gamma, cols);
  ArrayMap<T> y(yp, cols);
  const T inv = T(1) / std::sqrt(x.square().mean() + T(norm_eps));
  y = x * inv * g;
}

}  // namespace detail

/// layernorm, rmsnorm, softmax and reduce_mean. Parameters per column (gamma,
/// beta) and whether a row reduces to one value come from the op table.
template <class T>
class RowsKernel final : public Kernel {
 public:
  RowsKernel(const OpDesc& op, Precision p, int threads)
      : kind_(op.kind), s_(std::get<RowsShape>(op.shape)), p_(p), threads_(threads) {
    const OpInfo& o = info(kind_);
    x_ = random_buffer<T>(s_.rows * s_.cols, 71, -4, 4);
    if (o.params_per_col >= 1) gamma_ = random_buffer<T>(s_.cols, 62, 0.5, 1.5);
    if (o.params_per_col >= 2) beta_ = random_buffer<T>(s_.cols, 63, -0.5, 0.5);
    y_ = Buffer<T>::Zero(o.reduces ? s_.rows : s_.rows * s_.cols);
  }
  void run() override {
    const i64 n = s_.cols;
    const T *x = x_.data(), *g = gamma_.data(), *b = beta_.data();
    T* y = y_.data();
    // The kind is decided once, outside the loop over rows.
    auto each_row = [&](auto&& row) {
      parallel_for(threads_, s_.rows, [&](i64 r0, i64 r1) {
        for (i64 r = r0; r < r1; ++r) row(r);
      });
    };
    switch (kind_) {
      case OpKind::layernorm: each_row([&](i64 r) { detail::layernorm_row(x + r * n, g, b, y + r * n, n); }); break;
      case OpKind::rmsnorm: each_row([&](i64 r) { detail::rmsnorm_row(x + r * n, g, y + r * n, n); }); break;
      case OpKind::softmax: each_row([&](i64 r) { detail::softmax_row(x + r * n, y + r * n, n); }); break;
      case OpKind::reduce_mean: each_row([&](i64 r) { y[r] = ConstArrayMap<T>(x + r * n, n).mean(); }); break;
      default: break;
    }
  }
  CheckResult check() override {
    // exp and rsqrt are vectorised approximations: at least 64 terms of slack.
    reference::SampledCheck chk(p_, std::max<i64>(64, s_.cols));
    std::vector<double> want(static_cast<std::size_t>(s_.cols));
    for (i64 r : sample_indices(s_.rows, 8)) {
      const T* xr = x_.data() + r * s_.cols;
      switch (kind_) {
        case OpKind::layernorm:
          reference::layernorm_row(xr, gamma_.data(), beta_.data(), s_.cols, norm_eps, want.data());
          break;
        case OpKind::rmsnorm: reference::rmsnorm_row(xr, gamma_.data(), s_.cols, norm_eps, want.data()); break;
        case OpKind::softmax: reference::softmax_row(xr, s_.cols, want.data()); break;
        case OpKind::reduce_mean: want[0] = reference::reduce_mean_row(xr, s_.cols); break;
        default: break;
      }
      if (info(kind_).reduces) {
        chk.add(hwcal::detail::as_double(y_[r]), want[0], "y", r);
        continue;
      }
      for (i64 j : sample_indices(s_.cols, 8))
        chk.add(hwcal::detail::as_double(y_[r * s_.cols + j]), want[static_cast<std::size_t>(j)], "y", r * s_.cols + j);
    }
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  OpKind kind_;
  RowsShape s_;
  Precision p_;
  int threads_;
  Buffer<T> x_, gamma_, beta_, y_;
};

}  // namespace cpu
}  // namespace hwcal
