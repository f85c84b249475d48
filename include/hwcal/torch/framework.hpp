#pragma once
// What eager PyTorch adds to every op above the ATen call the torch backend
// times: the Python layer (nn.Module.__call__, the functional wrapper's
// checks, argument parsing) and the trip into C++. Measured, not assumed: a
// Python subprocess calls each op of detail::tiny_ops() the way a model does
// (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, x + y, LLaMA's RMSNorm and rotary
// code, ...) on a tiny input, and the same tiny shape is timed here through
// ATen; the difference is the framework's per-call cost. The same Python
// then calls the ops in turn, each once between all the others' calls, as
// inside a forward pass: what that adds is the op's in-pass cost
// (FrameworkCost::sequence_s).
//
// The Python: $HWCAL_PYTHON when set (and then only it), else the first of
// /usr/bin/python3 and python3 that imports torch. Without one the cost is
// recorded as not measured, with each candidate's reason, never guessed.

#include <hwcal/torch/guard.hpp>

#include <hwcal/detail/atomic_file.hpp>
#include <hwcal/detail/shape_json.hpp>
#include <hwcal/detail/sweeps.hpp>
#include <hwcal/error.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/reference.hpp>
#include <hwcal/torch/rows.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace hwcal {
namespace aten {
namespace detail {

/// The Python side: reads {"threads": n, "ops": [{"op": ..., <shape fields>,
/// <set-up facts>}, ...]} from argv[1], times each op called as a model calls
/// it, prints {"seconds": [per-call s or null], "errors": {op: why}} as JSON.
/// The set-up facts are what the C++ side fixes for the same op: the move
/// geometry (rows, cols, a concat's rows per input), clamp's bounds, RMSNorm's eps.
inline constexpr const char* framework_script = R"PY(
import json, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

spec = json.load(open(sys.argv[1]))
torch.set_num_threads(spec["threads"])
torch.set_grad_enabled(False)

def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)

class RMSNorm(nn.Module):
    # LLaMA's (Meta's and Hugging Face's): torch 1.13 has no nn.RMSNorm
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return h.type_as(x) * self.weight

def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)

def apply_rotary(x, cos, sin):
    return (x * cos) + (rotate_half(x) * sin)

UNARY = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "hardswish": nn.Hardswish,
         "hardsigmoid": nn.Hardsigmoid, "tanh": nn.Tanh, "relu6": nn.ReLU6, "hardtanh": nn.Hardtanh}
MATH = {"neg": torch.neg, "exp": torch.exp, "square": lambda x: x.pow(2), "sqrt": torch.sqrt, "rsqrt": torch.rsqrt}

