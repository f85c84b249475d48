#pragma once
// log2 and exp2 to about 1e-5, without a libm call: the mapper evaluates a
// handful of each per estimate, and at tens of millions of estimates per
// second the library calls cost more than the rest of a lookup. Least-squares
// polynomials in the mantissa (log2) and the fraction (exp2); the exponent
// goes through the bits of the double.

#include <cmath>
#include <cstdint>
#include <cstring>

namespace hwcal {
namespace detail {

/// log2(x) for x > 0, absolute error below 3e-5; 0 for x <= 0.
inline double fast_log2(double x) noexcept {
  if (!(x > 0)) return 0;
  std::uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int e = static_cast<int>((bits >> 52) & 0x7ff) - 1023;
  if (e == -1023 || e == 1024) return std::log2(x);               // subnormal, inf: rare, exact path
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;  // mantissa in [1, 2)
  double m1;
  std::memcpy(&m1, &bits, sizeof m1);
  const double m = m1 - 1.0;
  return e + m * (1.4418258 + m * (-0.708682101 + m * (0.415421949 + m * (-0.194422672 + m * 0.0458855267))));
}

/// 2^x, relative error below 1e-8 (|x| < 1000).
inline double fast_exp2(double x) noexcept {
  if (!(x > -1000)) return 0;
  if (x > 1000) return std::exp2(x);
  const double n = std::floor(x);
  const double f = x - n;
  const double p =
      1.00000000616 +
      f * (0.693146837701 +
           f * (0.240231096762 +
                f * (0.0554789124628 + f * (0.00968618629035 + f * (0.00123824155386 + f * 0.000218712623193)))));
  const std::int64_t e = static_cast<std::int64_t>(n) + 1023;
  if (e <= 0 || e >= 2047) return std::ldexp(p, static_cast<int>(n));  // beyond normal doubles: rare, exact path
  const std::uint64_t bits = static_cast<std::uint64_t>(e) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline double fast_exp(double x) noexcept { return fast_exp2(x * 1.4426950408889634); }
inline double fast_log(double x) noexcept { return fast_log2(x) * 0.6931471805599453; }

}  // namespace detail
}  // namespace hwcal
