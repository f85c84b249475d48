// A user's program: include the umbrella header, describe a profile, predict.
// Built against an installed hwcal (find_package) and a source tree
// (add_subdirectory) by tests/package, linked with hwcal::hwcal alone: the
// backends it reports (their HWCAL_HAS_* macros) must be none.
#include <hwcal/calibration.hpp>

#include <cstdio>
#include <string>

int main() {
  hwcal::HardwareCalibration profile;
  profile.target = "cpu";
  profile.backend = "eigen";
  profile.threads = 1;
  profile.host.cpu_model = "consumer";
  profile.host.logical_cpus = profile.host.threads_used = 1;
  profile.peaks.push_back({hwcal::Precision::fp32, 100.0, "example"});
  hwcal::OperationCalibration gemm;
  gemm.op = hwcal::OpKind::matmul;
  gemm.backend = "eigen";
  hwcal::OpSample s;
  s.shape = hwcal::MatmulShape{1, 512, 512, 512, false};
  s.flops = hwcal::flops(hwcal::OpDesc{hwcal::OpKind::matmul, s.shape});
  s.time.median_s = s.time.p10_s = s.time.p90_s = s.flops / 50e9;
  s.time.samples = 1;
  gemm.samples.push_back(s);
  profile.operations.push_back(gemm);

  const hwcal::HardwareCalibration loaded = hwcal::parse_profile(nlohmann::json(profile), "in-memory");
  const hwcal::CalibratedMapper mapper(loaded);
  const hwcal::Estimate e =
      mapper.estimate({hwcal::OpDesc{hwcal::OpKind::matmul, hwcal::MatmulShape{1, 512, 512, 512, false}}});
  std::printf("hwcal %s: 512^3 GEMM predicted %.1f us (%s-bound)\n", hwcal::version_string(), e.latency_s * 1e6,
              hwcal::to_string(e.bound));

  std::string backends;
  if (HWCAL_HAS_OPENBLAS) backends += " openblas";
  if (HWCAL_HAS_ONEDNN) backends += " onednn";
  if (HWCAL_HAS_TORCH) backends += " torch";
  if (HWCAL_HAS_CUDA) backends += " cuda";
  std::printf("backends compiled in:%s\n", backends.empty() ? " none" : backends.c_str());
  return e.latency_s > 0 && e.bound == hwcal::Bound::compute ? 0 : 1;
}
