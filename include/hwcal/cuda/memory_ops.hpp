#pragma once
// The backend's memory-bound kernels (kernels/*.cuh through launch.hpp):
// elementwise, batchnorm, row ops (softmax, layernorm, reduce_mean), pooling
// and pure data movement (copy, transpose, concat). All NCHW / row-major, as
// the reference; arithmetic in fp32 (fp64 for fp64).

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/compute_ops.hpp>
#include <hwcal/cuda/context.hpp>
#include <hwcal/reference.hpp>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hwcal {
namespace cuda {

/// Largest divisor of n not above sqrt(n): the rows of the near-square matrix
/// that transpose and concat move (1 when n is prime).
inline i64 square_rows(i64 n) noexcept {
  i64 best = 1;
  for (i64 d = 1; d * d <= n; ++d)
    if (n % d == 0) best = d;
  return best;
}

/// relu ... tanh, add, mul, div (with broadcast of the second input).
class ElementwiseKernel final : public CudaKernel {
 public:
  ElementwiseKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p), shape_(std::get<ElementwiseShape>(op.shape)) {
    const DType t = storage_of(p);
    binary_ = kind_ == OpKind::add || kind_ == OpKind::mul || kind_ == OpKind::div;
    a_ = ctx().random(t, shape_.elements, -4, 4);
    if (binary_) {
      period_ = shape_.inputs >= 2 && shape_.broadcast > 0 ? shape_.broadcast : shape_.elements;
      b_ = kind_ == OpKind::div ? ctx().random(t, period_, 0.5, 2) : ctx().random(t, period_, -2, 2);
    }
    y_ = DeviceTensor(t, shape_.elements);
  }

  void run() override {
    const cudaError_t e = binary_ ? launch::binary(kind_, y_.dtype, a_.get(), b_.get(), y_.get(), shape_.elements,
                                                   period_ < shape_.elements ? period_ : 0, stream())
                                  : launch::unary(kind_, y_.dtype, a_.get(), y_.get(), shape_.elements, stream());
    detail::check_cuda_launch(e, std::string(to_string(kind_)).c_str());
  }

  CheckResult check() override {
    finish();
    reference::SampledCheck chk(precision_, 1);
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 i = rng.below(shape_.elements);
      const double b = binary_ ? fetch_one(b_, i % period_) : 0.0;
      chk.add(fetch_one(y_, i), reference::elementwise(kind_, fetch_one(a_, i), b), "y", i);
    }
    return chk.result();
  }

  std::string implementation() const override { return "hwcal elementwise kernel (16-byte vectors)"; }

 private:
  OpKind kind_;
  Precision precision_;
  ElementwiseShape shape_;
  bool binary_ = false;
  i64 period_ = 1;
  DeviceTensor a_, b_, y_;
};

/// Inference batchnorm over NCHW (running statistics, eps 1e-5).
class BatchnormKernel final : public CudaKernel {
 public:
  BatchnormKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), precision_(p), shape_(std::get<MapShape>(op.shape)) {
    const DType t = storage_of(p);
    const MapShape& s = shape_;
    x_ = ctx().random(t, s.n * s.c * s.h * s.w, -2, 2);
    mean_ = ctx().random(t, s.c, -0.5, 0.5);
    var_ = ctx().random(t, s.c, 0.5, 1.5);
    gamma_ = ctx().random(t, s.c, 0.5, 1.5);
    beta_ = ctx().random(t, s.c, -0.5, 0.5);
    y_ = DeviceTensor(t, x_.elements);
  }

  void run() override {
    detail::check_cuda_launch(
        launch::batchnorm(y_.dtype, x_.get(), mean_.get(), var_.get(), gamma_.get(), beta_.get(), y_.get(), y_.elements,
                          shape_.c, shape_.h * shape_.w, batchnorm_eps, false, stream()),
        "batchnorm");
  }

  CheckResult check() override {
    finish();
    const std::vector<double> mean = fetch_all(mean_), var = fetch_all(var_), gamma = fetch_all(gamma_),
                              beta = fetch_all(beta_);
    reference::SampledCheck chk(precision_, 1);
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 i = rng.below(y_.elements);
      const auto c = static_cast<std::size_t>((i / (shape_.h * shape_.w)) % shape_.c);
      const double x = fetch_one(x_, i);
      // The reference on a 1x1x1x1 map with channel c's statistics.
      const double want =
          reference::batchnorm_at(&x, &mean[c], &var[c], &gamma[c], &beta[c], batchnorm_eps, MapShape{1, 1, 1, 1}, 0);
      chk.add(fetch_one(y_, i), want, "y", i);
    }
    return chk.result();
  }

  std::string implementation() const override { return "hwcal batchnorm kernel"; }

 private:
  Precision precision_;
  MapShape shape_;
  DeviceTensor x_, mean_, var_, gamma_, beta_, y_;
};

