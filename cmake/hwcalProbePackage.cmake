# hwcal_probe_package(<out_var> <Pkg> [find_package arguments...])
#
# Runs find_package(<Pkg> <arguments> REQUIRED) in a throwaway CMake project and
# sets <out_var> to "" when it succeeded, else to a one-line reason.
#
# Why a separate project: a package's own config file can stop the whole
# configure however it is called (Debian 12's dnnl-config.cmake:70 calls
# find_package(OpenCL REQUIRED), and libdnnl-dev only recommends the OpenCL
# package), and CMake cannot catch a fatal error in-process. A backend that is
# merely optional must not be able to do that, so its config is tried out here
# first. Costs one small configure (about a second) per probed package.
#
# Used by hwcal's build (cmake/hwcalDependencies.cmake: the onednn backend in
# AUTO mode) and by the installed hwcalConfig.cmake (the onednn component, so
# that a missing OpenCL is a reason, not a stop), so it is installed with it.
function(hwcal_probe_package out pkg)
  if(CMAKE_DISABLE_FIND_PACKAGE_${pkg})
    set(${out} "disabled (CMAKE_DISABLE_FIND_PACKAGE_${pkg})" PARENT_SCOPE)
    return()
  endif()
  set(_dir "${CMAKE_BINARY_DIR}/CMakeFiles/hwcal-probe/${pkg}")
  file(REMOVE_RECURSE "${_dir}")  # never reuse a cached answer: the machine may have changed
  string(REPLACE ";" " " _args "${ARGN}")
  file(WRITE "${_dir}/CMakeLists.txt"
    "cmake_minimum_required(VERSION 3.20)\nproject(hwcal_probe_${pkg} LANGUAGES CXX)\nfind_package(${pkg} ${_args} REQUIRED)\n")

  # The probe must search where this project searches: forward the search
  # settings, the simulated/forced absences, and <Pkg>_DIR/_ROOT-style hints.
  # An initial-cache script (-C) carries list values intact.
  set(_init "")
  get_cmake_property(_vars VARIABLES)
  list(REMOVE_DUPLICATES _vars)  # (a variable can be both a normal and a cache variable)
  foreach(_v IN LISTS _vars)
    if(_v MATCHES "^CMAKE_(PREFIX_PATH|FRAMEWORK_PATH|APPBUNDLE_PATH|FIND_ROOT_PATH|SYSROOT|STAGING_PREFIX|TOOLCHAIN_FILE|MAKE_PROGRAM|CXX_COMPILER|FIND_PACKAGE_PREFER_CONFIG|IGNORE_PATH|IGNORE_PREFIX_PATH|SYSTEM_IGNORE_PATH|SYSTEM_IGNORE_PREFIX_PATH)$"
       OR _v MATCHES "^CMAKE_(DISABLE|REQUIRE)_FIND_PACKAGE_"
       OR _v MATCHES "^CMAKE_FIND_(USE_|ROOT_PATH_MODE_)"
       OR (_v MATCHES "^[A-Za-z][A-Za-z0-9_]*_(DIR|ROOT|INCLUDE_DIR|LIBRARY)$"
           AND NOT _v MATCHES "^(CMAKE|PROJECT|HWCAL|hwcal)_|_(SOURCE|BINARY)_DIR$"))
      string(APPEND _init "set(${_v} [==[${${_v}}]==] CACHE STRING \"\" FORCE)\n")
    endif()
  endforeach()
  file(WRITE "${_dir}/init.cmake" "${_init}")

  execute_process(COMMAND "${CMAKE_COMMAND}" -C "${_dir}/init.cmake" -S "${_dir}" -B "${_dir}/build" -G "${CMAKE_GENERATOR}"
                  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
  if(_rc EQUAL 0)
    set(${out} "" PARENT_SCOPE)
    return()
  endif()
  # One line: the first error's message, and where in the package it came
  # from: the outermost frame below the probe's own find_package call (for
  # Debian's oneDNN without OpenCL that is dnnl-config.cmake:70, not the
  # FindPackageHandleStandardArgs.cmake line that raised the error).
  set(_why "find_package(${pkg}) failed")
  if(_err MATCHES "Could not find a package configuration file provided by")
    set(_why "not installed (no ${pkg} package configuration file found)")
  elseif(_err MATCHES "CMake Error at ([^\n]*:[0-9]+) \\([^\n]*\n(.*)")
    set(_where "${CMAKE_MATCH_1}")
    set(_msg "${CMAKE_MATCH_2}")
    string(REGEX REPLACE "\n\n.*" "" _block "${_msg}")        # this error's message and call stack
    string(REGEX REPLACE "\n *Call Stack.*" "" _msg "${_block}")
    if(_block MATCHES "Call Stack[^\n]*\n(.*)")
      string(REGEX MATCHALL "[^\n]+:[0-9]+ \\(" _frames "${CMAKE_MATCH_1}")
      list(POP_BACK _frames)  # the probe's CMakeLists.txt
      if(_frames)
        list(POP_BACK _frames _where)
        string(REGEX REPLACE " \\($" "" _where "${_where}")
      endif()
    endif()
    string(REGEX REPLACE "[ \n\t]+" " " _msg "${_msg}")
    string(STRIP "${_msg}" _msg)
    string(REGEX REPLACE "\\.$" "" _msg "${_msg}")
    string(STRIP "${_where}" _where)
    get_filename_component(_where "${_where}" NAME)
    set(_why "${_where}: ${_msg}")
  endif()
  set(${out} "${_why}" PARENT_SCOPE)
endfunction()
