// Collectives without a GPU: bus-bandwidth factors, the alpha-beta fit, the
// log-log interpolation, the calibration loop on a synthetic communicator,
// the profile section's round trip and parser errors, the workload op and the
// mapper's lookups and fallbacks.
#include "catch.hpp"
#include "fake_communicator.hpp"
#include "test_profile.hpp"

#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/collectives.hpp>
#include <hwcal/mapper.hpp>
#include <hwcal/workload.hpp>

#include <algorithm>
#include <cmath>

using namespace hwcal;
using hwcal_test::FakeCommunicator;

namespace {

constexpr std::int64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

std::vector<CollectiveCurve> fake_curves(int gpus, bool quick, std::vector<std::string>& warnings,
                                         FakeCommunicator::Model m = {}) {
  FakeCommunicator comm(gpus, m);
  CollectiveOptions o;
  o.quick = quick;
  return calibrate_collectives(comm, o, warnings);
}

/// The test profile on a 2-GPU "cuda" target with quick fake curves at `gpus`.
HardwareCalibration profile_with_collectives(std::vector<int> gpu_counts = {8}) {
  HardwareCalibration h = test::make_test_profile();
  h.target = "cuda";
  std::vector<std::string> w;
  CollectivesCalibration c = FakeCommunicator(2).describe();
  for (int g : gpu_counts)
    for (auto& k : fake_curves(g, true, w)) c.curves.push_back(std::move(k));
  h.collectives = std::move(c);
  return h;
}

/// The DocumentError pointer of parsing `j`, or "" when it parses.
std::string error_pointer(const nlohmann::json& j) {
  try {
    parse_profile(j, "p.json");
  } catch (const DocumentError& e) {
    return e.pointer();
  }
  return "";
}

Subgraph collective(OpKind k, std::int64_t bytes, std::int64_t gpus, Precision p = Precision::bf16) {
  return {{k, CollectiveShape{bytes, gpus}}, p, 0};
}

}  // namespace

TEST_CASE("bus bandwidth factors are nccl-tests' definitions", "[collectives]") {
  CHECK(collective_bus_factor(OpKind::all_reduce, 2) == Approx(1.0));
  CHECK(collective_bus_factor(OpKind::all_reduce, 8) == Approx(1.75));
  CHECK(collective_bus_factor(OpKind::all_gather, 4) == Approx(0.75));
  CHECK(collective_bus_factor(OpKind::reduce_scatter, 8) == Approx(0.875));
  CHECK(collective_bus_factor(OpKind::all_to_all, 2) == Approx(0.5));
  CHECK(collective_bus_factor(OpKind::broadcast, 8) == Approx(1.0));
  CHECK(collective_bus_factor(OpKind::send_recv, 8) == Approx(1.0));
}

TEST_CASE("collective shapes: per-GPU tensors and checks naming the field", "[collectives]") {
  const Counts ag = counts({OpKind::all_gather, CollectiveShape{8 * MiB, 4}}, Precision::bf16);
  CHECK(ag.bytes == Approx(2 * MiB + 8 * MiB));  // sends its quarter, receives the whole
  CHECK(ag.flops == 0);
  const Counts rs = counts({OpKind::reduce_scatter, CollectiveShape{8 * MiB, 4}}, Precision::bf16);
  CHECK(rs.bytes == Approx(8 * MiB + 2 * MiB));
  CHECK(invalid_reason({OpKind::all_reduce, CollectiveShape{4096, 1}}) == "gpus: a collective needs at least 2 GPUs");
  CHECK(invalid_reason({OpKind::all_gather, CollectiveShape{4098, 4}}).rfind("bytes: ", 0) == 0);
  CHECK(invalid_reason({OpKind::all_reduce, CollectiveShape{4098, 4}}).empty());  // no pieces
  CHECK(detail::default_sweep(OpKind::all_reduce, true).empty());
  const auto sizes = detail::collective_sizes(false);
  CHECK(sizes.front() == 4 * KiB);
  CHECK(sizes.back() == GiB);
  CHECK(sizes.size() == 19);
  CHECK(detail::collective_sizes(true).size() == 10);
}

