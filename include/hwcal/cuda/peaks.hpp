#pragma once
// Theoretical dense peaks of NVIDIA GPUs: SMs x SM clock x operations per
// clock per SM, from a small table per compute capability, and DRAM bandwidth
// from the memory clock and bus width. Each Peak says how it was derived, at
// which clock; an architecture not in the table gets no number and says so
// (never a guess).
//
// The per-SM rates are the dense (non-sparse) tensor-core rates with fp32
// accumulation for fp16/bf16/fp8, int32 accumulation for int8, and the rate
// cuBLAS's fp64 GEMM runs at (DMMA tensor cores where the SM has them).
// fp32 is the SIMT FMA rate (2 flops per FMA).

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/schema.hpp>

#include <array>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace hwcal {
namespace cuda {

/// Operations per clock per SM for one architecture, indexed like
/// hwcal::all_precisions (fp64, fp32, tf32, fp16, bf16, int8, fp8); 0 = none.
struct ArchRates {
  int cc_major, cc_minor;
  const char* name;
  std::array<double, 7> per_sm;
  const char* source;
};

// Sources (peak = SMs x boost clock x rate; each rate reproduces the vendor's
// dense figures at the clock named):
//  8.0  NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020): A100 SXM4,
//       108 SMs, 1410 MHz: fp64 tensor 19.5, fp32 19.5, tf32 156, fp16/bf16 312,
//       int8 624 TFLOP/s/TOP/s.
//  8.6  NVIDIA Ampere GA102 GPU Architecture whitepaper (2021): RTX A6000, 84 SMs,
//       1800 MHz: fp32 38.7, tf32 77.4, fp16/bf16 (fp32 accumulate) 154.8, int8 309.7;
//       fp64 at 1/64 of fp32. GeForce parts halve fp16/bf16 with fp32 accumulate.
//  8.9  NVIDIA Ada GPU Architecture whitepaper (2023) and L40S datasheet: L40S,
//       142 SMs, 2520 MHz: fp32 91.6, tf32 183, fp16/bf16 366, fp8 733, int8 733;
//       fp64 at 1/64 of fp32. GeForce parts halve fp16/bf16/fp8 with fp32 accumulate.
//  9.0  NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022): H100 SXM5,
//       132 SMs: fp64 tensor 66.9 and fp32 66.9 at 1980 MHz; tf32 494.7,
//       fp16/bf16 989.4, fp8 1978.9, int8 1978.9 at 1830 MHz.
//  10.0 NVIDIA DGX B200 datasheet (2024), per GPU, sparse figures halved:
//       148 SMs; tf32 1.1, fp16/bf16 2.25, fp8 4.5, int8 4.5 PFLOP/s at ~1.86 GHz;
//       fp32 80, fp64 40 TFLOP/s (rates rounded to the nearest power of two, so
//       these two are approximate).
inline constexpr std::array<ArchRates, 5> arch_rates{{
    {8, 0, "Ampere GA100", {128, 128, 1024, 2048, 2048, 4096, 0}, "A100 whitepaper"},
    {8, 6, "Ampere GA10x", {4, 256, 512, 1024, 1024, 2048, 0}, "GA102 whitepaper (RTX A6000 rates)"},
    {8, 9, "Ada AD10x", {4, 256, 512, 1024, 1024, 2048, 2048}, "Ada whitepaper / L40S datasheet"},
    {9, 0, "Hopper GH100", {256, 256, 2048, 4096, 4096, 8192, 8192}, "H100 whitepaper"},
    {10,
     0,
     "Blackwell GB100",
     {128, 256, 4096, 8192, 8192, 16384, 16384},
     "DGX B200 datasheet (approximate fp32/fp64)"},
}};

inline const ArchRates* find_arch(int cc_major, int cc_minor) noexcept {
  for (const auto& a : arch_rates)
    if (a.cc_major == cc_major && a.cc_minor == cc_minor) return &a;
  return nullptr;
}

namespace detail {
inline std::string fmt(const char* f, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}
}  // namespace detail

/// Dense peaks of every precision at `clock_mhz` (0: the device's max SM clock).
inline std::vector<Peak> theoretical_peaks(const DeviceInfo& d, double clock_mhz = 0) {
  if (clock_mhz <= 0) clock_mhz = d.max_sm_clock_mhz;
  const std::string cc = std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor);
  const ArchRates* arch = find_arch(d.cc_major, d.cc_minor);
  std::vector<Peak> peaks;
  for (std::size_t i = 0; i < all_precisions.size(); ++i) {
    Peak p;
    p.precision = all_precisions[i];
    const std::string prec(to_string(p.precision));
    if (!arch) {
      p.derivation = "compute capability " + cc + " is not in hwcal's table of per-SM rates (8.0, 8.6, 8.9, 9.0, 10.0)";
    } else if (arch->per_sm[i] <= 0) {
      p.derivation = std::string(arch->name) + " (cc " + cc + ") has no " + prec + " tensor-core path";
    } else if (d.sm_count <= 0 || clock_mhz <= 0) {
      p.derivation = "SM count or SM clock unknown";
    } else {
      const double g = d.sm_count * clock_mhz * 1e6 * arch->per_sm[i] / 1e9;
      p.gflops = g;
      p.derivation = std::to_string(d.sm_count) + " SMs x " + detail::fmt("%.0f", clock_mhz) + " MHz x " +
                     detail::fmt("%.0f", arch->per_sm[i]) + " " + prec + " ops/clock/SM (" + arch->name + ", " +
                     arch->source + ", dense) = " + detail::fmt("%.1f", g / 1000) + " T" +
                     (p.precision == Precision::int8 ? "OP" : "FLOP") + "/s at " +
                     (clock_mhz == d.max_sm_clock_mhz ? "the max SM clock" : "the given SM clock");
    }
    peaks.push_back(std::move(p));
  }
  return peaks;
}

/// Theoretical DRAM (HBM/GDDR) bandwidth: memory clock x 2 transfers per clock
/// x bus width. Reproduces H100 SXM (2619 MHz, 5120 bit: 3.35 TB/s) and
/// RTX 4090 (10501 MHz, 384 bit: 1008 GB/s).
struct BandwidthPeak {
  std::optional<double> gbps;
  std::string derivation;
};

inline BandwidthPeak dram_bandwidth(const DeviceInfo& d) {
  BandwidthPeak b;
  if (d.max_mem_clock_mhz <= 0 || d.memory_bus_bits <= 0) {
    b.derivation = "memory clock or bus width unknown";
    return b;
  }
  b.gbps = d.max_mem_clock_mhz * 1e6 * 2 * (d.memory_bus_bits / 8.0) / 1e9;
  b.derivation = detail::fmt("%.0f", d.max_mem_clock_mhz) + " MHz x 2 transfers/clock x " +
                 std::to_string(d.memory_bus_bits) + " bit / 8 = " + detail::fmt("%.0f", *b.gbps) + " GB/s";
  return b;
}

}  // namespace cuda
}  // namespace hwcal
