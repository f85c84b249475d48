// The TU that loads a profile and a workload and predicts (instantiates the readers).
#include <hwcal/predict.hpp>
int main(int, char** argv) {
  const hwcal::CalibratedMapper m(hwcal::load_profile(argv[1]));
  double t = 0;
  for (const auto& g : hwcal::load_workload(argv[2]).subgraphs) t += m.estimate(g.graph).latency_s;
  return t > 0;
}
