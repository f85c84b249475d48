#pragma once
// Data movement: copy, transpose, concat, the bandwidth sweep's read / copy /
// triad kernels, and the empty kernel that probes launch overhead.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

namespace hwcal {
namespace cuda {
namespace kernels {

/// Four independent 16-byte loads in flight per thread before any store: one
/// load per thread cannot cover HBM latency on a full H100/H200.
__global__ void copy_kernel(const unsigned char* xb, unsigned char* yb, i64 bytes) {
  constexpr int U = 4;
  const auto* x = reinterpret_cast<const uint4*>(xb);
  auto* y = reinterpret_cast<uint4*>(yb);
  const i64 vectors = bytes / 16;
  const i64 stride = grid_threads();
  for (i64 i = global_thread(); i < vectors; i += U * stride) {
    uint4 v[U];
#pragma unroll
    for (int k = 0; k < U; ++k)
      if (i + k * stride < vectors) v[k] = x[i + k * stride];
#pragma unroll
    for (int k = 0; k < U; ++k)
      if (i + k * stride < vectors) y[i + k * stride] = v[k];
  }
  for (i64 i = vectors * 16 + global_thread(); i < bytes; i += stride) yb[i] = xb[i];
}

/// 32x32 tiles through shared memory so both the read and the write coalesce.
template <class U>
__global__ void transpose_kernel(const U* __restrict__ x, U* __restrict__ y, i64 rows, i64 cols) {
  __shared__ U tile[32][33];
  const i64 tiles_c = (cols + 31) / 32, tiles_r = (rows + 31) / 32;
  for (i64 t = blockIdx.x; t < tiles_c * tiles_r; t += gridDim.x) {
    const i64 r0 = (t / tiles_c) * 32, c0 = (t % tiles_c) * 32;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
      const i64 r = r0 + k, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[k][threadIdx.x] = x[r * cols + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
      const i64 c = c0 + k, r = r0 + threadIdx.x;
      if (r < rows && c < cols) y[c * rows + r] = tile[threadIdx.x][k];
    }
    __syncthreads();
  }
}

template <class U>
__global__ void concat_kernel(const U* __restrict__ a, const U* __restrict__ b, U* __restrict__ y, i64 rows, i64 cols_a,
                              i64 cols_b) {
  const i64 cols = cols_a + cols_b;
  for (i64 r = blockIdx.y; r < rows; r += gridDim.y) {
    U* yr = y + r * cols;
    for (i64 c = static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols;
         c += static_cast<i64>(gridDim.x) * blockDim.x)
      yr[c] = c < cols_a ? a[r * cols_a + c] : b[r * cols_b + (c - cols_a)];
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
