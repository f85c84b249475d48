#pragma once
// Device timing with CUDA events, after nvbench and triton's do_bench.
//
//  - cold (default): before every sample the L2 is flushed by writing a buffer
//    of at least twice its size (256 MiB minimum, as do_bench) with
//    cudaMemsetAsync; the sample is one run between two events. Weights in a
//    real forward pass come from HBM, and do_bench overstated bandwidth up to
//    1.6x without the flush. Several samples are queued before the host waits,
//    so the flush (tens of microseconds) hides the host's launch latency and
//    the events time the GPU, not the CPU.
//  - warm: no flush; a sample is a batch of back-to-back runs between two
//    events, sized so it lasts at least min_sample_s. For tiny kernels, where
//    one launch is shorter than the event resolution.
//
// The stop rule is hwcal::measure's (include/hwcal/measure.hpp): at least
// min_samples and min_time_s, then stop when MAD/median <= target_rel_spread,
// or at max_time_s / max_samples. With a ClockMonitor, clocks are sampled
// after each queued batch and samples of a batch taken while throttled are
// discarded (nvbench), unless that would discard everything.
//
// measure_launch_overhead() times an empty kernel: eager launch-to-launch on
// the host clock, and per kernel inside a CUDA graph on the device clock.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/launch.hpp>
#include <hwcal/cuda/nvml.hpp>
#include <hwcal/cuda/runtime.hpp>
#include <hwcal/measure.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace hwcal {
namespace cuda {

enum class CacheState : std::uint8_t { cold, warm };

struct DeviceMeasureOptions {
  MeasureOptions stop = {};  ///< warm-up, stop rule and caps (seconds of wall time)
  CacheState cache = CacheState::cold;
  int max_queued = 16;            ///< samples enqueued before the host waits for them
  bool discard_throttled = true;  ///< drop batches a ClockMonitor saw throttled

  static DeviceMeasureOptions quick() {
    DeviceMeasureOptions o;
    o.stop = MeasureOptions::quick();
    return o;
  }
  static DeviceMeasureOptions warm_batches(MeasureOptions stop = {}) {
    DeviceMeasureOptions o;
    o.stop = stop;
    o.cache = CacheState::warm;
    return o;
  }
};

/// Owns what timing needs on one device: the L2 flush buffer and events.
class Timer {
 public:
  /// flush_bytes 0: max(256 MiB, 2 x L2 size) of `device`.
  explicit Timer(int device, std::int64_t flush_bytes = 0) : device_(device) {
    DeviceGuard guard(device);
    if (flush_bytes <= 0) {
      int l2 = 0;
      HWCAL_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
      flush_bytes = std::max<std::int64_t>(std::int64_t{256} << 20, 2 * static_cast<std::int64_t>(l2));
    }
    flush_ = DeviceBuffer(flush_bytes);
  }

  int device() const noexcept { return device_; }
  std::int64_t flush_bytes() const noexcept { return flush_.bytes(); }

  /// Evicts the L2 by overwriting the flush buffer (enqueued on `stream`).
  void flush_l2(cudaStream_t stream) {
    flush_value_ = (flush_value_ + 1) & 0xff;
    HWCAL_CUDA_CHECK(cudaMemsetAsync(flush_.get(), flush_value_, static_cast<std::size_t>(flush_.bytes()), stream));
  }

  /// Times `run` (enqueues exactly one execution on `stream`); seconds per run.
  template <class Run>
  Measurement measure(Run&& run, cudaStream_t stream, const DeviceMeasureOptions& opt = {},
                      ClockMonitor* clocks = nullptr) {
    DeviceGuard guard(device_);
    const double start = now_s();
    const bool cold = opt.cache == CacheState::cold;

    // Warm-up, which also estimates one run's device time.
    ensure_events(2);
    std::int64_t warm_runs = 0;
    double warm_device_s = 0;
    const double w0 = now_s();
    do {
      events_[0].record(stream);
      run();
      events_[1].record(stream);
      HWCAL_CUDA_CHECK(cudaEventSynchronize(events_[1].get()));
      warm_device_s += events_[1].since(events_[0]) * 1e-3;
      ++warm_runs;
    } while (now_s() - w0 < opt.stop.warmup_s && warm_runs < 100000);
    const double per_run = std::max(warm_device_s / static_cast<double>(warm_runs), 1e-7);

    Measurement m;
    m.iterations =
        cold ? 1 : std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(opt.stop.min_sample_s / per_run)));
    // Queue enough samples to cover ~2 ms of device time, so the host stays ahead.
    const double per_sample = per_run * static_cast<double>(m.iterations) + (cold ? flush_estimate_s_ : 0.0);
    const int queued = std::clamp(static_cast<int>(2e-3 / per_sample) + 1, 1, std::max(1, opt.max_queued));
    ensure_events(2 * queued);

