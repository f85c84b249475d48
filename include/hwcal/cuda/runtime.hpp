#pragma once
// Small RAII owners of CUDA runtime objects (device memory, streams, events)
// and the host-side views checks use to read samples of device tensors back.
// Compiles with g++ alone.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/dtype.hpp>
#include <hwcal/cuda/error.hpp>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace hwcal {
namespace cuda {

/// Makes `device` current for the lifetime of the guard.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    HWCAL_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != device) HWCAL_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() {
    int current = previous_;
    if (cudaGetDevice(&current) == cudaSuccess && current != previous_) cudaSetDevice(previous_);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};

/// Device memory on the current device.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::int64_t bytes) : bytes_(bytes) {
    if (bytes > 0) HWCAL_CUDA_CHECK(cudaMalloc(&ptr_, static_cast<std::size_t>(bytes)));
  }
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const noexcept { return ptr_; }
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(ptr_);
  }
  std::int64_t bytes() const noexcept { return bytes_; }
  explicit operator bool() const noexcept { return ptr_ != nullptr; }

 private:
  void reset() noexcept {
    if (ptr_) cudaFree(ptr_);  // no throw from a destructor; a failed free means a dead context
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* ptr_ = nullptr;
  std::int64_t bytes_ = 0;
};

/// A typed device tensor: storage format, element count, memory.
struct DeviceTensor {
  DType dtype = DType::f32;
  std::int64_t elements = 0;
  DeviceBuffer memory;

  DeviceTensor() = default;
  DeviceTensor(DType t, std::int64_t n) : dtype(t), elements(n), memory(n * dtype_bytes(t)) {}
  void* get() const noexcept { return memory.get(); }
  std::int64_t bytes() const noexcept { return elements * dtype_bytes(dtype); }
};

class Stream {
 public:
  Stream() { HWCAL_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const noexcept { return s_; }
  void sync() const { HWCAL_CUDA_CHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() { HWCAL_CUDA_CHECK(cudaEventCreate(&e_)); }
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const noexcept { return e_; }
  void record(cudaStream_t s) const { HWCAL_CUDA_CHECK(cudaEventRecord(e_, s)); }
  /// Milliseconds from `start` to this event (both recorded and complete).
  float since(const Event& start) const {
    float ms = 0;
    HWCAL_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, e_));
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

/// Elements [offset, offset + count) of a device tensor, decoded on the host.
/// `stride` > 1 reads every stride-th element (a column of a row-major matrix).
inline std::vector<double> fetch(const DeviceTensor& t, std::int64_t offset, std::int64_t count,
                                 std::int64_t stride = 1) {
  const int eb = dtype_bytes(t.dtype);
  std::vector<unsigned char> raw(static_cast<std::size_t>(count * eb));
  const auto* src = static_cast<const unsigned char*>(t.get()) + offset * eb;
  if (stride == 1)
    HWCAL_CUDA_CHECK(cudaMemcpy(raw.data(), src, raw.size(), cudaMemcpyDeviceToHost));
  else
    HWCAL_CUDA_CHECK(cudaMemcpy2D(raw.data(), static_cast<std::size_t>(eb), src, static_cast<std::size_t>(stride * eb),
                                  static_cast<std::size_t>(eb), static_cast<std::size_t>(count),
                                  cudaMemcpyDeviceToHost));
  std::vector<double> out(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) out[static_cast<std::size_t>(i)] = decode(t.dtype, raw.data(), i);
  return out;
}

/// The whole tensor, decoded (for ops whose reference reads arbitrary inputs).
inline std::vector<double> fetch_all(const DeviceTensor& t) { return fetch(t, 0, t.elements); }

/// One element.
inline double fetch_one(const DeviceTensor& t, std::int64_t i) { return fetch(t, i, 1)[0]; }

}  // namespace cuda
}  // namespace hwcal
