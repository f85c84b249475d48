#pragma once
// Was a measurement disturbed by something else on the machine? Two signals
// the scheduler keeps, read around every measurement (Linux; elsewhere the
// probe is invalid and only the timing statistics can tell):
//
//   run-queue delay  the time our threads were runnable but not running
//                    (/proc/self/task/*/schedstat, nanoseconds): another
//                    process, or an oversubscribed pool, held the CPU we
//                    wanted. Independent of pinning and of which CPU the
//                    other work ran on.
//   steal            time the hypervisor gave our vCPUs to someone else
//                    (/proc/stat, on the CPUs this process may run on).
//
// Their sum over the wall time of the measurement times the threads that
// measured is the share of the measurement we did not get; the run-queue
// delay counts only as far as other processes ran on our CPUs meanwhile (our
// own surplus threads delay us too).
//
// A third signal covers what the scheduler does not charge to us: other
// processes busy on the CPUs we may *not* run on (a calibration pinned to some
// of the machine's CPUs). They share the caches and memory bandwidth with us,
// and on an SMT sibling or a vCPU of the same host core, the core itself: a
// one-job compile on the other vCPU of a 2-vCPU guest slowed the curves of a
// 1-thread calibration by a median 5% (up to 22%), most with no change in
// their spread (docs/validation/repeatability/). Measured as their busy CPUs on average
// over the window (`neighbour_cpus`). What stays left to the statistics:
// drift within a measurement, disagreement between repeats, and a point that
// runs far slower per unit of work than both its neighbours (calibrator.hpp).

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#if defined(__linux__)
#include <dirent.h>
#include <sched.h>
#include <unistd.h>
#endif

namespace hwcal {
namespace cpu {

/// What a probe saw over one measurement.
struct Disturbance {
  bool valid = false;           ///< the counters could be read (Linux)
  double wall_s = 0;            ///< the window
  double run_delay_s = 0;       ///< our threads runnable but waiting, summed over threads
  double steal_s = 0;           ///< hypervisor steal on the CPUs we may run on
  double other_cpu_s = 0;       ///< other processes' CPU time on those CPUs
  double tick_s = 0;            ///< resolution of other_cpu_s (one clock tick per CPU)
  double neighbour_cpu_s = 0;   ///< other processes' CPU time on the CPUs we may not run on
  double neighbour_tick_s = 0;  ///< its resolution

  /// CPUs' worth of other work beside ours (on CPUs we may not use), on
  /// average over the window, less the counters' resolution; 0 when unknown.
  double neighbour_cpus() const noexcept {
    if (!valid || wall_s <= 0) return 0;
    return std::max(0.0, neighbour_cpu_s - neighbour_tick_s) / wall_s;
  }

  /// Share of `threads` x wall that other work took from us (0..1). Run-queue
  /// delay counts only as far as other processes used our CPUs meanwhile
  /// (within the counters' resolution): our own surplus threads (a library's
  /// pool beside ours) delay us too, and are no contention.
  double lost_share(int threads) const noexcept {
    if (!valid || wall_s <= 0) return 0;
    const double delay = std::min(run_delay_s, other_cpu_s + tick_s);
    return std::min(1.0, (delay + steal_s) / (wall_s * std::max(threads, 1)));
  }
};

/// Above this share of lost CPU time a measurement counts as disturbed.
inline constexpr double disturbed_share = 0.05;
/// Above this much other work beside ours (CPUs' worth, neighbour_cpus()) a
/// measurement counts as disturbed: a quarter of a CPU is far above a quiet
/// machine's daemons and far below one busy process.
inline constexpr double disturbed_neighbours = 0.25;

namespace detail {

inline double monotonic_s() {
#if defined(__linux__)
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
#else
  return 0;
#endif
}

/// run_delay (ns) of every thread of this process, by thread id.
inline std::map<long, std::uint64_t> thread_delays() {
  std::map<long, std::uint64_t> out;
#if defined(__linux__)
  DIR* d = opendir("/proc/self/task");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/schedstat");
    std::uint64_t run = 0, delay = 0;
    if (in >> run >> delay) out[std::atol(e->d_name)] = delay;
  }
  closedir(d);
#endif
  return out;
}

/// One CPU's line of /proc/stat: busy seconds excluding steal, and steal seconds.
struct CpuStat {
  int id = -1;
  double busy_s = 0, steal_s = 0;
};

/// Every CPU's line of one read of /proc/stat (empty where unknown). One read
/// serves both our CPUs and the others: a probe reads it once at each end.
inline std::vector<CpuStat> read_cpu_stat() {
  std::vector<CpuStat> out;
#if defined(__linux__)
  std::ifstream in("/proc/stat");
  const double tick = 1.0 / double(std::max(1L, sysconf(_SC_CLK_TCK)));
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, 3, "cpu") != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream ss(line.substr(3));
    CpuStat c;
    ss >> c.id;
    std::uint64_t f[8] = {};
    for (auto& v : f) ss >> v;  // user nice system idle iowait irq softirq steal
    c.busy_s = double(f[0] + f[1] + f[2] + f[5] + f[6]) * tick;
    c.steal_s = double(f[7]) * tick;
    out.push_back(c);
  }
#endif
  return out;
}

