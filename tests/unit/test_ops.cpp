// ops.hpp: the FLOP and byte conventions both the benchmarks and the mapper use.
#include "catch.hpp"

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

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
  s.n = 2, s.c = 64, s.h = s.w = 56, s.k = 128, s.r = s.s = 3, s.stride_h = s.stride_w = 2, s.pad_h = s.pad_w = 1,
  s.bias = false;
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
  // channels_last: the same counts, curves of its own
  s.channels_last = true;
  CHECK(variant_of(OpDesc{OpKind::conv2d, s}) == Variant::grouped_channels_last);
  CHECK(nchw_variant(Variant::grouped_channels_last) == Variant::grouped);
  CHECK(flops(OpDesc{OpKind::conv2d, s}) == 2.0 * 2 * 64 * 28 * 28 * 2 * 9);
  s.groups = 64;
  CHECK(variant_of(OpDesc{OpKind::conv2d, s}) == Variant::depthwise_channels_last);
  s.groups = 1, s.k = 128;
  CHECK(variant_of(OpDesc{OpKind::conv2d, s}) == Variant::dense_channels_last);
  CHECK(bytes(OpDesc{OpKind::conv2d, s}, Precision::fp32) == bytes(op, Precision::fp32));
  CHECK(shape_label(OpDesc{OpKind::conv2d, s}).find("nhwc") != std::string::npos);
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

TEST_CASE("invalid shapes say why, naming the field at fault", "[ops]") {
  CHECK(invalid_reason(OpDesc{OpKind::matmul, MatmulShape{1, 0, 4, 4, false}}) ==
        "m: must be a positive integer, got 0");
  Conv2dShape s;
  s.n = 1, s.c = 6, s.h = s.w = 8, s.k = 4, s.r = s.s = 3, s.groups = 4;
  CHECK(invalid_reason(OpDesc{OpKind::conv2d, s}) == "groups: groups must divide both c and k");
  s.groups = 1, s.r = 9;
  CHECK(invalid_reason(OpDesc{OpKind::conv2d, s}) == "r: kernel larger than the padded input");
  s.r = 3, s.dil_h = i64{1} << 39;  // dil * (r - 1) beyond any input, computed without overflow
  CHECK(invalid_reason(OpDesc{OpKind::conv2d, s}) == "r: kernel larger than the padded input");
  CHECK(invalid_reason(OpDesc{OpKind::relu, MatmulShape{}}) == "shape does not match the op");
  CHECK(invalid_reason(OpDesc{OpKind::add, ElementwiseShape{100, 2, 7}}) ==
        "broadcast: broadcast must divide elements");
  CHECK(invalid_reason(OpDesc{OpKind::add, ElementwiseShape{100, 2, 10}}).empty());
  // arity comes from the op table: a relu with two inputs is no relu
  CHECK(invalid_reason(OpDesc{OpKind::relu, ElementwiseShape{100, 2, 0}}) == "inputs: relu takes 1 input");
  CHECK(invalid_reason(OpDesc{OpKind::silu_mul, ElementwiseShape{100, 2, 10}}) ==
        "broadcast: silu_mul has no broadcast input");
  CHECK(invalid_reason(OpDesc{OpKind::linear, MatmulShape{2, 4, 4, 4, true}}).find("batch") == 0);
  // 2^40 per field, 2^50 elements per tensor: every count stays exact in a double
  CHECK(invalid_reason(OpDesc{OpKind::batchnorm, MapShape{i64{1} << 30, i64{1} << 30, 1, 1}}) ==
        "tensor 'x' would have more than 2^50 elements");
  CHECK(invalid_reason(OpDesc{OpKind::relu, ElementwiseShape{i64{1} << 41, 1, 0}}) ==
        "elements: is larger than 2^40, the most hwcal accepts");
}

TEST_CASE("every op kind of the table has a valid default-sized shape family", "[ops]") {
  for (const OpInfo& o : op_table) {
    INFO(o.name);
    CHECK(info(o.kind).kind == o.kind);
    OpKind parsed;
    REQUIRE(parse(o.name, parsed));
    CHECK(parsed == o.kind);
    CHECK(default_shape(o.kind).index() == static_cast<std::size_t>(o.family));
    CHECK(is_compute_op(o.kind) == (o.axis == OpAxis::flops));
  }
  OpKind k;
  CHECK_FALSE(parse("dense", k));
}

TEST_CASE("grouped-query attention reads K and V once per KV head", "[ops][llm]") {
  // LLaMA-style decode: 32 query heads sharing 8 KV heads, one token against 4096 cached
  const AttentionShape gqa{8, 32, 1, 4096, 128, false, 8};
  const OpDesc op{OpKind::attention, gqa};
  const double q = 8.0 * 32 * 1 * 128, kv = 8.0 * 8 * 4096 * 128;
  CHECK(bytes(op, Precision::bf16) == 2.0 * (2 * q + 2 * kv));
  AttentionShape mha = gqa;
  mha.kv_heads = 32;
  CHECK(bytes(OpDesc{OpKind::attention, mha}, Precision::bf16) == 2.0 * (2 * q + 2 * 4 * kv));
  CHECK(flops(op) == flops(OpDesc{OpKind::attention, mha}));  // the arithmetic is per query head
  CHECK(variant_of(op) == Variant::decode);
  CHECK(features(op).count == 5);
  CHECK(features(op).x[4] == Approx(2.0f).margin(1e-3));  // log2 of 4 query heads per KV head
  AttentionShape prefill{1, 32, 512, 512, 128, true, 8};
  CHECK(variant_of(OpDesc{OpKind::attention, prefill}) == Variant::causal);
  CHECK(tensors(op).count == 4);
}

