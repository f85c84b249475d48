#pragma once
// Memory bandwidth, from a few KiB to beyond the last cache:
//  - a read sweep (each thread XOR-reduces its own buffer, many passes per
//    sample): the bandwidth of each level, checked against the L1 load-port
//    limit (loads per cycle x vector width x measured clock);
//  - a triad sweep (a = b + 3c, private per-thread arrays, STREAM's byte count:
//    arrays read plus arrays written, write-allocate not counted): the
//    mapper's bandwidth of a working set (detail/bandwidth_model.hpp), in the
//    same convention as the byte counts of ops;
//  - the four STREAM kernels (copy, scale, add, triad) at a DRAM-sized working
//    set, arrays first touched by the threads that use them, as in STREAM.

#include <hwcal/cpu/common.hpp>
#include <hwcal/cpu/contention.hpp>
#include <hwcal/cpu/detect.hpp>
#include <hwcal/cpu/peak.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/schema.hpp>

#include <atomic>
#include <cmath>
#include <functional>
#include <memory>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hwcal {
namespace cpu {

enum class StreamKernel { copy, scale, add, triad };

inline const char* to_string(StreamKernel k) {
  switch (k) {
    case StreamKernel::copy: return "copy";
    case StreamKernel::scale: return "scale";
    case StreamKernel::add: return "add";
    case StreamKernel::triad: return "triad";
  }
  return "?";
}

/// Arrays read + written per element (STREAM's byte count).
inline int stream_arrays(StreamKernel k) { return (k == StreamKernel::copy || k == StreamKernel::scale) ? 2 : 3; }

/// Three double arrays of up to `capacity` elements each, first-touched by
/// `threads` with the static partition the kernels use.
class StreamArrays {
 public:
  StreamArrays(i64 capacity, int threads) : n_(capacity), threads_(threads) {
    a_.reset(new double[static_cast<std::size_t>(n_)]);
    b_.reset(new double[static_cast<std::size_t>(n_)]);
    c_.reset(new double[static_cast<std::size_t>(n_)]);
    touch(n_);
  }
  i64 capacity() const noexcept { return n_; }

  /// Runs one kernel over the first n elements.
  void run(StreamKernel k, i64 n) {
    double *a = a_.get(), *b = b_.get(), *c = c_.get();
    const double s = 3.0;
    parallel_for(threads_, n, [&](i64 i0, i64 i1) {
      switch (k) {
        case StreamKernel::copy:
          for (i64 i = i0; i < i1; ++i) c[i] = a[i];
          break;
        case StreamKernel::scale:
          for (i64 i = i0; i < i1; ++i) b[i] = s * c[i];
          break;
        case StreamKernel::add:
          for (i64 i = i0; i < i1; ++i) c[i] = a[i] + b[i];
          break;
        case StreamKernel::triad:
          for (i64 i = i0; i < i1; ++i) a[i] = b[i] + s * c[i];
          break;
      }
    });
    clobber_memory();
  }

  /// Re-partitions the first n elements among the threads (first touch).
  void touch(i64 n) {
    double *a = a_.get(), *b = b_.get(), *c = c_.get();
    parallel_for(threads_, n, [&](i64 i0, i64 i1) {
      for (i64 i = i0; i < i1; ++i) {
        a[i] = 1.0;
        b[i] = 2.0;
        c[i] = 0.0;
      }
    });
  }

