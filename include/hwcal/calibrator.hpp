#pragma once
// The calibrator: measures a backend's target (peaks, memory, launch costs),
// then its ops and fusion patterns, under an optional time budget, reporting
// progress, and assembles a HardwareCalibration. The same phases for CPU and
// device targets:
//
//   target   peaks, the memory sweep, per-call costs (CPU here; devices in
//            Backend::calibrate_target)
//   plan     ops x precisions x sweep points (detail/sweeps.hpp), as curves
//   per point, round-robin over the curves:
//     build    Backend::make: inputs allocated and initialised
//     check    one run, compared with the reference (garbage fast is not a measurement)
//     measure  warm (Backend::measure_kernel), cold where the op has weights and
//              the backend times it; on CPUs the scheduler's counters are read
//              around it (cpu/contention.hpp: the CPU time other work took
//              from our threads, and other work busy on the CPUs beside ours);
//              re-measured at once, after waiting for quiet, when the first,
//              the spread or a drift say the machine was disturbed (busy
//              neighbours are left to the recheck);
//              dropped (and said) when the spread stays unusable
//   recheck  (CPUs) samples still disturbed, and samples far slower per unit of
//            work than both neighbours (detail/outliers.hpp), measured again in
//            up to two rounds; what stays disturbed is flagged per sample
//            (`disturbed`) and per curve (a "disturbed:" warning)
//   fusion   the same build/check/measure for each pattern, fused and unfused
//   collectives  (when asked) every collective on 2, 4, ... GPUs (collectives.hpp)
//   fit      per-call overhead, the framework's per-op cost, the fingerprint
//
// Budget: every op keeps its sweep order (coarse first) and the calibrator
// visits the ops round-robin, so stopping early leaves every op covered
// coarsely rather than some ops finely and others not at all. Points whose
// estimated cost no longer fits the remaining budget are skipped.

#include <hwcal/cpu/contention.hpp>
#include <hwcal/cpu/detect.hpp>
#include <hwcal/cpu/peak.hpp>
#include <hwcal/cpu/stream.hpp>
#include <hwcal/detail/bandwidth_model.hpp>
#include <hwcal/detail/fit.hpp>
#include <hwcal/detail/outliers.hpp>
#include <hwcal/detail/sweeps.hpp>
#include <hwcal/detail/text.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/schema.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace hwcal {

enum class CalibrationMode { quick, full };

struct Progress {
  std::string stage;  ///< "peaks", "memory", "operations", "fusion"
  std::string label;  ///< what is being measured now
  int done = 0, total = 0;
  double elapsed_s = 0;
  double eta_s = -1;  ///< < 0 when unknown
};
using ProgressFn = std::function<void(const Progress&)>;

/// Largest time budget accepted (a week): beyond it a budget is a mistake,
/// and budgets are turned into integer milliseconds (the cache key).
inline constexpr double max_budget_s = 7 * 24 * 3600.0;

/// Whether `budget_s` is a usable time budget (NaN is not).
inline bool valid_budget(double budget_s) noexcept { return budget_s > 0 && budget_s <= max_budget_s; }

struct CalibrationOptions {
  CalibrationMode mode = CalibrationMode::full;
  std::vector<OpKind> ops;  ///< empty: every op
  /// ECMAScript regular expression searched in each sweep point's shape label
  /// ("1x12 q64 kv64 d64"); empty: every point. Re-measures a few shapes of a
  /// profile (validation/gpu/merge_ops.py puts them back into the full one).
  std::string shapes;
  bool memory = true;  ///< bandwidth sweep + STREAM
  bool fusion = true;  ///< fusion patterns
  std::vector<Precision>
      precisions;       ///< empty: fp32 and fp64 (full) / fp32 (quick), + native low precisions for compute ops (full)
  int threads = 0;      ///< 0: every logical CPU
  double budget_s = 0;  ///< 0: no budget; else in (0, max_budget_s]
  /// CPU: the most seconds, all waits together, the calibration may wait for
  /// other work to leave its CPUs before measuring a disturbed point again
  /// (cpu/contention.hpp). Negative: 60 s (full), 10 s (quick), a tenth of
  /// the budget (budget), at most 60 s. 0: never wait.
  double quiet_wait_s = -1;
  std::optional<MeasureOptions> measure;  ///< default: from mode
  ProgressFn progress;
  std::string name;                              ///< profile label; default from the host
  std::optional<CollectiveOptions> collectives;  ///< also calibrate the collectives (device backends with 2+ GPUs)
};

namespace detail {

inline std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// One curve's worth of plan points, measured in order.
struct PlanCurve {
  OpKind kind;
  Precision precision;
  int threads;
  std::vector<OpDesc> points;
  std::size_t next = 0;
  double rate = 0;  ///< work per second seen so far (cost estimates)
};

/// Seconds one measurement of an op is expected to take, for budgeting: the
/// harness runs max(min_time, min_samples runs) after warm-up. `rate` is the
/// curve's throughput so far, or a guess from the target's peaks.
inline double estimate_cost(const OpDesc& op, Precision p, double rate, const MeasureOptions& m) {
  const double w = work(op, p);
  // Without any guess assume modest rates: 20 GFLOP/s, 5 GB/s.
  const double r = rate > 0 ? rate : (is_compute_op(op.kind) ? 20e9 : 5e9);
  const double run = w / r + 2e-6;
  return m.warmup_s + std::max(m.min_time_s, m.min_samples * run) + run * 2;
}

}  // namespace detail

