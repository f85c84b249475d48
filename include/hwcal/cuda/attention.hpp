#pragma once
// softmax(Q K^T / sqrt(d) [+ causal mask]) V as frameworks run it
// (AttentionKernel). Q and O are [B][H][S][D], K and V [B][kv_heads][S][D];
// query head h reads KV head h / (H / kv_heads); the causal mask is aligned at
// the end (query i sees keys j <= i + seq_kv - seq_q, a KV cache).
//
// Paths, in the order they are tried; implementation() names the one that
// runs and why the ones before it did not:
//   fp16/bf16 decode (seq_q <= 16 and seq_kv > seq_q: the `decode` variant)
//     hwcal's split-KV kernel (flash-decoding, kernels/attention.cuh): a
//     block per (batch, KV head, chunk of the cache) for all the query heads
//     of the group, memory-bound on the K and V bytes, then a combine kernel
//   fp16/bf16 otherwise
//     1. cuDNN's fused flash attention through the graph API (SdpaGraph, what
//        PyTorch's cuDNN attention builds with cudnn-frontend): bmm, scale,
//        causal mask (top-left when seq_q == seq_kv, bottom-right otherwise),
//        softmax with its statistics, bmm; no dropout, no stats output
//     2. hwcal's FlashAttention-2-style kernel (mma.sync, online softmax)
//   every precision, and shapes the fused kernels reject (head_dim outside
//   32/64/96/128 for hwcal's kernels; fp32/tf32/fp64 always)
//     the chain PyTorch's math path runs: a batched cuBLASLt Q K^T (scale in
//     alpha), the row softmax kernel (causal mask), a batched cuBLASLt P V.
//     Grouped-query attention first repeats K and V to every query head, as
//     the math path does (PyTorch's SDPA with enable_gqa); the attention
//     fusion pattern's chain (AttentionChoice::chain) needs no copies: the
//     G = H / kv_heads query heads of a KV head are contiguous in Q, so each
//     product is one batch entry per (batch, KV head) with G * seq_q rows.
// A fused path is kept only if it builds, runs and reproduces a few sampled
// output rows against the reference at construction; otherwise the next path
// runs and the reason is recorded (a first run on a new device or library
// version never crashes the calibration, and says what went wrong).

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/cudnn_graph.hpp>
#include <hwcal/cuda/gemm.hpp>
#include <hwcal/reference.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace hwcal {
namespace cuda {

/// cuDNN's fused scaled-dot-product attention, inference, as one graph.
class SdpaGraph {
 public:
  struct Pointers {
    const void* q;
    const void* k;
    const void* v;
    void* o;
  };

  /// Throws UnavailableError when cuDNN cannot run this attention.
  SdpaGraph(cudnnHandle_t handle, const AttentionShape& s, Precision p, const Pointers& ptr, Algorithm algorithm,
            cudaStream_t stream)
      : scale_(static_cast<float>(1.0 / std::sqrt(static_cast<double>(s.head_dim)))),
        seq_kv_(static_cast<std::int32_t>(s.seq_kv)),
        seq_q_(static_cast<std::int32_t>(s.seq_q)),
        // cuDNN before 9.10 wants the lowest float as the mask value, later ones -inf (cudnn-frontend)
        masked_(cudnnGetVersion() < 91000 ? std::numeric_limits<float>::lowest()
                                          : -std::numeric_limits<float>::infinity()) {
    if (p != Precision::fp16 && p != Precision::bf16)
      throw UnavailableError("cuDNN fused attention runs fp16 and bf16 only");
    if (s.head_dim % 8 != 0 || s.head_dim > 256)
      throw UnavailableError("cuDNN fused attention needs head_dim a multiple of 8, at most 256");
    if (s.causal && s.seq_q > s.seq_kv)
      throw UnavailableError("cuDNN's bottom-right causal mask needs seq_q <= seq_kv");
    if (s.seq_q > std::numeric_limits<std::int32_t>::max() || s.seq_kv > std::numeric_limits<std::int32_t>::max())
      throw UnavailableError("sequence lengths beyond 2^31");
    build(handle, s, p, ptr, algorithm, stream);
  }
  SdpaGraph(const SdpaGraph&) = delete;
  SdpaGraph& operator=(const SdpaGraph&) = delete;

  void run() const { plan_->run(); }
  std::string describe() const { return plan_->describe(); }