 private:
  i64 n_;
  int threads_;
  std::unique_ptr<double[]> a_, b_, c_;
};

/// Bandwidth of one kernel over a working set of `working_set_bytes` (all
/// arrays together).
inline BandwidthPoint measure_stream(StreamArrays& arrays, StreamKernel k, i64 working_set_bytes,
                                     const MeasureOptions& opt) {
  const int nar = stream_arrays(k);
  const i64 n = std::min(arrays.capacity(), std::max<i64>(64, working_set_bytes / (nar * i64(sizeof(double)))));
  const Measurement m = measure([&] { arrays.run(k, n); }, opt);
  BandwidthPoint p;
  p.kernel = to_string(k);
  p.working_set_bytes = n * nar * i64(sizeof(double));
  p.gbps = static_cast<double>(p.working_set_bytes) / m.median_s / 1e9;
  p.time = to_time_stats(m);
  return p;
}

// ---------------------------------------------------------------- the sweeps
//
// Every sweep point runs on a team of `threads` threads that stays up for the
// whole measurement. Each thread allocates and first-touches a private buffer
// (its share of the working set), then all make `passes` passes over their
// own buffer between two barriers; a sample is that batch's wall time over
// the passes. `passes` is chosen after warm-up so that a sample lasts at
// least 200 us: a 16 KiB buffer is read in tens of nanoseconds, and timing
// single passes (with a call, a fork and a join around each) measures the
// call, not the cache. This is what put L1 at or below L2 in earlier profiles.

namespace detail {

/// Sense-reversing spin barrier; yields after a while so an oversubscribed
/// machine still makes progress (such a measurement is flagged anyway).
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait() {
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      return;
    }
    for (int spins = 0; gen_.load(std::memory_order_acquire) == gen; ++spins)
      if (spins > 2000) std::this_thread::yield();
  }

 private:
  const int n_;
  std::atomic<int> count_{0}, gen_{0};
};

/// A 64-byte aligned buffer owned by one thread.
struct AlignedBuffer {
  explicit AlignedBuffer(std::size_t bytes)
      : p_(static_cast<char*>(
            ::operator new(std::max<std::size_t>(64, (bytes + 63) / 64 * 64), std::align_val_t(64)))) {}
  ~AlignedBuffer() { ::operator delete(p_, std::align_val_t(64)); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  template <class T>
  T* as() const noexcept {
    return reinterpret_cast<T*>(p_);
  }

 private:
  char* p_;
};

// Read kernels: XOR-reduce a buffer (a multiple of 1 KiB) `passes` times.
// XOR costs one vector-ALU op per load (AVX-512: one vpternlogq per two
// loads), so the loads, not the arithmetic, are what limits them; the empty
// asm after every pass keeps the compiler from folding repeated passes.
#if HWCAL_X86_KERNELS
__attribute__((target("avx512f"))) inline std::uint64_t read_512(const char* p, i64 bytes, i64 passes) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (i64 r = 0; r < passes; ++r) {
    for (i64 i = 0; i < bytes; i += 512) {
      const char* q = p + i;
      a0 = _mm512_ternarylogic_epi64(a0, _mm512_load_si512(q), _mm512_load_si512(q + 64), 0x96);
      a1 = _mm512_ternarylogic_epi64(a1, _mm512_load_si512(q + 128), _mm512_load_si512(q + 192), 0x96);
      a2 = _mm512_ternarylogic_epi64(a2, _mm512_load_si512(q + 256), _mm512_load_si512(q + 320), 0x96);
      a3 = _mm512_ternarylogic_epi64(a3, _mm512_load_si512(q + 384), _mm512_load_si512(q + 448), 0x96);
    }
    asm volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3));
  }
  alignas(64) std::uint64_t out[8];
  _mm512_store_si512(out, _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3)));
  return out[0] ^ out[3] ^ out[7];
}

__attribute__((target("avx2"))) inline std::uint64_t read_256(const char* p, i64 bytes, i64 passes) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (i64 r = 0; r < passes; ++r) {
    for (i64 i = 0; i < bytes; i += 256) {
      const char* q = p + i;
      a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(q)));
      a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 32)));
      a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 64)));
      a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 96)));
      a4 = _mm256_xor_si256(a4, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 128)));
      a5 = _mm256_xor_si256(a5, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 160)));
      a6 = _mm256_xor_si256(a6, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 192)));
      a7 = _mm256_xor_si256(a7, _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 224)));
    }
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5), "+x"(a6), "+x"(a7));
  }
  alignas(32) std::uint64_t out[4];
  __m256i x = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3)),
                               _mm256_xor_si256(_mm256_xor_si256(a4, a5), _mm256_xor_si256(a6, a7)));
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), x);
  return out[0] ^ out[3];
}

