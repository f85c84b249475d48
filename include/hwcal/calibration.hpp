#pragma once
// hwcal: measured hardware calibration for DNN latency models.
//
//   #include <hwcal/calibration.hpp>
//
//   hwcal::AutoCalibration cal = hwcal::auto_calibrate();     // cached after the first run
//   hwcal::CalibratedMapper mapper(cal.profile);
//   hwcal::Estimate e = mapper.estimate({hwcal::conv2d(1, 64, 56, 56, 64, 3).padding(1), hwcal::Precision::fp32});
//
// Umbrella header: everything of <hwcal/predict.hpp> (schema, profile I/O,
// the mappers, workload files), plus calibration: the calibrator, the CPU
// backends and auto_calibrate(). The CPU kernels are templates instantiated
// only where a calibration is asked for, so including this header costs
// little more than <hwcal/predict.hpp> in a file that only predicts. Backends
// with extra dependencies have their own headers and CMake targets:
// <hwcal/onednn/backend.hpp> (hwcal::onednn), <hwcal/torch/backend.hpp>
// (hwcal::torch), <hwcal/cuda/backend.hpp> (hwcal::cuda).

#include <hwcal/auto_calibrate.hpp>
#include <hwcal/calibrator.hpp>
#include <hwcal/cpu/backend.hpp>
#include <hwcal/predict.hpp>
