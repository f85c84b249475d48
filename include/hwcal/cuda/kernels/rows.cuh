#pragma once
// Row-wise kernels over the last dimension: softmax (with attention's causal
// mask), layernorm, mean. Short rows (<= 1024) get one warp each, longer rows
// one block, as PyTorch's softmax does; rows are read with 16-byte vectors
// when their length allows it.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

namespace hwcal {
namespace cuda {
namespace kernels {

constexpr i64 warp_row_limit = 1024;

/// Which row a thread group works on, and the thread's place in it.
struct RowGroup {
  i64 row, step;
  int lane, width;
  bool block;
};

template <bool BlockPerRow>
__device__ __forceinline__ RowGroup row_group() {
  if (BlockPerRow)
    return {static_cast<i64>(blockIdx.x), static_cast<i64>(gridDim.x), static_cast<int>(threadIdx.x),
            static_cast<int>(blockDim.x), true};
  const int warps = blockDim.x >> 5;
  return {static_cast<i64>(blockIdx.x) * warps + (threadIdx.x >> 5), static_cast<i64>(gridDim.x) * warps,
          static_cast<int>(threadIdx.x & 31), 32, false};
}

/// f(j, x[j]) for this thread's share of a row.
template <class T, class F>
__device__ __forceinline__ void row_read(const T* xr, i64 cols, const RowGroup& g, F&& f) {
  constexpr int V = VecWidth<T>::value;
  using VT = Vec<T, V>;
  if (cols % V == 0) {
    const VT* xv = reinterpret_cast<const VT*>(xr);
    for (i64 t = g.lane; t < cols / V; t += g.width) {
      const VT a = xv[t];
#pragma unroll
      for (int k = 0; k < V; ++k) f(t * V + k, to_acc(a.v[k]));
    }
  } else {
    for (i64 j = g.lane; j < cols; j += g.width) f(j, to_acc(xr[j]));
  }
}

/// y[j] = f(j, x[j]) for this thread's share of a row (x and y may alias).
template <class T, class F>
__device__ __forceinline__ void row_map(const T* xr, T* yr, i64 cols, const RowGroup& g, F&& f) {
  constexpr int V = VecWidth<T>::value;
  using VT = Vec<T, V>;
  if (cols % V == 0) {
    const VT* xv = reinterpret_cast<const VT*>(xr);
    VT* yv = reinterpret_cast<VT*>(yr);
    for (i64 t = g.lane; t < cols / V; t += g.width) {
      VT a = xv[t];
#pragma unroll
      for (int k = 0; k < V; ++k) a.v[k] = from_acc<T>(f(t * V + k, to_acc(a.v[k])));
      yv[t] = a;
    }
  } else {
    for (i64 j = g.lane; j < cols; j += g.width) yr[j] = from_acc<T>(f(j, to_acc(xr[j])));
  }
}

template <class A>
__device__ __forceinline__ A group_sum(A v, const RowGroup& g, A* smem) {
  return g.block ? block_sum(v, smem) : warp_sum(v);
}

template <class T, bool BlockPerRow>
__global__ void softmax_kernel(const T* x, T* y, i64 rows, i64 cols, i64 causal_q) {
  using A = acc_t<T>;
  __shared__ MaxSum<A> smem[32];
  for (RowGroup g = row_group<BlockPerRow>(); g.row < rows; g.row += g.step) {
    i64 limit = cols;
    if (causal_q > 0) {
      limit = g.row % causal_q + 1 + cols - causal_q;
      limit = limit < 0 ? 0 : (limit > cols ? cols : limit);
    }
    const T* xr = x + g.row * cols;
    MaxSum<A> r{m_neg_inf<A>(), A(0)};
    row_read(xr, cols, g, [&](i64 j, A v) {
      if (j < limit) push(r, v);
    });
    r = BlockPerRow ? block_maxsum(r, smem) : warp_maxsum(r);
    const A inv = r.s > A(0) ? A(1) / r.s : A(0);
    row_map(xr, y + g.row * cols, cols, g, [&](i64 j, A v) { return j < limit ? m_exp(v - r.m) * inv : A(0); });
  }
}

template <class T, bool BlockPerRow>
__global__ void layernorm_kernel(const T* x, const T* gamma, const T* beta, T* y, i64 rows, i64 cols, acc_t<T> eps) {
  using A = acc_t<T>;
  __shared__ A smem[32];
  for (RowGroup g = row_group<BlockPerRow>(); g.row < rows; g.row += g.step) {
    const T* xr = x + g.row * cols;
    // Shifting by the row's first element keeps E[x^2] - E[x]^2 from cancelling.
    const A shift = to_acc(xr[0]);
    A s1 = 0, s2 = 0;
    row_read(xr, cols, g, [&](i64, A v) {
      const A d = v - shift;
      s1 += d;
      s2 += d * d;
    });
    s1 = group_sum(s1, g, smem);
    s2 = group_sum(s2, g, smem);
    const A n = static_cast<A>(cols), md = s1 / n;
    A var = s2 / n - md * md;
    var = var < A(0) ? A(0) : var;
    const A mean = shift + md, inv = A(1) / m_sqrt(var + eps);
    row_map(xr, y + g.row * cols, cols, g,
            [&](i64 j, A v) { return (v - mean) * inv * to_acc(gamma[j]) + to_acc(beta[j]); });
  }
}

template <class T, bool BlockPerRow>
__global__ void reduce_mean_kernel(const T* x, T* y, i64 rows, i64 cols) {
  using A = acc_t<T>;
  __shared__ A smem[32];
  for (RowGroup g = row_group<BlockPerRow>(); g.row < rows; g.row += g.step) {
    A s = 0;
    row_read(x + g.row * cols, cols, g, [&](i64, A v) { s += v; });
    s = group_sum(s, g, smem);
    if (g.lane == 0) y[g.row] = from_acc<T>(s / static_cast<A>(cols));
  }
}

/// Threads per block for a row kernel: a warp per row (8 rows per block) for
/// short rows, else enough threads for about four vectors each.
template <class T>
inline int row_threads(i64 cols) {
  if (cols <= warp_row_limit) return 256;
  const i64 vectors = (cols + VecWidth<T>::value - 1) / VecWidth<T>::value;
  int t = 64;
  while (t < 1024 && static_cast<i64>(t) * 4 < vectors) t *= 2;
  return t;
}

template <class T>
inline unsigned row_grid(i64 rows, i64 cols) {
  const i64 groups = cols <= warp_row_limit ? (rows + 7) / 8 : rows;
  constexpr i64 cap = i64{1} << 20;
  return static_cast<unsigned>(groups > cap ? cap : groups);
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
