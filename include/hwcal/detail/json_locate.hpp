#pragma once
// Where in a JSON text parsing stopped, as a JSON pointer. nlohmann's DOM
// parser reports a number beyond double range ("elements": 1e309) with the
// offending token only; read_json_file re-reads such a text with this SAX
// handler to name the field, as every other rejection does.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace hwcal::detail {

/// SAX handler that follows the path to the current value and records it as
/// a JSON pointer (RFC 6901) when the parser reports an error.
class JsonLocator {
 public:
  using json = nlohmann::json;

  std::string error_pointer;  ///< where parse_error was reported ("" = the document root)

  bool null() { return value_done(); }
  bool boolean(bool) { return value_done(); }
  bool number_integer(json::number_integer_t) { return value_done(); }
  bool number_unsigned(json::number_unsigned_t) { return value_done(); }
  bool number_float(json::number_float_t, const json::string_t&) { return value_done(); }
  bool string(json::string_t&) { return value_done(); }
  bool binary(json::binary_t&) { return value_done(); }
  bool start_object(std::size_t) {
    stack_.push_back({false, 0, {}});
    return true;
  }
  bool key(json::string_t& k) {
    stack_.back().key = k;
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return value_done();
  }
  bool start_array(std::size_t) {
    stack_.push_back({true, 0, {}});
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return value_done();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    for (const Frame& f : stack_) {
      error_pointer += '/';
      if (f.array) {
        error_pointer += std::to_string(f.index);
        continue;
      }
      for (char c : f.key)
        error_pointer += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
    }
    return false;  // stop: sax_parse returns false instead of throwing
  }

 private:
  struct Frame {
    bool array;
    std::size_t index;  ///< arrays: the element being read
    std::string key;    ///< objects: the member being read
  };
  bool value_done() {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    return true;
  }
  std::vector<Frame> stack_;
};

/// The JSON pointer of the value at which parsing `text` fails ("" when it
/// does not fail, or fails at the root).
inline std::string json_error_pointer(const std::string& text) {
  JsonLocator locator;
  nlohmann::json::sax_parse(text, &locator);
  return locator.error_pointer;
}

}  // namespace hwcal::detail
