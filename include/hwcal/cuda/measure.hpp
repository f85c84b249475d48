#pragma once
// Device timing with CUDA events and CUDA graphs, after nvbench and triton's
// do_bench. What a model's forward pass sees is a sequence of kernels with
// ~1 us between them (a CUDA-graph replay or a compiled runtime); a kernel
// timed alone between two events carries the event and launch latency
// instead (a 64-element add measured 3.8 us that way, 1.5 us in a graph).
// So:
//
//  - warm (Timer::measure): R back-to-back runs of the op are captured into
//    one CUDA graph and the graph is replayed between events; a sample is
//    the replay's time over R: the op's device time per launch inside a
//    graph, with its data where the previous run left it (in the L2 when it
//    fits, as when a layer is timed alone by replaying it). R is chosen so a
//    replay lasts ~100 us, which makes the replay's own launch cost vanish.
//  - cold (Timer::measure_cold): the same with an L2 flush (a read of at
//    least twice the L2, 256 MiB minimum) before every run, minus a graph of
//    the flushes alone: the op with its weights and inputs coming from
//    memory, as the weights of a model larger than the L2 do on every pass.
//    Flushing bandwidth would otherwise be overstated (do_bench: up to 1.6x).
//    The flush reads rather than writes (do_bench zeroes a buffer): a write
//    leaves the L2 full of dirty lines, and the timed op then pays for
//    writing them back, ~50 MB on an H200 (the memset flush put 6-11 us on
//    every cold sample, a 1 GB GEMV's included, which no L2 state explains).
//
// Both use the one stop rule of hwcal::measure (StopRule, include/hwcal/
// measure.hpp). With a ClockMonitor, clocks are sampled after each queued
// batch and samples of a batch taken while throttled are discarded
// (nvbench), unless that would discard everything.
//
// Every Kernel::run() of the backend is capturable (no allocation, no host
// synchronisation, no host copies): see CudaKernel.
//
// measure_launch_overhead() times an empty kernel: eager launch-to-launch on
// the host clock, per kernel inside a CUDA graph on the device clock, and a
// graph of one such kernel replayed alone between events (the start a whole
// forward pass replayed as one graph pays once).

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
#include <string>
#include <vector>

namespace hwcal {
namespace cuda {

/// A captured CUDA graph, instantiated. Capture with begin()/end() around the
/// launches on `stream`.
class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph() { reset(); }

  /// Captures what `enqueue()` launches on `stream` (thread-local capture mode:
  /// other threads' CUDA calls are not affected).
  template <class Enqueue>
  void capture(cudaStream_t stream, Enqueue&& enqueue) {
    reset();
    HWCAL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      enqueue();
    } catch (...) {
      cudaGraph_t g = nullptr;
      cudaStreamEndCapture(stream, &g);  // leave the stream usable
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();
      throw;
    }
    HWCAL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph_));
    HWCAL_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  }
  void launch(cudaStream_t stream) const { HWCAL_CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }

 private:
  void reset() noexcept {
    if (exec_) cudaGraphExecDestroy(exec_);
    if (graph_) cudaGraphDestroy(graph_);
    exec_ = nullptr;
    graph_ = nullptr;
  }
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

struct DeviceMeasureOptions {
  MeasureOptions stop = {};       ///< warm-up, stop rule and caps (seconds of wall time)
  double graph_s = 100e-6;        ///< device time one graph replay aims at
  int max_launches = 256;         ///< most runs captured into one graph
  int max_queued = 16;            ///< samples enqueued before the host waits for them
  bool discard_throttled = true;  ///< drop batches a ClockMonitor saw throttled

