#pragma once
// Theoretical CPU peaks, derived from measurements instead of datasheets:
//   clock     - a chain of dependent integer adds (one cycle each on every x86
//               and Arm core) timed while all calibration threads run it;
//   issue rate - independent FMAs (or dot-product instructions) of the widest
//               vector unit, 12 accumulators deep, timed the same way;
//   peak      = threads x round(instructions per cycle) x flops per instruction x clock.
// Each Peak records this derivation. Precisions without a native instruction
// on this CPU get no number, and the derivation says why.

#include <hwcal/cpu/detect.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/schema.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define HWCAL_X86_KERNELS 1
#else
#define HWCAL_X86_KERNELS 0
#endif

namespace hwcal {
namespace cpu {
namespace detail {

/// Runs `work(thread_index)` on n threads started together; returns the wall
/// time from the common start to the last finish.
inline double run_concurrently(int n, const std::function<void(int)>& work) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t)
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      work(t);
    });
  while (ready.load() < n - 1) {
  }
  const double start = now_s();
  go.store(true, std::memory_order_release);
  work(0);
  for (auto& th : pool) th.join();
  return now_s() - start;
}

/// 64 dependent register-register adds per iteration: 64 cycles on any core
/// with 1-cycle ALU adds. Register operands on purpose: recent Intel cores fold
/// chains of add-immediate at rename, which would read as a 20+ GHz clock.
inline std::uint64_t add_chain(std::uint64_t iters) {
  std::uint64_t x = iters;
  const std::uint64_t one = 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HWCAL_ADD8 \
  "add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
  for (std::uint64_t i = 0; i < iters; ++i)
    asm volatile(HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8
                 : "+r"(x)
                 : "r"(one));
#undef HWCAL_ADD8
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define HWCAL_ADD8                                                                                                   \
  "add %0, %0, %1\n\tadd %0, %0, %1\n\tadd %0, %0, %1\n\tadd %0, %0, %1\n\tadd %0, %0, %1\n\tadd %0, %0, %1\n\tadd " \
  "%0, %0, %1\n\tadd %0, %0, %1\n\t"
  for (std::uint64_t i = 0; i < iters; ++i)
    asm volatile(HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8 HWCAL_ADD8
                 : "+r"(x)
                 : "r"(one));
#undef HWCAL_ADD8
#else
  for (std::uint64_t i = 0; i < iters * 64; ++i) {
    x += one;
    clobber_memory();
  }
#endif
  return x;
}

/// One throughput kernel: runs `iters` iterations, returns operations done.
using ThroughputKernel = double (*)(std::int64_t iters);

#if HWCAL_X86_KERNELS
// 12 independent accumulators: enough to cover FMA latency x ports on current
// cores (4-5 cycles x 2 ports). Values stay bounded (multiplier < 1).
#define HWCAL_UNROLL12(stmt) \
  stmt(0) stmt(1) stmt(2) stmt(3) stmt(4) stmt(5) stmt(6) stmt(7) stmt(8) stmt(9) stmt(10) stmt(11)

