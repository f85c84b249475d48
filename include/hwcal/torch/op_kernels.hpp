#pragma once
// One TorchKernel per op, each calling the ATen entry point that PyTorch's
// eager modules call for contiguous NCHW tensors:
//   conv2d    at::conv2d                 (nn.Conv2d -> F.conv2d)
//   linear    at::linear                 (nn.Linear; addmm with bias)
//   matmul    at::matmul, 3-D            (torch.matmul / @; bmm)
//   maxpool   at::max_pool2d             avgpool  at::avg_pool2d(count_include_pad)
//   adaptive_avgpool at::adaptive_avg_pool2d
//   batchnorm at::batch_norm(training=false, eps 1e-5)   (nn.BatchNorm2d.eval())
//   layernorm at::layer_norm             softmax at::softmax(-1)   reduce_mean at::mean(-1)
//   add/mul/div at::add/mul/div; a broadcast operand is [cols] against [rows][cols]
//   relu gelu(exact) silu sigmoid hardswish hardsigmoid tanh: at::<name>
//   attention at::_scaled_dot_product_attention (see make_sdpa)
//   copy      at::clone    transpose x.transpose(-1,-2).contiguous()    concat at::cat of two halves
// Inputs are contiguous; outputs come back as ATen allocates them.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_TORCH
#error "hwcal/torch/ needs libtorch: link hwcal::torch (or define HWCAL_HAS_TORCH=1 and link torch_cpu and c10)"
#endif

#include <hwcal/reference.hpp>
#include <hwcal/error.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/torch/kernel.hpp>
#include <hwcal/torch/runtime.hpp>
#include <hwcal/torch/support.hpp>

#include <ATen/ATen.h>
#include <ATen/native/ConvUtils.h>

#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

namespace hwcal {
namespace aten {
namespace detail {

inline const char* conv_backend_name(at::native::ConvBackend b) noexcept {
  using B = at::native::ConvBackend;
  switch (b) {
    case B::Mkldnn: return "oneDNN";
    case B::MkldnnEmpty:
    case B::Empty: return "empty";
    case B::Slow2d: return "slow_conv2d (im2col + gemm)";
    case B::SlowDilated2d: return "slow_conv_dilated2d (im2col + gemm)";
    case B::Winograd3x3Depthwise: return "winograd 3x3 depthwise";
    case B::NnpackSpatial: return "NNPACK";
    case B::Xnnpack2d: return "XNNPACK";
    default: return "other";
  }
}

inline std::unique_ptr<TorchKernel> make_conv2d(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<Conv2dShape>(op.shape);
  const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
  const at::Tensor w = uniform({s.k, s.c / s.groups, s.r, s.s}, dt, 2);
  const c10::optional<at::Tensor> b = s.bias ? c10::optional<at::Tensor>(uniform({s.k}, dt, 3)) : c10::nullopt;
  const std::array<i64, 2> stride{s.stride_h, s.stride_w}, pad{s.pad_h, s.pad_w}, dil{s.dil_h, s.dil_w};
  const auto backend = at::native::select_conv_backend(x, w, b, stride, pad, dil, false, {0, 0}, s.groups);
  const i64 oh = s.out_h(), ow = s.out_w();
  return std::make_unique<TorchKernel>(
      [=] { return at::conv2d(x, w, b, stride, pad, dil, s.groups); },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), wd(w), bd(b ? *b : at::zeros({1}, x.options()));
        return compare_elements(out, s.n * s.k * oh * ow, p, reduction_length(op), "conv2d", [&](i64 i) {
          return reference::conv2d_at(xd.p, wd.p, b ? bd.p : nullptr, s, i / (s.k * oh * ow), (i / (oh * ow)) % s.k,
                                      (i / ow) % oh, i % ow);
        });
      },
      std::string("at::conv2d -> ") + conv_backend_name(backend));
}

/// The entry point, and for bf16 whether ATen hands the product to oneDNN.
inline std::string gemm_path(const char* entry, Precision p, double product) {
  return p == Precision::bf16 ? std::string(entry) + " [" + bf16_gemm_support(product).note + "]" : entry;
}

inline std::unique_ptr<TorchKernel> make_linear(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<MatmulShape>(op.shape);
  const at::Tensor x = uniform({s.m, s.k}, dt, 1);
  const at::Tensor w = uniform({s.n, s.k}, dt, 2);
  const c10::optional<at::Tensor> b = s.bias ? c10::optional<at::Tensor>(uniform({s.n}, dt, 3)) : c10::nullopt;
  return std::make_unique<TorchKernel>(
      [=] { return at::linear(x, w, b); },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), wd(w), bd(b ? *b : at::zeros({1}, x.options()));
        return compare_elements(out, s.m * s.n, p, s.k, "linear", [&](i64 i) {
          return reference::linear_at(xd.p, wd.p, b ? bd.p : nullptr, s, i / s.n, i % s.n);
        });
      },
      gemm_path(s.bias ? "at::linear -> addmm" : "at::linear -> mm", p, double(s.m) * s.n * s.k));
}

