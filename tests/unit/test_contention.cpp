// Contention detection on synthetic data (no clocks): the lost share of a
// probe's window (cpu/contention.hpp), drift within a measurement
// (measure.hpp), the calibrator's verdict on one measurement (Quality) and
// slow outliers against a curve's neighbours (detail/outliers.hpp).
#include "catch.hpp"

#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/contention.hpp>
#include <hwcal/detail/outliers.hpp>
#include <hwcal/measure.hpp>

#include <cmath>
#include <vector>

using namespace hwcal;

TEST_CASE("the lost share is run-queue delay and steal over threads x wall", "[contention]") {
  cpu::Disturbance d;
  d.wall_s = 2.0;
  d.run_delay_s = 0.5;
  d.steal_s = 0.1;
  d.other_cpu_s = 1.5;            // other processes ran on our CPUs
  CHECK(d.lost_share(2) == 0.0);  // counters not read: nothing can be said
  d.valid = true;
  CHECK(d.lost_share(1) == Approx(0.3));
  CHECK(d.lost_share(2) == Approx(0.15));
  CHECK(d.lost_share(0) == Approx(0.3));  // at least one thread
  // our own surplus threads: delay, but nobody else ran (within a tick)
  d.other_cpu_s = 0;
  d.tick_s = 0.02;
  CHECK(d.lost_share(1) == Approx((0.02 + 0.1) / 2));
  d.other_cpu_s = d.run_delay_s = 10;
  CHECK(d.lost_share(1) == 1.0);  // capped
  d.wall_s = 0;
  CHECK(d.lost_share(1) == 0.0);
}

TEST_CASE("other work beside ours: busy CPUs we may not run on, on average over the window", "[contention]") {
  cpu::Disturbance d;
  d.wall_s = 0.5;
  d.neighbour_cpu_s = 0.5;  // one neighbour CPU busy all the time
  d.neighbour_tick_s = 0.01;
  CHECK(d.neighbour_cpus() == 0.0);  // counters not read
  d.valid = true;
  CHECK(d.neighbour_cpus() == Approx(0.98));
  CHECK(d.lost_share(1) == 0.0);  // it took none of our CPU time
  d.neighbour_cpu_s = 0.01;       // one tick: within the counters' resolution
  CHECK(d.neighbour_cpus() == 0.0);
  d.wall_s = 0;
  CHECK(d.neighbour_cpus() == 0.0);
}

TEST_CASE("a probe reads this process's scheduler counters", "[contention]") {
  cpu::DisturbanceProbe probe;
  volatile double x = 0;
  for (int i = 0; i < 100000; ++i) x = x + 1.0;
  const cpu::Disturbance d = probe.stop();
#if defined(__linux__)
  CHECK(d.valid);
  CHECK_FALSE(cpu::allowed_cpus().empty());
#endif
  CHECK(d.run_delay_s >= 0);
  CHECK(d.steal_s >= 0);
  CHECK(d.neighbour_cpus() >= 0);
  CHECK(d.lost_share(1) >= 0);
  CHECK(d.lost_share(1) <= 1);
}

TEST_CASE("drift: the medians of the two halves of a measurement differ", "[contention][measure]") {
  std::vector<double> steady, stepped;
  for (int i = 0; i < 8; ++i) {
    steady.push_back(i % 2 ? 1.0 : 1.02);
    stepped.push_back(i < 4 ? 1.0 : 1.5);  // another process started half-way
  }
  const Measurement a = finish_measurement(steady, 1, true, now_s());
  const Measurement b = finish_measurement(stepped, 1, true, now_s());
  CHECK(a.drift == Approx(0.0).margin(1e-12));  // same alternation in both halves
  CHECK(b.drift == Approx(0.5 / b.median_s));
  CHECK(b.drift > detail::drift_limit);
  // under six samples there are no halves to compare
  CHECK(finish_measurement({1.0, 2.0, 3.0, 4.0, 5.0}, 1, true, now_s()).drift == 0.0);
}