/// softmax, layernorm (gamma/beta over the last dim, eps 1e-5), reduce_mean.
class RowsKernel final : public CudaKernel {
 public:
  RowsKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p), shape_(std::get<RowsShape>(op.shape)) {
    const DType t = storage_of(p);
    const RowsShape& s = shape_;
    x_ = ctx().random(t, s.rows * s.cols, kind_ == OpKind::softmax ? -4 : -2, kind_ == OpKind::softmax ? 4 : 2);
    if (kind_ == OpKind::layernorm) {
      gamma_ = ctx().random(t, s.cols, 0.5, 1.5);
      beta_ = ctx().random(t, s.cols, -0.5, 0.5);
    }
    y_ = DeviceTensor(t, kind_ == OpKind::reduce_mean ? s.rows : s.rows * s.cols);
  }

  void run() override {
    const RowsShape& s = shape_;
    cudaError_t e = cudaSuccess;
    switch (kind_) {
      case OpKind::softmax: e = launch::softmax(y_.dtype, x_.get(), y_.get(), s.rows, s.cols, 0, stream()); break;
      case OpKind::layernorm:
        e = launch::layernorm(y_.dtype, x_.get(), gamma_.get(), beta_.get(), y_.get(), s.rows, s.cols, batchnorm_eps,
                              stream());
        break;
      default: e = launch::reduce_mean(y_.dtype, x_.get(), y_.get(), s.rows, s.cols, stream()); break;
    }
    detail::check_cuda_launch(e, std::string(to_string(kind_)).c_str());
  }

  CheckResult check() override {
    finish();
    const RowsShape& s = shape_;
    const std::vector<double> gamma = kind_ == OpKind::layernorm ? fetch_all(gamma_) : std::vector<double>();
    const std::vector<double> beta = kind_ == OpKind::layernorm ? fetch_all(beta_) : std::vector<double>();
    reference::SampledCheck chk(precision_, s.cols);
    hwcal::detail::Rng rng = sampler();
    std::vector<double> want(static_cast<std::size_t>(s.cols));
    const i64 rows = std::min<i64>(s.rows, reference::check_samples);
    for (i64 t = 0; t < rows; ++t) {
      const i64 r = s.rows <= reference::check_samples ? t : rng.below(s.rows);
      const std::vector<double> x = fetch(x_, r * s.cols, s.cols);
      if (kind_ == OpKind::reduce_mean) {
        chk.add(fetch_one(y_, r), reference::reduce_mean_row(x.data(), s.cols), "y", r);
        continue;
      }
      if (kind_ == OpKind::softmax)
        reference::softmax_row(x.data(), s.cols, want.data());
      else
        reference::layernorm_row(x.data(), gamma.data(), beta.data(), s.cols, batchnorm_eps, want.data());
      const std::vector<double> got = fetch(y_, r * s.cols, s.cols);
      for (i64 j = 0; j < s.cols; ++j)
        chk.add(got[static_cast<std::size_t>(j)], want[static_cast<std::size_t>(j)], "y", r * s.cols + j);
    }
    return chk.result();
  }

  std::string implementation() const override {
    return shape_.cols <= 1024 ? "hwcal row kernel (warp per row)" : "hwcal row kernel (block per row)";
  }

 private:
  OpKind kind_;
  Precision precision_;
  RowsShape shape_;
  DeviceTensor x_, gamma_, beta_, y_;
};

