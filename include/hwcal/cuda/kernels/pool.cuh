#pragma once
// Pooling over NCHW: max and average (padding counted in the divisor) with one
// thread per output element (as PyTorch's NCHW pooling kernels), and adaptive
// average with PyTorch's bin edges, a lane group or a block per output.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

namespace hwcal {
namespace cuda {
namespace kernels {

template <class T, bool Max>
__global__ void pool2d_kernel(const T* x, T* y, Pool2dShape s, i64 out_h, i64 out_w) {
  using A = acc_t<T>;
  const i64 total = s.n * s.c * out_h * out_w;
  for (i64 i = global_thread(); i < total; i += grid_threads()) {
    const i64 ow = i % out_w, oh = (i / out_w) % out_h, plane = i / (out_w * out_h);
    const T* xp = x + plane * s.h * s.w;
    A acc = Max ? m_neg_inf<A>() : A(0);
    for (i64 r = 0; r < s.r; ++r) {
      const i64 ih = oh * s.stride_h - s.pad_h + r;
      if (ih < 0 || ih >= s.h) continue;
      for (i64 q = 0; q < s.s; ++q) {
        const i64 iw = ow * s.stride_w - s.pad_w + q;
        if (iw < 0 || iw >= s.w) continue;
        const A v = to_acc(xp[ih * s.w + iw]);
        if (Max)
          acc = v > acc ? v : acc;
        else
          acc += v;
      }
    }
    y[i] = from_acc<T>(Max ? acc : acc / static_cast<A>(s.r * s.s));
  }
}

/// Bin edges of adaptive pooling (PyTorch's): [lo, hi) of input rows (or
/// columns) averaged into output row (column) `o` of `out` over `in`.
__device__ __forceinline__ void adaptive_bin(i64 o, i64 in, i64 out, i64& lo, i64& hi) {
  lo = o * in / out;
  hi = ((o + 1) * in + out - 1) / out;
}

/// Output i's bin of adaptive pooling: this thread's share of its sum (the
/// bin's elements first, first + step, ...) and the bin's element count.
template <class T>
__device__ __forceinline__ acc_t<T> adaptive_partial(const T* x, const AdaptivePoolShape& s, i64 i, i64 first, i64 step,
                                                     i64& bin) {
  const i64 ow = i % s.out_w, oh = (i / s.out_w) % s.out_h, plane = i / (s.out_w * s.out_h);
  i64 h0, h1, w0, w1;
  adaptive_bin(oh, s.h, s.out_h, h0, h1);
  adaptive_bin(ow, s.w, s.out_w, w0, w1);
  const i64 bw = w1 - w0;
  bin = (h1 - h0) * bw;
  const T* xp = x + plane * s.h * s.w + h0 * s.w + w0;
  acc_t<T> acc = 0;
  if (bw == s.w) {  // whole rows (a global pool): the bin is contiguous, no index arithmetic per element
    for (i64 j = first; j < bin; j += step) acc += to_acc(xp[j]);
  } else {
    const int bw32 = static_cast<int>(bw);
    for (int j = static_cast<int>(first); j < bin; j += static_cast<int>(step))
      acc += to_acc(xp[static_cast<i64>(j / bw32) * s.w + j % bw32]);
  }
  return acc;
}

/// Adaptive average pooling with `width` lanes (a power of two <= 32) per
/// output, reading each bin with consecutive lanes on consecutive elements:
/// one thread per output reads a global pool's 112x112 bin serially and ran
/// 400x slower than PyTorch's reduction on an H200.
template <class T>
__global__ void adaptive_avgpool_kernel(const T* x, T* y, AdaptivePoolShape s, int width) {
  using A = acc_t<T>;
  const i64 total = s.n * s.c * s.out_h * s.out_w;
  const int lane = static_cast<int>(threadIdx.x) & (width - 1);
  const i64 first = global_thread() / width, groups = grid_threads() / width;
  // Every group runs the same trip count (a past-the-end group recomputes the
  // last output without storing it), so the shuffles see the whole warp.
  for (i64 k = 0; k * groups < total; ++k) {
    const i64 out = first + k * groups, i = out < total ? out : total - 1;
    i64 bin;
    const A acc = group_reduce(adaptive_partial(x, s, i, lane, width, bin), width, SumOp{});
    if (lane == 0 && out < total) y[i] = from_acc<T>(acc / static_cast<A>(bin));
  }
}

/// Global average pooling (a 1x1 output: every SE block and classifier head)
/// with `width` lanes per output: output i's bin is the contiguous run
/// x[i * bin, (i + 1) * bin), so a lane's only index arithmetic is a multiply.
/// adaptive_avgpool_kernel's bin edges cost seven 64-bit divisions per lane
/// and output, more than its few loads: on an H200 it pooled 64x2048x7x7
/// (fp16) at 158 GB/s, 2-3x PyTorch's time on the pools of CNNs.
template <class T>
__global__ void global_avgpool_kernel(const T* x, T* y, i64 total, int bin, int width) {
  using A = acc_t<T>;
  const int lane = static_cast<int>(threadIdx.x) & (width - 1);
  const i64 first = global_thread() / width, groups = grid_threads() / width;
  for (i64 k = 0; k * groups < total; ++k) {  // the same trip count in every group (adaptive_avgpool_kernel)
    const i64 out = first + k * groups, i = out < total ? out : total - 1;
    const T* xp = x + i * bin;
    A acc = 0;
    for (int j = lane; j < bin; j += width) acc += to_acc(xp[j]);
    acc = group_reduce(acc, width, SumOp{});
    if (lane == 0 && out < total) y[i] = from_acc<T>(acc / static_cast<A>(bin));
  }
}

/// The same with a whole block per output, for bins of thousands of elements
/// (global pools early in a network) with fewer outputs than the GPU has warps.
template <class T>
__global__ void adaptive_avgpool_block_kernel(const T* x, T* y, AdaptivePoolShape s) {
  using A = acc_t<T>;
  __shared__ A smem[32];
  const i64 total = s.n * s.c * s.out_h * s.out_w;
  for (i64 i = blockIdx.x; i < total; i += gridDim.x) {
    i64 bin;
    const A acc = block_reduce(adaptive_partial(x, s, i, threadIdx.x, blockDim.x, bin), smem, SumOp{}, A(0));
    if (threadIdx.x == 0) y[i] = from_acc<T>(acc / static_cast<A>(bin));
  }
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
