#pragma once
// The shape families: one plain struct per way an operation is sized. Several
// op kinds share a family (every elementwise op is sized by an
// ElementwiseShape); what each family's fields mean, their JSON names and
// defaults, and the counts derived from them are in ops.hpp.
//
// Conventions: NCHW activations, conv weights [K][C/g][R][S], linear weights
// [N][K] (out x in), attention tensors [B][H][S][D], PyTorch's defaults.

#include <algorithm>
#include <cstdint>
#include <variant>

namespace hwcal {

using i64 = std::int64_t;

/// Batched GEMM C[b] = A[b] (m x k) * B[b] (k x n); also linear (one weight
/// matrix for all rows, y = x W^T [+ bias], batch 1).
struct MatmulShape {
  i64 batch = 1, m = 0, n = 0, k = 0;
  bool bias = false;
};

struct Conv2dShape {
  i64 n = 1, c = 0, h = 0, w = 0;  ///< input NCHW
  i64 k = 0, r = 0, s = 0;         ///< output channels, kernel height and width
  i64 stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  i64 groups = 1;
  bool bias = false;
  /// NHWC tensors (PyTorch's channels_last, e.g. after a permute): other
  /// kernels than NCHW's, from 5x faster to 4x slower (variant_of)
  bool channels_last = false;
  constexpr i64 out_h() const noexcept { return (h + 2 * pad_h - dil_h * (r - 1) - 1) / stride_h + 1; }
  constexpr i64 out_w() const noexcept { return (w + 2 * pad_w - dil_w * (s - 1) - 1) / stride_w + 1; }
  /// The largest power of two, at most 64, that divides the channels of a
  /// group on both sides (input and output): how far the channels fit the
  /// tiles of tensor-core kernels (the device sweep's off-tile grid,
  /// detail/sweeps.hpp, and validation/gpu/conv_alignment.py read it).
  constexpr i64 channel_alignment() const noexcept {
    const i64 g = groups > 0 ? groups : 1;
    const i64 both = (c / g) | (k / g) | 64;
    return both & -both;
  }
};

/// maxpool / avgpool (avgpool counts padding in the divisor, PyTorch's default).
struct Pool2dShape {
  i64 n = 1, c = 0, h = 0, w = 0;
  i64 r = 0, s = 0;
  i64 stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  constexpr i64 out_h() const noexcept { return (h + 2 * pad_h - r) / stride_h + 1; }
  constexpr i64 out_w() const noexcept { return (w + 2 * pad_w - s) / stride_w + 1; }
};

struct AdaptivePoolShape {
  i64 n = 1, c = 0, h = 0, w = 0, out_h = 1, out_w = 1;
};

/// Per-channel ops on an NCHW map (batchnorm).
struct MapShape {
  i64 n = 1, c = 0, h = 1, w = 1;
};

/// Row-wise ops over the last dimension (layernorm, rmsnorm, softmax, reduce_mean).
struct RowsShape {
  i64 rows = 0, cols = 0;
};

/// Elementwise ops. A two-input op reads `broadcast` elements of its second
/// input when that input is broadcast (0: the same size as the output). In
/// place, the result overwrites the first input (nn.ReLU(inplace=True), x += y).
struct ElementwiseShape {
  i64 elements = 0;
  int inputs = 1;
  i64 broadcast = 0;
  bool inplace = false;
};

/// softmax(Q K^T / sqrt(d) [+ causal mask]) V with `kv_heads` key/value heads
/// shared by groups of the `heads` query heads (grouped-query attention; 0
/// means kv_heads == heads). The causal mask is aligned at the end (query i of
/// seq_q sees keys j < i + 1 + seq_kv - seq_q), as with a KV cache.
struct AttentionShape {
  i64 batch = 1, heads = 1, seq_q = 0, seq_kv = 0, head_dim = 0;
  bool causal = false;
  i64 kv_heads = 0;
  constexpr i64 kv() const noexcept { return kv_heads > 0 ? kv_heads : heads; }
};

/// Pure data movement (copy, transpose, concat): bytes of the tensor produced.
/// A concat joins `inputs` tensors, the largest of `largest` bytes (0: all of
/// about the same size); copy and transpose have neither field.
struct BytesShape {
  i64 bytes = 0;
  i64 inputs = 2;
  i64 largest = 0;
  /// Bytes of the largest input: `largest`, or an even share.
  constexpr i64 largest_bytes() const noexcept {
    return largest > 0 ? largest : (bytes + std::max<i64>(inputs, 1) - 1) / std::max<i64>(inputs, 1);
  }
};

/// Rotary position embedding applied to one [tokens][heads][head_dim] tensor
/// with cos/sin tables of [tokens][head_dim], as one kernel.
struct RotaryShape {
  i64 tokens = 0, heads = 1, head_dim = 0;
};

/// Token-embedding lookup: `tokens` rows gathered from a [vocab][dim] table
/// by int64 indices.
struct EmbeddingShape {
  i64 tokens = 0, vocab = 0, dim = 0;
};

/// A collective over `gpus` GPUs of one message of `bytes` per GPU, sized as
/// nccl-tests sizes it: all_reduce and broadcast the buffer, all_gather the
/// gathered output, reduce_scatter the input before scattering, all_to_all
/// the whole send buffer, send_recv the message each GPU sends.
struct CollectiveShape {
  i64 bytes = 0, gpus = 2;
};

using Shape = std::variant<MatmulShape, Conv2dShape, Pool2dShape, AdaptivePoolShape, MapShape, RowsShape,
                           ElementwiseShape, AttentionShape, BytesShape, RotaryShape, EmbeddingShape, CollectiveShape>;

/// The index of each family in Shape.
enum class ShapeFamily : std::uint8_t {
  matmul,
  conv2d,
  pool2d,
  adaptive_pool,
  map,
  rows,
  elementwise,
  attention,
  bytes,
  rotary,
  embedding,
  collective
};

}  // namespace hwcal