__attribute__((target("avx512f"))) inline void triad_512(double* a, const double* b, const double* c, i64 n,
                                                         i64 passes) {
  const __m512d s = _mm512_set1_pd(3.0);
  for (i64 r = 0; r < passes; ++r) {
    for (i64 i = 0; i < n; i += 16) {
      _mm512_store_pd(a + i, _mm512_fmadd_pd(s, _mm512_load_pd(c + i), _mm512_load_pd(b + i)));
      _mm512_store_pd(a + i + 8, _mm512_fmadd_pd(s, _mm512_load_pd(c + i + 8), _mm512_load_pd(b + i + 8)));
    }
    clobber_memory();
  }
}

__attribute__((target("avx2,fma"))) inline void triad_256(double* a, const double* b, const double* c, i64 n,
                                                          i64 passes) {
  const __m256d s = _mm256_set1_pd(3.0);
  for (i64 r = 0; r < passes; ++r) {
    for (i64 i = 0; i < n; i += 16)
      for (i64 j = 0; j < 16; j += 4)
        _mm256_store_pd(a + i + j, _mm256_fmadd_pd(s, _mm256_load_pd(c + i + j), _mm256_load_pd(b + i + j)));
    clobber_memory();
  }
}
#endif

inline std::uint64_t read_generic(const char* p, i64 bytes, i64 passes) {
  const auto* w = reinterpret_cast<const std::uint64_t*>(p);
  const i64 n = bytes / 8;
  std::uint64_t a[8] = {};
  for (i64 r = 0; r < passes; ++r) {
    for (i64 i = 0; i < n; i += 8)
      for (int j = 0; j < 8; ++j) a[j] ^= w[i + j];
    for (auto& x : a) do_not_optimize(x);
    clobber_memory();
  }
  return a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

inline void triad_generic(double* a, const double* b, const double* c, i64 n, i64 passes) {
  for (i64 r = 0; r < passes; ++r) {
    for (i64 i = 0; i < n; ++i) a[i] = b[i] + 3.0 * c[i];
    clobber_memory();
  }
}

/// Vector width (bytes per load) the sweep kernels use on this host.
inline int sweep_vector_bytes(const HostInfo& h) {
#if HWCAL_X86_KERNELS
  if (has_isa(h, "avx512f")) return 64;
  if (has_isa(h, "avx2") && has_isa(h, "fma")) return 32;
#else
  (void)h;
#endif
  return 8;
}

/// Times `make_pass(thread)` (run on that thread: allocates and first-touches
/// its buffer, returns the pass function) on a team of `threads`. The
/// Measurement is seconds per pass (of every thread together).
inline Measurement measure_team(int threads, const std::function<std::function<void(i64)>(int)>& make_pass,
                                const MeasureOptions& opt, Disturbance* disturbance = nullptr) {
  threads = std::max(threads, 1);
  SpinBarrier bar(threads);
  std::atomic<i64> passes{1};
  std::atomic<bool> ready{false}, stop{false};
  const double start = now_s();
  const double min_sample = std::max(opt.min_sample_s, 200e-6);
  std::vector<double> samples;
  bool converged = false;
  DisturbanceProbe probe;
  run_concurrently(threads, [&](int t) {
    const std::function<void(i64)> pass = make_pass(t);
    bar.wait();
    if (t == 0) probe.start();
    // Warm-up, and the passes per sample.
    double warm = 0;
    for (;;) {
      bar.wait();
      const double a = now_s();
      pass(passes.load(std::memory_order_relaxed));
      bar.wait();
      if (t == 0) {
        const double dt = now_s() - a;
        warm += dt;
        const i64 p = passes.load(std::memory_order_relaxed);
        if (dt < min_sample)
          passes.store(
              std::min<i64>(i64{1} << 40,
                            std::max<i64>(2 * p, static_cast<i64>(std::ceil(p * min_sample / std::max(dt, 1e-9))))),
              std::memory_order_relaxed);
        else if (warm >= opt.warmup_s)
          ready.store(true, std::memory_order_relaxed);
      }
      bar.wait();
      if (ready.load(std::memory_order_relaxed)) break;
    }
    StopRule rule(opt);
    const i64 p = passes.load(std::memory_order_relaxed);
    const double sampling_start = now_s();
    for (;;) {
      bar.wait();
      const double a = now_s();
      pass(p);
      bar.wait();
      if (t == 0) {
        const double b = now_s();
        rule.add((b - a) / double(p));
        if (rule.done(b - sampling_start)) {
          samples = std::move(rule.samples());
          converged = rule.converged();
          stop.store(true, std::memory_order_relaxed);
        }
      }
      bar.wait();
      if (stop.load(std::memory_order_relaxed)) break;
    }
    // Read the counters while every thread of the team is still alive: the
    // run-queue delay of a thread that has exited can no longer be read.
    if (t == 0 && disturbance) *disturbance = probe.stop();
    bar.wait();
  });
  return finish_measurement(std::move(samples), passes.load(), converged, start);
}

}  // namespace detail

