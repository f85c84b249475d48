#pragma once
// A Communicator without GPUs for tests: each call takes a synthetic
// alpha-beta time (alpha + bytes x bus factor / bus bandwidth) with a
// deterministic +-noise, so the calibration loop, the fit and the profile
// round trip run on any machine. Never used outside tests.

#include <hwcal/collectives.hpp>

#include <cstdint>
#include <string>

namespace hwcal_test {

/// The synthetic machine (outside the class: a nested struct's member
/// defaults are not usable in the enclosing class's default arguments).
struct FakeModel {
  double graph_alpha_s = 8e-6, eager_alpha_s = 20e-6;
  double busbw_gbps = 300;         ///< bandwidth every collective reaches on its bus
  double noise = 0.02;             ///< relative, uniform in [-noise, +noise]
  std::int64_t fail_at_bytes = 0;  ///< a call at this size throws (0: never)
};

class FakeCommunicator final : public hwcal::Communicator {
 public:
  using Model = FakeModel;

  explicit FakeCommunicator(int gpus, Model m = {}) : gpus_(gpus), m_(m) {}

  /// The noise-free time of one call.
  double ideal_s(hwcal::OpKind op, hwcal::LaunchMode mode, std::int64_t bytes) const {
    const double alpha = mode == hwcal::LaunchMode::graph ? m_.graph_alpha_s : m_.eager_alpha_s;
    return alpha + double(bytes) * hwcal::collective_bus_factor(op, gpus_) / (m_.busbw_gbps * 1e9);
  }

  int gpus() const override { return gpus_; }
  std::string unsupported(hwcal::OpKind, hwcal::Precision p) const override {
    return p == hwcal::Precision::fp8 ? "the fake has no fp8" : "";
  }
  void reserve(std::int64_t bytes) override { reserved_ = bytes; }
  double time_calls(hwcal::OpKind op, hwcal::Precision, hwcal::LaunchMode mode, std::int64_t bytes,
                    int calls) override {
    if (bytes > reserved_) throw hwcal::Error("fake communicator: message larger than the reserved buffers");
    if (m_.fail_at_bytes && bytes == m_.fail_at_bytes) throw hwcal::Error("fake failure");
    ++calls_;
    total_calls_ += calls;
    // a fixed linear congruential sequence: the same noise on every run
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    const double u = double(state_ >> 11) / double(1ull << 53);  // [0, 1)
    return ideal_s(op, mode, bytes) * (1 + m_.noise * (2 * u - 1));
  }
  hwcal::CollectivesCalibration describe() const override {
    hwcal::CollectivesCalibration c;
    c.library = "fake";
    c.version = "0";
    c.process_model = "one process (test double)";
    c.topology = "synthetic";
    c.algorithm = "alpha-beta";
    c.timing = "synthetic";
    return c;
  }
  int timed() const { return calls_; }
  long long total_calls() const { return total_calls_; }

 private:
  int gpus_;
  Model m_;
  std::int64_t reserved_ = 0;
  int calls_ = 0;
  long long total_calls_ = 0;
  unsigned long long state_ = 42;
};

}  // namespace hwcal_test
