// bench/backends_vs_torch: conv2d and GEMM throughput of every hwcal backend
// built (eigen, openblas, onednn, torch) on one fixed set of shapes, fp32,
// timed with hwcal's harness at a given thread count.
//
// Issue acceptance: "A benchmark program compares, in one run, the best conv2d
// and GEMM throughput each backend reaches against PyTorch's CPU ops (Debian's
// python3-torch) on the same shapes, and prints the ratios."
// This program measures the backends and writes JSON that names every shape
// with all its parameters; bench/backends_vs_torch.py runs it, times the same
// shapes in PyTorch (F.conv2d, torch.matmul, F.linear) and prints the ratios.
// Run alone it prints the backends' table.

#include "common.hpp"

#include <hwcal/cpu/backend.hpp>
#include <hwcal/cpu/detect.hpp>
#include <hwcal/detail/shape_json.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace bench {
#if HWCAL_BENCH_ONEDNN
std::unique_ptr<hwcal::Backend> make_onednn_backend();  // backend_onednn.cpp
#endif
#if HWCAL_BENCH_TORCH
std::unique_ptr<hwcal::Backend> make_torch_backend();  // backend_torch.cpp
#endif
}  // namespace bench

namespace {

using hwcal::Conv2dShape;
using hwcal::i64;
using hwcal::MatmulShape;
using hwcal::OpDesc;
using hwcal::OpKind;
using hwcal::Precision;

const char* const usage =
    "usage: backends_vs_torch [--threads N] [--json out.json] [--backends a,b,...] [--quick]\n"
    "  Times conv2d and GEMM shapes (fp32) on every hwcal backend built, with hwcal's harness.\n"
    "  --threads N     threads for every backend (default 1)\n"
    "  --json FILE     write the results (bench/backends_vs_torch.py reads them)\n"
    "  --backends L    comma-separated subset of: eigen,openblas,onednn,torch (default: all built)\n"
    "  --retries N     measure a shape again, up to N times, when other processes took CPU time from this\n"
    "                  run's threads meanwhile (more than the idle CPUs + 0.1; default 3)\n"
    "  --quick         shorter measurements (a smoke test, not numbers to quote)\n";

struct BenchShape {
  std::string name, group;  // group: "conv" or "gemm"
  OpDesc op;
};

OpDesc conv(i64 n, i64 c, i64 hw, i64 k, i64 r, i64 stride, i64 groups = 1) {
  Conv2dShape s;
  s.n = n, s.c = c, s.h = s.w = hw, s.k = k, s.r = s.s = r;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = r / 2;
  s.groups = groups;
  return {OpKind::conv2d, s};
}

/// The shapes: ResNet and MobileNet/EfficientNet convolutions (3x3, 1x1, the
/// 7x7/2 stem, depthwise), square GEMMs, and transformer linears (with bias,
/// as nn.Linear has) plus one batched attention product.
std::vector<BenchShape> shapes() {
  std::vector<BenchShape> v;
  auto c = [&v](const char* name, OpDesc op) { v.push_back({name, "conv", op}); };
  c("resnet 3x3 64@56", conv(1, 64, 56, 64, 3, 1));
  c("resnet 3x3 128@28", conv(1, 128, 28, 128, 3, 1));
  c("resnet 3x3 256@14", conv(1, 256, 14, 256, 3, 1));
  c("resnet 3x3 512@7", conv(1, 512, 7, 512, 3, 1));
  c("resnet 3x3 64@56 b8", conv(8, 64, 56, 64, 3, 1));
  c("resnet 3x3/2 128@56", conv(1, 128, 56, 128, 3, 2));
  c("resnet 1x1 256->64@56", conv(1, 256, 56, 64, 1, 1));
  c("resnet 1x1 64->256@56", conv(1, 64, 56, 256, 1, 1));
  c("resnet 1x1 1024->256@14", conv(1, 1024, 14, 256, 1, 1));
  c("stem 7x7/2 3->64@224", conv(1, 3, 224, 64, 7, 2));
  c("stem 7x7/2 3->64@224 b8", conv(8, 3, 224, 64, 7, 2));
  c("mbv2 stem 3x3/2 3->32@224", conv(1, 3, 224, 32, 3, 2));
  c("mbv2 1x1 16->96@112", conv(1, 16, 112, 96, 1, 1));
  c("mbv2 1x1 96->24@56", conv(1, 96, 56, 24, 1, 1));
  c("dw 3x3 32@112", conv(1, 32, 112, 32, 3, 1, 32));
  c("dw 3x3/2 144@56", conv(1, 144, 56, 144, 3, 2, 144));
  c("dw 3x3 384@14", conv(1, 384, 14, 384, 3, 1, 384));
  c("dw 5x5 672@14", conv(1, 672, 14, 672, 5, 1, 672));

  auto g = [&v](const std::string& name, OpKind kind, i64 batch, i64 m, i64 n, i64 k) {
    v.push_back({name, "gemm", {kind, MatmulShape{batch, m, n, k, kind == OpKind::linear}}});
  };
  for (i64 n : {256, 512, 1024, 2048}) g("square " + std::to_string(n), OpKind::matmul, 1, n, n, n);
  g("bert 128 tok 768->768", OpKind::linear, 1, 128, 768, 768);
  g("bert 128 tok 768->3072", OpKind::linear, 1, 128, 3072, 768);
  g("bert 128 tok 3072->768", OpKind::linear, 1, 128, 768, 3072);
  g("vit 197 tok qkv 768->2304", OpKind::linear, 1, 197, 2304, 768);
  g("mlp 1024 tok 1024->4096", OpKind::linear, 1, 1024, 4096, 1024);
  g("decode 1 tok 4096->4096", OpKind::linear, 1, 1, 4096, 4096);
  g("decode 8 tok 4096->4096", OpKind::linear, 1, 8, 4096, 4096);
  g("vit attn 12x[197x197x64]", OpKind::matmul, 12, 197, 197, 64);
  return v;
}

std::vector<std::string> built_backends() {
  std::vector<std::string> v{"eigen"};
#if HWCAL_HAS_OPENBLAS
  v.push_back("openblas");
#endif
#if HWCAL_BENCH_ONEDNN
  v.push_back("onednn");
#endif
#if HWCAL_BENCH_TORCH
  v.push_back("torch");
#endif
  return v;
}

std::unique_ptr<hwcal::Backend> make_backend(const std::string& name) {
  if (name == "eigen") return std::make_unique<hwcal::cpu::EigenBackend>();
#if HWCAL_HAS_OPENBLAS
  if (name == "openblas") return std::make_unique<hwcal::cpu::OpenBlasBackend>();
#endif
#if HWCAL_BENCH_ONEDNN
  if (name == "onednn") return bench::make_onednn_backend();
#endif
#if HWCAL_BENCH_TORCH
  if (name == "torch") return bench::make_torch_backend();
#endif
  return nullptr;
}

/// Longer than the calibrator's defaults: these are the numbers quoted, and a
/// 2-CPU shared machine needs more samples to find a stable median.
hwcal::MeasureOptions measure_options(bool quick) {
  if (quick) return hwcal::MeasureOptions::quick();
  hwcal::MeasureOptions o;
  o.warmup_s = 0.05;
  o.min_sample_s = 1e-3;
  o.min_time_s = 0.25;
  o.max_time_s = 1.5;
  o.min_samples = 7;
  o.target_rel_spread = 0.01;
  return o;
}

/// One shape on one backend: prepared, checked once, timed with hwcal's harness.
nlohmann::json measure_shape(hwcal::Backend& backend, const BenchShape& s, const hwcal::MeasureOptions& mopt) {
  nlohmann::json r = {{"shape", s.name}, {"group", s.group}, {"ok", false}};
  try {
    const hwcal::Support sup = backend.supports(s.op, Precision::fp32);
    if (!sup.usable()) throw hwcal::UnavailableError(sup.note);
    auto kernel = backend.make(s.op, Precision::fp32);
    kernel->run();
    const hwcal::CheckResult chk = kernel->check();
    if (!chk.ok) throw hwcal::Error("correctness check failed: " + chk.detail);
    const hwcal::Measurement m = hwcal::measure([&] { kernel->run(); }, [&] { backend.sync(); }, mopt);
    r["ok"] = true;
    r["gflops"] = hwcal::flops(s.op) / m.median_s / 1e9;
    r["time"] = hwcal::to_time_stats(m);
    r["rel_spread"] = m.rel_spread();
    r["check_error"] = chk.max_error;
    r["implementation"] = kernel->implementation();
  } catch (const std::exception& e) {
    r["error"] = e.what();
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, usage);
  const int threads = args.integer("--threads", 1);
  const std::string json_path = args.value("--json");
  const std::string backend_list = args.value("--backends");
  const bool quick = args.flag("--quick");
  const int retries = std::max(0, args.integer("--retries", 3));
  args.finish();
  if (threads < 1) args.fail("--threads must be positive");
  const std::vector<std::string> built = built_backends();
  std::vector<std::string> wanted = backend_list.empty() ? built : hwcal::detail::split_list(backend_list);
  for (const auto& b : wanted)
    if (std::find(built.begin(), built.end(), b) == built.end())
      args.fail("backend '" + b + "' is not built into this program");

  const hwcal::HostInfo host = hwcal::cpu::detect_host();
  const hwcal::MeasureOptions mopt = measure_options(quick);
  const std::vector<BenchShape> list = shapes();
  // A shape is disturbed when other processes took more CPU than this run
  // leaves idle: then they time-shared our threads' CPUs.
  const double disturbed_cpus = std::max(0, host.logical_cpus - threads) + 0.1;
  int retries_used = 0;

  nlohmann::json out;
  out["benchmark"] = "backends_vs_torch";
  out["date_utc"] = bench::utc_now();
  out["threads"] = threads;
  out["precision"] = "fp32";
  out["quick"] = quick;
  out["host"] = {{"cpu_model", host.cpu_model},
                 {"logical_cpus", host.logical_cpus},
                 {"hypervisor", host.hypervisor},
                 {"isa", host.isa}};
  out["measure"] = {{"warmup_s", mopt.warmup_s},       {"min_sample_s", mopt.min_sample_s},
                    {"min_time_s", mopt.min_time_s},   {"max_time_s", mopt.max_time_s},
                    {"min_samples", mopt.min_samples}, {"target_rel_spread", mopt.target_rel_spread}};
  out["load_start"] = bench::load_json();
  auto& jshapes = out["shapes"] = nlohmann::json::array();
  for (const auto& s : list)
    jshapes.push_back({{"name", s.name},
                       {"group", s.group},
                       {"op", hwcal::to_string(s.op.kind)},
                       {"shape", hwcal::detail::shape_to_json(s.op)},
                       {"label", hwcal::shape_label(s.op)},
                       {"flops", hwcal::flops(s.op)}});
  auto& results = out["results"] = nlohmann::json::array();
  out["software"] = nlohmann::json::object();

  std::printf("backends_vs_torch: %s, %d thread%s, fp32, %s\n", host.cpu_model.c_str(), threads,
              threads == 1 ? "" : "s", bench::load_text().c_str());
  auto& others = out["other_processes"] = nlohmann::json::object();
  for (const auto& name : wanted) {
    const bench::CpuSnapshot before = bench::cpu_snapshot();
    std::unique_ptr<hwcal::Backend> backend = make_backend(name);
    backend->set_threads(threads);
    out["software"][name] = backend->software();
    std::printf("\n%s\n  %-28s %-26s %9s %7s %s\n", name.c_str(), "shape", "", "GFLOP/s", "spread", "implementation");
    for (const auto& s : list) {
      nlohmann::json r;
      for (int attempt = 1;; ++attempt) {
        const bench::CpuSnapshot a = bench::cpu_snapshot();
        r = measure_shape(*backend, s, mopt);
        const bench::OtherUse u = bench::other_use(a, bench::cpu_snapshot());
        r["backend"] = name;
        r["other_cpus"] = u.others_cpus + u.steal_cpus;
        r["attempts"] = attempt;
        if (!r["ok"].get<bool>() || u.others_cpus + u.steal_cpus <= disturbed_cpus || attempt > retries) break;
        ++retries_used;  // another process took CPU time from ours: measure again
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      if (r["ok"].get<bool>())
        std::printf("  %-28s %-26s %9.1f %6.1f%% %s\n", s.name.c_str(), hwcal::shape_label(s.op).c_str(),
                    r["gflops"].get<double>(), 100 * r["rel_spread"].get<double>(),
                    r["implementation"].get<std::string>().c_str());
      else
        std::printf("  %-28s %-26s %9s         %s\n", s.name.c_str(), hwcal::shape_label(s.op).c_str(), "-",
                    r["error"].get<std::string>().c_str());
      results.push_back(r);
    }
    const bench::OtherUse u = bench::other_use(before, bench::cpu_snapshot());
    others[name] = bench::to_json(u);
    std::printf("  (other processes used %.2f CPUs, hypervisor steal %.2f, during these %.0f s)\n", u.others_cpus,
                u.steal_cpus, u.seconds);
    std::fflush(stdout);
    // Let this backend's worker threads (OpenBLAS spins after a call) go idle
    // before the next backend starts.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  out["load_end"] = bench::load_json();
  out["retries_used"] = retries_used;
  out["disturbed_above_cpus"] = disturbed_cpus;
  std::printf("\n%d shape(s) measured again because other processes took CPU time from ours; %s at the end\n",
              retries_used, bench::load_text().c_str());
  bench::write_json(json_path, out);
  return 0;
}
