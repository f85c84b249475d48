#pragma once
// hwcal version. Bumped by hand on release; the profile schema has its own
// version (schema.hpp) because profiles outlive library releases.

#define HWCAL_VERSION_MAJOR 0
#define HWCAL_VERSION_MINOR 1
#define HWCAL_VERSION_PATCH 0
#define HWCAL_VERSION_STRING "0.1.0"

namespace hwcal {
inline constexpr const char* version_string() noexcept { return HWCAL_VERSION_STRING; }
}  // namespace hwcal
