#pragma once
// TorchKernel: one ATen call (or the short chain eager PyTorch would run) on
// tensors prepared once, plus the pieces every op's check shares: inputs
// filled from hwcal's deterministic generator, fp64 copies for the
// reference, sampled comparison.

#include <hwcal/torch/guard.hpp>

#include <hwcal/error.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace hwcal {
namespace aten {

/// A prepared ATen op. run() calls it once under torch.no_grad() (what
/// nn.Module inference in Python runs under by default) and keeps the result.
///
/// Every run() allocates its output (and a chain its intermediates), as eager
/// PyTorch does: c10's CPU allocator is plain malloc/free, and that
/// allocation is part of what eager PyTorch costs. The previous output is
/// freed first (see run()).
class TorchKernel final : public Kernel {
 public:
  using Compute = std::function<at::Tensor()>;
  using Verify = std::function<CheckResult(const at::Tensor& output)>;
  using Prepare = std::function<void()>;

  /// `prepare`, when given, restores what run() consumes (in-place ops).
  TorchKernel(Compute compute, Verify verify, std::string implementation, Prepare prepare = {}, std::string family = {})
      : compute_(std::move(compute)),
        verify_(std::move(verify)),
        implementation_(std::move(implementation)),
        family_(std::move(family)),
        prepare_(std::move(prepare)) {}

  void run() override {
    at::NoGradGuard no_grad;
    // Free the previous output first, as a caller that drops each result
    // does: the allocator hands the same (cache-warm) block back, instead of
    // two outputs alternating (twice the footprint, a cache level further out).
    out_.reset();
    out_ = compute_();
  }

  CheckResult check() override {
    if (!out_.defined()) return {false, 0, 0, "check() before run()"};
    at::NoGradGuard no_grad;
    return verify_(out_);
  }

  std::string implementation() const override { return implementation_; }
  std::string family() const override { return family_; }
  bool needs_prepare() const override { return static_cast<bool>(prepare_); }
  void prepare() override {
    if (!prepare_) return;
    at::NoGradGuard no_grad;
    prepare_();
  }

  /// Output of the last run(); tests corrupt it to see check() fail.
  const at::Tensor& output() const noexcept { return out_; }

 private:
  Compute compute_;
  Verify verify_;
  std::string implementation_;
  std::string family_;
  Prepare prepare_;
  at::Tensor out_;
};

namespace detail {

/// A tensor of deterministic values in [lo, hi) at dtype `dt`. Values are
/// drawn as floats (as hwcal::detail::fill_uniform does for every backend)
/// and rounded once to `dt`.
inline at::Tensor uniform(at::IntArrayRef sizes, at::ScalarType dt, std::uint64_t seed, double lo = -1, double hi = 1) {
  at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(at::kFloat));
  hwcal::detail::fill_uniform(t.data_ptr<float>(), t.numel(), seed, lo, hi);
  return dt == at::kFloat ? t : t.to(dt);
}

/// A contiguous fp64 copy, made through ATen only for checks (never in run()).
struct HostCopy {
  explicit HostCopy(const at::Tensor& x) : tensor(x.to(at::kDouble).contiguous()), p(tensor.data_ptr<double>()) {}
  at::Tensor tensor;
  const double* p;
};

using reference::sample_indices;

/// An op kind of the family's shape that the family's kernel has no ATen
/// call for (a kind added to the op table before its torch kernel).
[[noreturn]] inline void no_kernel(OpKind k, const char* family) {
  throw UnavailableError("torch backend: " + std::string(family) + " has no ATen call for " +
                         std::string(to_string(k)));
}

inline CheckResult wrong_size(const at::Tensor& out, i64 expected) {
  return {false, 0, 0, "output has " + std::to_string(out.numel()) + " elements, want " + std::to_string(expected)};
}

/// Compares sampled flat outputs against ref(flat index).
template <class Ref>
CheckResult compare_elements(const at::Tensor& out, i64 expected, Precision p, i64 reduction, const char* what,
                             Ref ref) {
  if (out.numel() != expected) return wrong_size(out, expected);
  const HostCopy got(out);
  reference::SampledCheck check(p, reduction);
  for (i64 i : sample_indices(expected)) check.add(got.p[i], ref(i), what, i);
  return check.result();
}

/// Compares whole sampled rows of a rows x cols output against ref(row, out).
template <class Ref>
CheckResult compare_rows(const at::Tensor& out, i64 rows, i64 cols, Precision p, i64 reduction, const char* what,
                         Ref ref) {
  if (out.numel() != rows * cols) return wrong_size(out, rows * cols);
  const HostCopy got(out);
  reference::SampledCheck check(p, reduction);
  std::vector<double> want(static_cast<std::size_t>(cols));
  for (i64 r : sample_indices(rows)) {
    ref(r, want.data());
    for (i64 j = 0; j < cols; ++j)
      check.add(got.p[r * cols + j], want[static_cast<std::size_t>(j)], what, r * cols + j);
  }
  return check.result();
}

}  // namespace detail
}  // namespace aten
}  // namespace hwcal
