#pragma once
// Shape fields <-> JSON, shared by profiles (each sample records its shape) and
// workload files, so both spell a conv the same way. The fields, their
// defaults and minimums are each family's ShapeTraits::fields() (ops.hpp);
// this header only walks them with a reader, a writer and a lister.

#include <hwcal/detail/json_reader.hpp>
#include <hwcal/ops.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <type_traits>
#include <vector>

namespace hwcal {
namespace detail {

/// Reads fields from a JSON object, naming the field of any problem. A
/// missing optional field (or null) takes its default.
class FieldReader {
 public:
  explicit FieldReader(const JsonReader& obj) : obj_(obj) {}

  template <class T>
  void integer(std::string_view name, T& v, FieldMin min = FieldMin::positive) {
    v = static_cast<T>(bounded(obj_.at(name), min));
  }
  template <class T, class D>
  void integer(std::string_view name, T& v, D def, FieldMin min = FieldMin::positive) {
    auto r = obj_.find(name);
    v = r ? static_cast<T>(bounded(*r, min)) : static_cast<T>(default_value(def));
  }
  /// A small count (inputs): read in 64 bits and range-checked before narrowing.
  template <class T, class D>
  void small_integer(std::string_view name, T& v, D def) {
    auto r = obj_.find(name);
    if (!r) {
      v = static_cast<T>(def);
      return;
    }
    const std::int64_t x = r->integer();
    if (x < 1 || x > 64) r->fail("must be between 1 and 64, got " + std::to_string(x));
    v = static_cast<T>(x);
  }
  /// An integer for both height and width, or a pair [h, w].
  template <class D, class E>
  void pair(std::string_view name, i64& h, i64& w, D def_h, E def_w, FieldMin min = FieldMin::positive) {
    auto r = obj_.find(name);
    if (!r) {
      h = default_value(def_h);
      w = default_value(def_w);
      return;
    }
    if (r->json().is_array()) {
      if (r->size() != 2) r->fail("expected an integer or a pair [h, w]");
      h = bounded(r->at(std::size_t{0}), min);
      w = bounded(r->at(std::size_t{1}), min);
    } else {
      h = w = bounded(*r, min);
    }
  }
  void flag(std::string_view name, bool& v, bool def) { v = obj_.boolean_or(name, def); }

 private:
  static i64 bounded(const JsonReader& r, FieldMin min) {
    const std::int64_t v = r.integer();
    if (min == FieldMin::positive && v < 1) r.fail("must be a positive integer, got " + std::to_string(v));
    if (v < 0) r.fail("must not be negative, got " + std::to_string(v));
    if (double(v) > max_field_value) r.fail("is larger than 2^40, the most hwcal accepts");
    return v;
  }
  const JsonReader& obj_;
};

/// Writes every field explicitly (no reliance on defaults).
class FieldWriter {
 public:
  explicit FieldWriter(nlohmann::json& j) : j_(j) {}
  template <class T, class... Rest>
  void integer(std::string_view name, T& v, Rest...) {
    j_[std::string(name)] = static_cast<std::int64_t>(v);
  }
  /// 0 in a field that defaults to another (AttentionShape::kv_heads) means
  /// "the same": written as that field's value, so the document reads back.
  template <class T, class... Rest>
  void integer(std::string_view name, T& v, SameAs d, Rest...) {
    j_[std::string(name)] = static_cast<std::int64_t>(v == 0 ? d.value : v);
  }
  template <class T, class D>
  void small_integer(std::string_view name, T& v, D) {
    j_[std::string(name)] = static_cast<std::int64_t>(v);
  }
  template <class... Rest>
  void pair(std::string_view name, i64& h, i64& w, Rest...) {
    j_[std::string(name)] = h == w ? nlohmann::json(h) : nlohmann::json::array({h, w});
  }
  void flag(std::string_view name, bool& v, bool) { j_[std::string(name)] = v; }

 private:
  nlohmann::json& j_;
};

/// What the reader knows of a field: its name, kind, default and minimum
/// (unknown-field warnings, `hwcal ops`, the docs).
struct FieldSpec {
  std::string name;
  std::string type;  ///< "integer", "pair" (an integer or [h, w]), "boolean"
  bool required = false;
  nlohmann::json default_;  ///< null when required
  std::string same_as;      ///< the default is this other field's value
  int minimum = 1;
};

class FieldLister {
 public:
  std::vector<FieldSpec> fields;
  template <class T>
  void integer(std::string_view name, T&, FieldMin min = FieldMin::positive) {
    fields.push_back({std::string(name), "integer", true, nullptr, {}, min == FieldMin::positive ? 1 : 0});
  }
  template <class T, class D>
  void integer(std::string_view name, T&, D def, FieldMin min = FieldMin::positive) {
    add(name, "integer", def, min);
  }
  template <class T, class D>
  void small_integer(std::string_view name, T&, D def) {
    add(name, "integer", def, FieldMin::positive);
  }
  template <class D, class E>
  void pair(std::string_view name, i64&, i64&, D def, E, FieldMin min = FieldMin::positive) {
    add(name, "pair", def, min);
  }
  void flag(std::string_view name, bool&, bool def) {
    fields.push_back({std::string(name), "boolean", false, def, {}, 0});
  }

 private:
  template <class D>
  void add(std::string_view name, const char* type, D def, FieldMin min) {
    FieldSpec f{std::string(name), type, false, default_value(def), {}, min == FieldMin::positive ? 1 : 0};
    if constexpr (std::is_same_v<D, SameAs>) f.default_ = nullptr, f.same_as = std::string(def.field);
    fields.push_back(std::move(f));
  }
};

/// Parses the shape fields of `kind` from the object `obj`. Field problems
/// name the field; a shape that is invalid as a whole names the field at
/// fault where there is one, else the object.
inline Shape shape_from_json(OpKind kind, const JsonReader& obj) {
  obj.expect_object();
  OpDesc op{kind, default_shape(kind)};
  std::visit(
      [&](auto& s) {
        FieldReader reader(obj);
        ShapeTraits<std::decay_t<decltype(s)>>::fields(reader, s, kind);
      },
      op.shape);
  if (const ShapeProblem p = check_shape(op)) {
    const std::string what = std::string(to_string(kind)) + " shape: " + p.reason;
    if (!p.field.empty() && obj.has(p.field)) obj.at(p.field).fail(what);
    obj.fail(what);
  }
  return op.shape;
}

inline nlohmann::json shape_to_json(const OpDesc& op) {
  nlohmann::json j = nlohmann::json::object();
  Shape s = op.shape;
  std::visit(
      [&](auto& x) {
        FieldWriter w(j);
        ShapeTraits<std::decay_t<decltype(x)>>::fields(w, x, op.kind);
      },
      s);
  return j;
}

/// The shape fields an op kind reads, in order.
inline std::vector<FieldSpec> shape_field_specs(OpKind kind) {
  FieldLister l;
  Shape s = default_shape(kind);
  std::visit([&](auto& x) { ShapeTraits<std::decay_t<decltype(x)>>::fields(l, x, kind); }, s);
  return std::move(l.fields);
}

inline std::vector<std::string> shape_fields(OpKind kind) {
  std::vector<std::string> names;
  for (auto& f : shape_field_specs(kind)) names.push_back(std::move(f.name));
  return names;
}

}  // namespace detail
}  // namespace hwcal
