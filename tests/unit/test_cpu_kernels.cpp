// cpu/: every op kind of the op table and every fusion pattern of the Eigen
// (and OpenBLAS) backend is checked against the reference; a corrupted result
// fails the check.
#include "catch.hpp"

#include <hwcal/cpu/backend.hpp>

#include <limits>

using namespace hwcal;

namespace {

Conv2dShape dense_conv() {
  Conv2dShape s;
  s.n = 2, s.c = 6, s.h = 9, s.w = 7, s.k = 5, s.r = s.s = 3, s.pad_h = s.pad_w = 1, s.bias = true;
  return s;
}

Pool2dShape small_pool() {
  Pool2dShape s;
  s.n = 2, s.c = 3, s.h = 11, s.w = 10, s.r = s.s = 3, s.stride_h = s.stride_w = 2, s.pad_h = s.pad_w = 1;
  return s;
}

/// A small valid shape of the kind's family, sized by its row of the op table.
OpDesc small_op(const OpInfo& o) {
  switch (o.family) {
    case ShapeFamily::matmul:
      return {o.kind, o.kind == OpKind::linear ? MatmulShape{1, 9, 14, 33, true} : MatmulShape{3, 17, 13, 11, false}};
    case ShapeFamily::conv2d: return {o.kind, dense_conv()};
    case ShapeFamily::pool2d: return {o.kind, small_pool()};
    case ShapeFamily::adaptive_pool: return {o.kind, AdaptivePoolShape{2, 3, 7, 9, 3, 4}};
    case ShapeFamily::map: return {o.kind, MapShape{2, 5, 4, 3}};
    case ShapeFamily::rows: return {o.kind, RowsShape{5, 37}};
    case ShapeFamily::elementwise: return {o.kind, ElementwiseShape{1037, o.inputs, 0}};
    case ShapeFamily::attention: return {o.kind, AttentionShape{2, 4, 5, 11, 8, true, 2}};
    case ShapeFamily::bytes: return {o.kind, BytesShape{4004}};
    case ShapeFamily::rotary: return {o.kind, RotaryShape{5, 3, 16}};
    case ShapeFamily::embedding: return {o.kind, EmbeddingShape{7, 50, 24}};
    case ShapeFamily::collective: return {o.kind, CollectiveShape{4096, 2}};
  }
  return {};
}

/// Attention: full, causal with more keys than queries, grouped-query and
/// multi-query, and decode steps (split across threads when the KV heads do
/// not share out evenly among them).
std::vector<OpDesc> attention_ops() {
  return {
      {OpKind::attention, AttentionShape{2, 3, 7, 9, 8, false}},        // kv_heads 0: as many as heads
      {OpKind::attention, AttentionShape{1, 2, 5, 11, 4, true, 2}},     // causal, aligned at the end
      {OpKind::attention, AttentionShape{2, 8, 6, 6, 8, true, 2}},      // GQA, 4 query heads per KV head
      {OpKind::attention, AttentionShape{1, 4, 5, 9, 8, false, 1}},     // MQA
      {OpKind::attention, AttentionShape{3, 4, 1, 700, 16, false, 2}},  // GQA decode, 6 KV heads
      {OpKind::attention, AttentionShape{1, 4, 1, 600, 16, false, 1}},  // MQA decode: split-KV at 2 threads
      {OpKind::attention, AttentionShape{1, 6, 3, 1100, 8, true, 3}},   // causal decode, 3 tokens: split-KV
  };
}

std::vector<OpDesc> small_ops() {
  std::vector<OpDesc> ops;
  for (const OpInfo& o : op_table)
    if (!is_collective(o.kind)) ops.push_back(small_op(o));  // no backend's kernels (collectives.hpp)
  Conv2dShape strided = dense_conv();
  strided.stride_h = strided.stride_w = 2, strided.r = strided.s = 5, strided.pad_h = 2, strided.pad_w = 1;
  strided.dil_w = 2, strided.bias = false;
  Conv2dShape pointwise = dense_conv();
  pointwise.r = pointwise.s = 1, pointwise.pad_h = pointwise.pad_w = 0;
  Conv2dShape depthwise = dense_conv();
  depthwise.c = depthwise.k = depthwise.groups = 6, depthwise.stride_w = 2;
  Conv2dShape grouped = dense_conv();
  grouped.k = 6, grouped.groups = 3, grouped.r = grouped.s = 7, grouped.pad_h = grouped.pad_w = 3;
  for (const Conv2dShape& s : {strided, pointwise, depthwise, grouped}) ops.push_back({OpKind::conv2d, s});
  ops.push_back({OpKind::linear, MatmulShape{1, 1, 7, 5, false}});
  for (const OpDesc& op : attention_ops()) ops.push_back(op);
  ops.push_back({OpKind::mul, ElementwiseShape{1000, 2, 40}});
  ops.push_back({OpKind::div, ElementwiseShape{999, 2, 1}});
  ops.push_back({OpKind::silu_mul, ElementwiseShape{4096, 2, 0}});
  for (OpKind k : {OpKind::silu, OpKind::relu6, OpKind::hardtanh, OpKind::clamp, OpKind::add})
    ops.push_back({k, ElementwiseShape{1037, info(k).inputs, 0, true}});
  ops.push_back({OpKind::transpose, BytesShape{4 * 97 * 5}});          // no divisor near sqrt: a few elements fewer
  ops.push_back({OpKind::permute, BytesShape{4 * 750}});               // 15 heads, runs of 2
  ops.push_back({OpKind::concat, BytesShape{8}});                      // fewer rows than inputs: a row each
  ops.push_back({OpKind::concat, BytesShape{4 * 3000, 7, 4 * 1500}});  // one large input, six small
  ops.push_back({OpKind::rotary, RotaryShape{1, 32, 128}});            // a decode step
  ops.push_back({OpKind::embedding, EmbeddingShape{1, 1000, 64}});
  return ops;
}

template <class Backend>
void check_backend(Backend& b) {
  for (int threads : {1, 2}) {
    b.set_threads(threads);
    for (const OpDesc& op : small_ops())
      for (Precision p : {Precision::fp32, Precision::fp64}) {
        INFO(b.name() << " " << to_string(op.kind) << " " << shape_label(op) << " " << to_string(p) << " threads "
                      << threads);
        // Both CPU backends run every op kind of the op table.
        REQUIRE(b.supports(op, p).level == SupportLevel::native);
        auto k = b.make(op, p);
        k->run();
        const CheckResult c = k->check();
        INFO(c.detail);
        CHECK(c.ok);
        CHECK(c.checked > 0);
      }
  }
}

/// Elements of the op's output, from the op table.
i64 output_elements(const OpDesc& op) {
  for (const TensorSpec& t : tensors(op))
    if (t.role == TensorRole::output) return static_cast<i64>(t.elements);
  return 0;
}

/// Shifts every output element: the check must fail.
template <class K>
void corrupted_output_fails(const OpDesc& op, int threads = 1) {
  INFO(to_string(op.kind) << " " << shape_label(op) << " threads " << threads);
  K k(op, Precision::fp32, threads);
  k.run();
  REQUIRE(k.check().ok);
  for (i64 i = 0; i < output_elements(op); ++i) k.output()[i] += 0.25f;
  const CheckResult c = k.check();
  CHECK_FALSE(c.ok);
  CHECK(c.detail.find("[") != std::string::npos);
}

}  // namespace

