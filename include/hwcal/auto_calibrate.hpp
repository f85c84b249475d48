#pragma once
// auto_calibrate(): the one call a program makes at start-up. For the CPU and,
// in a program built with hwcal::cuda, for every visible GPU, it identifies
// the machine and software (fingerprint), returns the cached profile for them
// from the user cache directory when there is one (milliseconds), and
// otherwise runs a calibration within a time budget (the ops that matter most
// first, every op covered coarsely before any is refined) and caches the
// result.
//
// Cache: $XDG_CACHE_HOME/hwcal or ~/.cache/hwcal, one file per fingerprint,
// thread count, op selection and budget, written atomically. A cached file
// that no longer parses, or whose fingerprint is not this machine's, is
// recalibrated (and the reason reported), never used.
//
// A GPU that is present but cannot be calibrated is an error for that device
// (DeviceCalibration::error), never CPU numbers in its place.

#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/profile_io.hpp>

#if HWCAL_HAS_CUDA
#include <hwcal/cuda/backend.hpp>
#endif

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h>

namespace hwcal {

struct AutoCalibrateOptions {
  double budget_s = 4.0;          ///< CPU: time allowed for a calibration when nothing is cached
  double device_budget_s = 10.0;  ///< each GPU: the same
  std::vector<OpKind> ops;        ///< empty: every op
  int threads = 0;                ///< CPU: 0, every logical CPU
  bool cpu = true;                ///< calibrate (or load) the CPU
  /// GPUs by index; empty: every visible GPU (in a program built with
  /// hwcal::cuda; none otherwise). {-1}: none.
  std::vector<int> gpus;
  bool force = false;     ///< recalibrate even if cached
  bool memory = true;     ///< measure bandwidth (the mapper bounds memory time with it)
  std::string cache_dir;  ///< empty: $XDG_CACHE_HOME/hwcal or ~/.cache/hwcal
  ProgressFn progress;
};

/// One device's profile: loaded from the cache or just measured.
struct DeviceCalibration {
  std::string device;  ///< "cpu" or "cuda:N"
  HardwareCalibration profile;
  std::string path;  ///< cache file (empty if it could not be written)
  bool from_cache = false;
  std::vector<std::string> warnings;
  std::string error;  ///< a device that could not be calibrated: why (profile empty)
  bool ok() const noexcept { return error.empty(); }
};

struct AutoCalibration {
  HardwareCalibration profile;  ///< the CPU's (as `cpu.profile`, kept for the one-device API)
  std::string path;
  bool from_cache = false;
  std::vector<std::string> warnings;
  std::vector<DeviceCalibration> gpus;  ///< one per GPU asked for, in index order
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

inline bool same_within(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b));
}
}  // namespace detail

/// Differences between the machine a profile describes and this one, as
/// sentences; empty when they match. CPU profiles: the CPU model, CPU count
/// and ISA. Device profiles: a visible device of the same name, SM count,
/// memory and clocks (`devices`: this machine's, empty when none is visible
/// or this program cannot see them; say which in `why_none`).
inline std::vector<std::string> profile_mismatch(const HardwareCalibration& profile, const HostInfo& here,
                                                 const std::vector<DeviceInfo>& devices = {},
                                                 const std::string& why_none = "no CUDA device is visible") {
  std::vector<std::string> out;
  if (profile.target != "cpu") {
    if (!profile.device) return {"profile of a " + profile.target + " device has no device block"};
    const DeviceInfo& d = *profile.device;
    const std::string what = d.name + " (" + std::to_string(d.sm_count) + " SMs, " +
                             std::to_string(d.memory_bytes >> 30) + " GiB, driver " + d.driver + ")";
    if (devices.empty()) return {"profile describes " + what + "; " + why_none};
    for (const DeviceInfo& x : devices)
      if (x.name == d.name && x.sm_count == d.sm_count &&
          detail::same_within(double(x.memory_bytes), double(d.memory_bytes), 0.02) &&
          detail::same_within(x.max_sm_clock_mhz, d.max_sm_clock_mhz, 0.02))
        return out;
    std::string here_list;
    for (const DeviceInfo& x : devices)
      here_list += (here_list.empty() ? "" : ", ") + x.name + " (" + std::to_string(x.sm_count) + " SMs)";
    return {"profile describes " + what + "; this machine has " + here_list};
  }
  if (profile.host.cpu_model != here.cpu_model)
    out.push_back("profile was measured on '" + profile.host.cpu_model + "', this machine is '" + here.cpu_model + "'");
  if (profile.host.logical_cpus != here.logical_cpus)
    out.push_back("profile machine has " + std::to_string(profile.host.logical_cpus) + " logical CPUs, this one " +
                  std::to_string(here.logical_cpus));
  if (profile.host.isa != here.isa) out.push_back("profile machine's ISA flags differ from this machine's");
  return out;
}

/// profile_mismatch() as the notes `hwcal predict` and hwcal.predict() report.
inline std::vector<std::string> profile_mismatch_notes(const HardwareCalibration& profile, const HostInfo& here,
                                                       const std::vector<DeviceInfo>& devices,
                                                       const std::string& why_none) {
  std::vector<std::string> notes;
  for (auto& m : profile_mismatch(profile, here, devices, why_none))
    notes.push_back("profile does not match this machine (a note: predicting another machine is fine): " + m);
  return notes;
}

