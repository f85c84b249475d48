# Finds hwcal's dependencies for the build. (The installed hwcalConfig.cmake
# has its own, smaller logic: a consumer re-finds only what the components it
# asks for need.) The Debian package of each is in debian-packages.txt.
#
# Required (a configure error naming the Debian package): Eigen3, nlohmann_json,
# and for the programs CLI11 (HWCAL_BUILD_TOOLS) and Catch2 (HWCAL_BUILD_TESTS).
# Backends: HWCAL_WITH_<X> = AUTO (use if found; otherwise one status line says
# why not and the backend is left out), ON (required: any failure stops the
# configure, with the package's own error), OFF.
include(hwcalProbePackage)

set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(OpenMP QUIET COMPONENTS CXX)

# hwcal_require(<Pkg> <debian-package> [find_package arguments...])
macro(hwcal_require pkg deb)
  find_package(${pkg} ${ARGN} QUIET)
  if(NOT ${pkg}_FOUND)
    message(FATAL_ERROR "hwcal: ${pkg} not found, and hwcal needs it. On Debian/Ubuntu: apt-get install ${deb} "
                        "(every package hwcal uses is listed in ${PROJECT_SOURCE_DIR}/debian-packages.txt). "
                        "Installed elsewhere: point CMAKE_PREFIX_PATH or ${pkg}_DIR at it.")
  endif()
endmacro()
hwcal_require(Eigen3 libeigen3-dev 3.3 NO_MODULE)
hwcal_require(nlohmann_json nlohmann-json3-dev 3.10)

# _hwcal_backend(<NAME> <label> <debian-packages> <Pkg> [find_package arguments...])
# Sets HWCAL_HAVE_<NAME>. Config packages (CONFIG in the arguments) run third-party
# code that may stop the configure, so in AUTO mode they are probed first
# (hwcalProbePackage.cmake); hwcal's own Find modules only look for files.
function(_hwcal_backend name label deb pkg)
  set(_mode "${HWCAL_WITH_${name}}")
  if(_mode STREQUAL "")
    set(_mode AUTO)
  endif()
  string(TOUPPER "${_mode}" _mode)
  if(NOT _mode MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "hwcal: HWCAL_WITH_${name}='${HWCAL_WITH_${name}}': use AUTO, ON or OFF")
  endif()
  set(HWCAL_HAVE_${name} OFF PARENT_SCOPE)
  if(_mode STREQUAL "OFF")
    message(STATUS "hwcal: ${label} backend: off (HWCAL_WITH_${name}=OFF)")
    return()
  endif()
  if(_mode STREQUAL "ON")
    find_package(${pkg} ${ARGN} REQUIRED)  # fails hard, with the package's own message
    if(NOT ${pkg}_FOUND)  # (some failures inside a package's config are errors that do not stop CMake)
      message(FATAL_ERROR "hwcal: HWCAL_WITH_${name}=ON but ${pkg} was not found (see above); apt-get install ${deb}")
    endif()
  else()
    set(_why "")
    if("CONFIG" IN_LIST ARGN)
      hwcal_probe_package(_why ${pkg} ${ARGN})
    endif()
    if(_why STREQUAL "")
      find_package(${pkg} ${ARGN} QUIET)
      if(NOT ${pkg}_FOUND)
        # Our Find modules leave the paths they could not find as *-NOTFOUND.
        set(_missing "")
        foreach(_v IN ITEMS ${pkg}_INCLUDE_DIR ${pkg}_LIBRARY ${pkg}_TORCH_LIBRARY ${pkg}_C10_LIBRARY)
          if(DEFINED ${_v} AND NOT ${_v})
            list(APPEND _missing ${_v})
          endif()
        endforeach()
        string(REPLACE ";" " " _missing "${_missing}")
        set(_why "not found")
        if(_missing)
          set(_why "not found (missing: ${_missing})")
        endif()
      endif()
    endif()
    if(NOT _why STREQUAL "")
      message(STATUS "hwcal: ${label} backend disabled (HWCAL_WITH_${name}=AUTO): ${pkg}: ${_why}; "
                     "to build it: apt-get install ${deb}, or set HWCAL_WITH_${name}=ON to see the full error")
      return()
    endif()
  endif()
  set(HWCAL_HAVE_${name} ON PARENT_SCOPE)
  set(_version "${${pkg}_VERSION}")
  message(STATUS "hwcal: ${label} backend: on (${pkg} ${_version})")
endfunction()

_hwcal_backend(OPENBLAS OpenBLAS "libopenblas-dev" OpenBLAS)
_hwcal_backend(ONEDNN oneDNN "libdnnl-dev ocl-icd-opencl-dev" dnnl CONFIG)
_hwcal_backend(TORCH libtorch "libtorch-dev" TorchCPU)

if(HWCAL_ENABLE_CUDA)
  find_package(CUDAToolkit REQUIRED)
  find_package(CUDNN REQUIRED)
endif()