TEST_CASE("eigen backend: every op matches the reference", "[cpu]") {
  cpu::EigenBackend b;
  check_backend(b);
}

#if HWCAL_HAS_OPENBLAS
TEST_CASE("openblas backend: every op matches the reference", "[cpu]") {
  cpu::OpenBlasBackend b;
  check_backend(b);
  CHECK(b.software().at("openblas").get<std::string>().find("OpenBLAS") == 0);
}
#endif

TEST_CASE("a corrupted output fails the check", "[cpu]") {
  const OpDesc mm{OpKind::matmul, MatmulShape{1, 8, 8, 8, false}};
  cpu::GemmKernel<cpu::EigenGemm, float> k(mm, Precision::fp32, 1);
  k.run();
  REQUIRE(k.check().ok);
  k.output()[0] += 0.5f;
  CHECK_FALSE(k.check().ok);
  k.output()[0] = std::numeric_limits<float>::quiet_NaN();
  const CheckResult c = k.check();
  CHECK_FALSE(c.ok);
  CHECK(c.detail.find("C[0]") == 0);

  Conv2dShape s;
  s.n = 1, s.c = 4, s.h = s.w = 6, s.k = 4, s.r = s.s = 3, s.pad_h = s.pad_w = 1;
  cpu::ConvKernel<cpu::EigenGemm, double> conv(OpDesc{OpKind::conv2d, s}, Precision::fp64, 1);
  conv.run();
  REQUIRE(conv.check().ok);
  for (int i = 0; i < 4 * 36; ++i) conv.output()[i] *= 1.001;  // a 0.1% error is far beyond fp64 tolerance
  CHECK_FALSE(conv.check().ok);
}

