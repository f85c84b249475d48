#pragma once
// Clocks and throttling during a run, read through NVML. NVML is loaded with
// dlopen("libnvidia-ml.so.1") at run time: no link dependency, and on a
// machine without it (or without a driver) clocks are simply unknown.
//
//   ClockMonitor clocks(device_index);
//   ... clocks.sample() between timed batches ...
//   clocks.apply(info);   // measured_sm_clock_mhz, measured_mem_clock_mhz, throttled
//
// "Throttled" means the clocks were pulled down by something other than the
// workload's own power draw: thermal or hardware slowdown, power brake, or an
// SM clock below `threshold` x max (nvbench's rule, 75%). A software power
// cap alone is normal for large GEMMs on H100/H200 and is recorded, not
// flagged: it is the sustained behaviour a model will see.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/error.hpp>
#include <hwcal/schema.hpp>

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace hwcal {
namespace cuda {

/// Clock-event (throttle) reason bits, as in nvml.h.
namespace clock_reason {
inline constexpr std::uint64_t gpu_idle = 0x1;
inline constexpr std::uint64_t applications_clocks = 0x2;
inline constexpr std::uint64_t sw_power_cap = 0x4;
inline constexpr std::uint64_t hw_slowdown = 0x8;
inline constexpr std::uint64_t sync_boost = 0x10;
inline constexpr std::uint64_t sw_thermal = 0x20;
inline constexpr std::uint64_t hw_thermal = 0x40;
inline constexpr std::uint64_t hw_power_brake = 0x80;
inline constexpr std::uint64_t display_clock = 0x100;
/// Reasons that make a sample unrepresentative of sustained operation.
inline constexpr std::uint64_t throttling = hw_slowdown | sw_thermal | hw_thermal | hw_power_brake;
}  // namespace clock_reason

namespace detail {

/// The few NVML entry points hwcal uses, resolved once per process.
class Nvml {
 public:
  using Device = void*;  // nvmlDevice_t is an opaque pointer
  static Nvml& instance() {
    static Nvml nvml;
    return nvml;
  }
  bool ok() const noexcept { return ok_; }
  const std::string& why_not() const noexcept { return why_not_; }

  Device device_by_uuid(const std::string& uuid) const {
    Device d = nullptr;
    return ok_ && by_uuid_(uuid.c_str(), &d) == 0 ? d : nullptr;
  }
  /// MHz of clock type 1 (SM) or 2 (memory); 0 when unknown.
  double clock_mhz(Device d, int type) const {
    unsigned v = 0;
    return ok_ && d && clock_(d, type, &v) == 0 ? static_cast<double>(v) : 0.0;
  }
  double max_clock_mhz(Device d, int type) const {
    unsigned v = 0;
    return ok_ && d && max_clock_(d, type, &v) == 0 ? static_cast<double>(v) : 0.0;
  }
  /// Current clock-event reasons, or false when NVML cannot tell.
  bool reasons(Device d, std::uint64_t& out) const {
    unsigned long long v = 0;
    if (!ok_ || !d || !reasons_ || reasons_(d, &v) != 0) return false;
    out = v;
    return true;
  }
  /// Active NVLinks of a device, or -1 when NVML cannot tell.
  int active_nvlinks(Device d) const {
    if (!ok_ || !d || !nvlink_state_) return -1;
    int active = 0;
    for (unsigned link = 0; link < 18; ++link) {  // NVML_NVLINK_MAX_LINKS
      int state = 0;                              // nvmlEnableState_t
      if (nvlink_state_(d, link, &state) == 0 && state == 1) ++active;
    }
    return active;
  }
  std::string driver_version() const {
    char buf[96] = {};
    return ok_ && driver_(buf, sizeof buf) == 0 ? std::string(buf) : std::string();
  }

  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

 private:
  using InitFn = int (*)();
  using ByUuidFn = int (*)(const char*, Device*);
  using ClockFn = int (*)(Device, int, unsigned*);
  using ReasonsFn = int (*)(Device, unsigned long long*);
  using DriverFn = int (*)(char*, unsigned);
  using NvLinkStateFn = int (*)(Device, unsigned, int*);

  Nvml() {
    lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib_) {
      why_not_ = "libnvidia-ml.so.1 not found";
      return;
    }
    auto init = sym<InitFn>("nvmlInit_v2");
    shutdown_ = sym<InitFn>("nvmlShutdown");
    by_uuid_ = sym<ByUuidFn>("nvmlDeviceGetHandleByUUID");
    clock_ = sym<ClockFn>("nvmlDeviceGetClockInfo");
    max_clock_ = sym<ClockFn>("nvmlDeviceGetMaxClockInfo");
    driver_ = sym<DriverFn>("nvmlSystemGetDriverVersion");
    nvlink_state_ = sym<NvLinkStateFn>("nvmlDeviceGetNvLinkState");  // optional: topology of collectives
    // Renamed in driver 535; older drivers only have the throttle spelling.
    reasons_ = sym<ReasonsFn>("nvmlDeviceGetCurrentClocksEventReasons");
    if (!reasons_) reasons_ = sym<ReasonsFn>("nvmlDeviceGetCurrentClocksThrottleReasons");
    if (!init || !shutdown_ || !by_uuid_ || !clock_ || !max_clock_ || !driver_) {
      why_not_ = "libnvidia-ml.so.1 lacks a required symbol";
      return;
    }
    if (init() != 0) {
      why_not_ = "nvmlInit failed (no driver?)";
      return;
    }
    ok_ = true;
  }
  ~Nvml() {
    if (ok_) shutdown_();
    if (lib_) dlclose(lib_);
  }
  template <class F>
  F sym(const char* name) const {
    return reinterpret_cast<F>(dlsym(lib_, name));
  }

  void* lib_ = nullptr;
  bool ok_ = false;
  std::string why_not_;
  InitFn shutdown_ = nullptr;
  ByUuidFn by_uuid_ = nullptr;
  ClockFn clock_ = nullptr;
  ClockFn max_clock_ = nullptr;
  ReasonsFn reasons_ = nullptr;
  DriverFn driver_ = nullptr;
  NvLinkStateFn nvlink_state_ = nullptr;
};

/// NVML's spelling of a CUDA device UUID: "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
inline std::string format_uuid(const unsigned char (&b)[16]) {
  char s[48];
  std::snprintf(s, sizeof s, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return s;
}

inline std::string device_uuid(int device) {
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return {};
  unsigned char bytes[16];
  for (int i = 0; i < 16; ++i) bytes[i] = static_cast<unsigned char>(prop.uuid.bytes[i]);
  return format_uuid(bytes);
}

}  // namespace detail

/// One reading of the device's clocks.
struct ClockSample {
  double sm_mhz = 0, mem_mhz = 0;  ///< 0 = unknown
  std::uint64_t reasons = 0;
  bool throttled = false;
};

/// Samples SM/memory clocks and throttle reasons of one device; keeps running
/// statistics of the samples taken.
class ClockMonitor {
 public:
  explicit ClockMonitor(int device, double threshold = 0.75) : threshold_(threshold) {
    auto& nvml = detail::Nvml::instance();
    if (nvml.ok()) {
      handle_ = nvml.device_by_uuid(detail::device_uuid(device));
      if (handle_) max_sm_mhz_ = nvml.max_clock_mhz(handle_, 1);
    }
  }

  /// Clocks are known only with NVML and a matching device.
  bool available() const noexcept { return handle_ != nullptr; }
  std::string why_unavailable() const {
    const auto& nvml = detail::Nvml::instance();
    return !nvml.ok() ? nvml.why_not() : (available() ? std::string() : "no NVML device with this UUID");
  }

  ClockSample sample() {
    ClockSample s;
    if (!handle_) return s;
    const auto& nvml = detail::Nvml::instance();
    s.sm_mhz = nvml.clock_mhz(handle_, 1);
    s.mem_mhz = nvml.clock_mhz(handle_, 2);
    nvml.reasons(handle_, s.reasons);
    s.throttled = (s.reasons & clock_reason::throttling) != 0 ||
                  (max_sm_mhz_ > 0 && s.sm_mhz > 0 && s.sm_mhz < threshold_ * max_sm_mhz_);
    ++count_;
    sm_sum_ += s.sm_mhz;
    mem_sum_ += s.mem_mhz;
    if (s.throttled) ++throttled_;
    reasons_seen_ |= s.reasons;
    return s;
  }

  int samples() const noexcept { return count_; }
  int throttled_samples() const noexcept { return throttled_; }
  std::uint64_t reasons_seen() const noexcept { return reasons_seen_; }
  double mean_sm_mhz() const noexcept { return count_ ? sm_sum_ / count_ : 0.0; }
  double mean_mem_mhz() const noexcept { return count_ ? mem_sum_ / count_ : 0.0; }
  double max_sm_mhz() const noexcept { return max_sm_mhz_; }
  void reset() noexcept {
    count_ = throttled_ = 0;
    sm_sum_ = mem_sum_ = 0;
    reasons_seen_ = 0;
  }

  /// Records the run's clocks in a DeviceInfo (left 0 = unknown without NVML).
  void apply(DeviceInfo& d) const {
    d.measured_sm_clock_mhz = mean_sm_mhz();
    d.measured_mem_clock_mhz = mean_mem_mhz();
    d.throttled = d.throttled || throttled_ > 0;
  }

 private:
  detail::Nvml::Device handle_ = nullptr;
  double threshold_;
  double max_sm_mhz_ = 0;
  int count_ = 0, throttled_ = 0;
  double sm_sum_ = 0, mem_sum_ = 0;
  std::uint64_t reasons_seen_ = 0;
};

/// Names of the reason bits set in `reasons`, comma separated.
inline std::string describe_clock_reasons(std::uint64_t reasons) {
  static constexpr struct {
    std::uint64_t bit;
    const char* name;
  } names[] = {
      {clock_reason::gpu_idle, "gpu_idle"},          {clock_reason::applications_clocks, "applications_clocks"},
      {clock_reason::sw_power_cap, "sw_power_cap"},  {clock_reason::hw_slowdown, "hw_slowdown"},
      {clock_reason::sync_boost, "sync_boost"},      {clock_reason::sw_thermal, "sw_thermal"},
      {clock_reason::hw_thermal, "hw_thermal"},      {clock_reason::hw_power_brake, "hw_power_brake"},
      {clock_reason::display_clock, "display_clock"}};
  std::string out;
  for (const auto& n : names)
    if (reasons & n.bit) out += (out.empty() ? "" : ",") + std::string(n.name);
  return out;
}

}  // namespace cuda
}  // namespace hwcal
