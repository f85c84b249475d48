// hwcal calibrate: measure this machine and write a profile.
#include "cli.hpp"
#include "render.hpp"

#include <hwcal/calibrator.hpp>
#include <hwcal/detail/text.hpp>
#include <hwcal/profile_io.hpp>

#include <regex>

namespace hwcal::cli {
namespace {

struct CalibrateArgs {
  bool quick = false;
  std::string ops = "all";
  std::string precisions;
  std::string shapes;
  int threads = 0;
  std::string backend;
  double budget = 0;
  std::string output = "profile.json";
  std::string name;
  bool quiet = false;
  bool collectives = false;
  std::string collective_gpus;
  std::string collective_precisions;
};

/// --ops: op names plus groups; fills the op list and the memory/fusion switches.
void parse_ops(const std::string& text, CalibrationOptions& o) {
  o.ops.clear();
  o.memory = o.fusion = false;
  auto add = [&o](OpKind k) {
    if (std::find(o.ops.begin(), o.ops.end(), k) == o.ops.end()) o.ops.push_back(k);
  };
  for (const auto& name : detail::split_list(text)) {
    OpKind k;
    if (name == "all") {
      for (OpKind a : all_ops()) add(a);
      o.memory = o.fusion = true;
    } else if (name == "memory" || name == "stream") {
      o.memory = true;
    } else if (name == "fusion") {
      o.fusion = true;
    } else if (name == "gemm") {
      add(OpKind::matmul), add(OpKind::linear);
    } else if (name == "conv") {
      add(OpKind::conv2d);
    } else if (name == "pool") {
      add(OpKind::maxpool), add(OpKind::avgpool), add(OpKind::adaptive_avgpool);
    } else if (name == "norm") {
      add(OpKind::batchnorm), add(OpKind::layernorm);
    } else if (name == "elementwise") {
      for (OpKind a : all_ops())
        if (is_elementwise(a)) add(a);
    } else if (parse(name, k) && is_collective(k)) {
      throw CLI::ValidationError("--ops", "'" + name + "' is a collective: add --collectives (it calibrates all six)");
    } else if (parse(name, k)) {
      add(k);
    } else {
      throw CLI::ValidationError("--ops", "unknown op or group '" + name + "'");
    }
  }
  if (o.ops.empty()) o.ops.push_back(OpKind::matmul);  // peaks + memory/fusion only still needs a non-empty list
}

int run(const CalibrateArgs& a) {
  CalibrationOptions o;
  o.mode = a.quick ? CalibrationMode::quick : CalibrationMode::full;
  parse_ops(a.ops, o);
  const bool ops_only_groups = a.ops == "memory" || a.ops == "stream" || a.ops == "fusion" || a.ops == "memory,fusion";
  if (ops_only_groups) o.ops = {OpKind::relu};  // keeps the overhead fit meaningful
  for (const auto& p : detail::split_list(a.precisions)) {
    Precision x;
    if (!parse(p, x)) throw CLI::ValidationError("--precisions", "unknown precision '" + p + "'");
    o.precisions.push_back(x);
  }
  try {
    std::regex(a.shapes, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw CLI::ValidationError("--shapes", "'" + a.shapes + "' is not a regular expression (" + e.what() + ")");
  }
  o.shapes = a.shapes;
  o.threads = a.threads;
  o.budget_s = a.budget;
  o.name = a.name;
  if (a.collectives) {
    CollectiveOptions c;
    c.quick = a.quick;
    for (const auto& g : detail::split_list(a.collective_gpus)) {
      try {
        std::size_t used = 0;
        c.gpu_counts.push_back(std::stoi(g, &used));
        if (used != g.size()) throw std::invalid_argument(g);
      } catch (const std::exception&) {
        throw CLI::ValidationError("--collective-gpus", "expected GPU counts such as 2,4,8, got '" + g + "'");
      }
    }
    for (const auto& p : detail::split_list(a.collective_precisions)) {
      Precision x;
      if (!parse(p, x)) throw CLI::ValidationError("--collective-precisions", "unknown precision '" + p + "'");
      c.precisions.push_back(x);
    }
    o.collectives = std::move(c);
  } else if (!a.collective_gpus.empty() || !a.collective_precisions.empty()) {
    throw CLI::ValidationError("--collective-gpus", "--collective-gpus and --collective-precisions need --collectives");
  }

  const std::string backend_name = a.backend.empty() ? default_backend() : a.backend;
  std::unique_ptr<Backend> backend = make_backend(backend_name);
  try {
    detail::check_writable(a.output);
  } catch (const Error& e) {
    throw CLI::ValidationError("--output", e.what());
  }
  ProgressLine line;
  if (!a.quiet) {
    std::fprintf(stderr, "hwcal calibrate: backend %s, %s, %s\n", backend_name.c_str(), a.quick ? "quick" : "full",
                 a.budget > 0 ? ("budget " + fmt_time(a.budget)).c_str() : "no time budget");
    o.progress = [&](const Progress& p) {
      if (p.stage == "done") return line.finish();
      std::string eta = p.eta_s >= 0 ? ", ~" + fmt_time(p.eta_s) + " left" : "";
      line.update("[" + p.stage + " " + std::to_string(p.done) + "/" + std::to_string(p.total) + "] " + p.label +
                  "  (" + fmt_time(p.elapsed_s) + " elapsed" + eta + ")");
    };
  }
  const HardwareCalibration h = calibrate(*backend, o);
  line.finish();
  save_profile(a.output, h);  // atomic: an interrupted run leaves the old file
  if (!a.quiet) {
    render_header(h);
    render_peaks(h);
    render_memory(h, false);
    render_operations(h, RenderOptions{std::nullopt, false});
    render_fusions(h);
    render_collectives(h, RenderOptions{std::nullopt, false});
    render_warnings(h);
  }
  // What the calibration could not measure cleanly goes to stderr even with
  // --quiet: a profile of a busy machine must not pass unnoticed.
  std::fflush(stdout);
  for (const auto& w : h.warnings)
    if (w.rfind("disturbed:", 0) == 0) std::fprintf(stderr, "hwcal calibrate: warning: %s\n", w.c_str());
  std::fprintf(stderr, "hwcal calibrate: wrote %s (%zu curves, %zu fusion patterns, %zu collective curves) in %s\n",
               a.output.c_str(), h.operations.size(), h.fusions.size(),
               h.collectives ? h.collectives->curves.size() : 0, fmt_time(h.calibration_s).c_str());
  return exit_ok;
}

}  // namespace

CLI::Validator budget_validator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double v = 0;
        // (lexical_cast reads "nan" and "inf" too: valid_budget refuses them)
        if (!CLI::detail::lexical_cast(text, v) || !valid_budget(v))
          return "expected seconds in (0, " + fmt_num(max_budget_s, 6) + "], got '" + text + "'";
        return {};
      },
      "SECONDS");
}

