#pragma once
// What eager PyTorch costs the host per op on a GPU: the GPU twin of
// hwcal/torch/framework.hpp. In eager mode every op is a Python call
// (nn.Module.__call__ or an operator), PyTorch's dispatch and one or more
// kernel launches; for small layers that host cost, not the kernel, sets the
// pace (the device waits for the next launch). The mapper's eager mode
// (MapperOptions::mode) takes it per op from the profile's
// overhead.framework_s.
//
// Measured, never guessed: a Python subprocess (the first of $HWCAL_PYTHON,
// python3, /usr/bin/python3 whose torch can use the device) calls a tiny fp32
// instance of every op of detail::tiny_ops() on CUDA tensors the way a model
// calls it, N times back to back with one synchronize at the end; wall / N is
// the host's issue cost per call, launches included (the device is idle-
// waiting: each kernel takes a few microseconds, less than its issue). Ops
// that PyTorch runs as several kernels (silu_mul as F.silu(a) * b, rotary as
// HF's rotate_half) cost what those several calls cost, as in a model. Without
// such a Python the result is empty and its derivation says "not measured:"
// and why.
//
// This header makes no CUDA calls (the subprocess does); it compiles with any
// C++17 compiler. detail::run_framework_probe() with device "cpu" runs the same
// script on the CPU (PyTorch's CPU dispatch cost), which is how it is tested on
// machines without a GPU (tests/unit/test_cuda_framework.cpp).

#include <hwcal/config.hpp>
#if !HWCAL_HAS_CUDA
#error "hwcal/cuda headers need the hwcal::cuda CMake target (HWCAL_HAS_CUDA=1)"
#endif

#include <hwcal/detail/atomic_file.hpp>
#include <hwcal/detail/shape_json.hpp>
#include <hwcal/detail/sweeps.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/reference.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace hwcal {
namespace cuda {
namespace detail {

/// The marker of the script's result line on stdout (anything else a library
/// prints there is ignored).
inline constexpr const char* framework_marker = "HWCAL_FRAMEWORK_RESULT ";

/// The Python side. argv[1]: {"device": "cuda:N" | "cpu", "calls", "repeats",
/// "warmup", "ops": [{"op": ..., <shape fields>, extras}]}. Prints one marker
/// line: {"python", "torch", "cuda", "cudnn", "device", "device_name",
/// "seconds": [per op or null], "errors": [per op or null], "notes": [...]},
/// or {"unavailable": why} when this Python cannot run on the device. Runs
/// with torch 1.13 (CPU) to 2.x (CUDA): torch-2 APIs are looked up first.
inline constexpr const char* framework_script = R"PY(
import json, math, sys, time

MARK = "HWCAL_FRAMEWORK_RESULT "
spec = json.load(open(sys.argv[1]))
res = {"python": sys.version.split()[0], "executable": sys.executable}


def finish(**kw):
    res.update(kw)
    sys.stdout.write("\n" + MARK + json.dumps(res) + "\n")
    sys.stdout.flush()
    sys.exit(0)


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001
    finish(unavailable="cannot import torch (%s: %s)" % (type(e).__name__, str(e)[:120]))

res["torch"] = torch.__version__
res["cuda"] = torch.version.cuda
dev = torch.device(spec["device"])
if dev.type == "cuda":
    if not torch.cuda.is_available():
        finish(unavailable="torch %s sees no CUDA device (torch.version.cuda %s)" % (torch.__version__, torch.version.cuda))
    index = dev.index if dev.index is not None else 0
    if index >= torch.cuda.device_count():
        finish(unavailable="no CUDA device %d (torch sees %d)" % (index, torch.cuda.device_count()))
    dev = torch.device("cuda", index)
    torch.cuda.set_device(dev)
    res["device_name"] = torch.cuda.get_device_name(dev)
    res["cudnn"] = torch.backends.cudnn.version()
    sync = torch.cuda.synchronize
else:
    torch.set_num_threads(int(spec.get("threads", 1)))
    res["device_name"] = "cpu"

