// cpu/: every op and fusion pattern of the Eigen (and OpenBLAS) backend is
// checked against the reference; a corrupted result fails the check.
#include "catch.hpp"

#include <hwcal/cpu/backend.hpp>

#include <limits>

using namespace hwcal;

namespace {

std::vector<OpDesc> small_ops() {
  Conv2dShape dense;
  dense.n = 2, dense.c = 6, dense.h = 9, dense.w = 7, dense.k = 5, dense.r = 3, dense.s = 3, dense.pad_h = dense.pad_w = 1, dense.bias = true;
  Conv2dShape strided = dense;
  strided.stride_h = strided.stride_w = 2, strided.r = strided.s = 5, strided.pad_h = 2, strided.pad_w = 1, strided.dil_w = 2;
  strided.bias = false;
  Conv2dShape pointwise = dense;
  pointwise.r = pointwise.s = 1, pointwise.pad_h = pointwise.pad_w = 0;
  Conv2dShape depthwise = dense;
  depthwise.c = depthwise.k = depthwise.groups = 6, depthwise.stride_w = 2;
  Conv2dShape grouped = dense;
  grouped.k = 6, grouped.groups = 3, grouped.r = grouped.s = 7, grouped.pad_h = grouped.pad_w = 3;
  Pool2dShape pool;
  pool.n = 2, pool.c = 3, pool.h = 11, pool.w = 10, pool.r = pool.s = 3, pool.stride_h = pool.stride_w = 2, pool.pad_h = pool.pad_w = 1;
  std::vector<OpDesc> ops = {
      {OpKind::matmul, MatmulShape{3, 17, 13, 11, false}},
      {OpKind::linear, MatmulShape{1, 9, 14, 33, true}},
      {OpKind::linear, MatmulShape{1, 1, 7, 5, false}},
      {OpKind::conv2d, dense},
      {OpKind::conv2d, strided},
      {OpKind::conv2d, pointwise},
      {OpKind::conv2d, depthwise},
      {OpKind::conv2d, grouped},
      {OpKind::attention, AttentionShape{2, 3, 7, 9, 8, false}},
      {OpKind::attention, AttentionShape{1, 2, 5, 11, 4, true}},
      {OpKind::maxpool, pool},
      {OpKind::avgpool, pool},
      {OpKind::adaptive_avgpool, AdaptivePoolShape{2, 3, 7, 9, 3, 4}},
      {OpKind::batchnorm, MapShape{2, 5, 4, 3}},
      {OpKind::layernorm, RowsShape{5, 37}},
      {OpKind::softmax, RowsShape{6, 29}},
      {OpKind::reduce_mean, RowsShape{6, 29}},
      {OpKind::add, ElementwiseShape{1000, 2, 0}},
      {OpKind::mul, ElementwiseShape{1000, 2, 40}},
      {OpKind::div, ElementwiseShape{999, 2, 0}},
      {OpKind::copy, BytesShape{4000}},
      {OpKind::transpose, BytesShape{4000}},
      {OpKind::concat, BytesShape{4004}},
  };
  for (OpKind k : {OpKind::relu, OpKind::gelu, OpKind::silu, OpKind::sigmoid, OpKind::hardswish, OpKind::hardsigmoid, OpKind::tanh})
    ops.push_back({k, ElementwiseShape{1037, 1, 0}});
  ops.push_back({OpKind::silu, ElementwiseShape{1037, 1, 0, true}});
  ops.push_back({OpKind::add, ElementwiseShape{1000, 2, 0, true}});
  return ops;
}

template <class Backend>
void check_backend(Backend& b) {
  for (int threads : {1, 2}) {
    b.set_threads(threads);
    for (const OpDesc& op : small_ops())
      for (Precision p : {Precision::fp32, Precision::fp64}) {
        INFO(b.name() << " " << to_string(op.kind) << " " << to_string(p) << " threads " << threads);
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
  cpu::EigenBackend b;
  const OpDesc mm{OpKind::matmul, MatmulShape{1, 8, 8, 8, false}};
  cpu::MatmulKernel<cpu::EigenGemm, float> k(mm, Precision::fp32, 1);
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
  cpu::Conv2dKernel<cpu::EigenGemm, double> conv(OpDesc{OpKind::conv2d, s}, Precision::fp64, 1);
  conv.run();
  REQUIRE(conv.check().ok);
  for (int i = 0; i < 4 * 36; ++i) conv.output()[i] *= 1.001;  // a 0.1% error is far beyond fp64 tolerance
  CHECK_FALSE(conv.check().ok);
}

TEST_CASE("unsupported precisions are refused with the reason", "[cpu]") {
  cpu::EigenBackend b;
  const OpDesc mm{OpKind::matmul, MatmulShape{1, 8, 8, 8, false}};
  CHECK(b.supports(mm, Precision::bf16).level == SupportLevel::unsupported);
  CHECK_THROWS_AS(b.make(mm, Precision::bf16), UnavailableError);
  CHECK_THROWS_AS(b.make(OpDesc{OpKind::matmul, MatmulShape{1, 0, 8, 8, false}}, Precision::fp32), UnavailableError);
  CHECK(b.supports(mm, Precision::int8).note.find("fp32 and fp64 only") != std::string::npos);
}

TEST_CASE("fusion pairs compute the same result fused and unfused", "[cpu]") {
  cpu::EigenBackend b;
  b.set_threads(2);
  Conv2dShape conv;
  conv.n = 2, conv.c = 4, conv.h = conv.w = 7, conv.k = 6, conv.r = conv.s = 3, conv.pad_h = conv.pad_w = 1;
  for (int f = 0; f < fusion_pattern_count; ++f) {
    const auto fp = static_cast<FusionPattern>(f);
    const OpKind anchor = fusion_anchor(fp);
    const OpDesc op = anchor == OpKind::linear   ? OpDesc{anchor, MatmulShape{1, 9, 10, 11, true}}
                      : anchor == OpKind::conv2d ? OpDesc{anchor, conv}
                                                 : OpDesc{anchor, AttentionShape{2, 2, 6, 10, 8, f % 2 == 0}};
    for (Precision p : {Precision::fp32, Precision::fp64}) {
      INFO(to_string(fp) << " " << to_string(p));
      FusionKernels k = b.make_fusion(fp, op, p);
      CHECK_FALSE(k.note.empty());
      k.fused->run();
      k.unfused->run();
      CHECK(k.fused->check().ok);
      CHECK(k.unfused->check().ok);
    }
  }
  CHECK_THROWS_AS(b.make_fusion(FusionPattern::conv_relu, OpDesc{OpKind::linear, MatmulShape{1, 2, 2, 2, true}}, Precision::fp32), Error);
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
