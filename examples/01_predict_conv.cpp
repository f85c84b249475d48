// 01: predict one convolution from a saved profile.
//   01_predict_conv PROFILE.json
#include <hwcal/calibration.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PROFILE.json\n", argv[0]);
    return 2;
  }
  try {
    const hwcal::HardwareCalibration profile = hwcal::load_profile(argv[1]);  // validates every field
    const hwcal::CalibratedMapper mapper(profile);

    // ResNet-50 layer3 3x3: nn.Conv2d(256, 256, 3, padding=1, bias=False) on 1x256x14x14
    hwcal::Subgraph g{hwcal::conv2d(1, 256, 14, 14, 256, 3).padding(1).bias(false), hwcal::Precision::fp32};
    g.fused = hwcal::fused_bit(hwcal::OpKind::batchnorm) | hwcal::fused_bit(hwcal::OpKind::relu);

    const hwcal::Estimate e = mapper.estimate(g);
    std::printf("%s: conv+bn+relu %.1f us [%.1f, %.1f], %s-bound, efficiency %.0f%%\n", profile.name.c_str(),
                e.latency_s * 1e6, e.interval_lo_s * 1e6, e.interval_hi_s * 1e6, hwcal::to_string(e.bound),
                100 * e.efficiency);
    for (const auto& w : hwcal::warning_messages(e.warnings)) std::printf("  note: %s\n", w.c_str());
  } catch (const hwcal::Error& err) {
    std::fprintf(stderr, "%s\n", err.what());
    return 2;
  }
  return 0;
}
