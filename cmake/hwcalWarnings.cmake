# Warnings for hwcal's own targets (tests, tools, examples), never for the
# INTERFACE targets users link: their compilers and flags are their business.
function(hwcal_project_options target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
        -Wcast-align -Wimplicit-fallthrough>)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
      # GCC 12's own AVX-512 intrinsics headers trip -Wmaybe-uninitialized
      # (`__m512 __Y = __Y;`, GCC bug 105593) wherever Eigen uses them, and
      # -Wuninitialized too where -march=native resolves to an older core
      # (GCC 12 takes a Xeon of family 6 model 207, which it does not know, for
      # cooperlake, and Eigen's pexp_double then fails the build). Clang's
      # builds (fuzz) keep both.
      target_compile_options(${target} PRIVATE
        $<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized -Wno-uninitialized>)
    endif()
    if(HWCAL_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
    endif()
  endif()
endfunction()

# Programs that measure: build them for this machine so Eigen uses its widest
# vectors. Profiles record the SIMD set the kernels were compiled for.
function(hwcal_native_arch target)
  if(HWCAL_NATIVE_ARCH AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
  endif()
endfunction()
