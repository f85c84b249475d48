#pragma once
// The CUDA backend's fusion pairs: each pattern prepared fused (one library
// call or fused kernel) and unfused (the chain of separate kernels).
//
//   linear_bias[_relu|_gelu]   cuBLASLt bias / relu / gelu(tanh) epilogues vs
//                              GEMM + bias kernel (+ activation kernel)
//   conv_relu, conv_bn[_relu]  one cuDNN graph (conv + bias + relu, batchnorm
//                              folded into weights and bias) vs conv + kernels;
//                              with NHWC convolutions only (cuDNN's runtime
//                              fusion engines; PyTorch runs NCHW convs unfused)
//   attention                  the fused kernel AttentionKernel picks (cuDNN
//                              SDPA, hwcal's flash or decode kernel) vs the
//                              cuBLASLt Q K^T -> softmax -> P V chain; fp16/bf16
//   qkt_softmax                refused: no library fuses Q K^T with the softmax
//                              alone (frameworks fuse the whole attention)

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/attention.hpp>
#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/conv.hpp>
#include <hwcal/cuda/gemm.hpp>
#include <hwcal/kernel.hpp>

#include <memory>
#include <string>

namespace hwcal {
namespace cuda {

/// Whether this backend measures pattern f at precision p, and how.
inline Support fusion_support(FusionPattern f, Precision p, const CudaOptions& options) {
  if (f == FusionPattern::qkt_softmax)
    return {SupportLevel::unsupported,
            "no library fuses Q K^T with the softmax alone: frameworks fuse the whole attention (pattern attention)"};
  if (f == FusionPattern::attention) {
    if (p != Precision::fp16 && p != Precision::bf16)
      return {SupportLevel::unsupported,
              "fused attention kernels run fp16 and bf16; at other precisions attention is the unfused chain"};
    return {SupportLevel::native,
            "fused: cuDNN SDPA (graph API), else hwcal's flash-attention kernel, split-KV kernel for decode; "
            "unfused: cuBLASLt QK^T + softmax kernel + cuBLASLt PV"};
  }
  if (p != Precision::fp32 && p != Precision::tf32 && p != Precision::fp16 && p != Precision::bf16)
    return {SupportLevel::unsupported, "fusion patterns are measured at fp32, tf32, fp16 and bf16"};
  if (fusion_anchor(f) == OpKind::linear)
    return {SupportLevel::native, "fused: cuBLASLt epilogue; unfused: GEMM + separate bias / activation kernels"};
  if (options.conv_layout != ConvLayout::nhwc)
    return {SupportLevel::unsupported,
            "cuDNN fuses conv + bias + relu in NHWC graphs; this backend runs convolutions NCHW "
            "(CudaOptions::conv_layout), which PyTorch runs unfused"};
  return {SupportLevel::native,
          "fused: one cuDNN graph (conv + bias + relu, batchnorm folded into weights and bias; cuDNN may have no "
          "fused engine for a shape or precision, then make_fusion throws UnavailableError); "
          "unfused: conv + separate bias / batchnorm / relu kernels"};
}

/// Both halves of pattern f on anchor op `main` (fusion_support() said native).
inline FusionKernels make_fusion_kernels(const std::shared_ptr<DeviceContext>& ctx, FusionPattern f, const OpDesc& main,
                                         Precision p) {
  FusionKernels out;
  if (f == FusionPattern::attention) {
    auto fused = std::make_unique<AttentionKernel>(ctx, main, p, AttentionChoice::framework);
    if (fused->path() == AttentionPath::chain)
      throw UnavailableError("no fused attention kernel runs this shape: " + fused->fallback_reason());
    out.fused = std::move(fused);
    out.unfused = std::make_unique<AttentionKernel>(ctx, main, p, AttentionChoice::chain);
    out.note = "fused: " + out.fused->implementation() + "; unfused: cuBLASLt QK^T + softmax kernel + cuBLASLt PV";
    return out;
  }
  if (fusion_anchor(f) == OpKind::linear) {
    OpDesc op = main;
    std::get<MatmulShape>(op.shape).bias = true;
    GemmPostOps fused, unfused;
    unfused.bias_kernel = true;
    switch (f) {
      case FusionPattern::linear_bias: fused.epilogue = Epilogue::bias; break;
      case FusionPattern::linear_bias_relu:
        fused.epilogue = Epilogue::bias_relu;
        unfused.act_kernel = OpKind::relu;
        break;
      default:
        fused.epilogue = Epilogue::bias_gelu;
        unfused.act_kernel = OpKind::gelu;
        break;
    }
    out.fused = std::make_unique<GemmKernel>(ctx, op, p, fused);
    out.unfused = std::make_unique<GemmKernel>(ctx, op, p, unfused);
    out.note = f == FusionPattern::linear_bias_gelu
                   ? "fused: cuBLASLt GELU_BIAS epilogue (tanh-approximate GELU); unfused: GEMM + bias kernel + GELU "
                     "(erf) kernel"
                   : "fused: cuBLASLt bias epilogue; unfused: GEMM + separate kernels";
    return out;
  }
  ConvPostOps post;
  post.batchnorm = f != FusionPattern::conv_relu;
  post.relu = f != FusionPattern::conv_bn;
  ConvPostOps fused = post;
  fused.fused = true;
  out.fused = std::make_unique<ConvKernel>(ctx, main, p, fused);
  out.unfused = std::make_unique<ConvKernel>(ctx, main, p, post);
  out.note = post.batchnorm ? "fused: one cuDNN graph with batchnorm folded into weights and bias; "
                              "unfused: conv + separate kernels"
                            : "fused: one cuDNN graph (conv [+ bias] + relu); unfused: conv + separate kernels";
  return out;
}

}  // namespace cuda
}  // namespace hwcal
