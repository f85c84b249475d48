#pragma once
// Operation descriptors and the one description of every shape family, which
// the benchmarks, the mapper, the JSON reader and writer and the docs all use,
// so a benchmarked conv and a predicted conv can never count differently.
//
// ShapeTraits<S> describes a family once:
//   fields()     its JSON fields with defaults and minimums (detail/shape_json.hpp reads,
//                writes and lists them with it)
//   check()      validity beyond single fields, naming the field at fault
//   tensors()    the tensors one execution reads and writes: role, dims, element size
//   count()      FLOPs and bytes (bytes = the tensors, each read or written once)
//   features()   the axes its efficiency is interpolated on (log2 of the dims that move it)
//   variant()    sub-families whose curves are kept apart (depthwise vs dense conv, ...)
//   output()     the main output as rows x cols and channels (for folded ops)
//   label()      a short human form ("64x3x224x224 k64 7x7/2")
// Per-kind coefficients (FLOPs per element, parameters per column, arity)
// come from the op table (kinds.hpp).
//
// Counting conventions (docs/schema.md):
//  - FLOPs: 2 per multiply-add. Elementwise ops count the op table's FLOPs per
//    element whatever the function; pooling one per window element; batchnorm
//    2 per element; attention the dense work (QK^T + PV = 4*b*h*sq*skv*d plus 5
//    per score), also when causal.
//  - Bytes: each input and weight read once, each output written once, at the
//    element size of the precision (embedding indices: 8 bytes).
//
// Every count is computed in double; a shape whose tensors exceed 2^50
// elements, or a field above 2^40, is invalid, so nothing overflows.

#include <hwcal/detail/fast_math.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/shapes.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace hwcal {

/// One operation: what it is and its shape.
struct OpDesc {
  OpKind kind = OpKind::matmul;
  Shape shape = MatmulShape{};
};

/// Sub-families of an op whose efficiency curves are kept apart.
enum class Variant : std::uint8_t {
  none,
  dense,
  depthwise,
  grouped,
  unary,
  binary,
  broadcast,
  full,
  causal,
  unary_inplace,
  binary_inplace,
  decode,
  dense_channels_last,
  depthwise_channels_last,
  grouped_channels_last,
};
inline constexpr int variant_count = static_cast<int>(Variant::grouped_channels_last) + 1;

constexpr std::string_view to_string(Variant v) noexcept {
  constexpr std::array<std::string_view, variant_count> names{"",
                                                              "dense",
                                                              "depthwise",
                                                              "grouped",
                                                              "unary",
                                                              "binary",
                                                              "broadcast",
                                                              "full",
                                                              "causal",
                                                              "unary_inplace",
                                                              "binary_inplace",
                                                              "decode",
                                                              "dense_channels_last",
                                                              "depthwise_channels_last",
                                                              "grouped_channels_last"};
  return names[static_cast<std::size_t>(v)];
}

/// The NCHW variant of a channels_last convolution variant, else v: where a
/// profile has no channels_last curve, the NCHW one stands in (flagged).
constexpr Variant nchw_variant(Variant v) noexcept {
  switch (v) {
    case Variant::dense_channels_last: return Variant::dense;
    case Variant::depthwise_channels_last: return Variant::depthwise;
    case Variant::grouped_channels_last: return Variant::grouped;
    default: return v;
  }
}

inline bool parse(std::string_view s, Variant& out) noexcept {
  for (int i = 0; i < variant_count; ++i)
    if (to_string(static_cast<Variant>(i)) == s) {
      out = static_cast<Variant>(i);
      return true;
    }
  return false;
}

/// Trailing features of an op kind that a curve drops when its samples never
/// varied them (constant, or equal to an earlier feature): a concat's inputs
/// x largest and input count, in profiles measured before the concat sweep had
/// uneven inputs, which are then read by their bytes alone, as they were.
constexpr int optional_features(OpKind k) noexcept { return k == OpKind::concat ? 2 : 0; }

/// Most inputs of one concat (DenseNet-264's widest block joins 65).
inline constexpr int max_concat_inputs = 4096;

/// The axes along which an op's efficiency is interpolated: log2 of the shape
/// dimensions that move it. Unused trailing entries are 0.
inline constexpr int max_features = 6;  // a shape's five at most, plus a target's coordinate (mapper.hpp)
using Features = std::array<float, max_features>;

struct FeatureSet {
  Features x{};
  int count = 0;
  /// log2 of a dimension (at least 1): distances between shapes, where a
  /// libm call would cost more than the rest of a cached-curve lookup.
  void push(double v) noexcept {
    x[static_cast<std::size_t>(count++)] = static_cast<float>(detail::fast_log2(std::max(v, 1.0)));
  }
};

/// What a tensor is to the op. Weights are parameters that stay the same
/// from call to call (a forward pass reads them once, from far away).
enum class TensorRole : std::uint8_t { input, weight, output };

struct TensorSpec {
  TensorRole role = TensorRole::input;
  std::string_view name;
  double elements = 0;
  int element_bytes = 0;  ///< 0: the op's precision
};

/// The tensors of one execution (at most 6).
struct TensorList {
  std::array<TensorSpec, 6> t{};
  int count = 0;
  void add(TensorRole r, std::string_view name, double elements, int element_bytes = 0) noexcept {
    t[static_cast<std::size_t>(count++)] = {r, name, elements, element_bytes};
  }
  const TensorSpec* begin() const noexcept { return t.data(); }
  const TensorSpec* end() const noexcept { return t.data() + count; }
};

