// Attention as frameworks run it: which path runs (cuDNN SDPA, hwcal's flash
// and split-KV decode kernels, the cuBLASLt chain), and that every path
// matches the reference on grouped-query, causal, decode and seq_q != seq_kv
// shapes (runs on a GPU machine; skipped without one).
#include "gpu_support.hpp"

#include <memory>
#include <vector>

using namespace hwcal;
using namespace hwcal::cuda;

namespace {
/// A context of the test's own, so a kernel can be asked for a path. Never
/// destroyed: its handles must not outlive the CUDA runtime's teardown at exit.
std::shared_ptr<DeviceContext> context() {
  static auto* ctx = new std::shared_ptr<DeviceContext>(std::make_shared<DeviceContext>(0, CudaOptions{}));
  return *ctx;
}

/// Builds the kernel, checks it against the reference and returns its path.
AttentionPath check_path(const AttentionShape& s, Precision p, AttentionChoice choice) {
  const OpDesc op{OpKind::attention, s};
  INFO(hwcal_test::describe(op, p));
  std::unique_ptr<AttentionKernel> k;
  try {
    k = std::make_unique<AttentionKernel>(context(), op, p, choice);
  } catch (const std::exception& e) {
    FAIL_CHECK("construction threw: " << e.what());
    return AttentionPath::chain;
  }
  INFO("implementation: " << k->implementation());
  k->run();
  const CheckResult r = k->check();
  INFO(r.detail << " (max error " << r.max_error << ", " << r.checked << " checked)");
  CHECK(r.ok);
  return k->path();
}

// {batch, heads, seq_q, seq_kv, head_dim, causal, kv_heads}
const std::vector<AttentionShape> prefill_shapes{
    {1, 12, 197, 197, 64, false, 12},  // ViT
    {2, 8, 128, 128, 64, true, 8},     // causal, seq_q == seq_kv (top-left == bottom-right)
    {1, 32, 256, 256, 128, true, 8},   // grouped-query 4:1
    {1, 32, 192, 192, 128, true, 4},   // grouped-query 8:1
    {1, 8, 64, 320, 128, true, 8},     // prefill against a KV cache: bottom-right mask, multiples of 64
    {1, 8, 100, 333, 64, true, 2},     // ... and not multiples of 64
    {1, 4, 96, 40, 64, true, 4},       // queries past the keys: the first rows see nothing
    {1, 4, 77, 77, 32, false, 1},      // multi-query
    {2, 6, 130, 130, 96, false, 3},   {1, 16, 1024, 1024, 64, true, 16},
};
const std::vector<AttentionShape> decode_shapes{
    {1, 32, 1, 2048, 128, false, 8},                                    // Llama-style decode step
    {8, 32, 1, 4096, 128, false, 8}, {4, 32, 1, 1000, 128, false, 32},  // multi-head
    {2, 64, 1, 777, 128, false, 8},                                     // 8 query heads per KV head, odd cache length
    {1, 12, 1, 100, 64, false, 12},                                     // short cache: one chunk, no combine
    {2, 32, 4, 1024, 128, true, 8},                                     // speculative decoding: 4 new tokens, causal
    {1, 8, 16, 4096, 64, true, 1},  // 16 queries of one KV head: 128 rows, 8 row tiles
    {3, 4, 2, 300, 32, false, 2},
};
}  // namespace

TEST_CASE("fp16/bf16 prefill runs a fused kernel: cuDNN SDPA, else hwcal's flash kernel") {
  for (Precision p : {Precision::bf16, Precision::fp16})
    for (const AttentionShape& s : prefill_shapes) {
      const AttentionPath path = check_path(s, p, AttentionChoice::framework);
      CHECK(path != AttentionPath::chain);
      if (path != AttentionPath::cudnn_sdpa && !(s.causal && s.seq_q > s.seq_kv))
        WARN("cuDNN SDPA did not run " << hwcal_test::describe({OpKind::attention, s}, p));
    }
}

TEST_CASE("hwcal's flash kernel matches the reference on every prefill shape") {
  for (Precision p : {Precision::bf16, Precision::fp16})
    for (const AttentionShape& s : prefill_shapes)
      CHECK(check_path(s, p, AttentionChoice::hwcal) == AttentionPath::flash);
}

TEST_CASE("decode runs the split-KV kernel, with and without the combine step") {
  for (Precision p : {Precision::bf16, Precision::fp16})
    for (const AttentionShape& s : decode_shapes) {
      CHECK(check_path(s, p, AttentionChoice::framework) == AttentionPath::decode);
    }
}

TEST_CASE("the chain: other precisions, head dims the fused kernels lack, and on request") {
  for (Precision p : {Precision::fp32, Precision::tf32, Precision::fp64}) {
    CHECK(check_path({1, 8, 64, 96, 64, true, 2}, p, AttentionChoice::framework) == AttentionPath::chain);
    CHECK(check_path({2, 8, 1, 500, 128, false, 2}, p, AttentionChoice::framework) == AttentionPath::chain);
  }
  CHECK(check_path({1, 4, 16, 300, 80, false, 2}, Precision::bf16, AttentionChoice::hwcal) == AttentionPath::chain);
  CHECK(check_path({1, 8, 128, 128, 64, true, 2}, Precision::bf16, AttentionChoice::chain) == AttentionPath::chain);
  CHECK(check_path({1, 8, 1, 512, 64, false, 2}, Precision::fp16, AttentionChoice::chain) == AttentionPath::chain);
}

TEST_CASE("the fastest-of-candidates backend runs attention too") {
  auto& fastest = hwcal_test::backend({Algorithm::fastest, ConvLayout::nchw});
  for (Precision p : {Precision::bf16, Precision::fp32}) {
    hwcal_test::check_op({OpKind::attention, AttentionShape{1, 8, 128, 128, 64, true, 2}}, p, fastest);
    hwcal_test::check_op({OpKind::attention, AttentionShape{2, 8, 1, 1024, 128, false, 2}}, p, fastest);
  }
}
