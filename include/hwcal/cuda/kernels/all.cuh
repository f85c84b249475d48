#pragma once
// The definitions of every launcher declared in <hwcal/cuda/launch.hpp>.
//
// Include this file from exactly ONE .cu file of a program that uses the CUDA
// backend (it defines non-inline functions, like a single-header library's
// implementation switch); the other kernels/*.cuh are only included from here.
// Compile that file with nvcc for the GPU's architecture (sm_90 for H100/H200).
// It includes no Eigen and no JSON, so nvcc stays quick and quiet.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>
#include <hwcal/cuda/kernels/elementwise.cuh>
#include <hwcal/cuda/kernels/fill.cuh>
#include <hwcal/cuda/kernels/memory.cuh>
#include <hwcal/cuda/kernels/pool.cuh>
#include <hwcal/cuda/kernels/rows.cuh>

namespace hwcal {
namespace cuda {
namespace launch {

using namespace kernels;

cudaError_t fill_uniform(DType t, void* p, i64 n, std::uint64_t seed, double lo, double hi, cudaStream_t stream) {
  switch (t) {
    case DType::f64: return fill_as<double>(p, n, seed, lo, hi, stream);
    case DType::f32: return fill_as<float>(p, n, seed, lo, hi, stream);
    case DType::f16: return fill_as<__half>(p, n, seed, lo, hi, stream);
    case DType::bf16: return fill_as<__nv_bfloat16>(p, n, seed, lo, hi, stream);
    case DType::i8: return fill_as<std::int8_t>(p, n, seed, lo, hi, stream);
    case DType::i32: return fill_as<std::int32_t>(p, n, seed, lo, hi, stream);
    case DType::e4m3: return fill_as<__nv_fp8_e4m3>(p, n, seed, lo, hi, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t unary(OpKind op, DType t, const void* x, void* y, i64 n, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    return dispatch_unary(op, [&](auto f) {
      unary_kernel<<<elementwise_grid<T>(n), elementwise_threads, 0, stream>>>(static_cast<const T*>(x),
                                                                               static_cast<T*>(y), n, f);
      return cudaGetLastError();
    });
  });
}

cudaError_t binary(OpKind op, DType t, const void* a, const void* b, void* y, i64 n, i64 broadcast,
                   cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    return dispatch_binary(op, [&](auto f) {
      binary_kernel<<<elementwise_grid<T>(n), elementwise_threads, 0, stream>>>(
          static_cast<const T*>(a), static_cast<const T*>(b), static_cast<T*>(y), n, broadcast, f);
      return cudaGetLastError();
    });
  });
}

cudaError_t bias_act(OpKind act, DType t, void* y, const void* bias, i64 n, i64 channels, i64 inner,
                     cudaStream_t stream) {
  if (act != OpKind::copy && act != OpKind::relu && act != OpKind::gelu) return cudaErrorInvalidValue;
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    return dispatch_unary(act, [&](auto f) {
      channel_kernel<<<elementwise_grid<T>(n), elementwise_threads, 0, stream>>>(
          static_cast<const T*>(y), static_cast<T*>(y), n, channels, inner, BiasParam<T>{static_cast<const T*>(bias)},
          f);
      return cudaGetLastError();
    });
  });
}

cudaError_t batchnorm(DType t, const void* x, const void* mean, const void* var, const void* gamma, const void* beta,
                      void* y, i64 n, i64 channels, i64 inner, double eps, bool relu, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const BatchnormParam<T> p{static_cast<const T*>(mean), static_cast<const T*>(var), static_cast<const T*>(gamma),
                              static_cast<const T*>(beta), static_cast<acc_t<T>>(eps)};
    return dispatch_unary(relu ? OpKind::relu : OpKind::copy, [&](auto f) {
      channel_kernel<<<elementwise_grid<T>(n), elementwise_threads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(y), n, channels, inner, p, f);
      return cudaGetLastError();
    });
  });
}

cudaError_t fold_batchnorm(DType t, const void* w, const void* bias, const void* mean, const void* var,
                           const void* gamma, const void* beta, void* w_out, void* bias_out, i64 k, i64 per_k,
                           double eps, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    fold_batchnorm_kernel<<<grid_for(k * per_k, 256), 256, 0, stream>>>(
        static_cast<const T*>(w), static_cast<const T*>(bias), static_cast<const T*>(mean), static_cast<const T*>(var),
        static_cast<const T*>(gamma), static_cast<const T*>(beta), static_cast<T*>(w_out), static_cast<T*>(bias_out), k,
        per_k, static_cast<acc_t<T>>(eps));
    return cudaGetLastError();
  });
}

cudaError_t softmax(DType t, const void* x, void* y, i64 rows, i64 cols, i64 causal_q, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const auto* xp = static_cast<const T*>(x);
    auto* yp = static_cast<T*>(y);
    if (cols <= warp_row_limit)
      softmax_kernel<T, false>
          <<<row_grid<T>(rows, cols), row_threads<T>(cols), 0, stream>>>(xp, yp, rows, cols, causal_q);
    else
      softmax_kernel<T, true>
          <<<row_grid<T>(rows, cols), row_threads<T>(cols), 0, stream>>>(xp, yp, rows, cols, causal_q);
    return cudaGetLastError();
  });
}