inline std::unique_ptr<TorchKernel> make_matmul(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<MatmulShape>(op.shape);
  const at::Tensor a = uniform({s.batch, s.m, s.k}, dt, 1);
  const at::Tensor b = uniform({s.batch, s.k, s.n}, dt, 2);
  return std::make_unique<TorchKernel>(
      [=] { return at::matmul(a, b); },
      [=](const at::Tensor& out) {
        const HostCopy ad(a), bd(b);
        return compare_elements(out, s.batch * s.m * s.n, p, s.k, "matmul", [&](i64 i) {
          return reference::matmul_at(ad.p, bd.p, s, i / (s.m * s.n), (i / s.n) % s.m, i % s.n);
        });
      },
      gemm_path("at::matmul -> bmm", p, double(s.batch) * s.m * s.n * s.k));
}

inline std::unique_ptr<TorchKernel> make_pool(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<Pool2dShape>(op.shape);
  const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
  const i64 oh = s.out_h(), ow = s.out_w();
  const bool is_max = op.kind == OpKind::maxpool;
  TorchKernel::Compute compute;
  if (is_max)
    compute = [=] {
      return at::max_pool2d(x, {s.r, s.s}, {s.stride_h, s.stride_w}, {s.pad_h, s.pad_w}, {1, 1}, false);
    };
  else
    compute = [=] {
      return at::avg_pool2d(x, {s.r, s.s}, {s.stride_h, s.stride_w}, {s.pad_h, s.pad_w}, false, true, c10::nullopt);
    };
  return std::make_unique<TorchKernel>(
      std::move(compute),
      [=](const at::Tensor& out) {
        const HostCopy xd(x);
        return compare_elements(
            out, s.n * s.c * oh * ow, p, reduction_length(op), is_max ? "maxpool" : "avgpool", [&](i64 i) {
              const i64 nc = i / (oh * ow);
              return is_max ? reference::maxpool_at(xd.p, s, nc / s.c, nc % s.c, (i / ow) % oh, i % ow)
                            : reference::avgpool_at(xd.p, s, nc / s.c, nc % s.c, (i / ow) % oh, i % ow);
            });
      },
      is_max ? "at::max_pool2d" : "at::avg_pool2d");
}

inline std::unique_ptr<TorchKernel> make_adaptive_avgpool(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<AdaptivePoolShape>(op.shape);
  const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
  return std::make_unique<TorchKernel>(
      [=] {
        return at::adaptive_avg_pool2d(x, {s.out_h, s.out_w});
      },
      [=](const at::Tensor& out) {
        const HostCopy xd(x);
        return compare_elements(
            out, s.n * s.c * s.out_h * s.out_w, p, reduction_length(op), "adaptive_avgpool", [&](i64 i) {
              const i64 nc = i / (s.out_h * s.out_w);
              return reference::adaptive_avgpool_at(xd.p, s, nc / s.c, nc % s.c, (i / s.out_w) % s.out_h, i % s.out_w);
            });
      },
      "at::adaptive_avg_pool2d");
}

