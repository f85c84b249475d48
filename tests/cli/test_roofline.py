"""`hwcal roofline` (tools/hwcal/cmd_roofline.cpp).

    test_roofline.py static  HWCAL SOURCE_DIR WORK_DIR
        the SVG is well-formed and holds what the profile and workload hold (a
        peak per precision, a diagonal per memory level, a marker per sample, a
        diamond per layer coloured by its bound), bad arguments exit 2, and
        docs/roofline/ holds what the CLI renders for every shipped profile.
    test_roofline.py browser HWCAL SOURCE_DIR WORK_DIR
        the HTML in headless Chromium (/usr/bin/chromium, or $CHROMIUM): the
        screenshot is not blank and has the colours of the markers; the DOM after
        the script ran has the hover boxes and the elements. Exit 77 (skipped)
        without Chromium.
"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


def roofline(hwcal, *args):
    return subprocess.run([hwcal, "roofline", *args], capture_output=True, text=True)


def check(cond, what):
    if not cond:
        print("FAIL:", what)
        sys.exit(1)


def classes(el):
    return set(el.get("class", "").split())


def static(hwcal, src, work):
    gpu = os.path.join(src, "profiles/gpu/nvidia-h200-cuda.json")
    workload = os.path.join(src, "examples/workloads/resnet18_b1.json")
    out = os.path.join(work, "gpu.svg")
    r = roofline(hwcal, gpu, "--workload", workload, "--mode", "eager", "-o", out)
    check(r.returncode == 0, f"roofline exit {r.returncode}: {r.stderr}")
    root = ET.parse(out).getroot()
    with open(gpu, encoding="utf-8") as f:
        profile = json.load(f)
    with open(workload, encoding="utf-8") as f:
        layers = len(json.load(f)["subgraphs"])

    ids = {el.get("id") for el in root.iter() if el.get("id")}
    check({"compute-panel", "memory-panel", "legend", "subtitle"} <= ids, f"panels, legend, subtitle: {ids}")
    groups = [el for el in root.iter(SVG + "g")]
    peaks = [g for g in groups if {"ceiling", "peak"} <= classes(g)]
    named = {n.strip() for g in peaks for n in g.find(SVG + "title").text.split(" peak ")[0].split(",")}
    check(named == {p["precision"] for p in profile["peaks"] if p.get("gflops")}, f"a peak line for each precision: {named}")
    bandwidths = [g for g in groups if {"ceiling", "bandwidth"} <= classes(g)]
    check(len(bandwidths) == 2 * len(profile["memory"]["levels"]), f"a ceiling per level in each panel, got {len(bandwidths)}")
    samples = [c for c in root.iter(SVG + "circle") if "sample" in classes(c)]
    measured = sum(len(o["samples"]) for o in profile["operations"])
    check(0.95 * measured <= len(samples) <= measured, f"a marker per sample: {len(samples)} of {measured}")
    diamonds = [p for p in root.iter(SVG + "path") if "layer" in classes(p) and p.find(SVG + "title") is not None]
    check(len(diamonds) == layers, f"a diamond per layer: {len(diamonds)} of {layers}")
    bounds = {c for d in diamonds for c in classes(d) if c.startswith("bound-")}
    check(bounds and bounds <= {"bound-compute", "bound-memory", "bound-overhead"}, f"layers coloured by bound: {bounds}")
    check(all(d.find(SVG + "title").text for d in diamonds), "every layer has hover text")
    check(root.find(f".//{SVG}polyline[@class='sweep']") is not None, "the bandwidth sweep")

    # --precision narrows; bad input exits 2
    r = roofline(hwcal, gpu, "--precision", "bf16", "-o", os.path.join(work, "bf16.svg"))
    check(r.returncode == 0, r.stderr)
    bf16 = ET.parse(os.path.join(work, "bf16.svg")).getroot()
    check(sum(1 for g in bf16.iter(SVG + "g") if {"ceiling", "peak"} <= classes(g)) == 1, "--precision bf16: one peak")
    for args in (["-o", os.path.join(work, "x.png")], ["--precision", "fp12", "-o", out], ["--mode", "graphz", "-w", workload, "-o", out]):
        r = roofline(hwcal, gpu, *args)
        check(r.returncode == 2, f"{args}: exit {r.returncode}, expected 2")
    r = roofline(hwcal, os.path.join(src, "tests/data/bad_workload.json"), "-o", out)
    check(r.returncode == 2, "a workload given as the profile: exit 2")

    # docs/roofline: one picture per shipped profile, as the CLI renders it now
    shipped = sorted(glob.glob(os.path.join(src, "profiles/cpu/*.json")) + glob.glob(os.path.join(src, "profiles/gpu/*.json")))
    stale = []
    for p in shipped:
        name = os.path.splitext(os.path.basename(p))[0] + ".svg"
        fresh = os.path.join(work, "docs-" + name)
        r = roofline(hwcal, p, "-o", fresh)
        check(r.returncode == 0, r.stderr)
        committed = os.path.join(src, "docs/roofline", name)
        if not os.path.exists(committed) or open(committed, "rb").read() != open(fresh, "rb").read():
            stale.append(name)
    check(not stale, f"docs/roofline is not what the CLI renders ({', '.join(stale)}); regenerate: "
                     "for p in profiles/cpu/*.json profiles/gpu/*.json; do "
                     "build/tools/hwcal/hwcal roofline $p -o docs/roofline/$(basename $p .json).svg; done")
    print(f"ok: {len(samples)} samples, {len(diamonds)} layers, {len(peaks)} peaks; docs/roofline current ({len(shipped)} profiles)")


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB or RGBA PNG, decoded with zlib."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            check(depth == 8 and colour in (2, 6), f"8-bit RGB(A) PNG, got depth {depth} colour type {colour}")
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * channels:x * channels + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def browser(hwcal, src, work):
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("skipped: no chromium (Debian: apt-get install chromium)")
        sys.exit(77)
    html = os.path.join(work, "roofline.html")
    r = roofline(hwcal, os.path.join(src, "profiles/cpu/xeon-kvm-2vcpu-torch-t1.json"),
                 "--workload", os.path.join(src, "examples/workloads/resnet18_b1.json"), "-o", html)
    check(r.returncode == 0, r.stderr)

    def run(*flags):
        with tempfile.TemporaryDirectory() as profile_dir:
            return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                   "--disable-component-update", "--disable-sync", "--no-first-run",
                                   f"--user-data-dir={profile_dir}", *flags, "file://" + html],
                                  capture_output=True, text=True, timeout=180)

    shot = os.path.join(work, "roofline.png")
    if os.path.exists(shot):
        os.remove(shot)
    r = run(f"--screenshot={shot}", "--window-size=1240,1000")
    check(os.path.exists(shot), f"chromium wrote no screenshot (exit {r.returncode}): {r.stderr[-2000:]}")
    width, height, rows = png_pixels(shot)
    pixels = [p for row in rows for p in row]
    inked = sum(1 for p in pixels if min(p) < 235)
    coloured = sum(1 for p in pixels if max(p) - min(p) > 60)  # markers, not the grey axes and text
    print(f"screenshot {width}x{height}: {100 * inked / len(pixels):.1f}% inked, {100 * coloured / len(pixels):.2f}% coloured")
    check(inked > 0.02 * len(pixels), "the screenshot is (nearly) blank")
    check(coloured > 0.002 * len(pixels), "no coloured markers in the screenshot")

    dom = run("--dump-dom").stdout
    for needle in ('id="tooltip"', 'id="compute-panel"', 'id="memory-panel"', 'class="ceiling peak"',
                   'class="ceiling bandwidth"', 'class="sample op-conv2d"', 'class="layer bound-', 'class="legend-item"'):
        check(needle in dom, f"{needle} not in the DOM")
    check("<title>" not in dom.split("<svg", 1)[1], "the script moved every <title> into data-tip")
    tips = dom.count("data-tip=")
    check(tips > 100, f"hover text on the markers: {tips} data-tip attributes")
    print(f"ok: DOM has the tooltip box, the panels and {tips} hover texts")


if __name__ == "__main__":
    what, hwcal, src, work = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    {"static": static, "browser": browser}[what](hwcal, src, work)
