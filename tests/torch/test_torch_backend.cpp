// The ATen backend: every op at small sizes against the hwcal reference, the
// support table against what ATen actually does, checks that fail on bad
// output, fusion pairs, threads.
#include <hwcal/torch/backend.hpp>

#include "catch.hpp"

#include <c10/util/Exception.h>

#include <string>
#include <vector>

using namespace hwcal;

namespace {

OpDesc ew(OpKind k, i64 elements, int inputs = 1, i64 broadcast = 0) {
  return {k, ElementwiseShape{elements, inputs, broadcast}};
}

/// Small shapes of every op, with the variants that take different ATen paths.
std::vector<OpDesc> small_ops() {
  std::vector<OpDesc> ops = {
      {OpKind::matmul, MatmulShape{3, 7, 9, 11}},
      {OpKind::matmul, MatmulShape{2, 32, 24, 40}},  // bf16: oneDNN (above 16^3)
      {OpKind::linear, MatmulShape{1, 13, 21, 37, true}},
      {OpKind::linear, MatmulShape{1, 32, 48, 64, false}},
      // n, c, h, w, k, r, s, stride, pad, dilation, groups, bias
      {OpKind::conv2d, Conv2dShape{2, 8, 11, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, true}},
      {OpKind::conv2d, Conv2dShape{1, 16, 12, 12, 16, 3, 3, 2, 2, 1, 1, 1, 1, 16, false}},  // depthwise
      {OpKind::conv2d, Conv2dShape{1, 8, 9, 9, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, true}},        // grouped, dilated
      {OpKind::conv2d, Conv2dShape{1, 32, 14, 14, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1, false}},   // 1x1
      {OpKind::maxpool, Pool2dShape{2, 4, 13, 12, 3, 3, 2, 2, 1, 1}},
      {OpKind::avgpool, Pool2dShape{2, 4, 13, 12, 3, 3, 2, 2, 1, 1}},
      {OpKind::adaptive_avgpool, AdaptivePoolShape{2, 3, 10, 9, 4, 5}},
      {OpKind::adaptive_avgpool, AdaptivePoolShape{2, 6, 7, 7, 1, 1}},
      {OpKind::batchnorm, MapShape{2, 5, 6, 7}},
      {OpKind::layernorm, RowsShape{9, 50}},
      {OpKind::softmax, RowsShape{9, 50}},
      {OpKind::reduce_mean, RowsShape{9, 50}},
      {OpKind::attention, AttentionShape{2, 3, 9, 9, 16, false}},
      {OpKind::attention, AttentionShape{1, 2, 8, 8, 8, true}},
      {OpKind::attention, AttentionShape{1, 2, 5, 11, 8, true}},     // causal aligned at the end
      {OpKind::attention, AttentionShape{1, 4, 16, 16, 32, false}},  // bf16: oneDNN
      {OpKind::copy, BytesShape{6000}},
      {OpKind::transpose, BytesShape{6000}},
      {OpKind::concat, BytesShape{6000}},
  };
  for (OpKind k : {OpKind::add, OpKind::mul, OpKind::div}) {
    ops.push_back(ew(k, 1000, 2));
    ops.push_back(ew(k, 1200, 2, 40));
  }
  for (OpKind k : {OpKind::relu, OpKind::gelu, OpKind::silu, OpKind::sigmoid, OpKind::hardswish, OpKind::hardsigmoid,
                   OpKind::tanh})
    ops.push_back(ew(k, 1000));
  return ops;
}

std::string label(const OpDesc& op, Precision p) {
  return std::string(to_string(op.kind)) + " " + std::string(to_string(variant_of(op))) + " at " +
         std::string(to_string(p));
}

const aten::TorchKernel& torch_kernel(const Kernel& k) { return dynamic_cast<const aten::TorchKernel&>(k); }

}  // namespace

