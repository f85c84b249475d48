// The ATen backend: every op kind of the op table at small sizes against the
// hwcal reference (or refused with a reason), the support table against what
// ATen actually does, the LLM ops (grouped-query and decode attention,
// RMSNorm, rotary, embedding, SwiGLU), checks that fail on bad output, the
// move geometry, fusion pairs, threads, the framework-cost probe.
#include <hwcal/detail/sweeps.hpp>
#include <hwcal/torch/backend.hpp>

#include "catch.hpp"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

using namespace hwcal;

namespace {

OpDesc ew(OpKind k, i64 elements, int inputs = 1, i64 broadcast = 0, bool inplace = false) {
  return {k, ElementwiseShape{elements, inputs, broadcast, inplace}};
}

/// Small shapes of one op kind, with the variants that take different ATen
/// paths (bf16 GEMMs above 16^3 go to oneDNN), chosen by the kind's family
/// and op-table row so that a new kind of an existing family is covered.
std::vector<OpDesc> small_shapes(const OpInfo& o) {
  const OpKind k = o.kind;
  switch (o.family) {
    case ShapeFamily::matmul:
      if (k == OpKind::linear) return {{k, MatmulShape{1, 13, 21, 37, true}}, {k, MatmulShape{1, 32, 48, 64, false}}};
      return {{k, MatmulShape{3, 7, 9, 11}}, {k, MatmulShape{2, 32, 24, 40}}};
    case ShapeFamily::conv2d:
      // n, c, h, w, k, r, s, stride, pad, dilation, groups, bias
      return {{k, Conv2dShape{2, 8, 11, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, true}},
              {k, Conv2dShape{1, 16, 12, 12, 16, 3, 3, 2, 2, 1, 1, 1, 1, 16, false}},  // depthwise
              {k, Conv2dShape{1, 8, 9, 9, 8, 3, 3, 1, 1, 2, 2, 2, 2, 2, true}},        // grouped, dilated
              {k, Conv2dShape{1, 32, 14, 14, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1, false}}};  // 1x1
    case ShapeFamily::pool2d: return {{k, Pool2dShape{2, 4, 13, 12, 3, 3, 2, 2, 1, 1}}};
    case ShapeFamily::adaptive_pool:
      return {{k, AdaptivePoolShape{2, 3, 10, 9, 4, 5}}, {k, AdaptivePoolShape{2, 6, 7, 7, 1, 1}}};
    case ShapeFamily::map: return {{k, MapShape{2, 5, 6, 7}}};
    case ShapeFamily::rows: return {{k, RowsShape{9, 50}}, {k, RowsShape{3, 512}}};
    case ShapeFamily::elementwise: {
      std::vector<OpDesc> v{ew(k, 1000, o.inputs)};
      if (o.broadcast) v.push_back(ew(k, 1200, o.inputs, 40));
      if (o.inplace) v.push_back(ew(k, 1000, o.inputs, 0, true));
      if (o.inplace && o.broadcast) v.push_back(ew(k, 1200, o.inputs, 40, true));
      return v;
    }
    case ShapeFamily::attention:
      // batch, heads, seq_q, seq_kv, head_dim, causal, kv_heads
      return {{k, AttentionShape{2, 3, 9, 9, 16, false}},    {k, AttentionShape{1, 2, 8, 8, 8, true}},
              {k, AttentionShape{1, 2, 5, 11, 8, true}},      // causal aligned at the end
              {k, AttentionShape{1, 4, 16, 16, 32, false}},   // bf16: oneDNN
              {k, AttentionShape{1, 8, 9, 9, 16, true, 2}},   // grouped-query, 4 per KV head
              {k, AttentionShape{2, 4, 7, 7, 8, false, 1}},   // multi-query
              {k, AttentionShape{1, 4, 3, 12, 8, true, 2}},   // grouped-query against a KV cache
              {k, AttentionShape{2, 8, 1, 40, 16, true, 2}},  // decode, grouped-query
              {k, AttentionShape{1, 4, 1, 33, 8, false}}};    // decode
    case ShapeFamily::bytes:
      // 6000 B; 1009 fp32 elements (prime: floor(sqrt) rows, a few elements fewer); one element
      return {{k, BytesShape{6000}}, {k, BytesShape{4036}}, {k, BytesShape{4}}};
    case ShapeFamily::rotary: return {{k, RotaryShape{5, 3, 8}}, {k, RotaryShape{3, 4, 64}}};
    case ShapeFamily::embedding: return {{k, EmbeddingShape{7, 50, 24}}, {k, EmbeddingShape{1, 1000, 16}}};
    case ShapeFamily::collective: return {};  // no backend's kernel: see the test below
  }
  return {};
}

std::vector<OpDesc> small_ops() {
  std::vector<OpDesc> ops;
  for (const OpInfo& o : op_table)
    for (const OpDesc& op : small_shapes(o)) ops.push_back(op);
  return ops;
}

TEST_CASE("torch backend: collectives are no backend's kernel", "[torch]") {
  aten::TorchBackend backend;
  for (const OpInfo& o : op_table) {
    if (!is_collective(o.kind)) continue;
    const OpDesc op{o.kind, CollectiveShape{4096, 2}};
    CHECK(backend.supports(op, Precision::fp32).note == collective_not_kernel);
    CHECK_THROWS_AS(backend.make(op, Precision::fp32), UnavailableError);
  }
}

std::string label(const OpDesc& op, Precision p) {
  return std::string(to_string(op.kind)) + " " + shape_label(op) + " " + std::string(to_string(variant_of(op))) +
         " at " + std::string(to_string(p));
}

const aten::TorchKernel& torch_kernel(const Kernel& k) { return dynamic_cast<const aten::TorchKernel&>(k); }

/// Runs op once and checks it against the reference.
CheckResult run_and_check(Backend& backend, const OpDesc& op, Precision p) {
  auto k = backend.make(op, p);
  if (k->needs_prepare()) k->prepare();
  k->run();
  return k->check();
}

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

TEST_CASE("torch backend: every op kind of the op table is checked or refused with a reason", "[torch]") {
  aten::TorchBackend backend;
  backend.set_threads(1);
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp64, Precision::fp16}) {
    std::map<std::string, std::string> refused;
    int checked = 0;
    for (const OpInfo& o : op_table) {
      if (is_collective(o.kind)) continue;  // the test above
      const std::vector<OpDesc> shapes = small_shapes(o);
      REQUIRE(!shapes.empty());
      for (const OpDesc& op : shapes) {
        INFO(label(op, p));
        REQUIRE(check_shape(op).reason.empty());
        const Support s = backend.supports(op, p);
        if (!s.usable()) {
          CHECK(!s.note.empty());
          CHECK_THROWS_AS(backend.make(op, p), UnavailableError);
          refused[std::string(o.name)] = s.note;
          continue;
        }
        auto k = backend.make(op, p);
        if (k->needs_prepare()) k->prepare();
        k->run();
        const CheckResult r = k->check();
        INFO(k->implementation() + ": " + r.detail);
        CHECK(r.ok);
        CHECK(r.checked > 0);
        CHECK(!k->implementation().empty());
        // convolutions name ATen's algorithm family, the mapper keeps families apart
        if (op.kind == OpKind::conv2d) {
          CHECK(!k->family().empty());
          CHECK(k->implementation().find(k->family()) != std::string::npos);
        }
        ++checked;
      }
    }
    // ATen 1.13 runs every op kind at fp32, fp64 and bf16; fp16 only some.
    // Without oneDNN bf16 (an AVX2-only CPU) its convolutions and at::matmul
    // sum bf16 in bf16, and are refused for that (support.hpp).
    if (p != Precision::fp16) {
      INFO(to_string(p));
      if (p == Precision::bf16 && !aten::detail::Bf16Cpu::get().onednn) {
        CHECK(refused.size() == 2);
        for (const char* kind : {"conv2d", "matmul"}) {
          INFO(kind);
          CHECK(refused[kind].find(aten::detail::bf16_sum_in_bf16) != std::string::npos);
        }
      } else {
        CHECK(refused.empty());
      }
    }
    std::string summary = std::string(to_string(p)) + ": " + std::to_string(checked) + " shapes checked";
    for (const auto& [kind, why] : refused) summary += "\n  " + kind + " unsupported: " + why;
    WARN(summary);
    CHECK(checked > 0);
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
      } else if (s.note.find(aten::detail::bf16_sum_in_bf16) != std::string::npos) {
        // refused for its accuracy, not its absence: ATen runs it
        CHECK_NOTHROW(aten::make_op_kernel(op, p)->run());
        CHECK_THROWS_AS(backend.make(op, p), UnavailableError);
      } else {
        // Built without the table's guard, ATen itself must refuse it.
        CHECK_THROWS_AS(aten::make_op_kernel(op, p)->run(), c10::Error);
        CHECK_THROWS_AS(backend.make(op, p), UnavailableError);
      }
    }
  // fp16 in 1.13: the LLaMA chains run (RMSNorm upcasts; rotary's kernels have
  // Half), silu and clamp do not.
  CHECK(backend.supports({OpKind::rmsnorm, RowsShape{4, 8}}, Precision::fp16).level == SupportLevel::emulated);
  CHECK(backend.supports({OpKind::rotary, RotaryShape{2, 2, 8}}, Precision::fp16).level == SupportLevel::emulated);
  CHECK(backend.supports({OpKind::embedding, EmbeddingShape{2, 8, 8}}, Precision::fp16).level == SupportLevel::native);
  for (OpKind k : {OpKind::relu6, OpKind::hardtanh, OpKind::clamp})
    CHECK_FALSE(backend.supports(ew(k, 64), Precision::fp16).usable());
  CHECK_FALSE(backend.supports(ew(OpKind::silu_mul, 64, 2), Precision::fp16).usable());
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
        Case{{OpKind::attention, AttentionShape{1, 4, 1, 16, 8, true, 2}}, Precision::fp16},
        Case{{OpKind::matmul, MatmulShape{2, 8, 8, 8, true}}, Precision::fp32}}) {
    INFO(label(c.op, c.p));
    const Support s = backend.supports(c.op, c.p);
    CHECK(s.level == SupportLevel::unsupported);
    CHECK(!s.note.empty());
    CHECK_THROWS_AS(backend.make(c.op, c.p), UnavailableError);
  }
  // fp16 arithmetic exists in 1.13, through a scalar loop.
  CHECK(backend.supports(ew(OpKind::add, 100, 2), Precision::fp16).level == SupportLevel::emulated);
  CHECK(backend.supports({OpKind::copy, BytesShape{64}}, Precision::fp16).level == SupportLevel::native);
  // An invalid shape (the op table's arity, in-place and broadcast rules
  // included) is the caller's error, not a missing backend.
  for (const OpDesc& bad :
       {OpDesc{OpKind::matmul, MatmulShape{1, 0, 4, 4}}, ew(OpKind::add, 100, 1), ew(OpKind::relu, 100, 2),
        ew(OpKind::silu_mul, 100, 2, 0, true), ew(OpKind::silu_mul, 100, 2, 10),
        OpDesc{OpKind::attention, AttentionShape{1, 6, 4, 4, 8, false, 4}},
        OpDesc{OpKind::rotary, RotaryShape{2, 2, 7}}}) {
    INFO(label(bad, Precision::fp32));
    CHECK_FALSE(backend.supports(bad, Precision::fp32).usable());
    CHECK_THROWS_AS(backend.make(bad, Precision::fp32), Error);
  }
}

