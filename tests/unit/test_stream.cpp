// cpu/stream.hpp: STREAM kernels, the working-set plan and levels.
#include "catch.hpp"

#include <hwcal/cpu/stream.hpp>

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
  CHECK(full.sweep_bytes.front() == 16 << 10);
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
  const MemoryCalibration m = cpu::calibrate_memory(h, 1, true, o, [&](int, int, const std::string&) { ++calls; }, &notes);
  CHECK(m.stream.size() == 4);
  CHECK_FALSE(m.sweep.empty());
  CHECK(m.levels.back().name == "DRAM");
  CHECK(calls == int(m.sweep.size() + m.stream.size()));
  CHECK(notes.size() == 1);  // 16 MiB < 4 x 8 MiB: capped
}
