#pragma once
// Launchers: the g++-safe face of hwcal's own __global__ kernels.
//
// The backend (compiled by any C++17 compiler) calls the kernels only through
// the functions declared here. Their definitions live in
// <hwcal/cuda/kernels/all.cuh>, which needs nvcc. The pattern, as with
// single-header libraries that have an implementation switch:
//
//   // exactly one .cu file of the program:
//   #include <hwcal/cuda/kernels/all.cuh>
//
// Every other file includes <hwcal/cuda/backend.hpp> (or this header) as usual.
// Forgetting the .cu file is a link error naming hwcal::cuda::launch::...;
// including all.cuh twice is a duplicate-symbol error.
//
// Each launcher enqueues on `stream`, never synchronises, and returns
// cudaGetLastError() after the launch (cudaErrorInvalidValue for a type or op
// it has no kernel for). Tensors are contiguous, in the layouts documented per
// function; pointers come from cudaMalloc (256-byte aligned), which the
// vectorised paths rely on.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/dtype.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/ops.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <string_view>

namespace hwcal {
namespace cuda {

/// Kernels of the memory bandwidth sweep (bytes counted: read 1x, copy 2x, triad 3x).
enum class BandwidthKernel : std::uint8_t { read, copy, triad };

constexpr std::string_view to_string(BandwidthKernel k) noexcept {
  switch (k) {
    case BandwidthKernel::read: return "read";
    case BandwidthKernel::copy: return "copy";
    case BandwidthKernel::triad: return "triad";
  }
  return "?";
}

namespace launch {

using i64 = std::int64_t;

/// p[i] = value uniform in [lo, hi) from a counter-based hash of (seed, i),
/// rounded to the storage format (integers: floor).
cudaError_t fill_uniform(DType t, void* p, i64 n, std::uint64_t seed, double lo, double hi, cudaStream_t stream);

/// y = op(x) for relu, gelu (erf form), silu, sigmoid, hardswish, hardsigmoid,
/// tanh, copy. x == y is allowed. Floating types only.
cudaError_t unary(OpKind op, DType t, const void* x, void* y, i64 n, cudaStream_t stream);

/// y[i] = a[i] op b[broadcast ? i % broadcast : i] for add, mul, div.
cudaError_t binary(OpKind op, DType t, const void* a, const void* b, void* y, i64 n, i64 broadcast,
                   cudaStream_t stream);

/// In place: y[i] = act(y[i] + bias[(i / inner) % channels]); act is copy
/// (bias only), relu or gelu. inner = 1 for [rows][channels] (linear, NHWC),
/// h*w for NCHW.
cudaError_t bias_act(OpKind act, DType t, void* y, const void* bias, i64 n, i64 channels, i64 inner,
                     cudaStream_t stream);

/// Inference batchnorm, channel c = (i / inner) % channels, optional relu.
cudaError_t batchnorm(DType t, const void* x, const void* mean, const void* var, const void* gamma, const void* beta,
                      void* y, i64 n, i64 channels, i64 inner, double eps, bool relu, cudaStream_t stream);

/// Folds an inference batchnorm into conv weights laid out [k][per_k] (KCRS or
/// KRSC): w_out = w * s, bias_out = (bias - mean) * s + beta, s = gamma / sqrt(var + eps).
/// bias may be null (taken as 0).
cudaError_t fold_batchnorm(DType t, const void* w, const void* bias, const void* mean, const void* var,
                           const void* gamma, const void* beta, void* w_out, void* bias_out, i64 k, i64 per_k,
                           double eps, cudaStream_t stream);

/// Row softmax of [rows][cols]. causal_q > 0 applies attention's causal mask
/// aligned at the end: row r is query q = r % causal_q and sees keys
/// j < q + 1 + cols - causal_q; masked entries (and rows that see no key) are 0.
cudaError_t softmax(DType t, const void* x, void* y, i64 rows, i64 cols, i64 causal_q, cudaStream_t stream);

/// Layernorm over the last dimension with gamma/beta of `cols` elements.
cudaError_t layernorm(DType t, const void* x, const void* gamma, const void* beta, void* y, i64 rows, i64 cols,
                      double eps, cudaStream_t stream);

/// y[r] = mean of row r.
cudaError_t reduce_mean(DType t, const void* x, void* y, i64 rows, i64 cols, cudaStream_t stream);

/// maxpool or avgpool (padding counted in the divisor), NCHW.
cudaError_t pool2d(OpKind op, DType t, const void* x, void* y, const Pool2dShape& shape, cudaStream_t stream);

/// Adaptive average pooling with PyTorch's bin edges, NCHW.
cudaError_t adaptive_avgpool(DType t, const void* x, void* y, const AdaptivePoolShape& shape, cudaStream_t stream);

/// Byte copy (16-byte vectors where aligned).
cudaError_t copy(const void* x, void* y, i64 bytes, cudaStream_t stream);

/// y[c][r] = x[r][c] for elements of 1, 2, 4 or 8 bytes.
cudaError_t transpose(int element_bytes, const void* x, void* y, i64 rows, i64 cols, cudaStream_t stream);

/// y[r] = concat(a[r], b[r]) along the last dimension: a is [rows][cols_a],
/// b is [rows][cols_b], y is [rows][cols_a + cols_b].
cudaError_t concat(int element_bytes, const void* a, const void* b, void* y, i64 rows, i64 cols_a, i64 cols_b,
                   cudaStream_t stream);

/// One bandwidth kernel over buffers of `vectors` 16-byte elements, each
/// launch sweeping them `passes` times (loads and stores cached in L2 only, so
/// the sweep sees L2 and DRAM, not L1). read: sums a (b receives one value per
/// block, so it needs 4 * sm_count vectors); copy: b = a; triad: a = b + 3 c.
cudaError_t bandwidth(BandwidthKernel kernel, void* a, void* b, void* c, i64 vectors, i64 passes, int sm_count,
                      cudaStream_t stream);

/// An empty kernel, <<<1, 1>>>: the launch-overhead probe.
cudaError_t empty(cudaStream_t stream);

}  // namespace launch
}  // namespace cuda
}  // namespace hwcal
