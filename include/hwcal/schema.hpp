#pragma once
// The calibration schema: what a profile holds and its JSON form.
//
//   HardwareCalibration   one machine + backend + thread count
//     host / device / software    what ran it
//     peaks                        theoretical peak per precision, with derivation
//     memory                       bandwidth per level, working-set sweep, STREAM
//     overhead                     fixed cost per call of the backend
//     operations[]                 OperationCalibration: a curve of samples over size
//     fusions[]                    FusionCalibration: fused vs unfused per size
//     collectives (optional)       CollectivesCalibration: NCCL curves of time vs
//                                  message size per collective and GPU count
//
// to_json writes every field; from_json validates everything it reads and
// throws DocumentError naming the JSON pointer of the first bad field.
// docs/schema.md describes each field; profiles/hwcal-profile.schema.json is
// the JSON Schema of the same document.

#include <hwcal/detail/collective_model.hpp>
#include <hwcal/detail/json_reader.hpp>
#include <hwcal/detail/shape_json.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/time_stats.hpp>
#include <hwcal/version.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace hwcal {

/// Version of the profile document written. Version 2: device samples are
/// per-launch times inside CUDA graphs (warm) plus cold times, the overhead
/// block has graph and eager launch costs, attention has kv_heads and a
/// decode variant. Readers also accept version 1 (its device samples are
/// single launches after an L2 flush, between two events: `timing` says so)
/// and reject any other with a message saying so.
///
/// The optional `collectives` section did not change the version: every
/// version 2 document without it means what it meant, and a reader that
/// predates it reads the compute curves of one with it and ignores the
/// section (it reads fields by name), where a version 3 would have made it
/// refuse the whole profile (docs/collectives.md).
inline constexpr int schema_version = 2;
inline constexpr int oldest_schema_version = 1;

/// One measured size of an operation.
struct OpSample {
  Shape shape;
  double flops = 0, bytes = 0;
  /// Warm: the op repeated back to back, its data where the previous run left
  /// it (CPU: timed on the host clock; devices: per launch inside a CUDA graph).
  TimeStats time;
  /// Devices: every run after an L2 flush (weights and inputs from memory).
  std::optional<TimeStats> cold;
  double gflops = 0, gbps = 0;
  std::optional<double> efficiency;  ///< achieved / peak of the precision (compute ops), when a peak is known
  double check_error = 0;            ///< max normalised error of the correctness check (<= 1 passed)
  std::string implementation;        ///< what the library chose, where it says
  /// The library's algorithm family, where it switches family by shape (e.g.
  /// PyTorch's CPU convolution: im2col + GEMM or oneDNN, by batch and
  /// threads): the mapper interpolates a curve within one family (docs/mapper.md).
  /// Empty: one family.
  std::string family;
  /// Empty when measured cleanly; otherwise why the calibrator could not (the
  /// machine stayed busy, repeats disagreed, ...): kept, and flagged.
  std::string disturbed;
};

/// A curve: one op at one precision on one backend and thread count, measured
/// over sizes. `variant` keeps e.g. depthwise and dense convolutions apart.
struct OperationCalibration {
  OpKind op = OpKind::matmul;
  Precision precision = Precision::fp32;
  std::string backend;
  Variant variant = Variant::none;
  int threads = 1;
  bool emulated = false;  ///< the backend computes this precision by converting (labelled, never hidden)
  std::string note;
  std::vector<OpSample> samples;

  /// What throughput is measured against: "flops" or "bytes".
  const char* size_axis() const noexcept { return is_compute_op(op) ? "flops" : "bytes"; }
  OpDesc desc(std::size_t i) const { return OpDesc{op, samples[i].shape}; }
};

struct FusionSample {
  Shape shape;  ///< shape of the pattern's anchor op (linear, conv2d or attention)
  double flops = 0, fused_bytes = 0, unfused_bytes = 0;
  TimeStats fused, unfused;
  double speedup() const noexcept { return fused.median_s > 0 ? unfused.median_s / fused.median_s : 0; }
  double memory_reduction() const noexcept { return unfused_bytes > 0 ? 1.0 - fused_bytes / unfused_bytes : 0; }
};

struct FusionCalibration {
  FusionPattern pattern = FusionPattern::linear_bias;
  Precision precision = Precision::fp32;
  std::string backend;
  int threads = 1;
  std::string note;  ///< how the fused version is realised
  std::vector<FusionSample> samples;
};

/// How a collective curve's calls were issued: captured in CUDA graphs
/// (device time, as a graphed model runs them) or one call at a time from
/// the host (as an eager framework does).
enum class LaunchMode : std::uint8_t { graph, eager };

constexpr std::string_view to_string(LaunchMode m) noexcept { return m == LaunchMode::graph ? "graph" : "eager"; }

inline bool parse(std::string_view s, LaunchMode& out) noexcept {
  if (s == "graph") return out = LaunchMode::graph, true;
  if (s == "eager") return out = LaunchMode::eager, true;
  return false;
}

/// One message size of a collective curve.
struct CollectiveSample {
  std::int64_t bytes = 0;  ///< per GPU, as CollectiveShape::bytes
  TimeStats time;          ///< per call: the slowest GPU's
};

