// Every kernel's run() is capturable in a CUDA graph (the timing harness
// captures R back-to-back runs and replays them): no synchronisation,
// allocation or host copy inside run(). Global capture mode makes any such
// call fail the capture. After the replay the output must still pass its
// check (runs on a GPU machine; skipped without one).
#include "gpu_support.hpp"

#include <hwcal/detail/sweeps.hpp>

#include <memory>
#include <vector>

using namespace hwcal;
using namespace hwcal::cuda;

namespace {
void capture(Kernel& k, CudaBackend& b, const std::string& what) {
  INFO(what << ": " << k.implementation());
  try {
    if (k.needs_prepare()) k.prepare();
    k.run();  // outside the capture first: modules load lazily at their first launch
    b.sync();
    hwcal_test::capture_and_replay(k, b.stream(), 3);
    // In place, three runs applied the op three times: check one run on a restored input.
    if (k.needs_prepare()) hwcal_test::run_and_check(k, b);
    const CheckResult r = k.check();
    INFO(r.detail);
    CHECK(r.ok);
  } catch (const std::exception& e) {
    FAIL_CHECK("capture failed: " << e.what());
  }
}

void capture_op(const OpDesc& op, Precision p, CudaBackend& b = hwcal_test::backend()) {
  const std::string what = hwcal_test::describe(op, p);
  if (!b.supports(op, p).usable()) return;
  std::unique_ptr<Kernel> k;
  try {
    k = b.make(op, p);
  } catch (const std::exception& e) {
    FAIL_CHECK(what << ": make() threw: " << e.what());
    return;
  }
  capture(*k, b, what);
}
}  // namespace

TEST_CASE("every op kind's run() is captured in a CUDA graph and replayed") {
  std::vector<OpDesc> ops = hwcal::detail::tiny_ops();
  ops.push_back({OpKind::matmul, MatmulShape{4, 256, 256, 256, false}});
  ops.push_back({OpKind::linear, MatmulShape{1, 512, 1024, 768, true}});
  Conv2dShape c;
  c.n = 2, c.c = 32, c.h = c.w = 14, c.k = 64, c.r = c.s = 3, c.pad_h = c.pad_w = 1, c.bias = true;
  ops.push_back({OpKind::conv2d, c});
  ops.push_back({OpKind::layernorm, RowsShape{64, 8192}});  // a block per row
  ops.push_back({OpKind::softmax, RowsShape{8, 50000}});    // streamed rows
  ops.push_back({OpKind::transpose, BytesShape{8 << 20}});
  ops.push_back({OpKind::concat, BytesShape{(8 << 20) + 6}});
  ops.push_back({OpKind::relu, ElementwiseShape{1 << 20, 1, 0, true}});
  ops.push_back({OpKind::add, ElementwiseShape{1 << 20, 2, 0, true}});
  ops.push_back({OpKind::mul, ElementwiseShape{1 << 20, 2, 1024}});
  ops.push_back({OpKind::rotary, RotaryShape{64, 8, 128}});
  ops.push_back({OpKind::embedding, EmbeddingShape{64, 32000, 2048}});
  for (const OpDesc& op : ops)
    for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp64}) capture_op(op, p);
  for (Precision p : {Precision::int8, Precision::fp8}) {
    capture_op({OpKind::linear, MatmulShape{1, 64, 128, 256, false}}, p);
    capture_op({OpKind::copy, BytesShape{1 << 20}}, p);
  }
  capture_op(ops.front(), Precision::tf32);
}

TEST_CASE("every attention path is captured in a CUDA graph") {
  // cuDNN SDPA (or hwcal's flash kernel), split-KV decode with a combine step, decode in one chunk, the chain
  const AttentionShape shapes[] = {{1, 8, 256, 256, 128, true, 2},
                                   {4, 32, 1, 4096, 128, false, 8},
                                   {1, 8, 1, 100, 64, false, 8},
                                   {1, 4, 40, 300, 80, true, 2}};
  for (const AttentionShape& s : shapes)
    for (Precision p : {Precision::bf16, Precision::fp16, Precision::fp32}) capture_op({OpKind::attention, s}, p);
  auto ctx = std::make_shared<DeviceContext>(0, CudaOptions{});
  const OpDesc prefill{OpKind::attention, AttentionShape{2, 8, 192, 192, 64, true, 4}};
  AttentionKernel flash(ctx, prefill, Precision::bf16, AttentionChoice::hwcal);
  CHECK(flash.path() == AttentionPath::flash);
  INFO("flash kernel on its own context");
  try {
    flash.run();
    ctx->sync();
    hwcal_test::capture_and_replay(flash, ctx->stream(), 3);
    CHECK(flash.check().ok);
  } catch (const std::exception& e) {
    FAIL_CHECK("capture failed: " << e.what());
  }
}

TEST_CASE("fusion kernels are captured in a CUDA graph") {
  auto& nhwc = hwcal_test::backend({Algorithm::heuristic_first, ConvLayout::nhwc});
  Conv2dShape c;
  c.n = 2, c.c = 32, c.h = c.w = 14, c.k = 64, c.r = c.s = 3, c.pad_h = c.pad_w = 1, c.bias = true;
  const std::pair<FusionPattern, OpDesc> patterns[] = {
      {FusionPattern::linear_bias_gelu, {OpKind::linear, MatmulShape{1, 128, 768, 768, true}}},
      {FusionPattern::conv_bn_relu, {OpKind::conv2d, c}},
      {FusionPattern::attention, {OpKind::attention, AttentionShape{1, 12, 197, 197, 64, false}}},
  };
  for (const auto& [f, anchor] : patterns) {
    if (!nhwc.supports_fusion(f, Precision::bf16).usable()) continue;
    FusionKernels k;
    try {
      k = nhwc.make_fusion(f, anchor, Precision::bf16);
    } catch (const std::exception& e) {
      FAIL_CHECK(to_string(f) << ": make_fusion threw: " << e.what());
      continue;
    }
    capture(*k.fused, nhwc, std::string(to_string(f)) + " fused");
    capture(*k.unfused, nhwc, std::string(to_string(f)) + " unfused");
  }
}
