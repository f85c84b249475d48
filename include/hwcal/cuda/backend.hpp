#pragma once
// hwcal::cuda::CudaBackend: the Backend of one NVIDIA GPU. One kernel class
// per shape family, in the layout every backend shares:
//
//   matmul, linear       gemm.hpp        GemmKernel        cuBLASLt, fp64 fp32 tf32 fp16 bf16 int8 fp8
//   conv2d               conv.hpp        ConvKernel        cuDNN 9 graph API, legacy API fallback;
//                                                          fp64 fp32 tf32 fp16 bf16
//   attention            attention.hpp   AttentionKernel   cuDNN fused SDPA / hwcal flash and split-KV
//                                                          decode kernels (fp16, bf16); cuBLASLt QK^T ->
//                                                          softmax -> PV chain; fp64 fp32 tf32 fp16 bf16
//   *pool                pool.hpp        PoolKernel        hwcal kernels (kernels/*.cuh) from here on:
//   batchnorm            batchnorm.hpp   BatchNormKernel   fp64 fp32 fp16 bf16 (cuDNN, as PyTorch)
//   layernorm, rmsnorm,  rows.hpp        RowsKernel
//   softmax, reduce_mean
//   elementwise kinds    elementwise.hpp ElementwiseKernel (out of place and in place)
//   copy, transpose,     move.hpp        MoveKernel        also int8 and fp8 (1-byte elements)
//   permute, concat
//   rotary               rotary.hpp      RotaryKernel
//   embedding            embedding.hpp   EmbeddingKernel
//   fusion patterns      fusion.hpp
//
// CudaOptions (context.hpp) choose what a framework runs: the library's
// first heuristic choice (default) or the fastest candidate, and NCHW
// (default) or NHWC convolutions; software() and every support note record
// them. Kernel::run() enqueues on the backend's stream, returns, and can be
// captured in a CUDA graph (CudaKernel's contract); sync() waits. Never falls
// back to the CPU or to another precision: a missing device, or an (op,
// precision) without a native path, is an UnavailableError.
//
// A program using it compiles <hwcal/cuda/kernels/all.cuh> into exactly one
// .cu file (see launch.hpp); everything else builds with any C++17 compiler.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/attention.hpp>
#include <hwcal/cuda/bandwidth.hpp>
#include <hwcal/cuda/batchnorm.hpp>
#include <hwcal/cuda/context.hpp>
#include <hwcal/cuda/conv.hpp>
#include <hwcal/cuda/device.hpp>
#include <hwcal/cuda/elementwise.hpp>
#include <hwcal/cuda/embedding.hpp>
#include <hwcal/cuda/framework.hpp>
#include <hwcal/cuda/fusion.hpp>
#include <hwcal/cuda/gemm.hpp>
#include <hwcal/cuda/measure.hpp>
#include <hwcal/cuda/move.hpp>
#if HWCAL_HAS_NCCL
#include <hwcal/cuda/nccl.hpp>
#endif
#include <hwcal/cuda/nvml.hpp>
#include <hwcal/cuda/peaks.hpp>
#include <hwcal/cuda/pool.hpp>
#include <hwcal/cuda/rotary.hpp>
#include <hwcal/cuda/rows.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <memory>
#include <string>

namespace hwcal {
namespace cuda {

class CudaBackend final : public Backend {
 public:
  /// Throws UnavailableError when device `index` does not exist (no driver,
  /// no GPU, index out of range).
  explicit CudaBackend(int index = 0, CudaOptions options = {}) : ctx_(make_context(index, options)) {}

  std::string name() const override { return "cuda"; }
  std::string target() const override { return "cuda"; }
  nlohmann::json software() const override {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : software_versions()) j[k] = v;
    j["cuda_options"] = ctx_->options().describe();
    return j;
  }
  /// The GPU's parallelism is not a thread count: always 1.
  void set_threads(int) override {}
  int threads() const override { return 1; }

  const DeviceInfo& device() const noexcept { return ctx_->info(); }
  std::optional<DeviceInfo> device_info() const override { return ctx_->info(); }

  int device_count() const override {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }
  /// NCCL over GPUs 0 .. gpus-1 (whichever device this backend drives).
  std::unique_ptr<Communicator> make_communicator([[maybe_unused]] int gpus) override {
#if HWCAL_HAS_NCCL
    return std::make_unique<NcclCommunicator>(gpus);
#else
    throw UnavailableError(
        "this hwcal was built without NCCL (nccl.h and libnccl were not found when it was configured): "
        "no collectives");
#endif
  }
  const CudaOptions& options() const noexcept { return ctx_->options(); }
  cudaStream_t stream() const noexcept { return ctx_->stream(); }

