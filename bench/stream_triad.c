/* The STREAM triad, as a STREAM user compiles it: gcc -O3 -fopenmp
 * -march=native. The loop and its pragma are STREAM's own (stream.c, "Triad"),
 * the arrays are heap-allocated so their size is a run-time argument, and the
 * timing is per repetition with omp_get_wtime (STREAM's mysecond() has
 * microsecond resolution; a DRAM-sized triad takes tens of milliseconds).
 *
 * Built with -DSTREAM_TRIAD_MAIN it is also a standalone program:
 *   stream_triad [elements per array] [threads] [repetitions] [offset bytes]
 * which prints STREAM's "Best Rate" (minimum time) and the median. */
#include "stream_triad.h"

#include <omp.h>
#include <stdlib.h>

/* Where an array starts matters by a percent or two here, and not the way
 * one would guess: on the machine hwcal is developed on, arrays 16 bytes past
 * a cache line (what malloc returns for large blocks) run the triad 1.5-2%
 * faster than cache-line aligned ones. So the caller picks, and
 * bench/fidelity runs both and keeps the faster. */
static int alloc_array(void** block, double** p, long long n, int offset) {
  if (posix_memalign(block, 64, (size_t)n * sizeof(double) + 64)) return -1;
  *p = (double*)((char*)*block + offset);
  return 0;
}

int stream_triad_run(long long n, int threads, int reps, int offset, double* times) {
  void *ba = NULL, *bb = NULL, *bc = NULL;
  double *a = NULL, *b = NULL, *c = NULL;
  if (offset < 0 || offset > 56 || offset % 8 || alloc_array(&ba, &a, n, offset) || alloc_array(&bb, &b, n, offset) ||
      alloc_array(&bc, &c, n, offset)) {
    free(ba), free(bb), free(bc);
    return -1;
  }
  double* restrict ra = a;
  const double* restrict rb = b;
  const double* restrict rc = c;
  const double scalar = 3.0;
  omp_set_num_threads(threads);

  /* First touch with the same static schedule as the kernel (STREAM does
   * this), so each thread's pages are where it will use them. */
  long long j;
#pragma omp parallel for
  for (j = 0; j < n; j++) {
    a[j] = 1.0;
    b[j] = 2.0;
    c[j] = 0.5;
  }

  for (int k = 0; k < reps; k++) {
    const double t0 = omp_get_wtime();
#pragma omp parallel for
    for (j = 0; j < n; j++) ra[j] = rb[j] + scalar * rc[j];
    times[k] = omp_get_wtime() - t0;
  }

  /* b and c never change, so every a[j] is 2 + 3 * 0.5 after any repetition. */
  int rc_ok = 0;
  const long long probes[3] = {0, n / 2, n - 1};
  for (int p = 0; p < 3; p++)
    if (a[probes[p]] != 3.5) rc_ok = -2;
  free(ba), free(bb), free(bc);
  return rc_ok;
}

#ifdef STREAM_TRIAD_MAIN
#include <stdio.h>
#include <string.h>

static int cmp_double(const void* x, const void* y) {
  const double a = *(const double*)x, b = *(const double*)y;
  return (a > b) - (a < b);
}

int main(int argc, char** argv) {
  /* Default: 1920 MiB in all, 4x the 480 MiB L3 of the machine hwcal is
   * developed on (the size bench/fidelity measures on it). */
  long long n = argc > 1 ? atoll(argv[1]) : 83886080LL;
  int threads = argc > 2 ? atoi(argv[2]) : omp_get_max_threads();
  int reps = argc > 3 ? atoi(argv[3]) : 20;
  int offset = argc > 4 ? atoi(argv[4]) : 0;
  if (n < 1 || threads < 1 || reps < 2) {
    fprintf(stderr, "usage: %s [elements per array] [threads] [repetitions >= 2] [offset bytes: 0, 8, ..., 56]\n",
            argv[0]);
    return 2;
  }
  double* t = malloc(sizeof(double) * (size_t)reps);
  if (!t) return 1;
  const int r = stream_triad_run(n, threads, reps, offset, t);
  if (r != 0) {
    fprintf(stderr, "stream_triad: %s\n", r == -1 ? "cannot allocate the arrays" : "wrong result");
    return 1;
  }
  /* STREAM ignores the first repetition. */
  qsort(t + 1, (size_t)(reps - 1), sizeof(double), cmp_double);
  const double bytes = (double)STREAM_TRIAD_BYTES_PER_ITER * (double)n;
  const double best = t[1], median = t[1 + (reps - 1) / 2];
  printf(
      "STREAM triad: %lld elements per array (%.1f MiB in all), arrays %d bytes past a cache line, %d threads, %d "
      "repetitions\n",
      n, bytes / 1048576.0, offset, threads, reps);
  printf("Best Rate %.1f GB/s (min %.4f s), median %.1f GB/s (%.4f s)\n", bytes / best / 1e9, best,
         bytes / median / 1e9, median);
  free(t);
  return 0;
}
#endif
