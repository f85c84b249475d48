// The oneDNN backend in its own translation unit: its headers are large, and
// a separate unit compiles in parallel with the rest and only when it changes.
#include <hwcal/onednn/backend.hpp>

#include <memory>

namespace bench {
std::unique_ptr<hwcal::Backend> make_onednn_backend() { return std::make_unique<hwcal::onednn::OneDnnBackend>(); }
}  // namespace bench
