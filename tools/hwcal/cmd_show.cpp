// hwcal show: a profile as readable tables.
#include "cli.hpp"
#include "render.hpp"

#include <hwcal/loo.hpp>
#include <hwcal/profile_io.hpp>

#include <cstdio>
#include <map>

namespace hwcal::cli {
namespace {

struct ShowArgs {
  std::string file;
  std::string op;
  bool summary = false;
  bool sweep = false;
  bool loo = false;
  double regime_weight = MapperOptions::default_regime_weight;
  bool samples = false;
};

/// Leave-one-out on the profile's own samples (loo.hpp): per curve, then per op.
int run_loo(const HardwareCalibration& h, const ShowArgs& a, std::optional<OpKind> op) {
  MapperOptions o;
  o.regime_weight = a.regime_weight;
  const LooResult r = leave_one_out(h, o, op ? std::vector<OpKind>{*op} : std::vector<OpKind>{});
  std::printf("Leave-one-out on the calibration samples (each predicted from its curve without it; regime weight %s)\n",
              fmt_num(a.regime_weight).c_str());
  Table t({"curve", "threads", "samples", "MAPE", "median APE", "within 10%", "bias", "worst", "at"});
  std::map<OpKind, std::vector<std::size_t>> by_op;
  for (std::size_t i = 0; i < r.curves.size(); ++i) {
    const LooCurve& c = r.curves[i];
    by_op[c.op].push_back(i);
    t.row({std::string(to_string(c.op)) + (c.variant == Variant::none ? "" : " " + std::string(to_string(c.variant))) +
               " " + std::string(to_string(c.precision)),
           std::to_string(c.threads), std::to_string(c.n), fmt_num(100 * c.mape, 3) + "%",
           fmt_num(100 * c.median_ape, 3) + "%", fmt_num(100 * c.within10, 3) + "%", fmt_num(100 * c.bias, 3) + "%",
           fmt_num(100 * c.worst, 3) + "%", c.worst_shape});
  }
  t.print();
  std::printf("\nPer op (all its curves)\n");
  Table s({"op", "samples", "MAPE", "median APE", "within 10%", "bias"});
  std::vector<std::size_t> all;
  for (const auto& [k, idx] : by_op) {
    const LooCurve c = loo_summary(r, idx);
    all.insert(all.end(), idx.begin(), idx.end());
    s.row({std::string(to_string(k)), std::to_string(c.n), fmt_num(100 * c.mape, 3) + "%",
           fmt_num(100 * c.median_ape, 3) + "%", fmt_num(100 * c.within10, 3) + "%", fmt_num(100 * c.bias, 3) + "%"});
  }
  const LooCurve c = loo_summary(r, all);
  s.row({"all", std::to_string(c.n), fmt_num(100 * c.mape, 3) + "%", fmt_num(100 * c.median_ape, 3) + "%",
         fmt_num(100 * c.within10, 3) + "%", fmt_num(100 * c.bias, 3) + "%"});
  s.print();
  if (a.samples) {
    std::printf("\nSamples\n");
    Table x({"curve", "shape", "measured", "predicted", "error"});
    for (const auto& smp : r.samples) {
      const LooCurve& cv = r.curves[smp.curve];
      x.row({std::string(to_string(cv.op)) + " " + std::string(to_string(cv.precision)) + " t" +
                 std::to_string(cv.threads),
             smp.shape, fmt_time(smp.measured_s), fmt_time(smp.predicted_s),
             fmt_num(100 * (smp.predicted_s / smp.measured_s - 1), 3) + "%"});
    }
    x.print();
  }
  return exit_ok;
}

int run(const ShowArgs& a) {
  const HardwareCalibration h = load_profile(a.file);
  RenderOptions o;
  o.samples = !a.summary;
  if (!a.op.empty()) {
    OpKind k;
    if (!parse(a.op, k)) throw CLI::ValidationError("--op", "unknown op '" + a.op + "'");
    o.op = k;
  }
  if (a.loo) return run_loo(h, a, o.op);
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
  CLI::App* c = app.add_subcommand(
      "show", "Print a profile as tables: peaks, bandwidth per level, efficiency per op and size, fusion, collectives");
  c->add_option("profile", args->file, "Profile JSON written by hwcal calibrate")->required();
  c->add_option("--op", args->op, "Only this op's curves");
  c->add_flag("--summary", args->summary, "One row per curve instead of one per size");
  c->add_flag("--sweep", args->sweep, "Also list the memory working-set sweep in --summary mode");
  c->add_flag("--loo", args->loo,
              "Leave-one-out on the profile's own samples: each predicted by the mapper from its curve without it "
              "(with --op: that op)");
  c->add_option("--regime-weight", args->regime_weight,
                "With --loo: the mapper's GEMM regime weight to evaluate (docs/mapper.md)")
      ->capture_default_str();
  c->add_flag("--loo-samples", args->samples, "With --loo: list every sample's prediction");
  c->footer(
      "A missing, truncated, non-JSON, wrong-version or wrongly typed profile exits with code 2 and names the file and "
      "field.");
  return [args] { return run(*args); };
}

}  // namespace hwcal::cli
