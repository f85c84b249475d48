#!/usr/bin/env python3
"""Validates hwcal documents against profiles/hwcal-profile.schema.json and
profiles/hwcal-workload.schema.json, and checks that the schemas and the C++
reader agree.

  check_schemas.py --hwcal PATH/TO/hwcal --source-dir REPO --work-dir DIR

1. Both schemas are valid JSON Schema (draft 2020-12), their vocabularies
   (precisions, ops, variants, fusion patterns, shape fields) match the C++
   headers, and the two schemas spell the shape fields the same way.
2. A profile made now by `hwcal calibrate --quick --ops relu,add,conv2d
   --threads 1` validates; broken copies of it (a wrong type, a missing
   field, a variant that does not match its shapes, ...) do not, and
   `hwcal show` rejects them too (exit 2). Synthetic device and fusion blocks
   are checked the same way.
3. Every profile under profiles/cpu and profiles/gpu validates.
4. Every workload under examples/workloads and tests/data validates and
   `hwcal predict` accepts it, except tests/data/bad_workload.json, which must
   fail both.

Needs Python 3 with jsonschema >= 4.0 (Debian: python3-jsonschema). Exit 0
passed, 1 failed, 77 skipped (no jsonschema).
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:  # the CMake guard normally keeps us from getting here
    print("SKIP: python3-jsonschema (>= 4.0) is not installed")
    sys.exit(77)

EXPECTED_INVALID_WORKLOADS = {"tests/data/bad_workload.json"}

failures = []


def ok(msg):
    print("ok:   " + msg)


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def describe(err):
    where = "/" + "/".join(str(p) for p in err.absolute_path)
    return "%s: %s" % (where, err.message if len(err.message) < 300 else err.message[:300] + "...")


def first_error(validator, doc):
    errs = list(validator.iter_errors(doc))
    if not errs:
        return None
    return jsonschema.exceptions.best_match(errs)


# ------------------------------------------------------------ JSON pointers
def split_pointer(ptr):
    return [t.replace("~1", "/").replace("~0", "~") for t in ptr.split("/")[1:]]


def resolve_parent(doc, ptr):
    tokens = split_pointer(ptr)
    node = doc
    for t in tokens[:-1]:
        node = node[int(t)] if isinstance(node, list) else node[t]
    last = tokens[-1]
    return node, (int(last) if isinstance(node, list) else last)


def set_at(doc, ptr, value):
    parent, key = resolve_parent(doc, ptr)
    parent[key] = value


def remove_at(doc, ptr):
    parent, key = resolve_parent(doc, ptr)
    del parent[key]


def get_at(doc, ptr):
    parent, key = resolve_parent(doc, ptr)
    return parent[key]


# ------------------------------------------------------------ C++ vocabulary
def read(path):
    return Path(path).read_text(encoding="utf-8")


def names_array(text, what, pattern):
    m = re.search(pattern, text, re.S)
    if not m:
        raise LookupError(what)
    return re.findall(r'"([^"]*)"', m.group(1))


def cxx_vocabulary(src):
    kinds = read(src / "include/hwcal/kinds.hpp")
    ops_h = read(src / "include/hwcal/ops.hpp")
    workload_h = read(src / "include/hwcal/workload.hpp")
    voc = {}
    m = re.search(r"constexpr std::string_view to_string\(Precision p\).*?\n}", kinds, re.S)
    if not m:
        raise LookupError("to_string(Precision) in kinds.hpp")
    voc["precision"] = re.findall(r'return "([^"?]+)";', m.group(0))
    voc["op"] = names_array(kinds, "OpKind names in kinds.hpp",
                            r"to_string\(OpKind k\).*?names\{(.*?)\};")
    voc["fusion_pattern"] = names_array(kinds, "FusionPattern names in kinds.hpp",
                                        r"to_string\(FusionPattern f\).*?names\{(.*?)\};")
    voc["variant"] = names_array(ops_h, "Variant names in ops.hpp", r"to_string\(Variant v\).*?names\{(.*?)\};")
    m = re.search(r"constexpr bool is_compute_op\(OpKind k\).*?\n}", kinds, re.S)
    if not m:
        raise LookupError("is_compute_op in kinds.hpp")
    voc["compute_ops"] = re.findall(r"OpKind::(\w+)", m.group(0))
    voc["shape_fields"] = {}
    for name, fields in re.findall(r"static const std::set<std::string> (\w+)\{([^}]*)\};", workload_h):
        voc["shape_fields"][name] = set(re.findall(r'"([^"]+)"', fields))
    if not voc["shape_fields"]:
        raise LookupError("shape_fields() sets in workload.hpp")
    return voc


# C++ shape_fields() set -> schema shape definitions using it
CXX_SET_TO_DEFS = {
    "matmul": ["shape_matmul", "shape_linear"], "conv": ["shape_conv2d"], "pool": ["shape_pool"],
    "adaptive": ["shape_adaptive_avgpool"], "map": ["shape_batchnorm"], "rows": ["shape_rows"],
    "elementwise": ["shape_elementwise_binary", "shape_elementwise_unary"], "attention": ["shape_attention"],
    "moves": ["shape_bytes"],
}


def check_vocabulary(src, profile_schema, workload_schema):
    try:
        voc = cxx_vocabulary(src)
    except LookupError as e:
        fail("could not read %s; update tests/schema/check_schemas.py to the header's new form" % e)
        return
    pdefs, wdefs = profile_schema["$defs"], workload_schema["$defs"]
    pairs = [
        ("precision", pdefs["precision"]["enum"], voc["precision"]),
        ("precision (workload schema)", wdefs["precision"]["enum"], voc["precision"]),
        ("op", pdefs["op"]["enum"], voc["op"]),
        ("op (workload schema)", wdefs["op"]["enum"], voc["op"]),
        ("fusion pattern", pdefs["fusion_pattern"]["enum"], voc["fusion_pattern"]),
        ("variant", pdefs["operation"]["properties"]["variant"]["enum"], voc["variant"]),
    ]
    for what, schema_values, cxx_values in pairs:
        if list(schema_values) == list(cxx_values):
            ok("%s names match the C++ (%d)" % (what, len(cxx_values)))
        else:
            fail("%s names differ: schema %s, C++ %s" % (what, schema_values, cxx_values))
    # size_axis rule: the compute ops of the schema are is_compute_op()'s.
    size_rule = [r for r in pdefs["operation"]["allOf"]
                 if r.get("then", {}).get("properties", {}).get("size_axis", {}).get("const") == "flops"]
    schema_compute = size_rule[0]["if"]["properties"]["op"]["enum"] if size_rule else None
    if schema_compute == voc["compute_ops"]:
        ok("compute ops match is_compute_op(): %s" % ", ".join(schema_compute))
    else:
        fail("compute ops differ: schema %s, C++ %s" % (schema_compute, voc["compute_ops"]))
    # shape fields: C++ shape_fields() sets vs the schema's shape definitions, both schemas.
    for cxx_name, defs in CXX_SET_TO_DEFS.items():
        cxx_fields = voc["shape_fields"].get(cxx_name)
        if cxx_fields is None:
            fail("workload.hpp has no shape_fields set '%s'" % cxx_name)
            continue
        for d in defs:
            for label, sdefs in (("profile", pdefs), ("workload", wdefs)):
                got = set(sdefs[d]["properties"])
                if d == "shape_linear":
                    got |= {"batch"}
                if got != cxx_fields:
                    fail("%s schema %s fields %s != C++ %s" % (label, d, sorted(got), sorted(cxx_fields)))
    ok("shape fields of both schemas match workload.hpp shape_fields()")
    for name in pdefs:
        if name.startswith("shape_"):
            p, w = pdefs[name], wdefs.get(name)
            if w is None or p["properties"] != w["properties"] or p["required"] != w["required"]:
                fail("shape definition %s differs between the profile and the workload schema" % name)
    ok("the two schemas define the same shape fields")


# ------------------------------------------------------------ hwcal CLI
def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def cxx_accepts_profile(hwcal, path):
    r = run([hwcal, "show", path])
    return r.returncode, r.stdout.strip().splitlines()[-1:] if r.stdout.strip() else []


def cxx_accepts_workload(hwcal, profile, path):
    r = run([hwcal, "predict", "--profile", profile, "--workload", path, "--json"])
    return r.returncode, r.stdout.strip().splitlines()[-1:] if r.stdout.strip() else []


# ------------------------------------------------------------ profile checks
def find_curve(profile, op, variant=None):
    for i, c in enumerate(profile.get("operations", [])):
        if c["op"] == op and (variant is None or c.get("variant") == variant) and c["samples"]:
            return i
    raise LookupError("the fresh profile has no %s%s curve" % (op, " " + variant if variant else ""))


def profile_mutations(p):
    """(name, mutate(doc), cxx_rejects): broken copies of the fresh profile.
    cxx_rejects False marks where the schema is deliberately stricter than
    parse_profile (docs/schema.md lists them); hwcal is not run on those."""
    conv = "/operations/%d" % find_curve(p, "conv2d", "dense")
    relu = "/operations/%d" % find_curve(p, "relu")
    add = "/operations/%d" % find_curve(p, "add", "binary")
    conv_s = conv + "/samples/0"
    # a dense conv sample with c and k even, made grouped by setting groups = 2
    dense = get_at(p, conv)
    even = next((i for i, s in enumerate(dense["samples"]) if s["shape"]["c"] % 2 == 0 and s["shape"]["k"] % 2 == 0),
                None)

    def setter(ptr, value):
        return lambda d: set_at(d, ptr, value)

    def remover(ptr):
        return lambda d: remove_at(d, ptr)

    m = [
        ("threads is a string", setter("/threads", "one"), True),
        ("schema_version 2", setter("/schema_version", 2), True),
        ("target 'tpu'", setter("/target", "tpu"), True),
        ("host.cpu_model missing", remover("/host/cpu_model"), True),
        ("host.logical_cpus 0", setter("/host/logical_cpus", 0), True),
        ("peaks[0].gflops 0 (null is the spelling of unknown)", setter("/peaks/0/gflops", 0), True),
        ("peaks[0].gflops a string", setter("/peaks/0/gflops", "100"), True),
        ("peaks[0].precision 'fp33'", setter("/peaks/0/precision", "fp33"), True),
        ("memory is an array", setter("/memory", []), True),
        ("overhead.per_call_s negative", setter("/overhead/per_call_s", -1e-6), True),
        ("software value not a string", setter("/software/hwcal", 1), True),
        ("device is a string", setter("/device", "gpu"), True),
        ("operation op 'convolution'", setter(conv + "/op", "convolution"), True),
        ("operation precision missing", remover(conv + "/precision"), True),
        ("operation threads 0", setter(conv + "/threads", 0), True),
        ("conv sample shape lacks r", remover(conv_s + "/shape/r"), True),
        ("conv sample stride is a string", setter(conv_s + "/shape/stride", "2"), True),
        ("conv sample stride a 3-list", setter(conv_s + "/shape/stride", [1, 1, 1]), True),
        ("conv sample shape is an elementwise shape", setter(conv_s + "/shape", {"elements": 64}), True),
        ("conv sample flops is a string", setter(conv_s + "/flops", "1e9"), True),
        ("add sample bytes negative", setter(add + "/samples/0/bytes", -1), True),
        ("sample time.median_s 0", setter(conv_s + "/time/median_s", 0), True),
        ("sample time.p90_s missing", remover(conv_s + "/time/p90_s"), True),
        ("sample time.samples 2.5", setter(conv_s + "/time/samples", 2.5), True),
        ("sample efficiency negative", setter(conv_s + "/efficiency", -0.5), True),
        ("relu curve labelled binary (shapes are unary)", setter(relu + "/variant", "binary"), True),
        ("conv curve variant 'unary'", setter(conv + "/variant", "unary"), True),
        ("add sample made unary under a binary curve", setter(add + "/samples/0/shape/inputs", 1), True),
        ("warnings entry not a string", setter("/warnings", [3]), True),
        # stricter than parse_profile on purpose
        ("unknown top-level field", setter("/calibrated_by", "me"), False),
        ("unknown sample field", setter(conv_s + "/gflop", 1.0), False),
        ("optional field null", setter("/name", None), False),
        ("size_axis disagrees with op", setter(conv + "/size_axis", "bytes"), False),
    ]
    if even is not None:
        m.append(("dense conv sample with groups 2", setter(conv + "/samples/%d/shape/groups" % even, 2), True))
    return m


def synthetic_blocks(p):
    """A GPU-like device block and a conv_relu fusion, built from the fresh profile."""
    conv = p["operations"][find_curve(p, "conv2d", "dense")]["samples"][0]
    device = {"name": "Test GPU", "uuid": "GPU-0", "index": 0, "sm_count": 132, "compute_capability": "9.0",
              "memory_bytes": 80 << 30, "l2_bytes": 50 << 20, "max_sm_clock_mhz": 1980.0,
              "max_mem_clock_mhz": 2619.0, "measured_sm_clock_mhz": 1755.0, "measured_mem_clock_mhz": 2619.0,
              "memory_bus_bits": 5120, "driver": "550.54", "throttled": False}
    fusion = {"pattern": "conv_relu", "precision": "fp32", "backend": p["backend"], "threads": 1,
              "note": "synthetic",
              "samples": [{"shape": conv["shape"], "flops": conv["flops"], "fused_bytes": conv["bytes"],
                           "unfused_bytes": 2 * conv["bytes"], "fused_time": conv["time"],
                           "unfused_time": conv["time"], "speedup": 1.0, "memory_reduction": 0.5}]}
    return device, fusion


def check_profile_mutations(hwcal, validator, fresh, work):
    device, fusion = synthetic_blocks(fresh)
    positives = [("with a device block", lambda d: d.__setitem__("device", device)),
                 ("with a conv_relu fusion", lambda d: d.__setitem__("fusions", [fusion]))]
    for name, mutate in positives:
        doc = copy.deepcopy(fresh)
        mutate(doc)
        path = str(work / "positive.json")
        Path(path).write_text(json.dumps(doc, indent=1))
        err = first_error(validator, doc)
        rc, _ = cxx_accepts_profile(hwcal, path)
        if err is None and rc == 0:
            ok("fresh profile %s: schema and hwcal show accept it" % name)
        else:
            fail("fresh profile %s: schema %s, hwcal show exit %d" % (name, describe(err) if err else "accepts", rc))

    negatives = profile_mutations(fresh)
    negatives += [
        ("device.compute_capability 'nine'", lambda d: (d.__setitem__("device", copy.deepcopy(device)),
                                                        set_at(d, "/device/compute_capability", "nine")), True),
        ("device.sm_count missing", lambda d: (d.__setitem__("device", copy.deepcopy(device)),
                                               remove_at(d, "/device/sm_count")), True),
        ("fusion pattern 'conv_gelu'", lambda d: (d.__setitem__("fusions", [copy.deepcopy(fusion)]),
                                                  set_at(d, "/fusions/0/pattern", "conv_gelu")), True),
        ("linear_bias fusion with a conv shape", lambda d: (d.__setitem__("fusions", [copy.deepcopy(fusion)]),
                                                            set_at(d, "/fusions/0/pattern", "linear_bias")), True),
        ("fusion sample without unfused_time", lambda d: (d.__setitem__("fusions", [copy.deepcopy(fusion)]),
                                                          remove_at(d, "/fusions/0/samples/0/unfused_time")), True),
    ]
    for name, mutate, cxx_rejects in negatives:
        doc = copy.deepcopy(fresh)
        mutate(doc)
        err = first_error(validator, doc)
        if err is None:
            fail("broken profile accepted by the schema: %s" % name)
            continue
        if not cxx_rejects:
            ok("schema rejects (stricter than parse_profile): %s -> %s" % (name, describe(err)))
            continue
        path = str(work / "mutated.json")
        Path(path).write_text(json.dumps(doc, indent=1))
        rc, last = cxx_accepts_profile(hwcal, path)
        if rc == 2:
            ok("schema and hwcal show reject: %s -> %s" % (name, describe(err)))
        else:
            fail("schema rejects but hwcal show exits %d (expected 2): %s -> %s %s" % (rc, name, describe(err), last))


# ------------------------------------------------------------ workload checks
# Every op with only its required shape fields (the C++ fills in the rest).
MINIMAL_SUBGRAPHS = {
    "matmul": {"m": 64, "n": 64, "k": 64},
    "linear": {"m": 8, "n": 256, "k": 128},
    "conv2d": {"n": 1, "c": 8, "h": 16, "w": 16, "k": 8, "r": 3, "s": 3},
    "attention": {"seq_q": 32, "head_dim": 16},
    "maxpool": {"n": 1, "c": 8, "h": 16, "w": 16, "r": 2},
    "avgpool": {"n": 1, "c": 8, "h": 16, "w": 16, "r": 2},
    "adaptive_avgpool": {"n": 1, "c": 8, "h": 7, "w": 7},
    "batchnorm": {"n": 1, "c": 8},
    "layernorm": {"rows": 16, "cols": 64},
    "softmax": {"rows": 16, "cols": 64},
    "reduce_mean": {"rows": 16, "cols": 64},
    "add": {"elements": 1024}, "mul": {"elements": 1024}, "div": {"elements": 1024},
    "relu": {"elements": 1024}, "gelu": {"elements": 1024}, "silu": {"elements": 1024},
    "sigmoid": {"elements": 1024}, "hardswish": {"elements": 1024}, "hardsigmoid": {"elements": 1024},
    "tanh": {"elements": 1024},
    "copy": {"bytes": 4096}, "transpose": {"bytes": 4096}, "concat": {"bytes": 4096},
}


def workload(subgraphs, **top):
    doc = {"hwcal_workload": 1, "name": "synthetic"}
    doc.update(top)
    doc["subgraphs"] = subgraphs
    return doc


def sub(op, name=None, **fields):
    s = {"name": name or op, "op": op}
    s.update(MINIMAL_SUBGRAPHS[op])
    s.update(fields)
    return s


def check_workload_cases(hwcal, validator, profile_path, work, ops):
    """Synthetic workloads: what the schema accepts hwcal predict accepts, and
    what it rejects hwcal predict rejects (exit 2), field by field."""
    every_op = workload([sub(op) for op in ops])
    full = workload([
        sub("matmul", batch=4, bias=True),
        sub("linear", bias=False, precision="bf16", fused=["gelu"]),
        sub("conv2d", stride=[2, 1], padding=1, dilation=[1, 2], groups=2, bias=False, fused=["batchnorm", "relu"]),
        sub("conv2d", "depthwise", c=8, k=8, groups=8, padding=[1, 1]),
        sub("attention", batch=2, heads=4, seq_kv=64, causal=True),
        sub("maxpool", s=3, r=3, stride=2, padding=1),
        sub("avgpool", stride=[1, 2], padding=0),
        sub("adaptive_avgpool", out_h=2, out_w=3),
        sub("batchnorm", h=4, w=4, fused=["relu"]),
        sub("add", inputs=2, broadcast=8),
        sub("relu", inputs=1, broadcast=0),
        sub("matmul", "qk", m=128, n=128, k=32, fused=["softmax"]),
        sub("relu", "annotated", note="extra fields are allowed (hwcal warns)"),
    ], precision="fp32", source="annotations at the top level are ignored")
    positives = [("every op with only its required fields", every_op), ("optional fields and fusions", full)]
    negatives = []
    for op in ops:
        for field in MINIMAL_SUBGRAPHS[op]:
            s = sub(op)
            del s[field]
            negatives.append(("%s without required field %s" % (op, field), workload([s]), True))
    negatives += [
        ("hwcal_workload 2", dict(every_op, hwcal_workload=2), True),
        ("no hwcal_workload", {"subgraphs": []}, True),
        ("no subgraphs", {"hwcal_workload": 1}, True),
        ("workload precision 'fp33'", workload([sub("relu")], precision="fp33"), True),
        ("subgraph without a name", workload([{"op": "relu", "elements": 4}]), True),
        ("op 'convolution'", workload([{"name": "c", "op": "convolution", "n": 1}]), True),
        ("subgraph precision 'half'", workload([sub("relu", precision="half")]), True),
        ("conv stride a string", workload([sub("conv2d", stride="2")]), True),
        ("conv padding negative", workload([sub("conv2d", padding=-1)]), True),
        ("conv dilation a 3-list", workload([sub("conv2d", dilation=[1, 1, 1])]), True),
        ("conv groups 0", workload([sub("conv2d", groups=0)]), True),
        ("conv bias a string", workload([sub("conv2d", bias="yes")]), True),
        ("relu elements 0", workload([sub("relu", elements=0)]), True),
        ("add inputs 3", workload([sub("add", inputs=3)]), True),
        ("add broadcast negative", workload([sub("add", broadcast=-2)]), True),
        ("attention causal 1", workload([sub("attention", causal=1)]), True),
        ("fused 'add'", workload([sub("relu", fused=["add"])]), True),
        ("fused is a string", workload([sub("conv2d", fused="relu")]), True),
        ("batchnorm fused into matmul", workload([sub("matmul", fused=["batchnorm"])]), True),
        ("subgraphs an object", workload({"a": sub("relu")}), True),
        # stricter than parse_workload on purpose
        ("linear with batch 8 (the C++ ignores it)", workload([sub("linear", batch=8)]), False),
        ("optional field null", workload([sub("conv2d", groups=None)]), False),
    ]
    for name, doc in positives:
        path = str(work / "workload.json")
        Path(path).write_text(json.dumps(doc, indent=1))
        err = first_error(validator, doc)
        rc, last = cxx_accepts_workload(hwcal, profile_path, path)
        if err is None and rc == 0:
            ok("synthetic workload (%s): schema and hwcal predict accept it" % name)
        else:
            fail("synthetic workload (%s): schema %s, hwcal predict exit %d %s"
                 % (name, describe(err) if err else "accepts", rc, last))
    rejected_by_both = 0
    for name, doc, cxx_rejects in negatives:
        err = first_error(validator, doc)
        if err is None:
            fail("broken workload accepted by the schema: %s" % name)
            continue
        if not cxx_rejects:
            ok("schema rejects (stricter than parse_workload): %s -> %s" % (name, describe(err)))
            continue
        path = str(work / "workload.json")
        Path(path).write_text(json.dumps(doc, indent=1))
        rc, last = cxx_accepts_workload(hwcal, profile_path, path)
        if rc != 2:
            fail("schema rejects but hwcal predict exits %d (expected 2): %s -> %s" % (rc, name, describe(err)))
        else:
            rejected_by_both += 1
    ok("%d broken workloads rejected by both the schema and hwcal predict" % rejected_by_both)


def doc_workloads(src):
    """```json blocks of docs/workload.md that are whole workloads."""
    path = src / "docs/workload.md"
    if not path.is_file():
        return []
    out = []
    for i, block in enumerate(re.findall(r"```json\n(.*?)```", read(path), re.S)):
        try:
            doc = json.loads(block)
        except ValueError:
            continue  # fragments
        if isinstance(doc, dict) and "hwcal_workload" in doc:
            out.append(("docs/workload.md example %d" % (i + 1), doc))
    return out


# ------------------------------------------------------------ main
def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hwcal", required=True, help="the hwcal CLI")
    ap.add_argument("--source-dir", required=True, help="repository root")
    ap.add_argument("--work-dir", required=True, help="scratch directory (recreated)")
    a = ap.parse_args()
    src = Path(a.source_dir).resolve()
    work = Path(a.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    for f in work.glob("*.json"):
        f.unlink()

    profile_schema = load_json(src / "profiles/hwcal-profile.schema.json")
    workload_schema = load_json(src / "profiles/hwcal-workload.schema.json")
    for name, s in (("profile", profile_schema), ("workload", workload_schema)):
        try:
            Draft202012Validator.check_schema(s)
            ok("the %s schema is valid draft 2020-12 JSON Schema" % name)
        except jsonschema.exceptions.SchemaError as e:
            fail("the %s schema is not valid JSON Schema: %s" % (name, e.message))
            return 1
    pv = Draft202012Validator(profile_schema)
    wv = Draft202012Validator(workload_schema)
    check_vocabulary(src, profile_schema, workload_schema)

    # (a) a profile made now
    fresh_path = str(work / "fresh.json")
    r = run([a.hwcal, "calibrate", "--quick", "--ops", "relu,add,conv2d", "--threads", "1", "-q", "-o", fresh_path])
    if r.returncode != 0:
        fail("hwcal calibrate exited %d:\n%s" % (r.returncode, r.stdout))
        return 1
    fresh = load_json(fresh_path)
    err = first_error(pv, fresh)
    if err:
        fail("fresh profile (hwcal calibrate --quick --ops relu,add,conv2d --threads 1) does not validate: %s"
             % describe(err))
    else:
        ok("fresh profile (hwcal calibrate --quick --ops relu,add,conv2d --threads 1, %d curves) validates"
           % len(fresh.get("operations", [])))
        try:
            check_profile_mutations(a.hwcal, pv, fresh, work)
        except LookupError as e:
            fail(str(e))

    check_workload_cases(a.hwcal, wv, fresh_path, work, list(MINIMAL_SUBGRAPHS))

    # (b) shipped profiles
    for sub in ("profiles/cpu", "profiles/gpu"):
        files = sorted((src / sub).rglob("*.json")) if (src / sub).is_dir() else []
        if not files:
            print("note: no profiles under %s: nothing to check there" % sub)
        for f in files:
            rel = f.relative_to(src).as_posix()
            try:
                doc = load_json(f)
            except ValueError as e:
                fail("%s is not valid JSON: %s" % (rel, e))
                continue
            err = first_error(pv, doc)
            if err:
                fail("%s does not validate: %s" % (rel, describe(err)))
            else:
                ok("%s validates" % rel)

    # (c) workloads
    candidates = []
    for sub in ("examples/workloads", "tests/data"):
        d = src / sub
        candidates += sorted(d.rglob("*.json")) if d.is_dir() else []
    seen_expected_invalid = set()
    checked = 0
    for f in candidates:
        rel = f.relative_to(src).as_posix()
        try:
            doc = load_json(f)
        except ValueError as e:
            fail("%s is not valid JSON: %s" % (rel, e))
            continue
        if rel.startswith("tests/data/") and not (isinstance(doc, dict) and "hwcal_workload" in doc):
            print("note: %s is not a workload (no hwcal_workload field); not checked" % rel)
            continue
        checked += 1
        err = first_error(wv, doc)
        rc, last = cxx_accepts_workload(a.hwcal, fresh_path, str(f))
        if rel in EXPECTED_INVALID_WORKLOADS:
            seen_expected_invalid.add(rel)
            if err is None:
                fail("%s must fail validation but the schema accepts it" % rel)
            elif rc != 2:
                fail("%s: schema rejects it (%s) but hwcal predict exits %d, expected 2" % (rel, describe(err), rc))
            else:
                ok("%s fails validation as it must: %s (hwcal predict: exit 2)" % (rel, describe(err)))
            continue
        if err:
            fail("%s does not validate: %s" % (rel, describe(err)))
        elif rc != 0:
            fail("%s validates but hwcal predict exits %d: %s" % (rel, rc, " ".join(last)))
        else:
            ok("%s validates and hwcal predict accepts it" % rel)
    for name, doc in doc_workloads(src):
        checked += 1
        path = str(work / "doc_example.json")
        Path(path).write_text(json.dumps(doc, indent=1))
        err = first_error(wv, doc)
        rc, last = cxx_accepts_workload(a.hwcal, fresh_path, path)
        if err:
            fail("%s does not validate: %s" % (name, describe(err)))
        elif rc != 0:
            fail("%s validates but hwcal predict exits %d: %s" % (name, rc, " ".join(last)))
        else:
            ok("%s validates and hwcal predict accepts it" % name)
    if not candidates or checked == 0:
        print("note: no workloads under examples/workloads or tests/data")
    for rel in sorted(EXPECTED_INVALID_WORKLOADS - seen_expected_invalid):
        fail("%s is missing (it must exist and fail validation)" % rel)

    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
