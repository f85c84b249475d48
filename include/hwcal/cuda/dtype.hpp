#pragma once
// Element types of device tensors and their host-side decoding. Tensors are
// generated on the device (kernels/fill.cuh) and checked on the host by copying
// samples back and decoding them here, so a check compares what the GPU
// actually held, bit for bit, whatever the storage format.
// Included by both g++ and nvcc translation units: no CUDA headers here.

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/kinds.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>

namespace hwcal {
namespace cuda {

/// Storage formats the kernels are instantiated for (i64: embedding indices).
enum class DType : std::uint8_t { f64, f32, f16, bf16, i8, i32, e4m3, i64 };

constexpr int dtype_bytes(DType t) noexcept {
  switch (t) {
    case DType::f64:
    case DType::i64: return 8;
    case DType::f32:
    case DType::i32: return 4;
    case DType::f16:
    case DType::bf16: return 2;
    case DType::i8:
    case DType::e4m3: return 1;
  }
  return 4;
}

constexpr std::string_view to_string(DType t) noexcept {
  switch (t) {
    case DType::f64: return "f64";
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::i8: return "i8";
    case DType::i32: return "i32";
    case DType::e4m3: return "e4m3";
    case DType::i64: return "i64";
  }
  return "?";
}

/// Storage of a precision's input tensors (tf32 is fp32 in memory; tf32 only
/// changes how tensor cores multiply).
constexpr DType storage_of(Precision p) noexcept {
  switch (p) {
    case Precision::fp64: return DType::f64;
    case Precision::fp32:
    case Precision::tf32: return DType::f32;
    case Precision::fp16: return DType::f16;
    case Precision::bf16: return DType::bf16;
    case Precision::int8: return DType::i8;
    case Precision::fp8: return DType::e4m3;
  }
  return DType::f32;
}

/// Storage of GEMM outputs: int8 GEMMs accumulate into int32, fp8 GEMMs write
/// bf16 (what torch._int_mm and torch._scaled_mm produce).
constexpr DType gemm_output_of(Precision p) noexcept {
  if (p == Precision::int8) return DType::i32;
  if (p == Precision::fp8) return DType::bf16;
  return storage_of(p);
}

namespace detail {

inline double decode_f16(std::uint16_t h) noexcept {
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  double v;
  if (exp == 0)
    v = std::ldexp(static_cast<double>(man), -24);
  else if (exp == 31)
    v = man ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else
    v = std::ldexp(static_cast<double>(man | 0x400), exp - 25);
  return sign ? -v : v;
}

inline double decode_bf16(std::uint16_t b) noexcept {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return static_cast<double>(f);
}

/// OCP FP8 E4M3 (the "fn" variant: no infinities, S.1111.111 is NaN).
inline double decode_e4m3(std::uint8_t b) noexcept {
  const int sign = (b >> 7) & 1, exp = (b >> 3) & 0xf, man = b & 0x7;
  double v;
  if (exp == 15 && man == 7)
    v = std::numeric_limits<double>::quiet_NaN();
  else if (exp == 0)
    v = std::ldexp(static_cast<double>(man), -9);
  else
    v = std::ldexp(static_cast<double>(man | 0x8), exp - 10);
  return sign ? -v : v;
}

}  // namespace detail

/// Value of element `i` of a raw host copy of a tensor stored as `t`.
inline double decode(DType t, const void* data, std::int64_t i) noexcept {
  const auto* p = static_cast<const unsigned char*>(data) + i * dtype_bytes(t);
  switch (t) {
    case DType::f64: {
      double v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::f32: {
      float v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<double>(v);
    }
    case DType::f16: {
      std::uint16_t v;
      std::memcpy(&v, p, sizeof v);
      return detail::decode_f16(v);
    }
    case DType::bf16: {
      std::uint16_t v;
      std::memcpy(&v, p, sizeof v);
      return detail::decode_bf16(v);
    }
    case DType::i8: {
      std::int8_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<double>(v);
    }
    case DType::i32: {
      std::int32_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<double>(v);
    }
    case DType::e4m3: return detail::decode_e4m3(*p);
    case DType::i64: {
      std::int64_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<double>(v);
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace cuda
}  // namespace hwcal
