// auto_calibrate.hpp: cache by fingerprint, recalibrate on damage, warn on mismatch.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/auto_calibrate.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace hwcal;

TEST_CASE("auto_calibrate caches its profile and reuses it", "[auto]") {
  const std::string dir = std::filesystem::temp_directory_path() / ("hwcal-cache-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  AutoCalibrateOptions o;
  o.cache_dir = dir + "/nested";
  o.ops = {OpKind::relu, OpKind::matmul};
  o.budget_s = 1.0;
  o.threads = 1;
  o.memory = false;
  double ops_started_s = -1;  // budget time already spent when the first op was measured
  o.progress = [&](const Progress& p) {
    if (p.stage == "operations" && ops_started_s < 0) ops_started_s = p.elapsed_s;
  };

  const AutoCalibration first = auto_calibrate(o);
  CHECK_FALSE(first.from_cache);
  REQUIRE_FALSE(first.path.empty());
  CHECK(std::filesystem::exists(first.path));
  CHECK(first.profile.mode == "auto");
  for (const auto& c : first.profile.operations) CHECK((c.op == OpKind::relu || c.op == OpKind::matmul));
  // Both ops measured, provided the timed peaks left the operations at least
  // half the budget (on a loaded machine they may not: then not checked).
  if (ops_started_s >= 0 && ops_started_s < o.budget_s / 2)
    CHECK(first.profile.operations.size() >= 2);
  else
    WARN("the peaks took " << ops_started_s << " s of the " << o.budget_s << " s budget: coverage not checked");

  const AutoCalibration second = auto_calibrate(o);
  CHECK(second.from_cache);
  CHECK(second.path == first.path);
  CHECK(second.profile.created_utc == first.profile.created_utc);

  // another request (ops) is another cache entry
  AutoCalibrateOptions other = o;
  other.ops = {OpKind::relu};
  CHECK(auto_calibrate(other).path != first.path);

  // a damaged cache entry is recalibrated, with the reason
  std::ofstream(first.path) << "{ truncated";
  const AutoCalibration repaired = auto_calibrate(o);
  CHECK_FALSE(repaired.from_cache);
  REQUIRE(repaired.warnings.size() == 1);
  CHECK(repaired.warnings[0].find("cached profile unusable") == 0);
  CHECK(auto_calibrate(o).from_cache);

  AutoCalibrateOptions forced = o;
  forced.force = true;
  CHECK_FALSE(auto_calibrate(forced).from_cache);

  // a valid profile of another machine at the cache path is never used
  HardwareCalibration foreign = test::make_test_profile();
  foreign.fingerprint = "ffffffffffffffff";
  save_profile(first.path, foreign);
  const AutoCalibration again = auto_calibrate(o);
  CHECK_FALSE(again.from_cache);
  REQUIRE(again.warnings.size() == 1);
  CHECK(again.warnings[0].find("describes another machine") != std::string::npos);
  CHECK(again.profile.fingerprint != foreign.fingerprint);

  // without CUDA in the program, auto_calibrate() covers the CPU only
  CHECK(second.gpus.empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("a budget of zero, a negative one, NaN or over a week is refused before anything is measured or cached",
          "[auto]") {
  const std::string dir = std::filesystem::temp_directory_path() / ("hwcal-budget-" + std::to_string(::getpid()));
  AutoCalibrateOptions o;
  o.cache_dir = dir;
  for (double b : {0.0, -1.0, 1e300, max_budget_s * 1.0001, std::nan(""), HUGE_VAL}) {
    INFO(b);
    o.budget_s = b;
    CHECK_THROWS_AS(auto_calibrate(o), std::invalid_argument);
  }
  CHECK_FALSE(std::filesystem::exists(dir));
  CHECK(valid_budget(max_budget_s));
  CHECK(valid_budget(1e-3));
}

TEST_CASE("a GPU profile is checked against the visible devices", "[auto]") {
  const HostInfo here = cpu::detect_host();
  const HardwareCalibration gpu = test::make_test_gpu_profile();
  // no device visible: one note naming the profile's GPU and why
  auto none = profile_mismatch(gpu, here, {}, "this hwcal cannot see GPUs");
  REQUIRE(none.size() == 1);
  CHECK(none[0].find("Test GPU (100 SMs") != std::string::npos);
  CHECK(none[0].find("cannot see GPUs") != std::string::npos);
  // the same GPU: no note, whatever the CPU
  CHECK(profile_mismatch(gpu, here, {*gpu.device}).empty());
  // another GPU (a synthetic A100-like device): a note naming both
  DeviceInfo other = *gpu.device;
  other.name = "Other GPU", other.sm_count = 108;
  auto m = profile_mismatch(gpu, here, {other});
  REQUIRE(m.size() == 1);
  CHECK(m[0].find("this machine has Other GPU (108 SMs)") != std::string::npos);
  // same name, another memory size (an H100 80 GB vs a 94 GB part): a note
  other = *gpu.device;
  other.memory_bytes = gpu.device->memory_bytes / 2;
  CHECK(profile_mismatch(gpu, here, {other}).size() == 1);
}

TEST_CASE("a profile of another machine is reported", "[auto]") {
  const HostInfo here = cpu::detect_host();
  HardwareCalibration p = test::make_test_profile();
  p.host = here;
  CHECK(profile_mismatch(p, here).empty());
  p.host.cpu_model = "Some Other CPU";
  p.host.logical_cpus = here.logical_cpus + 2;
  const auto m = profile_mismatch(p, here);
  REQUIRE(m.size() == 2);
  CHECK(m[0].find("'Some Other CPU'") != std::string::npos);
}

TEST_CASE("the cache directory follows XDG", "[auto]") {
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  CHECK(default_cache_dir() == "/tmp/xdg-test/hwcal");
  if (old)
    ::setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  else
    ::unsetenv("XDG_CACHE_HOME");
}
