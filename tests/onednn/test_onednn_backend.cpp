// The oneDNN backend: every op at small sizes passes its check (fp32, bf16
// where the CPU has it, int8 where hwcal measures it), corrupted outputs fail,
// unsupported combinations say why and throw, fusion pairs agree, threads stick.

#include <cstring>
#include <hwcal/onednn/backend.hpp>
#include <string>
#include <vector>

#include "catch.hpp"

using namespace hwcal;
using hwcal::onednn::OneDnnBackend;

namespace {

struct Case {
  std::string name;
  OpDesc op;
};

Conv2dShape conv(i64 n, i64 c, i64 h, i64 w, i64 k, i64 r, i64 s, i64 stride, i64 pad, i64 dil, i64 groups, bool bias) {
  Conv2dShape x;
  x.n = n, x.c = c, x.h = h, x.w = w, x.k = k, x.r = r, x.s = s;
  x.stride_h = x.stride_w = stride;
  x.pad_h = x.pad_w = pad;
  x.dil_h = x.dil_w = dil;
  x.groups = groups;
  x.bias = bias;
  return x;
}

Pool2dShape pool(i64 n, i64 c, i64 h, i64 w, i64 r, i64 stride, i64 pad) {
  Pool2dShape x;
  x.n = n, x.c = c, x.h = h, x.w = w, x.r = x.s = r;
  x.stride_h = x.stride_w = stride;
  x.pad_h = x.pad_w = pad;
  return x;
}

std::vector<Case> small_ops() {
  std::vector<Case> v{
      {"conv2d dense 3x3 bias", {OpKind::conv2d, conv(2, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, true)}},
      {"conv2d grouped stride 2 dilation 2", {OpKind::conv2d, conv(1, 8, 11, 11, 12, 3, 3, 2, 2, 2, 4, false)}},
      {"conv2d depthwise", {OpKind::conv2d, conv(2, 16, 8, 8, 16, 3, 3, 1, 1, 1, 16, true)}},
      {"conv2d 1x1 stride 2 odd", {OpKind::conv2d, conv(1, 24, 7, 7, 32, 1, 1, 2, 0, 1, 1, false)}},
      {"matmul batched", {OpKind::matmul, MatmulShape{3, 17, 19, 23, false}}},
      {"matmul bias", {OpKind::matmul, MatmulShape{1, 8, 16, 32, true}}},
      {"linear bias", {OpKind::linear, MatmulShape{1, 13, 24, 40, true}}},
      {"linear batch no bias", {OpKind::linear, MatmulShape{2, 5, 16, 8, false}}},
      {"maxpool", {OpKind::maxpool, pool(2, 4, 9, 9, 3, 2, 1)}},
      {"avgpool padding counted", {OpKind::avgpool, pool(1, 3, 8, 7, 3, 2, 1)}},
      {"adaptive_avgpool divisible", {OpKind::adaptive_avgpool, AdaptivePoolShape{2, 3, 8, 12, 4, 3}}},
      {"adaptive_avgpool global", {OpKind::adaptive_avgpool, AdaptivePoolShape{1, 5, 7, 7, 1, 1}}},
      {"adaptive_avgpool 7 -> 2", {OpKind::adaptive_avgpool, AdaptivePoolShape{1, 2, 7, 7, 2, 2}}},
      {"batchnorm", {OpKind::batchnorm, MapShape{2, 5, 4, 3}}},
      {"layernorm", {OpKind::layernorm, RowsShape{7, 48}}},
      {"softmax", {OpKind::softmax, RowsShape{9, 33}}},
      {"reduce_mean", {OpKind::reduce_mean, RowsShape{6, 50}}},
      {"add", {OpKind::add, ElementwiseShape{1000, 2, 0}}},
      {"mul broadcast", {OpKind::mul, ElementwiseShape{1200, 2, 40}}},
      {"div broadcast scalar", {OpKind::div, ElementwiseShape{1200, 2, 1}}},
      {"copy", {OpKind::copy, BytesShape{4000}}},
      {"transpose", {OpKind::transpose, BytesShape{4 * 96 * 40}}},
      {"concat", {OpKind::concat, BytesShape{4096}}},
      {"attention", {OpKind::attention, AttentionShape{2, 3, 16, 16, 8, false}}},
      {"attention causal, seq_kv > seq_q", {OpKind::attention, AttentionShape{1, 2, 8, 12, 16, true}}},
  };
  for (OpKind k :
       {OpKind::relu, OpKind::gelu, OpKind::silu, OpKind::sigmoid, OpKind::hardswish, OpKind::hardsigmoid, OpKind::tanh})
    v.push_back({std::string(to_string(k)), {k, ElementwiseShape{1000, 1, 0}}});
  return v;
}

void require_passes(Backend& b, const Case& c, Precision p) {
  INFO(c.name << " in " << to_string(p));
  const Support s = b.supports(c.op, p);
  INFO("supports: " << s.note);
  REQUIRE(s.usable());
  auto k = b.make(c.op, p);
  k->run();
  const CheckResult r = k->check();
  INFO("implementation: " << k->implementation() << "; " << r.detail);
  CHECK(r.ok);
  CHECK(r.checked > 0);
  CHECK(r.max_error <= 1.0);
  CHECK_FALSE(k->implementation().empty());
}

bool native_bf16(const Backend& b) {
  return b.supports(OpDesc{OpKind::matmul, MatmulShape{1, 16, 16, 16, false}}, Precision::bf16).level == SupportLevel::native;
}

/// Overwrites every byte of a kernel's output (after a correct run).
void corrupt(Kernel& k) {
  const auto& out = dynamic_cast<onednn::detail::ChainKernel&>(k).output();
  std::memset(out.get_data_handle(), 0x41, out.get_desc().get_size());
}

}  // namespace

