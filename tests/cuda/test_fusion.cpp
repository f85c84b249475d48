// Fusion patterns: the fused and the unfused version must both compute the
// pattern (runs on a GPU machine; skipped without one).
#include "gpu_support.hpp"

#include <exception>

using namespace hwcal;

namespace {
void check_pair(FusionPattern f, const OpDesc& anchor, Precision p,
                hwcal::cuda::CudaBackend& b = hwcal_test::backend()) {
  INFO(to_string(f) << " " << hwcal_test::describe(anchor, p) << " [" << b.options().describe() << "]");
  const Support s = b.supports_fusion(f, p);
  if (!s.usable()) {
    CHECK_THROWS_AS(b.make_fusion(f, anchor, p), UnavailableError);
    return;
  }
  FusionKernels k;
  try {
    k = b.make_fusion(f, anchor, p);
  } catch (const UnavailableError& e) {
    // cuDNN may lack a fused engine at fp32/tf32; fp16/bf16 conv fusions (NHWC)
    // and fused attention at these shapes must exist on sm_80+.
    if (p == Precision::fp16 || p == Precision::bf16 || fusion_anchor(f) == OpKind::linear)
      FAIL_CHECK(e.what());
    else
      WARN(to_string(f) << " " << to_string(p) << ": " << e.what());
    return;
  } catch (const std::exception& e) {
    FAIL_CHECK("make_fusion threw: " << e.what());
    return;
  }
  INFO("fused: " << k.fused->implementation() << "; unfused: " << k.unfused->implementation());
  try {
    const CheckResult fused = hwcal_test::run_and_check(*k.fused, b);
    const CheckResult unfused = hwcal_test::run_and_check(*k.unfused, b);
    INFO("fused: " << fused.detail << "; unfused: " << unfused.detail);
    CHECK(fused.ok);
    CHECK(unfused.ok);
  } catch (const std::exception& e) {
    FAIL_CHECK("run/check threw: " << e.what());
  }
  CHECK_FALSE(k.note.empty());
}
}  // namespace

TEST_CASE("linear fusions: cuBLASLt epilogues vs GEMM + kernels") {
  for (Precision p : all_precisions)
    for (FusionPattern f :
         {FusionPattern::linear_bias, FusionPattern::linear_bias_relu, FusionPattern::linear_bias_gelu}) {
      check_pair(f, {OpKind::linear, MatmulShape{1, 64, 128, 256, true}}, p);
      check_pair(f, {OpKind::linear, MatmulShape{1, 512, 1024, 768, true}}, p);
    }
}

TEST_CASE("conv fusions: one cuDNN graph vs conv + kernels (NHWC; refused with NCHW convolutions)") {
  Conv2dShape s;
  s.n = 2;
  s.c = 32;
  s.h = s.w = 14;
  s.k = 64;
  s.r = s.s = 3;
  s.pad_h = s.pad_w = 1;
  auto& nhwc = hwcal_test::backend({hwcal::cuda::Algorithm::heuristic_first, hwcal::cuda::ConvLayout::nhwc});
  for (Precision p : all_precisions)
    for (FusionPattern f : {FusionPattern::conv_relu, FusionPattern::conv_bn, FusionPattern::conv_bn_relu})
      for (bool bias : {false, true}) {
        s.bias = bias;
        check_pair(f, {OpKind::conv2d, s}, p, nhwc);
        CHECK_FALSE(hwcal_test::backend().supports_fusion(f, p).usable());  // NCHW
        check_pair(f, {OpKind::conv2d, s}, p);
      }
}

TEST_CASE("attention: the fused kernel vs the cuBLASLt chain at fp16/bf16; qkt_softmax refused") {
  for (Precision p : all_precisions) {
    check_pair(FusionPattern::attention, {OpKind::attention, AttentionShape{1, 12, 197, 197, 64, false}}, p);
    check_pair(FusionPattern::attention, {OpKind::attention, AttentionShape{1, 32, 512, 512, 128, true, 8}}, p);
    check_pair(FusionPattern::attention, {OpKind::attention, AttentionShape{8, 32, 1, 2048, 128, false, 8}}, p);
    CHECK(hwcal_test::backend().supports_fusion(FusionPattern::attention, p).usable() ==
          (p == Precision::fp16 || p == Precision::bf16));
  }
  for (Precision p : all_precisions) {
    CHECK_FALSE(hwcal_test::backend().supports_fusion(FusionPattern::qkt_softmax, p).usable());
    check_pair(FusionPattern::qkt_softmax, {OpKind::attention, AttentionShape{1, 2, 64, 64, 64, false}}, p);
  }
}