/// Default precisions of a calibration: fp32 (quick CPU), plus what DNN
/// inference runs at on the target.
inline std::vector<Precision> default_precisions(CalibrationMode mode, const std::string& target = "cpu") {
  if (target != "cpu") {
    if (mode == CalibrationMode::quick) return {Precision::bf16, Precision::fp32, Precision::tf32, Precision::fp16};
    return {Precision::bf16, Precision::fp32, Precision::tf32, Precision::fp16,
            Precision::fp64, Precision::int8, Precision::fp8};
  }
  if (mode == CalibrationMode::quick) return {Precision::fp32};
  return {Precision::fp32, Precision::fp64, Precision::bf16, Precision::fp16, Precision::int8};
}

/// Every op a backend runs as a kernel (the collectives are calibrated
/// through a Communicator instead: collectives.hpp).
inline std::vector<OpKind> all_ops() {
  std::vector<OpKind> v;
  for (const OpInfo& o : op_table)
    if (!is_collective(o.kind)) v.push_back(o.kind);
  return v;
}

/// Identity of the machine and software a profile describes; auto_calibrate
/// caches by it and profile_mismatch() compares it.
inline std::string fingerprint(const HostInfo& host, const std::optional<DeviceInfo>& device,
                               const std::string& backend, const std::map<std::string, std::string>& software) {
  std::ostringstream os;
  os << "schema=" << schema_version << "|cpu=" << host.cpu_model << "|cpus=" << host.logical_cpus
     << "|arch=" << host.arch << "|isa=";
  for (const auto& f : host.isa) os << f << ',';
  os << "|backend=" << backend;
  for (const auto& kv : software)
    if (kv.first != "compiler") os << '|' << kv.first << '=' << kv.second;
  if (device)
    os << "|gpu=" << device->name << '|' << device->uuid << '|' << device->sm_count << '|' << device->max_sm_clock_mhz
       << '|' << device->max_mem_clock_mhz << '|' << device->memory_bytes << '|' << device->driver;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(detail::fnv1a(os.str())));
  return buf;
}

/// The backend's fixed cost of one call: the intercept of time vs bytes over
/// the small (L1-sized, <= 64 KiB) samples of its cheapest ops (relu, add,
/// copy; no broadcast), where the work itself is negligible. Ops with more
/// fixed cost get their own from their curves (detail/curve_set.hpp).
inline OverheadCalibration fit_overhead(const std::vector<OperationCalibration>& ops) {
  OverheadCalibration o;
  std::vector<double> intercepts;
  std::string used, examined;
  for (const auto& c : ops) {
    if ((c.op != OpKind::relu && c.op != OpKind::add && c.op != OpKind::copy) || c.variant == Variant::broadcast)
      continue;
    std::vector<std::pair<double, double>> pts;  // (bytes, seconds)
    for (const auto& s : c.samples)
      if (s.bytes <= 64 * 1024) pts.push_back({s.bytes, s.time.median_s});
    const std::string name = std::string(to_string(c.op)) + " " + std::string(to_string(c.precision));
    examined += (examined.empty() ? "" : ", ") + name;
    const std::optional<double> a = detail::fixed_cost(pts);
    if (!a) continue;
    intercepts.push_back(*a);
    used += (used.empty() ? "" : ", ") + name;
  }
  if (intercepts.empty()) {
    o.derivation = examined.empty() ? "not measured (no small relu, add or copy samples in this profile)"
                                    : "no fixed cost visible: the time of the small samples of " + examined +
                                          " grows with their work";
    return o;
  }
  std::sort(intercepts.begin(), intercepts.end());
  o.per_call_s = intercepts[intercepts.size() / 2];
  o.derivation = "median intercept of time vs bytes over the samples of at most 64 KiB of: " + used;
  return o;
}

namespace detail {

inline bool wanted(const std::vector<OpKind>& ops, OpKind k) {
  return ops.empty() || std::find(ops.begin(), ops.end(), k) != ops.end();
}

/// Precisions measured for an op: fp32 always; on CPUs, low precisions only
/// for compute ops (memory-bound CPU ops run in fp32 in frameworks); on
/// devices, every precision the backend supports.
inline bool precision_for(OpKind k, Precision p, bool explicit_list, bool cpu) {
  if (p == Precision::fp32 || explicit_list || !cpu) return true;
  if (p == Precision::fp64) return true;
  return is_compute_op(k);
}

/// Relative p10-p90 width above which a measurement is taken again: the
/// machine was disturbed (another process, a clock change), and a noisy
/// point would become a mis-prediction.
inline constexpr double noisy_spread = 0.25;
/// Above this after the retries, the point is dropped and said so.
inline constexpr double unusable_spread = 1.0;
inline constexpr int noise_retries = 2;
/// Change of the median between the two halves of one measurement above
/// which the machine's state changed while it ran (measure.hpp: drift).
inline constexpr double drift_limit = 0.2;
/// Two measurements of a point agree when their medians are this close.
inline constexpr double repeat_agreement = 0.1;

inline double spread_of(const Measurement& m) { return m.median_s > 0 ? (m.p90_s - m.p10_s) / m.median_s : 1e9; }

/// How clean one measurement was: the share of CPU time that other work took
/// from the threads measuring, the other work busy beside them on CPUs they
/// may not use (cpu/contention.hpp), its spread and drift.
struct Quality {
  double lost = 0, spread = 0, drift = 0, neighbours = 0;
  /// Nothing said the measurement was disturbed.
  bool clean() const noexcept { return steady() && neighbours <= cpu::disturbed_neighbours; }
  /// Our CPUs were ours and the samples agree: what measuring again at once
  /// can mend (other work beside us, e.g. a build, lasts longer than that).
  bool steady() const noexcept {
    return lost <= cpu::disturbed_share && spread <= noisy_spread && drift <= drift_limit;
  }
  std::string why() const {
    std::vector<std::string> r;
    if (lost > cpu::disturbed_share)
      r.push_back("other work took " + std::to_string(int(std::lround(100 * lost))) + "% of the CPU time");
    if (neighbours > cpu::disturbed_neighbours) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "other work busy on %.1f CPU(s) beside ours (shared caches, memory, cores)",
                    neighbours);
      r.push_back(buf);
    }
    if (spread > noisy_spread)
      r.push_back("p10-p90 spread " + std::to_string(int(std::lround(100 * spread))) + "% of the median");
    if (drift > drift_limit)
      r.push_back("median moved " + std::to_string(int(std::lround(100 * drift))) +
                  "% between the halves of the measurement");
    std::string out;
    for (const auto& x : r) out += (out.empty() ? "" : ", ") + x;
    return out;
  }
};