/// One point of a sweep: `kernel` ("read" or "triad") over a working set of
/// `working_set_bytes` in all, each thread its private share.
inline BandwidthPoint measure_sweep_point(const HostInfo& host, int threads, const std::string& kernel,
                                          i64 working_set_bytes, const MeasureOptions& opt,
                                          Disturbance* disturbance = nullptr) {
  threads = std::max(threads, 1);
  const int vec = detail::sweep_vector_bytes(host);
  BandwidthPoint p;
  p.kernel = kernel;
  Measurement m;
  if (kernel == "read") {
    // each thread a multiple of 1 KiB (the 512-bit kernel reads 512 B per step)
    const i64 per = std::max<i64>(1024, working_set_bytes / threads / 1024 * 1024);
    p.working_set_bytes = per * threads;
    m = detail::measure_team(
        threads,
        [&](int) -> std::function<void(i64)> {
          auto buf = std::make_shared<detail::AlignedBuffer>(static_cast<std::size_t>(per));
          auto* w = buf->as<std::uint64_t>();
          for (i64 i = 0; i < per / 8; ++i) w[i] = std::uint64_t(i) * 0x9E3779B97F4A7C15ull;
          const char* c = buf->as<char>();
          return [buf, c, per, vec](i64 passes) {
#if HWCAL_X86_KERNELS
            if (vec == 64) return do_not_optimize(detail::read_512(c, per, passes));
            if (vec == 32) return do_not_optimize(detail::read_256(c, per, passes));
#endif
            do_not_optimize(detail::read_generic(c, per, passes));
          };
        },
        opt, disturbance);
  } else {
    // three arrays per thread, 16 doubles granularity; STREAM's byte count (24 B per element)
    const i64 n = std::max<i64>(16, working_set_bytes / threads / 24 / 16 * 16);
    p.working_set_bytes = n * 24 * threads;
    m = detail::measure_team(
        threads,
        [&](int) -> std::function<void(i64)> {
          auto buf = std::make_shared<detail::AlignedBuffer>(static_cast<std::size_t>(3 * n * 8));
          double* a = buf->as<double>();
          double *b = a + n, *c = a + 2 * n;
          for (i64 i = 0; i < n; ++i) a[i] = 1.0, b[i] = 2.0, c[i] = 0.5;
          return [buf, a, b, c, n, vec](i64 passes) {
#if HWCAL_X86_KERNELS
            if (vec == 64) return detail::triad_512(a, b, c, n, passes);
            if (vec == 32) return detail::triad_256(a, b, c, n, passes);
#endif
            detail::triad_generic(a, b, c, n, passes);
          };
        },
        opt, disturbance);
  }
  p.gbps = double(p.working_set_bytes) / m.median_s / 1e9;
  p.time = to_time_stats(m);
  return p;
}

struct MemoryPlan {
  std::vector<i64> sweep_bytes;  ///< working sets of the sweeps (all threads together)
  i64 dram_bytes = 0;            ///< STREAM working set
  bool capped = false;           ///< DRAM set smaller than 4x the last cache
};

