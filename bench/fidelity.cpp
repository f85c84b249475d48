// bench/fidelity: are the ceilings hwcal measures the machine's ceilings?
//
// Issue acceptance: "fp32 and fp64 GEMM: the best GFLOP/s in the profile is at
// least 97% of the best of OpenBLAS (numpy or cblas) and Eigen measured at the
// same sizes in the same run. Triad DRAM bandwidth is at least 95% of a plain
// STREAM triad (C, OpenMP) run beside it."
//
// One process, in this order:
//   1. a plain C STREAM triad (bench/stream_triad.c) at the profile's DRAM size,
//      arrays cache-line aligned and 16 bytes past one (the faster counts)
//   2. an hwcal calibration through the library, the options `hwcal calibrate
//      --ops matmul,stream --precisions fp32,fp64` sets: the default CPU
//      backend (OpenBLAS), matmul only, memory on, fusion off, full mode
//   3. independent baselines at every matmul shape the profile holds: direct
//      cblas_sgemm/dgemm loops and Eigen's own product, timed by a loop of
//      their own (not hwcal's harness); batched shapes both as threaded
//      products one after another and as the batch split across threads,
//      the faster counting (hwcal's kernel does the latter for small products)
//   4. the C STREAM triad again, so the baseline brackets the calibration
// and the table compares the profile's best against the best baseline.
// GEMM: medians on both sides decide PASS/FAIL, the baselines' best-of
// (minimum time) is printed as well. Triad: STREAM's own "Best Rate"
// (minimum time, the strict side) decides; the ratio to its median is printed.
// Each step is measured again when other processes took CPU time from it
// (--retries); the core clock is recorded at each phase (it moves on a VM).

#include "common.hpp"
#include "stream_triad.h"

#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/profile_io.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {

using hwcal::i64;
using hwcal::MatmulShape;
using hwcal::Precision;

constexpr double gemm_pass = 0.97, triad_pass = 0.95;

const char* const usage =
    "usage: fidelity [--threads N] [--json out.json] [--profile profile.json] [--stream-reps N] [--quick]\n"
    "  Calibrates GEMM (fp32, fp64) and memory with hwcal's default CPU backend, then measures\n"
    "  cblas, Eigen and a C STREAM triad at the same sizes in the same process and compares.\n"
    "  --threads N       threads for everything (default: every logical CPU)\n"
    "  --json FILE       write the comparison as JSON\n"
    "  --profile FILE    also write the hwcal profile the comparison used\n"
    "  --stream-reps N   repetitions of each C STREAM run (default 20; the first is discarded)\n"
    "  --retries N       measure a step again, up to N times, when other processes took CPU time from this\n"
    "                    run's threads (default 3; the calibration, each baseline shape, each STREAM run)\n"
    "  --quick           quick calibration (fewer sizes, DRAM set capped at 512 MiB): a smoke test only\n";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Lets the previous library's worker threads go idle before the next one
/// starts: OpenBLAS's pool spins (sched_yield) for a while after a call and
/// OpenMP's team spins too; on a 2-CPU machine either steals from the next.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

// ------------------------------------------------------------------ timing

/// The baselines' own timing loop, deliberately simpler than hwcal's harness:
/// warm up, batch runs so one sample lasts at least 2 ms, take at least 5
/// samples and 0.3 s (at most 30 samples or 3 s, never fewer than 5), report
/// the median and the minimum per run.
struct LoopTime {
  double median_s = 0, min_s = 0;
  int samples = 0;
  long iterations = 1;
};

