// mapper.hpp: golden predictions on a hand-made profile, interpolation,
// fallbacks, fusion and the allocation-free estimate path.
#include "catch.hpp"
#include "test_profile.hpp"

#include <hwcal/estimate_cache.hpp>
#include <hwcal/mapper.hpp>
#include <hwcal/prediction.hpp>
#include <hwcal/profile_io.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <thread>
#include <utility>
#include <vector>

// Counts heap allocations so the estimate path can be shown to make none.
// GCC cannot see that these replacements pair malloc with free consistently.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
static std::atomic<long> g_allocations{0};
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
// The rest of the family too: libstdc++'s own versions forward to the two
// above, but a sanitizer runtime's do not, and would pair its operator new
// (Catch2 allocates with new(std::nothrow)) with the free() above.
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace hwcal;

namespace {
Subgraph sg(OpKind k, Shape s, Precision p = Precision::fp32, std::uint64_t fused = 0) {
  return {OpDesc{k, s}, p, fused};
}
Conv2dShape test_conv() {
  Conv2dShape c;
  c.n = 1, c.c = 64, c.h = c.w = 56, c.k = 64, c.r = c.s = 3, c.pad_h = c.pad_w = 1, c.bias = false;
  return c;
}
}  // namespace

TEST_CASE("golden: a measured size is predicted as measured", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  const Estimate e = m.estimate(sg(OpKind::matmul, MatmulShape{1, 256, 256, 256, false}));
  // 1 us overhead + 2*256^3 / 50 GFLOP/s
  CHECK(e.latency_s == Approx(1e-6 + 2.0 * 256 * 256 * 256 / 50e9).epsilon(1e-6));
  CHECK(e.overhead_s == Approx(1e-6));
  CHECK(e.bound == Bound::compute);
  CHECK(e.efficiency == Approx(0.5).epsilon(1e-6));
  CHECK(e.warnings == 0);
  CHECK(e.in_sequence_s == Approx(e.latency_s));  // no SequenceContext: the subgraph alone
  CHECK(e.interval_lo_s < e.latency_s);
  CHECK(e.interval_hi_s > e.latency_s);
}

namespace {
/// The test profile's memory sweep (100 GB/s at 16 KiB, 50 at 1 MiB, 10 at
/// 64 MiB), log-log, held beyond the ends.
double sweep_bw(double bytes) {
  const double x = std::log2(bytes);
  if (x <= 14) return 100e9;
  if (x >= 26) return 10e9;
  if (x <= 20) return 100e9 * std::pow(0.5, (x - 14) / 6);
  return 50e9 * std::pow(0.2, (x - 20) / 6);
}
}  // namespace

TEST_CASE("golden: efficiency against the shape's roofline, interpolated linearly in log-log", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  // relu samples: 10 GB/s up to 2^12 elements, 100 GB/s at 2^20, each + 1 us
  // (the fixed cost, the intercept of the three smallest sizes). Efficiency
  // is the roofline time of the sample's shape (its bytes at the sweep's
  // bandwidth for them) over its net time.
  const double eff12 = (32768 / sweep_bw(32768)) / (32768 / 10e9);
  const double eff20 = (8388608 / sweep_bw(8388608)) / (8388608 / 100e9);
  // 2^15 elements: 3/8 of the way (log2) from 2^12 to 2^20
  const double eff = std::exp(std::log(eff12) + 3.0 / 8.0 * (std::log(eff20) - std::log(eff12)));
  const double body = 262144 / sweep_bw(262144) / eff;
  const Estimate e = m.estimate(sg(OpKind::relu, ElementwiseShape{1 << 15, 1, 0}));
  CHECK(e.overhead_s == Approx(1e-6));
  CHECK(e.memory_s == Approx(body).epsilon(1e-4));
  CHECK(e.latency_s == Approx(1e-6 + body).epsilon(1e-4));
  CHECK(e.bound == Bound::memory);
  CHECK(e.compute_s == Approx((1 << 15) / 100e9));
  CHECK(e.efficiency == Approx(eff).epsilon(1e-4));
  CHECK(e.warnings == 0);
  CHECK(m.bandwidth(1 << 20) == Approx(50e9));
  CHECK(m.bandwidth(1e12) == Approx(10e9));  // held beyond the sweep
  // in a 64 MiB pass the input comes warm from the op before, as when the op
  // is repeated alone, but the 128 KiB written go back to memory at the
  // pass's bandwidth instead of staying in cache
  const Estimate s = m.estimate(sg(OpKind::relu, ElementwiseShape{1 << 15, 1, 0}), SequenceContext{64 << 20, 0});
  CHECK(s.latency_s == Approx(e.latency_s));
  REQUIRE(m.bandwidth(64 << 20) < m.bandwidth(262144));
  CHECK(s.in_sequence_s ==
        Approx(e.latency_s + 131072 * (1 / m.bandwidth(64 << 20) - 1 / m.bandwidth(262144))).epsilon(1e-6));
  CHECK(s.device_s == Approx(s.in_sequence_s));
  CHECK(s.host_s == 0);
  // a pass that fits where the op's own bytes do adds nothing
  CHECK(m.estimate(sg(OpKind::relu, ElementwiseShape{1 << 15, 1, 0}), SequenceContext{262144, 0}).in_sequence_s ==
        Approx(e.latency_s));
}

TEST_CASE("CPU in a pass: the weights come at the sweep's bandwidth for the pass's bytes", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  const Subgraph conv = sg(OpKind::conv2d, test_conv());
  const Counts n = counts(conv.op, Precision::fp32);
  REQUIRE(n.weight_bytes > 0);
  REQUIRE(n.weight_bytes < n.bytes);
  const Estimate alone = m.estimate(conv);
  // a 1 GiB pass: the weights were last read a pass ago, at the sweep's
  // bandwidth beyond every cache (10 GB/s) instead of that of the op's own bytes;
  // and its written bytes go back at that bandwidth too: on a CPU a
  // convolution's body does not hide them, however compute-bound it looks
  REQUIRE(alone.compute_s > alone.memory_s + n.output_bytes * (1 / 10e9 - 1 / m.bandwidth(n.bytes)));
  const Estimate s = m.estimate(conv, SequenceContext{1 << 30, 1 << 29});
  CHECK(s.latency_s == Approx(alone.latency_s));
  CHECK(s.in_sequence_s ==
        Approx(alone.in_sequence_s + (n.weight_bytes + n.output_bytes) * (1 / 10e9 - 1 / m.bandwidth(n.bytes)))
            .epsilon(1e-6));
  CHECK(s.in_sequence_s > alone.latency_s);
  // a pass no larger than the op's own bytes adds nothing
  CHECK(m.estimate(conv, SequenceContext{n.bytes, n.weight_bytes}).in_sequence_s == Approx(alone.in_sequence_s));
}

TEST_CASE("beyond the measured range the nearest efficiency is held and flagged", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  const Estimate e = m.estimate(sg(OpKind::relu, ElementwiseShape{i64{1} << 30, 1, 0}));
  // a memory op: the largest sample's efficiency, against the bandwidth of
  // the query's own 8 GiB (10 GB/s)
  const double by = 8.0 * (i64{1} << 30);
  const double eff20 = (8388608 / sweep_bw(8388608)) / (8388608 / 100e9);
  CHECK(e.memory_s == Approx(by / 10e9 / eff20));
  CHECK((e.warnings & warn_extrapolated));
  // a compute op holds its neighbours' efficiency: no faster than the fastest (80 GFLOP/s)
  const Estimate g = m.estimate(sg(OpKind::matmul, MatmulShape{1, 8192, 8192, 8192, false}));
  CHECK(g.compute_s >= 2.0 * 8192 * 8192 * 8192 / 80e9 * (1 - 1e-6));
  CHECK(g.compute_s <= 2.0 * 8192 * 8192 * 8192 / 10e9);
  CHECK((g.warnings & warn_extrapolated));
  // half an octave beyond is not flagged
  CHECK_FALSE((m.estimate(sg(OpKind::relu, ElementwiseShape{1 << 20 | 1 << 19, 1, 0})).warnings & warn_extrapolated));
}