/// (busy, steal) seconds summed over `cpus` of `stat`; false when none of them is there.
inline bool sum_cpu_times(const std::vector<CpuStat>& stat, const std::vector<int>& cpus, double& busy, double& steal) {
  busy = steal = 0;
  bool any = false;
  for (const CpuStat& c : stat)
    if (std::find(cpus.begin(), cpus.end(), c.id) != cpus.end()) busy += c.busy_s, steal += c.steal_s, any = true;
  return any;
}

/// (busy seconds excluding steal, steal seconds) summed over `cpus` from /proc/stat.
inline bool cpu_times(const std::vector<int>& cpus, double& busy, double& steal) {
  return sum_cpu_times(read_cpu_stat(), cpus, busy, steal);
}

/// CPU seconds this process used (all threads).
inline double self_cpu_s() {
#if defined(__linux__)
  std::ifstream in("/proc/self/stat");
  std::string s;
  if (!std::getline(in, s)) return 0;
  const auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream ss(s.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && ss >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return double(utime + stime) / double(std::max(1L, sysconf(_SC_CLK_TCK)));
#else
  return 0;
#endif
}

}  // namespace detail

/// Every CPU /proc/stat lists (empty where unknown).
inline std::vector<int> online_cpus() {
  std::vector<int> out;
  for (const detail::CpuStat& c : detail::read_cpu_stat()) out.push_back(c.id);
  return out;
}

/// The CPUs this process may run on (empty where unknown).
inline std::vector<int> allowed_cpus() {
  std::vector<int> out;
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) out.push_back(i);
#endif
  return out;
}

namespace detail {
/// The CPUs of `online` not in `ours`.
inline std::vector<int> cpus_besides(const std::vector<int>& online, const std::vector<int>& ours) {
  std::vector<int> out;
  for (int c : online)
    if (std::find(ours.begin(), ours.end(), c) == ours.end()) out.push_back(c);
  return out;
}
}  // namespace detail

/// The CPUs this process may not run on: where work beside ours runs.
inline std::vector<int> other_cpus() { return detail::cpus_besides(online_cpus(), allowed_cpus()); }

/// Reads the counters at construction; stop() returns what happened since.
/// Each end reads /proc/stat once (ours and the other CPUs from the same read).
class DisturbanceProbe {
 public:
  DisturbanceProbe() : cpus_(allowed_cpus()) {
    const std::vector<detail::CpuStat> stat = detail::read_cpu_stat();
    std::vector<int> online;
    for (const detail::CpuStat& c : stat) online.push_back(c.id);
    others_ = detail::cpus_besides(online, cpus_);
    start(stat);
  }

  void start() { start(detail::read_cpu_stat()); }

  Disturbance stop() const {
    Disturbance d;
    d.wall_s = detail::monotonic_s() - t0_;
    if (!valid_) return d;
    const std::vector<detail::CpuStat> stat = detail::read_cpu_stat();
    double busy = 0, steal = 0;
    if (!detail::sum_cpu_times(stat, cpus_, busy, steal)) return d;
    const auto now = detail::thread_delays();
    std::uint64_t delay = 0;
    for (const auto& [tid, ns] : now) {
      const auto it = delays_.find(tid);
      delay += it == delays_.end()
                   ? 0
                   : ns - std::min(ns, it->second);  // threads born since: their share is unknown, not counted
    }
    d.valid = true;
    d.run_delay_s = 1e-9 * double(delay);
    d.steal_s = std::max(0.0, steal - steal_);
    d.other_cpu_s = std::max(0.0, (busy - busy_) - (detail::self_cpu_s() - self_));
#if defined(__linux__)
    d.tick_s = double(cpus_.size()) / double(std::max(1L, sysconf(_SC_CLK_TCK)));
    d.neighbour_tick_s = double(others_.size()) / double(std::max(1L, sysconf(_SC_CLK_TCK)));
#endif
    double others_busy = 0, others_steal = 0;
    if (others_valid_ && detail::sum_cpu_times(stat, others_, others_busy, others_steal))
      d.neighbour_cpu_s = std::max(0.0, others_busy - others_busy_);  // our threads never run there
    return d;
  }

