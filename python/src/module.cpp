// hwcal._hwcal: the C++ library for Python (pybind11). The pure-Python package
// python/hwcal re-exports everything here; docs/python.md is the reference.
//
// Nothing is re-implemented: profiles and workloads are read by the C++
// readers (errors are DocumentError naming the field), estimates come from
// CalibratedMapper, and predict() is predict_workload(), the function
// `hwcal predict` calls, so Python and the CLI report the same numbers.
// Dicts cross into C++ as JSON text (json.dumps / json.loads): one converter,
// exact for every number a workload or profile holds.

#include <hwcal/calibration.hpp>

#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;

namespace hwcal::python {
namespace {

/// A profile and where it came from (the "profile" of predict()'s result).
struct Profile {
  HardwareCalibration calibration;
  std::string source;
};

struct DeviceResult {
  std::string device;
  std::optional<Profile> profile;  ///< empty when the device failed
  std::string path;
  bool from_cache = false;
  std::vector<std::string> warnings;
  std::string error;
};

struct AutoResult {
  std::optional<Profile> profile;  ///< the CPU's; empty when cpu=False
  std::string path;
  bool from_cache = false;
  std::vector<std::string> warnings;
  std::vector<DeviceResult> gpus;
};

// --------------------------------------------------------------- JSON <-> Python

nlohmann::json to_document(py::handle obj) {
  // numpy and torch scalars are not JSON types; their int()/float() are.
  const py::cpp_function number([](py::handle o) -> py::object {
    if (PyIndex_Check(o.ptr())) return py::int_(py::reinterpret_borrow<py::object>(o));
    if (py::hasattr(o, "__float__")) return py::float_(py::reinterpret_borrow<py::object>(o));
    throw py::type_error("cannot convert " + py::repr(o).cast<std::string>() + " to JSON");
  });
  const std::string text = py::module_::import("json")
                               .attr("dumps")(obj, py::arg("default") = number, py::arg("allow_nan") = false)
                               .cast<std::string>();
  return nlohmann::json::parse(text);
}

py::object to_python(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

/// The JSON of a dict argument; anything else is a TypeError naming what it got.
nlohmann::json dict_arg(py::handle d, const char* what) {
  if (!py::isinstance<py::dict>(d))
    throw py::type_error(std::string("expected ") + what + " as a dict, got " +
                         py::str(py::type::handle_of(d).attr("__name__")).cast<std::string>());
  return to_document(d);
}

Precision precision_arg(const std::string& s) {
  Precision p;
  if (!parse(s, p)) throw py::value_error("unknown precision '" + s + "' (fp64, fp32, tf32, fp16, bf16, int8, fp8)");
  return p;
}

Mode mode_arg(const std::string& s) {
  Mode m;
  if (!parse(s, m)) throw py::value_error("mode must be 'device' or 'eager', got '" + s + "'");
  return m;
}

Lookup lookup_arg(const std::string& s) {
  Lookup l;
  if (!parse(s, l)) throw py::value_error("lookup must be 'exact' or 'table', got '" + s + "'");
  return l;
}

// --------------------------------------------------------------- subgraphs and workloads

/// One subgraph from a dict in the workload format. It is parsed as the only
/// subgraph of a workload so that it is read exactly as in a file; errors
/// point at the dict's own fields ("/k", not "/subgraphs/0/k").
WorkloadSubgraph subgraph_from_dict(py::handle d, const std::string& precision) {
  nlohmann::json doc = {{"hwcal_workload", workload_version}, {"precision", to_string(precision_arg(precision))}};
  doc["subgraphs"] = nlohmann::json::array({dict_arg(d, "a subgraph")});
  Workload w;
  try {
    w = parse_workload(doc, "<dict>");
  } catch (const DocumentError& e) {
    const std::string prefix = "/subgraphs/0";
    const std::string& pointer = e.pointer();
    throw DocumentError("<dict>", pointer.rfind(prefix, 0) == 0 ? pointer.substr(prefix.size()) : pointer, e.problem());
  }
  // A field the op does not use is not an error, but must not pass silently.
  for (const auto& m : w.warnings)
    if (PyErr_WarnEx(PyExc_UserWarning, m.c_str(), 1) != 0) throw py::error_already_set();
  return std::move(w.subgraphs.front());
}

/// A Subgraph, or a dict in the workload format (precision fp32 unless it says).
WorkloadSubgraph subgraph_arg(py::handle h) {
  if (py::isinstance<WorkloadSubgraph>(h)) return h.cast<WorkloadSubgraph>();
  if (py::isinstance<py::dict>(h)) return subgraph_from_dict(h, "fp32");
  throw py::type_error("expected an hwcal.Subgraph or a dict in the workload format, got " +
                       py::str(py::type::handle_of(h).attr("__name__")).cast<std::string>());
}

/// A Workload, or a dict in the workload format (what hwcal.trace returns).
Workload workload_arg(py::handle h) {
  if (py::isinstance<Workload>(h)) return h.cast<Workload>();
  if (py::isinstance<py::dict>(h)) return parse_workload(to_document(h), "<dict>");
  throw py::type_error("expected an hwcal.Workload or a dict in the workload format, got " +
                       py::str(py::type::handle_of(h).attr("__name__")).cast<std::string>());
}

/// The subgraphs of a Workload, or of an iterable of Subgraphs and dicts.
std::vector<Subgraph> graphs_arg(py::handle h) {
  std::vector<Subgraph> out;
  if (py::isinstance<Workload>(h) || py::isinstance<py::dict>(h)) {
    const Workload w = workload_arg(h);
    out.reserve(w.subgraphs.size());
    for (const auto& s : w.subgraphs) out.push_back(s.graph);
    return out;
  }
  for (py::handle item : py::iter(h)) out.push_back(subgraph_arg(item).graph);
  return out;
}

py::list fused_names(std::uint64_t fused) {
  py::list out;
  for (int k = 0; k < op_kind_count; ++k)
    if (fused & fused_bit(static_cast<OpKind>(k))) out.append(std::string(to_string(static_cast<OpKind>(k))));
  return out;
}

nlohmann::json subgraph_document(const WorkloadSubgraph& s) {
  // to_json(Workload) writes a subgraph's precision only where it differs
  // from the workload's: a workload of its precision writes nothing, so set it.
  Workload w;
  w.precision = s.graph.precision;
  w.subgraphs.push_back(s);
  nlohmann::json j = to_json(w)["subgraphs"][0];
  j["precision"] = to_string(s.graph.precision);
  return j;
}

// --------------------------------------------------------------- profiles

/// Notes on how a profile's machine differs from this one, as `hwcal predict` prints them.
std::vector<std::string> mismatch_notes(const HardwareCalibration& profile) {
  std::vector<DeviceInfo> devices;
  std::string why_none = "this hwcal module was built without the CUDA backend, so it cannot see this machine's GPUs";
#if HWCAL_HAS_CUDA
  if (profile.target != "cpu") {
    why_none = "no CUDA device is visible";
    for (int i = 0, n = cuda::device_count(); i < n; ++i) devices.push_back(cuda::query_device(i));
  }
#endif
  return profile_mismatch_notes(profile, cpu::detect_host(), devices, why_none);
}

DeviceResult device_result(DeviceCalibration&& d) {
  DeviceResult r;
  r.device = std::move(d.device);
  if (d.ok()) r.profile = Profile{std::move(d.profile), d.path};
  r.path = std::move(d.path);
  r.from_cache = d.from_cache;
  r.warnings = std::move(d.warnings);
  r.error = std::move(d.error);
  return r;
}

AutoResult run_auto_calibrate(double budget_s, double device_budget_s, const std::vector<std::string>& ops, int threads,
                              bool cpu_too, const std::optional<std::vector<int>>& gpus, bool force, bool memory,
                              const std::string& cache_dir, const std::string& backend,
                              const std::optional<std::function<void(py::dict)>>& progress) {
  AutoCalibrateOptions o;
  o.budget_s = budget_s;
  o.device_budget_s = device_budget_s;
  for (const auto& name : ops) {
    OpKind k;
    if (!parse(name, k)) throw py::value_error("unknown op '" + name + "' (hwcal ops lists them)");
    o.ops.push_back(k);
  }
  o.threads = threads;
  o.cpu = cpu_too;
  if (gpus) o.gpus = gpus->empty() ? std::vector<int>{-1} : *gpus;
#if !HWCAL_HAS_CUDA
  // GPUs asked for by index are an error here, not an empty list: no silent fallback.
  if (gpus && !gpus->empty())
    throw UnavailableError(
        "auto_calibrate(gpus=[...]): this hwcal module was built without the CUDA backend "
        "(build with `cmake --preset cuda`; hwcal.has_cuda is False)");
#endif
  o.force = force;
  o.memory = memory;
  o.cache_dir = cache_dir;
  // The calibrator treats an exception from a kernel as that op's failure, so
  // one raised by the callback is kept here and re-raised when it returns.
  std::optional<py::error_already_set> callback_error;
  if (progress) {
    o.progress = [&](const Progress& p) {
      py::gil_scoped_acquire gil;
      if (callback_error) return;
      try {
        (*progress)(py::dict(py::arg("stage") = p.stage, py::arg("label") = p.label, py::arg("done") = p.done,
                             py::arg("total") = p.total, py::arg("elapsed_s") = p.elapsed_s,
                             py::arg("eta_s") = p.eta_s));
      } catch (py::error_already_set& e) {
        callback_error.emplace(std::move(e));
      }
    };
  }
  AutoCalibration a;
  {
    py::gil_scoped_release nogil;
    if (backend.empty()) {
      a = auto_calibrate(o);
    } else if (backend == "eigen") {
      a = auto_calibrate<cpu::EigenBackend>(o);
#if HWCAL_HAS_OPENBLAS
    } else if (backend == "openblas") {
      a = auto_calibrate<cpu::OpenBlasBackend>(o);
#endif
    } else {
      throw UnavailableError("backend '" + backend + "' is not built into this module (eigen" +
                             (HWCAL_HAS_OPENBLAS ? std::string(", openblas") : std::string()) +
                             "); other backends: hwcal calibrate --backend " + backend);
    }
  }
  if (callback_error) throw std::move(*callback_error);
  AutoResult r;
  if (cpu_too) r.profile = Profile{std::move(a.profile), a.path};
  r.path = std::move(a.path);
  r.from_cache = a.from_cache;
  r.warnings = std::move(a.warnings);
  for (auto& d : a.gpus) r.gpus.push_back(device_result(std::move(d)));
  return r;
}

// --------------------------------------------------------------- estimates

template <class Class, class Get>
void estimate_properties(Class& c, Get get) {
  c.def_property_readonly(
       "latency_s", [get](const typename Class::type& x) { return get(x).latency_s; },
       "the subgraph run on its own, repeatedly")
      .def_property_readonly(
          "in_sequence_s", [get](const typename Class::type& x) { return get(x).in_sequence_s; },
          "the subgraph inside a forward pass (equal to latency_s without a context)")
      .def_property_readonly("compute_s", [get](const typename Class::type& x) { return get(x).compute_s; })
      .def_property_readonly("memory_s", [get](const typename Class::type& x) { return get(x).memory_s; })
      .def_property_readonly("overhead_s", [get](const typename Class::type& x) { return get(x).overhead_s; })
      .def_property_readonly(
          "host_s", [get](const typename Class::type& x) { return get(x).host_s; },
          "eager mode: the host's cost of issuing the subgraph; 0 otherwise")
      .def_property_readonly("device_s", [get](const typename Class::type& x) { return get(x).device_s; })
      .def_property_readonly(
          "bound", [get](const typename Class::type& x) { return std::string(to_string(get(x).bound)); },
          "'compute', 'memory', 'overhead' or (collectives) 'communication'")
      .def_property_readonly(
          "efficiency", [get](const typename Class::type& x) { return get(x).efficiency; },
          "achieved / peak (compute ops) or / swept bandwidth (memory ops); 0 when unknown")
      .def_property_readonly(
          "bus_gbps", [get](const typename Class::type& x) { return get(x).bus_gbps; },
          "collectives: bus bandwidth at the predicted time, GB/s (nccl-tests' busbw); 0 otherwise");
}

py::dict estimate_dict(const Estimate& e) {
  return py::dict(py::arg("latency_s") = e.latency_s, py::arg("in_sequence_s") = e.in_sequence_s,
                  py::arg("compute_s") = e.compute_s, py::arg("memory_s") = e.memory_s,
                  py::arg("overhead_s") = e.overhead_s, py::arg("host_s") = e.host_s, py::arg("device_s") = e.device_s,
                  py::arg("bound") = std::string(to_string(e.bound)), py::arg("efficiency") = e.efficiency,
                  py::arg("bus_gbps") = e.bus_gbps,
                  py::arg("interval") = py::make_tuple(e.interval_lo_s, e.interval_hi_s),
                  py::arg("warnings") = warning_messages(e.warnings));
}

std::string time_text(double s) {
  char buf[32];
  if (s >= 1e-3)
    std::snprintf(buf, sizeof buf, "%.4g ms", s * 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.4g us", s * 1e6);
  return buf;
}

}  // namespace
}  // namespace hwcal::python

PYBIND11_MODULE(_hwcal, m) {
  using namespace hwcal;
  using namespace hwcal::python;
  m.doc() =
      "hwcal's C++ library (profiles, the calibrated mapper, workloads, predict, auto_calibrate); use it as `import "
      "hwcal`";
  m.attr("__version__") = HWCAL_VERSION_STRING;
  m.attr("has_cuda") = bool(HWCAL_HAS_CUDA);
  m.def(
      "cuda_device_count",
      []() {
#if HWCAL_HAS_CUDA
        return cuda::device_count();
#else
        return 0;
#endif
      },
      "GPUs this module can calibrate and see (0 in a module built without CUDA)");

  // Exceptions: hwcal.Error, and DocumentError (also a ValueError) naming the
  // file and JSON pointer of the field at fault.
  static py::exception<Error> error(m, "Error");
  static py::exception<DocumentError> document_error(m, "DocumentError",
                                                     py::make_tuple(error, py::handle(PyExc_ValueError)));
  static py::exception<UnavailableError> unavailable_error(m, "UnavailableError",
                                                           py::make_tuple(error, py::handle(PyExc_RuntimeError)));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const DocumentError& e) {
      const py::object type = document_error;  // (calling the py::exception itself would raise)
      py::object x = type(e.what());
      x.attr("file") = e.file();
      x.attr("pointer") = e.pointer();
      x.attr("problem") = e.problem();
      PyErr_SetObject(document_error.ptr(), x.ptr());
    } catch (const UnavailableError& e) {
      unavailable_error(e.what());
    } catch (const Error& e) {
      error(e.what());
    } catch (const nlohmann::json::exception& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  // ---- profiles
  py::class_<Profile>(m, "Profile",
                      "A calibration profile (docs/schema.md): load_profile(), Profile.from_dict() or auto_calibrate()")
      .def_static(
          "from_dict",
          [](py::handle d) {
            return Profile{parse_profile(dict_arg(d, "a profile"), "<dict>"), ""};
          },
          py::arg("document"), "A profile from a dict in the profile format (validated like a file)")
      .def("to_dict", [](const Profile& p) { return to_python(nlohmann::json(p.calibration)); })
      .def(
          "save", [](const Profile& p, const std::string& path) { save_profile(path, p.calibration); }, py::arg("path"),
          "Writes the profile (atomically: an interrupted write leaves the old file)")
      .def_property_readonly(
          "source", [](const Profile& p) { return p.source; }, "the file it was read from ('' for a dict)")
      .def_property_readonly("name", [](const Profile& p) { return p.calibration.name; })
      .def_property_readonly(
          "target", [](const Profile& p) { return p.calibration.target; }, "'cpu' or 'cuda'")
      .def_property_readonly("backend", [](const Profile& p) { return p.calibration.backend; })
      .def_property_readonly("threads", [](const Profile& p) { return p.calibration.threads; })
      .def_property_readonly("mode", [](const Profile& p) { return p.calibration.mode; })
      .def_property_readonly("fingerprint", [](const Profile& p) { return p.calibration.fingerprint; })
      .def_property_readonly(
          "device",
          [](const Profile& p) { return p.calibration.device ? to_python(*p.calibration.device) : py::none(); },
          "the device block (name, SMs, memory, clocks) of a GPU profile; None for a CPU's")
      .def_property_readonly(
          "peaks_gflops",
          [](const Profile& p) {
            py::dict d;
            for (const auto& k : p.calibration.peaks)
              if (k.gflops) d[py::str(std::string(to_string(k.precision)))] = *k.gflops;
            return d;
          },
          "theoretical peak GFLOP/s by precision (those the profile derives)")
      .def_property_readonly(
          "bandwidth_gbps",
          [](const Profile& p) {
            py::dict d;
            for (const auto& l : p.calibration.memory.levels) d[py::str(l.name)] = l.gbps;
            return d;
          },
          "measured GB/s by memory level")
      .def("__repr__", [](const Profile& p) {
        return "<hwcal.Profile '" + p.calibration.name + "' " + p.calibration.target + "/" + p.calibration.backend +
               ", " + std::to_string(p.calibration.operations.size()) + " curves>";
      });
  m.def(
      "load_profile",
      [](const std::string& path) {
        return Profile{load_profile(path), path};
      },
      py::arg("path"), "Reads and validates a profile; DocumentError names the file and field of a problem");

  py::class_<DeviceResult>(m, "DeviceCalibration", "One GPU's profile from auto_calibrate()")
      .def_readonly("device", &DeviceResult::device, "'cuda:N'")
      .def_readonly("profile", &DeviceResult::profile, "None when the device could not be calibrated (see error)")
      .def_readonly("path", &DeviceResult::path, "cache file ('' if it could not be written)")
      .def_readonly("from_cache", &DeviceResult::from_cache)
      .def_readonly("warnings", &DeviceResult::warnings)
      .def_readonly("error", &DeviceResult::error)
      .def_property_readonly("ok", [](const DeviceResult& d) { return d.error.empty(); });
  py::class_<AutoResult>(m, "AutoCalibration", "What auto_calibrate() returns")
      .def_readonly("profile", &AutoResult::profile, "the CPU's profile (None with cpu=False)")
      .def_readonly("path", &AutoResult::path, "the CPU profile's cache file")
      .def_readonly("from_cache", &AutoResult::from_cache)
      .def_readonly("warnings", &AutoResult::warnings)
      .def_readonly("gpus", &AutoResult::gpus, "one DeviceCalibration per GPU (in a module built with CUDA)");
  m.def("auto_calibrate", &run_auto_calibrate, py::arg("budget_s") = 4.0, py::arg("device_budget_s") = 10.0,
        py::arg("ops") = std::vector<std::string>{}, py::arg("threads") = 0, py::arg("cpu") = true,
        py::arg("gpus") = py::none(), py::arg("force") = false, py::arg("memory") = true, py::arg("cache_dir") = "",
        py::arg("backend") = "", py::arg("progress") = py::none(),
        "This machine's profiles: the cached ones for its fingerprint (milliseconds), else calibrated within the "
        "budget and "
        "cached. gpus=None: every visible GPU (module built with CUDA); [] none. progress(dict) is called as it "
        "measures.");

  // ---- subgraphs and workloads
  py::class_<WorkloadSubgraph>(m, "Subgraph", "One main op with its shape, precision and folded ops (docs/workload.md)")
      .def(py::init([](const std::string& op, const std::string& name, const std::string& precision,
                       const std::vector<std::string>& fused, py::kwargs fields) {
             py::dict d(fields);
             d["op"] = op;
             d["name"] = name;
             if (!fused.empty()) d["fused"] = fused;
             return subgraph_from_dict(d, precision);
           }),
           py::arg("op"), py::kw_only(), py::arg("name") = "", py::arg("precision") = "fp32",
           py::arg("fused") = std::vector<std::string>{}, "Subgraph('linear', m=8, n=4096, k=4096, precision='bf16')")
      .def_static(
          "from_dict", [](py::handle d, const std::string& precision) { return subgraph_from_dict(d, precision); },
          py::arg("document"), py::arg("precision") = "fp32",
          "A subgraph from a dict in the workload format; `precision` applies when the dict has none. DocumentError "
          "names the field.")
      .def("to_dict", [](const WorkloadSubgraph& s) { return to_python(subgraph_document(s)); })
      .def_readwrite("name", &WorkloadSubgraph::name)
      .def_property_readonly("op", [](const WorkloadSubgraph& s) { return std::string(to_string(s.graph.op.kind)); })
      .def_property_readonly("precision",
                             [](const WorkloadSubgraph& s) { return std::string(to_string(s.graph.precision)); })
      .def_property_readonly("fused", [](const WorkloadSubgraph& s) { return fused_names(s.graph.fused); })
      .def_property_readonly(
          "shape", [](const WorkloadSubgraph& s) { return to_python(detail::shape_to_json(s.graph.op)); },
          "the shape fields, every one written")
      .def_property_readonly("label", [](const WorkloadSubgraph& s) { return shape_label(s.graph.op); })
      .def_property_readonly(
          "flops", [](const WorkloadSubgraph& s) { return counts(s.graph.op, s.graph.precision).flops; },
          "of the main op (2 per multiply-add)")
      .def_property_readonly(
          "bytes", [](const WorkloadSubgraph& s) { return counts(s.graph.op, s.graph.precision).bytes; },
          "the main op's tensors, each read or written once")
      .def_property_readonly(
          "weight_bytes", [](const WorkloadSubgraph& s) { return counts(s.graph.op, s.graph.precision).weight_bytes; })
      .def("__repr__", [](const WorkloadSubgraph& s) {
        std::string op(to_string(s.graph.op.kind));
        for (py::handle f : fused_names(s.graph.fused)) op += "+" + f.cast<std::string>();
        return "<hwcal.Subgraph '" + s.name + "' " + op + " " + shape_label(s.graph.op) + " " +
               std::string(to_string(s.graph.precision)) + ">";
      });

  py::class_<Workload>(m, "Workload", "A model as a list of subgraphs (docs/workload.md)")
      .def(py::init([](const std::string& name, py::iterable subgraphs, const std::string& precision) {
             Workload w;
             w.name = name;
             w.precision = precision_arg(precision);
             for (py::handle s : subgraphs) w.subgraphs.push_back(subgraph_arg(s));
             return w;
           }),
           py::arg("name"), py::arg("subgraphs"), py::arg("precision") = "fp32")
      .def_static(
          "from_dict", [](py::handle d) { return parse_workload(dict_arg(d, "a workload"), "<dict>"); },
          py::arg("document"), "A workload from a dict in the workload format (what hwcal.trace returns)")
      .def("to_dict", [](const Workload& w) { return to_python(to_json(w)); })
      .def_readwrite("name", &Workload::name)
      .def_property_readonly("precision", [](const Workload& w) { return std::string(to_string(w.precision)); })
      .def_property_readonly(
          "subgraphs", [](const Workload& w) { return w.subgraphs; },
          "a copy: changing it does not change the workload")
      .def_readonly("warnings", &Workload::warnings, "fields that were ignored, and the like")
      .def("__len__", [](const Workload& w) { return w.subgraphs.size(); })
      .def("__repr__", [](const Workload& w) {
        return "<hwcal.Workload '" + w.name + "' " + std::to_string(w.subgraphs.size()) + " subgraphs>";
      });
  m.def(
      "load_workload", [](const std::string& path) { return load_workload(path); }, py::arg("path"),
      "Reads a workload file; DocumentError names the file, the subgraph and the field of a problem");

  py::class_<SequenceContext>(m, "SequenceContext",
                              "What a whole forward pass moves (sets where a layer finds its data)")
      .def(py::init([](double pass_bytes, double pass_weight_bytes) {
             return SequenceContext{pass_bytes, pass_weight_bytes};
           }),
           py::arg("pass_bytes") = 0.0, py::arg("pass_weight_bytes") = 0.0)
      .def_readwrite("pass_bytes", &SequenceContext::pass_bytes)
      .def_readwrite("pass_weight_bytes", &SequenceContext::pass_weight_bytes)
      .def("__repr__", [](const SequenceContext& c) {
        return "<hwcal.SequenceContext pass_bytes=" + std::to_string(c.pass_bytes) +
               " pass_weight_bytes=" + std::to_string(c.pass_weight_bytes) + ">";
      });
  m.def(
      "sequence_context",
      [](py::handle subgraphs) {
        const std::vector<Subgraph> g = graphs_arg(subgraphs);
        return sequence_context(g.begin(), g.end(), [](const Subgraph& s) -> const Subgraph& { return s; });
      },
      py::arg("subgraphs"), "The context of subgraphs (a Workload or a list) run one after the other");

  // ---- estimates and the mapper
  auto estimate =
      py::class_<Estimate>(m, "Estimate", "A subgraph's predicted latency, its parts, bound, interval and warnings");
  estimate_properties(estimate, [](const Estimate& e) -> const Estimate& { return e; });
  estimate
      .def_property_readonly(
          "interval", [](const Estimate& e) { return py::make_tuple(e.interval_lo_s, e.interval_hi_s); },
          "(low, high) seconds of latency_s")
      .def_property_readonly(
          "warnings", [](const Estimate& e) { return warning_messages(e.warnings); },
          "why the estimate is less than a straight lookup")
      .def("to_dict", &estimate_dict)
      .def("__repr__", [](const Estimate& e) {
        return "<hwcal.Estimate " + time_text(e.latency_s) + " (" + to_string(e.bound) + "-bound), in sequence " +
               time_text(e.in_sequence_s) + ">";
      });

  py::class_<CalibratedMapper>(m, "CalibratedMapper",
                               "Latency of subgraphs from a profile (docs/mapper.md); thread-safe")
      .def(py::init([](const Profile& p, int threads, const std::string& mode, const std::string& lookup) {
             MapperOptions o;
             o.threads = threads;
             o.mode = mode_arg(mode);
             o.lookup = lookup_arg(lookup);
             return CalibratedMapper(p.calibration, o);
           }),
           py::arg("profile"), py::arg("threads") = 0, py::arg("mode") = "device", py::arg("lookup") = "exact",
           "threads: curves of this thread count (0: the profile's); mode: 'device' (graph replay) or 'eager' (GPU "
           "profiles); "
           "lookup: 'exact' (interpolate at each query) or 'table' (precomputed when built: faster estimates for "
           "searches, "
           "docs/mapper.md)")
      .def(
          "estimate",
          [](const CalibratedMapper& mapper, py::handle subgraph, std::optional<SequenceContext> context) {
            return mapper.estimate(subgraph_arg(subgraph).graph, context.value_or(SequenceContext{}));
          },
          py::arg("subgraph"), py::arg("context") = py::none(),
          "Estimate of a Subgraph (or a dict in the workload format)")
      .def(
          "estimate_many",
          [](const CalibratedMapper& mapper, py::handle subgraphs, std::optional<SequenceContext> context) {
            const std::vector<Subgraph> graphs = graphs_arg(subgraphs);
            const SequenceContext ctx = context.value_or(SequenceContext{});
            std::vector<Estimate> out(graphs.size());
            {
              // The mapper is immutable: other Python threads may estimate meanwhile.
              py::gil_scoped_release nogil;
              for (std::size_t i = 0; i < graphs.size(); ++i) out[i] = mapper.estimate(graphs[i], ctx);
            }
            return out;
          },
          py::arg("subgraphs"), py::arg("context") = py::none(),
          "Estimates of a Workload's (or a list's) subgraphs in one call, without the GIL")
      .def(
          "roofline",
          [](const CalibratedMapper& mapper, py::handle subgraph) {
            return mapper.roofline(subgraph_arg(subgraph).graph);
          },
          py::arg("subgraph"), "The datasheet-roofline baseline of the same profile")
      .def(
          "bandwidth", [](const CalibratedMapper& mapper, double ws) { return mapper.bandwidth(ws); },
          py::arg("working_set_bytes"), "memory-sweep bandwidth (bytes/s) at a working set")
      .def_property_readonly("threads", &CalibratedMapper::threads)
      .def_property_readonly("mode",
                             [](const CalibratedMapper& mapper) { return std::string(to_string(mapper.mode())); })
      .def_property_readonly("device", &CalibratedMapper::device,
                             "whether the profile describes a device (GPU) rather than a CPU");

  // ---- predict: the CLI's function
  auto subgraph_prediction =
      py::class_<SubgraphPrediction>(m, "SubgraphPrediction", "One subgraph of predict()'s result");
  estimate_properties(subgraph_prediction, [](const SubgraphPrediction& s) -> const Estimate& { return s.estimate; });
  subgraph_prediction.def_readonly("name", &SubgraphPrediction::name)
      .def_property_readonly("op", [](const SubgraphPrediction& s) { return std::string(to_string(s.graph.op.kind)); })
      .def_property_readonly("interval_s",
                             [](const SubgraphPrediction& s) {
                               return py::make_tuple(s.estimate.interval_lo_s, s.estimate.interval_hi_s);
                             })
      .def_property_readonly("warnings",
                             [](const SubgraphPrediction& s) { return warning_messages(s.estimate.warnings); })
      .def_readonly("estimate", &SubgraphPrediction::estimate)
      .def("__repr__", [](const SubgraphPrediction& s) {
        return "<hwcal.SubgraphPrediction '" + s.name + "' " + std::string(to_string(s.graph.op.kind)) + " " +
               time_text(s.estimate.in_sequence_s) + ">";
      });

  py::class_<WorkloadPrediction>(m, "Prediction", "What `hwcal predict --json` prints, field for field")
      .def_readonly("workload", &WorkloadPrediction::workload)
      .def_readonly("profile", &WorkloadPrediction::profile)
      .def_readonly("model", &WorkloadPrediction::model)
      .def_readonly("mode", &WorkloadPrediction::mode)
      .def_readonly("backend", &WorkloadPrediction::backend)
      .def_readonly("threads", &WorkloadPrediction::threads)
      .def_readonly("total_s", &WorkloadPrediction::total_s,
                    "the forward pass: start_s, then the subgraphs one after the other")
      .def_readonly("start_s", &WorkloadPrediction::start_s,
                    "device mode: one CUDA-graph replay's start (the profile's overhead.graph_start_s); else 0")
      .def_readonly("total_isolated_s", &WorkloadPrediction::total_isolated_s, "the sum of each subgraph run alone")
      .def_property_readonly(
          "interval_s", [](const WorkloadPrediction& p) { return py::make_tuple(p.interval_lo_s, p.interval_hi_s); })
      .def_readonly("warnings", &WorkloadPrediction::warnings)
      .def_readonly("notes", &WorkloadPrediction::notes)
      .def_readonly("subgraphs", &WorkloadPrediction::subgraphs)
      .def("to_dict", [](const WorkloadPrediction& p) { return to_python(to_json(p)); })
      .def(
          "to_json", [](const WorkloadPrediction& p, int indent) { return to_json(p).dump(indent); },
          py::arg("indent") = 1, "the text `hwcal predict --json` prints (without its final newline)")
      .def("__repr__", [](const WorkloadPrediction& p) {
        return "<hwcal.Prediction '" + p.workload + "' " + time_text(p.total_s) + ", " +
               std::to_string(p.subgraphs.size()) + " subgraphs, " + p.mode + " mode>";
      });
  m.def(
      "predict",
      [](const Profile& profile, py::handle workload, const std::string& mode, int threads, const std::string& model) {
        if (model != "calibrated" && model != "roofline")
          throw py::value_error("model must be 'calibrated' or 'roofline', got '" + model + "'");
        PredictOptions o;
        o.mode = mode_arg(mode);
        o.threads = threads;
        o.roofline = model == "roofline";
        const Workload w = workload_arg(workload);
        WorkloadPrediction p;
        {
          py::gil_scoped_release nogil;
          p = predict_workload(profile.calibration, w, o);
          p.profile = profile.source;
          p.notes = mismatch_notes(profile.calibration);
        }
        return p;
      },
      py::arg("profile"), py::arg("workload"), py::arg("mode") = "device", py::arg("threads") = 0,
      py::arg("model") = "calibrated",
      "A workload's latency as `hwcal predict --json` reports it (the same C++ function): .total_s, .subgraphs, "
      ".to_dict()");

  // Shown as hwcal.X (the package re-exports them), not hwcal._hwcal.X.
  for (const char* name :
       {"Error", "DocumentError", "UnavailableError", "Profile", "DeviceCalibration", "AutoCalibration", "Subgraph",
        "Workload", "SequenceContext", "Estimate", "CalibratedMapper", "SubgraphPrediction", "Prediction"})
    m.attr(name).attr("__module__") = "hwcal";
}
