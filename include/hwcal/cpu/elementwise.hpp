#pragma once
// Elementwise ops (activations, add/mul/div with broadcast) and pure data
// movement (copy, transpose, concat) as vectorised Eigen array expressions,
// split across the calibration threads.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <unsupported/Eigen/SpecialFunctions>

#include <cmath>
#include <cstring>

namespace hwcal {
namespace cpu {

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

/// y = f(x) on n contiguous elements (y may alias x).
template <class T>
void unary_chunk(OpKind k, const T* xp, T* yp, i64 n) {
  ConstArrayMap<T> x(xp, n);
  ArrayMap<T> y(yp, n);
  const T zero(0), half(0.5), one(1), three(3), six(6);
  switch (k) {
    case OpKind::relu: y = x.max(zero); break;
    case OpKind::gelu: y = half * x * (one + (x * T(M_SQRT1_2)).erf()); break;
    case OpKind::silu: y = x * x.logistic(); break;
    case OpKind::sigmoid: y = x.logistic(); break;
    case OpKind::hardswish: y = x * ((x + three).max(zero).min(six) / six); break;
    case OpKind::hardsigmoid: y = (x + three).max(zero).min(six) / six; break;
    case OpKind::tanh: y = x.tanh(); break;
    case OpKind::copy: y = x; break;
    default: break;
  }
}

/// y[i] = a[i] op b[i % bcast] on [i0, i1) (bcast == 0: b has the full size).
template <class T>
void binary_range(OpKind k, const T* a, const T* b, i64 bcast, T* y, i64 i0, i64 i1) {
  if (bcast == 0) {
    ConstArrayMap<T> x(a + i0, i1 - i0), z(b + i0, i1 - i0);
    ArrayMap<T> out(y + i0, i1 - i0);
    if (k == OpKind::add) out = x + z;
    else if (k == OpKind::mul) out = x * z;
    else out = x / z;
    return;
  }
  // Walk whole periods of the broadcast operand so the inner loop vectorises.
  i64 i = i0;
  while (i < i1) {
    const i64 j = i % bcast, len = std::min(bcast - j, i1 - i);
    ConstArrayMap<T> x(a + i, len), z(b + j, len);
    ArrayMap<T> out(y + i, len);
    if (k == OpKind::add) out = x + z;
    else if (k == OpKind::mul) out = x * z;
    else out = x / z;
    i += len;
  }
}

/// Chunks of [0, n) handed to threads stay a multiple of 64 elements so
/// neighbouring threads never share a cache line.
template <class F>
void parallel_chunks(int threads, i64 n, F&& f) {
  const i64 blocks = (n + 63) / 64;
  parallel_for(threads, blocks, [&](i64 b0, i64 b1) { f(b0 * 64, std::min(n, b1 * 64)); });
}

template <class T>
class ElementwiseKernel final : public Kernel {
 public:
  ElementwiseKernel(const OpDesc& op, Precision p, int threads)
      : kind_(op.kind), s_(std::get<ElementwiseShape>(op.shape)), p_(p), threads_(threads) {
    // Inputs away from 0 for div's denominator; activations see [-4, 4).
    a_ = random_buffer<T>(s_.elements, 21, -4, 4);
    if (s_.inputs == 2) b_ = random_buffer<T>(s_.broadcast > 0 ? s_.broadcast : s_.elements, 22, 0.5, 2);
    if (s_.inplace)
      pristine_ = a_;  // the result overwrites a_; prepare() restores it
    else
      y_ = Buffer<T>::Zero(s_.elements);
  }
  void run() override {
    T* y = s_.inplace ? a_.data() : y_.data();
    if (s_.inputs == 2) {
      parallel_chunks(threads_, s_.elements,
                      [&](i64 i0, i64 i1) { binary_range(kind_, a_.data(), b_.data(), s_.broadcast, y, i0, i1); });
    } else {
      parallel_chunks(threads_, s_.elements, [&](i64 i0, i64 i1) { unary_chunk(kind_, a_.data() + i0, y + i0, i1 - i0); });
    }
  }
  bool needs_prepare() const override { return s_.inplace; }
  void prepare() override {
    if (!s_.inplace) return;
    parallel_chunks(threads_, s_.elements, [&](i64 i0, i64 i1) {
      std::memcpy(a_.data() + i0, pristine_.data() + i0, sizeof(T) * static_cast<std::size_t>(i1 - i0));
    });
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 1);
    // Transcendentals are vectorised approximations (a few ulp): allow 8 ulp.
    reference::SampledCheck loose(p_, 64);
    const bool approx = kind_ == OpKind::gelu || kind_ == OpKind::silu || kind_ == OpKind::sigmoid || kind_ == OpKind::tanh;
    const Buffer<T>& in = s_.inplace ? pristine_ : a_;
    const Buffer<T>& out = s_.inplace ? a_ : y_;
    for (i64 i : sample_indices(s_.elements)) {
      const double b = s_.inputs == 2 ? hwcal::detail::as_double(b_[s_.broadcast > 0 ? i % s_.broadcast : i]) : 0.0;
      (approx ? loose : chk).add(hwcal::detail::as_double(out[i]), reference::elementwise(kind_, hwcal::detail::as_double(in[i]), b), "y", i);
    }
    return approx ? loose.result() : chk.result();
  }
  T* output() noexcept { return s_.inplace ? a_.data() : y_.data(); }

