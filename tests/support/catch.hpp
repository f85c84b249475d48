#pragma once
// Catch2 shim: Debian 12 ships Catch2 v2 (<catch2/catch.hpp>); v3 splits the
// headers and moves Approx into namespace Catch. Tests include this file only.
// v2 is preferred when both are visible, because find_package(Catch2 2) links v2.
#if __has_include(<catch2/catch.hpp>)
#include <catch2/catch.hpp>
#else
#include <catch2/catch_all.hpp>
using Catch::Approx;
#endif

// Exit code CTest reads as "skipped" (SKIP_RETURN_CODE); v2 has no SKIP().
inline constexpr int hwcal_skip_exit_code = 77;
