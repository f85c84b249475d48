#pragma once
// Elementwise kernels: activations, binary ops with broadcast, SwiGLU's
// silu(a) * b, bias + activation (the unfused halves of fusion patterns),
// inference batchnorm and batchnorm folding. Memory-bound: each thread keeps
// four independent 16-byte vectors in flight per input before computing (one
// vector per thread leaves HBM latency uncovered on an H100/H200), loops with
// a grid stride, and computes in fp32 (fp64 for fp64), as PyTorch's
// vectorised kernels do.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/kernels/common.cuh>

namespace hwcal {
namespace cuda {
namespace kernels {

// ---------------------------------------------------------------- functions

struct Identity {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return x;
  }
};
struct Relu {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return x > A(0) ? x : A(0);
  }
};
struct Gelu {  // exact form, PyTorch's default
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return A(0.5) * x * (A(1) + m_erf(x * A(0.70710678118654752440)));
  }
};
struct Sigmoid {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return A(1) / (A(1) + m_exp(-x));
  }
};
struct Silu {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return x / (A(1) + m_exp(-x));
  }
};
struct Hardsigmoid {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    const A v = x / A(6) + A(0.5);
    return v < A(0) ? A(0) : (v > A(1) ? A(1) : v);
  }
};
struct Hardswish {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return x * Hardsigmoid{}(x);
  }
};
struct Tanh {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return m_tanh(x);
  }
};
/// min(max(x, lo), hi): relu6, hardtanh and clamp. NaN passes through, as in PyTorch.
struct Clamp {
  double lo, hi;
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return x < A(lo) ? A(lo) : (x > A(hi) ? A(hi) : x);
  }
};
struct Neg {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return -x;
  }
};
struct Exp {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return m_exp(x);
  }
};
struct Square {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return x * x;
  }
};
struct Sqrt {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return m_sqrt(x);
  }
};
struct Rsqrt {
  template <class A>
  __device__ __forceinline__ A operator()(A x) const {
    return m_rsqrt(x);
  }
};
struct Add {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a + b;
  }
};
struct Mul {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a * b;
  }
};
struct Div {
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return a / b;
  }
};
struct SiluMul {  // SwiGLU: silu(gate) * up
  template <class A>
  __device__ __forceinline__ A operator()(A a, A b) const {
    return Silu{}(a)*b;
  }
};

/// Calls g(F{}) with the functor of a unary op kind; clamp uses [lo, hi].
template <class G>
cudaError_t dispatch_unary(OpKind op, double lo, double hi, G&& g) {
  switch (op) {
    case OpKind::copy: return g(Identity{});
    case OpKind::relu: return g(Relu{});
    case OpKind::gelu: return g(Gelu{});
    case OpKind::silu: return g(Silu{});
    case OpKind::sigmoid: return g(Sigmoid{});
    case OpKind::hardswish: return g(Hardswish{});
    case OpKind::hardsigmoid: return g(Hardsigmoid{});
    case OpKind::tanh: return g(Tanh{});
    case OpKind::relu6: return g(Clamp{0.0, 6.0});
    case OpKind::hardtanh: return g(Clamp{-1.0, 1.0});
    case OpKind::clamp: return g(Clamp{lo, hi});
    case OpKind::neg: return g(Neg{});
    case OpKind::exp: return g(Exp{});
    case OpKind::square: return g(Square{});
    case OpKind::sqrt: return g(Sqrt{});
    case OpKind::rsqrt: return g(Rsqrt{});
    default: return cudaErrorInvalidValue;
  }
}

/// Calls g(F{}) with the activation of a bias or batchnorm pass: none (copy), relu or gelu.
template <class G>
cudaError_t dispatch_activation(OpKind op, G&& g) {
  switch (op) {
    case OpKind::copy: return g(Identity{});
    case OpKind::relu: return g(Relu{});
    case OpKind::gelu: return g(Gelu{});
    default: return cudaErrorInvalidValue;
  }
}

template <class G>
cudaError_t dispatch_binary(OpKind op, G&& g) {
  switch (op) {
    case OpKind::add: return g(Add{});
    case OpKind::mul: return g(Mul{});
    case OpKind::div: return g(Div{});
    case OpKind::silu_mul: return g(SiluMul{});
    default: return cudaErrorInvalidValue;
  }
}

// ---------------------------------------------------------------- kernels

/// 16-byte vectors in flight per thread and input.
constexpr int elementwise_unroll = 4;
constexpr int elementwise_threads = 256;

