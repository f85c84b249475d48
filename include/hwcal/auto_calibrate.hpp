#pragma once
// auto_calibrate(): the one call a program makes at start-up. It identifies the
// machine and software (fingerprint), returns the cached profile for them from
// the user cache directory when there is one (milliseconds), and otherwise
// runs a calibration within a time budget (the ops that matter most first,
// every op covered coarsely before any is refined) and caches the result.
//
// Cache: $XDG_CACHE_HOME/hwcal or ~/.cache/hwcal, one file per fingerprint,
// thread count, op selection and budget, written atomically. A cached file
// that no longer parses is recalibrated (and the reason reported), never used.

#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/profile_io.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include <sys/stat.h>

namespace hwcal {

struct AutoCalibrateOptions {
  double budget_s = 4.0;      ///< time allowed for a calibration when nothing is cached
  std::vector<OpKind> ops;    ///< empty: every op
  int threads = 0;            ///< 0: every logical CPU
  bool force = false;         ///< recalibrate even if cached
  bool memory = true;         ///< measure bandwidth (the mapper bounds memory time with it)
  std::string cache_dir;      ///< empty: $XDG_CACHE_HOME/hwcal or ~/.cache/hwcal
  ProgressFn progress;
};

struct AutoCalibration {
  HardwareCalibration profile;
  std::string path;       ///< cache file (empty if it could not be written)
  bool from_cache = false;
  std::vector<std::string> warnings;
};

/// Directory profiles are cached in (not created).
inline std::string default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/hwcal";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/hwcal";
  return ".hwcal-cache";
}

namespace detail {
inline void make_dirs(const std::string& path) {
  std::string cur;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty()) ::mkdir(cur.c_str(), 0755);
    }
    if (i < path.size()) cur += path[i];
  }
}
}  // namespace detail

/// Differences between the machine a profile describes and this one, as
/// sentences; empty when they match (same CPU model, CPU count and ISA).
inline std::vector<std::string> profile_mismatch(const HardwareCalibration& profile, const HostInfo& here) {
  std::vector<std::string> out;
  if (profile.target != "cpu") return out;
  if (profile.host.cpu_model != here.cpu_model)
    out.push_back("profile was measured on '" + profile.host.cpu_model + "', this machine is '" + here.cpu_model + "'");
  if (profile.host.logical_cpus != here.logical_cpus)
    out.push_back("profile machine has " + std::to_string(profile.host.logical_cpus) + " logical CPUs, this one " +
                  std::to_string(here.logical_cpus));
  if (profile.host.isa != here.isa) out.push_back("profile machine's ISA flags differ from this machine's");
  return out;
}

/// Cached or fresh calibration of `backend`.
inline AutoCalibration auto_calibrate(Backend& backend, const AutoCalibrateOptions& opt = {}) {
  AutoCalibration result;
  const HostInfo host = cpu::detect_host();
  const int threads = opt.threads > 0 ? opt.threads : host.logical_cpus;
  std::map<std::string, std::string> sw;
  const nlohmann::json bsw = backend.software();
  for (auto it = bsw.begin(); it != bsw.end(); ++it) sw[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  sw["hwcal"] = HWCAL_VERSION_STRING;
  std::string key = fingerprint(host, std::nullopt, backend.name(), sw);
  // The request is part of the key: a 4 s conv-only profile must not answer a
  // request for a 60 s calibration of every op.
  std::string request = "t" + std::to_string(threads) + "|b" + std::to_string(static_cast<long long>(opt.budget_s * 1000)) +
                        (opt.memory ? "|m|" : "|-|");
  for (OpKind k : opt.ops) request += std::string(to_string(k)) + ",";
  char req[17];
  std::snprintf(req, sizeof req, "%016llx", static_cast<unsigned long long>(detail::fnv1a(request)));
  const std::string dir = opt.cache_dir.empty() ? default_cache_dir() : opt.cache_dir;
  result.path = dir + "/" + key + "-" + std::string(req, 8) + ".json";

  if (!opt.force) {
    struct stat st {};
    if (::stat(result.path.c_str(), &st) == 0) {
      try {
        result.profile = load_profile(result.path);
        result.from_cache = true;
        return result;
      } catch (const Error& e) {
        result.warnings.push_back(std::string("cached profile unusable, recalibrating: ") + e.what());
      }
    }
  }
  CalibrationOptions co;
  co.mode = CalibrationMode::quick;
  co.budget_s = opt.budget_s;
  co.ops = opt.ops;
  co.memory = opt.memory;
  co.threads = threads;
  co.progress = opt.progress;
  result.profile = calibrate(backend, co);
  result.profile.mode = "auto";
  try {
    detail::make_dirs(dir);
    save_profile(result.path, result.profile);
  } catch (const Error& e) {
    result.warnings.push_back(std::string("could not cache the profile: ") + e.what());
    result.path.clear();
  }
  return result;
}

/// The CPU backend auto_calibrate() uses: OpenBLAS-backed when the program
/// links hwcal::openblas, Eigen otherwise.
#if HWCAL_HAS_OPENBLAS
using DefaultCpuBackend = cpu::OpenBlasBackend;
#else
using DefaultCpuBackend = cpu::EigenBackend;
#endif

/// auto_calibrate with a CPU backend made here (the default one unless
/// named). A template, so the CPU kernels are compiled only in a file that
/// calls it, not in every file that includes <hwcal/calibration.hpp>.
template <class CpuBackend = DefaultCpuBackend>
AutoCalibration auto_calibrate(const AutoCalibrateOptions& opt = {}) {
  CpuBackend backend;
  return auto_calibrate(backend, opt);
}

}  // namespace hwcal
