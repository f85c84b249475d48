#pragma once
// Shared pieces of the hwcal CLI: subcommand registration, the backend
// registry, exit codes and terminal formatting.

#include <hwcal/kernel.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hwcal::cli {

/// Exit codes: 0 success, 1 runtime failure, 2 bad input (usage, a broken
/// profile or workload, a backend that is not built).
inline constexpr int exit_ok = 0, exit_failure = 1, exit_bad_input = 2;

/// A subcommand's action; returns the exit code.
using Action = std::function<int()>;

Action add_calibrate(CLI::App& app);
Action add_show(CLI::App& app);
Action add_predict(CLI::App& app);
Action add_compare(CLI::App& app);
Action add_ops(CLI::App& app);
Action add_roofline(CLI::App& app);
Action add_trace(CLI::App& app);

/// --budget: seconds in (0, max_budget_s]; anything else (0, -1, nan, 1e300)
/// is a usage error, exit 2.
CLI::Validator budget_validator();

/// Backends compiled into (or loadable by) this binary, in preference order.
std::vector<std::string> available_backends();
/// The backend `hwcal calibrate` uses when none is named.
std::string default_backend();
/// Creates a backend (device backends: on device `device`); throws
/// UnavailableError (naming what is missing) for a backend this binary was
/// not built with.
std::unique_ptr<Backend> make_backend(const std::string& name, int device = 0);
/// This machine's GPUs as the CUDA plugin sees them; empty with the reason in
/// `why_none` when there are none or they cannot be listed.
std::vector<DeviceInfo> visible_devices(std::string& why_none);
/// One-line notes (not errors) when `profile` describes another machine or device.
std::vector<std::string> mismatch_notes(const HardwareCalibration& profile);

// --- formatting -----------------------------------------------------------

std::string fmt_time(double seconds);                       ///< "12.3 us", "4.56 ms"
std::string fmt_bytes(double bytes);                        ///< "48 KiB", "1.5 GiB"
std::string fmt_num(double v, int digits = 3);              ///< significant digits
std::string fmt_rate(double per_second, const char* unit);  ///< "123 GFLOP/s"

/// A plain-text table with right-aligned numeric columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }
  void print(std::FILE* out = stdout, const std::string& indent = "  ") const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

/// Progress line on stderr: rewritten in place on a terminal, one line per
/// few seconds otherwise (logs stay readable).
class ProgressLine {
 public:
  ProgressLine();
  void update(const std::string& text);
  void finish();

 private:
  bool tty_;
  double last_ = -1;
  std::size_t width_ = 0;
};

}  // namespace hwcal::cli