/// Inference batchnorm parameters: gamma, beta, running mean, running var.
struct BatchNormParams {
  at::Tensor gamma, beta, mean, var;
  BatchNormParams(i64 c, at::ScalarType dt)
      : gamma(uniform({c}, dt, 11)),
        beta(uniform({c}, dt, 12)),
        mean(uniform({c}, dt, 13, -0.5, 0.5)),
        var(uniform({c}, dt, 14, 0.5, 1.5)) {}
  /// F.batch_norm in eval mode; cudnn_enabled as torch.backends.cudnn.enabled.
  at::Tensor apply(const at::Tensor& x) const {
    return at::batch_norm(x, gamma, beta, mean, var, false, 0.1, 1e-5, true);
  }
};

inline std::unique_ptr<TorchKernel> make_batchnorm(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<MapShape>(op.shape);
  const at::Tensor x = uniform({s.n, s.c, s.h, s.w}, dt, 1);
  const BatchNormParams bn(s.c, dt);
  return std::make_unique<TorchKernel>(
      [=] { return bn.apply(x); },
      [=](const at::Tensor& out) {
        const HostCopy xd(x), g(bn.gamma), be(bn.beta), m(bn.mean), v(bn.var);
        return compare_elements(out, s.n * s.c * s.h * s.w, p, 1, "batchnorm",
                                [&](i64 i) { return reference::batchnorm_at(xd.p, m.p, v.p, g.p, be.p, 1e-5, s, i); });
      },
      "at::batch_norm");
}

inline std::unique_ptr<TorchKernel> make_rows(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<RowsShape>(op.shape);
  const at::Tensor x = uniform({s.rows, s.cols}, dt, 1);
  switch (op.kind) {
    case OpKind::layernorm: {
      const at::Tensor gamma = uniform({s.cols}, dt, 2), beta = uniform({s.cols}, dt, 3);
      return std::make_unique<TorchKernel>(
          [=] { return at::layer_norm(x, {s.cols}, gamma, beta, 1e-5, true); },
          [=](const at::Tensor& out) {
            const HostCopy xd(x), g(gamma), b(beta);
            return compare_rows(out, s.rows, s.cols, p, s.cols, "layernorm", [&](i64 r, double* want) {
              reference::layernorm_row(xd.p + r * s.cols, g.p, b.p, s.cols, 1e-5, want);
            });
          },
          "at::layer_norm");
    }
    case OpKind::softmax:
      return std::make_unique<TorchKernel>(
          [=] { return at::softmax(x, -1); },
          [=](const at::Tensor& out) {
            const HostCopy xd(x);
            return compare_rows(out, s.rows, s.cols, p, s.cols, "softmax",
                                [&](i64 r, double* want) { reference::softmax_row(xd.p + r * s.cols, s.cols, want); });
          },
          "at::softmax");
    default:  // reduce_mean
      return std::make_unique<TorchKernel>([=] { return at::mean(x, at::IntArrayRef{-1}); },
                                           [=](const at::Tensor& out) {
                                             const HostCopy xd(x);
                                             return compare_elements(out, s.rows, p, s.cols, "reduce_mean", [&](i64 r) {
                                               return reference::reduce_mean_row(xd.p + r * s.cols, s.cols);
                                             });
                                           },
                                           "at::mean");
  }
}

/// Unary activations as the nn modules call them (nn.GELU: exact erf form).
inline at::Tensor unary(OpKind k, const at::Tensor& x) {
  switch (k) {
    case OpKind::relu: return at::relu(x);
    case OpKind::gelu: return at::gelu(x, "none");
    case OpKind::silu: return at::silu(x);
    case OpKind::sigmoid: return at::sigmoid(x);
    case OpKind::hardswish: return at::hardswish(x);
    case OpKind::hardsigmoid: return at::hardsigmoid(x);
    default: return at::tanh(x);
  }
}

/// In place, as nn.ReLU(inplace=True) and friends call them (no output tensor).
inline at::Tensor unary_inplace(OpKind k, at::Tensor& x) {
  switch (k) {
    case OpKind::relu: return at::relu_(x);
    case OpKind::gelu: return at::gelu_(x, "none");
    case OpKind::silu: return at::silu_(x);
    case OpKind::sigmoid: return at::sigmoid_(x);
    case OpKind::hardswish: return at::hardswish_(x);
    case OpKind::hardsigmoid: return at::hardsigmoid_(x);
    default: return at::tanh_(x);
  }
}

