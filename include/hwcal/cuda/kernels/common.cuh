#pragma once
// Shared pieces of hwcal's kernels: compute types per storage format,
// conversions, vector loads, reductions and type dispatch.
// Only for nvcc; see <hwcal/cuda/launch.hpp> for how the kernels are used.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#if !defined(__CUDACC__)
#error "hwcal/cuda/kernels/*.cuh contain __global__ kernels: include <hwcal/cuda/kernels/all.cuh> from one .cu file"
#endif

#include <hwcal/cuda/launch.hpp>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace hwcal {
namespace cuda {
namespace kernels {

using i64 = std::int64_t;

/// Arithmetic happens in fp32 for every format but fp64 (as PyTorch does).
template <class T>
struct Acc {
  using type = float;
};
template <>
struct Acc<double> {
  using type = double;
};
template <class T>
using acc_t = typename Acc<T>::type;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_acc(acc_t<T> v);
template <>
__device__ __forceinline__ float from_acc<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ double from_acc<double>(double v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Precise math in the compute type (the checks compare against double).
__device__ __forceinline__ float m_exp(float x) { return expf(x); }
__device__ __forceinline__ double m_exp(double x) { return exp(x); }
__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }
__device__ __forceinline__ float m_tanh(float x) { return tanhf(x); }
__device__ __forceinline__ double m_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
template <class A>
__device__ __forceinline__ A m_neg_inf() {
  return -static_cast<A>(INFINITY);
}

/// V elements of T in one aligned 16-byte (or 8-byte for fp64 pairs) access.
template <class T>
struct VecWidth {
  static constexpr int value = 16 / static_cast<int>(sizeof(T));
};
template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};

/// Grid size for `work` items at `threads` per block; kernels loop with a
/// grid stride, so the cap only limits how many blocks are resident at once.
inline unsigned grid_for(i64 work, int threads) {
  const i64 blocks = (work + threads - 1) / threads;
  constexpr i64 cap = i64{1} << 20;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

__device__ __forceinline__ i64 global_thread() { return static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 grid_threads() { return static_cast<i64>(gridDim.x) * blockDim.x; }

// ---------------------------------------------------------------- reductions

struct SumOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};

/// Running (max, sum of exp(x - max)) of online softmax.
template <class A>
struct MaxSum {
  A m, s;
};

template <class A>
__device__ __forceinline__ MaxSum<A> combine(MaxSum<A> a, MaxSum<A> b) {
  const A m = a.m > b.m ? a.m : b.m;
  if (m == m_neg_inf<A>()) return {m, A(0)};
  return {m, a.s * m_exp(a.m - m) + b.s * m_exp(b.m - m)};
}

template <class A>
__device__ __forceinline__ void push(MaxSum<A>& r, A v) {
  if (v > r.m) {
    r.s = r.s * m_exp(r.m - v) + A(1);
    r.m = v;
  } else {
    r.s += m_exp(v - r.m);
  }
}

template <class A>
__device__ __forceinline__ A warp_sum(A v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class A>
__device__ __forceinline__ MaxSum<A> warp_maxsum(MaxSum<A> r) {
  for (int o = 16; o > 0; o >>= 1) {
    MaxSum<A> other{__shfl_xor_sync(0xffffffffu, r.m, o), __shfl_xor_sync(0xffffffffu, r.s, o)};
    r = combine(r, other);
  }
  return r;
}

/// Sum over the block, result in every thread. `smem` holds 32 values.
template <class A>
__device__ __forceinline__ A block_sum(A v, A* smem) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // smem may still be read from a previous reduction
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < warps ? smem[lane] : A(0);
  return warp_sum(v);
}

template <class A>
__device__ __forceinline__ MaxSum<A> block_maxsum(MaxSum<A> r, MaxSum<A>* smem) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  r = warp_maxsum(r);
  __syncthreads();
  if (lane == 0) smem[warp] = r;
  __syncthreads();
  r = lane < warps ? smem[lane] : MaxSum<A>{m_neg_inf<A>(), A(0)};
  return warp_maxsum(r);
}

// ---------------------------------------------------------------- dispatch

/// Calls f(T{}) with T the C++ type of a floating storage format.
template <class F>
cudaError_t dispatch_float(DType t, F&& f) {
  switch (t) {
    case DType::f64: return f(double{});
    case DType::f32: return f(float{});
    case DType::f16: return f(__half{});
    case DType::bf16: return f(__nv_bfloat16{});
    default: return cudaErrorInvalidValue;
  }
}

/// Calls f(U{}) with U an unsigned integer as wide as one element.
template <class F>
cudaError_t dispatch_bytes(int element_bytes, F&& f) {
  switch (element_bytes) {
    case 1: return f(std::uint8_t{});
    case 2: return f(std::uint16_t{});
    case 4: return f(std::uint32_t{});
    case 8: return f(std::uint64_t{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