/// FLOPs and bytes of one execution, and the parts of the bytes in weights and in outputs.
struct Counts {
  double flops = 0, bytes = 0, weight_bytes = 0;
  double output_bytes = 0;  ///< of which written (the outputs)
};

/// A field at fault and why; empty when the shape is fine.
struct ShapeProblem {
  std::string_view field;  ///< JSON field name; empty: the shape as a whole
  std::string reason;
  explicit operator bool() const noexcept { return !reason.empty(); }
};

/// The main output of an op viewed as rows x cols (what a folded activation
/// or softmax acts on) and as an NCHW map (what a folded batchnorm acts on).
struct OutputLayout {
  i64 rows = 1, cols = 1;
  MapShape map{1, 1, 1, 1};
};

/// How a field is bounded below.
enum class FieldMin : std::uint8_t { positive, non_negative };

/// A field's default that is another field's value (a pooling stride
/// defaults to the window, seq_kv to seq_q).
struct SameAs {
  std::string_view field;
  i64 value;
};

namespace detail {
constexpr i64 default_value(SameAs d) noexcept { return d.value; }
template <class T>
constexpr i64 default_value(T d) noexcept {
  return static_cast<i64>(d);
}
}  // namespace detail

/// Largest value of any shape field, and the most elements of any tensor.
inline constexpr double max_field_value = 1099511627776.0;         // 2^40
inline constexpr double max_tensor_elements = 1125899906842624.0;  // 2^50

template <class S>
struct ShapeTraits;

namespace detail {
template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

inline std::string num(i64 v) { return std::to_string(v); }
}  // namespace detail

// ------------------------------------------------------------------ families

template <>
struct ShapeTraits<MatmulShape> {
  using S = MatmulShape;
  template <class V>
  static void fields(V& v, S& s, OpKind k) {
    if (k == OpKind::matmul) v.integer("batch", s.batch, 1);
    v.integer("m", s.m);
    v.integer("n", s.n);
    v.integer("k", s.k);
    v.flag("bias", s.bias, k == OpKind::linear);
  }
  static ShapeProblem check(const S& s, OpKind k) {
    if (k == OpKind::linear && s.batch != 1)
      return {"batch", "a linear has one weight for all rows: put batch x tokens in m"};
    return {};
  }
  template <class Out>
  static void tensors(const S& s, OpKind k, Out& t) {
    const double b = double(s.batch);
    t.add(TensorRole::input, "A", b * double(s.m) * double(s.k));
    // linear: one weight matrix for all rows; matmul: one B per batch entry (an activation)
    if (k == OpKind::linear)
      t.add(TensorRole::weight, "W", double(s.n) * double(s.k));
    else
      t.add(TensorRole::input, "B", b * double(s.k) * double(s.n));
    if (s.bias) t.add(TensorRole::weight, "bias", double(s.n));
    t.add(TensorRole::output, "C", b * double(s.m) * double(s.n));
  }
  static double flops(const S& s, const OpInfo&) {
    const double mn = double(s.batch) * double(s.m) * double(s.n);
    return 2.0 * mn * double(s.k) + (s.bias ? mn : 0.0);
  }
  static void features(const S& s, OpKind k, FeatureSet& f) {
    if (k == OpKind::matmul) f.push(double(s.batch));
    f.push(double(s.m));
    f.push(double(s.n));
    f.push(double(s.k));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) { return {s.batch * s.m, s.n, {s.batch * s.m, s.n, 1, 1}}; }
  static i64 reduction(const S& s) { return s.k; }
  static std::string label(const S& s) {
    using detail::num;
    const std::string mnk = num(s.m) + "x" + num(s.n) + "x" + num(s.k);
    return s.batch > 1 ? num(s.batch) + "x(" + mnk + ")" : mnk;
  }
};

