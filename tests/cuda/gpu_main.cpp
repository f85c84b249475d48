// Catch2 main of the GPU test programs: exits 77 (ctest's SKIP_RETURN_CODE)
// when no CUDA device is present, so machines without a GPU report the tests
// as skipped rather than failed. Listing tests never touches CUDA.
#define CATCH_CONFIG_RUNNER
#include "catch.hpp"

#include <hwcal/cuda/device.hpp>

#include <iostream>

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int rc = session.applyCommandLine(argc, argv)) return rc;
  const auto& cfg = session.config();
  bool listing = cfg.listTests() || cfg.listTags() || cfg.listReporters();
#if CATCH_VERSION_MAJOR < 3
  listing = listing || cfg.listTestNamesOnly();
#endif
  if (!listing && hwcal::cuda::device_count() == 0) {
    std::cerr << argv[0] << ": no CUDA device, skipped\n";
    return hwcal_skip_exit_code;
  }
  return session.run();
}
