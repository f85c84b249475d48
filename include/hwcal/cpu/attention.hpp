#pragma once
// Scaled dot-product attention, O = softmax(Q K^T / sqrt(d) [+ causal mask]) V,
// tensors [B][H][S][D]. Two schedules, the difference the fusion table
// measures:
//   per head  - QK^T, softmax and PV of one head back to back, its score
//               block (sq x skv) staying in cache (the fused form);
//   staged    - QK^T for all heads into a materialised score tensor, then
//               softmax over all of it, then PV (the three-step chain).
// `stop_after_softmax` ends both after the softmax (the qkt_softmax pattern).

#include <hwcal/cpu/softmax.hpp>

#include <cmath>

namespace hwcal {
namespace cpu {

/// Rows of head scores [sq][skv]: scaled softmax, masked beyond the causal limit.
template <class T>
void scores_softmax(const AttentionShape& s, T* scores, i64 row0, i64 row1) {
  const T scale = T(1) / std::sqrt(T(s.head_dim));
  for (i64 i = row0; i < row1; ++i) {
    T* row = scores + i * s.seq_kv;
    const i64 limit = s.causal ? std::min(s.seq_kv, i + 1 + (s.seq_kv - s.seq_q)) : s.seq_kv;
    softmax_row(row, row, limit, scale);
    std::fill(row + limit, row + s.seq_kv, T(0));
  }
}

enum class AttentionSchedule { per_head, staged };

/// Scratch elements the schedule needs: one score block per thread (per head)
/// or the whole score tensor (staged).
inline i64 attention_scratch_elements(const AttentionShape& s, AttentionSchedule sched, int threads) {
  const i64 block = s.seq_q * s.seq_kv;
  return sched == AttentionSchedule::staged ? block * s.batch * s.heads : block * std::max(1, threads);
}

/// With stop_after_softmax the probabilities are written to `out` ([B][H][sq][skv])
/// instead of computing PV.
template <class Gemm, class T>
void attention_forward(const AttentionShape& s, const T* q, const T* k, const T* v, T* out, T* scratch, int threads,
                       AttentionSchedule sched, bool stop_after_softmax = false) {
  const i64 bh = s.batch * s.heads, d = s.head_dim, block = s.seq_q * s.seq_kv;
  auto qk = [&](i64 h, T* sc) { Gemm::gemm(true, s.seq_q, s.seq_kv, d, q + h * s.seq_q * d, d, k + h * s.seq_kv * d, d, false, sc, s.seq_kv); };
  auto pv = [&](i64 h, const T* sc) { Gemm::gemm(false, s.seq_q, d, s.seq_kv, sc, s.seq_kv, v + h * s.seq_kv * d, d, false, out + h * s.seq_q * d, d); };
  // Heads in parallel (serial products) when there are enough of them.
  const bool across_heads = threads > 1 && bh >= threads;
  auto for_heads = [&](auto&& body) {
    if (across_heads) {
      typename Gemm::SerialScope serial(threads);
      parallel_for(threads, bh, [&](i64 h0, i64 h1) {
#if HWCAL_HAS_OPENMP
        const int t = omp_get_thread_num();
#else
        const int t = 0;
#endif
        for (i64 h = h0; h < h1; ++h) body(h, t, false);
      });
    } else {
      for (i64 h = 0; h < bh; ++h) body(h, 0, true);
    }
  };
  auto softmax_block = [&](T* sc, bool threaded) {
    if (threaded)
      parallel_for(threads, s.seq_q, [&](i64 r0, i64 r1) { scores_softmax(s, sc, r0, r1); });
    else
      scores_softmax(s, sc, 0, s.seq_q);
  };
  if (sched == AttentionSchedule::per_head) {
    for_heads([&](i64 h, int t, bool threaded) {
      T* sc = stop_after_softmax ? out + h * block : scratch + t * block;
      qk(h, sc);
      softmax_block(sc, threaded);
      if (!stop_after_softmax) pv(h, sc);
    });
    return;
  }
  T* all = stop_after_softmax ? out : scratch;
  for_heads([&](i64 h, int, bool) { qk(h, all + h * block); });
  parallel_for(threads, bh * s.seq_q, [&](i64 r0, i64 r1) {
    // Rows of the flattened [bh * sq] score tensor; each head's block is contiguous.
    for (i64 r = r0; r < r1;) {
      const i64 h = r / s.seq_q, i0 = r % s.seq_q, i1 = std::min(s.seq_q, i0 + (r1 - r));
      scores_softmax(s, all + h * block, i0, i1);
      r += i1 - i0;
    }
  });
  if (!stop_after_softmax) for_heads([&](i64 h, int, bool) { pv(h, all + h * block); });
}

template <class Gemm, class T>
class AttentionKernel final : public Kernel {
 public:
  AttentionKernel(const AttentionShape& s, Precision p, int threads, AttentionSchedule sched, bool stop_after_softmax)
      : s_(s), p_(p), threads_(threads), sched_(sched), stop_(stop_after_softmax) {
    const i64 bh = s_.batch * s_.heads;
    q_ = random_buffer<T>(bh * s_.seq_q * s_.head_dim, 81);
    k_ = random_buffer<T>(bh * s_.seq_kv * s_.head_dim, 82);
    v_ = random_buffer<T>(bh * s_.seq_kv * s_.head_dim, 83);
    o_ = Buffer<T>::Zero(stop_ ? bh * s_.seq_q * s_.seq_kv : bh * s_.seq_q * s_.head_dim);
    scratch_ = Buffer<T>::Zero(stop_ && sched_ == AttentionSchedule::staged ? 1 : attention_scratch_elements(s_, sched_, threads_));
  }
  void run() override {
    attention_forward<Gemm>(s_, q_.data(), k_.data(), v_.data(), o_.data(), scratch_.data(), threads_, sched_, stop_);
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, std::max(s_.head_dim, s_.seq_kv));
    const i64 rows = s_.batch * s_.heads * s_.seq_q, width = stop_ ? s_.seq_kv : s_.head_dim;
    std::vector<double> want(static_cast<std::size_t>(std::max(s_.head_dim, s_.seq_kv)));
    for (i64 row : sample_indices(rows, 8)) {
      const i64 h = row / s_.seq_q, i = row % s_.seq_q;
      if (stop_)
        probabilities_row(h, i, want.data());
      else
        reference::attention_row(q_.data(), k_.data(), v_.data(), s_, h / s_.heads, h % s_.heads, i, want.data());
      for (i64 j : sample_indices(width, 8))
        chk.add(hwcal::detail::as_double(o_[row * width + j]), want[static_cast<std::size_t>(j)], "out", row * width + j);
    }
    return chk.result();
  }
  T* output() noexcept { return o_.data(); }

 private:
  /// Reference softmax(QK^T/sqrt(d)) row, zero beyond the causal limit.
  void probabilities_row(i64 h, i64 i, double* out) const {
    const i64 d = s_.head_dim;
    const i64 limit = s_.causal ? std::min(s_.seq_kv, i + 1 + (s_.seq_kv - s_.seq_q)) : s_.seq_kv;
    std::vector<double> logits(static_cast<std::size_t>(limit));
    for (i64 j = 0; j < limit; ++j) {
      double acc = 0;
      for (i64 t = 0; t < d; ++t)
        acc += hwcal::detail::as_double(q_[(h * s_.seq_q + i) * d + t]) * hwcal::detail::as_double(k_[(h * s_.seq_kv + j) * d + t]);
      logits[static_cast<std::size_t>(j)] = acc / std::sqrt(double(d));
    }
    reference::softmax_row(logits.data(), limit, out);
    for (i64 j = limit; j < s_.seq_kv; ++j) out[j] = 0;
  }

  AttentionShape s_;
  Precision p_;
  int threads_;
  AttentionSchedule sched_;
  bool stop_;
  Buffer<T> q_, k_, v_, o_, scratch_;
};

}  // namespace cpu
}  // namespace hwcal
