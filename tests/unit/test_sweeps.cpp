// detail/sweeps.hpp: every sweep point is a valid shape, every op kind has a
// sweep on CPUs and devices, and the device sweeps leave no gap wider than 4x
// along the axes real layers move.
#include "catch.hpp"

#include <hwcal/detail/sweeps.hpp>

#include <algorithm>
#include <set>

using namespace hwcal;

TEST_CASE("every op kind has valid CPU and device sweeps with quick points", "[sweeps]") {
  for (const OpInfo& o : op_table) {
    for (bool device : {false, true}) {
      INFO(o.name << (device ? " (device)" : " (cpu)"));
      const auto sweep = detail::default_sweep(o.kind, device);
      REQUIRE_FALSE(sweep.empty());
      CHECK(std::any_of(sweep.begin(), sweep.end(), [](const auto& p) { return p.quick; }));
      for (const auto& p : sweep) {
        CHECK(p.op.kind == o.kind);
        CHECK(invalid_reason(p.op) == "");
      }
    }
  }
}

namespace {
/// The largest ratio between neighbouring values (sorted, distinct).
double largest_gap(std::set<double> values) {
  double worst = 1, prev = 0;
  for (double v : values) {
    if (prev > 0) worst = std::max(worst, v / prev);
    prev = v;
  }
  return worst;
}
}  // namespace

TEST_CASE("device sweeps leave no gap wider than 4x", "[sweeps]") {
  std::set<double> tokens, elements, kv, rows;
  for (const auto& p : detail::device_sweep(OpKind::linear)) tokens.insert(double(std::get<MatmulShape>(p.op.shape).m));
  for (const auto& p : detail::device_sweep(OpKind::relu)) elements.insert(double(std::get<ElementwiseShape>(p.op.shape).elements));
  for (const auto& p : detail::device_sweep(OpKind::rmsnorm)) rows.insert(double(std::get<RowsShape>(p.op.shape).rows));
  for (const auto& p : detail::device_sweep(OpKind::attention)) {
    const auto& a = std::get<AttentionShape>(p.op.shape);
    if (a.seq_q == 1) kv.insert(double(a.seq_kv));
  }
  CHECK(largest_gap(tokens) <= 4);
  CHECK(*tokens.begin() == 1);
  CHECK(*tokens.rbegin() >= 8192);
  CHECK(largest_gap(elements) <= 4);
  CHECK(largest_gap(rows) <= 4);
  CHECK(largest_gap(kv) <= 4);
  CHECK(*kv.rbegin() >= 32768);
}
