#!/usr/bin/env python3
"""Exploration (not calibration): a depthwise 3x3 convolution's time on the CPU
at one thread (PyTorch eager, NCHW, batch 1) against its channel count, at the
channel counts of ShuffleNetV2 (58, 116, 232: 2, 4 and 8 times an odd number)
beside the multiples of 16 the sweep has, and the stem 3 -> K at 224 x 224.
Median of 5 rounds of 200 calls each (50 for the stems). With --grouped:
RegNetY-400MF's grouped 3x3 convolutions (8 channels a group, 48-440
channels) beside the same at multiples of 16 channels, and 8 against 16
channels a group (100 calls a round).

    /usr/bin/python3 validation/explore_depthwise_cpu.py [--grouped]
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from explore_permute_cpu import time_us as permute_time_us  # noqa: E402


def time_us(fn, calls=200):
    return permute_time_us(fn, calls=calls, rounds=5, warmup=20)


def grouped():
    for c, side, width in ((48, 56, 8), (96, 28, 8), (104, 28, 8), (112, 28, 8), (128, 28, 8), (128, 28, 16),
                           (192, 14, 8), (208, 14, 8), (224, 14, 8), (432, 7, 8), (440, 7, 8), (448, 7, 8)):
        x = torch.randn(1, c, side, side)
        m = torch.nn.Conv2d(c, c, 3, 1, 1, groups=c // width, bias=False).eval()
        t = time_us(lambda: m(x), calls=100)
        macs = c * side * side * width * 9
        print(f"grouped 3x3 at {side}x{side}, {c:4d} channels, {width:2d} a group: {t:7.1f} us, "
              f"{t * 1e6 / macs:6.2f} ps a multiply-add")


def main():
    torch.set_num_threads(1)
    with torch.no_grad():
        if "--grouped" in sys.argv[1:]:
            return grouped()
        for side, stride in ((28, 1), (56, 2), (14, 1)):
            for c in (48, 56, 58, 60, 64, 104, 112, 116, 120, 128, 232, 240, 256):
                x = torch.randn(1, c, side, side)
                m = torch.nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False).eval()
                t = time_us(lambda: m(x))
                print(f"depthwise 3x3/{stride} at {side}x{side}, {c:4d} channels: {t:7.1f} us, "
                      f"{t * 1e3 / c:6.1f} ns a channel")
        for k in (16, 24, 32, 48):
            x = torch.randn(1, 3, 224, 224)
            m = torch.nn.Conv2d(3, k, 3, 2, 1, bias=False).eval()
            print(f"stem 3 -> {k} 3x3/2 at 224x224: {time_us(lambda: m(x), calls=50):.1f} us")


if __name__ == "__main__":
    main()
