// Plugin module wrapping the ATen backend (see CMakeLists.txt for why it is a plugin).
#include <hwcal/torch/backend.hpp>
#include <hwcal/version.hpp>

extern "C" {
__attribute__((visibility("default"))) const char* hwcal_plugin_abi() { return HWCAL_VERSION_STRING; }
// `device` is ignored: the ATen backend runs on the CPU.
__attribute__((visibility("default"))) hwcal::Backend* hwcal_create_backend(int /*device*/) {
  return new hwcal::aten::TorchBackend();
}
}
