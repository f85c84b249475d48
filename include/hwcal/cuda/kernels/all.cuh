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

#include <hwcal/cuda/kernels/attention.cuh>
#include <hwcal/cuda/kernels/common.cuh>
#include <hwcal/cuda/kernels/elementwise.cuh>
#include <hwcal/cuda/kernels/fill.cuh>
#include <hwcal/cuda/kernels/memory.cuh>
#include <hwcal/cuda/kernels/pool.cuh>
#include <hwcal/cuda/kernels/rotary.cuh>
#include <hwcal/cuda/kernels/rows.cuh>

#include <algorithm>

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
    case DType::i64: return fill_as<std::int64_t>(p, n, seed, lo, hi, stream);
  }
  return cudaErrorInvalidValue;
}

namespace {
cudaError_t unary_with(OpKind op, DType t, const void* x, void* y, i64 n, double lo, double hi, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    return dispatch_unary(op, lo, hi, [&](auto f) {
      unary_kernel<<<elementwise_grid<T>(n), elementwise_threads, 0, stream>>>(static_cast<const T*>(x),
                                                                               static_cast<T*>(y), n, f);
      return cudaGetLastError();
    });
  });
}
}  // namespace

cudaError_t unary(OpKind op, DType t, const void* x, void* y, i64 n, cudaStream_t stream) {
  if (op == OpKind::clamp) return cudaErrorInvalidValue;  // needs its bounds: launch::clamp
  return unary_with(op, t, x, y, n, 0, 0, stream);
}

cudaError_t clamp(DType t, const void* x, void* y, i64 n, double lo, double hi, cudaStream_t stream) {
  return unary_with(OpKind::clamp, t, x, y, n, lo, hi, stream);
}

cudaError_t binary(OpKind op, DType t, const void* a, const void* b, void* y, i64 n, i64 broadcast,
                   cudaStream_t stream) {
  if (op == OpKind::silu_mul && broadcast > 0) return cudaErrorInvalidValue;
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const i64 period = broadcast > 0 ? broadcast : n;
    return dispatch_binary(op, [&](auto f) {
      const auto* ap = static_cast<const T*>(a);
      const auto* bp = static_cast<const T*>(b);
      auto* yp = static_cast<T*>(y);
      if (period == n) {
        binary_kernel<T><<<elementwise_grid<T>(n), elementwise_threads, 0, stream>>>(ap, bp, yp, n, f);
      } else {
        const unsigned tiles = grid_for(n, broadcast_threads * broadcast_unroll);
        if (n < index32_limit)
          broadcast_kernel<T, std::uint32_t><<<tiles, broadcast_threads, 0, stream>>>(
              ap, bp, yp, static_cast<std::uint32_t>(n), Divider<std::uint32_t>(static_cast<std::uint32_t>(period)), f);
        else
          broadcast_kernel<T, i64><<<tiles, broadcast_threads, 0, stream>>>(ap, bp, yp, n, Divider<i64>(period), f);
      }
      return cudaGetLastError();
    });
  });
}

cudaError_t bias_act(OpKind act, DType t, void* y, const void* bias, i64 n, i64 channels, i64 inner,
                     cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    return dispatch_activation(act, [&](auto f) {
      return launch_channel(static_cast<const T*>(y), static_cast<T*>(y), n, channels, inner,
                            BiasParam<T>{static_cast<const T*>(bias)}, f, stream);
    });
  });
}