template <>
struct ShapeTraits<Conv2dShape> {
  using S = Conv2dShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("n", s.n);
    v.integer("c", s.c);
    v.integer("h", s.h);
    v.integer("w", s.w);
    v.integer("k", s.k);
    v.integer("r", s.r);
    v.integer("s", s.s);
    v.pair("stride", s.stride_h, s.stride_w, 1, 1);
    v.pair("padding", s.pad_h, s.pad_w, 0, 0, FieldMin::non_negative);
    v.pair("dilation", s.dil_h, s.dil_w, 1, 1);
    v.integer("groups", s.groups, 1);
    v.flag("bias", s.bias, true);
    v.flag("channels_last", s.channels_last, false);
  }
  static ShapeProblem check(const S& s, OpKind) {
    if (s.c % s.groups != 0 || s.k % s.groups != 0) return {"groups", "groups must divide both c and k"};
    // in double: dil * (r - 1) may not fit an integer before this check
    if (double(s.dil_h) * double(s.r - 1) >= double(s.h) + 2.0 * double(s.pad_h) ||
        double(s.dil_w) * double(s.s - 1) >= double(s.w) + 2.0 * double(s.pad_w))
      return {"r", "kernel larger than the padded input"};
    return {};
  }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    t.add(TensorRole::input, "x", double(s.n) * double(s.c) * double(s.h) * double(s.w));
    t.add(TensorRole::weight, "w", double(s.k) * double(s.c / s.groups) * double(s.r) * double(s.s));
    if (s.bias) t.add(TensorRole::weight, "bias", double(s.k));
    t.add(TensorRole::output, "y", double(s.n) * double(s.k) * double(s.out_h()) * double(s.out_w()));
  }
  static double flops(const S& s, const OpInfo&) {
    const double outputs = double(s.n) * double(s.k) * double(s.out_h()) * double(s.out_w());
    return 2.0 * outputs * double(s.c / s.groups) * double(s.r) * double(s.s) + (s.bias ? outputs : 0.0);
  }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.n) * double(s.out_h()) * double(s.out_w()));
    f.push(double(s.c / s.groups));
    // All of K, not K/groups: the group count multiplies the work while the time barely moves
    // (H100, PyTorch, bf16, 3x3/2, 8 channels a group, 784 output pixels: 13.7 us at 8 groups,
    // 11.0 us at 32), so it must move the point; with C/groups beside it, K carries it.
    // Dense: K/groups = K.
    f.push(double(s.groups == s.c ? s.c : s.k));
    f.push(double(s.r) * double(s.s));
    f.push(double(s.stride_h) * double(s.stride_w));
  }
  static Variant variant(const S& s, OpKind) {
    if (s.groups == 1) return s.channels_last ? Variant::dense_channels_last : Variant::dense;
    if (s.groups == s.c) return s.channels_last ? Variant::depthwise_channels_last : Variant::depthwise;
    return s.channels_last ? Variant::grouped_channels_last : Variant::grouped;
  }
  static OutputLayout output(const S& s) {
    return {s.n * s.k, s.out_h() * s.out_w(), {s.n, s.k, s.out_h(), s.out_w()}};
  }
  static i64 reduction(const S& s) { return (s.c / s.groups) * s.r * s.s; }
  static std::string label(const S& s) {
    using detail::num;
    std::string t =
        num(s.n) + "x" + num(s.c) + "x" + num(s.h) + "x" + num(s.w) + " k" + num(s.k) + " " + num(s.r) + "x" + num(s.s);
    if (s.stride_h != 1 || s.stride_w != 1) t += "/" + num(s.stride_h);
    if (s.groups != 1) t += " g" + num(s.groups);
    if (s.channels_last) t += " nhwc";
    return t;
  }
};

template <>
struct ShapeTraits<Pool2dShape> {
  using S = Pool2dShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("n", s.n);
    v.integer("c", s.c);
    v.integer("h", s.h);
    v.integer("w", s.w);
    v.integer("r", s.r);
    v.integer("s", s.s, SameAs{"r", s.r});
    v.pair("stride", s.stride_h, s.stride_w, SameAs{"r", s.r}, SameAs{"s", s.s});  // PyTorch: the stride is the window
    v.pair("padding", s.pad_h, s.pad_w, 0, 0, FieldMin::non_negative);
  }
  static ShapeProblem check(const S& s, OpKind) {
    if (2 * s.pad_h > s.r || 2 * s.pad_w > s.s) return {"padding", "padding must be at most half the window"};
    if (s.r > s.h + 2 * s.pad_h || s.s > s.w + 2 * s.pad_w) return {"r", "window larger than the padded input"};
    return {};
  }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    const double nc = double(s.n) * double(s.c);
    t.add(TensorRole::input, "x", nc * double(s.h) * double(s.w));
    t.add(TensorRole::output, "y", nc * double(s.out_h()) * double(s.out_w()));
  }
  static double flops(const S& s, const OpInfo&) {
    return double(s.n) * double(s.c) * double(s.out_h()) * double(s.out_w()) * double(s.r) * double(s.s);
  }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.n) * double(s.c));
    f.push(double(s.out_h()) * double(s.out_w()));
    f.push(double(s.r) * double(s.s));
    f.push(double(s.stride_h) * double(s.stride_w));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) {
    return {s.n * s.c, s.out_h() * s.out_w(), {s.n, s.c, s.out_h(), s.out_w()}};
  }
  static i64 reduction(const S& s) { return s.r * s.s; }
  static std::string label(const S& s) {
    using detail::num;
    return num(s.n) + "x" + num(s.c) + "x" + num(s.h) + "x" + num(s.w) + " " + num(s.r) + "x" + num(s.s) + "/" +
           num(s.stride_h);
  }
};

template <>
struct ShapeTraits<AdaptivePoolShape> {
  using S = AdaptivePoolShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("n", s.n);
    v.integer("c", s.c);
    v.integer("h", s.h);
    v.integer("w", s.w);
    v.integer("out_h", s.out_h, 1);
    v.integer("out_w", s.out_w, SameAs{"out_h", s.out_h});
  }
  static ShapeProblem check(const S&, OpKind) { return {}; }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    const double nc = double(s.n) * double(s.c);
    t.add(TensorRole::input, "x", nc * double(s.h) * double(s.w));
    t.add(TensorRole::output, "y", nc * double(s.out_h) * double(s.out_w));
  }
  static double flops(const S& s, const OpInfo&) {
    return double(s.n) * double(s.c) * (double(s.h) * double(s.w) + double(s.out_h) * double(s.out_w));
  }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.n) * double(s.c));
    f.push(double(s.h) * double(s.w));
    f.push(double(s.out_h) * double(s.out_w));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) { return {s.n * s.c, s.out_h * s.out_w, {s.n, s.c, s.out_h, s.out_w}}; }
  static i64 reduction(const S& s) { return (s.h + s.out_h - 1) / s.out_h * ((s.w + s.out_w - 1) / s.out_w); }
  static std::string label(const S& s) {
    using detail::num;
    return num(s.n) + "x" + num(s.c) + "x" + num(s.h) + "x" + num(s.w) + "->" + num(s.out_h) + "x" + num(s.out_w);
  }
};