TEST_CASE("torch backend: identity and software block", "[torch]") {
  aten::TorchBackend backend;
  CHECK(backend.name() == "torch");
  CHECK(backend.target() == "cpu");
  const auto sw = backend.software();
  REQUIRE(sw.is_object());
  for (const char* key :
       {"torch", "torch_headers", "torch_cpu_capability", "torch_onednn", "torch_blas", "torch_blas_threads"})
    CHECK(sw.contains(key));
  for (auto it = sw.begin(); it != sw.end(); ++it) {
    INFO(it.key());
    CHECK(it->is_string());  // the profile's software block is a string map
  }
  CHECK(sw["torch"].get<std::string>().rfind("1.", 0) == 0);
}

TEST_CASE("torch backend: every op passes check at every precision ATen supports", "[torch]") {
  aten::TorchBackend backend;
  backend.set_threads(1);
  for (Precision p : {Precision::fp32, Precision::fp64, Precision::bf16, Precision::fp16})
    for (const OpDesc& op : small_ops()) {
      INFO(label(op, p));
      const Support s = backend.supports(op, p);
      if (!s.usable()) continue;
      auto k = backend.make(op, p);
      k->run();
      const CheckResult r = k->check();
      INFO(r.detail);
      CHECK(r.ok);
      CHECK(r.checked > 0);
      CHECK(!k->implementation().empty());
    }
}

TEST_CASE("torch backend: fp32, fp64 and bf16 cover every op", "[torch]") {
  aten::TorchBackend backend;
  for (Precision p : {Precision::fp32, Precision::fp64, Precision::bf16})
    for (const OpDesc& op : small_ops()) {
      INFO(label(op, p));
      CHECK(backend.supports(op, p).usable());
    }
}

TEST_CASE("torch backend: the support table matches what ATen does", "[torch]") {
  aten::TorchBackend backend;
  for (Precision p : {Precision::bf16, Precision::fp16})
    for (const OpDesc& op : small_ops()) {
      INFO(label(op, p));
      const Support s = backend.supports(op, p);
      INFO(s.note);
      CHECK(!s.note.empty());
      if (s.usable()) {
        CHECK_NOTHROW(aten::make_op_kernel(op, p)->run());
      } else {
        // Built without the table's guard, ATen itself must refuse it.
        CHECK_THROWS_AS(aten::make_op_kernel(op, p)->run(), c10::Error);
        CHECK_THROWS_AS(backend.make(op, p), UnavailableError);
      }
    }
}

TEST_CASE("torch backend: bf16 GEMMs are native only where ATen hands them to oneDNN", "[torch]") {
  aten::TorchBackend backend;
  const OpDesc tiny{OpKind::linear, MatmulShape{1, 16, 16, 16}};  // 16^3: ATen's reference gemm
  CHECK(backend.supports(tiny, Precision::bf16).level == SupportLevel::emulated);
  const OpDesc large{OpKind::linear, MatmulShape{1, 16, 16, 17}};
  const bool native = aten::detail::Bf16Cpu::get().native;
  CHECK((backend.supports(large, Precision::bf16).level == SupportLevel::native) == native);
}

TEST_CASE("torch backend: unsupported combinations throw UnavailableError", "[torch]") {
  aten::TorchBackend backend;
  const OpDesc conv{OpKind::conv2d, Conv2dShape{1, 4, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, false}};
  const OpDesc mm{OpKind::matmul, MatmulShape{2, 8, 8, 8}};
  const OpDesc relu = ew(OpKind::relu, 100);
  struct Case {
    OpDesc op;
    Precision p;
  };
  for (const Case& c :
       {Case{conv, Precision::fp16}, Case{mm, Precision::tf32}, Case{mm, Precision::int8}, Case{relu, Precision::fp8},
        Case{relu, Precision::fp16}, Case{{OpKind::softmax, RowsShape{4, 8}}, Precision::fp16},
        Case{{OpKind::matmul, MatmulShape{2, 8, 8, 8, true}}, Precision::fp32},
        Case{ew(OpKind::add, 100, 1), Precision::fp32}}) {
    INFO(label(c.op, c.p));
    const Support s = backend.supports(c.op, c.p);
    CHECK(s.level == SupportLevel::unsupported);
    CHECK(!s.note.empty());
    CHECK_THROWS_AS(backend.make(c.op, c.p), UnavailableError);
  }
  // fp16 arithmetic exists in 1.13, through a scalar loop.
  CHECK(backend.supports(ew(OpKind::add, 100, 2), Precision::fp16).level == SupportLevel::emulated);
  CHECK(backend.supports({OpKind::copy, BytesShape{64}}, Precision::fp16).level == SupportLevel::native);
  // An invalid shape is the caller's error, not a missing backend.
  CHECK_THROWS_AS(backend.make({OpKind::matmul, MatmulShape{1, 0, 4, 4}}, Precision::fp32), Error);
}

