#pragma once
// Plumbing shared by the oneDNN kernels: the engine and stream a backend
// shares, inputs filled once at make() (and the plain fp32 copy the reference
// reads), the primitive descriptors several families build (eltwise, binary,
// softmax), and ChainKernel, a prepared sequence of primitives timed as one
// run, which every family's kernel class is.
//
// Every primitive descriptor is created with a user-managed scratchpad so
// run() never allocates one; the scratchpad memory is allocated at make().

#include <hwcal/config.hpp>

#if !HWCAL_HAS_ONEDNN
#error "hwcal/onednn/ needs oneDNN: link hwcal::onednn (or define HWCAL_HAS_ONEDNN=1 and link -ldnnl)"
#endif

#include <oneapi/dnnl/dnnl_debug.h>

#include <hwcal/error.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#if DNNL_CPU_THREADING_RUNTIME != DNNL_RUNTIME_OMP
#error "hwcal's oneDNN backend sets its threads through OpenMP: it needs oneDNN built with the OpenMP CPU runtime"
#endif
#if !HWCAL_HAS_OPENMP
#error "hwcal's oneDNN backend needs OpenMP (-fopenmp; the hwcal::hwcal target adds it when CMake finds OpenMP)"
#endif
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace hwcal {
namespace onednn {
namespace detail {

using dnnl::algorithm;
using dnnl::prop_kind;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;
using md = dnnl::memory::desc;
using Args = std::unordered_map<int, dnnl::memory>;

/// The engine and stream all kernels of one backend share, and the thread
/// count kernels are created and run with.
struct Context {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  int threads = 1;
};

/// Data types of the roles of a compute op at a precision. int8 is the
/// inference-quantised form: u8 activations x s8 weights accumulated in s32,
/// written as f32 (dequantised output). Biases are f32 throughout.
struct Types {
  dt src, wei, dst;
};

inline Types types_of(Precision p) {
  switch (p) {
    case Precision::fp32: return {dt::f32, dt::f32, dt::f32};
    case Precision::bf16: return {dt::bf16, dt::bf16, dt::bf16};
    case Precision::fp16: return {dt::f16, dt::f16, dt::f16};
    case Precision::int8: return {dt::u8, dt::s8, dt::f32};
    default: break;
  }
  throw UnavailableError("onednn: no oneDNN data type for " + std::string(to_string(p)));
}

/// Data type of a tensor that is only moved (copy, transpose, concat).
inline dt storage_type(Precision p) { return p == Precision::int8 ? dt::s8 : types_of(p).src; }

inline dnnl::primitive_attr user_scratchpad(const dnnl::post_ops& po = dnnl::post_ops()) {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  a.set_post_ops(po);
  return a;
}

inline bool is_reference_impl(const dnnl::primitive_desc_base& pd) {
  return std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
}

/// A memory layout as oneDNN spells it, e.g. "bf16:aBcd16b": dimensions from
/// the slowest, upper case where blocked, then the inner blocks.
inline std::string format_of(const md& d) {
  const dnnl_memory_desc_t& c = d.data;
  std::string out = std::string(dnnl_dt2str(c.data_type)) + ":";
  if (c.format_kind != dnnl_blocked) return out + dnnl_fmt_kind2str(c.format_kind);
  const auto& b = c.format_desc.blocking;
  std::vector<int> order(static_cast<std::size_t>(c.ndims));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return b.strides[x] > b.strides[y]; });
  for (int i : order) {
    bool blocked = false;
    for (int j = 0; j < b.inner_nblks; ++j) blocked = blocked || b.inner_idxs[j] == i;
    out += static_cast<char>((blocked ? 'A' : 'a') + i);
  }
  for (int j = 0; j < b.inner_nblks; ++j)
    out += std::to_string(b.inner_blks[j]) + static_cast<char>('a' + b.inner_idxs[j]);
  return out;
}

inline std::string isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::all: return "all";
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
  }
  return "unknown";
}

/// Whether the CPU computes bf16 dot products in hardware (avx512_bf16 or
/// AMX); without, oneDNN converts bf16 to fp32 around fp32 arithmetic.
/// ISA values are bit masks, each including the ISAs below it.
inline bool has_native_bf16() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}

/// A oneDNN memory and the plain fp32 values it holds, in the layout the
/// reference reads (already rounded to the memory's data type).
struct Tensor {
  dnnl::memory mem;
  std::vector<float> host;
};

inline std::size_t elements(const dims& d) {
  std::size_t n = 1;
  for (auto x : d) n *= static_cast<std::size_t>(x);
  return n;
}

/// Copies `from` into `to` converting layout and type (make and check time only).
inline void convert(const Context& c, dnnl::memory from, dnnl::memory to) {
  dnnl::stream s = c.stream;
  dnnl::reorder(from, to).execute(s, from, to);
  s.wait();
}

/// An input in `target` (any layout and type) holding `values`, given in the
/// plain fp32 layout `host_tag`; the tensor's host copy holds them rounded to
/// the target type, exactly what the memory holds.
inline Tensor make_input(const Context& c, const md& target, tag host_tag, std::vector<float> values) {
  Tensor t{dnnl::memory(target, c.engine), std::move(values)};
  dnnl::memory host(md(target.dims(), dt::f32, host_tag), c.engine, t.host.data());
  if (target.data_type() == dt::f32) {
    convert(c, host, t.mem);
    return t;
  }
  // Round through a plain memory of the target type and read that back:
  // blocked int8 weights may carry extra data that does not reorder back.
  dnnl::memory low(md(target.dims(), target.data_type(), host_tag), c.engine);
  convert(c, host, low);
  convert(c, low, host);
  convert(c, low, t.mem);
  return t;
}

