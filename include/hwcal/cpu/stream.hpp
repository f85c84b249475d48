#pragma once
// Memory bandwidth: the four STREAM kernels (copy, scale, add, triad) at a
// DRAM-sized working set, and a triad working-set sweep from a few KiB to
// beyond the last cache that yields bandwidth per level. Bytes follow STREAM's
// convention (arrays read plus arrays written, write-allocate not counted) so
// numbers compare directly with a STREAM run. Arrays are first touched by the
// threads that use them (same static partition), as in STREAM.

#include <hwcal/cpu/common.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/schema.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hwcal {
namespace cpu {

enum class StreamKernel { copy, scale, add, triad };

inline const char* to_string(StreamKernel k) {
  switch (k) {
    case StreamKernel::copy: return "copy";
    case StreamKernel::scale: return "scale";
    case StreamKernel::add: return "add";
    case StreamKernel::triad: return "triad";
  }
  return "?";
}

/// Arrays read + written per element (STREAM's byte count).
inline int stream_arrays(StreamKernel k) { return (k == StreamKernel::copy || k == StreamKernel::scale) ? 2 : 3; }

/// Three double arrays of up to `capacity` elements each, first-touched by
/// `threads` with the static partition the kernels use.
class StreamArrays {
 public:
  StreamArrays(i64 capacity, int threads) : n_(capacity), threads_(threads) {
    a_.reset(new double[static_cast<std::size_t>(n_)]);
    b_.reset(new double[static_cast<std::size_t>(n_)]);
    c_.reset(new double[static_cast<std::size_t>(n_)]);
    touch(n_);
  }
  i64 capacity() const noexcept { return n_; }

  /// Runs one kernel over the first n elements.
  void run(StreamKernel k, i64 n) {
    double *a = a_.get(), *b = b_.get(), *c = c_.get();
    const double s = 3.0;
    parallel_for(threads_, n, [&](i64 i0, i64 i1) {
      switch (k) {
        case StreamKernel::copy:
          for (i64 i = i0; i < i1; ++i) c[i] = a[i];
          break;
        case StreamKernel::scale:
          for (i64 i = i0; i < i1; ++i) b[i] = s * c[i];
          break;
        case StreamKernel::add:
          for (i64 i = i0; i < i1; ++i) c[i] = a[i] + b[i];
          break;
        case StreamKernel::triad:
          for (i64 i = i0; i < i1; ++i) a[i] = b[i] + s * c[i];
          break;
      }
    });
    clobber_memory();
  }

  /// Re-partitions the first n elements among the threads (first touch).
  void touch(i64 n) {
    double *a = a_.get(), *b = b_.get(), *c = c_.get();
    parallel_for(threads_, n, [&](i64 i0, i64 i1) {
      for (i64 i = i0; i < i1; ++i) {
        a[i] = 1.0;
        b[i] = 2.0;
        c[i] = 0.0;
      }
    });
  }