/// A collective (all_reduce ... send_recv) over `gpus` GPUs at one precision
/// and launch mode, measured over message sizes, with its alpha-beta fit.
struct CollectiveCurve {
  OpKind op = OpKind::all_reduce;
  int gpus = 2;
  Precision precision = Precision::bf16;
  LaunchMode launch = LaunchMode::graph;
  std::vector<CollectiveSample> samples;  ///< ascending bytes, distinct
  double alpha_s = 0;                     ///< fitted latency
  double beta_gbps = 0;                   ///< fitted algorithm bandwidth (bytes / time), GB/s; 0: not bandwidth-bound
  double fit_error = 0;                   ///< largest |fit - median| / median over the samples
  std::string algorithm;                  ///< NCCL's algorithm/protocol where known; empty: its own choice

  double bus_factor() const noexcept { return collective_bus_factor(op, gpus); }
  /// Bus bandwidth of a sample (nccl-tests' busbw), GB/s.
  double busbw_gbps(const CollectiveSample& s) const noexcept {
    return s.time.median_s > 0 ? double(s.bytes) / s.time.median_s / 1e9 * bus_factor() : 0;
  }
  detail::AlphaBeta fit() const noexcept { return {alpha_s, beta_gbps * 1e9}; }
};

/// The collectives of a multi-GPU machine, as the library that ran them.
struct CollectivesCalibration {
  std::string library;        ///< "nccl"
  std::string version;        ///< e.g. "2.21.5"
  std::string process_model;  ///< how ranks were driven (one process for all GPUs, ...)
  std::string topology;       ///< links between the GPUs, in words (NVLink count, P2P)
  std::vector<int> nvlinks;   ///< active NVLinks per GPU (index = CUDA ordinal); empty when unknown
  std::string algorithm;      ///< NCCL_ALGO / NCCL_PROTO in force, or that NCCL chose per call
  std::string timing;         ///< how a sample was timed
  std::vector<CollectiveCurve> curves;

  const CollectiveCurve* find(OpKind op, int gpus, Precision p, LaunchMode m) const noexcept {
    for (const auto& c : curves)
      if (c.op == op && c.gpus == gpus && c.precision == p && c.launch == m) return &c;
    return nullptr;
  }
};

struct CacheLevel {
  int level = 0;
  std::string type;  ///< "Data", "Instruction", "Unified"
  std::int64_t size_bytes = 0;
  int shared_by = 1;  ///< logical CPUs sharing one instance
};

struct HostInfo {
  std::string cpu_model, vendor, arch;
  int family = 0, model = 0;     ///< x86 CPUID family and model (0 when unknown)
  std::vector<std::string> isa;  ///< relevant flags: sse4_2 avx2 fma avx512f avx512_bf16 amx_bf16 ...
  int physical_cores = 0, logical_cpus = 0, threads_used = 0;
  std::vector<CacheLevel> caches;
  double measured_clock_ghz = 0;  ///< during the run, all calibration threads busy
  std::string clock_method;       ///< how it was measured
  std::string governor, turbo;    ///< "unknown" where not visible (VMs)
  std::string hypervisor;         ///< empty on bare metal
  std::int64_t memory_bytes = 0;
  std::string os;

  /// Total capacity of the data/unified caches at a level visible to one
  /// thread (level 1, 2) or shared (3); 0 when absent.
  std::int64_t cache_bytes(int level) const noexcept {
    for (const auto& c : caches)
      if (c.level == level && c.type != "Instruction") return c.size_bytes;
    return 0;
  }
};

struct DeviceInfo {
  std::string name, uuid;
  int index = 0, sm_count = 0, cc_major = 0, cc_minor = 0;
  std::int64_t memory_bytes = 0, l2_bytes = 0;
  double max_sm_clock_mhz = 0, max_mem_clock_mhz = 0;
  double measured_sm_clock_mhz = 0, measured_mem_clock_mhz = 0;  ///< sampled during the run
  int memory_bus_bits = 0;
  std::string driver;
  bool throttled = false;  ///< throttling seen during the run
};

/// Theoretical peak of one precision. `gflops` is empty when it cannot be
/// derived, and `derivation` says why.
struct Peak {
  Precision precision = Precision::fp32;
  std::optional<double> gflops;
  std::string derivation;
};

/// Achieved bandwidth at one working-set size.
struct BandwidthPoint {
  std::int64_t working_set_bytes = 0;
  std::string kernel;  ///< "read", "copy", "scale", "add", "triad"
  double gbps = 0;
  TimeStats time;
};

/// Bandwidth of one memory level, taken from the sweep at a working set well
/// inside it (DRAM: well beyond the last cache).
struct MemoryLevel {
  std::string name;             ///< "L1", "L2", "L3", "DRAM", "HBM"
  std::int64_t size_bytes = 0;  ///< capacity (0 for DRAM/HBM)
  std::int64_t measured_at_bytes = 0;
  /// Read bandwidth where the profile has a read sweep (CPU profiles from
  /// hwcal 0.2 on); the triad sweep's otherwise (older profiles, devices).
  double gbps = 0;
  double triad_gbps = 0;  ///< the triad sweep at the same working set (0: not measured)
};

/// The L1 load-port limit of the cores that measured: loads per cycle x bytes
/// per load x measured clock x threads. gbps 0 when not derived (derivation says why).
struct LoadLimit {
  double gbps = 0;
  double bytes_per_cycle = 0, clock_ghz = 0;
  int threads = 0;
  double measured_share = 0;  ///< the L1 read level / gbps (0: not compared)
  std::string derivation;
  /// The L1 read level within 25% of the limit, either way (above it, the
  /// clock the limit was derived from read low: measured while other work
  /// took the CPU).
  bool within_25_percent() const noexcept { return measured_share >= 0.75 && measured_share <= 1.25; }
};