/// Working sets from 8 KiB per thread to the DRAM size in steps of 2x (quick:
/// 4x), where the DRAM size is 4x the last cache, at least 256 MiB, at most a
/// quarter of memory and 2 GiB (quick: 512 MiB, so a quick calibration of a
/// machine with a huge last-level cache stays quick; `capped` says so).
inline MemoryPlan plan_memory(const HostInfo& host, bool quick, int threads = 1) {
  MemoryPlan plan;
  const i64 llc = std::max({host.cache_bytes(3), host.cache_bytes(2), i64{1} << 20});
  i64 dram = std::max<i64>(4 * llc, i64{256} << 20);
  if (host.memory_bytes > 0) dram = std::min(dram, host.memory_bytes / 4);
  dram = std::min<i64>(dram, quick ? i64{512} << 20 : i64{2} << 30);
  plan.capped = dram < 4 * llc;
  plan.dram_bytes = dram;
  const i64 step = quick ? 4 : 2;
  for (i64 ws = (i64{8} << 10) * std::max(threads, 1); ws < dram; ws *= step) plan.sweep_bytes.push_back(ws);
  plan.sweep_bytes.push_back(dram);
  return plan;
}

/// Bandwidth per level from a sweep: the best point at a working set of at
/// most half the level's capacity (all threads' private caches together) and
/// above the previous level's capacity (so it does not fit there); DRAM is
/// the largest working set.
inline std::vector<MemoryLevel> derive_levels(const HostInfo& host, int threads,
                                              const std::vector<BandwidthPoint>& sweep) {
  std::vector<MemoryLevel> levels;
  if (sweep.empty()) return levels;
  i64 prev = 0;
  for (int lvl = 1; lvl <= 3; ++lvl) {
    i64 cap = host.cache_bytes(lvl);
    if (cap == 0) continue;
    for (const auto& c : host.caches)
      if (c.level == lvl && c.type != "Instruction" && c.shared_by <= 1) cap *= threads;  // private per core
    const BandwidthPoint* best = nullptr;
    for (const auto& p : sweep)
      if (p.working_set_bytes <= cap / 2 && p.working_set_bytes > prev && (!best || p.gbps > best->gbps)) best = &p;
    if (best) levels.push_back({"L" + std::to_string(lvl), cap, best->working_set_bytes, best->gbps});
    prev = cap;
  }
  const BandwidthPoint& last = sweep.back();
  levels.push_back({"DRAM", 0, last.working_set_bytes, last.gbps});
  return levels;
}

/// The L1 load-port limit of this core: loads per cycle x bytes per load of
/// the sweep's vector width, from a table of known cores (by vendor and
/// family, Intel also by ISA). Empty (bytes_per_cycle 0, `core` saying why)
/// for cores the table does not know.
struct LoadPorts {
  int loads_per_cycle = 0;
  int bytes_per_load = 0;
  std::string core;  ///< which table entry, or why none
  double bytes_per_cycle() const noexcept { return double(loads_per_cycle) * bytes_per_load; }
};