TEST_CASE("torch backend: grouped-query attention repeats K and V over each group", "[torch]") {
  aten::TorchBackend backend;
  for (const AttentionShape& s : {AttentionShape{2, 8, 6, 6, 16, true, 2}, AttentionShape{1, 8, 5, 9, 16, false, 1},
                                  AttentionShape{1, 4, 4, 10, 8, true, 2}}) {
    const OpDesc op{OpKind::attention, s};
    INFO(label(op, Precision::fp32));
    auto k = backend.make(op, Precision::fp32);
    k->run();
    const CheckResult r = k->check();
    INFO(r.detail);
    CHECK(r.ok);
    CHECK(k->implementation().find("repeat_kv") != std::string::npos);
    // The same result as repeat_interleave over the heads, the other way
    // eager code spells it (same inputs: the kernel's seeds).
    const aten::detail::AttentionInputs in(s, at::kFloat);
    const i64 group = s.heads / s.kv();
    const at::Tensor mask = aten::detail::end_aligned_causal_mask(s);
    const at::Tensor want = std::get<0>(at::_scaled_dot_product_attention(
        in.q, in.k.repeat_interleave(group, 1), in.v.repeat_interleave(group, 1),
        mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt, 0.0, false, s.causal && s.seq_q == s.seq_kv));
    CHECK(at::allclose(torch_kernel(*k).output(), want, 1e-5, 1e-6));
  }
  // Multi-head shapes run SDPA on K and V as they are.
  auto mha = backend.make({OpKind::attention, AttentionShape{1, 4, 4, 4, 8, false}}, Precision::fp32);
  CHECK(mha->implementation().find("repeat_kv") == std::string::npos);
}