struct MemoryCalibration {
  std::vector<MemoryLevel> levels;
  std::vector<BandwidthPoint> sweep;       ///< working-set sweep (triad): the mapper's bandwidth of a working set
  std::vector<BandwidthPoint> read_sweep;  ///< working-set sweep (read): the levels (CPU profiles from hwcal 0.2 on)
  std::vector<BandwidthPoint> stream;      ///< STREAM copy/scale/add/triad at DRAM size
  LoadLimit l1_limit;                      ///< CPU: the L1 load-port limit the L1 level is checked against
};

struct OverheadCalibration {
  /// Fixed cost of one op call on this backend: CPU, the call's own time;
  /// devices, one eager kernel launch (host launch-to-launch).
  double per_call_s = 0;
  std::string derivation;
  /// Devices: one kernel inside a CUDA graph (launch-to-launch on the device
  /// clock); 0 on CPUs.
  double graph_launch_s = 0;
  /// Devices: what one replay of a CUDA graph costs beyond its kernels,
  /// between events on an idle stream (the host's submission of the graph and
  /// the device's start of it); a forward pass replayed as one graph pays it
  /// once. 0 on CPUs and in profiles that predate it.
  double graph_start_s = 0;
  /// What the framework the backend stands for adds per call, by op
  /// (TorchBackend: Python and nn.Module dispatch); empty for plain libraries.
  std::map<OpKind, double> framework_s;
  /// What a call adds inside a forward pass over its per-call cost, by op
  /// (FrameworkCost::sequence_s); empty where not measured.
  std::map<OpKind, double> framework_sequence_s;
  std::string framework_derivation;
};

struct HardwareCalibration {
  int schema_version = hwcal::schema_version;
  std::string hwcal_version = HWCAL_VERSION_STRING;
  std::string name;     ///< human label, e.g. "Intel Xeon (2 threads, onednn)"
  std::string target;   ///< "cpu" or "cuda"
  std::string backend;  ///< backend that produced the operations
  std::string mode;     ///< "quick", "full", "budget" (time-limited) or "auto" (auto_calibrate)
  std::string timing;   ///< how samples were timed (clock, cache state, launches per sample)
  int threads = 1;
  std::string fingerprint;  ///< machine + software identity (auto_calibrate cache key)
  std::string created_utc;
  double calibration_s = 0;

  HostInfo host;
  std::optional<DeviceInfo> device;
  std::map<std::string, std::string> software;
  std::vector<Peak> peaks;
  MemoryCalibration memory;
  OverheadCalibration overhead;
  std::vector<OperationCalibration> operations;
  std::vector<FusionCalibration> fusions;
  std::optional<CollectivesCalibration> collectives;  ///< multi-GPU targets calibrated with --collectives
  std::vector<std::string> warnings;

  const Peak* peak(Precision p) const noexcept {
    for (const auto& k : peaks)
      if (k.precision == p) return &k;
    return nullptr;
  }
  std::optional<double> peak_gflops(Precision p) const noexcept {
    const Peak* k = peak(p);
    return k ? k->gflops : std::nullopt;
  }
};

// ---------------------------------------------------------------- to_json

inline void to_json(nlohmann::json& j, const TimeStats& t) {
  j = {{"median_s", t.median_s}, {"mad_s", t.mad_s},           {"p10_s", t.p10_s},        {"p90_s", t.p90_s},
       {"samples", t.samples},   {"iterations", t.iterations}, {"converged", t.converged}};
}

inline nlohmann::json sample_json(OpKind op, const OpSample& s) {
  nlohmann::json j = {{"shape", detail::shape_to_json(OpDesc{op, s.shape})},
                      {"flops", s.flops},
                      {"bytes", s.bytes},
                      {"time", s.time},
                      {"gflops", s.gflops},
                      {"gbps", s.gbps},
                      {"check_error", s.check_error}};
  if (s.cold) j["cold_time"] = *s.cold;
  j["efficiency"] = s.efficiency ? nlohmann::json(*s.efficiency) : nlohmann::json(nullptr);
  if (!s.implementation.empty()) j["implementation"] = s.implementation;
  if (!s.family.empty()) j["family"] = s.family;
  if (!s.disturbed.empty()) j["disturbed"] = s.disturbed;
  return j;
}

inline void to_json(nlohmann::json& j, const OperationCalibration& c) {
  j = {{"op", to_string(c.op)},      {"precision", to_string(c.precision)},
       {"backend", c.backend},       {"variant", to_string(c.variant)},
       {"threads", c.threads},       {"emulated", c.emulated},
       {"size_axis", c.size_axis()}, {"note", c.note}};
  auto& arr = j["samples"] = nlohmann::json::array();
  for (const auto& s : c.samples) arr.push_back(sample_json(c.op, s));
}