TEST_CASE("alpha-beta fit on the relative error", "[collectives]") {
  std::vector<std::pair<double, double>> pts;
  for (double b = 4096; b <= double(GiB); b *= 2) pts.push_back({b, 10e-6 + b / 200e9});
  const detail::AlphaBeta f = detail::fit_alpha_beta(pts);
  CHECK(f.alpha_s == Approx(10e-6).epsilon(1e-6));
  CHECK(f.bytes_per_s == Approx(200e9).epsilon(1e-6));
  CHECK(detail::max_relative_error(f, pts) < 1e-6);

  // latency only: the time does not grow with the bytes
  const detail::AlphaBeta flat = detail::fit_alpha_beta({{4096, 5e-6}, {8192, 5e-6}, {16384, 5e-6}});
  CHECK(flat.alpha_s == Approx(5e-6));
  CHECK(flat.bytes_per_s == 0);
  // bandwidth only: an intercept would be negative, so it is held at 0
  const detail::AlphaBeta steep = detail::fit_alpha_beta({{1e6, 1e-5}, {2e6, 2.2e-5}, {4e6, 4.6e-5}});
  CHECK(steep.alpha_s == 0);
  CHECK(steep.bytes_per_s > 0);
  // 1 GiB points do not swamp the 4 KiB ones: the fitted latency stays close
  pts.back().second *= 1.2;
  CHECK(detail::fit_alpha_beta(pts).alpha_s == Approx(10e-6).epsilon(0.1));
}

TEST_CASE("log-log interpolation inside the range, scaled alpha-beta outside", "[collectives]") {
  const std::vector<double> lb{std::log(4096.0), std::log(65536.0), std::log(1048576.0)};
  const std::vector<double> lt{std::log(10e-6), std::log(20e-6), std::log(100e-6)};
  const detail::AlphaBeta fit{9e-6, 12e9};
  bool outside = true;
  CHECK(detail::interpolate_loglog(lb.data(), lt.data(), 3, fit, 65536, outside) == Approx(20e-6));
  CHECK_FALSE(outside);
  // halfway in log bytes: the geometric mean of the neighbours
  CHECK(detail::interpolate_loglog(lb.data(), lt.data(), 3, fit, 16384, outside) == Approx(std::sqrt(10e-6 * 20e-6)));
  CHECK_FALSE(outside);
  // above: through the last point along the fit
  const double above = detail::interpolate_loglog(lb.data(), lt.data(), 3, fit, 4 * 1048576.0, outside);
  CHECK(outside);
  CHECK(above == Approx(100e-6 * fit.at(4 * 1048576.0) / fit.at(1048576.0)));
  // continuous at the edge, monotonic beyond it
  CHECK(detail::interpolate_loglog(lb.data(), lt.data(), 3, fit, 1048577, outside) == Approx(100e-6).epsilon(1e-4));
  CHECK(detail::interpolate_loglog(lb.data(), lt.data(), 3, fit, 1024, outside) < 10e-6);
  CHECK(outside);
}

TEST_CASE("collective calibration on a synthetic communicator", "[collectives]") {
  std::vector<std::string> warnings;
  FakeCommunicator::Model m;
  FakeCommunicator comm(8, m);
  CollectiveOptions o;
  o.quick = true;
  o.precisions = {Precision::bf16, Precision::fp8};
  const auto curves = calibrate_collectives(comm, o, warnings);
  REQUIRE(curves.size() == 6 * 2);  // six collectives x graph and eager; fp8 refused
  REQUIRE(warnings.size() == 6 * 2);
  CHECK(warnings.front().find("not calibrated: the fake has no fp8") != std::string::npos);
  for (const auto& c : curves) {
    INFO(to_string(c.op) << " " << to_string(c.launch));
    CHECK(c.gpus == 8);
    REQUIRE(c.samples.size() == 10);  // 4 KiB .. 1 GiB, 4x apart
    CHECK(c.samples.front().bytes == 4 * KiB);
    CHECK(c.samples.back().bytes == GiB);
    CHECK(c.samples.front().time.samples == 7);
    // the fit recovers the synthetic model within its noise
    const double alpha = c.launch == LaunchMode::graph ? m.graph_alpha_s : m.eager_alpha_s;
    CHECK(c.alpha_s == Approx(alpha).epsilon(0.05));
    CHECK(c.beta_gbps * c.bus_factor() == Approx(m.busbw_gbps).epsilon(0.05));
    CHECK(c.fit_error < 0.05);
    CHECK(c.busbw_gbps(c.samples.back()) == Approx(m.busbw_gbps).epsilon(0.05));
    for (const auto& s : c.samples) {
      CHECK(s.time.p10_s <= s.time.median_s);
      CHECK(s.time.median_s <= s.time.p90_s);
      CHECK(s.time.median_s == Approx(comm.ideal_s(c.op, c.launch, s.bytes)).epsilon(0.03));
      // calls per sample follow from the target sample time
      CHECK(s.time.iterations >= 1);
      CHECK(s.time.iterations <= o.max_calls);
    }
  }
}

