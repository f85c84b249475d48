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
// Each launcher enqueues on `stream`, never synchronises, allocates or copies
// from the host (so it can be captured in a CUDA graph), and returns
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
#include <string>
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
/// tanh, relu6, hardtanh, neg, exp, square, sqrt, rsqrt, copy. x == y is allowed
/// (in place). Floating types only.
cudaError_t unary(OpKind op, DType t, const void* x, void* y, i64 n, cudaStream_t stream);

/// y = min(max(x, lo), hi) (the clamp op). x == y is allowed.
cudaError_t clamp(DType t, const void* x, void* y, i64 n, double lo, double hi, cudaStream_t stream);

/// y[i] = a[i] op b[broadcast ? i % broadcast : i] for add, mul, div and
/// silu_mul (silu(a) * b, no broadcast). a == y is allowed (in place).
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

/// A row op over the last dimension of x [rows][cols] (kernels/rows.cuh):
///   softmax      y = softmax(x); causal_q > 0 applies attention's causal mask
///                aligned at the end: row r is query q = r % causal_q and sees
///                keys j < q + 1 + cols - causal_q; masked entries (and rows
///                that see no key) are 0
///   layernorm    y = (x - mean) / sqrt(var + eps) * gamma + beta
///   rmsnorm      y = x / sqrt(mean(x^2) + eps) * gamma (beta unused)
///   reduce_mean  y[r] = mean of row r
/// gamma and beta hold `cols` elements. x and y may alias.
cudaError_t row_op(OpKind op, DType t, const void* x, const void* gamma, const void* beta, void* y, i64 rows, i64 cols,
                   double eps, i64 causal_q, cudaStream_t stream);

/// How row_op lays a row of `cols` elements of type t over threads. Rows
/// whose length is a multiple of the 16-byte vector width (aligned) move
/// vectors, others single elements. Up to `per_thread` vectors (or as many
/// vectors' worth of single elements) per thread stay in registers, so the
/// row is read once: a group of `width` lanes (1 to 32) per row for short
/// rows, a block of `width` threads for long aligned ones; longer rows stream
/// from memory in each pass, a block of 1024 threads per row. The register
/// budgets keep every kernel under ~150 registers without spills (ptxas, sm_90).
struct RowLayout {
  enum class Kind : std::uint8_t { group, block, stream };
  Kind kind = Kind::group;
  bool aligned = true;
  int width = 32;
  int per_thread = 1;  ///< 0 when streamed
  std::string describe() const {
    if (kind == Kind::stream) return "block of 1024 per row, streamed";
    return std::string(kind == Kind::group ? "group of " : "block of ") + std::to_string(width) + " per row, " +
           std::to_string(per_thread) + (aligned ? " 16-byte vectors" : " x 16 bytes of single elements") +
           " per thread in registers";
  }
};

inline RowLayout row_layout(DType t, i64 cols) {
  RowLayout l;
  const int v = 16 / dtype_bytes(t);
  const i64 vectors = (cols + v - 1) / v;
  l.aligned = cols % v == 0;
  const int group_vectors = l.aligned ? 8 : 1;  // per lane
  auto pow2 = [](i64 n) {
    int p = 1;
    while (p < n) p *= 2;
    return p;
  };
  if (vectors <= 32 * group_vectors) {
    l.width = vectors <= 32 ? pow2(vectors) : 32;
    l.per_thread = vectors <= 32 ? 1 : pow2((vectors + 31) / 32);
  } else if (l.aligned && vectors <= 512 * 8) {
    l.kind = RowLayout::Kind::block;
    l.width = pow2((vectors + 7) / 8);
    l.per_thread = 8;
  } else {
    l.kind = RowLayout::Kind::stream;
    l.width = 1024;
    l.per_thread = 0;
  }
  return l;
}

/// maxpool or avgpool (padding counted in the divisor), NCHW.
cudaError_t pool2d(OpKind op, DType t, const void* x, void* y, const Pool2dShape& shape, cudaStream_t stream);

