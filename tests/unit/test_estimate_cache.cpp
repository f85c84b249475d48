// estimate_cache.hpp: memoized estimates are the mapper's, and collisions never mix subgraphs up.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/estimate_cache.hpp>

using namespace hwcal;

namespace {
Subgraph relu(i64 n) { return {OpDesc{OpKind::relu, ElementwiseShape{n, 1, 0}}, Precision::fp32, 0}; }
Subgraph mm(i64 n) { return {OpDesc{OpKind::matmul, MatmulShape{1, n, n, n, false}}, Precision::fp32, 0}; }
}  // namespace

TEST_CASE("a cached estimate equals the mapper's, and repeats are hits", "[estimate_cache]") {
  const CalibratedMapper m(test::make_test_profile());
  EstimateCache cache(m, 1000);
  CHECK(cache.slots() == 1024);  // rounded up to a power of two
  const SequenceContext ctx{64 << 20};
  for (int round = 0; round < 3; ++round)
    for (i64 n : {100, 1000, 5000}) {
      CHECK(cache.estimate(relu(n)).latency_s == m.estimate(relu(n)).latency_s);
      CHECK(cache.estimate(mm(n)).compute_s == m.estimate(mm(n)).compute_s);
      // the context is part of the key
      CHECK(cache.estimate(relu(n), ctx).in_sequence_s == m.estimate(relu(n), ctx).in_sequence_s);
    }
  // 9 distinct keys, each computed once (none of them share a slot of 1024)
  CHECK(cache.misses() == 9);
  CHECK(cache.hits() == 18);
}

TEST_CASE("subgraphs that share a slot are each computed, never confused", "[estimate_cache]") {
  const CalibratedMapper m(test::make_test_profile());
  EstimateCache one_slot(m, 1);
  Subgraph fused = mm(256);
  fused.fused = fused_bit(OpKind::softmax);
  for (int round = 0; round < 2; ++round) {
    CHECK(one_slot.estimate(mm(256)).latency_s == m.estimate(mm(256)).latency_s);
    CHECK(one_slot.estimate(fused).latency_s == m.estimate(fused).latency_s);  // differs only in `fused`
    Subgraph fp64 = mm(256);
    fp64.precision = Precision::fp64;
    CHECK(one_slot.estimate(fp64).latency_s == m.estimate(fp64).latency_s);  // differs only in precision
  }
  CHECK(one_slot.hits() == 0);
  CHECK(one_slot.misses() == 6);
}