// x and y may alias (in-place activations): no __restrict__.
template <class T, class F>
__global__ void __launch_bounds__(elementwise_threads) unary_kernel(const T* x, T* y, i64 n, F f) {
  constexpr int V = VecWidth<T>::value, U = elementwise_unroll;
  using VT = Vec<T, V>;
  const i64 nv = n / V, stride = grid_threads();
  for (i64 i = global_thread(); i < nv; i += U * stride) {
    VT a[U];
#pragma unroll
    for (int k = 0; k < U; ++k)
      if (i + k * stride < nv) a[k] = reinterpret_cast<const VT*>(x)[i + k * stride];
#pragma unroll
    for (int k = 0; k < U; ++k) {
      if (i + k * stride >= nv) continue;
#pragma unroll
      for (int e = 0; e < V; ++e) a[k].v[e] = from_acc<T>(f(to_acc(a[k].v[e])));
      reinterpret_cast<VT*>(y)[i + k * stride] = a[k];
    }
  }
  for (i64 i = nv * V + global_thread(); i < n; i += stride) y[i] = from_acc<T>(f(to_acc(x[i])));
}

// a and y may alias (x += y): no __restrict__.
template <class T, class F>
__global__ void __launch_bounds__(elementwise_threads) binary_kernel(const T* a, const T* b, T* y, i64 n, F f) {
  constexpr int V = VecWidth<T>::value, U = elementwise_unroll;
  using VT = Vec<T, V>;
  const i64 nv = n / V, stride = grid_threads();
  for (i64 i = global_thread(); i < nv; i += U * stride) {
    VT va[U], vb[U];
#pragma unroll
    for (int k = 0; k < U; ++k) {
      const i64 at = i + k * stride;
      if (at < nv) {
        va[k] = reinterpret_cast<const VT*>(a)[at];
        vb[k] = reinterpret_cast<const VT*>(b)[at];
      }
    }
#pragma unroll
    for (int k = 0; k < U; ++k) {
      if (i + k * stride >= nv) continue;
#pragma unroll
      for (int e = 0; e < V; ++e) va[k].v[e] = from_acc<T>(f(to_acc(va[k].v[e]), to_acc(vb[k].v[e])));
      reinterpret_cast<VT*>(y)[i + k * stride] = va[k];
    }
  }
  for (i64 i = nv * V + global_thread(); i < n; i += stride) y[i] = from_acc<T>(f(to_acc(a[i]), to_acc(b[i])));
}

/// A binary op whose second input repeats (b[i mod period]), as frameworks
/// run a broadcast: PyTorch gives an input with zero strides to its generic
/// elementwise kernel (128 threads, 4 elements each at a stride of 128, an
/// offset computed per element, no vector loads), which reached half the
/// bandwidth of the vectorized kernels in real models on an H200 (the SE
/// blocks' x * s). hwcal's vectorized broadcast ran 2x faster and predicted
/// those layers 2x fast.
constexpr int broadcast_threads = 128, broadcast_unroll = 4;

template <class T, class I, class F>
__global__ void __launch_bounds__(broadcast_threads)
    broadcast_kernel(const T* a, const T* b, T* y, I n, Divider<I> period, F f) {
  constexpr I tile = broadcast_threads * broadcast_unroll;
  for (I base = static_cast<I>(blockIdx.x) * tile; base < n; base += static_cast<I>(gridDim.x) * tile) {
    acc_t<T> va[broadcast_unroll], vb[broadcast_unroll];
#pragma unroll
    for (int k = 0; k < broadcast_unroll; ++k) {
      const I i = base + threadIdx.x + k * broadcast_threads;
      if (i < n) {
        va[k] = to_acc(a[i]);
        vb[k] = to_acc(b[i - period.div(i) * period.d]);
      }
    }
#pragma unroll
    for (int k = 0; k < broadcast_unroll; ++k) {
      const I i = base + threadIdx.x + k * broadcast_threads;
      if (i < n) y[i] = from_acc<T>(f(va[k], vb[k]));
    }
  }
}