/// What the disturbance checks share over one calibration.
struct QuietState {
  bool probe = true;            ///< read the scheduler's counters (CPU targets)
  int threads = 1;              ///< threads measuring now
  cpu::QuietWaits waits;        ///< the time left to wait for quiet
  bool retry_disturbed = true;  ///< measure a disturbed point again at once (not under a budget)
};

/// Phase "measure" of one prepared kernel: warm (and cold when asked and the
/// backend can), re-measured while noisy or disturbed (after waiting, bounded,
/// for the machine to quiet down); the cleanest attempt is kept, and among
/// clean ones the fastest (other work only ever slows a run down). Empty
/// (with `why`) when it stays unusable.
struct Timed {
  Measurement warm;
  std::optional<Measurement> cold;
  int retries = 0;
  Quality quality;
};

inline std::optional<Timed> measure_point(Backend& backend, Kernel& kernel, bool cold, const MeasureOptions& mopt,
                                          std::string& why, QuietState* quiet = nullptr) {
  Timed t;
  const bool cpu_target = backend.target() == "cpu";
  auto once = [&](Quality& q) -> Measurement {
    cpu::DisturbanceProbe probe;
    Measurement m;
    // In-place kernels consume their input: on CPUs, time single runs,
    // restoring it first (untimed). A device kernel's time does not depend on
    // the values it reads, and single host-timed runs would time the host:
    // devices time them back to back like any other.
    if (kernel.needs_prepare() && cpu_target)
      m = measure_each([&] { kernel.run(); },
                       [&] {
                         kernel.prepare();
                         backend.sync();
                       },
                       mopt);
    else
      m = backend.measure_kernel(kernel, mopt);
    if (quiet && quiet->probe && cpu_target) {
      const cpu::Disturbance d = probe.stop();
      q.lost = d.lost_share(quiet->threads);
      q.neighbours = d.neighbour_cpus();
    }
    q.spread = spread_of(m);
    q.drift = m.drift;
    return m;
  };
  // a is better than b: clean first; among clean ones the faster; among the
  // others a usable spread, then the less disturbed, then the lesser spread
  auto better = [](const Measurement& a, const Quality& qa, const Measurement& b, const Quality& qb) {
    if (qa.clean() != qb.clean()) return qa.clean();
    if (qa.clean()) return a.median_s < b.median_s;
    if ((qa.spread <= unusable_spread) != (qb.spread <= unusable_spread)) return qa.spread <= unusable_spread;
    if (std::abs(qa.lost - qb.lost) > 0.02) return qa.lost < qb.lost;
    return qa.spread < qb.spread;
  };
  // Under a budget only a noisy spread is retried at once (as it would be
  // dropped otherwise); other disturbances wait for the recheck phase, which
  // spends only what the budget has left.
  auto retry = [&](const Quality& q) {
    return !q.steady() && (q.spread > noisy_spread || !quiet || quiet->retry_disturbed);
  };
  t.warm = once(t.quality);
  while (retry(t.quality) && t.retries < noise_retries) {
    ++t.retries;
    if (quiet && t.quality.lost > cpu::disturbed_share) quiet->waits.wait(quiet->threads, 2);
    Quality q;
    const Measurement again = once(q);
    if (better(again, q, t.warm, t.quality)) t.warm = again, t.quality = q;
  }
  if (spread_of(t.warm) > unusable_spread) {
    why = "p10-p90 spread " + std::to_string(static_cast<int>(100 * spread_of(t.warm))) + "% of the median after " +
          std::to_string(t.retries + 1) + " measurements: machine too noisy, sample dropped";
    return std::nullopt;
  }
  if (cold && !(kernel.needs_prepare() && cpu_target)) {
    t.cold = backend.measure_kernel_cold(kernel, mopt);
    // The flush difference can come out at zero (the flush alone as slow as
    // flush + op); the sample then keeps its warm time only.
    if (t.cold && !(t.cold->samples > 0 && t.cold->median_s > 0)) t.cold.reset();
  }
  return t;
}

/// Phases "build" and "check" of one point: the kernel, run once and checked.
/// `kernel` is empty (with `why`) when the output is wrong.
struct Built {
  std::unique_ptr<Kernel> kernel;
  CheckResult check;
};

inline Built build_checked(Backend& backend, const OpDesc& op, Precision p, std::string& why) {
  Built b{backend.make(op, p), {}};
  if (b.kernel->needs_prepare()) b.kernel->prepare();  // restore the input a previous run consumed
  b.kernel->run();
  b.check = b.kernel->check();
  if (!b.check.ok) {
    why = "correctness check failed (" + b.check.detail + "); sample discarded";
    b.kernel.reset();
  }
  return b;
}

