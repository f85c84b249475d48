// cpu/stream.hpp: STREAM kernels, the working-set plan and levels.
#include "catch.hpp"

#include <hwcal/cpu/stream.hpp>

#include <algorithm>

using namespace hwcal;

namespace {
HostInfo small_host() {
  HostInfo h;
  h.caches = {{1, "Data", 32 << 10, 1}, {2, "Unified", 1 << 20, 1}, {3, "Unified", 8 << 20, 4}};
  h.memory_bytes = i64{256} << 20;  // caps the DRAM working set at 64 MiB
  return h;
}
}  // namespace

TEST_CASE("STREAM kernels compute what STREAM computes", "[stream]") {
  cpu::StreamArrays a(1000, 2);
  a.run(cpu::StreamKernel::triad, 1000);  // a = b + 3c = 2
  a.run(cpu::StreamKernel::copy, 1000);   // c = a = 2
  a.run(cpu::StreamKernel::scale, 1000);  // b = 3c = 6
  a.run(cpu::StreamKernel::add, 1000);    // c = a + b = 8
  a.run(cpu::StreamKernel::triad, 1000);  // a = b + 3c = 30
  const BandwidthPoint p = cpu::measure_stream(a, cpu::StreamKernel::triad, 24000, MeasureOptions::quick());
  CHECK(p.working_set_bytes == 24000);
  CHECK(p.gbps > 0);
  CHECK(p.kernel == "triad");
  CHECK(cpu::stream_arrays(cpu::StreamKernel::copy) == 2);
}

TEST_CASE("the memory plan spans L1 to beyond the last cache", "[stream]") {
  const cpu::MemoryPlan full = cpu::plan_memory(small_host(), false);
  CHECK(full.dram_bytes == i64{64} << 20);
  CHECK(full.sweep_bytes.front() == 8 << 10);  // 8 KiB per thread: inside any L1
  CHECK(cpu::plan_memory(small_host(), false, 4).sweep_bytes.front() == 32 << 10);
  CHECK(full.sweep_bytes.back() == full.dram_bytes);
  CHECK(full.capped == false);
  CHECK(cpu::plan_memory(small_host(), true).sweep_bytes.size() < full.sweep_bytes.size());
}

TEST_CASE("levels come from the sweep point inside each cache", "[stream]") {
  std::vector<BandwidthPoint> sweep;
  for (auto [ws, gbps] : {std::pair<i64, double>{16 << 10, 200}, {512 << 10, 100}, {4 << 20, 40}, {64 << 20, 10}}) {
    BandwidthPoint p;
    p.working_set_bytes = ws, p.gbps = gbps;
    sweep.push_back(p);
  }
  const auto levels = cpu::derive_levels(small_host(), 2, sweep);
  REQUIRE(levels.size() == 4);
  CHECK(levels[0].name == "L1");
  CHECK(levels[0].size_bytes == 64 << 10);  // two private L1s
  CHECK(levels[0].gbps == 200);
  CHECK(levels[1].gbps == 100);  // 512 KiB fits half of 2 x 1 MiB
  CHECK(levels[2].gbps == 40);
  CHECK(levels[3].name == "DRAM");
  CHECK(levels[3].gbps == 10);
}

TEST_CASE("a small memory calibration runs end to end", "[stream]") {
  HostInfo h = small_host();
  h.memory_bytes = i64{64} << 20;  // 16 MiB arrays: fast
  MeasureOptions o = MeasureOptions::quick();
  o.max_time_s = 0.02;
  int calls = 0;
  std::vector<std::string> notes;
  const MemoryCalibration m = cpu::calibrate_memory(
      h, 1, true, o, [&](int, int, const std::string&) { ++calls; }, &notes);
  CHECK(m.stream.size() == 4);
  CHECK_FALSE(m.sweep.empty());
  CHECK(m.levels.back().name == "DRAM");
  CHECK(m.read_sweep.size() == m.sweep.size());
  CHECK(calls == int(m.read_sweep.size() + m.sweep.size() + m.stream.size()));
  // 16 MiB < 4 x 8 MiB: capped (other notes depend on the machine: level order, the load-port check)
  CHECK(std::count_if(notes.begin(), notes.end(), [](const std::string& n) {
          return n.find("under 4x the last-level cache") != std::string::npos;
        }) == 1);
}

TEST_CASE("a sweep point reads and triads private per-thread buffers", "[stream]") {
  const HostInfo h = cpu::detect_host();
  MeasureOptions o = MeasureOptions::quick();
  o.max_time_s = 0.01;
  o.warmup_s = 0.001;
  for (int threads : {1, 2})
    for (const char* k : {"read", "triad"}) {
      INFO(k << " on " << threads << " thread(s)");
      cpu::Disturbance d;
      const BandwidthPoint p = cpu::measure_sweep_point(h, threads, k, 100000, o, &d);
      CHECK(p.kernel == k);
      CHECK(p.gbps > 0);
      CHECK(p.working_set_bytes % threads == 0);
      CHECK(p.working_set_bytes <= 100000);  // rounded down to the kernel's granularity
      CHECK(p.working_set_bytes > 100000 / 2);
      // the team is alive when the counters are read: they were read
#if defined(__linux__)
      CHECK(d.valid);
#endif
    }
}

namespace {
HostInfo cpu_of(std::string vendor, int family, int model, std::vector<std::string> isa, double ghz) {
  HostInfo h;
  h.vendor = std::move(vendor);
  h.family = family, h.model = model;
  h.isa = std::move(isa);
  h.measured_clock_ghz = ghz;
  return h;
}
}  // namespace