namespace detail {

/// The cache file of a calibration request: the machine's fingerprint plus
/// what was asked (a 4 s conv-only profile must not answer a request for a
/// 60 s calibration of every op).
inline std::string cache_path(const std::string& dir, const std::string& fingerprint, int threads, double budget_s,
                              const AutoCalibrateOptions& opt) {
  std::string request = "t" + std::to_string(threads) + "|b" + std::to_string(static_cast<long long>(budget_s * 1000)) +
                        (opt.memory ? "|m|" : "|-|");
  for (OpKind k : opt.ops) request += std::string(to_string(k)) + ",";
  char req[17];
  std::snprintf(req, sizeof req, "%016llx", static_cast<unsigned long long>(fnv1a(request)));
  return dir + "/" + fingerprint + "-" + std::string(req, 8) + ".json";
}

/// Loads `path` when it is a valid profile of `fingerprint`; else empty, with
/// the reason in `warnings` (a missing file says nothing).
inline std::optional<HardwareCalibration> load_cached(const std::string& path, const std::string& fingerprint,
                                                      std::vector<std::string>& warnings) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  try {
    HardwareCalibration h = load_profile(path);
    if (h.fingerprint == fingerprint) return h;
    warnings.push_back("cached profile " + path + " describes another machine or software (fingerprint " +
                       h.fingerprint + ", this one " + fingerprint + "): recalibrating");
  } catch (const Error& e) {
    warnings.push_back(std::string("cached profile unusable, recalibrating: ") + e.what());
  }
  return std::nullopt;
}

/// The fingerprint a calibration of `backend` would record, without
/// calibrating (device backends describe their device first).
inline std::string fingerprint_of(Backend& backend, const HostInfo& host) {
  std::map<std::string, std::string> sw;
  const nlohmann::json bsw = backend.software();
  for (auto it = bsw.begin(); it != bsw.end(); ++it)
    sw[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  sw["hwcal"] = HWCAL_VERSION_STRING;
  return fingerprint(host, backend.device_info(), backend.name(), sw);
}

}  // namespace detail

/// Cached or fresh calibration of `backend` (the CPU, or the one device a
/// device backend drives).
inline DeviceCalibration auto_calibrate_one(Backend& backend, const AutoCalibrateOptions& opt, double budget_s,
                                            const std::string& device) {
  if (!valid_budget(budget_s))
    throw std::invalid_argument("auto_calibrate: budget " + std::to_string(budget_s) + " s is outside (0, " +
                                std::to_string(max_budget_s) + "] s");
  DeviceCalibration result;
  result.device = device;
  const HostInfo host = cpu::detect_host();
  const bool cpu_target = backend.target() == "cpu";
  const int threads = cpu_target ? (opt.threads > 0 ? opt.threads : host.logical_cpus) : 1;
  const std::string key = detail::fingerprint_of(backend, host);
  const std::string dir = opt.cache_dir.empty() ? default_cache_dir() : opt.cache_dir;
  result.path = detail::cache_path(dir, key, threads, budget_s, opt);
  if (!opt.force)
    if (auto cached = detail::load_cached(result.path, key, result.warnings)) {
      result.profile = std::move(*cached);
      result.from_cache = true;
      return result;
    }
  CalibrationOptions co;
  co.mode = CalibrationMode::quick;
  co.budget_s = budget_s;
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

/// Cached or fresh calibration of a CPU `backend` (the one-device form).
inline AutoCalibration auto_calibrate(Backend& backend, const AutoCalibrateOptions& opt = {}) {
  DeviceCalibration d = auto_calibrate_one(backend, opt, opt.budget_s, backend.target());
  AutoCalibration a;
  a.profile = std::move(d.profile);
  a.path = std::move(d.path);
  a.from_cache = d.from_cache;
  a.warnings = std::move(d.warnings);
  return a;
}

/// The CPU backend auto_calibrate() uses: OpenBLAS-backed when the program
/// links hwcal::openblas, Eigen otherwise.
#if HWCAL_HAS_OPENBLAS
using DefaultCpuBackend = cpu::OpenBlasBackend;
#else
using DefaultCpuBackend = cpu::EigenBackend;
#endif

/// Every device the program can use: the CPU (with a backend made here, the
/// default one unless named) and, built with hwcal::cuda, each visible GPU.
/// A template, so the kernels are compiled only in a file that calls it, not
/// in every file that includes <hwcal/calibration.hpp>. A program built with
/// hwcal::cuda compiles <hwcal/cuda/kernels/all.cuh> into one .cu file, as
/// for any use of the CUDA backend.
template <class CpuBackend = DefaultCpuBackend>
AutoCalibration auto_calibrate(const AutoCalibrateOptions& opt = {}) {
  AutoCalibration a;
  if (opt.cpu) {
    CpuBackend backend;
    a = auto_calibrate(backend, opt);
  }
#if HWCAL_HAS_CUDA
  std::vector<int> gpus = opt.gpus;
  if (gpus.empty()) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      n = 0;
    }
    for (int i = 0; i < n; ++i) gpus.push_back(i);
  }
  for (int i : gpus) {
    if (i < 0) continue;
    const std::string name = "cuda:" + std::to_string(i);
    try {
      cuda::CudaBackend backend(i);
      a.gpus.push_back(auto_calibrate_one(backend, opt, opt.device_budget_s, name));
    } catch (const std::exception& e) {
      DeviceCalibration failed;
      failed.device = name;
      failed.error = e.what();
      a.gpus.push_back(std::move(failed));
    }
  }
#endif
  return a;
}

}  // namespace hwcal
