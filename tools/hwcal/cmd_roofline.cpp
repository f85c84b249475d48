// hwcal roofline: a profile as a roofline picture, SVG or HTML (the same SVG
// inline, with hover text and a clickable legend; no downloads).
//
//   left panel   compute ops (matmul, linear, conv2d, attention): every measured
//                sample's achieved FLOP/s against its arithmetic intensity, under
//                the measured ceilings: the peak of each precision (dashed) and
//                the bandwidth of each memory level (diagonals).
//   right panel  memory ops (those measured against bytes): achieved bytes/s
//                against the bytes one call moves, over the working-set sweep and
//                the level bandwidths. Their intensity is a constant of the op
//                (0 for a copy), so on an intensity axis they would stack on
//                vertical lines; size is what moves them.
//   --workload   each layer where the mapper puts it (its time in the pass, as
//                `hwcal predict` computes it), coloured by its bound.
//
// In C++ in the CLI, not Python: it needs the profile reader and the mapper,
// which the CLI has, and then no Python at run time.
#include "cli.hpp"

#include <hwcal/detail/text.hpp>
#include <hwcal/prediction.hpp>
#include <hwcal/profile_io.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace hwcal::cli {
namespace {

struct RooflineArgs {
  std::string profile;
  std::string workload;
  std::string output;
  std::string mode = "device";
  std::string precisions;
};

std::string xml(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

/// A marker: a measured sample (class "sample op-<op>") or a workload layer
/// (class "layer bound-<bound>"), with its hover text.
struct Point {
  double x = 0, y = 0;
  std::string cls;
  std::string tip;
};

struct Ceiling {
  std::string label;
  double value = 0;  ///< FLOP/s (peaks) or bytes/s (bandwidths)
};

/// One log-log panel.
struct Panel {
  std::string id, title, x_label, y_label;
  bool x_si = false, y_si = false;               ///< tick labels with SI prefixes ("10 G") rather than plain numbers
  std::vector<Ceiling> peaks;                    ///< horizontal, dashed
  std::vector<Ceiling> bandwidths;               ///< left: y = bandwidth x intensity; right: horizontal
  std::vector<std::pair<double, double>> sweep;  ///< right: the working-set sweep (bytes, bytes/s)
  std::vector<Point> samples, layers;
  bool diagonal_bandwidths = false;
};

/// Decade-aligned bounds around the values (empty: [1, 10]).
std::pair<double, double> decades(const std::vector<double>& v) {
  double lo = INFINITY, hi = 0;
  for (double x : v)
    if (x > 0 && std::isfinite(x)) lo = std::min(lo, x), hi = std::max(hi, x);
  if (!(hi > 0)) return {1, 10};
  double a = std::floor(std::log10(lo) - 0.15), b = std::ceil(std::log10(hi) + 0.15);
  if (b - a < 2) a -= 1, b += 1;
  return {std::pow(10.0, a), std::pow(10.0, b)};
}

/// A decade's label: plain ("0.01", "1000"), or with an SI prefix ("100 k", "10 T").
std::string tick_label(double v, bool si) {
  const int k = static_cast<int>(std::lround(std::log10(v)));
  if (si && k >= 0 && k < 21) {
    static const char* const prefix[] = {"", " k", " M", " G", " T", " P", " E"};
    return std::to_string(k % 3 == 0 ? 1 : k % 3 == 1 ? 10 : 100) + prefix[k / 3];
  }
  if (k >= -3 && k <= 4) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -k), v);
    return buf;
  }
  return "1e" + std::to_string(k);
}

class Svg {
 public:
  std::string out;
  void add(const std::string& s) { out += s, out += '\n'; }
  void line(double x1, double y1, double x2, double y2, const std::string& cls, const std::string& extra = "") {
    add("<line class=\"" + cls + "\" x1=\"" + num(x1) + "\" y1=\"" + num(y1) + "\" x2=\"" + num(x2) + "\" y2=\"" +
        num(y2) + "\"" + extra + "/>");
  }
  void text(double x, double y, const std::string& s, const std::string& attrs = "") {
    add("<text x=\"" + num(x) + "\" y=\"" + num(y) + "\"" + attrs + ">" + xml(s) + "</text>");
  }
};