template <class Run>
LoopTime time_loop(Run&& run) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  int warm = 0;
  do {
    run();
    ++warm;
  } while (warm < 2 || seconds_since(t0) < 0.1);
  const double per_run = seconds_since(t0) / warm;
  LoopTime r;
  r.iterations = std::max(1L, static_cast<long>(std::ceil(2e-3 / std::max(per_run, 1e-9))));
  std::vector<double> samples;
  const auto start = clock::now();
  for (;;) {
    const auto a = clock::now();
    for (long i = 0; i < r.iterations; ++i) run();
    samples.push_back(seconds_since(a) / static_cast<double>(r.iterations));
    const double elapsed = seconds_since(start);
    const int n = static_cast<int>(samples.size());
    if (n >= 5 && (elapsed >= 3.0 || n >= 30 || elapsed >= 0.3)) break;
  }
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  r.samples = static_cast<int>(n);
  r.median_s = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  r.min_s = samples.front();
  return r;
}

// ------------------------------------------------------------------ GEMM baselines

struct BaselinePoint {
  std::string library;  // "cblas" or "eigen"
  std::string split;    // how a batch was spread over the threads
  LoopTime time;
  double gflops_median = 0, gflops_best = 0;
  bool check_ok = true;
  double check_error = 0;
};

/// 64-byte aligned storage, as hwcal's buffers (and any tuned caller's) are:
/// with std::vector's 16-byte alignment cblas_sgemm at 64x64x64 runs ~12%
/// slower here, which would flatter hwcal at small sizes.
template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) noexcept {}
  T* allocate(std::size_t n) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, n * sizeof(T)) != 0) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { std::free(p); }
  friend bool operator==(const Aligned64&, const Aligned64&) { return true; }
  friend bool operator!=(const Aligned64&, const Aligned64&) { return false; }
};
template <class T>
using AlignedVector = std::vector<T, Aligned64<T>>;

/// Inputs in [-1, 1] from a fixed seed; outputs checked at two elements
/// against a double-precision dot product.
template <class T>
struct GemmBuffers {
  MatmulShape s;
  AlignedVector<T> a, b, c;
  explicit GemmBuffers(const MatmulShape& shape) : s(shape) {
    a.resize(static_cast<std::size_t>(s.batch * s.m * s.k));
    b.resize(static_cast<std::size_t>(s.batch * s.k * s.n));
    c.assign(static_cast<std::size_t>(s.batch * s.m * s.n), T(0));
    std::uint64_t x = 88172645463325252ull;
    auto next = [&x] {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      return static_cast<T>(static_cast<double>(x >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    };
    for (auto& v : a) v = next();
    for (auto& v : b) v = next();
  }
  /// Row-major element (i, j) of batch 0, as the product should have it.
  double want(i64 i, i64 j) const {
    double acc = 0;
    for (i64 p = 0; p < s.k; ++p) acc += double(a[std::size_t(i * s.k + p)]) * double(b[std::size_t(p * s.n + j)]);
    return acc;
  }
};

/// Worst |got - want| / tolerance over two elements (<= 1 passes).
template <class T, class Vec>
double check_row_major(const GemmBuffers<T>& g, const Vec& c, bool col_major) {
  const double tol_per_k = std::is_same<T, float>::value ? 2e-6 : 1e-14;
  double worst = 0;
  const i64 pts[2][2] = {{0, 0}, {g.s.m - 1, g.s.n - 1}};
  for (const auto& p : pts) {
    const double got =
        col_major ? double(c[std::size_t(p[1] * g.s.m + p[0])]) : double(c[std::size_t(p[0] * g.s.n + p[1])]);
    const double tol = tol_per_k * double(g.s.k) * 4 + 1e-30;
    worst = std::max(worst, std::abs(got - g.want(p[0], p[1])) / tol);
  }
  return worst;
}

void cblas_gemm(const float* a, const float* b, float* c, const MatmulShape& s) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0f, a, int(s.k), b, int(s.n),
              0.0f, c, int(s.n));
}
void cblas_gemm(const double* a, const double* b, double* c, const MatmulShape& s) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.m), int(s.n), int(s.k), 1.0, a, int(s.k), b, int(s.n),
              0.0, c, int(s.n));
}