inline LoadPorts load_ports(const HostInfo& h, int vector_bytes) {
  LoadPorts lp;
  const bool intel = h.vendor == "GenuineIntel", amd = h.vendor == "AuthenticAMD", hygon = h.vendor == "HygonGenuine";
  const int f = h.family, m = h.model;
  auto set = [&](int loads, int bytes, std::string core) {
    lp.loads_per_cycle = loads;
    lp.bytes_per_load = std::min(bytes, vector_bytes);
    lp.core = std::move(core);
  };
  if (intel && f == 6) {
    // Golden Cove / Raptor Cove / Redwood Cove / Lion Cove client P-cores without AVX-512: 3 x 256-bit loads
    const bool gc_client = m == 0x97 || m == 0x9A || m == 0xB7 || m == 0xBA || m == 0xBF || m == 0xAA || m == 0xAC ||
                           m == 0xC5 || m == 0xC6 || m == 0xBD;
    if (vector_bytes >= 64 && has_isa(h, "avx512f"))
      set(2, 64,
          "Intel core with AVX-512 (Skylake-SP and later server cores, Ice/Tiger/Rocket Lake): two 512-bit loads per "
          "cycle");
    else if (gc_client)
      set(3, 32, "Intel Golden Cove-class client core: three 256-bit loads per cycle");
    else if (has_isa(h, "avx2"))
      set(2, 32, "Intel core with AVX2 (Haswell to Comet Lake): two 256-bit loads per cycle");
    else
      set(2, 16, "Intel core without AVX2: two 128-bit loads per cycle");
  } else if (amd && f == 0x17) {
    if (m >= 0x30)
      set(2, 32, "AMD Zen 2: two 256-bit loads per cycle");
    else
      set(2, 16, "AMD Zen / Zen+: two 128-bit loads per cycle");
  } else if (hygon && f == 0x18) {
    set(2, 16, "Hygon Dhyana (Zen): two 128-bit loads per cycle");
  } else if (amd && f == 0x19) {
    // Zen 3 and Zen 4: two 256-bit loads per cycle; Zen 4 splits a 512-bit load in two halves: 64 B/cycle either way
    if (vector_bytes >= 64)
      set(1, 64, "AMD Zen 4: one 512-bit load per cycle (two 256-bit halves), 64 B/cycle");
    else
      set(2, 32, "AMD Zen 3 / Zen 4: two 256-bit loads per cycle");
  } else if (amd && f == 0x1A) {
    const bool narrow = (m >= 0x20 && m <= 0x2F) || (m >= 0x60 && m <= 0x7F);  // mobile Zen 5: 256-bit data path
    if (narrow)
      set(2, 32, "AMD Zen 5 (mobile, 256-bit data path): two 256-bit loads per cycle");
    else
      set(2, 64, "AMD Zen 5: two 512-bit loads per cycle");
  } else {
    std::ostringstream os;
    os << "no load-port entry for vendor '" << h.vendor << "' family " << f << " model " << m;
    lp.core = os.str();
  }
  return lp;
}

/// The L1 read limit of `threads` cores at the measured clock, and how the
/// measured L1 read bandwidth compares with it.
inline LoadLimit l1_load_limit(const HostInfo& h, int threads, double l1_read_gbps) {
  LoadLimit l;
  const int vec = detail::sweep_vector_bytes(h);
  const LoadPorts lp = load_ports(h, vec);
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(2);
  if (lp.bytes_per_cycle() <= 0 || h.measured_clock_ghz <= 0) {
    os << "not derived: " << (lp.bytes_per_cycle() <= 0 ? lp.core : "no measured clock");
    l.derivation = os.str();
    return l;
  }
  l.bytes_per_cycle = lp.bytes_per_cycle();
  l.clock_ghz = h.measured_clock_ghz;
  l.threads = threads;
  l.gbps = l.bytes_per_cycle * l.clock_ghz * threads;
  os << lp.loads_per_cycle << " loads/cycle x " << lp.bytes_per_load << " B (" << 8 * vec
     << "-bit loads of the read kernel) x " << h.measured_clock_ghz << " GHz (measured clock) x " << threads
     << " thread(s) = " << l.gbps << " GB/s [" << lp.core << "]";
  if (l1_read_gbps > 0) {
    l.measured_share = l1_read_gbps / l.gbps;
    os.precision(0);
    os << "; measured L1 read " << l1_read_gbps << " GB/s = " << 100 * l.measured_share << "% of it";
  }
  l.derivation = os.str();
  return l;
}

/// Consistency of the levels: each faster than the next, L1 within 25% of its
/// load-port limit. One note per failed check.
inline std::vector<std::string> check_levels(const MemoryCalibration& m) {
  std::vector<std::string> notes;
  for (std::size_t i = 1; i < m.levels.size(); ++i)
    if (!(m.levels[i - 1].gbps > m.levels[i].gbps))
      notes.push_back("memory: " + m.levels[i - 1].name + " read bandwidth (" +
                      std::to_string(int(m.levels[i - 1].gbps)) + " GB/s) is not above " + m.levels[i].name + "'s (" +
                      std::to_string(int(m.levels[i].gbps)) + " GB/s)");
  if (m.l1_limit.gbps > 0 && m.l1_limit.measured_share > 0 && !m.l1_limit.within_25_percent())
    notes.push_back("memory: L1 read bandwidth is " +
                    std::to_string(int(std::lround(100 * m.l1_limit.measured_share))) +
                    "% of the load-port limit (expected within 25%" +
                    (m.l1_limit.measured_share > 1 ? "; above it, the measured clock read low" : "") +
                    "): " + m.l1_limit.derivation);
  return notes;
}