template <>
struct ShapeTraits<MapShape> {
  using S = MapShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("n", s.n);
    v.integer("c", s.c);
    v.integer("h", s.h, 1);
    v.integer("w", s.w, 1);
  }
  static ShapeProblem check(const S&, OpKind) { return {}; }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    const double x = double(s.n) * double(s.c) * double(s.h) * double(s.w);
    t.add(TensorRole::input, "x", x);
    t.add(TensorRole::weight, "mean, var, gamma, beta", 4.0 * double(s.c));
    t.add(TensorRole::output, "y", x);
  }
  static double flops(const S& s, const OpInfo& o) {
    return o.flops_per_element * double(s.n) * double(s.c) * double(s.h) * double(s.w);
  }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.n) * double(s.c));
    f.push(double(s.h) * double(s.w));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) { return {s.n * s.c, s.h * s.w, s}; }
  static i64 reduction(const S&) { return 1; }
  static std::string label(const S& s) {
    using detail::num;
    return num(s.n) + "x" + num(s.c) + "x" + num(s.h) + "x" + num(s.w);
  }
};

template <>
struct ShapeTraits<RowsShape> {
  using S = RowsShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("rows", s.rows);
    v.integer("cols", s.cols);
  }
  static ShapeProblem check(const S&, OpKind) { return {}; }
  template <class Out>
  static void tensors(const S& s, OpKind k, Out& t) {
    const OpInfo& o = info(k);
    const double x = double(s.rows) * double(s.cols);
    t.add(TensorRole::input, "x", x);
    if (o.params_per_col) t.add(TensorRole::weight, "gamma, beta", double(o.params_per_col) * double(s.cols));
    t.add(TensorRole::output, "y", o.reduces ? double(s.rows) : x);
  }
  static double flops(const S& s, const OpInfo& o) { return o.flops_per_element * double(s.rows) * double(s.cols); }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.rows));
    f.push(double(s.cols));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) { return {s.rows, s.cols, {s.rows, s.cols, 1, 1}}; }
  static i64 reduction(const S& s) { return s.cols; }
  static std::string label(const S& s) { return detail::num(s.rows) + "x" + detail::num(s.cols); }
};

template <>
struct ShapeTraits<ElementwiseShape> {
  using S = ElementwiseShape;
  template <class V>
  static void fields(V& v, S& s, OpKind k) {
    v.integer("elements", s.elements);
    v.small_integer("inputs", s.inputs, info(k).inputs);
    if (info(k).broadcast) v.integer("broadcast", s.broadcast, 0, FieldMin::non_negative);
    if (info(k).inplace) v.flag("inplace", s.inplace, false);
  }
  static ShapeProblem check(const S& s, OpKind k) {
    const OpInfo& o = info(k);
    if (s.inputs != o.inputs)
      return {"inputs",
              std::string(o.name) + " takes " + std::to_string(int(o.inputs)) + " input" + (o.inputs == 1 ? "" : "s")};
    if (s.broadcast > 0 && !o.broadcast) return {"broadcast", std::string(o.name) + " has no broadcast input"};
    if (s.broadcast > s.elements) return {"broadcast", "broadcast must be between 0 and elements"};
    if (s.broadcast > 0 && s.elements % s.broadcast != 0) return {"broadcast", "broadcast must divide elements"};
    if (s.inplace && !o.inplace) return {"inplace", std::string(o.name) + " does not run in place"};
    return {};
  }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    const double n = double(s.elements);
    t.add(TensorRole::input, "a", n);
    if (s.inputs >= 2) t.add(TensorRole::input, "b", s.broadcast > 0 ? double(s.broadcast) : n);
    t.add(TensorRole::output, "y", n);
  }
  static double flops(const S& s, const OpInfo& o) { return o.flops_per_element * double(s.elements); }
  static void features(const S& s, OpKind, FeatureSet& f) { f.push(double(s.elements)); }
  static Variant variant(const S& s, OpKind) {
    if (s.inputs < 2) return s.inplace ? Variant::unary_inplace : Variant::unary;
    if (s.broadcast > 0 && s.broadcast < s.elements) return Variant::broadcast;
    return s.inplace ? Variant::binary_inplace : Variant::binary;
  }
  static OutputLayout output(const S& s) { return {s.elements, 1, {s.elements, 1, 1, 1}}; }
  static i64 reduction(const S&) { return 1; }
  static std::string label(const S& s) {
    std::string t = detail::num(s.elements);
    if (s.inputs == 2) t += s.broadcast > 0 ? " (+" + detail::num(s.broadcast) + " bcast)" : " x2";
    return s.inplace ? t + " in place" : t;
  }
};

