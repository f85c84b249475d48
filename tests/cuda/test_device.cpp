// What the device reports (runs on a GPU machine; skipped without one).
#include "gpu_support.hpp"

#include <hwcal/cuda/peaks.hpp>

using namespace hwcal;
using namespace hwcal::cuda;

TEST_CASE("query_device fills the device block") {
  const DeviceInfo d = query_device(0);
  nlohmann::json j = d;
  std::cout << "device: " << j.dump() << "\n";
  CHECK_FALSE(d.name.empty());
  CHECK(d.uuid.rfind("GPU-", 0) == 0);
  CHECK(d.sm_count > 0);
  CHECK(d.cc_major >= 7);
  CHECK(d.memory_bytes > 0);
  CHECK(d.l2_bytes > 0);
  CHECK(d.max_sm_clock_mhz > 0);
  CHECK(d.max_mem_clock_mhz > 0);
  CHECK(d.memory_bus_bits > 0);
  CHECK_FALSE(d.driver.empty());
}

TEST_CASE("library versions") {
  const auto sw = software_versions();
  for (const auto& [k, v] : sw) std::cout << k << " = " << v << "\n";
  CHECK(sw.count("cuda_runtime") == 1);
  CHECK(sw.count("cublas") == 1);
  CHECK(sw.count("cudnn") == 1);
  CHECK(sw.at("cudnn").rfind("9.", 0) == 0);
}

TEST_CASE("peaks of a known architecture are derived, not guessed") {
  const DeviceInfo d = query_device(0);
  const auto peaks = theoretical_peaks(d);
  for (const auto& p : peaks)
    std::cout << to_string(p.precision) << ": " << (p.gflops ? std::to_string(*p.gflops) : "-") << " GFLOP/s, "
              << p.derivation << "\n";
  if (find_arch(d.cc_major, d.cc_minor)) CHECK(peaks[static_cast<std::size_t>(Precision::bf16)].gflops.has_value());
  const BandwidthPeak bw = dram_bandwidth(d);
  std::cout << "DRAM: " << bw.derivation << "\n";
  CHECK(bw.gbps.has_value());
}

TEST_CASE("clocks are sampled through NVML when the driver provides it") {
  ClockMonitor clocks(0);
  if (!clocks.available()) {
    WARN("NVML unavailable: " << clocks.why_unavailable());
    return;
  }
  const ClockSample s = clocks.sample();
  CHECK(s.sm_mhz > 0);
  CHECK(s.mem_mhz > 0);
  CHECK(clocks.max_sm_mhz() > 0);
  DeviceInfo d;
  clocks.apply(d);
  CHECK(d.measured_sm_clock_mhz > 0);
}

TEST_CASE("the backend identifies itself and refuses what it cannot run") {
  auto& b = hwcal_test::backend();
  CHECK(b.name() == "cuda");
  CHECK(b.target() == "cuda");
  CHECK(b.software().contains("cudnn"));
  const OpDesc conv{OpKind::conv2d, Conv2dShape{1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, false}};
  CHECK_FALSE(b.supports(conv, Precision::int8).usable());
  CHECK_THROWS_AS(b.make(conv, Precision::int8), UnavailableError);
  const OpDesc relu{OpKind::relu, ElementwiseShape{1024, 1, 0}};
  CHECK_FALSE(b.supports(relu, Precision::tf32).usable());
  CHECK_THROWS_AS(b.make(relu, Precision::tf32), UnavailableError);
  const OpDesc bad{OpKind::relu, MatmulShape{1, 2, 3, 4, false}};
  CHECK_FALSE(b.supports(bad, Precision::fp32).usable());
  const OpDesc huge{OpKind::copy, BytesShape{std::int64_t{1} << 50}};
  CHECK_FALSE(b.supports(huge, Precision::fp32).usable());
  CHECK(b.supports_fusion(FusionPattern::attention, Precision::bf16).usable());
  CHECK_FALSE(b.supports_fusion(FusionPattern::attention, Precision::fp32).usable());
  CHECK_FALSE(b.supports_fusion(FusionPattern::qkt_softmax, Precision::bf16).usable());
  CHECK(b.software().at("cuda_options") == "algorithm=heuristic_first conv_layout=nchw");
  const OpDesc linear{OpKind::linear, MatmulShape{1, 16, 16, 16, true}};
  CHECK_THROWS_AS(b.make_fusion(FusionPattern::conv_relu, linear, Precision::fp16), UnavailableError);
}