TEST_CASE("torch backend: a corrupted output fails check", "[torch]") {
  aten::TorchBackend backend;
  const std::vector<OpDesc> ops = {
      {OpKind::conv2d, Conv2dShape{1, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, true}},
      {OpKind::linear, MatmulShape{1, 8, 8, 8, true}},
      {OpKind::maxpool, Pool2dShape{1, 2, 8, 8, 2, 2, 2, 2, 0, 0}},
      {OpKind::softmax, RowsShape{4, 16}},
      {OpKind::attention, AttentionShape{1, 2, 4, 4, 8, true}},
      {OpKind::transpose, BytesShape{4096}},
      ew(OpKind::gelu, 256),
  };
  for (Precision p : {Precision::fp32, Precision::bf16})
    for (const OpDesc& op : ops) {
      INFO(label(op, p));
      auto k = backend.make(op, p);
      k->run();
      REQUIRE(k->check().ok);
      torch_kernel(*k).output().add_(0.5);
      const CheckResult r = k->check();
      CHECK_FALSE(r.ok);
      CHECK(r.max_error > 1);
      CHECK(!r.detail.empty());
      k->run();  // a fresh output is right again
      CHECK(k->check().ok);
    }
}

TEST_CASE("torch backend: outputs are allocated per run, the previous one freed first", "[torch]") {
  aten::TorchBackend backend;
  auto k = backend.make(ew(OpKind::relu, 4096), Precision::fp32);
  k->run();
  const at::Tensor held = torch_kernel(*k).output();  // a caller keeping the result...
  k->run();
  CHECK(torch_kernel(*k).output().data_ptr() != held.data_ptr());  // ...gets a new tensor next run
  // Nobody else holds the last output now: it is freed before the next run
  // (which block the allocator then hands back is glibc's choice, not asserted).
  k->run();
  CHECK(k->check().ok);
}

TEST_CASE("torch backend: fusion pairs compute the same thing", "[torch]") {
  aten::TorchBackend backend;
  struct Case {
    FusionPattern f;
    OpDesc anchor;
  };
  const std::vector<Case> cases = {
      {FusionPattern::linear_bias, {OpKind::linear, MatmulShape{1, 24, 40, 48}}},
      {FusionPattern::conv_bn, {OpKind::conv2d, Conv2dShape{2, 8, 10, 10, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, false}}},
      {FusionPattern::conv_bn, {OpKind::conv2d, Conv2dShape{1, 8, 9, 9, 8, 3, 3, 2, 2, 1, 1, 1, 1, 8, true}}},
      {FusionPattern::attention, {OpKind::attention, AttentionShape{2, 2, 12, 12, 16, false}}},
      {FusionPattern::attention, {OpKind::attention, AttentionShape{1, 2, 6, 10, 16, true}}},
  };
  for (Precision p : {Precision::fp32, Precision::fp64, Precision::bf16})
    for (const Case& c : cases) {
      INFO(std::string(to_string(c.f)) + " at " + std::string(to_string(p)));
      REQUIRE(backend.supports_fusion(c.f, p).usable());
      FusionKernels k = backend.make_fusion(c.f, c.anchor, p);
      CHECK(!k.note.empty());
      for (Kernel* side : {k.fused.get(), k.unfused.get()}) {
        side->run();
        const CheckResult r = side->check();
        INFO(side->implementation() + ": " + r.detail);
        CHECK(r.ok);
      }
      CHECK(k.fused->implementation() != k.unfused->implementation());
      // The two sides agree with each other too, not just with the reference.
      const auto& fused = torch_kernel(*k.fused).output();
      const auto& unfused = torch_kernel(*k.unfused).output();
      const double tol = p == Precision::bf16 ? 0.1 : 1e-4;
      CHECK(at::allclose(fused.to(at::kDouble), unfused.to(at::kDouble), tol, tol));
    }
}