TEST_CASE("load ports come from the vendor, family and ISA, never assumed", "[stream]") {
  // Sapphire Rapids (AMX): two 512-bit loads per cycle
  const HostInfo spr = cpu_of("GenuineIntel", 6, 0x8F, {"avx2", "fma", "avx512f", "amx_bf16"}, 2.0);
  CHECK(cpu::load_ports(spr, 64).bytes_per_cycle() == 128);
  CHECK(cpu::load_ports(spr, 32).bytes_per_cycle() == 64);  // a 256-bit kernel moves half of it
  // Zen 4 (EPYC 9004): 64 B per cycle, as one 512-bit or two 256-bit loads
  const HostInfo zen4 = cpu_of("AuthenticAMD", 0x19, 0x11, {"avx2", "fma", "avx512f"}, 3.0);
  CHECK(cpu::load_ports(zen4, 64).bytes_per_cycle() == 64);
  CHECK(cpu::load_ports(zen4, 32).bytes_per_cycle() == 64);
  CHECK(cpu::load_ports(zen4, 64).core.find("Zen 4") != std::string::npos);
  // Zen 2 and an AVX2 Intel core
  CHECK(cpu::load_ports(cpu_of("AuthenticAMD", 0x17, 0x31, {"avx2", "fma"}, 2.5), 32).bytes_per_cycle() == 64);
  CHECK(cpu::load_ports(cpu_of("GenuineIntel", 6, 0x55, {"avx2", "fma"}, 2.5), 32).bytes_per_cycle() == 64);
  // the scalar fallback kernel: 8-byte loads
  CHECK(cpu::load_ports(spr, 8).bytes_per_cycle() == 16);
  // unknown cores: no limit, and the reason
  const cpu::LoadPorts none = cpu::load_ports(cpu_of("implementer 0x41", 0, 0, {}, 2.0), 16);
  CHECK(none.bytes_per_cycle() == 0);
  CHECK(none.core.find("no load-port entry") != std::string::npos);
}

TEST_CASE("the L1 limit is ports x width x measured clock x threads, derivation stated", "[stream]") {
  HostInfo zen4 = cpu_of("AuthenticAMD", 0x19, 0x11, {"avx2", "fma", "avx512f"}, 3.5);
  const int vec = cpu::detail::sweep_vector_bytes(zen4);  // what this build's kernels use on such a host
  const double per_cycle = cpu::load_ports(zen4, vec).bytes_per_cycle();
  REQUIRE(per_cycle > 0);
  const LoadLimit l = cpu::l1_load_limit(zen4, 2, 0.9 * per_cycle * 3.5 * 2);
  CHECK(l.gbps == Approx(per_cycle * 3.5 * 2));
  CHECK(l.measured_share == Approx(0.9));
  CHECK(l.derivation.find("3.50 GHz (measured clock)") != std::string::npos);
  CHECK(l.derivation.find("= 90% of it") != std::string::npos);
  zen4.measured_clock_ghz = 0;
  const LoadLimit none = cpu::l1_load_limit(zen4, 1, 100);
  CHECK(none.gbps == 0);
  CHECK(none.derivation == "not derived: no measured clock");
}

TEST_CASE("level checks: each level faster than the next, L1 near its limit", "[stream]") {
  MemoryCalibration m;
  m.levels = {{"L1", 48 << 10, 16 << 10, 300},
              {"L2", 2 << 20, 512 << 10, 150},
              {"L3", 0, 32 << 20, 60},
              {"DRAM", 0, 1 << 30, 12}};
  m.l1_limit.gbps = 320;
  m.l1_limit.measured_share = 300.0 / 320;
  CHECK(cpu::check_levels(m).empty());
  m.levels[0].gbps = 100;  // L1 timed with the call inside: below L2, 31% of the limit
  m.l1_limit.measured_share = 100.0 / 320;
  const auto notes = cpu::check_levels(m);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0] == "memory: L1 read bandwidth (100 GB/s) is not above L2's (150 GB/s)");
  CHECK(notes[1].find("31% of the load-port limit") != std::string::npos);
  // above the limit by more than 25%: the clock it was derived from read low
  m.levels[0].gbps = 450;
  m.l1_limit.measured_share = 450.0 / 320;
  CHECK_FALSE(m.l1_limit.within_25_percent());
  const auto above = cpu::check_levels(m);
  REQUIRE(above.size() == 1);
  CHECK(above[0].find("141% of the load-port limit (expected within 25%; above it, the measured clock read low)") !=
        std::string::npos);
}

TEST_CASE("a level is not taken from a working set that still fits the level above", "[stream]") {
  // 1 thread, L1 32 KiB: 24 KiB is under half of L2 but still in L1, so it must not become L2's figure
  std::vector<BandwidthPoint> sweep;
  for (auto [ws, gbps] : {std::pair<i64, double>{8 << 10, 400}, {24 << 10, 390}, {512 << 10, 100}, {64 << 20, 10}}) {
    BandwidthPoint p;
    p.working_set_bytes = ws, p.gbps = gbps;
    sweep.push_back(p);
  }
  const auto levels = cpu::derive_levels(small_host(), 1, sweep);
  REQUIRE(levels.size() >= 2);
  CHECK(levels[0].gbps == 400);
  CHECK(levels[1].name == "L2");
  CHECK(levels[1].gbps == 100);
}
