#pragma once
// Channel tiles of CPU convolutions. CPU convolution libraries (oneDNN, also
// behind PyTorch) block channels by the fp32 lanes of a vector register
// (nChw16c on AVX-512, nChw8c on AVX2) and run what is left over as a tail: a
// layer whose channels are off that tile runs slower a FLOP than one on it, by
// more than the padding (Zen 5, PyTorch 1.13, one thread, 3x3 depthwise at
// 28x28: 54 us with 58 channels, 39 us with 64; 14x14: 39.1 us with 116, 32.4
// with 128; validation/explore_depthwise_cpu.py). Interpolation cannot see it:
// 58 and 64 channels are neighbours by every feature. So the CPU sweep times
// such layers beside their twin on the tile (detail/sweeps.hpp), and a CPU
// curve reads an off-tile layer at its own features' efficiency divided by
// the ratio its pairs measured (CurveSet::tail).

#include <hwcal/shapes.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace hwcal {
namespace detail {

/// The tiles the sweep's pairs are built for: AVX-512's 16 fp32 lanes and
/// AVX2's 8. An off-tile layer's twin differs between them where its channels
/// are off both (ShuffleNet's 116: 128 on AVX-512, 120 on AVX2); a host reads
/// the pairs of its own tile (CurveSet::tile_pairs), and with the 16-lane twins
/// alone an AVX2 host (Zen 3, 2026-12-07) found 3 pairs where a Zen 5 found 39.
inline constexpr i64 sweep_channel_tiles[] = {16, 8};

/// fp32 lanes of the host's widest vector registers (HostInfo::isa).
inline i64 channel_tile(const std::vector<std::string>& isa) {
  const auto has = [&isa](const char* flag) { return std::find(isa.begin(), isa.end(), flag) != isa.end(); };
  return has("avx512f") ? 16 : has("avx2") || has("avx") ? 8 : 4;
}

/// The convolution on the tile nearest above `s`: channels rounded up to a
/// multiple of `tile`. Dense: K, and C unless it is an image's 1-4 channels
/// (no library blocks those); depthwise: C, K and the groups together.
/// Grouped convolutions (blocked per group) and depthwise multipliers are
/// left as they are.
inline Conv2dShape tile_twin(Conv2dShape s, i64 tile) {
  const auto up = [tile](i64 v) { return (v + tile - 1) / tile * tile; };
  if (s.groups == 1) {
    if (s.c > 4) s.c = up(s.c);
    s.k = up(s.k);
  } else if (s.groups == s.c && s.k == s.c) {
    s.c = s.k = s.groups = up(s.c);
  }
  return s;
}

/// Whether two convolutions are the same shape, every field.
inline bool same_conv(const Conv2dShape& a, const Conv2dShape& b) noexcept {
  return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w && a.k == b.k && a.r == b.r && a.s == b.s &&
         a.stride_h == b.stride_h && a.stride_w == b.stride_w && a.pad_h == b.pad_h && a.pad_w == b.pad_w &&
         a.dil_h == b.dil_h && a.dil_w == b.dil_w && a.groups == b.groups && a.bias == b.bias &&
         a.channels_last == b.channels_last;
}

/// Whether `s` is off the tile (its twin differs).
inline bool off_tile(const Conv2dShape& s, i64 tile) {
  const Conv2dShape t = tile_twin(s, tile);
  return t.c != s.c || t.k != s.k;
}

}  // namespace detail
}  // namespace hwcal