inline void to_json(nlohmann::json& j, const FusionCalibration& f) {
  j = {{"pattern", to_string(f.pattern)},
       {"precision", to_string(f.precision)},
       {"backend", f.backend},
       {"threads", f.threads},
       {"note", f.note}};
  auto& arr = j["samples"] = nlohmann::json::array();
  for (const auto& s : f.samples)
    arr.push_back({{"shape", detail::shape_to_json(OpDesc{fusion_anchor(f.pattern), s.shape})},
                   {"flops", s.flops},
                   {"fused_bytes", s.fused_bytes},
                   {"unfused_bytes", s.unfused_bytes},
                   {"fused_time", s.fused},
                   {"unfused_time", s.unfused},
                   {"speedup", s.speedup()},
                   {"memory_reduction", s.memory_reduction()}});
}

inline void to_json(nlohmann::json& j, const CollectiveCurve& c) {
  j = {{"op", to_string(c.op)},
       {"gpus", c.gpus},
       {"precision", to_string(c.precision)},
       {"launch", to_string(c.launch)},
       {"alpha_s", c.alpha_s},
       {"beta_gbps", c.beta_gbps},
       {"busbw_gbps", c.beta_gbps * c.bus_factor()},
       {"fit_error", c.fit_error}};
  if (!c.algorithm.empty()) j["algorithm"] = c.algorithm;
  auto& arr = j["samples"] = nlohmann::json::array();
  for (const auto& s : c.samples)
    arr.push_back({{"bytes", s.bytes},
                   {"time", s.time},
                   {"algbw_gbps", double(s.bytes) / s.time.median_s / 1e9},
                   {"busbw_gbps", c.busbw_gbps(s)}});
}

inline void to_json(nlohmann::json& j, const CollectivesCalibration& c) {
  j = {{"library", c.library},   {"version", c.version}, {"process_model", c.process_model},
       {"topology", c.topology}, {"nvlinks", c.nvlinks}, {"algorithm", c.algorithm},
       {"timing", c.timing},     {"curves", c.curves}};
}

inline void to_json(nlohmann::json& j, const HostInfo& h) {
  j = {{"cpu_model", h.cpu_model},
       {"vendor", h.vendor},
       {"family", h.family},
       {"model", h.model},
       {"arch", h.arch},
       {"isa", h.isa},
       {"physical_cores", h.physical_cores},
       {"logical_cpus", h.logical_cpus},
       {"threads_used", h.threads_used},
       {"measured_clock_ghz", h.measured_clock_ghz},
       {"clock_method", h.clock_method},
       {"governor", h.governor},
       {"turbo", h.turbo},
       {"hypervisor", h.hypervisor},
       {"memory_bytes", h.memory_bytes},
       {"os", h.os}};
  auto& caches = j["caches"] = nlohmann::json::array();
  for (const auto& c : h.caches)
    caches.push_back({{"level", c.level}, {"type", c.type}, {"size_bytes", c.size_bytes}, {"shared_by", c.shared_by}});
}