TEST_CASE("fallbacks are documented and flagged, never silent", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  const MatmulShape s256{1, 256, 256, 256, false};
  SECTION("other precision: its efficiency on this precision's roofline") {
    const Estimate e = m.estimate(sg(OpKind::matmul, s256, Precision::fp64));
    CHECK(e.compute_s == Approx(2.0 * 256 * 256 * 256 / 25e9));  // 50 GFLOP/s * 50/100
    CHECK((e.warnings & warn_other_precision));
    const Estimate b = m.estimate(sg(OpKind::matmul, s256, Precision::bf16));
    CHECK((b.warnings & warn_no_peak));
    CHECK((b.warnings & warn_other_precision));
  }
  SECTION("no linear curve: its equivalent GEMM on the matmul curve") {
    const Estimate e = m.estimate(sg(OpKind::linear, MatmulShape{1, 256, 256, 256, true}));
    CHECK(e.compute_s == Approx((2.0 * 256 * 256 * 256 + 256 * 256) / 50e9));
    CHECK((e.warnings & warn_equivalent_gemm));
  }
  SECTION("grouped convolution uses the dense curve") {
    Conv2dShape c = test_conv();
    c.groups = 4;
    const Estimate e = m.estimate(sg(OpKind::conv2d, c));
    CHECK((e.warnings & warn_other_variant));
    CHECK(e.compute_s == Approx(flops(OpDesc{OpKind::conv2d, c}) / 40e9));
  }
  SECTION("channels_last convolution: its own curve, else the NCHW one of its variant, flagged") {
    Conv2dShape c = test_conv();
    c.channels_last = true;
    const Estimate e = m.estimate(sg(OpKind::conv2d, c));
    CHECK((e.warnings & warn_other_variant));
    CHECK(e.compute_s == Approx(flops(OpDesc{OpKind::conv2d, c}) / 40e9));
    HardwareCalibration h = test::make_test_profile();
    OperationCalibration nhwc = h.operations[2];
    REQUIRE(nhwc.op == OpKind::conv2d);
    nhwc.variant = Variant::dense_channels_last;
    nhwc.samples = {test::sample(OpKind::conv2d, c, Precision::fp32, 80e9)};
    h.operations.push_back(nhwc);
    const CalibratedMapper both(h);
    const Estimate own = both.estimate(sg(OpKind::conv2d, c));
    CHECK_FALSE((own.warnings & warn_other_variant));
    CHECK(own.compute_s == Approx(flops(OpDesc{OpKind::conv2d, c}) / 80e9));
    // and the NCHW shape keeps the NCHW curve
    CHECK(both.estimate(sg(OpKind::conv2d, test_conv())).compute_s == Approx(e.compute_s));
    // a grouped channels_last convolution: the dense channels_last curve before the NCHW one
    c.groups = 4;
    const Estimate g = both.estimate(sg(OpKind::conv2d, c));
    CHECK((g.warnings & warn_other_variant));
    CHECK(g.compute_s == Approx(flops(OpDesc{OpKind::conv2d, c}) / 80e9));
  }
  SECTION("no curve at all: the memory sweep for bandwidth-bound ops") {
    const RowsShape r{1024, 256};
    const Estimate e = m.estimate(sg(OpKind::softmax, r));
    const double by = bytes(OpDesc{OpKind::softmax, r}, Precision::fp32);
    CHECK((e.warnings & warn_no_curve));
    CHECK(e.memory_s == Approx(by / m.bandwidth(by)));
  }
  SECTION("an elementwise op without a curve: relu's, which moves the same bytes") {
    const ElementwiseShape e{1 << 12, 1, 0};
    const Estimate neg = m.estimate(sg(OpKind::neg, e)), relu = m.estimate(sg(OpKind::relu, e));
    CHECK((neg.warnings & warn_stand_in));
    CHECK_FALSE((neg.warnings & warn_no_curve));
    CHECK(neg.latency_s == Approx(relu.latency_s));
    CHECK(neg.interval_hi_s > relu.interval_hi_s);  // wider: a stand-in, not a measurement
    // at a precision the stand-in has no curve of (tf32: memory-bound ops are measured at fp32),
    // its curve at another precision, as relu's own lookup takes it
    const Estimate neg32 = m.estimate(sg(OpKind::neg, e, Precision::tf32));
    const Estimate relu32 = m.estimate(sg(OpKind::relu, e, Precision::tf32));
    CHECK((relu32.warnings & warn_other_precision));
    CHECK((neg32.warnings & warn_stand_in));
    CHECK((neg32.warnings & warn_other_precision));
    CHECK_FALSE((neg32.warnings & warn_no_curve));
    CHECK(neg32.latency_s == Approx(relu32.latency_s));
  }
  SECTION("curves of another thread count") {
    MapperOptions o;
    o.threads = 4;
    const CalibratedMapper m4(test::make_test_profile(), o);
    CHECK((m4.estimate(sg(OpKind::matmul, s256)).warnings & warn_other_threads));
  }
  CHECK_FALSE(warning_messages(warn_no_curve | warn_extrapolated).empty());
  CHECK(warning_messages(warn_stand_in).size() == 1);
}

TEST_CASE("fused subgraphs: the unfused chain over the measured speedup", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  const Conv2dShape c = test_conv();
  const Estimate conv = m.estimate(sg(OpKind::conv2d, c));
  const Estimate bn = m.estimate(sg(OpKind::batchnorm, MapShape{1, 64, 56, 56}));
  const Estimate relu = m.estimate(sg(OpKind::relu, ElementwiseShape{64 * 56 * 56, 1, 0}));
  CHECK(conv.latency_s == Approx(1e-6 + flops(OpDesc{OpKind::conv2d, c}) / 40e9));
  CHECK(bn.warnings == 0);  // the batchnorm pass hits its measured shape
  const Estimate fused =
      m.estimate(sg(OpKind::conv2d, c, Precision::fp32, fused_bit(OpKind::batchnorm) | fused_bit(OpKind::relu)));
  CHECK(fused.latency_s == Approx((conv.latency_s + bn.latency_s + relu.latency_s) / 1.25));
  // in a sequence: each part's in-sequence time, over the same speedup
  const SequenceContext ctx{64 << 20, 0};
  const Estimate fused_seq =
      m.estimate(sg(OpKind::conv2d, c, Precision::fp32, fused_bit(OpKind::batchnorm) | fused_bit(OpKind::relu)), ctx);
  const double parts = m.estimate(sg(OpKind::conv2d, c), ctx).in_sequence_s +
                       m.estimate(sg(OpKind::batchnorm, MapShape{1, 64, 56, 56}), ctx).in_sequence_s +
                       m.estimate(sg(OpKind::relu, ElementwiseShape{64 * 56 * 56, 1, 0}), ctx).in_sequence_s;
  CHECK(fused_seq.in_sequence_s == Approx(parts / 1.25));
  CHECK(fused_seq.in_sequence_s > fused.latency_s);  // the convolution's weights come from further out
  CHECK(fused.warnings == 0);
  CHECK(fused.compute_s + fused.memory_s + fused.overhead_s == Approx(fused.latency_s));

  // conv + relu: pattern known, not calibrated in this profile
  const Estimate cr = m.estimate(sg(OpKind::conv2d, c, Precision::fp32, fused_bit(OpKind::relu)));
  CHECK((cr.warnings & warn_fusion_unmeasured));
  CHECK(cr.latency_s == Approx(conv.latency_s + relu.latency_s));
  // conv + silu: no such pattern
  const Estimate cs = m.estimate(sg(OpKind::conv2d, c, Precision::fp32, fused_bit(OpKind::silu)));
  CHECK((cs.warnings & warn_fusion_unknown));
  CHECK(cs.latency_s > conv.latency_s);

  FusionPattern p;
  CHECK(fusion_pattern_of(sg(OpKind::linear, MatmulShape{1, 8, 8, 8, true}, Precision::fp32, fused_bit(OpKind::gelu)),
                          p));
  CHECK(p == FusionPattern::linear_bias_gelu);
  CHECK(fusion_pattern_of(
      sg(OpKind::matmul, MatmulShape{4, 8, 8, 8, false}, Precision::fp32, fused_bit(OpKind::softmax)), p));
  CHECK(p == FusionPattern::qkt_softmax);
}

TEST_CASE("the roofline baseline uses the peak and the DRAM bandwidth only", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  const MatmulShape s{1, 256, 256, 256, false};
  const Estimate r = m.roofline(sg(OpKind::matmul, s));
  CHECK(r.latency_s == Approx(std::max(2.0 * 256 * 256 * 256 / 100e9, 3.0 * 256 * 256 * 4 / 10e9)));
  CHECK(r.overhead_s == 0);
}