TEST_CASE("torch backend: attention that eager PyTorch could not hold in memory is refused", "[torch]") {
  aten::TorchBackend backend;
  // 4096 sequences of 32768 keys: K and V alone are 2 TB in fp32.
  const OpDesc huge{OpKind::attention, AttentionShape{4096, 32, 1, 32768, 128, false, 8}};
  for (Precision p : {Precision::fp32, Precision::bf16}) {
    const Support s = backend.supports(huge, p);
    INFO(s.note);
    CHECK(s.level == SupportLevel::unsupported);
    CHECK(s.note.find("GB at once") != std::string::npos);
    CHECK_THROWS_AS(backend.make(huge, p), UnavailableError);
  }
  // The footprint counts K and V repeated to all 32 heads, beyond the op's own tensors.
  const AttentionShape gqa{8, 32, 1, 4096, 128, false, 8};
  const double repeated = 2.0 * 8 * 32 * 4096 * 128 * 4;
  CHECK(aten::detail::attention_footprint(gqa, Precision::fp32) >
        counts({OpKind::attention, gqa}, Precision::fp32).bytes + repeated);
}

TEST_CASE("torch backend: decode attention (one query against a KV cache)", "[torch]") {
  aten::TorchBackend backend;
  for (Precision p : {Precision::fp32, Precision::bf16})
    for (i64 kv_heads : {i64{8}, i64{2}, i64{1}}) {
      const AttentionShape causal{4, 8, 1, 96, 16, true, kv_heads};
      AttentionShape full = causal;
      full.causal = false;
      const OpDesc op{OpKind::attention, causal};
      INFO(label(op, p));
      REQUIRE(variant_of(op) == Variant::decode);
      auto k = backend.make(op, p);
      k->run();
      const CheckResult r = k->check();
      INFO(k->implementation() + ": " + r.detail);
      CHECK(r.ok);
      CHECK(k->implementation().find("decode: no mask") != std::string::npos);
      // The last position sees every key: causal and full decode agree.
      auto f = backend.make({OpKind::attention, full}, p);
      f->run();
      CHECK(f->check().ok);
      CHECK(at::equal(torch_kernel(*k).output(), torch_kernel(*f).output()));
    }
}