inline void to_json(nlohmann::json& j, const DeviceInfo& d) {
  j = {{"name", d.name},
       {"uuid", d.uuid},
       {"index", d.index},
       {"sm_count", d.sm_count},
       {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
       {"memory_bytes", d.memory_bytes},
       {"l2_bytes", d.l2_bytes},
       {"max_sm_clock_mhz", d.max_sm_clock_mhz},
       {"max_mem_clock_mhz", d.max_mem_clock_mhz},
       {"measured_sm_clock_mhz", d.measured_sm_clock_mhz},
       {"measured_mem_clock_mhz", d.measured_mem_clock_mhz},
       {"memory_bus_bits", d.memory_bus_bits},
       {"driver", d.driver},
       {"throttled", d.throttled}};
}

inline void to_json(nlohmann::json& j, const BandwidthPoint& b) {
  j = {{"working_set_bytes", b.working_set_bytes}, {"kernel", b.kernel}, {"gbps", b.gbps}, {"time", b.time}};
}

inline void to_json(nlohmann::json& j, const HardwareCalibration& h) {
  j = nlohmann::json::object();
  j["schema_version"] = schema_version;  // what this writer writes (a v1 profile re-saved is v2, its timing kept)
  j["hwcal_version"] = h.hwcal_version;
  j["name"] = h.name;
  j["target"] = h.target;
  j["backend"] = h.backend;
  j["mode"] = h.mode;
  j["timing"] = h.timing;
  j["threads"] = h.threads;
  j["fingerprint"] = h.fingerprint;
  j["created_utc"] = h.created_utc;
  j["calibration_s"] = h.calibration_s;
  j["host"] = h.host;
  j["device"] = h.device ? nlohmann::json(*h.device) : nlohmann::json(nullptr);
  j["software"] = h.software;
  auto& peaks = j["peaks"] = nlohmann::json::array();
  for (const auto& p : h.peaks)
    peaks.push_back({{"precision", to_string(p.precision)},
                     {"gflops", p.gflops ? nlohmann::json(*p.gflops) : nlohmann::json(nullptr)},
                     {"derivation", p.derivation}});
  auto& mem = j["memory"] = nlohmann::json::object();
  auto& levels = mem["levels"] = nlohmann::json::array();
  for (const auto& l : h.memory.levels) {
    levels.push_back(
        {{"name", l.name}, {"size_bytes", l.size_bytes}, {"measured_at_bytes", l.measured_at_bytes}, {"gbps", l.gbps}});
    if (l.triad_gbps > 0) levels.back()["triad_gbps"] = l.triad_gbps;
  }
  mem["sweep"] = h.memory.sweep;
  if (!h.memory.read_sweep.empty()) mem["read_sweep"] = h.memory.read_sweep;
  mem["stream"] = h.memory.stream;
  if (!h.memory.l1_limit.derivation.empty())
    mem["l1_load_limit"] = {
        {"gbps", h.memory.l1_limit.gbps > 0 ? nlohmann::json(h.memory.l1_limit.gbps) : nlohmann::json(nullptr)},
        {"bytes_per_cycle", h.memory.l1_limit.bytes_per_cycle},
        {"clock_ghz", h.memory.l1_limit.clock_ghz},
        {"threads", h.memory.l1_limit.threads},
        {"measured_share", h.memory.l1_limit.measured_share},
        {"derivation", h.memory.l1_limit.derivation}};
  j["overhead"] = {{"per_call_s", h.overhead.per_call_s},
                   {"derivation", h.overhead.derivation},
                   {"graph_launch_s", h.overhead.graph_launch_s}};
  if (h.overhead.graph_start_s > 0) j["overhead"]["graph_start_s"] = h.overhead.graph_start_s;
  if (!h.overhead.framework_derivation.empty()) {
    auto by_op = [](const std::map<OpKind, double>& m) {
      nlohmann::json f = nlohmann::json::object();
      for (const auto& [k, v] : m) f[std::string(to_string(k))] = v;
      return f;
    };
    j["overhead"]["framework"] = {{"per_call_s", by_op(h.overhead.framework_s)},
                                  {"derivation", h.overhead.framework_derivation}};
    if (!h.overhead.framework_sequence_s.empty())
      j["overhead"]["framework"]["sequence_s"] = by_op(h.overhead.framework_sequence_s);
  }
  j["operations"] = h.operations;
  j["fusions"] = h.fusions;
  if (h.collectives) j["collectives"] = *h.collectives;
  j["warnings"] = h.warnings;
}

// ---------------------------------------------------------------- from_json

namespace detail {

/// A duration: positive, finite, below an hour (anything longer is not one
/// op's time; a corrupt value must not reach the mapper).
inline double read_seconds(const JsonReader& r, bool allow_zero = false) {
  const double v = r.number();
  if (v < 0 || (!allow_zero && v == 0)) r.fail(allow_zero ? "must not be negative" : "must be positive");
  if (v > 3600) r.fail("more than an hour, not a plausible time");
  return v;
}

inline TimeStats read_time(const JsonReader& r) {
  TimeStats t;
  t.median_s = read_seconds(r.at("median_s"));
  t.mad_s = read_seconds(r.at("mad_s"), true);
  t.p10_s = read_seconds(r.at("p10_s"), true);
  t.p90_s = read_seconds(r.at("p90_s"), true);
  const std::int64_t n = r.at("samples").non_negative_integer();
  if (n > 100000000) r.at("samples").fail("implausibly many samples");
  t.samples = static_cast<int>(n);
  if (auto it = r.find("iterations")) t.iterations = it->positive_integer();
  t.converged = r.boolean_or("converged", false);
  // An ulp of slack: profiles written before quantile_sorted was exact on equal
  // neighbours carry p10 = median * (1 + 2^-52)
  const double slack = t.median_s * 1e-12;
  if (t.p10_s > t.median_s + slack) r.at("p10_s").fail("p10 is above the median");
  if (t.p90_s < t.median_s - slack) r.at("p90_s").fail("p90 is below the median");
  return t;
}

/// `regroup`: accept samples whose variant differs from the curve's (schema
/// v1 had no decode variant); parse_profile splits such curves afterwards.
inline OperationCalibration read_operation(const JsonReader& r, bool regroup) {
  OperationCalibration c;
  c.op = r.at("op").enumeration<OpKind>("op");
  if (is_collective(c.op))
    r.at("op").fail("'" + std::string(to_string(c.op)) +
                    "' is a collective: its curves belong in the collectives section");
  c.precision = r.at("precision").enumeration<Precision>("precision");
  c.backend = r.at("backend").string();
  c.variant = r.find("variant") ? r.at("variant").enumeration<Variant>("variant") : Variant::none;
  c.threads = r.at("threads").int_in(1, 1 << 20);
  c.emulated = r.boolean_or("emulated", false);
  c.note = r.string_or("note", "");
  const JsonReader samples = r.at("samples");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const JsonReader s = samples.at(i);
    OpSample o;
    o.shape = shape_from_json(c.op, s.at("shape"));
    o.flops = s.at("flops").non_negative();
    o.bytes = s.at("bytes").non_negative();
    o.time = read_time(s.at("time"));
    if (auto cold = s.find("cold_time")) o.cold = read_time(*cold);
    o.gflops = s.number_or("gflops", 0);
    o.gbps = s.number_or("gbps", 0);
    if (auto e = s.find("efficiency")) o.efficiency = e->non_negative();
    o.check_error = s.number_or("check_error", 0);
    o.implementation = s.string_or("implementation", "");
    o.family = s.string_or("family", "");
    o.disturbed = s.string_or("disturbed", "");
    const OpDesc desc{c.op, o.shape};
    if (variant_of(desc) != c.variant && !regroup)
      s.at("shape").fail("shape is a " + std::string(to_string(variant_of(desc))) + " " + std::string(to_string(c.op)) +
                         ", curve variant is '" + std::string(to_string(c.variant)) + "'");
    c.samples.push_back(std::move(o));
  }
  return c;
}

/// Moves samples whose variant is not their curve's into curves of their own
/// (reading schema v1, whose variants were coarser).
inline void split_by_variant(std::vector<OperationCalibration>& ops) {
  std::vector<OperationCalibration> extra;
  for (auto& c : ops) {
    std::vector<OpSample> keep;
    for (auto& s : c.samples) {
      const Variant v = variant_of(OpDesc{c.op, s.shape});
      if (v == c.variant) {
        keep.push_back(std::move(s));
        continue;
      }
      auto it = std::find_if(extra.begin(), extra.end(), [&](const OperationCalibration& e) {
        return e.op == c.op && e.precision == c.precision && e.threads == c.threads && e.variant == v;
      });
      if (it == extra.end()) {
        OperationCalibration e = c;
        e.samples.clear();
        e.variant = v;
        extra.push_back(std::move(e));
        it = extra.end() - 1;
      }
      it->samples.push_back(std::move(s));
    }
    c.samples = std::move(keep);
  }
  ops.erase(std::remove_if(ops.begin(), ops.end(), [](const OperationCalibration& c) { return c.samples.empty(); }),
            ops.end());
  for (auto& e : extra) ops.push_back(std::move(e));
}

inline FusionCalibration read_fusion(const JsonReader& r) {
  FusionCalibration f;
  f.pattern = r.at("pattern").enumeration<FusionPattern>("fusion pattern");
  f.precision = r.at("precision").enumeration<Precision>("precision");
  f.backend = r.at("backend").string();
  f.threads = r.at("threads").int_in(1, 1 << 20);
  f.note = r.string_or("note", "");
  const JsonReader samples = r.at("samples");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const JsonReader s = samples.at(i);
    FusionSample o;
    o.shape = shape_from_json(fusion_anchor(f.pattern), s.at("shape"));
    o.flops = s.at("flops").non_negative();
    o.fused_bytes = s.at("fused_bytes").non_negative();
    o.unfused_bytes = s.at("unfused_bytes").non_negative();
    o.fused = read_time(s.at("fused_time"));
    o.unfused = read_time(s.at("unfused_time"));
    f.samples.push_back(std::move(o));
  }
  return f;
}

