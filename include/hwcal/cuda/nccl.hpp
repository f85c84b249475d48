#pragma once
// NcclCommunicator: the collectives of GPUs 0 .. n-1 through NCCL, for
// calibrate_collectives() (collectives.hpp).
//
// Process model: one process drives every GPU. ncclCommInitAll creates one
// communicator per GPU, and each collective is one ncclGroupStart/End around
// the n per-GPU calls, issued from one host thread. Why not one process per
// GPU (as torchrun runs a model): on one host both use the same NCCL
// transports (NVLink/P2P, shared memory) and the same kernels, so the device
// time is the same; one process needs no launcher, no bootstrap network and
// no gathering of per-rank results, writes one profile, and can build the
// 2-, 4- and 8-GPU groups in turn. What differs is the host: eager calls are
// issued for all n GPUs by one thread, where each rank's process issues its
// own. Graph mode (the default prediction) does not depend on it; the eager
// curves say so in the profile (process_model) and docs/collectives.md keeps
// the multi-process plan for multi-node.
//
// Timing: CUDA events on every GPU's stream around `calls` back-to-back
// calls (graph mode: captured once per GPU into a CUDA graph and replayed;
// eager: issued one group call at a time); the slowest GPU's elapsed time
// divided by `calls`. all_to_all is grouped ncclSend/ncclRecv pairs, as
// torch.distributed's all_to_all_single runs it. The constructor checks one
// all_reduce's result; the timed calls run on zeros.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA || !HWCAL_HAS_NCCL
#error "hwcal/cuda/nccl.hpp needs the hwcal::nccl CMake target (NCCL found at configure time)"
#endif

#include <hwcal/collectives.hpp>
#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/nvml.hpp>
#include <hwcal/cuda/runtime.hpp>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <tuple>
#include <vector>

