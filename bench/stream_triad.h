/* A plain STREAM triad (McCalpin's STREAM, the triad kernel only), in C with
 * OpenMP: the independent reference bench/fidelity compares hwcal's DRAM
 * triad against. Kept free of hwcal's headers and flags on purpose. */
#ifndef HWCAL_BENCH_STREAM_TRIAD_H
#define HWCAL_BENCH_STREAM_TRIAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* STREAM's byte count for one triad iteration a[i] = b[i] + s*c[i]: three
 * doubles (two read, one written; the write-allocate read is not counted). */
#define STREAM_TRIAD_BYTES_PER_ITER 24

/* Allocates a, b, c of n doubles each, each starting `offset` bytes after a
 * 64-byte boundary (0, or 16 as malloc returns large blocks), first-touches
 * them in parallel with the loop's own static schedule, runs the triad `reps`
 * times with `threads` OpenMP threads and stores each repetition's seconds in
 * times[0..reps). Returns 0, -1 when the arrays cannot be allocated, -2 when
 * the result is wrong (a kernel that computes garbage fast is not a
 * measurement). */
int stream_triad_run(long long n, int threads, int reps, int offset, double* times);

#ifdef __cplusplus
}
#endif

#endif
