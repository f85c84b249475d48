// hwcal compare: what changed between two profiles, with a spread-aware test
// per measured point (a change counts when the p10-p90 ranges do not overlap).
#include "cli.hpp"

#include <hwcal/detail/shape_json.hpp>
#include <hwcal/profile_io.hpp>

#include <cmath>
#include <map>

namespace hwcal::cli {
namespace {

struct CompareArgs {
  std::string a, b;
  bool json = false;
};

struct CurveDiff {
  std::string curve;
  int matched = 0, slower = 0, faster = 0;
  double log_sum = 0, min_ratio = 1e300, max_ratio = 0;
  double geomean() const { return matched ? std::exp(log_sum / matched) : 0; }
};

/// A curve's line of `compare --json` (op curves and collectives alike).
nlohmann::json diff_json(const CurveDiff& d) {
  return {{"curve", d.curve},
          {"matched", d.matched},
          {"time_ratio_geomean", d.geomean()},
          {"time_ratio_min", d.min_ratio},
          {"time_ratio_max", d.max_ratio},
          {"significantly_slower", d.slower},
          {"significantly_faster", d.faster}};
}

/// The same as a table: one row per curve, `points` naming what was matched (points, sizes).
void print_diffs(const std::vector<CurveDiff>& diffs, const char* points) {
  Table t({"curve", points, "geomean", "min", "max", "slower", "faster"});
  for (const auto& d : diffs)
    t.row({d.curve, std::to_string(d.matched), fmt_num(d.geomean(), 3), fmt_num(d.min_ratio, 3),
           fmt_num(d.max_ratio, 3), std::to_string(d.slower), std::to_string(d.faster)});
  t.print();
}

/// Adds one point measured in both profiles.
void add_point(CurveDiff& d, const TimeStats& ta, const TimeStats& tb) {
  const double r = tb.median_s / ta.median_s;
  ++d.matched;
  d.log_sum += std::log(r);
  d.min_ratio = std::min(d.min_ratio, r), d.max_ratio = std::max(d.max_ratio, r);
  if (tb.p10_s > ta.p90_s) ++d.slower;
  if (tb.p90_s < ta.p10_s) ++d.faster;
}

std::string collective_key(const CollectiveCurve& c) {
  return std::string(to_string(c.op)) + " " + std::to_string(c.gpus) + " GPUs " + std::string(to_string(c.precision)) +
         " " + std::string(to_string(c.launch));
}

/// The collectives of both profiles, curve by curve, size by size.
void compare_collectives(const HardwareCalibration& a, const HardwareCalibration& b, std::vector<CurveDiff>& diffs,
                         std::vector<std::string>& only_a, std::vector<std::string>& only_b) {
  std::map<std::string, const CollectiveCurve*> in_b;
  if (b.collectives)
    for (const auto& c : b.collectives->curves) in_b[collective_key(c)] = &c;
  if (a.collectives)
    for (const auto& ca : a.collectives->curves) {
      const std::string key = collective_key(ca);
      auto it = in_b.find(key);
      if (it == in_b.end()) {
        only_a.push_back(key);
        continue;
      }
      CurveDiff d;
      d.curve = key;
      for (const auto& sa : ca.samples)
        for (const auto& sb : it->second->samples)
          if (sa.bytes == sb.bytes) add_point(d, sa.time, sb.time);
      in_b.erase(it);
      if (d.matched) diffs.push_back(d);
    }
  for (auto& kv : in_b) only_b.push_back(kv.first);
}

std::string curve_key(const OperationCalibration& c) {
  return std::string(to_string(c.op)) + (c.variant == Variant::none ? "" : " " + std::string(to_string(c.variant))) +
         " " + std::string(to_string(c.precision)) + " t" + std::to_string(c.threads);
}

int run(const CompareArgs& args) {
  const HardwareCalibration a = load_profile(args.a), b = load_profile(args.b);
  std::vector<CurveDiff> diffs;
  std::vector<std::string> only_a, only_b;
  std::map<std::string, const OperationCalibration*> in_b;
  for (const auto& c : b.operations) in_b[curve_key(c)] = &c;
  for (const auto& ca : a.operations) {
    const std::string key = curve_key(ca);
    auto it = in_b.find(key);
    if (it == in_b.end()) {
      only_a.push_back(key);
      continue;
    }
    const OperationCalibration& cb = *it->second;
    in_b.erase(it);
    CurveDiff d;
    d.curve = key;
    std::map<std::string, const OpSample*> samples_b;
    for (std::size_t i = 0; i < cb.samples.size(); ++i)
      samples_b[detail::shape_to_json(cb.desc(i)).dump()] = &cb.samples[i];
    for (std::size_t i = 0; i < ca.samples.size(); ++i) {
      auto sb = samples_b.find(detail::shape_to_json(ca.desc(i)).dump());
      if (sb == samples_b.end()) continue;
      add_point(d, ca.samples[i].time, sb->second->time);
    }
    if (d.matched) diffs.push_back(d);
  }
  for (auto& kv : in_b) only_b.push_back(kv.first);
  std::vector<CurveDiff> coll;
  compare_collectives(a, b, coll, only_a, only_b);

  if (args.json) {
    nlohmann::json j = {{"a", args.a}, {"b", args.b}, {"only_in_a", only_a}, {"only_in_b", only_b}};
    auto& cs = j["curves"] = nlohmann::json::array();
    for (const auto& d : diffs) cs.push_back(diff_json(d));
    auto& cc = j["collectives"] = nlohmann::json::array();
    for (const auto& d : coll) cc.push_back(diff_json(d));
    auto& pk = j["peaks"] = nlohmann::json::array();
    for (const auto& p : a.peaks)
      if (auto q = b.peak_gflops(p.precision); q && p.gflops)
        pk.push_back({{"precision", to_string(p.precision)}, {"ratio", *q / *p.gflops}});
    auto& mem = j["memory"] = nlohmann::json::array();
    for (const auto& la : a.memory.levels)
      for (const auto& lb : b.memory.levels)
        if (la.name == lb.name) mem.push_back({{"level", la.name}, {"ratio", lb.gbps / la.gbps}});
    std::printf("%s\n", j.dump(1).c_str());
    return exit_ok;
  }

  std::printf("A: %s\n   %s, %s, %d thread(s), %s\nB: %s\n   %s, %s, %d thread(s), %s\n\n", args.a.c_str(),
              a.name.c_str(), a.backend.c_str(), a.threads, a.created_utc.c_str(), args.b.c_str(), b.name.c_str(),
              b.backend.c_str(), b.threads, b.created_utc.c_str());
  if (a.fingerprint != b.fingerprint) std::printf("Fingerprints differ: different machine or software.\n\n");
  Table pk({"peak", "A GFLOP/s", "B GFLOP/s", "B/A"});
  for (const auto& p : a.peaks) {
    const auto q = b.peak_gflops(p.precision);
    if (p.gflops && q)
      pk.row({std::string(to_string(p.precision)), fmt_num(*p.gflops), fmt_num(*q), fmt_num(*q / *p.gflops, 3)});
  }
  pk.print();
  Table mem({"memory level", "A GB/s", "B GB/s", "B/A"});
  for (const auto& la : a.memory.levels)
    for (const auto& lb : b.memory.levels)
      if (la.name == lb.name) mem.row({la.name, fmt_num(la.gbps), fmt_num(lb.gbps), fmt_num(lb.gbps / la.gbps, 3)});
  std::printf("\n");
  mem.print();
  std::printf(
      "\nTime ratio B/A per curve (> 1: B slower). A point changes significantly when its p10-p90 ranges do not "
      "overlap.\n");
  print_diffs(diffs, "points");
  if (!coll.empty()) {
    std::printf("\nCollectives: time ratio B/A per curve, matched by message size.\n");
    print_diffs(coll, "sizes");
  }
  for (const auto& k : only_a) std::printf("  only in A: %s\n", k.c_str());
  for (const auto& k : only_b) std::printf("  only in B: %s\n", k.c_str());
  return exit_ok;
}

}  // namespace

Action add_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* c = app.add_subcommand(
      "compare", "Compare two profiles: peaks, bandwidth, every op curve and collective curve, point by point");
  c->add_option("a", args->a, "Baseline profile")->required();
  c->add_option("b", args->b, "Profile to compare against the baseline")->required();
  c->add_flag("--json", args->json, "JSON on stdout");
  return [args] { return run(*args); };
}

}  // namespace hwcal::cli
