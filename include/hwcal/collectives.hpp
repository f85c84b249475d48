#pragma once
// Collective calibration: the six collectives (all_reduce, all_gather,
// reduce_scatter, all_to_all, broadcast, send_recv) timed over message sizes
// on a group of GPUs, for the profile's `collectives` section.
//
//   Communicator   one group of GPUs that can run a collective and time it
//                  (cuda/nccl.hpp: NCCL; tests: a synthetic one)
//   calibrate_collectives(comm, options)
//                  every collective x precision x launch mode over
//                  collective_sizes(): samples of time stats, the alpha-beta
//                  fit of each curve (detail/collective_model.hpp)
//
// The loop, the statistics and the fit know nothing of CUDA, so a fake
// communicator tests them on any machine. docs/collectives.md has the design.

#include <hwcal/detail/collective_model.hpp>
#include <hwcal/error.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/schema.hpp>
#include <hwcal/time_stats.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hwcal {

/// A group of GPUs that runs collectives among themselves.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int gpus() const = 0;
  /// Why the communicator cannot run `op` at precision p (empty: it can).
  virtual std::string unsupported(OpKind op, Precision p) const = 0;
  /// Seconds per call of `op` over a message of `bytes` per GPU, averaged
  /// over `calls` back-to-back calls (graph: captured once in a CUDA graph
  /// and replayed; eager: issued one by one), the slowest GPU's time.
  /// Buffers of at least `bytes` must have been reserved (reserve()).
  virtual double time_calls(OpKind op, Precision p, LaunchMode mode, std::int64_t bytes, int calls) = 0;
  /// Allocates send and receive buffers for messages up to `bytes`.
  virtual void reserve(std::int64_t bytes) = 0;
  /// The library, its version, topology and process model, for the profile
  /// (curves left empty).
  virtual CollectivesCalibration describe() const = 0;
};

struct CollectiveOptions {
  std::vector<int> gpu_counts;        ///< empty: 2, 4, 8, ... up to every GPU, and every GPU
  std::vector<OpKind> ops;            ///< empty: all six
  std::vector<Precision> precisions;  ///< empty: bf16, fp16, fp32 (quick: bf16)
  std::vector<LaunchMode> launches{LaunchMode::graph, LaunchMode::eager};
  bool quick = false;  ///< sizes 4x apart instead of 2x
  std::int64_t max_bytes = std::int64_t{1} << 30;
  int samples = 15;        ///< timed samples per size (quick: 7)
  double sample_s = 2e-3;  ///< target duration of one sample (calls per sample follow from it)
  int max_calls = 1000;    ///< calls per sample at most
};

/// Progress of a collective calibration: what is measured and how far.
using CollectiveProgress = std::function<void(const std::string& label, int done, int total)>;