    def sync():
        pass
res["device"] = str(dev)
torch.set_grad_enabled(False)
notes = []


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


def t(*shape):
    return torch.randn(*shape, device=dev)


def module(m):
    return m.to(dev).eval()


class LlamaRMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


UNARY = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU", "sigmoid": "Sigmoid", "hardswish": "Hardswish",
         "hardsigmoid": "Hardsigmoid", "tanh": "Tanh", "relu6": "ReLU6", "hardtanh": "Hardtanh"}
INPLACE = ("relu", "silu", "hardswish", "hardsigmoid", "relu6", "hardtanh")
MATH = {"neg": torch.neg, "exp": torch.exp, "square": lambda x: x.pow(2), "sqrt": torch.sqrt, "rsqrt": torch.rsqrt}


def build(o):
    k = o["op"]
    if k == "conv2d":
        m = module(nn.Conv2d(o["c"], o["k"], (o["r"], o["s"]), pair(o["stride"]), pair(o["padding"]),
                             pair(o["dilation"]), o["groups"], o["bias"]))
        x = t(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k == "linear":
        m = module(nn.Linear(o["k"], o["n"], o["bias"]))
        x = t(o["m"], o["k"])
        return lambda: m(x)
    if k == "matmul":
        b = o["batch"]
        a, c = (t(o["m"], o["k"]), t(o["k"], o["n"])) if b == 1 else (t(b, o["m"], o["k"]), t(b, o["k"], o["n"]))
        return lambda: torch.matmul(a, c)
    if k == "attention":
        q = t(o["batch"], o["heads"], o["seq_q"], o["head_dim"])
        kv = o.get("kv_heads") or o["heads"]
        kk, vv = t(o["batch"], kv, o["seq_kv"], o["head_dim"]), t(o["batch"], kv, o["seq_kv"], o["head_dim"])
        rep = o["heads"] // kv
        causal = bool(o["causal"]) and o["seq_q"] == o["seq_kv"]
        if hasattr(F, "scaled_dot_product_attention"):
            if rep > 1:
                try:
                    F.scaled_dot_product_attention(q, kk, vv, enable_gqa=True)
                    return lambda: F.scaled_dot_product_attention(q, kk, vv, is_causal=causal, enable_gqa=True)
                except (TypeError, RuntimeError):
                    notes.append("attention: K/V repeated per call (no enable_gqa)")
                    return lambda: F.scaled_dot_product_attention(q, kk.repeat_interleave(rep, 1),
                                                                  vv.repeat_interleave(rep, 1), is_causal=causal)
            return lambda: F.scaled_dot_product_attention(q, kk, vv, is_causal=causal)
        notes.append("attention: written out (no F.scaled_dot_product_attention in this torch)")
        scale = 1.0 / math.sqrt(o["head_dim"])

        def written():
            k2, v2 = (kk.repeat_interleave(rep, 1), vv.repeat_interleave(rep, 1)) if rep > 1 else (kk, vv)
            return torch.matmul(torch.softmax(torch.matmul(q, k2.transpose(-2, -1)) * scale, -1), v2)
        return written
    if k in ("maxpool", "avgpool"):
        cls = nn.MaxPool2d if k == "maxpool" else nn.AvgPool2d
        m = module(cls((o["r"], o["s"]), pair(o["stride"]), pair(o["padding"])))
        x = t(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k == "adaptive_avgpool":
        m = module(nn.AdaptiveAvgPool2d((o["out_h"], o["out_w"])))
        x = t(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k == "batchnorm":
        m = module(nn.BatchNorm2d(o["c"]))
        x = t(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k in ("layernorm", "rmsnorm", "softmax", "reduce_mean"):
        x = t(o["rows"], o["cols"])
        if k == "layernorm":
            m = module(nn.LayerNorm(o["cols"]))
        elif k == "rmsnorm":
            if hasattr(nn, "RMSNorm"):
                m = module(nn.RMSNorm(o["cols"]))
            else:
                notes.append("rmsnorm: a LlamaRMSNorm module (no nn.RMSNorm in this torch)")
                m = module(LlamaRMSNorm(o["cols"]))
        elif k == "softmax":
            m = module(nn.Softmax(dim=-1))
        else:
            return lambda: x.mean(-1)
        return lambda: m(x)
    if k in ("add", "mul", "div", "silu_mul"):
        n, bc = o["elements"], o.get("broadcast", 0)
        if 0 < bc < n:
            a, b = t(n // bc, bc), torch.rand(bc, device=dev) + 0.5
        else:
            a, b = t(n), torch.rand(n, device=dev) + 0.5
        if k == "silu_mul":
            return lambda: F.silu(a) * b
        if o.get("inplace"):
            if k == "add":
                def iadd():
                    a.add_(b)
                return iadd
            b.fill_(1.0)
            return (lambda: a.mul_(b)) if k == "mul" else (lambda: a.div_(b))
        return {"add": lambda: a + b, "mul": lambda: a * b, "div": lambda: a / b}[k]
    if k in UNARY or k == "clamp":
        x = t(o["elements"])
        if k == "clamp":
            lo, hi = o["clamp_lo"], o["clamp_hi"]
            return (lambda: x.clamp_(lo, hi)) if o.get("inplace") else (lambda: torch.clamp(x, lo, hi))
        cls = getattr(nn, UNARY[k])
        m = module(cls(inplace=True) if o.get("inplace") and k in INPLACE else cls())
        return lambda: m(x)
    if k in MATH:
        x, f = torch.rand(o["elements"], device=dev) + 0.5, MATH[k]
        return lambda: f(x)
    if k in ("copy", "transpose", "permute", "concat"):
        rows, cols = o["rows"], o["cols"]
        if k == "permute":
            x = t(rows, cols // o["run"], o["run"])
            return lambda: x.transpose(0, 1).contiguous()
        if k == "copy":
            x = t(rows, cols)
            return lambda: x.clone()
        if k == "transpose":
            x = t(rows, cols)
            return lambda: x.t().contiguous()
        xs = [t(r, cols) for r in o["parts"]]
        return lambda: torch.cat(xs)
    if k == "rotary":
        x = t(o["tokens"], o["heads"], o["head_dim"])
        cos, sin = t(o["tokens"], 1, o["head_dim"]), t(o["tokens"], 1, o["head_dim"])
        return lambda: x * cos + rotate_half(x) * sin
    if k == "embedding":
        m = module(nn.Embedding(o["vocab"], o["dim"]))
        ids = torch.randint(0, o["vocab"], (o["tokens"],), device=dev)
        return lambda: m(ids)
    return None


def per_call(fn, calls, repeats, warmup):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append((time.perf_counter() - t0) / calls)
    times.sort()
    return times[len(times) // 2]


seconds, errors = [], []
for o in spec["ops"]:
    try:
        fn = build(o)
        if fn is None:
            seconds.append(None)
            errors.append("no mapping for op %s in the script" % o["op"])
            continue
        seconds.append(per_call(fn, int(spec["calls"]), int(spec["repeats"]), int(spec["warmup"])))
        errors.append(None)
    except Exception as e:  # noqa: BLE001 (one op failing leaves the others measured)
        seconds.append(None)
        errors.append("%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0][:150] if str(e).strip() else ""))
finish(seconds=seconds, errors=errors, notes=notes)
)PY";

/// How the probe runs: the torch device, the Pythons to try, repetitions.
struct FrameworkProbe {
  std::string device = "cuda:0";     ///< torch device: "cuda:N", or "cpu" (tests: PyTorch's CPU dispatch)
  std::vector<std::string> pythons;  ///< tried in order; empty: python_candidates()
  int calls = 400;                   ///< back-to-back calls per timed region
  int repeats = 5;                   ///< timed regions per op (the median counts)
  int warmup = 20;                   ///< untimed calls first (library handles, caches)
  int timeout_s = 300;               ///< the subprocess is killed after this (coreutils timeout, where present)
};

/// $HWCAL_PYTHON, python3 (PATH), /usr/bin/python3: the order the probe tries.
inline std::vector<std::string> python_candidates() {
  std::vector<std::string> c;
  if (const char* p = std::getenv("HWCAL_PYTHON"); p && *p) c.push_back(p);
  c.push_back("python3");
  c.push_back("/usr/bin/python3");
  return c;
}

/// Repetitions from the calibration's stop rule: quick calibrations call each
/// op fewer times (a tiny op costs ~5-20 us of host time per call).
inline FrameworkProbe framework_probe(int device_index, const MeasureOptions& opt) {
  FrameworkProbe p;
  p.device = "cuda:" + std::to_string(device_index);
  p.calls = std::clamp(static_cast<int>(opt.max_time_s * 4000), 50, 2000);
  p.repeats = std::clamp(opt.min_samples, 3, 15);
  return p;
}

/// The spec entry of one op: its shape fields, plus what the script cannot
/// derive itself (the move geometry of copy/transpose/permute/concat at fp32, the
/// clamp bounds).
inline nlohmann::json framework_op_json(const OpDesc& op) {
  nlohmann::json o = hwcal::detail::shape_to_json(op);
  o["op"] = std::string(to_string(op.kind));
  if (std::holds_alternative<BytesShape>(op.shape)) {
    const reference::MoveGeometry g = reference::move_geometry(op, element_bytes(Precision::fp32));
    o["rows"] = g.rows;
    o["cols"] = g.cols;
    if (op.kind == OpKind::concat) o["parts"] = g.parts;
    if (op.kind == OpKind::permute) o["run"] = g.run;
  }
  if (op.kind == OpKind::clamp) {
    o["clamp_lo"] = reference::clamp_lo;
    o["clamp_hi"] = reference::clamp_hi;
  }
  return o;
}

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string run_capture(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

/// The last non-empty line of a text, cut to `max` characters.
inline std::string last_line(const std::string& text, std::size_t max = 160) {
  std::size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return {};
  const std::size_t begin = text.find_last_of('\n', end);
  std::string line =
      text.substr(begin == std::string::npos ? 0 : begin + 1, end - (begin == std::string::npos ? 0 : begin + 1) + 1);
  return line.size() > max ? line.substr(0, max) + "..." : line;
}

/// The result object of the script's marker line, or null.
inline nlohmann::json parse_result(const std::string& out) {
  const std::string marker = framework_marker;
  const std::size_t at = out.rfind(marker);
  if (at == std::string::npos) return nullptr;
  std::size_t end = out.find('\n', at);
  if (end == std::string::npos) end = out.size();
  try {
    nlohmann::json j = nlohmann::json::parse(out.substr(at + marker.size(), end - at - marker.size()));
    return j.is_object() ? j : nlohmann::json(nullptr);
  } catch (const std::exception&) {
    return nullptr;
  }
}

/// Temporary files of one probe, removed when it ends.
class ProbeFiles {
 public:
  ProbeFiles() {
    static std::atomic<int> counter{0};
    base_ = (std::filesystem::temp_directory_path() /
             ("hwcal-cuda-framework-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
                .string();
  }
  ~ProbeFiles() {
    for (const char* ext : {".py", ".json", ".err"}) std::remove((base_ + ext).c_str());
  }
  ProbeFiles(const ProbeFiles&) = delete;
  ProbeFiles& operator=(const ProbeFiles&) = delete;
  std::string script() const { return base_ + ".py"; }
  std::string spec() const { return base_ + ".json"; }
  std::string err() const { return base_ + ".err"; }

 private:
  std::string base_;
};

inline std::string fmt_us(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  return buf;
}

/// Runs the script for `ops` with the first Python that can use the device;
/// per op kind the median host seconds per call. Every Python tried and why it
/// was passed over is in the derivation when none could.
inline FrameworkCost run_framework_probe(const FrameworkProbe& probe, const std::vector<OpDesc>& ops) {
  FrameworkCost fc;
  nlohmann::json spec = {{"device", probe.device}, {"calls", probe.calls}, {"repeats", probe.repeats},
                         {"warmup", probe.warmup}, {"threads", 1},         {"ops", nlohmann::json::array()}};
  for (const OpDesc& op : ops) spec["ops"].push_back(framework_op_json(op));
  ProbeFiles files;
  try {
    hwcal::detail::write_file_atomic(files.script(), framework_script);
    hwcal::detail::write_file_atomic(files.spec(), spec.dump());
  } catch (const std::exception& e) {
    fc.derivation = std::string("not measured: cannot write the probe's files (") + e.what() + ")";
    return fc;
  }
  const std::string timeout =
      ::access("/usr/bin/timeout", X_OK) == 0 ? "/usr/bin/timeout -k 5 " + std::to_string(probe.timeout_s) + " " : "";
  std::vector<std::string> tried;
  for (const std::string& py : probe.pythons.empty() ? python_candidates() : probe.pythons) {
    const std::string cmd = timeout + shell_quote(py) + " " + shell_quote(files.script()) + " " +
                            shell_quote(files.spec()) + " 2>" + shell_quote(files.err()) + " </dev/null";
    const nlohmann::json res = parse_result(run_capture(cmd));
    if (res.is_null()) {
      const std::string why = last_line(read_text(files.err()));
      tried.push_back(py + ": " + (why.empty() ? "no result" : why));
      continue;
    }
    if (res.contains("unavailable")) {
      tried.push_back(py + ": " + res.value("unavailable", std::string("unavailable")));
      continue;
    }
    const nlohmann::json& seconds = res.at("seconds");
    const nlohmann::json& errors = res.at("errors");
    std::string failed, per;
    for (std::size_t i = 0; i < ops.size() && i < seconds.size(); ++i) {
      const std::string name(to_string(ops[i].kind));
      if (seconds[i].is_number() && seconds[i].get<double>() > 0) {
        fc.per_call_s[ops[i].kind] = seconds[i].get<double>();
      } else {
        failed += (failed.empty() ? "" : "; ") + name + ": " +
                  (i < errors.size() && errors[i].is_string() ? errors[i].get<std::string>() : std::string("no time"));
      }
    }
    std::string notes;
    for (const auto& n : res.value("notes", nlohmann::json::array()))
      if (n.is_string()) notes += "; " + n.get<std::string>();
    const std::string device =
        res.value("device", probe.device) + " (" + res.value("device_name", std::string("?")) + ")";
    std::string versions = py + " = " + res.value("executable", std::string("?")) + ", Python " +
                           res.value("python", std::string("?")) + ", torch " + res.value("torch", std::string("?"));
    versions += ", CUDA " + (res.contains("cuda") && res["cuda"].is_string() ? res["cuda"].get<std::string>()
                                                                             : std::string("none"));
    if (res.contains("cudnn") && res["cudnn"].is_number())
      versions += ", cuDNN " + std::to_string(res["cudnn"].get<long long>());
    fc.derivation = "eager host cost per call on " + device + ": wall time of " + std::to_string(probe.calls) +
                    " back-to-back calls of a tiny fp32 instance of each op, called as a model calls it (nn.Module or "
                    "operator), one synchronize at the end, / calls; median of " +
                    std::to_string(probe.repeats) + " (after " + std::to_string(probe.warmup) +
                    " warm-up calls). The device waits on the host for such "
                    "ops, so this is PyTorch's issue cost per op including its kernel launches (ops PyTorch runs as "
                    "several kernels cost all of them: silu_mul as F.silu(a) * b, rotary as HF's rotate_half); " +
                    versions + notes;
    if (!failed.empty()) fc.derivation += "; not measured: " + failed;
    return fc;
  }
  std::string why;
  for (const auto& t : tried) why += (why.empty() ? "" : "; ") + t;
  fc.derivation = "not measured: no Python whose torch can use " + probe.device + " (" + why + ")";
  return fc;
}

}  // namespace detail

/// PyTorch's eager host cost per op kind on CUDA device `device_index`
/// (see the top of this file); the calibration's stop rule sets how many
/// calls are timed. Empty per_call_s with a "not measured: ..." derivation
/// when no Python with a CUDA-enabled torch is found.
inline FrameworkCost measure_framework_cost(int device_index, const MeasureOptions& opt = MeasureOptions::device()) {
  return detail::run_framework_probe(detail::framework_probe(device_index, opt), hwcal::detail::tiny_ops());
}

}  // namespace cuda
}  // namespace hwcal