 private:
  i64 n_;
  int threads_;
  std::unique_ptr<double[]> a_, b_, c_;
};

/// Bandwidth of one kernel over a working set of `working_set_bytes` (all
/// arrays together).
inline BandwidthPoint measure_stream(StreamArrays& arrays, StreamKernel k, i64 working_set_bytes, const MeasureOptions& opt) {
  const int nar = stream_arrays(k);
  const i64 n = std::min(arrays.capacity(), std::max<i64>(64, working_set_bytes / (nar * i64(sizeof(double)))));
  const Measurement m = measure([&] { arrays.run(k, n); }, opt);
  BandwidthPoint p;
  p.kernel = to_string(k);
  p.working_set_bytes = n * nar * i64(sizeof(double));
  p.gbps = static_cast<double>(p.working_set_bytes) / m.median_s / 1e9;
  p.time = to_time_stats(m);
  return p;
}

struct MemoryPlan {
  std::vector<i64> sweep_bytes;  ///< triad working sets
  i64 dram_bytes = 0;            ///< STREAM working set
  bool capped = false;           ///< DRAM set smaller than 4x the last cache
};

/// Working sets from 16 KiB to the DRAM size in steps of 2x (quick: 4x),
/// where the DRAM size is 4x the last cache, at least 256 MiB, at most a
/// quarter of memory and 2 GiB (quick: 512 MiB, so a quick calibration of a
/// machine with a huge last-level cache stays quick; `capped` says so).
inline MemoryPlan plan_memory(const HostInfo& host, bool quick) {
  MemoryPlan plan;
  const i64 llc = std::max({host.cache_bytes(3), host.cache_bytes(2), i64{1} << 20});
  i64 dram = std::max<i64>(4 * llc, i64{256} << 20);
  if (host.memory_bytes > 0) dram = std::min(dram, host.memory_bytes / 4);
  dram = std::min<i64>(dram, quick ? i64{512} << 20 : i64{2} << 30);
  plan.capped = dram < 4 * llc;
  plan.dram_bytes = dram;
  const i64 step = quick ? 4 : 2;
  for (i64 ws = i64{16} << 10; ws < dram; ws *= step) plan.sweep_bytes.push_back(ws);
  plan.sweep_bytes.push_back(dram);
  return plan;
}

/// Bandwidth per level from a sweep: the best point at a working set of at
/// most half the level's capacity (all threads' private caches together) and
/// above the previous level's; DRAM is the largest working set.
inline std::vector<MemoryLevel> derive_levels(const HostInfo& host, int threads, const std::vector<BandwidthPoint>& sweep) {
  std::vector<MemoryLevel> levels;
  if (sweep.empty()) return levels;
  i64 prev = 0;
  for (int lvl = 1; lvl <= 3; ++lvl) {
    i64 cap = host.cache_bytes(lvl);
    if (cap == 0) continue;
    for (const auto& c : host.caches)
      if (c.level == lvl && c.type != "Instruction" && c.shared_by <= 1) cap *= threads;  // private per core
    const BandwidthPoint* best = nullptr;
    for (const auto& p : sweep)
      if (p.working_set_bytes <= cap / 2 && p.working_set_bytes > prev / 2 && (!best || p.gbps > best->gbps)) best = &p;
    if (best) levels.push_back({"L" + std::to_string(lvl), cap, best->working_set_bytes, best->gbps});
    prev = cap;
  }
  const BandwidthPoint& last = sweep.back();
  levels.push_back({"DRAM", 0, last.working_set_bytes, last.gbps});
  return levels;
}

/// Full memory calibration. progress(done, total, label) is called per point;
/// notes about the plan go to `notes`.
inline MemoryCalibration calibrate_memory(const HostInfo& host, int threads, bool quick, const MeasureOptions& opt,
                                          const std::function<void(int, int, const std::string&)>& progress = {},
                                          std::vector<std::string>* notes = nullptr) {
  const MemoryPlan plan = plan_memory(host, quick);
  if (plan.capped && notes)
    notes->push_back("memory: the largest working set (" + std::to_string(plan.dram_bytes >> 20) +
                     " MiB) is under 4x the last-level cache, so the DRAM level may read high");
  StreamArrays arrays(plan.dram_bytes / (2 * i64(sizeof(double))), threads);
  MemoryCalibration mem;
  const int total = static_cast<int>(plan.sweep_bytes.size()) + 4;
  int done = 0;
  for (i64 ws : plan.sweep_bytes) {
    if (progress) progress(done, total, "triad " + std::to_string(ws >> 10) + " KiB");
    // Large working sets run a handful of long samples; small ones many short.
    MeasureOptions o = opt;
    if (ws >= (i64{64} << 20)) o.min_samples = std::min(o.min_samples, 5);
    mem.sweep.push_back(measure_stream(arrays, StreamKernel::triad, ws, o));
    ++done;
  }
  for (StreamKernel k : {StreamKernel::copy, StreamKernel::scale, StreamKernel::add, StreamKernel::triad}) {
    if (progress) progress(done, total, std::string("STREAM ") + to_string(k));
    MeasureOptions o = opt;
    o.min_samples = std::min(o.min_samples, 5);
    mem.stream.push_back(measure_stream(arrays, k, plan.dram_bytes * stream_arrays(k) / 3, o));
    ++done;
  }
  mem.levels = derive_levels(host, threads, mem.sweep);
  return mem;
}

}  // namespace cpu
}  // namespace hwcal
