#pragma once
// Rotary position embedding of one [tokens][heads][head_dim] tensor with
// cos/sin tables of [tokens][head_dim], the rotate-half convention of
// reference::rotary_at, in one kernel (RotaryKernel; kernels/rotary.cuh).
// Eager HF LLaMA spends five kernels on the same (slice, neg, cat, mul, add).

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace cuda {

class RotaryKernel final : public CudaKernel {
 public:
  RotaryKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), precision_(p), shape_(std::get<RotaryShape>(op.shape)) {
    const DType t = storage_of(p);
    const RotaryShape& s = shape_;
    x_ = ctx().random(t, s.tokens * s.heads * s.head_dim, -2, 2);
    cos_ = ctx().random(t, s.tokens * s.head_dim, -1, 1);
    sin_ = ctx().random(t, s.tokens * s.head_dim, -1, 1);
    y_ = DeviceTensor(t, x_.elements);
  }

  void run() override {
    HWCAL_CUDA_CHECK(launch::rotary(y_.dtype, x_.get(), cos_.get(), sin_.get(), y_.get(), shape_.tokens, shape_.heads,
                                    shape_.head_dim, stream()));
  }

  CheckResult check() override {
    finish();
    const RotaryShape& s = shape_;
    const RotaryShape one{1, 1, s.head_dim};
    reference::SampledCheck chk(precision_, reduction_length(OpDesc{OpKind::rotary, s}));
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 o = rng.below(y_.elements), j = o % s.head_dim, th = o / s.head_dim, token = th / s.heads;
      // Head (token, h) and the token's tables, as a one-token one-head problem.
      const std::vector<double> x = fetch(x_, th * s.head_dim, s.head_dim);
      const std::vector<double> cs = fetch(cos_, token * s.head_dim, s.head_dim);
      const std::vector<double> sn = fetch(sin_, token * s.head_dim, s.head_dim);
      chk.add(fetch_one(y_, o), reference::rotary_at(x.data(), cs.data(), sn.data(), one, 0, 0, j), "y", o);
    }
    return chk.result();
  }

  std::string implementation() const override {
    const bool vectors = (shape_.head_dim / 2) % (16 / element_bytes(precision_)) == 0;
    return std::string("hwcal rotary kernel (both halves of a pair per thread") +
           (vectors ? ", 16-byte vectors)" : ", single elements)");
  }

 private:
  Precision precision_;
  RotaryShape shape_;
  DeviceTensor x_, cos_, sin_, y_;
};

}  // namespace cuda
}  // namespace hwcal