inline std::unique_ptr<TorchKernel> make_elementwise(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<ElementwiseShape>(op.shape);
  const OpKind k = op.kind;
  if (s.inplace) {
    // The op overwrites x; prepare() restores it from a pristine copy (untimed).
    const i64 bc = s.inputs == 2 && s.broadcast > 0 ? s.broadcast : s.elements;
    const at::Tensor pristine = s.inputs == 1 ? uniform({s.elements}, dt, 1, -4, 4) : uniform({s.elements / bc, bc}, dt, 1);
    const at::Tensor b = s.inputs == 1 ? at::Tensor() : (k == OpKind::div ? uniform({bc}, dt, 2, 0.5, 1.5) : uniform({bc}, dt, 2));
    at::Tensor x = pristine.clone();
    TorchKernel::Compute compute = [=]() mutable -> at::Tensor {
      if (s.inputs == 1) return unary_inplace(k, x);
      return k == OpKind::add ? x.add_(b) : k == OpKind::mul ? x.mul_(b) : x.div_(b);
    };
    return std::make_unique<TorchKernel>(
        std::move(compute),
        [=](const at::Tensor& out) {
          const HostCopy ad(pristine);
          if (s.inputs == 1)
            return compare_elements(out, s.elements, p, 1, to_string(k).data(),
                                    [&](i64 i) { return reference::elementwise(k, ad.p[i]); });
          const HostCopy bd(b);
          return compare_elements(out, s.elements, p, 1, to_string(k).data(),
                                  [&](i64 i) { return reference::elementwise(k, ad.p[i], bd.p[i % bc]); });
        },
        "at::" + std::string(to_string(k)) + "_ (in place)", [x, pristine]() mutable { x.copy_(pristine); });
  }
  if (s.inputs == 1) {
    // [-4, 4) reaches the clamped parts of hardsigmoid/hardswish (|x| > 3).
    const at::Tensor a = uniform({s.elements}, dt, 1, -4, 4);
    return std::make_unique<TorchKernel>(
        [=] { return unary(k, a); },
        [=](const at::Tensor& out) {
          const HostCopy ad(a);
          return compare_elements(out, s.elements, p, 1, to_string(k).data(),
                                  [&](i64 i) { return reference::elementwise(k, ad.p[i]); });
        },
        "at::" + std::string(k == OpKind::gelu ? "gelu(approximate='none')" : to_string(k)));
  }
  // A broadcast operand of `broadcast` elements repeats along the output
  // (output i uses b[i % broadcast]): [rows][broadcast] against [broadcast].
  const i64 bc = s.broadcast > 0 ? s.broadcast : s.elements;
  const at::Tensor a = uniform({s.elements / bc, bc}, dt, 1);
  // Divisors in [0.5, 1.5) keep div away from 0.
  const at::Tensor b = k == OpKind::div ? uniform({bc}, dt, 2, 0.5, 1.5) : uniform({bc}, dt, 2);
  TorchKernel::Compute compute;
  switch (k) {
    case OpKind::add: compute = [=] { return at::add(a, b); }; break;
    case OpKind::mul: compute = [=] { return at::mul(a, b); }; break;
    default: compute = [=] { return at::div(a, b); }; break;
  }
  return std::make_unique<TorchKernel>(
      std::move(compute),
      [=](const at::Tensor& out) {
        const HostCopy ad(a), bd(b);
        return compare_elements(out, s.elements, p, 1, to_string(k).data(),
                                [&](i64 i) { return reference::elementwise(k, ad.p[i], bd.p[i % bc]); });
      },
      "at::" + std::string(to_string(k)));
}

/// rows x cols of a 2-D tensor of n elements for transpose: the most square
/// exact factorisation; when n is prime, floor(sqrt n) rows (a few elements
/// fewer) so the transpose still moves data.
inline std::pair<i64, i64> transpose_dims(i64 n) {
  i64 r = static_cast<i64>(std::sqrt(static_cast<double>(n)));
  while (r > 1 && r * r > n) --r;
  const i64 square = r;
  while (r > 1 && n % r != 0) --r;
  if (r == 1) r = square;
  return {r, n / r};
}