TEST_CASE("estimate allocates nothing and is safe to call from several threads", "[mapper]") {
  const CalibratedMapper m(test::make_test_profile());
  const Subgraph gs[] = {
      sg(OpKind::matmul, MatmulShape{1, 300, 200, 100, false}), sg(OpKind::relu, ElementwiseShape{5000, 1, 0}),
      sg(OpKind::conv2d, test_conv(), Precision::fp32, fused_bit(OpKind::batchnorm) | fused_bit(OpKind::relu)),
      sg(OpKind::attention, AttentionShape{1, 8, 128, 128, 64, false}, Precision::bf16)};
  const long before = g_allocations.load();
  double sum = 0;
  for (int i = 0; i < 1000; ++i)
    for (const auto& g : gs) sum += m.estimate(g).latency_s;
  CHECK(g_allocations.load() == before);
  CHECK(sum > 0);

  double a = 0, b = 0;
  std::thread t1([&] {
    for (int i = 0; i < 2000; ++i) a += m.estimate(gs[i % 4]).latency_s;
  });
  std::thread t2([&] {
    for (int i = 0; i < 2000; ++i) b += m.estimate(gs[i % 4]).latency_s;
  });
  t1.join();
  t2.join();
  CHECK(a == Approx(b));
}

TEST_CASE("without curves at the requested thread count, all curves of the nearest count are used", "[mapper]") {
  HardwareCalibration h = test::make_test_profile();
  for (auto& c : h.operations) c.threads = 2;
  h.threads = 2;
  OperationCalibration dw;
  dw.op = OpKind::conv2d, dw.precision = Precision::fp32, dw.backend = "eigen", dw.variant = Variant::depthwise,
  dw.threads = 2;
  Conv2dShape c = test_conv();
  c.groups = c.k = 64;
  dw.samples = {test::sample(OpKind::conv2d, c, Precision::fp32, 5e9)};
  h.operations.push_back(dw);
  OperationCalibration far = h.operations[0];  // matmul at 8 threads: farther from 1 than 2 is
  far.threads = 8;
  h.operations.push_back(far);
  MapperOptions o;
  o.threads = 1;
  const CalibratedMapper m(h, o);
  const Estimate e = m.estimate(sg(OpKind::conv2d, c));
  CHECK((e.warnings & warn_other_threads));
  CHECK_FALSE((e.warnings & warn_other_variant));
  CHECK(e.compute_s == Approx(flops(OpDesc{OpKind::conv2d, c}) / 5e9));
  // the 2-thread matmul curve (50 GFLOP/s at 256^3), not the 8-thread copy
  CHECK(m.estimate(sg(OpKind::matmul, MatmulShape{1, 256, 256, 256, false})).compute_s ==
        Approx(2.0 * 256 * 256 * 256 / 50e9));
}

TEST_CASE("each curve has its own fixed cost, from its smallest samples", "[mapper]") {
  HardwareCalibration h = test::make_test_profile();
  OperationCalibration& conv = h.operations[2];
  REQUIRE(conv.op == OpKind::conv2d);
  // three launch-bound 1x1 convolutions on small maps: 5 us + work at 20 GFLOP/s
  for (i64 hw : {1, 2, 4}) {
    Conv2dShape s;
    s.n = 1, s.c = 16, s.h = s.w = hw, s.k = 16, s.r = s.s = 1, s.bias = false;
    conv.samples.push_back(test::sample(OpKind::conv2d, s, Precision::fp32, 20e9, 5e-6));
  }
  const CalibratedMapper m(h);
  Conv2dShape q;
  q.n = 1, q.c = 16, q.h = q.w = 3, q.k = 16, q.r = q.s = 1, q.bias = false;
  const Estimate e = m.estimate(sg(OpKind::conv2d, q));
  CHECK(e.overhead_s == Approx(5e-6));
  CHECK(e.latency_s == Approx(5e-6 + flops(OpDesc{OpKind::conv2d, q}) / 20e9).epsilon(0.01));
  // the relu curve keeps the backend's 1 us
  CHECK(m.estimate(sg(OpKind::relu, ElementwiseShape{1 << 9, 1, 0})).overhead_s == Approx(1e-6));
}

TEST_CASE("a sequence's context is the bytes its subgraphs move", "[mapper]") {
  const std::vector<Subgraph> pass = {sg(OpKind::relu, ElementwiseShape{1024, 1, 0}),
                                      sg(OpKind::matmul, MatmulShape{1, 64, 64, 64, false}, Precision::fp64)};
  const SequenceContext c =
      sequence_context(pass.begin(), pass.end(), [](const Subgraph& g) -> const Subgraph& { return g; });
  CHECK(c.pass_bytes == Approx(2 * 1024 * 4 + 3 * 64 * 64 * 8));
  CHECK(sequence_context(pass.begin(), pass.begin(), [](const Subgraph& g) -> const Subgraph& {
          return g;
        }).pass_bytes == 0);
}

TEST_CASE("CPU: a call inside a pass pays its op's in-sequence cost once", "[mapper]") {
  HardwareCalibration h = test::make_test_profile();
  const CalibratedMapper before(h);
  h.overhead.framework_sequence_s[OpKind::conv2d] = 7e-6;
  h.overhead.framework_sequence_s[OpKind::relu] = 3e-6;
  const CalibratedMapper m(h);
  const Subgraph conv = sg(OpKind::conv2d, test_conv());
  const SequenceContext ctx{64 << 20, 0};
  // alone and repeated: nothing added
  CHECK(m.estimate(conv).latency_s == Approx(before.estimate(conv).latency_s));
  CHECK(m.estimate(conv).in_sequence_s == Approx(before.estimate(conv).in_sequence_s));
  // in a pass: once per call, not for the ops folded into it (one call)
  CHECK(m.estimate(conv, ctx).in_sequence_s == Approx(before.estimate(conv, ctx).in_sequence_s + 7e-6));
  CHECK(m.estimate(conv, ctx).latency_s == Approx(before.estimate(conv, ctx).latency_s));
  const Subgraph conv_relu = sg(OpKind::conv2d, test_conv(), Precision::fp32, fused_bit(OpKind::relu));
  CHECK(m.estimate(conv_relu, ctx).in_sequence_s == Approx(before.estimate(conv_relu, ctx).in_sequence_s + 7e-6));
  // an op without an entry pays nothing more
  const Subgraph bn = sg(OpKind::batchnorm, MapShape{1, 64, 56, 56});
  CHECK(m.estimate(bn, ctx).in_sequence_s == Approx(before.estimate(bn, ctx).in_sequence_s));
  // written and read back with the profile (beside the per-call costs it is measured with)
  h.overhead.framework_s[OpKind::relu] = 1e-6;
  h.overhead.framework_derivation = "test";
  const HardwareCalibration back = parse_profile(nlohmann::json(h), "mem.json");
  CHECK(back.overhead.framework_sequence_s == h.overhead.framework_sequence_s);
  CHECK(back.overhead.framework_s == h.overhead.framework_s);
}

// ------------------------------------------------------------------ devices

TEST_CASE("device mode: per-launch device time with a floor, no eager launch cost", "[mapper][gpu]") {
  const CalibratedMapper m(test::make_test_gpu_profile());
  CHECK(m.device());
  CHECK(m.mode() == Mode::device);
  // a tiny relu: below the smallest sample, the curve's floor (2 us), not the
  // 5 us of an eager launch and not a time shrinking with the size
  const Estimate tiny = m.estimate(sg(OpKind::relu, ElementwiseShape{64, 1, 0}, Precision::bf16));
  CHECK(tiny.latency_s == Approx(2e-6));
  CHECK(tiny.bound == Bound::overhead);
  CHECK(tiny.host_s == 0);
  // a measured size: as measured
  const double t24 = 4.0 * (1 << 24) / 2000e9;
  CHECK(m.estimate(sg(OpKind::relu, ElementwiseShape{1 << 24, 1, 0}, Precision::bf16)).latency_s ==
        Approx(t24).epsilon(1e-6));
  // the interval always contains the estimate
  for (i64 e : {i64{100}, i64{1} << 18, i64{1} << 28}) {
    const Estimate x = m.estimate(sg(OpKind::relu, ElementwiseShape{e, 1, 0}, Precision::bf16));
    CHECK(x.interval_lo_s <= x.latency_s);
    CHECK(x.latency_s <= x.interval_hi_s);
  }
}

