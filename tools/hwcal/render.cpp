#include "render.hpp"

#include <hwcal/detail/shape_json.hpp>
#include <hwcal/mapper.hpp>

#include <algorithm>
#include <cstdio>

namespace hwcal::cli {

void render_header(const HardwareCalibration& h) {
  std::printf("%s\n", h.name.c_str());
  std::printf("  target %s, backend %s, %d thread(s), mode %s, created %s, took %s\n", h.target.c_str(),
              h.backend.c_str(), h.threads, h.mode.c_str(), h.created_utc.c_str(), fmt_time(h.calibration_s).c_str());
  std::printf("  cpu: %s (%s), %d cores / %d logical, clock %s GHz measured (%s), governor %s, turbo %s%s\n",
              h.host.cpu_model.c_str(), h.host.arch.c_str(), h.host.physical_cores, h.host.logical_cpus,
              fmt_num(h.host.measured_clock_ghz).c_str(), h.host.clock_method.c_str(), h.host.governor.c_str(),
              h.host.turbo.c_str(), h.host.hypervisor.empty() ? "" : ", virtualised");
  std::string isa, caches;
  for (const auto& f : h.host.isa) isa += (isa.empty() ? "" : " ") + f;
  for (const auto& c : h.host.caches)
    if (c.type != "Instruction")
      caches += (caches.empty() ? "" : ", ") + std::string("L") + std::to_string(c.level) + " " +
                fmt_bytes(double(c.size_bytes)) + (c.shared_by > 1 ? " shared by " + std::to_string(c.shared_by) : "");
  std::printf("  isa: %s\n  caches: %s\n", isa.c_str(), caches.c_str());
  if (h.device)
    std::printf("  device: %s, %d SMs, cc %d.%d, %s, SM clock %s MHz (max %s), driver %s%s\n", h.device->name.c_str(),
                h.device->sm_count, h.device->cc_major, h.device->cc_minor,
                fmt_bytes(double(h.device->memory_bytes)).c_str(), fmt_num(h.device->measured_sm_clock_mhz).c_str(),
                fmt_num(h.device->max_sm_clock_mhz).c_str(), h.device->driver.c_str(),
                h.device->throttled ? ", THROTTLED during the run" : "");
  std::string sw;
  for (const auto& [k, v] : h.software) sw += (sw.empty() ? "" : "; ") + k + " " + v;
  std::printf("  software: %s\n  fingerprint %s, schema %d\n\n", sw.c_str(), h.fingerprint.c_str(), h.schema_version);
}

void render_peaks(const HardwareCalibration& h) {
  std::printf("Theoretical peaks (%d thread(s))\n", h.threads);
  Table t({"precision", "GFLOP/s", "derivation"});
  for (const auto& p : h.peaks)
    t.row({std::string(to_string(p.precision)), p.gflops ? fmt_num(*p.gflops) : "-", p.derivation});
  t.print();
  std::printf("  per-call overhead: %s (%s)\n", fmt_time(h.overhead.per_call_s).c_str(), h.overhead.derivation.c_str());
  if (h.overhead.graph_launch_s > 0)
    std::printf("  per kernel inside a CUDA graph: %s\n", fmt_time(h.overhead.graph_launch_s).c_str());
  if (h.overhead.graph_start_s > 0)
    std::printf("  a CUDA graph's start beyond its kernels (once per pass): %s\n",
                fmt_time(h.overhead.graph_start_s).c_str());
  if (!h.overhead.framework_derivation.empty()) {
    auto by_op = [](const std::map<OpKind, double>& m) {
      std::string per;
      for (const auto& [k, v] : m) per += (per.empty() ? "" : ", ") + std::string(to_string(k)) + " " + fmt_time(v);
      return per.empty() ? std::string("-") : per;
    };
    std::printf("  framework per-op cost: %s\n", by_op(h.overhead.framework_s).c_str());
    if (!h.overhead.framework_sequence_s.empty())
      std::printf("  added per call inside a pass: %s\n", by_op(h.overhead.framework_sequence_s).c_str());
    std::printf("    (%s)\n", h.overhead.framework_derivation.c_str());
  }
  if (!h.timing.empty()) std::printf("  timing: %s\n", h.timing.c_str());
  std::printf("\n");
}

void render_memory(const HardwareCalibration& h, bool sweep) {
  if (h.memory.levels.empty() && h.memory.stream.empty()) return;
  const bool read = !h.memory.read_sweep.empty();
  std::printf("Memory bandwidth%s\n", read ? " (per level: read, each thread its own buffer; triad beside it)" : "");
  Table lv(read ? std::vector<std::string>{"level", "capacity", "measured at", "read GB/s", "triad GB/s"}
                : std::vector<std::string>{"level", "capacity", "measured at", "GB/s"});
  for (const auto& l : h.memory.levels) {
    std::vector<std::string> row{l.name, l.size_bytes ? fmt_bytes(double(l.size_bytes)) : "-",
                                 fmt_bytes(double(l.measured_at_bytes)), fmt_num(l.gbps)};
    if (read) row.push_back(l.triad_gbps > 0 ? fmt_num(l.triad_gbps) : "-");
    lv.row(row);
  }
  lv.print();
  bool ordered = true;
  for (std::size_t i = 1; i < h.memory.levels.size(); ++i)
    ordered &= h.memory.levels[i - 1].gbps > h.memory.levels[i].gbps;
  if (h.memory.levels.size() > 1)
    std::printf("  levels in order (each faster than the next): %s\n", ordered ? "yes" : "NO");
  const LoadLimit& lim = h.memory.l1_limit;
  if (!lim.derivation.empty()) {
    std::printf("  L1 load-port limit: %s\n", lim.derivation.c_str());
    if (lim.gbps > 0 && lim.measured_share > 0)
      std::printf("  L1 read within 25%% of the limit: %s (%s%%)\n", lim.within_25_percent() ? "yes" : "NO",
                  fmt_num(100 * lim.measured_share, 3).c_str());
  }
  if (!h.memory.stream.empty()) {
    std::printf("\n  STREAM at %s working set:", fmt_bytes(double(h.memory.stream.back().working_set_bytes)).c_str());
    for (const auto& s : h.memory.stream) std::printf("  %s %s GB/s", s.kernel.c_str(), fmt_num(s.gbps).c_str());
    std::printf("\n");
  }
  if (sweep && !h.memory.sweep.empty()) {
    std::printf("\n  working-set sweep%s\n",
                read ? " (triad: the mapper's bandwidth of a working set; read: the levels)" : " (triad)");
    Table t(read ? std::vector<std::string>{"working set", "triad GB/s", "spread", "read GB/s", "spread"}
                 : std::vector<std::string>{"working set", "GB/s", "time", "spread"});
    for (std::size_t i = 0; i < h.memory.sweep.size(); ++i) {
      const auto& p = h.memory.sweep[i];
      std::vector<std::string> row{fmt_bytes(double(p.working_set_bytes)), fmt_num(p.gbps)};
      if (!read) row.push_back(fmt_time(p.time.median_s));
      row.push_back(fmt_num(100 * p.time.rel_spread(), 2) + "%");
      if (read) {
        const BandwidthPoint* r = i < h.memory.read_sweep.size() ? &h.memory.read_sweep[i] : nullptr;
        row.push_back(r ? fmt_num(r->gbps) : "-");
        row.push_back(r ? fmt_num(100 * r->time.rel_spread(), 2) + "%" : "-");
      }
      t.row(row);
    }
    t.print(stdout, "    ");
  }
  std::printf("\n");
}

/// CPU convolutions off the channel tile: the ratio each curve's pairs
/// measured (detail/channel_tiles.hpp), which the mapper applies.
static void render_channel_tails(const HardwareCalibration& h, const RenderOptions& opt) {
  if (h.target != "cpu" || (opt.op && *opt.op != OpKind::conv2d)) return;
  const CalibratedMapper m(h);
  const auto tails = m.channel_tails();
  if (tails.empty()) return;
  std::printf("Convolutions off the %lld-channel tile (the host's fp32 vector lanes), against their twins on it\n",
              static_cast<long long>(m.channel_tile()));
  Table t({"op", "variant", "precision", "pairs", "time a FLOP, median"});
  for (const auto& x : tails)
    t.row({std::string(to_string(x.op)), std::string(to_string(x.variant)), std::string(to_string(x.precision)),
           std::to_string(x.pairs), fmt_num(x.ratio, 3) + "x"});
  t.print();
  std::printf("\n");
}

void render_operations(const HardwareCalibration& h, const RenderOptions& opt) {
  if (h.operations.empty()) return;
  if (!opt.samples) {
    std::printf("Operations (one row per curve; `hwcal show --samples` lists every size)\n");
    Table t({"op", "variant", "precision", "threads", "sizes", "best", "at", "efficiency", "time range"});
    for (const auto& c : h.operations) {
      if (opt.op && c.op != *opt.op) continue;
      const bool compute = is_compute_op(c.op);
      const OpSample* best = nullptr;
      double lo = 1e300, hi = 0, emin = 1e300, emax = 0;
      for (const auto& s : c.samples) {
        const double r = compute ? s.gflops : s.gbps;
        if (!best || r > (compute ? best->gflops : best->gbps)) best = &s;
        lo = std::min(lo, s.time.median_s), hi = std::max(hi, s.time.median_s);
        if (s.efficiency) emin = std::min(emin, *s.efficiency), emax = std::max(emax, *s.efficiency);
      }
      if (!best) continue;
      t.row({std::string(to_string(c.op)) + (c.emulated ? " (emulated)" : ""), std::string(to_string(c.variant)),
             std::string(to_string(c.precision)), std::to_string(c.threads), std::to_string(c.samples.size()),
             compute ? fmt_num(best->gflops) + " GFLOP/s" : fmt_num(best->gbps) + " GB/s",
             shape_label(OpDesc{c.op, best->shape}),
             emax > 0 ? fmt_num(100 * emin, 2) + "-" + fmt_num(100 * emax, 2) + "%" : "-",
             fmt_time(lo) + " .. " + fmt_time(hi)});
    }
    t.print();
    std::printf("\n");
    render_channel_tails(h, opt);
    return;
  }
  for (const auto& c : h.operations) {
    if (opt.op && c.op != *opt.op) continue;
    std::printf("%s%s%s %s, %d thread(s), %s backend%s\n", std::string(to_string(c.op)).c_str(),
                c.variant == Variant::none ? "" : " ", std::string(to_string(c.variant)).c_str(),
                std::string(to_string(c.precision)).c_str(), c.threads, c.backend.c_str(),
                c.emulated ? " (EMULATED)" : "");
    Table t({"shape", "FLOPs", "bytes", "time", "spread", "GFLOP/s", "GB/s", "efficiency"});
    std::vector<std::string> disturbed;
    for (const auto& s : c.samples) {
      const std::string shape = shape_label(OpDesc{c.op, s.shape});
      if (!s.disturbed.empty()) disturbed.push_back(shape + ": " + s.disturbed);
      t.row({shape + (s.disturbed.empty() ? "" : " (!)"), fmt_num(s.flops / 1e6) + " M", fmt_bytes(s.bytes),
             fmt_time(s.time.median_s), fmt_num(100 * s.time.rel_spread(), 2) + "%", fmt_num(s.gflops), fmt_num(s.gbps),
             s.efficiency ? fmt_num(100 * *s.efficiency, 3) + "%" : "-"});
    }
    t.print();
    for (const auto& d : disturbed) std::printf("  (!) not measured cleanly: %s\n", d.c_str());
    std::printf("\n");
  }
}

void render_fusions(const HardwareCalibration& h) {
  if (h.fusions.empty()) return;
  std::printf("Fusion (fused vs unfused, same result)\n");
  Table t({"pattern", "precision", "anchor shape", "fused", "unfused", "speedup", "traffic saved"});
  for (const auto& f : h.fusions)
    for (const auto& s : f.samples)
      t.row({std::string(to_string(f.pattern)), std::string(to_string(f.precision)),
             shape_label(OpDesc{fusion_anchor(f.pattern), s.shape}), fmt_time(s.fused.median_s),
             fmt_time(s.unfused.median_s), fmt_num(s.speedup(), 3) + "x",
             fmt_num(100 * s.memory_reduction(), 2) + "%"});
  t.print();
  for (const auto& f : h.fusions) std::printf("  %s: %s\n", std::string(to_string(f.pattern)).c_str(), f.note.c_str());
  std::printf("\n");
}

void render_collectives(const HardwareCalibration& h, const RenderOptions& opt) {
  if (!h.collectives) return;
  const CollectivesCalibration& c = *h.collectives;
  std::printf("Collectives (%s %s; %s)\n  topology: %s\n  algorithm: %s\n  timing: %s\n", c.library.c_str(),
              c.version.c_str(), c.process_model.c_str(), c.topology.c_str(), c.algorithm.c_str(), c.timing.c_str());
  // One row per curve: the alpha-beta fit and the bus bandwidth it implies.
  Table t(
      {"collective", "GPUs", "precision", "launch", "sizes", "latency (alpha)", "algbw (beta)", "busbw", "fit error"});
  for (const auto& k : c.curves) {
    if (opt.op && k.op != *opt.op) continue;
    t.row({std::string(to_string(k.op)), std::to_string(k.gpus), std::string(to_string(k.precision)),
           std::string(to_string(k.launch)), std::to_string(k.samples.size()), fmt_time(k.alpha_s),
           k.beta_gbps > 0 ? fmt_num(k.beta_gbps) + " GB/s" : "-",
           k.beta_gbps > 0 ? fmt_num(k.beta_gbps * k.bus_factor()) + " GB/s" : "-",
           fmt_num(100 * k.fit_error, 2) + "%"});
  }
  t.print();
  std::printf("\n");
  if (!opt.samples) return;
  for (const auto& k : c.curves) {
    if (opt.op && k.op != *opt.op) continue;
    std::printf("%s on %d GPUs, %s, %s%s\n", std::string(to_string(k.op)).c_str(), k.gpus,
                std::string(to_string(k.precision)).c_str(), std::string(to_string(k.launch)).c_str(),
                k.algorithm.empty() ? "" : (" (" + k.algorithm + ")").c_str());
    Table s({"bytes", "time", "spread", "algbw GB/s", "busbw GB/s", "calls/sample"});
    for (const auto& x : k.samples)
      s.row({fmt_bytes(double(x.bytes)), fmt_time(x.time.median_s), fmt_num(100 * x.time.rel_spread(), 2) + "%",
             fmt_num(double(x.bytes) / x.time.median_s / 1e9), fmt_num(k.busbw_gbps(x)),
             std::to_string(x.time.iterations)});
    s.print();
    std::printf("\n");
  }
}

void render_warnings(const HardwareCalibration& h) {
  if (h.warnings.empty()) return;
  std::printf("Notes and warnings (%zu)\n", h.warnings.size());
  for (const auto& w : h.warnings) std::printf("  - %s\n", w.c_str());
  std::printf("\n");
}

}  // namespace hwcal::cli
