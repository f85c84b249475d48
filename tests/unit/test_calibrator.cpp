// calibrator.hpp: plans, budgets, progress and the profile it assembles.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/profile_io.hpp>

#include <algorithm>

using namespace hwcal;

namespace {
MeasureOptions fast() {
  MeasureOptions o = MeasureOptions::quick();
  o.warmup_s = 0.001;
  o.min_time_s = 0.001;
  o.max_time_s = 0.01;
  o.min_samples = 3;
  return o;
}
}  // namespace

TEST_CASE("a quick calibration of a few ops yields a valid profile", "[calibrator]") {
  cpu::EigenBackend b;
  CalibrationOptions o;
  o.mode = CalibrationMode::quick;
  o.ops = {OpKind::relu, OpKind::add, OpKind::conv2d, OpKind::softmax};
  o.memory = false;
  o.threads = 1;
  o.measure = fast();
  std::vector<std::string> stages;
  int last_done = -1, last_total = 0;
  o.progress = [&](const Progress& p) {
    if (stages.empty() || stages.back() != p.stage) stages.push_back(p.stage);
    if (p.stage == "operations") last_done = p.done, last_total = p.total;
  };
  const HardwareCalibration h = calibrate(b, o);
  CHECK(h.backend == "eigen");
  CHECK(h.target == "cpu");
  CHECK(h.threads == 1);
  CHECK(h.mode == "quick");
  CHECK(h.fingerprint.size() == 16);
  CHECK(h.host.measured_clock_ghz > 0);
  CHECK(h.peaks.size() == all_precisions.size());
  CHECK(h.software.at("gemm") == "eigen");
  CHECK(stages.front() == "peaks");
  CHECK(stages.back() == "done");
  CHECK(last_done == last_total - 1);
  // every requested op has a curve, samples in ascending work
  for (OpKind k : o.ops) {
    INFO(to_string(k));
    bool found = false;
    for (const auto& c : h.operations)
      if (c.op == k) {
        found = true;
        CHECK(c.samples.size() >= 1);
        for (std::size_t i = 1; i < c.samples.size(); ++i)
          CHECK(c.samples[i - 1].flops + c.samples[i - 1].bytes <= c.samples[i].flops + c.samples[i].bytes);
        for (const auto& s : c.samples) {
          CHECK(s.time.median_s > 0);
          CHECK(s.check_error <= 1.0);
        }
      }
    CHECK(found);
  }
  // conv2d has dense and depthwise curves, with efficiencies against the fp32 peak
  int conv_curves = 0;
  for (const auto& c : h.operations)
    if (c.op == OpKind::conv2d) {
      ++conv_curves;
      CHECK(c.samples.front().efficiency.has_value());
    }
  CHECK(conv_curves == 2);
  CHECK(h.overhead.per_call_s >= 0);
  CHECK(h.overhead.derivation.find("relu") != std::string::npos);
  // fusion on by default: every pattern is measured, or each of its samples
  // was dropped and said so (a loaded CI machine may make a quick sample too noisy)
  for (int f = 0; f < fusion_pattern_count; ++f) {
    const auto fp = static_cast<FusionPattern>(f);
    INFO(to_string(fp));
    bool measured = false, said = false;
    for (const auto& fc : h.fusions) measured |= fc.pattern == fp;
    for (const auto& w : h.warnings) said |= w.rfind(std::string(to_string(fp)) + " ", 0) == 0;
    CHECK((measured || said));
  }
  // the profile is valid by the reader's rules
  CHECK_NOTHROW(parse_profile(nlohmann::json(h), "calibrated"));
}