TEST_CASE("a failing size ends its curve and is reported", "[collectives]") {
  std::vector<std::string> warnings;
  FakeCommunicator::Model m;
  m.fail_at_bytes = 64 * MiB;
  FakeCommunicator comm(2, m);
  CollectiveOptions o;
  o.quick = true;
  o.ops = {OpKind::all_reduce};
  o.launches = {LaunchMode::graph};
  const auto curves = calibrate_collectives(comm, o, warnings);
  REQUIRE(curves.size() == 1);
  CHECK(curves[0].samples.back().bytes == 16 * MiB);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("stopped at 67108864 B: fake failure") != std::string::npos);
  o.ops = {OpKind::relu};
  CHECK_THROWS_AS(calibrate_collectives(comm, o, warnings), Error);
}

TEST_CASE("6 GPUs: messages rounded down to pieces of whole elements, none skipped", "[collectives]") {
  std::vector<std::string> warnings;
  FakeCommunicator comm(6);
  CollectiveOptions o;
  o.quick = true;
  o.ops = {OpKind::all_gather, OpKind::all_reduce};
  o.launches = {LaunchMode::graph};
  o.precisions = {Precision::fp32};
  const auto curves = calibrate_collectives(comm, o, warnings);
  REQUIRE(curves.size() == 2);
  CHECK(warnings.empty());
  for (const auto& c : curves) {
    REQUIRE(c.samples.size() == 10);
    for (const auto& s : c.samples) CHECK(invalid_reason({c.op, CollectiveShape{s.bytes, 6}}).empty());
  }
  CHECK(curves[0].samples[0].bytes == 4096 - 4096 % 24);  // all_gather: 6 pieces of fp32
  CHECK(curves[1].samples[0].bytes == 4096);              // all_reduce: whole fp32 elements
}

TEST_CASE("GPU counts of a collective calibration", "[collectives]") {
  CHECK(collective_gpu_counts({}, 8) == std::vector<int>{2, 4, 8});
  CHECK(collective_gpu_counts({}, 6) == std::vector<int>{2, 4, 6});
  CHECK(collective_gpu_counts({}, 2) == std::vector<int>{2});
  CHECK(collective_gpu_counts({4}, 8) == std::vector<int>{4});
  CHECK_THROWS_AS(collective_gpu_counts({}, 1), UnavailableError);
  CHECK_THROWS_AS(collective_gpu_counts({16}, 8), UnavailableError);
  // a CPU backend refuses before measuring anything
  cpu::EigenBackend eigen;
  CalibrationOptions o;
  o.collectives = CollectiveOptions{};
  CHECK_THROWS_AS(calibrate(eigen, o), UnavailableError);
}

TEST_CASE("collectives section: JSON round trip", "[collectives][schema]") {
  const HardwareCalibration h = profile_with_collectives({2, 8});
  const nlohmann::json j = h;
  const HardwareCalibration back = parse_profile(j, "round.json");
  REQUIRE(back.collectives);
  CHECK(back.collectives->library == "fake");
  REQUIRE(back.collectives->curves.size() == h.collectives->curves.size());
  const CollectiveCurve& a = h.collectives->curves[3];
  const CollectiveCurve* b = back.collectives->find(a.op, a.gpus, a.precision, a.launch);
  REQUIRE(b);
  CHECK(b->alpha_s == a.alpha_s);
  CHECK(b->beta_gbps == a.beta_gbps);
  REQUIRE(b->samples.size() == a.samples.size());
  CHECK(b->samples[4].bytes == a.samples[4].bytes);
  CHECK(b->samples[4].time.median_s == a.samples[4].time.median_s);
  CHECK(nlohmann::json(back).dump() == j.dump());
  // busbw is written for readers, from the fit and from each sample
  const CollectiveCurve& c0 = h.collectives->curves[0];
  CHECK(j["collectives"]["curves"][0]["busbw_gbps"].get<double>() == Approx(c0.beta_gbps * c0.bus_factor()));
  CHECK(j["collectives"]["curves"][0]["samples"][9]["busbw_gbps"].get<double>() ==
        Approx(c0.busbw_gbps(c0.samples[9])));
  // a profile without the section reads as before
  HardwareCalibration plain = test::make_test_profile();
  CHECK_FALSE(parse_profile(nlohmann::json(plain), "plain.json").collectives);
}

