// Every op kind at every precision, small sizes: supported ones must match
// the reference, the rest must refuse (runs on a GPU machine; skipped without
// one). Attention's paths have their own tests (test_attention.cpp).
#include "gpu_support.hpp"

#include <hwcal/detail/sweeps.hpp>

#include <string>
#include <vector>

using namespace hwcal;
using hwcal_test::check_op;

namespace {
Conv2dShape conv(i64 n, i64 c, i64 hw, i64 k, i64 rs, i64 stride, i64 pad, i64 groups, bool bias) {
  Conv2dShape s;
  s.n = n;
  s.c = c;
  s.h = s.w = hw;
  s.k = k;
  s.r = s.s = rs;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  s.groups = groups;
  s.bias = bias;
  return s;
}
Pool2dShape pool(i64 n, i64 c, i64 h, i64 w, i64 rs, i64 stride, i64 pad) {
  Pool2dShape s;
  s.n = n;
  s.c = c;
  s.h = h;
  s.w = w;
  s.r = s.s = rs;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  return s;
}
void all_precisions_of(const OpDesc& op) {
  for (Precision p : all_precisions) check_op(op, p);
}
}  // namespace

TEST_CASE("matmul and linear") {
  all_precisions_of({OpKind::matmul, MatmulShape{3, 64, 96, 128, false}});
  all_precisions_of({OpKind::matmul, MatmulShape{1, 127, 65, 33, false}});
  all_precisions_of({OpKind::matmul, MatmulShape{1, 1024, 1024, 1024, false}});
  all_precisions_of({OpKind::linear, MatmulShape{1, 64, 128, 256, true}});
  all_precisions_of({OpKind::linear, MatmulShape{1, 33, 48, 40, false}});
}

