#pragma once
// A small hand-made profile with round numbers, for schema, mapper and CLI
// tests: every sample's time is overhead + work / rate, so expected
// predictions can be worked out by hand.

#include <hwcal/schema.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

namespace hwcal::test {

inline constexpr double overhead_s = 1e-6;

inline OpSample sample(OpKind k, Shape shape, Precision p, double rate, double fixed = overhead_s) {
  OpSample s;
  s.shape = shape;
  const OpDesc op{k, shape};
  s.flops = flops(op);
  s.bytes = bytes(op, p);
  s.time.median_s = fixed + work(op, p) / rate;
  s.time.mad_s = 0.01 * s.time.median_s;
  s.time.p10_s = 0.98 * s.time.median_s;
  s.time.p90_s = 1.02 * s.time.median_s;
  s.time.samples = 10;
  s.gflops = s.flops / s.time.median_s / 1e9;
  s.gbps = s.bytes / s.time.median_s / 1e9;
  return s;
}

inline HardwareCalibration make_test_profile() {
  HardwareCalibration h;
  h.name = "test machine";
  h.target = "cpu";
  h.backend = "eigen";
  h.mode = "custom";
  h.threads = 1;
  h.fingerprint = "0123456789abcdef";
  h.host.cpu_model = "Test CPU";
  h.host.arch = "x86_64";
  h.host.isa = {"avx2", "fma"};
  h.host.physical_cores = 2;
  h.host.logical_cpus = 2;
  h.host.threads_used = 1;
  h.host.caches = {{1, "Data", 32768, 1}, {2, "Unified", 1 << 20, 1}, {3, "Unified", 32 << 20, 2}};
  h.software = {{"eigen", "3.4.0"}, {"compiler", "test"}};
  h.peaks = {
      {Precision::fp32, 100.0, "test"}, {Precision::fp64, 50.0, "test"}, {Precision::bf16, std::nullopt, "none"}};
  // bandwidth: 100 GB/s at 16 KiB, 50 at 1 MiB, 10 at 64 MiB
  for (auto [ws, gbps] : {std::pair<std::int64_t, double>{16 << 10, 100}, {1 << 20, 50}, {64 << 20, 10}}) {
    BandwidthPoint b;
    b.working_set_bytes = ws;
    b.kernel = "triad";
    b.gbps = gbps;
    b.time.median_s = double(ws) / (gbps * 1e9);
    b.time.p10_s = b.time.p90_s = b.time.median_s;
    b.time.samples = 5;
    h.memory.sweep.push_back(b);
  }
  h.memory.levels = {{"L1", 32768, 16384, 100}, {"DRAM", 0, 64 << 20, 10}};
  h.overhead.per_call_s = overhead_s;
  h.overhead.derivation = "test";

  OperationCalibration mm;
  mm.op = OpKind::matmul, mm.precision = Precision::fp32, mm.backend = "eigen", mm.threads = 1;
  mm.samples = {sample(OpKind::matmul, MatmulShape{1, 64, 64, 64, false}, Precision::fp32, 10e9),
                sample(OpKind::matmul, MatmulShape{1, 256, 256, 256, false}, Precision::fp32, 50e9),
                sample(OpKind::matmul, MatmulShape{1, 1024, 1024, 1024, false}, Precision::fp32, 80e9)};
  h.operations.push_back(mm);

  OperationCalibration relu;
  relu.op = OpKind::relu, relu.precision = Precision::fp32, relu.backend = "eigen", relu.variant = Variant::unary,
  relu.threads = 1;
  relu.samples = {sample(OpKind::relu, ElementwiseShape{1 << 8, 1, 0}, Precision::fp32, 10e9),
                  sample(OpKind::relu, ElementwiseShape{1 << 10, 1, 0}, Precision::fp32, 10e9),
                  sample(OpKind::relu, ElementwiseShape{1 << 12, 1, 0}, Precision::fp32, 10e9),
                  sample(OpKind::relu, ElementwiseShape{1 << 20, 1, 0}, Precision::fp32, 100e9)};
  h.operations.push_back(relu);

  OperationCalibration conv;
  conv.op = OpKind::conv2d, conv.precision = Precision::fp32, conv.backend = "eigen", conv.variant = Variant::dense,
  conv.threads = 1;
  Conv2dShape c;
  c.n = 1, c.c = 64, c.h = c.w = 56, c.k = 64, c.r = c.s = 3, c.pad_h = c.pad_w = 1, c.bias = false;
  conv.samples = {sample(OpKind::conv2d, c, Precision::fp32, 40e9)};
  h.operations.push_back(conv);

  OperationCalibration bn;
  bn.op = OpKind::batchnorm, bn.precision = Precision::fp32, bn.backend = "eigen", bn.threads = 1;
  bn.samples = {sample(OpKind::batchnorm, MapShape{1, 64, 56, 56}, Precision::fp32, 20e9)};
  h.operations.push_back(bn);

  FusionCalibration f;
  f.pattern = FusionPattern::conv_bn_relu, f.precision = Precision::fp32, f.backend = "eigen", f.threads = 1,
  f.note = "test";
  FusionSample fs;
  fs.shape = c;
  fs.flops = flops(OpDesc{OpKind::conv2d, c});
  fs.fused_bytes = 1e6, fs.unfused_bytes = 2e6;
  fs.fused.median_s = fs.fused.p10_s = fs.fused.p90_s = 1e-3;
  fs.unfused.median_s = fs.unfused.p10_s = fs.unfused.p90_s = 1.25e-3;
  fs.fused.samples = fs.unfused.samples = 5;
  f.samples.push_back(fs);
  h.fusions.push_back(f);
  return h;
}

/// A small GPU profile with round numbers: device samples are warm per-launch
/// times (CUDA-graph semantics), linear samples also cold; a 2 us floor for
/// tiny ops; an L2 of 50 MiB; launch costs 0.7 us (graph) and 5 us (eager);
/// PyTorch's per-op host cost measured for linear (10 us) only.
inline HardwareCalibration make_test_gpu_profile() {
  HardwareCalibration h;
  h.name = "test GPU";
  h.target = "cuda";
  h.backend = "cuda";
  h.mode = "custom";
  h.timing = "test: warm per-launch device time; cold after an L2 flush";
  h.threads = 1;
  h.host.cpu_model = "Test CPU";
  h.host.logical_cpus = 16;
  h.host.threads_used = 1;
  DeviceInfo d;
  d.name = "Test GPU";
  d.sm_count = 100;
  d.l2_bytes = 50 << 20;
  d.memory_bytes = std::int64_t{80} << 30;
  h.device = d;
  h.peaks = {{Precision::bf16, 1000e3, "test"}, {Precision::fp32, 50e3, "test"}};  // GFLOP/s
  // bandwidth: 10 TB/s in the L2 (up to 32 MiB), 4 TB/s from memory (from 128 MiB)
  for (auto [ws, gbps] :
       {std::pair<std::int64_t, double>{1 << 20, 10000}, {32 << 20, 10000}, {128 << 20, 4000}, {1 << 30, 4000}}) {
    BandwidthPoint b;
    b.working_set_bytes = ws;
    b.kernel = "triad";
    b.gbps = gbps;
    b.time.median_s = b.time.p10_s = b.time.p90_s = double(ws) / (gbps * 1e9);
    b.time.samples = 5;
    h.memory.sweep.push_back(b);
  }
  h.overhead.per_call_s = 5e-6;
  h.overhead.graph_launch_s = 0.7e-6;
  h.overhead.derivation = "test";
  h.overhead.framework_s[OpKind::linear] = 10e-6;
  h.overhead.framework_derivation = "test";

  // relu: 2 us floor up to 2^16 elements, then 2 TB/s (bf16: 4 bytes per element)
  OperationCalibration relu;
  relu.op = OpKind::relu, relu.precision = Precision::bf16, relu.backend = "cuda", relu.variant = Variant::unary,
  relu.threads = 1;
  for (i64 e : {i64{1} << 10, i64{1} << 16, i64{1} << 24}) {
    OpSample s = sample(OpKind::relu, ElementwiseShape{e, 1, 0}, Precision::bf16, 2000e9, 0);
    const double t = std::max(2e-6, s.time.median_s);
    s.time.median_s = t, s.time.mad_s = 0.01 * t, s.time.p10_s = 0.99 * t, s.time.p90_s = 1.01 * t;
    relu.samples.push_back(s);
  }
  h.operations.push_back(relu);
  // linear bf16: 500 TFLOP/s warm; cold adds the weights at 4 TB/s
  OperationCalibration lin;
  lin.op = OpKind::linear, lin.precision = Precision::bf16, lin.backend = "cuda", lin.threads = 1;
  for (i64 m : {i64{1}, i64{64}, i64{4096}}) {
    const MatmulShape shape{1, m, 4096, 4096, true};
    OpSample s = sample(OpKind::linear, shape, Precision::bf16, 500e12, 0);
    s.time.median_s = std::max(s.time.median_s, bytes(OpDesc{OpKind::linear, shape}, Precision::bf16) / 8000e9);
    s.time.p10_s = 0.99 * s.time.median_s, s.time.p90_s = 1.01 * s.time.median_s;
    TimeStats cold = s.time;
    cold.median_s += counts(OpDesc{OpKind::linear, shape}, Precision::bf16).weight_bytes / 4000e9;
    cold.p10_s = 0.99 * cold.median_s, cold.p90_s = 1.01 * cold.median_s;
    s.cold = cold;
    lin.samples.push_back(s);
  }
  h.operations.push_back(lin);
  return h;
}

/// A temporary file path removed at scope exit.
struct TempFile {
  std::string path;
  explicit TempFile(const std::string& stem) {
    char buf[] = "/tmp/hwcal-test-XXXXXX";
    const int fd = ::mkstemp(buf);
    if (fd >= 0) ::close(fd);
    path = std::string(buf) + "-" + stem;
    std::remove(buf);
  }
  ~TempFile() { std::remove(path.c_str()); }
  void write(const std::string& text) const { std::ofstream(path, std::ios::binary) << text; }
  std::string read() const {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

}  // namespace hwcal::test
