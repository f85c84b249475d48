// bench/curve_loo: leave-one-out error of the mapper's interpolation on a
// profile's own samples. For every sample of every curve, the curve without
// that sample predicts it (CalibratedMapper::estimate, the subgraph alone);
// the error against the measured time is the interpolation's, free of any
// model the profile was not measured on. How interpolation choices are
// judged without looking at validation models (AIConfigurator reports the
// same statistic for its GEMM tables).
//
//   curve_loo --profile P.json [--json out.json] [--op conv2d]
#include "common.hpp"

#include <hwcal/mapper.hpp>
#include <hwcal/profile_io.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace {
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * double(v.size() - 1) + 0.5)];
}
}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv, "usage: curve_loo --profile P.json [--json out.json] [--op NAME]\n");
  const std::string path = args.value("--profile"), json_out = args.value("--json"), only = args.value("--op");
  args.finish();
  if (path.empty()) args.fail("--profile is required");
  const hwcal::HardwareCalibration profile = hwcal::load_profile(path);

  std::map<std::string, std::vector<double>> errors;  // signed log error per curve
  std::vector<double> all;
  for (std::size_t c = 0; c < profile.operations.size(); ++c) {
    const auto& curve = profile.operations[c];
    if (curve.samples.size() < 3) continue;  // nothing left to interpolate from
    if (!only.empty() && std::string(hwcal::to_string(curve.op)) != only) continue;
    const std::string key = std::string(hwcal::to_string(curve.op)) + " " + std::string(hwcal::to_string(curve.precision)) +
                            (curve.variant == hwcal::Variant::none ? "" : " " + std::string(hwcal::to_string(curve.variant))) +
                            " t" + std::to_string(curve.threads);
    for (std::size_t i = 0; i < curve.samples.size(); ++i) {
      hwcal::HardwareCalibration held = profile;
      auto& s = held.operations[c].samples;
      const hwcal::OpSample left_out = s[i];
      s.erase(s.begin() + static_cast<std::ptrdiff_t>(i));
      hwcal::MapperOptions o;
      o.threads = curve.threads;
      const hwcal::CalibratedMapper mapper(held, o);
      const hwcal::Estimate e = mapper.estimate({{curve.op, left_out.shape}, curve.precision, 0});
      const double err = std::log(e.latency_s / left_out.time.median_s);
      errors[key].push_back(err);
      all.push_back(err);
    }
  }
  std::printf("leave-one-out on %s (%s, %s), %s\n", path.c_str(), profile.name.c_str(), profile.host.cpu_model.c_str(),
              bench::load_text().c_str());
  std::printf("  %-34s %7s %12s %12s %10s\n", "curve", "samples", "median |err|", "p90 |err|", "bias");
  nlohmann::json j = {{"profile", path}, {"curves", nlohmann::json::object()}};
  auto row = [&](const std::string& name, const std::vector<double>& v) {
    std::vector<double> a;
    for (double x : v) a.push_back(std::abs(std::exp(x) - 1));
    double bias = 0;
    for (double x : v) bias += x;
    bias = std::exp(bias / double(v.size())) - 1;
    std::printf("  %-34s %7zu %11.1f%% %11.1f%% %+9.1f%%\n", name.c_str(), v.size(), 100 * quantile(a, 0.5), 100 * quantile(a, 0.9),
                100 * bias);
    j["curves"][name] = {{"samples", v.size()}, {"median_abs_err", quantile(a, 0.5)}, {"p90_abs_err", quantile(a, 0.9)}, {"bias", bias}};
  };
  for (const auto& [name, v] : errors) row(name, v);
  if (!all.empty()) row("ALL", all);
  bench::write_json(json_out, j);
  return 0;
}
