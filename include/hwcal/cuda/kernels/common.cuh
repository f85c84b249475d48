#pragma once
// Shared pieces of hwcal's kernels: compute types per storage format,
// conversions, vector types, reductions and type dispatch.
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
#include <type_traits>

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
__device__ __forceinline__ float m_rsqrt(float x) { return rsqrtf(x); }
__device__ __forceinline__ double m_rsqrt(double x) { return rsqrt(x); }
__device__ __forceinline__ float m_sqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double m_sqrt(double x) { return sqrt(x); }
template <class A>
__device__ __forceinline__ A m_neg_inf() {
  return -static_cast<A>(INFINITY);
}

/// Elements of T in one aligned 16-byte access.
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

/// Smallest power of two >= n (n >= 1).
inline int next_pow2(i64 n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

/// Division by a loop-invariant divisor. 32-bit: multiply-high, add and
/// shift instead of a division instruction sequence (PyTorch's IntDivider),
/// exact for dividends below 2^31 and divisors in [1, 2^31]; 64-bit: plain
/// division, for tensors past 2^31 elements.
template <class I>
struct Divider {
  I d = 1;
  Divider() = default;
  explicit Divider(I divisor) : d(divisor) {}
  __device__ __forceinline__ I div(I n) const { return n / d; }
};
template <>
struct Divider<std::uint32_t> {
  std::uint32_t d = 1, magic = 1, shift = 0;
  Divider() = default;
  explicit Divider(std::uint32_t divisor) : d(divisor) {
    while (shift < 31 && (std::uint32_t{1} << shift) < divisor) ++shift;
    const std::uint64_t one = 1;
    magic = static_cast<std::uint32_t>(((one << 32) * ((one << shift) - divisor)) / divisor + 1);
  }
  __device__ __forceinline__ std::uint32_t div(std::uint32_t n) const { return (__umulhi(n, magic) + n) >> shift; }
};

/// 32-bit index arithmetic is safe for tensors below this many elements
/// (indices plus one grid stride of vectors stay below 2^31).
constexpr i64 index32_limit = (i64{1} << 31) - (i64{1} << 29);

__device__ __forceinline__ i64 global_thread() { return static_cast<i64>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ __forceinline__ i64 grid_threads() { return static_cast<i64>(gridDim.x) * blockDim.x; }

// ---------------------------------------------------------------- reductions

struct SumOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};
struct MaxOp {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a > b ? a : b;
  }
};

/// Reduction over aligned groups of `width` lanes (a power of two <= 32):
/// xor partners below `width` stay inside the group. Result in every lane.
template <class A, class Op>
__device__ __forceinline__ A group_reduce(A v, int width, Op op) {
  for (int o = width >> 1; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Reduction over the whole block, result in every thread. `smem` holds 32
/// values; the leading barrier lets a block run several reductions in a row.
template <class A, class Op>
__device__ __forceinline__ A block_reduce(A v, A* smem, Op op, A identity) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = group_reduce(v, 32, op);
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = lane < warps ? smem[lane] : identity;
  return group_reduce(v, 32, op);
}

// ---------------------------------------------------------------- dispatch

/// The storage format of a C++ element type.
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, double>)
    return DType::f64;
  else if constexpr (std::is_same_v<T, float>)
    return DType::f32;
  else if constexpr (std::is_same_v<T, __half>)
    return DType::f16;
  else
    return DType::bf16;
}

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
