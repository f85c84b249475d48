// The oneDNN backend: every op kind of the op table at small sizes passes its
// check (fp32, bf16 where the CPU has it, int8 where hwcal measures it) or is
// refused for want of a oneDNN primitive, corrupted outputs fail, unsupported
// combinations say why and throw, fusion pairs agree, threads stick.

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

/// A small valid shape of the kind's family, sized by its row of the op table.
OpDesc small_op(const OpInfo& o) {
  switch (o.family) {
    case ShapeFamily::matmul:
      return {o.kind, o.kind == OpKind::linear ? MatmulShape{1, 13, 24, 40, true} : MatmulShape{3, 17, 19, 23, false}};
    case ShapeFamily::conv2d: return {o.kind, conv(2, 8, 9, 9, 16, 3, 3, 1, 1, 1, 1, true)};
    case ShapeFamily::pool2d: return {o.kind, pool(2, 4, 9, 9, 3, 2, 1)};
    case ShapeFamily::adaptive_pool: return {o.kind, AdaptivePoolShape{2, 3, 8, 12, 4, 3}};
    case ShapeFamily::map: return {o.kind, MapShape{2, 5, 4, 3}};
    case ShapeFamily::rows: return {o.kind, RowsShape{7, 48}};
    case ShapeFamily::elementwise: return {o.kind, ElementwiseShape{1000, o.inputs, 0}};
    case ShapeFamily::attention: return {o.kind, AttentionShape{2, 4, 8, 12, 16, true, 2}};
    case ShapeFamily::bytes: return {o.kind, BytesShape{4000}};
    case ShapeFamily::rotary: return {o.kind, RotaryShape{4, 2, 16}};
    case ShapeFamily::embedding: return {o.kind, EmbeddingShape{5, 40, 16}};
    case ShapeFamily::collective: return {o.kind, CollectiveShape{4096, 2}};
  }
  return {};
}

/// Every op kind of the op table, then variants of the families.
std::vector<Case> small_ops() {
  std::vector<Case> v;
  for (const OpInfo& o : op_table)
    if (!is_collective(o.kind)) v.push_back({std::string(o.name), small_op(o)});  // no backend's kernels
  const std::vector<Case> variants{
      {"conv2d grouped stride 2 dilation 2", {OpKind::conv2d, conv(1, 8, 11, 11, 12, 3, 3, 2, 2, 2, 4, false)}},
      {"conv2d depthwise", {OpKind::conv2d, conv(2, 16, 8, 8, 16, 3, 3, 1, 1, 1, 16, true)}},
      {"conv2d 1x1 stride 2 odd", {OpKind::conv2d, conv(1, 24, 7, 7, 32, 1, 1, 2, 0, 1, 1, false)}},
      {"matmul bias", {OpKind::matmul, MatmulShape{1, 8, 16, 32, true}}},
      {"linear no bias", {OpKind::linear, MatmulShape{1, 10, 16, 8, false}}},
      {"linear one row", {OpKind::linear, MatmulShape{1, 1, 16, 8, true}}},
      {"avgpool padding counted", {OpKind::avgpool, pool(1, 3, 8, 7, 3, 2, 1)}},
      {"adaptive_avgpool global", {OpKind::adaptive_avgpool, AdaptivePoolShape{1, 5, 7, 7, 1, 1}}},
      {"adaptive_avgpool 7 -> 2", {OpKind::adaptive_avgpool, AdaptivePoolShape{1, 2, 7, 7, 2, 2}}},
      {"mul broadcast", {OpKind::mul, ElementwiseShape{1200, 2, 40}}},
      {"div broadcast scalar", {OpKind::div, ElementwiseShape{1200, 2, 1}}},
      {"transpose", {OpKind::transpose, BytesShape{4 * 96 * 40}}},
      {"transpose, no divisor near sqrt", {OpKind::transpose, BytesShape{4 * 97 * 5}}},
      {"permute, 15 heads, runs of 2", {OpKind::permute, BytesShape{4 * 750}}},
      {"concat", {OpKind::concat, BytesShape{4096}}},
      {"attention", {OpKind::attention, AttentionShape{2, 3, 16, 16, 8, false}}},
      {"attention causal, seq_kv > seq_q", {OpKind::attention, AttentionShape{1, 2, 8, 12, 16, true}}},
      {"attention GQA decode", {OpKind::attention, AttentionShape{2, 8, 1, 64, 16, false, 2}}},
      {"attention MQA decode", {OpKind::attention, AttentionShape{1, 4, 1, 40, 8, false, 1}}},
      {"attention causal GQA decode of 3 tokens", {OpKind::attention, AttentionShape{1, 4, 3, 33, 8, true, 2}}},
  };
  v.insert(v.end(), variants.begin(), variants.end());
  return v;
}