 private:
  using Desc = detail::BackendDesc;

  const Desc& keep(Desc d) {
    keep_.push_back(std::move(d));
    return keep_.back();
  }
  const Desc& tensor(detail::TensorSpec t) { return keep(detail::tensor(t)); }
  const Desc& virtual_tensor(cudnnDataType_t type, const std::vector<std::int64_t>& dims,
                             const std::vector<std::int64_t>& strides) {
    return tensor({next_uid_++, type, dims, strides, true, false});
  }
  const Desc& scalar(std::int64_t uid, cudnnDataType_t type) {
    return tensor({uid, type, {1, 1, 1, 1}, {1, 1, 1, 1}, false, true});
  }
  void op(Desc d) { ops_.push_back(keep(std::move(d)).get()); }
  void pointwise(cudnnPointwiseMode_t mode, cudnnDataType_t math, const Desc& x, const Desc* b, const Desc* t,
                 const Desc& y, std::int64_t axis = -1) {
    op(detail::pointwise_op(mode, math, x, b, t, y, axis));
  }
  void matmul(const Desc& a, const Desc& b, const Desc& c) {
    Desc mm(CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    const double padding = 0.0;
    mm.set(CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, compute)
        .set(CUDNN_ATTR_MATMUL_PADDING_VALUE, CUDNN_TYPE_DOUBLE, padding)
        .finalize();
    Desc o(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    o.set(CUDNN_ATTR_OPERATION_MATMUL_ADESC, a)
        .set(CUDNN_ATTR_OPERATION_MATMUL_BDESC, b)
        .set(CUDNN_ATTR_OPERATION_MATMUL_CDESC, c)
        .set(CUDNN_ATTR_OPERATION_MATMUL_DESC, keep(std::move(mm)))
        .finalize();
    op(std::move(o));
  }
  void reduction(cudnnReduceTensorOp_t mode, const Desc& x, const Desc& y) {
    Desc r(CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    const cudnnDataType_t compute = CUDNN_DATA_FLOAT;
    r.set(CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, mode)
        .set(CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, compute)
        .finalize();
    Desc o(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    o.set(CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x)
        .set(CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y)
        .set(CUDNN_ATTR_OPERATION_REDUCTION_DESC, keep(std::move(r)))
        .finalize();
    op(std::move(o));
  }

  /// The graph cudnn-frontend's SDPA node expands to (inference, no bias, no dropout).
  void build(cudnnHandle_t handle, const AttentionShape& s, Precision p, const Pointers& ptr, Algorithm algorithm,
             cudaStream_t stream) {
    const std::int64_t b = s.batch, h = s.heads, hk = s.kv(), sq = s.seq_q, skv = s.seq_kv, d = s.head_dim;
    const cudnnDataType_t io = cudnn_type(storage_of(p)), f32 = CUDNN_DATA_FLOAT, i32 = CUDNN_DATA_INT32,
                          boolean = CUDNN_DATA_BOOLEAN;
    enum : std::int64_t { uid_q = 1, uid_k, uid_v, uid_o, uid_scale, uid_seq_kv, uid_seq_q, uid_masked };
    const Desc& q = tensor({uid_q, io, {b, h, sq, d}, {h * sq * d, sq * d, d, 1}, false, false});
    // The backend multiplies by K^T: K [b][hk][skv][d] seen as [b][hk][d][skv].
    const Desc& kt = tensor({uid_k, io, {b, hk, d, skv}, {hk * skv * d, skv * d, 1, d}, false, false});
    const Desc& v = tensor({uid_v, io, {b, hk, skv, d}, {hk * skv * d, skv * d, d, 1}, false, false});
    const Desc& o = tensor({uid_o, io, {b, h, sq, d}, {h * sq * d, sq * d, d, 1}, false, false});
    const std::vector<std::int64_t> sd{b, h, sq, skv}, ss{h * sq * skv, sq * skv, skv, 1};
    const std::vector<std::int64_t> rd{b, h, sq, 1}, rs{h * sq, sq, 1, 1};
    std::vector<std::int64_t> uids{uid_q, uid_k, uid_v, uid_o, uid_scale};
    std::vector<void*> data{const_cast<void*>(ptr.q), const_cast<void*>(ptr.k), const_cast<void*>(ptr.v), ptr.o,
                            &scale_};

    const Desc& scores = virtual_tensor(f32, sd, ss);
    matmul(q, kt, scores);
    const Desc& scaled = virtual_tensor(f32, sd, ss);
    const Desc& scale = scalar(uid_scale, f32);
    pointwise(CUDNN_POINTWISE_MUL, f32, scores, &scale, nullptr, scaled);
    const Desc* last = &scaled;
    if (s.causal) {
      // keep score (i, j) where row index >= column index; bottom-right: row + seq_kv - seq_q
      const Desc& row = virtual_tensor(i32, sd, ss);
      pointwise(CUDNN_POINTWISE_GEN_INDEX, f32, *last, nullptr, nullptr, row, 2);
      const Desc& col = virtual_tensor(i32, sd, ss);
      pointwise(CUDNN_POINTWISE_GEN_INDEX, f32, *last, nullptr, nullptr, col, 3);
      const Desc* diagonal = &row;
      if (sq != skv) {
        const Desc& plus_kv = virtual_tensor(i32, sd, ss);
        const Desc& seq_kv = scalar(uid_seq_kv, i32);
        pointwise(CUDNN_POINTWISE_ADD, i32, row, &seq_kv, nullptr, plus_kv);
        const Desc& shifted = virtual_tensor(i32, sd, ss);
        const Desc& seq_q = scalar(uid_seq_q, i32);
        pointwise(CUDNN_POINTWISE_SUB, i32, plus_kv, &seq_q, nullptr, shifted);
        diagonal = &shifted;
        uids.insert(uids.end(), {uid_seq_kv, uid_seq_q});
        data.insert(data.end(), {&seq_kv_, &seq_q_});
      }
      const Desc& visible = virtual_tensor(boolean, sd, ss);
      pointwise(CUDNN_POINTWISE_CMP_GE, boolean, *diagonal, &col, nullptr, visible);
      const Desc& masked = virtual_tensor(f32, sd, ss);
      const Desc& masked_value = scalar(uid_masked, f32);
      pointwise(CUDNN_POINTWISE_BINARY_SELECT, f32, *last, &masked_value, &visible, masked);
      last = &masked;
      uids.push_back(uid_masked);
      data.push_back(&masked_);
    }
    // softmax with statistics (flash attention's form): max, exp(x - max), sum, log-sum-exp, divide
    const Desc& max = virtual_tensor(f32, rd, rs);
    reduction(CUDNN_REDUCE_TENSOR_MAX, *last, max);
    const Desc& centred = virtual_tensor(f32, sd, ss);
    pointwise(CUDNN_POINTWISE_SUB, f32, *last, &max, nullptr, centred);
    const Desc& e = virtual_tensor(f32, sd, ss);
    pointwise(CUDNN_POINTWISE_EXP, f32, centred, nullptr, nullptr, e);
    const Desc& sum = virtual_tensor(f32, rd, rs);
    reduction(CUDNN_REDUCE_TENSOR_ADD, e, sum);
    const Desc& log_sum = virtual_tensor(f32, rd, rs);
    pointwise(CUDNN_POINTWISE_LOG, f32, sum, nullptr, nullptr, log_sum);
    const Desc& stats = virtual_tensor(f32, rd, rs);
    pointwise(CUDNN_POINTWISE_ADD, f32, max, &log_sum, nullptr, stats);
    const Desc& probs = virtual_tensor(io, sd, ss);  // the second product reads P at the input type
    pointwise(CUDNN_POINTWISE_DIV, f32, e, &sum, nullptr, probs);
    matmul(probs, v, o);

    Desc graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    graph
        .set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, ops_.data(),
             static_cast<std::int64_t>(ops_.size()))
        .set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, handle);
    if (!graph.try_finalize()) {
      char why[512] = {};
      cudnnGetLastErrorString(why, sizeof why);
      throw UnavailableError(std::string("cuDNN rejected the SDPA operation graph") +
                             (why[0] ? std::string(" (") + why + ")" : std::string()));
    }
    PlanChoice choice;
    choice.algorithm = algorithm;
    choice.candidates = 4;
    plan_ = std::make_unique<GraphPlan>(handle, graph, choice, std::move(uids), std::move(data), stream);
  }

  // By-value scalars: the variant pack points at these (stable: the object never moves).
  float scale_;
  std::int32_t seq_kv_, seq_q_;
  float masked_;
  std::int64_t next_uid_ = 100;
  std::deque<Desc> keep_;
  std::vector<cudnnBackendDescriptor_t> ops_;
  std::unique_ptr<GraphPlan> plan_;
};

/// Which kernel an AttentionKernel runs.
enum class AttentionPath : std::uint8_t { cudnn_sdpa, flash, decode, chain };

/// Which kernels an AttentionKernel may run.
enum class AttentionChoice : std::uint8_t {
  framework,  ///< what a framework runs: the fused paths in order, else the chain
  hwcal,      ///< hwcal's fused kernels only (flash, split-KV decode), else the chain
  chain,      ///< the chain (the attention fusion pattern's unfused half)
};

/// KV chunks per (batch, KV head) of the decode kernel: enough blocks to
/// fill the GPU about twice (three blocks per SM), each chunk at least 128
/// keys (two 16-key tiles per warp) and a multiple of 64.
inline void decode_split(const AttentionShape& s, int sm_count, int& splits, i64& chunk) {
  const i64 rows = s.heads / s.kv() * s.seq_q, base = s.batch * s.kv() * ((rows + 15) / 16);
  const i64 target = 2 * 3 * static_cast<i64>(sm_count);
  const i64 most = std::max<i64>(1, (s.seq_kv + 127) / 128);
  const i64 want = std::clamp<i64>((target + base - 1) / base, 1, most);
  chunk = ((s.seq_kv + want - 1) / want + 63) / 64 * 64;
  splits = static_cast<int>((s.seq_kv + chunk - 1) / chunk);
}

class AttentionKernel final : public CudaKernel {
 public:
  AttentionKernel(std::shared_ptr<DeviceContext> c, const OpDesc& op, Precision p,
                  AttentionChoice choice = AttentionChoice::framework)
      : CudaKernel(std::move(c)), precision_(p), shape_(std::get<AttentionShape>(op.shape)) {
    const AttentionShape& s = shape_;
    const DType t = storage_of(p);
    q_ = ctx().random(t, s.batch * s.heads * s.seq_q * s.head_dim, compute_input_lo, compute_input_hi);
    k_ = ctx().random(t, s.batch * s.kv() * s.seq_kv * s.head_dim, compute_input_lo, compute_input_hi);
    v_ = ctx().random(t, s.batch * s.kv() * s.seq_kv * s.head_dim, compute_input_lo, compute_input_hi);
    o_ = DeviceTensor(t, s.batch * s.heads * s.seq_q * s.head_dim);
    if (choice == AttentionChoice::chain)
      why_ = "unfused by request";
    else if (p != Precision::fp16 && p != Precision::bf16)
      why_ = "fused kernels run fp16 and bf16";
    else if (ShapeTraits<AttentionShape>::variant(s, OpKind::attention) == Variant::decode)
      try_path(AttentionPath::decode);
    else if (choice == AttentionChoice::hwcal || !try_path(AttentionPath::cudnn_sdpa))
      try_path(AttentionPath::flash);
    // A framework's math path with grouped-query attention (PyTorch's SDPA
    // with enable_gqa at fp32: the fused kernels take fp16 and bf16) first
    // repeats K and V to every query head; in a decode step those copies are
    // most of the bytes (llama decode, H200: 10.8 ms measured where the chain
    // without them predicted 1 ms).
    expand_kv_ =
        choice == AttentionChoice::framework && s.kv() < s.heads && (s.seq_kv * s.head_dim * dtype_bytes(t)) % 16 == 0;
    if (path_ == AttentionPath::chain) prepare_chain();
  }

  void run() override {
    switch (path_) {
      case AttentionPath::cudnn_sdpa: sdpa_->run(); break;
      case AttentionPath::flash: HWCAL_CUDA_CHECK(launch::flash_attention(o_.dtype, args_, stream())); break;
      case AttentionPath::decode: HWCAL_CUDA_CHECK(launch::decode_attention(o_.dtype, args_, stream())); break;
      case AttentionPath::chain: {
        const AttentionShape& s = shape_;
        if (expand_kv_) {
          const i64 block = s.seq_kv * s.head_dim * dtype_bytes(k_.dtype), group = s.heads / s.kv();
          HWCAL_CUDA_CHECK(launch::repeat_blocks(k_.get(), k_rep_.get(), s.batch * s.kv(), group, block, stream()));
          HWCAL_CUDA_CHECK(launch::repeat_blocks(v_.get(), v_rep_.get(), s.batch * s.kv(), group, block, stream()));
        }
        qk_->run(stream());
        HWCAL_CUDA_CHECK(launch::row_op(OpKind::softmax, scores_.dtype, scores_.get(), nullptr, nullptr, scores_.get(),
                                        s.batch * s.heads * s.seq_q, s.seq_kv, 0, s.causal ? s.seq_q : 0, stream()));
        pv_->run(stream());
        break;
      }
    }
  }

  CheckResult check() override {
    finish();
    return compare(reference::check_samples);
  }

  std::string implementation() const override {
    std::string s;
    switch (path_) {
      case AttentionPath::cudnn_sdpa: s = "cuDNN fused SDPA (graph API), " + sdpa_->describe(); break;
      case AttentionPath::flash: s = "hwcal flash-attention kernel (mma.sync m16n8k16, 64x64 tiles)"; break;
      case AttentionPath::decode:
        s = "hwcal split-KV decode kernel, " + std::to_string(args_.splits) + " chunks of " +
            std::to_string(args_.chunk) + " keys" + (args_.splits > 1 ? " + combine kernel" : "");
        break;
      case AttentionPath::chain:
        s = std::string(expand_kv_ ? "K and V repeated to every query head (a math path's repeat_interleave); " : "") +
            "QK^T: " + qk_->implementation() + "; softmax kernel; PV: " + pv_->implementation();
        break;
    }
    return why_.empty() ? s : s + " [" + why_ + "]";
  }

  AttentionPath path() const noexcept { return path_; }
  /// Why the paths before the one that runs were not taken (empty: none skipped).
  const std::string& fallback_reason() const noexcept { return why_; }

 private:
  /// Sets up a fused path, runs it once and compares a few rows with the
  /// reference; keeps it (true) or records why not and tears it down.
  bool try_path(AttentionPath path) {
    const AttentionShape& s = shape_;
    const std::string name = path == AttentionPath::cudnn_sdpa ? "cuDNN SDPA"
                             : path == AttentionPath::flash    ? "hwcal flash kernel"
                                                               : "hwcal decode kernel";
    try {
      if (path == AttentionPath::cudnn_sdpa) {
        sdpa_ = std::make_unique<SdpaGraph>(ctx().dnn(), s, precision_,
                                            SdpaGraph::Pointers{q_.get(), k_.get(), v_.get(), o_.get()},
                                            options().algorithm, stream());
      } else {
        if (!launch::fused_attention_head_dim(s.head_dim))
          throw UnavailableError("head_dim " + std::to_string(s.head_dim) + " (built for 32, 64, 96, 128)");
        args_ = {
            q_.get(),   k_.get(), v_.get(),
            o_.get(),   s.batch,  s.heads,
            s.kv(),     s.seq_q,  s.seq_kv,
            s.head_dim, s.causal, static_cast<float>(1.4426950408889634 / std::sqrt(static_cast<double>(s.head_dim)))};
        if (path == AttentionPath::decode) {
          decode_split(s, ctx().info().sm_count, args_.splits, args_.chunk);
          if (args_.splits > 1) {
            partial_ = DeviceBuffer(static_cast<std::int64_t>(args_.splits) * s.batch * s.heads * s.seq_q *
                                    (s.head_dim + 2) * static_cast<std::int64_t>(sizeof(float)));
            args_.partial = partial_.as<float>();
          }
        }
      }
      path_ = path;
      run();
      finish();
      const CheckResult probe = compare(4);
      if (!probe.ok) throw Error("wrong result: " + probe.detail);
      return true;
    } catch (const Error& e) {
      why_ += (why_.empty() ? "" : "; ") + name + " unavailable: " + e.what();
      path_ = AttentionPath::chain;
      sdpa_.reset();
      partial_ = DeviceBuffer();
      return false;
    }
  }

  /// Q K^T and P V as batched GEMMs, one batch entry per (batch, KV head):
  /// its G query heads are G * seq_q consecutive rows of Q, O and the scores.
  void prepare_chain() {
    const AttentionShape& s = shape_;
    // Expanded: one batch entry per query head; otherwise the G query heads
    // of a KV head are one entry of G * seq_q rows.
    const i64 entries = expand_kv_ ? s.batch * s.heads : s.batch * s.kv();
    const i64 rows = expand_kv_ ? s.seq_q : s.heads / s.kv() * s.seq_q;
    if (expand_kv_) {
      k_rep_ = DeviceTensor(k_.dtype, s.batch * s.heads * s.seq_kv * s.head_dim);
      v_rep_ = DeviceTensor(v_.dtype, s.batch * s.heads * s.seq_kv * s.head_dim);
    }
    const void* k = expand_kv_ ? k_rep_.get() : k_.get();
    const void* v = expand_kv_ ? v_rep_.get() : v_.get();
    scores_ = DeviceTensor(q_.dtype, s.batch * s.heads * s.seq_q * s.seq_kv);
    const double scale = 1.0 / std::sqrt(static_cast<double>(s.head_dim));
    qk_ = std::make_unique<LtGemm>(
        ctx().lt(), GemmProblem{precision_, BLayout::nk, entries, rows, s.seq_kv, s.head_dim, Epilogue::none, scale},
        LtGemm::Pointers{q_.get(), k, scores_.get(), nullptr, nullptr, nullptr}, ctx().gemm_workspace(),
        ctx().gemm_workspace_size());
    pv_ = std::make_unique<LtGemm>(
        ctx().lt(), GemmProblem{precision_, BLayout::kn, entries, rows, s.head_dim, s.seq_kv, Epilogue::none, 1.0},
        LtGemm::Pointers{scores_.get(), v, o_.get(), nullptr, nullptr, nullptr}, ctx().gemm_workspace(),
        ctx().gemm_workspace_size());
    qk_->choose(options().algorithm, stream());
    pv_->choose(options().algorithm, stream());
  }

  /// Compares `samples` output rows (all when there are fewer) with the
  /// reference. Rows come from at most four KV heads, so a check reads at
  /// most four heads of K and V whatever the cache length.
  CheckResult compare(int samples) const {
    const AttentionShape& s = shape_;
    const i64 d = s.head_dim, group = s.heads / s.kv();
    reference::SampledCheck chk(precision_, reduction_length(OpDesc{OpKind::attention, s}));
    hwcal::detail::Rng rng = sampler();
    const i64 kv_count = s.batch * s.kv();
    const i64 kv_heads[4] = {0, kv_count - 1, rng.below(kv_count), rng.below(kv_count)};
    std::map<i64, std::pair<std::vector<double>, std::vector<double>>> kv;
    // Rows whose causal window is empty (seq_q > seq_kv) have no reference value.
    const i64 first_row = s.causal && s.seq_q > s.seq_kv ? s.seq_q - s.seq_kv : 0;
    std::vector<double> want(static_cast<std::size_t>(d));
    for (int t = 0; t < samples; ++t) {
      const i64 kvh = kv_heads[rng.below(4)], head = (kvh % s.kv()) * group + rng.below(group);
      const i64 row = ((kvh / s.kv()) * s.heads + head) * s.seq_q + first_row + rng.below(s.seq_q - first_row);
      const i64 i = row % s.seq_q;
      auto& [k, v] = kv[kvh];
      if (k.empty()) {
        k = fetch(k_, kvh * s.seq_kv * d, s.seq_kv * d);
        v = fetch(v_, kvh * s.seq_kv * d, s.seq_kv * d);
      }
      // Query i of seq_q alone, as query 0 of seq_q - i: the same causal window.
      const std::vector<double> q = fetch(q_, row * d, d);
      const AttentionShape one{1, 1, s.seq_q - i, s.seq_kv, d, s.causal, 1};
      reference::attention_row(q.data(), k.data(), v.data(), one, 0, 0, 0, want.data());
      const std::vector<double> got = fetch(o_, row * d, d);
      for (i64 e = 0; e < d; ++e)
        chk.add(got[static_cast<std::size_t>(e)], want[static_cast<std::size_t>(e)], "O", row * d + e);
    }
    return chk.result();
  }

  Precision precision_;
  AttentionShape shape_;
  AttentionPath path_ = AttentionPath::chain;
  std::string why_;
  DeviceTensor q_, k_, v_, o_, scores_;
  DeviceTensor k_rep_, v_rep_;  ///< K and V repeated to every query head (expand_kv_)
  bool expand_kv_ = false;
  std::unique_ptr<SdpaGraph> sdpa_;
  launch::AttentionArgs args_;
  DeviceBuffer partial_;
  std::unique_ptr<LtGemm> qk_, pv_;
};

}  // namespace cuda
}  // namespace hwcal
