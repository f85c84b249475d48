#pragma once
// Deterministic input generation on the device: a counter-based hash per
// element, so filling a GiB takes microseconds instead of a host loop and an
// upload, and any element can be regenerated independently.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

namespace hwcal {
namespace cuda {
namespace kernels {

/// splitmix64 finaliser of (seed, i).
__device__ __forceinline__ std::uint64_t hash64(std::uint64_t seed, std::uint64_t i) {
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + (i + 1) * 0xD1B54A32D192ED03ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <class T>
__device__ __forceinline__ T make_value(double v);
template <>
__device__ __forceinline__ double make_value<double>(double v) {
  return v;
}
template <>
__device__ __forceinline__ float make_value<float>(double v) {
  return static_cast<float>(v);
}
template <>
__device__ __forceinline__ __half make_value<__half>(double v) {
  return __float2half_rn(static_cast<float>(v));
}
template <>
__device__ __forceinline__ __nv_bfloat16 make_value<__nv_bfloat16>(double v) {
  return __float2bfloat16_rn(static_cast<float>(v));
}
template <>
__device__ __forceinline__ __nv_fp8_e4m3 make_value<__nv_fp8_e4m3>(double v) {
  return __nv_fp8_e4m3(static_cast<float>(v));  // round to nearest, saturating
}
template <>
__device__ __forceinline__ std::int8_t make_value<std::int8_t>(double v) {
  const double f = floor(v);
  return static_cast<std::int8_t>(f < -128 ? -128 : (f > 127 ? 127 : f));
}
template <>
__device__ __forceinline__ std::int32_t make_value<std::int32_t>(double v) {
  return static_cast<std::int32_t>(floor(v));
}
template <>
__device__ __forceinline__ std::int64_t make_value<std::int64_t>(double v) {
  return static_cast<std::int64_t>(floor(v));
}

template <class T>
__global__ void fill_uniform_kernel(T* p, i64 n, std::uint64_t seed, double lo, double hi) {
  for (i64 i = global_thread(); i < n; i += grid_threads()) {
    const double u = static_cast<double>(hash64(seed, static_cast<std::uint64_t>(i)) >> 11) * 0x1.0p-53;
    p[i] = make_value<T>(lo + (hi - lo) * u);
  }
}

template <class T>
cudaError_t fill_as(void* p, i64 n, std::uint64_t seed, double lo, double hi, cudaStream_t stream) {
  constexpr int threads = 256;
  fill_uniform_kernel<T><<<grid_for(n, threads), threads, 0, stream>>>(static_cast<T*>(p), n, seed, lo, hi);
  return cudaGetLastError();
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
