#pragma once
// Small pieces the benchmark programs share: the machine's load (every result
// records it, because this project's machines are shared and a busy machine
// is the first explanation of a strange number), command-line scanning, and
// writing the JSON result.

#include <hwcal/detail/text.hpp>
#include <hwcal/detail/atomic_file.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace bench {

/// 1, 5 and 15 minute load averages (zeros where /proc is not there).
inline std::array<double, 3> load_average() {
  std::array<double, 3> l{};
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &l[0], &l[1], &l[2]) != 3) l = {};
    std::fclose(f);
  }
  return l;
}

inline nlohmann::json load_json() {
  const auto l = load_average();
  return {{"load1", l[0]}, {"load5", l[1]}, {"load15", l[2]}};
}

inline std::string load_text() {
  const auto l = load_average();
  char buf[96];
  std::snprintf(buf, sizeof buf, "load average %.2f, %.2f, %.2f", l[0], l[1], l[2]);
  return buf;
}

/// What the whole machine and this process had used at one moment, to tell
/// afterwards how much CPU other processes took during a phase. The load
/// average lags by a minute; this does not.
struct CpuSnapshot {
  double wall_s = 0;
  double busy_s = 0;   ///< all CPUs: user + nice + system + irq + softirq
  double steal_s = 0;  ///< all CPUs: taken by the hypervisor for other guests
  double self_s = 0;   ///< this process, all its threads: user + system
};

inline CpuSnapshot cpu_snapshot() {
  CpuSnapshot s;
  s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (std::FILE* f = std::fopen("/proc/stat", "r")) {
    unsigned long long v[8] = {};
    if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                    &v[7]) == 8) {
      s.busy_s = double(v[0] + v[1] + v[2] + v[5] + v[6]) / tick;
      s.steal_s = double(v[7]) / tick;
    }
    std::fclose(f);
  }
  if (std::FILE* f = std::fopen("/proc/self/stat", "r")) {
    // Fields 14 and 15 (utime, stime) follow the command name in parentheses.
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    if (const char* p = std::strrchr(buf, ')')) {
      unsigned long long ut = 0, st = 0;
      if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        s.self_s = double(ut + st) / tick;
    }
    std::fclose(f);
  }
  return s;
}

/// CPUs' worth of time other processes (and the hypervisor's steal) took
/// between two snapshots: 0 on an otherwise idle machine.
struct OtherUse {
  double others_cpus = 0, steal_cpus = 0, self_cpus = 0, seconds = 0;
};

inline OtherUse other_use(const CpuSnapshot& a, const CpuSnapshot& b) {
  OtherUse u;
  u.seconds = b.wall_s - a.wall_s;
  if (u.seconds <= 0) return u;
  u.self_cpus = (b.self_s - a.self_s) / u.seconds;
  u.others_cpus = std::max(0.0, ((b.busy_s - a.busy_s) - (b.self_s - a.self_s)) / u.seconds);
  u.steal_cpus = (b.steal_s - a.steal_s) / u.seconds;
  return u;
}

inline nlohmann::json to_json(const OtherUse& u) {
  return {
      {"seconds", u.seconds}, {"others_cpus", u.others_cpus}, {"steal_cpus", u.steal_cpus}, {"self_cpus", u.self_cpus}};
}

using hwcal::detail::utc_now;

/// Scans argv for `--name value` options and `--flag` switches. Unknown
/// arguments are an error (a typo must not silently run the default).
class Args {
 public:
  Args(int argc, char** argv, std::string usage) : usage_(std::move(usage)) {
    for (int i = 1; i < argc; ++i) args_.emplace_back(argv[i]);
    used_.assign(args_.size(), false);
  }
  std::string value(const std::string& name, const std::string& fallback = "") {
    for (std::size_t i = 0; i + 1 < args_.size(); ++i)
      if (args_[i] == name) {
        used_[i] = used_[i + 1] = true;
        return args_[i + 1];
      }
    return fallback;
  }
  int integer(const std::string& name, int fallback) {
    return parsed(name, fallback, "an integer", [](const std::string& v) { return std::stoi(v); });
  }
  double number(const std::string& name, double fallback) {
    return parsed(name, fallback, "a number", [](const std::string& v) { return std::stod(v); });
  }
  bool flag(const std::string& name) {
    for (std::size_t i = 0; i < args_.size(); ++i)
      if (args_[i] == name) return used_[i] = true;
    return false;
  }
  /// Call after reading every option: prints usage for --help or leftovers.
  void finish() {
    for (std::size_t i = 0; i < args_.size(); ++i) {
      if (args_[i] == "-h" || args_[i] == "--help") {
        std::printf("%s", usage_.c_str());
        std::exit(0);
      }
      if (!used_[i]) fail("unknown argument '" + args_[i] + "'");
    }
  }
  [[noreturn]] void fail(const std::string& why) const {
    std::fprintf(stderr, "error: %s\n\n%s", why.c_str(), usage_.c_str());
    std::exit(2);
  }

 private:
  template <class T, class Parse>
  T parsed(const std::string& name, T fallback, const char* what, Parse parse) {
    const std::string v = value(name);
    if (v.empty()) return fallback;
    try {
      return parse(v);
    } catch (const std::exception&) {
      fail(name + " expects " + what + ", got '" + v + "'");
    }
  }
  std::string usage_;
  std::vector<std::string> args_;
  std::vector<bool> used_;
};

inline void write_json(const std::string& path, const nlohmann::json& j) {
  if (path.empty()) return;
  hwcal::detail::write_file_atomic(path, j.dump(1) + "\n");
  std::fprintf(stderr, "wrote %s\n", path.c_str());
}

}  // namespace bench