TEST_CASE("device mode: weights come cold and outputs go back when the pass does not fit the L2", "[mapper][gpu]") {
  const CalibratedMapper m(test::make_test_gpu_profile());
  const Subgraph lin = sg(OpKind::linear, MatmulShape{1, 64, 4096, 4096, true}, Precision::bf16);
  const Counts n = counts(lin.op, Precision::bf16);
  const Estimate alone = m.estimate(lin);
  // a pass of 40 MiB fits the 50 MiB L2: the weights stay warm between replays
  CHECK(m.estimate(lin, SequenceContext{40 << 20, 30 << 20}).in_sequence_s == Approx(alone.latency_s));
  // a pass of 1 GiB does not: the weights' share of the bytes comes at the cold time
  const Estimate seq = m.estimate(lin, SequenceContext{1 << 30, 900 << 20});
  const double warm = std::max(n.flops / 500e12, n.bytes / 8000e9);
  const double cold = warm + n.weight_bytes / 4000e9;
  CHECK(alone.latency_s == Approx(warm).epsilon(1e-6));
  CHECK(seq.in_sequence_s == Approx(warm + n.weight_bytes / n.bytes * (cold - warm)).epsilon(1e-4));
  CHECK(seq.latency_s == Approx(alone.latency_s));
  // a relu in the same pass has no weights, but the 2 MiB it writes go back
  // to memory at the pass's bandwidth instead of staying in the L2
  const Subgraph relu = sg(OpKind::relu, ElementwiseShape{1 << 20, 1, 0}, Precision::bf16);
  const Counts r = counts(relu.op, Precision::bf16);
  const double relu_alone = m.estimate(relu).latency_s;
  REQUIRE(m.bandwidth(1 << 30) < m.bandwidth(r.bytes));
  CHECK(m.estimate(relu, SequenceContext{1 << 30, 900 << 20}).in_sequence_s ==
        Approx(relu_alone + r.output_bytes * (1 / m.bandwidth(1 << 30) - 1 / m.bandwidth(r.bytes))).epsilon(1e-6));
  // a pass that fits the L2 costs its written bytes the L2's bandwidth at the
  // pass's size: less than memory's
  const double in_l2 = m.estimate(relu, SequenceContext{40 << 20, 30 << 20}).in_sequence_s;
  CHECK(in_l2 ==
        Approx(relu_alone + r.output_bytes * std::max(0.0, 1 / m.bandwidth(40 << 20) - 1 / m.bandwidth(r.bytes)))
            .epsilon(1e-6));
  CHECK(in_l2 < m.estimate(relu, SequenceContext{1 << 30, 900 << 20}).in_sequence_s);
}

TEST_CASE("eager mode: the host's per-op cost overlaps the device, totals queue", "[mapper][gpu]") {
  MapperOptions o;
  o.mode = Mode::eager;
  const CalibratedMapper m(test::make_test_gpu_profile(), o);
  const Subgraph lin = sg(OpKind::linear, MatmulShape{1, 1, 4096, 4096, true}, Precision::bf16);
  const Estimate e = m.estimate(lin);
  CHECK(e.host_s == Approx(10e-6));  // measured for linear
  CHECK(e.latency_s == Approx(std::max(10e-6, e.device_s)));
  CHECK_FALSE((e.warnings & warn_no_host_cost));
  const Estimate r = m.estimate(sg(OpKind::relu, ElementwiseShape{64, 1, 0}, Precision::bf16));
  CHECK(r.host_s == Approx(5e-6));  // not measured for relu: the eager launch cost, said so
  CHECK((r.warnings & warn_no_host_cost));
  // host-bound: three ops of 10 us host, 2 us device -> 30 us + the last op's 2 us
  std::vector<Estimate> pass(3);
  for (auto& x : pass) x.host_s = 10e-6, x.device_s = 2e-6;
  auto self = [](const Estimate& x) -> const Estimate& { return x; };
  CHECK(sequence_total(pass.begin(), pass.end(), self) == Approx(32e-6));
  // device-bound: 1 us host, 10 us device -> the first issue + 30 us
  for (auto& x : pass) x.host_s = 1e-6, x.device_s = 10e-6;
  CHECK(sequence_total(pass.begin(), pass.end(), self) == Approx(31e-6));
  // no host cost (device mode, CPUs): the sum
  for (auto& x : pass) x.host_s = 0;
  CHECK(sequence_total(pass.begin(), pass.end(), self) == Approx(30e-6));
}

TEST_CASE("a device-mode pass pays its graph's start once; eager, CPU and roofline totals do not", "[mapper][gpu]") {
  HardwareCalibration gpu = test::make_test_gpu_profile();
  gpu.overhead.graph_start_s = 6e-6;
  Workload w;
  w.name = "two ops";
  w.subgraphs = {{"lin", sg(OpKind::linear, MatmulShape{1, 1, 4096, 4096, true}, Precision::bf16)},
                 {"relu", sg(OpKind::relu, ElementwiseShape{4096, 1, 0}, Precision::bf16)}};
  const auto sum_of = [](const WorkloadPrediction& p) {
    double s = 0;
    for (const SubgraphPrediction& x : p.subgraphs) s += x.estimate.in_sequence_s;
    return s;
  };
  const WorkloadPrediction dev = predict_workload(gpu, w);
  CHECK(dev.start_s == 6e-6);
  CHECK(dev.total_s == Approx(6e-6 + sum_of(dev)).epsilon(1e-12));
  CHECK(dev.interval_lo_s <= dev.total_s);
  CHECK(dev.total_s <= dev.interval_hi_s);
  CHECK(to_json(dev).at("start_s").get<double>() == 6e-6);
  // each subgraph's own estimate is unchanged: the start belongs to the pass
  gpu.overhead.graph_start_s = 0;
  const WorkloadPrediction none = predict_workload(gpu, w);
  CHECK(none.start_s == 0);
  CHECK(none.subgraphs[0].estimate.latency_s == dev.subgraphs[0].estimate.latency_s);
  CHECK(dev.total_s - none.total_s == Approx(6e-6).epsilon(1e-9));
  gpu.overhead.graph_start_s = 6e-6;
  PredictOptions eager;
  eager.mode = Mode::eager;
  CHECK(predict_workload(gpu, w, eager).start_s == 0);
  PredictOptions roof;
  roof.roofline = true;
  CHECK(predict_workload(gpu, w, roof).start_s == 0);
  CHECK(predict_workload(gpu, Workload{}).total_s == 0);  // no ops, no graph to start
  HardwareCalibration cpu = test::make_test_profile();
  cpu.overhead.graph_start_s = 6e-6;  // not something a CPU profile has; ignored if it did
  Workload wc = w;
  for (auto& s : wc.subgraphs) s.graph.precision = Precision::fp32;
  CHECK(predict_workload(cpu, wc).start_s == 0);
  // written and read back with the profile
  const HardwareCalibration back = parse_profile(nlohmann::json(gpu), "mem.json");
  CHECK(back.overhead.graph_start_s == 6e-6);
}

TEST_CASE("the cache returns exactly what the mapper does, for every family", "[mapper]") {
  const CalibratedMapper m(test::make_test_gpu_profile());
  EstimateCache cache(m, 64);
  const Subgraph gs[] = {sg(OpKind::linear, MatmulShape{1, 8, 4096, 4096, true}, Precision::bf16),
                         sg(OpKind::attention, AttentionShape{4, 32, 1, 2048, 128, false, 8}, Precision::bf16),
                         sg(OpKind::attention, AttentionShape{4, 32, 1, 2048, 128, false, 32}, Precision::bf16),
                         sg(OpKind::rotary, RotaryShape{16, 32, 128}, Precision::bf16),
                         sg(OpKind::embedding, EmbeddingShape{16, 32000, 4096}, Precision::bf16),
                         sg(OpKind::rmsnorm, RowsShape{16, 4096}, Precision::bf16)};
  for (int round = 0; round < 2; ++round)
    for (const auto& g : gs) CHECK(cache.estimate(g).latency_s == m.estimate(g).latency_s);
  CHECK(cache.hits() == 6);
  // kv_heads is part of the key: GQA and MHA differ
  CHECK(cache.estimate(gs[1]).latency_s != cache.estimate(gs[2]).latency_s);
}

