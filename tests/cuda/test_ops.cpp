// Every op at every precision, small sizes: supported ones must match the
// reference, the rest must refuse (runs on a GPU machine; skipped without one).
#include "gpu_support.hpp"

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

TEST_CASE("conv2d") {
  all_precisions_of({OpKind::conv2d, conv(2, 16, 14, 32, 3, 1, 1, 1, true)});
  all_precisions_of({OpKind::conv2d, conv(2, 32, 15, 64, 1, 2, 0, 1, false)});
  all_precisions_of({OpKind::conv2d, conv(2, 32, 14, 32, 3, 1, 1, 32, false)});  // depthwise
  all_precisions_of({OpKind::conv2d, conv(1, 32, 9, 64, 3, 2, 1, 4, true)});     // grouped
  all_precisions_of({OpKind::conv2d, conv(4, 64, 28, 64, 3, 1, 1, 1, false)});
}

TEST_CASE("attention") {
  all_precisions_of({OpKind::attention, AttentionShape{2, 3, 64, 64, 32, false}});
  all_precisions_of({OpKind::attention, AttentionShape{1, 2, 48, 80, 64, true}});
  all_precisions_of({OpKind::attention, AttentionShape{1, 1, 80, 48, 64, true}});  // queries past the keys
  all_precisions_of({OpKind::attention, AttentionShape{1, 2, 100, 1500, 128, false}});
}

TEST_CASE("pooling") {
  all_precisions_of({OpKind::maxpool, pool(2, 8, 15, 15, 3, 2, 1)});
  all_precisions_of({OpKind::avgpool, pool(2, 8, 15, 15, 3, 2, 1)});
  all_precisions_of({OpKind::avgpool, pool(1, 4, 8, 8, 2, 2, 0)});
  all_precisions_of({OpKind::adaptive_avgpool, AdaptivePoolShape{2, 8, 13, 11, 4, 3}});
  all_precisions_of({OpKind::adaptive_avgpool, AdaptivePoolShape{2, 16, 7, 7, 1, 1}});
}

TEST_CASE("batchnorm and row ops") {
  all_precisions_of({OpKind::batchnorm, MapShape{2, 16, 7, 9}});
  all_precisions_of({OpKind::batchnorm, MapShape{2, 3, 8, 8}});
  for (OpKind k : {OpKind::softmax, OpKind::layernorm, OpKind::reduce_mean}) {
    all_precisions_of({k, RowsShape{33, 768}});
    all_precisions_of({k, RowsShape{40, 1000}});
    all_precisions_of({k, RowsShape{7, 4099}});
    all_precisions_of({k, RowsShape{100, 49}});
    all_precisions_of({k, RowsShape{3, 50000}});
  }
}

TEST_CASE("elementwise") {
  for (OpKind k : {OpKind::relu, OpKind::gelu, OpKind::silu, OpKind::sigmoid, OpKind::hardswish, OpKind::hardsigmoid,
                   OpKind::tanh}) {
    all_precisions_of({k, ElementwiseShape{10007, 1, 0}});
    all_precisions_of({k, ElementwiseShape{1 << 20, 1, 0}});
  }
  for (OpKind k : {OpKind::add, OpKind::mul, OpKind::div}) {
    all_precisions_of({k, ElementwiseShape{10007, 2, 0}});
    all_precisions_of({k, ElementwiseShape{64 * 157, 2, 64}});
    all_precisions_of({k, ElementwiseShape{3 * 1001, 2, 3}});
    all_precisions_of({k, ElementwiseShape{4096, 2, 1}});
  }
}

TEST_CASE("data movement") {
  for (OpKind k : {OpKind::copy, OpKind::transpose, OpKind::concat}) {
    all_precisions_of({k, BytesShape{(1 << 20) + 24}});
    all_precisions_of({k, BytesShape{4 * 12 * 1000}});
    all_precisions_of({k, BytesShape{8 * 4099}});
  }
}

TEST_CASE("a check fails when the output is wrong") {
  // Never run: the output holds whatever the allocation held, not sigmoid(x) in (0, 1).
  auto k = hwcal_test::backend().make({OpKind::sigmoid, ElementwiseShape{4096, 1, 0}}, Precision::fp32);
  hwcal_test::backend().sync();
  CHECK_FALSE(k->check().ok);
}
