#pragma once
// RotaryKernel: rotary position embedding of x [tokens][heads][head_dim] with
// cos/sin tables [tokens][head_dim], the rotate-half convention of HF LLaMA
// (reference::rotary_at): for the two halves x1, x2 of each head,
//   y1 = x1 cos1 - x2 sin1,  y2 = x2 cos2 + x1 sin2.
// One pass out of place; the (token, head) rows are split across threads in
// order, so the heads of a token reuse its table row while it is in cache.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <cmath>

namespace hwcal {
namespace cpu {
namespace detail {

/// cos and sin of positions 0..tokens-1 at LLaMA's frequencies (base 10000),
/// the first half of each row repeated in the second.
template <class T>
void rotary_tables(const RotaryShape& s, Buffer<T>& cos, Buffer<T>& sin) {
  const i64 d = s.head_dim, half = d / 2;
  cos.resize(s.tokens * d);
  sin.resize(s.tokens * d);
  for (i64 t = 0; t < s.tokens; ++t)
    for (i64 j = 0; j < half; ++j) {
      const double angle = double(t) * std::pow(10000.0, -2.0 * double(j) / double(d));
      cos[t * d + j] = cos[t * d + j + half] = T(std::cos(angle));
      sin[t * d + j] = sin[t * d + j + half] = T(std::sin(angle));
    }
}

/// One head: y = x * cos + rotate_half(x) * sin over 2 * half elements.
template <class T>
void rotary_row(const T* xp, const T* cp, const T* sp, T* yp, i64 half) {
  ConstArrayMap<T> x1(xp, half), x2(xp + half, half), c1(cp, half), c2(cp + half, half), s1(sp, half),
      s2(sp + half, half);
  ArrayMap<T> y1(yp, half), y2(yp + half, half);
  y1 = x1 * c1 - x2 * s1;
  y2 = x2 * c2 + x1 * s2;
}

}  // namespace detail

template <class T>
class RotaryKernel final : public Kernel {
 public:
  RotaryKernel(const OpDesc& op, Precision p, int threads)
      : s_(std::get<RotaryShape>(op.shape)), p_(p), threads_(threads) {
    x_ = random_buffer<T>(s_.tokens * s_.heads * s_.head_dim, 91);
    detail::rotary_tables(s_, cos_, sin_);
    y_ = Buffer<T>::Zero(x_.size());
  }
  void run() override {
    const i64 d = s_.head_dim;
    parallel_for(threads_, s_.tokens * s_.heads, [&](i64 r0, i64 r1) {
      for (i64 r = r0; r < r1; ++r) {
        const i64 t = r / s_.heads;
        detail::rotary_row(x_.data() + r * d, cos_.data() + t * d, sin_.data() + t * d, y_.data() + r * d, d / 2);
      }
    });
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 2);
    const i64 d = s_.head_dim;
    for (i64 i : sample_indices(y_.size())) {
      const i64 t = i / (s_.heads * d), h = i / d % s_.heads, j = i % d;
      chk.add(hwcal::detail::as_double(y_[i]), reference::rotary_at(x_.data(), cos_.data(), sin_.data(), s_, t, h, j),
              "y", i);
    }
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  RotaryShape s_;
  Precision p_;
  int threads_;
  Buffer<T> x_, cos_, sin_, y_;
};

}  // namespace cpu
}  // namespace hwcal
