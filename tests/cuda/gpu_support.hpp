#pragma once
// Helpers shared by the GPU test programs.
#include "catch.hpp"

#include <hwcal/cuda/backend.hpp>

#include <exception>
#include <iostream>
#include <memory>
#include <string>

namespace hwcal_test {

/// One backend per test program, on device 0. Never destroyed: its cuDNN and
/// cuBLASLt handles must not outlive the CUDA runtime's own teardown at exit.
inline hwcal::cuda::CudaBackend& backend() {
  static auto* b = new hwcal::cuda::CudaBackend(0);
  return *b;
}

inline std::string describe(const hwcal::OpDesc& op, hwcal::Precision p) {
  return std::string(hwcal::to_string(op.kind)) + " " + std::string(hwcal::to_string(p)) + " " +
         hwcal::detail::shape_to_json(op).dump();
}

/// make, run, sync, check: the result of one execution against the reference.
inline hwcal::CheckResult run_and_check(hwcal::Kernel& k) {
  k.run();
  backend().sync();
  return k.check();
}

/// Every (op, precision): supported ones must compute correctly, the others
/// must refuse with UnavailableError.
inline void check_op(const hwcal::OpDesc& op, hwcal::Precision p) {
  auto& b = backend();
  const hwcal::Support s = b.supports(op, p);
  INFO(describe(op, p) << ": " << s.note);
  if (!s.usable()) {
    CHECK_THROWS_AS(b.make(op, p), hwcal::UnavailableError);
    return;
  }
  // Failures are recorded per (op, precision) so one does not hide the others.
  std::unique_ptr<hwcal::Kernel> k;
  try {
    k = b.make(op, p);
  } catch (const std::exception& e) {
    FAIL_CHECK("make() threw although supports() said usable: " << e.what());
    return;
  }
  INFO("implementation: " << k->implementation());
  try {
    const hwcal::CheckResult r = run_and_check(*k);
    INFO(r.detail << " (max error " << r.max_error << ", " << r.checked << " checked)");
    CHECK(r.ok);
    CHECK(r.checked > 0);
  } catch (const std::exception& e) {
    FAIL_CHECK("run/check threw: " << e.what());
  }
}

}  // namespace hwcal_test