  Support supports(const OpDesc& op, Precision p) const override {
    if (auto why = invalid_reason(op); !why.empty()) return {SupportLevel::unsupported, std::string(why)};
    if (is_collective(op.kind)) return {SupportLevel::unsupported, std::string(collective_not_kernel)};
    const DeviceInfo& d = ctx_->info();
    const int cc = d.cc_major * 10 + d.cc_minor;
    const bool low = p == Precision::int8 || p == Precision::fp8;
    switch (info(op.kind).family) {
      case ShapeFamily::matmul: {
        const auto& s = std::get<MatmulShape>(op.shape);
        const bool linear = op.kind == OpKind::linear;
        const BLayout b = linear || low ? BLayout::nk : BLayout::kn;
        const std::string why =
            gemm_unsupported_reason(p, b, linear ? s.batch * s.m : s.m, s.n, s.k,
                                    linear_post_ops(p, linear && s.bias).epilogue, d.cc_major, d.cc_minor);
        if (!why.empty()) return {SupportLevel::unsupported, why};
        if (p == Precision::tf32 && cc < 80) return {SupportLevel::unsupported, "tf32 needs compute capability 8.0"};
        break;
      }
      case ShapeFamily::conv2d:
        if (low)
          return {SupportLevel::unsupported,
                  "hwcal measures cuDNN convolutions at fp64, fp32, tf32, fp16 and bf16 only"};
        if ((p == Precision::tf32 || p == Precision::bf16) && cc < 80)
          return {SupportLevel::unsupported, std::string(to_string(p)) + " convolutions need compute capability 8.0"};
        if (p == Precision::fp64 && is_channels_last(op))
          return {SupportLevel::unsupported, "PyTorch runs fp64 convolutions NCHW whatever the tensors' layout"};
        break;
      case ShapeFamily::attention:
        if (low)
          return {SupportLevel::unsupported,
                  "attention runs at fp64, fp32, tf32, fp16 and bf16 (PyTorch has no int8/fp8 SDPA)"};
        break;
      case ShapeFamily::bytes:
        if (p == Precision::tf32) return {SupportLevel::unsupported, tf32_memory_note};
        if (std::get<BytesShape>(op.shape).bytes < element_bytes(p))
          return {SupportLevel::unsupported, "fewer bytes than one element"};
        break;
      default:  // pooling, batchnorm (cuDNN), rows, elementwise, rotary, embedding: hwcal's kernels
        if (p == Precision::tf32) return {SupportLevel::unsupported, tf32_memory_note};
        if (low)
          return {SupportLevel::unsupported, "memory-bound kernels run at fp64, fp32, fp16 and bf16 (as PyTorch)"};
        break;
    }
    const double need = device_bytes(op, p);
    if (need > 0.9 * static_cast<double>(d.memory_bytes))
      return {SupportLevel::unsupported, "needs " + std::to_string(static_cast<long long>(need / (1 << 20))) +
                                             " MiB of device memory, " + d.name + " has " +
                                             std::to_string(d.memory_bytes >> 20) + " MiB"};
    return {SupportLevel::native, note(op.kind, p)};
  }

  std::unique_ptr<Kernel> make(const OpDesc& op, Precision p) override {
    require(supports(op, p), std::string(to_string(op.kind)) + " at " + std::string(to_string(p)));
    DeviceGuard guard(ctx_->device());
    switch (info(op.kind).family) {
      case ShapeFamily::matmul: {
        const bool bias = op.kind == OpKind::linear && std::get<MatmulShape>(op.shape).bias;
        return std::make_unique<GemmKernel>(ctx_, op, p, linear_post_ops(p, bias));
      }
      case ShapeFamily::conv2d: return std::make_unique<ConvKernel>(ctx_, op, p, ConvPostOps{});
      case ShapeFamily::attention: return std::make_unique<AttentionKernel>(ctx_, op, p);
      case ShapeFamily::pool2d:
      case ShapeFamily::adaptive_pool: return std::make_unique<PoolKernel>(ctx_, op, p);
      case ShapeFamily::map: return std::make_unique<BatchNormKernel>(ctx_, op, p);
      case ShapeFamily::rows: return std::make_unique<RowsKernel>(ctx_, op, p);
      case ShapeFamily::elementwise: return std::make_unique<ElementwiseKernel>(ctx_, op, p);
      case ShapeFamily::bytes: return std::make_unique<MoveKernel>(ctx_, op, p);
      case ShapeFamily::rotary: return std::make_unique<RotaryKernel>(ctx_, op, p);
      case ShapeFamily::embedding: return std::make_unique<EmbeddingKernel>(ctx_, op, p);
      case ShapeFamily::collective: break;  // supports() refused it
    }
    throw UnavailableError("cuda backend: no kernel for " + std::string(to_string(op.kind)));
  }

  Support supports_fusion(FusionPattern f, Precision p) const override { return fusion_support(f, p, ctx_->options()); }

