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
//              the backend times it; re-measured when the spread says the
//              machine was disturbed, dropped (and said) when it stays so
//   fusion   the same build/check/measure for each pattern, fused and unfused
//   fit      per-call overhead, the framework's per-op cost, the fingerprint
//
// Budget: every op keeps its sweep order (coarse first) and the calibrator
// visits the ops round-robin, so stopping early leaves every op covered
// coarsely rather than some ops finely and others not at all. Points whose
// estimated cost no longer fits the remaining budget are skipped.

#include <hwcal/cpu/detect.hpp>
#include <hwcal/cpu/peak.hpp>
#include <hwcal/cpu/stream.hpp>
#include <hwcal/detail/fit.hpp>
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
#include <sstream>
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

struct CalibrationOptions {
  CalibrationMode mode = CalibrationMode::full;
  std::vector<OpKind> ops;              ///< empty: every op
  bool memory = true;                   ///< bandwidth sweep + STREAM
  bool fusion = true;                   ///< fusion patterns
  std::vector<Precision> precisions;    ///< empty: fp32 and fp64 (full) / fp32 (quick), + native low precisions for compute ops (full)
  int threads = 0;                      ///< 0: every logical CPU
  double budget_s = 0;                  ///< 0: no budget
  std::optional<MeasureOptions> measure;  ///< default: from mode
  ProgressFn progress;
  std::string name;                     ///< profile label; default from the host
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
    return {Precision::bf16, Precision::fp32, Precision::tf32, Precision::fp16, Precision::fp64, Precision::int8, Precision::fp8};
  }
  if (mode == CalibrationMode::quick) return {Precision::fp32};
  return {Precision::fp32, Precision::fp64, Precision::bf16, Precision::fp16, Precision::int8};
}

inline std::vector<OpKind> all_ops() {
  std::vector<OpKind> v;
  for (const OpInfo& o : op_table) v.push_back(o.kind);
  return v;
}

/// Identity of the machine and software a profile describes; auto_calibrate
/// caches by it and profile_mismatch() compares it.
inline std::string fingerprint(const HostInfo& host, const std::optional<DeviceInfo>& device, const std::string& backend,
                               const std::map<std::string, std::string>& software) {
  std::ostringstream os;
  os << "schema=" << schema_version << "|cpu=" << host.cpu_model << "|cpus=" << host.logical_cpus << "|arch=" << host.arch << "|isa=";
  for (const auto& f : host.isa) os << f << ',';
  os << "|backend=" << backend;
  for (const auto& kv : software)
    if (kv.first != "compiler") os << '|' << kv.first << '=' << kv.second;
  if (device)
    os << "|gpu=" << device->name << '|' << device->uuid << '|' << device->sm_count << '|' << device->max_sm_clock_mhz << '|'
       << device->max_mem_clock_mhz << '|' << device->memory_bytes << '|' << device->driver;
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
    if ((c.op != OpKind::relu && c.op != OpKind::add && c.op != OpKind::copy) || c.variant == Variant::broadcast) continue;
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

inline double spread_of(const Measurement& m) { return m.median_s > 0 ? (m.p90_s - m.p10_s) / m.median_s : 1e9; }

/// Phase "measure" of one prepared kernel: warm (and cold when asked and the
/// backend can), re-measured while noisy. Empty (with `why`) when it stays
/// unusable.
struct Timed {
  Measurement warm;
  std::optional<Measurement> cold;
  int retries = 0;
};

inline std::optional<Timed> measure_point(Backend& backend, Kernel& kernel, bool cold, const MeasureOptions& mopt,
                                          std::string& why) {
  Timed t;
  auto once = [&]() -> Measurement {
    // In-place kernels consume their input: on CPUs, time single runs,
    // restoring it first (untimed). A device kernel's time does not depend on
    // the values it reads, and single host-timed runs would time the host:
    // devices time them back to back like any other.
    if (kernel.needs_prepare() && backend.target() == "cpu")
      return measure_each([&] { kernel.run(); },
                          [&] {
                            kernel.prepare();
                            backend.sync();
                          },
                          mopt);
    return backend.measure_kernel(kernel, mopt);
  };
  t.warm = once();
  while (spread_of(t.warm) > noisy_spread && t.retries < noise_retries) {
    ++t.retries;
    const Measurement again = once();
    if (spread_of(again) < spread_of(t.warm)) t.warm = again;
  }
  if (spread_of(t.warm) > unusable_spread) {
    why = "p10-p90 spread " + std::to_string(static_cast<int>(100 * spread_of(t.warm))) + "% of the median after " +
          std::to_string(t.retries + 1) + " measurements: machine too noisy, sample dropped";
    return std::nullopt;
  }
  if (cold && !(kernel.needs_prepare() && backend.target() == "cpu")) t.cold = backend.measure_kernel_cold(kernel, mopt);
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
inline std::vector<PlanCurve> plan(const Backend& backend, const CalibrationOptions& opt, const std::vector<Precision>& precisions,
                                   bool explicit_precisions, HardwareCalibration& h) {
  const bool cpu_target = backend.target() == "cpu";
  const bool quick = opt.mode == CalibrationMode::quick;
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
        if (!take) continue;
        const Support s = backend.supports(sp.op, p);
        if (s.usable())
          pts.push_back(sp.op);
        else if (why.empty())
          why = s.note;
      }
      if (pts.empty()) {
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
        curves.push_back({k, p, 1, quick ? std::vector<OpDesc>(pts.begin(), pts.begin() + std::min<std::size_t>(pts.size(), 3)) : pts,
                          0, guess / h.threads});
    }
  }
  return curves;
}

}  // namespace detail

