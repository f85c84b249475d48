#pragma once
// Shape fields <-> JSON, shared by profiles (each sample records its shape) and
// workload files, so both spell a conv the same way. Field names and defaults
// follow the workload format (docs/workload.md); defaults follow PyTorch's
// module defaults (conv and linear have a bias, pooling stride = window).

#include <hwcal/detail/json_reader.hpp>
#include <hwcal/ops.hpp>

#include <nlohmann/json.hpp>

namespace hwcal {
namespace detail {

/// Reads an int or an [h, w] pair.
inline void read_pair(const JsonReader& obj, std::string_view key, i64 def, i64& h, i64& w) {
  auto r = obj.find(key);
  if (!r) {
    h = w = def;
    return;
  }
  if (r->json().is_array()) {
    if (r->size() != 2) r->fail("expected an integer or a pair [h, w]");
    h = r->at(std::size_t{0}).integer();
    w = r->at(std::size_t{1}).integer();
  } else {
    h = w = r->integer();
  }
}

inline nlohmann::json pair_json(i64 h, i64 w) { return h == w ? nlohmann::json(h) : nlohmann::json::array({h, w}); }

/// Parses the shape fields of `kind` from the object `obj`. Type errors name
/// the field; shape validity (positivity, divisibility, a kernel larger than
/// its input) involves several fields and names the object, with the reason.
inline Shape shape_from_json(OpKind kind, const JsonReader& obj) {
  obj.expect_object();
  auto req = [&](std::string_view k) { return obj.at(k).integer(); };
  Shape shape;
  switch (shape_index(kind)) {
    case 0: {
      MatmulShape s;
      s.batch = kind == OpKind::matmul ? obj.integer_or("batch", 1) : 1;
      s.m = req("m");
      s.n = req("n");
      s.k = req("k");
      s.bias = obj.boolean_or("bias", kind == OpKind::linear);
      shape = s;
      break;
    }
    case 1: {
      Conv2dShape s;
      s.n = req("n");
      s.c = req("c");
      s.h = req("h");
      s.w = req("w");
      s.k = req("k");
      s.r = req("r");
      s.s = req("s");
      read_pair(obj, "stride", 1, s.stride_h, s.stride_w);
      read_pair(obj, "padding", 0, s.pad_h, s.pad_w);
      read_pair(obj, "dilation", 1, s.dil_h, s.dil_w);
      s.groups = obj.integer_or("groups", 1);
      s.bias = obj.boolean_or("bias", true);
      shape = s;
      break;
    }
    case 2: {
      Pool2dShape s;
      s.n = req("n");
      s.c = req("c");
      s.h = req("h");
      s.w = req("w");
      s.r = req("r");
      s.s = obj.integer_or("s", s.r);
      if (obj.find("stride")) {
        read_pair(obj, "stride", 1, s.stride_h, s.stride_w);
      } else {  // PyTorch: stride defaults to the window
        s.stride_h = s.r;
        s.stride_w = s.s;
      }
      read_pair(obj, "padding", 0, s.pad_h, s.pad_w);
      shape = s;
      break;
    }
    case 3: {
      AdaptivePoolShape s;
      s.n = req("n");
      s.c = req("c");
      s.h = req("h");
      s.w = req("w");
      s.out_h = obj.integer_or("out_h", 1);
      s.out_w = obj.integer_or("out_w", s.out_h);
      shape = s;
      break;
    }
    case 4: {
      MapShape s;
      s.n = req("n");
      s.c = req("c");
      s.h = obj.integer_or("h", 1);
      s.w = obj.integer_or("w", 1);
      shape = s;
      break;
    }
    case 5: {
      RowsShape s;
      s.rows = req("rows");
      s.cols = req("cols");
      shape = s;
      break;
    }
    case 6: {
      ElementwiseShape s;
      s.elements = req("elements");
      const bool binary = kind == OpKind::add || kind == OpKind::mul || kind == OpKind::div;
      s.inputs = static_cast<int>(obj.integer_or("inputs", binary ? 2 : 1));
      s.broadcast = obj.integer_or("broadcast", 0);
      s.inplace = obj.boolean_or("inplace", false);
      shape = s;
      break;
    }
    case 7: {
      AttentionShape s;
      s.batch = obj.integer_or("batch", 1);
      s.heads = obj.integer_or("heads", 1);
      s.seq_q = req("seq_q");
      s.seq_kv = obj.integer_or("seq_kv", s.seq_q);
      s.head_dim = req("head_dim");
      s.causal = obj.boolean_or("causal", false);
      shape = s;
      break;
    }
    default: {
      BytesShape s;
      s.bytes = req("bytes");
      shape = s;
      break;
    }
  }
  OpDesc op{kind, shape};
  if (auto why = invalid_reason(op); !why.empty()) obj.fail(std::string(to_string(kind)) + " shape: " + std::string(why));
  return shape;
}

/// Writes every shape field explicitly (no reliance on defaults).
inline nlohmann::json shape_to_json(const OpDesc& op) {
  nlohmann::json j = nlohmann::json::object();
  std::visit(overloaded{
                 [&](const MatmulShape& s) {
                   if (op.kind == OpKind::matmul) j["batch"] = s.batch;
                   j["m"] = s.m;
                   j["n"] = s.n;
                   j["k"] = s.k;
                   j["bias"] = s.bias;
                 },
                 [&](const Conv2dShape& s) {
                   j = {{"n", s.n}, {"c", s.c}, {"h", s.h}, {"w", s.w}, {"k", s.k}, {"r", s.r}, {"s", s.s}};
                   j["stride"] = pair_json(s.stride_h, s.stride_w);
                   j["padding"] = pair_json(s.pad_h, s.pad_w);
                   j["dilation"] = pair_json(s.dil_h, s.dil_w);
                   j["groups"] = s.groups;
                   j["bias"] = s.bias;
                 },
                 [&](const Pool2dShape& s) {
                   j = {{"n", s.n}, {"c", s.c}, {"h", s.h}, {"w", s.w}, {"r", s.r}, {"s", s.s}};
                   j["stride"] = pair_json(s.stride_h, s.stride_w);
                   j["padding"] = pair_json(s.pad_h, s.pad_w);
                 },
                 [&](const AdaptivePoolShape& s) {
                   j = {{"n", s.n}, {"c", s.c}, {"h", s.h}, {"w", s.w}, {"out_h", s.out_h}, {"out_w", s.out_w}};
                 },
                 [&](const MapShape& s) { j = {{"n", s.n}, {"c", s.c}, {"h", s.h}, {"w", s.w}}; },
                 [&](const RowsShape& s) { j = {{"rows", s.rows}, {"cols", s.cols}}; },
                 [&](const ElementwiseShape& s) {
                   j = {{"elements", s.elements}, {"inputs", s.inputs}};
                   if (s.broadcast > 0) j["broadcast"] = s.broadcast;
                   if (s.inplace) j["inplace"] = true;
                 },
                 [&](const AttentionShape& s) {
                   j = {{"batch", s.batch},   {"heads", s.heads},       {"seq_q", s.seq_q},
                        {"seq_kv", s.seq_kv}, {"head_dim", s.head_dim}, {"causal", s.causal}};
                 },
                 [&](const BytesShape& s) { j = {{"bytes", s.bytes}}; },
             },
             op.shape);
  return j;
}

/// A short human-readable form, e.g. "64x3x224x224 k64 7x7/2" or "512x1024x1024".
inline std::string shape_label(const OpDesc& op) {
  auto x = [](i64 v) { return std::to_string(v); };
  return std::visit(
      overloaded{
          [&](const MatmulShape& s) {
            std::string b = s.batch > 1 ? x(s.batch) + "x(" : "";
            return b + x(s.m) + "x" + x(s.n) + "x" + x(s.k) + (s.batch > 1 ? ")" : "");
          },
          [&](const Conv2dShape& s) {
            std::string t = x(s.n) + "x" + x(s.c) + "x" + x(s.h) + "x" + x(s.w) + " k" + x(s.k) + " " + x(s.r) + "x" + x(s.s);
            if (s.stride_h != 1 || s.stride_w != 1) t += "/" + x(s.stride_h);
            if (s.groups != 1) t += " g" + x(s.groups);
            return t;
          },
          [&](const Pool2dShape& s) {
            return x(s.n) + "x" + x(s.c) + "x" + x(s.h) + "x" + x(s.w) + " " + x(s.r) + "x" + x(s.s) + "/" + x(s.stride_h);
          },
          [&](const AdaptivePoolShape& s) {
            return x(s.n) + "x" + x(s.c) + "x" + x(s.h) + "x" + x(s.w) + "->" + x(s.out_h) + "x" + x(s.out_w);
          },
          [&](const MapShape& s) { return x(s.n) + "x" + x(s.c) + "x" + x(s.h) + "x" + x(s.w); },
          [&](const RowsShape& s) { return x(s.rows) + "x" + x(s.cols); },
          [&](const ElementwiseShape& s) {
            std::string t = x(s.elements);
            if (s.inputs == 2) t += s.broadcast > 0 ? " (+" + x(s.broadcast) + " bcast)" : " x2";
            return s.inplace ? t + " in place" : t;
          },
          [&](const AttentionShape& s) {
            return x(s.batch) + "x" + x(s.heads) + " q" + x(s.seq_q) + " kv" + x(s.seq_kv) + " d" + x(s.head_dim) +
                   (s.causal ? " causal" : "");
          },
          [&](const BytesShape& s) { return x(s.bytes) + " B"; },
      },
      op.shape);
}

}  // namespace detail
}  // namespace hwcal