  FusionKernels make_fusion(FusionPattern f, const OpDesc& main, Precision p) override {
    const std::string what = std::string(to_string(f)) + " at " + std::string(to_string(p));
    require(supports_fusion(f, p), what);
    if (main.kind != fusion_anchor(f))
      throw UnavailableError(what + ": the anchor op must be " + std::string(to_string(fusion_anchor(f))));
    require(supports(main, p), what);
    DeviceGuard guard(ctx_->device());
    return make_fusion_kernels(ctx_, f, main, p);
  }

  void sync() override {
    DeviceGuard guard(ctx_->device());
    ctx_->sync();
  }

  /// Warm device time per launch inside a CUDA graph of back-to-back
  /// launches (cuda/measure.hpp): what a graph replay of a model sees of the op.
  Measurement measure_kernel(Kernel& k, const MeasureOptions& opt) override {
    DeviceGuard guard(ctx_->device());
    DeviceMeasureOptions o;
    o.stop = opt;
    return timer().measure([&] { k.run(); }, ctx_->stream(), o, clocks());
  }

  /// The same with the L2 flushed before every launch (weights from memory).
  std::optional<Measurement> measure_kernel_cold(Kernel& k, const MeasureOptions& opt) override {
    DeviceGuard guard(ctx_->device());
    DeviceMeasureOptions o;
    o.stop = opt;
    return timer().measure_cold([&] { k.run(); }, ctx_->stream(), o, clocks());
  }

  std::string timing() const override {
    return "device time per launch inside a CUDA graph of back-to-back launches (CUDA events around graph replays), "
           "data warm where the previous launch left it; cold_time: each launch after an L2 flush (a read of " +
           std::to_string(const_cast<CudaBackend*>(this)->timer().flush_bytes() >> 20) +
           " MiB), minus a graph of the flushes alone";
  }

  /// Device block, theoretical peaks, the L2/HBM bandwidth sweep and the
  /// eager launch overhead.
  bool calibrate_target(HardwareCalibration& h, const TargetOptions& opt,
                        const std::function<void(const std::string&)>& progress) override {
    const int dev = ctx_->device();
    DeviceGuard guard(dev);
    h.device = ctx_->info();
    h.peaks = theoretical_peaks(*h.device);
    const BandwidthPeak hbm = dram_bandwidth(*h.device);
    h.warnings.push_back("theoretical DRAM bandwidth: " +
                         (hbm.gbps ? std::to_string(static_cast<long long>(*hbm.gbps)) + " GB/s (" : "unknown (") +
                         hbm.derivation + ")");
    if (opt.memory) {
      for (std::int64_t ws : bandwidth_sizes(std::int64_t{64} << 10, std::int64_t{1} << 30, opt.quick ? 1 : 2)) {
        progress("bandwidth: triad over " + std::to_string(ws >> 10) + " KiB");
        h.memory.sweep.push_back(measure_bandwidth(dev, BandwidthKernel::triad, ws, opt.measure, clocks()));
      }
      for (BandwidthKernel k : {BandwidthKernel::read, BandwidthKernel::copy, BandwidthKernel::triad}) {
        progress(std::string("bandwidth: ") + std::string(to_string(k)) + " over 1 GiB");
        h.memory.stream.push_back(measure_bandwidth(dev, k, std::int64_t{1} << 30, opt.measure, clocks()));
      }
      const BandwidthPoint* l2 = nullptr;
      for (const auto& p : h.memory.sweep)
        if (p.working_set_bytes <= h.device->l2_bytes / 2 && (!l2 || p.gbps > l2->gbps)) l2 = &p;
      if (l2) h.memory.levels.push_back({"L2", h.device->l2_bytes, l2->working_set_bytes, l2->gbps});
      const BandwidthPoint& last = h.memory.sweep.back();
      h.memory.levels.push_back({"HBM", 0, last.working_set_bytes, last.gbps});
    }
    progress("launch overhead");
    const LaunchOverhead lo = measure_launch_overhead(dev, opt.measure);
    h.overhead.per_call_s = lo.eager.median_s;
    h.overhead.graph_launch_s = lo.graph.median_s;
    // What a graph's replay adds beyond its one kernel: a model's forward pass pays it once.
    h.overhead.graph_start_s = std::max(0.0, lo.graph_alone.median_s - lo.graph.median_s);
    h.overhead.derivation =
        "empty kernel: eager launch-to-launch on the host clock (per_call_s), per kernel inside "
        "a CUDA graph of " +
        std::to_string(lo.graph.iterations) +
        " on the device clock (graph_launch_s), and a graph of one replayed alone between events on an idle "
        "stream, median of " +
        std::to_string(lo.graph_alone.samples) + ", less graph_launch_s (graph_start_s)";
    return true;
  }

