#pragma once
// Row-wise kernels over the last dimension: softmax (with attention's causal
// mask), layernorm, rmsnorm and mean.
//
// Rows up to 4096 16-byte vectors (32768 bf16 elements) are read from memory
// once and kept in registers (launch::row_layout picks the layout): a group
// of 1 to 32 lanes (several rows per warp) holds a row of up to 256 vectors,
// a block one of up to 4096. Every statistic is then an exact two-pass computation over registers
// (layernorm: mean, then the variance around it) and the output is written
// from registers: one read and one write of the row, as PyTorch's persistent
// softmax and its vectorised layer norm. Longer rows stream from memory in
// each pass (a block per row).
//
// Rows whose length is a multiple of the vector width move 16-byte vectors;
// other lengths (197-token ViT softmax, 49-pixel means) move single elements
// with consecutive lanes on consecutive columns, in registers up to 32
// vectors' worth (256 bf16), streaming beyond.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

namespace hwcal {
namespace cuda {
namespace kernels {

using launch::row_layout;
using launch::RowLayout;

template <class T>
struct RowParams {
  const T* x;
  const T* gamma;  ///< layernorm, rmsnorm
  const T* beta;   ///< layernorm
  T* y;
  i64 rows, cols;
  acc_t<T> eps;
  i64 causal_q;  ///< softmax: > 0 applies attention's causal mask (launch.hpp)
};

/// Columns of `row` that take part (softmax with a causal mask sees fewer).
template <class T, OpKind Op>
__device__ __forceinline__ i64 row_limit(const RowParams<T>& p, i64 row) {
  if (Op != OpKind::softmax || p.causal_q <= 0) return p.cols;
  const i64 limit = row % p.causal_q + 1 + p.cols - p.causal_q;
  return limit < 0 ? 0 : (limit > p.cols ? p.cols : limit);
}

/// The statistics a row op needs, computed with a visitor over the row's
/// values (each call visits this thread's share; `reduce` combines threads).
/// Sets {shift, scale}: the output is (x - shift) * scale [* gamma + beta],
/// softmax exp(x - shift) * scale, mean shift.
template <class T, OpKind Op, class I, class Visit, class Reduce>
__device__ __forceinline__ void row_statistics(Visit visit, Reduce reduce, I cols, I limit, acc_t<T> eps,
                                               acc_t<T>& shift, acc_t<T>& scale) {
  using A = acc_t<T>;
  const A n = static_cast<A>(cols);
  if (Op == OpKind::softmax) {
    A m = m_neg_inf<A>();
    visit([&](I j, A v) {
      if (j < limit) m = v > m ? v : m;
    });
    m = reduce(m, MaxOp{}, m_neg_inf<A>());
    A s = 0;
    if (m != m_neg_inf<A>())
      visit([&](I j, A v) {
        if (j < limit) s += m_exp(v - m);
      });
    s = reduce(s, SumOp{}, A(0));
    shift = m;
    scale = s > A(0) ? A(1) / s : A(0);
  } else if (Op == OpKind::rmsnorm) {
    A s = 0;
    visit([&](I, A v) { s += v * v; });
    s = reduce(s, SumOp{}, A(0));
    shift = 0;
    scale = m_rsqrt(s / n + eps);
  } else {  // layernorm, reduce_mean
    A s = 0;
    visit([&](I, A v) { s += v; });
    const A mean = reduce(s, SumOp{}, A(0)) / n;
    shift = mean;
    scale = 1;
    if (Op == OpKind::layernorm) {
      A d2 = 0;
      visit([&](I, A v) { d2 += (v - mean) * (v - mean); });
      scale = m_rsqrt(reduce(d2, SumOp{}, A(0)) / n + eps);
    }
  }
}

/// One output element from its input v and, for the norms, gamma[j] and beta[j].
template <class T, OpKind Op>
__device__ __forceinline__ acc_t<T> row_output(acc_t<T> v, bool visible, acc_t<T> shift, acc_t<T> scale, acc_t<T> g,
                                               acc_t<T> b) {
  using A = acc_t<T>;
  if (Op == OpKind::softmax) return visible ? m_exp(v - shift) * scale : A(0);
  if (Op == OpKind::rmsnorm) return v * scale * g;
  return (v - shift) * scale * g + b;  // layernorm
}

/// gamma[j] (beta[j]) where the op has it, else 0.
template <class T, OpKind Op>
__device__ __forceinline__ acc_t<T> param(const T* p, i64 j) {
  const bool used = Op == OpKind::layernorm || Op == OpKind::rmsnorm;
  return used && p ? to_acc(p[j]) : acc_t<T>(0);
}

/// Register-resident rows (RowLayout group and block): N vectors of V
/// elements per thread. Aligned (cols a multiple of V): vector k of a lane
/// is the row's vector lane + k * width; otherwise element (k, e) is column
/// lane + (k * V + e) * width.
/// Block = false: groups of `width` lanes per row, 128 threads per block;
/// Block = true: one row per block of `width` = blockDim.x threads. Columns
/// are 32-bit here (rows this short), rows 64-bit.
template <class T, OpKind Op, int N, bool Block, bool Aligned>
__global__ void __launch_bounds__(Block ? 512 : 128) rows_kernel(RowParams<T> p, int width) {
  using A = acc_t<T>;
  constexpr int V = VecWidth<T>::value;
  using VT = Vec<T, V>;
  __shared__ A smem[32];
  const int cols = static_cast<int>(p.cols);
  const int lane = Block ? static_cast<int>(threadIdx.x) : static_cast<int>(threadIdx.x) % width;
  // Warp-level groups loop per warp (uniform trip count: every lane reaches every shuffle).
  const i64 rows_per_step = Block ? gridDim.x : static_cast<i64>(gridDim.x) * (blockDim.x / width);
  const i64 first =
      Block ? blockIdx.x : static_cast<i64>(blockIdx.x) * (blockDim.x / width) + (threadIdx.x & ~31u) / width;
  const int group_in_warp = Block ? 0 : (static_cast<int>(threadIdx.x) & 31) / width;
  auto reduce = [&](A v, auto op, A identity) {
    return Block ? block_reduce(v, smem, op, identity) : group_reduce(v, width, op);
  };
  auto column = [&](int k, int e) { return Aligned ? (lane + k * width) * V + e : lane + (k * V + e) * width; };

  for (i64 base = first; base < p.rows; base += rows_per_step) {
    const i64 row = base + group_in_warp;
    const bool live = row < p.rows;
    const int end = live ? cols : 0;  // columns this thread reads
    const T* xr = p.x + (live ? row : 0) * p.cols;
    VT r[N];
#pragma unroll
    for (int k = 0; k < N; ++k) {
      if (Aligned) {
        if (column(k, 0) < end) r[k] = reinterpret_cast<const VT*>(xr)[lane + k * width];
      } else {
#pragma unroll
        for (int e = 0; e < V; ++e)
          if (column(k, e) < end) r[k].v[e] = xr[column(k, e)];
      }
    }
    // Aligned rows are whole vectors: one bound check per vector.
    auto visit = [&](auto f) {
#pragma unroll
      for (int k = 0; k < N; ++k) {
        if (Aligned && column(k, 0) >= end) continue;
#pragma unroll
        for (int e = 0; e < V; ++e)
          if (Aligned || column(k, e) < end) f(column(k, e), to_acc(r[k].v[e]));
      }
    };
    const int limit = live ? static_cast<int>(row_limit<T, Op>(p, row)) : 0;
    A shift, scale;
    row_statistics<T, Op, int>(visit, reduce, cols, limit, p.eps, shift, scale);
    if (!live) continue;
    if (Op == OpKind::reduce_mean) {
      if (lane == 0) p.y[row] = from_acc<T>(shift);
      continue;
    }
    T* yr = p.y + row * p.cols;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      if (Aligned) {
        const int t = lane + k * width;
        if (t * V >= cols) continue;
        // gamma and beta as vectors too (they stay in L1/L2: every row reads them)
        VT g, b, o;
        if (Op == OpKind::layernorm || Op == OpKind::rmsnorm) g = reinterpret_cast<const VT*>(p.gamma)[t];
        if (Op == OpKind::layernorm) b = reinterpret_cast<const VT*>(p.beta)[t];
#pragma unroll
        for (int e = 0; e < V; ++e) {
          const bool norm = Op == OpKind::layernorm || Op == OpKind::rmsnorm;
          const A gv = norm ? to_acc(g.v[e]) : A(0), bv = Op == OpKind::layernorm ? to_acc(b.v[e]) : A(0);
          o.v[e] = from_acc<T>(row_output<T, Op>(to_acc(r[k].v[e]), t * V + e < limit, shift, scale, gv, bv));
        }
        reinterpret_cast<VT*>(yr)[t] = o;
      } else {
#pragma unroll
        for (int e = 0; e < V; ++e) {
          const int j = column(k, e);
          if (j < cols)
            yr[j] = from_acc<T>(row_output<T, Op>(to_acc(r[k].v[e]), j < limit, shift, scale, param<T, Op>(p.gamma, j),
                                                  param<T, Op>(p.beta, j)));
        }
      }
    }
  }
}

/// Rows too long for registers: a block per row, every pass reading the row again.
template <class T, OpKind Op>
__global__ void __launch_bounds__(1024) rows_stream_kernel(RowParams<T> p) {
  using A = acc_t<T>;
  __shared__ A smem[32];
  auto reduce = [&](A v, auto op, A identity) { return block_reduce(v, smem, op, identity); };
  for (i64 row = blockIdx.x; row < p.rows; row += gridDim.x) {
    const T* xr = p.x + row * p.cols;
    auto visit = [&](auto f) {
      for (i64 j = threadIdx.x; j < p.cols; j += blockDim.x) f(j, to_acc(xr[j]));
    };
    const i64 limit = row_limit<T, Op>(p, row);
    A shift, scale;
    row_statistics<T, Op, i64>(visit, reduce, p.cols, limit, p.eps, shift, scale);
    if (Op == OpKind::reduce_mean) {
      if (threadIdx.x == 0) p.y[row] = from_acc<T>(shift);
      continue;
    }
    T* yr = p.y + row * p.cols;
    for (i64 j = threadIdx.x; j < p.cols; j += blockDim.x)
      yr[j] = from_acc<T>(
          row_output<T, Op>(to_acc(xr[j]), j < limit, shift, scale, param<T, Op>(p.gamma, j), param<T, Op>(p.beta, j)));
  }
}

/// Launches the kernel row_layout() picks (launch.hpp).
template <class T, OpKind Op, bool Aligned>
cudaError_t launch_rows(const RowParams<T>& p, const RowLayout& l, cudaStream_t stream) {
  constexpr i64 cap = i64{1} << 20;
  if (l.kind == RowLayout::Kind::group) {
    // 128 threads per block: at ~150 registers per thread, three blocks (12 warps) fit an SM.
    const i64 per_block = 128 / l.width;
    const i64 blocks = (p.rows + per_block - 1) / per_block;
    const unsigned grid = static_cast<unsigned>(blocks < cap ? blocks : cap);
    switch (l.per_thread) {
      case 1: rows_kernel<T, Op, 1, false, Aligned><<<grid, 128, 0, stream>>>(p, l.width); break;
      case 2: rows_kernel<T, Op, 2, false, true><<<grid, 128, 0, stream>>>(p, l.width); break;
      case 4: rows_kernel<T, Op, 4, false, true><<<grid, 128, 0, stream>>>(p, l.width); break;
      case 8: rows_kernel<T, Op, 8, false, true><<<grid, 128, 0, stream>>>(p, l.width); break;
      default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
  }
  const unsigned grid = static_cast<unsigned>(p.rows < cap ? p.rows : cap);
  if (l.kind == RowLayout::Kind::block)
    rows_kernel<T, Op, 8, true, true><<<grid, l.width, 0, stream>>>(p, l.width);
  else
    rows_stream_kernel<T, Op><<<grid, 1024, 0, stream>>>(p);
  return cudaGetLastError();
}

template <class T, OpKind Op>
cudaError_t launch_rows(const RowParams<T>& p, cudaStream_t stream) {
  const RowLayout l = row_layout(dtype_of<T>(), p.cols);
  return l.aligned ? launch_rows<T, Op, true>(p, l, stream) : launch_rows<T, Op, false>(p, l, stream);
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
