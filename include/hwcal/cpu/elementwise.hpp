#pragma once
// ElementwiseKernel: every elementwise op kind (activations, clamps, add/mul/div
// with broadcast, silu_mul) as vectorised Eigen array expressions, split across
// the calibration threads, out of place or in place. Whether an op reads one
// input or two is the op table's `inputs`, never the shape's.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <unsupported/Eigen/SpecialFunctions>

#include <cmath>
#include <cstring>
#include <type_traits>

namespace hwcal {
namespace cpu {
namespace detail {

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
    case OpKind::relu6: y = x.max(zero).min(six); break;
    case OpKind::hardtanh: y = x.max(-one).min(one); break;
    case OpKind::clamp: y = x.max(T(reference::clamp_lo)).min(T(reference::clamp_hi)); break;
    case OpKind::neg: y = -x; break;
    case OpKind::exp:
      // Eigen's AVX-512 exp of doubles (pexp_double) trips GCC 12's
      // -Wuninitialized inside the intrinsics headers (a false positive that
      // -Werror turns into a failed build): doubles take the scalar libm call.
      if constexpr (std::is_same_v<T, double>) {
        for (i64 i = 0; i < n; ++i) yp[i] = std::exp(xp[i]);
      } else {
        y = x.exp();
      }
      break;
    case OpKind::square: y = x.square(); break;
    case OpKind::sqrt: y = x.sqrt(); break;
    case OpKind::rsqrt: y = x.rsqrt(); break;
    case OpKind::copy: y = x; break;
    default: break;
  }
}

/// y = a op b on equal-length maps.
template <class T>
void binary_span(OpKind k, const T* ap, const T* bp, T* yp, i64 n) {
  ConstArrayMap<T> a(ap, n), b(bp, n);
  ArrayMap<T> y(yp, n);
  switch (k) {
    case OpKind::add: y = a + b; break;
    case OpKind::mul: y = a * b; break;
    case OpKind::div: y = a / b; break;
    case OpKind::silu_mul: y = a * a.logistic() * b; break;
    default: break;
  }
}

/// y[i] = a[i] op b[i % bcast] on [i0, i1) (bcast == 0: b has the full size).
template <class T>
void binary_range(OpKind k, const T* a, const T* b, i64 bcast, T* y, i64 i0, i64 i1) {
  if (bcast == 0) {
    binary_span(k, a + i0, b + i0, y + i0, i1 - i0);
    return;
  }
  // Walk whole periods of the broadcast operand so the inner loop vectorises.
  for (i64 i = i0; i < i1;) {
    const i64 j = i % bcast, len = std::min(bcast - j, i1 - i);
    binary_span(k, a + i, b + j, y + i, len);
    i += len;
  }
}

}  // namespace detail

template <class T>
class ElementwiseKernel final : public Kernel {
 public:
  ElementwiseKernel(const OpDesc& op, Precision p, int threads)
      : kind_(op.kind),
        s_(std::get<ElementwiseShape>(op.shape)),
        p_(p),
        threads_(threads),
        binary_(info(op.kind).inputs == 2) {
    // Activations see [-8, 8), past every clamp bound; sqrt and rsqrt see
    // positive numbers; divisors stay away from 0.
    a_ = info(op.kind).positive_inputs ? random_buffer<T>(s_.elements, 21, 0.5, 2)
                                       : random_buffer<T>(s_.elements, 21, -8, 8);
    if (binary_) b_ = random_buffer<T>(s_.broadcast > 0 ? s_.broadcast : s_.elements, 22, 0.5, 2);
    if (s_.inplace)
      pristine_ = a_;  // the result overwrites a_; prepare() restores it
    else
      y_ = Buffer<T>::Zero(s_.elements);
  }
  void run() override {
    T* y = output();
    if (binary_) {
      parallel_chunks(threads_, s_.elements, [&](i64 i0, i64 i1) {
        detail::binary_range(kind_, a_.data(), b_.data(), s_.broadcast, y, i0, i1);
      });
    } else {
      parallel_chunks(threads_, s_.elements,
                      [&](i64 i0, i64 i1) { detail::unary_chunk(kind_, a_.data() + i0, y + i0, i1 - i0); });
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
    // Transcendentals are vectorised approximations (a few ulp): 8 ulp of slack.
    const bool approx = kind_ == OpKind::gelu || kind_ == OpKind::silu || kind_ == OpKind::sigmoid ||
                        kind_ == OpKind::tanh || kind_ == OpKind::silu_mul || kind_ == OpKind::exp ||
                        kind_ == OpKind::sqrt || kind_ == OpKind::rsqrt;
    reference::SampledCheck chk(p_, approx ? 64 : 1);
    const Buffer<T>& in = s_.inplace ? pristine_ : a_;
    const T* out = output();
    for (i64 i : sample_indices(s_.elements)) {
      const double b = binary_ ? hwcal::detail::as_double(b_[s_.broadcast > 0 ? i % s_.broadcast : i]) : 0.0;
      chk.add(hwcal::detail::as_double(out[i]), reference::elementwise(kind_, hwcal::detail::as_double(in[i]), b), "y",
              i);
    }
    return chk.result();
  }
  T* output() noexcept { return s_.inplace ? a_.data() : y_.data(); }

 private:
  OpKind kind_;
  ElementwiseShape s_;
  Precision p_;
  int threads_;
  bool binary_;
  Buffer<T> a_, b_, y_, pristine_;
};

}  // namespace cpu
}  // namespace hwcal