/// y = act(x * scale[c] + shift[c]) with the per-channel affine map of P
/// (bias: scale 1; batchnorm: gamma / sqrt(var + eps) and beta - mean * scale),
/// channel c = (i / inner) % channels. The map is computed once per vector
/// and again only where a vector crosses into the next channel; the channel
/// of a vector comes from two divisions by invariants (Divider: no division
/// instruction with 32-bit indices).
template <class T, class I, class P, class F>
__global__ void __launch_bounds__(elementwise_threads)
    channel_kernel(const T* x, T* y, I n, I channels, I inner, Divider<I> by_inner, Divider<I> by_channels, P p, F f) {
  using A = acc_t<T>;
  constexpr int V = VecWidth<T>::value, U = elementwise_unroll;
  using VT = Vec<T, V>;
  const I nv = n / V, stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += U * stride) {
    VT a[U];
#pragma unroll
    for (int k = 0; k < U; ++k)
      if (i + k * stride < nv) a[k] = reinterpret_cast<const VT*>(x)[i + k * stride];
#pragma unroll
    for (int k = 0; k < U; ++k) {
      const I at = i + k * stride;
      if (at >= nv) continue;
      const I plane = by_inner.div(at * V);
      I left = inner - (at * V - plane * inner);
      I c = plane - by_channels.div(plane) * channels;
      A scale, shift;
      p.affine(c, scale, shift);
#pragma unroll
      for (int e = 0; e < V; ++e) {
        a[k].v[e] = from_acc<T>(f(to_acc(a[k].v[e]) * scale + shift));
        if (--left == 0) {
          left = inner;
          if (++c == channels) c = 0;
          p.affine(c, scale, shift);
        }
      }
      reinterpret_cast<VT*>(y)[at] = a[k];
    }
  }
  for (I i = nv * V + static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const I plane = by_inner.div(i);
    A scale, shift;
    p.affine(plane - by_channels.div(plane) * channels, scale, shift);
    y[i] = from_acc<T>(f(to_acc(x[i]) * scale + shift));
  }
}

template <class T>
struct BiasParam {
  const T* bias;
  template <class I>
  __device__ __forceinline__ void affine(I c, acc_t<T>& scale, acc_t<T>& shift) const {
    scale = 1;
    shift = to_acc(bias[c]);
  }
};

template <class T>
struct BatchnormParam {
  const T *mean, *var, *gamma, *beta;
  acc_t<T> eps;
  template <class I>
  __device__ __forceinline__ void affine(I c, acc_t<T>& scale, acc_t<T>& shift) const {
    using A = acc_t<T>;
    scale = to_acc(gamma[c]) * m_rsqrt(to_acc(var[c]) + eps);  // no division: its slow path is a call
    shift = to_acc(beta[c]) - to_acc(mean[c]) * scale;
  }
};

template <class T>
__global__ void fold_batchnorm_kernel(const T* w, const T* bias, const T* mean, const T* var, const T* gamma,
                                      const T* beta, T* w_out, T* bias_out, i64 k, i64 per_k, acc_t<T> eps) {
  using A = acc_t<T>;
  for (i64 i = global_thread(); i < k * per_k; i += grid_threads()) {
    const i64 c = i / per_k;
    const A s = to_acc(gamma[c]) / m_sqrt(to_acc(var[c]) + eps);
    w_out[i] = from_acc<T>(to_acc(w[i]) * s);
    if (i < k) {
      const A s_i = to_acc(gamma[i]) / m_sqrt(to_acc(var[i]) + eps);
      const A b = bias ? to_acc(bias[i]) : A(0);
      bias_out[i] = from_acc<T>((b - to_acc(mean[i])) * s_i + to_acc(beta[i]));
    }
  }
}

// ---------------------------------------------------------------- host side

/// Blocks for n elements: each thread handles `elementwise_unroll` vectors per pass.
template <class T>
inline unsigned elementwise_grid(i64 n) {
  const i64 vectors = (n + VecWidth<T>::value - 1) / VecWidth<T>::value;
  return grid_for((vectors + elementwise_unroll - 1) / elementwise_unroll, elementwise_threads);
}

/// Launches channel_kernel with 32-bit indices when every index fits.
template <class T, class P, class F>
cudaError_t launch_channel(const T* x, T* y, i64 n, i64 channels, i64 inner, P p, F f, cudaStream_t stream) {
  const unsigned grid = elementwise_grid<T>(n);
  if (n < index32_limit) {
    using I = std::uint32_t;
    channel_kernel<T, I><<<grid, elementwise_threads, 0, stream>>>(
        x, y, static_cast<I>(n), static_cast<I>(channels), static_cast<I>(inner), Divider<I>(static_cast<I>(inner)),
        Divider<I>(static_cast<I>(channels)), p, f);
  } else {
    channel_kernel<T, i64><<<grid, elementwise_threads, 0, stream>>>(x, y, n, channels, inner, Divider<i64>(inner),
                                                                     Divider<i64>(channels), p, f);
  }
  return cudaGetLastError();
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