TEST_CASE("device mode: a convolution's bias is a kernel of its own", "[mapper][gpu]") {
  const CalibratedMapper gpu(test::make_test_gpu_profile());
  Conv2dShape c = test_conv();
  const Estimate plain = gpu.estimate(sg(OpKind::conv2d, c, Precision::bf16));
  c.bias = true;
  const Estimate biased = gpu.estimate(sg(OpKind::conv2d, c, Precision::bf16));
  // plus a broadcast add over the 64x56x56 output (no add curve in this
  // profile: its bytes at the memory sweep's bandwidth)
  CHECK(biased.latency_s > plain.latency_s);
  // CPUs add the bias inside the convolution
  const CalibratedMapper cpu(test::make_test_profile());
  Conv2dShape d = test_conv();
  const double without = cpu.estimate(sg(OpKind::conv2d, d)).latency_s;
  d.bias = true;
  CHECK(cpu.estimate(sg(OpKind::conv2d, d)).latency_s == Approx(without).epsilon(1e-3));
}

TEST_CASE("device mode: a convolution's batch is a coordinate beside the rows it shares with the map",
          "[mapper][gpu]") {
  // 1 x 56^2 and 64 x 7^2 have the same N x OH x OW rows: a device runs them
  // as different GEMMs (per image), a CPU as one; each measured time stands
  // on a device, where the features alone would make them one point
  Conv2dShape one;
  one.n = 1, one.c = 256, one.h = one.w = 56, one.k = 64, one.r = one.s = 1, one.bias = false;
  Conv2dShape many = one;
  many.n = 64, many.h = many.w = 7;
  REQUIRE(features(OpDesc{OpKind::conv2d, one}).x == features(OpDesc{OpKind::conv2d, many}).x);
  for (const bool device : {true, false}) {
    INFO((device ? "device" : "cpu"));
    HardwareCalibration h = device ? test::make_test_gpu_profile() : test::make_test_profile();
    OperationCalibration conv;
    conv.op = OpKind::conv2d, conv.precision = Precision::bf16, conv.backend = "test", conv.variant = Variant::dense;
    conv.threads = h.threads;
    for (const auto& [shape, rate] : {std::pair<Conv2dShape, double>{one, 300e12}, {many, 100e12}})
      conv.samples.push_back(test::sample(OpKind::conv2d, shape, Precision::bf16, rate, device ? 0 : test::overhead_s));
    h.operations.push_back(conv);
    const CalibratedMapper m(h);
    const double t1 = m.estimate(sg(OpKind::conv2d, one, Precision::bf16)).latency_s;
    const double t64 = m.estimate(sg(OpKind::conv2d, many, Precision::bf16)).latency_s;
    if (device) {
      CHECK(t1 == Approx(conv.samples[0].time.median_s).epsilon(1e-3));
      CHECK(t64 == Approx(conv.samples[1].time.median_s).epsilon(1e-3));
    } else {
      CHECK(t1 == Approx(t64).epsilon(1e-3));  // one point to a CPU: the first sample's
    }
  }
}

TEST_CASE("a concat's inputs x largest and inputs: read where the samples vary them, dropped where they never did",
          "[mapper][gpu]") {
  HardwareCalibration h = test::make_test_gpu_profile();
  OperationCalibration cat;
  cat.op = OpKind::concat, cat.precision = Precision::bf16, cat.backend = "test", cat.threads = h.threads;
  for (i64 b : {i64{1} << 20, i64{4} << 20, i64{16} << 20, i64{64} << 20})
    cat.samples.push_back(test::sample(OpKind::concat, BytesShape{b}, Precision::bf16, 2e12, 0));
  h.operations.push_back(cat);
  const BytesShape even{4 << 20, 16}, uneven{4 << 20, 16, 2 << 20};  // 16 inputs, one of half the bytes
  // only even samples (a profile older than the uneven sweep): the second feature says nothing, and an
  // uneven concat is read as the even one of its bytes, not between the even ones of 4 and 32 MiB
  const double t_even = CalibratedMapper(h).estimate(sg(OpKind::concat, even, Precision::bf16)).latency_s;
  CHECK(t_even == Approx(cat.samples[1].time.median_s).epsilon(1e-3));
  CHECK(CalibratedMapper(h).estimate(sg(OpKind::concat, uneven, Precision::bf16)).latency_s ==
        Approx(t_even).epsilon(1e-3));
  // uneven samples measured 4x slower (PyTorch's grid sized by the largest input): an uneven query is read there
  for (i64 b : {i64{1} << 20, i64{4} << 20, i64{16} << 20, i64{64} << 20})
    h.operations.back().samples.push_back(
        test::sample(OpKind::concat, BytesShape{b, 16, b / 2}, Precision::bf16, 0.5e12, 0));
  const CalibratedMapper m(h);
  CHECK(m.estimate(sg(OpKind::concat, uneven, Precision::bf16)).latency_s == Approx(4 * t_even).epsilon(1e-3));
  CHECK(m.estimate(sg(OpKind::concat, BytesShape{4 << 20}, Precision::bf16)).latency_s == Approx(t_even).epsilon(1e-3));
}

TEST_CASE("samples flagged as disturbed stay out of a curve that has two clean ones", "[mapper][contention]") {
  HardwareCalibration h = test::make_test_profile();
  OperationCalibration& mm = h.operations[0];
  REQUIRE(mm.op == OpKind::matmul);
  const OpDesc mid{OpKind::matmul, MatmulShape{1, 256, 256, 256, false}};
  const double clean = CalibratedMapper(h).estimate(sg(mid.kind, mid.shape)).latency_s;
  // the middle sample measured 5x slow under contention, and flagged
  OpSample& s = mm.samples[1];
  s.time.median_s *= 5;
  const double polluted = CalibratedMapper(h).estimate(sg(mid.kind, mid.shape)).latency_s;
  CHECK(polluted == Approx(5 * clean).epsilon(0.01));  // unflagged, it is believed
  s.disturbed = "other work took 40% of the CPU time";
  const double flagged = CalibratedMapper(h).estimate(sg(mid.kind, mid.shape)).latency_s;
  // interpolated from the clean neighbours instead: back near the clean figure, far from the 5x
  CHECK(flagged < 2 * clean);
  CHECK(flagged > 0.5 * clean);
  // a curve with fewer than two clean samples keeps what it has
  mm.samples[0].disturbed = mm.samples[2].disturbed = "drift";
  CHECK(CalibratedMapper(h).estimate(sg(mid.kind, mid.shape)).latency_s == Approx(polluted).epsilon(1e-6));
}

TEST_CASE("the regime coordinate keeps GEMV neighbours in their own cache level", "[mapper]") {
  HardwareCalibration h = test::make_test_profile();
  // a cache cliff: 100 GB/s up to 1 MiB, 10 GB/s from 4 MiB
  h.memory.sweep.clear();
  for (auto [ws, gbps] : {std::pair<i64, double>{16 << 10, 100}, {1 << 20, 100}, {4 << 20, 10}, {i64{1} << 30, 10}}) {
    BandwidthPoint b;
    b.working_set_bytes = ws, b.kernel = "triad", b.gbps = gbps;
    b.time.median_s = double(ws) / (gbps * 1e9);
    h.memory.sweep.push_back(b);
  }
  const detail::BandwidthModel bw(h.memory);
  // linear, 1 row: in-cache weights run at 80% of their roofline, weights in memory at 40%
  OperationCalibration lin;
  lin.op = OpKind::linear, lin.precision = Precision::fp32, lin.backend = "eigen", lin.threads = 1;
  auto add = [&](i64 n, i64 k, double eff) {
    const OpDesc op{OpKind::linear, MatmulShape{1, 1, n, k, false}};
    OpSample s = test::sample(OpKind::linear, op.shape, Precision::fp32, 1e12);
    s.time.median_s = test::overhead_s + bytes(op, Precision::fp32) / bw.at(bytes(op, Precision::fp32)) / eff;
    lin.samples.push_back(s);
  };
  for (auto [n, k] : {std::pair<i64, i64>{256, 512}, {512, 256}, {128, 1024}, {64, 2048}}) add(n, k, 0.8);  // 512 KiB
  for (auto [n, k] : {std::pair<i64, i64>{4096, 4096}, {8192, 4096}, {2048, 8192}, {1024, 16384}})
    add(n, k, 0.4);  // 64-128 MiB
  h.operations.push_back(lin);
  // 8 MiB of weights (memory); in (m, n, k) its four nearest samples are two in-cache and two in memory
  const OpDesc q{OpKind::linear, MatmulShape{1, 1, 256, 8192, false}};
  const double roof = bytes(q, Precision::fp32) / bw.at(bytes(q, Precision::fp32));
  MapperOptions off, on;
  off.regime_weight = 0;
  on.regime_weight = 1;
  auto eff = [&](const MapperOptions& o) {
    return roof / (CalibratedMapper(h, o).estimate(sg(q.kind, q.shape)).latency_s - test::overhead_s);
  };
  INFO("efficiency without the regime coordinate " << eff(off) << ", with " << eff(on));
  CHECK(std::abs(std::log(eff(on) / 0.4)) < 0.5 * std::abs(std::log(eff(off) / 0.4)));
  // measured shapes are still predicted as measured
  const OpDesc m{OpKind::linear, MatmulShape{1, 1, 4096, 4096, false}};
  CHECK(CalibratedMapper(h, on).estimate(sg(m.kind, m.shape)).latency_s ==
        Approx(lin.samples[4].time.median_s).epsilon(0.02));
}