def build(o):
    k = o["op"]
    if k == "conv2d":
        m = nn.Conv2d(o["c"], o["k"], (o["r"], o["s"]), pair(o["stride"]), pair(o["padding"]), pair(o["dilation"]),
                      o["groups"], o["bias"]).eval()
        x = torch.randn(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k == "linear":
        m = nn.Linear(o["k"], o["n"], o["bias"]).eval(); x = torch.randn(o["m"], o["k"])
        return lambda: m(x)
    if k == "matmul":
        a = torch.randn(o["batch"], o["m"], o["k"]); b = torch.randn(o["batch"], o["k"], o["n"])
        return lambda: torch.matmul(a, b)
    if k in ("maxpool", "avgpool"):
        cls = nn.MaxPool2d if k == "maxpool" else nn.AvgPool2d
        m = cls((o["r"], o["s"]), pair(o["stride"]), pair(o["padding"]))
        x = torch.randn(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k == "adaptive_avgpool":
        m = nn.AdaptiveAvgPool2d((o["out_h"], o["out_w"])); x = torch.randn(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k == "batchnorm":
        m = nn.BatchNorm2d(o["c"]).eval(); x = torch.randn(o["n"], o["c"], o["h"], o["w"])
        return lambda: m(x)
    if k == "layernorm":
        m = nn.LayerNorm(o["cols"]).eval(); x = torch.randn(o["rows"], o["cols"])
        return lambda: m(x)
    if k == "rmsnorm":
        m = RMSNorm(o["cols"], o["eps"]).eval(); x = torch.randn(o["rows"], o["cols"])
        return lambda: m(x)
    if k == "softmax":
        m = nn.Softmax(dim=-1); x = torch.randn(o["rows"], o["cols"])
        return lambda: m(x)
    if k == "reduce_mean":
        x = torch.randn(o["rows"], o["cols"])
        return lambda: x.mean(-1)
    if k in ("add", "mul", "div"):
        a = torch.randn(o["elements"]); b = torch.rand(o["elements"]) + 0.5
        return {"add": lambda: a + b, "mul": lambda: a * b, "div": lambda: a / b}[k]
    if k == "silu_mul":  # LLaMA's MLP: act_fn(gate_proj(x)) * up_proj(x)
        act = nn.SiLU(); a = torch.randn(o["elements"]); b = torch.randn(o["elements"])
        return lambda: act(a) * b
    if k in UNARY:
        m = UNARY[k](); x = torch.randn(o["elements"])
        return lambda: m(x)
    if k in MATH:
        x = torch.rand(o["elements"]) + 0.5; f = MATH[k]
        return lambda: f(x)
    if k == "clamp":
        x = torch.randn(o["elements"]); lo, hi = o["lo"], o["hi"]
        return lambda: torch.clamp(x, lo, hi)
    if k in ("copy", "transpose", "permute", "concat"):
        rows, cols = o["rows"], o["cols"]
        if k == "concat":
            xs = [torch.randn(r, cols) for r in o["parts"]]
            return lambda: torch.cat(xs)
        if k == "permute":
            x = torch.randn(rows, cols // o["run"], o["run"])
            return lambda: x.transpose(0, 1).contiguous()
        x = torch.randn(rows, cols)
        if k == "copy":
            return lambda: x.clone()
        return lambda: x.transpose(-1, -2).contiguous()
    if k == "rotary":
        x = torch.randn(o["tokens"], o["heads"], o["head_dim"])
        cos = torch.randn(o["tokens"], 1, o["head_dim"]); sin = torch.randn(o["tokens"], 1, o["head_dim"])
        return lambda: apply_rotary(x, cos, sin)
    if k == "embedding":
        m = nn.Embedding(o["vocab"], o["dim"]); idx = torch.randint(o["vocab"], (o["tokens"],))
        return lambda: m(idx)
    raise NotImplementedError("no Python call for " + k)

def per_call(fn, calls=2000, repeats=7):
    for _ in range(200):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t) / calls)
    times.sort()
    return times[len(times) // 2]

def in_sequence(fns, rounds=31):
    # Each op called once in turn, all the other ops between two of its calls:
    # inside a forward pass the layers before an op run their own Python,
    # dispatch and kernel code, which takes the op's code, its module's
    # metadata and the dispatcher's state out of the caches and predictors;
    # called back to back alone, it finds them all there. Median per op.
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            if fn is None:
                continue
            t = time.perf_counter()
            fn()
            samples[i].append(time.perf_counter() - t)
    return [sorted(s)[len(s) // 2] if s else None for s in samples]

seconds, fns, errors = [], [], {}
for o in spec["ops"]:
    try:
        fn = build(o)
        seconds.append(per_call(fn))
        fns.append(fn)
    except Exception as e:
        seconds.append(None)
        fns.append(None)
        errors[o["op"]] = type(e).__name__ + ": " + str(e).splitlines()[0] if str(e) else type(e).__name__
sequence = in_sequence(fns)
print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__, "seconds": seconds,
                  "sequence_seconds": sequence, "errors": errors}))
)PY";

struct CommandResult {
  int status = -1;  ///< exit status; -1 when it did not exit normally
  std::string output;
};

inline CommandResult run_capture(const std::string& cmd) {
  CommandResult r;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.output.append(buf, n);
  const int status = ::pclose(f);
  if (status != -1 && WIFEXITED(status)) r.status = WEXITSTATUS(status);
  return r;
}

/// The last non-empty line of a command's output (an error's summary).
inline std::string last_line(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  return last;
}

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

/// A Python that imports torch, or why there is none.
struct PythonWithTorch {
  std::string python;   ///< empty: none found
  std::string why_not;  ///< each candidate and its failure
};

inline PythonWithTorch find_python_with_torch() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("HWCAL_PYTHON"); p && *p)
    candidates.push_back(p);  // an explicit choice is not silently replaced by another Python
  else
    candidates = {"/usr/bin/python3", "python3"};
  PythonWithTorch found;
  for (const auto& py : candidates) {
    const CommandResult r = run_capture(quoted(py) + " -c 'import torch' 2>&1");
    if (r.status == 0) {
      found.python = py;
      return found;
    }
    const std::string why = last_line(r.output);
    found.why_not += (found.why_not.empty() ? "" : "; ") + py + ": " +
                     (why.empty() ? "exit status " + std::to_string(r.status) : why);
  }
  return found;
}

