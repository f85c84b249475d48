#pragma once
// The libtorch a TorchBackend runs on: which ATen dtype a precision maps to,
// how many threads ATen and its BLAS use, and the versions and build facts a
// profile records. Nothing here runs an op.
//
// Threads: a Python user reproducing a measurement runs
//   OMP_NUM_THREADS=n OPENBLAS_NUM_THREADS=n python -c "torch.set_num_threads(n); ..."
// at::set_num_threads covers ATen's own loops and oneDNN (both OpenMP), but
// not OpenBLAS: Debian's libtorch calls sgemm/dgemm through libblas.so.3,
// which is OpenBLAS's pthread build with a thread pool of its own. Its
// openblas_set_num_threads is looked up at run time (dlsym) so the backend
// does not have to link OpenBLAS itself, and software() says whether it was
// found.

#include <hwcal/torch/guard.hpp>

#include <hwcal/error.hpp>
#include <hwcal/kinds.hpp>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/csrc/api/include/torch/version.h>

#include <dlfcn.h>

#include <map>
#include <optional>
#include <string>

namespace hwcal {
namespace aten {

/// The ATen dtype that stores a precision; empty where ATen has none
/// (tf32 is a CUDA math mode, int8/fp8 are not float dtypes of eager ops).
inline std::optional<at::ScalarType> scalar_type(Precision p) noexcept {
  switch (p) {
    case Precision::fp64: return at::kDouble;
    case Precision::fp32: return at::kFloat;
    case Precision::bf16: return at::kBFloat16;
    case Precision::fp16: return at::kHalf;
    default: return std::nullopt;
  }
}

namespace detail {

/// OpenBLAS's thread control, found in the running process or not.
struct OpenBlas {
  using SetThreads = void (*)(int);
  using GetThreads = int (*)();
  using GetConfig = char* (*)();
  SetThreads set_num_threads = nullptr;
  GetThreads get_num_threads = nullptr;
  GetConfig get_config = nullptr;

  static const OpenBlas& get() {
    static const OpenBlas instance = [] {
      OpenBlas o;
      // dlsym returns void*; POSIX guarantees it converts to a function pointer.
      o.set_num_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
      o.get_num_threads = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
      o.get_config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
      return o;
    }();
    return instance;
  }
};

/// The text after `key` in `text` up to the first of `stops` (trimmed), or
/// empty when `key` is absent. show_config() is free text, parsed leniently.
inline std::string field_after(const std::string& text, const std::string& key, const char* stops) {
  const auto at_key = text.find(key);
  if (at_key == std::string::npos) return {};
  const auto begin = at_key + key.size();
  auto value = text.substr(begin, text.find_first_of(stops, begin) - begin);
  const auto first = value.find_first_not_of(' ');
  const auto last = value.find_last_not_of(' ');
  return first == std::string::npos ? std::string() : value.substr(first, last - first + 1);
}

/// "Intel(R) MKL-DNN v2.6.3 (Git Hash N/A)" -> "2.6.3".
inline std::string onednn_version(const std::string& banner) {
  const auto v = banner.find(" v");
  if (v == std::string::npos) return banner;
  return banner.substr(v + 2, banner.find(' ', v + 2) - (v + 2));
}

}  // namespace detail

/// Threads for ATen (OpenMP, which oneDNN shares) and for OpenBLAS. Like
/// torch.set_num_threads, this sets the calling thread's OpenMP team size:
/// run kernels from the thread that called it.
inline void set_threads(int n) {
  if (n < 1) throw Error("torch backend: thread count must be positive, got " + std::to_string(n));
  at::set_num_threads(n);
  if (const auto set = detail::OpenBlas::get().set_num_threads) set(n);
}

inline int threads() { return at::get_num_threads(); }

/// Versions and build facts as flat strings (the profile's software block is
/// a string map). Keys are prefixed "torch" so they merge with other blocks.
inline std::map<std::string, std::string> software() {
  const std::string config = at::show_config();
  std::map<std::string, std::string> sw;
  // The version the loaded library was built as, which can differ from the
  // headers compiled against (and Debian's 1.13.1 package builds as 1.13.0).
  const auto built = detail::field_after(config, "TORCH_VERSION=", ",\n");
  sw["torch"] = built.empty() ? std::string(TORCH_VERSION) : built;
  sw["torch_headers"] = TORCH_VERSION;
  // get_cpu_capability() is not exported in 1.13; show_config() reports it.
  const auto capability = detail::field_after(config, "CPU capability usage:", "\n");
  sw["torch_cpu_capability"] = capability.empty() ? "unknown" : capability;
  const auto parallel = detail::field_after(at::get_parallel_info(), "ATen parallel backend:", "\n");
  sw["torch_parallel"] = parallel.empty() ? "unknown" : parallel;
  sw["torch_onednn"] = at::hasMKLDNN() ? detail::onednn_version(at::get_mkldnn_version()) : "not built";
  const auto& blas = detail::OpenBlas::get();
  std::string blas_info = detail::field_after(config, "BLAS_INFO=", ",\n");
  if (blas.get_config) blas_info += std::string(blas_info.empty() ? "" : " ") + "(" + blas.get_config() + ")";
  sw["torch_blas"] = blas_info.empty() ? "unknown" : blas_info;
  sw["torch_blas_threads"] = blas.set_num_threads ? "set with openblas_set_num_threads"
                                                  : "openblas_set_num_threads not found: BLAS threads not controlled";
  sw["torch_grad_mode"] = "no_grad";
  sw["torch_outputs"] = "allocated per call";
  return sw;
}

}  // namespace aten
}  // namespace hwcal