TEST_CASE("the nearest-neighbour average is the brute-force one", "[mapper][interpolate]") {
  // Random blocks of 1..300 points in 2..5 features (random floats: no ties),
  // random queries inside and around them, against a brute-force k = 4
  // inverse-squared-distance average written out here.
  std::uint64_t seed = 12345;
  auto uniform = [&seed](float lo, float hi) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * float(seed >> 40) / float(1ull << 24);
  };
  detail::PointStore store;
  for (int trial = 0; trial < 200; ++trial) {
    const int dims = 2 + trial % 4;
    const auto n = static_cast<std::size_t>(1 + (trial * 37) % 300);
    std::vector<detail::PointStore::Point> pts(n);
    for (auto& p : pts) {
      p.x = {};
      for (int d = 0; d < dims; ++d) p.x[std::size_t(d)] = uniform(0.0f, d == 1 ? 20.0f : 8.0f);
      p.value = uniform(-3.0f, 1.0f), p.spread = uniform(0.0f, 0.5f);
    }
    const detail::PointBlock b = store.add(pts, dims);
    for (int qi = 0; qi < 20; ++qi) {
      Features q{};
      for (int d = 0; d < dims; ++d) q[std::size_t(d)] = uniform(-2.0f, d == 1 ? 22.0f : 10.0f);
      std::vector<std::pair<float, std::size_t>> by_distance;
      for (std::size_t i = 0; i < n; ++i) {
        float d2 = 0;
        for (int d = 0; d < dims; ++d)
          d2 += (q[std::size_t(d)] - pts[i].x[std::size_t(d)]) * (q[std::size_t(d)] - pts[i].x[std::size_t(d)]);
        by_distance.push_back({d2, i});
      }
      std::sort(by_distance.begin(), by_distance.end());
      double wsum = 0, acc = 0;
      for (std::size_t j = 0; j < std::min<std::size_t>(4, n); ++j) {
        wsum += 1.0 / by_distance[j].first;
        acc += pts[by_distance[j].second].value / by_distance[j].first;
      }
      INFO("trial " << trial << " query " << qi << " dims " << dims << " points " << n);
      CHECK(store.interpolate(b, q).value == Approx(acc / wsum).epsilon(1e-5));
    }
  }
}

namespace {
/// Deterministic uniform floats for the interpolation tests.
struct Uniform {
  std::uint64_t seed = 987654321;
  float operator()(float lo, float hi) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * float(seed >> 40) / float(1ull << 24);
  }
};
/// n points on integer coordinates 0..span of `dims` features (a calibration
/// sweep's grid), values from f.
template <class F>
std::vector<detail::PointStore::Point> grid_points(int dims, int n, int span, Uniform& u, F&& f) {
  std::vector<detail::PointStore::Point> pts;
  while (static_cast<int>(pts.size()) < n) {
    detail::PointStore::Point p{};
    for (int d = 0; d < dims; ++d) p.x[std::size_t(d)] = std::floor(u(0.0f, float(span) + 0.999f));
    bool seen = false;
    for (const auto& o : pts) seen = seen || o.x == p.x;
    if (seen) continue;
    p.value = f(p.x), p.spread = u(0.0f, 0.3f);
    pts.push_back(p);
  }
  return pts;
}
}  // namespace

TEST_CASE("a block with segments reads a query between two points on a line along that line, others as before",
          "[mapper][interpolate]") {
  // a sweep's grid: 4 templates x batches 1, 4, 16, 64 (features: log2 rows, which grow with the batch,
  // log2 channels, log2 batch); values bend along the batch, so a plane or a mean misses the line
  std::vector<detail::PointStore::Point> pts;
  auto at = [](float rows0, float ch, float batch) {
    Features x{};
    x[0] = rows0 + batch, x[1] = ch, x[2] = batch;
    return x;
  };
  auto value = [](const Features& x) { return -0.05f * (x[2] - 3) * (x[2] - 3) + 0.1f * x[1]; };
  for (float rows0 : {4.0f, 6.0f, 8.0f, 10.0f})
    for (float ch : {5.0f, 7.0f, 9.0f})
      for (float batch : {0.0f, 2.0f, 4.0f, 6.0f}) {
        const Features x = at(rows0, ch, batch);
        pts.push_back({x, value(x), 0.1f + 0.01f * batch});
      }
  for (const auto method : {detail::Interpolation::nearest, detail::Interpolation::local_linear}) {
    INFO("method " << int(method));
    detail::PointStore with, without;
    const detail::PointBlock bw = with.add(pts, 3, method, true), bo = without.add(pts, 3, method, false);
    // on the line of template (6, 7) between batches 16 and 64: the blend of those two, a third of the way
    const Features q = at(6.0f, 7.0f, 4.0f + 2.0f / 3.0f);
    const Features lo = at(6.0f, 7.0f, 4.0f), hi = at(6.0f, 7.0f, 6.0f);
    const auto r = with.interpolate(bw, q);
    CHECK(r.value == Approx(value(lo) + (value(hi) - value(lo)) / 3.0f).margin(1e-5));
    CHECK(r.spread == Approx(0.14f + (0.16f - 0.14f) / 3.0f).margin(1e-5));
    CHECK(r.value != Approx(without.interpolate(bo, q).value).margin(1e-3));
    // a measured point is itself; a query on no line through two points is read as without segments
    CHECK(with.interpolate(bw, lo).value == Approx(value(lo)).margin(1e-6));
    Features off = q;
    off[1] = 7.4f;
    CHECK(with.interpolate(bw, off).value == Approx(without.interpolate(bo, off).value).margin(1e-9));
  }
}

TEST_CASE("automatic interpolation takes the plane where the points lie on one, the nearest points on noise",
          "[mapper][interpolate]") {
  Uniform u;
  detail::PointStore store;
  for (int dims = 2; dims <= 5; ++dims) {
    INFO("dims " << dims);
    const int span = dims == 2 ? 10 : 6;  // room for the points on the integer grid
    const auto plane = grid_points(dims, 60, span, u, [dims](const Features& x) {
      float v = 0.5f;
      for (int d = 0; d < dims; ++d) v += 0.3f * float(d + 1) / float(dims) * x[std::size_t(d)];
      return v;
    });
    CHECK(store.add(plane, dims, detail::Interpolation::automatic).method == detail::Interpolation::local_linear);
    const auto noise = grid_points(dims, 60, span, u, [&u](const Features&) { return u(-1.0f, 1.0f); });
    CHECK(store.add(noise, dims, detail::Interpolation::automatic).method == detail::Interpolation::nearest);
    // too few points for a plane to be judged: the nearest points
    const auto few = grid_points(dims, 12, span, u, [](const Features& x) { return x[0]; });
    CHECK(store.add(few, dims, detail::Interpolation::automatic).method == detail::Interpolation::nearest);
  }
  // On a plane, the plane predicts a point between samples better than the nearest points' mean.
  const auto pts = grid_points(3, 80, 8, u, [](const Features& x) { return 0.2f * x[0] - 0.1f * x[1] + 0.05f * x[2]; });
  const detail::PointBlock lin = store.add(pts, 3, detail::Interpolation::local_linear);
  const detail::PointBlock idw = store.add(pts, 3, detail::Interpolation::nearest);
  double err_lin = 0, err_idw = 0;
  for (int i = 0; i < 200; ++i) {
    const Features q{u(1, 7), u(1, 7), u(1, 7), 0, 0};
    const double truth = 0.2 * q[0] - 0.1 * q[1] + 0.05 * q[2];
    err_lin += std::abs(store.interpolate(lin, q).value - truth);
    err_idw += std::abs(store.interpolate(idw, q).value - truth);
  }
  INFO("mean error: plane " << err_lin / 200 << ", nearest points " << err_idw / 200);
  CHECK(err_lin < 0.5 * err_idw);
}

