// bench/mapper_throughput: CalibratedMapper::estimate() calls per second on
// one core, over a realistic mix of subgraphs and a real profile.
//
// Goal (ANCHORS.md, "Mapper speed"): tens of millions of estimates per second
// on one core, so design-space searches can call it in their inner loop; the
// issue asks for over 20 million. This program reports; it asserts nothing.
//
// The mix: 4096 subgraphs drawn (fixed seed) from CNN and transformer layers:
// dense 3x3 / 1x1 / 7x7-stem / grouped / depthwise convolutions, linears,
// batched attention products, attention, elementwise ops, norms, softmax,
// pooling, and fused conv+bn+relu, conv+relu, linear+gelu and matmul+softmax.
// Shapes vary in batch, channels and spatial size, so lookups land between
// calibrated points (interpolation), not on them. The mix is walked in order,
// cycling; the result of every estimate feeds a do-not-optimize sink.
//
// The same mix through EstimateCache (memoized estimates) is reported beside
// it: the rate a search that asks for the same layers again sees.
//
// Without --profile it calibrates quickly with the Eigen backend at 1 thread
// (the ops of the mix, memory and fusion) to get a profile.

#include "common.hpp"

#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/estimate_cache.hpp>
#include <hwcal/mapper.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/profile_io.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <sched.h>

