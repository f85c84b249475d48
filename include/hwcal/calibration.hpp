#pragma once
// hwcal: measured hardware calibration for DNN latency models.
//
//   #include <hwcal/calibration.hpp>
//
//   hwcal::AutoCalibration cal = hwcal::auto_calibrate();     // cached after the first run
//   hwcal::CalibratedMapper mapper(cal.profile);
//   hwcal::Subgraph conv{{hwcal::OpKind::conv2d, hwcal::Conv2dShape{1, 64, 56, 56, 64, 3, 3, 1, 1, 1, 1}}};
//   hwcal::Estimate e = mapper.estimate(conv);               // e.latency_s, e.bound, e.interval_*
//
// Umbrella header: the schema, profile I/O, the mapper, workload files, the
// CPU kernels and auto_calibrate(). Backends with extra dependencies have
// their own headers and CMake targets: <hwcal/onednn/backend.hpp>
// (hwcal::onednn), <hwcal/torch/backend.hpp> (hwcal::torch),
// <hwcal/cuda/backend.hpp> (hwcal::cuda).

#include <hwcal/auto_calibrate.hpp>
#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/estimate_cache.hpp>
#include <hwcal/mapper.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/profile_io.hpp>
#include <hwcal/schema.hpp>
#include <hwcal/version.hpp>
#include <hwcal/workload.hpp>
