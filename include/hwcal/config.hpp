#pragma once
// Feature macros. The CMake targets define the HWCAL_HAS_* macros; code that is
// only meaningful with a backend checks them, and backend headers #error
// without them so a missing dependency fails at compile time, not at run time.

#ifndef HWCAL_HAS_OPENBLAS
#define HWCAL_HAS_OPENBLAS 0
#endif
#ifndef HWCAL_HAS_ONEDNN
#define HWCAL_HAS_ONEDNN 0
#endif
#ifndef HWCAL_HAS_TORCH
#define HWCAL_HAS_TORCH 0
#endif
#ifndef HWCAL_HAS_CUDA
#define HWCAL_HAS_CUDA 0
#endif

#if defined(_OPENMP)
#define HWCAL_HAS_OPENMP 1
#else
#define HWCAL_HAS_OPENMP 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define HWCAL_NOINLINE __attribute__((noinline))
#else
#define HWCAL_NOINLINE
#endif