template <>
struct ShapeTraits<AttentionShape> {
  using S = AttentionShape;
  /// Query lengths at most this are decode steps (one or a few new tokens
  /// against a KV cache): memory-bound split-KV kernels, their own curve.
  static constexpr i64 decode_max_seq_q = 16;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("batch", s.batch, 1);
    v.integer("heads", s.heads, 1);
    // 0, the struct default, means kv_heads == heads: valid, and written as heads
    v.integer("kv_heads", s.kv_heads, SameAs{"heads", s.heads}, FieldMin::non_negative);
    v.integer("seq_q", s.seq_q);
    v.integer("seq_kv", s.seq_kv, SameAs{"seq_q", s.seq_q});
    v.integer("head_dim", s.head_dim);
    v.flag("causal", s.causal, false);
  }
  static ShapeProblem check(const S& s, OpKind) {
    if (s.kv_heads < 0 || s.heads % s.kv() != 0) return {"kv_heads", "kv_heads must divide heads"};
    return {};
  }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    const double q = double(s.batch) * double(s.heads) * double(s.seq_q) * double(s.head_dim);
    const double kv = double(s.batch) * double(s.kv()) * double(s.seq_kv) * double(s.head_dim);
    t.add(TensorRole::input, "Q", q);
    t.add(TensorRole::input, "K", kv);
    t.add(TensorRole::input, "V", kv);
    t.add(TensorRole::output, "O", q);
  }
  static double flops(const S& s, const OpInfo&) {
    const double scores = double(s.batch) * double(s.heads) * double(s.seq_q) * double(s.seq_kv);
    return 4.0 * scores * double(s.head_dim) + 5.0 * scores;
  }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.batch) * double(s.heads));
    f.push(double(s.seq_q));
    f.push(double(s.seq_kv));
    f.push(double(s.head_dim));
    f.push(double(s.heads / s.kv()));
  }
  static Variant variant(const S& s, OpKind) {
    if (s.seq_q <= decode_max_seq_q && s.seq_kv > s.seq_q) return Variant::decode;
    return s.causal ? Variant::causal : Variant::full;
  }
  static OutputLayout output(const S& s) {
    return {s.batch * s.heads * s.seq_q, s.head_dim, {s.batch * s.seq_q, s.heads * s.head_dim, 1, 1}};
  }
  static i64 reduction(const S& s) { return std::max(s.head_dim, s.seq_kv); }
  static std::string label(const S& s) {
    using detail::num;
    std::string t = num(s.batch) + "x" + num(s.heads);
    if (s.kv() != s.heads) t += "/" + num(s.kv());
    return t + " q" + num(s.seq_q) + " kv" + num(s.seq_kv) + " d" + num(s.head_dim) + (s.causal ? " causal" : "");
  }
};

template <>
struct ShapeTraits<BytesShape> {
  using S = BytesShape;
  template <class V>
  static void fields(V& v, S& s, OpKind k) {
    v.integer("bytes", s.bytes);
    if (k != OpKind::concat) return;
    v.integer("inputs", s.inputs, 2);
    v.integer("largest", s.largest, 0, FieldMin::non_negative);
  }
  static ShapeProblem check(const S& s, OpKind k) {
    if (k != OpKind::concat) return {};
    if (s.inputs < 1 || s.inputs > max_concat_inputs)
      return {"inputs", "a concat joins 1 to " + std::to_string(max_concat_inputs) + " inputs"};
    if (s.largest > s.bytes) return {"largest", "the largest input cannot hold more than the output's bytes"};
    if (s.largest > 0 && s.largest * s.inputs < s.bytes)
      return {"largest", "the largest input holds at least bytes / inputs"};
    return {};
  }
  template <class Out>
  static void tensors(const S& s, OpKind k, Out& t) {
    const double b = double(s.bytes);
    if (k == OpKind::concat) {
      // the largest input, then the others (one tensor for all: their sizes
      // are what the counts need)
      const double first = s.inputs == 1 ? b : std::min(b, double(s.largest_bytes()));
      t.add(TensorRole::input, "x0", first, 1);
      if (s.inputs > 1) t.add(TensorRole::input, "x1", b - first, 1);
    } else {
      t.add(TensorRole::input, "x", b, 1);
    }
    t.add(TensorRole::output, "y", b, 1);
  }
  static double flops(const S&, const OpInfo&) { return 0; }
  /// A concat's second feature is the bytes of `inputs` tensors each as large
  /// as the largest: PyTorch's concat kernel gives every input the blocks the
  /// largest needs, so a concat of one large and many small inputs costs like
  /// that (H100, bf16, 1.6 MB + 31 x 100 KB: 16.2 us; 32 x 245 KB: 2.3 us).
  /// Its third is the input count: at the same second feature, two inputs
  /// cost less than many (16 MB: a KV cache's append 1.06x the even pair's
  /// time, 4 inputs of which one holds half 1.42x).
  static void features(const S& s, OpKind k, FeatureSet& f) {
    f.push(double(s.bytes));
    if (k != OpKind::concat) return;
    f.push(double(s.inputs) * double(s.largest_bytes()));
    f.push(double(s.inputs));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) {
    const i64 words = std::max<i64>(1, s.bytes / 4);  // fp32 elements
    return {words, 1, {words, 1, 1, 1}};
  }
  static i64 reduction(const S&) { return 1; }
  static std::string label(const S& s) {
    std::string t = detail::num(s.bytes) + " B";
    if (s.inputs != 2) t += ", " + detail::num(s.inputs) + " inputs";
    return s.largest > 0 ? t + " (largest " + detail::num(s.largest) + " B)" : t;
  }
};