/// Phase "plan": one curve per (op, precision[, thread count]) with the sweep
/// points the backend can run.
inline std::vector<PlanCurve> plan(const Backend& backend, const CalibrationOptions& opt,
                                   const std::vector<Precision>& precisions, bool explicit_precisions,
                                   HardwareCalibration& h) {
  const bool cpu_target = backend.target() == "cpu";
  const bool quick = opt.mode == CalibrationMode::quick;
  std::optional<std::regex> only;
  if (!opt.shapes.empty()) {
    try {
      only.emplace(opt.shapes, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw Error("calibrate(): shapes '" + opt.shapes + "' is not a regular expression: " + e.what());
    }
    const std::string shown = opt.shapes.size() <= 120 ? opt.shapes : opt.shapes.substr(0, 117) + "...";
    h.warnings.push_back("only the sweep points whose shape matches '" + shown +
                         "' were calibrated: a partial profile, to merge into a full one");
  }
  std::vector<PlanCurve> curves;
  for (OpKind k : all_ops()) {
    if (!wanted(opt.ops, k)) continue;
    const auto sweep = default_sweep(k, !cpu_target);
    for (Precision p : precisions) {
      if (!precision_for(k, p, explicit_precisions, cpu_target)) continue;
      // Primary precisions get full sweeps: fp32, what the user named first,
      // and on devices the formats inference runs at.
      const bool primary = p == Precision::fp32 || (explicit_precisions && precisions.front() == p) ||
                           (!cpu_target && (p == Precision::tf32 || p == Precision::bf16 || p == Precision::fp16));
      std::vector<OpDesc> pts;
      std::string why;
      for (const auto& sp : sweep) {
        // Secondary precisions measure the quick subset, except CPU GEMMs (a
        // device's GEMM sweep is dense enough that its quick subset covers it).
        const bool take =
            quick ? sp.quick : (primary || sp.quick || (cpu_target && (k == OpKind::matmul || k == OpKind::linear)));
        if (!take || (only && !std::regex_search(shape_label(sp.op), *only))) continue;
        const Support s = backend.supports(sp.op, p);
        if (s.usable())
          pts.push_back(sp.op);
        else if (why.empty())
          why = s.note;
      }
      if (pts.empty()) {
        if (only && why.empty()) continue;  // no point matched `shapes`
        if (explicit_precisions || p == Precision::fp32 || p == Precision::fp64)
          h.warnings.push_back(std::string(to_string(k)) + " " + std::string(to_string(p)) + " not calibrated: " + why);
        continue;
      }
      // Until a point is measured, budget with a third of the peak (compute)
      // or of the slowest measured bandwidth level (memory-bound ops).
      double guess = 0;
      if (is_compute_op(k)) {
        if (auto pk = h.peak_gflops(p)) guess = *pk * 1e9 / 3;
      } else if (!h.memory.levels.empty()) {
        guess = h.memory.levels.back().gbps * 1e9 / 3;
      }
      curves.push_back({k, p, h.threads, pts, 0, guess});
      // GEMMs also at one thread: single-thread efficiency is what one core of
      // a multi-tenant or pipelined deployment sees.
      if (h.threads > 1 && k == OpKind::matmul && p == Precision::fp32)
        curves.push_back(
            {k, p, 1,
             quick ? std::vector<OpDesc>(pts.begin(), pts.begin() + std::min<std::size_t>(pts.size(), 3)) : pts, 0,
             guess / h.threads});
    }
  }
  if (only && curves.empty())
    throw UnavailableError("calibrate(): no sweep point of the ops asked for has a shape matching '" + opt.shapes +
                           "'");
  return curves;
}

}  // namespace detail

/// GPU counts a collective calibration covers: `asked`, or 2, 4, 8, ... up to
/// `available`, and `available` itself. Throws UnavailableError when fewer
/// than 2 GPUs are visible or a count asked for exceeds them (never a
/// smaller group instead).
inline std::vector<int> collective_gpu_counts(const std::vector<int>& asked, int available) {
  if (available < 2)
    throw UnavailableError("collectives need at least 2 GPUs; this machine has " + std::to_string(available));
  std::vector<int> v = asked;
  if (v.empty()) {
    for (int g = 2; g <= available; g *= 2) v.push_back(g);
    if (v.back() != available) v.push_back(available);
  }
  for (int g : v)
    if (g < 2 || g > available)
      throw UnavailableError("cannot calibrate collectives on " + std::to_string(g) + " GPUs: between 2 and " +
                             std::to_string(available) + " on this machine");
  return v;
}

/// The profile's collectives section: every GPU count of
/// collective_gpu_counts(), each on a communicator over GPUs 0 .. count-1.
inline CollectivesCalibration calibrate_collective_section(Backend& backend, const CollectiveOptions& opt,
                                                           std::vector<std::string>& warnings,
                                                           const CollectiveProgress& progress = {}) {
  CollectivesCalibration section;
  bool described = false;
  for (int g : collective_gpu_counts(opt.gpu_counts, backend.device_count())) {
    std::unique_ptr<Communicator> comm = backend.make_communicator(g);
    if (!described) section = comm->describe(), described = true;
    for (auto& c : calibrate_collectives(*comm, opt, warnings, progress)) section.curves.push_back(std::move(c));
  }
  return section;
}