TEST_CASE("the LLM op kinds count what their kernels move", "[ops][llm]") {
  // rmsnorm: x in, y out, gamma (one per column)
  CHECK(bytes(OpDesc{OpKind::rmsnorm, RowsShape{512, 4096}}, Precision::bf16) == 2.0 * (2 * 512 * 4096 + 4096));
  CHECK(flops(OpDesc{OpKind::rmsnorm, RowsShape{512, 4096}}) == 4.0 * 512 * 4096);
  CHECK(bytes(OpDesc{OpKind::layernorm, RowsShape{512, 4096}}, Precision::bf16) == 2.0 * (2 * 512 * 4096 + 2 * 4096));
  // silu_mul: gate and up in, one out
  CHECK(bytes(OpDesc{OpKind::silu_mul, ElementwiseShape{1000, 2, 0}}, Precision::fp32) == 12000);
  CHECK(bytes(OpDesc{OpKind::relu6, ElementwiseShape{1000, 1, 0}}, Precision::fp32) == 8000);
  // rotary: x in and out, cos and sin tables of tokens x head_dim
  CHECK(bytes(OpDesc{OpKind::rotary, RotaryShape{16, 32, 128}}, Precision::fp16) ==
        2.0 * (2 * 16 * 32 * 128 + 2 * 16 * 128));
  // embedding: int64 indices, the gathered rows (weights), the output
  const Counts e = counts(OpDesc{OpKind::embedding, EmbeddingShape{64, 128256, 4096}}, Precision::bf16);
  CHECK(e.bytes == 8.0 * 64 + 2.0 * 64 * 4096 * 2);
  CHECK(e.weight_bytes == 2.0 * 64 * 4096);
  CHECK(e.flops == 0);
  // weights are what a forward pass reads from far away
  CHECK(counts(OpDesc{OpKind::linear, MatmulShape{1, 8, 4096, 4096, true}}, Precision::bf16).weight_bytes ==
        2.0 * (4096 * 4096 + 4096));
  CHECK(counts(OpDesc{OpKind::matmul, MatmulShape{8, 64, 64, 64, false}}, Precision::bf16).weight_bytes == 0);
}

TEST_CASE("analyze() agrees with the separate counts", "[ops]") {
  Conv2dShape c;
  c.n = 2, c.c = 32, c.h = c.w = 28, c.k = 64, c.r = c.s = 3, c.pad_h = c.pad_w = 1;
  for (const OpDesc& op :
       {OpDesc{OpKind::conv2d, c}, OpDesc{OpKind::attention, AttentionShape{2, 8, 64, 128, 64, true, 2}},
        OpDesc{OpKind::rotary, RotaryShape{8, 4, 64}}, OpDesc{OpKind::add, ElementwiseShape{4096, 2, 64}}}) {
    const OpAnalysis a = analyze(op, Precision::fp16);
    CHECK(a.counts.flops == flops(op));
    CHECK(a.counts.bytes == bytes(op, Precision::fp16));
    CHECK(a.variant == variant_of(op));
    CHECK(a.features.count == features(op).count);
  }
}

TEST_CASE("one move geometry for every backend", "[ops]") {
  const reference::MoveGeometry g = reference::move_geometry(4096 * 4, 4);  // 4096 fp32 elements
  CHECK(g.rows == 64);
  CHECK(g.cols == 64);
  const reference::MoveGeometry p =
      reference::move_geometry(4 * 4099, 4);  // a prime: floor(sqrt) rows, a few fewer elements
  CHECK(p.rows == 64);
  CHECK(p.elements() <= 4099);
  CHECK(p.elements() > 4000);
  CHECK(reference::move_geometry(1, 4).elements() == 1);
}