namespace detail {

/// Message sizes of a collective calibration, ascending: 4 KiB to 1 GiB in
/// steps of 2x (quick: 4x), the range nccl-tests reports, from
/// latency-bound to bandwidth-bound on NVLink.
inline std::vector<std::int64_t> collective_sizes(bool quick) {
  std::vector<std::int64_t> v;
  for (std::int64_t b = std::int64_t{4} << 10; b <= std::int64_t{1} << 30; b *= quick ? 4 : 2) v.push_back(b);
  return v;
}

/// Median, MAD and p10/p90 of per-call times (ascending order not assumed).
inline TimeStats collective_stats(std::vector<double> t, int calls) {
  std::sort(t.begin(), t.end());
  auto quantile = [&](double q) {
    const double pos = q * double(t.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(pos);
    const std::size_t hi = std::min(lo + 1, t.size() - 1);
    return t[lo] + (pos - double(lo)) * (t[hi] - t[lo]);
  };
  TimeStats s;
  s.median_s = quantile(0.5);
  s.p10_s = quantile(0.1);
  s.p90_s = quantile(0.9);
  std::vector<double> dev;
  for (double x : t) dev.push_back(std::abs(x - s.median_s));
  std::sort(dev.begin(), dev.end());
  s.mad_s = dev[dev.size() / 2];
  s.samples = static_cast<int>(t.size());
  s.iterations = calls;
  s.converged = s.rel_spread() < 0.1;
  return s;
}

inline void fit_curve(CollectiveCurve& c) {
  std::vector<std::pair<double, double>> pts;
  for (const auto& s : c.samples) pts.push_back({double(s.bytes), s.time.median_s});
  const AlphaBeta f = fit_alpha_beta(pts);
  c.alpha_s = f.alpha_s;
  c.beta_gbps = f.bytes_per_s / 1e9;
  c.fit_error = max_relative_error(f, pts);
}

}  // namespace detail

/// Calibrates every requested collective on `comm`, one curve per (op,
/// precision, launch mode), sizes ascending. A size whose call fails ends
/// that curve there and is reported in `warnings` (never a silent gap).
inline std::vector<CollectiveCurve> calibrate_collectives(Communicator& comm, const CollectiveOptions& opt,
                                                          std::vector<std::string>& warnings,
                                                          const CollectiveProgress& progress = {}) {
  std::vector<OpKind> ops = opt.ops;
  if (ops.empty())
    for (const OpInfo& o : op_table)
      if (is_collective(o.kind)) ops.push_back(o.kind);
  for (OpKind k : ops)
    if (!is_collective(k))
      throw Error("calibrate_collectives: '" + std::string(to_string(k)) + "' is not a collective");
  std::vector<Precision> precisions = opt.precisions;
  if (precisions.empty())
    precisions = opt.quick ? std::vector<Precision>{Precision::bf16}
                           : std::vector<Precision>{Precision::bf16, Precision::fp16, Precision::fp32};
  std::vector<std::int64_t> sizes;
  for (std::int64_t b : detail::collective_sizes(opt.quick))
    if (b <= opt.max_bytes) sizes.push_back(b);
  if (sizes.empty()) throw Error("calibrate_collectives: max_bytes is below the smallest size (4 KiB)");
  const int samples = opt.quick ? std::min(opt.samples, 7) : opt.samples;
  const int gpus = comm.gpus();
  comm.reserve(sizes.back());

  std::vector<CollectiveCurve> curves;
  const int total = static_cast<int>(ops.size() * precisions.size() * opt.launches.size() * sizes.size());
  int done = 0;
  for (OpKind op : ops)
    for (Precision p : precisions)
      for (LaunchMode mode : opt.launches) {
        const std::string name = std::string(to_string(op)) + " " + std::string(to_string(p)) + " " +
                                 std::string(to_string(mode)) + " on " + std::to_string(gpus) + " GPUs";
        if (const std::string why = comm.unsupported(op, p); !why.empty()) {
          warnings.push_back(name + " not calibrated: " + why);
          done += static_cast<int>(sizes.size());
          continue;
        }
        CollectiveCurve c;
        c.op = op, c.gpus = gpus, c.precision = p, c.launch = mode;
        // whole elements, split into gpus equal pieces where the op splits the message
        const bool splits = op == OpKind::all_gather || op == OpKind::reduce_scatter || op == OpKind::all_to_all;
        const std::int64_t unit = std::int64_t{element_bytes(p)} * (splits ? gpus : 1);
        for (std::int64_t size : sizes) {
          const std::int64_t bytes = size - size % unit;  // 6 GPUs: 4 KiB -> 4092 B
          if (progress) progress(name + " " + std::to_string(bytes) + " B", done, total);
          ++done;
          try {
            // one warm-up call (NCCL sets up its connections on first use),
            // then calls per sample sized for opt.sample_s
            const double once = comm.time_calls(op, p, mode, bytes, 1);
            const int calls = std::clamp(static_cast<int>(opt.sample_s / std::max(once, 1e-7)), 1, opt.max_calls);
            std::vector<double> t;
            for (int i = 0; i < samples; ++i) t.push_back(comm.time_calls(op, p, mode, bytes, calls));
            c.samples.push_back({bytes, detail::collective_stats(std::move(t), calls)});
          } catch (const std::exception& e) {
            warnings.push_back(name + ": stopped at " + std::to_string(bytes) + " B: " + e.what());
            done += static_cast<int>(sizes.end() - std::find(sizes.begin(), sizes.end(), size)) - 1;
            break;
          }
        }
        if (c.samples.empty()) continue;
        detail::fit_curve(c);
        curves.push_back(std::move(c));
      }
  return curves;
}

}  // namespace hwcal
