#pragma once
// Straightforward reference definitions of every op, one output element (or
// row) at a time, in double precision, and the one tensor geometry every
// backend sets its benchmarks up with (how copy, transpose and concat lay out
// their bytes, which bounds clamp uses). Kernels are checked by sampling
// outputs and comparing against these, so a check costs the same at any size.
// Layouts: row-major matrices, NCHW activations, [K][C/g][R][S] conv weights,
// [N][K] linear weights, [B][H][S][D] attention tensors ([B][kv_heads][S][D]
// for K and V; query head h reads kv head h / (heads / kv_heads)),
// [tokens][heads][head_dim] rotary inputs with [tokens][head_dim] cos and sin.

#include <hwcal/kernel.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/ops.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

namespace hwcal {
namespace detail {

/// Deterministic values in [lo, hi) so every backend sees the same data.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform(double lo = -1, double hi = 1) noexcept {
    return lo + (hi - lo) * static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0);
  }
  std::int64_t below(std::int64_t n) noexcept {
    return n <= 1 ? 0 : static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n));
  }

 private:
  std::uint64_t state_;
};

template <class T>
void fill_uniform(T* p, std::int64_t n, std::uint64_t seed, double lo = -1, double hi = 1) {
  Rng rng(seed);
  for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(static_cast<float>(rng.uniform(lo, hi)));
}

template <class T>
inline double as_double(const T& v) noexcept {
  return static_cast<double>(static_cast<float>(v));
}
inline double as_double(double v) noexcept { return v; }

}  // namespace detail

