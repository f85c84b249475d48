#pragma once
// Row-wise reductions over the last dimension: softmax (max, exp-sum, scale:
// three passes over a row while it is in cache) and mean.

#include <hwcal/cpu/elementwise.hpp>

namespace hwcal {
namespace cpu {

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
class RowsKernel final : public Kernel {
 public:
  RowsKernel(const OpDesc& op, Precision p, int threads)
      : kind_(op.kind), s_(std::get<RowsShape>(op.shape)), p_(p), threads_(threads) {
    x_ = random_buffer<T>(s_.rows * s_.cols, 71, -4, 4);
    y_ = Buffer<T>::Zero(kind_ == OpKind::reduce_mean ? s_.rows : s_.rows * s_.cols);
  }
  void run() override {
    parallel_for(threads_, s_.rows, [&](i64 r0, i64 r1) {
      for (i64 r = r0; r < r1; ++r) {
        if (kind_ == OpKind::reduce_mean)
          y_[r] = ConstArrayMap<T>(x_.data() + r * s_.cols, s_.cols).mean();
        else
          softmax_row(x_.data() + r * s_.cols, y_.data() + r * s_.cols, s_.cols);
      }
    });
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, std::max<i64>(64, s_.cols));
    std::vector<double> want(static_cast<std::size_t>(s_.cols));
    for (i64 r : sample_indices(s_.rows, 8)) {
      if (kind_ == OpKind::reduce_mean) {
        chk.add(hwcal::detail::as_double(y_[r]), reference::reduce_mean_row(x_.data() + r * s_.cols, s_.cols), "y", r);
        continue;
      }
      reference::softmax_row(x_.data() + r * s_.cols, s_.cols, want.data());
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
  Buffer<T> x_, y_;
};

}  // namespace cpu
}  // namespace hwcal
