// hwcal show: a profile as readable tables.
#include "cli.hpp"
#include "render.hpp"

#include <hwcal/profile_io.hpp>

#include <cstdio>

namespace hwcal::cli {
namespace {

struct ShowArgs {
  std::string file;
  std::string op;
  bool summary = false;
  bool sweep = false;
};

int run(const ShowArgs& a) {
  const HardwareCalibration h = load_profile(a.file);
  RenderOptions o;
  o.samples = !a.summary;
  if (!a.op.empty()) {
    OpKind k;
    if (!parse(a.op, k)) throw CLI::ValidationError("--op", "unknown op '" + a.op + "'");
    o.op = k;
  }
  render_header(h);
  if (!o.op) {
    render_peaks(h);
    render_memory(h, a.sweep || !a.summary);
  }
  render_operations(h, o);
  if (!o.op || is_collective(*o.op)) render_collectives(h, o);
  if (!o.op) {
    render_fusions(h);
    render_warnings(h);
  }
  for (const auto& n : mismatch_notes(h)) std::fprintf(stderr, "hwcal: note: %s\n", n.c_str());
  return exit_ok;
}

}  // namespace

Action add_show(CLI::App& app) {
  auto args = std::make_shared<ShowArgs>();
  CLI::App* c = app.add_subcommand("show", "Print a profile as tables: peaks, bandwidth per level, efficiency per op and size, fusion, collectives");
  c->add_option("profile", args->file, "Profile JSON written by hwcal calibrate")->required();
  c->add_option("--op", args->op, "Only this op's curves");
  c->add_flag("--summary", args->summary, "One row per curve instead of one per size");
  c->add_flag("--sweep", args->sweep, "Also list the memory working-set sweep in --summary mode");
  c->footer("A missing, truncated, non-JSON, wrong-version or wrongly typed profile exits with code 2 and names the file and field.");
  return [args] { return run(*args); };
}

}  // namespace hwcal::cli