namespace {

using hwcal::Conv2dShape;
using hwcal::fused_bit;
using hwcal::i64;
using hwcal::MatmulShape;
using hwcal::OpKind;
using hwcal::Precision;
using hwcal::Subgraph;

const char* const usage =
    "usage: mapper_throughput [--profile profile.json | --calibrate quick|full [--budget S] [--save-profile "
    "out.json]]\n"
    "                         [--runs N] [--seconds S] [--json out.json] [--iterations N [--lookup exact|table] "
    "[--only CATEGORY]] [--no-pin]\n"
    "  Estimates per second of hwcal::CalibratedMapper on one core over a mix of subgraphs.\n"
    "  --profile FILE       profile to load (default: calibrate with the Eigen backend at 1 thread)\n"
    "  --calibrate MODE     without --profile: quick (default, seconds) or full (every op, fp32; minutes)\n"
    "  --budget S           time budget of that calibration in seconds (default: none)\n"
    "  --save-profile FILE  write the profile the calibration made\n"
    "  --runs N             timed runs of the whole mix (default 9); the median is reported\n"
    "  --seconds S          length of one run (default 0.4)\n"
    "  --iterations N       run exactly N estimates once and exit (for callgrind; no timing)\n"
    "  --lookup L           with --iterations: the exact mapper (default) or the table one\n"
    "  --only CATEGORY      with --iterations: that category of the mix alone (e.g. elementwise)\n"
    "  --no-pin             do not pin the thread to the CPU it starts on\n"
    "  --json FILE          write the results\n";

/// Deterministic xorshift, so the mix is the same in every run.
struct Rng {
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  std::uint64_t next() {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  }
  template <class T>
  T pick(std::initializer_list<T> v) {
    return *(v.begin() + static_cast<std::ptrdiff_t>(next() % v.size()));
  }
};

Subgraph conv(i64 n, i64 c, i64 hw, i64 k, i64 r, i64 stride, i64 groups, std::uint64_t fused = 0) {
  Conv2dShape s;
  s.n = n, s.c = c, s.h = s.w = hw, s.k = k, s.r = s.s = r;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = r / 2;
  s.groups = groups;
  return {{OpKind::conv2d, s}, Precision::fp32, fused};
}

/// One subgraph of a category.
Subgraph make(const std::string& cat, Rng& rng) {
  const i64 n = rng.pick<i64>({1, 1, 2, 4, 8, 16, 32});
  const i64 tokens = rng.pick<i64>({1, 8, 64, 128, 197, 256, 512, 1024});
  const std::uint64_t bn_relu = fused_bit(OpKind::batchnorm) | fused_bit(OpKind::relu);
  if (cat == "conv 3x3") {
    const i64 c = rng.pick<i64>({32, 64, 96, 128, 192, 256, 384, 512});
    return conv(n, c, rng.pick<i64>({7, 14, 28, 56, 112}), c * rng.pick<i64>({1, 1, 2}), 3, rng.pick<i64>({1, 1, 2}),
                1);
  }
  if (cat == "conv 1x1")
    return conv(n, rng.pick<i64>({16, 24, 64, 96, 256, 576, 1024}), rng.pick<i64>({7, 14, 28, 56}),
                rng.pick<i64>({24, 64, 128, 256, 512, 2048}), 1, 1, 1);
  if (cat == "conv stem 7x7/2") return conv(n, 3, rng.pick<i64>({192, 224, 256}), 64, 7, 2, 1);
  if (cat == "conv grouped") {
    const i64 c = rng.pick<i64>({128, 256, 512});
    return conv(n, c, rng.pick<i64>({14, 28, 56}), c, 3, 1, 32);
  }
  if (cat == "conv depthwise") {
    const i64 c = rng.pick<i64>({32, 96, 144, 192, 384, 672, 960});
    return conv(n, c, rng.pick<i64>({7, 14, 28, 56, 112}), c, rng.pick<i64>({3, 5}), rng.pick<i64>({1, 2}), c);
  }
  if (cat == "linear") {
    const i64 d = rng.pick<i64>({512, 768, 1024, 3072, 4096});
    return {{OpKind::linear, MatmulShape{1, tokens * rng.pick<i64>({1, 4}), rng.pick<i64>({d, 4 * d, 1000}), d, true}},
            Precision::fp32,
            0};
  }
  if (cat == "matmul batched") {
    const i64 s = rng.pick<i64>({64, 128, 197, 384, 512});
    return {{OpKind::matmul, MatmulShape{n * 12, s, s, 64, false}}, Precision::fp32, 0};
  }
  if (cat == "attention") {
    const i64 s = rng.pick<i64>({64, 128, 197, 384, 512, 1024});
    return {{OpKind::attention,
             hwcal::AttentionShape{n, rng.pick<i64>({8, 12, 16}), s, s, 64, rng.pick<bool>({false, true})}},
            Precision::fp32,
            0};
  }
  if (cat == "elementwise") {
    const OpKind k = rng.pick<OpKind>({OpKind::relu, OpKind::add, OpKind::gelu, OpKind::mul, OpKind::silu});
    const bool binary = k == OpKind::add || k == OpKind::mul;
    const i64 e = n * rng.pick<i64>({64, 128, 256, 512}) * rng.pick<i64>({49, 196, 784, 3136});
    return {{k, hwcal::ElementwiseShape{e, binary ? 2 : 1, 0}}, Precision::fp32, 0};
  }
  if (cat == "norm/softmax/pool") {
    switch (rng.next() % 4) {
      case 0:
        return {{OpKind::layernorm, hwcal::RowsShape{tokens * n, rng.pick<i64>({512, 768, 1024})}}, Precision::fp32, 0};
      case 1: return {{OpKind::softmax, hwcal::RowsShape{tokens * n * 12, tokens}}, Precision::fp32, 0};
      case 2: {
        const i64 hw = rng.pick<i64>({14, 28, 56});
        return {{OpKind::batchnorm, hwcal::MapShape{n, rng.pick<i64>({64, 128, 256}), hw, hw}}, Precision::fp32, 0};
      }
      default: {
        hwcal::Pool2dShape p;
        p.n = n, p.c = 64, p.h = p.w = 112, p.r = p.s = 3, p.stride_h = p.stride_w = 2, p.pad_h = p.pad_w = 1;
        return {{OpKind::maxpool, p}, Precision::fp32, 0};
      }
    }
  }
  if (cat == "fused conv+bn+relu") {
    const i64 c = rng.pick<i64>({64, 128, 256, 512});
    return conv(n, c, rng.pick<i64>({7, 14, 28, 56}), c, rng.pick<i64>({1, 3}), 1, 1, bn_relu);
  }
  if (cat == "fused linear+gelu") {
    const i64 d = rng.pick<i64>({768, 1024});
    return {{OpKind::linear, MatmulShape{1, tokens, 4 * d, d, true}}, Precision::fp32, fused_bit(OpKind::gelu)};
  }
  if (cat == "fused matmul+softmax") {
    const i64 s = rng.pick<i64>({128, 197, 512});
    return {{OpKind::matmul, MatmulShape{n * 12, s, s, 64, false}}, Precision::fp32, fused_bit(OpKind::softmax)};
  }
  return conv(n, 64, 56, 64, 3, 1, 1, fused_bit(OpKind::relu));  // "fused conv+relu"
}

/// Category weights: a mix of CNN (most layers are convs with bn+relu and
/// elementwise glue) and transformer layers (linears, attention, norms).
const std::vector<std::pair<std::string, int>>& categories() {
  static const std::vector<std::pair<std::string, int>> c{{"conv 3x3", 8},
                                                          {"conv 1x1", 8},
                                                          {"conv stem 7x7/2", 1},
                                                          {"conv grouped", 2},
                                                          {"conv depthwise", 6},
                                                          {"linear", 12},
                                                          {"matmul batched", 4},
                                                          {"attention", 4},
                                                          {"elementwise", 16},
                                                          {"norm/softmax/pool", 10},
                                                          {"fused conv+bn+relu", 16},
                                                          {"fused conv+relu", 3},
                                                          {"fused linear+gelu", 6},
                                                          {"fused matmul+softmax", 4}};
  return c;
}

std::vector<Subgraph> make_mix(std::size_t count, const std::string& only = "") {
  Rng rng;
  int total = 0;
  for (const auto& [name, w] : categories()) total += w;
  std::vector<Subgraph> v;
  v.reserve(count);
  while (v.size() < count) {
    if (!only.empty()) {
      v.push_back(make(only, rng));
      continue;
    }
    int r = static_cast<int>(rng.next() % static_cast<std::uint64_t>(total));
    for (const auto& [name, w] : categories()) {
      if (r < w) {
        v.push_back(make(name, rng));
        break;
      }
      r -= w;
    }
  }
  return v;
}

/// `count` estimates over the mix, cycling; returns the sink.
template <class Fn>
HWCAL_NOINLINE double sweep(const std::vector<Subgraph>& mix, std::size_t count, Fn&& fn) {
  double sink = 0;
  const std::size_t mask = mix.size() - 1;  // size is a power of two
  for (std::size_t i = 0; i < count; ++i) {
    const hwcal::Estimate e = fn(mix[i & mask]);
    sink += e.latency_s;
    hwcal::do_not_optimize(sink);
  }
  return sink;
}

struct Rate {
  double median = 0, min = 0, max = 0;  // estimates per second
  std::vector<double> runs;
};

/// Warm-up, then `runs` runs of about `seconds` each; estimates per second.
template <class Fn>
Rate rate(const std::vector<Subgraph>& mix, int runs, double seconds, Fn&& fn) {
  std::size_t n = mix.size();
  double t = 0;
  // Warm-up that also sizes a run.
  for (;;) {
    const double a = hwcal::now_s();
    hwcal::do_not_optimize(sweep(mix, n, fn));
    t = hwcal::now_s() - a;
    if (t >= 0.05) break;
    n *= 2;
  }
  n = std::max<std::size_t>(mix.size(), static_cast<std::size_t>(double(n) * seconds / t));
  Rate r;
  for (int i = 0; i < runs; ++i) {
    const double a = hwcal::now_s();
    hwcal::do_not_optimize(sweep(mix, n, fn));
    r.runs.push_back(double(n) / (hwcal::now_s() - a));
  }
  std::vector<double> s = r.runs;
  std::sort(s.begin(), s.end());
  r.median = s[s.size() / 2];
  r.min = s.front();
  r.max = s.back();
  return r;
}

std::string mega(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f M/s", v / 1e6);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, usage);
  const std::string profile_path = args.value("--profile");
  const std::string save_path = args.value("--save-profile");
  const std::string json_path = args.value("--json");
  const std::string mode = args.value("--calibrate", "quick");
  const double budget = args.number("--budget", 0);
  const int runs = std::max(1, args.integer("--runs", 9));
  const double seconds = args.number("--seconds", 0.4);
  const long iterations = args.integer("--iterations", 0);
  const std::string lookup = args.value("--lookup", "exact");
  const std::string only = args.value("--only");
  const bool pin = !args.flag("--no-pin");
  args.finish();
  if (mode != "quick" && mode != "full") args.fail("--calibrate expects quick or full");
  if (lookup != "exact" && lookup != "table") args.fail("--lookup expects exact or table");

  hwcal::HardwareCalibration profile;
  if (!profile_path.empty()) {
    profile = hwcal::load_profile(profile_path);
  } else {
    std::fprintf(stderr, "no --profile: %s calibration with the Eigen backend at 1 thread...\n", mode.c_str());
    hwcal::cpu::EigenBackend eigen;
    hwcal::CalibrationOptions o;
    o.threads = 1;
    o.memory = true;
    o.fusion = true;
    o.budget_s = budget;
    if (mode == "quick") {
      // The ops of the mix only: seconds, not minutes.
      o.mode = hwcal::CalibrationMode::quick;
      o.ops = {OpKind::conv2d, OpKind::linear, OpKind::matmul,    OpKind::attention, OpKind::relu,    OpKind::add,
               OpKind::gelu,   OpKind::mul,    OpKind::batchnorm, OpKind::layernorm, OpKind::softmax, OpKind::maxpool};
    } else {
      o.mode = hwcal::CalibrationMode::full;  // every op, every sweep point: curves as dense as a real profile's
      o.precisions = {Precision::fp32};
    }
    profile = hwcal::calibrate(eigen, o);
    std::fprintf(stderr, "calibrated in %.1f s\n", profile.calibration_s);
    if (!save_path.empty()) hwcal::save_profile(save_path, profile);
  }

  int cpu = -1;
  if (pin) {
    cpu = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) cpu = -1;
  }