TEST_CASE("torch backend: the LLM ops name the eager ATen chain they time", "[torch]") {
  aten::TorchBackend backend;
  struct Case {
    OpDesc op;
    Precision p;
    std::vector<std::string> calls;
  };
  const std::vector<Case> cases = {
      {{OpKind::rmsnorm, RowsShape{4, 64}},
       Precision::fp32,
       {"x.float()", "at::pow", "at::mean", "at::add", "at::rsqrt", "type_as", "at::mul(weight)"}},
      {{OpKind::rmsnorm, RowsShape{4, 64}}, Precision::bf16, {"x.float()", "at::rsqrt", "type_as"}},
      {{OpKind::rmsnorm, RowsShape{4, 64}}, Precision::fp64, {"at::pow", "at::rsqrt"}},
      {{OpKind::rotary, RotaryShape{3, 2, 16}},
       Precision::fp32,
       {"at::mul(x, cos)", "at::neg", "at::cat", "at::mul(sin)", "at::add"}},
      {ew(OpKind::silu_mul, 256, 2), Precision::fp32, {"at::silu", "at::mul"}},
      {ew(OpKind::relu6, 256), Precision::fp32, {"at::hardtanh(x, 0, 6)"}},
      {ew(OpKind::hardtanh, 256), Precision::fp32, {"at::hardtanh(x, -1, 1)"}},
      {ew(OpKind::clamp, 256), Precision::fp32, {"at::clamp(x, -0.5, 0.5)"}},
      {ew(OpKind::relu6, 256, 1, 0, true), Precision::fp32, {"at::hardtanh_(x, 0, 6)", "in place"}},
      {ew(OpKind::clamp, 256, 1, 0, true), Precision::bf16, {"at::clamp_(x, -0.5, 0.5)"}},
      {{OpKind::embedding, EmbeddingShape{4, 32, 8}}, Precision::fp32, {"at::embedding"}},
      {{OpKind::attention, AttentionShape{1, 8, 4, 4, 8, true, 2}},
       Precision::fp32,
       {"repeat_kv", "at::_scaled_dot_product_attention", "is_causal"}},
  };
  for (const Case& c : cases) {
    INFO(label(c.op, c.p));
    auto k = backend.make(c.op, c.p);
    INFO(k->implementation());
    for (const std::string& call : c.calls) CHECK(k->implementation().find(call) != std::string::npos);
  }
  // fp64 keeps RMSNorm in fp64: no casts.
  CHECK(backend.make({OpKind::rmsnorm, RowsShape{2, 8}}, Precision::fp64)->implementation().find("float") ==
        std::string::npos);
}

