#pragma once
// Rotary position embedding (the rotate-half convention of HF LLaMA,
// reference::rotary_at) and the token-embedding gather.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

namespace hwcal {
namespace cuda {
namespace kernels {

/// y = x * cos + rotate_half(x) * sin over x [tokens][heads][head_dim] with
/// cos/sin [tokens][head_dim]. A block takes tokens (grid stride), its
/// threads the (head, vector) items of a token; a thread takes a vector of
/// the first half of a head and the matching vector of the second half, so x
/// is read once and the token's cos/sin rows come from L1:
///   y[j]        = x[j] cos[j]               - x[j + half] sin[j]
///   y[j + half] = x[j + half] cos[j + half] + x[j] sin[j + half]
/// Vector: half is a multiple of the vector width (head_dim 64, 128, ...).
template <class T, bool Vector>
__global__ void __launch_bounds__(256)
    rotary_kernel(const T* __restrict__ x, const T* __restrict__ cos, const T* __restrict__ sin, T* __restrict__ y,
                  i64 tokens, int heads, int head_dim, Divider<std::uint32_t> by_per_head) {
  using A = acc_t<T>;
  constexpr int V = Vector ? VecWidth<T>::value : 1;
  using VT = Vec<T, V>;
  const int half = head_dim / 2, per_head = half / V, items = heads * per_head;
  for (i64 t = blockIdx.x; t < tokens; t += gridDim.x) {
    const T* ct = cos + t * head_dim;
    const T* st = sin + t * head_dim;
    for (int item = threadIdx.x; item < items; item += blockDim.x) {
      const int h = static_cast<int>(by_per_head.div(static_cast<std::uint32_t>(item)));
      const int j = (item - h * per_head) * V;
      const i64 at = (t * heads + h) * head_dim;
      const VT x1 = *reinterpret_cast<const VT*>(x + at + j), x2 = *reinterpret_cast<const VT*>(x + at + j + half);
      const VT c1 = *reinterpret_cast<const VT*>(ct + j), c2 = *reinterpret_cast<const VT*>(ct + j + half);
      const VT s1 = *reinterpret_cast<const VT*>(st + j), s2 = *reinterpret_cast<const VT*>(st + j + half);
      VT y1, y2;
#pragma unroll
      for (int e = 0; e < V; ++e) {
        const A a = to_acc(x1.v[e]), b = to_acc(x2.v[e]);
        y1.v[e] = from_acc<T>(a * to_acc(c1.v[e]) - b * to_acc(s1.v[e]));
        y2.v[e] = from_acc<T>(b * to_acc(c2.v[e]) + a * to_acc(s2.v[e]));
      }
      *reinterpret_cast<VT*>(y + at + j) = y1;
      *reinterpret_cast<VT*>(y + at + j + half) = y2;
    }
  }
}

/// y[t] = table[idx[t]] for rows of `dim` elements: a block per row (grid
/// stride over rows, the index read once per block), each thread up to four
/// 16-byte vectors (or elements, when dim is not a multiple of the vector
/// width) in flight. An index outside [0, vocab) yields a zero row (PyTorch
/// raises a device-side assert instead; hwcal's indices are always in range).
template <class T, bool Vector>
__global__ void __launch_bounds__(256)
    embedding_kernel(const std::int64_t* __restrict__ idx, const T* __restrict__ table, T* __restrict__ y, i64 tokens,
                     i64 vocab, i64 dim) {
  constexpr int V = Vector ? VecWidth<T>::value : 1, U = 4;
  using VT = Vec<T, V>;
  // Columns in 32 bits: a row of 2^31 vectors is beyond any embedding table.
  const unsigned per_row = static_cast<unsigned>(dim / V), step = blockDim.x;
  for (i64 t = blockIdx.x; t < tokens; t += gridDim.x) {
    const i64 row = idx[t];
    const bool valid = row >= 0 && row < vocab;
    const VT* src = reinterpret_cast<const VT*>(table + (valid ? row : 0) * dim);
    VT* dst = reinterpret_cast<VT*>(y + t * dim);
    for (unsigned c = threadIdx.x; c < per_row; c += U * step) {
      VT v[U];
#pragma unroll
      for (int k = 0; k < U; ++k)
        if (c + k * step < per_row) v[k] = src[c + k * step];
#pragma unroll
      for (int k = 0; k < U; ++k)
        if (c + k * step < per_row) dst[c + k * step] = valid ? v[k] : VT{};
    }
  }
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
