#pragma once
// The contract between the calibrator and a backend. A Backend turns an
// (op, precision) into a prepared Kernel that owns its buffers; the calibrator
// times Kernel::run() with the harness in measure.hpp and calls check() once,
// because a kernel that computes garbage fast is not a measurement.
//
// Backends: cpu/backend.hpp (eigen, openblas), onednn/backend.hpp,
// torch/backend.hpp, cuda/backend.hpp. Each records the library versions it
// ran with; none ever substitutes another library for an op it lacks.

#include <hwcal/collectives.hpp>
#include <hwcal/error.hpp>
#include <hwcal/kinds.hpp>
#include <hwcal/measure.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/schema.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hwcal {

/// Outcome of comparing a kernel's output against the reference.
struct CheckResult {
  bool ok = true;
  double max_error = 0;      ///< largest |got - want| / (atol + rtol |want|), <= 1 passes
  std::int64_t checked = 0;  ///< output elements compared
  std::string detail;        ///< first failure, human readable
};

/// A prepared benchmark: inputs allocated and initialised, ready to run.
class Kernel {
 public:
  virtual ~Kernel() = default;
  /// One execution, synchronous on CPUs. Device kernels only enqueue it
  /// (Backend::sync waits) and must be capturable in a CUDA graph: no
  /// synchronisation, allocation or host transfer (cuda/context.hpp, CudaKernel).
  virtual void run() = 0;
  /// Compares (a sample of) the output of the last run() against the reference.
  virtual CheckResult check() = 0;
  /// Which implementation the library picked, where it says (e.g. oneDNN's
  /// "brg:avx512_core"); empty when unknown.
  virtual std::string implementation() const { return {}; }
  /// The algorithm family, where the library switches family by shape and a
  /// curve must not be interpolated across the switch (OpSample::family); empty
  /// when the library runs one family.
  virtual std::string family() const { return {}; }
  /// Kernels that consume their input (in-place ops) restore it here; the
  /// calibrator then times single runs with prepare() before each, untimed.
  virtual bool needs_prepare() const { return false; }
  virtual void prepare() {}
};

/// A fusion pattern prepared both ways: one fused call and the unfused chain.
struct FusionKernels {
  std::unique_ptr<Kernel> fused;
  std::unique_ptr<Kernel> unfused;
  std::string note;  ///< how "fused" is realised (post-op, folded weights, ...)
};

/// What a framework adds to every call above the library calls a backend
/// times (eager PyTorch: the Python layer and nn.Module dispatch), per op.
struct FrameworkCost {
  std::map<OpKind, double> per_call_s;
  /// What a call adds inside a forward pass, where other layers' calls ran
  /// since its last one (its code and the framework's state displaced from
  /// the caches), over its per-call time called back to back.
  std::map<OpKind, double> sequence_s;
  std::string derivation;
};

/// What a device backend is asked to measure about its target.
struct TargetOptions {
  bool quick = false;  ///< fewer working sets
  bool memory = true;  ///< bandwidth sweep (peaks and overhead always)
  MeasureOptions measure;
};

enum class SupportLevel : std::uint8_t { native, emulated, unsupported };

/// Why no backend runs a collective as a kernel: it involves several GPUs,
/// and a Communicator (collectives.hpp) measures it instead.
inline constexpr std::string_view collective_not_kernel =
    "a collective between GPUs: calibrated with `hwcal calibrate --collectives` into the profile's collectives "
    "section, not as one backend's kernel";

struct Support {
  SupportLevel level = SupportLevel::unsupported;
  std::string note;  ///< why unsupported, or how it is emulated
  bool usable() const noexcept { return level != SupportLevel::unsupported; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  /// Stable name recorded in profiles: "eigen", "openblas", "onednn", "torch", "cuda".
  virtual std::string name() const = 0;
  /// "cpu" or "cuda".
  virtual std::string target() const { return "cpu"; }
  /// Library versions and build facts, merged into the profile's software block.
  virtual nlohmann::json software() const = 0;
  /// Threads the backend's kernels use from now on (CPU backends).
  virtual void set_threads(int n) = 0;
  virtual int threads() const = 0;

  virtual Support supports(const OpDesc& op, Precision p) const = 0;
  /// Throws UnavailableError when supports() says unsupported.
  virtual std::unique_ptr<Kernel> make(const OpDesc& op, Precision p) = 0;

  virtual Support supports_fusion(FusionPattern, Precision) const {
    return {SupportLevel::unsupported, "backend measures no fusion patterns"};
  }
  /// `main` is the pattern's anchor op: linear for linear_*, conv2d for conv_*,
  /// attention for qkt_softmax and attention.
  virtual FusionKernels make_fusion(FusionPattern f, const OpDesc&, Precision) {
    throw UnavailableError(name() + " backend cannot measure fusion pattern " + std::string(to_string(f)));
  }

  /// Device backends: the device they drive (as a profile records it), known
  /// without calibrating; empty for CPU backends.
  virtual std::optional<DeviceInfo> device_info() const { return std::nullopt; }

  /// Waits for queued work (asynchronous devices); no-op on CPU.
  virtual void sync() {}

  /// Times one prepared kernel, warm (repeated back to back). CPU backends use
  /// the wall-clock harness; devices override it with device-side timing.
  virtual Measurement measure_kernel(Kernel& k, const MeasureOptions& opt) {
    return measure([&] { k.run(); }, [&] { sync(); }, opt);
  }
  /// Devices: the same with the caches flushed before every run (the op's
  /// weights from memory, as in a model larger than the cache). Empty where
  /// the backend does not measure it (CPUs: the mapper's footprint rule).
  virtual std::optional<Measurement> measure_kernel_cold(Kernel&, const MeasureOptions&) { return std::nullopt; }
  /// How measure_kernel (and measure_kernel_cold) time, for the profile.
  virtual std::string timing() const {
    return "wall clock per run, median of samples of back-to-back runs (data warm where the previous run left it)";
  }

  /// For non-CPU targets: fills the profile's device block, peaks, memory
  /// calibration and per-call overhead, reporting progress with a label.
  /// Returns false when the backend leaves that to the calibrator (CPU).
  virtual bool calibrate_target(HardwareCalibration& /*profile*/, const TargetOptions& /*opt*/,
                                const std::function<void(const std::string&)>& /*progress*/) {
    return false;
  }
  /// Adds what was observed during the whole run (e.g. clocks, throttling).
  virtual void annotate_profile(HardwareCalibration& /*profile*/) {}

  /// Device backends: the GPUs a communicator can span (0 on CPUs).
  virtual int device_count() const { return 0; }
  /// A communicator over GPUs 0 .. gpus-1 (collectives.hpp). Throws
  /// UnavailableError where the backend has none.
  virtual std::unique_ptr<Communicator> make_communicator(int /*gpus*/) {
    throw UnavailableError(name() +
                           " backend measures no collectives: --collectives needs --backend cuda, built with NCCL");
  }

  /// The framework's own per-call cost, where the backend stands for one
  /// (TorchBackend: PyTorch's Python layer). Empty for plain libraries.
  virtual std::optional<FrameworkCost> framework_cost(const MeasureOptions& /*opt*/) { return std::nullopt; }
};

}  // namespace hwcal
