// Fuzz target over hwcal's document readers and the mapper: the bytes are a
// JSON document, read as a profile and as a workload (as `hwcal show` and
// `hwcal predict` read files). A document either is rejected with a
// DocumentError naming a field, or is accepted, and then every estimate the
// mapper makes from it must be finite, non-negative and inside its interval:
// anything else aborts (what libFuzzer and the replay driver report).
//
// Built two ways (tests/fuzz/CMakeLists.txt): with clang as a libFuzzer
// target (-fsanitize=fuzzer,address,undefined), and with any compiler as a
// replay driver that runs every file given (the corpus in CI).
#include <hwcal/predict.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_documents: %s: %s\n", what, detail.c_str());
  std::abort();
}

void check(const hwcal::Estimate& e, const std::string& what) {
  const double v[] = {e.latency_s, e.in_sequence_s, e.compute_s, e.memory_s, e.overhead_s, e.device_s, e.host_s,
                      e.interval_lo_s, e.interval_hi_s, e.efficiency};
  for (double x : v)
    if (!std::isfinite(x) || x < 0) fail("non-finite or negative estimate", what);
  if (!(e.interval_lo_s <= e.latency_s * (1 + 1e-12) && e.latency_s <= e.interval_hi_s * (1 + 1e-12)))
    fail("interval excludes the estimate", what);
}

/// A profile the workload half predicts with (the small test profile's shape
/// of things: CPU and GPU targets both get exercised by fuzzed profiles).
hwcal::HardwareCalibration fixed_profile() {
  static const char* text = R"({"schema_version": 2, "target": "cpu", "backend": "eigen", "threads": 1,
    "host": {"cpu_model": "fuzz", "physical_cores": 1, "logical_cpus": 1, "threads_used": 1},
    "peaks": [{"precision": "fp32", "gflops": 100}],
    "memory": {"sweep": [{"working_set_bytes": 16384, "kernel": "triad", "gbps": 100,
                          "time": {"median_s": 1e-6, "mad_s": 0, "p10_s": 1e-6, "p90_s": 1e-6, "samples": 3}},
                         {"working_set_bytes": 67108864, "kernel": "triad", "gbps": 10,
                          "time": {"median_s": 1e-2, "mad_s": 0, "p10_s": 1e-2, "p90_s": 1e-2, "samples": 3}}]},
    "overhead": {"per_call_s": 1e-6}})";
  return hwcal::parse_profile(nlohmann::json::parse(text), "fixed");
}

void predict_all(const hwcal::HardwareCalibration& profile, const hwcal::Workload& w) {
  for (hwcal::Mode mode : {hwcal::Mode::device, hwcal::Mode::eager}) {
    hwcal::MapperOptions o;
    o.mode = mode;
    const hwcal::CalibratedMapper mapper(profile, o);
    const hwcal::SequenceContext ctx = hwcal::sequence_context(w.subgraphs.begin(), w.subgraphs.end(),
                                                               [](const auto& s) -> const hwcal::Subgraph& { return s.graph; });
    std::vector<hwcal::Estimate> est;
    for (const auto& g : w.subgraphs) {
      est.push_back(mapper.estimate(g.graph, ctx));
      check(est.back(), g.name);
      check(mapper.roofline(g.graph), g.name + " (roofline)");
    }
    const double total = hwcal::sequence_total(est.begin(), est.end(), [](const hwcal::Estimate& e) -> const hwcal::Estimate& { return e; });
    if (!std::isfinite(total) || total < 0) fail("non-finite or negative total", w.name);
  }
}

/// A workload every profile is asked about (every op kind, small shapes).
hwcal::Workload fixed_workload() {
  nlohmann::json subs = nlohmann::json::array();
  for (const hwcal::OpInfo& o : hwcal::op_table) {
    nlohmann::json s = nlohmann::json::object();  // the required fields; the rest take their defaults
    for (const auto& f : hwcal::detail::shape_field_specs(o.kind))
      if (f.required) s[f.name] = 8;
    s["name"] = o.name;
    s["op"] = o.name;
    subs.push_back(s);
  }
  return hwcal::parse_workload({{"hwcal_workload", 1}, {"subgraphs", subs}}, "fixed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // not JSON: read_json_file turns this into a DocumentError
  }
  static const hwcal::HardwareCalibration profile = fixed_profile();
  static const hwcal::Workload workload = fixed_workload();
  try {
    const hwcal::HardwareCalibration p = hwcal::parse_profile(j, "fuzzed");
    predict_all(p, workload);
  } catch (const hwcal::DocumentError& e) {
    if (e.pointer().empty() && e.problem().empty()) fail("rejection names nothing", e.what());
  }
  try {
    const hwcal::Workload w = hwcal::parse_workload(j, "fuzzed");
    predict_all(profile, w);
  } catch (const hwcal::DocumentError& e) {
    if (e.pointer().empty() && e.problem().empty()) fail("rejection names nothing", e.what());
  }
  return 0;
}

#if !HWCAL_LIBFUZZER
// The replay driver: runs every file named on the command line once.
#include <fstream>
#include <iterator>
int main(int argc, char** argv) {
  int n = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    ++n;
  }
  std::printf("fuzz_documents: %d inputs replayed, no failure\n", n);
  return 0;
}
#endif
