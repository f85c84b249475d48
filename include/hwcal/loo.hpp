#pragma once
// Leave-one-out on a profile's own samples: each (cleanly measured) sample is
// predicted by the mapper from its curve without that sample, and compared
// with what was measured. It tells how well the mapper interpolates between
// the calibration's shapes, on micro-benchmarks only (nothing from any model),
// so choices of the mapper (MapperOptions) can be checked against data that
// was never used to make them. `hwcal show --loo` prints it.
//
// The prediction is the op alone (latency_s) without the framework's per-call
// cost, which samples do not contain: fixed cost + body, the fixed cost fitted
// again without the sample.

#include <hwcal/mapper.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace hwcal {

struct LooSample {
  std::size_t curve = 0;  ///< index into the result's curves
  std::string shape;
  double measured_s = 0, predicted_s = 0;
  double ape() const noexcept { return measured_s > 0 ? std::abs(predicted_s / measured_s - 1) : 0; }
};

struct LooCurve {
  OpKind op = OpKind::matmul;
  Precision precision = Precision::fp32;
  Variant variant = Variant::none;
  int threads = 1;
  int n = 0;
  double mape = 0, median_ape = 0, p90_ape = 0, within10 = 0, bias = 0;  ///< bias: mean of predicted/measured - 1
  double worst = 0;
  std::string worst_shape;
};

struct LooResult {
  std::vector<LooCurve> curves;
  std::vector<LooSample> samples;
};

namespace detail {
inline void summarize_loo(LooCurve& c, const std::vector<const LooSample*>& xs) {
  c.n = static_cast<int>(xs.size());
  if (xs.empty()) return;
  std::vector<double> a;
  for (const auto* s : xs) {
    a.push_back(s->ape());
    c.mape += s->ape() / double(xs.size());
    c.bias += (s->predicted_s / s->measured_s - 1) / double(xs.size());
    c.within10 += (s->ape() <= 0.1) / double(xs.size());
    if (s->ape() > c.worst) c.worst = s->ape(), c.worst_shape = s->shape;
  }
  std::sort(a.begin(), a.end());
  c.median_ape = a.size() % 2 ? a[a.size() / 2] : 0.5 * (a[a.size() / 2 - 1] + a[a.size() / 2]);
  c.p90_ape = a[static_cast<std::size_t>(0.9 * double(a.size() - 1) + 0.5)];
}
}  // namespace detail

/// Leave-one-out over the curves of `ops` (all when empty). Curves with
/// fewer than three clean samples are skipped.
inline LooResult leave_one_out(const HardwareCalibration& h, MapperOptions opt = {},
                               const std::vector<OpKind>& ops = {}) {
  LooResult r;
  HardwareCalibration light = h;
  light.operations.clear();
  light.fusions.clear();
  light.overhead.framework_s.clear();
  light.overhead.framework_sequence_s.clear();
  for (const auto& c : h.operations) {
    if (!ops.empty() && std::find(ops.begin(), ops.end(), c.op) == ops.end()) continue;
    std::size_t clean = 0;
    for (const auto& s : c.samples) clean += s.disturbed.empty();
    if (clean < 3) continue;
    LooCurve lc;
    lc.op = c.op, lc.precision = c.precision, lc.variant = c.variant, lc.threads = c.threads;
    const std::size_t curve = r.curves.size();
    std::vector<const LooSample*> mine;
    const std::size_t first = r.samples.size();
    for (std::size_t i = 0; i < c.samples.size(); ++i) {
      if (!c.samples[i].disturbed.empty()) continue;
      OperationCalibration without = c;
      without.samples.erase(without.samples.begin() + static_cast<std::ptrdiff_t>(i));
      light.operations.assign(1, std::move(without));
      MapperOptions o = opt;
      o.threads = c.threads;
      const CalibratedMapper m(light, o);
      const OpDesc op{c.op, c.samples[i].shape};
      const Estimate e = m.estimate(Subgraph{op, c.precision});
      r.samples.push_back({curve, shape_label(op), c.samples[i].time.median_s, e.latency_s});
    }
    for (std::size_t i = first; i < r.samples.size(); ++i) mine.push_back(&r.samples[i]);
    detail::summarize_loo(lc, mine);
    r.curves.push_back(lc);
  }
  return r;
}

/// Summary of several curves' samples together (e.g. every curve of an op).
inline LooCurve loo_summary(const LooResult& r, const std::vector<std::size_t>& curves) {
  LooCurve c;
  std::vector<const LooSample*> xs;
  for (const auto& s : r.samples)
    if (std::find(curves.begin(), curves.end(), s.curve) != curves.end()) xs.push_back(&s);
  detail::summarize_loo(c, xs);
  return c;
}

}  // namespace hwcal
