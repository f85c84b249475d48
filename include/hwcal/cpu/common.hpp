#pragma once
// Building blocks shared by the CPU kernels: aligned buffers, parallel loops
// over the calibration threads, and the GEMM policies that distinguish the
// "eigen" backend (Eigen's own GEMM) from the "openblas" backend (everything
// else identical, products computed by OpenBLAS: what EIGEN_USE_BLAS does,
// without its one-definition hazard of two Eigens in one program).

#include <hwcal/config.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <string>

#if HWCAL_HAS_OPENMP
#include <omp.h>
#endif

#if HWCAL_HAS_OPENBLAS
#include <cblas.h>
extern "C" {
// Declared by OpenBLAS's cblas.h in recent versions; repeated for older ones.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
}
#endif

namespace hwcal {
namespace cpu {

/// A 64-byte aligned array of T (Eigen's allocator aligns to the widest SIMD).
template <class T>
using Buffer = Eigen::Array<T, Eigen::Dynamic, 1>;

template <class T>
Buffer<T> random_buffer(i64 n, std::uint64_t seed, double lo = -1, double hi = 1) {
  Buffer<T> b(n);
  hwcal::detail::fill_uniform(b.data(), n, seed, lo, hi);
  return b;
}

/// Runs f(begin, end) over [0, n) split statically across `threads`.
template <class F>
void parallel_for(int threads, i64 n, F&& f) {
#if HWCAL_HAS_OPENMP
  if (threads > 1 && n > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    {
      const i64 t = omp_get_thread_num(), nt = omp_get_num_threads();
      const i64 b = n * t / nt, e = n * (t + 1) / nt;
      if (b < e) f(b, e);
    }
    return;
  }
#else
  (void)threads;
#endif
  if (n > 0) f(i64{0}, n);
}

/// Chunks of [0, n) handed to threads stay a multiple of 64 elements so
/// neighbouring threads never share a cache line.
template <class F>
void parallel_chunks(int threads, i64 n, F&& f) {
  const i64 blocks = (n + 63) / 64;
  parallel_for(threads, blocks, [&](i64 b0, i64 b1) { f(b0 * 64, std::min(n, b1 * 64)); });
}

/// The calling thread's index inside parallel_for (its per-thread scratch).
inline int thread_index() noexcept {
#if HWCAL_HAS_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Epsilon of every normalisation (batchnorm, layernorm, rmsnorm): PyTorch's default.
inline constexpr double norm_eps = 1e-5;

template <class T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMap = Eigen::Map<const RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using MutMap = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

/// Row-major C (m x n) = A (m x k) * op(B) + beta * C; op(B) = B (k x n) or,
/// with trans_b, B stored as n x k. beta is 0 or 1.
struct EigenGemm {
  static constexpr const char* backend = "eigen";
  template <class T>
  static void gemm(bool trans_b, i64 m, i64 n, i64 k, const T* a, i64 lda, const T* b, i64 ldb, bool accumulate, T* c,
                   i64 ldc) {
    ConstMap<T> A(a, m, k, Eigen::OuterStride<>(lda));
    MutMap<T> C(c, m, n, Eigen::OuterStride<>(ldc));
    if (trans_b) {
      ConstMap<T> B(b, n, k, Eigen::OuterStride<>(ldb));
      if (accumulate)
        C.noalias() += A * B.transpose();
      else
        C.noalias() = A * B.transpose();
    } else {
      ConstMap<T> B(b, k, n, Eigen::OuterStride<>(ldb));
      if (accumulate)
        C.noalias() += A * B;
      else
        C.noalias() = A * B;
    }
  }
  static void set_threads(int n) { Eigen::setNbThreads(n); }
  /// Threads for a kernel's own passes around its products (im2col, bias
  /// fill): Eigen's products run on the same OpenMP pool, so all of them.
  static int side_threads(int threads) { return threads; }
  /// Makes products inside the scope single-threaded (callers parallelise
  /// over independent products themselves). Eigen already runs products
  /// single-threaded inside an OpenMP parallel region.
  struct SerialScope {
    explicit SerialScope(int) {}
  };
};

#if HWCAL_HAS_OPENBLAS
struct BlasGemm {
  static constexpr const char* backend = "openblas";
  static void gemm(bool trans_b, i64 m, i64 n, i64 k, const float* a, i64 lda, const float* b, i64 ldb, bool accumulate,
                   float* c, i64 ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0f, a,
                int(lda), b, int(ldb), accumulate ? 1.0f : 0.0f, c, int(ldc));
  }
  static void gemm(bool trans_b, i64 m, i64 n, i64 k, const double* a, i64 lda, const double* b, i64 ldb,
                   bool accumulate, double* c, i64 ldc) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), 1.0, a,
                int(lda), b, int(ldb), accumulate ? 1.0 : 0.0, c, int(ldc));
  }
  static void set_threads(int n) { openblas_set_num_threads(n); }
  /// OpenBLAS (Debian's pthread build) threads its products on a pool of its
  /// own. An OpenMP pass next to a product leaves libgomp's workers spinning
  /// while OpenBLAS's threads need the same cores: measured at 2 threads,
  /// 3x3 convolutions ran at 48-63 GFLOP/s instead of 173-214 and linears at
  /// 76-103 instead of 246-263. So those passes stay on the calling thread.
  static int side_threads(int) { return 1; }
  /// OpenBLAS's pthread pool does not know about OpenMP regions; drop it to one
  /// thread while callers run independent products in parallel.
  struct SerialScope {
    explicit SerialScope(int threads) : restore_(threads) { openblas_set_num_threads(1); }
    ~SerialScope() { openblas_set_num_threads(restore_); }
    SerialScope(const SerialScope&) = delete;
    SerialScope& operator=(const SerialScope&) = delete;

   private:
    int restore_;
  };
};
#endif

using reference::sample_indices;

}  // namespace cpu
}  // namespace hwcal
