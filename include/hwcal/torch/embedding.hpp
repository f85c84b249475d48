#pragma once
// EmbeddingKernel: token-embedding lookup through at::embedding (nn.Embedding
// -> F.embedding), a [vocab][dim] table and int64 indices spread over the
// whole vocabulary, as a batch of real tokens is.

#include <hwcal/torch/guard.hpp>

#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/kernel.hpp>

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>

namespace hwcal {
namespace aten {

/// embedding (ShapeFamily::embedding).
struct EmbeddingKernel {
  static std::unique_ptr<TorchKernel> make(const OpDesc& op, Precision p, at::ScalarType dt) {
    const auto s = std::get<EmbeddingShape>(op.shape);
    const at::Tensor table = detail::uniform({s.vocab, s.dim}, dt, 1);
    const at::Tensor indices = at::empty({s.tokens}, at::TensorOptions().dtype(at::kLong));
    hwcal::detail::Rng rng(2);
    std::int64_t* idx = indices.data_ptr<std::int64_t>();
    for (i64 t = 0; t < s.tokens; ++t) idx[t] = rng.below(s.vocab);
    return std::make_unique<TorchKernel>(
        // nn.Embedding's defaults: no padding_idx (-1), no scale_grad_by_freq, dense
        [=] { return at::embedding(table, indices, -1, false, false); },
        [=](const at::Tensor& out) {
          CheckResult fail{false, 0, 0, {}};
          if (out.dim() != 2 || out.size(0) != s.tokens || out.size(1) != s.dim) {
            fail.detail = "output is " + std::string(c10::str(out.sizes())) + ", want [tokens, dim]";
            return fail;
          }
          const std::int64_t* row = indices.data_ptr<std::int64_t>();
          // A gather has nothing to round: out[t][j] = table[indices[t]][j]. Only the
          // sampled elements are read (an fp64 copy of a LLaMA table would take 4 GB).
          return detail::compare_elements(out, s.tokens * s.dim, p, 1, "embedding", [&](i64 i) {
            return table.select(0, row[i / s.dim]).select(0, i % s.dim).item<double>();
          });
        },
        "at::embedding (index_select of the table's rows)");
  }
};

}  // namespace aten
}  // namespace hwcal
