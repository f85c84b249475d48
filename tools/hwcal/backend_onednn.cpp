// The oneDNN backend, in its own translation unit (oneDNN's headers are large).
#include "cli.hpp"

#include <hwcal/onednn/backend.hpp>

namespace hwcal::cli {
std::unique_ptr<Backend> make_onednn_backend() { return std::make_unique<onednn::OneDnnBackend>(); }
}  // namespace hwcal::cli