/// A bandwidth: between 10^-6 GB/s (1 kB/s) and 10^6 GB/s (no memory of this
/// era is near either end). The floor keeps bytes / bandwidth finite: a
/// fuzzed 1e-320 GB/s made a matmul's estimate infinite.
inline double read_gbps(const JsonReader& r) {
  const double v = r.number();
  if (v <= 0) r.fail("must be positive");
  if (v < 1e-6) r.fail("less than 10^-6 GB/s, not a plausible bandwidth");
  if (v > 1e6) r.fail("more than 10^6 GB/s, not a plausible bandwidth");
  return v;
}

inline BandwidthPoint read_bandwidth(const JsonReader& r) {
  BandwidthPoint b;
  b.working_set_bytes = r.at("working_set_bytes").positive_integer();
  b.kernel = r.at("kernel").string();
  b.gbps = read_gbps(r.at("gbps"));
  b.time = read_time(r.at("time"));
  return b;
}

inline CollectiveCurve read_collective_curve(const JsonReader& r) {
  CollectiveCurve c;
  const JsonReader op = r.at("op");
  c.op = op.enumeration<OpKind>("op");
  if (!is_collective(c.op))
    op.fail("'" + std::string(to_string(c.op)) + "' is not a collective (those belong in operations)");
  c.gpus = r.at("gpus").int_in(2, 1 << 20);
  c.precision = r.at("precision").enumeration<Precision>("precision");
  c.launch = r.at("launch").enumeration<LaunchMode>("launch mode (graph or eager)");
  c.alpha_s = read_seconds(r.at("alpha_s"), true);
  const JsonReader beta = r.at("beta_gbps");
  c.beta_gbps = beta.number() == 0 ? 0.0 : read_gbps(beta);
  c.fit_error = r.at("fit_error").non_negative();
  c.algorithm = r.string_or("algorithm", "");
  const JsonReader samples = r.at("samples");
  if (samples.size() == 0) samples.fail("a collective curve needs at least one sample");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const JsonReader s = samples.at(i);
    CollectiveSample x;
    const JsonReader bytes = s.at("bytes");
    x.bytes = bytes.positive_integer();
    if (!c.samples.empty() && x.bytes <= c.samples.back().bytes)
      bytes.fail("samples must be in ascending bytes, each size once");
    if (const std::string why = invalid_reason(OpDesc{c.op, CollectiveShape{x.bytes, c.gpus}}); !why.empty())
      bytes.fail(why);
    x.time = read_time(s.at("time"));
    c.samples.push_back(x);
  }
  return c;
}

inline CollectivesCalibration read_collectives(const JsonReader& r) {
  CollectivesCalibration c;
  c.library = r.at("library").string();
  c.version = r.string_or("version", "");
  c.process_model = r.string_or("process_model", "");
  c.topology = r.string_or("topology", "");
  if (auto links = r.find("nvlinks"))
    for (std::size_t i = 0; i < links->size(); ++i) c.nvlinks.push_back(links->at(i).int_in(0, 1024));
  c.algorithm = r.string_or("algorithm", "");
  c.timing = r.string_or("timing", "");
  const JsonReader curves = r.at("curves");
  for (std::size_t i = 0; i < curves.size(); ++i) {
    CollectiveCurve k = read_collective_curve(curves.at(i));
    if (c.find(k.op, k.gpus, k.precision, k.launch))
      curves.at(i).fail("a second " + std::string(to_string(k.op)) + " curve for " + std::to_string(k.gpus) +
                        " GPUs, " + std::string(to_string(k.precision)) + ", " + std::string(to_string(k.launch)));
    c.curves.push_back(std::move(k));
  }
  return c;
}

