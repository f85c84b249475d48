// The one translation unit of the test programs that compiles hwcal's CUDA
// kernels (see include/hwcal/cuda/launch.hpp).
#include <hwcal/cuda/kernels/all.cuh>
