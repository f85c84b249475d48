#pragma once
// ConvKernel: 2-D convolution, NCHW: im2col + GEMM per image and group (1x1 stride-1
// convolutions skip im2col), and a direct loop for depthwise convolutions,
// where a GEMM would have one row. An epilogue runs on each output channel of
// an image right after it is computed, while it is still in cache: bias,
// folded batchnorm and activations are fused there (cpu/fusion.hpp).

#include <hwcal/cpu/common.hpp>
#include <hwcal/kernel.hpp>

#include <vector>

namespace hwcal {
namespace cpu {
namespace detail {

/// Adds the bias of output channel k (or nothing).
template <class T>
struct BiasEpilogue {
  const T* bias = nullptr;
  void operator()(i64 k, T* row, i64 len) const {
    if (!bias) return;
    const T b = bias[k];
    for (i64 i = 0; i < len; ++i) row[i] += b;
  }
};

inline bool is_pointwise(const Conv2dShape& s) {
  return s.r == 1 && s.s == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

/// col[(c*R + r)*S + q][oh*Wo + ow] for channels [0, cg) of one image group,
/// rows [row0, row1) of col.
template <class T>
void im2col(const Conv2dShape& s, const T* x, T* col, i64 row0, i64 row1) {
  const i64 oh_n = s.out_h(), ow_n = s.out_w();
  for (i64 row = row0; row < row1; ++row) {
    const i64 q = row % s.s, r = (row / s.s) % s.r, c = row / (s.s * s.r);
    const T* xc = x + c * s.h * s.w;
    T* out = col + row * oh_n * ow_n;
    for (i64 oh = 0; oh < oh_n; ++oh) {
      const i64 ih = oh * s.stride_h - s.pad_h + r * s.dil_h;
      T* o = out + oh * ow_n;
      if (ih < 0 || ih >= s.h) {
        std::fill(o, o + ow_n, T(0));
        continue;
      }
      const T* xr = xc + ih * s.w;
      const i64 off = q * s.dil_w - s.pad_w;
      if (s.stride_w == 1) {
        // valid ow: 0 <= ow + off < w
        const i64 lo = std::clamp<i64>(-off, 0, ow_n), hi = std::clamp<i64>(s.w - off, lo, ow_n);
        std::fill(o, o + lo, T(0));
        std::copy(xr + lo + off, xr + hi + off, o + lo);
        std::fill(o + hi, o + ow_n, T(0));
      } else {
        for (i64 ow = 0; ow < ow_n; ++ow) {
          const i64 iw = ow * s.stride_w + off;
          o[ow] = (iw >= 0 && iw < s.w) ? xr[iw] : T(0);
        }
      }
    }
  }
}

/// Depthwise (groups == c) output channel k of image n.
template <class T>
void depthwise_channel(const Conv2dShape& s, const T* x, const T* w, i64 n, i64 k, T* y) {
  const i64 mult = s.k / s.c, c = k / mult, oh_n = s.out_h(), ow_n = s.out_w();
  const T* xc = x + (n * s.c + c) * s.h * s.w;
  const T* wk = w + k * s.r * s.s;
  T* yk = y + (n * s.k + k) * oh_n * ow_n;
  std::fill(yk, yk + oh_n * ow_n, T(0));
  for (i64 oh = 0; oh < oh_n; ++oh) {
    T* yr = yk + oh * ow_n;
    for (i64 r = 0; r < s.r; ++r) {
      const i64 ih = oh * s.stride_h - s.pad_h + r * s.dil_h;
      if (ih < 0 || ih >= s.h) continue;
      const T* xr = xc + ih * s.w;
      for (i64 q = 0; q < s.s; ++q) {
        const T wv = wk[r * s.s + q];
        const i64 off = q * s.dil_w - s.pad_w;
        // valid ow: 0 <= ow*stride + off < w
        const i64 lo = off >= 0 ? 0 : (-off + s.stride_w - 1) / s.stride_w;
        const i64 hi = std::min(ow_n, (s.w - off + s.stride_w - 1) / s.stride_w);
        if (s.stride_w == 1) {
          for (i64 ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow + off];
        } else {
          for (i64 ow = lo; ow < hi; ++ow) yr[ow] += wv * xr[ow * s.stride_w + off];
        }
      }
    }
  }
}

/// Scratch one image needs for im2col (0 for pointwise and depthwise).
inline i64 conv_scratch_elements(const Conv2dShape& s) {
  if (s.groups == s.c || is_pointwise(s)) return 0;
  return (s.c / s.groups) * s.r * s.s * s.out_h() * s.out_w();
}

/// y = conv(x, w), then epilogue(k, row, len) on each output channel row of
/// each image. `scratch` holds conv_scratch_elements() per thread.
template <class Gemm, class T, class Epilogue>
void conv2d_forward(const Conv2dShape& s, const T* x, const T* w, T* y, T* scratch, int threads, const Epilogue& ep) {
  const i64 cg = s.c / s.groups, kg = s.k / s.groups, hw_out = s.out_h() * s.out_w();
  const i64 red = cg * s.r * s.s, per_thread = conv_scratch_elements(s);
  if (s.groups == s.c) {  // depthwise: independent planes
    parallel_for(threads, s.n * s.k, [&](i64 p0, i64 p1) {
      for (i64 p = p0; p < p1; ++p) {
        depthwise_channel(s, x, w, p / s.k, p % s.k, y);
        ep(p % s.k, y + p * hw_out, hw_out);
      }
    });
    return;
  }
  const bool pointwise = is_pointwise(s);
  // One image at a time: im2col (threaded) then the threaded GEMM.
  auto image = [&](i64 n, T* col, bool threaded_im2col) {
    for (i64 g = 0; g < s.groups; ++g) {
      const T* xg = x + (n * s.c + g * cg) * s.h * s.w;
      T* yg = y + (n * s.k + g * kg) * hw_out;
      const T* b = xg;
      if (!pointwise) {
        if (threaded_im2col)
          parallel_for(Gemm::side_threads(threads), red, [&](i64 r0, i64 r1) { im2col(s, xg, col, r0, r1); });
        else
          im2col(s, xg, col, 0, red);
        b = col;
      }
      Gemm::gemm(false, kg, hw_out, red, w + g * kg * red, red, b, hw_out, false, yg, hw_out);
      for (i64 k = 0; k < kg; ++k) ep(g * kg + k, yg + k * hw_out, hw_out);
    }
  };
  if (threads > 1 && s.n >= threads) {
    // Enough images to give each thread its own: serial GEMMs, no fork per product.
    typename Gemm::SerialScope serial(threads);
    parallel_for(threads, s.n, [&](i64 n0, i64 n1) {
      T* col = scratch + per_thread * thread_index();
      for (i64 n = n0; n < n1; ++n) image(n, col, false);
    });
  } else {
    for (i64 n = 0; n < s.n; ++n) image(n, scratch, true);
  }
}

}  // namespace detail

template <class Gemm, class T>
class ConvKernel final : public Kernel {
 public:
  ConvKernel(const OpDesc& op, Precision p, int threads)
      : s_(std::get<Conv2dShape>(op.shape)), p_(p), threads_(threads) {
    x_ = random_buffer<T>(s_.n * s_.c * s_.h * s_.w, 11);
    w_ = random_buffer<T>(s_.k * (s_.c / s_.groups) * s_.r * s_.s, 12);
    if (s_.bias) bias_ = random_buffer<T>(s_.k, 13);
    y_ = Buffer<T>::Zero(s_.n * s_.k * s_.out_h() * s_.out_w());
    scratch_ = Buffer<T>::Zero(std::max<i64>(1, detail::conv_scratch_elements(s_) * std::max(1, threads_)));
  }
  void run() override {
    detail::conv2d_forward<Gemm>(s_, x_.data(), w_.data(), y_.data(), scratch_.data(), threads_,
                                 detail::BiasEpilogue<T>{s_.bias ? bias_.data() : nullptr});
  }
  CheckResult check() override {
    reference::SampledCheck chk(p_, (s_.c / s_.groups) * s_.r * s_.s);
    const i64 ohw = s_.out_h() * s_.out_w();
    for (i64 idx : sample_indices(y_.size())) {
      const i64 n = idx / (s_.k * ohw), k = (idx / ohw) % s_.k, oh = (idx % ohw) / s_.out_w(), ow = idx % s_.out_w();
      chk.add(hwcal::detail::as_double(y_[idx]),
              reference::conv2d_at(x_.data(), w_.data(), s_.bias ? bias_.data() : nullptr, s_, n, k, oh, ow), "y", idx);
    }
    return chk.result();
  }
  T* output() noexcept { return y_.data(); }

 private:
  Conv2dShape s_;
  Precision p_;
  int threads_;
  Buffer<T> x_, w_, bias_, y_, scratch_;
};

}  // namespace cpu
}  // namespace hwcal
