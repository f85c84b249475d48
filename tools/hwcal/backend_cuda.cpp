// Plugin module wrapping the CUDA backend (see CMakeLists.txt for why it is a plugin).
#include <hwcal/cuda/backend.hpp>
#include <hwcal/version.hpp>

extern "C" {
__attribute__((visibility("default"))) const char* hwcal_plugin_abi() { return HWCAL_VERSION_STRING; }
// Throws hwcal::UnavailableError (no device) across the C boundary on purpose:
// the host is the same C++ program, built by the same compiler.
__attribute__((visibility("default"))) hwcal::Backend* hwcal_create_backend() { return new hwcal::cuda::CudaBackend(0); }
}
