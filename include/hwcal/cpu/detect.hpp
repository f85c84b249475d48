#pragma once
// What CPU this is: model, vendor, ISA flags, cores, caches, governor, turbo,
// hypervisor, memory, OS. Read from /proc and /sys (Linux); fields that are not
// visible (common in VMs) are recorded as "unknown", never guessed.

#include <hwcal/detail/text.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <sys/utsname.h>
#include <unistd.h>

namespace hwcal {
namespace cpu {
namespace detail {

inline std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

inline std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

/// "48K" / "2048K" / "1M" -> bytes.
inline std::int64_t parse_size(const std::string& s) {
  if (s.empty()) return 0;
  std::int64_t v = 0;
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
  if (i < s.size()) {
    switch (s[i]) {
      case 'K':
      case 'k': v <<= 10; break;
      case 'M':
      case 'm': v <<= 20; break;
      case 'G':
      case 'g': v <<= 30; break;
      default: break;
    }
  }
  return v;
}

/// Number of CPUs in a sysfs cpu list such as "0-3,8-11".
inline int count_cpu_list(const std::string& list) {
  int n = 0;
  for (const std::string& part : hwcal::detail::split_list(list)) {
    const auto dash = part.find('-');
    if (dash == std::string::npos)
      ++n;
    else
      n += std::stoi(part.substr(dash + 1)) - std::stoi(part.substr(0, dash)) + 1;
  }
  return std::max(n, 1);
}

/// ISA flags that matter for throughput, in a stable order.
inline const std::vector<std::string>& relevant_flags() {
  static const std::vector<std::string> flags{
      "sse4_2",   "avx",         "avx2",        "fma",         "f16c",     "avx512f",  "avx512dq", "avx512bw",
      "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
      "amx_fp16", "asimd",       "asimdhp",     "sve",         "sve2",     "bf16",     "i8mm",     "fphp"};
  return flags;
}

}  // namespace detail

/// Reads the host description. `threads_used` is filled by the caller.
inline HostInfo detect_host() {
  HostInfo h;
  struct utsname u {};
  if (::uname(&u) == 0) h.arch = u.machine;

  std::set<std::string> flags;
  std::set<std::pair<std::string, std::string>> cores;  // (physical id, core id)
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line, phys = "0";
    while (std::getline(in, line)) {
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const std::string key = detail::trim(line.substr(0, colon));
      const std::string val = detail::trim(line.substr(colon + 1));
      if (key == "model name" && h.cpu_model.empty())
        h.cpu_model = val;
      else if (key == "vendor_id" && h.vendor.empty())
        h.vendor = val;
      else if (key == "cpu family" && h.family == 0)
        h.family = std::atoi(val.c_str());
      else if (key == "model" && h.model == 0)
        h.model = std::atoi(val.c_str());
      else if (key == "CPU implementer" && h.vendor.empty())
        h.vendor = "implementer " + val;
      else if (key == "physical id")
        phys = val;
      else if (key == "core id")
        cores.insert({phys, val});
      else if ((key == "flags" || key == "Features") && flags.empty()) {
        std::stringstream ss(val);
        std::string f;
        while (ss >> f) flags.insert(f);
      }
    }
  }
  if (h.cpu_model.empty()) h.cpu_model = "unknown " + h.arch + " CPU";
  for (const auto& f : detail::relevant_flags())
    if (flags.count(f)) h.isa.push_back(f);
  if (flags.count("hypervisor")) h.hypervisor = "yes (type not visible to the guest)";

  h.logical_cpus = static_cast<int>(std::max<long>(1, ::sysconf(_SC_NPROCESSORS_ONLN)));
  h.physical_cores = cores.empty() ? h.logical_cpus : static_cast<int>(cores.size());

  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = detail::read_first_line(dir + "level");
    if (level.empty()) continue;
    CacheLevel c;
    c.level = std::stoi(level);
    c.type = detail::read_first_line(dir + "type");
    c.size_bytes = detail::parse_size(detail::read_first_line(dir + "size"));
    const std::string shared = detail::read_first_line(dir + "shared_cpu_list");
    c.shared_by = shared.empty() ? 1 : detail::count_cpu_list(shared);
    if (c.size_bytes > 0) h.caches.push_back(c);
  }

  h.governor = detail::read_first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  if (h.governor.empty()) h.governor = "unknown";
  const std::string no_turbo = detail::read_first_line("/sys/devices/system/cpu/intel_pstate/no_turbo");
  const std::string boost = detail::read_first_line("/sys/devices/system/cpu/cpufreq/boost");
  if (!no_turbo.empty())
    h.turbo = no_turbo == "0" ? "on" : "off";
  else if (!boost.empty())
    h.turbo = boost == "1" ? "on" : "off";
  else
    h.turbo = "unknown";

  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) h.memory_bytes = static_cast<std::int64_t>(pages) * page;

  std::ifstream os("/etc/os-release");
  std::string line;
  while (std::getline(os, line))
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      h.os = line.substr(12);
      h.os.erase(std::remove(h.os.begin(), h.os.end(), '"'), h.os.end());
    }
  if (h.os.empty()) h.os = u.sysname;
  h.os += std::string(" (kernel ") + u.release + ")";
  return h;
}

inline bool has_isa(const HostInfo& h, const std::string& flag) {
  return std::find(h.isa.begin(), h.isa.end(), flag) != h.isa.end();
}

}  // namespace cpu
}  // namespace hwcal
