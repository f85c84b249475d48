// loo.hpp: leave-one-out of the mapper on a profile's own samples.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/loo.hpp>

using namespace hwcal;

TEST_CASE("leave-one-out predicts each sample from the others of its curve", "[loo]") {
  HardwareCalibration h = test::make_test_profile();
  const detail::BandwidthModel bw(h.memory);
  // a relu curve at a constant 50% of its roofline: every left-out sample is predicted exactly
  OperationCalibration& relu = h.operations[1];
  REQUIRE(relu.op == OpKind::relu);
  relu.samples.clear();
  for (i64 e : {i64{1} << 12, i64{1} << 14, i64{1} << 16, i64{1} << 18, i64{1} << 20}) {
    const OpDesc op{OpKind::relu, ElementwiseShape{e, 1, 0}};
    OpSample s = test::sample(OpKind::relu, op.shape, Precision::fp32, 1e12);
    s.time.median_s = test::overhead_s + bytes(op, Precision::fp32) / bw.at(bytes(op, Precision::fp32)) / 0.5;
    relu.samples.push_back(s);
  }
  const LooResult r = leave_one_out(h, {}, {OpKind::relu});
  REQUIRE(r.curves.size() == 1);
  CHECK(r.curves[0].op == OpKind::relu);
  CHECK(r.curves[0].n == 5);
  CHECK(r.curves[0].median_ape < 0.01);
  CHECK(r.curves[0].within10 == 1.0);

  // one sample 3x slow: its own prediction (from the others) misses by 3x, and its neighbours' move
  relu.samples[2].time.median_s *= 3;
  const LooResult slow = leave_one_out(h, {}, {OpKind::relu});
  REQUIRE(slow.samples.size() == 5);
  CHECK(slow.samples[2].ape() > 0.55);  // predicted about 1/3 of what was measured: 67% off
  CHECK(slow.samples[2].ape() < 0.72);
  CHECK(slow.samples[2].predicted_s < slow.samples[2].measured_s / 2);
  CHECK(slow.samples[1].predicted_s >
        1.2 * slow.samples[1].measured_s);  // its neighbours, predicted with it, read slow
  CHECK(slow.samples[3].predicted_s > 1.2 * slow.samples[3].measured_s);
  CHECK(slow.curves[0].within10 == Approx(0.4));  // only the two ends are still predicted well

  // flagged as disturbed: neither scored nor used
  relu.samples[2].disturbed = "other work took 40% of the CPU time";
  const LooResult flagged = leave_one_out(h, {}, {OpKind::relu});
  CHECK(flagged.curves[0].n == 4);
  CHECK(flagged.curves[0].median_ape < 0.01);

  // the summary over curves is over their samples
  const LooCurve all = loo_summary(flagged, {0});
  CHECK(all.n == 4);
  CHECK(all.mape == Approx(flagged.curves[0].mape));
}