TEST_CASE("unsupported precisions become notes, not failures", "[calibrator]") {
  cpu::EigenBackend b;
  CalibrationOptions o;
  o.mode = CalibrationMode::quick;
  o.ops = {OpKind::relu};
  o.precisions = {Precision::fp32, Precision::bf16};
  o.memory = o.fusion = false;
  o.threads = 1;
  o.measure = fast();
  const HardwareCalibration h = calibrate(b, o);
  bool noted = false;
  for (const auto& w : h.warnings) noted |= w.find("relu bf16 not calibrated") == 0;
  CHECK(noted);
  for (const auto& c : h.operations) CHECK(c.precision == Precision::fp32);
}

TEST_CASE("a time budget covers every op coarsely before refining any", "[calibrator]") {
  cpu::EigenBackend b;
  CalibrationOptions o;
  o.mode = CalibrationMode::full;
  o.ops = {OpKind::sigmoid, OpKind::gelu, OpKind::copy, OpKind::layernorm};  // one curve each (no in-place variants)
  o.precisions = {Precision::fp32};
  o.memory = o.fusion = false;
  o.threads = 1;
  o.budget_s = 1.0;
  o.measure = fast();
  double ops_started_s = -1;     // budget time already spent when the first op was measured
  std::vector<OpKind> measured;  // the op of each point measured, in order
  o.progress = [&](const Progress& p) {
    if (p.stage != "operations") return;
    if (ops_started_s < 0) ops_started_s = p.elapsed_s;
    for (OpKind k : {OpKind::sigmoid, OpKind::gelu, OpKind::copy, OpKind::layernorm})
      if (p.label.rfind(std::string(to_string(k)) + " ", 0) == 0) measured.push_back(k);
  };
  const HardwareCalibration h = calibrate(b, o);
  CHECK(h.mode == "budget");
  // Round robin, whatever the load: no op got a second point before every op
  // that was measured at all had its first. (How many points fit in the budget
  // depends on the machine and its load: not asserted.)
  std::vector<OpKind> seen;
  bool refining = false;
  for (OpKind k : measured) {
    INFO(to_string(k));
    const bool again = std::find(seen.begin(), seen.end(), k) != seen.end();
    if (!again) CHECK_FALSE(refining);
    refining |= again;
    if (!again) seen.push_back(k);
  }
  // Every op got its first point, the cheapest of its sweep, provided the timed
  // stages before the operations (peaks) left them at least half the budget:
  // how long those take on a loaded machine is not the calibrator's to decide.
  if (ops_started_s >= 0 && ops_started_s < o.budget_s / 2) {
    for (OpKind k : o.ops)
      CHECK(std::any_of(h.operations.begin(), h.operations.end(), [k](const auto& c) { return c.op == k; }));
  } else {
    WARN("the peaks took " << ops_started_s << " s of the " << o.budget_s << " s budget: coverage not checked");
  }
}

TEST_CASE("the per-call overhead is the intercept of the small elementwise samples", "[calibrator]") {
  // Three small relu sizes at one rate: t = 1 us + bytes / 50 GB/s, and a large
  // size at another rate that the fit must ignore.
  OperationCalibration relu;
  relu.op = OpKind::relu, relu.variant = Variant::unary;
  for (i64 n : {64, 256, 1024})
    relu.samples.push_back(test::sample(OpKind::relu, ElementwiseShape{n, 1, 0}, Precision::fp32, 50e9));
  relu.samples.push_back(test::sample(OpKind::relu, ElementwiseShape{1 << 24, 1, 0}, Precision::fp32, 5e9));
  const OverheadCalibration o = fit_overhead({relu});
  CHECK(o.per_call_s == Approx(test::overhead_s).epsilon(1e-6));
  CHECK(o.derivation.find("relu fp32") != std::string::npos);
  std::vector<OperationCalibration> none;
  CHECK(fit_overhead(none).derivation.find("not measured") == 0);
}

TEST_CASE("calibrate refuses a backend of another target", "[calibrator]") {
  struct FakeGpu final : cpu::EigenBackend {
    std::string target() const override { return "cuda"; }
  } b;
  CHECK_THROWS_AS(calibrate(b, CalibrationOptions{}), UnavailableError);
}
