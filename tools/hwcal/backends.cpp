// Backend registry and terminal formatting for the CLI.
#include "cli.hpp"

#include <hwcal/auto_calibrate.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/error.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/version.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <unistd.h>

namespace hwcal::cli {

#if HWCAL_TOOL_ONEDNN
std::unique_ptr<Backend> make_onednn_backend();  // backend_onednn.cpp
#endif

namespace {

#if HWCAL_TOOL_TORCH || HWCAL_TOOL_CUDA
std::string executable_dir() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<std::size_t>(n));
  return p.substr(0, p.find_last_of('/'));
}

/// The ATen and CUDA backends live in plugins so that only `--backend torch`
/// or `--backend cuda` pays for loading libtorch or cuBLAS/cuDNN. Searched:
/// $HWCAL_PLUGIN_DIR, next to the executable, the install directory. The
/// handle is kept for the process (the backend's vtable lives in the plugin).
void* open_plugin(const std::string& name) {
  static std::map<std::string, void*> opened;
  if (auto it = opened.find(name); it != opened.end()) return it->second;
  const std::string file = "hwcal_backend_" + name + ".so";
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("HWCAL_PLUGIN_DIR")) dirs.push_back(d);
  dirs.push_back(executable_dir());
  dirs.push_back(HWCAL_PLUGIN_INSTALL_DIR);
  std::string tried, last_error;
  for (const auto& d : dirs) {
    const std::string path = d + "/" + file;
    if (::access(path.c_str(), R_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      last_error = ::dlerror();
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    using AbiFn = const char* (*)();
    auto abi = reinterpret_cast<AbiFn>(::dlsym(h, "hwcal_plugin_abi"));
    if (!abi) throw UnavailableError(path + " is not an hwcal backend plugin");
    if (std::string(abi()) != HWCAL_VERSION_STRING)
      throw UnavailableError(path + " was built for hwcal " + abi() + ", this is hwcal " HWCAL_VERSION_STRING);
    return opened[name] = h;
  }
  throw UnavailableError("backend '" + name + "' plugin not found (looked for " + tried + ")" +
                         (last_error.empty() ? "" : ": " + last_error));
}

std::unique_ptr<Backend> load_plugin(const std::string& name, int device = 0) {
  void* h = open_plugin(name);
  using CreateFn = Backend* (*)(int);
  auto create = reinterpret_cast<CreateFn>(::dlsym(h, "hwcal_create_backend"));
  if (!create) throw UnavailableError("backend '" + name + "' plugin has no hwcal_create_backend");
  return std::unique_ptr<Backend>(create(device));
}
#endif

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::vector<std::string> available_backends() {
  std::vector<std::string> v;
#if HWCAL_HAS_OPENBLAS
  v.push_back("openblas");
#endif
  v.push_back("eigen");
#if HWCAL_TOOL_ONEDNN
  v.push_back("onednn");
#endif
#if HWCAL_TOOL_TORCH
  v.push_back("torch");
#endif
#if HWCAL_TOOL_CUDA
  v.push_back("cuda");
#endif
  return v;
}

std::string default_backend() { return available_backends().front(); }

std::vector<DeviceInfo> visible_devices(std::string& why_none) {
#if HWCAL_TOOL_CUDA
  try {
    using ListFn = const char* (*)();
    auto list = reinterpret_cast<ListFn>(::dlsym(open_plugin("cuda"), "hwcal_visible_devices"));
    if (!list) throw UnavailableError("the cuda plugin cannot list devices");
    const nlohmann::json j = nlohmann::json::parse(list());
    if (j.contains("error")) why_none = "no CUDA device is visible (" + j["error"].get<std::string>() + ")";
    std::vector<DeviceInfo> out;
    for (const auto& d : j.value("devices", nlohmann::json::array()))
      out.push_back(detail::read_device(detail::JsonReader(d, "cuda plugin")));
    if (out.empty() && why_none.empty()) why_none = "no CUDA device is visible";
    return out;
  } catch (const std::exception& e) {
    why_none = std::string("GPUs cannot be listed: ") + e.what();
    return {};
  }
#else
  why_none = "this hwcal was built without the CUDA backend, so it cannot see this machine's GPUs";
  return {};
#endif
}

std::vector<std::string> mismatch_notes(const HardwareCalibration& profile) {
  std::vector<DeviceInfo> devices;
  std::string why_none;
  if (profile.target != "cpu") devices = visible_devices(why_none);
  return profile_mismatch_notes(profile, cpu::detect_host(), devices, why_none);
}

std::unique_ptr<Backend> make_backend(const std::string& name, [[maybe_unused]] int device) {
  if (name == "eigen") return std::make_unique<cpu::EigenBackend>();
#if HWCAL_HAS_OPENBLAS
  if (name == "openblas") return std::make_unique<cpu::OpenBlasBackend>();
#endif
#if HWCAL_TOOL_ONEDNN
  if (name == "onednn") return make_onednn_backend();
#endif
#if HWCAL_TOOL_TORCH
  if (name == "torch") return load_plugin("torch");
#endif
#if HWCAL_TOOL_CUDA
  if (name == "cuda") return load_plugin("cuda", device);
#endif
  std::string known;
  for (const auto& b : available_backends()) known += (known.empty() ? "" : ", ") + b;
  const bool exists = name == "openblas" || name == "onednn" || name == "torch" || name == "cuda";
  if (exists)
    throw UnavailableError(
        "backend '" + name + "' is not built into this hwcal (built: " + known + "); configure with " +
        (name == "cuda" ? std::string("-DHWCAL_ENABLE_CUDA=ON") : "-DHWCAL_WITH_" + upper(name) + "=ON") +
        " and its library installed");
  throw UnavailableError("unknown backend '" + name + "' (built: " + known + ")");
}

// --- formatting -------------------------------------------------------------

std::string fmt_num(double v, int digits) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  const double a = std::abs(v);
  const int decimals = a >= 100 ? 0 : a >= 10 ? std::max(0, digits - 2) : a >= 1 ? std::max(0, digits - 1) : digits;
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string fmt_time(double s) {
  if (!std::isfinite(s) || s < 0) return "-";
  if (s < 1e-6) return fmt_num(s * 1e9) + " ns";
  if (s < 1e-3) return fmt_num(s * 1e6) + " us";
  if (s < 1) return fmt_num(s * 1e3) + " ms";
  return fmt_num(s) + " s";
}

std::string fmt_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return (u == 0 ? std::to_string(static_cast<long long>(b)) : fmt_num(b)) + " " + units[u];
}

