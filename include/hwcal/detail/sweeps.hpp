#pragma once
// The default sweep of every op: shapes that span launch-bound, cache-resident
// and DRAM-bound regimes, taken from the layers of common networks (ResNet,
// MobileNet, EfficientNet, ViT/BERT, LLaMA-style decoders, MLPs) rather than
// from any one model. Each list is ordered so that any prefix covers the
// space coarsely (the calibrator takes prefixes under a time budget); `quick`
// marks the points a quick calibration measures.
//
// Devices get their own, denser sweeps (device_sweep): a GPU times a point in
// milliseconds, and its efficiency moves with sizes a CPU sweep never
// reaches (thousands of tokens, 14336-wide projections, KV caches of 32k):
// no gap of more than 4x along any axis real layers use.

#include <hwcal/detail/channel_tiles.hpp>
#include <hwcal/ops.hpp>

#include <algorithm>
#include <array>
#include <type_traits>
#include <vector>

namespace hwcal {
namespace detail {

struct SweepPoint {
  OpDesc op;
  bool quick = false;
};

inline OpDesc conv(i64 n, i64 c, i64 hw, i64 k, i64 r, i64 stride, i64 groups = 1) {
  Conv2dShape s;
  s.n = n, s.c = c, s.h = s.w = hw, s.k = k, s.r = s.s = r;
  s.stride_h = s.stride_w = stride;
  // "same" padding, except for patchify convolutions (kernel = stride: ViT's
  // patch embedding, 2x2 downsampling), which have none
  s.pad_h = s.pad_w = r == stride ? 0 : r / 2;
  s.groups = groups;
  s.bias = false;
  return {OpKind::conv2d, s};
}

/// The CPU sweep of an op.
/// `tile_pairs`: convolutions off the channel tile beside their twins on it
/// (detail/channel_tiles.hpp), which only CPU curves read as pairs.
inline std::vector<SweepPoint> cpu_sweep(OpKind kind, bool tile_pairs = true) {
  std::vector<SweepPoint> v;
  auto add = [&v](OpDesc op, bool quick = false) { v.push_back({op, quick}); };
  switch (kind) {
    case OpKind::matmul: {
      // Square GEMMs (bisection order: ends first), skinny rows, then batched
      // attention-shaped products.
      for (i64 n : {64, 1024, 256, 4096, 128, 512, 2048, 32})
        add({kind, MatmulShape{1, n, n, n, false}}, n == 64 || n == 256 || n == 1024);
      for (i64 m : {1, 16, 64, 4})
        for (i64 kn : {1024, 4096, 512, 2048})
          add({kind, MatmulShape{1, m, kn, kn, false}}, (m == 1 || m == 64) && kn == 1024);
      // more skinny rows, power-of-two and odd
      for (i64 m : {2, 8, 32, 3, 17})
        for (i64 kn : {1024, 2048}) add({kind, MatmulShape{1, m, kn, kn, false}});
      add({kind, MatmulShape{12, 197, 197, 64, false}}, true);
      add({kind, MatmulShape{96, 128, 64, 128, false}});
      add({kind, MatmulShape{8, 512, 512, 64, false}});
      add({kind, MatmulShape{12, 197, 64, 197, false}});
      add({kind, MatmulShape{32, 64, 64, 64, false}});
      // decode attention written as matmuls (one query row per batch x head
      // against a KV cache: q K^T, then P V): batched GEMVs, which stream the
      // cache and run nowhere near the rate of the batched squares above
      for (i64 bh : {32, 256})
        for (i64 kv : {512, 2048}) {
          add({kind, MatmulShape{bh, 1, kv, 64, false}});
          add({kind, MatmulShape{bh, 1, 64, kv, false}});
        }
      add({kind, MatmulShape{32, 1, 2048, 128, false}});
      add({kind, MatmulShape{32, 1, 128, 2048, false}});
      break;
    }
    case OpKind::linear: {
      // tokens x in x out: MLP heads, transformer projections and FFNs.
      const i64 shapes[][2] = {{768, 768},  {1024, 4096}, {4096, 1024}, {512, 512},   {768, 3072},
                               {3072, 768}, {2048, 1000}, {512, 2048},  {1280, 1000}, {4096, 4096}};
      add({kind, MatmulShape{1, 1, 64, 64, true}}, true);  // launch-bound
      add({kind, MatmulShape{1, 8, 128, 64, true}});
      for (i64 m : {1, 128, 8, 1024, 32, 256})
        for (auto& kn : shapes) {
          const bool q = (m == 1 || m == 128) && (kn[0] == 768 || kn[0] == 4096);
          if (double(m) * kn[0] * kn[1] > 2.5e9) continue;  // > 5 GFLOP: slow, nothing new
          add({kind, MatmulShape{1, m, kn[1], kn[0], true}}, q);
        }
      // GEMV and skinny products (1-64 rows, power-of-two and odd) over fp32
      // weights of 0.5 to 32 MB: MLPs and decoders at small batch stream their
      // weights, from L2, L3 or memory depending on the size.
      const i64 weights[][2] = {{512, 256},   {512, 512},  {768, 768},   {784, 1024},  {1024, 1024},
                                {2048, 1000}, {3072, 768}, {1024, 4096}, {4096, 1024}, {2048, 4096}};
      for (i64 m : {2, 4, 16, 64, 3, 17})
        for (auto& kn : weights) add({kind, MatmulShape{1, m, kn[1], kn[0], true}});
      for (i64 m : {1, 8, 32})
        for (auto& kn : {weights[0], weights[3], weights[4], weights[9]})
          add({kind, MatmulShape{1, m, kn[1], kn[0], true}});
      // rows of 8192 inputs, and 8192 outputs (LLM-sized layers): a GEMV's
      // time per weight byte depends on the row length as well as on the
      // cache level the weights come from, and the rows above stop at 4096
      for (i64 m : {1, 4, 16}) {
        add({kind, MatmulShape{1, m, 1024, 8192, true}});
        add({kind, MatmulShape{1, m, 8192, 1024, true}});
      }
      break;
    }
    case OpKind::conv2d: {
      for (i64 n : {1, 8, 32}) {
        const bool q = n == 1;
        // dense 3x3, stride 1 and 2
        add(conv(n, 64, 56, 64, 3, 1), q);
        add(conv(n, 256, 14, 256, 3, 1), q);
        add(conv(n, 128, 28, 128, 3, 1));
        add(conv(n, 512, 7, 512, 3, 1));
        add(conv(n, 32, 112, 32, 3, 1));
        add(conv(n, 64, 56, 128, 3, 2));
        add(conv(n, 256, 28, 256, 3, 2));
        add(conv(n, 3, 224, 32, 3, 2), q);
        // 1x1 (pointwise and projection)
        add(conv(n, 256, 56, 64, 1, 1), q);
        add(conv(n, 64, 56, 256, 1, 1));
        add(conv(n, 1024, 14, 256, 1, 1), q);
        add(conv(n, 512, 7, 2048, 1, 1));
        add(conv(n, 96, 56, 24, 1, 1));
        add(conv(n, 16, 112, 96, 1, 1));
        add(conv(n, 576, 14, 96, 1, 1));
        add(conv(n, 256, 56, 512, 1, 2));
        add(conv(n, 1280, 7, 320, 1, 1));
        // strided 1x1 projections of narrow stages, which do not run at the
        // wide projection's rate above
        add(conv(n, 32, 112, 80, 1, 2));
        add(conv(n, 96, 56, 160, 1, 2));
        add(conv(n, 160, 28, 320, 1, 2));
        // pointwise expansions of small late-stage maps (between the 1x1-map
        // squeeze-excitation convs below and the wide 7x7 ones above)
        add(conv(n, 72, 7, 432, 1, 1));
        add(conv(n, 120, 14, 360, 1, 1));
        // 5x5 and 7x7 dense
        add(conv(n, 3, 224, 64, 7, 2), q);
        add(conv(n, 64, 27, 192, 5, 1));
        add(conv(n, 32, 28, 64, 5, 1));
        add(conv(n, 128, 14, 128, 7, 1));
        // 3x3 with far fewer outputs than inputs (DenseNet-style growth of 32
        // channels) and fire-module expansions of 16-48 channels (SqueezeNet):
        // narrow GEMMs the square convolutions above do not predict
        add(conv(n, 128, 56, 32, 3, 1));
        add(conv(n, 128, 14, 32, 3, 1));
        add(conv(n, 16, 55, 64, 3, 1));
        add(conv(n, 48, 13, 192, 3, 1));
        // depthwise 3x3 / 5x5, stride 1 and 2
        add(conv(n, 32, 112, 32, 3, 1, 32), q);
        add(conv(n, 144, 56, 144, 3, 2, 144));
        add(conv(n, 192, 28, 192, 3, 1, 192));
        add(conv(n, 384, 14, 384, 3, 1, 384), q);
        add(conv(n, 960, 7, 960, 3, 1, 960));
        add(conv(n, 240, 28, 240, 5, 2, 240));
        add(conv(n, 672, 14, 672, 5, 1, 672), q);
        add(conv(n, 1152, 7, 1152, 5, 1, 1152));
        add(conv(n, 96, 112, 96, 3, 2, 96));
        // depthwise 7x7 (ConvNeXt-style blocks, 7x7 maps to 56x56)
        add(conv(n, 96, 56, 96, 7, 1, 96));
        add(conv(n, 384, 14, 384, 7, 1, 384));
        add(conv(n, 768, 7, 768, 7, 1, 768));
        // grouped (ResNeXt/RegNet-style): group widths 4 to 32 channels, maps 7 to 56
        add(conv(n, 128, 56, 128, 3, 1, 32));
        add(conv(n, 512, 14, 512, 3, 2, 32));
        add(conv(n, 192, 28, 192, 3, 1, 24));
        add(conv(n, 768, 7, 768, 3, 1, 24));
        add(conv(n, 64, 56, 64, 3, 2, 4));
        // launch-bound: squeeze-excitation 1x1 convs on 1x1 maps (squeeze and
        // excite, reductions of 4x and 24x: an expansion's time is not its
        // squeeze's mirror), tiny maps
        add(conv(n, 96, 1, 24, 1, 1), q);
        add(conv(n, 24, 1, 96, 1, 1));
        add(conv(n, 576, 1, 144, 1, 1));
        add(conv(n, 144, 1, 576, 1, 1));
        add(conv(n, 1152, 1, 48, 1, 1));
        add(conv(n, 48, 1, 1152, 1, 1));
        add(conv(n, 16, 7, 16, 3, 1));
        add(conv(n, 72, 7, 72, 3, 1, 72), q);
        add(conv(n, 40, 14, 240, 1, 1));
        // patchify stems (kernel = stride, no padding): ViT's 16x16 patch
        // embedding and Swin's / ConvNeXt's 4x4 one, so the device sweep runs
        // them at its four batches: with the ViT one at batches 1 and 64 alone
        // (an H100 in half precision: 0.2% and 2.4% of peak), batch 8 was
        // read between them at twice its time
        add(conv(n, 3, 224, 768, 16, 16));
        add(conv(n, 3, 224, 96, 4, 4));
      }
      if (!tile_pairs) break;
      // Off the channel tile: mobile networks' widths (ShuffleNet's 58, 116
      // and 232, MobileNetV3's 24, 40, 72 and 120, a 24-channel stem) at
      // batches 1 and 8, then every off-tile point beside its twin on each tile.
      for (i64 n : {1, 8}) {
        for (i64 c : {58, 116, 232}) add(conv(n, c, 28 * 58 / c, c, 3, 1, c));
        add(conv(n, 72, 56, 72, 3, 2, 72));
        add(conv(n, 120, 28, 120, 5, 1, 120));
        add(conv(n, 58, 28, 58, 1, 1));
        add(conv(n, 24, 56, 72, 1, 1));
        add(conv(n, 40, 28, 120, 1, 1));
        add(conv(n, 3, 224, 24, 3, 2));
      }
      const std::size_t end = v.size();
      for (i64 tile : sweep_channel_tiles)
        for (std::size_t i = 0; i < end; ++i) {
          const auto s = std::get<Conv2dShape>(v[i].op.shape);
          if (!off_tile(s, tile)) continue;
          const Conv2dShape t = tile_twin(s, tile);
          const bool listed = std::any_of(
              v.begin(), v.end(), [&](const SweepPoint& q) { return same_conv(std::get<Conv2dShape>(q.op.shape), t); });
          if (!listed) add({kind, t});
        }
      break;
    }
    case OpKind::attention: {
      // {batch, heads, seq_q, seq_kv, head_dim, causal, kv_heads}
      // full (encoders, ViT) ...
      add({kind, AttentionShape{1, 12, 197, 197, 64, false}}, true);
      add({kind, AttentionShape{8, 8, 128, 128, 64, false}}, true);
      add({kind, AttentionShape{1, 8, 512, 512, 64, false}});
      add({kind, AttentionShape{8, 12, 197, 197, 64, false}});
      add({kind, AttentionShape{1, 8, 64, 64, 64, false}});
      add({kind, AttentionShape{1, 16, 1024, 1024, 64, false}});
      add({kind, AttentionShape{4, 12, 384, 384, 64, false}});
      add({kind, AttentionShape{1, 1, 16, 16, 32, false}});  // launch-bound
      // ... causal prefill (decoders; grouped-query with 4 and 8 queries per KV head) ...
      add({kind, AttentionShape{1, 12, 512, 512, 64, true}}, true);
      add({kind, AttentionShape{8, 8, 128, 128, 64, true}});
      add({kind, AttentionShape{1, 16, 2048, 2048, 64, true}});
      add({kind, AttentionShape{1, 32, 128, 128, 128, true, 8}});
      add({kind, AttentionShape{1, 32, 512, 512, 128, true, 8}}, true);
      add({kind, AttentionShape{4, 32, 1024, 1024, 128, true, 8}});
      add({kind, AttentionShape{1, 32, 2048, 2048, 128, true, 32}});
      add({kind, AttentionShape{1, 32, 4096, 4096, 128, true, 8}});
      add({kind, AttentionShape{2, 16, 256, 256, 128, true, 4}});
      // ... and decode: one new token against a KV cache
      for (i64 b : {1, 8, 32, 64})
        for (i64 kv : {512, 2048, 8192, 32768}) {
          if (b * kv > 64 * 8192) continue;  // beyond 2 GiB of bf16 cache: nothing new
          add({kind, AttentionShape{b, 32, 1, kv, 128, false, 8}}, (b == 1 || b == 32) && kv == 2048);
        }
      add({kind, AttentionShape{8, 32, 1, 4096, 128, false, 32}});
      add({kind, AttentionShape{16, 12, 1, 1024, 64, false, 12}});
      break;
    }
    case OpKind::rotary: {
      // {tokens, heads, head_dim}: decode steps to long prefills, q (32 heads) and k (8)
      for (i64 t : {1, 8, 64, 512, 2048, 8192})
        for (i64 h : {32, 8}) add({kind, RotaryShape{t, h, 128}}, (t == 1 || t == 512) && h == 32);
      add({kind, RotaryShape{512, 12, 64}});
      add({kind, RotaryShape{128, 16, 64}});
      break;
    }
    case OpKind::embedding: {
      // {tokens, vocab, dim}
      for (i64 t : {1, 64, 512, 4096})
        for (i64 d : {768, 4096}) add({kind, EmbeddingShape{t, d == 768 ? 30522 : 128256, d}}, t == 1 || t == 512);
      add({kind, EmbeddingShape{16384, 32000, 2048}});
      break;
    }
    case OpKind::maxpool:
    case OpKind::avgpool: {
      for (i64 n : {1, 8, 32}) {
        const bool q = n == 1;
        auto pool = [&](i64 c, i64 hw, i64 r, i64 stride, i64 pad, bool qq) {
          Pool2dShape s;
          s.n = n, s.c = c, s.h = s.w = hw, s.r = s.s = r, s.stride_h = s.stride_w = stride, s.pad_h = s.pad_w = pad;
          add({kind, s}, qq);
        };
        pool(64, 112, 3, 2, 1, q);
        pool(128, 56, 2, 2, 0, q);
        pool(256, 28, 2, 2, 0, false);
        pool(512, 14, 2, 2, 0, false);
        pool(192, 28, 3, 1, 1, false);
        pool(64, 56, 3, 2, 1, false);
        pool(512, 7, 7, 1, 0, q);
        pool(16, 8, 2, 2, 0, false);  // launch-bound
      }
      break;
    }
    case OpKind::adaptive_avgpool: {
      for (i64 n : {1, 8, 32}) {
        add({kind, AdaptivePoolShape{n, 512, 7, 7, 1, 1}}, n == 1);
        add({kind, AdaptivePoolShape{n, 2048, 7, 7, 1, 1}});
        add({kind, AdaptivePoolShape{n, 96, 56, 56, 1, 1}}, n == 1);
        add({kind, AdaptivePoolShape{n, 672, 14, 14, 1, 1}});
        add({kind, AdaptivePoolShape{n, 256, 13, 13, 6, 6}});
        add({kind, AdaptivePoolShape{n, 16, 112, 112, 1, 1}});
        add({kind, AdaptivePoolShape{n, 16, 4, 4, 1, 1}}, n == 1);  // launch-bound
        // squeeze-and-excitation squeezes of mobile networks
        add({kind, AdaptivePoolShape{n, 32, 112, 112, 1, 1}});
        add({kind, AdaptivePoolShape{n, 144, 56, 56, 1, 1}});
        add({kind, AdaptivePoolShape{n, 240, 28, 28, 1, 1}});
        add({kind, AdaptivePoolShape{n, 480, 14, 14, 1, 1}});
        add({kind, AdaptivePoolShape{n, 1152, 7, 7, 1, 1}});
        add({kind, AdaptivePoolShape{n, 1280, 7, 7, 1, 1}});
      }
      break;
    }
    case OpKind::batchnorm: {
      for (i64 n : {1, 8, 32}) {
        add({kind, MapShape{n, 64, 112, 112}}, n == 1);
        add({kind, MapShape{n, 64, 56, 56}});
        add({kind, MapShape{n, 128, 28, 28}}, n == 1);
        add({kind, MapShape{n, 256, 14, 14}});
        add({kind, MapShape{n, 512, 7, 7}}, n == 1);
        add({kind, MapShape{n, 32, 112, 112}});
        add({kind, MapShape{n, 960, 7, 7}});
        add({kind, MapShape{n, 16, 4, 4}}, n == 1);  // launch-bound
        // the channel counts of mobile networks and ResNet-50's wide maps
        add({kind, MapShape{n, 16, 112, 112}});
        add({kind, MapShape{n, 144, 56, 56}});
        add({kind, MapShape{n, 240, 28, 28}});
        add({kind, MapShape{n, 480, 14, 14}});
        add({kind, MapShape{n, 1024, 14, 14}});
        add({kind, MapShape{n, 2048, 7, 7}});
        add({kind, MapShape{n, 8, 2, 2}});  // launch-bound
      }
      break;
    }
    case OpKind::layernorm:
    case OpKind::rmsnorm:
    case OpKind::softmax:
    case OpKind::reduce_mean: {
      // (rows, cols): token x hidden for the norms; score rows for softmax;
      // spatial means for reduce_mean.
      std::vector<std::pair<i64, i64>> shapes;
      if (kind == OpKind::layernorm)
        shapes = {{197, 768}, {8, 512}, {1576, 768}, {128, 512}, {4096, 1024}, {1, 768}, {1024, 4096}, {16384, 768}};
      else if (kind == OpKind::rmsnorm)
        shapes = {{1, 4096}, {512, 4096}, {64, 4096}, {2048, 4096}, {8, 2048}, {8192, 4096}, {128, 8192}, {4096, 2048}};
      else if (kind == OpKind::softmax)
        shapes = {{2364, 197}, {8, 1000}, {8192, 128}, {18912, 197}, {1024, 64}, {4096, 512}, {1, 1000}, {16384, 1024}};
      else
        shapes = {{512, 49}, {8, 768}, {4096, 49}, {197, 768}, {64, 3136}, {2048, 196}, {512, 3136}, {1, 64}};
      // tiny (the per-call cost) and the widths of smaller models
      for (auto [r, c] :
           {std::pair<i64, i64>{1, 64}, {4, 128}, {8, 1024}, {64, 768}, {512, 1024}, {2048, 512}, {256, 2048}})
        shapes.push_back({r, c});
      for (std::size_t i = 0; i < shapes.size(); ++i) add({kind, RowsShape{shapes[i].first, shapes[i].second}}, i < 3);
      break;
    }
    case OpKind::copy:
    case OpKind::transpose:
    case OpKind::permute:
    case OpKind::concat: {
      for (i64 b :
           {i64{4} << 10, i64{64} << 20, i64{1} << 20, i64{256} << 10, i64{16} << 20, i64{64} << 10, i64{4} << 20})
        add({kind, BytesShape{b}}, b == (i64{4} << 10) || b == (i64{1} << 20) || b == (i64{64} << 20));
      if (kind == OpKind::concat)  // many inputs, even and uneven (the device sweep says why)
        for (i64 b : {i64{1} << 20, i64{16} << 20})
          for (auto [k, share] : {std::pair<i64, double>{8, 0.5}, {32, 0.125}, {32, 0}})
            add({kind, BytesShape{b, k, static_cast<i64>(double(b) * share)}});
      break;
    }
    default: {  // elementwise
      const OpInfo& o = info(kind);
      const int inputs = o.inputs;
      // every 2x from 64 to 16M elements (the per-call cost at the small end,
      // each cache level, memory), and odd counts real activations have
      // (C x 7^2 x 2^k maps, 3 x 2^k)
      for (i64 e : {i64{1} << 6,   i64{1} << 24, i64{1} << 14,  i64{1} << 20, i64{1} << 10, i64{1} << 17, i64{1} << 22,
                    i64{1} << 12,  i64{1} << 8,  i64{1} << 16,  i64{1} << 18, i64{1} << 19, i64{1} << 21, i64{1} << 23,
                    i64{1} << 7,   i64{1} << 9,  i64{1} << 11,  i64{1} << 13, i64{1} << 15, i64{3} << 10, i64{49} << 10,
                    i64{49} << 12, i64{3} << 17, i64{49} << 14, i64{3} << 20, i64{49} << 16})
        add({kind, ElementwiseShape{e, inputs, 0}}, e == (i64{1} << 6) || e == (i64{1} << 10) || e == (i64{1} << 14) ||
                                                        e == (i64{1} << 20) || e == (i64{1} << 24));
      // in place (nn.ReLU(inplace=True), `x += y`): the sizes activations have
      for (i64 e : {i64{1} << 10, i64{1} << 20, i64{1} << 14, i64{1} << 17, i64{1} << 22, i64{1} << 24, i64{1} << 6,
                    i64{49} << 12, i64{49} << 14, i64{3} << 20}) {
        ElementwiseShape s{e, inputs, 0, true};
        if (kind == OpKind::relu || kind == OpKind::silu || kind == OpKind::hardswish || kind == OpKind::hardsigmoid ||
            kind == OpKind::relu6 || kind == OpKind::hardtanh || kind == OpKind::add)
          add({kind, s}, e == (i64{1} << 10) || e == (i64{1} << 20));
      }
      if (o.broadcast) {
        // per-channel broadcast (bias / SE scale) at a few sizes
        add({kind, ElementwiseShape{i64{1} << 20, 2, 256}}, true);
        add({kind, ElementwiseShape{i64{1} << 14, 2, 64}});
        add({kind, ElementwiseShape{i64{1} << 24, 2, 1024}});
        // squeeze-and-excitation scales: C channels over 7^2 .. 112^2 maps
        for (auto [c, hw] : {std::pair<i64, i64>{16, 112 * 112},
                             {96, 56 * 56},
                             {144, 28 * 28},
                             {240, 14 * 14},
                             {672, 14 * 14},
                             {1152, 7 * 7},
                             {32, 16},
                             {576, 7 * 7}})
          add({kind, ElementwiseShape{c * hw, 2, c}});
      }
      break;
    }
  }
  return v;
}

/// The device (GPU) sweep of an op: the CPU sweep's shapes where they still
/// matter, plus the sizes GPUs run (batch 64, thousands of tokens, LLM
/// projections, long KV caches), with at most 4x between neighbours along
/// each axis. Quick points: a coarse cover of every op (the 10 s
/// auto_calibrate budget), the most important first.
inline std::vector<SweepPoint> device_sweep(OpKind kind) {
  std::vector<SweepPoint> v;
  auto add = [&v](OpDesc op, bool quick = false) { v.push_back({op, quick}); };
  const OpInfo& o = info(kind);
  switch (o.family) {
    case ShapeFamily::matmul: {
      if (kind == OpKind::linear) {
        // (in, out) of MLPs, encoders (BERT/ViT), decoders (LLaMA 7-8B: qkv with
        // GQA 4096 -> 6144, MLP 4096 <-> 14336 / 11008, the LM head) and heads;
        // then the narrow encoders' widths 96-384 (ViT-S/Ti, Swin-T and
        // ConvNeXt-T stages, 4x MLPs) and image classifiers' heads: cuBLAS
        // picks kernels by shape, and fp32 ones between 768 and 96 were
        // interpolated at 0.4-0.7x their time; and heads of a few outputs
        // (2 to 32: BERT's 2-way classifier, 10 classes), which cuBLAS runs by other
        // kernels (3 of them for 1 x 1024 -> 10 in bf16 on an H100, 3.3x the
        // time held from the nearest measured shape)
        const i64 kn[][2] = {{4096, 4096},  {768, 768},    {4096, 14336}, {14336, 4096}, {768, 3072},  {3072, 768},
                             {1024, 4096},  {4096, 1024},  {4096, 6144},  {2048, 2048},  {512, 512},   {1024, 1024},
                             {4096, 11008}, {11008, 4096}, {8192, 8192},  {784, 1024},   {2048, 1000}, {4096, 128256},
                             {384, 1536},   {1536, 384},   {192, 768},    {768, 192},    {96, 384},    {384, 96},
                             {384, 384},    {1280, 1000},  {512, 1000},   {1024, 10},    {512, 32},    {768, 2}};
        // token counts in bisection order: decode steps to long prefills, then
        // 1.5x a power of two (24 to 768): cuBLAS changes kernel with the row
        // count, not only at powers of two (768 -> 768 in tf32 on an H100:
        // 6.8 us at 32 rows, 16.2 us at 64, 6.1 us at 128), so a power-of-two
        // grid alone reads a ViT's 50 or 197 tokens off whichever kernel its
        // neighbours happened to get
        for (i64 m : {1, 1024, 64, 8192, 16, 256, 4, 4096, 2, 32, 128, 512, 2048, 16384, 48, 192, 24, 96, 384, 768})
          for (const auto& p : kn) {
            if (double(m) * p[0] * p[1] > 4e12) continue;  // > 8 TFLOP: seconds, nothing new
            add({kind, MatmulShape{1, m, p[1], p[0], true}}, (m == 1 || m == 1024) && (p[0] == 4096 || p[0] == 768));
          }
        // convolutional stages run as token-wise linears (ConvNeXt's and
        // Swin's MLPs: 16 images of 56x56 are 50,176 rows, 64 are 200,704) on
        // narrow widths: beyond 16384 rows their efficiency was held from
        // the last measured row count, 3.4x slow at 50,176 rows of 96 -> 384
        for (i64 m : {65536, 262144})
          for (const auto& p : kn)
            if (p[0] * p[1] <= 1536 * 384) add({kind, MatmulShape{1, m, p[1], p[0], true}});
      } else {
        // square, then batched products of attention (b*h, seq, seq, d) and skinny rows
        for (i64 n : {1024, 4096, 256, 8192, 64, 2048, 512, 128, 16384})
          add({kind, MatmulShape{1, n, n, n, false}}, n == 256 || n == 4096);
        for (i64 bh : {12, 96, 384})
          for (i64 seq : {128, 512, 2048}) {
            add({kind, MatmulShape{bh, seq, seq, 64, false}}, bh == 96 && seq == 512);  // Q K^T
            add({kind, MatmulShape{bh, seq, 64, seq, false}});                          // P V
          }
        add({kind, MatmulShape{12, 197, 197, 64, false}});
        add({kind, MatmulShape{96, 197, 64, 197, false}});
        // decode attention as matmuls: one query row per batch x head, q K^T and P V
        for (i64 bh : {32, 1024, 256})
          for (i64 kv : {512, 4096}) {
            add({kind, MatmulShape{bh, 1, kv, 128, false}});
            add({kind, MatmulShape{bh, 1, 128, kv, false}});
          }
        for (i64 m : {1, 16, 64, 4})
          for (i64 kn : {4096, 1024}) add({kind, MatmulShape{1, m, kn, kn, false}}, m == 1 && kn == 4096);
      }
      break;
    }
    case ShapeFamily::conv2d: {
      // the CPU sweep's convolution shapes at batch 1 to 64 (4x apart); 64
      // before 4, so that a budget that cuts the last batch leaves a range
      // to interpolate in (batch 4 lies between 1 and 16) rather than one to
      // extrapolate from (a 32-image batch beyond 16 at 16's efficiency: the
      // H100 profile of 2026-12-05 stopped before 64, and its grouped
      // convolutions at batch 32 came out 2-4x slow)
      for (i64 n : {1, 16, 64, 4}) {
        for (const SweepPoint& p : cpu_sweep(kind, false)) {
          auto s = std::get<Conv2dShape>(p.op.shape);
          if (s.n != 1) continue;  // one batch of the CPU list as the template
          s.n = n;
          if (double(s.n) * s.k * s.out_h() * s.out_w() * (s.c / s.groups) * s.r * s.s > 2e12) continue;
          add({kind, s}, p.quick && (n == 1 || n == 16));
        }
        add(conv(n, 768, 224 / 16, 768, 1, 1), false);  // (ViT-like 1x1 at 14x14)
        // pointwise (1x1) convolutions on a grid: most of a CNN's convolutions
        // (two of three in a bottleneck, every expansion and projection of an
        // inverted residual), run by cuDNN or cuBLAS as GEMMs whose efficiency
        // moves with every dimension; the templates' few 1x1 shapes among the
        // 3x3 and 7x7 ones left their plane to neighbours of other kernel
        // sizes (3.2x the measured time at 16 x 128 x 28^2 -> 512, bf16)
        for (i64 side : {56, 28, 14, 7})
          for (i64 c : {64, 256, 1024})
            for (i64 k : {c / 4, c, c * 4}) {
              const bool listed = std::any_of(v.begin(), v.end(), [&](const SweepPoint& q) {
                const auto& t = std::get<Conv2dShape>(q.op.shape);
                return t.n == n && t.c == c && t.h == side && t.k == k && t.r == 1 && t.s == 1 && t.stride_h == 1 &&
                       t.groups == 1 && !t.channels_last;
              });
              if (!listed) add(conv(n, c, side, k, 1, 1));
            }
        // pointwise convolutions whose channels are off the 64-channel tile
        // (Conv2dShape::channel_alignment):
        // 8, 16 or 32 x an odd number in mobile networks' expansions and
        // projections, 4 or 2 x one in widths set by a search or a width
        // multiplier, and squeeze-and-excite layers (1x1 maps) that reduce
        // to a few channels; cuDNN runs them by other kernels, 2-3x slower a
        // FLOP than the grid's at equal size on an H100. (Without a bias, as
        // every sweep convolution: a device mapper adds a bias as a pass.)
        const std::array<i64, 3> off_tile[] = {{24, 144, 56},  {144, 24, 56},  {40, 240, 28},  {240, 40, 28},
                                               {112, 672, 14}, {672, 112, 14}, {160, 960, 7},  {960, 160, 7},
                                               {36, 36, 56},   {90, 90, 28},   {100, 100, 14}, {210, 210, 7},
                                               {240, 10, 1},   {10, 240, 1},   {672, 28, 1},   {28, 672, 1}};
        for (const auto& [c, k, side] : off_tile) add(conv(n, c, side, k, 1, 1));
        // grouped 3x3 (ResNeXt, RegNet: 8 to 32 channels a group) and
        // depthwise 3x3 and 5x5 at stride 1 and 2, at the widths and maps
        // where those stages run: the templates' few left each family's
        // downsampling to neighbours at stride 1 (grouped stride-2 layers of
        // the development set at a median 2x their time on an H100)
        for (auto [c, side] : {std::pair<i64, i64>{64, 56}, {256, 28}, {1024, 14}})
          for (i64 stride : {1, 2}) {
            for (i64 width : {8, 32}) add(conv(n, c, side, c, 3, stride, c / width));
            for (i64 r : {3, 5}) add(conv(n, c, side * (stride == 2 ? 2 : 1), c, r, stride, c));
          }
        // 2x2 stride-2 downsampling (patch-merging stages)
        add(conv(n, 96, 56, 192, 2, 2));
        add(conv(n, 384, 14, 768, 2, 2));
      }
      // channels_last (NHWC) inputs, which a permute leaves (ConvNeXt-style
      // blocks) or a model converted with .to(memory_format=channels_last)
      // gets: cuDNN runs other kernels on them (PyTorch 2.11 on an H100: from
      // 5x faster to 4x slower than on NCHW), so they have curves of their own
      for (i64 n : {1, 16, 64, 4}) {
        const OpDesc nhwc[] = {
            conv(n, 96, 56, 96, 7, 1, 96),    conv(n, 384, 14, 384, 7, 1, 384), conv(n, 768, 7, 768, 7, 1, 768),
            conv(n, 32, 112, 32, 3, 1, 32),   conv(n, 144, 56, 144, 3, 2, 144), conv(n, 384, 14, 384, 3, 1, 384),
            conv(n, 672, 14, 672, 5, 1, 672), conv(n, 64, 56, 64, 3, 1),        conv(n, 256, 14, 256, 3, 1),
            conv(n, 64, 56, 128, 3, 2),       conv(n, 256, 56, 64, 1, 1),       conv(n, 64, 56, 256, 1, 1),
            conv(n, 1024, 14, 256, 1, 1),     conv(n, 512, 7, 2048, 1, 1),      conv(n, 96, 56, 24, 1, 1),
            conv(n, 128, 56, 128, 3, 1, 32),  conv(n, 96, 56, 192, 2, 2),       conv(n, 384, 14, 768, 2, 2)};
        for (OpDesc op : nhwc) {
          auto& s = std::get<Conv2dShape>(op.shape);
          s.channels_last = true;
          add(op, (n == 1 || n == 16) && s.groups == s.c && s.r == 7 && s.c == 96);
        }
      }
      break;
    }
    case ShapeFamily::attention: {
      // {batch, heads, seq_q, seq_kv, head_dim, causal, kv_heads}
      // decode: one token against a KV cache, MHA and GQA 4:1 and 8:1
      // (70B-class and small LLaMA-style models), heads of 128 and 64: where
      // a library has no grouped kernel for a precision it repeats K and V
      // per query head (PyTorch SDPA's math path, its fp32 fallback), so the
      // efficiency moves with the group size, which beyond the 4:1 samples
      // was held at theirs (fp32 8:1 decode on an H100: 0.55x its time)
      for (i64 b : {1, 16, 64, 4})
        for (i64 kv : {2048, 512, 32768, 8192}) {
          if (b * kv > 64 * 8192) continue;
          add({kind, AttentionShape{b, 32, 1, kv, 128, false, 8}}, (b == 1 || b == 16) && kv == 2048);
          add({kind, AttentionShape{b, 32, 1, kv, 128, false, 32}}, b == 1 && kv == 2048);
          add({kind, AttentionShape{b, 32, 1, kv, 128, false, 4}});
          add({kind, AttentionShape{b, 32, 1, kv, 64, false, 4}});
        }
      add({kind, AttentionShape{8, 12, 1, 1024, 64, false, 12}});
      // prefill (causal), GQA 4:1 and MHA, and encoders (full)
      for (i64 seq : {512, 2048, 128, 8192, 1024, 4096, 256})
        for (i64 b : {1, 4}) {
          if (b * seq > 16384) continue;
          add({kind, AttentionShape{b, 32, seq, seq, 128, true, 8}}, b == 1 && (seq == 512 || seq == 2048));
          add({kind, AttentionShape{b, 32, seq, seq, 64, true, 4}});
          add({kind, AttentionShape{b, 16, seq, seq, 64, true, 16}}, b == 1 && seq == 512);
          add({kind, AttentionShape{b, 12, seq, seq, 64, false, 12}}, b == 1 && seq == 128);
        }
      // encoders of 128-1024 tokens (BERT-style) at the batches they are
      // served at: they had batches 1 and 4 alone, so a batch of 16 was read
      // at batch 4's efficiency (ViT's 197 tokens have batches 1-64 below);
      // and short ones (ViT-B/32's 50 tokens, short queries), which below
      // 128 tokens were extrapolated by the plane
      for (i64 seq : {128, 512, 256, 1024})
        for (i64 b : {16, 64})
          if (b * seq <= 16384) add({kind, AttentionShape{b, 12, seq, seq, 64, false, 12}});
      for (i64 seq : {64, 32})
        for (i64 b : {1, 16, 4, 64}) add({kind, AttentionShape{b, 12, seq, seq, 64, false, 12}});
      for (i64 b : {1, 8, 32, 64}) add({kind, AttentionShape{b, 12, 197, 197, 64, false, 12}}, b == 8);
      for (i64 b : {1, 8, 32}) add({kind, AttentionShape{b, 8, 128, 128, 64, false, 8}});
      add({kind, AttentionShape{1, 1, 16, 16, 32, false, 1}});  // launch-bound
      break;
    }
    case ShapeFamily::rows: {
      // (rows, cols): tokens x hidden (norms), score rows (softmax), spatial means.
      // The aligned widths of small models (96-384: ConvNeXt-T, Swin, small
      // ViTs) are their own points: a library picks its kernel by width, so
      // 192 is not 197 (PyTorch's layer norm differs up to 2x between them).
      const i64 cols[] = {4096, 768, 64, 1024, 197, 2048, 512, 8192, 49, 128256, 192, 96, 384, 128, 256};
      for (i64 r : {1, 4096, 64, 65536, 16, 1024, 16384, 256, 4})
        for (i64 c : cols) {
          if (double(r) * c > double(i64{1} << 28) || (c == 128256 && r > 64)) continue;  // <= 256M elements
          if (kind == OpKind::reduce_mean && c == 128256) continue;
          add({kind, RowsShape{r, c}}, (r == 1 || r == 4096) && (c == 4096 || c == 768));
        }
      break;
    }
    case ShapeFamily::elementwise: {
      for (i64 e : {i64{1} << 20, i64{1} << 6, i64{1} << 26, i64{1} << 14, i64{1} << 18, i64{1} << 24, i64{1} << 10,
                    i64{1} << 28, i64{1} << 12, i64{1} << 22, i64{1} << 16, i64{1} << 8})
        add({kind, ElementwiseShape{e, o.inputs, 0, false}},
            e == (i64{1} << 6) || e == (i64{1} << 20) || e == (i64{1} << 26));
      if (o.broadcast)
        for (i64 e : {i64{1} << 20, i64{1} << 14, i64{1} << 24, i64{1} << 27})
          add({kind, ElementwiseShape{e, 2, 256, false}}, e == (i64{1} << 20));
      break;
    }
    case ShapeFamily::bytes: {
      for (i64 b : {i64{1} << 20, i64{4} << 10, i64{256} << 20, i64{64} << 10, i64{16} << 20, i64{1} << 30,
                    i64{256} << 10, i64{4} << 20, i64{64} << 20, i64{16} << 10})
        add({kind, BytesShape{b}}, b == (i64{4} << 10) || b == (i64{1} << 20) || b == (i64{256} << 20));
      // Concats of many inputs, even and uneven: PyTorch's kernel gives each
      // input the blocks its largest needs (DenseNet joins one large and up
      // to 64 small feature maps), so inputs x largest and inputs are features
      // beside the bytes. (A KV cache append: two inputs, one of almost all.)
      if (kind == OpKind::concat)
        for (i64 b : {i64{1} << 20, i64{16} << 20, i64{256} << 10, i64{4} << 20, i64{64} << 20})
          for (auto [k, share] :
               {std::pair<i64, double>{2, 63.0 / 64}, {4, 0.5}, {8, 0.5}, {16, 0.5}, {32, 0.5}, {32, 0.125}, {32, 0}})
            add({kind, BytesShape{b, k, static_cast<i64>(double(b) * share)}}, b == (i64{1} << 20) && k == 16);
      break;
    }
    case ShapeFamily::rotary: {
      for (i64 t : {1, 1024, 16, 16384, 256, 4096, 64, 4})
        for (i64 h : {32, 8}) add({kind, RotaryShape{t, h, 128}}, (t == 1 || t == 1024) && h == 32);
      for (i64 t : {128, 2048}) add({kind, RotaryShape{t, 16, 64}});
      break;
    }
    case ShapeFamily::embedding: {
      for (i64 t : {1, 1024, 16, 16384, 256, 4096, 64})
        for (i64 d : {4096, 768})
          add({kind, EmbeddingShape{t, d == 768 ? 30522 : 128256, d}}, (t == 1 || t == 1024) && d == 4096);
      break;
    }
    default: {
      // pooling and batchnorm: the CPU shapes at batch 1 to 64
      for (i64 n : {1, 16, 4, 64})
        for (const SweepPoint& p : cpu_sweep(kind)) {
          OpDesc op = p.op;
          bool keep = true;
          std::visit(
              [&](auto& s) {
                using S = std::decay_t<decltype(s)>;
                if constexpr (std::is_same_v<S, Pool2dShape> || std::is_same_v<S, AdaptivePoolShape> ||
                              std::is_same_v<S, MapShape>) {
                  keep = s.n == 1;
                  s.n = n;
                }
              },
              op.shape);
          if (keep) add(op, p.quick && (n == 1 || n == 16));
        }
      break;
    }
  }
  return v;
}

/// The sweep of an op on a CPU or a device target; none for the collectives,
/// which are swept over message sizes on every GPU count instead
/// (collectives.hpp, detail::collective_sizes()).
inline std::vector<SweepPoint> default_sweep(OpKind kind, bool device = false) {
  if (is_collective(kind)) return {};
  return device ? device_sweep(kind) : cpu_sweep(kind);
}

/// One tiny instance of every op a model calls as one library call (attention
/// is several in eager frameworks and is left out): the framework-cost probe
/// (torch/framework.hpp).
inline std::vector<OpDesc> tiny_ops() {
  std::vector<OpDesc> ops;
  Conv2dShape c;
  c.n = 1, c.c = 8, c.h = c.w = 4, c.k = 8, c.r = c.s = 3, c.pad_h = c.pad_w = 1, c.bias = true;
  ops.push_back({OpKind::conv2d, c});
  ops.push_back({OpKind::linear, MatmulShape{1, 1, 16, 16, true}});
  ops.push_back({OpKind::matmul, MatmulShape{1, 8, 8, 8, false}});
  Pool2dShape p;
  p.n = 1, p.c = 8, p.h = p.w = 4, p.r = p.s = 2, p.stride_h = p.stride_w = 2;
  ops.push_back({OpKind::maxpool, p});
  ops.push_back({OpKind::avgpool, p});
  ops.push_back({OpKind::adaptive_avgpool, AdaptivePoolShape{1, 8, 4, 4, 1, 1}});
  ops.push_back({OpKind::batchnorm, MapShape{1, 8, 4, 4}});
  for (OpKind k : {OpKind::layernorm, OpKind::rmsnorm, OpKind::softmax, OpKind::reduce_mean})
    ops.push_back({k, RowsShape{1, 16}});
  for (const OpInfo& o : op_table)
    if (o.family == ShapeFamily::elementwise) ops.push_back({o.kind, ElementwiseShape{64, o.inputs, 0}});
  for (OpKind k : {OpKind::copy, OpKind::transpose, OpKind::permute, OpKind::concat})
    ops.push_back({k, BytesShape{256}});
  ops.push_back({OpKind::concat, BytesShape{1024, 5, 512}});  // uneven inputs
  ops.push_back({OpKind::rotary, RotaryShape{1, 2, 8}});
  ops.push_back({OpKind::embedding, EmbeddingShape{1, 16, 8}});
  return ops;
}

/// Anchor shapes of each fusion pattern (three sizes, small to large).
inline std::vector<SweepPoint> fusion_sweep(OpKind anchor) {
  std::vector<SweepPoint> v;
  if (anchor == OpKind::linear) {
    v.push_back({{OpKind::linear, MatmulShape{1, 128, 768, 768, true}}, true});
    v.push_back({{OpKind::linear, MatmulShape{1, 8, 4096, 1024, true}}, false});
    v.push_back({{OpKind::linear, MatmulShape{1, 512, 3072, 768, true}}, false});
  } else if (anchor == OpKind::conv2d) {
    v.push_back({conv(1, 64, 56, 64, 3, 1), true});
    v.push_back({conv(1, 256, 14, 256, 3, 1), false});
    v.push_back({conv(8, 128, 28, 128, 1, 1), false});
  } else {
    v.push_back({{OpKind::attention, AttentionShape{1, 12, 197, 197, 64, false}}, true});
    v.push_back({{OpKind::attention, AttentionShape{8, 8, 128, 128, 64, false}}, false});
    v.push_back({{OpKind::attention, AttentionShape{1, 8, 512, 512, 64, false}}, false});
  }
  return v;
}

}  // namespace detail
}  // namespace hwcal
