#pragma once
// EmbeddingKernel: token-embedding lookup, y[t] = table[indices[t]] for a
// [vocab][dim] table and int64 indices drawn uniformly from [0, vocab) (so
// the gathered rows are scattered over the whole table, as token ids are).
// Tokens are split across threads; each row is one contiguous copy.

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <cstring>

namespace hwcal {
namespace cpu {

template <class T>
class EmbeddingKernel final : public Kernel {
 public:
  EmbeddingKernel(const OpDesc& op, Precision p, int threads)
      : s_(std::get<EmbeddingShape>(op.shape)), p_(p), threads_(threads) {
    // Every page of the table written (an untouched page reads as the shared
    // zero page), by the threads, at the cost of a write: a 128k x 4096
    // vocabulary is 2^29 elements. Each row is a ramp plus an offset of its
    // own, so a wrong row or column gathered fails the check.
    table_.resize(s_.vocab * s_.dim);
    const Buffer<T> ramp = Buffer<T>::LinSpaced(s_.dim, T(0), T(1));
    parallel_for(threads_, s_.vocab, [&](i64 r0, i64 r1) {
      hwcal::detail::Rng rng(101 + static_cast<std::uint64_t>(r0));
      for (i64 r = r0; r < r1; ++r) ArrayMap<T>(table_.data() + r * s_.dim, s_.dim) = ramp + T(rng.uniform());
    });
    indices_.resize(s_.tokens);
    hwcal::detail::Rng rng(102);
    for (i64 t = 0; t < s_.tokens; ++t) indices_[t] = rng.below(s_.vocab);
    y_ = Buffer<T>::Zero(s_.tokens * s_.dim);
  }
  void run() override {
    const i64 d = s_.dim;
    parallel_for(threads_, s_.tokens, [&](i64 t0, i64 t1) {
      for (i64 t = t0; t < t1; ++t)
        std::memcpy(y_.data() + t * d, table_.data() + indices_[t] * d, sizeof(T) * static_cast<std::size_t>(d));
    });
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, 1);
    for (i64 i : sample_indices(y_.size()))
      chk.add(hwcal::detail::as_double(y_[i]),
              hwcal::detail::as_double(table_[indices_[i / s_.dim] * s_.dim + i % s_.dim]), "y", i);
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  EmbeddingShape s_;
  Precision p_;
  int threads_;
  Buffer<T> table_, y_;
  Buffer<i64> indices_;
};

}  // namespace cpu
}  // namespace hwcal
