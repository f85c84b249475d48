#pragma once
// Catch2 shim: Debian 12 ships Catch2 v2 (<catch2/catch.hpp>); v3 splits the
// headers. Tests include this file only, so moving to v3 is a one-file change.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

// Exit code CTest reads as "skipped" (SKIP_RETURN_CODE); v2 has no SKIP().
inline constexpr int hwcal_skip_exit_code = 77;