TEST_CASE("torch backend: copy, transpose, permute and concat use the one move geometry", "[torch]") {
  aten::TorchBackend backend;
  for (Precision p : {Precision::fp32, Precision::bf16})
    for (i64 bytes : {i64{6000}, i64{4036}, i64{1 << 16}, i64{4}}) {
      for (const OpDesc& op : {OpDesc{OpKind::copy, BytesShape{bytes}}, OpDesc{OpKind::transpose, BytesShape{bytes}},
                               OpDesc{OpKind::concat, BytesShape{bytes}}, OpDesc{OpKind::concat, BytesShape{bytes, 5}},
                               OpDesc{OpKind::concat, BytesShape{bytes, 9, bytes / 2}}}) {
        const OpKind kind = op.kind;
        const reference::MoveGeometry g = reference::move_geometry(op, element_bytes(p));
        INFO(label(op, p));
        auto k = backend.make(op, p);
        k->run();
        CHECK(k->check().ok);
        const at::Tensor& out = torch_kernel(*k).output();
        REQUIRE(out.dim() == 2);
        const std::vector<i64> want =
            kind == OpKind::transpose ? std::vector<i64>{g.cols, g.rows} : std::vector<i64>{g.rows, g.cols};
        CHECK(out.sizes().vec() == want);
      }
    }
  // a permute: the [rows][blocks][run] input written blocks first
  for (i64 bytes : {i64{6000}, i64{1 << 16}, i64{4}}) {
    const OpDesc op{OpKind::permute, BytesShape{bytes}};
    const reference::MoveGeometry g = reference::move_geometry(op, 4);
    INFO(label(op, Precision::fp32));
    auto k = backend.make(op, Precision::fp32);
    k->run();
    CHECK(k->check().ok);
    CHECK(torch_kernel(*k).output().sizes().vec() == std::vector<i64>{g.cols / g.run, g.rows, g.run});
  }
  // The input's bytes in the output's shape (a transpose that moved nothing) fail the check.
  auto k = backend.make({OpKind::transpose, BytesShape{6000}}, Precision::fp32);
  k->run();
  const at::Tensor& out = torch_kernel(*k).output();
  REQUIRE(out.size(0) != out.size(1));
  out.copy_(out.t().contiguous().view(out.sizes()));
  CHECK_FALSE(k->check().ok);
}

