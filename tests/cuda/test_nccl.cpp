// NCCL collectives on the GPUs of this machine: skipped (exit 77) with fewer
// than 2 GPUs or without NCCL. Plausibility only (times grow with the
// message, bus bandwidth below any link of this era); the numbers
// themselves are the validation's (validation/gpu/collectives_torch.py).
#include "gpu_support.hpp"

#include <hwcal/calibrator.hpp>
#include <hwcal/cuda/device.hpp>

#include <cstdlib>
#include <iostream>

using namespace hwcal;

namespace {
void need_two_gpus() {
#if !HWCAL_HAS_NCCL
  std::cerr << "built without NCCL: skipped\n";
  std::exit(hwcal_skip_exit_code);
#endif
  if (cuda::device_count() < 2) {
    std::cerr << "fewer than 2 GPUs: skipped\n";
    std::exit(hwcal_skip_exit_code);
  }
}
}  // namespace

TEST_CASE("NCCL collectives on 2 GPUs: graph and eager curves", "[nccl]") {
  need_two_gpus();
  std::unique_ptr<Communicator> comm = hwcal_test::backend().make_communicator(2);
  const CollectivesCalibration d = comm->describe();
  CHECK(d.library == "nccl");
  CHECK_FALSE(d.version.empty());
  CHECK(d.topology.find("GPU1") != std::string::npos);
  CHECK_FALSE(comm->unsupported(OpKind::all_reduce, Precision::tf32).empty());

  CollectiveOptions o;
  o.quick = true;
  o.max_bytes = 64 << 20;
  std::vector<std::string> warnings;
  const auto curves = calibrate_collectives(*comm, o, warnings);
  for (const auto& w : warnings) WARN(w);
  CHECK(warnings.empty());
  REQUIRE(curves.size() == 12);  // six collectives x graph and eager, bf16
  for (const auto& c : curves) {
    INFO(to_string(c.op) << " " << to_string(c.launch));
    REQUIRE(c.samples.size() == 8);  // 4 KiB .. 64 MiB, 4x apart
    CHECK(c.samples.back().time.median_s > c.samples.front().time.median_s);
    const double busbw = c.busbw_gbps(c.samples.back());
    CHECK(busbw > 1);
    CHECK(busbw < 5000);
    CHECK(c.alpha_s < 1e-3);
  }
}

TEST_CASE("NCCL: more GPUs than the machine has is an error", "[nccl]") {
  need_two_gpus();
  CHECK_THROWS_AS(hwcal_test::backend().make_communicator(cuda::device_count() + 1), UnavailableError);
  CHECK_THROWS_AS(collective_gpu_counts({cuda::device_count() * 2}, cuda::device_count()), UnavailableError);
}
