#pragma once
// A workload's prediction as `hwcal predict` makes it: each subgraph estimated
// in the context of the whole pass, the total as sequence_total() of the
// estimates, and the JSON `hwcal predict --json` prints. The CLI and the
// Python module (hwcal.predict) both call predict_workload(), so the two can
// never report different numbers for the same files.
//
//   hwcal::WorkloadPrediction p = hwcal::predict_workload(profile, workload);
//   p.total_s;                    // the forward pass
//   hwcal::to_json(p).dump(1);    // what `hwcal predict --json` prints

#include <hwcal/estimate.hpp>
#include <hwcal/mapper.hpp>
#include <hwcal/roofline.hpp>
#include <hwcal/schema.hpp>
#include <hwcal/workload.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace hwcal {

struct PredictOptions {
  Mode mode = Mode::device;       ///< devices: device time or eager framework time
  int threads = 0;                ///< curves of this thread count (0: the profile's)
  bool roofline = false;          ///< the datasheet-roofline baseline instead of the calibrated mapper
  Lookup lookup = Lookup::exact;  ///< MapperOptions::lookup
  std::string workload_file;      ///< named in errors (a collective the profile has no curve of)
};

struct SubgraphPrediction {
  std::string name;
  Subgraph graph;
  Estimate estimate;
};

struct WorkloadPrediction {
  std::string workload;  ///< the workload's name
  std::string profile;   ///< where the profile came from (set by the caller: a path, a cache file)
  std::string model;     ///< "calibrated" or "roofline"
  std::string mode;      ///< "device" or "eager"; "cpu" for CPU profiles, which run every op on the calling thread
  std::string backend;   ///< the profile's
  int threads = 0;       ///< thread count of the curves used
  double total_s = 0;    ///< start_s + the subgraphs run one after the other (sequence_total of the estimates)
  /// What starting the pass costs beyond its ops: in device mode one CUDA-graph
  /// replay's start (the profile's overhead.graph_start_s); 0 on CPUs, in
  /// eager mode (the first op's host cost covers it) and for the roofline.
  double start_s = 0;
  double total_isolated_s = 0;  ///< sum of each subgraph's latency run alone
  double interval_lo_s = 0, interval_hi_s = 0;
  std::vector<SubgraphPrediction> subgraphs;  ///< in workload order
  std::vector<std::string> warnings;          ///< the workload's (ignored fields); callers may add their own
  std::vector<std::string> notes;             ///< how the profile's machine differs from this one (set by the caller)
};

inline WorkloadPrediction predict_workload(const HardwareCalibration& profile, const Workload& w,
                                           const PredictOptions& opt = {}) {
  MapperOptions mo;
  mo.threads = opt.threads;
  mo.mode = opt.mode;
  mo.lookup = opt.lookup;
  const CalibratedMapper mapper(profile, mo);
  // A subgraph the profile has no curve of its kind for (a collective without
  // a collectives curve) is an error, not a latency of 0.
  if (!opt.roofline)
    for (std::size_t i = 0; i < w.subgraphs.size(); ++i)
      if (const std::string why = mapper.missing_curve(w.subgraphs[i].graph); !why.empty())
        throw DocumentError(opt.workload_file, "/subgraphs/" + std::to_string(i),
                            "subgraph '" + w.subgraphs[i].name + "': " + why);
  WorkloadPrediction p;
  p.workload = w.name;
  p.model = opt.roofline ? "roofline" : "calibrated";
  p.mode = mapper.device() ? to_string(opt.mode) : "cpu";
  p.backend = profile.backend;
  p.threads = mapper.threads();
  p.warnings = w.warnings;
  p.subgraphs.reserve(w.subgraphs.size());
  // Every subgraph sees the bytes of the whole pass (SequenceContext); the
  // interval of each scales with its in-sequence time.
  const SequenceContext ctx = sequence_context(w.subgraphs.begin(), w.subgraphs.end(),
                                               [](const WorkloadSubgraph& s) -> const Subgraph& { return s.graph; });
  double lo = 0, hi = 0;
  for (const WorkloadSubgraph& g : w.subgraphs) {
    const Estimate e = opt.roofline ? mapper.roofline(g.graph) : mapper.estimate(g.graph, ctx);
    p.total_isolated_s += e.latency_s;
    const double k = e.latency_s > 0 ? e.in_sequence_s / e.latency_s : 1;
    // std::fma, not a * b + c, which the compiler contracts to a fused
    // multiply-add in one program and not in another: the CLI and the Python
    // module must round alike.
    lo = std::fma(e.interval_lo_s, k, lo), hi = std::fma(e.interval_hi_s, k, hi);
    p.subgraphs.push_back({g.name, g.graph, e});
  }
  if (!opt.roofline && mapper.device() && opt.mode == Mode::device && !w.subgraphs.empty())
    p.start_s = profile.overhead.graph_start_s;
  p.total_s = p.start_s + sequence_total(p.subgraphs.begin(), p.subgraphs.end(),
                                         [](const SubgraphPrediction& s) -> const Estimate& { return s.estimate; });
  p.interval_lo_s = std::min(lo + p.start_s, p.total_s);
  p.interval_hi_s = std::max(hi + p.start_s, p.total_s);
  return p;
}

/// The document `hwcal predict --json` prints.
inline nlohmann::json to_json(const WorkloadPrediction& p) {
  nlohmann::json j = {{"workload", p.workload},
                      {"profile", p.profile},
                      {"model", p.model},
                      {"mode", p.mode},
                      {"backend", p.backend},
                      {"threads", p.threads},
                      {"total_s", p.total_s},
                      {"start_s", p.start_s},
                      {"total_isolated_s", p.total_isolated_s},
                      {"interval_s", {p.interval_lo_s, p.interval_hi_s}},
                      {"warnings", p.warnings},
                      {"notes", p.notes}};
  auto& subs = j["subgraphs"] = nlohmann::json::array();
  for (const SubgraphPrediction& s : p.subgraphs) {
    const Estimate& e = s.estimate;
    subs.push_back({{"name", s.name},
                    {"op", to_string(s.graph.op.kind)},
                    {"latency_s", e.latency_s},
                    {"in_sequence_s", e.in_sequence_s},
                    {"host_s", e.host_s},
                    {"compute_s", e.compute_s},
                    {"memory_s", e.memory_s},
                    {"overhead_s", e.overhead_s},
                    {"bound", to_string(e.bound)},
                    {"efficiency", e.efficiency},
                    {"bus_gbps", e.bus_gbps},
                    {"interval_s", {e.interval_lo_s, e.interval_hi_s}},
                    {"warnings", warning_messages(e.warnings)}});
  }
  return j;
}

}  // namespace hwcal