  // Both lookups (MapperOptions::lookup): the exact interpolation, and its
  // table; the construction of each timed (median of 5), since the table's
  // cost is paid there.
  auto build = [&profile, iterations](hwcal::Lookup l, double& median_s) {
    hwcal::MapperOptions o;
    o.lookup = l;
    std::vector<double> t;
    for (int i = 0; i < (iterations > 0 ? 0 : 5); ++i) {
      const double a = hwcal::now_s();
      hwcal::do_not_optimize(hwcal::CalibratedMapper(profile, o).threads());
      t.push_back(hwcal::now_s() - a);
    }
    std::sort(t.begin(), t.end());
    median_s = t.empty() ? 0 : t[2];
    return hwcal::CalibratedMapper(profile, o);
  };
  double build_exact_s = 0, build_table_s = 0;
  const hwcal::CalibratedMapper mapper = build(hwcal::Lookup::exact, build_exact_s);
  const hwcal::CalibratedMapper tabled = build(hwcal::Lookup::table, build_table_s);
  const std::vector<Subgraph> mix = make_mix(4096, iterations > 0 ? only : "");
  auto estimate = [&mapper](const Subgraph& g) { return mapper.estimate(g); };
  auto estimate_table = [&tabled](const Subgraph& g) { return tabled.estimate(g); };