/// Draws a panel with its plot area at (x0, y0), w x h.
void draw_panel(Svg& svg, const Panel& p, double x0, double y0, double w, double h) {
  std::vector<double> xs, ys;
  for (const auto* set : {&p.samples, &p.layers})
    for (const Point& q : *set) xs.push_back(q.x), ys.push_back(q.y);
  for (const auto& [x, y] : p.sweep) xs.push_back(x), ys.push_back(y);
  for (const Ceiling& c : p.peaks) ys.push_back(c.value);
  if (p.diagonal_bandwidths) {
    // the ridge points, where each diagonal meets each peak
    for (const Ceiling& b : p.bandwidths)
      for (const Ceiling& c : p.peaks) xs.push_back(c.value / b.value);
  } else {
    for (const Ceiling& b : p.bandwidths) ys.push_back(b.value);
  }
  const std::pair<double, double> xr = decades(xs), yr = decades(ys);
  const double xlo = xr.first, xhi = xr.second, ylo = yr.first, yhi = yr.second;
  const double lxlo = std::log10(xlo), lxhi = std::log10(xhi), lylo = std::log10(ylo), lyhi = std::log10(yhi);
  auto X = [&](double v) { return x0 + (std::log10(v) - lxlo) / (lxhi - lxlo) * w; };
  auto Y = [&](double v) { return y0 + h - (std::log10(v) - lylo) / (lyhi - lylo) * h; };

  svg.add("<g id=\"" + p.id + "\">");
  svg.text(x0 + w / 2, y0 - 12, p.title, " class=\"panel-title\" text-anchor=\"middle\"");
  // grid and ticks, one per decade
  for (double v = xlo; v <= xhi * 1.0001; v *= 10) {
    svg.line(X(v), y0, X(v), y0 + h, "grid");
    svg.text(X(v), y0 + h + 16, tick_label(v, p.x_si), " text-anchor=\"middle\"");
  }
  for (double v = ylo; v <= yhi * 1.0001; v *= 10) {
    svg.line(x0, Y(v), x0 + w, Y(v), "grid");
    svg.text(x0 - 6, Y(v) + 4, tick_label(v, p.y_si), " text-anchor=\"end\"");
  }
  svg.add("<rect class=\"frame\" x=\"" + num(x0) + "\" y=\"" + num(y0) + "\" width=\"" + num(w) + "\" height=\"" +
          num(h) + "\"/>");
  svg.text(x0 + w / 2, y0 + h + 36, p.x_label, " text-anchor=\"middle\"");
  svg.text(x0 - 52, y0 + h / 2, p.y_label,
           " text-anchor=\"middle\" transform=\"rotate(-90 " + num(x0 - 52) + " " + num(y0 + h / 2) + ")\"");

  // ceilings
  double top_peak = 0;
  for (const Ceiling& c : p.peaks) top_peak = std::max(top_peak, c.value);
  for (const Ceiling& c : p.peaks) {
    if (c.value < ylo || c.value > yhi) continue;
    svg.add("<g class=\"ceiling peak\"><title>" + xml(c.label) + "</title>");
    svg.line(x0, Y(c.value), x0 + w, Y(c.value), "peak-line");
    svg.text(x0 + w - 4, Y(c.value) - 4, c.label, " class=\"ceiling-label\" text-anchor=\"end\"");
    svg.add("</g>");
  }
  // Levels often measure close to each other (L1 and DRAM on a VM): their
  // labels are staggered along the lines so that they do not overlap.
  const double stagger = 1.0 / double(std::max<std::size_t>(p.bandwidths.size(), 1));
  for (std::size_t i = 0; i < p.bandwidths.size(); ++i) {
    const Ceiling& b = p.bandwidths[i];
    svg.add("<g class=\"ceiling bandwidth\"><title>" + xml(b.label) + "</title>");
    if (p.diagonal_bandwidths) {
      // y = b x: from the left edge (or the bottom) to the highest peak (or the top/right edge)
      double ax = std::max(xlo, ylo / b.value),
             bx = std::min(xhi, (top_peak > 0 ? std::min(top_peak, yhi) : yhi) / b.value);
      if (ax < bx) {
        svg.line(X(ax), Y(b.value * ax), X(bx), Y(b.value * bx), "bandwidth-line");
        const double lx =
            std::pow(10.0, std::log10(ax) + (0.05 + 0.7 * stagger * double(i)) * (std::log10(bx) - std::log10(ax)));
        const double angle = std::atan2(Y(b.value * bx) - Y(b.value * ax), X(bx) - X(ax)) * 180 / 3.141592653589793;
        svg.text(X(lx), Y(b.value * lx) - 5, b.label,
                 " class=\"ceiling-label\" transform=\"rotate(" + num(angle) + " " + num(X(lx)) + " " +
                     num(Y(b.value * lx) - 5) + ")\"");
      }
    } else if (b.value >= ylo && b.value <= yhi) {
      svg.line(x0, Y(b.value), x0 + w, Y(b.value), "bandwidth-line");
      svg.text(x0 + 4 + stagger * double(i) * w, Y(b.value) - 4, b.label, " class=\"ceiling-label\"");
    }
    svg.add("</g>");
  }
  if (!p.sweep.empty()) {
    std::string pts;
    for (const auto& [x, y] : p.sweep) pts += num(X(x)) + "," + num(Y(y)) + " ";
    pts.pop_back();
    svg.add("<polyline class=\"sweep\" points=\"" + pts +
            "\"><title>memory sweep (triad): bandwidth vs working set</title></polyline>");
  }
  for (const Point& q : p.samples)
    svg.add("<circle class=\"" + q.cls + "\" cx=\"" + num(X(q.x)) + "\" cy=\"" + num(Y(q.y)) + "\" r=\"2.5\"><title>" +
            xml(q.tip) + "</title></circle>");
  if (!p.layers.empty()) {
    svg.add("<g class=\"layers\">");
    for (const Point& q : p.layers) {
      const double cx = X(q.x), cy = Y(q.y);
      svg.add("<path class=\"" + q.cls + "\" d=\"M" + num(cx) + "," + num(cy - 6) + "l6,6-6,6-6-6z\"><title>" +
              xml(q.tip) + "</title></path>");
    }
    svg.add("</g>");
  }
  if (p.samples.empty() && p.layers.empty())
    svg.text(x0 + w / 2, y0 + h / 2, "no measured samples", " class=\"note\" text-anchor=\"middle\"");
  svg.add("</g>");
}

