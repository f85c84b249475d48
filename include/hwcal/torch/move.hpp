#pragma once
// MoveKernel: copy, transpose, permute and concat of the one tensor every backend
// moves (reference::move_geometry: rows x cols elements of the precision).
//   copy       at::clone (x.clone())
//   transpose  x.transpose(-1, -2).contiguous(): [rows][cols] -> [cols][rows]
//   permute    x.transpose(0, 1).contiguous() of x [rows][cols / run][run]:
//              a head merge (MoveGeometry::run)
//   concat     at::cat({x0, x1, ...}, 0): contiguous blocks of parts[i] rows
//              (torch.cat along dim 0, a KV cache's outer dimension)

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace aten {
namespace detail {

/// The geometry is part of what is measured (a transpose of 1 x n moves
/// nothing): a result of other dimensions fails its check.
inline bool same_sizes(const at::Tensor& out, i64 rows, i64 cols, CheckResult& fail) {
  if (out.dim() == 2 && out.size(0) == rows && out.size(1) == cols) return true;
  fail = {false, 0, 0,
          "output is " + std::string(c10::str(out.sizes())) + ", want [" + std::to_string(rows) + ", " +
              std::to_string(cols) + "]"};
  return false;
}

}  // namespace detail

/// copy, transpose, permute, concat (ShapeFamily::bytes).
struct MoveKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    using detail::compare_elements;
    using detail::HostCopy;
    using detail::uniform;
    const reference::MoveGeometry g = reference::move_geometry(op, element_bytes(p));
    const i64 rows = g.rows, cols = g.cols, n = g.elements();
    switch (op.kind) {
      case OpKind::copy: {
        const at::Tensor x = uniform({rows, cols}, dt, 1);
        return std::make_unique<TorchKernel>([=] { return at::clone(x); },
                                             [=](const at::Tensor& out) {
                                               CheckResult fail;
                                               if (!detail::same_sizes(out, rows, cols, fail)) return fail;
                                               const HostCopy xd(x);
                                               return compare_elements(out, n, p, 1, "copy",
                                                                       [&](i64 i) { return xd.p[i]; });
                                             },
                                             "at::clone");
      }
      case OpKind::transpose: {
        const at::Tensor x = uniform({rows, cols}, dt, 1);
        return std::make_unique<TorchKernel>([=] { return x.transpose(-1, -2).contiguous(); },
                                             [=](const at::Tensor& out) {
                                               CheckResult fail;
                                               if (!detail::same_sizes(out, cols, rows, fail)) return fail;
                                               const HostCopy xd(x);
                                               // out[c][r] = x[r][c]
                                               return compare_elements(out, n, p, 1, "transpose", [&](i64 o) {
                                                 return xd.p[(o % rows) * cols + o / rows];
                                               });
                                             },
                                             "Tensor::transpose(-1, -2).contiguous()");
      }
      case OpKind::permute: {
        const i64 run = g.run, blocks = cols / run;
        const at::Tensor x = uniform({rows, blocks, run}, dt, 1);
        return std::make_unique<TorchKernel>(
            [=] { return x.transpose(0, 1).contiguous(); },
            [=](const at::Tensor& out) {
              if (out.dim() != 3 || out.size(0) != blocks || out.size(1) != rows || out.size(2) != run)
                return CheckResult{false, 0, 0,
                                   "output is " + std::string(c10::str(out.sizes())) + ", want [" +
                                       std::to_string(blocks) + ", " + std::to_string(rows) + ", " +
                                       std::to_string(run) + "]"};
              const HostCopy xd(x);
              return compare_elements(out, n, p, 1, "permute",
                                      [&](i64 o) { return xd.p[reference::moved_from(g, o)]; });
            },
            "Tensor::transpose(0, 1).contiguous() of [" + std::to_string(rows) + ", " + std::to_string(blocks) + ", " +
                std::to_string(run) + "]");
      }
      case OpKind::concat: {
        std::vector<at::Tensor> parts;
        std::vector<i64> starts{0};
        for (std::size_t i = 0; i < g.parts.size(); ++i) {
          parts.push_back(uniform({g.parts[i], cols}, dt, static_cast<std::uint64_t>(1 + i)));
          starts.push_back(starts.back() + g.parts[i] * cols);
        }
        return std::make_unique<TorchKernel>(
            [=] { return at::cat(at::TensorList(parts), 0); },
            [=](const at::Tensor& out) {
              CheckResult fail;
              if (!detail::same_sizes(out, rows, cols, fail)) return fail;
              std::vector<HostCopy> xs(parts.begin(), parts.end());
              return compare_elements(out, n, p, 1, "concat", [&](i64 i) {
                const auto k =
                    static_cast<std::size_t>(std::upper_bound(starts.begin(), starts.end(), i) - starts.begin() - 1);
                return xs[k].p[i - starts[k]];
              });
            },
            "at::cat of " + std::to_string(parts.size()) + " blocks of rows, dim 0");
      }
      default: detail::no_kernel(op.kind, "MoveKernel");
    }
  }
};

}  // namespace aten
}  // namespace hwcal
