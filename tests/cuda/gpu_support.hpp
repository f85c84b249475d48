#pragma once
// Helpers shared by the GPU test programs.
#include "catch.hpp"

#include <hwcal/cuda/backend.hpp>

#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <string>

namespace hwcal_test {

/// One backend per options and test program, on device 0. Never destroyed:
/// their cuDNN and cuBLASLt handles must not outlive the CUDA runtime's own
/// teardown at exit.
inline hwcal::cuda::CudaBackend& backend(const hwcal::cuda::CudaOptions& options = {}) {
  static auto* all = new std::map<std::string, hwcal::cuda::CudaBackend*>();
  auto*& b = (*all)[options.describe()];
  if (!b) b = new hwcal::cuda::CudaBackend(0, options);
  return *b;
}

inline std::string describe(const hwcal::OpDesc& op, hwcal::Precision p) {
  return std::string(hwcal::to_string(op.kind)) + " " + std::string(hwcal::to_string(p)) + " " +
         hwcal::detail::shape_to_json(op).dump();
}

/// make, [prepare,] run, sync, check: the result of one execution against the reference.
inline hwcal::CheckResult run_and_check(hwcal::Kernel& k, hwcal::cuda::CudaBackend& b = backend()) {
  if (k.needs_prepare()) k.prepare();
  k.run();
  b.sync();
  return k.check();
}

/// Captures `runs` back-to-back run() calls of a kernel in a CUDA graph
/// (global capture mode: any call that could synchronise or allocate fails
/// the capture), replays it and waits. The capture is always ended, so a
/// failing run() leaves the stream usable for the next test.
inline void capture_and_replay(hwcal::Kernel& k, cudaStream_t stream, int runs = 3) {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  struct Cleanup {
    cudaStream_t s;
    cudaGraph_t& g;
    cudaGraphExec_t& e;
    ~Cleanup() {
      cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
      if (cudaStreamIsCapturing(s, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone) {
        cudaGraph_t dropped = nullptr;
        cudaStreamEndCapture(s, &dropped);
        if (dropped) cudaGraphDestroy(dropped);
      }
      if (e) cudaGraphExecDestroy(e);
      if (g) cudaGraphDestroy(g);
      cudaGetLastError();  // a failed capture leaves an error behind; the test has recorded it
    }
  } cleanup{stream, graph, exec};
  HWCAL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
  for (int r = 0; r < runs; ++r) k.run();
  HWCAL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  HWCAL_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  HWCAL_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  HWCAL_CUDA_CHECK(cudaStreamSynchronize(stream));
}

/// Every (op, precision): supported ones must compute correctly, the others
/// must refuse with UnavailableError.
inline void check_op(const hwcal::OpDesc& op, hwcal::Precision p, hwcal::cuda::CudaBackend& b = backend()) {
  const hwcal::Support s = b.supports(op, p);
  INFO(describe(op, p) << " [" << b.options().describe() << "]: " << s.note);
  if (!s.usable()) {
    CHECK_THROWS_AS(b.make(op, p), hwcal::UnavailableError);
    return;
  }
  // Failures are recorded per (op, precision) so one does not hide the others.
  std::unique_ptr<hwcal::Kernel> k;
  try {
    k = b.make(op, p);
  } catch (const std::exception& e) {
    FAIL_CHECK("make() threw although supports() said usable: " << e.what());
    return;
  }
  INFO("implementation: " << k->implementation());
  try {
    const hwcal::CheckResult r = run_and_check(*k, b);
    INFO(r.detail << " (max error " << r.max_error << ", " << r.checked << " checked)");
    CHECK(r.ok);
    CHECK(r.checked > 0);
  } catch (const std::exception& e) {
    FAIL_CHECK("run/check threw: " << e.what());
  }
}

}  // namespace hwcal_test