/// Colours of the op kinds, in the order they first appear; saturated red,
/// blue and black are kept for the bounds of workload layers.
const char* op_colour(std::size_t i) {
  static const char* const palette[] = {"#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                                        "#bcbd22", "#98df8a", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2",
                                        "#9edae5", "#dbdb8d", "#aec7e8", "#ff9896", "#637939", "#e6550d",
                                        "#843c39", "#7b4173", "#3182bd", "#31a354", "#756bb1", "#636363"};
  return palette[i % (sizeof palette / sizeof palette[0])];
}

const char* bound_colour(Bound b) {
  return b == Bound::compute ? "#d62728" : b == Bound::memory ? "#1f77b4" : "#000000";
}

std::string render_svg(const HardwareCalibration& h, const std::optional<WorkloadPrediction>& pred,
                       const std::set<Precision>& shown) {
  const bool all = shown.empty();
  auto show = [&](Precision p) { return all || shown.count(p) > 0; };

  Panel compute, memory;
  compute.id = "compute-panel";
  compute.title = "compute ops: achieved FLOP/s vs arithmetic intensity";
  compute.x_label = "arithmetic intensity (FLOP/byte)";
  compute.y_label = "FLOP/s";
  compute.y_si = true;
  compute.diagonal_bandwidths = true;
  memory.id = "memory-panel";
  memory.title = "memory ops: achieved bandwidth vs bytes moved";
  memory.x_label = "bytes moved per call";
  memory.x_si = true;
  memory.y_label = "bytes/s";
  memory.y_si = true;

  // One line per peak value: precisions with the same peak (fp16 and bf16 on
  // most GPUs) share it rather than print their labels over each other.
  std::vector<std::pair<double, std::string>> peaks;
  for (const Peak& k : h.peaks) {
    if (!k.gflops || !show(k.precision)) continue;
    const double v = *k.gflops * 1e9;
    auto same =
        std::find_if(peaks.begin(), peaks.end(), [&](const auto& x) { return std::abs(x.first - v) <= 1e-3 * v; });
    if (same == peaks.end())
      peaks.emplace_back(v, std::string(to_string(k.precision)));
    else
      same->second += ", " + std::string(to_string(k.precision));
  }
  for (const auto& [v, names] : peaks) compute.peaks.push_back({names + " peak " + fmt_rate(v, "FLOP/s"), v});
  for (const MemoryLevel& l : h.memory.levels) {
    const Ceiling c{l.name + " " + fmt_num(l.gbps) + " GB/s", l.gbps * 1e9};
    compute.bandwidths.push_back(c);
    memory.bandwidths.push_back(c);
  }
  for (const BandwidthPoint& b : h.memory.sweep) memory.sweep.emplace_back(double(b.working_set_bytes), b.gbps * 1e9);

  std::vector<OpKind> ops;  // in order of first appearance, for colours and the legend
  auto note_op = [&](OpKind k) {
    if (std::find(ops.begin(), ops.end(), k) == ops.end()) ops.push_back(k);
  };
  for (const OperationCalibration& c : h.operations) {
    if (!show(c.precision)) continue;
    const bool is_compute = is_compute_op(c.op);
    const std::string curve = std::string(to_string(c.op)) +
                              (c.variant == Variant::none ? "" : " " + std::string(to_string(c.variant))) + " " +
                              std::string(to_string(c.precision)) + ", " + std::to_string(c.threads) + " thread(s)" +
                              (c.emulated ? " (emulated)" : "");
    for (const OpSample& s : c.samples) {
      const double t = s.time.median_s;
      if (!(t > 0) || !(s.bytes > 0)) continue;
      Point q;
      q.cls = "sample op-" + std::string(to_string(c.op));
      const std::string shape = shape_label(OpDesc{c.op, s.shape});
      const std::string eff = s.efficiency ? ", " + fmt_num(100 * *s.efficiency, 3) + "% of peak" : "";
      if (is_compute) {
        if (!(s.flops > 0)) continue;
        q.x = s.flops / s.bytes, q.y = s.flops / t;
        q.tip = curve + ": " + shape + "\n" + fmt_rate(q.y, "FLOP/s") + " at " + fmt_num(q.x) + " FLOP/byte" + eff +
                ", " + fmt_time(t);
        compute.samples.push_back(std::move(q));
      } else {
        q.x = s.bytes, q.y = s.bytes / t;
        q.tip =
            curve + ": " + shape + "\n" + fmt_rate(q.y, "B/s") + ", " + fmt_bytes(s.bytes) + " moved, " + fmt_time(t);
        memory.samples.push_back(std::move(q));
      }
      note_op(c.op);
    }
  }

  std::string subtitle;
  if (pred) {
    for (const SubgraphPrediction& s : pred->subgraphs) {
      const Counts n = counts(s.graph.op, s.graph.precision);
      const Estimate& e = s.estimate;
      const double t = e.in_sequence_s;
      if (!(t > 0) || !(n.bytes > 0)) continue;
      if (is_collective(s.graph.op.kind)) continue;  // bound by the links between GPUs: on no roofline of one device
      std::string op(to_string(s.graph.op.kind));
      for (int k = 0; k < op_kind_count; ++k)
        if (s.graph.fused & fused_bit(static_cast<OpKind>(k)))
          op += "+" + std::string(to_string(static_cast<OpKind>(k)));
      Point q;
      q.cls = "layer bound-" + std::string(to_string(e.bound));
      q.tip = s.name + ": " + op + " " + shape_label(s.graph.op) + " " + std::string(to_string(s.graph.precision)) +
              "\n" + fmt_time(t) + " in the pass (" + fmt_time(e.latency_s) + " alone), " + to_string(e.bound) +
              "-bound" + (e.efficiency > 0 ? ", efficiency " + fmt_num(100 * e.efficiency, 3) + "%" : "") + "\n";
      if (is_compute_op(s.graph.op.kind) && n.flops > 0) {
        q.x = n.flops / n.bytes, q.y = n.flops / t;
        q.tip += fmt_rate(q.y, "FLOP/s") + " at " + fmt_num(q.x) + " FLOP/byte";
        compute.layers.push_back(std::move(q));
      } else {
        q.x = n.bytes, q.y = n.bytes / t;
        q.tip += fmt_rate(q.y, "B/s") + ", " + fmt_bytes(n.bytes) + " moved";
        memory.layers.push_back(std::move(q));
      }
    }
    subtitle = "workload " + pred->workload + ": " + std::to_string(pred->subgraphs.size()) + " layers, " +
               fmt_time(pred->total_s) + " predicted (" + pred->mode +
               " mode); diamonds: layers by bound, at their time in the pass";
  }

  // Layout: two panels side by side, the legend below them.
  const double W = 1200, pw = 470, ph = 400, top = 78, left = 80, gap = 130;
  const std::size_t per_row = 7;
  std::vector<std::pair<std::string, std::string>> legend;  // (class to toggle, label), colour by class
  for (OpKind k : ops) legend.emplace_back("op-" + std::string(to_string(k)), std::string(to_string(k)));
  if (pred)
    for (Bound b : {Bound::compute, Bound::memory, Bound::overhead})
      legend.emplace_back("bound-" + std::string(to_string(b)), std::string(to_string(b)) + "-bound layer");
  const double legend_top = top + ph + 60;
  const double H = legend_top + 22 * double((legend.size() + per_row - 1) / per_row) + 40;

  Svg svg;
  svg.add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(W) + "\" height=\"" + num(H) +
          "\" viewBox=\"0 0 " + num(W) + " " + num(H) +
          "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">");
  std::string style =
      "<style>.title{font-size:15px;font-weight:bold}.grid{stroke:#e8e8e8}.frame{fill:none;stroke:#444}.panel-title{"
      "font-size:13px;font-weight:bold}"
      ".peak-line{stroke:#555;stroke-dasharray:6 3}.bandwidth-line{stroke:#555;stroke-width:1.5}"
      ".ceiling-label{fill:#333;font-size:10px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}."
      "sweep{fill:none;stroke:#1f77b4;stroke-width:1.5;stroke-opacity:.6}"
      ".sample{fill-opacity:.75}.layer{stroke:#fff;stroke-width:.8}.note{fill:#888}.hidden{display:none}";
  for (std::size_t i = 0; i < ops.size(); ++i)
    style += ".op-" + std::string(to_string(ops[i])) + "{fill:" + op_colour(i) + "}";
  for (Bound b : {Bound::compute, Bound::memory, Bound::overhead})
    style += ".bound-" + std::string(to_string(b)) + "{fill:" + bound_colour(b) + "}";
  svg.add(style + "</style>");
  svg.add("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>");
  svg.text(left - 60, 22,
           "hwcal roofline: " + (h.device ? h.device->name : h.host.cpu_model) + " (" + h.backend + " backend" +
               (h.device ? std::string() : ", " + std::to_string(h.threads) + " thread(s)") + ")",
           " class=\"title\"");
  if (!subtitle.empty()) svg.text(left - 60, 42, subtitle, " id=\"subtitle\"");
  draw_panel(svg, compute, left, top, pw, ph);
  draw_panel(svg, memory, left + pw + gap, top, pw, ph);

  svg.add("<g id=\"legend\">");
  for (std::size_t i = 0; i < legend.size(); ++i) {
    const double x = left - 60 + double(i % per_row) * 160, y = legend_top + 22 * double(i / per_row);
    const auto& [cls, label] = legend[i];
    const bool bound = cls.rfind("bound-", 0) == 0;
    svg.add("<g class=\"legend-item\" data-toggle=\"" + cls + "\">");
    if (bound)
      svg.add("<path class=\"layer " + cls + "\" d=\"M" + num(x + 5) + "," + num(y - 10) + "l6,6-6,6-6-6z\"/>");
    else
      svg.add("<circle class=\"" + cls + "\" cx=\"" + num(x + 5) + "\" cy=\"" + num(y - 4) + "\" r=\"4\"/>");
    svg.text(x + 16, y, label);
    svg.add("</g>");
  }
  svg.add("</g>");
  svg.text(left - 60, H - 12,
           "dashed: peak per precision; solid: bandwidth per memory level (left: bandwidth x intensity); blue line: "
           "memory sweep. "
           "Profile " +
               h.fingerprint + ", " + h.created_utc + ".",
           " class=\"note\"");
  svg.add("</svg>");
  return svg.out;
}