inline HostInfo read_host(const JsonReader& r) {
  HostInfo h;
  h.cpu_model = r.at("cpu_model").string();
  h.vendor = r.string_or("vendor", "");
  h.family = r.int_in_or("family", 0, 1 << 20, 0);
  h.model = r.int_in_or("model", 0, 1 << 20, 0);
  h.arch = r.string_or("arch", "");
  if (auto isa = r.find("isa"))
    for (std::size_t i = 0; i < isa->size(); ++i) h.isa.push_back(isa->at(i).string());
  h.physical_cores = r.at("physical_cores").int_in(0, 1 << 20);
  h.logical_cpus = r.at("logical_cpus").int_in(1, 1 << 20);
  h.threads_used = r.at("threads_used").int_in(1, 1 << 20);
  h.measured_clock_ghz = r.number_or("measured_clock_ghz", 0);
  h.clock_method = r.string_or("clock_method", "");
  h.governor = r.string_or("governor", "unknown");
  h.turbo = r.string_or("turbo", "unknown");
  h.hypervisor = r.string_or("hypervisor", "");
  h.memory_bytes = r.non_negative_or("memory_bytes", 0);
  h.os = r.string_or("os", "");
  if (auto caches = r.find("caches"))
    for (std::size_t i = 0; i < caches->size(); ++i) {
      const JsonReader c = caches->at(i);
      h.caches.push_back({c.at("level").int_in(1, 8), c.at("type").string(), c.at("size_bytes").positive_integer(),
                          c.int_in_or("shared_by", 1, 1 << 20, 1)});
    }
  return h;
}

inline DeviceInfo read_device(const JsonReader& r) {
  DeviceInfo d;
  d.name = r.at("name").string();
  d.uuid = r.string_or("uuid", "");
  d.index = r.int_in_or("index", 0, 1 << 20, 0);
  d.sm_count = r.at("sm_count").int_in(1, 1 << 20);
  const std::string cc = r.string_or("compute_capability", "0.0");
  const auto dot = cc.find('.');
  if (dot == std::string::npos) r.at("compute_capability").fail("expected 'major.minor'");
  try {
    d.cc_major = std::stoi(cc.substr(0, dot));
    d.cc_minor = std::stoi(cc.substr(dot + 1));
  } catch (const std::exception&) {
    r.at("compute_capability").fail("expected 'major.minor'");
  }
  d.memory_bytes = r.non_negative_or("memory_bytes", 0);
  d.l2_bytes = r.non_negative_or("l2_bytes", 0);
  d.max_sm_clock_mhz = r.number_or("max_sm_clock_mhz", 0);
  d.max_mem_clock_mhz = r.number_or("max_mem_clock_mhz", 0);
  d.measured_sm_clock_mhz = r.number_or("measured_sm_clock_mhz", 0);
  d.measured_mem_clock_mhz = r.number_or("measured_mem_clock_mhz", 0);
  d.memory_bus_bits = r.int_in_or("memory_bus_bits", 0, 1 << 20, 0);
  d.driver = r.string_or("driver", "");
  d.throttled = r.boolean_or("throttled", false);
  return d;
}

}  // namespace detail

