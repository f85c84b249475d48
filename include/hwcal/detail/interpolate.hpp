#pragma once
// The one interpolation of measured values over a shape's features (log2 of
// its dimensions, ops.hpp), used for op efficiencies and fusion speedups
// alike.
//
//  - one feature: linear in the feature (log-log, since values are logs)
//    between the bracketing points, the end value held beyond them;
//  - several, `nearest`: the k = 4 nearest points by Euclidean distance,
//    weighted by inverse squared distance (an exact hit returns that point);
//  - several, `local_linear`: a plane through the 16 nearest points (weighted
//    least squares, weights 1 / (d^2 + 1/4), slopes lightly damped: plane_ridge), held
//    within 0.7 (a factor of 2) of the neighbours' values. Inverse-distance
//    weighting is a weighted mean: between samples it cannot follow a trend,
//    and efficiency trends with size along every feature (a GPU convolution's
//    samples lie 4x apart on several features at once);
//  - `automatic` (the curves') picks, per block, the plane where it predicts
//    the block's own points clearly better (mean |predicted / measured - 1|
//    of exp(value) under 0.9 of the nearest points') when each is left
//    out, the nearest points otherwise: the choice looks at nothing but
//    the calibration's samples. On an H200's profile it lowered
//    `hwcal show --loo` for convolution dense bf16 from 49.2% to 37.0% and
//    linear bf16 from 13.5% to 8.0% (docs/mapper.md).
//  - blocks with `segments` (a device's compute curves, curve_set.hpp): a
//    query between two points on the line through them is read along it
//    (on_segment), before either method.
// Both: the neighbours' disagreement, weighted the same way, widens the spread.
// A query more than one octave (a factor of 2) outside the points' range on
// any feature is flagged `outside`.
//
// Points are stored feature-major (all points' first feature, then all
// second features, ...), so the distance of a query to every point of a
// curve is a few vectorised passes.
//
// Lookup::table (MapperOptions::lookup) trades exactness between samples for
// speed: a block of several features is evaluated once, when it is added, at
// every node of the grid whose coordinates along each feature are the values
// its points take there (plus one node an octave beyond each end), and a
// query is the linear blend of dims + 1 corners of its cell, those of the
// simplex of the cell that holds it (a multilinear blend reads all 2^dims:
// 32 at 5 features against 6): a cost that does not grow with the curve.
// Every point lies on a node, so a measured shape is predicted as measured;
// between nodes the table blends exact values a cell apart instead of
// fitting at the query. A query beyond the grid (flagged outside) is read at
// its edge, the value an octave past the points held, as one feature's end
// value is (exact extrapolates there by the neighbours or the plane; a
// lookup that falls back to it costs as much as exact mode, 10x a blend).
// Blocks whose grid would exceed max_table_nodes stay exact.

#include <hwcal/estimate.hpp>
#include <hwcal/ops.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace hwcal {
namespace detail {

struct Interpolated {
  double value = 0, spread = 0.5;
  bool outside = false;
};

/// How a block of several features interpolates (see above).
enum class Interpolation : std::uint8_t { nearest, local_linear, automatic };

/// A block of points in a PointStore.
struct PointBlock {
  std::uint32_t begin = 0, n = 0;  ///< point index range in the store
  std::uint32_t x = 0;             ///< offset of the feature-major coordinates
  int dims = 0;
  Interpolation method = Interpolation::nearest;  ///< nearest or local_linear
  bool segments = false;  ///< a query between two points on a line through it is read along it (on_segment)
  std::uint32_t table = ~std::uint32_t{0};  ///< index of its table (Lookup::table), or none
  Features lo{}, hi{};                      ///< range along each feature
};

/// Points of many curves, feature-major per block, built once.
class PointStore {
 public:
  struct Point {
    Features x;
    float value;
    float spread;
  };

  /// Nodes a block's table may have (8 bytes each); a larger grid stays exact.
  static constexpr std::size_t max_table_nodes = std::size_t{1} << 22;

  explicit PointStore(Lookup lookup = Lookup::exact) : lookup_(lookup) {}

