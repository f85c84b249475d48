#pragma once
// AttentionKernel: scaled dot-product attention,
// O = softmax(Q K^T / sqrt(d) [+ causal mask]) V, with Q and O [B][H][Sq][D]
// and K and V [B][KVH][Skv][D]; grouped-query attention when KVH < H (query
// head h reads KV head h / (H / KVH)).
//
// The G = H / KVH query heads that share a KV head are adjacent in Q and O, so
// their rows form one [G*Sq][D] block: a unit (one KV head of one batch entry)
// is one QK^T and one PV product with G*Sq rows that reads its K and V once;
// nothing is copied per query head. Two schedules, the difference the fusion
// table measures:
//   per head - QK^T, softmax and PV of one unit back to back, its score block
//              (G*Sq x Skv) staying in cache (the fused form). Decode steps
//              (a few queries against a long KV cache) with fewer units than
//              threads split each unit's keys into chunks instead (split-KV,
//              as flash-decoding does), so that every thread streams its share
//              of K and V; the chunks' partial softmax sums are combined last;
//   staged   - QK^T for all units into a materialised score tensor, then
//              softmax over all of it, then PV (the three-step chain).
// `stop_after_softmax` ends both after the softmax (the qkt_softmax pattern).

#include <hwcal/cpu/common.hpp>
#include <hwcal/cpu/rows.hpp>
#include <hwcal/kernel.hpp>

#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

namespace hwcal {
namespace cpu {

enum class AttentionSchedule { per_head, staged };

namespace detail {

/// How an attention is cut into products, and the scratch that needs.
struct AttentionPlan {
  /// Split-KV chunks hold at least this many keys: shorter ones cost more in
  /// per-product overhead and in the combine pass than they gain in threads.
  static constexpr i64 min_chunk = 256;

  AttentionShape s;
  AttentionSchedule sched;
  bool stop_after_softmax;
  int threads;
  i64 units, rows;        ///< KV heads over the batch; query rows per unit (G * Sq)
  i64 splits = 1, chunk;  ///< split-KV: key chunks per unit and their length (1: no split)

