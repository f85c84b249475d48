# FindTorchCPU: the ATen C++ library of a CPU PyTorch (Debian: libtorch-dev).
# Only ATen and c10 are used, so this avoids TorchConfig.cmake and its Python,
# protobuf and CUDA probing.
#   TorchCPU_FOUND, TorchCPU_VERSION, target TorchCPU::TorchCPU
find_path(TorchCPU_INCLUDE_DIR NAMES ATen/ATen.h PATH_SUFFIXES torch/include)
find_library(TorchCPU_TORCH_LIBRARY NAMES torch_cpu)
find_library(TorchCPU_C10_LIBRARY NAMES c10)
if(TorchCPU_INCLUDE_DIR AND EXISTS "${TorchCPU_INCLUDE_DIR}/torch/csrc/api/include/torch/version.h")
  set(_hdr "${TorchCPU_INCLUDE_DIR}/torch/csrc/api/include/torch/version.h")
  file(STRINGS "${_hdr}" _major REGEX "define TORCH_VERSION_MAJOR")
  file(STRINGS "${_hdr}" _minor REGEX "define TORCH_VERSION_MINOR")
  file(STRINGS "${_hdr}" _patch REGEX "define TORCH_VERSION_PATCH")
  string(REGEX MATCH "[0-9]+$" _major "${_major}")
  string(REGEX MATCH "[0-9]+$" _minor "${_minor}")
  string(REGEX MATCH "[0-9]+$" _patch "${_patch}")
  set(TorchCPU_VERSION "${_major}.${_minor}.${_patch}")
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TorchCPU REQUIRED_VARS TorchCPU_TORCH_LIBRARY TorchCPU_C10_LIBRARY TorchCPU_INCLUDE_DIR
  VERSION_VAR TorchCPU_VERSION REASON_FAILURE_MESSAGE "Debian/Ubuntu: apt-get install libtorch-dev")
if(TorchCPU_FOUND AND NOT TARGET TorchCPU::TorchCPU)
  add_library(TorchCPU::TorchCPU INTERFACE IMPORTED)
  set_target_properties(TorchCPU::TorchCPU PROPERTIES
    INTERFACE_LINK_LIBRARIES "${TorchCPU_TORCH_LIBRARY};${TorchCPU_C10_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${TorchCPU_INCLUDE_DIR}")
endif()
mark_as_advanced(TorchCPU_INCLUDE_DIR TorchCPU_TORCH_LIBRARY TorchCPU_C10_LIBRARY)