/// Adaptive average pooling with PyTorch's bin edges, NCHW.
cudaError_t adaptive_avgpool(DType t, const void* x, void* y, const AdaptivePoolShape& shape, cudaStream_t stream);

/// Byte copy (16-byte vectors where both ends are aligned).
cudaError_t copy(const void* x, void* y, i64 bytes, cudaStream_t stream);

/// y = [x0; x1; ...]: the `bytes[i]` bytes of each of the `n` inputs in turn,
/// one launch per 64 inputs (torch.cat of contiguous tensors along their
/// outer dimension).
cudaError_t concat(const void* const* inputs, const i64* bytes, int n, void* y, cudaStream_t stream);
/// y = each of `outer` blocks of `bytes` bytes of x repeated `times` times in a
/// row (bytes a multiple of 16, both ends 16-byte aligned).
cudaError_t repeat_blocks(const void* x, void* y, i64 outer, i64 times, i64 bytes, cudaStream_t stream);

/// y[c][r] = x[r][c] for elements of 1, 2, 4 or 8 bytes, through shared-memory tiles.
cudaError_t transpose(int element_bytes, const void* x, void* y, i64 rows, i64 cols, cudaStream_t stream);
/// x [rows][cols / run][run] written as [cols / run][rows][run] (runs of `run`
/// elements of 1, 2, 4 or 8 bytes kept whole; cols a multiple of run).
cudaError_t permute(int element_bytes, const void* x, void* y, i64 rows, i64 cols, i64 run, cudaStream_t stream);

/// Rotary embedding, rotate-half convention (reference::rotary_at): x and y
/// [tokens][heads][head_dim], cos and sin [tokens][head_dim]; head_dim even.
cudaError_t rotary(DType t, const void* x, const void* cos, const void* sin, void* y, i64 tokens, i64 heads,
                   i64 head_dim, cudaStream_t stream);

/// y[t] = table[indices[t]]: rows of `dim` elements of a [vocab][dim] table.
cudaError_t embedding(DType t, const std::int64_t* indices, const void* table, void* y, i64 tokens, i64 vocab, i64 dim,
                      cudaStream_t stream);

/// Fused attention, fp16/bf16: Q and O [batch][heads][seq_q][head_dim], K and
/// V [batch][kv_heads][seq_kv][head_dim]; query head h reads KV head
/// h / (heads / kv_heads); the causal mask is aligned at the end (query i sees
/// keys j <= i + seq_kv - seq_q; a query that sees none gets zeros).
struct AttentionArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  i64 batch = 1, heads = 1, kv_heads = 1, seq_q = 0, seq_kv = 0, head_dim = 0;
  bool causal = false;
  float scale_log2 = 0;  ///< log2(e) / sqrt(head_dim)
  // decode only
  int splits = 1;            ///< KV chunks per (batch, KV head)
  i64 chunk = 0;             ///< keys per chunk, a multiple of 64
  float* partial = nullptr;  ///< splits > 1: splits x batch*heads*seq_q x (head_dim + 2) floats
};

/// Head dimensions the fused kernels are built for.
constexpr bool fused_attention_head_dim(i64 d) noexcept { return d == 32 || d == 64 || d == 96 || d == 128; }

/// FlashAttention-2-style prefill: tensor cores, online softmax, K/V tiles
/// streamed, 64 query rows per block, causal key tiles skipped.
cudaError_t flash_attention(DType t, const AttentionArgs& args, cudaStream_t stream);

/// Split-KV decode (flash-decoding): a block per (batch, KV head, row tile of
/// 16 query rows, KV chunk) for all the query heads of the group, then (when
/// splits > 1) a kernel combining the chunks' partial max, sum and output.
cudaError_t decode_attention(DType t, const AttentionArgs& args, cudaStream_t stream);

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
