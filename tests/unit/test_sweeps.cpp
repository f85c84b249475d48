// detail/sweeps.hpp: every sweep point is a valid shape, every op kind has a
// sweep on CPUs and devices, and the device sweeps leave no gap wider than 4x
// along the axes real layers move.
#include "catch.hpp"

#include <hwcal/detail/sweeps.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <vector>

using namespace hwcal;

TEST_CASE("every op kind has valid CPU and device sweeps with quick points", "[sweeps]") {
  for (const OpInfo& o : op_table) {
    if (is_collective(o.kind)) {
      CHECK(detail::default_sweep(o.kind, true).empty());  // swept over collective_sizes() per GPU count
      continue;
    }
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

TEST_CASE("the device rows sweep measures the aligned widths of small models", "[sweeps]") {
  // A library picks its norm kernel by width: 192 columns are not 197's
  // neighbour but another kernel, so each width real models use is a point.
  for (OpKind kind : {OpKind::layernorm, OpKind::rmsnorm, OpKind::softmax, OpKind::reduce_mean}) {
    std::set<i64> wide;  // widths measured at >= 4096 rows
    for (const auto& p : detail::device_sweep(kind)) {
      const auto& r = std::get<RowsShape>(p.op.shape);
      if (r.rows >= 4096) wide.insert(r.cols);
    }
    for (i64 c : {49, 64, 96, 128, 192, 197, 256, 384, 512, 768, 1024}) {
      INFO(to_string(kind) << " cols " << c);
      CHECK(wide.count(c) == 1);
    }
  }
}

TEST_CASE("device sweeps leave no gap wider than 4x", "[sweeps]") {
  std::set<double> tokens, elements, kv, rows;
  for (const auto& p : detail::device_sweep(OpKind::linear)) tokens.insert(double(std::get<MatmulShape>(p.op.shape).m));
  for (const auto& p : detail::device_sweep(OpKind::relu))
    elements.insert(double(std::get<ElementwiseShape>(p.op.shape).elements));
  for (const auto& p : detail::device_sweep(OpKind::rmsnorm)) rows.insert(double(std::get<RowsShape>(p.op.shape).rows));
  for (const auto& p : detail::device_sweep(OpKind::attention)) {
    const auto& a = std::get<AttentionShape>(p.op.shape);
    if (a.seq_q == 1) kv.insert(double(a.seq_kv));
  }
  // widths: from the narrow encoders' 96 to the decoders' 14336 (beyond: the LM head), no gap
  // over 4x either way; outputs from a 10-class head up, and a 2-way one below it
  std::set<double> ins, outs;
  for (const auto& p : detail::device_sweep(OpKind::linear)) {
    const auto& s = std::get<MatmulShape>(p.op.shape);
    if (s.k <= 16384) ins.insert(double(s.k));
    if (s.n <= 16384) outs.insert(double(s.n));
  }
  CHECK(*ins.begin() <= 96);
  CHECK(*outs.begin() <= 2);
  outs.erase(outs.begin(), outs.lower_bound(10));
  CHECK(*outs.begin() == 10);
  CHECK(largest_gap(ins) <= 4);
  CHECK(largest_gap(outs) <= 4);
  CHECK(largest_gap(tokens) <= 4);
  CHECK(*tokens.begin() == 1);
  CHECK(*tokens.rbegin() >= 8192);
  CHECK(largest_gap(elements) <= 4);
  CHECK(largest_gap(rows) <= 4);
  CHECK(largest_gap(kv) <= 4);
  CHECK(*kv.rbegin() >= 32768);
}

TEST_CASE("the device linear sweep has row counts between powers of two", "[sweeps]") {
  // cuBLAS picks kernels by row count at other steps than powers of two
  std::set<i64> rows;
  for (const auto& p : detail::device_sweep(OpKind::linear)) rows.insert(std::get<MatmulShape>(p.op.shape).m);
  for (i64 m : {24, 48, 96, 192, 384, 768}) {
    INFO("rows " << m);
    CHECK(rows.count(m) == 1);
  }
}

TEST_CASE("the CPU GEMM sweep has GEMV and skinny products over weights from cache to memory", "[sweeps]") {
  std::set<i64> rows;
  std::set<double> weight_mb;
  bool long_rows = false, wide_out = false;  // 8192 inputs or outputs, at a single row
  for (const auto& p : detail::cpu_sweep(OpKind::linear)) {
    const auto& s = std::get<MatmulShape>(p.op.shape);
    if (s.m > 64) continue;
    rows.insert(s.m);
    weight_mb.insert(4.0 * double(s.n) * double(s.k) / 1e6);
    long_rows |= s.m == 1 && s.k >= 8192;
    wide_out |= s.m == 1 && s.n >= 8192;
  }
  CHECK(long_rows);
  CHECK(wide_out);
  for (i64 m : {1, 2, 4, 8, 16, 32, 64}) CHECK(rows.count(m) == 1);                                // powers of two
  CHECK(std::count_if(rows.begin(), rows.end(), [](i64 m) { return m % 2 == 1 && m > 1; }) >= 2);  // and odd
  CHECK(*weight_mb.rbegin() >= 32);  // to weights only memory holds
  // from L2-sized weights up, no gap over 2.5x (below: launch-bound products)
  std::set<double> w(weight_mb.lower_bound(0.5), weight_mb.end());
  CHECK(*w.begin() <= 0.55);
  CHECK(largest_gap(w) <= 2.5);
}

TEST_CASE("the CPU convolution sweep has strided and small-map 1x1 convolutions of narrow stages", "[sweeps]") {
  int strided_narrow = 0, small_map_pointwise = 0;
  for (const auto& p : detail::cpu_sweep(OpKind::conv2d)) {
    const auto& s = std::get<Conv2dShape>(p.op.shape);
    if (s.n != 1 || s.r != 1 || s.groups != 1) continue;
    strided_narrow += s.stride_h == 2 && s.c <= 160;
    small_map_pointwise += s.stride_h == 1 && s.h > 1 && s.h <= 14 && s.c <= 160 && s.k > s.c;
  }
  CHECK(strided_narrow >= 3);
  CHECK(small_map_pointwise >= 3);
}

TEST_CASE("every CPU convolution off the channel tile has its twin on the tile in the sweep", "[sweeps]") {
  const auto sweep = detail::cpu_sweep(OpKind::conv2d);
  // AVX-512's 16-lane tile and AVX2's 8: each host reads the pairs of its own
  for (const i64 tile : detail::sweep_channel_tiles) {
    int off = 0, depthwise_off = 0;
    for (const auto& p : sweep) {
      const auto& s = std::get<Conv2dShape>(p.op.shape);
      if (!detail::off_tile(s, tile)) continue;
      ++off;
      depthwise_off += s.groups == s.c;
      const Conv2dShape t = detail::tile_twin(s, tile);
      INFO("tile " << tile << ": " << shape_label(p.op));
      CHECK(std::any_of(sweep.begin(), sweep.end(), [&](const detail::SweepPoint& q) {
        return shape_label(q.op) == shape_label(OpDesc{OpKind::conv2d, t});
      }));
    }
    INFO("tile " << tile);
    // ShuffleNet's and MobileNetV3's widths at batches 1 and 8 (off AVX2's tile:
    // ShuffleNet's depthwise 58 and 116, and its dense 58)
    CHECK(depthwise_off >= (tile == 16 ? 8 : 4));
    CHECK(off >= (tile == 16 ? 20 : 6));
  }
  // the device sweep has its own off-tile grid: none of the CPU's pairs
  for (const auto& p : detail::device_sweep(OpKind::conv2d)) {
    const auto& s = std::get<Conv2dShape>(p.op.shape);
    CHECK_FALSE((s.groups == s.c && s.c == 58));
  }
}

TEST_CASE("CPU elementwise sweeps cover 64 to 16M elements every 2x, with odd counts", "[sweeps]") {
  for (OpKind k : {OpKind::relu, OpKind::add, OpKind::gelu}) {
    INFO(to_string(k));
    std::set<double> elements;
    bool odd = false;
    for (const auto& p : detail::cpu_sweep(k)) {
      const auto& s = std::get<ElementwiseShape>(p.op.shape);
      elements.insert(double(s.elements));
      odd |= s.elements % 3 == 0 || s.elements % 7 == 0;
    }
    CHECK(*elements.begin() <= 64);
    CHECK(*elements.rbegin() >= double(1 << 24));
    CHECK(largest_gap(elements) <= 2);
    CHECK(odd);
  }
}

TEST_CASE("the device convolution sweep spans grouped widths 4 to 32 and batches to 64, 64 planned before 4",
          "[sweeps]") {
  std::set<double> group_widths;
  std::vector<i64> batches;  // in planning order, each once
  for (const auto& p : detail::device_sweep(OpKind::conv2d)) {
    const auto& s = std::get<Conv2dShape>(p.op.shape);
    if (s.groups > 1 && s.groups < s.c) group_widths.insert(double(s.c / s.groups));
    if (std::find(batches.begin(), batches.end(), s.n) == batches.end()) batches.push_back(s.n);
  }
  CHECK(*group_widths.begin() <= 4);
  CHECK(*group_widths.rbegin() >= 32);
  CHECK(largest_gap(group_widths) <= 4);
  const auto at = [&](i64 n) { return std::find(batches.begin(), batches.end(), n) - batches.begin(); };
  REQUIRE(at(64) < static_cast<std::ptrdiff_t>(batches.size()));
  CHECK(at(64) < at(4));
}

TEST_CASE("the device sweeps reach convolutional stages run as linears, and convolutions on grids", "[sweeps]") {
  // token-wise linears of narrow widths up to 64 images of 56x56 (200,704 rows)
  i64 narrow_rows = 0;
  for (const auto& p : detail::device_sweep(OpKind::linear)) {
    const auto& s = std::get<MatmulShape>(p.op.shape);
    if (s.k * s.n <= 1536 * 384) narrow_rows = std::max(narrow_rows, s.m);
  }
  CHECK(narrow_rows >= 200704);
  // 1x1 convolutions: at every batch, inputs and outputs 16 to 4096 channels
  // with no gap over 4x, at 7^2 to 56^2, each shape once
  // and grouped and depthwise downsampling (stride 2) beside stride 1, at every batch
  std::map<i64, std::set<double>> ins, outs, sides;
  std::set<std::tuple<i64, i64, i64, i64>> seen;
  std::map<i64, std::set<std::tuple<bool, i64, i64>>> families;  // (depthwise, kernel, stride)
  for (const auto& p : detail::device_sweep(OpKind::conv2d)) {
    const auto& s = std::get<Conv2dShape>(p.op.shape);
    if (s.channels_last) continue;
    if (s.groups > 1) families[s.n].insert({s.groups == s.c, s.r, s.stride_h});
    if (s.r != 1 || s.s != 1 || s.stride_h != 1 || s.groups != 1) continue;
    ins[s.n].insert(double(s.c)), outs[s.n].insert(double(s.k)), sides[s.n].insert(double(s.h));
    CHECK(seen.insert({s.n, s.c, s.h, s.k}).second);
  }
  for (i64 n : {1, 4, 16, 64}) {
    INFO("batch " << n);
    for (i64 stride : {1, 2}) {
      CHECK(families[n].count({false, 3, stride}) == 1);
      CHECK(families[n].count({true, 3, stride}) == 1);
      CHECK(families[n].count({true, 5, stride}) == 1);
    }
    CHECK(*ins[n].begin() <= 16);
    CHECK(*ins[n].rbegin() >= 1024);
    CHECK(*outs[n].rbegin() >= 4096);
    CHECK(largest_gap(ins[n]) <= 4);
    CHECK(largest_gap(outs[n]) <= 4);
    CHECK(sides[n].count(7) + sides[n].count(14) + sides[n].count(28) + sides[n].count(56) == 4);
  }
}

TEST_CASE("the device convolution sweep has pointwise convolutions of every channel alignment at every batch",
          "[sweeps]") {
  // the mapper reads a device convolution among samples of its own channel
  // alignment (2 to 64): each needs samples on maps and on 1x1 (squeeze-excite)
  std::map<i64, std::set<i64>> on_maps, on_points;
  for (const auto& p : detail::device_sweep(OpKind::conv2d)) {
    const auto& s = std::get<Conv2dShape>(p.op.shape);
    if (s.channels_last || s.r != 1 || s.groups != 1) continue;
    (s.h == 1 ? on_points : on_maps)[s.n].insert(s.channel_alignment());
  }
  for (i64 n : {1, 4, 16, 64}) {
    INFO("batch " << n);
    CHECK(on_maps[n] == std::set<i64>{2, 4, 8, 16, 32, 64});
    CHECK(on_points[n].size() >= 3);
  }
  Conv2dShape s;
  s.c = 112, s.k = 672;
  CHECK(s.channel_alignment() == 16);
  s.c = 4096, s.k = 1024;
  CHECK(s.channel_alignment() == 64);
  s.c = s.k = s.groups = 96;  // depthwise: one channel a group
  CHECK(s.channel_alignment() == 1);
}

TEST_CASE("the device convolution sweep has channels_last curves of every variant; patchify convolutions are unpadded",
          "[sweeps]") {
  std::map<Variant, std::set<i64>> batches;
  int patchify = 0;
  for (const auto& p : detail::device_sweep(OpKind::conv2d)) {
    const auto& s = std::get<Conv2dShape>(p.op.shape);
    batches[variant_of(p.op)].insert(s.n);
    if (s.r == s.stride_h && s.r > 1) {
      ++patchify;
      CHECK(s.pad_h == 0);
      CHECK(s.out_h() * s.stride_h == s.h);
    }
  }
  for (Variant v : {Variant::dense_channels_last, Variant::depthwise_channels_last, Variant::grouped_channels_last}) {
    INFO(to_string(v));
    CHECK(batches[v] == std::set<i64>{1, 4, 16, 64});
  }
  CHECK(patchify >= 4);  // ViT's 16x16 and 2x2 downsampling, both layouts
}

TEST_CASE("the device attention sweep has decode at GQA groups 1, 4 and 8 and heads of 64 and 128", "[sweeps]") {
  std::set<std::pair<i64, i64>> decode;  // (group, head_dim)
  for (const auto& p : detail::device_sweep(OpKind::attention)) {
    const auto& a = std::get<AttentionShape>(p.op.shape);
    if (a.seq_q == 1) decode.insert({a.heads / a.kv(), a.head_dim});
  }
  for (i64 g : {1, 4, 8}) CHECK(decode.count({g, 128}) == 1);
  CHECK(decode.count({8, 64}) == 1);
}

TEST_CASE("GEMM sweeps have decode attention's batched GEMVs, both products, on CPUs and devices", "[sweeps]") {
  for (bool device : {false, true}) {
    INFO((device ? "device" : "cpu"));
    std::set<i64> scores_kv, values_kv;  // q K^T: 1 x kv per batch x head; P V: kv -> head dim
    for (const auto& p : detail::default_sweep(OpKind::matmul, device)) {
      const auto& s = std::get<MatmulShape>(p.op.shape);
      if (s.m != 1 || s.batch < 32) continue;
      if (s.k <= 128 && s.n >= 512) scores_kv.insert(s.n);
      if (s.n <= 128 && s.k >= 512) values_kv.insert(s.k);
    }
    CHECK(scores_kv.size() >= 2);  // caches of two lengths at least
    CHECK(scores_kv == values_kv);
  }
}

TEST_CASE("convolution sweeps have squeeze-excitation squeezes and expansions on 1x1 maps", "[sweeps]") {
  for (bool device : {false, true}) {
    INFO((device ? "device" : "cpu"));
    std::set<std::pair<i64, i64>> se;  // (c, k) of dense 1x1 convolutions on 1x1 maps, batch 1
    for (const auto& p : detail::default_sweep(OpKind::conv2d, device)) {
      const auto& s = std::get<Conv2dShape>(p.op.shape);
      if (s.n == 1 && s.h == 1 && s.w == 1 && s.r == 1 && s.groups == 1) se.insert({s.c, s.k});
    }
    int mirrored = 0, wide_expansions = 0;
    for (const auto& [c, k] : se) {
      mirrored += c > k && se.count({k, c});  // each squeeze with its expansion
      wide_expansions += k >= 16 * c;         // the 24x expansions of EfficientNet-style blocks
    }
    CHECK(mirrored >= 3);
    CHECK(wide_expansions >= 1);
  }
}

TEST_CASE("convolution sweeps have depthwise windows 3 to 7 and 3x3s much narrower out than in", "[sweeps]") {
  for (bool device : {false, true}) {
    INFO((device ? "device" : "cpu"));
    std::set<i64> depthwise_windows;
    int narrow = 0;  // dense 3x3, at most a quarter as many outputs as inputs
    for (const auto& p : detail::default_sweep(OpKind::conv2d, device)) {
      const auto& s = std::get<Conv2dShape>(p.op.shape);
      if (s.groups == s.c && s.groups > 1) depthwise_windows.insert(s.r);
      narrow += s.groups == 1 && s.r == 3 && 4 * s.k <= s.c;
    }
    CHECK(depthwise_windows == std::set<i64>{3, 5, 7});
    CHECK(narrow >= 2);
  }
}
