#pragma once
// The mapper's view of a profile's collectives: each curve's samples as
// log-log arrays, looked up by (op, GPU count, precision, launch mode) with
// the fallbacks of docs/collectives.md, each flagged:
//   same GPU count, other launch mode or precision -> that curve (warned)
//   no curve at this GPU count -> the nearest count's alpha-beta, its bus
//   bandwidth kept (what busbw is defined to keep comparable) (warned)
//   no curve of the op at all  -> not found (the caller reports it)

#include <hwcal/detail/collective_model.hpp>
#include <hwcal/estimate.hpp>
#include <hwcal/schema.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

namespace hwcal {
namespace detail {

class CollectiveTable {
 public:
  struct Lookup {
    bool found = false;
    double latency_s = 0, lo_s = 0, hi_s = 0;
    double alpha_s = 0;  ///< the fixed part of latency_s
    std::uint32_t warnings = 0;
  };

  explicit CollectiveTable(const std::optional<CollectivesCalibration>& c) {
    if (!c) return;
    for (const auto& k : c->curves) {
      Curve x{k.op, k.gpus, k.precision, k.launch, k.fit(), k.bus_factor(), {}, {}, {}, {}};
      for (const auto& s : k.samples) {
        x.lb.push_back(std::log(double(s.bytes)));
        x.lt.push_back(std::log(s.time.median_s));
        x.lp10.push_back(std::log(std::max(s.time.p10_s, s.time.median_s * 1e-3)));
        x.lp90.push_back(std::log(s.time.p90_s));
      }
      curves_.push_back(std::move(x));
    }
  }

  bool has(OpKind op) const noexcept {
    for (const auto& c : curves_)
      if (c.op == op) return true;
    return false;
  }

  /// Time of one call. Allocation-free.
  Lookup time(OpKind op, std::int64_t bytes, std::int64_t gpus, Precision p, LaunchMode m) const noexcept {
    Lookup r;
    const Curve* best = nullptr;
    double best_cost = 1e300;
    for (const auto& c : curves_) {
      if (c.op != op) continue;
      // same GPU count first, then the same launch mode, then the precision
      const double cost = (c.gpus != gpus ? 100 + 10 * std::abs(std::log2(double(c.gpus) / double(gpus))) : 0) +
                          (c.launch != m ? 2 : 0) + (c.precision != p ? 1 : 0);
      if (cost < best_cost) best_cost = cost, best = &c;
    }
    if (!best) return r;
    r.found = true;
    if (best->precision != p) r.warnings |= warn_other_precision;
    if (best->launch != m) r.warnings |= warn_collective_other_launch;
    double spread = (r.warnings ? 0.25 : 0.0);
    const double b = double(bytes);
    if (best->gpus != gpus) {
      // alpha and bus bandwidth of the nearest count: algbw = busbw / factor(gpus)
      r.warnings |= warn_collective_other_gpus;
      const double busbw = best->fit.bytes_per_s * best->bus;
      const double factor = collective_bus_factor(op, gpus);
      r.latency_s = best->fit.alpha_s + (busbw > 0 ? b * factor / busbw : 0.0);
      spread += 0.5;
      r.lo_s = r.latency_s * std::exp(-spread);
      r.hi_s = r.latency_s * std::exp(spread);
      r.alpha_s = std::min(best->fit.alpha_s, r.latency_s);
      return r;
    }
    bool outside = false, o2 = false;
    const std::size_t n = best->lb.size();
    r.latency_s = interpolate_loglog(best->lb.data(), best->lt.data(), n, best->fit, b, outside);
    r.lo_s = std::min(r.latency_s, interpolate_loglog(best->lb.data(), best->lp10.data(), n, best->fit, b, o2)) *
             std::exp(-spread);
    r.hi_s = std::max(r.latency_s, interpolate_loglog(best->lb.data(), best->lp90.data(), n, best->fit, b, o2)) *
             std::exp(spread);
    if (outside) r.warnings |= warn_extrapolated;
    r.alpha_s = std::min(best->fit.alpha_s, r.latency_s);
    return r;
  }

 private:
  struct Curve {
    OpKind op;
    int gpus;
    Precision precision;
    LaunchMode launch;
    AlphaBeta fit;
    double bus;
    std::vector<double> lb, lt, lp10, lp90;  ///< log bytes, log median / p10 / p90 seconds
  };
  std::vector<Curve> curves_;
};

}  // namespace detail
}  // namespace hwcal