template <>
struct ShapeTraits<RotaryShape> {
  using S = RotaryShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("tokens", s.tokens);
    v.integer("heads", s.heads, 1);
    v.integer("head_dim", s.head_dim);
  }
  static ShapeProblem check(const S& s, OpKind) {
    if (s.head_dim % 2 != 0) return {"head_dim", "rotary embedding rotates pairs: head_dim must be even"};
    return {};
  }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    const double x = double(s.tokens) * double(s.heads) * double(s.head_dim);
    t.add(TensorRole::input, "x", x);
    t.add(TensorRole::input, "cos, sin", 2.0 * double(s.tokens) * double(s.head_dim));
    t.add(TensorRole::output, "y", x);
  }
  static double flops(const S& s, const OpInfo& o) {
    return o.flops_per_element * double(s.tokens) * double(s.heads) * double(s.head_dim);
  }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.tokens) * double(s.heads));
    f.push(double(s.head_dim));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) {
    return {s.tokens, s.heads * s.head_dim, {s.tokens, s.heads * s.head_dim, 1, 1}};
  }
  static i64 reduction(const S&) { return 2; }
  static std::string label(const S& s) {
    using detail::num;
    return num(s.tokens) + "x" + num(s.heads) + "x" + num(s.head_dim);
  }
};

template <>
struct ShapeTraits<EmbeddingShape> {
  using S = EmbeddingShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("tokens", s.tokens);
    v.integer("vocab", s.vocab);
    v.integer("dim", s.dim);
  }
  static ShapeProblem check(const S&, OpKind) { return {}; }
  template <class Out>
  static void tensors(const S& s, OpKind, Out& t) {
    const double rows = double(s.tokens) * double(s.dim);
    t.add(TensorRole::input, "indices", double(s.tokens), 8);
    // only the gathered rows of the table are read
    t.add(TensorRole::weight, "table rows", rows);
    t.add(TensorRole::output, "y", rows);
  }
  static double flops(const S&, const OpInfo&) { return 0; }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.tokens));
    f.push(double(s.dim));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) { return {s.tokens, s.dim, {s.tokens, s.dim, 1, 1}}; }
  static i64 reduction(const S&) { return 1; }
  static std::string label(const S& s) {
    using detail::num;
    return num(s.tokens) + " of " + num(s.vocab) + "x" + num(s.dim);
  }
};

/// Bus bandwidth of a collective as nccl-tests reports it: the algorithm
/// bandwidth (bytes / time) times the share of the message each GPU's
/// busiest link carries in a bandwidth-optimal algorithm, so that one number,
/// comparable with the link speed, describes every collective and GPU count.
/// all_reduce: reduce-scatter then all-gather, each GPU sends (n-1)/n of the
/// buffer twice: 2(n-1)/n. all_gather, reduce_scatter, all_to_all: each GPU
/// sends or receives every piece but its own: (n-1)/n. broadcast, send_recv:
/// the message crosses each link once: 1.
constexpr double collective_bus_factor(OpKind k, i64 gpus) noexcept {
  const double n = double(gpus < 1 ? 1 : gpus);
  switch (k) {
    case OpKind::all_reduce: return 2 * (n - 1) / n;
    case OpKind::all_gather:
    case OpKind::reduce_scatter:
    case OpKind::all_to_all: return (n - 1) / n;
    default: return 1;
  }
}

template <>
struct ShapeTraits<CollectiveShape> {
  using S = CollectiveShape;
  template <class V>
  static void fields(V& v, S& s, OpKind) {
    v.integer("bytes", s.bytes);
    v.integer("gpus", s.gpus);
  }
  static ShapeProblem check(const S& s, OpKind k) {
    if (s.gpus < 2) return {"gpus", "a collective needs at least 2 GPUs"};
    if ((k == OpKind::all_gather || k == OpKind::reduce_scatter || k == OpKind::all_to_all) && s.bytes % s.gpus != 0)
      return {"bytes", std::string(to_string(k)) +
                           " splits the message into gpus equal pieces: bytes must be a multiple of gpus"};
    return {};
  }
  /// Per GPU: what it sends from and receives into.
  template <class Out>
  static void tensors(const S& s, OpKind k, Out& t) {
    const double b = double(s.bytes), piece = b / double(s.gpus);
    t.add(TensorRole::input, "send", k == OpKind::all_gather ? piece : b, 1);
    t.add(TensorRole::output, "receive", k == OpKind::reduce_scatter ? piece : b, 1);
  }
  static double flops(const S&, const OpInfo&) { return 0; }
  static void features(const S& s, OpKind, FeatureSet& f) {
    f.push(double(s.bytes));
    f.push(double(s.gpus));
  }
  static Variant variant(const S&, OpKind) { return Variant::none; }
  static OutputLayout output(const S& s) {
    const i64 words = std::max<i64>(1, s.bytes / 4);
    return {words, 1, {words, 1, 1, 1}};
  }
  static i64 reduction(const S& s) { return s.gpus; }
  static std::string label(const S& s) { return detail::num(s.bytes) + " B on " + detail::num(s.gpus) + " GPUs"; }
};

// ------------------------------------------------------------------ per op

/// The shape an op kind takes, default-initialised (the reader fills it).
inline Shape default_shape(OpKind k) noexcept {
  switch (info(k).family) {
    case ShapeFamily::matmul: return MatmulShape{};
    case ShapeFamily::conv2d: return Conv2dShape{};
    case ShapeFamily::pool2d: return Pool2dShape{};
    case ShapeFamily::adaptive_pool: return AdaptivePoolShape{};
    case ShapeFamily::map: return MapShape{};
    case ShapeFamily::rows: return RowsShape{};
    case ShapeFamily::elementwise: return ElementwiseShape{};
    case ShapeFamily::attention: return AttentionShape{};
    case ShapeFamily::bytes: return BytesShape{};
    case ShapeFamily::rotary: return RotaryShape{};
    case ShapeFamily::embedding: return EmbeddingShape{};
    case ShapeFamily::collective: return CollectiveShape{};
  }
  return MatmulShape{};
}