  static DeviceMeasureOptions quick() {
    DeviceMeasureOptions o;
    o.stop = MeasureOptions::quick();
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
    HWCAL_CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));
    sink_ = DeviceBuffer(std::int64_t{4} * sms_ * 16);  // the read kernel's per-block sink
    HWCAL_CUDA_CHECK(cudaMemset(flush_.get(), 0, static_cast<std::size_t>(flush_.bytes())));
  }

  int device() const noexcept { return device_; }
  std::int64_t flush_bytes() const noexcept { return flush_.bytes(); }

  /// Evicts the L2 by reading the flush buffer (enqueued on `stream`): the
  /// lines it leaves are clean.
  void flush_l2(cudaStream_t stream) {
    HWCAL_CUDA_CHECK(launch::bandwidth(BandwidthKernel::read, flush_.get(), sink_.get(), nullptr, flush_.bytes() / 16,
                                       1, sms_, stream));
  }

  /// Warm device time per launch of `run` (which enqueues exactly one
  /// execution on `stream`) inside a CUDA graph of back-to-back launches.
  template <class Run>
  Measurement measure(Run&& run, cudaStream_t stream, const DeviceMeasureOptions& opt = {},
                      ClockMonitor* clocks = nullptr) {
    DeviceGuard guard(device_);
    const double start = now_s();
    const double one = warm_up(run, stream, opt.stop.warmup_s);
    const int launches = std::clamp(static_cast<int>(std::ceil(opt.graph_s / one)), 1, opt.max_launches);
    Graph g;
    std::string why;
    try {
      g.capture(stream, [&] {
        for (int i = 0; i < launches; ++i) run();
      });
      g.launch(stream);  // the first replay uploads the graph
      HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream));
    } catch (const std::exception& e) {
      // A kernel that cannot be captured is still timed, back to back on the
      // stream (launch gaps of an eager stream instead of a graph's), and says so.
      why = std::string("timed as eager back-to-back launches: graph capture failed (") + e.what() + ")";
      cudaGetLastError();
      HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream));
    }
    Measurement m = why.empty() ? sample([&](int) { g.launch(stream); }, stream, one * launches, opt, clocks,
                                         [&](double s) { return s / launches; })
                                : sample(
                                      [&](int) {
                                        for (int i = 0; i < launches; ++i) run();
                                      },
                                      stream, one * launches, opt, clocks, [&](double s) { return s / launches; });
    m.iterations = launches;
    m.total_s = now_s() - start;
    m.note = std::move(why);
    return m;
  }

  /// Cold device time per launch of `run`: each run after an L2 flush, in a
  /// graph, minus a graph of the flushes alone.
  template <class Run>
  Measurement measure_cold(Run&& run, cudaStream_t stream, const DeviceMeasureOptions& opt = {},
                           ClockMonitor* clocks = nullptr) {
    DeviceGuard guard(device_);
    const double start = now_s();
    const double one = warm_up(run, stream, opt.stop.warmup_s);
    // Few launches per graph: each carries a ~60 us flush.
    const int launches = std::clamp(static_cast<int>(std::ceil(opt.graph_s / (one + flush_time(stream)))), 1, 8);
    Graph with, flushes;
    with.capture(stream, [&] {
      for (int i = 0; i < launches; ++i) {
        flush_l2(stream);
        run();
      }
    });
    flushes.capture(stream, [&] {
      for (int i = 0; i < launches; ++i) flush_l2(stream);
    });
    with.launch(stream);
    flushes.launch(stream);
    HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream));
    // A sample pairs one replay of each, back to back, so slow drifts cancel.
    ensure_events(3);
    StopRule rule(opt.stop);
    std::vector<double> discarded;
    const double sampling_start = now_s();
    for (;;) {
      events_[0].record(stream);
      with.launch(stream);
      events_[1].record(stream);
      flushes.launch(stream);
      events_[2].record(stream);
      HWCAL_CUDA_CHECK(cudaEventSynchronize(events_[2].get()));
      const double a = events_[1].since(events_[0]) * 1e-3, b = events_[2].since(events_[1]) * 1e-3;
      const double s = std::max(a - b, 0.0) / launches;
      if (clocks && opt.discard_throttled && clocks->sample().throttled)
        discarded.push_back(s);
      else
        rule.add(s);
      if (rule.done(now_s() - sampling_start)) break;
    }
    // As in sample(): a run throttled throughout keeps its samples rather than
    // none (an H200 calibration once wrote a cold time of 0 samples).
    std::vector<double> samples = std::move(rule.samples());
    if (samples.empty()) samples = std::move(discarded);
    return finish_measurement(std::move(samples), launches, rule.converged(), start);
  }

  /// Device time of one flush (measured once).
  double flush_time(cudaStream_t stream) {
    if (flush_s_ > 0) return flush_s_;
    ensure_events(2);
    flush_l2(stream);  // first touch of the buffer is slower
    events_[0].record(stream);
    flush_l2(stream);
    events_[1].record(stream);
    HWCAL_CUDA_CHECK(cudaEventSynchronize(events_[1].get()));
    return flush_s_ = std::max(events_[1].since(events_[0]) * 1e-3, 1e-6);
  }

 private:
  /// Runs `run` eagerly for `seconds` (at least 3 times); returns the device
  /// time of one run (events around the last), at least 1 us.
  template <class Run>
  double warm_up(Run& run, cudaStream_t stream, double seconds) {
    ensure_events(2);
    double one = 0;
    int n = 0;
    const double t0 = now_s();
    do {
      events_[0].record(stream);
      run();
      events_[1].record(stream);
      HWCAL_CUDA_CHECK(cudaEventSynchronize(events_[1].get()));
      one = events_[1].since(events_[0]) * 1e-3;
      ++n;
    } while (n < 3 || now_s() - t0 < seconds);
    return std::max(one, 1e-6);
  }

  /// The sampling loop: `launch(q)` enqueues one sample's work; samples are
  /// queued `queued` at a time between events, then converted with `per`.
  template <class Launch, class Per>
  Measurement sample(Launch&& launch, cudaStream_t stream, double per_sample_s, const DeviceMeasureOptions& opt,
                     ClockMonitor* clocks, Per&& per) {
    // Queue ~2 ms of device time so the host stays ahead of the device.
    const int queued =
        std::clamp(static_cast<int>(2e-3 / std::max(per_sample_s, 1e-7)) + 1, 1, std::max(1, opt.max_queued));
    ensure_events(2 * queued);
    StopRule rule(opt.stop);
    std::vector<double> discarded;
    const double sampling_start = now_s();
    for (;;) {
      for (int q = 0; q < queued; ++q) {
        events_[static_cast<std::size_t>(2 * q)].record(stream);
        launch(q);
        events_[static_cast<std::size_t>(2 * q + 1)].record(stream);
      }
      HWCAL_CUDA_CHECK(cudaEventSynchronize(events_[static_cast<std::size_t>(2 * queued - 1)].get()));
      const bool throttled = clocks && opt.discard_throttled && clocks->sample().throttled;
      for (int q = 0; q < queued; ++q) {
        const double s =
            per(events_[static_cast<std::size_t>(2 * q + 1)].since(events_[static_cast<std::size_t>(2 * q)]) * 1e-3);
        if (throttled)
          discarded.push_back(s);
        else
          rule.add(s);
      }
      if (rule.done(now_s() - sampling_start)) break;
    }
    // A device throttled throughout still gets a number; the ClockMonitor says so.
    std::vector<double> samples = std::move(rule.samples());
    if (samples.empty()) samples = std::move(discarded);
    return finish_measurement(std::move(samples), 1, rule.converged(), now_s());
  }

  void ensure_events(int n) {
    while (static_cast<int>(events_.size()) < n) events_.emplace_back();
  }

  int device_;
  DeviceBuffer flush_, sink_;
  int sms_ = 0;
  double flush_s_ = 0;
  std::vector<Event> events_;
};

