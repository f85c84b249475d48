#pragma once
// Data movement: copy and concat (contiguous segments, one launch), tiled
// transpose, permute (runs moved whole), the bandwidth sweep's read / copy / triad kernels, and the empty
// kernel that probes launch overhead.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

#include <cstdint>
#include <type_traits>

namespace hwcal {
namespace cuda {
namespace kernels {

/// A contiguous byte range to copy.
struct CopySegment {
  const unsigned char* src;
  unsigned char* dst;
  i64 bytes;
};

/// Copies a segment in words of W bytes (both ends W-aligned), four words in
/// flight per thread before any store; the bytes past the last whole word go
/// one by one.
template <int W>
__device__ __forceinline__ void copy_words(const CopySegment& s, i64 thread, i64 threads) {
  using Word = std::conditional_t<
      W == 16, uint4,
      std::conditional_t<
          W == 8, uint2,
          std::conditional_t<W == 4, unsigned, std::conditional_t<W == 2, unsigned short, unsigned char>>>>;
  constexpr int U = 4;
  const auto* x = reinterpret_cast<const Word*>(s.src);
  auto* y = reinterpret_cast<Word*>(s.dst);
  const i64 words = s.bytes / W;
  for (i64 i = thread; i < words; i += U * threads) {
    Word v[U];
#pragma unroll
    for (int k = 0; k < U; ++k)
      if (i + k * threads < words) v[k] = x[i + k * threads];
#pragma unroll
    for (int k = 0; k < U; ++k)
      if (i + k * threads < words) y[i + k * threads] = v[k];
  }
  for (i64 i = words * W + thread; i < s.bytes; i += threads) s.dst[i] = s.src[i];
}

/// Segments one launch copies: a concat's inputs (a copy is one), each with
/// its own blocks, [first_block[i], first_block[i + 1]) for segment i. A
/// kernel parameter of about 1.8 KB (the limit is 4 KB).
inline constexpr int copy_segments_per_launch = 64;
struct CopySegments {
  CopySegment s[copy_segments_per_launch];
  unsigned first_block[copy_segments_per_launch + 1];
  int n;
};

/// Copies the segments, each block its own segment's share (blocks are sized
/// by each segment's bytes, not the largest's). Each segment moves the widest
/// words both of its addresses are aligned to (16 bytes from cudaMalloc; an
/// input that starts mid-vector in the output moves narrower words).
__global__ void __launch_bounds__(256) copy_kernel(CopySegments t) {
  int lo = 0, hi = t.n - 1;  // the last segment starting at or before this block
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (t.first_block[mid] <= blockIdx.x)
      lo = mid;
    else
      hi = mid - 1;
  }
  const CopySegment& s = t.s[lo];
  const unsigned block = blockIdx.x - t.first_block[lo], blocks = t.first_block[lo + 1] - t.first_block[lo];
  const i64 thread = static_cast<i64>(block) * blockDim.x + threadIdx.x;
  const i64 threads = static_cast<i64>(blocks) * blockDim.x;
  const auto align = reinterpret_cast<std::uintptr_t>(s.src) | reinterpret_cast<std::uintptr_t>(s.dst);
  if (align % 16 == 0)
    copy_words<16>(s, thread, threads);
  else if (align % 8 == 0)
    copy_words<8>(s, thread, threads);
  else if (align % 4 == 0)
    copy_words<4>(s, thread, threads);
  else if (align % 2 == 0)
    copy_words<2>(s, thread, threads);
  else
    copy_words<1>(s, thread, threads);
}

/// Blocks for a segment: 256 threads, four 16-byte words each per pass.
inline unsigned copy_blocks(i64 bytes) { return bytes > 0 ? grid_for((bytes + 63) / 64, 256) : 0; }

/// Tile edge of the transpose in elements: 64 (128 for single bytes, so a
/// tile row still spans 128 bytes).
template <class U>
inline constexpr int transpose_tile = sizeof(U) == 1 ? 128 : 64;

/// y[c][r] = x[r][c] through shared-memory tiles: each tile is read with
/// 16-byte vectors along x's rows and written with 16-byte vectors along y's
/// rows (Vector: rows and cols are multiples of the vector width; otherwise
/// single elements). Each tile row is padded by one 4-byte word, so the
/// column reads of the write phase spread over the banks (at most 2-way for
/// every element size; without the pad all lanes of a warp would hit one bank).
/// y = each of `outer` blocks of x (`words` 16-byte words each) repeated
/// `times` times in a row: K and V of grouped-query attention expanded to
/// every query head, as a framework's math path does (repeat_interleave).
__global__ void __launch_bounds__(256)
    repeat_blocks_kernel(const uint4* __restrict__ x, uint4* __restrict__ y, i64 outer, i64 times, i64 words) {
  const i64 total = outer * times * words;
  for (i64 i = global_thread(); i < total; i += grid_threads()) {
    const i64 w = i % words, block = i / words;
    y[i] = x[(block / times) * words + w];
  }
}

/// y = x's [rows][blocks][run] as [blocks][rows][run], in words W (16-byte
/// vectors when a run is a multiple of 16 bytes, else single elements): each
/// thread writes consecutive output words, so writes are coalesced and reads
/// are within a run (a head merge, a channel shuffle).
template <class W>
__global__ void __launch_bounds__(256)
    permute_kernel(const W* __restrict__ x, W* __restrict__ y, i64 rows, i64 blocks, i64 words) {
  const i64 total = rows * blocks * words;
  for (i64 i = global_thread(); i < total; i += grid_threads()) {
    const i64 w = i % words, b = i / words;  // output run b = j * rows + r
    y[i] = x[((b % rows) * blocks + b / rows) * words + w];
  }
}

template <class U, bool Vector>
__global__ void __launch_bounds__(256)
    transpose_kernel(const U* __restrict__ x, U* __restrict__ y, i64 rows, i64 cols) {
  constexpr int T = transpose_tile<U>;
  constexpr int V = Vector ? 16 / static_cast<int>(sizeof(U)) : 1;
  constexpr int PAD = sizeof(U) >= 4 ? 1 : 4 / static_cast<int>(sizeof(U));
  constexpr int VPR = T / V;  // vectors per tile row
  using VT = Vec<U, V>;
  __shared__ U tile[T][T + PAD];
  const i64 tiles_c = (cols + T - 1) / T, tiles_r = (rows + T - 1) / T;
  for (i64 t = blockIdx.x; t < tiles_c * tiles_r; t += gridDim.x) {
    const i64 r0 = (t / tiles_c) * T, c0 = (t % tiles_c) * T;
    for (int idx = threadIdx.x; idx < T * VPR; idx += blockDim.x) {
      const int r = idx / VPR, cv = (idx % VPR) * V;
      if (r0 + r < rows && c0 + cv < cols) {
        const VT v = *reinterpret_cast<const VT*>(x + (r0 + r) * cols + c0 + cv);
#pragma unroll
        for (int k = 0; k < V; ++k) tile[r][cv + k] = v.v[k];
      }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < T * VPR; idx += blockDim.x) {
      const int c = idx / VPR, rv = (idx % VPR) * V;
      if (c0 + c < cols && r0 + rv < rows) {
        VT v;
#pragma unroll
        for (int k = 0; k < V; ++k) v.v[k] = tile[rv + k][c];
        *reinterpret_cast<VT*>(y + (c0 + c) * rows + r0 + rv) = v;
      }
    }
    __syncthreads();
  }
}

// ---------------------------------------------------------------- bandwidth

/// A 16-byte load cached in L2 only; volatile so the compiler neither merges
/// repeated passes nor drops loads whose sum it could predict.
__device__ __forceinline__ float4 load_cg(const float4* p) {
  float4 v;
  asm volatile("ld.global.cg.v4.f32 {%0, %1, %2, %3}, [%4];" : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w) : "l"(p));
  return v;
}

/// Each launch visits `vectors * passes` elements with a grid stride; the
/// element index wraps around the buffer, so small working sets still keep
/// every SM busy (the wrap is an add and a compare, not a division). Four
/// elements per thread are loaded before any is used, to keep enough bytes in
/// flight for HBM. Kind: 0 read, 1 copy, 2 triad.
template <int Kind>
__global__ void bandwidth_kernel(float4* a, float4* b, const float4* c, i64 vectors, i64 passes, i64 step_mod) {
  constexpr int U = 4;
  const i64 total = vectors * passes, stride = grid_threads();
  i64 idx = global_thread() % vectors;
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  for (i64 i = global_thread(); i < total; i += U * stride) {
    i64 at[U];
    bool live[U];
#pragma unroll
    for (int k = 0; k < U; ++k) {
      at[k] = idx;
      live[k] = i + k * stride < total;
      idx += step_mod;
      if (idx >= vectors) idx -= vectors;
    }
    float4 u[U], w[U];
#pragma unroll
    for (int k = 0; k < U; ++k) {
      if (!live[k]) continue;
      if (Kind == 0) u[k] = load_cg(a + at[k]);
      if (Kind == 1) u[k] = __ldcg(a + at[k]);
      if (Kind == 2) {
        u[k] = __ldcg(b + at[k]);
        w[k] = __ldcg(c + at[k]);
      }
    }
#pragma unroll
    for (int k = 0; k < U; ++k) {
      if (!live[k]) continue;
      if (Kind == 0) {
        acc.x += u[k].x;
        acc.y += u[k].y;
        acc.z += u[k].z;
        acc.w += u[k].w;
      }
      if (Kind == 1) __stcg(b + at[k], u[k]);
      if (Kind == 2)
        __stcg(a + at[k],
               make_float4(u[k].x + 3.f * w[k].x, u[k].y + 3.f * w[k].y, u[k].z + 3.f * w[k].z, u[k].w + 3.f * w[k].w));
    }
  }
  if (Kind == 0) {
    // A store the compiler cannot prove dead keeps the sum (and the loads) alive.
    const float s = acc.x + acc.y + acc.z + acc.w;
    if (s == 1234.5f) b[blockIdx.x] = acc;
  }
}

__global__ void empty_kernel() {}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
