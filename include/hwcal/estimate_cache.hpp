#pragma once
// EstimateCache: memoizes CalibratedMapper::estimate() for subgraphs asked
// for again. Design-space searches (mapping a model onto candidate machines,
// tiling and fusion choices) ask for the same layer shapes over and over; a
// lookup here costs a hash and a compare instead of the curve interpolation.
//
// One cache per thread: it is not synchronized (the mapper it wraps is, and
// may be shared). The table is allocated once, at construction; estimate()
// allocates nothing. Direct-mapped: a slot holds the last subgraph that
// hashed to it, so a colliding subgraph is computed again, never mistaken for
// another (the whole key is compared).

#include <hwcal/mapper.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace hwcal {

namespace detail {

/// Every field that determines an estimate, packed into integers: the op,
/// precision, fused ops, the shape's fields and the sequence context.
struct EstimateKey {
  static constexpr std::size_t words = 18;  // header 3 + Conv2dShape's 14 + 1 spare
  std::array<std::int64_t, words> w{};

  friend bool operator==(const EstimateKey& a, const EstimateKey& b) noexcept {
    return std::memcmp(a.w.data(), b.w.data(), sizeof a.w) == 0;
  }
};

inline EstimateKey make_estimate_key(const Subgraph& g, const SequenceContext& ctx) noexcept {
  EstimateKey k;
  std::size_t i = 0;
  k.w[i++] = static_cast<std::int64_t>(g.op.kind) | static_cast<std::int64_t>(g.precision) << 8 |
             static_cast<std::int64_t>(g.op.shape.index()) << 16;
  k.w[i++] = g.fused;
  std::int64_t pass_bits = 0;
  static_assert(sizeof pass_bits == sizeof ctx.pass_bytes, "double is 64 bits");
  std::memcpy(&pass_bits, &ctx.pass_bytes, sizeof pass_bits);
  k.w[i++] = pass_bits;
  auto put = [&](std::initializer_list<std::int64_t> v) {
    for (std::int64_t x : v) k.w[i++] = x;
  };
  std::visit(overloaded{
                 [&](const MatmulShape& s) { put({s.batch, s.m, s.n, s.k, s.bias}); },
                 [&](const Conv2dShape& s) {
                   put({s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dil_h, s.dil_w,
                        s.groups * 2 + s.bias});
                 },
                 [&](const Pool2dShape& s) { put({s.n, s.c, s.h, s.w, s.r, s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w}); },
                 [&](const AdaptivePoolShape& s) { put({s.n, s.c, s.h, s.w, s.out_h, s.out_w}); },
                 [&](const MapShape& s) { put({s.n, s.c, s.h, s.w}); },
                 [&](const RowsShape& s) { put({s.rows, s.cols}); },
                 [&](const ElementwiseShape& s) { put({s.elements, s.inputs, s.broadcast, s.inplace}); },
                 [&](const AttentionShape& s) { put({s.batch, s.heads, s.seq_q, s.seq_kv, s.head_dim, s.causal}); },
                 [&](const BytesShape& s) { put({s.bytes}); },
             },
             g.op.shape);
  return k;
}

inline std::uint64_t hash(const EstimateKey& k) noexcept {
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  for (std::int64_t x : k.w) {
    h ^= static_cast<std::uint64_t>(x);
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  // splitmix64's finalizer: every input bit reaches the low bits the table uses
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

}  // namespace detail

class EstimateCache {
 public:
  /// `slots` is rounded up to a power of two. Each slot is about 240 bytes.
  explicit EstimateCache(const CalibratedMapper& mapper, std::size_t slots = std::size_t{1} << 14) : mapper_(&mapper) {
    std::size_t n = 1;
    while (n < slots) n <<= 1;
    slots_.resize(n);
    mask_ = n - 1;
  }

  /// The same Estimate as mapper.estimate(g, ctx), from the table when this
  /// subgraph was asked for before. The reference is valid until the next
  /// call (which may reuse the slot); copy the Estimate to keep it.
  const Estimate& estimate(const Subgraph& g, const SequenceContext& ctx = {}) noexcept {
    const detail::EstimateKey key = detail::make_estimate_key(g, ctx);
    Slot& s = slots_[detail::hash(key) & mask_];
    if (s.used && s.key == key) {
      ++hits_;
      return s.value;
    }
    ++misses_;
    s.key = key;
    s.value = mapper_->estimate(g, ctx);
    s.used = true;
    return s.value;
  }

  std::uint64_t hits() const noexcept { return hits_; }
  std::uint64_t misses() const noexcept { return misses_; }
  std::size_t slots() const noexcept { return slots_.size(); }

 private:
  struct Slot {
    detail::EstimateKey key;
    Estimate value;
    bool used = false;
  };
  const CalibratedMapper* mapper_;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0;
};

}  // namespace hwcal
