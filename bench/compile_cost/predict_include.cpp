// A modelling TU that includes the light header and uses a mapper it is given.
#include <hwcal/predict.hpp>
double latency(const hwcal::CalibratedMapper& m) {
  return m.estimate({hwcal::linear(8, 64, 64), hwcal::Precision::fp32}).latency_s;
}