/// Full memory calibration: a read sweep (the levels) and a triad sweep (the
/// mapper's bandwidth of a working set), both on private per-thread buffers,
/// then STREAM at DRAM size. progress(done, total, label) is called per
/// point; notes about the plan and failed checks go to `notes`; a point taken
/// while the machine was busy (contention.hpp) is measured again once (after
/// waiting for quiet, within `waits`), and said when it stays so.
inline MemoryCalibration calibrate_memory(const HostInfo& host, int threads, bool quick, const MeasureOptions& opt,
                                          const std::function<void(int, int, const std::string&)>& progress = {},
                                          std::vector<std::string>* notes = nullptr, QuietWaits* waits = nullptr) {
  const MemoryPlan plan = plan_memory(host, quick, threads);
  if (plan.capped && notes)
    notes->push_back("memory: the largest working set (" + std::to_string(plan.dram_bytes >> 20) +
                     " MiB) is under 4x the last-level cache, so the DRAM level may read high");
  MemoryCalibration mem;
  const int total = 2 * static_cast<int>(plan.sweep_bytes.size()) + 4;
  int done = 0;
  std::vector<std::string> disturbed;
  for (const char* kernel : {"read", "triad"}) {
    auto& out = std::string(kernel) == "read" ? mem.read_sweep : mem.sweep;
    for (i64 ws : plan.sweep_bytes) {
      if (progress) progress(done, total, std::string(kernel) + " " + std::to_string(ws >> 10) + " KiB");
      // Large working sets run a handful of long samples; small ones many short.
      MeasureOptions o = opt;
      if (ws >= (i64{64} << 20)) o.min_samples = std::min(o.min_samples, 5);
      Disturbance d;
      BandwidthPoint p = measure_sweep_point(host, threads, kernel, ws, o, &d);
      if (d.lost_share(threads) > disturbed_share || p.time.rel_spread() > 0.125) {
        // once more after the machine quiets down (bounded), keeping the faster
        if (waits) waits->wait(threads, 5);
        Disturbance d2;
        const BandwidthPoint q = measure_sweep_point(host, threads, kernel, ws, o, &d2);
        if (q.gbps > p.gbps) p = q, d = d2;
        if (d.lost_share(threads) > disturbed_share)
          disturbed.push_back(std::string(kernel) + " " + std::to_string(ws >> 10) + " KiB");
      }
      out.push_back(p);
      ++done;
    }
  }
  if (!disturbed.empty() && notes) {
    std::string list;
    for (const auto& s : disturbed) list += (list.empty() ? "" : ", ") + s;
    notes->push_back("disturbed: memory sweep points measured while other work took our CPUs: " + list);
  }
  StreamArrays arrays(plan.dram_bytes / (2 * i64(sizeof(double))), threads);
  for (StreamKernel k : {StreamKernel::copy, StreamKernel::scale, StreamKernel::add, StreamKernel::triad}) {
    if (progress) progress(done, total, std::string("STREAM ") + to_string(k));
    MeasureOptions o = opt;
    o.min_samples = std::min(o.min_samples, 5);
    mem.stream.push_back(measure_stream(arrays, k, plan.dram_bytes * stream_arrays(k) / 3, o));
    ++done;
  }
  mem.levels = derive_levels(host, threads, mem.read_sweep);
  for (auto& l : mem.levels)
    for (const auto& p : mem.sweep)
      if (p.working_set_bytes == l.measured_at_bytes ||
          (std::abs(double(p.working_set_bytes) / double(l.measured_at_bytes) - 1) < 0.05))
        l.triad_gbps = p.gbps;
  mem.l1_limit = l1_load_limit(host, threads,
                               !mem.levels.empty() && mem.levels.front().name == "L1" ? mem.levels.front().gbps : 0);
  if (notes)
    for (auto& n : check_levels(mem)) notes->push_back(std::move(n));
  return mem;
}

}  // namespace cpu
}  // namespace hwcal
