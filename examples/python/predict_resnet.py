"""ResNet-18's latency on a calibrated machine, from Python: trace the model
with torch.fx (hwcal.trace), predict it (hwcal.predict, the function
`hwcal predict` runs), print the slowest layers and the total.

    PYTHONPATH=build/python python3 examples/python/predict_resnet.py --profile profiles/cpu/xeon-kvm-2vcpu-torch-t1.json
    PYTHONPATH=build/python python3 examples/python/predict_resnet.py --auto    # this machine (auto_calibrate, cached)

Run by ctest (example.python.predict_resnet); exits 77 (skipped) without torch.
"""
import argparse
import sys

try:
    import torch
    import torchvision
except ImportError as e:
    print(f"needs python3-torch and python3-torchvision: {e}")
    sys.exit(77)

import hwcal


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--profile", help="profile JSON (hwcal calibrate, or one of profiles/)")
    source.add_argument("--auto", action="store_true", help="this machine's profile: auto_calibrate() (seconds once, then cached)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--fuse", action="store_true", help="fold Conv+BN+ReLU as a fusing framework would")
    ap.add_argument("--mode", default="device", help="GPU profiles: device or eager")
    args = ap.parse_args()

    profile = hwcal.auto_calibrate(gpus=[]).profile if args.auto else hwcal.load_profile(args.profile)
    workload = hwcal.trace(torchvision.models.resnet18(weights=None), torch.randn(args.batch, 3, 224, 224),
                           fuse=args.fuse, name="resnet18")
    for node in workload["unmapped"]:  # (none for ResNet-18)
        print(f"not mapped: {node['name']} ({node['target']}): {node['note']}")

    prediction = hwcal.predict(profile, workload, mode=args.mode)
    machine = profile.device["name"] if profile.device else profile.name
    print(f"{machine} ({profile.backend}, {prediction.threads} thread(s), {prediction.mode} mode)")
    print("slowest layers:")
    for s in sorted(prediction.subgraphs, key=lambda s: -s.in_sequence_s)[:5]:
        print(f"  {s.name:24} {s.op:10} {s.in_sequence_s * 1e6:9.1f} us  {s.bound}-bound")
    lo, hi = prediction.interval_s
    print(f"resnet18: {prediction.total_s * 1e3:.3f} ms predicted (interval {lo * 1e3:.3f} .. {hi * 1e3:.3f} ms), "
          f"batch {args.batch}, {len(prediction.subgraphs)} subgraphs")


if __name__ == "__main__":
    main()
