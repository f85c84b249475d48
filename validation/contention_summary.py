#!/usr/bin/python3
"""Issue 12's contention check: a calibration taken beside a CPU-bound process
must either match an idle one within 5% per curve (geomean time ratio, as
`hwcal compare` computes it) or say, in the profile, which curves it could not
measure cleanly (samples with a `disturbed` reason).

    hwcal compare IDLE.json BUSY.json --json > compare.json
    python3 validation/contention_summary.py IDLE.json BUSY.json compare.json

Prints the curves within 5%, the ones outside it that the busy profile flags,
and the ones outside it that it does not (the failures), and exits 1 when there
are any of those.
"""
import json
import math
import statistics
import sys


def curve_name(c):
    parts = [c["op"], c.get("variant") or "", c["precision"], "t%d" % c["threads"]]
    return " ".join(p for p in parts if p)


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    idle_path, busy_path, compare_path = argv[1:]
    with open(busy_path, encoding="utf-8") as f:
        busy = json.load(f)
    with open(compare_path, encoding="utf-8") as f:
        compare = json.load(f)
    flagged = {curve_name(c): sum(1 for s in c["samples"] if s.get("disturbed")) for c in busy["operations"]}
    within, caught, missed = [], [], []
    for c in compare["curves"]:
        g = c["time_ratio_geomean"]
        if abs(math.log(g)) <= math.log(1.05):
            within.append(c["curve"])
        elif flagged.get(c["curve"], 0) > 0:
            caught.append((c["curve"], g, flagged[c["curve"]]))
        else:
            missed.append((c["curve"], g))
    ratios = [c["time_ratio_geomean"] for c in compare["curves"]]
    print(f"idle: {idle_path}\nbusy: {busy_path}")
    print(f"{len(ratios)} curves; median time ratio busy/idle {statistics.median(ratios):.3f}")
    print(f"  within 5% of the idle profile: {len(within)}")
    print(f"  outside, and flagged in the busy profile: {len(caught)}")
    print(f"  outside, not flagged: {len(missed)}")
    for name, g in missed:
        print(f"    {name}: {g:.3f}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