std::string render_html(const std::string& svg, const std::string& title) {
  // Hover: each element's <title> becomes its data-tip, shown in one floating
  // box (the native tooltip is too slow to read many points). Legend entries
  // toggle their op's (or bound's) markers.
  static const char* const script = R"JS(
(function () {
  var tip = document.createElement('div');
  tip.id = 'tooltip';
  document.body.appendChild(tip);
  document.querySelectorAll('svg title').forEach(function (t) {
    t.parentNode.setAttribute('data-tip', t.textContent);
    t.remove();
  });
  var svg = document.querySelector('svg');
  svg.addEventListener('mousemove', function (ev) {
    var el = ev.target.closest('[data-tip]');
    if (!el) { tip.style.display = 'none'; return; }
    tip.textContent = el.getAttribute('data-tip');
    tip.style.display = 'block';
    tip.style.left = (ev.clientX + 14) + 'px';
    tip.style.top = (ev.clientY + 14) + 'px';
  });
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  document.querySelectorAll('.legend-item').forEach(function (item) {
    item.addEventListener('click', function () {
      var cls = item.getAttribute('data-toggle');
      var off = item.classList.toggle('off');
      document.querySelectorAll('#compute-panel .' + cls + ', #memory-panel .' + cls).forEach(function (el) {
        el.classList.toggle('hidden', off);
      });
    });
  });
})();
)JS";
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + xml(title) +
         "</title>\n<style>\nbody{margin:12px;background:#fff}\n"
         "#tooltip{position:fixed;display:none;pointer-events:none;background:#222;color:#fff;font:12px sans-serif;"
         "padding:4px "
         "8px;border-radius:4px;white-space:pre}\n.legend-item{cursor:pointer}\n.legend-item.off{opacity:.3}\n"
         "</style>\n</head>\n<body>\n" +
         svg + "<script>" + script + "</script>\n</body>\n</html>\n";
}

