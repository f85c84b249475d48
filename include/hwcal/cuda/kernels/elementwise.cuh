#pragma once
// Elementwise kernels: activations, binary ops with broadcast, bias +
// activation (the unfused halves of fusion patterns), inference batchnorm and
// batchnorm folding. Memory-bound, so each thread moves 16-byte vectors and
// computes in fp32 (fp64 for fp64), like PyTorch's vectorised kernels.

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

/// Calls f(F{}) with the functor of a unary op kind.
template <class G>
cudaError_t dispatch_unary(OpKind op, G&& g) {
  switch (op) {
    case OpKind::copy: return g(Identity{});
    case OpKind::relu: return g(Relu{});
    case OpKind::gelu: return g(Gelu{});
    case OpKind::silu: return g(Silu{});
    case OpKind::sigmoid: return g(Sigmoid{});
    case OpKind::hardswish: return g(Hardswish{});
    case OpKind::hardsigmoid: return g(Hardsigmoid{});
    case OpKind::tanh: return g(Tanh{});
    default: return cudaErrorInvalidValue;
  }
}

template <class G>
cudaError_t dispatch_binary(OpKind op, G&& g) {
  switch (op) {
    case OpKind::add: return g(Add{});
    case OpKind::mul: return g(Mul{});
    case OpKind::div: return g(Div{});
    default: return cudaErrorInvalidValue;
  }
}

// ---------------------------------------------------------------- kernels

// x and y may alias (in-place activations): no __restrict__.
template <class T, class F>
__global__ void unary_kernel(const T* x, T* y, i64 n, F f) {
  constexpr int V = VecWidth<T>::value;
  using VT = Vec<T, V>;
  const i64 nv = n / V;
  for (i64 i = global_thread(); i < nv; i += grid_threads()) {
    VT a = reinterpret_cast<const VT*>(x)[i];
#pragma unroll
    for (int k = 0; k < V; ++k) a.v[k] = from_acc<T>(f(to_acc(a.v[k])));
    reinterpret_cast<VT*>(y)[i] = a;
  }
  for (i64 i = nv * V + global_thread(); i < n; i += grid_threads()) y[i] = from_acc<T>(f(to_acc(x[i])));
}

template <class T, class F>
__global__ void binary_kernel(const T* a, const T* b, T* y, i64 n, i64 broadcast, F f) {
  constexpr int V = VecWidth<T>::value;
  using VT = Vec<T, V>;
  const i64 nv = n / V;
  const i64 period = broadcast > 0 ? broadcast : n;
  for (i64 i = global_thread(); i < nv; i += grid_threads()) {
    VT va = reinterpret_cast<const VT*>(a)[i];
    VT vb;
    if (period == n) {
      vb = reinterpret_cast<const VT*>(b)[i];
    } else {
      i64 j = (i * V) % period;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        vb.v[k] = b[j];
        if (++j == period) j = 0;
      }
    }
#pragma unroll
    for (int k = 0; k < V; ++k) va.v[k] = from_acc<T>(f(to_acc(va.v[k]), to_acc(vb.v[k])));
    reinterpret_cast<VT*>(y)[i] = va;
  }
  for (i64 i = nv * V + global_thread(); i < n; i += grid_threads())
    y[i] = from_acc<T>(f(to_acc(a[i]), to_acc(b[i % period])));
}

/// Per-channel affine map y = act(x * scale[c] + shift[c]) computed from the
/// parameters given to the functor P (bias, or batchnorm statistics).
template <class T, class P, class F>
__global__ void channel_kernel(const T* x, T* y, i64 n, i64 channels, i64 inner, P p, F f) {
  constexpr int V = VecWidth<T>::value;
  using VT = Vec<T, V>;
  const i64 nv = n / V;
  for (i64 i = global_thread(); i < nv; i += grid_threads()) {
    VT a = reinterpret_cast<const VT*>(x)[i];
    i64 c = ((i * V) / inner) % channels, left = inner - (i * V) % inner;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      a.v[k] = from_acc<T>(f(p(to_acc(a.v[k]), c)));
      if (--left == 0) {
        left = inner;
        if (++c == channels) c = 0;
      }
    }
    reinterpret_cast<VT*>(y)[i] = a;
  }
  for (i64 i = nv * V + global_thread(); i < n; i += grid_threads())
    y[i] = from_acc<T>(f(p(to_acc(x[i]), (i / inner) % channels)));
}

template <class T>
struct BiasParam {
  const T* bias;
  __device__ __forceinline__ acc_t<T> operator()(acc_t<T> v, i64 c) const { return v + to_acc(bias[c]); }
};

template <class T>
struct BatchnormParam {
  const T *mean, *var, *gamma, *beta;
  acc_t<T> eps;
  __device__ __forceinline__ acc_t<T> operator()(acc_t<T> v, i64 c) const {
    using A = acc_t<T>;
    const A inv = A(1) / m_sqrt(to_acc(var[c]) + eps);
    return (v - to_acc(mean[c])) * inv * to_acc(gamma[c]) + to_acc(beta[c]);
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

constexpr int elementwise_threads = 256;

template <class T>
inline unsigned elementwise_grid(i64 n) {
  return grid_for((n + VecWidth<T>::value - 1) / VecWidth<T>::value, elementwise_threads);
}

}  // namespace kernels
}  // namespace cuda
}  // namespace hwcal
