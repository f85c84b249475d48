// The device timing harness, launch overhead and the bandwidth sweep: sanity
// of what they return, never how fast the GPU is (runs on a GPU machine;
// skipped without one). Run the binary directly to see the numbers.
#include "gpu_support.hpp"

#include <hwcal/cuda/bandwidth.hpp>
#include <hwcal/cuda/measure.hpp>
#include <hwcal/cuda/peaks.hpp>

#include <cmath>

using namespace hwcal;
using namespace hwcal::cuda;

namespace {
void sane(const Measurement& m) {
  CHECK(m.samples >= 1);
  CHECK(m.median_s > 0);
  CHECK(std::isfinite(m.median_s));
  CHECK(m.p10_s <= m.median_s);
  CHECK(m.median_s <= m.p90_s);
  CHECK(m.iterations >= 1);
}
}  // namespace

TEST_CASE("warm (graph-replayed) and cold (flushed) timing of a kernel") {
  auto& b = hwcal_test::backend();
  auto k = b.make({OpKind::relu, ElementwiseShape{1 << 22, 1, 0}}, Precision::fp32);
  Timer timer(0);
  CHECK(timer.flush_bytes() >= (std::int64_t{256} << 20));
  CHECK(timer.flush_time(b.stream()) > 0);
  ClockMonitor clocks(0);
  const Measurement warm = timer.measure([&] { k->run(); }, b.stream(), DeviceMeasureOptions::quick(), &clocks);
  sane(warm);
  const Measurement cold = timer.measure_cold([&] { k->run(); }, b.stream(), DeviceMeasureOptions::quick(), &clocks);
  sane(cold);
  std::cout << "relu 16 MiB fp32: warm " << warm.median_s * 1e6 << " us x" << warm.iterations << " per graph, cold "
            << cold.median_s * 1e6 << " us x" << cold.iterations << "\n";
  if (clocks.available()) {
    CHECK(clocks.samples() > 0);
    std::cout << "clocks: SM " << clocks.mean_sm_mhz() << " MHz, memory " << clocks.mean_mem_mhz() << " MHz, reasons "
              << describe_clock_reasons(clocks.reasons_seen()) << "\n";
  }
  b.sync();
  CHECK(k->check().ok);
}

TEST_CASE("a tiny kernel costs about a graph launch inside a graph") {
  auto& b = hwcal_test::backend();
  auto k = b.make({OpKind::add, ElementwiseShape{64, 2, 0}}, Precision::bf16);
  Timer timer(0, 1);
  const Measurement warm = timer.measure([&] { k->run(); }, b.stream(), DeviceMeasureOptions::quick());
  sane(warm);
  CHECK(warm.iterations > 1);  // many launches per graph: the replay's own cost is amortised
  std::cout << "64-element bf16 add inside a graph: " << warm.median_s * 1e6 << " us per launch\n";
}

TEST_CASE("launch overhead, eager, inside a CUDA graph and a graph replayed alone") {
  const LaunchOverhead o = measure_launch_overhead(0, MeasureOptions::quick());
  sane(o.eager);
  sane(o.graph);
  sane(o.graph_alone);
  CHECK(o.graph.iterations > 1);
  CHECK(o.graph_alone.iterations == 1);  // one replay per sample: the start is never amortized
  CHECK(o.graph_alone.samples >= MeasureOptions::quick().min_samples);
  std::cout << "empty kernel: eager " << o.eager.median_s * 1e6 << " us, in a graph " << o.graph.median_s * 1e6
            << " us, a graph of one replayed alone " << o.graph_alone.median_s * 1e6 << " us\n";
}

TEST_CASE("bandwidth sweep from L2 to HBM") {
  const DeviceInfo d = query_device(0);
  for (BandwidthKernel k : {BandwidthKernel::read, BandwidthKernel::copy, BandwidthKernel::triad}) {
    for (std::int64_t ws : {std::int64_t{64} << 10, std::int64_t{8} << 20, std::int64_t{1} << 30}) {
      const BandwidthPoint p = measure_bandwidth(0, k, ws, MeasureOptions::quick());
      CHECK(p.kernel == std::string(to_string(k)));
      CHECK(p.working_set_bytes <= ws);
      CHECK(p.working_set_bytes > ws * 9 / 10);
      CHECK(p.gbps > 0);
      CHECK(std::isfinite(p.gbps));
      CHECK(p.time.samples >= 1);
      std::cout << to_string(k) << " " << (ws >> 10) << " KiB: " << p.gbps << " GB/s\n";
    }
  }
  std::cout << "theoretical DRAM: " << dram_bandwidth(d).derivation << "\n";
}