 private:
  OpKind kind_;
  ElementwiseShape s_;
  Precision p_;
  int threads_;
  Buffer<T> a_, b_, y_, pristine_;
};

/// Shape a bytes-sized tensor takes for copy/transpose/concat: a near-square
/// matrix of elements (transpose swaps its two dimensions).
inline void bytes_matrix(const BytesShape& s, int elem, i64& rows, i64& cols) {
  const i64 n = std::max<i64>(1, s.bytes / elem);
  cols = std::max<i64>(1, static_cast<i64>(std::sqrt(static_cast<double>(n))));
  rows = std::max<i64>(1, n / cols);
}

/// copy: y = x; transpose: y = x^T of the rows x cols matrix; concat: y = [x0; x1],
/// the two halves of x written one after the other.
template <class T>
class MoveKernel final : public Kernel {
 public:
  MoveKernel(const OpDesc& op, Precision p, int threads) : kind_(op.kind), p_(p), threads_(threads) {
    bytes_matrix(std::get<BytesShape>(op.shape), static_cast<int>(sizeof(T)), rows_, cols_);
    x_ = random_buffer<T>(rows_ * cols_, 31);
    x1_ = kind_ == OpKind::concat ? random_buffer<T>(rows_ * cols_ - rows_ * cols_ / 2, 32) : Buffer<T>();
    y_ = Buffer<T>::Zero(rows_ * cols_);
  }
  void run() override {
    const i64 n = rows_ * cols_;
    switch (kind_) {
      case OpKind::transpose: {
        // Blocks of 32 x 32 keep both sides in L1.
        constexpr i64 bs = 32;
        const i64 row_blocks = (rows_ + bs - 1) / bs;
        parallel_for(threads_, row_blocks, [&](i64 b0, i64 b1) {
          for (i64 rb = b0 * bs; rb < std::min(rows_, b1 * bs); rb += bs)
            for (i64 cb = 0; cb < cols_; cb += bs)
              for (i64 r = rb; r < std::min(rows_, rb + bs); ++r)
                for (i64 c = cb; c < std::min(cols_, cb + bs); ++c) y_[c * rows_ + r] = x_[r * cols_ + c];
        });
        break;
      }
      case OpKind::concat: {
        const i64 half = n / 2;
        parallel_chunks(threads_, n, [&](i64 i0, i64 i1) {
          if (i0 < half) std::memcpy(y_.data() + i0, x_.data() + i0, sizeof(T) * static_cast<std::size_t>(std::min(i1, half) - i0));
          if (i1 > half) {
            const i64 a = std::max(i0, half);
            std::memcpy(y_.data() + a, x1_.data() + (a - half), sizeof(T) * static_cast<std::size_t>(i1 - a));
          }
        });
        break;
      }
      default:
        parallel_chunks(threads_, n, [&](i64 i0, i64 i1) {
          std::memcpy(y_.data() + i0, x_.data() + i0, sizeof(T) * static_cast<std::size_t>(i1 - i0));
        });
    }
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 1);
    const i64 n = rows_ * cols_;
    for (i64 i : sample_indices(n)) {
      double want = 0;
      if (kind_ == OpKind::transpose) want = hwcal::detail::as_double(x_[(i % rows_) * cols_ + i / rows_]);
      else if (kind_ == OpKind::concat) want = hwcal::detail::as_double(i < n / 2 ? x_[i] : x1_[i - n / 2]);
      else want = hwcal::detail::as_double(x_[i]);
      chk.add(hwcal::detail::as_double(y_[i]), want, "y", i);
    }
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  OpKind kind_;
  Precision p_;
  int threads_;
  i64 rows_ = 0, cols_ = 0;
  Buffer<T> x_, x1_, y_;
};

}  // namespace cpu
}  // namespace hwcal