  if (iterations > 0) {  // a fixed amount of work for callgrind: no timing, no tables
    std::printf("sink %g\n", lookup == "table" ? sweep(mix, static_cast<std::size_t>(iterations), estimate_table)
                                               : sweep(mix, static_cast<std::size_t>(iterations), estimate));
    return 0;
  }

  std::size_t points = 0;
  for (const auto& c : profile.operations) points += c.samples.size();
  std::printf("mapper_throughput: profile '%s' (%s, %zu curves, %zu points, %zu fusion patterns), %s\n",
              profile.name.c_str(), profile_path.empty() ? (mode + " Eigen calibration").c_str() : profile_path.c_str(),
              profile.operations.size(), points, profile.fusions.size(), bench::load_text().c_str());
  std::printf("one thread%s; %zu subgraphs in the mix, %d runs of ~%.1f s, median (min-max)\n\n",
              cpu >= 0 ? (", pinned to CPU " + std::to_string(cpu)).c_str() : " (not pinned)", mix.size(), runs,
              seconds);

  nlohmann::json out;
  out["benchmark"] = "mapper_throughput";
  out["date_utc"] = bench::utc_now();
  out["load_start"] = bench::load_json();
  out["profile"] = {{"path", profile_path},
                    {"name", profile.name},
                    {"backend", profile.backend},
                    {"threads", profile.threads},
                    {"curves", profile.operations.size()},
                    {"points", points},
                    {"fusions", profile.fusions.size()}};
  out["mix_size"] = mix.size();
  out["pinned_cpu"] = cpu;