  /// Appends a block (sorted by the first feature when it has one feature).
  PointBlock add(std::vector<Point> pts, int dims, Interpolation method = Interpolation::nearest,
                 bool segments = false) {
    PointBlock b;
    b.begin = static_cast<std::uint32_t>(value_.size());
    b.n = static_cast<std::uint32_t>(pts.size());
    b.x = static_cast<std::uint32_t>(x_.size());
    b.dims = dims;
    if (dims <= 1) std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& c) { return a.x[0] < c.x[0]; });
    b.lo.fill(std::numeric_limits<float>::max());
    b.hi.fill(-std::numeric_limits<float>::max());
    for (int d = 0; d < std::max(dims, 1); ++d)
      for (const Point& p : pts) x_.push_back(p.x[static_cast<std::size_t>(d)]);
    for (const Point& p : pts) {
      value_.push_back(p.value);
      spread_.push_back(p.spread);
      for (std::size_t d = 0; d < max_features; ++d)
        b.lo[d] = std::min(b.lo[d], p.x[d]), b.hi[d] = std::max(b.hi[d], p.x[d]);
    }
    b.method = method == Interpolation::automatic ? choose(b) : method;
    b.segments = segments;
    if (lookup_ == Lookup::table && dims > 1) tabulate(b);
    return b;
  }

  /// Interpolates block b at q. b.n > 0.
  Interpolated interpolate(const PointBlock& b, const Features& q) const noexcept {
    Interpolated r;
    // A table's grid spans [lo - 1, hi + 1] on every feature, the range
    // beyond which a query is outside.
    if (b.table != no_table) return blend(tables_[b.table], q);
    for (int d = 0; d < b.dims; ++d)
      if (q[static_cast<std::size_t>(d)] < b.lo[static_cast<std::size_t>(d)] - 1.0f ||
          q[static_cast<std::size_t>(d)] > b.hi[static_cast<std::size_t>(d)] + 1.0f)
        r.outside = true;
    const float* x = x_.data() + b.x;
    const float* value = value_.data() + b.begin;
    const float* spread = spread_.data() + b.begin;
    if (b.dims <= 1) {
      const float* end = x + b.n;
      const float* above = std::lower_bound(x, end, q[0]);
      if (above == end) return r.value = value[b.n - 1], r.spread = spread[b.n - 1], r;
      const std::size_t i = static_cast<std::size_t>(above - x);
      if (i == 0 || *above == q[0]) return r.value = value[i], r.spread = spread[i], r;
      const double t = (double(q[0]) - x[i - 1]) / (double(x[i]) - x[i - 1]);
      r.value = value[i - 1] + t * (double(value[i]) - value[i - 1]);
      r.spread = spread[i - 1] + t * (double(spread[i]) - spread[i - 1]);
      return r;
    }
    const bool outside = r.outside;
    r = exact(b, q);
    r.outside = outside;
    return r;
  }

 private:
  static constexpr int idw_k = 4, plane_k = 16;
  static constexpr float exact_hit = 1e-8f;  ///< a squared distance at which a point is the query
  /// The plane's ridge on its slopes, chosen by `hwcal show --loo` on the shipped profiles (1 until
  /// 2026-12-07; 0.3 and 0.1 both lower every GPU profile's error, docs/mapper.md).
  static constexpr double plane_ridge = 0.3;
  static constexpr std::uint32_t no_table = ~std::uint32_t{0};

  /// A block's interpolation tabulated on a grid (Lookup::table).
  struct Table {
    int dims = 0;
    std::array<std::uint32_t, max_features> axis{};    ///< offset of each feature's node coordinates in axes_
    std::array<std::uint32_t, max_features> size{};    ///< nodes along each feature
    std::array<std::uint32_t, max_features> stride{};  ///< node offset of a step along each feature
    std::uint32_t node = 0;                            ///< offset of the nodes' (value, spread) pairs in nodes_
  };

  /// The block's own interpolation at q (several features).
  Interpolated exact(const PointBlock& b, const Features& q) const noexcept {
    const bool linear = b.method == Interpolation::local_linear;
    Neighbours nb;  // the nearest points need only idw_k of them, the plane and the segments plane_k
    nearest(b, q, linear || b.segments ? plane_k : idw_k, no_skip, nb);
    Interpolated r;
    if (b.segments && nb.found > 1 && nb.d2[0] >= exact_hit && on_segment(b, q, nb, r)) return r;
    if (linear) return plane(b, q, nb);
    nb.found = std::min(nb.found, idw_k);  // the nearest of them, sorted
    return weighted(b, nb);
  }

  /// Evaluates block b at every node of its grid (see the header).
  void tabulate(PointBlock& b) {
    Table t;
    t.dims = b.dims;
    const float* x = x_.data() + b.x;
    std::size_t nodes = 1;
    for (int d = 0; d < b.dims; ++d) {
      const auto du = static_cast<std::size_t>(d);
      std::vector<float> a(x + du * b.n, x + (du + 1) * b.n);
      std::sort(a.begin(), a.end());
      a.erase(std::unique(a.begin(), a.end()), a.end());
      a.insert(a.begin(), a.front() - 1.0f);
      a.push_back(a.back() + 1.0f);
      t.axis[du] = static_cast<std::uint32_t>(axes_.size());
      t.size[du] = static_cast<std::uint32_t>(a.size());
      axes_.insert(axes_.end(), a.begin(), a.end());
      t.stride[du] = static_cast<std::uint32_t>(nodes);
      nodes *= a.size();
      if (nodes > max_table_nodes) {
        axes_.resize(t.axis[0]);
        return;
      }
    }
    t.node = static_cast<std::uint32_t>(nodes_.size() / 2);
    nodes_.reserve(nodes_.size() + 2 * nodes);
    for (std::size_t i = 0; i < nodes; ++i) {
      Features q{};
      std::size_t rest = i;
      for (int d = 0; d < b.dims; ++d) {
        const auto du = static_cast<std::size_t>(d);
        q[du] = axes_[t.axis[du] + rest % t.size[du]];
        rest /= t.size[du];
      }
      const Interpolated r = exact(b, q);
      nodes_.push_back(static_cast<float>(r.value));
      nodes_.push_back(static_cast<float>(r.spread));
    }
    b.table = static_cast<std::uint32_t>(tables_.size());
    tables_.push_back(t);
  }

  /// The table's blend at q (simplex); beyond the grid, at its edge.
  Interpolated blend(const Table& t, const Features& q) const noexcept {
    Interpolated r;
    std::uint32_t base = 0;
    float frac[max_features];
    for (int d = 0; d < t.dims; ++d) {
      const auto du = static_cast<std::size_t>(d);
      const float* a = axes_.data() + t.axis[du];
      const std::uint32_t n = t.size[du];
      // beyond the grid (an octave past the points): its edge held, flagged outside
      const float qd = std::clamp(q[du], a[0], a[n - 1]);
      if (qd != q[du]) r.outside = true;
      // the cell [c[0], c[1]] holding qd: the last of nodes 0 .. n - 2 at or below it (branch-free bisection)
      const float* c = a;
      for (std::uint32_t len = n - 1; len > 1; len -= len / 2) c = c[len / 2] <= qd ? c + len / 2 : c;
      frac[d] = (qd - c[0]) / (c[1] - c[0]);
      base += static_cast<std::uint32_t>(c - a) * t.stride[du];
    }
    // The cell's simplex holding q (Kuhn's split of the cube): from the lowest corner, step up one
    // feature at a time in decreasing order of q's fraction along it; q is the blend of those
    // dims + 1 corners with weights the differences of consecutive sorted fractions.
    int order[max_features];
    for (int d = 0; d < t.dims; ++d) {
      int j = d;
      for (; j > 0 && frac[order[j - 1]] < frac[d]; --j) order[j] = order[j - 1];
      order[j] = d;
    }
    const float* node = nodes_.data() + 2 * (std::size_t{t.node} + base);
    float prev = 1, value = 0, spread = 0;
    std::uint32_t corner = 0;
    for (int j = 0; j <= t.dims; ++j) {
      const float f = j < t.dims ? frac[order[j]] : 0.0f, w = prev - f;
      const float* c = node + 2 * std::size_t{corner};
      value += w * c[0], spread += w * c[1];
      if (j < t.dims) corner += t.stride[static_cast<std::size_t>(order[j])], prev = f;
    }
    r.value = value, r.spread = spread;
    return r;
  }
  static constexpr std::uint32_t no_skip = ~std::uint32_t{0};

  struct Neighbours {
    float d2[plane_k];
    std::uint32_t i[plane_k] = {};
    int found = 0;
  };

  /// The k nearest points of block b to q (sorted by distance), without point `skip`.
  void nearest(const PointBlock& b, const Features& q, int k, std::uint32_t skip, Neighbours& nb) const noexcept {
    constexpr std::uint32_t chunk = 256;
    float d2[chunk];
    const float* x = x_.data() + b.x;
    nb.found = 0;
    if (b.n <= static_cast<std::uint32_t>(k) && skip == no_skip) {
      // Every point is a neighbour (a fusion pattern's few shapes): their
      // distances in the same order of operations as below, without the
      // vectorised passes' set-up, which costs more than the points do.
      for (std::uint32_t i = 0; i < b.n; ++i) {
        float di = 0.0f;
        for (int d = 0; d < b.dims; ++d) {
          const float diff = q[static_cast<std::size_t>(d)] - x[static_cast<std::size_t>(d) * b.n + i];
          di += diff * diff;
        }
        int pos = nb.found++;
        for (; pos > 0 && nb.d2[pos - 1] > di; --pos) nb.d2[pos] = nb.d2[pos - 1], nb.i[pos] = nb.i[pos - 1];
        nb.d2[pos] = di;
        nb.i[pos] = i;
      }
      return;
    }
    for (std::uint32_t start = 0; start < b.n; start += chunk) {
      const std::uint32_t m = std::min(chunk, b.n - start);
      std::fill(d2, d2 + m, 0.0f);
      for (int d = 0; d < b.dims; ++d) {
        const float* xd = x + static_cast<std::size_t>(d) * b.n + start;
        const float qd = q[static_cast<std::size_t>(d)];
        for (std::uint32_t i = 0; i < m; ++i) {
          const float diff = qd - xd[i];
          d2[i] += diff * diff;
        }
      }
      for (std::uint32_t i = 0; i < m; ++i) {
        if (start + i == skip || (nb.found == k && d2[i] >= nb.d2[k - 1])) continue;
        int pos = nb.found < k ? nb.found++ : k - 1;
        while (pos > 0 && nb.d2[pos - 1] > d2[i]) {
          nb.d2[pos] = nb.d2[pos - 1];
          nb.i[pos] = nb.i[pos - 1];
          --pos;
        }
        nb.d2[pos] = d2[i];
        nb.i[pos] = start + i;
      }
    }
  }

  /// Whether q lies between two of its neighbours on the line through them
  /// (a sweep's grid line: one shape at two batches, where the rows grow with
  /// the batch); r is then the linear blend along the shortest such segment,
  /// the one-feature rule. Neither the neighbours' mean nor a plane through
  /// shapes around it follows the curve there: on an H100's convolutions a
  /// plane put batch 8 of a 3x3 256 -> 256 on 14^2 above the measured batch
  /// 16 (docs/mapper.md).
  bool on_segment(const PointBlock& b, const Features& q, const Neighbours& nb, Interpolated& r) const noexcept {
    const float* x = x_.data() + b.x;
    double u[plane_k][max_features], len2[plane_k];
    for (int j = 0; j < nb.found; ++j) {
      len2[j] = 0;
      for (int d = 0; d < b.dims; ++d) {
        const auto du = static_cast<std::size_t>(d);
        u[j][d] = double(x[du * b.n + nb.i[j]]) - q[du];
        len2[j] += u[j][d] * u[j][d];
      }
    }
    double best = std::numeric_limits<double>::max(), t = 0;
    int lo = -1, hi = -1;
    for (int i = 0; i < nb.found; ++i)
      for (int j = i + 1; j < nb.found; ++j) {
        double dot = 0;
        for (int d = 0; d < b.dims; ++d) dot += u[i][d] * u[j][d];
        // opposite sides of q, on one line: the sine of their angle squared within 1e-6
        if (dot >= 0 || len2[i] * len2[j] - dot * dot > 1e-6 * len2[i] * len2[j]) continue;
        const double li = std::sqrt(len2[i]), lj = std::sqrt(len2[j]);
        if (li + lj < best) best = li + lj, t = li / (li + lj), lo = i, hi = j;
      }
    if (lo < 0) return false;
    const float* value = value_.data() + b.begin;
    const float* spread = spread_.data() + b.begin;
    const auto a = nb.i[lo], c = nb.i[hi];
    r.value = value[a] + t * (double(value[c]) - value[a]);
    r.spread = spread[a] + t * (double(spread[c]) - spread[a]);
    return true;
  }

  /// Inverse-squared-distance mean of the neighbours (an exact hit returns it).
  Interpolated weighted(const PointBlock& b, const Neighbours& nb) const noexcept {
    Interpolated r;
    const float* value = value_.data() + b.begin;
    const float* spread = spread_.data() + b.begin;
    if (nb.d2[0] < exact_hit) return r.value = value[nb.i[0]], r.spread = spread[nb.i[0]], r;
    double wsum = 0, acc = 0, sp = 0;
    for (int j = 0; j < nb.found; ++j) {
      const double w = 1.0 / nb.d2[j];
      wsum += w;
      acc += w * value[nb.i[j]];
      sp += w * spread[nb.i[j]];
    }
    r.value = acc / wsum;
    double var = 0;
    for (int j = 0; j < nb.found; ++j) {
      const double d = value[nb.i[j]] - r.value;
      var += d * d / nb.d2[j];
    }
    r.spread = sp / wsum + std::sqrt(var / wsum);
    return r;
  }

  /// The weighted least-squares plane through the neighbours, at q.
  Interpolated plane(const PointBlock& b, const Features& q, const Neighbours& nb) const noexcept {
    Interpolated r = weighted(b, nb);  // its spread; its value where the plane cannot be fitted
    if (nb.d2[0] < exact_hit || nb.found <= b.dims + 1) return r;
    const float* x = x_.data() + b.x;
    const float* value = value_.data() + b.begin;
    constexpr int m = max_features + 1;
    const int n = b.dims + 1;
    double a[m][m + 1] = {};  // normal equations [A^T W A + R | A^T W y], unknowns (v0, slopes)
    float lo = value[nb.i[0]], hi = lo;
    for (int j = 0; j < nb.found; ++j) {
      double row[m];
      row[0] = 1;
      for (int d = 0; d < b.dims; ++d)
        row[d + 1] = double(x[static_cast<std::size_t>(d) * b.n + nb.i[j]]) - q[static_cast<std::size_t>(d)];
      const double w = 1.0 / (double(nb.d2[j]) + 0.25), y = value[nb.i[j]];
      for (int u = 0; u < n; ++u) {
        for (int v = 0; v < n; ++v) a[u][v] += w * row[u] * row[v];
        a[u][n] += w * row[u] * y;
      }
      lo = std::min(lo, value[nb.i[j]]), hi = std::max(hi, value[nb.i[j]]);
    }
    for (int u = 1; u < n; ++u) a[u][u] += plane_ridge;  // damped slopes: a few points in a line do not tilt the plane
    for (int c = 0; c < n; ++c) {                        // Gauss-Jordan with partial pivoting
      int piv = c;
      for (int u = c + 1; u < n; ++u)
        if (std::abs(a[u][c]) > std::abs(a[piv][c])) piv = u;
      if (std::abs(a[piv][c]) < 1e-12) return r;
      if (piv != c)
        for (int v = 0; v <= n; ++v) std::swap(a[c][v], a[piv][v]);
      for (int u = 0; u < n; ++u) {
        if (u == c) continue;
        const double f = a[u][c] / a[c][c];
        for (int v = c; v <= n; ++v) a[u][v] -= f * a[c][v];
      }
    }
    r.value = std::clamp(a[0][n] / a[0][0], double(lo) - 0.7, double(hi) + 0.7);
    return r;
  }

  /// The method that predicts block b's own points better, each left out.
  Interpolation choose(const PointBlock& b) const {
    if (b.dims <= 1 || b.n < 3 * plane_k / 2) return Interpolation::nearest;
    const float* x = x_.data() + b.x;
    const float* value = value_.data() + b.begin;
    double err[2] = {0, 0};
    Neighbours nb;
    for (std::uint32_t i = 0; i < b.n; ++i) {
      Features q{};
      for (int d = 0; d < b.dims; ++d) q[static_cast<std::size_t>(d)] = x[static_cast<std::size_t>(d) * b.n + i];
      nearest(b, q, idw_k, i, nb);
      err[0] += std::abs(std::exp(weighted(b, nb).value - value[i]) - 1);
      nearest(b, q, plane_k, i, nb);
      err[1] += std::abs(std::exp(plane(b, q, nb).value - value[i]) - 1);
    }
    // The plane costs about twice the lookup time: it must be clearly better.
    return err[1] < 0.9 * err[0] ? Interpolation::local_linear : Interpolation::nearest;
  }

  Lookup lookup_ = Lookup::exact;
  std::vector<float> x_, value_, spread_;
  std::vector<float> axes_, nodes_;  ///< tables: node coordinates; (value, spread) per node
  std::vector<Table> tables_;
};

}  // namespace detail
}  // namespace hwcal