cudaError_t batchnorm(DType t, const void* x, const void* mean, const void* var, const void* gamma, const void* beta,
                      void* y, i64 n, i64 channels, i64 inner, double eps, bool relu, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const BatchnormParam<T> p{static_cast<const T*>(mean), static_cast<const T*>(var), static_cast<const T*>(gamma),
                              static_cast<const T*>(beta), static_cast<acc_t<T>>(eps)};
    return dispatch_activation(relu ? OpKind::relu : OpKind::copy, [&](auto f) {
      return launch_channel(static_cast<const T*>(x), static_cast<T*>(y), n, channels, inner, p, f, stream);
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

cudaError_t row_op(OpKind op, DType t, const void* x, const void* gamma, const void* beta, void* y, i64 rows, i64 cols,
                   double eps, i64 causal_q, cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const RowParams<T> p{static_cast<const T*>(x),
                         static_cast<const T*>(gamma),
                         static_cast<const T*>(beta),
                         static_cast<T*>(y),
                         rows,
                         cols,
                         static_cast<acc_t<T>>(eps),
                         causal_q};
    switch (op) {
      case OpKind::softmax: return launch_rows<T, OpKind::softmax>(p, stream);
      case OpKind::layernorm: return launch_rows<T, OpKind::layernorm>(p, stream);
      case OpKind::rmsnorm: return launch_rows<T, OpKind::rmsnorm>(p, stream);
      case OpKind::reduce_mean: return launch_rows<T, OpKind::reduce_mean>(p, stream);
      default: return cudaErrorInvalidValue;
    }
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
    // The largest bin (ceil of in/out, plus one where the edges straddle)
    const i64 bin = ((shape.h + shape.out_h - 1) / shape.out_h + 1) * ((shape.w + shape.out_w - 1) / shape.out_w + 1);
    const auto* xs = static_cast<const T*>(x);
    auto* ys = static_cast<T*>(y);
    if (bin >= 2048) {
      adaptive_avgpool_block_kernel<T><<<grid_for(total * 256, 256), 256, 0, stream>>>(xs, ys, shape);
    } else if (shape.out_h == 1 && shape.out_w == 1) {
      const int n = static_cast<int>(shape.h * shape.w);  // < 2048 here
      int width = 1;
      while (width < 32 && width * 4 < n) width *= 2;
      global_avgpool_kernel<T><<<grid_for(total * width, 256), 256, 0, stream>>>(xs, ys, total, n, width);
    } else {
      // About four elements per lane: a 7x7 bin takes 8 lanes (3 shuffles),
      // not 32 lanes reading one or two elements each (5 shuffles).
      int width = 1;
      while (width < 32 && width * 4 < bin) width *= 2;
      adaptive_avgpool_kernel<T><<<grid_for(total * width, 256), 256, 0, stream>>>(xs, ys, shape, width);
    }
    return cudaGetLastError();
  });
}

cudaError_t copy(const void* x, void* y, i64 bytes, cudaStream_t stream) { return concat(&x, &bytes, 1, y, stream); }

cudaError_t concat(const void* const* inputs, const i64* bytes, int n, void* y, cudaStream_t stream) {
  auto* dst = static_cast<unsigned char*>(y);
  for (int i0 = 0; i0 < n; i0 += copy_segments_per_launch) {  // more inputs: launches of 64, as PyTorch batches them
    CopySegments t{};
    t.n = std::min(n - i0, copy_segments_per_launch);
    unsigned blocks = 0;
    for (int i = 0; i < t.n; ++i) {
      t.s[i] = {static_cast<const unsigned char*>(inputs[i0 + i]), dst, bytes[i0 + i]};
      t.first_block[i] = blocks;
      blocks += copy_blocks(bytes[i0 + i]);
      dst += bytes[i0 + i];
    }
    t.first_block[t.n] = blocks;
    if (blocks == 0) continue;
    copy_kernel<<<blocks, 256, 0, stream>>>(t);
    if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

cudaError_t repeat_blocks(const void* x, void* y, i64 outer, i64 times, i64 bytes, cudaStream_t stream) {
  if (bytes % 16 != 0 || reinterpret_cast<std::uintptr_t>(x) % 16 != 0 || reinterpret_cast<std::uintptr_t>(y) % 16 != 0)
    return cudaErrorInvalidValue;
  const i64 words = bytes / 16;
  repeat_blocks_kernel<<<grid_for(outer * times * words, 256), 256, 0, stream>>>(
      static_cast<const uint4*>(x), static_cast<uint4*>(y), outer, times, words);
  return cudaGetLastError();
}

cudaError_t transpose(int element_bytes, const void* x, void* y, i64 rows, i64 cols, cudaStream_t stream) {
  return dispatch_bytes(element_bytes, [&](auto tag) {
    using U = decltype(tag);
    constexpr int T = transpose_tile<U>, V = 16 / static_cast<int>(sizeof(U));
    const i64 tiles = ((rows + T - 1) / T) * ((cols + T - 1) / T);
    const auto* xp = static_cast<const U*>(x);
    auto* yp = static_cast<U*>(y);
    if (rows % V == 0 && cols % V == 0)
      transpose_kernel<U, true><<<grid_for(tiles, 1), 256, 0, stream>>>(xp, yp, rows, cols);
    else
      transpose_kernel<U, false><<<grid_for(tiles, 1), 256, 0, stream>>>(xp, yp, rows, cols);
    return cudaGetLastError();
  });
}

cudaError_t permute(int element_bytes, const void* x, void* y, i64 rows, i64 cols, i64 run, cudaStream_t stream) {
  if (run < 1 || cols % run != 0) return cudaErrorInvalidValue;
  const i64 blocks = cols / run, run_bytes = run * element_bytes;
  if (run_bytes % 16 == 0 && reinterpret_cast<std::uintptr_t>(x) % 16 == 0 &&
      reinterpret_cast<std::uintptr_t>(y) % 16 == 0) {
    const i64 words = run_bytes / 16;
    permute_kernel<uint4><<<grid_for(rows * blocks * words, 256), 256, 0, stream>>>(
        static_cast<const uint4*>(x), static_cast<uint4*>(y), rows, blocks, words);
    return cudaGetLastError();
  }
  return dispatch_bytes(element_bytes, [&](auto tag) {
    using U = decltype(tag);
    permute_kernel<U><<<grid_for(rows * cols, 256), 256, 0, stream>>>(static_cast<const U*>(x), static_cast<U*>(y),
                                                                      rows, blocks, run);
    return cudaGetLastError();
  });
}

cudaError_t rotary(DType t, const void* x, const void* cos, const void* sin, void* y, i64 tokens, i64 heads,
                   i64 head_dim, cudaStream_t stream) {
  if (head_dim % 2 != 0 || heads * head_dim >= (i64{1} << 31)) return cudaErrorInvalidValue;
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vector = (head_dim / 2) % VecWidth<T>::value == 0;
    const int v = vector ? VecWidth<T>::value : 1;
    const i64 per_head = head_dim / 2 / v, items = heads * per_head;
    const int threads = items >= 256 ? 256 : (items <= 32 ? 32 : next_pow2(items));
    const unsigned grid = static_cast<unsigned>(tokens < (i64{1} << 20) ? tokens : (i64{1} << 20));
    const Divider<std::uint32_t> by_per_head(static_cast<std::uint32_t>(per_head));
    const auto* xp = static_cast<const T*>(x);
    const auto* cp = static_cast<const T*>(cos);
    const auto* sp = static_cast<const T*>(sin);
    auto* yp = static_cast<T*>(y);
    const int h = static_cast<int>(heads), d = static_cast<int>(head_dim);
    if (vector)
      rotary_kernel<T, true><<<grid, threads, 0, stream>>>(xp, cp, sp, yp, tokens, h, d, by_per_head);
    else
      rotary_kernel<T, false><<<grid, threads, 0, stream>>>(xp, cp, sp, yp, tokens, h, d, by_per_head);
    return cudaGetLastError();
  });
}

cudaError_t embedding(DType t, const std::int64_t* indices, const void* table, void* y, i64 tokens, i64 vocab, i64 dim,
                      cudaStream_t stream) {
  return dispatch_float(t, [&](auto tag) {
    using T = decltype(tag);
    const bool vector = dim % VecWidth<T>::value == 0;
    const i64 per_row = vector ? dim / VecWidth<T>::value : dim;
    // Enough threads that four vectors each cover the row (a 4096-wide bf16 row: 128).
    const i64 want = (per_row + 3) / 4;
    const int threads = want >= 256 ? 256 : (want <= 32 ? 32 : next_pow2(want));
    const unsigned grid = static_cast<unsigned>(tokens < (i64{1} << 20) ? tokens : (i64{1} << 20));
    const auto* tp = static_cast<const T*>(table);
    auto* yp = static_cast<T*>(y);
    if (vector)
      embedding_kernel<T, true><<<grid, threads, 0, stream>>>(indices, tp, yp, tokens, vocab, dim);
    else
      embedding_kernel<T, false><<<grid, threads, 0, stream>>>(indices, tp, yp, tokens, vocab, dim);
    return cudaGetLastError();
  });
}

cudaError_t flash_attention(DType t, const AttentionArgs& args, cudaStream_t stream) {
  return dispatch_attention(t, args.head_dim, [&](auto tag, auto d) {
    return launch_flash<decltype(tag), decltype(d)::value>(args, stream);
  });
}

cudaError_t decode_attention(DType t, const AttentionArgs& args, cudaStream_t stream) {
  if (args.splits > 1 && !args.partial) return cudaErrorInvalidValue;
  return dispatch_attention(t, args.head_dim, [&](auto tag, auto d) {
    return launch_decode<decltype(tag), decltype(d)::value>(args, stream);
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