namespace reference {

inline double relu(double x) { return x > 0 ? x : 0; }
inline double gelu(double x) {
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}  // exact (erf) form, PyTorch's default
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double silu(double x) { return x * sigmoid(x); }
inline double hardsigmoid(double x) { return std::min(std::max(x / 6.0 + 0.5, 0.0), 1.0); }
inline double hardswish(double x) { return x * hardsigmoid(x); }
inline double clamp_to(double x, double lo, double hi) { return std::min(std::max(x, lo), hi); }

/// The bounds the `clamp` op is benchmarked with (any bounds cost the same).
inline constexpr double clamp_lo = -0.5, clamp_hi = 0.5;

/// Elementwise op on one element; b is ignored by unary ops.
inline double elementwise(OpKind k, double a, double b = 0) {
  switch (k) {
    case OpKind::add: return a + b;
    case OpKind::mul: return a * b;
    case OpKind::div: return a / b;
    case OpKind::relu: return relu(a);
    case OpKind::gelu: return gelu(a);
    case OpKind::silu: return silu(a);
    case OpKind::sigmoid: return sigmoid(a);
    case OpKind::hardswish: return hardswish(a);
    case OpKind::hardsigmoid: return hardsigmoid(a);
    case OpKind::tanh: return std::tanh(a);
    case OpKind::relu6: return clamp_to(a, 0, 6);
    case OpKind::hardtanh: return clamp_to(a, -1, 1);
    case OpKind::clamp: return clamp_to(a, clamp_lo, clamp_hi);
    case OpKind::neg: return -a;
    case OpKind::exp: return std::exp(a);
    case OpKind::square: return a * a;
    case OpKind::sqrt: return std::sqrt(a);
    case OpKind::rsqrt: return 1.0 / std::sqrt(a);
    case OpKind::silu_mul: return silu(a) * b;
    case OpKind::copy: return a;
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

/// C[bi](i, j) of a batched row-major GEMM.
template <class T>
double matmul_at(const T* a, const T* b, const MatmulShape& s, i64 bi, i64 i, i64 j) {
  const T* ab = a + bi * s.m * s.k;
  const T* bb = b + bi * s.k * s.n;
  double acc = 0;
  for (i64 p = 0; p < s.k; ++p) acc += detail::as_double(ab[i * s.k + p]) * detail::as_double(bb[p * s.n + j]);
  return acc;
}

/// y(i, j) = sum_p x(i, p) w(j, p) + bias(j).
template <class T>
double linear_at(const T* x, const T* w, const T* bias, const MatmulShape& s, i64 i, i64 j) {
  double acc = bias ? detail::as_double(bias[j]) : 0.0;
  for (i64 p = 0; p < s.k; ++p) acc += detail::as_double(x[i * s.k + p]) * detail::as_double(w[j * s.k + p]);
  return acc;
}

template <class T>
double conv2d_at(const T* x, const T* w, const T* bias, const Conv2dShape& s, i64 n, i64 k, i64 oh, i64 ow) {
  const i64 cg = s.c / s.groups, kg = s.k / s.groups, g = k / kg;
  double acc = bias ? detail::as_double(bias[k]) : 0.0;
  for (i64 c = 0; c < cg; ++c)
    for (i64 r = 0; r < s.r; ++r) {
      const i64 ih = oh * s.stride_h - s.pad_h + r * s.dil_h;
      if (ih < 0 || ih >= s.h) continue;
      for (i64 q = 0; q < s.s; ++q) {
        const i64 iw = ow * s.stride_w - s.pad_w + q * s.dil_w;
        if (iw < 0 || iw >= s.w) continue;
        const double xv = detail::as_double(x[((n * s.c + g * cg + c) * s.h + ih) * s.w + iw]);
        const double wv = detail::as_double(w[((k * cg + c) * s.r + r) * s.s + q]);
        acc += xv * wv;
      }
    }
  return acc;
}

template <class T>
double maxpool_at(const T* x, const Pool2dShape& s, i64 n, i64 c, i64 oh, i64 ow) {
  double m = -std::numeric_limits<double>::infinity();
  for (i64 r = 0; r < s.r; ++r) {
    const i64 ih = oh * s.stride_h - s.pad_h + r;
    if (ih < 0 || ih >= s.h) continue;
    for (i64 q = 0; q < s.s; ++q) {
      const i64 iw = ow * s.stride_w - s.pad_w + q;
      if (iw < 0 || iw >= s.w) continue;
      m = std::max(m, detail::as_double(x[((n * s.c + c) * s.h + ih) * s.w + iw]));
    }
  }
  return m;
}

/// Average over the window, padding counted in the divisor (PyTorch default).
template <class T>
double avgpool_at(const T* x, const Pool2dShape& s, i64 n, i64 c, i64 oh, i64 ow) {
  double acc = 0;
  for (i64 r = 0; r < s.r; ++r) {
    const i64 ih = oh * s.stride_h - s.pad_h + r;
    if (ih < 0 || ih >= s.h) continue;
    for (i64 q = 0; q < s.s; ++q) {
      const i64 iw = ow * s.stride_w - s.pad_w + q;
      if (iw < 0 || iw >= s.w) continue;
      acc += detail::as_double(x[((n * s.c + c) * s.h + ih) * s.w + iw]);
    }
  }
  return acc / static_cast<double>(s.r * s.s);
}

/// Adaptive average pooling with PyTorch's bin edges: [floor(i*H/O), ceil((i+1)*H/O)).
template <class T>
double adaptive_avgpool_at(const T* x, const AdaptivePoolShape& s, i64 n, i64 c, i64 oh, i64 ow) {
  const i64 h0 = oh * s.h / s.out_h, h1 = ((oh + 1) * s.h + s.out_h - 1) / s.out_h;
  const i64 w0 = ow * s.w / s.out_w, w1 = ((ow + 1) * s.w + s.out_w - 1) / s.out_w;
  double acc = 0;
  for (i64 ih = h0; ih < h1; ++ih)
    for (i64 iw = w0; iw < w1; ++iw) acc += detail::as_double(x[((n * s.c + c) * s.h + ih) * s.w + iw]);
  return acc / static_cast<double>((h1 - h0) * (w1 - w0));
}

/// Inference batchnorm of element (n, c, h, w) at flat NCHW index idx.
template <class T>
double batchnorm_at(const T* x, const T* mean, const T* var, const T* gamma, const T* beta, double eps,
                    const MapShape& s, i64 idx) {
  const i64 c = (idx / (s.h * s.w)) % s.c;
  const double inv = 1.0 / std::sqrt(detail::as_double(var[c]) + eps);
  return (detail::as_double(x[idx]) - detail::as_double(mean[c])) * inv * detail::as_double(gamma[c]) +
         detail::as_double(beta[c]);
}

template <class T>
void softmax_row(const T* x, i64 cols, double* out) {
  double m = -std::numeric_limits<double>::infinity();
  for (i64 j = 0; j < cols; ++j) m = std::max(m, detail::as_double(x[j]));
  double sum = 0;
  for (i64 j = 0; j < cols; ++j) sum += (out[j] = std::exp(detail::as_double(x[j]) - m));
  for (i64 j = 0; j < cols; ++j) out[j] /= sum;
}

template <class T>
void layernorm_row(const T* x, const T* gamma, const T* beta, i64 cols, double eps, double* out) {
  double mean = 0;
  for (i64 j = 0; j < cols; ++j) mean += detail::as_double(x[j]);
  mean /= static_cast<double>(cols);
  double var = 0;
  for (i64 j = 0; j < cols; ++j) {
    const double d = detail::as_double(x[j]) - mean;
    var += d * d;
  }
  var /= static_cast<double>(cols);
  const double inv = 1.0 / std::sqrt(var + eps);
  for (i64 j = 0; j < cols; ++j)
    out[j] = (detail::as_double(x[j]) - mean) * inv * (gamma ? detail::as_double(gamma[j]) : 1.0) +
             (beta ? detail::as_double(beta[j]) : 0.0);
}

/// y = x / sqrt(mean(x^2) + eps) * gamma (LLaMA's RMSNorm).
template <class T>
void rmsnorm_row(const T* x, const T* gamma, i64 cols, double eps, double* out) {
  double ms = 0;
  for (i64 j = 0; j < cols; ++j) ms += detail::as_double(x[j]) * detail::as_double(x[j]);
  const double inv = 1.0 / std::sqrt(ms / static_cast<double>(cols) + eps);
  for (i64 j = 0; j < cols; ++j) out[j] = detail::as_double(x[j]) * inv * (gamma ? detail::as_double(gamma[j]) : 1.0);
}

/// Rotary embedding of element (t, h, j) of x [tokens][heads][head_dim], the
/// rotate-half convention (HF LLaMA): pairs (j, j + d/2) rotated by the
/// angle whose cos/sin are cos[t][j], sin[t][j] (the tables repeat their
/// first half: cos[t][j] == cos[t][j + d/2]).
template <class T>
double rotary_at(const T* x, const T* cos, const T* sin, const RotaryShape& s, i64 t, i64 h, i64 j) {
  const i64 d = s.head_dim, half = d / 2;
  const T* xr = x + (t * s.heads + h) * d;
  const double rot = j < half ? -detail::as_double(xr[j + half]) : detail::as_double(xr[j - half]);
  return detail::as_double(xr[j]) * detail::as_double(cos[t * d + j]) + rot * detail::as_double(sin[t * d + j]);
}

template <class T>
double reduce_mean_row(const T* x, i64 cols) {
  double acc = 0;
  for (i64 j = 0; j < cols; ++j) acc += detail::as_double(x[j]);
  return acc / static_cast<double>(cols);
}

/// Keys query i attends to (keys [0, n)): all of them, or with the causal
/// mask aligned at the end when seq_kv > seq_q (the query block is the last
/// seq_q positions), j < i + 1 + seq_kv - seq_q.
inline i64 visible_keys(const AttentionShape& s, i64 i) noexcept {
  return s.causal ? std::min(s.seq_kv, i + 1 + (s.seq_kv - s.seq_q)) : s.seq_kv;
}

/// Row i of softmax(Q K^T / sqrt(d) [+ causal mask]) for query head (b, h),
/// which reads key head h / (heads / kv_heads): seq_kv values, 0 beyond the mask.
template <class T>
void attention_probabilities_row(const T* q, const T* k, const AttentionShape& s, i64 b, i64 h, i64 i, double* p) {
  const i64 d = s.head_dim, kvh = h / (s.heads / s.kv()), limit = visible_keys(s, i);
  const T* qh = q + ((b * s.heads + h) * s.seq_q + i) * d;
  const T* kh = k + (b * s.kv() + kvh) * s.seq_kv * d;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  double m = -std::numeric_limits<double>::infinity();
  for (i64 j = 0; j < limit; ++j) {
    double acc = 0;
    for (i64 t = 0; t < d; ++t) acc += detail::as_double(qh[t]) * detail::as_double(kh[j * d + t]);
    p[j] = acc * scale;
    m = std::max(m, p[j]);
  }
  double sum = 0;
  for (i64 j = 0; j < limit; ++j) sum += (p[j] = std::exp(p[j] - m));
  for (i64 j = 0; j < s.seq_kv; ++j) p[j] = j < limit ? p[j] / sum : 0.0;
}

/// Row i of softmax(Q K^T / sqrt(d) [+ causal mask]) V for query head (b, h),
/// which reads key/value head h / (heads / kv_heads).
template <class T>
void attention_row(const T* q, const T* k, const T* v, const AttentionShape& s, i64 b, i64 h, i64 i, double* out) {
  const i64 d = s.head_dim, kvh = h / (s.heads / s.kv()), limit = visible_keys(s, i);
  std::vector<double> p(static_cast<std::size_t>(s.seq_kv));
  attention_probabilities_row(q, k, s, b, h, i, p.data());
  const T* vh = v + (b * s.kv() + kvh) * s.seq_kv * d;
  for (i64 t = 0; t < d; ++t) {
    double acc = 0;
    for (i64 j = 0; j < limit; ++j) acc += p[static_cast<std::size_t>(j)] * detail::as_double(vh[j * d + t]);
    out[t] = acc;
  }
}

/// The 2-D tensor every backend moves for copy, transpose and concat: `n`
/// elements as rows x cols, the most square exact factorisation (rows <=
/// cols); when n has no divisor near sqrt(n), floor(sqrt n) rows and n / rows
/// columns (a few elements fewer), so a transpose still moves data.
/// transpose: y[c][r] = x[r][c]; concat: y = [x0; x1; ...] along rows, one
/// contiguous block of `parts[i]` rows per input (torch.cat along dim 0, a KV
/// cache's outer dimension); copy: y = x.
struct MoveGeometry {
  i64 rows = 1, cols = 1;
  std::vector<i64> parts;  ///< concat: rows of each input, in order
  /// transpose and permute: the input is [rows][cols / run][run] and the
  /// output [cols / run][rows][run], runs of `run` elements kept whole (a
  /// transpose moves single elements: run 1)
  i64 run = 1;
  i64 elements() const noexcept { return rows * cols; }
};

inline MoveGeometry move_geometry(i64 bytes, int element_bytes) {
  const i64 n = std::max<i64>(1, bytes / std::max(element_bytes, 1));
  i64 r = static_cast<i64>(std::sqrt(static_cast<double>(n)));
  while (r > 1 && r * r > n) --r;
  const i64 square = r;
  while (r > 1 && n % r != 0) --r;
  if (r * 4 < square) r = square;  // no divisor near the square root
  return {std::max<i64>(r, 1), n / std::max<i64>(r, 1), {}};
}

/// The largest power of two that divides n and is at most cap (at least 1).
inline i64 pow2_divisor(i64 n, i64 cap) noexcept {
  i64 d = 1;
  while (d * 2 <= cap && n % (d * 2) == 0) d *= 2;
  return d;
}

/// The geometry of a copy, transpose, permute or concat. A permute is an
/// attention head merge: [16 heads][tokens][64 elements] to [tokens][16
/// heads][64 elements] (runs of the largest power of two up to 64 that
/// divides the elements, the largest head count up to 16 that divides the
/// rest; at least 2 blocks of rows and 4 runs): what PyTorch's permuted copies
/// cost hardly depends on the run or the group count (an H100, bf16, 4 MB:
/// channel shuffles with runs of 2 B to 6 KB and 2 or 4 groups, and head
/// splits with runs of 64-256 B, all 5.2-6.1 us, against a copy's 2.7 and an
/// element transpose's 18.6; validation/gpu/explore_permute.py). A concat has
/// at least one row per input (fewer columns where the square has fewer rows
/// than inputs); its first input holds the largest input's share of the rows
/// (an even share when `largest` is 0), the others split the rest evenly.
/// PyTorch sizes its concat grid by the largest input, so how uneven the
/// inputs are is part of the shape.
inline MoveGeometry move_geometry(const OpDesc& op, int element_bytes) {
  const BytesShape& s = std::get<BytesShape>(op.shape);
  if (op.kind == OpKind::permute) {
    const i64 n = std::max<i64>(1, s.bytes / std::max(element_bytes, 1));
    const i64 run = pow2_divisor(n, std::max<i64>(1, std::min<i64>(64, n / 4)));
    i64 heads = std::max<i64>(1, std::min<i64>(16, n / run / 2));
    while ((n / run) % heads != 0) --heads;
    return {heads, n / heads, {}, run};
  }
  MoveGeometry g = move_geometry(s.bytes, element_bytes);
  if (op.kind != OpKind::concat) return g;
  const i64 k = std::max<i64>(s.inputs, 1);
  if (g.rows < k) g = {k, std::max<i64>(1, g.elements() / k), {}};
  i64 first = k == 1 ? g.rows : (g.rows + k - 1) / k;
  if (k > 1 && s.largest > 0 && s.bytes > 0)
    first = std::min<i64>(std::max<i64>(std::llround(double(g.rows) * double(s.largest) / double(s.bytes)), first),
                          g.rows - (k - 1));
  g.parts.assign(static_cast<std::size_t>(k), 0);
  g.parts[0] = first;
  const i64 rest = g.rows - first;
  for (i64 i = 1; i < k; ++i) g.parts[static_cast<std::size_t>(i)] = rest / (k - 1) + (i - 1 < rest % (k - 1) ? 1 : 0);
  return g;
}

/// The input element a transpose's or permute's output element o copies
/// (MoveGeometry::run).
inline i64 moved_from(const MoveGeometry& g, i64 o) noexcept {
  const i64 e = o % g.run, r = (o / g.run) % g.rows, j = o / (g.run * g.rows);
  return r * g.cols + j * g.run + e;
}

/// Unit round-off of results at a precision (what the output rounding costs).
inline double unit_roundoff(Precision p) noexcept {
  switch (p) {
    case Precision::fp64: return 1.1e-16;
    case Precision::fp32: return 6e-8;
    case Precision::tf32: return 4.9e-4;
    case Precision::fp16: return 4.9e-4;
    case Precision::bf16: return 3.9e-3;
    case Precision::int8: return 0.0;
    case Precision::fp8: return 6.3e-2;
  }
  return 1e-7;
}

/// Accumulates sampled comparisons: |got - want| <= tol * (1 + |want|), where
/// tol grows with the reduction length like a random-walk rounding error.
class SampledCheck {
 public:
  SampledCheck(Precision p, i64 reduction_len) {
    const double u = unit_roundoff(p);
    // Low precisions accumulate in fp32 on every backend we use; their inputs
    // are already rounded, so the error is output rounding plus fp32 sums.
    const double acc = (p == Precision::fp64) ? u : 6e-8;
    const double len = static_cast<double>(std::max<i64>(reduction_len, 1));
    tol_ = 4 * u + 16 * acc * std::sqrt(len) + (p == Precision::fp64 ? 1e-13 : 1e-6);
    if (p == Precision::int8) tol_ = 1e-6;
  }
  void add(double got, double want, const char* what, i64 where) {
    ++checked_;
    const double err = std::abs(got - want) / (tol_ * (1.0 + std::abs(want)));
    const bool bad = !(err <= 1.0);  // NaN fails too
    if (bad || err > worst_) worst_ = bad && std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
    if (bad && ok_) {
      ok_ = false;
      std::ostringstream os;
      os << what << "[" << where << "]: got " << got << ", want " << want << " (tolerance " << tol_ << ")";
      detail_ = os.str();
    }
  }
  double tolerance() const noexcept { return tol_; }
  bool ok() const noexcept { return ok_; }
  CheckResult result() const {
    CheckResult r;
    r.ok = ok_;
    r.max_error = worst_;
    r.checked = checked_;
    r.detail = detail_;
    return r;
  }

 private:
  double tol_ = 0;
  double worst_ = 0;
  i64 checked_ = 0;
  bool ok_ = true;
  std::string detail_;
};

/// How many outputs to sample per check.
inline constexpr int check_samples = 64;

/// Which outputs (or rows) a check compares: all of them when there are few,
/// else the first, the last and pseudo-random ones in between (the same ones
/// every time).
inline std::vector<i64> sample_indices(i64 n, int count = check_samples) {
  std::vector<i64> idx;
  if (n <= count) {
    for (i64 i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  detail::Rng rng(12345);
  idx.push_back(0);
  idx.push_back(n - 1);
  while (static_cast<int>(idx.size()) < count) idx.push_back(rng.below(n));
  return idx;
}

}  // namespace reference
}  // namespace hwcal