/// One op of the Python spec: its shape fields and what the C++ kernel fixes.
inline nlohmann::json python_op(const OpDesc& op) {
  nlohmann::json o = hwcal::detail::shape_to_json(op);
  o["op"] = to_string(op.kind);
  if (info(op.kind).family == ShapeFamily::bytes) {
    const auto g = reference::move_geometry(op, element_bytes(Precision::fp32));
    o["rows"] = g.rows;
    o["cols"] = g.cols;
    if (op.kind == OpKind::concat) o["parts"] = g.parts;
    if (op.kind == OpKind::permute) o["run"] = g.run;
  }
  if (op.kind == OpKind::clamp) {
    o["lo"] = reference::clamp_lo;
    o["hi"] = reference::clamp_hi;
  }
  if (op.kind == OpKind::rmsnorm) o["eps"] = rmsnorm_eps;
  return o;
}

}  // namespace detail

/// Per-op framework cost: Python per-call time of a tiny op minus the same op
/// timed through ATen by `backend` (at its current thread count, fp32).
inline FrameworkCost measure_framework_cost(Backend& backend, const MeasureOptions& opt) {
  FrameworkCost fc;
  const detail::PythonWithTorch py = detail::find_python_with_torch();
  if (py.python.empty()) {
    fc.derivation = "not measured: no python3 that imports torch (" + py.why_not + ")";
    return fc;
  }
  const std::vector<OpDesc> ops = hwcal::detail::tiny_ops();
  nlohmann::json spec = {{"threads", backend.threads()}, {"ops", nlohmann::json::array()}};
  for (const auto& op : ops) spec["ops"].push_back(detail::python_op(op));
  const std::string base =
      (std::filesystem::temp_directory_path() / ("hwcal-framework-" + std::to_string(::getpid()))).string();
  const std::string script = base + ".py", input = base + ".json", errors = base + ".err";
  hwcal::detail::write_file_atomic(script, detail::framework_script);
  hwcal::detail::write_file_atomic(input, spec.dump());
  const std::string threads = std::to_string(backend.threads());
  const std::string env = "OMP_NUM_THREADS=" + threads + " OPENBLAS_NUM_THREADS=" + threads + " ";
  const detail::CommandResult run = detail::run_capture(env + detail::quoted(py.python) + " " + detail::quoted(script) +
                                                        " " + detail::quoted(input) + " 2>" + detail::quoted(errors));
  std::string stderr_text;
  if (std::ifstream err{errors}) stderr_text.assign(std::istreambuf_iterator<char>(err), {});
  for (const std::string& f : {script, input, errors}) std::remove(f.c_str());
  nlohmann::json res;
  try {
    res = nlohmann::json::parse(run.output);
  } catch (const std::exception&) {
    const std::string why = detail::last_line(stderr_text);
    fc.derivation = "not measured: " + py.python + " did not return timings (exit status " +
                    std::to_string(run.status) + (why.empty() ? "" : ": " + why) + ")";
    return fc;
  }
  std::string missing;
  const auto& seconds = res.at("seconds");
  const auto& sequence = res.value("sequence_seconds", nlohmann::json::array());
  const auto& python_errors = res.value("errors", nlohmann::json::object());
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const std::string name(to_string(ops[i].kind));
    std::string why;
    if (!seconds[i].is_number()) {
      why = python_errors.value(name, "no timing");
    } else {
      try {
        auto k = backend.make(ops[i], Precision::fp32);
        const double cpp = measure([&] { k->run(); }, opt).median_s;
        fc.per_call_s[ops[i].kind] = std::max(0.0, seconds[i].get<double>() - cpp);
        if (i < sequence.size() && sequence[i].is_number())
          fc.sequence_s[ops[i].kind] = std::max(0.0, sequence[i].get<double>() - seconds[i].get<double>());
      } catch (const Error& e) {
        why = e.what();
      }
    }
    if (!why.empty()) missing += (missing.empty() ? "" : "; ") + name + " (" + why + ")";
  }
  fc.derivation =
      "per op: Python per-call time of a tiny instance called as a model calls it (nn.Module or operator; " +
      py.python + ", Python " + res.value("python", "?") + ", torch " + res.value("torch", "?") +
      ") minus the same shape timed through ATen from C++; in a pass (sequence_s): the same call timed once in "
      "turn with every other op's call between two of its own, minus its per-call time";
  if (!missing.empty()) fc.derivation += "; not measured: " + missing;
  return fc;
}

}  // namespace aten
}  // namespace hwcal
