// Host-side tests of the CUDA backend: they run on any machine, GPU or not
// (no skip). Without a device, constructing the backend must throw
// UnavailableError; everything else here is pure host logic (error messages,
// peak tables, type decoding, GEMM configuration).
#include "catch.hpp"

#include <hwcal/cuda/backend.hpp>
#include <hwcal/cuda/bandwidth.hpp>
#include <hwcal/cuda/peaks.hpp>

#include <cmath>
#include <string>

using namespace hwcal;
using namespace hwcal::cuda;

namespace {
DeviceInfo h100() {
  DeviceInfo d;
  d.name = "NVIDIA H100 80GB HBM3";
  d.sm_count = 132;
  d.cc_major = 9;
  d.cc_minor = 0;
  d.max_sm_clock_mhz = 1980;
  d.max_mem_clock_mhz = 2619;
  d.memory_bus_bits = 5120;
  return d;
}
std::string message_of(void (*f)()) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}
}  // namespace

TEST_CASE("without a device the backend refuses, never falls back") {
  const int n = device_count();  // never throws
  REQUIRE(n >= 0);
  CHECK(available() == (n > 0));
  CHECK_THROWS_AS(CudaBackend(n), UnavailableError);  // one past the last device
  CHECK_THROWS_AS(CudaBackend(-1), UnavailableError);
  CHECK_THROWS_AS(query_device(n), UnavailableError);
  if (n == 0) {
    CHECK_THROWS_AS(CudaBackend(0), UnavailableError);
    try {
      CudaBackend b(0);
    } catch (const UnavailableError& e) {
      CHECK(std::string(e.what()).find("cuda backend") != std::string::npos);
    }
  }
}

