// A TU that includes the umbrella header but calibrates nothing.
#include <hwcal/calibration.hpp>
double latency(const hwcal::CalibratedMapper& m) {
  return m.estimate({hwcal::linear(8, 64, 64), hwcal::Precision::fp32}).latency_s;
}
