// The CUDA backend's kernels for the bench programs that use it (see cuda/launch.hpp).
#include <hwcal/cuda/kernels/all.cuh>