TEST_CASE("collectives section: parser errors name the field", "[collectives][schema]") {
  const nlohmann::json good = profile_with_collectives({2});
  REQUIRE(error_pointer(good).empty());
  auto with = [&](auto edit) {
    nlohmann::json j = good;
    edit(j);
    return error_pointer(j);
  };
  const std::string c0 = "/collectives/curves/0";
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["op"] = "relu"; }) == c0 + "/op");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["op"] = "allreduce"; }) == c0 + "/op");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["gpus"] = 1; }) == c0 + "/gpus");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["launch"] = "lazy"; }) == c0 + "/launch");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["alpha_s"] = -1; }) == c0 + "/alpha_s");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["beta_gbps"] = "fast"; }) == c0 + "/beta_gbps");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["samples"] = nlohmann::json::array(); }) == c0 + "/samples");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["samples"][1]["bytes"] = 4096; }) == c0 + "/samples/1/bytes");
  CHECK(with([](auto& j) { j["collectives"]["curves"][0]["samples"][0]["time"]["median_s"] = 0; }) ==
        c0 + "/samples/0/time/median_s");
  CHECK(with([](auto& j) { j["collectives"].erase("curves"); }) == "/collectives/curves");
  CHECK(with([](auto& j) { j["collectives"].erase("library"); }) == "/collectives/library");
  // all_gather splits the message into gpus pieces
  CHECK(with([](auto& j) {
          auto& c = j["collectives"]["curves"][2];  // all_gather bf16 graph on 2 GPUs
          c["samples"][0]["bytes"] = 4097;
        }) == "/collectives/curves/2/samples/0/bytes");
  // the same curve twice
  CHECK(with([](auto& j) { j["collectives"]["curves"].push_back(j["collectives"]["curves"][0]); }) ==
        "/collectives/curves/" + std::to_string(good["collectives"]["curves"].size()));
  // a collective is no operation curve
  CHECK(with([](auto& j) { j["operations"][0]["op"] = "all_reduce"; }) == "/operations/0/op");
}

TEST_CASE("collective ops in a workload", "[collectives][workload]") {
  const nlohmann::json w = {{"hwcal_workload", 1},
                            {"precision", "bf16"},
                            {"subgraphs", {{{"name", "tp"}, {"op", "all_reduce"}, {"bytes", 8 * MiB}, {"gpus", 8}}}}};
  const Workload ok = parse_workload(w, "w.json");
  REQUIRE(ok.subgraphs.size() == 1);
  CHECK(std::get<CollectiveShape>(ok.subgraphs[0].graph.op.shape).gpus == 8);
  CHECK(ok.warnings.empty());
  auto pointer = [&](const std::string& field, const nlohmann::json& value, const std::string& op = "all_reduce") {
    nlohmann::json j = w;
    j["subgraphs"][0]["op"] = op;
    j["subgraphs"][0][field] = value;
    try {
      parse_workload(j, "w.json");
    } catch (const DocumentError& e) {
      return e.pointer();
    }
    return std::string();
  };
  CHECK(pointer("gpus", 1) == "/subgraphs/0/gpus");
  CHECK(pointer("bytes", 0) == "/subgraphs/0/bytes");
  CHECK(pointer("bytes", 1001, "all_to_all") == "/subgraphs/0/bytes");  // not a multiple of 8 GPUs
  nlohmann::json missing = w;
  missing["subgraphs"][0].erase("bytes");
  CHECK_THROWS_AS(parse_workload(missing, "w.json"), DocumentError);
}