TEST_CASE("torch backend: a corrupted output fails check", "[torch]") {
  aten::TorchBackend backend;
  const std::vector<OpDesc> ops = {
      {OpKind::conv2d, Conv2dShape{1, 4, 8, 8, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, true}},
      {OpKind::linear, MatmulShape{1, 8, 8, 8, true}},
      {OpKind::maxpool, Pool2dShape{1, 2, 8, 8, 2, 2, 2, 2, 0, 0}},
      {OpKind::softmax, RowsShape{4, 16}},
      {OpKind::rmsnorm, RowsShape{4, 16}},
      {OpKind::attention, AttentionShape{1, 2, 4, 4, 8, true}},
      {OpKind::attention, AttentionShape{2, 8, 6, 6, 8, true, 2}},
      {OpKind::attention, AttentionShape{2, 8, 1, 24, 8, true, 2}},
      {OpKind::transpose, BytesShape{4096}},
      {OpKind::concat, BytesShape{4096}},
      {OpKind::rotary, RotaryShape{4, 2, 16}},
      {OpKind::embedding, EmbeddingShape{6, 40, 8}},
      ew(OpKind::gelu, 256),
      ew(OpKind::clamp, 256),
      ew(OpKind::silu_mul, 256, 2),
  };
  for (Precision p : {Precision::fp32, Precision::bf16})
    for (const OpDesc& op : ops) {
      INFO(label(op, p));
      if (!backend.supports(op, p).usable()) continue;  // bf16 convolutions without oneDNN (support.hpp)
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
      {FusionPattern::attention, {OpKind::attention, AttentionShape{1, 8, 6, 10, 16, true, 2}}},
  };
  for (Precision p : {Precision::fp32, Precision::fp64, Precision::bf16})
    for (const Case& c : cases) {
      INFO(std::string(to_string(c.f)) + " " + shape_label(c.anchor) + " at " + std::string(to_string(p)));
      const Support fs = backend.supports_fusion(c.f, p);
      if (!fs.usable()) {
        // the one refusal: slow_conv2d sums bf16 in bf16 on a CPU without oneDNN bf16 (support.hpp)
        INFO(fs.note);
        CHECK(fs.note.find(aten::detail::bf16_sum_in_bf16) != std::string::npos);
        CHECK((c.f == FusionPattern::conv_bn && p == Precision::bf16 && !aten::detail::Bf16Cpu::get().onednn));
        continue;
      }
      REQUIRE(fs.usable());
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
    CHECK(run_and_check(backend, {OpKind::linear, MatmulShape{1, 64, 64, 64, true}}, Precision::fp32).ok);
    CHECK(run_and_check(backend, {OpKind::rmsnorm, RowsShape{64, 256}}, Precision::fp32).ok);
  }
  const bool found = aten::detail::OpenBlas::get().set_num_threads != nullptr;
  CHECK((backend.software()["torch_blas_threads"].get<std::string>() == "set with openblas_set_num_threads") == found);
  CHECK_THROWS_AS(backend.set_threads(0), Error);
  backend.set_threads(before);
}