inline bool shape_matches(const OpDesc& op) noexcept {
  return op.shape.index() == static_cast<std::size_t>(info(op.kind).family);
}

/// Calls f(traits, shape) with the family traits of the op's shape.
template <class F>
decltype(auto) visit_shape(const OpDesc& op, F&& f) {
  return std::visit([&](const auto& s) -> decltype(auto) { return f(ShapeTraits<std::decay_t<decltype(s)>>{}, s); },
                    op.shape);
}

/// The tensors one execution reads and writes.
inline TensorList tensors(const OpDesc& op) noexcept {
  TensorList t;
  visit_shape(op, [&](auto tr, const auto& s) { tr.tensors(s, op.kind, t); });
  return t;
}

namespace detail {
/// Sums the tensors of ShapeTraits::tensors() into bytes as they are listed
/// (the mapper counts every estimate: no TensorList to fill and read back).
struct ByteCounter {
  Counts& c;
  double element_bytes;
  void add(TensorRole r, std::string_view, double elements, int own_bytes = 0) noexcept {
    const double b = elements * (own_bytes ? own_bytes : element_bytes);
    c.bytes += b;
    if (r == TensorRole::weight) c.weight_bytes += b;
    if (r == TensorRole::output) c.output_bytes += b;
  }
};
}  // namespace detail

/// FLOPs, bytes, weight and output bytes at precision p, in one pass (one
/// tally for counts() and analyze()).
template <class S>
Counts counts(OpKind k, const S& s, Precision p) noexcept {
  Counts c;
  c.flops = ShapeTraits<S>::flops(s, info(k));
  detail::ByteCounter bytes{c, double(element_bytes(p))};
  ShapeTraits<S>::tensors(s, k, bytes);
  return c;
}

inline Counts counts(const OpDesc& op, Precision p) noexcept {
  return std::visit([&](const auto& s) { return counts(op.kind, s, p); }, op.shape);
}

/// Everything the mapper needs of an op, in one pass over its shape.
struct OpAnalysis {
  Counts counts;
  FeatureSet features;
  Variant variant = Variant::none;
};

/// analyze() of a shape of a family known where it is called (no visit).
template <class S>
OpAnalysis analyze(OpKind k, const S& s, Precision p) noexcept {
  OpAnalysis a;
  a.counts = counts(k, s, p);
  ShapeTraits<S>::features(s, k, a.features);
  a.variant = ShapeTraits<S>::variant(s, k);
  return a;
}

inline OpAnalysis analyze(const OpDesc& op, Precision p) noexcept {
  return std::visit([&](const auto& s) { return analyze(op.kind, s, p); }, op.shape);
}

/// Floating-point (or integer) operations of one execution, 2 per multiply-add.
inline double flops(const OpDesc& op) noexcept {
  return visit_shape(op, [&](auto tr, const auto& s) { return tr.flops(s, info(op.kind)); });
}

/// Bytes moved by one execution at precision p.
inline double bytes(const OpDesc& op, Precision p) noexcept { return counts(op, p).bytes; }

/// The work an op's throughput is measured against: FLOPs or bytes.
inline double work(const OpDesc& op, Precision p) noexcept { return is_compute_op(op.kind) ? flops(op) : bytes(op, p); }

inline FeatureSet features(const OpDesc& op) noexcept {
  FeatureSet f;
  visit_shape(op, [&](auto tr, const auto& s) { tr.features(s, op.kind, f); });
  return f;
}

inline Variant variant_of(const OpDesc& op) noexcept {
  return visit_shape(op, [&](auto tr, const auto& s) { return tr.variant(s, op.kind); });
}

inline OutputLayout output_layout(const OpDesc& op) noexcept {
  return visit_shape(op, [&](auto tr, const auto& s) { return tr.output(s); });
}

/// Longest reduction an output element accumulates over (numerical
/// tolerances of the correctness checks).
inline i64 reduction_length(const OpDesc& op) noexcept {
  return visit_shape(op, [&](auto tr, const auto& s) { return tr.reduction(s); });
}

/// A short human-readable form, e.g. "64x3x224x224 k64 7x7/2".
inline std::string shape_label(const OpDesc& op) {
  return visit_shape(op, [&](auto tr, const auto& s) { return tr.label(s); });
}

namespace detail {
/// Checks every field against its minimum and the global maximum.
struct FieldRangeCheck {
  ShapeProblem problem;
  void check(std::string_view name, double v, FieldMin min) {
    if (problem) return;
    if (min == FieldMin::positive && v < 1)
      problem = {name, "must be a positive integer, got " + std::to_string(static_cast<long long>(v))};
    else if (v < 0)
      problem = {name, "must not be negative, got " + std::to_string(static_cast<long long>(v))};
    else if (v > max_field_value)
      problem = {name, "is larger than 2^40, the most hwcal accepts"};
  }
  template <class T>
  void integer(std::string_view name, T& v, FieldMin min = FieldMin::positive) {
    check(name, double(v), min);
  }
  template <class T, class D>
  void integer(std::string_view name, T& v, D, FieldMin min = FieldMin::positive) {
    check(name, double(v), min);
  }
  template <class T, class D>
  void small_integer(std::string_view name, T& v, D) {
    check(name, double(v), FieldMin::positive);
  }
  template <class D, class E>
  void pair(std::string_view name, i64& h, i64& w, D, E, FieldMin min = FieldMin::positive) {
    check(name, double(h), min);
    check(name, double(w), min);
  }
  void flag(std::string_view, bool&, bool) {}
};
}  // namespace detail