TEST_CASE("mapper: collective latency from the curves", "[collectives][mapper]") {
  const HardwareCalibration h = profile_with_collectives({8});
  const CollectiveCurve* graph = h.collectives->find(OpKind::all_reduce, 8, Precision::bf16, LaunchMode::graph);
  const CollectiveCurve* eager = h.collectives->find(OpKind::all_reduce, 8, Precision::bf16, LaunchMode::eager);
  REQUIRE(graph);
  REQUIRE(eager);
  const CalibratedMapper device(h);
  MapperOptions eo;
  eo.mode = Mode::eager;
  const CalibratedMapper eager_mapper(h, eo);

  // at a measured size: that sample's median, its bus bandwidth reported
  const CollectiveSample& s = graph->samples[5];
  Estimate e = device.estimate(collective(OpKind::all_reduce, s.bytes, 8));
  CHECK(e.latency_s == Approx(s.time.median_s));
  CHECK(e.warnings == 0);
  CHECK(e.bus_gbps == Approx(graph->busbw_gbps(s)));
  CHECK(e.interval_lo_s <= e.latency_s);
  CHECK(e.interval_hi_s >= e.latency_s);
  CHECK(device.missing_curve(collective(OpKind::all_reduce, s.bytes, 8)).empty());
  // between sizes: between the neighbours
  const double mid = device.estimate(collective(OpKind::all_reduce, 2 * s.bytes, 8)).latency_s;
  CHECK(mid > s.time.median_s);
  CHECK(mid < graph->samples[6].time.median_s);
  // small messages are latency-bound, large ones link-bound
  CHECK(device.estimate(collective(OpKind::all_reduce, 4 * KiB, 8)).bound == Bound::overhead);
  CHECK(device.estimate(collective(OpKind::all_reduce, GiB, 8)).bound == Bound::communication);
  // eager mode uses the eager curve
  const Estimate ee = eager_mapper.estimate(collective(OpKind::all_reduce, 4 * KiB, 8));
  CHECK(ee.latency_s == Approx(eager->samples[0].time.median_s));
  // beyond the range: the alpha-beta line, flagged
  const Estimate big = device.estimate(collective(OpKind::all_reduce, 4 * GiB, 8));
  CHECK(big.warnings & warn_extrapolated);
  CHECK(big.latency_s == Approx(4 * graph->samples.back().time.median_s).epsilon(0.05));
  // another precision: that curve, flagged
  const Estimate fp32 = device.estimate(collective(OpKind::all_reduce, s.bytes, 8, Precision::fp32));
  CHECK(fp32.warnings & warn_other_precision);
  CHECK(fp32.latency_s == Approx(s.time.median_s));
}

TEST_CASE("mapper: collective fallbacks are warnings, a missing kind is an error", "[collectives][mapper]") {
  HardwareCalibration h = profile_with_collectives({8});
  const CollectiveCurve* c8 = h.collectives->find(OpKind::all_gather, 8, Precision::bf16, LaunchMode::graph);
  REQUIRE(c8);
  {
    const CalibratedMapper m(h);
    // 4 GPUs from the 8-GPU curve: its latency and bus bandwidth, algbw for 4
    const Estimate e = m.estimate(collective(OpKind::all_gather, 64 * MiB, 4));
    CHECK(e.warnings & warn_collective_other_gpus);
    const double busbw = c8->beta_gbps * 1e9 * c8->bus_factor();
    CHECK(e.latency_s == Approx(c8->alpha_s + 64.0 * MiB * collective_bus_factor(OpKind::all_gather, 4) / busbw));
    CHECK(e.bus_gbps == Approx(64.0 * MiB / e.latency_s / 1e9 * collective_bus_factor(OpKind::all_gather, 4)));
    CHECK(e.bus_gbps < busbw / 1e9);  // the latency's share costs bandwidth
    CHECK(e.interval_hi_s > e.latency_s);
  }
  // only eager curves: device mode uses them, flagged
  auto& curves = h.collectives->curves;
  curves.erase(std::remove_if(curves.begin(), curves.end(),
                              [](const CollectiveCurve& c) { return c.launch == LaunchMode::graph; }),
               curves.end());
  {
    const CalibratedMapper m(h);
    CHECK(m.estimate(collective(OpKind::broadcast, MiB, 8)).warnings & warn_collective_other_launch);
  }
  // no curve of the op at all: not predicted, and said so
  curves.erase(
      std::remove_if(curves.begin(), curves.end(), [](const CollectiveCurve& c) { return c.op == OpKind::send_recv; }),
      curves.end());
  const CalibratedMapper m(h);
  const Estimate none = m.estimate(collective(OpKind::send_recv, MiB, 8));
  CHECK(none.warnings & warn_no_collective);
  CHECK(none.latency_s == 0);
  CHECK(m.missing_curve(collective(OpKind::send_recv, MiB, 8)).find("no send_recv curve") != std::string::npos);
  // a profile without the section, and the roofline baseline, predict none
  const CalibratedMapper plain(test::make_test_profile());
  CHECK_FALSE(plain.missing_curve(collective(OpKind::all_reduce, MiB, 2)).empty());
  CHECK(plain.roofline(collective(OpKind::all_reduce, MiB, 2)).warnings & warn_no_collective);
}