/// Runs a calibration of `backend`: the CPU it runs on, or the device a
/// device backend drives (Backend::calibrate_target). Throws UnavailableError
/// for a device backend that cannot describe its target.
inline HardwareCalibration calibrate(Backend& backend, const CalibrationOptions& opt) {
  const double t_start = now_s();
  const bool cpu_target = backend.target() == "cpu";
  const bool quick = opt.mode == CalibrationMode::quick;
  const MeasureOptions mopt = opt.measure ? *opt.measure
                              : cpu_target ? (quick ? MeasureOptions::quick() : MeasureOptions{})
                                           : MeasureOptions::device();
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

  // Phase "target".
  if (cpu_target) {
    // Peaks, with the clock measured while all calibration threads are busy.
    report("peaks", "clock and FMA issue rate", 0, 1);
    const cpu::ClockMeasurement clock = cpu::measure_clock(h.threads);
    h.host.measured_clock_ghz = clock.ghz;
    h.host.clock_method = clock.method;
    for (Precision p : all_precisions) h.peaks.push_back(cpu::derive_peak(p, h.host, h.threads, clock));
    if (opt.memory)
      h.memory = cpu::calibrate_memory(h.host, h.threads, quick || opt.budget_s > 0, mopt,
                                       [&](int d, int t, const std::string& l) { report("memory", l, d, t); }, &h.warnings);
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
  std::map<std::tuple<OpKind, Precision, Variant, int>, OperationCalibration> results;
  int done = 0;
  int active_threads = h.threads;
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
      if (c.threads != active_threads) backend.set_threads(active_threads = c.threads);
      try {
        std::string why;
        const detail::Built built = detail::build_checked(backend, op, c.precision, why);
        const Counts n = counts(op, c.precision);
        std::optional<detail::Timed> t;
        if (built.kernel) t = detail::measure_point(backend, *built.kernel, n.weight_bytes > 0, mopt, why);
        if (!t) {
          h.warnings.push_back(label + ": " + why);
          continue;
        }
        if (t->retries > 0)
          h.warnings.push_back(label + ": measured " + std::to_string(t->retries + 1) + " times (noisy), least spread kept");
        OpSample s;
        s.shape = op.shape;
        s.flops = n.flops;
        s.bytes = n.bytes;
        s.time = to_time_stats(t->warm);
        if (t->cold) s.cold = to_time_stats(*t->cold);
        s.gflops = s.flops / t->warm.median_s / 1e9;
        s.gbps = s.bytes / t->warm.median_s / 1e9;
        // The profile's peaks are for h.threads; a curve at c.threads is
        // measured against that share of them.
        if (auto pk = h.peak_gflops(c.precision); pk && is_compute_op(op.kind))
          s.efficiency = s.gflops / (*pk * double(c.threads) / double(h.threads));
        s.check_error = built.check.max_error;
        s.implementation = built.kernel->implementation();
        if (!t->warm.note.empty()) s.implementation += " [" + t->warm.note + "]";
        c.rate = work(op, c.precision) / t->warm.median_s;
        auto& cal = results[std::make_tuple(op.kind, c.precision, variant_of(op), c.threads)];
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
      } catch (const std::exception& e) {
        h.warnings.push_back(label + ": " + e.what());
      }
    }
  }
  if (active_threads != h.threads) backend.set_threads(h.threads);
  for (auto& kv : results) h.operations.push_back(std::move(kv.second));
  // Samples of a curve in ascending work, for readers and the mapper alike.
  for (auto& c : h.operations)
    std::sort(c.samples.begin(), c.samples.end(), [](const OpSample& a, const OpSample& b) { return a.flops + a.bytes < b.flops + b.bytes; });

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
          h.warnings.push_back(std::string(to_string(fp)) + " " + std::string(to_string(p)) + " fusion not measured: " + s.note);
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
        const std::string label = std::string(to_string(fp)) + " " + std::string(to_string(p)) + " " + shape_label(sp.op);
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
            (kernel == k.fused.get() ? fused : unfused) = detail::measure_point(backend, *kernel, false, mopt, why);
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

  // Phase "fit".
  if (h.overhead.derivation.empty()) h.overhead = fit_overhead(h.operations);
  report("framework", "per-call cost of the framework the backend stands for", 0, 1);
  if (std::optional<FrameworkCost> fc = backend.framework_cost(mopt)) {
    h.overhead.framework_s = std::move(fc->per_call_s);
    h.overhead.framework_derivation = std::move(fc->derivation);
  }
  backend.annotate_profile(h);
  const nlohmann::json sw = backend.software();
  for (auto it = sw.begin(); it != sw.end(); ++it) h.software[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  h.software["hwcal"] = HWCAL_VERSION_STRING;
  h.fingerprint = fingerprint(h.host, h.device, h.backend, h.software);
  h.name = opt.name.empty() ? (h.device ? h.device->name : h.host.cpu_model) + " (" +
                                  (cpu_target ? std::to_string(h.threads) + " threads, " : std::string()) + h.backend + ")"
                            : opt.name;
  h.calibration_s = now_s() - t_start;
  report("done", "", 1, 1);
  return h;
}

}  // namespace hwcal
