#pragma once
// Short ways to write an op, with PyTorch's defaults, instead of filling a
// shape struct field by field:
//
//   hwcal::conv2d(1, 64, 56, 56, 128, 3).stride(2).padding(1)   // nn.Conv2d(64, 128, 3, 2, 1) on 1x64x56x56
//   hwcal::linear(8, 4096, 4096)                                 // nn.Linear(4096, 4096) on 8 rows
//   hwcal::attention(1, 32, 1, 4096, 128).kv_heads(8)            // one decode step, GQA
//   hwcal::elementwise(hwcal::OpKind::relu, 1 << 20)
//
// Each returns something that converts to OpDesc (and so to a Subgraph's op).

#include <hwcal/ops.hpp>

namespace hwcal {

/// nn.Linear(k, n) on m rows (bias by default).
inline OpDesc linear(i64 m, i64 n, i64 k, bool bias = true) { return {OpKind::linear, MatmulShape{1, m, n, k, bias}}; }

/// C[b] = A[b] (m x k) B[b] (k x n), `batch` products.
inline OpDesc matmul(i64 m, i64 n, i64 k, i64 batch = 1) {
  return {OpKind::matmul, MatmulShape{batch, m, n, k, false}};
}

/// A convolution with PyTorch's defaults (stride 1, no padding, bias), set further by chaining.
class Conv2d {
 public:
  Conv2d(i64 n, i64 c, i64 h, i64 w, i64 k, i64 r, i64 s) {
    s_.n = n, s_.c = c, s_.h = h, s_.w = w, s_.k = k, s_.r = r, s_.s = s, s_.bias = true;
  }
  Conv2d& stride(i64 v) { return s_.stride_h = s_.stride_w = v, *this; }
  Conv2d& padding(i64 v) { return s_.pad_h = s_.pad_w = v, *this; }
  Conv2d& dilation(i64 v) { return s_.dil_h = s_.dil_w = v, *this; }
  Conv2d& groups(i64 v) { return s_.groups = v, *this; }
  Conv2d& bias(bool v) { return s_.bias = v, *this; }
  const Conv2dShape& shape() const noexcept { return s_; }
  operator OpDesc() const { return {OpKind::conv2d, s_}; }

 private:
  Conv2dShape s_;
};

/// n x c x h x w input, k output channels, an r x r kernel (r x s with the second overload).
inline Conv2d conv2d(i64 n, i64 c, i64 h, i64 w, i64 k, i64 r) { return Conv2d(n, c, h, w, k, r, r); }
inline Conv2d conv2d(i64 n, i64 c, i64 h, i64 w, i64 k, i64 r, i64 s) { return Conv2d(n, c, h, w, k, r, s); }

/// Scaled dot-product attention; grouped-query and causal by chaining.
class Attention {
 public:
  Attention(i64 batch, i64 heads, i64 seq_q, i64 seq_kv, i64 head_dim)
      : s_{batch, heads, seq_q, seq_kv, head_dim, false, 0} {}
  Attention& kv_heads(i64 v) { return s_.kv_heads = v, *this; }
  Attention& causal(bool v = true) { return s_.causal = v, *this; }
  const AttentionShape& shape() const noexcept { return s_; }
  operator OpDesc() const { return {OpKind::attention, s_}; }

 private:
  AttentionShape s_;
};

inline Attention attention(i64 batch, i64 heads, i64 seq_q, i64 seq_kv, i64 head_dim) {
  return Attention(batch, heads, seq_q, seq_kv, head_dim);
}

/// An elementwise op of the op table on `elements` outputs, with its default
/// number of inputs; `broadcast` elements of the second input when it repeats.
inline OpDesc elementwise(OpKind k, i64 elements, i64 broadcast = 0, bool inplace = false) {
  return {k, ElementwiseShape{elements, info(k).inputs, broadcast, inplace}};
}

/// layernorm, rmsnorm, softmax or reduce_mean over the last dimension.
inline OpDesc rows(OpKind k, i64 rows, i64 cols) { return {k, RowsShape{rows, cols}}; }

inline OpDesc batchnorm(i64 n, i64 c, i64 h, i64 w) { return {OpKind::batchnorm, MapShape{n, c, h, w}}; }

/// maxpool or avgpool with an r x r window, PyTorch's default stride (the window).
inline OpDesc pool2d(OpKind k, i64 n, i64 c, i64 h, i64 w, i64 r, i64 stride = 0, i64 padding = 0) {
  Pool2dShape s;
  s.n = n, s.c = c, s.h = h, s.w = w, s.r = s.s = r;
  s.stride_h = s.stride_w = stride > 0 ? stride : r;
  s.pad_h = s.pad_w = padding;
  return {k, s};
}

inline OpDesc rotary(i64 tokens, i64 heads, i64 head_dim) {
  return {OpKind::rotary, RotaryShape{tokens, heads, head_dim}};
}
inline OpDesc embedding(i64 tokens, i64 vocab, i64 dim) {
  return {OpKind::embedding, EmbeddingShape{tokens, vocab, dim}};
}
/// copy, transpose or concat of a tensor of `bytes`.
inline OpDesc data_movement(OpKind k, i64 bytes) { return {k, BytesShape{bytes}}; }
/// A collective (all_reduce ... send_recv) of `bytes` per GPU over `gpus` GPUs.
inline OpDesc collective(OpKind k, i64 bytes, i64 gpus) { return {k, CollectiveShape{bytes, gpus}}; }

}  // namespace hwcal