TEST_CASE("a measurement is clean only when no signal says otherwise", "[contention][calibrator]") {
  detail::Quality q;
  CHECK(q.clean());
  CHECK(q.why().empty());
  q.lost = 0.30;
  CHECK_FALSE(q.clean());
  CHECK(q.why() == "other work took 30% of the CPU time");
  q.lost = 0;
  q.spread = 0.6;
  q.drift = 0.25;
  CHECK_FALSE(q.clean());
  CHECK(q.why() == "p10-p90 spread 60% of the median, median moved 25% between the halves of the measurement");
  q.spread = detail::noisy_spread;  // at the limits: still clean
  q.drift = detail::drift_limit;
  q.lost = cpu::disturbed_share;
  q.neighbours = cpu::disturbed_neighbours;
  CHECK(q.clean());
  // busy neighbours: disturbed, but steady (measuring again at once would not help)
  detail::Quality n;
  n.neighbours = 1.0;
  CHECK_FALSE(n.clean());
  CHECK(n.steady());
  CHECK(n.why() == "other work busy on 1.0 CPU(s) beside ours (shared caches, memory, cores)");
  n.lost = 0.3;
  CHECK_FALSE(n.steady());
}

namespace {
/// A one-feature curve: point i at log2 size x[i], work 2^x, efficiency eff[i].
std::vector<detail::CurvePoint> curve(const std::vector<double>& x, const std::vector<double>& eff) {
  std::vector<detail::CurvePoint> pts;
  for (std::size_t i = 0; i < x.size(); ++i) {
    detail::CurvePoint p;
    p.x[0] = static_cast<float>(x[i]);
    p.dims = 1;
    p.work = std::exp2(x[i]);
    p.log_eff = std::log(eff[i]);
    pts.push_back(p);
  }
  return pts;
}

/// Indices of the points at least `factor` times slower than both neighbours (the calibrator's rule).
std::vector<std::size_t> slow_outliers(const std::vector<detail::CurvePoint>& pts,
                                       double factor = detail::outlier_factor) {
  std::vector<std::size_t> out;
  const std::vector<double> s = detail::slowdown_vs_neighbours(pts);
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] >= factor) out.push_back(i);
  return out;
}
}  // namespace

TEST_CASE("a sample far slower than both neighbours is an outlier", "[contention][outliers]") {
  // efficiency 0.8 everywhere but the middle point, measured 3x slow
  const auto pts = curve({10, 12, 14, 16, 18}, {0.8, 0.8, 0.8 / 3, 0.8, 0.8});
  const std::vector<double> s = detail::slowdown_vs_neighbours(pts);
  CHECK(s[0] == 0.0);  // no neighbour with less work
  CHECK(s[4] == 0.0);  // none with more
  CHECK(s[2] == Approx(3.0));
  CHECK(s[1] == Approx(1.0 / 3));  // faster than its slow neighbour
  CHECK(slow_outliers(pts) == std::vector<std::size_t>{2});
}

TEST_CASE("a sample slower than one neighbour only is a regime change, not an outlier", "[contention][outliers]") {
  // efficiency falls off a cliff and stays there (the roofline already
  // moved the data to a slower level; what is left is the library's step)
  const auto step = curve({10, 12, 14, 16, 18}, {0.8, 0.8, 0.3, 0.3, 0.3});
  CHECK(slow_outliers(step).empty());
  // a slowly falling efficiency is no outlier either
  const auto slope = curve({10, 12, 14, 16, 18}, {0.8, 0.7, 0.6, 0.5, 0.4});
  CHECK(slow_outliers(slope).empty());
  // 1.4x slower than both: under the factor
  const auto mild = curve({10, 12, 14}, {0.7, 0.5, 0.7});
  CHECK(slow_outliers(mild).empty());
  CHECK(slow_outliers(mild, 1.3) == std::vector<std::size_t>{1});
}

TEST_CASE("outliers on a two-feature curve compare the nearest neighbours in shape", "[contention][outliers]") {
  // a grid over (log2 m, log2 k); the point (4, 10) measured 2x slow
  std::vector<detail::CurvePoint> pts;
  for (int m : {0, 2, 4, 6})
    for (int k : {8, 10, 12}) {
      detail::CurvePoint p;
      p.x[0] = float(m), p.x[1] = float(k);
      p.dims = 2;
      p.work = std::exp2(m + k);
      p.log_eff = std::log(m == 4 && k == 10 ? 0.25 : 0.5);
      pts.push_back(p);
    }
  const auto out = slow_outliers(pts);
  REQUIRE(out.size() == 1);
  CHECK(pts[out[0]].x[0] == 4.0f);
  CHECK(pts[out[0]].x[1] == 10.0f);
}