/// Parses and validates a profile document. `file` is only used in messages.
inline HardwareCalibration parse_profile(const nlohmann::json& j, const std::string& file) {
  using detail::JsonReader;
  const JsonReader r(j, file);
  r.expect_object();
  HardwareCalibration h;
  const JsonReader ver = r.at("schema_version");
  const std::int64_t version = ver.integer();
  if (version < oldest_schema_version || version > schema_version)
    ver.fail("unsupported schema version " + std::to_string(version) +
             " (this hwcal " HWCAL_VERSION_STRING " reads versions " + std::to_string(oldest_schema_version) + " to " +
             std::to_string(schema_version) + "; recalibrate or use a matching hwcal)");
  h.schema_version = static_cast<int>(version);
  h.hwcal_version = r.string_or("hwcal_version", "");
  h.name = r.string_or("name", "");
  h.target = r.at("target").string();
  if (h.target != "cpu" && h.target != "cuda")
    r.at("target").fail("expected \"cpu\" or \"cuda\", got \"" + h.target + "\"");
  h.backend = r.at("backend").string();
  h.mode = r.string_or("mode", "");
  h.timing = r.string_or("timing", "");
  h.threads = r.at("threads").int_in(1, 1 << 20);
  h.fingerprint = r.string_or("fingerprint", "");
  h.created_utc = r.string_or("created_utc", "");
  h.calibration_s = r.find("calibration_s") ? r.at("calibration_s").non_negative() : 0.0;
  h.host = detail::read_host(r.at("host"));
  if (auto d = r.find("device")) h.device = detail::read_device(*d);
  if (auto sw = r.find("software")) {
    sw->expect_object();
    for (auto it = sw->json().begin(); it != sw->json().end(); ++it) {
      if (!it->is_string())
        JsonReader(*it, file, sw->pointer() + "/" + detail::pointer_token(it.key())).fail("expected a string");
      h.software[it.key()] = it->get<std::string>();
    }
  }
  const JsonReader peaks = r.at("peaks");
  for (std::size_t i = 0; i < peaks.size(); ++i) {
    const JsonReader p = peaks.at(i);
    Peak k;
    k.precision = p.at("precision").enumeration<Precision>("precision");
    if (auto g = p.find("gflops")) {
      k.gflops = g->number();
      if (*k.gflops <= 0) g->fail("must be positive (use null when unknown)");
      if (*k.gflops < 1e-6) g->fail("less than 10^-6 GFLOP/s, not a plausible peak");  // flops / peak stays finite
      if (*k.gflops > 1e9) g->fail("more than an exaFLOP/s per device, not a plausible peak");
    }
    k.derivation = p.string_or("derivation", "");
    h.peaks.push_back(std::move(k));
  }
  const JsonReader mem = r.at("memory");
  if (auto levels = mem.find("levels"))
    for (std::size_t i = 0; i < levels->size(); ++i) {
      const JsonReader l = levels->at(i);
      MemoryLevel m;
      m.name = l.at("name").string();
      m.size_bytes = l.non_negative_or("size_bytes", 0);
      m.measured_at_bytes = l.non_negative_or("measured_at_bytes", 0);
      m.gbps = detail::read_gbps(l.at("gbps"));
      if (auto t = l.find("triad_gbps")) m.triad_gbps = detail::read_gbps(*t);
      h.memory.levels.push_back(std::move(m));
    }
  if (auto sweep = mem.find("sweep"))
    for (std::size_t i = 0; i < sweep->size(); ++i) h.memory.sweep.push_back(detail::read_bandwidth(sweep->at(i)));
  if (auto sweep = mem.find("read_sweep"))
    for (std::size_t i = 0; i < sweep->size(); ++i) h.memory.read_sweep.push_back(detail::read_bandwidth(sweep->at(i)));
  if (auto lim = mem.find("l1_load_limit")) {
    LoadLimit& l = h.memory.l1_limit;
    if (auto g = lim->find("gbps")) l.gbps = detail::read_gbps(*g);
    auto nonneg = [&](std::string_view key) {
      auto v = lim->find(key);
      return v ? v->non_negative() : 0.0;
    };
    l.bytes_per_cycle = nonneg("bytes_per_cycle");
    l.clock_ghz = nonneg("clock_ghz");
    l.threads = lim->int_in_or("threads", 0, 1 << 20, 0);
    l.measured_share = nonneg("measured_share");
    l.derivation = lim->string_or("derivation", "");
  }
  if (auto stream = mem.find("stream"))
    for (std::size_t i = 0; i < stream->size(); ++i) h.memory.stream.push_back(detail::read_bandwidth(stream->at(i)));
  if (auto o = r.find("overhead")) {
    h.overhead.per_call_s = detail::read_seconds(o->at("per_call_s"), true);
    if (h.overhead.per_call_s > 1) o->at("per_call_s").fail("more than a second per call, not a plausible overhead");
    h.overhead.derivation = o->string_or("derivation", "");
    if (auto g = o->find("graph_launch_s")) h.overhead.graph_launch_s = detail::read_seconds(*g, true);
    if (auto g = o->find("graph_start_s")) {
      h.overhead.graph_start_s = detail::read_seconds(*g, true);
      if (h.overhead.graph_start_s > 1) g->fail("more than a second to start a graph, not a plausible overhead");
    }
    if (auto f = o->find("framework")) {
      auto read_by_op = [&](const JsonReader& per, std::map<OpKind, double>& out) {
        per.expect_object();
        for (auto it = per.json().begin(); it != per.json().end(); ++it) {
          const JsonReader item(*it, file, per.pointer() + "/" + detail::pointer_token(it.key()));
          OpKind k;
          if (!parse(it.key(), k)) item.fail("unknown op '" + it.key() + "'");
          out[k] = detail::read_seconds(item, true);
          if (out[k] > 1) item.fail("more than a second per call, not a plausible framework cost");
        }
      };
      read_by_op(f->at("per_call_s"), h.overhead.framework_s);
      if (auto seq = f->find("sequence_s")) read_by_op(*seq, h.overhead.framework_sequence_s);
      h.overhead.framework_derivation = f->string_or("derivation", "");
    }
  }
  if (auto ops = r.find("operations"))
    for (std::size_t i = 0; i < ops->size(); ++i)
      h.operations.push_back(detail::read_operation(ops->at(i), version < 2));
  if (version < 2) {
    detail::split_by_variant(h.operations);
    if (h.timing.empty() && h.target != "cpu")
      h.timing =
          "schema v1: each sample one launch after an L2 flush, between two CUDA events (launch and event latency "
          "included)";
  }
  if (auto fus = r.find("fusions"))
    for (std::size_t i = 0; i < fus->size(); ++i) h.fusions.push_back(detail::read_fusion(fus->at(i)));
  if (auto col = r.find("collectives")) h.collectives = detail::read_collectives(*col);
  if (auto w = r.find("warnings"))
    for (std::size_t i = 0; i < w->size(); ++i) h.warnings.push_back(w->at(i).string());
  return h;
}

inline void from_json(const nlohmann::json& j, HardwareCalibration& h) { h = parse_profile(j, ""); }

}  // namespace hwcal
