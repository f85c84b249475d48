#pragma once
// Token-embedding lookup (EmbeddingKernel): rows of a [vocab][dim] table
// gathered by int64 indices, 16-byte vectors (kernels/rotary.cuh). Indices
// are uniform over the vocabulary, so the rows come from HBM, as in a model.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

#include <limits>
#include <memory>
#include <string>

namespace hwcal {
namespace cuda {

class EmbeddingKernel final : public CudaKernel {
 public:
  EmbeddingKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), precision_(p), shape_(std::get<EmbeddingShape>(op.shape)) {
    const DType t = storage_of(p);
    const EmbeddingShape& s = shape_;
    indices_ = ctx().random(DType::i64, s.tokens, 0, static_cast<double>(s.vocab));  // floor: [0, vocab)
    table_ = ctx().random(t, s.vocab * s.dim, -1, 1);
    y_ = DeviceTensor(t, s.tokens * s.dim);
  }

  void run() override {
    HWCAL_CUDA_CHECK(launch::embedding(y_.dtype, indices_.memory.as<std::int64_t>(), table_.get(), y_.get(),
                                       shape_.tokens, shape_.vocab, shape_.dim, stream()));
  }

  CheckResult check() override {
    finish();
    const EmbeddingShape& s = shape_;
    reference::SampledCheck chk(precision_, 1);
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 o = rng.below(y_.elements), token = o / s.dim, j = o % s.dim;
      const auto row = static_cast<i64>(fetch_one(indices_, token));
      // An index outside the table (never generated) fails the check as NaN.
      const double want =
          row >= 0 && row < s.vocab ? fetch_one(table_, row * s.dim + j) : std::numeric_limits<double>::quiet_NaN();
      chk.add(fetch_one(y_, o), reference::elementwise(OpKind::copy, want), "y", o);
    }
    return chk.result();
  }

  std::string implementation() const override {
    const bool vectors = shape_.dim % (16 / element_bytes(precision_)) == 0;
    return std::string("hwcal gather kernel (") + (vectors ? "16-byte vectors" : "single elements") +
           ", 4 in flight per thread)";
  }

 private:
  Precision precision_;
  EmbeddingShape shape_;
  DeviceTensor indices_, table_, y_;
};

}  // namespace cuda
}  // namespace hwcal