TEST_CASE("error macros name the call, the place and the library's message") {
  const std::string cuda = message_of([] { HWCAL_CUDA_CHECK(cudaErrorInvalidValue); });
  CHECK(cuda.find("cudaErrorInvalidValue") != std::string::npos);
  CHECK(cuda.find("test_host.cpp:") != std::string::npos);
  const std::string cublas = message_of([] { HWCAL_CUBLAS_CHECK(CUBLAS_STATUS_NOT_SUPPORTED); });
  CHECK(cublas.find("CUBLAS_STATUS_NOT_SUPPORTED") != std::string::npos);
  const std::string cudnn = message_of([] { HWCAL_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
  CHECK(cudnn.find("CUDNN_STATUS_BAD_PARAM") != std::string::npos);
  CHECK(message_of([] { HWCAL_CUDA_CHECK(cudaSuccess); }).empty());
}

TEST_CASE("theoretical peaks reproduce the H100 whitepaper rates") {
  const auto peaks = theoretical_peaks(h100());
  REQUIRE(peaks.size() == all_precisions.size());
  auto gflops = [&](Precision p) {
    for (const auto& k : peaks)
      if (k.precision == p) return k.gflops.value_or(-1.0);
    return -2.0;
  };
  const double sm_ghz = 132 * 1.98;
  CHECK(gflops(Precision::bf16) == Approx(sm_ghz * 4096));
  CHECK(gflops(Precision::fp16) == Approx(sm_ghz * 4096));
  CHECK(gflops(Precision::fp8) == Approx(sm_ghz * 8192));
  CHECK(gflops(Precision::int8) == Approx(sm_ghz * 8192));
  CHECK(gflops(Precision::tf32) == Approx(sm_ghz * 2048));
  CHECK(gflops(Precision::fp32) == Approx(66908.16));  // whitepaper: 66.9 TFLOP/s
  CHECK(gflops(Precision::fp64) == Approx(66908.16));
  for (const auto& k : peaks) CHECK(k.derivation.find("132 SMs") != std::string::npos);
  // At a measured clock the peak scales with it.
  const auto at = theoretical_peaks(h100(), 990);
  CHECK(at[static_cast<std::size_t>(Precision::bf16)].gflops.value() == Approx(sm_ghz * 4096 / 2));
}

TEST_CASE("an architecture outside the table gets no peak, and says why") {
  DeviceInfo d = h100();
  d.cc_major = 7;
  d.cc_minor = 5;
  for (const auto& k : theoretical_peaks(d)) {
    CHECK_FALSE(k.gflops.has_value());
    CHECK(k.derivation.find("7.5") != std::string::npos);
  }
  d.cc_major = 8;
  d.cc_minor = 0;
  const auto a100 = theoretical_peaks(d);
  CHECK_FALSE(a100[static_cast<std::size_t>(Precision::fp8)].gflops.has_value());
  CHECK(a100[static_cast<std::size_t>(Precision::bf16)].gflops.has_value());
}

TEST_CASE("DRAM bandwidth from memory clock and bus width") {
  const BandwidthPeak b = dram_bandwidth(h100());
  REQUIRE(b.gbps.has_value());
  CHECK(*b.gbps == Approx(3352.32));  // H100 SXM: 3.35 TB/s
  DeviceInfo unknown;
  CHECK_FALSE(dram_bandwidth(unknown).gbps.has_value());
}

TEST_CASE("device formats decode exactly") {
  const std::uint16_t bf16_one = 0x3F80, f16_one = 0x3C00, f16_tiny = 0x0001, f16_neg = 0xC500;
  CHECK(decode(DType::bf16, &bf16_one, 0) == 1.0);
  CHECK(decode(DType::f16, &f16_one, 0) == 1.0);
  CHECK(decode(DType::f16, &f16_tiny, 0) == std::ldexp(1.0, -24));
  CHECK(decode(DType::f16, &f16_neg, 0) == -5.0);
  const std::uint8_t e4m3[] = {0x38, 0x7E, 0x01, 0xB8, 0x7F};
  CHECK(decode(DType::e4m3, e4m3, 0) == 1.0);
  CHECK(decode(DType::e4m3, e4m3, 1) == 448.0);
  CHECK(decode(DType::e4m3, e4m3, 2) == std::ldexp(1.0, -9));
  CHECK(decode(DType::e4m3, e4m3, 3) == -1.0);
  CHECK(std::isnan(decode(DType::e4m3, e4m3, 4)));
  const std::int8_t i8[] = {-128, 127};
  CHECK(decode(DType::i8, i8, 0) == -128.0);
  CHECK(decode(DType::i8, i8, 1) == 127.0);
}

TEST_CASE("GEMMs are configured like PyTorch's, int8 and fp8 in the TN form") {
  const GemmConfig f32 = gemm_config(Precision::fp32, BLayout::kn);
  CHECK(f32.compute == CUBLAS_COMPUTE_32F);
  CHECK(f32.trans_a == CUBLAS_OP_N);
  CHECK(f32.trans_b == CUBLAS_OP_N);
  CHECK(gemm_config(Precision::tf32, BLayout::kn).compute == CUBLAS_COMPUTE_32F_FAST_TF32);
  const GemmConfig bf16 = gemm_config(Precision::bf16, BLayout::nk);
  CHECK(bf16.ab_type == CUDA_R_16BF);
  CHECK(bf16.compute == CUBLAS_COMPUTE_32F);
  CHECK(bf16.trans_a == CUBLAS_OP_T);
  const GemmConfig i8 = gemm_config(Precision::int8, BLayout::nk);
  CHECK(i8.ab_type == CUDA_R_8I);
  CHECK(i8.cd_type == CUDA_R_32I);
  CHECK(i8.compute == CUBLAS_COMPUTE_32I);
  CHECK(i8.scale_type == CUDA_R_32I);
  const GemmConfig f8 = gemm_config(Precision::fp8, BLayout::nk);
  CHECK(f8.ab_type == CUDA_R_8F_E4M3);
  CHECK(f8.cd_type == CUDA_R_16BF);
  CHECK(f8.scales);
  CHECK(gemm_config(Precision::fp64, BLayout::kn).compute == CUBLAS_COMPUTE_64F);

  CHECK(gemm_unsupported_reason(Precision::bf16, BLayout::kn, 7, 9, 11, Epilogue::bias, 9, 0).empty());
  CHECK_FALSE(gemm_unsupported_reason(Precision::fp8, BLayout::nk, 64, 64, 64, Epilogue::none, 8, 0).empty());
  CHECK(gemm_unsupported_reason(Precision::fp8, BLayout::nk, 64, 64, 64, Epilogue::bias, 9, 0).empty());
  CHECK_FALSE(gemm_unsupported_reason(Precision::fp8, BLayout::nk, 64, 64, 40, Epilogue::none, 9, 0).empty());
  CHECK_FALSE(gemm_unsupported_reason(Precision::fp8, BLayout::kn, 64, 64, 64, Epilogue::none, 9, 0).empty());
  CHECK(gemm_unsupported_reason(Precision::int8, BLayout::nk, 3, 64, 64, Epilogue::none, 9, 0).empty());
  CHECK_FALSE(gemm_unsupported_reason(Precision::int8, BLayout::nk, 3, 64, 64, Epilogue::bias, 9, 0).empty());
  CHECK_FALSE(gemm_unsupported_reason(Precision::int8, BLayout::nk, 3, 64, 62, Epilogue::none, 9, 0).empty());
}

TEST_CASE("options default to what PyTorch runs; convolution layouts and strides") {
  const CudaOptions defaults;
  CHECK(defaults.algorithm == Algorithm::heuristic_first);
  CHECK(defaults.conv_layout == ConvLayout::nchw);
  CHECK(defaults.describe() == "algorithm=heuristic_first conv_layout=nchw");
  CHECK(CudaOptions{Algorithm::fastest, ConvLayout::nhwc}.describe() == "algorithm=fastest conv_layout=nhwc");
  const Dims4 nhwc = dims4(2, 3, 4, 5, ConvLayout::nhwc);
  CHECK(nhwc.strides == std::array<std::int64_t, 4>{60, 1, 15, 3});
  const Dims4 nchw = dims4(2, 3, 4, 5, ConvLayout::nchw);
  CHECK(nchw.strides == std::array<std::int64_t, 4>{60, 20, 5, 1});
}

TEST_CASE("row ops keep rows in registers up to 4096 vectors, streaming beyond") {
  using launch::row_layout;
  using Kind = launch::RowLayout::Kind;
  const auto ln768 = row_layout(DType::bf16, 768);  // 96 vectors: a warp, 4 per lane
  CHECK(ln768.kind == Kind::group);
  CHECK(ln768.width == 32);
  CHECK(ln768.per_thread == 4);
  const auto sm197 = row_layout(DType::bf16, 197);  // ViT softmax: single elements, 25 vectors' worth
  CHECK(sm197.kind == Kind::group);
  CHECK_FALSE(sm197.aligned);
  CHECK(sm197.width == 32);
  CHECK(row_layout(DType::f32, 49).width == 16);     // several rows per warp
  const auto rms8k = row_layout(DType::bf16, 8192);  // 1024 vectors: a block of 128, 8 each
  CHECK(rms8k.kind == Kind::block);
  CHECK(rms8k.width == 128);
  CHECK(row_layout(DType::bf16, 32768).kind == Kind::block);
  CHECK(row_layout(DType::bf16, 32776).kind == Kind::stream);
  CHECK(row_layout(DType::f32, 4099).kind == Kind::stream);
  CHECK(row_layout(DType::f64, 512).per_thread == 8);
  CHECK_FALSE(rms8k.describe().empty());
}

TEST_CASE("decode attention splits the KV cache to fill the GPU") {
  int splits = 0;
  i64 chunk = 0;
  decode_split(AttentionShape{1, 32, 1, 2048, 128, false, 8}, 132, splits, chunk);
  CHECK(chunk % 64 == 0);
  CHECK(chunk >= 128);
  CHECK(splits * chunk >= 2048);
  CHECK((splits - 1) * chunk < 2048);
  CHECK(splits == 16);
  decode_split(AttentionShape{64, 32, 1, 8192, 128, false, 8}, 132, splits, chunk);  // 512 groups: 2 chunks
  CHECK(splits == 2);
  decode_split(AttentionShape{1, 32, 1, 100, 128, false, 8}, 132, splits, chunk);  // short cache: one chunk
  CHECK(splits == 1);
  CHECK(chunk >= 100);
}

TEST_CASE("helpers: sweep sizes, clock reasons, UUIDs") {
  const auto sizes = bandwidth_sizes(std::int64_t{64} << 10, std::int64_t{1} << 30, 1);
  REQUIRE(sizes.size() == 15);
  CHECK(sizes.front() == 65536);
  CHECK(sizes.back() == std::int64_t{1} << 30);
  CHECK(describe_clock_reasons(clock_reason::sw_power_cap | clock_reason::hw_thermal) == "sw_power_cap,hw_thermal");
  CHECK(describe_clock_reasons(0).empty());
  const unsigned char id[16] = {0x5b, 0x7a, 0x1b, 0x3c, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff};
  CHECK(hwcal::cuda::detail::format_uuid(id) == "GPU-5b7a1b3c-0001-0203-0405-060708090aff");
}

TEST_CASE("clock monitoring degrades to 'unknown' without NVML or device") {
  if (device_count() > 0) return;  // with a device, gpu_device covers the real monitor
  ClockMonitor clocks(0);
  CHECK_FALSE(clocks.available());
  CHECK_FALSE(clocks.why_unavailable().empty());
  const ClockSample s = clocks.sample();
  CHECK(s.sm_mhz == 0);
  CHECK_FALSE(s.throttled);
  DeviceInfo d;
  clocks.apply(d);
  CHECK(d.measured_sm_clock_mhz == 0);
  CHECK_FALSE(d.throttled);
}

TEST_CASE("library versions are reported without a device") {
  const auto sw = software_versions();
  CHECK(sw.count("cublaslt") == 1);
  CHECK(sw.count("cudnn") == 1);
  CHECK(sw.at("cudnn_headers") ==
        std::to_string(CUDNN_MAJOR) + "." + std::to_string(CUDNN_MINOR) + "." + std::to_string(CUDNN_PATCHLEVEL));
}