int run(const RooflineArgs& a) {
  const auto dot = a.output.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : a.output.substr(dot + 1);
  if (ext != "svg" && ext != "html")
    throw CLI::ValidationError("-o", "the output must end in .svg or .html, got '" + a.output + "'");
  Mode mode = Mode::device;
  if (!parse(a.mode, mode)) throw CLI::ValidationError("--mode", "expected 'device' or 'eager', got '" + a.mode + "'");
  std::set<Precision> shown;
  for (const std::string& name : detail::split_list(a.precisions)) {
    Precision p;
    if (!parse(name, p)) throw CLI::ValidationError("--precision", "unknown precision '" + name + "'");
    shown.insert(p);
  }

  const HardwareCalibration h = load_profile(a.profile);
  std::optional<WorkloadPrediction> pred;
  if (!a.workload.empty()) {
    const Workload w = load_workload(a.workload);
    PredictOptions o;
    o.mode = mode;
    pred = predict_workload(h, w, o);
    for (const auto& n : pred->warnings) std::fprintf(stderr, "hwcal: warning: %s\n", n.c_str());
  }
  const std::string svg = render_svg(h, pred, shown);
  const std::string text = ext == "svg" ? svg : render_html(svg, "hwcal roofline: " + h.name);
  std::ofstream out(a.output, std::ios::binary);
  if (!(out << text) || !out.flush()) throw Error("cannot write " + a.output);
  std::fprintf(stderr, "hwcal: wrote %s\n", a.output.c_str());
  return exit_ok;
}

}  // namespace

Action add_roofline(CLI::App& app) {
  auto args = std::make_shared<RooflineArgs>();
  CLI::App* c = app.add_subcommand(
      "roofline", "Draw a profile as a roofline (SVG, or HTML with hover text), optionally with a workload's layers");
  c->add_option("profile", args->profile, "Profile JSON")->required();
  c->add_option("-w,--workload", args->workload,
                "Workload JSON: its layers as points where the mapper puts them, coloured by bound");
  c->add_option("-o,--output", args->output, "Output file: .svg (static) or .html (inline SVG with hover text)")
      ->required();
  c->add_option("--mode", args->mode, "GPU profiles with --workload: device (default) or eager, as in hwcal predict");
  c->add_option("--precision", args->precisions,
                "Only these precisions' peaks and samples, e.g. fp32,bf16 (default: all)");
  c->footer(
      "Left: compute ops against arithmetic intensity under the peaks and bandwidth diagonals. Right: memory ops "
      "against bytes moved, over the bandwidth sweep. Exit code 2 for a malformed profile or workload.");
  return [args] { return run(*args); };
}

}  // namespace hwcal::cli