TEST_CASE("every op passes its check in fp32", "[onednn]") {
  OneDnnBackend b;
  for (const auto& c : small_ops()) require_passes(b, c, Precision::fp32);
}

TEST_CASE("every op passes its check in bf16 where the CPU has bf16", "[onednn]") {
  OneDnnBackend b;
  if (!native_bf16(b)) {
    WARN("no native bf16 on this CPU; bf16 checks skipped");
    return;
  }
  for (const auto& c : small_ops()) require_passes(b, c, Precision::bf16);
}

TEST_CASE("int8 conv2d, matmul and linear (u8 x s8 -> f32) and int8 data movement", "[onednn]") {
  OneDnnBackend b;
  for (const auto& c : small_ops()) {
    const OpKind k = c.op.kind;
    if (k != OpKind::conv2d && k != OpKind::matmul && k != OpKind::linear && k != OpKind::copy && k != OpKind::transpose &&
        k != OpKind::concat)
      continue;
    // Exotic convs (grouped + dilated) may have only oneDNN's reference int8
    // code on older ISAs: then the backend must say so and refuse.
    const Support s = b.supports(c.op, Precision::int8);
    if (c.name.find("grouped") != std::string::npos && !s.usable()) {
      INFO(c.name);
      CHECK(s.note.find("reference") != std::string::npos);
      CHECK_THROWS_AS(b.make(c.op, Precision::int8), UnavailableError);
      continue;
    }
    require_passes(b, c, Precision::int8);
  }
}

TEST_CASE("a corrupted output fails its check", "[onednn]") {
  OneDnnBackend b;
  std::vector<Precision> precisions{Precision::fp32};
  if (native_bf16(b)) precisions.push_back(Precision::bf16);
  for (Precision p : precisions)
    for (const auto& c : small_ops()) {
      INFO(c.name << " in " << to_string(p));
      auto k = b.make(c.op, p);
      // Outputs start as NaN: a check before any run fails.
      CHECK_FALSE(k->check().ok);
      k->run();
      REQUIRE(k->check().ok);
      corrupt(*k);
      const CheckResult r = k->check();
      CHECK_FALSE(r.ok);
      CHECK_FALSE(r.detail.empty());
    }
}

TEST_CASE("unsupported combinations say why and throw", "[onednn]") {
  OneDnnBackend b;
  const OpDesc conv_op{OpKind::conv2d, conv(1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, false)};
  const OpDesc matmul_op{OpKind::matmul, MatmulShape{1, 8, 8, 8, false}};
  struct Bad {
    const char* why;
    OpDesc op;
    Precision p;
  };
  const std::vector<Bad> bad{
      {"fp64", conv_op, Precision::fp64},
      {"tf32", matmul_op, Precision::tf32},
      {"fp8", matmul_op, Precision::fp8},
      {"fp16 compute (oneDNN 2.6 has f16 only in reorders on CPU)", conv_op, Precision::fp16},
      {"fp16 softmax", {OpKind::softmax, RowsShape{4, 16}}, Precision::fp16},
      {"int8 outside conv/matmul/linear", {OpKind::softmax, RowsShape{4, 16}}, Precision::int8},
      {"non-uniform adaptive bins", {OpKind::adaptive_avgpool, AdaptivePoolShape{1, 2, 5, 5, 3, 3}}, Precision::fp32},
      {"causal with more queries than keys", {OpKind::attention, AttentionShape{1, 1, 8, 4, 8, true}}, Precision::fp32},
      {"unary op given two inputs", {OpKind::relu, ElementwiseShape{64, 2, 0}}, Precision::fp32},
      {"binary op given one input", {OpKind::add, ElementwiseShape{64, 1, 0}}, Precision::fp32},
      {"invalid shape", {OpKind::matmul, MatmulShape{1, 0, 8, 8, false}}, Precision::fp32},
      {"shape of another op", {OpKind::conv2d, MatmulShape{1, 8, 8, 8, false}}, Precision::fp32},
  };
  for (const auto& x : bad) {
    INFO(x.why);
    const Support s = b.supports(x.op, x.p);
    CHECK(s.level == SupportLevel::unsupported);
    CHECK_FALSE(s.note.empty());
    CHECK_THROWS_AS(b.make(x.op, x.p), UnavailableError);
  }
  CHECK_FALSE(b.supports_fusion(FusionPattern::conv_bn, Precision::int8).usable());
  CHECK_THROWS_AS(b.make_fusion(FusionPattern::conv_bn, conv_op, Precision::fp64), UnavailableError);
  CHECK_THROWS_AS(b.make_fusion(FusionPattern::conv_bn, matmul_op, Precision::fp32), UnavailableError);
}