namespace hwcal {
namespace cuda {
namespace detail {

inline void check_nccl(ncclResult_t r, const char* call, const char* file, int line) {
  if (r != ncclSuccess)
    throw Error(std::string("NCCL error ") + ncclGetErrorString(r) + " in " + where(call, file, line));
}

}  // namespace detail

#define HWCAL_NCCL_CHECK(call) ::hwcal::cuda::detail::check_nccl((call), #call, __FILE__, __LINE__)

/// NCCL's data type for a precision; false where NCCL has none.
inline bool nccl_type(Precision p, ncclDataType_t& out) noexcept {
  switch (p) {
    case Precision::fp64: out = ncclFloat64; return true;
    case Precision::fp32: out = ncclFloat32; return true;
    case Precision::fp16: out = ncclFloat16; return true;
    case Precision::bf16: out = ncclBfloat16; return true;
    case Precision::int8: out = ncclInt8; return true;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 24, 0)
    case Precision::fp8: out = ncclFloat8e4m3; return true;
#endif
    default: return false;
  }
}

class NcclCommunicator final : public Communicator {
 public:
  /// Communicators over GPUs 0 .. gpus-1. Throws UnavailableError when the
  /// machine has fewer.
  explicit NcclCommunicator(int gpus) : n_(gpus) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();
      count = 0;
    }
    if (gpus < 2 || gpus > count)
      throw UnavailableError("NCCL collectives on " + std::to_string(gpus) + " GPUs: this machine has " +
                             std::to_string(count));
    std::vector<int> devices(static_cast<std::size_t>(n_));
    for (int d = 0; d < n_; ++d) devices[static_cast<std::size_t>(d)] = d;
    comms_.resize(devices.size());
    HWCAL_NCCL_CHECK(ncclCommInitAll(comms_.data(), n_, devices.data()));
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      Rank r;
      HWCAL_CUDA_CHECK(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
      HWCAL_CUDA_CHECK(cudaEventCreate(&r.start));
      HWCAL_CUDA_CHECK(cudaEventCreate(&r.stop));
      ranks_.push_back(r);
    }
    verify();
  }
  ~NcclCommunicator() override {
    drop_graphs();
    int previous = 0;
    cudaGetDevice(&previous);
    for (int d = 0; d < static_cast<int>(ranks_.size()); ++d) {
      cudaSetDevice(d);  // no DeviceGuard: it throws, and a destructor must not
      Rank& r = ranks_[static_cast<std::size_t>(d)];
      cudaStreamSynchronize(r.stream);
      cudaFree(r.send);
      cudaFree(r.recv);
      cudaEventDestroy(r.start);
      cudaEventDestroy(r.stop);
      cudaStreamDestroy(r.stream);
    }
    for (ncclComm_t c : comms_)
      if (c) ncclCommDestroy(c);
    cudaSetDevice(previous);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int gpus() const override { return n_; }

  std::string unsupported(OpKind op, Precision p) const override {
    ncclDataType_t t;
    // named before the checks: on the path after them GCC sees no valid precision left and warns
    const std::string name(to_string(p));
    if (!is_collective(op)) return std::string(to_string(op)) + " is not a collective";
    if (p == Precision::tf32) return "tf32 is an arithmetic mode, not a storage format: its tensors travel as fp32";
    if (!nccl_type(p, t)) return "NCCL " + version() + " has no " + name + " data type";
    return {};
  }

  void reserve(std::int64_t bytes) override {
    if (bytes <= reserved_) return;
    drop_graphs();
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      Rank& r = ranks_[static_cast<std::size_t>(d)];
      HWCAL_CUDA_CHECK(cudaStreamSynchronize(r.stream));
      cudaFree(r.send);
      cudaFree(r.recv);
      r.send = r.recv = nullptr;
      HWCAL_CUDA_CHECK(cudaMalloc(&r.send, static_cast<std::size_t>(bytes)));
      HWCAL_CUDA_CHECK(cudaMalloc(&r.recv, static_cast<std::size_t>(bytes)));
      // zeros: finite in every type, so reductions take their normal path
      HWCAL_CUDA_CHECK(cudaMemset(r.send, 0, static_cast<std::size_t>(bytes)));
      HWCAL_CUDA_CHECK(cudaMemset(r.recv, 0, static_cast<std::size_t>(bytes)));
    }
    reserved_ = bytes;
  }

  double time_calls(OpKind op, Precision p, LaunchMode mode, std::int64_t bytes, int calls) override {
    if (bytes > reserved_)
      throw Error("NCCL communicator: " + std::to_string(bytes) + " B is more than the reserved buffers");
    if (const std::string why = unsupported(op, p); !why.empty()) throw UnavailableError(why);
    if (mode == LaunchMode::graph) capture(op, p, bytes, calls);
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      HWCAL_CUDA_CHECK(
          cudaEventRecord(ranks_[static_cast<std::size_t>(d)].start, ranks_[static_cast<std::size_t>(d)].stream));
    }
    if (mode == LaunchMode::graph) {
      for (int d = 0; d < n_; ++d) {
        DeviceGuard g(d);
        HWCAL_CUDA_CHECK(
            cudaGraphLaunch(graphs_[static_cast<std::size_t>(d)], ranks_[static_cast<std::size_t>(d)].stream));
      }
    } else {
      for (int i = 0; i < calls; ++i) enqueue(op, p, bytes);
    }
    double slowest = 0;
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      const Rank& r = ranks_[static_cast<std::size_t>(d)];
      HWCAL_CUDA_CHECK(cudaEventRecord(r.stop, r.stream));
    }
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      const Rank& r = ranks_[static_cast<std::size_t>(d)];
      HWCAL_CUDA_CHECK(cudaEventSynchronize(r.stop));
      float ms = 0;
      HWCAL_CUDA_CHECK(cudaEventElapsedTime(&ms, r.start, r.stop));
      slowest = std::max(slowest, double(ms) * 1e-3);
    }
    for (ncclComm_t c : comms_) {
      ncclResult_t async = ncclSuccess;
      HWCAL_NCCL_CHECK(ncclCommGetAsyncError(c, &async));
      HWCAL_NCCL_CHECK(async);
    }
    return slowest / calls;
  }

  CollectivesCalibration describe() const override {
    CollectivesCalibration c;
    c.library = "nccl";
    c.version = version();
    c.process_model =
        "one process drives every GPU: ncclCommInitAll over GPUs 0..n-1, each collective one "
        "ncclGroupStart/End of the n per-GPU calls from one host thread (torchrun runs one process per GPU; "
        "device time is the same, eager host issue differs)";
    std::string topo;
    auto& nvml = detail::Nvml::instance();
    for (int d = 0; d < n_; ++d) {
      const int links = nvml.ok() ? nvml.active_nvlinks(nvml.device_by_uuid(detail::device_uuid(d))) : -1;
      if (links >= 0) c.nvlinks.push_back(links);
      topo += (d ? "; " : "") + ("GPU" + std::to_string(d) + ": ") +
              (links >= 0 ? std::to_string(links) + " active NVLinks" : "NVLinks unknown (" + nvml.why_not() + ")");
      std::string p2p;
      for (int e = 0; e < n_; ++e) {
        if (e == d) continue;
        int access = 0, rank = 0;
        cudaDeviceGetP2PAttribute(&access, cudaDevP2PAttrAccessSupported, d, e);
        cudaDeviceGetP2PAttribute(&rank, cudaDevP2PAttrPerformanceRank, d, e);
        cudaGetLastError();
        p2p += (p2p.empty() ? "" : " ") + std::to_string(e) + (access ? ":r" + std::to_string(rank) : ":none");
      }
      topo += ", P2P to " + p2p;
    }
    if (static_cast<int>(c.nvlinks.size()) != n_) c.nvlinks.clear();
    c.topology = topo + " (P2P performance rank r: 0 best, CUDA's cudaDevP2PAttrPerformanceRank)";
    const char* algo = std::getenv("NCCL_ALGO");
    const char* proto = std::getenv("NCCL_PROTO");
    c.algorithm =
        (algo || proto)
            ? std::string("NCCL_ALGO=") + (algo ? algo : "(unset)") + " NCCL_PROTO=" + (proto ? proto : "(unset)")
            : "NCCL's own choice per call and size (its API does not report it; NCCL_DEBUG=INFO logs it)";
    c.timing =
        "CUDA events on every GPU's stream around back-to-back calls (graph: captured once per GPU in a CUDA "
        "graph and replayed; eager: one group call at a time from the host); the slowest GPU's elapsed time / "
        "calls, median of samples";
    return c;
  }

  std::string version() const {
    int v = 0;
    ncclGetVersion(&v);
    // since 2.9: major * 10000 + minor * 100 + patch
    return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
  }

 private:
  struct Rank {
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    void* send = nullptr;
    void* recv = nullptr;
  };

  /// A communicator that computes garbage fast is not a measurement: one
  /// fp32 all_reduce of GPU d's value d + 1 must give n (n + 1) / 2 everywhere.
  void verify() {
    constexpr std::size_t count = 256;
    reserve(std::int64_t{count} * 4);
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      const std::vector<float> v(count, float(d + 1));
      HWCAL_CUDA_CHECK(
          cudaMemcpy(ranks_[static_cast<std::size_t>(d)].send, v.data(), count * 4, cudaMemcpyHostToDevice));
    }
    enqueue(OpKind::all_reduce, Precision::fp32, std::int64_t{count} * 4);
    const float want = float(n_) * float(n_ + 1) / 2;
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      const Rank& r = ranks_[static_cast<std::size_t>(d)];
      HWCAL_CUDA_CHECK(cudaStreamSynchronize(r.stream));
      std::vector<float> got(count);
      HWCAL_CUDA_CHECK(cudaMemcpy(got.data(), r.recv, count * 4, cudaMemcpyDeviceToHost));
      for (float x : got)
        if (x != want)
          throw Error("NCCL all_reduce check failed on GPU " + std::to_string(d) + ": got " + std::to_string(x) +
                      ", want " + std::to_string(want));
      HWCAL_CUDA_CHECK(cudaMemset(r.send, 0, count * 4));
    }
  }

  /// One collective on every GPU, as one group call.
  void enqueue(OpKind op, Precision p, std::int64_t bytes) {
    ncclDataType_t t = ncclFloat32;
    nccl_type(p, t);
    const std::size_t e = static_cast<std::size_t>(element_bytes(p));
    const std::size_t count = static_cast<std::size_t>(bytes) / e, piece = count / static_cast<std::size_t>(n_);
    HWCAL_NCCL_CHECK(ncclGroupStart());
    for (int d = 0; d < n_; ++d) {
      const Rank& r = ranks_[static_cast<std::size_t>(d)];
      ncclComm_t c = comms_[static_cast<std::size_t>(d)];
      char* send = static_cast<char*>(r.send);
      char* recv = static_cast<char*>(r.recv);
      switch (op) {
        case OpKind::all_reduce: HWCAL_NCCL_CHECK(ncclAllReduce(send, recv, count, t, ncclSum, c, r.stream)); break;
        case OpKind::all_gather: HWCAL_NCCL_CHECK(ncclAllGather(send, recv, piece, t, c, r.stream)); break;
        case OpKind::reduce_scatter:
          HWCAL_NCCL_CHECK(ncclReduceScatter(send, recv, piece, t, ncclSum, c, r.stream));
          break;
        case OpKind::broadcast: HWCAL_NCCL_CHECK(ncclBroadcast(send, recv, count, t, 0, c, r.stream)); break;
        case OpKind::all_to_all:
          for (int peer = 0; peer < n_; ++peer) {
            const std::size_t off = static_cast<std::size_t>(peer) * piece * e;
            HWCAL_NCCL_CHECK(ncclSend(send + off, piece, t, peer, c, r.stream));
            HWCAL_NCCL_CHECK(ncclRecv(recv + off, piece, t, peer, c, r.stream));
          }
          break;
        case OpKind::send_recv:
          HWCAL_NCCL_CHECK(ncclSend(send, count, t, (d + 1) % n_, c, r.stream));
          HWCAL_NCCL_CHECK(ncclRecv(recv, count, t, (d + n_ - 1) % n_, c, r.stream));
          break;
        default: throw Error(std::string(to_string(op)) + " is not a collective");
      }
    }
    HWCAL_NCCL_CHECK(ncclGroupEnd());
  }

  /// The CUDA graphs of `calls` calls, one per GPU (the last ones kept).
  void capture(OpKind op, Precision p, std::int64_t bytes, int calls) {
    const auto key = std::make_tuple(op, p, bytes, calls);
    if (!graphs_.empty() && key == graph_key_) return;
    drop_graphs();
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      HWCAL_CUDA_CHECK(cudaStreamBeginCapture(ranks_[static_cast<std::size_t>(d)].stream, cudaStreamCaptureModeGlobal));
    }
    try {
      for (int i = 0; i < calls; ++i) enqueue(op, p, bytes);
    } catch (...) {
      // end every capture, so that the streams work again for the next size
      for (int d = 0; d < n_; ++d) {
        cudaSetDevice(d);
        cudaGraph_t partial = nullptr;
        if (cudaStreamEndCapture(ranks_[static_cast<std::size_t>(d)].stream, &partial) == cudaSuccess && partial)
          cudaGraphDestroy(partial);
      }
      cudaGetLastError();
      throw;
    }
    for (int d = 0; d < n_; ++d) {
      DeviceGuard g(d);
      const Rank& r = ranks_[static_cast<std::size_t>(d)];
      cudaGraph_t graph = nullptr;
      HWCAL_CUDA_CHECK(cudaStreamEndCapture(r.stream, &graph));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t made = cudaGraphInstantiate(&exec, graph, 0);
      cudaGraphDestroy(graph);
      HWCAL_CUDA_CHECK(made);
      graphs_.push_back(exec);
      HWCAL_CUDA_CHECK(cudaGraphUpload(exec, r.stream));  // the first replay times the calls, not the upload
    }
    graph_key_ = key;
  }

  void drop_graphs() noexcept {
    int previous = 0;
    cudaGetDevice(&previous);
    for (std::size_t d = 0; d < graphs_.size(); ++d) {
      cudaSetDevice(static_cast<int>(d));
      cudaStreamSynchronize(ranks_[d].stream);
      cudaGraphExecDestroy(graphs_[d]);
    }
    graphs_.clear();
    cudaSetDevice(previous);
  }

  int n_;
  std::vector<ncclComm_t> comms_;
  std::vector<Rank> ranks_;
  std::int64_t reserved_ = 0;
  std::vector<cudaGraphExec_t> graphs_;
  std::tuple<OpKind, Precision, std::int64_t, int> graph_key_{};
};

}  // namespace cuda
}  // namespace hwcal