inline std::unique_ptr<TorchKernel> make_data_movement(const OpDesc& op, Precision p, at::ScalarType dt) {
  const auto s = std::get<BytesShape>(op.shape);
  const i64 n = std::max<i64>(1, s.bytes / element_bytes(p));
  switch (op.kind) {
    case OpKind::copy: {
      const at::Tensor x = uniform({n}, dt, 1);
      return std::make_unique<TorchKernel>([=] { return at::clone(x); },
                                           [=](const at::Tensor& out) {
                                             const HostCopy xd(x);
                                             return compare_elements(out, n, p, 1, "copy",
                                                                     [&](i64 i) { return xd.p[i]; });
                                           },
                                           "at::clone");
    }
    case OpKind::transpose: {
      const auto dims = transpose_dims(n);  // not a structured binding: lambdas cannot capture one in C++17
      const i64 rows = dims.first, cols = dims.second;
      const at::Tensor x = uniform({rows, cols}, dt, 1);
      return std::make_unique<TorchKernel>([=] { return x.transpose(-1, -2).contiguous(); },
                                           [=](const at::Tensor& out) {
                                             const HostCopy xd(x);
                                             // out is cols x rows: out[j][i] = x[i][j]
                                             return compare_elements(out, rows * cols, p, 1, "transpose", [&](i64 o) {
                                               return xd.p[(o % rows) * cols + o / rows];
                                             });
                                           },
                                           "Tensor::transpose(-1, -2).contiguous()");
    }
    default: {  // concat
      const i64 half = n / 2;
      const std::array<at::Tensor, 2> parts{uniform({half}, dt, 1), uniform({n - half}, dt, 2)};
      return std::make_unique<TorchKernel>(
          [=] { return at::cat(at::TensorList(parts), 0); },
          [=](const at::Tensor& out) {
            const HostCopy a(parts[0]), b(parts[1]);
            return compare_elements(out, n, p, 1, "concat", [&](i64 i) { return i < half ? a.p[i] : b.p[i - half]; });
          },
          "at::cat");
    }
  }
}

/// Query, key and value in [B][H][S][D], and the reference check of an
/// attention output.
struct AttentionInputs {
  AttentionShape s;
  at::Tensor q, k, v;
  AttentionInputs(const AttentionShape& shape, at::ScalarType dt)
      : s(shape),
        q(uniform({s.batch, s.heads, s.seq_q, s.head_dim}, dt, 1)),
        k(uniform({s.batch, s.heads, s.seq_kv, s.head_dim}, dt, 2)),
        v(uniform({s.batch, s.heads, s.seq_kv, s.head_dim}, dt, 3)) {}

  CheckResult check(const at::Tensor& out, Precision p, i64 reduction) const {
    const HostCopy qd(q), kd(k), vd(v);
    return compare_rows(out, s.batch * s.heads * s.seq_q, s.head_dim, p, reduction, "attention",
                        [&](i64 r, double* want) {
                          reference::attention_row(qd.p, kd.p, vd.p, s, r / (s.heads * s.seq_q),
                                                   (r / s.seq_q) % s.heads, r % s.seq_q, want);
                        });
  }
};

/// at::_scaled_dot_product_attention, the one ATen attention call in 1.13
/// (torch.nn.functional._scaled_dot_product_attention). Its CPU path is the
/// composite _scaled_dot_product_attention_math: scale q and k by d^-1/4,
/// matmul, add the mask, softmax, matmul. Its is_causal mask is aligned at
/// the start (tril of ones(Sq, Skv)), so when seq_q != seq_kv the causal
/// mask aligned at the end is passed explicitly, as a boolean attn_mask.
inline std::unique_ptr<TorchKernel> make_sdpa(const OpDesc& op, Precision p, at::ScalarType dt) {
  const AttentionInputs in(std::get<AttentionShape>(op.shape), dt);
  const auto& s = in.s;
  const bool is_causal = s.causal && s.seq_q == s.seq_kv;
  c10::optional<at::Tensor> mask;
  if (s.causal && !is_causal)
    mask = at::ones({s.seq_q, s.seq_kv}, at::TensorOptions().dtype(at::kBool)).tril(s.seq_kv - s.seq_q);
  return std::make_unique<TorchKernel>(
      [=] { return std::get<0>(at::_scaled_dot_product_attention(in.q, in.k, in.v, mask, 0.0, false, is_causal)); },
      [=](const at::Tensor& out) { return in.check(out, p, reduction_length(op)); },
      "at::_scaled_dot_product_attention (math path)");
}