TEST_CASE("conv2d, NCHW and NHWC, first heuristic and fastest") {
  const std::vector<OpDesc> convs{{OpKind::conv2d, conv(2, 16, 14, 32, 3, 1, 1, 1, true)},
                                  {OpKind::conv2d, conv(2, 32, 15, 64, 1, 2, 0, 1, false)},
                                  {OpKind::conv2d, conv(2, 32, 14, 32, 3, 1, 1, 32, false)},  // depthwise
                                  {OpKind::conv2d, conv(1, 32, 9, 64, 3, 2, 1, 4, true)},     // grouped
                                  {OpKind::conv2d, conv(4, 64, 28, 64, 3, 1, 1, 1, false)}};
  for (const OpDesc& op : convs) all_precisions_of(op);
  using hwcal::cuda::Algorithm;
  using hwcal::cuda::ConvLayout;
  auto& nhwc = hwcal_test::backend({Algorithm::heuristic_first, ConvLayout::nhwc});
  auto& fastest = hwcal_test::backend({Algorithm::fastest, ConvLayout::nchw});
  for (const OpDesc& op : convs)
    for (Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) {
      check_op(op, p, nhwc);
      check_op(op, p, fastest);
    }
  // a channels_last shape runs NHWC on the default (NCHW) backend (not fp64: PyTorch runs that NCHW)
  for (OpDesc op : convs) {
    std::get<Conv2dShape>(op.shape).channels_last = true;
    for (Precision p : {Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) check_op(op, p);
    CHECK_FALSE(hwcal_test::backend().supports(op, Precision::fp64).usable());
  }
}

TEST_CASE("attention at every precision (fused paths, the chain, grouped-query, decode)") {
  all_precisions_of({OpKind::attention, AttentionShape{2, 3, 64, 64, 32, false}});
  all_precisions_of({OpKind::attention, AttentionShape{1, 2, 48, 80, 64, true}});
  all_precisions_of({OpKind::attention, AttentionShape{1, 1, 80, 48, 64, true}});  // queries past the keys
  all_precisions_of({OpKind::attention, AttentionShape{1, 2, 100, 1500, 128, false}});
  all_precisions_of({OpKind::attention, AttentionShape{2, 8, 128, 128, 64, true, 2}});   // grouped-query
  all_precisions_of({OpKind::attention, AttentionShape{2, 8, 1, 1000, 128, false, 2}});  // decode
  all_precisions_of({OpKind::attention, AttentionShape{1, 4, 8, 256, 80, true, 4}});     // head_dim 80: chain
}

TEST_CASE("pooling") {
  all_precisions_of({OpKind::maxpool, pool(2, 8, 15, 15, 3, 2, 1)});
  all_precisions_of({OpKind::avgpool, pool(2, 8, 15, 15, 3, 2, 1)});
  all_precisions_of({OpKind::avgpool, pool(1, 4, 8, 8, 2, 2, 0)});
  all_precisions_of({OpKind::adaptive_avgpool, AdaptivePoolShape{2, 8, 13, 11, 4, 3}});
  // global pools (global_avgpool_kernel): lane groups of 16, 32 and 1, and a block per output
  all_precisions_of({OpKind::adaptive_avgpool, AdaptivePoolShape{2, 16, 7, 7, 1, 1}});
  all_precisions_of({OpKind::adaptive_avgpool, AdaptivePoolShape{3, 5, 28, 28, 1, 1}});
  all_precisions_of({OpKind::adaptive_avgpool, AdaptivePoolShape{1, 4, 1, 1, 1, 1}});
  all_precisions_of({OpKind::adaptive_avgpool, AdaptivePoolShape{2, 3, 56, 56, 1, 1}});
}

TEST_CASE("batchnorm and row ops") {
  all_precisions_of({OpKind::batchnorm, MapShape{2, 16, 7, 9}});
  all_precisions_of({OpKind::batchnorm, MapShape{2, 3, 8, 8}});
  // Every row layout (launch::row_layout): groups of 1 to 32 lanes, vectors or
  // single elements, a block per row, streamed rows.
  for (OpKind k : {OpKind::softmax, OpKind::layernorm, OpKind::rmsnorm, OpKind::reduce_mean})
    for (RowsShape s : {RowsShape{33, 768}, RowsShape{40, 1000}, RowsShape{7, 4099}, RowsShape{100, 49},
                        RowsShape{3, 50000}, RowsShape{5, 4}, RowsShape{9, 3}, RowsShape{70, 197}, RowsShape{130, 2048},
                        RowsShape{3, 8192}, RowsShape{2, 32768}, RowsShape{1, 1}})
      all_precisions_of({k, s});
}

TEST_CASE("elementwise, out of place and in place") {
  for (const OpInfo& o : op_table) {
    if (o.family != ShapeFamily::elementwise) continue;
    if (o.inputs == 1) {
      all_precisions_of({o.kind, ElementwiseShape{10007, 1, 0}});
      all_precisions_of({o.kind, ElementwiseShape{1 << 20, 1, 0}});
      all_precisions_of({o.kind, ElementwiseShape{5, 1, 0}});
    } else {
      all_precisions_of({o.kind, ElementwiseShape{10007, 2, 0}});
      all_precisions_of({o.kind, ElementwiseShape{1 << 20, 2, 0}});
    }
    if (o.broadcast) {
      all_precisions_of({o.kind, ElementwiseShape{64 * 157, 2, 64}});  // vector broadcast
      all_precisions_of({o.kind, ElementwiseShape{3 * 1001, 2, 3}});   // scalar broadcast
      all_precisions_of({o.kind, ElementwiseShape{4096, 2, 1}});
    }
    if (o.inplace) {
      all_precisions_of({o.kind, ElementwiseShape{10007, o.inputs, 0, true}});
      all_precisions_of({o.kind, ElementwiseShape{1 << 20, o.inputs, 0, true}});
    }
  }
}

TEST_CASE("data movement on the shared geometry (reference::move_geometry)") {
  for (OpKind k : {OpKind::copy, OpKind::transpose, OpKind::permute, OpKind::concat}) {
    all_precisions_of({k, BytesShape{(1 << 20) + 24}});
    all_precisions_of({k, BytesShape{4 * 12 * 1000}});
    all_precisions_of({k, BytesShape{8 * 4099}});
    all_precisions_of({k, BytesShape{64 << 20}});
    all_precisions_of({k, BytesShape{2 * 3 * 1001}});  // concat's second half starts mid-vector
    all_precisions_of({k, BytesShape{16}});
  }
  // many inputs, uneven, starting mid-vector; more than one launch's 64 segments
  all_precisions_of({OpKind::concat, BytesShape{2 * 3 * 1001 * 16, 9, 2 * 3 * 1001 * 8}});
  all_precisions_of({OpKind::concat, BytesShape{1 << 20, 100}});
  all_precisions_of({OpKind::concat, BytesShape{16 << 20, 2, (16 << 20) - (1 << 16)}});  // a KV cache append
  all_precisions_of({OpKind::concat, BytesShape{4096, 1}});                              // one input: a copy
}

TEST_CASE("rotary embedding and embedding lookup") {
  for (RotaryShape s : {RotaryShape{7, 4, 128}, RotaryShape{512, 8, 64}, RotaryShape{3, 2, 6}, RotaryShape{1, 32, 128}})
    all_precisions_of({OpKind::rotary, s});
  for (EmbeddingShape s : {EmbeddingShape{7, 1000, 768}, EmbeddingShape{512, 32000, 2048}, EmbeddingShape{5, 11, 3},
                           EmbeddingShape{1, 128256, 4096}})
    all_precisions_of({OpKind::embedding, s});
}

TEST_CASE("every op kind of the op table has a kernel") {
  std::vector<OpDesc> ops = hwcal::detail::tiny_ops();  // one of every kind but attention
  ops.push_back({OpKind::attention, AttentionShape{1, 2, 16, 16, 64, true}});
  std::vector<bool> seen(op_kind_count, false);
  for (const OpDesc& op : ops) {
    seen[static_cast<std::size_t>(op.kind)] = true;
    for (Precision p : {Precision::fp32, Precision::bf16}) {
      INFO(hwcal_test::describe(op, p));
      CHECK(hwcal_test::backend().supports(op, p).usable());
      check_op(op, p);
    }
  }
  for (int k = 0; k < op_kind_count; ++k)
    if (!is_collective(static_cast<OpKind>(k))) CHECK(seen[static_cast<std::size_t>(k)]);
}

TEST_CASE("unsupported combinations throw UnavailableError naming the reason") {
  auto& b = hwcal_test::backend();
  auto reason_of = [&](const OpDesc& op, Precision p) {
    try {
      b.make(op, p);
    } catch (const UnavailableError& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  const std::string tf32 = reason_of({OpKind::rotary, RotaryShape{4, 2, 8}}, Precision::tf32);
  CHECK(tf32.find("tf32") != std::string::npos);
  CHECK(reason_of({OpKind::embedding, EmbeddingShape{4, 10, 8}}, Precision::int8).find("fp64, fp32, fp16 and bf16") !=
        std::string::npos);
  CHECK(reason_of({OpKind::attention, AttentionShape{1, 2, 8, 8, 64, false}}, Precision::fp8).find("int8/fp8") !=
        std::string::npos);
  CHECK(reason_of({OpKind::rotary, RotaryShape{4, 2, 7}}, Precision::fp32).find("head_dim") != std::string::npos);
  CHECK(reason_of({OpKind::silu_mul, ElementwiseShape{64, 2, 0, true}}, Precision::fp32).find("in place") !=
        std::string::npos);
  CHECK(reason_of({OpKind::attention, AttentionShape{1, 6, 8, 8, 64, false, 4}}, Precision::bf16).find("kv_heads") !=
        std::string::npos);
}

TEST_CASE("a check fails when the output is wrong") {
  // Never run: the output holds whatever the allocation held, not sigmoid(x) in (0, 1).
  auto k = hwcal_test::backend().make({OpKind::sigmoid, ElementwiseShape{4096, 1, 0}}, Precision::fp32);
  hwcal_test::backend().sync();
  CHECK_FALSE(k->check().ok);
}
