// hwcal/cuda/framework.hpp: PyTorch's eager host cost per op on a GPU, measured
// by a Python subprocess. The header makes no CUDA calls from C++, so it is
// tested here on every machine: HWCAL_HAS_CUDA is defined for this translation
// unit only (it links no CUDA library). The script's CPU mode (device "cpu")
// runs the same code path on PyTorch's CPU dispatch where a Python with torch
// exists; otherwise the "not measured" path is what is checked.
#define HWCAL_HAS_CUDA 1

#include "catch.hpp"

#include <hwcal/cuda/framework.hpp>
#include <hwcal/detail/sweeps.hpp>
#include <hwcal/reference.hpp>

#include <set>
#include <string>
#include <vector>

using namespace hwcal;

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

/// Tiny ops plus what tiny_ops() leaves out: attention (dense, GQA, causal),
/// broadcast and in-place elementwise ops.
std::vector<OpDesc> probe_ops() {
  std::vector<OpDesc> ops = hwcal::detail::tiny_ops();
  ops.push_back({OpKind::attention, AttentionShape{1, 4, 8, 8, 16, true, 2}});
  ops.push_back({OpKind::add, ElementwiseShape{64, 2, 16, false}});
  ops.push_back({OpKind::mul, ElementwiseShape{64, 2, 0, true}});
  ops.push_back({OpKind::relu, ElementwiseShape{64, 1, 0, true}});
  return ops;
}

}  // namespace

TEST_CASE("cuda framework probe: the spec carries what the script cannot derive", "[cuda_framework]") {
  for (const OpDesc& op : hwcal::detail::tiny_ops()) {
    const nlohmann::json o = cuda::detail::framework_op_json(op);
    CHECK(o.at("op") == std::string(to_string(op.kind)));
    if (std::holds_alternative<BytesShape>(op.shape)) {
      const reference::MoveGeometry g = reference::move_geometry(op, 4);
      CHECK(o.at("rows") == g.rows);
      CHECK(o.at("cols") == g.cols);
      if (op.kind == OpKind::concat) CHECK(o.at("parts") == g.parts);
      if (op.kind == OpKind::permute) CHECK(o.at("run") == g.run);
    }
    if (op.kind == OpKind::clamp) {
      CHECK(o.at("clamp_lo") == reference::clamp_lo);
      CHECK(o.at("clamp_hi") == reference::clamp_hi);
    }
  }
  // every op kind of the table is in tiny_ops() except attention (covered by probe_ops)
  std::set<OpKind> kinds;
  for (const OpDesc& op : probe_ops()) kinds.insert(op.kind);
  int kernel_kinds = 0;  // the collectives are no kernel (collectives.hpp)
  for (const OpInfo& o : op_table) kernel_kinds += is_collective(o.kind) ? 0 : 1;
  CHECK(static_cast<int>(kinds.size()) == kernel_kinds);
}

TEST_CASE("cuda framework probe: helpers", "[cuda_framework]") {
  CHECK(cuda::detail::shell_quote("a b") == "'a b'");
  CHECK(cuda::detail::shell_quote("it's") == "'it'\\''s'");
  CHECK(cuda::detail::last_line("x\nTraceback\nImportError: no torch\n\n") == "ImportError: no torch");
  CHECK(cuda::detail::last_line("") == "");
  CHECK(cuda::detail::parse_result("noise\nHWCAL_FRAMEWORK_RESULT {\"seconds\": [1e-6]}\n").at("seconds")[0] == 1e-6);
  CHECK(cuda::detail::parse_result("HWCAL_FRAMEWORK_RESULT {broken").is_null());
  CHECK(cuda::detail::parse_result("nothing here").is_null());
  const cuda::detail::FrameworkProbe quick = cuda::detail::framework_probe(3, MeasureOptions::quick());
  CHECK(quick.device == "cuda:3");
  CHECK(quick.calls >= 50);
  CHECK(quick.calls < cuda::detail::framework_probe(3, MeasureOptions{}).calls);
  const std::vector<std::string> c = cuda::detail::python_candidates();
  REQUIRE(c.size() >= 2);
  CHECK(c[c.size() - 2] == "python3");
  CHECK(c.back() == "/usr/bin/python3");
}

TEST_CASE("cuda framework probe: no usable Python means not measured, never guessed", "[cuda_framework]") {
  cuda::detail::FrameworkProbe p;
  p.device = "cpu";
  p.pythons = {"/nonexistent/python3", "/bin/false"};
  const FrameworkCost fc = cuda::detail::run_framework_probe(p, hwcal::detail::tiny_ops());
  CHECK(fc.per_call_s.empty());
  INFO(fc.derivation);
  CHECK(starts_with(fc.derivation, "not measured: "));
  CHECK(fc.derivation.find("/nonexistent/python3") != std::string::npos);
  CHECK(fc.derivation.find("/bin/false") != std::string::npos);
}

TEST_CASE("cuda framework probe: the script measures every op in CPU mode", "[cuda_framework]") {
  cuda::detail::FrameworkProbe p;
  p.device = "cpu";
  p.calls = 20;
  p.repeats = 3;
  p.warmup = 3;
  const std::vector<OpDesc> ops = probe_ops();
  const FrameworkCost fc = cuda::detail::run_framework_probe(p, ops);
  INFO(fc.derivation);
  if (starts_with(fc.derivation, "not measured: ")) {
    WARN("no Python with torch here: only the not-measured path was checked (" << fc.derivation << ")");
    CHECK(fc.per_call_s.empty());
    return;
  }
  CHECK(fc.derivation.find("torch ") != std::string::npos);
  CHECK(fc.derivation.find("Python ") != std::string::npos);
  CHECK(fc.derivation.find("not measured") == std::string::npos);  // every op ran
  for (const OpDesc& op : ops) {
    INFO(to_string(op.kind));
    REQUIRE(fc.per_call_s.count(op.kind) == 1);
    CHECK(fc.per_call_s.at(op.kind) > 0);
    CHECK(fc.per_call_s.at(op.kind) < 0.1);
  }
}

TEST_CASE("cuda framework cost: a CUDA torch or a reason", "[cuda_framework]") {
  // On a machine without a GPU every candidate is passed over with its reason;
  // on a GPU machine with PyTorch the tiny ops are measured.
  const FrameworkCost fc = cuda::measure_framework_cost(0, MeasureOptions::quick());
  INFO(fc.derivation);
  REQUIRE_FALSE(fc.derivation.empty());
  if (starts_with(fc.derivation, "not measured: ")) {
    CHECK(fc.per_call_s.empty());
    CHECK(fc.derivation.find("cuda:0") != std::string::npos);
  } else {
    CHECK(fc.derivation.find("CUDA ") != std::string::npos);
    CHECK(fc.per_call_s.count(OpKind::conv2d) == 1);
    for (const auto& [k, v] : fc.per_call_s) CHECK(v > 0);
  }
}