TEST_CASE("torch backend: in-place activations and adds, restored by prepare()", "[torch]") {
  aten::TorchBackend backend;
  for (const OpDesc& op :
       {ew(OpKind::relu, 1000, 1, 0, true), ew(OpKind::silu, 1000, 1, 0, true), ew(OpKind::relu6, 1000, 1, 0, true),
        ew(OpKind::hardtanh, 1000, 1, 0, true), ew(OpKind::clamp, 1000, 1, 0, true), ew(OpKind::add, 1000, 2, 0, true),
        ew(OpKind::mul, 1000, 2, 10, true)}) {
    INFO(to_string(op.kind));
    auto k = backend.make(op, Precision::fp32);  // make() runs once: the input is consumed
    REQUIRE(k->needs_prepare());
    k->prepare();
    k->run();
    CHECK(k->check().ok);
    // The output is the input tensor itself, overwritten.
    const at::Tensor first = torch_kernel(*k).output();
    k->prepare();
    k->run();
    CHECK(torch_kernel(*k).output().data_ptr() == first.data_ptr());
    // The clamp-style ops and relu are idempotent; the others change on a second run.
    const bool idempotent =
        op.kind == OpKind::relu || op.kind == OpKind::relu6 || op.kind == OpKind::hardtanh || op.kind == OpKind::clamp;
    if (!idempotent) {
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
  INFO(fc->derivation);
  CHECK_FALSE(fc->derivation.empty());
  if (fc->derivation.rfind("not measured", 0) != 0) {
    // Every tiny op, the LLM ones included, has its Python call.
    CHECK(fc->derivation.find("not measured") == std::string::npos);
    for (const OpDesc& op : hwcal::detail::tiny_ops()) {
      INFO(to_string(op.kind));
      CHECK(fc->per_call_s.count(op.kind) == 1);
      // and its call inside a pass (made in turn between the other ops' calls)
      CHECK(fc->sequence_s.count(op.kind) == 1);
    }
    for (const auto& [k, v] : fc->per_call_s) CHECK(v >= 0);
    for (const auto& [k, v] : fc->sequence_s) CHECK((v >= 0 && v < 1));
    CHECK(fc->derivation.find("in a pass (sequence_s)") != std::string::npos);
  }
}

TEST_CASE("torch backend: without a Python that imports torch the framework cost says why", "[torch]") {
  // $HWCAL_PYTHON, when set, is the only Python tried. Here: the system
  // python3 without its site packages (where Debian's torch lives), else a
  // path that does not exist.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "hwcal-torch-test-python";
  std::filesystem::create_directories(dir);
  std::string python = "/nonexistent/python3", expect = "not found";
  if (std::filesystem::exists("/usr/bin/python3")) {
    python = (dir / "python-without-torch").string();
    std::ofstream(python) << "#!/bin/sh\nexec /usr/bin/python3 -S \"$@\"\n";
    std::filesystem::permissions(python, std::filesystem::perms::owner_all);
    expect = "No module named 'torch'";
  }
  const char* before = std::getenv("HWCAL_PYTHON");
  const std::optional<std::string> saved = before ? std::optional<std::string>(before) : std::nullopt;
  ::setenv("HWCAL_PYTHON", python.c_str(), 1);
  aten::TorchBackend backend;
  const std::optional<FrameworkCost> fc = backend.framework_cost(MeasureOptions::quick());
  if (saved)
    ::setenv("HWCAL_PYTHON", saved->c_str(), 1);
  else
    ::unsetenv("HWCAL_PYTHON");
  std::filesystem::remove_all(dir);
  REQUIRE(fc.has_value());
  INFO(fc->derivation);
  CHECK(fc->per_call_s.empty());
  CHECK(fc->sequence_s.empty());
  CHECK(fc->derivation.rfind("not measured: no python3 that imports torch", 0) == 0);
  CHECK(fc->derivation.find(python) != std::string::npos);
  CHECK(fc->derivation.find(expect) != std::string::npos);
}
