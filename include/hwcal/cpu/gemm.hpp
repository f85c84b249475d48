#pragma once
// GemmKernel: batched matmul and linear (y = x W^T + b), templated on the
// scalar type and on the GEMM policy (cpu/common.hpp).

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

namespace hwcal {
namespace cpu {
namespace detail {

/// C[b] = A[b] * B[b] for every batch. Small batched products run one per
/// thread; large ones use the threaded GEMM one after the other.
template <class Gemm, class T>
void matmul_forward(const MatmulShape& s, const T* a, const T* b, T* c, int threads) {
  auto one = [&](i64 bi) {
    Gemm::gemm(false, s.m, s.n, s.k, a + bi * s.m * s.k, s.k, b + bi * s.k * s.n, s.n, false, c + bi * s.m * s.n, s.n);
  };
  const double per_product = 2.0 * double(s.m) * double(s.n) * double(s.k);
  if (threads > 1 && s.batch >= threads && per_product < 64e6) {
    typename Gemm::SerialScope serial(threads);
    parallel_for(threads, s.batch, [&](i64 b0, i64 b1) {
      for (i64 bi = b0; bi < b1; ++bi) one(bi);
    });
  } else {
    for (i64 bi = 0; bi < s.batch; ++bi) one(bi);
  }
}

/// y = x W^T (+ bias). With a bias the output is pre-filled with it and the
/// product accumulated on top, as PyTorch's addmm does: no extra pass.
template <class Gemm, class T>
void linear_forward(const MatmulShape& s, const T* x, const T* w, const T* bias, T* y, int threads) {
  if (bias) {
    parallel_for(Gemm::side_threads(threads), s.m, [&](i64 r0, i64 r1) {
      for (i64 r = r0; r < r1; ++r) std::copy(bias, bias + s.n, y + r * s.n);
    });
  }
  Gemm::gemm(true, s.m, s.n, s.k, x, s.k, w, s.k, bias != nullptr, y, s.n);
}

}  // namespace detail

/// matmul (one B per batch entry) and linear (one weight matrix for all rows).
template <class Gemm, class T>
class GemmKernel final : public Kernel {
 public:
  GemmKernel(const OpDesc& op, Precision p, int threads)
      : s_(std::get<MatmulShape>(op.shape)), p_(p), threads_(threads), linear_(op.kind == OpKind::linear) {
    if (linear_) {
      a_ = random_buffer<T>(s_.m * s_.k, 1);
      b_ = random_buffer<T>(s_.n * s_.k, 2);
      if (s_.bias) bias_ = random_buffer<T>(s_.n, 3);
      c_ = Buffer<T>::Zero(s_.m * s_.n);
    } else {
      a_ = random_buffer<T>(s_.batch * s_.m * s_.k, 1);
      b_ = random_buffer<T>(s_.batch * s_.k * s_.n, 2);
      c_ = Buffer<T>::Zero(s_.batch * s_.m * s_.n);
    }
  }
  void run() override {
    if (linear_)
      detail::linear_forward<Gemm>(s_, a_.data(), b_.data(), s_.bias ? bias_.data() : nullptr, c_.data(), threads_);
    else
      detail::matmul_forward<Gemm>(s_, a_.data(), b_.data(), c_.data(), threads_);
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, s_.k);
    const i64 mn = s_.m * s_.n;
    for (i64 idx : sample_indices(c_.size())) {
      const i64 bi = idx / mn, i = (idx % mn) / s_.n, j = idx % s_.n;
      const double want = linear_
                              ? reference::linear_at(a_.data(), b_.data(), s_.bias ? bias_.data() : nullptr, s_, i, j)
                              : reference::matmul_at(a_.data(), b_.data(), s_, bi, i, j);
      chk.add(hwcal::detail::as_double(c_[idx]), want, "C", idx);
    }
    return chk.result();
  }
  T* output() noexcept { return c_.data(); }

 private:
  MatmulShape s_;
  Precision p_;
  int threads_;
  bool linear_;
  Buffer<T> a_, b_, bias_, c_;
};

}  // namespace cpu
}  // namespace hwcal
