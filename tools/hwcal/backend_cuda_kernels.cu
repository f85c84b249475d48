// The one translation unit of the CUDA plugin that compiles hwcal's kernels
// (include/hwcal/cuda/launch.hpp explains the pattern).
#include <hwcal/cuda/kernels/all.cuh>
