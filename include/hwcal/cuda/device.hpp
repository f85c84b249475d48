#pragma once
// What the machine's GPUs are: count, identity, SMs, clocks, memory, L2, and
// the versions of the libraries hwcal measures through.
//
// device_count() never throws: on a machine without a driver every CUDA call
// fails ("CUDA driver version is insufficient"), which reads as 0 devices.
// CUDA 13 removed clockRate / memoryClockRate from cudaDeviceProp; the clocks
// come from cudaDeviceGetAttribute (cudaDevAttrClockRate, cudaDevAttrMemoryClockRate),
// or from NVML's max clocks when it is present.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/error.hpp>
#include <hwcal/cuda/nvml.hpp>
#include <hwcal/schema.hpp>

#include <cublasLt.h>
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <map>
#include <string>

namespace hwcal {
namespace cuda {

/// Number of usable CUDA devices; 0 on any error (no driver, no device).
inline int device_count() noexcept {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    return 0;
  }
  return n;
}

inline bool available() noexcept { return device_count() > 0; }

namespace detail {

inline std::string version_string(int v, int major_div, int minor_div, int minor_mod) {
  return std::to_string(v / major_div) + "." + std::to_string(v / minor_div % minor_mod);
}

inline int attribute(cudaDeviceAttr a, int device) {
  int v = 0;
  HWCAL_CUDA_CHECK(cudaDeviceGetAttribute(&v, a, device));
  return v;
}

}  // namespace detail

/// Identity and capabilities of device `index`. Throws UnavailableError when
/// there is no such device.
inline DeviceInfo query_device(int index) {
  const int n = device_count();
  if (index < 0 || index >= n)
    throw UnavailableError("CUDA device " + std::to_string(index) + " not present (" + std::to_string(n) +
                           " CUDA devices visible)");
  cudaDeviceProp prop{};
  HWCAL_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  DeviceInfo d;
  d.name = prop.name;
  d.index = index;
  d.uuid = detail::device_uuid(index);
  d.sm_count = prop.multiProcessorCount;
  d.cc_major = prop.major;
  d.cc_minor = prop.minor;
  d.memory_bytes = static_cast<std::int64_t>(prop.totalGlobalMem);
  d.l2_bytes = prop.l2CacheSize;
  d.memory_bus_bits = prop.memoryBusWidth;
  d.max_sm_clock_mhz = detail::attribute(cudaDevAttrClockRate, index) / 1000.0;         // kHz
  d.max_mem_clock_mhz = detail::attribute(cudaDevAttrMemoryClockRate, index) / 1000.0;  // kHz
  const auto& nvml = detail::Nvml::instance();
  if (auto h = nvml.device_by_uuid(d.uuid)) {
    if (double sm = nvml.max_clock_mhz(h, 1); sm > 0) d.max_sm_clock_mhz = sm;
    if (double mem = nvml.max_clock_mhz(h, 2); mem > 0) d.max_mem_clock_mhz = mem;
  }
  d.driver = nvml.driver_version();
  if (d.driver.empty()) {
    int v = 0;
    if (cudaDriverGetVersion(&v) == cudaSuccess)
      d.driver = "CUDA driver API " + detail::version_string(v, 1000, 10, 100);
  }
  return d;
}

/// Versions for the profile's software block: CUDA runtime and driver API,
/// cuBLAS, cuBLASLt, cuDNN (run-time library and the headers built against),
/// and the NVIDIA driver where NVML reports it.
inline std::map<std::string, std::string> software_versions() {
  std::map<std::string, std::string> sw;
  int v = 0;
  if (cudaRuntimeGetVersion(&v) == cudaSuccess) sw["cuda_runtime"] = detail::version_string(v, 1000, 10, 100);
  if (cudaDriverGetVersion(&v) == cudaSuccess && v > 0)
    sw["cuda_driver_api"] = detail::version_string(v, 1000, 10, 100);
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    sw["cublas"] = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  const auto lt = static_cast<int>(cublasLtGetVersion());  // major*10000 + minor*100 + patch
  sw["cublaslt"] = std::to_string(lt / 10000) + "." + std::to_string(lt / 100 % 100) + "." + std::to_string(lt % 100);
  const auto dnn = static_cast<int>(cudnnGetVersion());  // major*10000 + minor*100 + patch (cuDNN 9)
  sw["cudnn"] = std::to_string(dnn / 10000) + "." + std::to_string(dnn / 100 % 100) + "." + std::to_string(dnn % 100);
  sw["cudnn_headers"] =
      std::to_string(CUDNN_MAJOR) + "." + std::to_string(CUDNN_MINOR) + "." + std::to_string(CUDNN_PATCHLEVEL);
  sw["cuda_headers"] = detail::version_string(CUDART_VERSION, 1000, 10, 100);
  const std::string driver = detail::Nvml::instance().driver_version();
  if (!driver.empty()) sw["nvidia_driver"] = driver;
  return sw;
}

}  // namespace cuda
}  // namespace hwcal