/// An input filled with deterministic values in [lo, hi) (then rounded).
inline Tensor make_random(const Context& c, const md& target, tag host_tag, std::uint64_t seed, double lo = -1,
                          double hi = 1) {
  std::vector<float> values(elements(target.dims()));
  hwcal::detail::fill_uniform(values.data(), static_cast<i64>(values.size()), seed, lo, hi);
  return make_input(c, target, host_tag, std::move(values));
}

/// Input value range of a data type: [-1, 1) for floats; small integers for
/// int8 so that products and sums stay exact.
inline std::pair<double, double> value_range(dt t) {
  if (t == dt::u8) return {0, 32};
  if (t == dt::s8) return {-16, 16};
  return {-1, 1};
}

inline Tensor make_activation(const Context& c, const md& target, tag host_tag, std::uint64_t seed) {
  const auto [lo, hi] = value_range(target.data_type());
  return make_random(c, target, host_tag, seed, lo, hi);
}

/// An output, filled with NaN (all bits set) so a check before any run fails.
inline dnnl::memory make_output(const Context& c, const md& d) {
  dnnl::memory m(d, c.engine);
  std::memset(m.get_data_handle(), 0xff, d.get_size());
  return m;
}

/// The values of `m` as fp32 in the plain layout `host_tag` (outside timing).
inline std::vector<float> read(const Context& c, const dnnl::memory& m, tag host_tag) {
  const md d = m.get_desc();
  std::vector<float> out(elements(d.dims()));
  dnnl::memory host(md(d.dims(), dt::f32, host_tag), c.engine, out.data());
  convert(c, m, host);
  return out;
}

using reference::sample_indices;

/// Applied by checkers to the reference value of output channel `ch` (fused
/// activations, folded batchnorm); empty for none.
using Post = std::function<double(double value, i64 ch)>;

/// Epsilon of batch and layer normalisation: PyTorch's default.
inline constexpr float norm_eps = 1e-5f;

inline dnnl::eltwise_forward::primitive_desc eltwise_pd(const Context& c, const md& data, algorithm alg, float alpha,
                                                        float beta) {
  return {dnnl::eltwise_forward::desc(prop_kind::forward_inference, alg, data, alpha, beta), user_scratchpad(),
          c.engine};
}

inline dnnl::binary::primitive_desc binary_pd(const Context& c, algorithm alg, const md& a, const md& b, const md& dst,
                                              const dnnl::post_ops& po = dnnl::post_ops()) {
  return {dnnl::binary::desc(alg, a, b, dst), user_scratchpad(po), c.engine};
}

inline dnnl::softmax_forward::primitive_desc softmax_pd(const Context& c, const md& data, int axis) {
  return {dnnl::softmax_forward::desc(prop_kind::forward_inference, data, axis), user_scratchpad(), c.engine};
}

/// A prepared sequence of primitives on preallocated memories. run() executes
/// each once through the C API with argument arrays built at make(), so hwcal
/// allocates nothing per run; oneDNN itself builds a small argument map inside
/// each execute (a few bytes of heap, no tensors). The kernel classes of the
/// op families are chains their constructors build.
class ChainKernel : public Kernel {
 public:
  /// Compares the output (fp32, in the plain layout given to set_output).
  using Checker = std::function<CheckResult(const std::vector<float>&)>;

  explicit ChainKernel(Context c) : ctx_(std::move(c)) {}

  /// Appends a primitive; `pd` must have a user scratchpad (user_scratchpad()).
  void add(const dnnl::primitive_desc_base& pd, Args args) {
    const md scratch = pd.scratchpad_desc();
    if (scratch.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratch, ctx_.engine);
    Step s{dnnl::primitive(pd.get()), std::move(args), {}};
    for (const auto& [id, mem] : s.args) s.c_args.push_back({id, mem.get()});
    steps_.push_back(std::move(s));
    if (!impl_.empty()) impl_ += " -> ";
    impl_ += pd.impl_info_str();
    reference_impl_ = reference_impl_ || is_reference_impl(pd);
  }
  /// Keeps a memory alive that arguments only view.
  void keep(dnnl::memory m) { kept_.push_back(std::move(m)); }
  void describe(const std::string& s) { impl_ += " " + s; }
  void set_output(dnnl::memory out, tag host_tag, Checker checker) {
    output_ = std::move(out);
    output_tag_ = host_tag;
    checker_ = std::move(checker);
  }

  void run() override {
    // Primitives were created for this thread count and partition their work
    // for it; run them with the same count whichever thread calls.
    omp_set_num_threads(ctx_.threads);
    for (auto& s : steps_)
      dnnl::error::wrap_c_api(
          dnnl_primitive_execute(s.prim.get(), ctx_.stream.get(), static_cast<int>(s.c_args.size()), s.c_args.data()),
          "onednn: primitive execution failed");
    ctx_.stream.wait();
  }
  CheckResult check() override { return checker_(read(ctx_, output_, output_tag_)); }
  std::string implementation() const override { return impl_; }

  /// Whether a primitive runs oneDNN's scalar reference implementation.
  bool uses_reference_impl() const noexcept { return reference_impl_; }
  /// The output memory (tests corrupt it to see check() fail).
  const dnnl::memory& output() const noexcept { return output_; }

 private:
  struct Step {
    dnnl::primitive prim;
    Args args;
    std::vector<dnnl_exec_arg_t> c_args;
  };
  Context ctx_;
  std::vector<Step> steps_;
  std::vector<dnnl::memory> kept_;
  dnnl::memory output_;
  tag output_tag_ = tag::undef;
  Checker checker_;
  std::string impl_;
  bool reference_impl_ = false;
};

}  // namespace detail
}  // namespace onednn
}  // namespace hwcal
