// Plugin module wrapping the CUDA backend (see CMakeLists.txt for why it is a plugin).
#include <hwcal/cuda/backend.hpp>
#include <hwcal/version.hpp>

extern "C" {
__attribute__((visibility("default"))) const char* hwcal_plugin_abi() { return HWCAL_VERSION_STRING; }
// Throws hwcal::UnavailableError (no device) across the C boundary on purpose:
// the host is the same C++ program, built by the same compiler.
__attribute__((visibility("default"))) hwcal::Backend* hwcal_create_backend(int device) {
  return new hwcal::cuda::CudaBackend(device);
}
// The visible devices as {"devices": [DeviceInfo...]} or {"error": why}: how
// `hwcal predict` and `show` tell whether a GPU profile describes this machine.
__attribute__((visibility("default"))) const char* hwcal_visible_devices() {
  static std::string text;
  nlohmann::json j;
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    j["error"] = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
  } else {
    j["devices"] = nlohmann::json::array();
    for (int i = 0; i < n; ++i) j["devices"].push_back(hwcal::cuda::query_device(i));
  }
  text = j.dump();
  return text.c_str();
}
}