TEST_CASE("a tabulated block: its points as measured, linear in a simplex between nodes, its edge held beyond",
          "[mapper][interpolate]") {
  Uniform u;
  for (int dims = 2; dims <= 5; ++dims) {
    for (const auto method : {detail::Interpolation::nearest, detail::Interpolation::local_linear}) {
      INFO("dims " << dims << " method " << int(method));
      // values that bend (a plane would be reproduced by any blend)
      const auto pts = grid_points(dims, 40, dims == 2 ? 8 : 5, u, [&u](const Features& x) {
        return 0.1f * x[0] * x[0] - 0.2f * x[1] + u(-0.3f, 0.3f);
      });
      detail::PointStore exact, table(Lookup::table);
      const detail::PointBlock be = exact.add(pts, dims, method), bt = table.add(pts, dims, method);
      // every point lies on a node
      for (const auto& p : pts) CHECK(table.interpolate(bt, p.x).value == Approx(p.value).margin(1e-5));
      // the grid: per feature the values the points take, one octave beyond each end
      std::vector<std::vector<float>> axes(static_cast<std::size_t>(dims));
      for (int d = 0; d < dims; ++d) {
        auto& a = axes[std::size_t(d)];
        for (const auto& p : pts) a.push_back(p.x[std::size_t(d)]);
        std::sort(a.begin(), a.end());
        a.erase(std::unique(a.begin(), a.end()), a.end());
        a.insert(a.begin(), a.front() - 1), a.push_back(a.back() + 1);
      }
      for (int i = 0; i < 30; ++i) {
        Features q{};
        std::vector<std::size_t> cell(static_cast<std::size_t>(dims));
        std::vector<double> frac(static_cast<std::size_t>(dims));
        for (int d = 0; d < dims; ++d) {
          const auto& a = axes[std::size_t(d)];
          q[std::size_t(d)] = u(a.front(), a.back());
          const auto c = std::min<std::size_t>(
              a.size() - 2, std::size_t(std::upper_bound(a.begin(), a.end(), q[std::size_t(d)]) - a.begin() - 1));
          cell[std::size_t(d)] = c;
          frac[std::size_t(d)] = (q[std::size_t(d)] - a[c]) / (a[c + 1] - a[c]);
        }
        // the blend of the exact interpolation at the corners of the cell's simplex holding q,
        // written out: from the low corner, one feature up at a time, largest fraction first
        std::vector<int> order(static_cast<std::size_t>(dims));
        for (int d = 0; d < dims; ++d) order[std::size_t(d)] = d;
        std::stable_sort(order.begin(), order.end(),
                         [&frac](int a, int b) { return frac[std::size_t(a)] > frac[std::size_t(b)]; });
        double want = 0, want_spread = 0, prev = 1;
        std::vector<bool> up(static_cast<std::size_t>(dims), false);
        for (int j = 0; j <= dims; ++j) {
          Features corner{};
          for (int d = 0; d < dims; ++d)
            corner[std::size_t(d)] = axes[std::size_t(d)][cell[std::size_t(d)] + (up[std::size_t(d)] ? 1 : 0)];
          const double f = j < dims ? frac[std::size_t(order[std::size_t(j)])] : 0.0;
          const auto r = exact.interpolate(be, corner);
          want += (prev - f) * r.value, want_spread += (prev - f) * r.spread;
          if (j < dims) up[std::size_t(order[std::size_t(j)])] = true, prev = f;
        }
        const auto got = table.interpolate(bt, q);
        CHECK(got.value == Approx(want).margin(1e-4));
        CHECK(got.spread == Approx(want_spread).margin(1e-4));
        CHECK(got.outside == exact.interpolate(be, q).outside);
      }
      // beyond the grid: its edge held, flagged (the far corner node: the exact value there; past one
      // feature only, the blend on the grid's face)
      Features far{}, edge{};
      for (int d = 0; d < dims; ++d) {
        far[std::size_t(d)] = axes[std::size_t(d)].back() + 0.5f;
        edge[std::size_t(d)] = axes[std::size_t(d)].back();
      }
      CHECK(table.interpolate(bt, far).value == Approx(exact.interpolate(be, edge).value).margin(1e-5));
      CHECK(table.interpolate(bt, far).outside);
      Features side = pts.front().x;
      side[0] = axes[0].front() - 3.0f;
      Features face = side;
      face[0] = axes[0].front();
      CHECK(table.interpolate(bt, side).value == Approx(table.interpolate(bt, face).value).margin(1e-6));
      CHECK(table.interpolate(bt, side).outside);
    }
  }
}

TEST_CASE("a mapper with tables predicts measured shapes as the exact one does", "[mapper][interpolate]") {
  // shipped profiles: curves of up to 5 features and 250 points
  for (const char* path : {"/profiles/cpu/xeon-kvm-2vcpu-torch-t1.json", "/profiles/gpu/nvidia-h200-cuda.json"}) {
    INFO(path);
    const HardwareCalibration h = load_profile(std::string(HWCAL_SOURCE_DIR) + path);
    MapperOptions o;
    o.lookup = Lookup::table;
    const CalibratedMapper exact(h), table(h, o);
    int compared = 0;
    for (const auto& c : h.operations) {
      if (c.threads != h.threads) continue;
      for (const auto& s : c.samples) {
        if (!s.disturbed.empty()) continue;
        const Subgraph g = sg(c.op, s.shape, c.precision);
        CHECK(table.estimate(g).latency_s == Approx(exact.estimate(g).latency_s).epsilon(1e-5));
        ++compared;
      }
    }
    CHECK(compared > 500);
  }
}

TEST_CASE("a curve of two algorithm families is interpolated within the family of the nearest sample", "[mapper]") {
  // PyTorch's CPU 1x1 convolutions at one thread: im2col + GEMM below 16
  // images, oneDNN from 16, 5x apart; a batch-8 query has the rows of
  // batch-32 samples (the features merge the batch with the map)
  HardwareCalibration h = test::make_test_profile();
  auto conv = std::find_if(h.operations.begin(), h.operations.end(),
                           [](const OperationCalibration& c) { return c.op == OpKind::conv2d; });
  REQUIRE(conv != h.operations.end());
  conv->samples.clear();
  const auto pointwise = [](i64 n, i64 c, i64 hw, i64 k) {
    Conv2dShape s;
    s.n = n, s.c = c, s.h = s.w = hw, s.k = k, s.r = s.s = 1, s.bias = false;
    return s;
  };
  const i64 chk[][3] = {{256, 56, 64}, {64, 56, 256}, {1024, 14, 256}, {512, 7, 2048},
                        {96, 56, 24},  {16, 112, 96}, {576, 14, 96},   {1280, 7, 320}};
  for (i64 n : {1, 8, 16, 32})
    for (const auto& x : chk) {
      OpSample s = test::sample(OpKind::conv2d, pointwise(n, x[0], x[1], x[2]), Precision::fp32, n < 16 ? 30e9 : 150e9);
      s.family = n < 16 ? "slow_conv2d" : "oneDNN";
      conv->samples.push_back(s);
    }
  // nearest samples: batch 8 (a squared distance of 6 against 12 for any other batch) and batch 32 (2 against 4)
  const Conv2dShape q8 = pointwise(8, 128, 28, 512), q32 = pointwise(32, 512, 14, 512);
  const double f8 = flops(OpDesc{OpKind::conv2d, q8}), f32 = flops(OpDesc{OpKind::conv2d, q32});
  const auto predict = [&](const Conv2dShape& q) {
    return CalibratedMapper(h).estimate(sg(OpKind::conv2d, q)).latency_s;
  };
  const double slow = predict(q8), fast = predict(q32);
  CHECK(f8 / slow == Approx(30e9).epsilon(0.35));
  CHECK(f32 / fast == Approx(150e9).epsilon(0.35));
  {
    // a strided convolution is classified among the samples of its own window
    // (ATen runs every strided one through oneDNN), though a stride-1 sample
    // of the slow family lies nearer in the features
    HardwareCalibration hs = h;
    auto& cs = *std::find_if(hs.operations.begin(), hs.operations.end(),
                             [](const OperationCalibration& c) { return c.op == OpKind::conv2d; });
    const i64 strided[][3] = {{256, 56, 512}, {512, 28, 1024}, {64, 56, 128}, {128, 28, 256}};
    for (i64 n : {1, 8, 32})
      for (const auto& x : strided) {
        Conv2dShape s = pointwise(n, x[0], x[1], x[2]);
        s.stride_h = s.stride_w = 2;
        OpSample o = test::sample(OpKind::conv2d, s, Precision::fp32, 150e9);
        o.family = "oneDNN";
        cs.samples.push_back(o);
      }
    // squared distance 5 to the batch-8 stride-1 512 x 7 x 7 -> 2048 sample (slow), 6 to the nearest strided one
    Conv2dShape q = pointwise(8, 1024, 14, 2048);
    q.stride_h = q.stride_w = 2;
    const double t = CalibratedMapper(hs).estimate(sg(OpKind::conv2d, q)).latency_s;
    CHECK(flops(OpDesc{OpKind::conv2d, q}) / t == Approx(150e9).epsilon(0.35));
  }
  // the same samples as one family: the batch-8 query borrows the batch-32 rate
  for (auto& s : conv->samples) s.family.clear();
  CHECK(predict(q8) < 0.75 * slow);
  // a family of fewer than 8 samples does not split the curve
  for (auto& s : conv->samples) s.family = std::get<Conv2dShape>(s.shape).n < 16 ? "slow_conv2d" : "oneDNN";
  const double split = predict(q8);
  conv->samples.erase(std::remove_if(conv->samples.begin(), conv->samples.end(),
                                     [](const OpSample& s) { return std::get<Conv2dShape>(s.shape).n == 1; }),
                      conv->samples.end());
  conv->samples.erase(conv->samples.begin() + 1, conv->samples.begin() + 6);  // 3 slow samples left
  const double few = predict(q8);
  for (auto& s : conv->samples) s.family.clear();
  CHECK(few == Approx(predict(q8)).epsilon(1e-9));
  CHECK(split == Approx(slow).epsilon(1e-9));
}

