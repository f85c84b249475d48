#pragma once
// Time statistics of one measured point: the data type both the timing
// harness (measure.hpp) produces and the profile schema (schema.hpp) stores.
// It sits below both so the schema never depends on the harness.

#include <cstdint>

namespace hwcal {

/// Seconds per run of one measured point.
struct TimeStats {
  double median_s = 0, mad_s = 0, p10_s = 0, p90_s = 0;
  int samples = 0;
  std::int64_t iterations = 1;  ///< runs averaged per sample
  bool converged = false;

  /// Half the p10-p90 width relative to the median.
  double rel_spread() const noexcept { return median_s > 0 ? (p90_s - p10_s) / (2 * median_s) : 0; }
};

}  // namespace hwcal