    std::vector<double> samples, discarded;
    samples.reserve(static_cast<std::size_t>(opt.stop.min_samples) * 2);
    const double sampling_start = now_s();
    for (;;) {
      for (int q = 0; q < queued; ++q) {
        if (cold) flush_l2(stream);
        events_[2 * q].record(stream);
        for (std::int64_t i = 0; i < m.iterations; ++i) run();
        events_[2 * q + 1].record(stream);
      }
      HWCAL_CUDA_CHECK(cudaEventSynchronize(events_[2 * queued - 1].get()));
      const bool throttled = clocks && clocks->sample().throttled && opt.discard_throttled;
      for (int q = 0; q < queued; ++q) {
        const double s = events_[2 * q + 1].since(events_[2 * q]) * 1e-3 / static_cast<double>(m.iterations);
        (throttled ? discarded : samples).push_back(s);
      }

      const double elapsed = now_s() - sampling_start;
      const int n = static_cast<int>(samples.size());
      if (n >= opt.stop.max_samples || elapsed >= opt.stop.max_time_s) break;
      if (n >= opt.stop.min_samples && elapsed >= opt.stop.min_time_s &&
          summarize(samples).rel_spread() <= opt.stop.target_rel_spread) {
        m.converged = true;
        break;
      }
    }
    // A device throttled throughout still gets a number; the ClockMonitor says so.
    if (samples.empty()) samples = std::move(discarded);
    return finish_measurement(std::move(samples), m.iterations, m.converged, start);
  }

  /// Device time of one L2 flush, measured once (used to size queues).
  void calibrate_flush(cudaStream_t stream) {
    DeviceGuard guard(device_);
    ensure_events(2);
    flush_l2(stream);  // first touch of the buffer is slower
    events_[0].record(stream);
    flush_l2(stream);
    events_[1].record(stream);
    HWCAL_CUDA_CHECK(cudaEventSynchronize(events_[1].get()));
    flush_estimate_s_ = events_[1].since(events_[0]) * 1e-3;
  }

 private:
  void ensure_events(int n) {
    while (static_cast<int>(events_.size()) < n) events_.emplace_back();
  }

  int device_;
  DeviceBuffer flush_;
  int flush_value_ = 0;
  double flush_estimate_s_ = 100e-6;  // 256 MiB at ~3 TB/s, until calibrate_flush()
  std::vector<Event> events_;
};

/// Cost of one kernel launch, seconds.
struct LaunchOverhead {
  Measurement eager;  ///< launch-to-launch on the host clock: what an eager framework pays per op, at best
  Measurement graph;  ///< per kernel inside a CUDA graph, device clock
  int graph_kernels = 0;
};

inline LaunchOverhead measure_launch_overhead(int device, const MeasureOptions& opt = {}, int graph_kernels = 100) {
  DeviceGuard guard(device);
  Stream stream;
  LaunchOverhead out;
  out.graph_kernels = graph_kernels;
  out.eager = hwcal::measure([&] { HWCAL_CUDA_CHECK(launch::empty(stream.get())); }, [&] { stream.sync(); }, opt);

  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  HWCAL_CUDA_CHECK(cudaStreamBeginCapture(stream.get(), cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < graph_kernels; ++i) launch::empty(stream.get());
  HWCAL_CUDA_CHECK(cudaStreamEndCapture(stream.get(), &graph));
  struct GraphGuard {
    cudaGraph_t& g;
    cudaGraphExec_t& e;
    ~GraphGuard() {
      if (e) cudaGraphExecDestroy(e);
      if (g) cudaGraphDestroy(g);
    }
  } graph_guard{graph, exec};
  HWCAL_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

  Timer timer(device, 1);  // warm: no flush buffer needed
  out.graph = timer.measure([&] { HWCAL_CUDA_CHECK(cudaGraphLaunch(exec, stream.get())); }, stream.get(),
                            DeviceMeasureOptions::warm_batches(opt));
  const double k = graph_kernels;
  for (double* v :
       {&out.graph.median_s, &out.graph.mad_s, &out.graph.p10_s, &out.graph.p90_s, &out.graph.min_s, &out.graph.mean_s})
    *v /= k;
  return out;
}

}  // namespace cuda
}  // namespace hwcal