/// The chain nn.MultiheadAttention runs in 1.13 (F.multi_head_attention_forward):
/// q / sqrt(d), bmm with k^T (baddbmm onto an additive float mask when
/// causal), softmax, bmm with v, on [B*H][S][D] views.
inline std::unique_ptr<TorchKernel> make_attention_chain(const OpDesc& op, Precision p, at::ScalarType dt) {
  const AttentionInputs in(std::get<AttentionShape>(op.shape), dt);
  const auto& s = in.s;
  const i64 bh = s.batch * s.heads;
  const at::Tensor q = in.q.view({bh, s.seq_q, s.head_dim});
  const at::Tensor k = in.k.view({bh, s.seq_kv, s.head_dim});
  const at::Tensor v = in.v.view({bh, s.seq_kv, s.head_dim});
  const double scale = std::sqrt(static_cast<double>(s.head_dim));
  at::Tensor mask;  // [1][Sq][Skv], 0 where attended, -inf where masked
  if (s.causal) {
    const auto keep = at::ones({1, s.seq_q, s.seq_kv}, at::TensorOptions().dtype(at::kBool)).tril(s.seq_kv - s.seq_q);
    mask = at::zeros({1, s.seq_q, s.seq_kv}, q.options())
               .masked_fill_(keep.logical_not(), -std::numeric_limits<double>::infinity());
  }
  const std::array<i64, 4> out_shape{s.batch, s.heads, s.seq_q, s.head_dim};
  return std::make_unique<TorchKernel>(
      [=] {
        const at::Tensor q_scaled = at::div(q, scale);
        const at::Tensor scores =
            mask.defined() ? at::baddbmm(mask, q_scaled, k.transpose(-2, -1)) : at::bmm(q_scaled, k.transpose(-2, -1));
        return at::bmm(at::softmax(scores, -1), v).view(out_shape);
      },
      [=](const at::Tensor& out) { return in.check(out, p, reduction_length(op)); },
      s.causal ? "div, baddbmm, softmax, bmm (nn.MultiheadAttention)"
               : "div, bmm, softmax, bmm (nn.MultiheadAttention)");
}

}  // namespace detail

/// The kernel of one op; support must have been checked (TorchBackend::make).
inline std::unique_ptr<TorchKernel> make_op_kernel(const OpDesc& op, Precision p) {
  const auto dt = scalar_type(p);
  if (!dt) throw UnavailableError("torch backend: no ATen dtype for " + std::string(to_string(p)));
  switch (op.kind) {
    case OpKind::conv2d: return detail::make_conv2d(op, p, *dt);
    case OpKind::linear: return detail::make_linear(op, p, *dt);
    case OpKind::matmul: return detail::make_matmul(op, p, *dt);
    case OpKind::attention: return detail::make_sdpa(op, p, *dt);
    case OpKind::maxpool:
    case OpKind::avgpool: return detail::make_pool(op, p, *dt);
    case OpKind::adaptive_avgpool: return detail::make_adaptive_avgpool(op, p, *dt);
    case OpKind::batchnorm: return detail::make_batchnorm(op, p, *dt);
    case OpKind::layernorm:
    case OpKind::softmax:
    case OpKind::reduce_mean: return detail::make_rows(op, p, *dt);
    case OpKind::copy:
    case OpKind::transpose:
    case OpKind::concat: return detail::make_data_movement(op, p, *dt);
    default: return detail::make_elementwise(op, p, *dt);
  }
}

}  // namespace aten
}  // namespace hwcal