  /// Clocks and throttling seen over the whole calibration.
  /// PyTorch's eager per-op host cost on this GPU (cuda/framework.hpp): what
  /// the mapper's eager mode overlaps with device time. Not measured, and
  /// said so, without a python3 whose torch sees the device.
  std::optional<FrameworkCost> framework_cost(const MeasureOptions& opt) override {
    return measure_framework_cost(ctx_->device(), opt);
  }

  void annotate_profile(HardwareCalibration& h) override {
    if (!h.device) return;
    if (!clocks_ || !clocks_->available()) {
      h.warnings.push_back("GPU clocks not sampled during the run: " +
                           (clocks_ ? clocks_->why_unavailable() : std::string("no samples")));
      return;
    }
    h.device->measured_sm_clock_mhz = clocks_->mean_sm_mhz();
    h.device->measured_mem_clock_mhz = clocks_->mean_mem_mhz();
    h.device->throttled = clocks_->throttled_samples() > 0;
    if (h.device->throttled)
      h.warnings.push_back("GPU throttled in " + std::to_string(clocks_->throttled_samples()) + " of " +
                           std::to_string(clocks_->samples()) +
                           " clock samples; throttled timing batches were discarded");
  }

 private:
  Timer& timer() {
    if (!timer_) timer_ = std::make_unique<Timer>(ctx_->device());
    return *timer_;
  }

  ClockMonitor* clocks() {
    if (!clocks_) clocks_ = std::make_unique<ClockMonitor>(ctx_->device());
    return clocks_->available() ? clocks_.get() : nullptr;
  }

  static constexpr const char* tf32_memory_note =
      "tf32 changes only tensor-core math; memory-bound ops at tf32 are the fp32 kernels (measure fp32)";

  static std::shared_ptr<DeviceContext> make_context(int index, const CudaOptions& options) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw UnavailableError(std::string("cuda backend: no usable CUDA device (") + cudaGetErrorName(e) + ": " +
                             cudaGetErrorString(e) + ")");
    }
    if (index < 0 || index >= n)
      throw UnavailableError("cuda backend: device " + std::to_string(index) + " requested, " + std::to_string(n) +
                             " CUDA devices visible");
    return std::make_shared<DeviceContext>(index, options);
  }

  static void require(const Support& s, const std::string& what) {
    if (!s.usable()) throw UnavailableError("cuda backend cannot run " + what + ": " + s.note);
  }

  /// The support note: the library or kernel and the options that choose it.
  std::string note(OpKind k, Precision p) const {
    const CudaOptions& o = ctx_->options();
    const std::string choice = o.algorithm == Algorithm::fastest ? "fastest candidate" : "first heuristic choice";
    switch (info(k).family) {
      case ShapeFamily::matmul:
        return std::string("cuBLASLt, ") +
               (p == Precision::int8   ? "int8 in, int32 out"
                : p == Precision::fp8  ? "e4m3 in, bf16 out, unit scales"
                : p == Precision::tf32 ? "CUBLAS_COMPUTE_32F_FAST_TF32"
                                       : "fp32 accumulate") +
               ", " + choice;
      case ShapeFamily::conv2d: return "cuDNN, " + std::string(to_string(o.conv_layout)) + ", " + choice;
      case ShapeFamily::attention:
        return p == Precision::fp16 || p == Precision::bf16
                   ? "fused: cuDNN SDPA, else hwcal flash / split-KV decode kernel (" + choice +
                         "); the cuBLASLt chain where neither runs the shape"
                   : "cuBLASLt QK^T + softmax kernel + cuBLASLt PV (PyTorch's math path), " + choice;
      default: return "hwcal CUDA kernel";
    }
  }

  /// Device memory an op's kernel allocates, bytes (inputs, outputs, scratch).
  static double device_bytes(const OpDesc& op, Precision p) {
    const double e = element_bytes(p);
    double b = bytes(op, p);
    if (const auto* m = std::get_if<MatmulShape>(&op.shape)) {
      const double out = static_cast<double>(m->batch) * m->m * m->n;
      b += out * (dtype_bytes(gemm_output_of(p)) - e);  // int32 / bf16 outputs
    } else if (const auto* a = std::get_if<AttentionShape>(&op.shape)) {
      b += static_cast<double>(a->batch) * a->heads * a->seq_q * a->seq_kv * e;  // scores, if the chain runs
    } else if (const auto* t = std::get_if<EmbeddingShape>(&op.shape)) {
      b += static_cast<double>(t->vocab - t->tokens) * t->dim * e;  // the whole table, not only the rows read
    }
    return b + static_cast<double>(gemm_workspace_bytes);
  }

  std::shared_ptr<DeviceContext> ctx_;
  std::unique_ptr<Timer> timer_;
  std::unique_ptr<ClockMonitor> clocks_;
};

}  // namespace cuda
}  // namespace hwcal
