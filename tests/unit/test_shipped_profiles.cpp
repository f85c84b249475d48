// profiles/: every shipped profile loads, validates and drives a mapper.
#include "catch.hpp"

#include <hwcal/mapper.hpp>
#include <hwcal/profile_io.hpp>
#include <hwcal/workload.hpp>

#include <cmath>
#include <filesystem>

using namespace hwcal;
namespace fs = std::filesystem;

TEST_CASE("shipped profiles load into CPU and GPU mappers", "[profiles]") {
  int loaded = 0;
  const Workload w = load_workload(std::string(HWCAL_SOURCE_DIR) + "/tests/data/small_workload.json");
  for (const char* dir : {"cpu", "gpu"}) {
    const fs::path root = fs::path(HWCAL_SOURCE_DIR) / "profiles" / dir;
    if (!fs::exists(root)) continue;
    for (const auto& entry : fs::directory_iterator(root)) {
      if (entry.path().extension() != ".json") continue;
      INFO(entry.path().string());
      const HardwareCalibration p = load_profile(entry.path().string());
      CHECK(p.target == (std::string(dir) == "cpu" ? "cpu" : "cuda"));
      CHECK_FALSE(p.operations.empty());
      CHECK_FALSE(p.fingerprint.empty());
      const CalibratedMapper m(p);
      for (const auto& g : w.subgraphs) {
        const Estimate e = m.estimate(g.graph);
        CHECK(std::isfinite(e.latency_s));
        CHECK(e.latency_s > 0);
        CHECK(e.interval_lo_s <= e.latency_s);
        CHECK(e.latency_s <= e.interval_hi_s);
        if (p.target != "cpu") CHECK(e.latency_s >= e.overhead_s);  // launch overlaps device work
      }
      ++loaded;
    }
  }
  CHECK(loaded >= 1);
}
