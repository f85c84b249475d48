"""What PyTorch reaches on this GPU, same run as hwcal's calibration: the
ceilings hwcal's own measurements are compared against (ANCHORS.md: >= 97%).

Usage: python3 torch_ceilings.py OUT.json
GEMM medians over square sizes 4096 and 8192 (best of the two), conv 3x3
(N=64, C=K=512, 28x28, channels_last), device copy bandwidth, per-kernel
launch overhead eager and inside a CUDA graph. CUDA-event timing, median of
repeated runs after warm-up."""
import json
import sys
import time

import torch


def timed(fn, reps=30, warmup=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    times.sort()
    return times[len(times) // 2]


def gemm(dtype, n, tf32=False):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a = torch.randn(n, n, device="cuda").to(dtype)
    b = torch.randn(n, n, device="cuda").to(dtype)
    t = timed(lambda: a @ b)
    return 2 * n**3 / t / 1e9


def main(out):
    dev = torch.cuda.get_device_properties(0)
    res = {"device": dev.name, "torch": torch.__version__, "cuda": torch.version.cuda,
           "cudnn": torch.backends.cudnn.version(), "gemm_gflops": {}, "notes": []}
    for name, dtype, tf32 in [("bf16", torch.bfloat16, False), ("fp16", torch.float16, False),
                              ("tf32", torch.float32, True), ("fp32", torch.float32, False),
                              ("fp64", torch.float64, False)]:
        res["gemm_gflops"][name] = max(gemm(dtype, n, tf32) for n in (4096, 8192))
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        a = torch.randint(-8, 8, (16384, 16384), device="cuda", dtype=torch.int8)
        b = torch.randint(-8, 8, (16384, 16384), device="cuda", dtype=torch.int8)
        res["gemm_gflops"]["int8"] = 2 * 16384**3 / timed(lambda: torch._int_mm(a, b), reps=10) / 1e9
    except Exception as e:  # noqa: BLE001
        res["notes"].append(f"int8: {e}")
    try:
        n = 8192
        a = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn)
        b = torch.randn(n, n, device="cuda").to(torch.float8_e4m3fn).t()
        one = torch.tensor(1.0, device="cuda")
        res["gemm_gflops"]["fp8"] = 2 * n**3 / timed(lambda: torch._scaled_mm(a, b, one, one, out_dtype=torch.bfloat16)) / 1e9
    except Exception as e:  # noqa: BLE001
        res["notes"].append(f"fp8: {e}")
    conv = {}
    x = torch.randn(64, 512, 28, 28, device="cuda").to(memory_format=torch.channels_last)
    w = torch.randn(512, 512, 3, 3, device="cuda").to(memory_format=torch.channels_last)
    flops = 2 * 64 * 512 * 28 * 28 * 512 * 9
    for name, dtype, tf32 in [("bf16", torch.bfloat16, False), ("tf32", torch.float32, True), ("fp32", torch.float32, False)]:
        torch.backends.cudnn.allow_tf32 = tf32
        xx, ww = x.to(dtype), w.to(dtype)
        conv[name] = flops / timed(lambda: torch.nn.functional.conv2d(xx, ww, padding=1)) / 1e9
    res["conv3x3_gflops"] = conv
    copy = {}
    for mib in (256, 1024, 4096):
        src = torch.empty(mib << 18, device="cuda")  # float32: 4 bytes
        dst = torch.empty_like(src)
        copy[mib] = 2 * src.numel() * 4 / timed(lambda: dst.copy_(src)) / 1e9
    res["copy_gbps_by_mib"] = copy
    tiny = torch.ones(1, device="cuda")
    torch.cuda.synchronize()
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        tiny.add_(1)
    torch.cuda.synchronize()
    res["tiny_kernel_eager_s"] = (time.perf_counter() - t0) / n
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        for _ in range(3):
            tiny.add_(1)
        torch.cuda.synchronize()
        with torch.cuda.graph(g):
            for _ in range(100):
                tiny.add_(1)
    torch.cuda.synchronize()
    res["tiny_kernel_graph_s"] = timed(g.replay, reps=20) / 100
    json.dump(res, open(out, "w"), indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
