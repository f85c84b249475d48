// The one translation unit of the Python module that compiles hwcal's CUDA
// kernels, for auto_calibrate() on GPUs (include/hwcal/cuda/launch.hpp
// explains the pattern).
#include <hwcal/cuda/kernels/all.cuh>
