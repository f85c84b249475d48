#pragma once
// The timing harness every benchmark uses: warm up, batch short runs so one
// sample is long enough for the clock, repeat until the relative spread is
// small or a time cap is hit, and report the median with its spread.
//
// The stop rule follows nvbench: stop when MAD/median is under the target
// after at least min_samples and min_time_s, or at max_time_s / max_samples.
// A sample is the mean of `iterations` back-to-back runs; iterations is
// chosen once, after warm-up, so that a sample lasts at least min_sample_s.
// The time cap never leaves a long kernel with one or two samples: it applies
// from min_samples_at_cap on (and unconditionally at 4x max_time_s).

#include <hwcal/time_stats.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace hwcal {

/// Keeps a value alive so the optimizer cannot delete the work producing it.
template <class T>
inline void do_not_optimize(T const& value) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  asm volatile("" : : "r,m"(value) : "memory");
#else
  static volatile const T* sink;
  sink = &value;
#endif
}

/// Prevents the compiler from moving memory accesses across this point.
inline void clobber_memory() noexcept {
#if defined(__GNUC__) || defined(__clang__)
  asm volatile("" : : : "memory");
#endif
}

/// Monotonic wall clock in seconds.
inline double now_s() noexcept {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

struct MeasureOptions {
  double warmup_s = 0.01;       ///< run at least this long before sampling
  double min_sample_s = 50e-6;  ///< batch runs so a sample lasts at least this
  double min_time_s = 0.02;     ///< sample at least this long in total
  double max_time_s = 0.5;      ///< give up converging after this long...
  int min_samples_at_cap = 3;   ///< ...once this many samples exist (a median of 3 outvotes one outlier)
  int min_samples = 7;
  int max_samples = 400;
  double target_rel_spread = 0.01;  ///< stop when MAD/median falls under this

  /// Device timing (CUDA events around graph replays): steadier than a
  /// shared CPU, so fewer and shorter samples reach the same spread.
  static MeasureOptions device() {
    MeasureOptions o;
    o.warmup_s = 0.002;
    o.min_time_s = 0.003;
    o.max_time_s = 0.1;
    o.min_samples = 5;
    o.target_rel_spread = 0.01;
    return o;
  }

  /// Short runs for quick calibrations and tests.
  static MeasureOptions quick() {
    MeasureOptions o;
    o.warmup_s = 0.003;
    o.min_time_s = 0.005;
    o.max_time_s = 0.08;
    o.min_samples = 5;
    o.target_rel_spread = 0.02;
    return o;
  }
};

/// Summary statistics of one measurement, in seconds per run.
struct Measurement {
  double median_s = 0, mad_s = 0, p10_s = 0, p90_s = 0, min_s = 0, mean_s = 0;
  int samples = 0;
  std::int64_t iterations = 1;  ///< runs averaged into each sample
  double total_s = 0;           ///< wall time spent, warm-up included
  bool converged = false;       ///< spread target met before the caps
  std::string note;             ///< how it was timed when that differs from the usual (a fallback)
  /// |median of the second half of the samples - median of the first half| /
  /// median, samples in the order taken (0 under 6 samples): the machine's
  /// state changed during the measurement (another process started or
  /// stopped, a clock change).
  double drift = 0;

  double rel_spread() const noexcept { return median_s > 0 ? mad_s / median_s : 0; }
};

/// What a profile keeps of a measurement.
inline TimeStats to_time_stats(const Measurement& m) noexcept {
  return {m.median_s, m.mad_s, m.p10_s, m.p90_s, m.samples, m.iterations, m.converged};
}

namespace detail {
inline double quantile_sorted(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  // v[lo] + (v[hi] - v[lo]) * frac, not v[lo] * (1 - frac) + v[hi] * frac: the latter is
  // off by an ulp between equal neighbours, which put a p10 above its median
  return v[lo] + (v[hi] - v[lo]) * frac;
}
}  // namespace detail

/// Statistics of a set of per-run times (seconds).
inline Measurement summarize(std::vector<double> samples) {
  Measurement m;
  if (samples.empty()) return m;
  std::sort(samples.begin(), samples.end());
  m.samples = static_cast<int>(samples.size());
  m.median_s = detail::quantile_sorted(samples, 0.5);
  m.p10_s = detail::quantile_sorted(samples, 0.1);
  m.p90_s = detail::quantile_sorted(samples, 0.9);
  m.min_s = samples.front();
  double sum = 0;
  for (double s : samples) sum += s;
  m.mean_s = sum / static_cast<double>(samples.size());
  std::vector<double> dev(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) dev[i] = std::abs(samples[i] - m.median_s);
  std::sort(dev.begin(), dev.end());
  m.mad_s = detail::quantile_sorted(dev, 0.5);
  return m;
}

/// The one stopping rule of every timing loop, CPU and device (nvbench's):
/// keep sampling until at least min_samples and min_time_s are reached and
/// MAD/median is under target_rel_spread, or until a cap: max_samples, or
/// max_time_s once min_samples_at_cap samples exist (unconditionally at 4x
/// max_time_s), so a long kernel is never left with one or two samples.
/// Time is whatever clock the caller passes (seconds since sampling began).
class StopRule {
 public:
  explicit StopRule(const MeasureOptions& opt) : opt_(opt) {
    samples_.reserve(static_cast<std::size_t>(opt.min_samples) * 2);
  }

  void add(double seconds_per_run) { samples_.push_back(seconds_per_run); }

  /// Whether to stop, given the time spent sampling so far.
  bool done(double elapsed_s) {
    const int n = static_cast<int>(samples_.size());
    if (n >= opt_.min_samples && elapsed_s >= opt_.min_time_s &&
        summarize(samples_).rel_spread() <= opt_.target_rel_spread) {
      converged_ = true;
      return true;
    }
    return n >= opt_.max_samples || elapsed_s >= 4 * opt_.max_time_s ||
           (elapsed_s >= opt_.max_time_s && n >= opt_.min_samples_at_cap);
  }

  bool converged() const noexcept { return converged_; }
  std::vector<double>& samples() noexcept { return samples_; }

 private:
  MeasureOptions opt_;
  std::vector<double> samples_;
  bool converged_ = false;
};

/// The summary of a finished sampling loop, keeping its bookkeeping.
inline Measurement finish_measurement(std::vector<double> samples, std::int64_t iterations, bool converged,
                                      double start_s) {
  double drift = 0;
  if (samples.size() >= 6) {
    const auto half = static_cast<std::ptrdiff_t>(samples.size() / 2);
    const double a = summarize(std::vector<double>(samples.begin(), samples.begin() + half)).median_s;
    const double b = summarize(std::vector<double>(samples.end() - half, samples.end())).median_s;
    drift = std::abs(b - a);
  }
  Measurement m = summarize(std::move(samples));
  m.drift = m.median_s > 0 ? drift / m.median_s : 0;
  m.converged = converged;
  m.iterations = iterations;
  m.total_s = now_s() - start_s;
  return m;
}

/// Times `run` (one execution per call). `sync` is called after each batch of
/// runs before the clock is read, for asynchronous devices; CPU callers omit it.
template <class Run, class Sync, class = std::enable_if_t<std::is_invocable_v<Sync&>>>
Measurement measure(Run&& run, Sync&& sync, const MeasureOptions& opt = {}) {
  const double start = now_s();
  // Warm-up: also tells how long one run takes.
  std::int64_t warm_runs = 0;
  double t0 = now_s();
  do {
    run();
    sync();
    ++warm_runs;
  } while (now_s() - t0 < opt.warmup_s && warm_runs < 1000000);
  const double per_run = (now_s() - t0) / static_cast<double>(warm_runs);

  const std::int64_t iterations =
      std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(opt.min_sample_s / std::max(per_run, 1e-9))));
  StopRule rule(opt);
  const double sampling_start = now_s();
  for (;;) {
    const double a = now_s();
    for (std::int64_t i = 0; i < iterations; ++i) run();
    sync();
    const double b = now_s();
    rule.add((b - a) / static_cast<double>(iterations));
    if (rule.done(b - sampling_start)) break;
  }
  return finish_measurement(std::move(rule.samples()), iterations, rule.converged(), start);
}

template <class Run>
Measurement measure(Run&& run, const MeasureOptions& opt = {}) {
  return measure(
      std::forward<Run>(run), [] {}, opt);
}

/// Times single runs of `run`, calling `prepare` (untimed) before each: for
/// in-place kernels, where every run must start from the state `prepare`
/// leaves. Same stop rule; a sample is one run.
template <class Run, class Prepare>
Measurement measure_each(Run&& run, Prepare&& prepare, const MeasureOptions& opt = {}) {
  const double start = now_s();
  prepare();
  run();  // warm the code, not the data
  StopRule rule(opt);
  const double sampling_start = now_s();
  for (;;) {
    prepare();
    const double a = now_s();
    run();
    const double b = now_s();
    rule.add(b - a);
    if (rule.done(b - sampling_start)) break;
  }
  return finish_measurement(std::move(rule.samples()), 1, rule.converged(), start);
}

}  // namespace hwcal
