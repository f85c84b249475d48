// cuBLASLt GEMMs beyond the small shapes of test_ops: int8, fp8, large and
// batched problems (runs on a GPU machine; skipped without one).
#include "gpu_support.hpp"

using namespace hwcal;
using hwcal_test::check_op;

TEST_CASE("int8 GEMMs (int32 out, TN)") {
  check_op({OpKind::matmul, MatmulShape{2, 64, 128, 96, false}}, Precision::int8);
  check_op({OpKind::linear, MatmulShape{1, 100, 256, 512, false}}, Precision::int8);
  check_op({OpKind::matmul, MatmulShape{1, 2048, 2048, 2048, false}}, Precision::int8);
  const OpDesc with_bias{OpKind::linear, MatmulShape{1, 64, 64, 64, true}};
  CHECK_FALSE(hwcal_test::backend().supports(with_bias, Precision::int8).usable());
  const OpDesc odd{OpKind::matmul, MatmulShape{1, 64, 66, 62, false}};
  CHECK_FALSE(hwcal_test::backend().supports(odd, Precision::int8).usable());
}

TEST_CASE("fp8 e4m3 GEMMs (bf16 out, TN, unit scales)") {
  const DeviceInfo& d = hwcal_test::backend().device();
  const OpDesc linear{OpKind::linear, MatmulShape{1, 64, 128, 256, true}};
  if (d.cc_major * 10 + d.cc_minor < 89) {
    CHECK_FALSE(hwcal_test::backend().supports(linear, Precision::fp8).usable());
    return;
  }
  check_op(linear, Precision::fp8);
  check_op({OpKind::matmul, MatmulShape{2, 128, 64, 64, false}}, Precision::fp8);
  check_op({OpKind::matmul, MatmulShape{1, 4096, 4096, 4096, false}}, Precision::fp8);
}

TEST_CASE("large and batched GEMMs at every float precision") {
  for (Precision p : {Precision::fp64, Precision::fp32, Precision::tf32, Precision::fp16, Precision::bf16}) {
    check_op({OpKind::matmul, MatmulShape{1, 4096, 4096, 4096, false}}, p);
    check_op({OpKind::matmul, MatmulShape{16, 256, 512, 64, false}}, p);
    check_op({OpKind::linear, MatmulShape{1, 8192, 1024, 4096, true}}, p);
  }
}