TEST_CASE("the bandwidth of a working set: log-log between sweep points, ends held", "[mapper]") {
  // irregular spacing: points an eighth of an octave apart, others 5 octaves
  // apart, a repeated working set, given out of order
  MemoryCalibration mem;
  const std::pair<double, double> pts[] = {{1 << 12, 400}, {1 << 30, 12},        {(1 << 12) * 1.09, 380},
                                           {1 << 17, 150}, {1 << 17, 150},       {(1 << 17) * 1.09, 90},
                                           {1 << 22, 40},  {(1 << 22) * 1.5, 30}};
  for (auto [ws, gbps] : pts) {
    BandwidthPoint b;
    b.working_set_bytes = static_cast<i64>(ws), b.kernel = "triad", b.gbps = gbps;
    mem.sweep.push_back(b);
  }
  const detail::BandwidthModel bw(mem);
  // the reference: bisect the sorted points, interpolate log bandwidth in log working set
  std::vector<std::pair<double, double>> ref;
  for (const auto& b : mem.sweep) ref.push_back({std::log2(double(b.working_set_bytes)), std::log2(b.gbps * 1e9)});
  std::sort(ref.begin(), ref.end());
  const auto expect = [&](double ws) {
    const double x = std::log2(ws);
    if (x <= ref.front().first) return std::exp2(ref.front().second);
    if (x >= ref.back().first) return std::exp2(ref.back().second);
    const auto b = std::lower_bound(ref.begin(), ref.end(), x, [](const auto& p, double v) { return p.first < v; });
    const auto a = b - 1;
    return std::exp2(a->second + (x - a->first) / (b->first - a->first) * (b->second - a->second));
  };
  for (double ws = 64; ws < 4e9; ws *= 1.0137) {
    INFO("working set " << ws);
    // linear within 1/64 octave: 1.25e-3 on the slope of -5.9
    CHECK(bw.at(ws) == Approx(expect(ws)).epsilon(1.5e-3));
  }
  for (auto [ws, gbps] : pts)  // measured points as measured
    CHECK(bw.at(double(static_cast<i64>(ws))) == Approx(gbps * 1e9).epsilon(1e-6));
  CHECK(bw.memory() == Approx(12e9).epsilon(1e-6));
  CHECK(bw.fastest() == Approx(400e9).epsilon(1e-6));
  CHECK(detail::BandwidthModel{}.at(1e6) == 0);
}

TEST_CASE("CPU: a convolution off the channel tile runs at its curve's measured pair ratio", "[mapper]") {
  // depthwise 3x3 on the tile at 20 GFLOP/s; two pairs (58 beside 64, 116
  // beside 128 channels) measured off the tile at half that rate
  auto dw = [](i64 c, i64 hw) {
    Conv2dShape s;
    s.n = 1, s.c = s.k = s.groups = c, s.h = s.w = hw, s.r = s.s = 3, s.pad_h = s.pad_w = 1, s.bias = false;
    return s;
  };
  auto profile = [&](std::vector<std::string> isa, bool twins, bool device) {
    HardwareCalibration h = device ? test::make_test_gpu_profile() : test::make_test_profile();
    h.host.isa = std::move(isa);
    OperationCalibration conv;
    conv.op = OpKind::conv2d, conv.precision = Precision::fp32, conv.backend = "test";
    conv.variant = Variant::depthwise, conv.threads = h.threads;
    const double fixed = device ? 0 : test::overhead_s;
    for (const auto& [c, hw] : {std::pair<i64, i64>{64, 28}, {128, 14}, {256, 7}, {512, 7}})
      if (twins || c > 128)
        conv.samples.push_back(test::sample(OpKind::conv2d, dw(c, hw), Precision::fp32, 20e9, fixed));
    for (const auto& [c, hw] : {std::pair<i64, i64>{58, 28}, {116, 14}})
      conv.samples.push_back(test::sample(OpKind::conv2d, dw(c, hw), Precision::fp32, 10e9, fixed));
    h.operations.push_back(conv);
    return h;
  };
  auto rate = [](const CalibratedMapper& m, const Conv2dShape& s) {
    const Estimate e = m.estimate(sg(OpKind::conv2d, s));
    return flops(OpDesc{OpKind::conv2d, s}) / (e.latency_s - e.overhead_s);
  };
  SECTION("AVX-512: 16-channel tiles") {
    const CalibratedMapper m(profile({"avx2", "fma", "avx512f"}, true, false));
    CHECK(rate(m, dw(232, 7)) == Approx(10e9).epsilon(0.02));  // off the tile: the pairs' ratio
    CHECK(rate(m, dw(240, 7)) == Approx(20e9).epsilon(0.02));  // on it: the curve as measured
    CHECK(rate(m, dw(58, 28)) == Approx(10e9).epsilon(0.02));  // a pair's own sample, through the ratio
    CHECK(rate(m, dw(64, 28)) == Approx(20e9).epsilon(0.02));  // its twin, not pulled down by it
  }
  SECTION("AVX2: 8-channel tiles, so 232 channels are on one and only 58 has its twin") {
    const CalibratedMapper m(profile({"avx2", "fma"}, true, false));
    CHECK(rate(m, dw(232, 7)) == Approx(20e9).epsilon(0.02));
    CHECK(rate(m, dw(58, 28)) == Approx(10e9).epsilon(0.02));
  }
  SECTION("off-tile samples without their twins stay points, as in profiles before the pairs") {
    const CalibratedMapper m(profile({"avx512f"}, false, false));
    CHECK(rate(m, dw(58, 28)) == Approx(10e9).epsilon(0.02));
    CHECK(rate(m, dw(512, 7)) == Approx(20e9).epsilon(0.02));
  }
  SECTION("devices read every sample as a point") {
    const CalibratedMapper m(profile({}, true, true));
    CHECK(m.estimate(sg(OpKind::conv2d, dw(58, 28))).latency_s ==
          Approx(flops(OpDesc{OpKind::conv2d, dw(58, 28)}) / 10e9).epsilon(0.02));
    CHECK(m.estimate(sg(OpKind::conv2d, dw(64, 28))).latency_s ==
          Approx(flops(OpDesc{OpKind::conv2d, dw(64, 28)}) / 20e9).epsilon(0.02));
  }
}