__attribute__((target("avx512f"))) inline double fma512_f32(std::int64_t iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + 0.01f * static_cast<float>(i));
  const __m512 b = _mm512_set1_ps(0.9999f), c = _mm512_set1_ps(1e-6f);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm512_fmadd_ps(a[i], b, c);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 16 * 2;
}
__attribute__((target("avx512f"))) inline double fma512_f64(std::int64_t iters) {
  __m512d a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_pd(1.0 + 0.01 * i);
  const __m512d b = _mm512_set1_pd(0.9999), c = _mm512_set1_pd(1e-6);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm512_fmadd_pd(a[i], b, c);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m512d s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_pd(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 8 * 2;
}
__attribute__((target("avx2,fma"))) inline double fma256_f32(std::int64_t iters) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(1.0f + 0.01f * static_cast<float>(i));
  const __m256 b = _mm256_set1_ps(0.9999f), c = _mm256_set1_ps(1e-6f);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm256_fmadd_ps(a[i], b, c);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m256 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_ps(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 8 * 2;
}
__attribute__((target("avx2,fma"))) inline double fma256_f64(std::int64_t iters) {
  __m256d a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_pd(1.0 + 0.01 * i);
  const __m256d b = _mm256_set1_pd(0.9999), c = _mm256_set1_pd(1e-6);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm256_fmadd_pd(a[i], b, c);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m256d s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_pd(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 4 * 2;
}
// SSE2 baseline (every x86-64): separate multiply and add, 2 flops per lane pair.
inline double sse_f32(std::int64_t iters) {
  __m128 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm_set1_ps(1.0f + 0.01f * static_cast<float>(i));
  const __m128 b = _mm_set1_ps(0.9999f), c = _mm_set1_ps(1e-6f);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm_add_ps(_mm_mul_ps(a[i], b), c);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m128 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm_add_ps(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 4 * 2;
}
inline double sse_f64(std::int64_t iters) {
  __m128d a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm_set1_pd(1.0 + 0.01 * i);
  const __m128d b = _mm_set1_pd(0.9999), c = _mm_set1_pd(1e-6);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm_add_pd(_mm_mul_pd(a[i], b), c);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m128d s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm_add_pd(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 2 * 2;
}
// vdpbf16ps: 16 fp32 lanes, each accumulating 2 bf16 products.
__attribute__((target("avx512f,avx512bf16"))) inline double dp512_bf16(std::int64_t iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_setzero_ps();
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(3e-3f), _mm512_set1_ps(1e-3f));
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 16 * 2 * 2;
}
// vpdpbusd: 16 int32 lanes, each accumulating 4 u8 x s8 products.
__attribute__((target("avx512f,avx512vnni"))) inline double dp512_int8(std::int64_t iters) {
  __m512i a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_setzero_si512();
  const __m512i x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm512_dpbusd_epi32(a[i], x, y);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m512i s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 16 * 4 * 2;
}
__attribute__((target("avx2,avxvnni"))) inline double dp256_int8(std::int64_t iters) {
  __m256i a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_setzero_si256();
  const __m256i x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(-2);
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm256_dpbusd_avx_epi32(a[i], x, y);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m256i s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm256_add_epi32(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 8 * 4 * 2;
}
#if (defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12) || (defined(__clang__) && __clang_major__ >= 14)
#define HWCAL_HAVE_AVX512FP16_INTRINSICS 1
__attribute__((target("avx512f,avx512fp16,avx512vl,avx512bw"))) inline double fma512_f16(std::int64_t iters) {
  __m512h a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ph(static_cast<_Float16>(0.5f + 0.01f * static_cast<float>(i)));
  const __m512h b = _mm512_set1_ph(static_cast<_Float16>(0.999f)), c = _mm512_set1_ph(static_cast<_Float16>(1e-3f));
  for (std::int64_t it = 0; it < iters; ++it) {
#define HWCAL_S(i) a[i] = _mm512_fmadd_ph(a[i], b, c);
    HWCAL_UNROLL12(HWCAL_S)
#undef HWCAL_S
  }
  __m512h s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ph(s, a[i]);
  do_not_optimize(s);
  return static_cast<double>(iters) * 12 * 32 * 2;
}
#endif
#undef HWCAL_UNROLL12

// AMX: four independent 16x16 fp32 (int32) accumulator tiles, two source
// tiles each side. A tile multiply does 16 x 16 x 32 bf16 (16 x 16 x 64 int8)
// multiply-adds. Linux hands out AMX state only on request (arch_prctl).
#if (defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11) || (defined(__clang__) && __clang_major__ >= 12)
#define HWCAL_HAVE_AMX_INTRINSICS 1
inline bool amx_permitted() {
  static const bool ok = [] {
    constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
    return ::syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
  }();
  return ok;
}
struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
  TileConfig() {
    for (int t = 0; t < 8; ++t) colsb[t] = 64, rows[t] = 16;
  }
};
// Four independent accumulator tiles (0-3) fed by four source tiles (4-7),
// so consecutive tile products do not wait on each other.
#define HWCAL_AMX_PEAK_KERNEL(name, features, T, Acc, k_bytes, tile_dot)                          \
  __attribute__((target(features))) inline double name(std::int64_t iters) {                      \
    static const TileConfig cfg;                                                                  \
    alignas(64) static T data[16 * 64 / sizeof(T)] = {};                                          \
    alignas(64) Acc out[16 * 16];                                                                 \
    _tile_loadconfig(&cfg);                                                                       \
    _tile_zero(0);                                                                                \
    _tile_zero(1);                                                                                \
    _tile_zero(2);                                                                                \
    _tile_zero(3);                                                                                \
    _tile_loadd(4, data, 64);                                                                     \
    _tile_loadd(5, data, 64);                                                                     \
    _tile_loadd(6, data, 64);                                                                     \
    _tile_loadd(7, data, 64);                                                                     \
    for (std::int64_t it = 0; it < iters; ++it) {                                                 \
      tile_dot(0, 4, 5);                                                                          \
      tile_dot(1, 4, 6);                                                                          \
      tile_dot(2, 7, 5);                                                                          \
      tile_dot(3, 7, 6);                                                                          \
    }                                                                                             \
    _tile_stored(0, out, 64);                                                                     \
    _tile_release();                                                                              \
    do_not_optimize(out[0]);                                                                      \
    /* 4 tile products of 16 x 16 outputs, each a dot product of k elements, 2 ops per element */ \
    return static_cast<double>(iters) * 4 * 16 * 16 * (k_bytes / sizeof(T)) * 2;                  \
  }
HWCAL_AMX_PEAK_KERNEL(amx_bf16, "amx-tile,amx-bf16", std::uint16_t, float, 64, _tile_dpbf16ps)
HWCAL_AMX_PEAK_KERNEL(amx_int8, "amx-tile,amx-int8", std::int8_t, std::int32_t, 64, _tile_dpbssd)
#undef HWCAL_AMX_PEAK_KERNEL
#endif
#endif  // HWCAL_X86_KERNELS

struct KernelChoice {
  ThroughputKernel fn = nullptr;
  const char* instruction = "";
  double ops_per_instruction = 0;
  std::string missing;  ///< why there is no kernel
};

inline KernelChoice choose_kernel(Precision p, const HostInfo& h) {
#if HWCAL_X86_KERNELS
  const bool avx512 = has_isa(h, "avx512f") && __builtin_cpu_supports("avx512f");
  const bool avx2 =
      has_isa(h, "avx2") && has_isa(h, "fma") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  switch (p) {
    case Precision::fp32:
    case Precision::fp64: {
      const bool f32 = p == Precision::fp32;
      if (avx512)
        return {
            f32 ? fma512_f32 : fma512_f64, f32 ? "vfmadd (zmm, fp32)" : "vfmadd (zmm, fp64)", f32 ? 32.0 : 16.0, {}};
      if (avx2)
        return {f32 ? fma256_f32 : fma256_f64, f32 ? "vfmadd (ymm, fp32)" : "vfmadd (ymm, fp64)", f32 ? 16.0 : 8.0, {}};
      return {f32 ? sse_f32 : sse_f64, f32 ? "mulps+addps (xmm)" : "mulpd+addpd (xmm)", f32 ? 8.0 : 4.0, {}};
    }
    case Precision::bf16:
#ifdef HWCAL_HAVE_AMX_INTRINSICS
      if (has_isa(h, "amx_bf16") && amx_permitted()) return {amx_bf16, "tdpbf16ps (AMX tile)", 16.0 * 16 * 32 * 2, {}};
#endif
      if (avx512 && has_isa(h, "avx512_bf16")) return {dp512_bf16, "vdpbf16ps (zmm)", 64.0, {}};
      return {nullptr, "", 0, "no native bf16 arithmetic (needs avx512_bf16; AMX tile throughput is not measured)"};
    case Precision::int8:
#ifdef HWCAL_HAVE_AMX_INTRINSICS
      if (has_isa(h, "amx_int8") && amx_permitted()) return {amx_int8, "tdpbssd (AMX tile)", 16.0 * 16 * 64 * 2, {}};
#endif
      if (avx512 && has_isa(h, "avx512_vnni")) return {dp512_int8, "vpdpbusd (zmm)", 128.0, {}};
      if (has_isa(h, "avx_vnni")) return {dp256_int8, "vpdpbusd (ymm, AVX-VNNI)", 64.0, {}};
      return {nullptr, "", 0, "no int8 dot-product instruction (needs avx512_vnni or avx_vnni)"};
    case Precision::fp16:
#ifdef HWCAL_HAVE_AVX512FP16_INTRINSICS
      if (avx512 && has_isa(h, "avx512_fp16")) return {fma512_f16, "vfmaddph (zmm)", 64.0, {}};
#endif
      return {nullptr, "", 0, "no native fp16 FMA (needs avx512_fp16)"};
    case Precision::tf32: return {nullptr, "", 0, "tf32 is a GPU tensor-core format; CPUs compute fp32"};
    case Precision::fp8: return {nullptr, "", 0, "no fp8 arithmetic on this CPU"};
  }
  return {};
#else
  (void)h;
  (void)p;
  return {nullptr, "", 0, "no throughput kernel for this architecture in this hwcal build"};
#endif
}

}  // namespace detail

struct ClockMeasurement {
  double ghz = 0;  ///< mean over threads, all threads busy
  double min_ghz = 0, max_ghz = 0;
  std::string method;
};

/// Clock of `threads` cores while all run a dependent-add chain together.
inline ClockMeasurement measure_clock(int threads, double seconds = 0.03, int chunks = 32) {
  // Calibrate the iteration count on one thread first.
  std::uint64_t iters = 1 << 14;
  for (;;) {
    const double t0 = now_s();
    do_not_optimize(detail::add_chain(iters));
    if (now_s() - t0 > seconds / 4 || iters > (1ull << 34)) break;
    iters *= 2;
  }
  std::vector<double> ghz(static_cast<std::size_t>(threads), 0.0);
  // Each thread runs the chain in short chunks back to back (all threads stay
  // busy, so the clock is the all-core one), and keeps its fastest chunk over
  // three rounds: an interruption (another process on the CPU, the
  // scheduler) only ever slows a chunk down, and on a busy machine most
  // chunks of a few hundred microseconds still fit between two.
  const std::uint64_t per_chunk = std::max<std::uint64_t>(iters / chunks, 256);
  for (int round = 0; round < 3; ++round)
    detail::run_concurrently(threads, [&](int t) {
      auto& slot = ghz[static_cast<std::size_t>(t)];
      for (int c = 0; c < chunks; ++c) {
        const double t0 = now_s();
        do_not_optimize(detail::add_chain(per_chunk));
        slot = std::max(slot, static_cast<double>(per_chunk) * 64 / (now_s() - t0) / 1e9);
      }
    });
  ClockMeasurement c;
  c.min_ghz = c.max_ghz = ghz[0];
  for (double g : ghz) {
    c.ghz += g / threads;
    c.min_ghz = std::min(c.min_ghz, g);
    c.max_ghz = std::max(c.max_ghz, g);
  }
  std::ostringstream os;
  os << "dependent integer-add chain (1 cycle/add), " << threads << " thread(s) concurrently, fastest of " << 3 * chunks
     << " chunks each";
  c.method = os.str();
  return c;
}

/// Measures the issue rate of the widest native instruction for p and derives
/// the peak for `threads` cores at the measured all-core clock.
inline Peak derive_peak(Precision p, const HostInfo& host, int threads, const ClockMeasurement& clock) {
  Peak peak;
  peak.precision = p;
  const detail::KernelChoice k = detail::choose_kernel(p, host);
  if (!k.fn) {
    peak.derivation = k.missing;
    return peak;
  }
  std::int64_t iters = 1 << 12;
  for (;;) {
    const double t0 = now_s();
    k.fn(iters);
    if (now_s() - t0 > 0.005 || iters > (1ll << 30)) break;
    iters *= 2;
  }
  std::vector<double> rate(static_cast<std::size_t>(threads), 0.0);
  for (int round = 0; round < 3; ++round)
    detail::run_concurrently(threads, [&](int t) {
      const double t0 = now_s();
      const double ops = k.fn(iters);
      auto& slot = rate[static_cast<std::size_t>(t)];
      slot = std::max(slot, ops / (now_s() - t0));
    });
  double per_thread = 0;
  for (double r : rate) per_thread += r / threads;
  const double ipc = per_thread / (clock.ghz * 1e9 * k.ops_per_instruction);
  // Issue rates are multiples of 1/2 per cycle (vector units) or powers of
  // 1/2 below that (AMX: 1/16); snap to the nearest when within 10%, else
  // keep the measurement and say so.
  double rounded = std::round(ipc * 2) / 2;
  if (ipc < 0.375) rounded = std::exp2(std::round(std::log2(std::max(ipc, 1e-6))));
  const bool integral = rounded > 0 && std::abs(ipc - rounded) <= 0.1 * rounded;
  const double issue = integral ? rounded : ipc;
  peak.gflops = threads * issue * k.ops_per_instruction * clock.ghz;
  std::ostringstream os;
  os.precision(3);
  os << threads << " thread(s) x " << issue << " " << k.instruction << "/cycle (measured " << ipc << ") x "
     << k.ops_per_instruction << " ops/instruction x " << clock.ghz << " GHz (measured scalar clock); sustained "
     << threads * per_thread / 1e9 << " GFLOP/s measured (wide vectors may run at a lower clock)";
  if (!integral) os << "; issue rate not a multiple (or power) of 1/2, measured value used";
  peak.derivation = os.str();
  return peak;
}

}  // namespace cpu
}  // namespace hwcal
