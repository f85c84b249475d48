#pragma once
// A read-only view of a JSON value that knows where it is: every accessor that
// finds the wrong type, a missing field or an out-of-range value throws a
// DocumentError naming the file and the JSON pointer of the field.

#include <hwcal/error.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace hwcal {
namespace detail {

inline std::string json_type_name(const nlohmann::json& j) {
  if (j.is_number_integer() || j.is_number_unsigned()) return "an integer";
  if (j.is_number_float()) return "a number";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_null()) return "null";
  if (j.is_array()) return "an array";
  return "an object";
}

/// RFC 6901 escaping of one reference token.
inline std::string pointer_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

class JsonReader {
 public:
  JsonReader(const nlohmann::json& j, const std::string& file, std::string pointer = "")
      : j_(&j), file_(&file), pointer_(std::move(pointer)) {}

  const nlohmann::json& json() const noexcept { return *j_; }
  const std::string& pointer() const noexcept { return pointer_; }
  const std::string& file() const noexcept { return *file_; }

  [[noreturn]] void fail(const std::string& what) const { throw DocumentError(*file_, pointer_, what); }

  void expect_object() const {
    if (!j_->is_object()) fail("expected an object, got " + json_type_name(*j_));
  }
  void expect_array() const {
    if (!j_->is_array()) fail("expected an array, got " + json_type_name(*j_));
  }

  bool has(std::string_view key) const { return j_->is_object() && j_->contains(key); }

  /// A required member.
  JsonReader at(std::string_view key) const {
    expect_object();
    auto it = j_->find(key);
    if (it == j_->end()) throw DocumentError(*file_, pointer_ + "/" + pointer_token(key), "missing required field");
    return JsonReader(*it, *file_, pointer_ + "/" + pointer_token(key));
  }
  /// An optional member; null counts as absent.
  std::optional<JsonReader> find(std::string_view key) const {
    expect_object();
    auto it = j_->find(key);
    if (it == j_->end() || it->is_null()) return std::nullopt;
    return JsonReader(*it, *file_, pointer_ + "/" + pointer_token(key));
  }
  JsonReader at(std::size_t i) const {
    expect_array();
    if (i >= j_->size()) fail("index " + std::to_string(i) + " out of range");
    return JsonReader((*j_)[i], *file_, pointer_ + "/" + std::to_string(i));
  }
  std::size_t size() const {
    expect_array();
    return j_->size();
  }

  double number() const {
    if (!j_->is_number()) fail("expected a number, got " + json_type_name(*j_));
    const double v = j_->get<double>();
    if (!std::isfinite(v)) fail("expected a finite number");
    return v;
  }
  double non_negative() const {
    const double v = number();
    if (v < 0) fail("must not be negative, got " + j_->dump());
    return v;
  }
  std::int64_t integer() const {
    if (j_->is_number_integer() || j_->is_number_unsigned()) {
      if (j_->is_number_unsigned() &&
          j_->get<std::uint64_t>() > std::uint64_t(std::numeric_limits<std::int64_t>::max()))
        fail("integer out of range");
      return j_->get<std::int64_t>();
    }
    if (j_->is_number_float()) {
      const double v = j_->get<double>();
      if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 9.0e15) return static_cast<std::int64_t>(v);
      fail("expected an integer, got " + j_->dump());
    }
    fail("expected an integer, got " + json_type_name(*j_));
  }
  std::int64_t positive_integer() const {
    const std::int64_t v = integer();
    if (v < 1) fail("must be a positive integer, got " + std::to_string(v));
    return v;
  }
  std::int64_t non_negative_integer() const {
    const std::int64_t v = integer();
    if (v < 0) fail("must not be negative, got " + std::to_string(v));
    return v;
  }
  /// An integer in [lo, hi], range-checked before it is narrowed to int.
  int int_in(std::int64_t lo, std::int64_t hi) const {
    const std::int64_t v = integer();
    if (v < lo || v > hi)
      fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + std::to_string(v));
    return static_cast<int>(v);
  }
  bool boolean() const {
    if (!j_->is_boolean()) fail("expected true or false, got " + json_type_name(*j_));
    return j_->get<bool>();
  }
  std::string string() const {
    if (!j_->is_string()) fail("expected a string, got " + json_type_name(*j_));
    return j_->get<std::string>();
  }
  /// A name parsed by one of the parse(string_view, E&) overloads in kinds.hpp/ops.hpp.
  template <class E>
  E enumeration(std::string_view what) const {
    const std::string s = string();
    E e{};
    if (!parse(s, e)) fail("unknown " + std::string(what) + " '" + s + "'");
    return e;
  }

  // Optional members with defaults.
  double number_or(std::string_view key, double def) const {
    auto r = find(key);
    return r ? r->number() : def;
  }
  std::int64_t integer_or(std::string_view key, std::int64_t def) const {
    auto r = find(key);
    return r ? r->integer() : def;
  }
  int int_in_or(std::string_view key, std::int64_t lo, std::int64_t hi, int def) const {
    auto r = find(key);
    return r ? r->int_in(lo, hi) : def;
  }
  std::int64_t non_negative_or(std::string_view key, std::int64_t def) const {
    auto r = find(key);
    return r ? r->non_negative_integer() : def;
  }
  bool boolean_or(std::string_view key, bool def) const {
    auto r = find(key);
    return r ? r->boolean() : def;
  }
  std::string string_or(std::string_view key, std::string def) const {
    auto r = find(key);
    return r ? r->string() : def;
  }

 private:
  const nlohmann::json* j_;
  const std::string* file_;
  std::string pointer_;
};

}  // namespace detail
}  // namespace hwcal
