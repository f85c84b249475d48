#pragma once
// Pooling over NCHW, one thread per output element (as PyTorch's NCHW pooling
// kernels): max, average with padding counted in the divisor, and adaptive
// average with PyTorch's bin edges.

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

template <class T>
__global__ void adaptive_avgpool_kernel(const T* x, T* y, AdaptivePoolShape s) {
  using A = acc_t<T>;
  const i64 total = s.n * s.c * s.out_h * s.out_w;
  for (i64 i = global_thread(); i < total; i += grid_threads()) {
    const i64 ow = i % s.out_w, oh = (i / s.out_w) % s.out_h, plane = i / (s.out_w * s.out_h);
    const i64 h0 = oh * s.h / s.out_h, h1 = ((oh + 1) * s.h + s.out_h - 1) / s.out_h;
    const i64 w0 = ow * s.w / s.out_w, w1 = ((ow + 1) * s.w + s.out_w - 1) / s.out_w;
    const T* xp = x + plane * s.h * s.w;
    A acc = 0;
    for (i64 ih = h0; ih < h1; ++ih)
      for (i64 iw = w0; iw < w1; ++iw) acc += to_acc(xp[ih * s.w + iw]);
    y[i] = from_acc<T>(acc / static_cast<A>((h1 - h0) * (w1 - w0)));
  }
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
