// auto_calibrate.hpp: cache by fingerprint, recalibrate on damage, warn on mismatch.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/auto_calibrate.hpp>

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
  std::filesystem::remove_all(dir);
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