TEST_CASE("a corrupted output of the LLM kernels fails the check", "[cpu]") {
  corrupted_output_fails<cpu::RowsKernel<float>>({OpKind::rmsnorm, RowsShape{6, 40}});
  for (OpKind k : {OpKind::relu6, OpKind::hardtanh, OpKind::clamp, OpKind::silu_mul})
    corrupted_output_fails<cpu::ElementwiseKernel<float>>({k, ElementwiseShape{1000, info(k).inputs, 0}});
  corrupted_output_fails<cpu::ElementwiseKernel<float>>({OpKind::clamp, ElementwiseShape{1000, 1, 0, true}});
  corrupted_output_fails<cpu::RotaryKernel<float>>({OpKind::rotary, RotaryShape{4, 3, 16}});
  corrupted_output_fails<cpu::EmbeddingKernel<float>>({OpKind::embedding, EmbeddingShape{9, 100, 16}});
  for (const OpDesc& op : attention_ops())
    for (int threads : {1, 2}) corrupted_output_fails<cpu::AttentionKernel<cpu::EigenGemm, float>>(op, threads);
}

TEST_CASE("decode attention splits the KV cache when KV heads do not share out among threads", "[cpu]") {
  cpu::EigenBackend b;
  const OpDesc decode{OpKind::attention, AttentionShape{1, 8, 1, 2048, 16, false, 1}};
  const OpDesc prefill{OpKind::attention, AttentionShape{1, 8, 64, 64, 16, true, 1}};
  b.set_threads(1);
  CHECK(b.make(decode, Precision::fp32)->implementation().empty());
  for (int threads : {2, 3}) {
    b.set_threads(threads);
    auto k = b.make(decode, Precision::fp32);
    INFO(threads << " threads: " << k->implementation());
    CHECK(k->implementation().find("split-KV: " + std::to_string(threads) + " chunks") == 0);
    k->run();
    CHECK(k->check().ok);
    CHECK(b.make(prefill, Precision::fp32)->implementation().empty());
  }
  b.set_threads(2);  // two KV heads share out evenly: one per thread, no split
  CHECK(b.make({OpKind::attention, AttentionShape{1, 8, 1, 2048, 16, false, 2}}, Precision::fp32)
            ->implementation()
            .empty());
}