TEST_CASE("a permute is a head merge: runs kept whole, every element moved once", "[ops]") {
  // 1 MiB of bf16: [16 heads][512 tokens][64 elements] -> [512][16][64]
  const reference::MoveGeometry g = reference::move_geometry({OpKind::permute, BytesShape{1 << 20}}, 2);
  CHECK((g.rows == 16 && g.cols == 512 * 64 && g.run == 64));
  // the output's second run is the second head's first run; the one after the heads, the first head's second
  CHECK(reference::moved_from(g, 64) == g.cols);
  CHECK(reference::moved_from(g, 16 * 64) == 64);
  CHECK(reference::moved_from(g, 16 * 64 + 3) == 67);
  // as torch_ops.py's permute_geometry: small, and without a power of two (largest divisor heads, short runs)
  const reference::MoveGeometry small = reference::move_geometry({OpKind::permute, BytesShape{4096}}, 4);
  CHECK((small.rows == 8 && small.cols / small.run == 2 && small.run == 64));
  const reference::MoveGeometry tiny = reference::move_geometry({OpKind::permute, BytesShape{256}}, 4);
  CHECK((tiny.rows == 2 && tiny.cols / tiny.run == 2 && tiny.run == 16));
  const reference::MoveGeometry odd = reference::move_geometry({OpKind::permute, BytesShape{3000}}, 4);
  CHECK((odd.rows == 15 && odd.cols / odd.run == 25 && odd.run == 2));
  // a bijection: every input element is read once
  for (const reference::MoveGeometry& m : {small, tiny, odd}) {
    std::vector<int> seen(static_cast<std::size_t>(m.elements()));
    for (i64 o = 0; o < m.elements(); ++o) ++seen[static_cast<std::size_t>(reference::moved_from(m, o))];
    CHECK(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  }
  // a transpose is the same map with runs of one element: y[c][r] = x[r][c]
  const reference::MoveGeometry t = reference::move_geometry({OpKind::transpose, BytesShape{4096 * 4}}, 4);
  CHECK(t.run == 1);
  CHECK(reference::moved_from(t, 1) == t.cols);
  CHECK(reference::moved_from(t, t.rows) == 1);
  // a profile calibrated before permute existed reads it from copy's curve
  CHECK(stand_in(OpKind::permute) == OpKind::copy);
  CHECK(stand_in(OpKind::exp) == OpKind::relu);
  CHECK(stand_in(OpKind::div) == OpKind::add);
  CHECK(stand_in(OpKind::conv2d) == OpKind::conv2d);
}

TEST_CASE("a concat's inputs: one block of rows each, the largest first; inputs x largest and inputs are features",
          "[ops]") {
  // 1 MiB of fp32 as 512 x 512; one input of half the bytes and 15 sharing the rest
  const OpDesc uneven{OpKind::concat, BytesShape{1 << 20, 16, 1 << 19}};
  const reference::MoveGeometry g = reference::move_geometry(uneven, 4);
  REQUIRE(g.parts.size() == 16);
  CHECK(g.parts[0] == 256);
  CHECK(std::accumulate(g.parts.begin(), g.parts.end(), i64{0}) == g.rows);
  CHECK(*std::min_element(g.parts.begin() + 1, g.parts.end()) == 17);
  CHECK(*std::max_element(g.parts.begin() + 1, g.parts.end()) == 18);
  const FeatureSet f = features(uneven);
  REQUIRE(f.count == 3);
  CHECK(f.x[1] == Approx(f.x[0] + 3).margin(0.01));  // 16 inputs as large as half the output: 8x its bytes (log2)
  CHECK(f.x[2] == Approx(4).margin(0.01));           // 16 inputs
  // even (largest 0), and the two-input default of older workloads: the two features agree
  const OpDesc even{OpKind::concat, BytesShape{1 << 20, 16}};
  CHECK(reference::move_geometry(even, 4).parts == std::vector<i64>(16, 32));
  CHECK(features(even).x[1] == Approx(features(even).x[0]).margin(0.01));
  const FeatureSet pair = features(OpDesc{OpKind::concat, BytesShape{4096}});
  CHECK(pair.x[1] == Approx(pair.x[0]).margin(0.01));
  // more inputs than the square has rows: one row each
  const reference::MoveGeometry narrow = reference::move_geometry({OpKind::concat, BytesShape{64, 32}}, 4);
  CHECK(narrow.rows == 32);
  CHECK(narrow.parts == std::vector<i64>(32, 1));
  // copy and transpose keep one feature and no parts
  CHECK(features(OpDesc{OpKind::copy, BytesShape{4096}}).count == 1);
  CHECK(reference::move_geometry({OpKind::copy, BytesShape{4096}}, 4).parts.empty());
  // the counts see the inputs: the largest, then the rest
  CHECK(bytes(uneven, Precision::fp32) == Approx(2.0 * (1 << 20)));
}

TEST_CASE("fusion traffic: fused reads inputs and writes the result once", "[ops]") {
  const OpDesc lin{OpKind::linear, MatmulShape{1, 128, 256, 512, true}};
  const double out = 128.0 * 256 * 4;
  CHECK(fusion_bytes(FusionPattern::linear_bias_relu, lin, Precision::fp32, true) == bytes(lin, Precision::fp32));
  CHECK(fusion_bytes(FusionPattern::linear_bias_relu, lin, Precision::fp32, false) ==
        bytes(lin, Precision::fp32) + 4 * out + 256 * 4);
  const OpDesc att{OpKind::attention, AttentionShape{1, 2, 16, 32, 8, false}};
  const double s = 2.0 * 16 * 32 * 4;
  CHECK(fusion_bytes(FusionPattern::attention, att, Precision::fp32, false) -
            fusion_bytes(FusionPattern::attention, att, Precision::fp32, true) ==
        4 * s);
  CHECK(fusion_anchor(FusionPattern::conv_bn_relu) == OpKind::conv2d);
}