/// How a batch of products is spread over the threads: one threaded product
/// after another, or the batch split across the threads with single-threaded
/// products (what a tuned caller does with many small products, and what
/// hwcal's matmul kernel does with them). Batched shapes are timed both ways
/// and the faster counts: the baseline is the best the library can do.
enum class Split { products, batch };

const char* to_string(Split s) { return s == Split::products ? "threaded products" : "batch across threads"; }

/// Every product of a batch: one after the other (each threaded by its
/// library), or the batch split across threads.
template <class One>
void run_products(Split split, int threads, i64 batch, const One& one) {
  if (split == Split::batch) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (i64 bi = 0; bi < batch; ++bi) one(bi);
  } else {
    for (i64 bi = 0; bi < batch; ++bi) one(bi);
  }
  hwcal::clobber_memory();
}

/// Direct cblas calls, one per product of the batch.
template <class T>
BaselinePoint measure_cblas(const MatmulShape& s, int threads, Split split) {
  openblas_set_num_threads(split == Split::batch ? 1 : threads);
  GemmBuffers<T> g(s);
  auto one = [&](i64 bi) {
    cblas_gemm(g.a.data() + bi * s.m * s.k, g.b.data() + bi * s.k * s.n, g.c.data() + bi * s.m * s.n, s);
  };
  auto run = [&] { run_products(split, threads, s.batch, one); };
  BaselinePoint p;
  p.library = "cblas";
  p.split = to_string(split);
  p.time = time_loop(run);
  p.check_error = check_row_major(g, g.c, false);
  p.check_ok = p.check_error <= 1;
  openblas_set_num_threads(threads);
  return p;
}

/// Eigen's own GEMM (column-major, its default): C.noalias() = A * B, with
/// Eigen's OpenMP threads (inside a parallel region Eigen runs serially).
template <class T>
BaselinePoint measure_eigen(const MatmulShape& s, int threads, Split split) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::setNbThreads(threads);
  omp_set_num_threads(threads);
  // The same row-major inputs as cblas, copied into Eigen's layout, so that
  // the check compares the same product.
  GemmBuffers<T> g(s);
  std::vector<Mat> A, B, C;
  for (i64 bi = 0; bi < s.batch; ++bi) {
    A.push_back(Eigen::Map<const RowMat>(g.a.data() + bi * s.m * s.k, s.m, s.k));
    B.push_back(Eigen::Map<const RowMat>(g.b.data() + bi * s.k * s.n, s.k, s.n));
    C.push_back(Mat::Zero(s.m, s.n));
  }
  auto one = [&](i64 bi) { C[std::size_t(bi)].noalias() = A[std::size_t(bi)] * B[std::size_t(bi)]; };
  auto run = [&] { run_products(split, threads, s.batch, one); };
  BaselinePoint p;
  p.library = "eigen";
  p.split = to_string(split);
  p.time = time_loop(run);
  const Mat& c0 = C[0];
  std::vector<T> c0v(c0.data(), c0.data() + s.m * s.n);
  p.check_error = check_row_major(g, c0v, true);
  p.check_ok = p.check_error <= 1;
  return p;
}

/// The library's best at a shape: batched shapes both ways, the faster
/// (correct) one counts.
template <class T>
BaselinePoint measure_library(const std::string& lib, const MatmulShape& s, int threads) {
  auto one = [&](Split split) {
    return lib == "cblas" ? measure_cblas<T>(s, threads, split) : measure_eigen<T>(s, threads, split);
  };
  BaselinePoint best = one(Split::products);
  if (s.batch > 1 && threads > 1) {
    BaselinePoint other = one(Split::batch);
    if (other.check_ok && (!best.check_ok || other.time.median_s < best.time.median_s)) best = other;
  }
  return best;
}

// ------------------------------------------------------------------ the comparison

