#pragma once
// Pure data movement (MoveKernel) on the tensor every backend moves,
// reference::move_geometry: copy; transpose of the rows x cols matrix through
// shared-memory tiles with 16-byte global accesses; concat of two contiguous
// row blocks (torch.cat along the outer dimension, a KV cache append) as one
// two-segment copy at copy speed. Kernels in kernels/memory.cuh.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

#include <memory>
#include <string>

namespace hwcal {
namespace cuda {

class MoveKernel final : public CudaKernel {
 public:
  MoveKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)),
        kind_(op.kind),
        precision_(p),
        g_(reference::move_geometry(std::get<BytesShape>(op.shape).bytes, element_bytes(p))) {
    const DType t = storage_of(p);
    const double lo = p == Precision::int8 ? -100 : -4, hi = p == Precision::int8 ? 100 : 4;
    const i64 first = kind_ == OpKind::concat ? g_.first_rows() * g_.cols : g_.elements();
    a_ = ctx().random(t, first, lo, hi);
    if (kind_ == OpKind::concat) b_ = ctx().random(t, g_.elements() - first, lo, hi);
    y_ = DeviceTensor(t, g_.elements());
  }

  void run() override {
    switch (kind_) {
      case OpKind::transpose:
        HWCAL_CUDA_CHECK(launch::transpose(dtype_bytes(y_.dtype), a_.get(), y_.get(), g_.rows, g_.cols, stream()));
        break;
      case OpKind::concat:
        HWCAL_CUDA_CHECK(launch::concat(a_.get(), a_.bytes(), b_.get(), b_.bytes(), y_.get(), stream()));
        break;
      default: HWCAL_CUDA_CHECK(launch::copy(a_.get(), y_.get(), y_.bytes(), stream())); break;
    }
  }

  CheckResult check() override {
    finish();
    reference::SampledCheck chk(precision_, 1);
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 o = rng.below(y_.elements);
      double want;
      if (kind_ == OpKind::transpose)
        want = fetch_one(a_, (o % g_.rows) * g_.cols + o / g_.rows);  // y[c][r] = x[r][c]
      else if (kind_ == OpKind::concat)
        want = o < a_.elements ? fetch_one(a_, o) : fetch_one(b_, o - a_.elements);
      else
        want = fetch_one(a_, o);
      chk.add(fetch_one(y_, o), reference::elementwise(OpKind::copy, want), "y", o);
    }
    return chk.result();
  }

  std::string implementation() const override {
    const std::string shape = std::to_string(g_.rows) + "x" + std::to_string(g_.cols);
    if (kind_ == OpKind::transpose) return "hwcal tiled transpose (shared memory, 16-byte accesses), " + shape;
    if (kind_ == OpKind::concat)
      return "hwcal two-segment copy, " + std::to_string(g_.first_rows()) + "+" +
             std::to_string(g_.rows - g_.first_rows()) + " rows of " + std::to_string(g_.cols);
    return "hwcal copy kernel (16-byte vectors), " + shape;
  }

 private:
  OpKind kind_;
  Precision precision_;
  reference::MoveGeometry g_;
  DeviceTensor a_, b_, y_;
};

}  // namespace cuda
}  // namespace hwcal
