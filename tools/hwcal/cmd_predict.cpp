// hwcal predict: latency of each subgraph of a workload, from a profile.
#include "cli.hpp"

#include <hwcal/auto_calibrate.hpp>
#include <hwcal/detail/shape_json.hpp>
#include <hwcal/prediction.hpp>

#include <cstdio>

namespace hwcal::cli {
namespace {

struct PredictArgs {
  std::string profile;
  bool auto_profile = false;
  std::string workload;
  bool json = false;
  std::string model = "calibrated";
  std::string mode = "device";
  std::string lookup = "exact";
  int threads = 0;
  std::string backend;
  std::string device = "cpu";
  double budget = 0;  ///< 0: the default of the device (4 s CPU, 10 s GPU)
};

int run(const PredictArgs& a) {
  if (a.profile.empty() == !a.auto_profile)
    throw CLI::ValidationError("--profile/--auto", "give exactly one of --profile FILE or --auto");
  if (a.model != "calibrated" && a.model != "roofline")
    throw CLI::ValidationError("--model", "expected 'calibrated' or 'roofline', got '" + a.model + "'");
  Mode mode = Mode::device;
  if (!parse(a.mode, mode)) throw CLI::ValidationError("--mode", "expected 'device' or 'eager', got '" + a.mode + "'");
  Lookup lookup = Lookup::exact;
  if (!parse(a.lookup, lookup))
    throw CLI::ValidationError("--lookup", "expected 'exact' or 'table', got '" + a.lookup + "'");
  const Workload w = load_workload(a.workload);  // validate input before any calibration
  std::vector<std::string> calibration_warnings;

  HardwareCalibration profile;
  std::string source = a.profile;
  if (a.auto_profile) {
    // --device cpu | cuda | cuda:N picks what auto_calibrate() measures.
    int gpu = -1;
    if (a.device.rfind("cuda", 0) == 0) {
      gpu = 0;
      if (a.device.size() > 4) {
        if (a.device[4] != ':')
          throw CLI::ValidationError("--device", "expected cpu, cuda or cuda:N, got '" + a.device + "'");
        try {
          gpu = std::stoi(a.device.substr(5));
        } catch (const std::exception&) {
          throw CLI::ValidationError("--device", "expected cpu, cuda or cuda:N, got '" + a.device + "'");
        }
        if (gpu < 0) throw CLI::ValidationError("--device", "a device index is not negative");
      }
    } else if (a.device != "cpu") {
      throw CLI::ValidationError("--device", "expected cpu, cuda or cuda:N, got '" + a.device + "'");
    }
    if (gpu >= 0 && !a.backend.empty() && a.backend != "cuda")
      throw CLI::ValidationError("--backend", "--device " + a.device + " calibrates with the cuda backend");
    std::unique_ptr<Backend> backend =
        make_backend(gpu >= 0 ? "cuda" : (a.backend.empty() ? default_backend() : a.backend), std::max(gpu, 0));
    AutoCalibrateOptions o;
    o.threads = a.threads;
    const double budget = a.budget > 0 ? a.budget : (gpu >= 0 ? o.device_budget_s : o.budget_s);
    ProgressLine line;
    o.progress = [&](const Progress& p) {
      if (p.stage == "done") return line.finish();
      line.update("hwcal: calibrating " + a.device + " (" + fmt_time(p.elapsed_s) + " of ~" + fmt_time(budget) +
                  "): " + p.label);
    };
    DeviceCalibration cal = auto_calibrate_one(*backend, o, budget, a.device);
    line.finish();
    profile = std::move(cal.profile);
    source = cal.path.empty() ? "(not cached)" : cal.path;
    std::fprintf(stderr, "hwcal: %s profile %s\n", cal.from_cache ? "using cached" : "calibrated and cached",
                 source.c_str());
    calibration_warnings = std::move(cal.warnings);
  } else {
    profile = load_profile(a.profile);
  }
  PredictOptions po;
  po.mode = mode;
  po.threads = a.threads;
  po.roofline = a.model == "roofline";
  po.lookup = lookup;
  po.workload_file = a.workload;
  WorkloadPrediction p = predict_workload(profile, w, po);
  p.profile = source;
  p.warnings.insert(p.warnings.end(), calibration_warnings.begin(), calibration_warnings.end());
  if (!a.auto_profile) p.notes = mismatch_notes(profile);

  if (a.json) {
    std::printf("%s\n", to_json(p).dump(1).c_str());
    return exit_ok;
  }

  std::printf("%s: %zu subgraphs, %s model, %s mode, profile %s (%s, %d thread(s))\n", p.workload.c_str(),
              p.subgraphs.size(), p.model.c_str(), p.mode.c_str(), p.profile.c_str(), p.backend.c_str(), p.threads);
  Table t({"subgraph", "op", "shape", "alone", "in sequence", "compute", "memory", "overhead", "bound", "eff",
           "interval", "!"});
  std::uint32_t all_warnings = 0;
  for (const SubgraphPrediction& s : p.subgraphs) {
    const Estimate& e = s.estimate;
    std::string op(to_string(s.graph.op.kind));
    for (int k = 0; k < op_kind_count; ++k)
      if (s.graph.fused & fused_bit(static_cast<OpKind>(k))) op += "+" + std::string(to_string(static_cast<OpKind>(k)));
    all_warnings |= e.warnings;
    t.row({s.name, op, shape_label(s.graph.op), fmt_time(e.latency_s), fmt_time(e.in_sequence_s), fmt_time(e.compute_s),
           fmt_time(e.memory_s), fmt_time(e.overhead_s), to_string(e.bound),
           e.bus_gbps > 0     ? "bus " + fmt_num(e.bus_gbps) + " GB/s"
           : e.efficiency > 0 ? fmt_num(100 * e.efficiency, 2) + "%"
                              : "-",
           fmt_time(e.interval_lo_s) + " .. " + fmt_time(e.interval_hi_s), e.warnings ? "*" : ""});
  }
  t.print();
  std::printf("\ntotal %s in sequence (interval %s .. %s); %s if each subgraph ran alone\n",
              fmt_time(p.total_s).c_str(), fmt_time(p.interval_lo_s).c_str(), fmt_time(p.interval_hi_s).c_str(),
              fmt_time(p.total_isolated_s).c_str());
  if (p.start_s > 0)
    std::printf("(the total includes %s to start the pass's CUDA graph)\n", fmt_time(p.start_s).c_str());
  if (all_warnings) {
    std::printf("* estimates marked * carry warnings (--json lists them per subgraph):\n");
    for (const auto& m : warning_messages(all_warnings)) std::printf("  - %s\n", m.c_str());
  }
  for (const auto& n : p.warnings) std::fprintf(stderr, "hwcal: warning: %s\n", n.c_str());
  for (const auto& n : p.notes) std::fprintf(stderr, "hwcal: note: %s\n", n.c_str());
  return exit_ok;
}

}  // namespace

Action add_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  CLI::App* c = app.add_subcommand("predict", "Predict the latency of each subgraph of a workload file");
  c->add_option("--profile", args->profile, "Profile written by hwcal calibrate");
  c->add_flag("--auto", args->auto_profile,
              "Use auto_calibrate(): the cached profile of this machine, calibrating first if none");
  c->add_option("-w,--workload", args->workload, "Workload JSON (docs/workload.md)")->required();
  c->add_flag("--json", args->json, "JSON on stdout instead of a table");
  c->add_option("--model", args->model,
                "calibrated (default) or roofline (datasheet baseline: max(flops/peak, bytes/DRAM bandwidth))");
  c->add_option(
      "--mode", args->mode,
      "GPU profiles: device (default; device time, as a CUDA-graph replay or a compiled runtime runs the model) "
      "or eager (an eager framework issuing each op from the host)");
  c->add_option("--lookup", args->lookup,
                "exact (default: the interpolation computed per subgraph) or table (precomputed when the profile is "
                "loaded, for searches; docs/mapper.md)");
  c->add_option("--threads", args->threads, "Use curves measured at this thread count (default: the profile's)")
      ->check(CLI::PositiveNumber);
  c->add_option("--backend", args->backend, "Backend for --auto (default " + default_backend() + ")");
  c->add_option("--device", args->device, "Device for --auto: cpu (default), cuda or cuda:N");
  c->add_option("--budget", args->budget,
                "Calibration budget in seconds for --auto when nothing is cached (default: 4 on a CPU, 10 on a GPU)")
      ->check(budget_validator());
  c->footer(
      "Exit code 2 for a malformed workload or profile, or a collective the profile has no curve of; the message\n"
      "names the file, the subgraph and the field. Collectives report their bus bandwidth in the eff column.");
  return [args] { return run(*args); };
}

}  // namespace hwcal::cli
