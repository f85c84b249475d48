// measure.hpp: statistics and the stop rule.
#include "catch.hpp"

#include <hwcal/measure.hpp>

#include <cmath>

using namespace hwcal;

TEST_CASE("summarize computes median, MAD and quantiles", "[measure]") {
  const Measurement m = summarize({5, 1, 3, 2, 4});
  CHECK(m.samples == 5);
  CHECK(m.median_s == 3);
  CHECK(m.min_s == 1);
  CHECK(m.mean_s == 3);
  CHECK(m.mad_s == 1);  // deviations 2,2,0,1,1 -> median 1
  CHECK(m.p10_s == Approx(1.4));
  CHECK(m.p90_s == Approx(4.6));
  CHECK(summarize({}).samples == 0);
}

TEST_CASE("measure times a stable workload and reports iterations", "[measure]") {
  MeasureOptions o = MeasureOptions::quick();
  o.max_time_s = 0.2;
  volatile double sink = 0;
  const Measurement m = measure(
      [&] {
        double x = 0;
        for (int i = 0; i < 2000; ++i) x += std::sqrt(double(i));
        sink = x;
      },
      o);
  CHECK(m.samples >= o.min_samples);
  CHECK(m.median_s > 0);
  CHECK(m.p10_s <= m.median_s);
  CHECK(m.median_s <= m.p90_s);
  CHECK(m.iterations >= 1);
  CHECK(m.total_s >= 0.5 * m.median_s * double(m.samples));  // half the samples are at least the median
}

TEST_CASE("measure stops at max_samples and calls sync after each batch", "[measure]") {
  MeasureOptions o;
  o.warmup_s = 0;
  o.min_time_s = 0;
  o.max_samples = 9;
  o.min_samples = 9;
  o.target_rel_spread = 0;  // never converges
  int syncs = 0;
  const Measurement m = measure([] {}, [&] { ++syncs; }, o);
  CHECK(m.samples == 9);
  CHECK_FALSE(m.converged);
  CHECK(syncs >= 10);  // warm-up run + one per sample
}

TEST_CASE("the time cap keeps at least min_samples_at_cap samples of a long run", "[measure]") {
  MeasureOptions o;
  o.warmup_s = 0;
  o.max_time_s = 0.0018;  // shorter than one run (2 ms)
  o.target_rel_spread = 0;
  auto sleepy = [] {
    const double t0 = now_s();
    while (now_s() - t0 < 0.002) {
    }
  };
  CHECK(measure(sleepy, o).samples == o.min_samples_at_cap);
  CHECK(measure_each(sleepy, [] {}, o).samples == o.min_samples_at_cap);
  // ...but never past 4x the cap
  o.max_time_s = 0.0004;
  CHECK(measure(sleepy, o).samples == 1);
}