 private:
  void start(const std::vector<detail::CpuStat>& stat) {
    delays_ = detail::thread_delays();
    valid_ = !cpus_.empty() && detail::sum_cpu_times(stat, cpus_, busy_, steal_) && !delays_.empty();
    double steal = 0;
    others_valid_ = !others_.empty() && detail::sum_cpu_times(stat, others_, others_busy_, steal);
    self_ = detail::self_cpu_s();
    t0_ = detail::monotonic_s();
  }

  std::vector<int> cpus_, others_;  ///< the CPUs we may run on; the rest
  std::map<long, std::uint64_t> delays_;
  double busy_ = 0, steal_ = 0, self_ = 0, t0_ = 0, others_busy_ = 0;
  bool valid_ = false, others_valid_ = false;
};

/// Sleeps until other processes leave the CPUs we may run on idle enough for
/// `threads` of ours (other work below the free CPUs + 0.25) over `window_s`,
/// or `max_wait_s` passes. Returns whether it got quiet; `waited_s` adds the
/// time spent.
inline bool wait_for_quiet(int threads, double max_wait_s, double& waited_s, double window_s = 0.5) {
#if defined(__linux__)
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.empty()) return true;
  const double free_cpus = std::max(0.0, double(cpus.size()) - double(threads));
  const double t0 = detail::monotonic_s();
  for (;;) {
    double b0 = 0, s0 = 0, b1 = 0, s1 = 0;
    const double self0 = detail::self_cpu_s();
    if (!detail::cpu_times(cpus, b0, s0)) return true;
    const double w0 = detail::monotonic_s();
    usleep(static_cast<useconds_t>(window_s * 1e6));
    detail::cpu_times(cpus, b1, s1);
    const double w = detail::monotonic_s() - w0;
    const double other = ((b1 - b0) - (detail::self_cpu_s() - self0) + (s1 - s0)) / std::max(w, 1e-3);
    const double elapsed = detail::monotonic_s() - t0;
    if (other < free_cpus + 0.25) {
      waited_s += elapsed;
      return true;
    }
    if (elapsed >= max_wait_s) {
      waited_s += elapsed;
      return false;
    }
  }
#else
  (void)threads, (void)max_wait_s, (void)waited_s, (void)window_s;
  return true;
#endif
}

/// Other work beside ours now: CPUs' worth of it on the CPUs we may not run
/// on, over `window_s` of sleep (0 where unknown or when we may use them all).
inline double neighbours_now(double window_s = 0.5) {
#if defined(__linux__)
  const std::vector<int> others = other_cpus();
  double b0 = 0, b1 = 0, steal = 0;
  if (others.empty() || !detail::cpu_times(others, b0, steal)) return 0;
  const double w0 = detail::monotonic_s();
  usleep(static_cast<useconds_t>(window_s * 1e6));
  detail::cpu_times(others, b1, steal);
  return std::max(0.0, b1 - b0) / std::max(detail::monotonic_s() - w0, 1e-3);
#else
  (void)window_s;
  return 0;
#endif
}

/// The time one calibration may spend in wait_for_quiet, all waits together:
/// on a machine that stays busy, waiting longer only makes the calibration
/// longer, and what stays disturbed is flagged anyway.
class QuietWaits {
 public:
  explicit QuietWaits(double limit_s = 0) : limit_s_(limit_s) {}
  /// Waits (at most `max_s`, and what is left of the limit) for quiet.
  bool wait(int threads, double max_s) {
    const double left = std::min(max_s, limit_s_ - waited_s_);
    if (left <= 0) return false;
    return wait_for_quiet(threads, left, waited_s_);
  }
  double waited_s() const noexcept { return waited_s_; }

 private:
  double limit_s_;
  double waited_s_ = 0;
};

}  // namespace cpu
}  // namespace hwcal
