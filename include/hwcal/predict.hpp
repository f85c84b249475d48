#pragma once
// hwcal for code that only predicts: profiles, the mappers, workload files,
// predict_workload() (what `hwcal predict` prints).
//
//   #include <hwcal/predict.hpp>
//
//   hwcal::HardwareCalibration p = hwcal::load_profile("profiles/gpu/nvidia-h200-cuda.json");
//   hwcal::CalibratedMapper mapper(p);                         // device time; MapperOptions{0, Mode::eager} for eager
//   hwcal::Estimate e = mapper.estimate({hwcal::linear(8, 4096, 4096), hwcal::Precision::bf16});
//
// No kernels, no Eigen, no timing harness: a modelling codebase can include
// it in every file. <hwcal/calibration.hpp> adds calibration (the CPU
// kernels and auto_calibrate()).

#include <hwcal/estimate.hpp>
#include <hwcal/estimate_cache.hpp>
#include <hwcal/mapper.hpp>
#include <hwcal/ops.hpp>
#include <hwcal/prediction.hpp>
#include <hwcal/profile_io.hpp>
#include <hwcal/roofline.hpp>
#include <hwcal/schema.hpp>
#include <hwcal/shape_factories.hpp>
#include <hwcal/version.hpp>
#include <hwcal/workload.hpp>
