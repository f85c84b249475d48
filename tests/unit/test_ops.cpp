// ops.hpp: the FLOP and byte conventions both the benchmarks and the mapper use.
#include "catch.hpp"

#include <hwcal/ops.hpp>

using namespace hwcal;

TEST_CASE("matmul and linear count 2 FLOPs per multiply-add", "[ops]") {
  const OpDesc mm{OpKind::matmul, MatmulShape{4, 8, 16, 32, false}};
  CHECK(flops(mm) == 2.0 * 4 * 8 * 16 * 32);
  // A (4x8x32) + B (4x32x16) + C (4x8x16), fp32
  CHECK(bytes(mm, Precision::fp32) == 4.0 * (4 * 8 * 32 + 4 * 32 * 16 + 4 * 8 * 16));
  const OpDesc lin{OpKind::linear, MatmulShape{1, 8, 16, 32, true}};
  CHECK(flops(lin) == 2.0 * 8 * 16 * 32 + 8 * 16);
  // x (8x32) + W (16x32) + y (8x16) + bias (16), bf16
  CHECK(bytes(lin, Precision::bf16) == 2.0 * (8 * 32 + 16 * 32 + 8 * 16 + 16));
}

TEST_CASE("conv2d counts output-stationary work and each tensor once", "[ops]") {
  Conv2dShape s;
  s.n = 2, s.c = 64, s.h = s.w = 56, s.k = 128, s.r = s.s = 3, s.stride_h = s.stride_w = 2, s.pad_h = s.pad_w = 1, s.bias = false;
  const OpDesc op{OpKind::conv2d, s};
  CHECK(s.out_h() == 28);
  CHECK(s.out_w() == 28);
  CHECK(flops(op) == 2.0 * 2 * 128 * 28 * 28 * 64 * 9);
  CHECK(bytes(op, Precision::fp32) == 4.0 * (2 * 64 * 56 * 56 + 128 * 64 * 9 + 2 * 128 * 28 * 28));
  CHECK(variant_of(op) == Variant::dense);
  s.groups = 64, s.k = 64;
  CHECK(variant_of(OpDesc{OpKind::conv2d, s}) == Variant::depthwise);
  CHECK(flops(OpDesc{OpKind::conv2d, s}) == 2.0 * 2 * 64 * 28 * 28 * 1 * 9);
  s.groups = 32;
  CHECK(variant_of(OpDesc{OpKind::conv2d, s}) == Variant::grouped);
}

TEST_CASE("memory ops count bytes in and out", "[ops]") {
  CHECK(bytes(OpDesc{OpKind::relu, ElementwiseShape{1000, 1, 0}}, Precision::fp32) == 8000);
  CHECK(bytes(OpDesc{OpKind::add, ElementwiseShape{1000, 2, 0}}, Precision::fp32) == 12000);
  CHECK(bytes(OpDesc{OpKind::mul, ElementwiseShape{1000, 2, 10}}, Precision::fp32) == 4.0 * 2010);
  CHECK(variant_of(OpDesc{OpKind::mul, ElementwiseShape{1000, 2, 10}}) == Variant::broadcast);
  CHECK(bytes(OpDesc{OpKind::copy, BytesShape{4096}}, Precision::fp32) == 8192);
  CHECK(bytes(OpDesc{OpKind::softmax, RowsShape{10, 100}}, Precision::fp16) == 2.0 * 2 * 1000);
  CHECK(flops(OpDesc{OpKind::softmax, RowsShape{10, 100}}) == 5000);
  CHECK(flops(OpDesc{OpKind::reduce_mean, RowsShape{10, 100}}) == 1000);
  Pool2dShape p;
  p.n = 1, p.c = 8, p.h = p.w = 112, p.r = p.s = 3, p.stride_h = p.stride_w = 2, p.pad_h = p.pad_w = 1;
  CHECK(p.out_h() == 56);
  CHECK(flops(OpDesc{OpKind::maxpool, p}) == 8.0 * 56 * 56 * 9);
}

TEST_CASE("attention counts the dense work also when causal", "[ops]") {
  const AttentionShape a{2, 4, 128, 256, 64, false};
  const double scores = 2.0 * 4 * 128 * 256;
  CHECK(flops(OpDesc{OpKind::attention, a}) == 4 * scores * 64 + 5 * scores);
  AttentionShape c = a;
  c.causal = true;
  CHECK(flops(OpDesc{OpKind::attention, c}) == flops(OpDesc{OpKind::attention, a}));
  CHECK(variant_of(OpDesc{OpKind::attention, c}) == Variant::causal);
}

TEST_CASE("features are log2 of the dimensions that move an op", "[ops]") {
  const FeatureSet f = features(OpDesc{OpKind::matmul, MatmulShape{1, 1024, 256, 64, false}});
  REQUIRE(f.count == 4);
  CHECK(f.x[0] == 0.0f);
  CHECK(f.x[1] == 10.0f);
  CHECK(f.x[2] == 8.0f);
  CHECK(f.x[3] == 6.0f);
  CHECK(features(OpDesc{OpKind::relu, ElementwiseShape{1 << 20, 1, 0}}).count == 1);
}

TEST_CASE("invalid shapes say why", "[ops]") {
  CHECK(invalid_reason(OpDesc{OpKind::matmul, MatmulShape{1, 0, 4, 4, false}}) == "batch, m, n and k must be positive");
  Conv2dShape s;
  s.n = 1, s.c = 6, s.h = s.w = 8, s.k = 4, s.r = s.s = 3, s.groups = 4;
  CHECK(invalid_reason(OpDesc{OpKind::conv2d, s}) == "groups must divide both c and k");
  s.groups = 1, s.r = 9;
  CHECK(invalid_reason(OpDesc{OpKind::conv2d, s}) == "kernel larger than the padded input");
  CHECK(invalid_reason(OpDesc{OpKind::relu, MatmulShape{}}) == "shape does not match the op");
  CHECK(invalid_reason(OpDesc{OpKind::add, ElementwiseShape{100, 2, 7}}) == "broadcast must divide elements");
  CHECK(invalid_reason(OpDesc{OpKind::add, ElementwiseShape{100, 2, 10}}).empty());
}

TEST_CASE("fusion traffic: fused reads inputs and writes the result once", "[ops]") {
  const OpDesc lin{OpKind::linear, MatmulShape{1, 128, 256, 512, true}};
  const double out = 128.0 * 256 * 4;
  CHECK(fusion_bytes(FusionPattern::linear_bias_relu, lin, Precision::fp32, true) == bytes(lin, Precision::fp32));
  CHECK(fusion_bytes(FusionPattern::linear_bias_relu, lin, Precision::fp32, false) == bytes(lin, Precision::fp32) + 4 * out + 256 * 4);
  const OpDesc att{OpKind::attention, AttentionShape{1, 2, 16, 32, 8, false}};
  const double s = 2.0 * 16 * 32 * 4;
  CHECK(fusion_bytes(FusionPattern::attention, att, Precision::fp32, false) -
            fusion_bytes(FusionPattern::attention, att, Precision::fp32, true) ==
        4 * s);
  CHECK(fusion_anchor(FusionPattern::conv_bn_relu) == OpKind::conv2d);
}
