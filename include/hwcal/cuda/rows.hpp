#pragma once
// Row ops over the last dimension (RowsKernel): layernorm (gamma, beta),
// rmsnorm (gamma), softmax and reduce_mean, eps 1e-5. Kernels in
// kernels/rows.cuh: one read of the row, kept in registers, 16-byte vectors.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace cuda {

class RowsKernel final : public CudaKernel {
 public:
  RowsKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p), shape_(std::get<RowsShape>(op.shape)) {
    const DType t = storage_of(p);
    const RowsShape& s = shape_;
    const double range = kind_ == OpKind::softmax ? 4 : 2;
    x_ = ctx().random(t, s.rows * s.cols, -range, range);
    if (kind_ == OpKind::layernorm || kind_ == OpKind::rmsnorm) gamma_ = ctx().random(t, s.cols, 0.5, 1.5);
    if (kind_ == OpKind::layernorm) beta_ = ctx().random(t, s.cols, -0.5, 0.5);
    y_ = DeviceTensor(t, info(kind_).reduces ? s.rows : s.rows * s.cols);
  }

  void run() override {
    HWCAL_CUDA_CHECK(launch::row_op(kind_, y_.dtype, x_.get(), gamma_.get(), beta_.get(), y_.get(), shape_.rows,
                                    shape_.cols, norm_eps, 0, stream()));
  }

  CheckResult check() override {
    finish();
    const RowsShape& s = shape_;
    const std::vector<double> gamma = gamma_.elements ? fetch_all(gamma_) : std::vector<double>();
    const std::vector<double> beta = beta_.elements ? fetch_all(beta_) : std::vector<double>();
    reference::SampledCheck chk(precision_, s.cols);
    hwcal::detail::Rng rng = sampler();
    std::vector<double> want(static_cast<std::size_t>(s.cols));
    const i64 rows = std::min<i64>(s.rows, reference::check_samples);
    for (i64 t = 0; t < rows; ++t) {
      const i64 r = s.rows <= reference::check_samples ? t : rng.below(s.rows);
      const std::vector<double> x = fetch(x_, r * s.cols, s.cols);
      switch (kind_) {
        case OpKind::reduce_mean:
          chk.add(fetch_one(y_, r), reference::reduce_mean_row(x.data(), s.cols), "y", r);
          continue;
        case OpKind::softmax: reference::softmax_row(x.data(), s.cols, want.data()); break;
        case OpKind::rmsnorm: reference::rmsnorm_row(x.data(), gamma.data(), s.cols, norm_eps, want.data()); break;
        default: reference::layernorm_row(x.data(), gamma.data(), beta.data(), s.cols, norm_eps, want.data()); break;
      }
      const std::vector<double> got = fetch(y_, r * s.cols, s.cols);
      for (i64 j = 0; j < s.cols; ++j)
        chk.add(got[static_cast<std::size_t>(j)], want[static_cast<std::size_t>(j)], "y", r * s.cols + j);
    }
    return chk.result();
  }

  std::string implementation() const override {
    return "hwcal row kernel (" + launch::row_layout(storage_of(precision_), shape_.cols).describe() + ")";
  }

 private:
  OpKind kind_;
  Precision precision_;
  RowsShape shape_;
  DeviceTensor x_, gamma_, beta_, y_;
};

}  // namespace cuda
}  // namespace hwcal
