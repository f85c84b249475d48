#pragma once
// Puts the calibration threads' caches and TLBs in the state a layer finds
// them in inside a model: its data was last touched a whole forward pass ago,
// and the layers in between touched tens of megabytes. Two steps per thread,
// over its own slices (private caches and TLBs are per core):
//   caches - overwrite a buffer twice the size of the private caches (L1+L2);
//   TLB    - read one cache line in each page of a region spanning far more
//            pages than a second-level TLB maps (8192 pages of 4 KiB).
// The layer's data then comes from the shared cache or memory, through page
// walks: measured on the development machine, a depthwise 5x5 convolution
// and a batchnorm run 1.8x and 2.5x slower after the cache step alone, 2.2x
// and 3.6x after both, which is what they take inside EfficientNet and ResNet.

#include <hwcal/cpu/common.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/schema.hpp>

#include <vector>

namespace hwcal {
namespace cpu {

class CacheFlusher {
 public:
  static constexpr i64 page_bytes = 4096;
  static constexpr i64 tlb_pages = 8192;  ///< per thread: several times any STLB

  CacheFlusher(const HostInfo& host, int threads) : threads_(std::max(1, threads)) {
    i64 per_thread = 0;
    for (const auto& c : host.caches)
      if (c.type != "Instruction" && c.shared_by <= 1) per_thread += c.size_bytes;
    if (per_thread == 0) per_thread = i64{2} << 20;  // unknown caches: assume 2 MiB
    cache_.assign(static_cast<std::size_t>(2 * per_thread * threads_ / i64(sizeof(double))), 0.0);
    // First touch by the threads that will walk it, so the pages exist.
    tlb_.resize(static_cast<std::size_t>(tlb_pages * threads_ * page_bytes));
    char* t = tlb_.data();
    parallel_for(threads_, tlb_pages * threads_, [t](i64 p0, i64 p1) {
      for (i64 p = p0; p < p1; ++p) t[p * page_bytes] = 1;
    });
  }

  /// Bytes written to evict the caches per flush.
  i64 cache_bytes() const noexcept { return static_cast<i64>(cache_.size() * sizeof(double)); }

  void flush() {
    ++value_;
    double* b = cache_.data();
    const double v = value_;
    parallel_for(threads_, static_cast<i64>(cache_.size()), [b, v](i64 i0, i64 i1) {
      for (i64 i = i0; i < i1; ++i) b[i] = v;
    });
    const char* t = tlb_.data();
    parallel_for(threads_, tlb_pages * threads_, [t](i64 p0, i64 p1) {
      int sum = 0;
      for (i64 p = p0; p < p1; ++p) sum += t[p * page_bytes];
      do_not_optimize(sum);
    });
    clobber_memory();
  }

 private:
  int threads_;
  double value_ = 0;
  std::vector<double> cache_;
  std::vector<char> tlb_;
};

}  // namespace cpu
}  // namespace hwcal
