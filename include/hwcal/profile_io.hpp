#pragma once
// Loading and saving profiles. Loading validates every field and names the
// file and JSON pointer of the first problem; saving is atomic, so an
// interrupted calibration never corrupts the previous profile.

#include <hwcal/detail/atomic_file.hpp>
#include <hwcal/detail/json_locate.hpp>
#include <hwcal/error.hpp>
#include <hwcal/schema.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>

namespace hwcal {

/// Largest document read (a full profile is a few MB; a workload of every
/// layer of a large model a few hundred KB).
inline constexpr std::int64_t max_document_bytes = std::int64_t{1} << 30;

/// Parses the text of the document `path`, turning syntax errors into
/// DocumentError; a number beyond double range (1e309) is named by its field.
inline nlohmann::json parse_json_document(const std::string& text, const std::string& path) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) throw DocumentError(path, "", "file is empty");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 3, column 7: ..."
    // (or out_of_range.406, "number overflow parsing '1e309'", which names no field)
    std::string what = e.what();
    const auto pos = what.find("] ");
    if (pos != std::string::npos) what = what.substr(pos + 2);
    if (e.id == 406) throw DocumentError(path, detail::json_error_pointer(text), "not a finite number (" + what + ")");
    throw DocumentError(path, "", "not valid JSON (" + what + ")");
  }
}

/// Reads a JSON document, turning I/O and syntax errors into DocumentError.
/// Only regular files of at most max_document_bytes are read (not a FIFO that
/// blocks, not /dev/zero that never ends).
inline nlohmann::json read_json_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw DocumentError(path, "", std::string("cannot open: ") + detail::errno_text());
  if (!S_ISREG(st.st_mode)) throw DocumentError(path, "", "not a regular file");
  if (st.st_size > max_document_bytes) throw DocumentError(path, "", "larger than 1 GiB, not a profile or workload");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DocumentError(path, "", std::string("cannot open: ") + detail::errno_text());
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_json_document(ss.str(), path);
}

inline HardwareCalibration load_profile(const std::string& path) { return parse_profile(read_json_file(path), path); }

inline std::string dump_profile(const HardwareCalibration& h) { return nlohmann::json(h).dump(1) + "\n"; }

inline void save_profile(const std::string& path, const HardwareCalibration& h) {
  detail::write_file_atomic(path, dump_profile(h));
}

}  // namespace hwcal