/// Cost of one kernel launch, seconds.
struct LaunchOverhead {
  Measurement eager;        ///< launch-to-launch on the host clock: what an eager framework pays per op, at best
  Measurement graph;        ///< per kernel inside a CUDA graph, device clock
  Measurement graph_alone;  ///< one replay of a graph of one kernel, between events on an idle stream
};

/// One replay of `graph` at a time, each between two events recorded right
/// around cudaGraphLaunch on a stream that has gone idle, device clock: how a
/// single forward pass replayed as a graph is timed (and run, one request at a
/// time), so the host's submission and the graph's start are in it.
inline Measurement measure_graph_alone(const Graph& graph, const Stream& stream, const MeasureOptions& opt) {
  const double start = now_s();
  const Event a, b;
  for (int i = 0; i < 10; ++i) graph.launch(stream.get());  // instantiation's first-launch costs
  stream.sync();
  StopRule rule(opt);
  const double t0 = now_s();
  do {
    a.record(stream.get());
    graph.launch(stream.get());
    b.record(stream.get());
    stream.sync();
    rule.add(static_cast<double>(b.since(a)) * 1e-3);
  } while (!rule.done(now_s() - t0));
  return finish_measurement(std::move(rule.samples()), 1, rule.converged(), start);
}

inline LaunchOverhead measure_launch_overhead(int device, const MeasureOptions& opt = {}) {
  DeviceGuard guard(device);
  Stream stream;
  LaunchOverhead out;
  out.eager = hwcal::measure([&] { HWCAL_CUDA_CHECK(launch::empty(stream.get())); }, [&] { stream.sync(); }, opt);
  Timer timer(device, 1);  // no flushes
  DeviceMeasureOptions o;
  o.stop = opt;
  o.graph_s = 200e-6;
  out.graph = timer.measure([&] { HWCAL_CUDA_CHECK(launch::empty(stream.get())); }, stream.get(), o);
  Graph one;
  one.capture(stream.get(), [&] { HWCAL_CUDA_CHECK(launch::empty(stream.get())); });
  out.graph_alone = measure_graph_alone(one, stream, opt);
  return out;
}

}  // namespace cuda
}  // namespace hwcal
