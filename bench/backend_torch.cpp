// The ATen backend in its own translation unit (ATen's headers take most of
// this program's compile time).
#include <hwcal/torch/backend.hpp>

#include <memory>

namespace bench {
std::unique_ptr<hwcal::Backend> make_torch_backend() { return std::make_unique<hwcal::aten::TorchBackend>(); }
}  // namespace bench
