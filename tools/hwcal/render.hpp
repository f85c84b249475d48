#pragma once
// Profile -> readable tables, shared by `hwcal show` and the summary that
// `hwcal calibrate` prints when it finishes.

#include "cli.hpp"

#include <hwcal/schema.hpp>

#include <optional>
#include <string>

namespace hwcal::cli {

struct RenderOptions {
  std::optional<OpKind> op;  ///< only this op
  bool samples = true;       ///< per-size rows (false: one row per curve)
};

void render_header(const HardwareCalibration& h);
void render_peaks(const HardwareCalibration& h);
void render_memory(const HardwareCalibration& h, bool sweep);
void render_operations(const HardwareCalibration& h, const RenderOptions& opt);
void render_fusions(const HardwareCalibration& h);
/// The collectives section: one row per curve (alpha-beta fit, busbw), then
/// every size when opt.samples.
void render_collectives(const HardwareCalibration& h, const RenderOptions& opt);
void render_warnings(const HardwareCalibration& h);

}  // namespace hwcal::cli
