// 02: calibrate this machine at start-up (cached after the first run) and
// predict a small MLP.
#include <hwcal/calibration.hpp>

#include <cstdio>

int main() {
  hwcal::AutoCalibrateOptions opt;
  opt.budget_s = 3;                                        // the first run only
  opt.ops = {hwcal::OpKind::linear, hwcal::OpKind::relu};  // what this program predicts
  const hwcal::AutoCalibration cal = hwcal::auto_calibrate(opt);
  std::printf("%s profile %s\n", cal.from_cache ? "cached" : "new", cal.path.c_str());

  const hwcal::CalibratedMapper mapper(cal.profile);
  double total = 0;
  const hwcal::i64 widths[] = {784, 1024, 1024, 10};
  for (int i = 0; i < 3; ++i) {
    const hwcal::Subgraph fc{{hwcal::OpKind::linear, hwcal::MatmulShape{1, 32, widths[i + 1], widths[i], true}}};
    const hwcal::Subgraph act{{hwcal::OpKind::relu, hwcal::ElementwiseShape{32 * widths[i + 1], 1, 0}}};
    total += mapper.estimate(fc).latency_s + mapper.estimate(act).latency_s;
  }
  std::printf("MLP 784-1024-1024-10, batch 32: %.1f us predicted\n", total * 1e6);
  return 0;
}