cudaError_t layernorm(DType t, const void* x, const void* gamma, const void* beta, void* y, i64 rows, i64 cols,
                      double eps, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const auto* xp = static_cast<const T*>(x);
    const auto* g = static_cast<const T*>(gamma);
    const auto* b = static_cast<const T*>(beta);
    auto* yp = static_cast<T*>(y);
    const auto e = static_cast<acc_t<T>>(eps);
    if (cols <= warp_row_limit)
      layernorm_kernel<T, false>
          <<<row_grid<T>(rows, cols), row_threads<T>(cols), 0, stream>>>(xp, g, b, yp, rows, cols, e);
    else
      layernorm_kernel<T, true>
          <<<row_grid<T>(rows, cols), row_threads<T>(cols), 0, stream>>>(xp, g, b, yp, rows, cols, e);
    return cudaGetLastError();
  });
}

cudaError_t reduce_mean(DType t, const void* x, void* y, i64 rows, i64 cols, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const auto* xp = static_cast<const T*>(x);
    auto* yp = static_cast<T*>(y);
    if (cols <= warp_row_limit)
      reduce_mean_kernel<T, false><<<row_grid<T>(rows, cols), row_threads<T>(cols), 0, stream>>>(xp, yp, rows, cols);
    else
      reduce_mean_kernel<T, true><<<row_grid<T>(rows, cols), row_threads<T>(cols), 0, stream>>>(xp, yp, rows, cols);
    return cudaGetLastError();
  });
}

cudaError_t pool2d(OpKind op, DType t, const void* x, void* y, const Pool2dShape& shape, cudaStream_t stream) {
  if (op != OpKind::maxpool && op != OpKind::avgpool) return cudaErrorInvalidValue;
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const i64 oh = shape.out_h(), ow = shape.out_w(), total = shape.n * shape.c * oh * ow;
    if (op == OpKind::maxpool)
      pool2d_kernel<T, true>
          <<<grid_for(total, 256), 256, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), shape, oh, ow);
    else
      pool2d_kernel<T, false>
          <<<grid_for(total, 256), 256, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), shape, oh, ow);
    return cudaGetLastError();
  });
}

cudaError_t adaptive_avgpool(DType t, const void* x, void* y, const AdaptivePoolShape& shape, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const i64 total = shape.n * shape.c * shape.out_h * shape.out_w;
    adaptive_avgpool_kernel<T>
        <<<grid_for(total, 256), 256, 0, stream>>>(static_cast<const T*>(x), static_cast<T*>(y), shape);
    return cudaGetLastError();
  });
}

cudaError_t copy(const void* x, void* y, i64 bytes, cudaStream_t stream) {
  const i64 vectors = bytes / 16;
  const i64 work = vectors > 0 ? (vectors + 3) / 4 : bytes;
  copy_kernel<<<grid_for(work, 256), 256, 0, stream>>>(static_cast<const unsigned char*>(x),
                                                       static_cast<unsigned char*>(y), bytes);
  return cudaGetLastError();
}

cudaError_t transpose(int element_bytes, const void* x, void* y, i64 rows, i64 cols, cudaStream_t stream) {
  return dispatch_bytes(element_bytes, [&](auto tag) {
    using U = decltype(tag);
    const i64 tiles = ((rows + 31) / 32) * ((cols + 31) / 32);
    transpose_kernel<U>
        <<<grid_for(tiles, 1), dim3(32, 8), 0, stream>>>(static_cast<const U*>(x), static_cast<U*>(y), rows, cols);
    return cudaGetLastError();
  });
}

cudaError_t concat(int element_bytes, const void* a, const void* b, void* y, i64 rows, i64 cols_a, i64 cols_b,
                   cudaStream_t stream) {
  return dispatch_bytes(element_bytes, [&](auto tag) {
    using U = decltype(tag);
    const i64 cols = cols_a + cols_b;
    const unsigned gx = grid_for(cols, 256);
    const unsigned gy = static_cast<unsigned>(rows < 65535 ? rows : 65535);
    concat_kernel<U><<<dim3(gx, gy), 256, 0, stream>>>(static_cast<const U*>(a), static_cast<const U*>(b),
                                                       static_cast<U*>(y), rows, cols_a, cols_b);
    return cudaGetLastError();
  });
}

cudaError_t bandwidth(BandwidthKernel kernel, void* a, void* b, void* c, i64 vectors, i64 passes, int sm_count,
                      cudaStream_t stream) {
  auto run = [&](auto kernel_fn) {
    // One wave of resident blocks looping with a grid stride (never more
    // threads than work: small working sets are revisited through `passes`).
    constexpr int threads = 512;
    int per_sm = 0;
    if (cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel_fn, threads, 0)) return e;
    i64 blocks = static_cast<i64>(sm_count) * (per_sm > 0 ? per_sm : 1);
    const i64 work = (vectors * passes + 3) / 4;
    if (blocks * threads > work) blocks = (work + threads - 1) / threads;
    if (blocks < 1) blocks = 1;
    const i64 step_mod = (blocks * threads) % vectors;
    kernel_fn<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        static_cast<float4*>(a), static_cast<float4*>(b), static_cast<const float4*>(c), vectors, passes, step_mod);
    return cudaGetLastError();
  };
  switch (kernel) {
    case BandwidthKernel::read: return run(bandwidth_kernel<0>);
    case BandwidthKernel::copy: return run(bandwidth_kernel<1>);
    case BandwidthKernel::triad: return run(bandwidth_kernel<2>);
  }
  return cudaErrorInvalidValue;
}

cudaError_t empty(cudaStream_t stream) {
  empty_kernel<<<1, 1, 0, stream>>>();
  return cudaGetLastError();
}

}  // namespace launch
}  // namespace cuda
}  // namespace hwcal
