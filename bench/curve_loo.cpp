// bench/curve_loo: leave-one-out error of the mapper's interpolation on a
// profile's own samples (include/hwcal/loo.hpp, the same as `hwcal show
// --loo`). For every clean sample of every curve, the curve without that
// sample predicts it (CalibratedMapper::estimate, the subgraph alone); the
// error against the measured time is the interpolation's, free of any model
// the profile was not measured on. How interpolation choices are judged
// without looking at validation models (AIConfigurator reports the same
// statistic for its GEMM tables).
//
//   curve_loo --profile P.json [--json out.json] [--op conv2d] [--regime-weight W]
#include "common.hpp"

#include <hwcal/loo.hpp>
#include <hwcal/profile_io.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  bench::Args args(argc, argv, "usage: curve_loo --profile P.json [--json out.json] [--op NAME] [--regime-weight W]\n");
  const std::string path = args.value("--profile"), json_out = args.value("--json"), only = args.value("--op");
  hwcal::MapperOptions opt;
  opt.regime_weight = args.number("--regime-weight", hwcal::MapperOptions::default_regime_weight);
  args.finish();
  if (path.empty()) args.fail("--profile is required");
  std::vector<hwcal::OpKind> ops;
  if (!only.empty()) {
    hwcal::OpKind k{};
    if (!hwcal::parse(only, k)) args.fail("unknown op '" + only + "'");
    ops.push_back(k);
  }
  const hwcal::HardwareCalibration profile = hwcal::load_profile(path);
  const hwcal::LooResult r = hwcal::leave_one_out(profile, opt, ops);

  std::printf("leave-one-out on %s (%s, %s), regime weight %g, %s\n", path.c_str(), profile.name.c_str(),
              profile.host.cpu_model.c_str(), opt.regime_weight, bench::load_text().c_str());
  std::printf("  %-34s %7s %8s %12s %10s %10s %8s\n", "curve", "samples", "MAPE", "median |err|", "p90 |err|",
              "within 10%", "bias");
  nlohmann::json j = {{"profile", path}, {"regime_weight", opt.regime_weight}, {"curves", nlohmann::json::object()}};
  auto row = [&](const std::string& name, const hwcal::LooCurve& c) {
    std::printf("  %-34s %7d %7.1f%% %11.1f%% %9.1f%% %9.1f%% %+7.1f%%\n", name.c_str(), c.n, 100 * c.mape,
                100 * c.median_ape, 100 * c.p90_ape, 100 * c.within10, 100 * c.bias);
    j["curves"][name] = {{"samples", c.n},           {"mape", c.mape},         {"median_abs_err", c.median_ape},
                         {"p90_abs_err", c.p90_ape}, {"within10", c.within10}, {"bias", c.bias}};
  };
  std::vector<std::size_t> all;
  for (std::size_t i = 0; i < r.curves.size(); ++i) {
    const hwcal::LooCurve& c = r.curves[i];
    row(std::string(hwcal::to_string(c.op)) + " " + std::string(hwcal::to_string(c.precision)) +
            (c.variant == hwcal::Variant::none ? "" : " " + std::string(hwcal::to_string(c.variant))) + " t" +
            std::to_string(c.threads),
        c);
    all.push_back(i);
  }
  if (!all.empty()) row("ALL", hwcal::loo_summary(r, all));
  bench::write_json(json_out, j);
  return 0;
}
