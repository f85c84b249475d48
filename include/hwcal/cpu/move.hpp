#pragma once
// MoveKernel: pure data movement on the one geometry every backend uses
// (reference::move_geometry): copy y = x, transpose y[c][r] = x[r][c] of the
// rows x cols matrix, permute of [rows][blocks][run] to [blocks][rows][run]
// (runs copied whole), concat y = [x0; x1; ...] with input i parts[i] rows.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <algorithm>
#include <cstring>
#include <vector>

namespace hwcal {
namespace cpu {

template <class T>
class MoveKernel final : public Kernel {
 public:
  MoveKernel(const OpDesc& op, Precision p, int threads)
      : kind_(op.kind), p_(p), threads_(threads), g_(reference::move_geometry(op, static_cast<int>(sizeof(T)))) {
    if (kind_ == OpKind::concat) {
      i64 begin = 0;
      for (std::size_t i = 0; i < g_.parts.size(); ++i) {
        parts_.push_back(random_buffer<T>(g_.parts[i] * g_.cols, 31 + static_cast<int>(i)));
        starts_.push_back(begin);
        begin += g_.parts[i] * g_.cols;
      }
      starts_.push_back(begin);
    } else {
      x_ = random_buffer<T>(g_.elements(), 31);
    }
    y_ = Buffer<T>::Zero(g_.elements());
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
      case OpKind::permute: {
        // output block j holds run j of every input row, in row order
        const i64 run = g_.run, blocks = cols / run;
        parallel_for(threads_, blocks, [&](i64 j0, i64 j1) {
          for (i64 j = j0; j < j1; ++j)
            for (i64 r = 0; r < rows; ++r)
              copy(x_.data() + r * cols + j * run, (j * rows + r) * run, (j * rows + r + 1) * run);
        });
        break;
      }
      case OpKind::concat: {
        // each thread's chunk of y, from whichever inputs it spans
        parallel_chunks(threads_, y_.size(), [&](i64 i0, i64 i1) {
          for (std::size_t p = 0; p < parts_.size(); ++p) {
            const i64 a = std::max(i0, starts_[p]), b = std::min(i1, starts_[p + 1]);
            if (a < b) copy(parts_[p].data() + (a - starts_[p]), a, b);
          }
        });
        break;
      }
      default: parallel_chunks(threads_, y_.size(), [&](i64 i0, i64 i1) { copy(x_.data() + i0, i0, i1); });
    }
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 1);
    for (i64 i : sample_indices(y_.size())) {
      T want;
      if (kind_ == OpKind::transpose || kind_ == OpKind::permute) {
        want = x_[reference::moved_from(g_, i)];
      } else if (kind_ == OpKind::concat) {
        const auto p =
            static_cast<std::size_t>(std::upper_bound(starts_.begin(), starts_.end(), i) - starts_.begin()) - 1;
        want = parts_[p][i - starts_[p]];
      } else {
        want = x_[i];
      }
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
  Buffer<T> x_, y_;
  std::vector<Buffer<T>> parts_;  ///< concat: the inputs
  std::vector<i64> starts_;       ///< concat: where each input starts in y, then y's size
};

}  // namespace cpu
}  // namespace hwcal