/// The op table's kinds a calibration measures (not the collectives: --collectives), space-separated,
/// a line every 100 columns or so.
std::string calibrated_op_names() {
  std::string names;
  std::size_t line = 0;
  for (const OpInfo& o : op_table) {
    if (is_collective(o.kind)) continue;
    if (line > 100) names += "\n", line = 0;
    if (line > 0) names += ' ', ++line;
    names += o.name;
    line += o.name.size();
  }
  return names;
}

Action add_calibrate(CLI::App& app) {
  auto args = std::make_shared<CalibrateArgs>();
  CLI::App* c = app.add_subcommand("calibrate", "Measure this machine per operation and write a profile");
  c->footer(
      "Examples:\n"
      "  hwcal calibrate --quick -o profile.json            # about a minute\n"
      "  hwcal calibrate --ops gemm,stream --precisions fp32,fp64\n"
      "  hwcal calibrate --backend torch --threads 1 -o torch-t1.json   # predicts PyTorch eager\n"
      "Op groups for --ops: all, gemm (matmul, linear), conv, pool, norm, elementwise, memory (alias stream), fusion;\n"
      "or single ops:\n" +
      calibrated_op_names() +
      ".\n"
      "  hwcal calibrate --backend cuda --ops memory --collectives -o nccl.json   # a multi-GPU machine's collectives\n"
      "The profile is written atomically: an interrupted calibration leaves an existing file untouched.");
  c->add_flag("--quick", args->quick, "Fewer sizes and shorter measurements (fp32 only)");
  c->add_option("--ops", args->ops, "Comma-separated ops and groups to calibrate")->capture_default_str();
  c->add_option("--precisions", args->precisions,
                "Comma-separated: fp64 fp32 bf16 fp16 int8 (default: fp32 for --quick; fp32, fp64 and native low "
                "precisions otherwise)");
  c->add_option("--shapes", args->shapes,
                "Only the sweep points whose shape label (as `hwcal show` prints it) matches this regular "
                "expression, e.g. ' q(32|64) kv' for short attention: re-measures a few shapes of a profile");
  c->add_option("--threads", args->threads, "Threads to calibrate with (default: every logical CPU)")
      ->check(CLI::PositiveNumber);
  std::string backends;
  for (const auto& b : available_backends()) backends += (backends.empty() ? "" : "|") + b;
  c->add_option("--backend", args->backend,
                "Kernel library to measure: " + backends + " (default " + default_backend() + ")");
  c->add_option("--budget", args->budget, "Stop after about this many seconds, covering every op coarsely first")
      ->check(budget_validator());
  c->add_option("-o,--output", args->output, "Profile to write")->capture_default_str();
  c->add_option("--name", args->name, "Label stored in the profile");
  c->add_flag("-q,--quiet", args->quiet, "No progress and no summary");
  c->add_flag(
      "--collectives", args->collectives,
      "Also calibrate the NCCL collectives (all_reduce, all_gather, reduce_scatter, all_to_all, broadcast, "
      "send_recv; 4 KiB..1 GiB, graph and eager) on 2, 4, 8, ... GPUs: --backend cuda on a machine with 2+ GPUs");
  c->add_option("--collective-gpus", args->collective_gpus,
                "GPU counts for --collectives (default: 2, 4, 8, ... and all)");
  c->add_option("--collective-precisions", args->collective_precisions,
                "Precisions for --collectives (default: bf16,fp16,fp32; --quick: bf16)");
  return [args] { return run(*args); };
}

}  // namespace hwcal::cli
