#pragma once
// Memory bandwidth over working sets from KiB to GiB, so a sweep shows the L2
// plateau, the fall to HBM and the HBM plateau.
//
// The kernels (kernels/memory.cuh) load and store through L2 only (.cg), so a
// 64 KiB working set measures L2, not the SMs' L1. Small working sets are
// revisited `passes` times within one launch so a launch moves at least
// ~512 MiB and launch overhead stays out of the number. Timing is warm (no
// flush; graph-replayed like every device sample, cuda/measure.hpp): the
// working set itself decides where the data lives.
// Bytes counted per element visit: read 16, copy 32 (read + write), triad 48.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/cuda/launch.hpp>
#include <hwcal/cuda/measure.hpp>
#include <hwcal/cuda/runtime.hpp>
#include <hwcal/schema.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace hwcal {
namespace cuda {

/// Arrays a kernel touches (its working set is split evenly among them).
constexpr int bandwidth_arrays(BandwidthKernel k) noexcept {
  return k == BandwidthKernel::read ? 1 : (k == BandwidthKernel::copy ? 2 : 3);
}

/// Bandwidth of `kernel` over a working set of about `working_set_bytes`
/// (rounded down to whole 16-byte vectors per array), on `device`.
inline BandwidthPoint measure_bandwidth(int device, BandwidthKernel kernel, std::int64_t working_set_bytes,
                                        const MeasureOptions& opt = {}, ClockMonitor* clocks = nullptr) {
  DeviceGuard guard(device);
  const int arrays = bandwidth_arrays(kernel);
  const std::int64_t vectors = std::max<std::int64_t>(1, working_set_bytes / (16 * arrays));
  int sms = 0;
  HWCAL_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));

  DeviceBuffer a(vectors * 16);
  // read: b is the per-block sink (4 blocks per SM at most)
  DeviceBuffer b(kernel == BandwidthKernel::read ? std::int64_t{4} * sms * 16 : vectors * 16);
  DeviceBuffer c(kernel == BandwidthKernel::triad ? vectors * 16 : 0);
  Stream stream;
  for (const DeviceBuffer* buf : {&a, &b, &c})
    if (buf->bytes() > 0)
      HWCAL_CUDA_CHECK(cudaMemsetAsync(buf->get(), 0, static_cast<std::size_t>(buf->bytes()), stream.get()));

  const std::int64_t per_pass = vectors * 16 * arrays;
  constexpr std::int64_t target = std::int64_t{512} << 20;
  const std::int64_t passes = std::max<std::int64_t>(1, (target + per_pass - 1) / per_pass);

  Timer timer(device, 1);
  DeviceMeasureOptions o;
  o.stop = opt;
  const Measurement m = timer.measure(
      [&] {
        HWCAL_CUDA_CHECK(launch::bandwidth(kernel, a.get(), b.get(), c.get(), vectors, passes, sms, stream.get()));
      },
      stream.get(), o, clocks);

  BandwidthPoint p;
  p.working_set_bytes = per_pass;
  p.kernel = std::string(to_string(kernel));
  p.time = to_time_stats(m);
  p.gbps = m.median_s > 0 ? static_cast<double>(per_pass) * static_cast<double>(passes) / m.median_s / 1e9 : 0;
  return p;
}

/// Working sets from `from` to `to` bytes, `per_octave` points per doubling.
inline std::vector<std::int64_t> bandwidth_sizes(std::int64_t from = std::int64_t{64} << 10,
                                                 std::int64_t to = std::int64_t{1} << 30, int per_octave = 2) {
  std::vector<std::int64_t> sizes;
  for (int i = 0;; ++i) {
    const double s = static_cast<double>(from) * std::exp2(static_cast<double>(i) / per_octave);
    if (s > static_cast<double>(to) * 1.0001) break;
    sizes.push_back(static_cast<std::int64_t>(s) / 256 * 256);
  }
  return sizes;
}

inline std::vector<BandwidthPoint> bandwidth_sweep(int device, BandwidthKernel kernel,
                                                   const std::vector<std::int64_t>& sizes = bandwidth_sizes(),
                                                   const MeasureOptions& opt = MeasureOptions::quick(),
                                                   ClockMonitor* clocks = nullptr) {
  std::vector<BandwidthPoint> out;
  out.reserve(sizes.size());
  for (std::int64_t s : sizes) out.push_back(measure_bandwidth(device, kernel, s, opt, clocks));
  return out;
}

}  // namespace cuda
}  // namespace hwcal
