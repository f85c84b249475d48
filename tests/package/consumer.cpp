// A user's program: include the umbrella header, describe a profile, predict.
// Built against an installed hwcal (find_package) and a source tree
// (add_subdirectory) by tests/package. It also prints which backend targets it
// was linked with (their HWCAL_HAS_* macros), and calls OpenBLAS when linked
// with hwcal::openblas, so a component's include paths and libraries are used.
#include <hwcal/calibration.hpp>

#include <cstdio>
#include <string>

#if HWCAL_HAS_OPENBLAS
#include <cblas.h>
#endif

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
  const hwcal::Estimate e = mapper.estimate({hwcal::OpDesc{hwcal::OpKind::matmul, hwcal::MatmulShape{1, 512, 512, 512, false}}});
  std::printf("hwcal %s: 512^3 GEMM predicted %.1f us (%s-bound)\n", hwcal::version_string(), e.latency_s * 1e6, hwcal::to_string(e.bound));

  std::string backends;
  if (HWCAL_HAS_OPENBLAS) backends += " openblas";
  if (HWCAL_HAS_ONEDNN) backends += " onednn";
  if (HWCAL_HAS_TORCH) backends += " torch";
  if (HWCAL_HAS_CUDA) backends += " cuda";
  std::printf("backends compiled in:%s\n", backends.empty() ? " none" : backends.c_str());
  bool ok = e.latency_s > 0 && e.bound == hwcal::Bound::compute;
#if HWCAL_HAS_OPENBLAS
  const float x[3] = {1, 2, 3}, y[3] = {4, 5, 6};
  const float dot = cblas_sdot(3, x, 1, y, 1);
  std::printf("cblas_sdot: %g\n", double(dot));
  ok = ok && dot == 32.0f;
#endif
  return ok ? 0 : 1;
}
