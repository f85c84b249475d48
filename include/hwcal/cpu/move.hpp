#pragma once
// MoveKernel: pure data movement on the one geometry every backend uses
// (reference::move_geometry): copy y = x, transpose y[c][r] = x[r][c] of the
// rows x cols matrix, concat y = [x0; x1] with x0 the first first_rows() rows.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <cstring>

namespace hwcal {
namespace cpu {

template <class T>
class MoveKernel final : public Kernel {
 public:
  MoveKernel(const OpDesc& op, Precision p, int threads)
      : kind_(op.kind),
        p_(p),
        threads_(threads),
        g_(reference::move_geometry(std::get<BytesShape>(op.shape).bytes, static_cast<int>(sizeof(T)))) {
    const i64 n = g_.elements(), n0 = kind_ == OpKind::concat ? g_.first_rows() * g_.cols : n;
    x_ = random_buffer<T>(n0, 31);
    if (kind_ == OpKind::concat) x1_ = random_buffer<T>(n - n0, 32);
    y_ = Buffer<T>::Zero(n);
  }
  void run() override {
    const i64 rows = g_.rows, cols = g_.cols;
    switch (kind_) {
      case OpKind::transpose: {
        // Blocks of 32 x 32 keep both sides in L1.
        constexpr i64 bs = 32;
        const i64 row_blocks = (rows + bs - 1) / bs;
        parallel_for(threads_, row_blocks, [&](i64 b0, i64 b1) {
          for (i64 rb = b0 * bs; rb < std::min(rows, b1 * bs); rb += bs)
            for (i64 cb = 0; cb < cols; cb += bs)
              for (i64 r = rb; r < std::min(rows, rb + bs); ++r)
                for (i64 c = cb; c < std::min(cols, cb + bs); ++c) y_[c * rows + r] = x_[r * cols + c];
        });
        break;
      }
      case OpKind::concat: {
        const i64 n0 = x_.size();
        parallel_chunks(threads_, y_.size(), [&](i64 i0, i64 i1) {
          if (i0 < n0) copy(x_.data() + i0, i0, std::min(i1, n0));
          if (i1 > n0) copy(x1_.data() + (std::max(i0, n0) - n0), std::max(i0, n0), i1);
        });
        break;
      }
      default: parallel_chunks(threads_, y_.size(), [&](i64 i0, i64 i1) { copy(x_.data() + i0, i0, i1); });
    }
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 1);
    const i64 n0 = x_.size();
    for (i64 i : sample_indices(y_.size())) {
      // transpose: i = c * rows + r holds x[r][c]
      const T want = kind_ == OpKind::transpose           ? x_[(i % g_.rows) * g_.cols + i / g_.rows]
                     : kind_ == OpKind::concat && i >= n0 ? x1_[i - n0]
                                                          : x_[i];
      chk.add(hwcal::detail::as_double(y_[i]), hwcal::detail::as_double(want), "y", i);
    }
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  /// y[i0, i1) = from[0, i1 - i0).
  void copy(const T* from, i64 i0, i64 i1) {
    std::memcpy(y_.data() + i0, from, sizeof(T) * static_cast<std::size_t>(i1 - i0));
  }

  OpKind kind_;
  Precision p_;
  int threads_;
  reference::MoveGeometry g_;
  Buffer<T> x_, x1_, y_;
};

}  // namespace cpu
}  // namespace hwcal