TEST_CASE("torch backend: fusion patterns without an eager fused kernel are unavailable", "[torch]") {
  aten::TorchBackend backend;
  const OpDesc linear{OpKind::linear, MatmulShape{1, 8, 8, 8}};
  for (FusionPattern f : {FusionPattern::linear_bias_relu, FusionPattern::linear_bias_gelu, FusionPattern::conv_relu,
                          FusionPattern::conv_bn_relu, FusionPattern::qkt_softmax}) {
    INFO(to_string(f));
    const Support s = backend.supports_fusion(f, Precision::fp32);
    CHECK(s.level == SupportLevel::unsupported);
    CHECK(s.note.find("no fused kernel") != std::string::npos);
  }
  CHECK_THROWS_AS(backend.make_fusion(FusionPattern::linear_bias_relu, linear, Precision::fp32), UnavailableError);
  CHECK_THROWS_AS(backend.make_fusion(FusionPattern::linear_bias, linear, Precision::fp16), UnavailableError);
  // The anchor must be the pattern's op.
  CHECK_THROWS_AS(backend.make_fusion(FusionPattern::conv_bn, linear, Precision::fp32), Error);
}

TEST_CASE("torch backend: set_threads drives ATen and OpenBLAS", "[torch]") {
  aten::TorchBackend backend;
  const int before = backend.threads();
  for (int n : {2, 1}) {
    backend.set_threads(n);
    CHECK(backend.threads() == n);
    CHECK(at::get_num_threads() == n);
    if (const auto get = aten::detail::OpenBlas::get().get_num_threads) CHECK(get() == n);
    // Kernels still compute the right thing with that many threads.
    auto k = backend.make({OpKind::linear, MatmulShape{1, 64, 64, 64, true}}, Precision::fp32);
    k->run();
    CHECK(k->check().ok);
  }
  const bool found = aten::detail::OpenBlas::get().set_num_threads != nullptr;
  CHECK((backend.software()["torch_blas_threads"].get<std::string>() == "set with openblas_set_num_threads") == found);
  CHECK_THROWS_AS(backend.set_threads(0), Error);
  backend.set_threads(before);
}

TEST_CASE("torch backend: in-place activations and adds, restored by prepare()", "[torch]") {
  aten::TorchBackend backend;
  for (const OpDesc& op : {OpDesc{OpKind::relu, ElementwiseShape{1000, 1, 0, true}}, OpDesc{OpKind::silu, ElementwiseShape{1000, 1, 0, true}},
                           OpDesc{OpKind::add, ElementwiseShape{1000, 2, 0, true}}, OpDesc{OpKind::mul, ElementwiseShape{1000, 2, 10, true}}}) {
    INFO(to_string(op.kind));
    auto k = backend.make(op, Precision::fp32);  // make() runs once: the input is consumed
    REQUIRE(k->needs_prepare());
    k->prepare();
    k->run();
    CHECK(k->check().ok);
    if (op.kind != OpKind::relu) {  // relu is idempotent; the others change on a second run
      k->run();
      CHECK_FALSE(k->check().ok);
    }
  }
}

TEST_CASE("torch backend: the framework cost is measured or says why not", "[torch]") {
  aten::TorchBackend backend;
  backend.set_threads(1);
  MeasureOptions o = MeasureOptions::quick();
  o.max_time_s = 0.01;
  const std::optional<FrameworkCost> fc = backend.framework_cost(o);
  REQUIRE(fc.has_value());
  CHECK_FALSE(fc->derivation.empty());
  if (fc->derivation.find("not measured") == std::string::npos) {
    CHECK(fc->per_call_s.count(OpKind::conv2d) == 1);
    for (const auto& [k, v] : fc->per_call_s) CHECK(v >= 0);
  }
}
