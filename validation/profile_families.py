#!/usr/bin/env python3
"""Give a torch-backend profile made before samples carried `family` (the
algorithm family, docs/mapper.md "Algorithm families") the families its
samples already name: the torch backend's convolutions record ATen's choice
as `implementation` "at::conv2d -> <backend>" and, since 2026-12-06, the same
<backend> as `family`. Nothing measured changes; the profile's warnings say
what was filled in and by what.

    /usr/bin/python3 validation/profile_families.py IN.json -o OUT.json   # OUT may be IN

Exit 2 with the file named when it is not a profile.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

# "at::conv2d -> oneDNN", "at::conv2d -> slow_conv2d (im2col + gemm) [note]"
CONV = re.compile(r"^at::conv2d -> (.+?)(?: \[.*\])?$")


def fill(profile):
    """Sets `family` on every sample without one whose implementation names a
    conv backend; returns how many were set."""
    n = 0
    for op in profile.get("operations", []):
        for s in op.get("samples", []):
            m = CONV.match(s.get("implementation", ""))
            if m and not s.get("family"):
                s["family"] = m.group(1)
                n += 1
    if n:
        profile.setdefault("warnings", []).append(
            f"family (the algorithm family) of {n} convolution samples filled in from their implementation text by "
            f"validation/profile_families.py: the profile predates the field; no measurement changed")
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile")
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args(argv)
    try:
        with open(a.profile) as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("operations"), list):
            raise ValueError("field 'operations' missing")
    except (OSError, ValueError) as e:
        print(f"profile_families.py: {a.profile}: {e}", file=sys.stderr)
        return 2
    n = fill(doc)
    with open(a.out, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)  # the key order hwcal writes (nlohmann: sorted)
        f.write("\n")
    print(f"{a.out}: family set on {n} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
