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
/// precision, fused ops, the sequence context and the shape's fields (walked
/// with the same field list the JSON reader uses, ops.hpp).
struct EstimateKey {
  static constexpr std::size_t words = 20;  // header 4 + Conv2dShape's 16 fields (pairs count 2)
  std::array<std::int64_t, words> w{};

  friend bool operator==(const EstimateKey& a, const EstimateKey& b) noexcept {
    return std::memcmp(a.w.data(), b.w.data(), sizeof a.w) == 0;
  }
};

/// Appends shape fields to a key.
struct KeyWriter {
  EstimateKey& k;
  std::size_t i;
  void put(std::int64_t v) noexcept {
    if (i < EstimateKey::words) k.w[i++] = v;
  }
  template <class T, class... Rest>
  void integer(std::string_view, T& v, Rest...) noexcept {
    put(static_cast<std::int64_t>(v));
  }
  template <class T, class D>
  void small_integer(std::string_view, T& v, D) noexcept {
    put(static_cast<std::int64_t>(v));
  }
  template <class... Rest>
  void pair(std::string_view, i64& h, i64& w, Rest...) noexcept {
    put(h);
    put(w);
  }
  void flag(std::string_view, bool& v, bool) noexcept { put(v); }
};

inline std::int64_t bits_of(double d) noexcept {
  std::int64_t b = 0;
  static_assert(sizeof b == sizeof d, "double is 64 bits");
  std::memcpy(&b, &d, sizeof b);
  return b;
}

inline EstimateKey make_estimate_key(const Subgraph& g, const SequenceContext& ctx) noexcept {
  EstimateKey k;
  k.w[0] = static_cast<std::int64_t>(g.op.kind) | static_cast<std::int64_t>(g.precision) << 8 |
           static_cast<std::int64_t>(g.op.shape.index()) << 16;
  k.w[1] = static_cast<std::int64_t>(g.fused);
  k.w[2] = bits_of(ctx.pass_bytes);
  k.w[3] = bits_of(ctx.pass_weight_bytes);
  KeyWriter writer{k, 4};
  Shape s = g.op.shape;
  std::visit([&](auto& x) { ShapeTraits<std::decay_t<decltype(x)>>::fields(writer, x, g.op.kind); }, s);
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
  /// `slots` is rounded up to a power of two. Each slot is about 280 bytes.
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
