// cpu/detect.hpp and cpu/peak.hpp: host description and derived peaks.
#include "catch.hpp"

#include <hwcal/cpu/peak.hpp>

using namespace hwcal;

TEST_CASE("sysfs parsing helpers", "[detect]") {
  CHECK(cpu::detail::parse_size("48K") == 48 * 1024);
  CHECK(cpu::detail::parse_size("2048K") == 2048 * 1024);
  CHECK(cpu::detail::parse_size("32M") == 32 << 20);
  CHECK(cpu::detail::parse_size("") == 0);
  CHECK(cpu::detail::count_cpu_list("0-3,8-11") == 8);
  CHECK(cpu::detail::count_cpu_list("5") == 1);
  CHECK(cpu::detail::trim("  a b \t") == "a b");
}

TEST_CASE("the host is described", "[detect]") {
  const HostInfo h = cpu::detect_host();
  CHECK_FALSE(h.cpu_model.empty());
  CHECK(h.logical_cpus >= 1);
  CHECK(h.physical_cores >= 1);
  CHECK(h.physical_cores <= h.logical_cpus);
  CHECK_FALSE(h.governor.empty());
  CHECK_FALSE(h.turbo.empty());
  CHECK(h.memory_bytes > 0);
  for (const auto& c : h.caches) {
    CHECK(c.level >= 1);
    CHECK(c.size_bytes > 0);
  }
}

TEST_CASE("clock and peaks are measured, and missing units say why", "[detect]") {
  const HostInfo h = cpu::detect_host();
  const cpu::ClockMeasurement c = cpu::measure_clock(1, 0.01);
  CHECK(c.ghz > 0);   // (no lower bound: a round preempted on a busy machine reads slower, by any factor)
  CHECK(c.ghz < 10);  // a dependent chain cannot run faster than the clock
  CHECK(c.min_ghz <= c.max_ghz);
  const Peak fp32 = cpu::derive_peak(Precision::fp32, h, 1, c);
#if defined(__x86_64__)
  REQUIRE(fp32.gflops.has_value());
  CHECK(*fp32.gflops > 0);
  CHECK(fp32.derivation.find("GHz (measured") != std::string::npos);
  const Peak fp64 = cpu::derive_peak(Precision::fp64, h, 1, c);
  REQUIRE(fp64.gflops.has_value());
  CHECK(*fp64.gflops > 0);  // (no ratio check: both are timed, and a busy machine moves them)
  CHECK(fp64.derivation.find("GHz (measured") != std::string::npos);
#endif
  const Peak tf32 = cpu::derive_peak(Precision::tf32, h, 1, c);
  CHECK_FALSE(tf32.gflops.has_value());
  CHECK_FALSE(tf32.derivation.empty());
  // A CPU described without avx512_bf16 gets no bf16 peak, whatever this machine has.
  HostInfo plain = h;
  plain.isa = {"avx2", "fma"};
  const Peak bf16 = cpu::derive_peak(Precision::bf16, plain, 1, c);
  CHECK_FALSE(bf16.gflops.has_value());
  CHECK(bf16.derivation.find("avx512_bf16") != std::string::npos);
}
