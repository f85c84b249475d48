// bench/auto_calibrate_start: how long a program's start-up call of
// hwcal::auto_calibrate() takes, first (nothing cached: a calibration within
// the budget) and then from the cache (the fingerprint computed, the profile
// read and validated), for the CPU and, built with CUDA, every visible GPU.
// Prints a table and optionally JSON; asserts nothing (issue goals: first
// start within budget + 2 s, a cached start under 20 ms).
//
//   auto_calibrate_start [--budget S] [--device-budget S] [--runs N] [--json out.json]
#include "common.hpp"

#include <hwcal/calibration.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

int main(int argc, char** argv) {
  bench::Args args(argc, argv,
                   "usage: auto_calibrate_start [--budget S] [--device-budget S] [--runs N] [--json out.json]\n");
  hwcal::AutoCalibrateOptions o;
  o.budget_s = args.number("--budget", 4.0);
  o.device_budget_s = args.number("--device-budget", 10.0);
  const int runs = std::max(1, args.integer("--runs", 9));
  const std::string json_out = args.value("--json", "");
  args.finish();
  o.cache_dir = (std::filesystem::temp_directory_path() / ("hwcal-start-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(o.cache_dir);

  const double t0 = hwcal::now_s();
  const hwcal::AutoCalibration first = hwcal::auto_calibrate(o);
  const double first_s = hwcal::now_s() - t0;
  std::vector<double> cached;
  bool all_cached = true;
  for (int i = 0; i < runs; ++i) {
    const double a = hwcal::now_s();
    const hwcal::AutoCalibration again = hwcal::auto_calibrate(o);
    cached.push_back(hwcal::now_s() - a);
    all_cached = all_cached && again.from_cache;
    for (const auto& g : again.gpus) all_cached = all_cached && g.from_cache;
  }
  std::sort(cached.begin(), cached.end());
  const double median = cached[cached.size() / 2];
  std::filesystem::remove_all(o.cache_dir);

  std::printf("auto_calibrate() start-up on %s, %s\n", first.profile.host.cpu_model.c_str(),
              bench::load_text().c_str());
  std::printf("  devices: cpu%s\n", first.gpus.empty() ? " (no GPU: built without CUDA or none visible)" : "");
  for (const auto& g : first.gpus)
    std::printf("           %s: %s\n", g.device.c_str(),
                g.ok() ? g.profile.name.c_str() : ("ERROR " + g.error).c_str());
  std::printf("  first start (calibration, CPU budget %.1f s, each GPU %.1f s): %.3f s\n", o.budget_s,
              o.device_budget_s, first_s);
  std::printf("  cached start: median %.2f ms of %d (min %.2f, max %.2f)%s\n", median * 1e3, runs, cached.front() * 1e3,
              cached.back() * 1e3, all_cached ? "" : "  NOT ALL FROM CACHE");
  if (!json_out.empty()) {
    nlohmann::json j = {{"cpu", first.profile.host.cpu_model},
                        {"first_s", first_s},
                        {"cached_s", cached},
                        {"cached_median_s", median},
                        {"budget_s", o.budget_s},
                        {"device_budget_s", o.device_budget_s},
                        {"all_cached", all_cached},
                        {"load", bench::load_json()}};
    for (const auto& g : first.gpus) j["gpus"].push_back({{"device", g.device}, {"ok", g.ok()}, {"error", g.error}});
    bench::write_json(json_out, j);
  }
  return 0;
}
