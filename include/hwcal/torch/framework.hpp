#pragma once
// What eager PyTorch adds to every op above the ATen call the torch backend
// times: the Python layer (nn.Module.__call__, the functional wrapper's
// checks, argument parsing) and the trip into C++. Measured, not assumed: a
// Python subprocess (the python3 that has torch: $HWCAL_PYTHON, else
// /usr/bin/python3, else python3) calls each op the way a model does
// (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, x + y, ...) on a tiny input, and the
// same tiny shape is timed here through ATen; the difference is the
// framework's per-call cost. Without a Python that imports torch the cost is
// recorded as not measured, never guessed.

#include <hwcal/config.hpp>

#if !HWCAL_HAS_TORCH
#error "hwcal/torch/ needs libtorch: link hwcal::torch (or define HWCAL_HAS_TORCH=1 and link torch_cpu and c10)"
#endif

#include <hwcal/detail/atomic_file.hpp>
#include <hwcal/detail/shape_json.hpp>
#include <hwcal/detail/sweeps.hpp>
#include <hwcal/kernel.hpp>
#include <hwcal/measure.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

namespace hwcal {
namespace aten {
namespace detail {

/// The Python side: reads [{"op": ..., <shape fields>}, ...] from argv[1],
/// times each op called as a model calls it, prints per-call seconds as JSON.
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
        m = cls((o["r"], o["s"]), pair(o["stride"]), pair(o["padding"])); x = torch.randn(o["n"], o["c"], o["h"], o["w"])
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
    if k == "softmax":
        m = nn.Softmax(dim=-1); x = torch.randn(o["rows"], o["cols"])
        return lambda: m(x)
    if k == "reduce_mean":
        x = torch.randn(o["rows"], o["cols"])
        return lambda: x.mean(-1)
    if k in ("add", "mul", "div"):
        a = torch.randn(o["elements"]); b = torch.rand(o["elements"]) + 0.5
        return {"add": lambda: a + b, "mul": lambda: a * b, "div": lambda: a / b}[k]
    unary = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid, "hardswish": nn.Hardswish,
             "hardsigmoid": nn.Hardsigmoid, "tanh": nn.Tanh}
    if k in unary:
        m = unary[k](); x = torch.randn(o["elements"])
        return lambda: m(x)
    n = max(1, o["bytes"] // 4)
    x = torch.randn(n)
    if k == "copy":
        return lambda: x.clone()
    if k == "transpose":
        y = x.reshape(2, -1) if n % 2 == 0 else x.reshape(1, -1)
        return lambda: y.transpose(-1, -2).contiguous()
    if k == "concat":
        return lambda: torch.cat([x, x])
    return None

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

out = []
for o in spec["ops"]:
    fn = build(o)
    out.append(None if fn is None else per_call(fn))
print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__, "seconds": out}))
)PY";

/// The first of $HWCAL_PYTHON, /usr/bin/python3, python3 that imports torch.
inline std::string python_with_torch() {
  std::vector<std::string> candidates;
  if (const char* p = std::getenv("HWCAL_PYTHON"); p && *p) candidates.push_back(p);
  candidates.push_back("/usr/bin/python3");
  candidates.push_back("python3");
  for (const auto& py : candidates) {
    const std::string cmd = "'" + py + "' -c 'import torch' >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return py;
  }
  return {};
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

}  // namespace detail

/// Per-op framework cost: Python per-call time of a tiny op minus the same op
/// timed through ATen by `backend` (at its current thread count).
inline FrameworkCost measure_framework_cost(Backend& backend, const MeasureOptions& opt) {
  FrameworkCost fc;
  const std::string py = detail::python_with_torch();
  if (py.empty()) {
    fc.derivation = "not measured: no python3 that imports torch ($HWCAL_PYTHON, /usr/bin/python3, python3)";
    return fc;
  }
  const std::vector<OpDesc> ops = hwcal::detail::tiny_ops();
  nlohmann::json spec = {{"threads", backend.threads()}, {"ops", nlohmann::json::array()}};
  for (const auto& op : ops) {
    nlohmann::json o = hwcal::detail::shape_to_json(op);
    o["op"] = to_string(op.kind);
    spec["ops"].push_back(o);
  }
  const std::string dir = (std::filesystem::temp_directory_path() / ("hwcal-framework-" + std::to_string(::getpid()))).string();
  const std::string script = dir + ".py", input = dir + ".json";
  hwcal::detail::write_file_atomic(script, detail::framework_script);
  hwcal::detail::write_file_atomic(input, spec.dump());
  const std::string threads = std::to_string(backend.threads());
  const std::string env = "OMP_NUM_THREADS=" + threads + " OPENBLAS_NUM_THREADS=" + threads + " ";
  const std::string out = detail::run_capture(env + "'" + py + "' " + script + " " + input + " 2>/dev/null");
  std::remove(script.c_str());
  std::remove(input.c_str());
  nlohmann::json res;
  try {
    res = nlohmann::json::parse(out);
  } catch (const std::exception&) {
    fc.derivation = "not measured: " + py + " did not return timings";
    return fc;
  }
  const auto& seconds = res.at("seconds");
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!seconds[i].is_number()) continue;
    auto k = backend.make(ops[i], Precision::fp32);
    const double cpp = measure([&] { k->run(); }, opt).median_s;
    fc.per_call_s[ops[i].kind] = std::max(0.0, seconds[i].get<double>() - cpp);
  }
  fc.derivation = "per op: Python per-call time of a tiny instance called as a model calls it (nn.Module or operator; " + py +
                  ", Python " + res.value("python", "?") + ", torch " + res.value("torch", "?") +
                  ") minus the same shape timed through ATen from C++";
  return fc;
}

}  // namespace aten
}  // namespace hwcal