/// maxpool, avgpool and adaptive_avgpool over NCHW.
class PoolKernel final : public CudaKernel {
 public:
  PoolKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p), op_(op) {
    const DType t = storage_of(p);
    i64 in = 0, out = 0;
    if (kind_ == OpKind::adaptive_avgpool) {
      const auto& s = std::get<AdaptivePoolShape>(op.shape);
      in = s.n * s.c * s.h * s.w;
      out = s.n * s.c * s.out_h * s.out_w;
    } else {
      const auto& s = std::get<Pool2dShape>(op.shape);
      in = s.n * s.c * s.h * s.w;
      out = s.n * s.c * s.out_h() * s.out_w();
    }
    x_ = ctx().random(t, in, -2, 2);
    y_ = DeviceTensor(t, out);
  }

  void run() override {
    const cudaError_t e =
        kind_ == OpKind::adaptive_avgpool
            ? launch::adaptive_avgpool(y_.dtype, x_.get(), y_.get(), std::get<AdaptivePoolShape>(op_.shape), stream())
            : launch::pool2d(kind_, y_.dtype, x_.get(), y_.get(), std::get<Pool2dShape>(op_.shape), stream());
    detail::check_cuda_launch(e, std::string(to_string(kind_)).c_str());
  }

  CheckResult check() override {
    finish();
    reference::SampledCheck chk(precision_, reduction_length(op_));
    hwcal::detail::Rng rng = sampler();
    std::map<i64, std::vector<double>> planes;  // input planes (n, c) read so far
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 o = rng.below(y_.elements);
      double want = 0;
      if (kind_ == OpKind::adaptive_avgpool) {
        auto s = std::get<AdaptivePoolShape>(op_.shape);
        const i64 plane = o / (s.out_h * s.out_w), oh = o / s.out_w % s.out_h, ow = o % s.out_w;
        const std::vector<double>& x = input_plane(planes, plane, s.h * s.w);
        s.n = s.c = 1;
        want = reference::adaptive_avgpool_at(x.data(), s, 0, 0, oh, ow);
      } else {
        auto s = std::get<Pool2dShape>(op_.shape);
        const i64 out_h = s.out_h(), out_w = s.out_w();
        const i64 plane = o / (out_h * out_w), oh = o / out_w % out_h, ow = o % out_w;
        const std::vector<double>& x = input_plane(planes, plane, s.h * s.w);
        s.n = s.c = 1;
        want = kind_ == OpKind::maxpool ? reference::maxpool_at(x.data(), s, 0, 0, oh, ow)
                                        : reference::avgpool_at(x.data(), s, 0, 0, oh, ow);
      }
      chk.add(fetch_one(y_, o), want, "y", o);
    }
    return chk.result();
  }

  std::string implementation() const override { return "hwcal pooling kernel (thread per output)"; }

 private:
  const std::vector<double>& input_plane(std::map<i64, std::vector<double>>& planes, i64 plane, i64 hw) const {
    auto& x = planes[plane];
    if (x.empty()) x = fetch(x_, plane * hw, hw);
    return x;
  }

  OpKind kind_;
  Precision precision_;
  OpDesc op_;
  DeviceTensor x_, y_;
};

/// copy, transpose (of the near-square [rows][cols] matrix with rows x cols
/// elements) and concat (two [rows][cols/2] halves along the last dimension).
class BytesKernel final : public CudaKernel {
 public:
  BytesKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p)
      : CudaKernel(std::move(c)), kind_(op.kind), precision_(p) {
    const DType t = storage_of(p);
    const i64 elements = std::get<BytesShape>(op.shape).bytes / dtype_bytes(t);
    rows_ = square_rows(elements);
    cols_ = elements / rows_;
    cols_a_ = cols_ / 2;
    const double lo = p == Precision::int8 ? -100 : -4, hi = p == Precision::int8 ? 100 : 4;
    a_ = ctx().random(t, kind_ == OpKind::concat ? rows_ * cols_a_ : elements, lo, hi);
    if (kind_ == OpKind::concat) b_ = ctx().random(t, rows_ * (cols_ - cols_a_), lo, hi);
    y_ = DeviceTensor(t, elements);
  }

  void run() override {
    const int eb = dtype_bytes(y_.dtype);
    cudaError_t e = cudaSuccess;
    switch (kind_) {
      case OpKind::transpose: e = launch::transpose(eb, a_.get(), y_.get(), rows_, cols_, stream()); break;
      case OpKind::concat:
        e = launch::concat(eb, a_.get(), b_.get(), y_.get(), rows_, cols_a_, cols_ - cols_a_, stream());
        break;
      default: e = launch::copy(a_.get(), y_.get(), y_.bytes(), stream()); break;
    }
    detail::check_cuda_launch(e, std::string(to_string(kind_)).c_str());
  }

  CheckResult check() override {
    finish();
    reference::SampledCheck chk(precision_, 1);
    hwcal::detail::Rng rng = sampler();
    for (int t = 0; t < reference::check_samples; ++t) {
      const i64 o = rng.below(y_.elements), r = o / cols_, c = o % cols_;
      double want;
      if (kind_ == OpKind::transpose)
        want = fetch_one(a_, (o % rows_) * cols_ + o / rows_);  // y[c][r] = x[r][c]
      else if (kind_ == OpKind::concat)
        want = c < cols_a_ ? fetch_one(a_, r * cols_a_ + c) : fetch_one(b_, r * (cols_ - cols_a_) + c - cols_a_);
      else
        want = fetch_one(a_, o);
      chk.add(fetch_one(y_, o), reference::elementwise(OpKind::copy, want), "y", o);
    }
    return chk.result();
  }

  std::string implementation() const override {
    if (kind_ == OpKind::transpose)
      return "hwcal transpose kernel, " + std::to_string(rows_) + "x" + std::to_string(cols_);
    if (kind_ == OpKind::concat)
      return "hwcal concat kernel, " + std::to_string(rows_) + "x(" + std::to_string(cols_a_) + "+" +
             std::to_string(cols_ - cols_a_) + ")";
    return "hwcal copy kernel (16-byte vectors)";
  }

 private:
  OpKind kind_;
  Precision precision_;
  i64 rows_ = 1, cols_ = 1, cols_a_ = 0;
  DeviceTensor a_, b_, y_;
};

}  // namespace cuda
}  // namespace hwcal