struct GemmRow {
  MatmulShape shape;
  double flops = 0;
  double profile_gflops = 0;
  hwcal::TimeStats profile_time;
  std::map<std::string, BaselinePoint> base;
};

std::string label(const MatmulShape& s) {
  char buf[80];
  if (s.batch > 1)
    std::snprintf(buf, sizeof buf, "%lldx[%lldx%lldx%lld]", (long long)s.batch, (long long)s.m, (long long)s.n,
                  (long long)s.k);
  else
    std::snprintf(buf, sizeof buf, "%lldx%lldx%lld", (long long)s.m, (long long)s.n, (long long)s.k);
  return buf;
}

struct StreamRun {
  long long n = 0;
  int reps = 0, offset = 0;
  double best_gbps = 0, median_gbps = 0;
  std::string when;
  bool ok = false;
};

StreamRun run_stream_c(long long n, int threads, int reps, int offset, const std::string& when) {
  StreamRun r;
  r.n = n;
  r.reps = reps;
  r.offset = offset;
  r.when = when;
  std::vector<double> t(static_cast<std::size_t>(reps));
  const int rc = stream_triad_run(n, threads, reps, offset, t.data());
  if (rc != 0) {
    std::fprintf(stderr, "C STREAM triad (%s): %s\n", when.c_str(), rc == -1 ? "cannot allocate" : "wrong result");
    return r;
  }
  std::vector<double> kept(t.begin() + 1, t.end());  // STREAM discards the first repetition
  std::sort(kept.begin(), kept.end());
  const double bytes = double(STREAM_TRIAD_BYTES_PER_ITER) * double(n);
  r.best_gbps = bytes / kept.front() / 1e9;
  r.median_gbps = bytes / kept[kept.size() / 2] / 1e9;
  r.ok = true;
  std::fprintf(stderr, "C STREAM triad (%s, arrays +%d B): best %.1f GB/s, median %.1f GB/s\n", when.c_str(), offset,
               r.best_gbps, r.median_gbps);
  return r;
}

