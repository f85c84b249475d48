# FindCUDNN: cuDNN has no CMake package. Searches the CUDA toolkit first, then
# the system paths (Ubuntu's libcudnn9-dev installs into /usr/include/<triplet>).
#   CUDNN_FOUND, CUDNN_VERSION, target CUDNN::cudnn
set(_hwcal_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_ROOT} ${CUDAToolkit_TARGET_DIR}
    /usr/local/cuda)
find_path(CUDNN_INCLUDE_DIR NAMES cudnn.h cudnn_version.h
  HINTS ${_hwcal_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
  PATH_SUFFIXES include include/x86_64-linux-gnu include/aarch64-linux-gnu)
find_library(CUDNN_LIBRARY NAMES cudnn
  HINTS ${_hwcal_cudnn_hints}
  PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu lib/aarch64-linux-gnu)
if(CUDNN_INCLUDE_DIR)
  set(_hdr "${CUDNN_INCLUDE_DIR}/cudnn_version.h")
  if(NOT EXISTS "${_hdr}")
    set(_hdr "${CUDNN_INCLUDE_DIR}/cudnn.h")
  endif()
  file(STRINGS "${_hdr}" _major REGEX "^#define CUDNN_MAJOR +[0-9]+")
  file(STRINGS "${_hdr}" _minor REGEX "^#define CUDNN_MINOR +[0-9]+")
  file(STRINGS "${_hdr}" _patch REGEX "^#define CUDNN_PATCHLEVEL +[0-9]+")
  string(REGEX MATCH "[0-9]+$" _major "${_major}")
  string(REGEX MATCH "[0-9]+$" _minor "${_minor}")
  string(REGEX MATCH "[0-9]+$" _patch "${_patch}")
  if(_major)
    set(CUDNN_VERSION "${_major}.${_minor}.${_patch}")
  endif()
endif()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUDNN REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR VERSION_VAR CUDNN_VERSION
  REASON_FAILURE_MESSAGE "set CUDNN_ROOT to the cuDNN installation")
if(CUDNN_FOUND AND NOT TARGET CUDNN::cudnn)
  add_library(CUDNN::cudnn UNKNOWN IMPORTED)
  set_target_properties(CUDNN::cudnn PROPERTIES
    IMPORTED_LOCATION "${CUDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
endif()
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