/// Runs a calibration of `backend`: the CPU it runs on, or the device a
/// device backend drives (Backend::calibrate_target). Throws UnavailableError
/// for a device backend that cannot describe its target.
inline HardwareCalibration calibrate(Backend& backend, const CalibrationOptions& opt) {
  if (opt.budget_s != 0 && !valid_budget(opt.budget_s))
    throw std::invalid_argument("calibrate(): budget " + std::to_string(opt.budget_s) + " s is outside (0, " +
                                std::to_string(max_budget_s) + "] s (0: none)");
  const double t_start = now_s();
  const bool cpu_target = backend.target() == "cpu";
  const bool quick = opt.mode == CalibrationMode::quick;
  const MeasureOptions mopt = opt.measure  ? *opt.measure
                              : cpu_target ? (quick ? MeasureOptions::quick() : MeasureOptions{})
                                           : MeasureOptions::device();
  // Collectives asked for where they cannot run: say so before measuring anything.
  if (opt.collectives) {
    if (cpu_target)
      throw UnavailableError("collectives: backend '" + backend.name() +
                             "' targets the CPU; they need --backend cuda on a machine with 2 or more GPUs");
    collective_gpu_counts(opt.collectives->gpu_counts, backend.device_count());
  }
  const bool explicit_precisions = !opt.precisions.empty();
  const std::vector<Precision> precisions =
      explicit_precisions ? opt.precisions : default_precisions(opt.mode, backend.target());

  HardwareCalibration h;
  h.target = backend.target();
  h.backend = backend.name();
  h.mode = opt.budget_s > 0 ? "budget" : (quick ? "quick" : "full");
  h.timing = backend.timing();
  h.host = cpu::detect_host();
  h.threads = cpu_target ? (opt.threads > 0 ? opt.threads : h.host.logical_cpus) : 1;
  h.host.threads_used = h.threads;
  h.created_utc = detail::utc_now();
  backend.set_threads(h.threads);

  Progress prog;
  auto report = [&](const std::string& stage, const std::string& label, int done, int total) {
    if (!opt.progress) return;
    prog.stage = stage;
    prog.label = label;
    prog.done = done;
    prog.total = total;
    prog.elapsed_s = now_s() - t_start;
    if (opt.budget_s > 0)
      prog.eta_s = std::max(0.0, opt.budget_s - prog.elapsed_s);
    else
      prog.eta_s = done > 0 && total > done ? prog.elapsed_s / done * (total - done) : -1;
    opt.progress(prog);
  };
  auto remaining = [&] { return opt.budget_s > 0 ? opt.budget_s - (now_s() - t_start) : 1e300; };

  // The disturbance checks (CPU targets): the scheduler's counters around
  // every measurement, waits for quiet, the recheck phase below.
  detail::QuietState quiet;
  quiet.probe = cpu_target;
  quiet.threads = h.threads;
  quiet.retry_disturbed = !(opt.budget_s > 0);
  quiet.waits = cpu::QuietWaits(opt.quiet_wait_s >= 0 ? opt.quiet_wait_s
                                : opt.budget_s > 0    ? std::min(60.0, 0.1 * opt.budget_s)
                                : quick               ? 10.0
                                                      : 60.0);

  // Phase "target".
  if (cpu_target) {
    // Peaks, with the clock measured while all calibration threads are busy;
    // taken again once, after the machine quiets down, when other work took
    // our CPUs meanwhile.
    report("peaks", "clock and FMA issue rate", 0, 1);
    for (int attempt = 0; attempt < 2; ++attempt) {
      cpu::DisturbanceProbe probe;
      const cpu::ClockMeasurement clock = cpu::measure_clock(h.threads);
      h.host.measured_clock_ghz = clock.ghz;
      h.host.clock_method = clock.method;
      h.peaks.clear();
      for (Precision p : all_precisions) h.peaks.push_back(cpu::derive_peak(p, h.host, h.threads, clock));
      const double lost = probe.stop().lost_share(h.threads);
      if (lost <= cpu::disturbed_share) break;
      if (attempt == 1 || !quiet.waits.wait(h.threads, 30)) {
        h.warnings.push_back("disturbed: peaks and clock measured while other work took " +
                             std::to_string(int(100 * lost)) + "% of the CPU time: they may read low");
        break;
      }
    }
    if (opt.memory)
      h.memory = cpu::calibrate_memory(
          h.host, h.threads, quick || opt.budget_s > 0, mopt,
          [&](int d, int t, const std::string& l) { report("memory", l, d, t); }, &h.warnings, &quiet.waits);
  } else {
    const TargetOptions target_opt{quick || opt.budget_s > 0, opt.memory, mopt};
    if (!backend.calibrate_target(h, target_opt, [&](const std::string& l) { report("target", l, 0, 1); }))
      throw UnavailableError("calibrate(): backend '" + backend.name() + "' targets " + backend.target() +
                             " but does not describe it (Backend::calibrate_target)");
  }

  // Phase "plan".
  std::vector<detail::PlanCurve> curves = detail::plan(backend, opt, precisions, explicit_precisions, h);
  int total_points = 0;
  for (const auto& c : curves) total_points += static_cast<int>(c.points.size());

  // Phases "build", "check", "measure", round-robin over the curves.
  using Key = std::tuple<OpKind, Precision, Variant, int>;
  std::map<Key, OperationCalibration> results;
  // Per sample (parallel to results[key].samples): every attempt so far, for the recheck phase.
  struct Attempt {
    detail::Timed t;
  };
  struct Tracked {
    std::string label;
    Precision precision;
    int threads;
    std::vector<Attempt> attempts;
    std::size_t best = 0;
    bool confirmed = false;  ///< two clean attempts agree
    double slowdown = 0;     ///< vs its neighbours (detail/outliers.hpp), at the last check
  };
  std::map<Key, std::vector<Tracked>> tracked;
  int active_threads = h.threads;
  auto fill_sample = [&](OpSample& s, const OpDesc& op, Precision p, int threads, const detail::Timed& t,
                         const CheckResult& check, const std::string& implementation, const std::string& family) {
    const Counts n = counts(op, p);
    s.shape = op.shape;
    s.flops = n.flops;
    s.bytes = n.bytes;
    s.time = to_time_stats(t.warm);
    s.cold.reset();
    if (t.cold) s.cold = to_time_stats(*t.cold);
    s.gflops = s.flops / t.warm.median_s / 1e9;
    s.gbps = s.bytes / t.warm.median_s / 1e9;
    s.efficiency.reset();
    // The profile's peaks are for h.threads; a curve at `threads` is
    // measured against that share of them.
    if (auto pk = h.peak_gflops(p); pk && is_compute_op(op.kind))
      s.efficiency = s.gflops / (*pk * double(threads) / double(h.threads));
    s.check_error = check.max_error;
    s.implementation = implementation;
    if (!t.warm.note.empty()) s.implementation += " [" + t.warm.note + "]";
    s.family = family;
  };
  // Builds, checks and measures one point; empty (with `why`) on failure.
  auto take = [&](const OpDesc& op, Precision p, int threads, std::string& why, CheckResult& check,
                  std::string& implementation, std::string& family) -> std::optional<detail::Timed> {
    if (threads != active_threads) backend.set_threads(active_threads = threads);
    quiet.threads = threads;
    const detail::Built built = detail::build_checked(backend, op, p, why);
    if (!built.kernel) return std::nullopt;
    check = built.check;
    implementation = built.kernel->implementation();
    family = built.kernel->family();
    return detail::measure_point(backend, *built.kernel, counts(op, p).weight_bytes > 0, mopt, why, &quiet);
  };
  int done = 0;
  bool progress_made = true;
  while (progress_made) {
    progress_made = false;
    for (auto& c : curves) {
      if (c.next >= c.points.size()) continue;
      const OpDesc op = c.points[c.next++];
      progress_made = true;
      const int index = done++;  // points finished before this one
      const std::string label = std::string(to_string(op.kind)) + " " + std::string(to_string(c.precision)) + " " +
                                shape_label(op) + (c.threads != h.threads ? " (1 thread)" : "");
      if (detail::estimate_cost(op, c.precision, c.rate, mopt) > remaining()) continue;
      report("operations", label, index, total_points);
      try {
        std::string why, implementation, family;
        CheckResult check;
        const std::optional<detail::Timed> t = take(op, c.precision, c.threads, why, check, implementation, family);
        if (!t) {
          h.warnings.push_back(label + ": " + why);
          continue;
        }
        if (t->retries > 0)
          h.warnings.push_back(
              label + ": measured " + std::to_string(t->retries + 1) + " times (" +
              (t->quality.clean() ? "noisy at first), the cleanest kept" : t->quality.why() + "), the cleanest kept"));
        OpSample s;
        fill_sample(s, op, c.precision, c.threads, *t, check, implementation, family);
        c.rate = work(op, c.precision) / t->warm.median_s;
        const Key key = std::make_tuple(op.kind, c.precision, variant_of(op), c.threads);
        auto& cal = results[key];
        if (cal.samples.empty()) {
          const Support sup = backend.supports(op, c.precision);
          cal.op = op.kind;
          cal.precision = c.precision;
          cal.backend = backend.name();
          cal.variant = variant_of(op);
          cal.threads = c.threads;
          cal.emulated = sup.level == SupportLevel::emulated;
          cal.note = sup.note;
        }
        cal.samples.push_back(std::move(s));
        tracked[key].push_back({label, c.precision, c.threads, {{*t}}, 0, false, 0});
      } catch (const std::exception& e) {
        h.warnings.push_back(label + ": " + e.what());
      }
    }
  }

  // Phase "recheck" (CPU targets): samples measured while the machine was
  // disturbed (other work took our CPU time, a wide spread, a drift), and
  // samples that ran far slower per unit of work than both their neighbours
  // (a whole measurement taken while disturbed can look steady), are measured
  // again after waiting for quiet, in up to two rounds. A sample keeps its
  // fastest clean measurement; an outlier stays only when two clean
  // measurements agree. What stays disturbed is flagged in the sample
  // (`disturbed`) and in the warnings.
  if (cpu_target) {
    const detail::BandwidthModel bw(h.memory);
    auto ideal = [&](const OpDesc& op, Precision p, int threads) {
      const Counts n = counts(op, p);
      const auto pk = h.peak_gflops(p) ? h.peak_gflops(p) : h.peak_gflops(Precision::fp32);
      const double peak = pk ? *pk * 1e9 * double(threads) / double(h.threads) : 0;
      const double b = bw.at(n.bytes);
      return std::max(peak > 0 ? n.flops / peak : 0.0, b > 0 ? n.bytes / b : 0.0);
    };
    // Samples disturbed only by work beside ours (other CPUs busy) are measured
    // again in a round only when that work has stopped: a build on the other
    // core lasts longer than the calibration, and re-measuring beside it would
    // double the calibration's time to flag the same samples.
    auto suspects = [&](bool neighbours_quiet) {
      std::vector<std::pair<Key, std::size_t>> out;
      for (auto& [key, cal] : results) {
        auto& tr = tracked[key];
        std::vector<detail::CurvePoint> pts;
        for (const auto& s : cal.samples) {
          const OpDesc op{cal.op, s.shape};
          const FeatureSet f = features(op);
          const double id = ideal(op, cal.precision, cal.threads), w = work(op, cal.precision);
          pts.push_back({f.x, f.count, counts(op, cal.precision).flops + counts(op, cal.precision).bytes,
                         std::log(std::max(id > 0 ? id : w, 1e-30) / s.time.median_s)});
        }
        const std::vector<double> slow = detail::slowdown_vs_neighbours(pts);
        for (std::size_t i = 0; i < tr.size(); ++i) {
          tr[i].slowdown = slow[i];
          const detail::Quality& q = tr[i].attempts[tr[i].best].t.quality;
          const bool clean = neighbours_quiet ? q.clean() : q.steady();
          if (!clean || (slow[i] >= detail::outlier_factor && !tr[i].confirmed)) out.push_back({key, i});
        }
      }
      return out;
    };
    int remeasured = 0, replaced = 0, confirmed = 0;
    double recheck_s = 0;
    const double t_recheck = now_s();
    // On a machine that stays busy every sample is suspect: the phase may take
    // half as long as the calibration so far (at least 30 s), and measures
    // each suspect once per round (no immediate retries).
    const double recheck_limit_s = std::max(30.0, 0.5 * (t_recheck - t_start));
    quiet.retry_disturbed = false;
    int cut_short = 0;
    for (int round = 0; round < 2; ++round) {
      bool beside = false;  // any sample disturbed by work beside ours only
      for (const auto& [key, trs] : tracked)
        for (const auto& tr : trs) {
          const detail::Quality& q = tr.attempts[tr.best].t.quality;
          beside |= q.steady() && !q.clean();
        }
      const auto todo = suspects(beside && cpu::neighbours_now() <= cpu::disturbed_neighbours);
      if (todo.empty()) break;
      // Wait for the machine to quiet down first (bounded): re-measuring under
      // the same load would only repeat the disturbance.
      bool disturbed_any = false;
      for (const auto& [key, i] : todo)
        disturbed_any |= tracked[key][i].attempts[tracked[key][i].best].t.quality.lost > cpu::disturbed_share;
      if (disturbed_any) {
        report("recheck", "waiting for other work to leave our CPUs", 0, static_cast<int>(todo.size()));
        quiet.waits.wait(h.threads, 30);
      }
      int k = 0;
      for (const auto& [key, i] : todo) {
        auto& cal = results[key];
        auto& tr = tracked[key][i];
        OpSample& s = cal.samples[i];
        const OpDesc op{cal.op, s.shape};
        const double cost = detail::estimate_cost(op, tr.precision, work(op, tr.precision) / s.time.median_s, mopt);
        if (cost > remaining()) continue;
        if (now_s() - t_recheck + cost > recheck_limit_s) {
          ++cut_short;
          continue;
        }
        report("recheck", tr.label, k++, static_cast<int>(todo.size()));
        try {
          std::string why, implementation, family;
          CheckResult check;
          const std::optional<detail::Timed> t = take(op, tr.precision, tr.threads, why, check, implementation, family);
          ++remeasured;
          if (!t) continue;
          tr.attempts.push_back({*t});
          // the fastest clean attempt, else the fastest
          std::size_t best = 0;
          for (std::size_t j = 1; j < tr.attempts.size(); ++j) {
            const auto &a = tr.attempts[j].t, &b = tr.attempts[best].t;
            if (a.quality.clean() != b.quality.clean() ? a.quality.clean() : a.warm.median_s < b.warm.median_s)
              best = j;
          }
          if (best != tr.best) {
            ++replaced;
            tr.best = best;
            fill_sample(s, op, tr.precision, tr.threads, tr.attempts[best].t, check, implementation, family);
          }
          const auto& b = tr.attempts[best].t;
          if (b.quality.clean())
            for (std::size_t j = 0; j < tr.attempts.size(); ++j)
              if (j != best && tr.attempts[j].t.quality.clean() &&
                  std::abs(tr.attempts[j].t.warm.median_s / b.warm.median_s - 1) <= detail::repeat_agreement) {
                confirmed += !tr.confirmed;
                tr.confirmed = true;
              }
        } catch (const std::exception& e) {
          h.warnings.push_back(tr.label + " (recheck): " + e.what());
        }
      }
    }
    recheck_s = now_s() - t_recheck;
    quiet.retry_disturbed = !(opt.budget_s > 0);
    // What stayed disturbed: flagged per sample and per curve.
    int flagged = 0;
    for (const auto& [key, i] : suspects(true)) {
      auto& tr = tracked[key][i];
      OpSample& s = results[key].samples[i];
      const auto& b = tr.attempts[tr.best].t;
      std::string why = b.quality.clean() ? "" : b.quality.why();
      if (tr.slowdown >= detail::outlier_factor && !tr.confirmed) {
        std::ostringstream os;
        os.precision(2);
        os << (why.empty() ? "" : "; ") << tr.slowdown << "x slower per unit of work than both neighbours, "
           << tr.attempts.size() << " measurement(s) that do not agree (";
        for (std::size_t j = 0; j < tr.attempts.size(); ++j)
          os << (j ? ", " : "") << detail::fmt_seconds(tr.attempts[j].t.warm.median_s);
        os << ")";
        why += os.str();
      }
      s.disturbed = why;
      ++flagged;
    }
    for (auto& [key, cal] : results) {
      std::string list;
      int n = 0;
      for (const auto& smp : cal.samples)
        if (!smp.disturbed.empty()) {
          if (n++ < 3)
            list += (list.empty() ? "" : "; ") + shape_label(OpDesc{cal.op, smp.shape}) + ": " + smp.disturbed;
        }
      if (n)
        h.warnings.push_back("disturbed: " + std::string(to_string(cal.op)) +
                             (cal.variant == Variant::none ? "" : " " + std::string(to_string(cal.variant))) + " " +
                             std::string(to_string(cal.precision)) + " (" + std::to_string(cal.threads) +
                             " thread(s)): " + std::to_string(n) + " of " + std::to_string(cal.samples.size()) +
                             " samples could not be measured cleanly (" + list + (n > 3 ? "; ..." : "") + ")");
    }
    if (remeasured > 0 || quiet.waits.waited_s() >= 1) {  // say what the checks cost only when they did something
      std::ostringstream os;
      os.precision(3);
      os << "calibration checks: " << remeasured << " sample(s) measured again (" << replaced
         << " replaced by a faster clean measurement, " << confirmed << " slow outlier(s) confirmed by a repeat), "
         << flagged << " flagged as disturbed; " << quiet.waits.waited_s()
         << " s spent waiting for other work to leave our CPUs; recheck phase " << recheck_s << " s";
      if (cut_short)
        os << " (" << cut_short << " re-measurement(s) left out: the phase's time limit of " << recheck_limit_s
           << " s)";
      h.warnings.push_back(os.str());
    }
  }
  if (active_threads != h.threads) backend.set_threads(h.threads);
  for (auto& kv : results) h.operations.push_back(std::move(kv.second));
  // Samples of a curve in ascending work, for readers and the mapper alike.
  for (auto& c : h.operations)
    std::sort(c.samples.begin(), c.samples.end(),
              [](const OpSample& a, const OpSample& b) { return a.flops + a.bytes < b.flops + b.bytes; });

  // Phase "fusion": the same build/check/measure, fused and unfused.
  if (opt.fusion) {
    std::vector<std::pair<FusionPattern, Precision>> todo;
    for (int f = 0; f < fusion_pattern_count; ++f)
      for (Precision p : precisions) {
        if (p != Precision::fp32 && !explicit_precisions && cpu_target) continue;
        const auto fp = static_cast<FusionPattern>(f);
        const Support s = backend.supports_fusion(fp, p);
        if (s.usable())
          todo.push_back({fp, p});
        else
          h.warnings.push_back(std::string(to_string(fp)) + " " + std::string(to_string(p)) +
                               " fusion not measured: " + s.note);
      }
    const int total = static_cast<int>(todo.size());
    int fdone = 0;
    for (auto [fp, p] : todo) {
      FusionCalibration fc;
      fc.pattern = fp;
      fc.precision = p;
      fc.backend = backend.name();
      fc.threads = h.threads;
      for (const auto& sp : detail::fusion_sweep(fusion_anchor(fp))) {
        if (quick && !sp.quick) continue;
        if (2 * detail::estimate_cost(sp.op, p, 0, mopt) > remaining()) continue;
        const std::string label =
            std::string(to_string(fp)) + " " + std::string(to_string(p)) + " " + shape_label(sp.op);
        report("fusion", label, fdone, total);
        try {
          FusionKernels k = backend.make_fusion(fp, sp.op, p);
          fc.note = k.note;
          std::string why;
          std::optional<detail::Timed> fused, unfused;
          for (Kernel* kernel : {k.fused.get(), k.unfused.get()}) {
            kernel->run();
            const CheckResult chk = kernel->check();
            if (!chk.ok) {
              why = "correctness check failed (" + chk.detail + "); sample discarded";
              break;
            }
            (kernel == k.fused.get() ? fused : unfused) =
                detail::measure_point(backend, *kernel, false, mopt, why, &quiet);
            if (!why.empty()) break;
          }
          if (!fused || !unfused) {
            h.warnings.push_back(label + ": " + why);
            continue;
          }
          FusionSample s;
          s.shape = sp.op.shape;
          s.flops = flops(sp.op);
          s.fused_bytes = fusion_bytes(fp, sp.op, p, true);
          s.unfused_bytes = fusion_bytes(fp, sp.op, p, false);
          s.fused = to_time_stats(fused->warm);
          s.unfused = to_time_stats(unfused->warm);
          fc.samples.push_back(std::move(s));
        } catch (const std::exception& e) {
          h.warnings.push_back(label + ": " + e.what());
        }
      }
      ++fdone;
      if (!fc.samples.empty()) h.fusions.push_back(std::move(fc));
    }
  }

  // Phase "collectives".
  if (opt.collectives)
    h.collectives =
        calibrate_collective_section(backend, *opt.collectives, h.warnings,
                                     [&](const std::string& l, int d, int t) { report("collectives", l, d, t); });

  // Phase "fit".
  if (h.overhead.derivation.empty()) h.overhead = fit_overhead(h.operations);
  report("framework", "per-call cost of the framework the backend stands for", 0, 1);
  if (std::optional<FrameworkCost> fc = backend.framework_cost(mopt)) {
    h.overhead.framework_s = std::move(fc->per_call_s);
    h.overhead.framework_sequence_s = std::move(fc->sequence_s);
    h.overhead.framework_derivation = std::move(fc->derivation);
  }
  backend.annotate_profile(h);
  const nlohmann::json sw = backend.software();
  for (auto it = sw.begin(); it != sw.end(); ++it)
    h.software[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  h.software["hwcal"] = HWCAL_VERSION_STRING;
  h.fingerprint = fingerprint(h.host, h.device, h.backend, h.software);
  h.name = opt.name.empty()
               ? (h.device ? h.device->name : h.host.cpu_model) + " (" +
                     (cpu_target ? std::to_string(h.threads) + " threads, " : std::string()) + h.backend + ")"
               : opt.name;
  h.calibration_s = now_s() - t_start;
  report("done", "", 1, 1);
  return h;
}

}  // namespace hwcal
