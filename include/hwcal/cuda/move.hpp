#pragma once
// Pure data movement (MoveKernel) on the tensor every backend moves,
// reference::move_geometry: copy; transpose of the rows x cols matrix through
// shared-memory tiles with 16-byte global accesses; permute of runs (16-byte
// words where a run allows); concat of contiguous row
// blocks (torch.cat along the outer dimension, a KV cache append) as one
// segmented copy, each input's blocks sized by its own bytes. Kernels in
// kernels/memory.cuh.

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

class MoveKernel final : public CudaKernel {
 public:
  MoveKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p), g_(reference::move_geometry(op, element_bytes(p))) {
    const DType t = storage_of(p);
    const double lo = p == Precision::int8 ? -100 : -4, hi = p == Precision::int8 ? 100 : 4;
    if (kind_ == OpKind::concat) {
      for (i64 rows : g_.parts) {
        parts_.push_back(ctx().random(t, rows * g_.cols, lo, hi));
        pointers_.push_back(parts_.back().get());
        bytes_.push_back(parts_.back().bytes());
      }
    } else {
      a_ = ctx().random(t, g_.elements(), lo, hi);
    }
    y_ = DeviceTensor(t, g_.elements());
  }

  void run() override {
    switch (kind_) {
      case OpKind::transpose:
        HWCAL_CUDA_CHECK(launch::transpose(dtype_bytes(y_.dtype), a_.get(), y_.get(), g_.rows, g_.cols, stream()));
        break;
      case OpKind::permute:
        HWCAL_CUDA_CHECK(
            launch::permute(dtype_bytes(y_.dtype), a_.get(), y_.get(), g_.rows, g_.cols, g_.run, stream()));
        break;
      case OpKind::concat:
        HWCAL_CUDA_CHECK(
            launch::concat(pointers_.data(), bytes_.data(), static_cast<int>(pointers_.size()), y_.get(), stream()));
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
      if (kind_ == OpKind::transpose || kind_ == OpKind::permute)
        want = fetch_one(a_, reference::moved_from(g_, o));
      else if (kind_ == OpKind::concat)
        want = concat_input(o);
      else
        want = fetch_one(a_, o);
      chk.add(fetch_one(y_, o), reference::elementwise(OpKind::copy, want), "y", o);
    }
    return chk.result();
  }

  std::string implementation() const override {
    const std::string shape = std::to_string(g_.rows) + "x" + std::to_string(g_.cols);
    if (kind_ == OpKind::transpose) return "hwcal tiled transpose (shared memory, 16-byte accesses), " + shape;
    if (kind_ == OpKind::permute)
      return "hwcal permute of runs, [" + std::to_string(g_.rows) + "][" + std::to_string(g_.cols / g_.run) + "][" +
             std::to_string(g_.run) + "] -> [" + std::to_string(g_.cols / g_.run) + "][" + std::to_string(g_.rows) +
             "][" + std::to_string(g_.run) + "]";
    if (kind_ == OpKind::concat) {
      std::string rows;
      for (std::size_t i = 0; i < g_.parts.size(); ++i) rows += (i ? "+" : "") + std::to_string(g_.parts[i]);
      return "hwcal segmented copy, " + rows + " rows of " + std::to_string(g_.cols);
    }
    return "hwcal copy kernel (16-byte vectors), " + shape;
  }

 private:
  /// The input element that output element o copies.
  double concat_input(i64 o) {
    for (std::size_t i = 0; i < parts_.size(); o -= parts_[i].elements, ++i)
      if (o < parts_[i].elements) return fetch_one(parts_[i], o);
    return 0;
  }

  OpKind kind_;
  Precision precision_;
  reference::MoveGeometry g_;
  DeviceTensor a_, y_;
  std::vector<DeviceTensor> parts_;  ///< concat: the inputs
  std::vector<const void*> pointers_;
  std::vector<i64> bytes_;
};

}  // namespace cuda
}  // namespace hwcal