std::string fmt_rate(double v, const char* unit) {
  if (v >= 1e12) return fmt_num(v / 1e12) + " T" + unit;
  if (v >= 1e9) return fmt_num(v / 1e9) + " G" + unit;
  if (v >= 1e6) return fmt_num(v / 1e6) + " M" + unit;
  return fmt_num(v / 1e3) + " k" + unit;
}

void Table::print(std::FILE* out, const std::string& indent) const {
  std::vector<std::size_t> w(header_.size(), 0);
  auto widen = [&](const std::vector<std::string>& r) {
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  };
  widen(header_);
  for (const auto& r : rows_) widen(r);
  auto numeric = [](const std::string& s) {
    return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+');
  };
  auto line = [&](const std::vector<std::string>& r, bool head) {
    std::string l = indent;
    for (std::size_t i = 0; i < w.size(); ++i) {
      const std::string c = i < r.size() ? r[i] : "";
      const std::string pad(w[i] - c.size(), ' ');
      l += (i ? "  " : "") + ((!head && i > 0 && numeric(c)) ? pad + c : c + pad);
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    std::fprintf(out, "%s\n", l.c_str());
  };
  line(header_, true);
  std::size_t total = 0;
  for (auto x : w) total += x + 2;
  std::fprintf(out, "%s%s\n", indent.c_str(), std::string(total > 2 ? total - 2 : 0, '-').c_str());
  for (const auto& r : rows_) line(r, false);
}

ProgressLine::ProgressLine() : tty_(::isatty(STDERR_FILENO) != 0) {}

void ProgressLine::update(const std::string& text) {
  const double t = now_s();
  if (tty_) {
    std::string s = text.substr(0, 118);
    const std::size_t pad = width_ > s.size() ? width_ - s.size() : 0;
    std::fprintf(stderr, "\r%s%s", s.c_str(), std::string(pad, ' ').c_str());
    width_ = s.size();
    std::fflush(stderr);
  } else if (last_ < 0 || t - last_ >= 2.0) {
    std::fprintf(stderr, "%s\n", text.c_str());
    last_ = t;
  }
}

void ProgressLine::finish() {
  if (tty_ && width_) std::fprintf(stderr, "\r%s\r", std::string(width_, ' ').c_str());
  width_ = 0;
}

}  // namespace hwcal::cli
