#pragma once
// Small text helpers shared by the library, the CLI and the benchmarks.

#include <ctime>
#include <sstream>
#include <string>
#include <vector>

namespace hwcal {
namespace detail {

/// The non-empty items of a separated list ("a,b,,c" -> a, b, c).
inline std::vector<std::string> split_list(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

/// A duration with a unit that keeps 3 significant digits ("812 us", "1.25 ms").
inline std::string fmt_seconds(double s) {
  std::ostringstream os;
  os.precision(3);
  if (s < 1e-3)
    os << s * 1e6 << " us";
  else if (s < 1)
    os << s * 1e3 << " ms";
  else
    os << s << " s";
  return os.str();
}

/// Now, as ISO 8601 UTC ("2026-11-22T05:30:15Z").
inline std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace detail
}  // namespace hwcal
