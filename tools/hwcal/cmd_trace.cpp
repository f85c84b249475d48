// hwcal trace: a PyTorch model traced with torch.fx into a workload. The
// tracer is Python (python/hwcal/trace.py, the one tracer validation/ uses
// too), so this runs `python3 -m hwcal.trace` with every argument as given.
#include "cli.hpp"

#include <hwcal/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

namespace hwcal::cli {
namespace {

// python/CMakeLists.txt defines these where the Python package is built.
#ifndef HWCAL_PYTHON_EXECUTABLE
#define HWCAL_PYTHON_EXECUTABLE "python3"
#endif

/// The directory holding the `hwcal` package: installed beside this executable
/// (<prefix>/bin/hwcal, <prefix>/<python dir>/hwcal), else the build tree's;
/// empty when neither has it (then Python's own path must).
std::string package_dir() {
  std::vector<std::string> dirs;
#ifdef HWCAL_PYTHON_INSTALL_DIR
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    const std::string exe(buf, static_cast<std::size_t>(n));
    dirs.push_back(exe.substr(0, exe.find_last_of('/')) + "/../" HWCAL_PYTHON_INSTALL_DIR);
  }
#endif
#ifdef HWCAL_PYTHON_BUILD_DIR
  dirs.push_back(HWCAL_PYTHON_BUILD_DIR);
#endif
  for (const auto& d : dirs)
    if (::access((d + "/hwcal/trace.py").c_str(), R_OK) == 0) return d;
  return {};
}

[[noreturn]] void exec_tracer(const std::vector<std::string>& args) {
  const char* env_python = std::getenv("HWCAL_PYTHON");
  const std::string python = env_python && *env_python ? env_python : HWCAL_PYTHON_EXECUTABLE;
  if (const std::string dir = package_dir(); !dir.empty()) {
    const char* old = std::getenv("PYTHONPATH");
    ::setenv("PYTHONPATH", (old && *old ? dir + ":" + old : dir).c_str(), 1);
  } else {
    std::fprintf(stderr,
                 "hwcal: note: this hwcal was built without its Python package (HWCAL_PYTHON); "
                 "looking for `hwcal` on %s's own path\n",
                 python.c_str());
  }
  std::vector<std::string> argv_s = {python, "-m", "hwcal.trace"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execvp(argv[0], argv.data());
  throw UnavailableError("cannot run " + python +
                         " (set HWCAL_PYTHON to a python3 with torch): " + std::strerror(errno));
}

}  // namespace

Action add_trace(CLI::App& app) {
  CLI::App* c = app.add_subcommand(
      "trace", "Trace a PyTorch model (torch.fx) into a workload file; `hwcal trace --help` for its options");
  // Everything after `trace`, --help included, goes to the Python tracer.
  c->set_help_flag();
  c->prefix_command();
  return [c]() -> int { exec_tracer(c->remaining()); };
}

}  // namespace hwcal::cli