  AttentionPlan(const AttentionShape& shape, AttentionSchedule sc, bool stop, int th)
      : s(shape),
        sched(sc),
        stop_after_softmax(stop),
        threads(std::max(1, th)),
        units(shape.batch * shape.kv()),
        rows(shape.heads / shape.kv() * shape.seq_q),
        chunk(shape.seq_kv) {
    // A decode step is a few rows against a long cache: units that do not
    // share out evenly among the threads leave threads idle for the whole
    // stream of K and V. Splitting every unit into threads / gcd chunks makes
    // the work items a multiple of the threads.
    const bool decode = variant_of(OpDesc{OpKind::attention, s}) == Variant::decode;
    if (sched == AttentionSchedule::per_head && !stop && decode && units % threads != 0) {
      const i64 wanted = std::min<i64>(threads / std::gcd<i64>(units, threads), std::max<i64>(1, s.seq_kv / min_chunk));
      chunk = (s.seq_kv + wanted - 1) / wanted;
      splits = (s.seq_kv + chunk - 1) / chunk;
    }
  }
  i64 block() const noexcept { return rows * s.seq_kv; }
  /// Units in parallel (serial products) when there are enough of them; else
  /// one after the other, each product threaded.
  bool across_units() const noexcept { return threads > 1 && units >= threads; }
  /// Split-KV partial results of one (unit, chunk): rows x d outputs, then a
  /// running max and a sum per row.
  i64 partial() const noexcept { return rows * (s.head_dim + 2); }
  i64 scratch_elements() const noexcept {
    if (splits > 1) return units * splits * partial() + threads * rows * chunk;
    if (stop_after_softmax) return 1;  // the probabilities go straight to the output
    return sched == AttentionSchedule::staged ? units * block() : (across_units() ? threads : 1) * block();
  }
};

/// Softmax of score rows [row0, row1) of units whose rows are G blocks of Sq
/// queries (row r is query r % Sq), masked beyond the causal limit.
template <class T>
void scores_softmax(const AttentionShape& s, T* scores, i64 row0, i64 row1) {
  const T scale = T(1) / std::sqrt(T(s.head_dim));
  for (i64 r = row0; r < row1; ++r) {
    T* row = scores + r * s.seq_kv;
    const i64 limit = reference::visible_keys(s, r % s.seq_q);
    softmax_row(row, row, limit, scale);
    std::fill(row + limit, row + s.seq_kv, T(0));
  }
}

/// Split-KV: item (u, c) computes, for the rows of unit u against the keys of
/// chunk c, m = max(scores), l = sum exp(scores - m) and exp(scores - m) V;
/// the combine pass rescales every chunk to the rows' common max.
template <class Gemm, class T>
void split_kv_forward(const AttentionPlan& pl, const T* q, const T* k, const T* v, T* out, T* scratch) {
  const AttentionShape& s = pl.s;
  const i64 d = s.head_dim, rows = pl.rows, items = pl.units * pl.splits;
  const T scale = T(1) / std::sqrt(T(d)), none = -std::numeric_limits<T>::infinity();
  T* scores = scratch + items * pl.partial();  // rows x chunk per thread
  {
    typename Gemm::SerialScope serial(pl.threads);
    parallel_for(pl.threads, items, [&](i64 i0, i64 i1) {
      T* sc = scores + thread_index() * rows * pl.chunk;
      for (i64 it = i0; it < i1; ++it) {
        const i64 u = it / pl.splits, j0 = it % pl.splits * pl.chunk, len = std::min(pl.chunk, s.seq_kv - j0);
        T* o = scratch + it * pl.partial();
        T* ml = o + rows * d;
        Gemm::gemm(true, rows, len, d, q + u * rows * d, d, k + (u * s.seq_kv + j0) * d, d, false, sc, len);
        for (i64 r = 0; r < rows; ++r) {
          T* row = sc + r * len;
          const i64 lim = std::clamp<i64>(reference::visible_keys(s, r % s.seq_q) - j0, 0, len);
          T m = none, l = 0;
          if (lim > 0) {
            ArrayMap<T> x(row, lim);
            m = x.maxCoeff() * scale;
            x = (x * scale - m).exp();
            l = x.sum();
          }
          std::fill(row + lim, row + len, T(0));
          ml[2 * r] = m;
          ml[2 * r + 1] = l;
        }
        Gemm::gemm(false, rows, d, len, sc, len, v + (u * s.seq_kv + j0) * d, d, false, o, d);
      }
    });
  }
  parallel_for(pl.threads, pl.units * rows, [&](i64 r0, i64 r1) {
    for (i64 ur = r0; ur < r1; ++ur) {
      const i64 u = ur / rows, r = ur % rows;
      auto partial = [&](i64 c) { return scratch + (u * pl.splits + c) * pl.partial(); };
      auto max_of = [&](i64 c) { return partial(c)[rows * d + 2 * r]; };
      T m = none;
      for (i64 c = 0; c < pl.splits; ++c) m = std::max(m, max_of(c));
      ArrayMap<T> y(out + ur * d, d);
      y.setZero();
      T l = 0;
      for (i64 c = 0; c < pl.splits; ++c) {
        if (max_of(c) == none) continue;  // every key of the chunk masked
        const T w = std::exp(max_of(c) - m);
        y += w * ConstArrayMap<T>(partial(c) + r * d, d);
        l += w * partial(c)[rows * d + 2 * r + 1];
      }
      y /= l;
    }
  });
}

/// With stop_after_softmax the probabilities are written to `out`
/// ([B][H][Sq][Skv]) instead of computing PV.
template <class Gemm, class T>
void attention_forward(const AttentionPlan& pl, const T* q, const T* k, const T* v, T* out, T* scratch) {
  if (pl.splits > 1) {
    split_kv_forward<Gemm>(pl, q, k, v, out, scratch);
    return;
  }
  const AttentionShape& s = pl.s;
  const i64 d = s.head_dim, rows = pl.rows, skv = s.seq_kv, block = pl.block();
  const int threads = pl.threads;
  auto qk = [&](i64 u, T* sc) {
    Gemm::gemm(true, rows, skv, d, q + u * rows * d, d, k + u * skv * d, d, false, sc, skv);
  };
  auto pv = [&](i64 u, const T* sc) {
    Gemm::gemm(false, rows, d, skv, sc, skv, v + u * skv * d, d, false, out + u * rows * d, d);
  };
  auto for_units = [&](auto&& body) {
    if (pl.across_units()) {
      typename Gemm::SerialScope serial(threads);
      parallel_for(threads, pl.units, [&](i64 u0, i64 u1) {
        const int t = thread_index();
        for (i64 u = u0; u < u1; ++u) body(u, t, false);
      });
    } else {
      for (i64 u = 0; u < pl.units; ++u) body(u, 0, true);
    }
  };
  if (pl.sched == AttentionSchedule::per_head) {
    for_units([&](i64 u, int t, bool threaded) {
      T* sc = pl.stop_after_softmax ? out + u * block : scratch + t * block;
      qk(u, sc);
      if (threaded)
        parallel_for(threads, rows, [&](i64 r0, i64 r1) { scores_softmax(s, sc, r0, r1); });
      else
        scores_softmax(s, sc, 0, rows);
      if (!pl.stop_after_softmax) pv(u, sc);
    });
    return;
  }
  T* all = pl.stop_after_softmax ? out : scratch;
  for_units([&](i64 u, int, bool) { qk(u, all + u * block); });
  // Rows of the whole [units * rows] score tensor: row r is query r % Sq.
  parallel_for(threads, pl.units * rows, [&](i64 r0, i64 r1) { scores_softmax(s, all, r0, r1); });
  if (!pl.stop_after_softmax) for_units([&](i64 u, int, bool) { pv(u, all + u * block); });
}

}  // namespace detail

template <class Gemm, class T>
class AttentionKernel final : public Kernel {
 public:
  AttentionKernel(const OpDesc& op, Precision p, int threads, AttentionSchedule sched = AttentionSchedule::per_head,
                  bool stop_after_softmax = false)
      : plan_(std::get<AttentionShape>(op.shape), sched, stop_after_softmax, threads), p_(p) {
    const AttentionShape& s = plan_.s;
    const i64 q_rows = s.batch * s.heads * s.seq_q, kv_rows = s.batch * s.kv() * s.seq_kv;
    q_ = random_buffer<T>(q_rows * s.head_dim, 81);
    k_ = random_buffer<T>(kv_rows * s.head_dim, 82);
    v_ = random_buffer<T>(kv_rows * s.head_dim, 83);
    o_ = Buffer<T>::Zero(q_rows * (stop_after_softmax ? s.seq_kv : s.head_dim));
    scratch_ = Buffer<T>::Zero(plan_.scratch_elements());
  }
  void run() override {
    detail::attention_forward<Gemm>(plan_, q_.data(), k_.data(), v_.data(), o_.data(), scratch_.data());
  }
  CheckResult check() override {
    const AttentionShape& s = plan_.s;
    reference::SampledCheck chk(p_, std::max(s.head_dim, s.seq_kv));
    const i64 width = plan_.stop_after_softmax ? s.seq_kv : s.head_dim;
    std::vector<double> want(static_cast<std::size_t>(width));
    for (i64 row : sample_indices(s.batch * s.heads * s.seq_q, 8)) {
      const i64 b = row / (s.heads * s.seq_q), h = row / s.seq_q % s.heads, i = row % s.seq_q;
      if (plan_.stop_after_softmax)
        reference::attention_probabilities_row(q_.data(), k_.data(), s, b, h, i, want.data());
      else
        reference::attention_row(q_.data(), k_.data(), v_.data(), s, b, h, i, want.data());
      for (i64 j : sample_indices(width, 8))
        chk.add(hwcal::detail::as_double(o_[row * width + j]), want[static_cast<std::size_t>(j)], "out",
                row * width + j);
    }
    return chk.result();
  }
  std::string implementation() const override {
    return plan_.splits > 1 ? "split-KV: " + std::to_string(plan_.splits) + " chunks of " +
                                  std::to_string(plan_.chunk) + " keys per KV head"
                            : std::string();
  }
  T* output() noexcept { return o_.data(); }

 private:
  detail::AttentionPlan plan_;
  Precision p_;
  Buffer<T> q_, k_, v_, o_, scratch_;
};

}  // namespace cpu
}  // namespace hwcal