nlohmann::json to_json(const StreamRun& r) {
  return {{"when", r.when},
          {"array_offset_bytes", r.offset},
          {"elements_per_array", r.n},
          {"working_set_bytes", r.n * STREAM_TRIAD_BYTES_PER_ITER},
          {"repetitions", r.reps},
          {"best_rate_gbps", r.best_gbps},
          {"median_gbps", r.median_gbps},
          {"ok", r.ok}};
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, usage);
  const std::string json_path = args.value("--json");
  const std::string profile_path = args.value("--profile");
  const int stream_reps = std::max(3, args.integer("--stream-reps", 20));
  const hwcal::HostInfo host = hwcal::cpu::detect_host();
  const int threads = args.integer("--threads", host.logical_cpus);
  const bool quick = args.flag("--quick");
  const int retries = std::max(0, args.integer("--retries", 3));
  args.finish();
  if (threads < 1) args.fail("--threads must be positive");

  nlohmann::json out;
  out["benchmark"] = "fidelity";
  out["date_utc"] = bench::utc_now();
  out["threads"] = threads;
  out["quick"] = quick;
  out["load_start"] = bench::load_json();
  std::printf("hwcal fidelity: %s, %d threads, %s\n", host.cpu_model.c_str(), threads, bench::load_text().c_str());

  // The core clock at each phase: on a shared VM it moves with the host's
  // load, and a ratio between phases is only as good as the clock was steady.
  nlohmann::json clocks = nlohmann::json::array();
  auto clock_now = [&](const char* when) {
    const double ghz = hwcal::cpu::measure_clock(threads, 0.05).ghz;
    clocks.push_back({{"when", when}, {"ghz", ghz}});
    return ghz;
  };
  clock_now("start");
  // CPU taken by other processes per phase: the first thing to look at when a
  // ratio looks wrong on a shared machine.
  std::vector<std::pair<std::string, bench::OtherUse>> phases;
  bench::CpuSnapshot snap = bench::cpu_snapshot();
  auto phase_done = [&](const char* name) {
    const bench::CpuSnapshot now = bench::cpu_snapshot();
    phases.push_back({name, bench::other_use(snap, now)});
    snap = now;
  };

  // On a shared machine another process can start at any moment; a step it
  // disturbed is measured again, up to --retries times. Disturbed: other work
  // took more than the CPUs this run leaves idle (+0.1), so it time-shared
  // our threads' CPUs. What was kept, and how disturbed, is reported: a ratio
  // from a disturbed step is not a clean result.
  const double disturbed_cpus = std::max(0, host.logical_cpus - threads) + 0.1;
  int retries_used = 0;
  double worst_kept = 0;
  auto undisturbed = [&](const std::string& what, auto&& measure_step) {
    for (int attempt = 0;; ++attempt) {
      const bench::CpuSnapshot a = bench::cpu_snapshot();
      auto result = measure_step();
      const bench::OtherUse u = bench::other_use(a, bench::cpu_snapshot());
      const double other = u.others_cpus + u.steal_cpus;
      if (other <= disturbed_cpus || attempt >= retries) {
        worst_kept = std::max(worst_kept, other);
        return result;
      }
      ++retries_used;
      std::fprintf(stderr, "  %s: other processes took %.2f CPUs meanwhile; measuring again\n", what.c_str(), other);
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  };

  // 1. STREAM at the working set the calibrator's memory plan will use.
  const hwcal::cpu::MemoryPlan plan = hwcal::cpu::plan_memory(host, quick);
  const long long planned_n = plan.dram_bytes / STREAM_TRIAD_BYTES_PER_ITER;
  std::vector<StreamRun> streams;
  // Both alignments (see stream_triad.c), the faster one is the baseline.
  for (int offset : {0, 16})
    streams.push_back(undisturbed(
        "C STREAM", [&] { return run_stream_c(planned_n, threads, stream_reps, offset, "before calibration"); }));
  phase_done("C STREAM before");
  settle();

  // 2. The calibration, as `hwcal calibrate --ops matmul,stream --precisions fp32,fp64`.
  hwcal::cpu::OpenBlasBackend backend;
  hwcal::CalibrationOptions opt;
  opt.mode = quick ? hwcal::CalibrationMode::quick : hwcal::CalibrationMode::full;
  opt.ops = {hwcal::OpKind::matmul};
  opt.precisions = {Precision::fp32, Precision::fp64};
  opt.memory = true;
  opt.fusion = false;
  opt.threads = threads;
  std::string stage;
  opt.progress = [&stage](const hwcal::Progress& p) {
    if (p.stage != stage) std::fprintf(stderr, "calibrating: %s (%.0f s elapsed)\n", p.stage.c_str(), p.elapsed_s);
    stage = p.stage;
  };
  snap = bench::cpu_snapshot();
  const hwcal::HardwareCalibration h = undisturbed("calibration", [&] { return hwcal::calibrate(backend, opt); });
  phase_done("calibration");
  if (!profile_path.empty()) hwcal::save_profile(profile_path, h);
  out["load_after_calibration"] = bench::load_json();
  std::printf("calibration: backend %s, %.1f s, %s\n", h.backend.c_str(), h.calibration_s, bench::load_text().c_str());
  clocks.push_back({{"when", "calibration (the profile's own)"}, {"ghz", h.host.measured_clock_ghz}});
  settle();
  clock_now("before baselines");
  snap = bench::cpu_snapshot();

  // 3. Baselines at the profile's shapes (full-thread curves only: the
  // 1-thread fp32 curve is another ceiling).
  out["gemm"] = nlohmann::json::object();
  std::map<Precision, std::vector<GemmRow>> rows;
  for (const auto& c : h.operations) {
    if (c.op != hwcal::OpKind::matmul || c.threads != h.threads) continue;
    for (const auto& s : c.samples) {
      GemmRow r;
      r.shape = std::get<MatmulShape>(s.shape);
      r.flops = s.flops;
      r.profile_gflops = s.gflops;
      r.profile_time = s.time;
      rows[c.precision].push_back(r);
    }
  }
  for (auto& [p, list] : rows) {
    for (const char* lib : {"cblas", "eigen"}) {
      std::fprintf(stderr, "baseline: %s %s at %zu shapes\n", lib, std::string(hwcal::to_string(p)).c_str(),
                   list.size());
      for (auto& r : list) {
        BaselinePoint b = undisturbed(std::string(lib) + " " + label(r.shape), [&, p = p] {
          return p == Precision::fp64 ? measure_library<double>(lib, r.shape, threads)
                                      : measure_library<float>(lib, r.shape, threads);
        });
        b.gflops_median = r.flops / b.time.median_s / 1e9;
        b.gflops_best = r.flops / b.time.min_s / 1e9;
        if (!b.check_ok)
          std::fprintf(stderr, "  %s %s: check failed (error %.3g): excluded\n", lib, label(r.shape).c_str(),
                       b.check_error);
        r.base[lib] = b;
      }
      settle();
    }
  }
  openblas_set_num_threads(threads);
  phase_done("baselines");
  clock_now("after baselines");

  // 4. STREAM again, at the size the profile actually measured.
  const hwcal::MemoryLevel* dram = nullptr;
  for (const auto& l : h.memory.levels)
    if (l.name == "DRAM") dram = &l;
  const long long profile_n = dram ? dram->measured_at_bytes / STREAM_TRIAD_BYTES_PER_ITER : planned_n;
  if (profile_n != planned_n)
    for (auto& s : streams) s.ok = false;  // measured a different size: not comparable
  snap = bench::cpu_snapshot();
  for (int offset : {0, 16})
    streams.push_back(undisturbed(
        "C STREAM", [&] { return run_stream_c(profile_n, threads, stream_reps, offset, "after baselines"); }));
  phase_done("C STREAM after");
  out["load_end"] = bench::load_json();

  // ------------------------------------------------------------------ report
  bool all_pass = true;
  std::printf("\nGEMM (matmul) at %d threads: profile median vs independent baselines (median), GFLOP/s\n", threads);
  std::printf("  %-5s %-22s %9s %9s %9s %11s %7s\n", "prec", "shape", "profile", "cblas", "eigen", "profile/best",
              "samples");
  for (auto& [p, list] : rows) {
    for (const auto& r : list) {
      auto g = [&](const char* lib) {
        auto it = r.base.find(lib);
        return it != r.base.end() && it->second.check_ok ? it->second.gflops_median : 0.0;
      };
      const double best = std::max(g("cblas"), g("eigen"));
      std::printf("  %-5s %-22s %9.1f %9.1f %9.1f %11.3f %7d\n", std::string(hwcal::to_string(p)).c_str(),
                  label(r.shape).c_str(), r.profile_gflops, g("cblas"), g("eigen"),
                  best > 0 ? r.profile_gflops / best : 0.0, r.profile_time.samples);
    }
  }

  std::printf(
      "\nAcceptance: best GEMM GFLOP/s in the profile >= %.0f%% of the best of cblas and Eigen at the same sizes\n",
      gemm_pass * 100);
  std::printf("  %-5s %-30s %-36s %7s %14s %s\n", "prec", "profile best (shape)", "baseline best median (lib, shape)",
              "ratio", "vs best-of min", "");
  for (auto& [p, list] : rows) {
    const GemmRow* pbest = nullptr;
    const GemmRow* bbest = nullptr;
    const BaselinePoint* bpoint = nullptr;
    double bmin_best = 0;
    for (const auto& r : list) {
      if (!pbest || r.profile_gflops > pbest->profile_gflops) pbest = &r;
      for (const auto& [lib, b] : r.base) {
        if (!b.check_ok) continue;
        if (!bpoint || b.gflops_median > bpoint->gflops_median) bpoint = &b, bbest = &r;
        bmin_best = std::max(bmin_best, b.gflops_best);
      }
    }
    if (!pbest || !bpoint) continue;
    const double ratio = pbest->profile_gflops / bpoint->gflops_median;
    const bool pass = ratio >= gemm_pass;
    all_pass = all_pass && pass;
    char a[64], b[64];
    std::snprintf(a, sizeof a, "%.1f (%s)", pbest->profile_gflops, label(pbest->shape).c_str());
    std::snprintf(b, sizeof b, "%.1f (%s, %s)", bpoint->gflops_median, bpoint->library.c_str(),
                  label(bbest->shape).c_str());
    std::printf("  %-5s %-30s %-36s %7.3f %14.3f %s\n", std::string(hwcal::to_string(p)).c_str(), a, b, ratio,
                pbest->profile_gflops / bmin_best, pass ? "PASS" : "FAIL");

    nlohmann::json pj;
    pj["profile_best"] = {{"shape", label(pbest->shape)},
                          {"gflops", pbest->profile_gflops},
                          {"samples", pbest->profile_time.samples},
                          {"median_s", pbest->profile_time.median_s}};
    pj["baseline_best"] = {
        {"library", bpoint->library}, {"shape", label(bbest->shape)}, {"gflops_median", bpoint->gflops_median}};
    pj["baseline_best_of_min_gflops"] = bmin_best;
    pj["ratio"] = ratio;
    pj["ratio_vs_best_of_min"] = pbest->profile_gflops / bmin_best;
    pj["threshold"] = gemm_pass;
    pj["pass"] = pass;
    auto& pts = pj["points"] = nlohmann::json::array();
    for (const auto& r : list) {
      nlohmann::json row = {{"shape", label(r.shape)},
                            {"batch", r.shape.batch},
                            {"m", r.shape.m},
                            {"n", r.shape.n},
                            {"k", r.shape.k},
                            {"flops", r.flops},
                            {"profile_gflops", r.profile_gflops},
                            {"profile_median_s", r.profile_time.median_s},
                            {"profile_samples", r.profile_time.samples}};
      for (const auto& [lib, bp] : r.base)
        row[lib] = {{"gflops_median", bp.gflops_median},
                    {"gflops_best", bp.gflops_best},
                    {"median_s", bp.time.median_s},
                    {"min_s", bp.time.min_s},
                    {"samples", bp.time.samples},
                    {"iterations", bp.time.iterations},
                    {"check_error", bp.check_error},
                    {"check_ok", bp.check_ok},
                    {"split", bp.split}};
      pts.push_back(row);
    }
    out["gemm"][std::string(hwcal::to_string(p))] = pj;
  }

  // Triad: the profile's DRAM level vs the best C STREAM run at that size.
  const hwcal::BandwidthPoint* profile_stream_triad = nullptr;
  for (const auto& b : h.memory.stream)
    if (b.kernel == "triad") profile_stream_triad = &b;
  const StreamRun* sbest = nullptr;
  double best_median = 0;
  for (const auto& s : streams)
    if (s.ok && s.n == profile_n) {
      if (!sbest || s.best_gbps > sbest->best_gbps) sbest = &s;
      best_median = std::max(best_median, s.median_gbps);
    }
  std::printf(
      "\nAcceptance: triad DRAM bandwidth in the profile >= %.0f%% of a plain C STREAM triad (same working set)\n",
      triad_pass * 100);
  if (dram && sbest) {
    const double ratio = dram->gbps / sbest->best_gbps;
    const double ratio_median = dram->gbps / best_median;
    const bool pass = ratio >= triad_pass;
    all_pass = all_pass && pass;
    std::printf("  working set %.0f MiB (last-level cache %.0f MiB)\n", double(dram->measured_at_bytes) / 1048576.0,
                double(host.cache_bytes(3)) / 1048576.0);
    std::printf("  profile DRAM triad (median)          %7.2f GB/s\n", dram->gbps);
    if (profile_stream_triad)
      std::printf("  profile STREAM triad (median)        %7.2f GB/s\n", profile_stream_triad->gbps);
    for (const auto& s : streams)
      std::printf("  C STREAM triad, %-19s arrays +%2d B: best %6.2f GB/s, median %6.2f GB/s%s\n", s.when.c_str(),
                  s.offset, s.best_gbps, s.median_gbps,
                  s.ok && s.n == profile_n ? "" : " (not comparable: other size or failed)");
    std::printf("  ratio vs the best STREAM Best Rate %.3f  (vs the best STREAM median %.3f)  %s\n", ratio,
                ratio_median, pass ? "PASS" : "FAIL");
    out["triad"] = {{"profile_dram_gbps", dram->gbps},
                    {"profile_dram_samples", 0},
                    {"profile_stream_triad_gbps", profile_stream_triad ? profile_stream_triad->gbps : 0.0},
                    {"working_set_bytes", dram->measured_at_bytes},
                    {"stream_c", nlohmann::json::array()},
                    {"ratio_vs_best_rate", ratio},
                    {"ratio_vs_median", ratio_median},
                    {"threshold", triad_pass},
                    {"pass", pass}};
    for (const auto& s : streams) out["triad"]["stream_c"].push_back(to_json(s));
    for (const auto& b : h.memory.sweep)
      if (b.working_set_bytes == dram->measured_at_bytes) out["triad"]["profile_dram_samples"] = b.time.samples;
  } else {
    all_pass = false;
    std::printf("  no comparable DRAM measurement (profile or STREAM missing)\n");
  }
  // The STREAM runs bracket everything: if the aligned ones before and after
  // disagree, something else ran and no ratio of this run is trustworthy.
  if (streams.size() == 4 && streams[0].ok && streams[2].ok) {
    const double drift = std::abs(streams[2].best_gbps / streams[0].best_gbps - 1);
    out["stream_drift"] = drift;
    std::printf("\nnoise check: the C STREAM runs before and after differ by %.1f%%%s\n", 100 * drift,
                drift > 0.05 ? " - the machine was busy; rerun on a quiet machine" : "");
  }
  std::printf("other processes, CPUs used per phase, retries included (steal):");
  auto& jp = out["other_processes"] = nlohmann::json::object();
  for (const auto& [name, u] : phases) {
    std::printf(" %s %.2f (%.2f);", name.c_str(), u.others_cpus, u.steal_cpus);
    jp[name] = bench::to_json(u);
  }
  const bool clean = worst_kept <= disturbed_cpus;
  std::printf(
      "\nsteps measured again because other processes ran: %d; the most disturbed step kept saw %.2f CPUs of other "
      "work%s\n",
      retries_used, worst_kept, clean ? " (clean)" : " -> NOT clean: rerun on a quieter machine");
  out["retries_used"] = retries_used;
  out["worst_kept_other_cpus"] = worst_kept;
  out["clean"] = clean;
  std::printf("clock (GHz, all threads busy):");
  for (const auto& c : clocks) std::printf(" %.2f %s;", c["ghz"].get<double>(), c["when"].get<std::string>().c_str());
  std::printf("\n");
  out["clock_ghz"] = clocks;
  for (const auto& w : h.warnings) std::printf("profile warning: %s\n", w.c_str());
  std::printf("\n%s; %s at the end\n", all_pass ? "all PASS" : "some FAIL", bench::load_text().c_str());

  out["host"] = h.host;
  out["software"] = h.software;
  out["calibration_s"] = h.calibration_s;
  out["profile_warnings"] = h.warnings;
  out["all_pass"] = all_pass;
  bench::write_json(json_path, out);
  return 0;
}
