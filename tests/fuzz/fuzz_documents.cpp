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
  const double v[] = {e.latency_s, e.in_sequence_s, e.compute_s,     e.memory_s,      e.overhead_s,
                      e.device_s,  e.host_s,        e.interval_lo_s, e.interval_hi_s, e.efficiency};
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
    const hwcal::SequenceContext ctx = hwcal::sequence_context(
        w.subgraphs.begin(), w.subgraphs.end(), [](const auto& s) -> const hwcal::Subgraph& { return s.graph; });
    std::vector<hwcal::Estimate> est;
    for (const auto& g : w.subgraphs) {
      est.push_back(mapper.estimate(g.graph, ctx));
      check(est.back(), g.name);
      check(mapper.roofline(g.graph), g.name + " (roofline)");
    }
    const double total = hwcal::sequence_total(est.begin(), est.end(),
                                               [](const hwcal::Estimate& e) -> const hwcal::Estimate& { return e; });
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

/// What became of the inputs, printed at exit (the figures of docs/fuzzing.md).
struct Counts {
  long inputs = 0, not_json = 0, number_overflow = 0;
  long accepted[2] = {0, 0}, rejected_field[2] = {0, 0}, rejected_document[2] = {0, 0};  // [0] profile, [1] workload
  ~Counts() {
    std::fprintf(
        stderr,
        "fuzz_documents: %ld inputs: %ld not JSON, %ld with a number beyond double range; as a profile: %ld accepted, "
        "%ld rejected naming a field, %ld rejected as a whole; as a workload: %ld accepted, %ld rejected naming a "
        "field, %ld rejected as a whole\n",
        inputs, not_json, number_overflow, accepted[0], rejected_field[0], rejected_document[0], accepted[1],
        rejected_field[1], rejected_document[1]);
  }
};
Counts counts;

/// A rejection must say what is wrong; one that names no field is about the
/// whole document (e.g. not an object).
void rejected(const hwcal::DocumentError& e, int kind) {
  if (e.problem().empty() || e.file() != "fuzzed") fail("rejection names nothing", e.what());
  ++(e.pointer().empty() ? counts.rejected_document : counts.rejected_field)[kind];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ++counts.inputs;
  nlohmann::json j;
  try {  // as read_json_file parses a file's text
    j = hwcal::parse_json_document(std::string(reinterpret_cast<const char*>(data), size), "fuzzed");
  } catch (const hwcal::DocumentError& e) {
    if (e.problem().empty() || e.file() != "fuzzed") fail("rejection names nothing", e.what());
    ++(e.problem().rfind("not a finite number", 0) == 0 ? counts.number_overflow : counts.not_json);
    return 0;
  }
  static const hwcal::HardwareCalibration profile = fixed_profile();
  static const hwcal::Workload workload = fixed_workload();
  try {
    const hwcal::HardwareCalibration p = hwcal::parse_profile(j, "fuzzed");
    predict_all(p, workload);
    ++counts.accepted[0];
  } catch (const hwcal::DocumentError& e) {
    rejected(e, 0);
  }
  try {
    const hwcal::Workload w = hwcal::parse_workload(j, "fuzzed");
    predict_all(profile, w);
    ++counts.accepted[1];
  } catch (const hwcal::DocumentError& e) {
    rejected(e, 1);
  }
  return 0;
}

#if HWCAL_LIBFUZZER
// Structure-aware mutation. Nearly every byte-level mutation of a JSON
// document is not JSON (97 % in a run without this), so three mutations in
// four parse the input and change one value of it: a number scaled by a power
// of ten (often still valid: reaches the mapper), an edge case (out of range,
// int64 and 2^32 limits, zero, negative, wrong type, null), or a member
// removed. The rest, and inputs that are not JSON, get libFuzzer's own (which
// also writes the numbers beyond double range, 1e309, that dump() cannot).
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

namespace {
void collect(nlohmann::json& j, std::vector<nlohmann::json*>& out) {
  out.push_back(&j);
  if (j.is_structured())
    for (auto& child : j) collect(child, out);
}
}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned seed) {
  std::minstd_rand rng(seed);
  if (rng() % 4 != 0) {
    nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, false);  // no exceptions: discarded
    if (!j.is_discarded() && j.is_structured()) {
      std::vector<nlohmann::json*> nodes;
      collect(j, nodes);
      nlohmann::json& v = *nodes[rng() % nodes.size()];
      static const char* const edges[] = {"0",
                                          "-1",
                                          "1",
                                          "0.5",
                                          "-0.0",
                                          "1e-320",
                                          "1e308",
                                          "-1e308",
                                          "2147483648",
                                          "4294967297",
                                          "1099511627776",
                                          "4611686018427387904",
                                          "9223372036854775807",
                                          "-9223372036854775808",
                                          "18446744073709551615",
                                          "null",
                                          "true",
                                          "\"\"",
                                          "\"x\"",
                                          "[]",
                                          "{}"};
      const unsigned how = rng() % 8;
      if (v.is_object() && !v.empty() && how == 0) {
        auto it = v.begin();
        std::advance(it, static_cast<long>(rng() % v.size()));
        v.erase(it);
      } else if (v.is_number() && how < 5) {
        const double scaled = v.get<double>() * std::pow(10.0, static_cast<int>(rng() % 7) - 3);
        if (v.is_number_float())
          v = scaled;
        else
          v = static_cast<std::int64_t>(std::clamp(scaled, -9.2e18, 9.2e18));
      } else {
        v = nlohmann::json::parse(edges[rng() % (sizeof edges / sizeof *edges)]);
      }
      const std::string out = j.dump();
      if (out.size() <= max_size) {
        std::memcpy(data, out.data(), out.size());
        return out.size();
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}
#else
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
  std::printf("fuzz_documents: %d inputs replayed, no failure\n", n);  // (and the counts, at exit)
  return 0;
}
#endif