TEST_CASE("support notes say what oneDNN runs", "[onednn]") {
  OneDnnBackend b;
  const Support s = b.supports({OpKind::hardsigmoid, ElementwiseShape{256, 1, 0}}, Precision::fp32);
  CHECK(s.level == SupportLevel::native);
  CHECK(s.note.find("hardsigmoid") != std::string::npos);
  auto k = b.make({OpKind::conv2d, conv(1, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, false)}, Precision::fp32);
  // The conv records the implementation and the layouts it chose.
  CHECK(k->implementation().find("src ") != std::string::npos);
  CHECK(k->implementation().find("dst ") != std::string::npos);
}

TEST_CASE("fusion pairs compute the same result", "[onednn]") {
  OneDnnBackend b;
  std::vector<Precision> precisions{Precision::fp32};
  if (native_bf16(b)) precisions.push_back(Precision::bf16);
  const std::vector<OpDesc> linear{{OpKind::linear, MatmulShape{1, 12, 20, 36, true}}};
  const std::vector<OpDesc> convs{{OpKind::conv2d, conv(2, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, false)},
                                  {OpKind::conv2d, conv(1, 16, 8, 8, 16, 3, 3, 2, 1, 1, 16, true)}};
  const std::vector<OpDesc> attn{{OpKind::attention, AttentionShape{2, 2, 16, 16, 8, false}},
                                 {OpKind::attention, AttentionShape{1, 3, 8, 12, 16, true}}};
  for (Precision p : precisions)
    for (int i = 0; i < fusion_pattern_count; ++i) {
      const auto f = static_cast<FusionPattern>(i);
      REQUIRE(b.supports_fusion(f, p).usable());
      const OpKind anchor = fusion_anchor(f);
      const auto& shapes = anchor == OpKind::linear ? linear : anchor == OpKind::conv2d ? convs : attn;
      for (const auto& op : shapes) {
        INFO(to_string(f) << " in " << to_string(p) << " (shape " << features(op).x[0] << ")");
        FusionKernels k = b.make_fusion(f, op, p);
        CHECK_FALSE(k.note.empty());
        for (Kernel* kernel : {k.fused.get(), k.unfused.get()}) {
          REQUIRE(kernel);
          kernel->run();
          const CheckResult r = kernel->check();
          INFO(kernel->implementation() << ": " << r.detail);
          CHECK(r.ok);
        }
        // The unfused chain runs more primitives than the fused one.
        const auto steps = [](const Kernel& x) {
          std::size_t n = 1, pos = 0;
          const std::string s = x.implementation();
          while ((pos = s.find(" -> ", pos)) != std::string::npos) ++n, ++pos;
          return n;
        };
        CHECK(steps(*k.unfused) > steps(*k.fused));
        corrupt(*k.fused);
        CHECK_FALSE(k.fused->check().ok);
      }
    }
}

TEST_CASE("the thread setting sticks to the kernels made under it", "[onednn]") {
  OneDnnBackend b;
  CHECK(b.threads() >= 1);
  CHECK_THROWS_AS(b.set_threads(0), Error);
  const OpDesc op{OpKind::matmul, MatmulShape{2, 32, 32, 32, false}};
  b.set_threads(1);
  CHECK(b.threads() == 1);
  auto one = b.make(op, Precision::fp32);
  b.set_threads(2);
  CHECK(b.threads() == 2);
  auto two = b.make(op, Precision::fp32);
  omp_set_num_threads(3);  // someone else changes the OpenMP setting
  one->run();
  CHECK(omp_get_max_threads() == 1);
  CHECK(one->check().ok);
  two->run();
  CHECK(omp_get_max_threads() == 2);
  CHECK(two->check().ok);
}

TEST_CASE("software names the oneDNN build", "[onednn]") {
  OneDnnBackend b;
  CHECK(b.name() == "onednn");
  const auto sw = b.software();
  REQUIRE(sw.contains("onednn"));
  CHECK(sw["onednn"].get<std::string>().rfind("2.", 0) == 0);
  for (const auto& [key, value] : sw.items()) {
    INFO(key);
    CHECK(value.is_string());  // the profile's software block holds strings
  }
  CHECK(sw["onednn_cpu_isa"] != "unknown");
}
