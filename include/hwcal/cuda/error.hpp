#pragma once
// Error checking for the CUDA runtime, cuBLAS(Lt) and cuDNN. Every failing call
// throws hwcal::Error naming the file:line, the call as written and the
// library's own description, so a failure on a lent GPU machine can be read
// from the log alone.
//
//   HWCAL_CUDA_CHECK(cudaMalloc(&p, n));
//   HWCAL_CUBLAS_CHECK(cublasLtMatmul(...));
//   HWCAL_CUDNN_CHECK(cudnnBackendFinalize(desc));

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/error.hpp>

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <string>

namespace hwcal {
namespace cuda {
namespace detail {

inline std::string where(const char* call, const char* file, int line) {
  return std::string(file) + ":" + std::to_string(line) + ": " + call + " failed: ";
}

inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  throw Error(where(call, file, line) + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw Error(where(call, file, line) + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) + ")");
}

inline void check_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  // cuDNN 9 keeps a longer explanation of the last failure per thread.
  char last[512] = {};
  cudnnGetLastErrorString(last, sizeof last);
  std::string msg = where(call, file, line) + cudnnGetErrorString(s);
  if (last[0] != '\0') msg += std::string(" (") + last + ")";
  throw Error(msg);
}

}  // namespace detail
}  // namespace cuda
}  // namespace hwcal

#define HWCAL_CUDA_CHECK(call) ::hwcal::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define HWCAL_CUBLAS_CHECK(call) ::hwcal::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)
#define HWCAL_CUDNN_CHECK(call) ::hwcal::cuda::detail::check_cudnn((call), #call, __FILE__, __LINE__)
