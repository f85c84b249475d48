// schema.hpp and profile_io.hpp: round trips, validation errors that name the
// file and field, atomic saves.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/profile_io.hpp>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

using namespace hwcal;

namespace {
/// The message of the DocumentError `f` throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const DocumentError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a profile survives a JSON round trip", "[schema]") {
  const HardwareCalibration h = test::make_test_profile();
  const nlohmann::json j = h;
  const HardwareCalibration back = parse_profile(j, "mem");
  CHECK(nlohmann::json(back) == j);
  CHECK(back.operations.size() == h.operations.size());
  CHECK(back.operations[0].samples[1].time.median_s == h.operations[0].samples[1].time.median_s);
  CHECK(back.peak_gflops(Precision::fp32) == 100.0);
  CHECK_FALSE(back.peak_gflops(Precision::bf16).has_value());
  CHECK(back.fusions[0].samples[0].speedup() == Approx(1.25));
  CHECK(j["operations"][0]["size_axis"] == "flops");
  CHECK(j["operations"][1]["size_axis"] == "bytes");
}

TEST_CASE("bad fields are reported with their JSON pointer", "[schema]") {
  const nlohmann::json good = test::make_test_profile();
  auto broken = [&](auto edit) {
    nlohmann::json j = good;
    edit(j);
    return error_of([&] { parse_profile(j, "p.json"); });
  };
  CHECK(broken([](auto& j) {
          j["schema_version"] = 99;
        }).find("p.json: field '/schema_version': unsupported schema version 99") == 0);
  CHECK(broken([](auto& j) { j.erase("host"); }) == "p.json: field '/host': missing required field");
  CHECK(broken([](auto& j) { j["threads"] = "two"; }) == "p.json: field '/threads': expected an integer, got a string");
  CHECK(broken([](auto& j) {
          j["operations"][2]["samples"][0]["shape"]["k"] = -1;
        }).find("/operations/2/samples/0/shape") != std::string::npos);
  CHECK(broken([](auto& j) { j["operations"][0]["op"] = "convolution"; }) ==
        "p.json: field '/operations/0/op': unknown op 'convolution'");
  CHECK(broken([](auto& j) { j["operations"][0]["samples"][0]["time"]["median_s"] = 0; }) ==
        "p.json: field '/operations/0/samples/0/time/median_s': must be positive");
  CHECK(broken([](auto& j) { j["peaks"][0]["gflops"] = -3; }) ==
        "p.json: field '/peaks/0/gflops': must be positive (use null when unknown)");
  CHECK(broken([](auto& j) { j["peaks"][0]["gflops"] = 1e-320; }) ==
        "p.json: field '/peaks/0/gflops': less than 10^-6 GFLOP/s, not a plausible peak");
  CHECK(broken([](auto& j) { j["memory"]["sweep"][0]["gbps"] = 1e-320; }) ==
        "p.json: field '/memory/sweep/0/gbps': less than 10^-6 GB/s, not a plausible bandwidth");
  CHECK(broken([](auto& j) { j["software"]["eigen"] = 3; }) == "p.json: field '/software/eigen': expected a string");
  CHECK(broken([](auto& j) { j["operations"][2]["variant"] = "depthwise"; }).find("shape is a dense conv2d") !=
        std::string::npos);
  CHECK(broken([](auto& j) { j["target"] = "tpu"; }).find("expected \"cpu\" or \"cuda\"") != std::string::npos);
}

TEST_CASE("load_profile names the file for unreadable, truncated and non-JSON input", "[schema]") {
  test::TempFile f("profile.json");
  CHECK(error_of([&] { load_profile(f.path); }).find(f.path + ": cannot open") == 0);
  f.write("");
  CHECK(error_of([&] { load_profile(f.path); }) == f.path + ": file is empty");
  const std::string full = dump_profile(test::make_test_profile());
  f.write(full.substr(0, full.size() / 2));
  CHECK(error_of([&] { load_profile(f.path); }).find(f.path + ": not valid JSON (parse error at line") == 0);
  f.write("profile: yes\n");
  CHECK(error_of([&] { load_profile(f.path); }).find("not valid JSON") != std::string::npos);
  f.write("[1, 2]");
  CHECK(error_of([&] { load_profile(f.path); }) == f.path + ": expected an object, got an array");
  f.write(full);
  CHECK(load_profile(f.path).name == "test machine");
}

TEST_CASE("a save killed mid-write leaves the previous profile intact", "[schema]") {
  test::TempFile f("profile.json");
  save_profile(f.path, test::make_test_profile());
  const std::string before = f.read();
  // A much larger profile, written by a child that is killed after its first chunk.
  HardwareCalibration big = test::make_test_profile();
  for (int i = 0; i < 2000; ++i) big.warnings.push_back(std::string(200, 'x'));
  const std::string content = dump_profile(big);
  REQUIRE(content.size() > 3 * 65536);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    detail::write_file_atomic(f.path, content, [](std::size_t written) {
      if (written >= 65536) ::raise(SIGKILL);
    });
    ::_exit(0);  // not reached
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
  CHECK(f.read() == before);
  CHECK_NOTHROW(load_profile(f.path));
  std::remove((f.path + ".tmp." + std::to_string(pid)).c_str());
  // and an uninterrupted save replaces it
  save_profile(f.path, big);
  CHECK(load_profile(f.path).warnings.size() == 2000);
}

TEST_CASE("contention flags, algorithm families, the read sweep and the L1 limit survive a round trip", "[schema]") {
  HardwareCalibration h = test::make_test_profile();
  h.host.vendor = "AuthenticAMD";
  h.host.family = 0x19, h.host.model = 0x11;
  h.operations[0].samples[1].disturbed = "other work took 30% of the CPU time";
  h.operations[0].samples[2].family = "oneDNN";
  BandwidthPoint r;
  r.kernel = "read", r.working_set_bytes = 16 << 10, r.gbps = 400;
  r.time.median_s = r.time.p10_s = r.time.p90_s = 16384 / 400e9;
  h.memory.read_sweep.push_back(r);
  h.memory.levels.front().triad_gbps = 123;
  h.memory.l1_limit.gbps = 448;
  h.memory.l1_limit.bytes_per_cycle = 64;
  h.memory.l1_limit.clock_ghz = 3.5;
  h.memory.l1_limit.threads = 2;
  h.memory.l1_limit.measured_share = 0.9;
  h.memory.l1_limit.derivation = "2 loads/cycle x 32 B ...";
  const nlohmann::json j = h;
  CHECK(j["operations"][0]["samples"][1]["disturbed"] == "other work took 30% of the CPU time");
  CHECK_FALSE(j["operations"][0]["samples"][0].contains("disturbed"));  // clean samples carry nothing
  CHECK(j["operations"][0]["samples"][2]["family"] == "oneDNN");
  CHECK_FALSE(j["operations"][0]["samples"][0].contains("family"));  // one family: nothing
  const HardwareCalibration back = parse_profile(j, "mem");
  CHECK(nlohmann::json(back) == j);
  CHECK(back.host.family == 0x19);
  CHECK(back.host.model == 0x11);
  CHECK(back.operations[0].samples[1].disturbed == "other work took 30% of the CPU time");
  CHECK(back.operations[0].samples[2].family == "oneDNN");
  CHECK(back.memory.read_sweep.size() == 1);
  CHECK(back.memory.levels.front().triad_gbps == 123);
  CHECK(back.memory.l1_limit.gbps == 448);
  CHECK(back.memory.l1_limit.threads == 2);
  CHECK(back.memory.l1_limit.derivation == "2 loads/cycle x 32 B ...");
}
