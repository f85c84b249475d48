// 03: predict a workload file, layer by layer (what `hwcal predict` does).
//   03_workload PROFILE.json WORKLOAD.json
#include <hwcal/calibration.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PROFILE.json WORKLOAD.json\n", argv[0]);
    return 2;
  }
  try {
    const hwcal::CalibratedMapper mapper(hwcal::load_profile(argv[1]));
    const hwcal::Workload w = hwcal::load_workload(argv[2]);  // names the subgraph and field of any error
    double total = 0;
    for (const auto& s : w.subgraphs) {
      const hwcal::Estimate e = mapper.estimate(s.graph);
      total += e.latency_s;
      std::printf("%-28s %-10s %9.1f us  %s\n", s.name.c_str(), std::string(hwcal::to_string(s.graph.op.kind)).c_str(),
                  e.latency_s * 1e6, hwcal::to_string(e.bound));
    }
    std::printf("%s: %zu subgraphs, %.3f ms\n", w.name.c_str(), w.subgraphs.size(), total * 1e3);
  } catch (const hwcal::Error& err) {
    std::fprintf(stderr, "%s\n", err.what());
    return 2;
  }
  return 0;
}
