#pragma once
// Included first by every hwcal/torch/ header: without libtorch the build
// stops here, at compile time, saying how to get it, rather than at the first
// ATen header it cannot find.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_TORCH
#error "hwcal/torch/ needs libtorch: link hwcal::torch (or define HWCAL_HAS_TORCH=1 and link torch_cpu and c10)"
#endif