/// A convolution on channels_last (NHWC) tensors: backends that only have
/// NCHW convolutions refuse it (nchw_only) rather than time another layout.
inline bool is_channels_last(const OpDesc& op) noexcept {
  const auto* s = std::get_if<Conv2dShape>(&op.shape);
  return s && s->channels_last;
}
inline constexpr std::string_view nchw_only =
    "channels_last (NHWC) convolutions: this backend runs NCHW convolutions only (the cuda backend runs both)";

/// What is wrong with a shape (the field at fault, when one is), or empty.
/// Used by the workload and profile readers and by benchmarks before
/// allocating.
inline ShapeProblem check_shape(const OpDesc& op) {
  if (!shape_matches(op)) return {{}, "shape does not match the op"};
  return visit_shape(op, [&](auto tr, const auto& s) -> ShapeProblem {
    detail::FieldRangeCheck range;
    auto copy = s;
    tr.fields(range, copy, op.kind);
    if (range.problem) return std::move(range.problem);
    if (ShapeProblem p = tr.check(s, op.kind)) return p;
    TensorList t;
    tr.tensors(s, op.kind, t);
    for (const TensorSpec& x : t)
      if (x.elements > max_tensor_elements)
        return {{}, "tensor '" + std::string(x.name) + "' would have more than 2^50 elements"};
    return {};
  });
}

/// Why a shape is invalid, or empty when it is fine.
inline std::string invalid_reason(const OpDesc& op) {
  const ShapeProblem p = check_shape(op);
  if (!p) return {};
  return p.field.empty() ? p.reason : std::string(p.field) + ": " + p.reason;
}

/// The equivalent GEMM of an op (implicit-GEMM view of a convolution, the two
/// products of attention, matmul <-> linear), for ops without a curve of their
/// own. False when there is none.
inline bool equivalent_gemm(const OpDesc& op, OpDesc& out) noexcept {
  if (const auto* c = std::get_if<Conv2dShape>(&op.shape)) {
    out = {OpKind::matmul, MatmulShape{c->groups, c->k / c->groups, c->n * c->out_h() * c->out_w(),
                                       (c->c / c->groups) * c->r * c->s, false}};
    return true;
  }
  if (const auto* a = std::get_if<AttentionShape>(&op.shape)) {
    out = {OpKind::matmul, MatmulShape{2 * a->batch * a->heads, a->seq_q, a->seq_kv, a->head_dim, false}};
    return true;
  }
  if (const auto* m = std::get_if<MatmulShape>(&op.shape)) {
    if (op.kind == OpKind::linear) {
      out = {OpKind::matmul, MatmulShape{1, m->m, m->n, m->k, false}};
      return true;
    }
    if (m->batch != 1) return false;
    out = {OpKind::linear, MatmulShape{1, m->m, m->n, m->k, false}};
    return true;
  }
  return false;
}

/// Memory traffic of a fusion pattern: fused, the anchor op reads its inputs
/// and writes the final output once; unfused, every op after the first is a
/// separate pass that reads the intermediate and writes it back (plus its own
/// parameters).
inline double fusion_bytes(FusionPattern f, const OpDesc& anchor, Precision p, bool fused) noexcept {
  const double e = element_bytes(p);
  if (f == FusionPattern::qkt_softmax || f == FusionPattern::attention) {
    const auto& s = std::get<AttentionShape>(anchor.shape);
    const double bh = double(s.batch) * double(s.heads);
    const double qk = bh * (double(s.seq_q) + double(s.seq_kv)) * double(s.head_dim) * e;  // read Q and K
    const double scores = bh * double(s.seq_q) * double(s.seq_kv) * e;
    const double v_o = bh * (double(s.seq_kv) + double(s.seq_q)) * double(s.head_dim) * e;  // read V, write O
    if (f == FusionPattern::qkt_softmax) return fused ? qk + scores : qk + 3 * scores;  // S written, read, P written
    return fused ? qk + v_o : qk + 4 * scores + v_o;                                    // S w/r, P w/r
  }
  const double anchor_bytes = bytes(anchor, p);
  if (fused) return anchor_bytes;
  const OutputLayout o = output_layout(anchor);
  const double out = double(o.rows) * double(o.cols) * e, channels = double(o.map.c);
  switch (f) {
    case FusionPattern::linear_bias: return anchor_bytes + 2 * out + channels * e;
    case FusionPattern::linear_bias_relu:
    case FusionPattern::linear_bias_gelu: return anchor_bytes + 4 * out + channels * e;
    case FusionPattern::conv_relu: return anchor_bytes + 2 * out;
    case FusionPattern::conv_bn: return anchor_bytes + 2 * out + 4 * channels * e;
    case FusionPattern::conv_bn_relu: return anchor_bytes + 4 * out + 4 * channels * e;
    default: return anchor_bytes;
  }
}

}  // namespace hwcal