  const bench::CpuSnapshot before = bench::cpu_snapshot();
  const double goal = 20e6;
  auto headline = [&](const char* name, const Rate& r) {
    std::printf("  %-24s %12s  (%s - %s)   goal 20 M/s: %s\n", name, mega(r.median).c_str(), mega(r.min).c_str(),
                mega(r.max).c_str(), r.median >= goal ? "met" : "not met");
    return nlohmann::json{{"median", r.median}, {"min", r.min}, {"max", r.max}, {"runs", r.runs}};
  };
  out["estimates_per_s"] = headline("whole mix, exact", rate(mix, runs, seconds, estimate));
  out["table_estimates_per_s"] = headline("whole mix, table", rate(mix, runs, seconds, estimate_table));
  out["goal_per_s"] = goal;
  std::printf("  %-24s exact %.1f ms, table %.1f ms (median of 5)\n", "mapper construction", 1e3 * build_exact_s,
              1e3 * build_table_s);
  out["construction_s"] = {{"exact", build_exact_s}, {"table", build_table_s}};
  // What the table changes: table / exact latency over the mix and each
  // category's own mix (every shape lies between calibrated points).
  std::vector<double> dev;
  std::string worst;
  for (const auto& [name, w] : categories())
    for (const Subgraph& g : make_mix(1024, name)) {
      dev.push_back(std::abs(tabled.estimate(g).latency_s / mapper.estimate(g).latency_s - 1));
      if (dev.back() >= *std::max_element(dev.begin(), dev.end())) worst = name + " " + hwcal::shape_label(g.op);
    }
  std::sort(dev.begin(), dev.end());
  const auto q = [&dev](double f) { return dev[static_cast<std::size_t>(f * double(dev.size() - 1))]; };
  std::printf("  %-24s |table / exact - 1| over %zu subgraphs: median %.2f%%, p90 %.2f%%, max %.2f%% (%s)\n",
              "table vs exact", dev.size(), 100 * q(0.5), 100 * q(0.9), 100 * dev.back(), worst.c_str());
  out["table_vs_exact"] = {
      {"subgraphs", dev.size()}, {"median", q(0.5)}, {"p90", q(0.9)}, {"max", dev.back()}, {"max_at", worst}};

  // Memoized (estimate_cache.hpp): the mix asked for again and again, as a
  // design-space search asks for the same layers. The first pass fills the
  // table; a subgraph whose slot another one took is computed again.
  hwcal::EstimateCache cache(mapper);
  const Rate cached = rate(mix, runs, seconds, [&cache](const Subgraph& g) { return cache.estimate(g); });
  const double hit_rate = double(cache.hits()) / double(std::max<std::uint64_t>(1, cache.hits() + cache.misses()));
  std::printf("  %-24s %12s  (%s - %s)   goal 20 M/s: %s; %.1f%% hits, %zu slots\n", "whole mix, EstimateCache",
              mega(cached.median).c_str(), mega(cached.min).c_str(), mega(cached.max).c_str(),
              cached.median >= goal ? "met" : "not met", 100 * hit_rate, cache.slots());
  out["cached_estimates_per_s"] = {{"median", cached.median}, {"min", cached.min},    {"max", cached.max},
                                   {"runs", cached.runs},     {"hit_rate", hit_rate}, {"slots", cache.slots()}};
  hwcal::EstimateCache cache_table(tabled);
  out["cached_table_estimates_per_s"] =
      headline("EstimateCache on table",
               rate(mix, runs, seconds, [&cache_table](const Subgraph& g) { return cache_table.estimate(g); }));

  // Per category: where the time goes. Shorter runs: the mix is the headline.
  std::printf("\n  per category (each alone, %d runs)        exact            table\n", std::max(3, runs / 3));
  auto& cats = out["categories"] = nlohmann::json::object();
  for (const auto& [name, w] : categories()) {
    const std::vector<Subgraph> alone = make_mix(1024, name);
    const Rate r = rate(alone, std::max(3, runs / 3), seconds / 2, estimate);
    const Rate t = rate(alone, std::max(3, runs / 3), seconds / 2, estimate_table);
    std::printf("  %-24s (weight %2d) %7.0f ns/estimate %7.0f ns/estimate\n", name.c_str(), w, 1e9 / r.median,
                1e9 / t.median);
    cats[name] = {{"median_per_s", r.median},
                  {"ns_per_estimate", 1e9 / r.median},
                  {"table_median_per_s", t.median},
                  {"table_ns_per_estimate", 1e9 / t.median},
                  {"weight", w}};
  }

  // The floor: the datasheet roofline does the same bookkeeping minus the
  // curve lookups, so it bounds what interpolation costs.
  const Rate roof =
      rate(mix, std::max(3, runs / 3), seconds / 2, [&mapper](const Subgraph& g) { return mapper.roofline(g); });
  std::printf("\n  %-24s %12s  (roofline() on the same mix: no curve lookups)\n", "roofline baseline",
              mega(roof.median).c_str());
  out["roofline_per_s"] = roof.median;
  const bench::OtherUse u = bench::other_use(before, bench::cpu_snapshot());
  out["other_processes"] = bench::to_json(u);
  std::printf("\nother processes used %.2f CPUs (hypervisor steal %.2f) during the %.0f s of measurement\n",
              u.others_cpus, u.steal_cpus, u.seconds);
  out["load_end"] = bench::load_json();
  std::printf("\n%s at the end\n", bench::load_text().c_str());
  bench::write_json(json_path, out);
  return 0;
}
