#pragma once
// MoveKernel: copy, transpose, permute and concat on oneDNN's reorder and
// concat primitives, on the one geometry every backend uses
// (reference::move_geometry): copy and transpose reorder the rows x cols
// matrix (transpose to column-major, y[c][r] = x[r][c]); permute reorders
// [rows][blocks][run] to blocks outermost; concat joins blocks of parts[i]
// rows along dim 0.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <hwcal/onednn/detail.hpp>

#include <string>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

inline reference::MoveGeometry move_geometry(const OpDesc& op, Precision p) {
  return reference::move_geometry(op, element_bytes(p));
}

inline dnnl::primitive_desc_base move_pd(const Context& c, OpKind kind, const reference::MoveGeometry& g, dt t) {
  const md plain({g.rows, g.cols}, t, tag::ab);
  if (kind == OpKind::concat) {
    std::vector<md> inputs;
    for (i64 rows : g.parts) inputs.emplace_back(md({rows, g.cols}, t, tag::ab));
    return dnnl::concat::primitive_desc(plain, 0, inputs, c.engine, user_scratchpad());
  }
  if (kind == OpKind::permute) {
    // [rows][blocks][run] reordered so that blocks is the outer dimension in memory
    const dnnl::memory::dims d{g.rows, g.cols / g.run, g.run};
    return dnnl::reorder::primitive_desc(c.engine, md(d, t, tag::abc), c.engine, md(d, t, tag::bac), user_scratchpad());
  }
  const md to = kind == OpKind::transpose ? md({g.rows, g.cols}, t, tag::ba) : plain;
  return dnnl::reorder::primitive_desc(c.engine, plain, c.engine, to, user_scratchpad());
}

}  // namespace detail

class MoveKernel final : public detail::ChainKernel {
 public:
  MoveKernel(const detail::Context& c, const OpDesc& op, Precision p) : ChainKernel(c) {
    using namespace detail;
    const OpKind kind = op.kind;
    const reference::MoveGeometry g = move_geometry(op, p);
    const dt t = storage_type(p);
    const auto pd = move_pd(c, kind, g, t);
    const auto [lo, hi] = value_range(t);
    std::vector<float> want;  // what the output holds, in its physical order
    dnnl::memory y = make_output(c, pd.dst_desc());
    if (kind == OpKind::concat) {
      Args args{{DNNL_ARG_DST, y}};
      for (int i = 0; i < static_cast<int>(g.parts.size()); ++i) {
        Tensor x = make_random(c, pd.src_desc(i), tag::ab, static_cast<std::uint64_t>(1 + i), lo, hi);
        args.emplace(DNNL_ARG_MULTIPLE_SRC + i, x.mem);
        want.insert(want.end(), x.host.begin(), x.host.end());
      }
      add(pd, std::move(args));
    } else {
      Tensor x = make_random(c, pd.src_desc(), kind == OpKind::permute ? tag::abc : tag::ab, 1, lo, hi);
      add(pd, {{DNNL_ARG_FROM, x.mem}, {DNNL_ARG_TO, y}});
      want = std::move(x.host);
    }
    if (kind == OpKind::transpose || kind == OpKind::permute) {
      // Read the reordered output as the plain buffer it physically is.
      keep(y);
      y = dnnl::memory(md({g.cols, g.rows}, t, tag::ab), c.engine, y.get_data_handle());
      std::vector<float> moved(want.size());
      for (std::size_t o = 0; o < moved.size(); ++o)
        moved[o] = want[static_cast<std::size_t>(reference::moved_from(g, static_cast<i64>(o)))];
      want = std::move(moved);
    }
    set_output(y, tag::ab, [kind, p, want = std::move(want)](const std::vector<float>& out) {
      reference::SampledCheck chk(p, 1);
      for (i64 i : sample_indices(static_cast<i64>(want.size())))
        chk.add(out[static_cast<std::size_t>(i)], want[static_cast<std::size_t>(i)], to_string(kind).data(), i);
      return chk.result();
    });
  }
  static std::vector<dnnl::primitive_desc_base> plan(const detail::Context& c, const OpDesc& op, Precision p) {
    return {detail::move_pd(c, op.kind, detail::move_geometry(op, p), detail::storage_type(p))};
  }
  static std::string realisation(const OpDesc& op, Precision p) {
    const reference::MoveGeometry g = detail::move_geometry(op, p);
    const std::string matrix = "[" + std::to_string(g.rows) + "][" + std::to_string(g.cols) + "]";
    switch (op.kind) {
      case OpKind::transpose: return "reorder of the " + matrix + " matrix to column-major";
      case OpKind::permute:
        return "reorder of [" + std::to_string(g.rows) + "][" + std::to_string(g.cols / g.run) + "][" +
               std::to_string(g.run) + "] to [" + std::to_string(g.cols / g.run) + "][" + std::to_string(g.rows) +
               "][" + std::to_string(g.run) + "]";
      case OpKind::concat: {
        std::string t = "concat primitive along dim 0: [";
        for (std::size_t i = 0; i < g.parts.size(); ++i) t += (i ? ", " : "") + std::to_string(g.parts[i]);
        return t + "] rows of " + std::to_string(g.cols);
      }
      default: return "reorder between two plain " + matrix + " buffers";
    }
  }
};

}  // namespace onednn
}  // namespace hwcal