/// The op kinds oneDNN 2.6 has no primitive for.
bool lacks_primitive(OpKind k) { return k == OpKind::rmsnorm || k == OpKind::rotary || k == OpKind::embedding; }

/// Unsupported with a note that says so, and make() throws.
void require_refused(Backend& b, const OpDesc& op, Precision p) {
  const Support s = b.supports(op, p);
  INFO(to_string(op.kind) << " in " << to_string(p) << ": " << s.note);
  CHECK(s.level == SupportLevel::unsupported);
  CHECK(s.note.find("oneDNN 2.6 has no") != std::string::npos);
  CHECK_THROWS_AS(b.make(op, p), UnavailableError);
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
  return b.supports(OpDesc{OpKind::matmul, MatmulShape{1, 16, 16, 16, false}}, Precision::bf16).level ==
         SupportLevel::native;
}

/// Overwrites every byte of a kernel's output (after a correct run).
void corrupt(Kernel& k) {
  const auto& out = dynamic_cast<onednn::detail::ChainKernel&>(k).output();
  std::memset(out.get_data_handle(), 0x41, out.get_desc().get_size());
}

}  // namespace

TEST_CASE("every op passes its check in fp32 or is refused for want of a primitive", "[onednn]") {
  OneDnnBackend b;
  for (const OpInfo& o : op_table)
    if (is_collective(o.kind)) CHECK(b.supports(small_op(o), Precision::fp32).note == collective_not_kernel);
  for (const auto& c : small_ops()) {
    if (lacks_primitive(c.op.kind))
      require_refused(b, c.op, Precision::fp32);
    else
      require_passes(b, c, Precision::fp32);
  }
}

TEST_CASE("every op passes its check in bf16 where the CPU has bf16", "[onednn]") {
  OneDnnBackend b;
  if (!native_bf16(b)) {
    WARN("no native bf16 on this CPU; bf16 checks skipped");
    return;
  }
  for (const auto& c : small_ops()) {
    if (lacks_primitive(c.op.kind))
      require_refused(b, c.op, Precision::bf16);
    else
      require_passes(b, c, Precision::bf16);
  }
}

TEST_CASE("int8 conv2d, matmul and linear (u8 x s8 -> f32) and int8 data movement", "[onednn]") {
  OneDnnBackend b;
  for (const auto& c : small_ops()) {
    const ShapeFamily f = info(c.op.kind).family;
    if (f != ShapeFamily::conv2d && f != ShapeFamily::matmul && f != ShapeFamily::bytes) continue;
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
      if (lacks_primitive(c.op.kind)) continue;
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
      {"silu_mul given a broadcast input", {OpKind::silu_mul, ElementwiseShape{64, 2, 8}}, Precision::fp32},
      {"in place", {OpKind::relu6, ElementwiseShape{64, 1, 0, true}}, Precision::fp32},
      {"kv_heads not dividing heads", {OpKind::attention, AttentionShape{1, 6, 4, 4, 8, false, 4}}, Precision::fp32},
      {"int8 attention", {OpKind::attention, AttentionShape{1, 4, 4, 4, 8, false, 2}}, Precision::int8},
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
  const Support swiglu = b.supports({OpKind::silu_mul, ElementwiseShape{256, 2, 0}}, Precision::fp32);
  CHECK(swiglu.level == SupportLevel::native);
  CHECK(swiglu.note.find("binary-mul post-op") != std::string::npos);
  CHECK(swiglu.note.find("ref") == std::string::npos);  // one jit primitive, not the reference code
  for (OpKind k : {OpKind::relu6, OpKind::hardtanh, OpKind::clamp}) {
    const Support clip = b.supports({k, ElementwiseShape{256, 1, 0}}, Precision::fp32);
    INFO(to_string(k) << ": " << clip.note);
    CHECK(clip.level == SupportLevel::native);
    CHECK(clip.note.find("clip_v2") != std::string::npos);
  }
  const Support gqa = b.supports({OpKind::attention, AttentionShape{1, 8, 1, 64, 16, false, 2}}, Precision::fp32);
  CHECK(gqa.level == SupportLevel::native);
  CHECK(gqa.note.find("2 KV heads with the 4 query heads of each as one block") != std::string::npos);
  CHECK(gqa.note.find("ref:") == std::string::npos);  // brgemm matmuls, not the reference code
  const Support causal = b.supports({OpKind::attention, AttentionShape{2, 8, 8, 12, 16, true, 2}}, Precision::fp32);
  CHECK(causal.note.find("ref:") == std::string::npos);  // the mask post-op keeps the matmul on brgemm
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
                                 {OpKind::attention, AttentionShape{1, 3, 8, 12, 16, true}},
                                 {OpKind::attention, AttentionShape{1, 4, 8, 8, 16, true, 2}}};
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
