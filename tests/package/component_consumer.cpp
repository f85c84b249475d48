// A consumer of one backend component (tests/package: package.find_component),
// built with find_package(hwcal COMPONENTS <c>) and linked with hwcal::<c>.
// Light on purpose (package.find_package builds the umbrella header): what is
// checked here is the component target's usage requirements, its HWCAL_HAS_*
// macro, and for OpenBLAS and oneDNN the include paths and the library.
#include <hwcal/config.hpp>
#include <hwcal/version.hpp>

#include <cstdio>
#include <string>

#if HWCAL_HAS_OPENBLAS
#include <cblas.h>
#endif
#if HWCAL_HAS_ONEDNN
#include <oneapi/dnnl/dnnl.h>
#endif

int main() {
  std::printf("hwcal %s\n", hwcal::version_string());
  std::string backends;
  if (HWCAL_HAS_OPENBLAS) backends += " openblas";
  if (HWCAL_HAS_ONEDNN) backends += " onednn";
  if (HWCAL_HAS_TORCH) backends += " torch";
  if (HWCAL_HAS_CUDA) backends += " cuda";
  std::printf("backends compiled in:%s\n", backends.empty() ? " none" : backends.c_str());
  bool ok = !backends.empty();
#if HWCAL_HAS_OPENBLAS
  const float x[3] = {1, 2, 3}, y[3] = {4, 5, 6};
  const float dot = cblas_sdot(3, x, 1, y, 1);
  std::printf("cblas_sdot: %g\n", double(dot));
  ok = ok && dot == 32.0f;
#endif
#if HWCAL_HAS_ONEDNN
  const dnnl_version_t* v = dnnl_version();
  std::printf("oneDNN %d.%d.%d\n", v->major, v->minor, v->patch);
#endif
  return ok ? 0 : 1;
}