TEST_CASE("unsupported precisions and invalid shapes are refused with the reason", "[cpu]") {
  cpu::EigenBackend b;
  const OpDesc mm{OpKind::matmul, MatmulShape{1, 8, 8, 8, false}};
  CHECK(b.supports(mm, Precision::bf16).level == SupportLevel::unsupported);
  CHECK_THROWS_AS(b.make(mm, Precision::bf16), UnavailableError);
  CHECK_THROWS_AS(b.make(OpDesc{OpKind::matmul, MatmulShape{1, 0, 8, 8, false}}, Precision::fp32), UnavailableError);
  CHECK(b.supports(mm, Precision::int8).note.find("fp32 and fp64 only") != std::string::npos);
  // The op table gives relu one input: a second one is an invalid shape, not a division.
  const Support two_input_relu = b.supports({OpKind::relu, ElementwiseShape{64, 2, 0}}, Precision::fp32);
  CHECK(two_input_relu.level == SupportLevel::unsupported);
  CHECK(two_input_relu.note.find("inputs") != std::string::npos);
  CHECK_FALSE(b.supports({OpKind::silu_mul, ElementwiseShape{64, 2, 8}}, Precision::fp32).usable());  // no broadcast
  CHECK_FALSE(b.supports({OpKind::attention, AttentionShape{1, 6, 4, 4, 8, false, 4}}, Precision::fp32).usable());
  CHECK_FALSE(b.supports({OpKind::rotary, RotaryShape{4, 2, 7}}, Precision::fp32).usable());
  // no NHWC kernels here: refused, not timed as NCHW
  Conv2dShape nhwc = dense_conv();
  nhwc.channels_last = true;
  const Support cl = b.supports({OpKind::conv2d, nhwc}, Precision::fp32);
  CHECK(cl.level == SupportLevel::unsupported);
  CHECK(cl.note.find("channels_last") != std::string::npos);
  CHECK_THROWS_AS(b.make({OpKind::conv2d, nhwc}, Precision::fp32), UnavailableError);
  CHECK_THROWS_AS(b.make_fusion(FusionPattern::conv_bn_relu, {OpKind::conv2d, nhwc}, Precision::fp32),
                  UnavailableError);
}

TEST_CASE("fusion pairs compute the same result fused and unfused", "[cpu]") {
  cpu::EigenBackend b;
  b.set_threads(2);
  Conv2dShape conv;
  conv.n = 2, conv.c = 4, conv.h = conv.w = 7, conv.k = 6, conv.r = conv.s = 3, conv.pad_h = conv.pad_w = 1;
  for (int f = 0; f < fusion_pattern_count; ++f) {
    const auto fp = static_cast<FusionPattern>(f);
    const OpKind anchor = fusion_anchor(fp);
    const std::vector<OpDesc> ops =
        anchor == OpKind::linear   ? std::vector<OpDesc>{{anchor, MatmulShape{1, 9, 10, 11, true}}}
        : anchor == OpKind::conv2d ? std::vector<OpDesc>{{anchor, conv}}
                                   : std::vector<OpDesc>{{anchor, AttentionShape{2, 2, 6, 10, 8, f % 2 == 0}},
                                                         {anchor, AttentionShape{1, 4, 6, 6, 8, true, 2}}};
    for (const OpDesc& op : ops)
      for (Precision p : {Precision::fp32, Precision::fp64}) {
        INFO(to_string(fp) << " " << shape_label(op) << " " << to_string(p));
        FusionKernels k = b.make_fusion(fp, op, p);
        CHECK_FALSE(k.note.empty());
        k.fused->run();
        k.unfused->run();
        CHECK(k.fused->check().ok);
        CHECK(k.unfused->check().ok);
      }
  }
  CHECK_THROWS_AS(
      b.make_fusion(FusionPattern::conv_relu, OpDesc{OpKind::linear, MatmulShape{1, 2, 2, 2, true}}, Precision::fp32),
      Error);
}

TEST_CASE("in-place kernels consume their input and prepare() restores it", "[cpu]") {
  cpu::EigenBackend b;
  const OpDesc op{OpKind::add, ElementwiseShape{4096, 2, 0, true}};
  CHECK(variant_of(op) == Variant::binary_inplace);
  auto k = b.make(op, Precision::fp32);
  REQUIRE(k->needs_prepare());
  k->run();
  REQUIRE(k->check().ok);
  k->run();  // a second run adds twice
  CHECK_FALSE(k->check().ok);
  k->prepare();
  k->run();
  CHECK(k->check().ok);
  CHECK_FALSE(b.make(OpDesc{OpKind::add, ElementwiseShape{4096, 2, 0, false}}, Precision::fp32)->needs_prepare());
}
