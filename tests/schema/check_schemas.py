#!/usr/bin/env python3
"""Validates hwcal documents against profiles/hwcal-profile.schema.json and
profiles/hwcal-workload.schema.json, and checks that the schemas and the C++
reader agree.

  check_schemas.py --hwcal PATH/TO/hwcal --source-dir REPO --work-dir DIR

1. Both schemas are valid JSON Schema (draft 2020-12) and their vocabularies
   match the C++ as `hwcal ops --format json` reports it (precisions, ops,
   compute ops, variants, fusion patterns, fusable ops, format versions, and
   per op its shape fields with requiredness, default, minimum and the 2^40
   maximum); the two schemas define the same shapes. (That the schema files are
   exactly what tools/gen_schemas.py makes of the table is the separate test
   schema.generated.)
2. A profile made now by `hwcal calibrate --quick --ops relu,add,conv2d
   --threads 1` (schema_version 2) validates, and so does the same document
   relabelled schema_version 1 (hwcal still reads version 1). Broken copies of
   it and of tests/data/profile_gpu_small.json (synthetic, with the new op
   kinds, decode attention, kv_heads, cold_time, graph_launch_s, timing) are
   rejected by both the schema and `hwcal show` (exit 2). Where the schema is
   deliberately stricter, only the schema is asked; where a rule spans several
   fields (p10 <= median <= p90, kv_heads divides heads, ...), JSON Schema
   cannot say it: the schema must accept and `hwcal show` must exit 2.
3. Every profile under profiles/cpu, profiles/gpu and tests/data validates and
   `hwcal show` reads it. The shipped profiles are still schema_version 1
   (until they are regenerated); the schema accepts versions 1 and 2.
4. Every workload under examples/workloads and tests/data, and every complete
   example in docs/workload.md, validates and `hwcal predict` accepts it, except
   tests/data/bad_workload.json, which must fail both. Synthetic workloads with
   every op kind are accepted by both; broken ones rejected by both.

Needs Python 3 with jsonschema >= 4.0 (Debian: python3-jsonschema). Exit 0
passed, 1 failed, 77 skipped (no jsonschema).
"""
import argparse
import copy
import json
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
GPU_TEST_PROFILE = "tests/data/profile_gpu_small.json"
MAX_FIELD = 2 ** 40
# How each negative case is expected to be answered.
BOTH, SCHEMA_ONLY, CXX_ONLY = "both", "schema only (stricter on purpose)", "C++ only (cross-field rule)"

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


def setter(ptr, value):
    return lambda d: set_at(d, ptr, value)


def remover(ptr):
    return lambda d: remove_at(d, ptr)


def steps(*fs):
    def apply(d):
        for f in fs:
            f(d)
    return apply


# ------------------------------------------------------------ hwcal CLI
def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def last_line(r):
    return r.stdout.strip().splitlines()[-1:] if r.stdout.strip() else []


def cxx_accepts_profile(hwcal, path):
    r = run([hwcal, "show", "--summary", path])
    return r.returncode, last_line(r)


# Workloads with collectives are predicted with the synthetic GPU profile, the
# one with a collectives section (`hwcal predict` exits 2 on a collective the
# profile has no curve of). Set by main().
COLLECTIVE_OPS = set()
COLLECTIVE_PROFILE = None


def cxx_accepts_workload(hwcal, profile, path):
    try:
        subs = json.loads(Path(path).read_text()).get("subgraphs")
        if isinstance(subs, list) and any(isinstance(s, dict) and s.get("op") in COLLECTIVE_OPS for s in subs):
            profile = COLLECTIVE_PROFILE
    except (ValueError, AttributeError):
        pass  # a broken document: the reader says what is wrong
    r = run([hwcal, "predict", "--profile", profile, "--workload", path, "--json"])
    return r.returncode, last_line(r)


def cxx_vocabulary(hwcal):
    r = subprocess.run([hwcal, "ops", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise LookupError("hwcal ops --format json exited %d: %s" % (r.returncode, r.stderr.strip()))
    return json.loads(r.stdout)


# ------------------------------------------------------------ vocabulary
def enum_of(s):
    """The values a (possibly nullable) property schema allows, without null."""
    if "const" in s:
        return [s["const"]]
    if "enum" in s:
        return [x for x in s["enum"] if x is not None]
    for alt in s.get("anyOf", []):
        if alt.get("type") != "null":
            return enum_of(alt)
    return None


def integer_schema(s):
    for alt in s.get("anyOf", []):
        if alt.get("type") == "integer":
            return alt
    return s


def check_shape_def(label, op, d):
    """A schema's shape_<op> against the C++ field list of that op."""
    problems = []
    cxx = {f["name"]: f for f in op["fields"]}
    props = dict(d.get("properties", {}))
    if op["op"] == "linear":
        props.pop("batch", None)  # stricter on purpose: batch must be 1 if present (docs/schema.md)
    if set(props) != set(cxx):
        problems.append("fields %s != C++ %s" % (sorted(props), sorted(cxx)))
    required = [f["name"] for f in op["fields"] if f["required"]]
    if list(d.get("required", [])) != required:
        problems.append("required %s != C++ %s" % (d.get("required"), required))
    for name, f in cxx.items():
        p = props.get(name)
        if p is None:
            continue
        if f["type"] in ("integer", "pair") and not (op["family"] == "elementwise" and name == "inputs"):
            i = integer_schema(p)
            if i.get("minimum") != f["minimum"] or i.get("maximum") != MAX_FIELD:
                problems.append("%s: minimum/maximum %s/%s != C++ %s/2^40" % (name, i.get("minimum"),
                                                                             i.get("maximum"), f["minimum"]))
        if name == "inputs" and op["family"] == "elementwise" and enum_of(p) != [op["inputs"]]:
            problems.append("inputs allows %s, the op table's arity is %d" % (enum_of(p), op["inputs"]))
        if not f["required"]:
            d_ = f.get("default")
            if isinstance(d_, dict) and "same_as" in d_:
                if "default" in p or ("`%s`" % d_["same_as"]) not in p.get("description", ""):
                    problems.append("%s: default is the value of %s, the schema does not say so" % (name,
                                                                                                 d_["same_as"]))
            elif p.get("default") != d_ or type(p.get("default")) is not type(d_):
                problems.append("%s: default %r != C++ %r" % (name, p.get("default"), d_))
            if "null" not in json.dumps(p):
                problems.append("%s: optional, but null (= absent) is not accepted" % name)
    for msg in problems:
        fail("%s schema shape_%s: %s" % (label, op["op"], msg))
    return not problems


def check_vocabulary(voc, profile_schema, workload_schema):
    pdefs, wdefs = profile_schema["$defs"], workload_schema["$defs"]
    ops = [o["op"] for o in voc["ops"]]
    op_prop = pdefs["operation"]["properties"]
    pairs = [
        ("precision", pdefs["precision"]["enum"], voc["precisions"]),
        ("precision (workload schema)", wdefs["precision"]["enum"], voc["precisions"]),
        ("op", pdefs["op"]["enum"], ops),
        ("op (workload schema)", wdefs["op"]["enum"], ops),
        ("fusion pattern", pdefs["fusion_pattern"]["enum"], voc["fusion_patterns"]),
        ("variant", op_prop["variant"]["enum"], voc["variants"]),
        ("fusable ops (workload fused[])", enum_of(wdefs["subgraph"]["properties"]["fused"]["anyOf"][0]["items"]),
         [o["op"] for o in voc["ops"] if o["fusable"]]),
        ("profile schema_version", profile_schema["properties"]["schema_version"]["enum"],
         list(range(1, voc["schema_version"] + 1))),
        ("workload version", [workload_schema["properties"]["hwcal_workload"]["const"]], [voc["workload_version"]]),
    ]
    for what, schema_values, cxx_values in pairs:
        if list(schema_values) == list(cxx_values):
            ok("%s names match the C++ (%d)" % (what, len(cxx_values)))
        else:
            fail("%s differ: schema %s, C++ %s" % (what, schema_values, cxx_values))
    # per op: its curve rule in the profile schema (shape, size_axis, variants) and its subgraph rule
    curve_rules = {}
    for r in pdefs["operation"]["allOf"]:
        cond = r["if"]["properties"]["op"]
        for o in ([cond["const"]] if "const" in cond else cond["enum"]):
            curve_rules[o] = r["then"]
    sub_rules = {}
    for r in wdefs["subgraph"]["allOf"]:
        cond = r["if"]["properties"].get("op")
        if cond:
            sub_rules[cond["const"]] = r["then"]
    used_variants = set()
    good = True
    for o in voc["ops"]:
        name = o["op"]
        c = curve_rules.get(name)
        if c is None:
            fail("profile schema: no curve rule for op %s" % name)
            good = False
            continue
        p = c["properties"]
        if p["size_axis"]["const"] != o["measured_against"]:
            fail("profile schema: %s size_axis %s, C++ measures it against %s" % (name, p["size_axis"]["const"],
                                                                                 o["measured_against"]))
            good = False
        if p["samples"]["items"]["properties"]["shape"]["$ref"] != "#/$defs/shape_" + name:
            fail("profile schema: %s samples do not use shape_%s" % (name, name))
            good = False
        used_variants.update(enum_of(p["variant"]))
        if sub_rules.get(name, {}).get("$ref") != "#/$defs/shape_" + name:
            fail("workload schema: subgraphs of op %s do not use shape_%s" % (name, name))
            good = False
        for label, defs in (("profile", pdefs), ("workload", wdefs)):
            d = defs.get("shape_" + name)
            if d is None:
                fail("%s schema has no shape_%s" % (label, name))
                good = False
            elif not check_shape_def(label, o, d):
                good = False
        if pdefs.get("shape_" + name) != wdefs.get("shape_" + name):
            fail("shape_%s differs between the profile and the workload schema" % name)
            good = False
    if used_variants != set(voc["variants"]):
        fail("variants no op's curves may carry, or unknown ones: %s" % sorted(used_variants ^ set(voc["variants"])))
        good = False
    compute = [o["op"] for o in voc["ops"] if o["measured_against"] == "flops"]
    if good:
        ok("per op (%d): shape fields, required fields, defaults, minimums, the 2^40 maximum, null = absent, "
           "size_axis, variants and the subgraph rule match the C++ in both schemas (compute ops: %s)"
           % (len(voc["ops"]), ", ".join(compute)))


# ------------------------------------------------------------ profile checks
def find_curve(profile, op, variant=None):
    for i, c in enumerate(profile.get("operations", [])):
        if c["op"] == op and (variant is None or c.get("variant") == variant) and c["samples"]:
            return i
    raise LookupError("the profile has no %s%s curve" % (op, " " + variant if variant else ""))


def cpu_profile_mutations(p):
    """(name, mutate(doc), expectation): broken copies of the fresh CPU profile."""
    conv = "/operations/%d" % find_curve(p, "conv2d", "dense")
    relu = "/operations/%d" % find_curve(p, "relu", "unary")
    add = "/operations/%d" % find_curve(p, "add", "binary")
    conv_s = conv + "/samples/0"
    relu_s = relu + "/samples/0"
    dense = get_at(p, conv)
    even = next((i for i, s in enumerate(dense["samples"]) if s["shape"]["c"] % 2 == 0 and s["shape"]["k"] % 2 == 0),
                None)
    m = [
        ("threads is a string", setter("/threads", "one"), BOTH),
        ("threads above 2^20", setter("/threads", 2 ** 21), BOTH),
        ("schema_version 3", setter("/schema_version", 3), BOTH),
        ("schema_version 0", setter("/schema_version", 0), BOTH),
        ("target 'tpu'", setter("/target", "tpu"), BOTH),
        ("timing is a number", setter("/timing", 1), BOTH),
        ("host.cpu_model missing", remover("/host/cpu_model"), BOTH),
        ("host.logical_cpus 0", setter("/host/logical_cpus", 0), BOTH),
        ("peaks[0].gflops 0 (null is the spelling of unknown)", setter("/peaks/0/gflops", 0), BOTH),
        ("peaks[0].gflops 2e9 (above an exaFLOP/s)", setter("/peaks/0/gflops", 2e9), BOTH),
        ("peaks[0].gflops a string", setter("/peaks/0/gflops", "100"), BOTH),
        ("peaks[0].precision 'fp33'", setter("/peaks/0/precision", "fp33"), BOTH),
        ("memory is an array", setter("/memory", []), BOTH),
        ("overhead.per_call_s negative", setter("/overhead/per_call_s", -1e-6), BOTH),
        ("overhead.per_call_s 2 s", setter("/overhead/per_call_s", 2.0), BOTH),
        ("overhead.graph_launch_s negative", setter("/overhead/graph_launch_s", -1e-6), BOTH),
        ("overhead.graph_launch_s above an hour", setter("/overhead/graph_launch_s", 7200.0), BOTH),
        ("overhead.graph_start_s negative", setter("/overhead/graph_start_s", -1e-6), BOTH),
        ("overhead.graph_start_s 2 s", setter("/overhead/graph_start_s", 2.0), BOTH),
        ("overhead.framework per_call_s of an unknown op",
         setter("/overhead/framework", {"per_call_s": {"convolution": 1e-5}, "derivation": "x"}), BOTH),
        ("software value not a string", setter("/software/hwcal", 1), BOTH),
        ("device is a string", setter("/device", "gpu"), BOTH),
        ("operation op 'convolution'", setter(conv + "/op", "convolution"), BOTH),
        ("operation precision missing", remover(conv + "/precision"), BOTH),
        ("operation threads 0", setter(conv + "/threads", 0), BOTH),
        ("conv sample shape lacks r", remover(conv_s + "/shape/r"), BOTH),
        ("conv sample stride is a string", setter(conv_s + "/shape/stride", "2"), BOTH),
        ("conv sample stride a 3-list", setter(conv_s + "/shape/stride", [1, 1, 1]), BOTH),
        ("conv sample k above 2^40", setter(conv_s + "/shape/k", 2 ** 41), BOTH),
        ("conv sample shape is an elementwise shape", setter(conv_s + "/shape", {"elements": 64}), BOTH),
        ("conv sample flops is a string", setter(conv_s + "/flops", "1e9"), BOTH),
        ("add sample bytes negative", setter(add + "/samples/0/bytes", -1), BOTH),
        ("sample time.median_s 0", setter(conv_s + "/time/median_s", 0), BOTH),
        ("sample time.median_s above an hour", setter(conv_s + "/time/median_s", 4000.0), BOTH),
        ("sample time.p90_s missing", remover(conv_s + "/time/p90_s"), BOTH),
        ("sample time.samples 2.5", setter(conv_s + "/time/samples", 2.5), BOTH),
        ("sample cold_time lacks median_s", setter(conv_s + "/cold_time", {"mad_s": 0, "p10_s": 0, "p90_s": 0,
                                                                           "samples": 1}), BOTH),
        ("sample efficiency negative", setter(conv_s + "/efficiency", -0.5), BOTH),
        ("relu curve labelled binary (shapes are unary)", setter(relu + "/variant", "binary"), BOTH),
        ("relu sample with two inputs (relu is unary)", setter(relu_s + "/shape/inputs", 2), BOTH),
        ("relu curve labelled unary_inplace (shapes are not in place)", setter(relu + "/variant", "unary_inplace"),
         BOTH),
        ("conv curve variant 'unary'", setter(conv + "/variant", "unary"), BOTH),
        ("conv curve variant 'decode'", setter(conv + "/variant", "decode"), BOTH),
        ("add sample made unary (add takes 2 inputs)", setter(add + "/samples/0/shape/inputs", 1), BOTH),
        ("warnings entry not a string", setter("/warnings", [3]), BOTH),
        # cross-field rules only the reader checks
        ("sample time p10_s above median_s",
         lambda d: set_at(d, conv_s + "/time/p10_s", 2 * get_at(d, conv_s + "/time/median_s")), CXX_ONLY),
        ("sample time p90_s below median_s",
         lambda d: set_at(d, conv_s + "/time/p90_s", 0.5 * get_at(d, conv_s + "/time/median_s")), CXX_ONLY),
        # stricter than parse_profile on purpose (docs/schema.md, The JSON Schema)
        ("unknown top-level field", setter("/calibrated_by", "me"), SCHEMA_ONLY),
        ("unknown sample field", setter(conv_s + "/gflop", 1.0), SCHEMA_ONLY),
        ("optional top-level field null", setter("/name", None), SCHEMA_ONLY),
        ("size_axis disagrees with op", setter(conv + "/size_axis", "bytes"), SCHEMA_ONLY),
    ]
    if even is not None:
        m.append(("dense conv sample with groups 2", setter(conv + "/samples/%d/shape/groups" % even, 2), BOTH))
    return m


def gpu_profile_mutations(p):
    """Broken copies of the synthetic GPU profile: the v2 device fields, decode and GQA attention, new ops."""
    dec = "/operations/%d" % find_curve(p, "attention", "decode")
    full = "/operations/%d" % find_curve(p, "attention", "full")
    causal = "/operations/%d" % find_curve(p, "attention", "causal")
    rot = "/operations/%d" % find_curve(p, "rotary")
    emb = "/operations/%d" % find_curve(p, "embedding")
    sm = "/operations/%d" % find_curve(p, "silu_mul")
    rms = "/operations/%d" % find_curve(p, "rmsnorm")
    col = "/collectives/curves/2"  # all_gather on 2 GPUs, graph (make_profile_gpu_small.py)
    return [
        ("collective curve op relu", setter("/collectives/curves/0/op", "relu"), BOTH),
        ("collective curve gpus 1", setter("/collectives/curves/0/gpus", 1), BOTH),
        ("collective curve launch 'lazy'", setter("/collectives/curves/0/launch", "lazy"), BOTH),
        ("collective curve without samples", setter("/collectives/curves/0/samples", []), BOTH),
        ("collective sample bytes 0", setter("/collectives/curves/0/samples/0/bytes", 0), BOTH),
        ("collectives without library", remover("/collectives/library"), BOTH),
        ("collective samples not ascending", setter("/collectives/curves/0/samples/1/bytes", 4096), CXX_ONLY),
        ("all_gather sample bytes not a multiple of gpus", setter(col + "/samples/0/bytes", 4097), CXX_ONLY),
        ("an operation curve of a collective", setter(rms + "/op", "all_reduce"), BOTH),
        ("device.compute_capability 'nine'", setter("/device/compute_capability", "nine"), BOTH),
        ("device.sm_count missing", remover("/device/sm_count"), BOTH),
        ("overhead.graph_launch_s a string", setter("/overhead/graph_launch_s", "1us"), BOTH),
        ("overhead.framework per_call_s negative", setter("/overhead/framework/per_call_s/linear", -1e-6), BOTH),
        ("overhead.framework per_call_s over a second", setter("/overhead/framework/per_call_s/linear", 2.0), BOTH),
        ("overhead.framework sequence_s of an unknown op",
         setter("/overhead/framework/sequence_s", {"convolution": 1e-5}), BOTH),
        ("overhead.framework sequence_s over a second", setter("/overhead/framework/sequence_s", {"relu": 2.0}), BOTH),
        ("decode curve sample with seq_q 64", setter(dec + "/samples/0/shape/seq_q", 64), BOTH),
        ("decode curve sample without seq_kv (default seq_q: not decode)", remover(dec + "/samples/0/shape/seq_kv"),
         BOTH),
        ("causal curve sample with causal false", setter(causal + "/samples/0/shape/causal", False), BOTH),
        ("full curve labelled decode", setter(full + "/variant", "decode"), BOTH),
        ("attention kv_heads -1", setter(dec + "/samples/0/shape/kv_heads", -1), BOTH),  # 0 is valid: = heads
        ("attention kv_heads a string", setter(dec + "/samples/0/shape/kv_heads", "8"), BOTH),
        ("cold_time.median_s 0", setter(dec + "/samples/0/cold_time/median_s", 0), BOTH),
        ("rotary sample without head_dim", remover(rot + "/samples/0/shape/head_dim"), BOTH),
        ("embedding sample vocab 0", setter(emb + "/samples/0/shape/vocab", 0), BOTH),
        ("silu_mul sample with one input", setter(sm + "/samples/0/shape/inputs", 1), BOTH),
        ("silu_mul curve labelled broadcast (silu_mul has no broadcast input)", setter(sm + "/variant", "broadcast"),
         BOTH),
        ("rmsnorm curve with a variant", setter(rms + "/variant", "unary"), BOTH),
        ("memory sweep gbps 0", setter("/memory/sweep/0/gbps", 0), BOTH),
        ("memory sweep gbps 2e6", setter("/memory/sweep/0/gbps", 2e6), BOTH),
        ("memory level gbps negative", setter("/memory/levels/0/gbps", -1.0), BOTH),
        # cross-field rules only the reader checks
        ("attention kv_heads 3 with 32 heads (must divide)", setter(dec + "/samples/0/shape/kv_heads", 3), CXX_ONLY),
        ("full curve sample of decode shape (seq_q 1 < seq_kv)", setter(full + "/samples/0/shape/seq_q", 1), CXX_ONLY),
        ("rotary head_dim odd", setter(rot + "/samples/0/shape/head_dim", 127), BOTH),
        ("cold_time p90_s below median_s",
         lambda d: set_at(d, dec + "/samples/0/cold_time/p90_s", 0.5 * get_at(d, dec + "/samples/0/cold_time/median_s")),
         CXX_ONLY),
        ("embedding tensor above 2^50 elements", steps(setter(emb + "/samples/0/shape/tokens", 2 ** 30),
                                                       setter(emb + "/samples/0/shape/dim", 2 ** 30)), CXX_ONLY),
    ]


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


def check_positive(hwcal, validator, name, doc, work):
    path = str(work / "positive.json")
    Path(path).write_text(json.dumps(doc, indent=1))
    err = first_error(validator, doc)
    rc, last = cxx_accepts_profile(hwcal, path)
    if err is None and rc == 0:
        ok("%s: schema and hwcal show accept it" % name)
    else:
        fail("%s: schema %s, hwcal show exit %d %s" % (name, describe(err) if err else "accepts", rc, last))


def check_negatives(hwcal, validator, base, cases, work, what):
    counts = {BOTH: 0, SCHEMA_ONLY: 0, CXX_ONLY: 0}
    for name, mutate, expect in cases:
        doc = copy.deepcopy(base)
        mutate(doc)
        err = first_error(validator, doc)
        path = str(work / "mutated.json")
        Path(path).write_text(json.dumps(doc, indent=1))
        if expect == SCHEMA_ONLY:
            if err is None:
                fail("%s: the schema accepts (it must reject, stricter than parse_profile): %s" % (what, name))
            else:
                counts[expect] += 1
                ok("%s: schema rejects (stricter than parse_profile): %s -> %s" % (what, name, describe(err)))
            continue
        rc, last = cxx_accepts_profile(hwcal, path)
        if expect == CXX_ONLY:
            if err is not None:
                fail("%s: the schema rejects a cross-field case it cannot see (%s): %s" % (what, describe(err), name))
            elif rc != 2:
                fail("%s: hwcal show exits %d (expected 2): %s %s" % (what, rc, name, last))
            else:
                counts[expect] += 1
                ok("%s: hwcal show rejects (cross-field, the schema cannot): %s -> %s" % (what, name, " ".join(last)))
            continue
        if err is None:
            fail("%s: broken profile accepted by the schema: %s (hwcal show exit %d)" % (what, name, rc))
        elif rc != 2:
            fail("%s: schema rejects but hwcal show exits %d (expected 2): %s -> %s %s"
                 % (what, rc, name, describe(err), last))
        else:
            counts[expect] += 1
            ok("%s: schema and hwcal show reject: %s -> %s" % (what, name, describe(err)))
    print("      %s: %d rejected by both, %d by the schema only, %d by hwcal show only"
          % (what, counts[BOTH], counts[SCHEMA_ONLY], counts[CXX_ONLY]))


def check_profiles(hwcal, validator, fresh, gpu, work):
    device, fusion = synthetic_blocks(fresh)
    v1 = copy.deepcopy(fresh)
    v1["schema_version"] = 1
    for k in ("timing",):
        v1.pop(k, None)
    v1["overhead"].pop("graph_launch_s", None)
    positives = [("fresh profile with a device block", steps(lambda d: d.__setitem__("device", device))),
                 ("fresh profile with a conv_relu fusion", steps(lambda d: d.__setitem__("fusions", [fusion]))),
                 ("fresh profile with optional shape fields null (= absent)",
                  steps(setter("/operations/%d/samples/0/shape/groups" % find_curve(fresh, "conv2d", "dense"), None),
                        setter("/operations/%d/samples/0/shape/inplace" % find_curve(fresh, "relu", "unary"), None)))]
    for name, mutate in positives:
        doc = copy.deepcopy(fresh)
        mutate(doc)
        check_positive(hwcal, validator, name, doc, work)
    check_positive(hwcal, validator, "fresh profile relabelled schema_version 1 (no timing, no graph_launch_s)", v1,
                   work)
    negatives = cpu_profile_mutations(fresh) + [
        ("fusion pattern 'conv_gelu'", lambda d: (d.__setitem__("fusions", [copy.deepcopy(fusion)]),
                                                  set_at(d, "/fusions/0/pattern", "conv_gelu")), BOTH),
        ("linear_bias fusion with a conv shape", lambda d: (d.__setitem__("fusions", [copy.deepcopy(fusion)]),
                                                            set_at(d, "/fusions/0/pattern", "linear_bias")), BOTH),
        ("fusion sample without unfused_time", lambda d: (d.__setitem__("fusions", [copy.deepcopy(fusion)]),
                                                          remove_at(d, "/fusions/0/samples/0/unfused_time")), BOTH),
    ]
    check_negatives(hwcal, validator, fresh, negatives, work, "fresh CPU profile")
    if gpu is not None:
        check_negatives(hwcal, validator, gpu, gpu_profile_mutations(gpu), work, GPU_TEST_PROFILE)


# ------------------------------------------------------------ workload checks
# Values for the required fields of each op (ops without an entry get 16 for
# every required field, which suits every family so far).
REQUIRED_VALUES = {
    "matmul": {"m": 64, "n": 64, "k": 64},
    "linear": {"m": 8, "n": 256, "k": 128},
    "conv2d": {"n": 1, "c": 8, "h": 16, "w": 16, "k": 8, "r": 3, "s": 3},
    "attention": {"seq_q": 32, "head_dim": 16},
    "maxpool": {"n": 1, "c": 8, "h": 16, "w": 16, "r": 2},
    "avgpool": {"n": 1, "c": 8, "h": 16, "w": 16, "r": 2},
    "adaptive_avgpool": {"n": 1, "c": 8, "h": 7, "w": 7},
    "batchnorm": {"n": 1, "c": 8},
    "copy": {"bytes": 4096}, "transpose": {"bytes": 4096}, "concat": {"bytes": 4096},
    "rotary": {"tokens": 16, "head_dim": 64},
    "embedding": {"tokens": 16, "vocab": 1000, "dim": 64},
}


def minimal_subgraphs(voc):
    out = {}
    for o in voc["ops"]:
        req = [f["name"] for f in o["fields"] if f["required"]]
        vals = REQUIRED_VALUES.get(o["op"], {})
        if o["family"] == "elementwise":
            vals = {"elements": 1024}
        if o["family"] == "rows":
            vals = {"rows": 16, "cols": 64}
        out[o["op"]] = {f: vals.get(f, 16) for f in req}
    return out


def workload(subgraphs, **top):
    doc = {"hwcal_workload": 1, "name": "synthetic"}
    doc.update(top)
    doc["subgraphs"] = subgraphs
    return doc


def check_workload_cases(hwcal, validator, profile_path, work, voc):
    """Synthetic workloads: what the schema accepts hwcal predict accepts, and
    what it rejects hwcal predict rejects (exit 2), field by field."""
    minimal = minimal_subgraphs(voc)

    def sub(op, name=None, **fields):
        s = {"name": name or op, "op": op}
        s.update(minimal[op])
        s.update(fields)
        return s

    every_op = workload([sub(op) for op in minimal])
    full = workload([
        sub("matmul", batch=4, bias=True),
        sub("linear", bias=False, precision="bf16", fused=["gelu"]),
        sub("conv2d", stride=[2, 1], padding=1, dilation=[1, 2], groups=2, bias=False, fused=["batchnorm", "relu"]),
        sub("conv2d", "depthwise", c=8, k=8, groups=8, padding=[1, 1], fused=["relu6"]),
        sub("attention", batch=2, heads=4, seq_kv=64, causal=True),
        sub("attention", "gqa", batch=2, heads=8, kv_heads=2, seq_kv=32),
        sub("attention", "kv_heads_0", heads=4, kv_heads=0),
        sub("attention", "decode", batch=8, heads=32, kv_heads=8, seq_q=1, seq_kv=4096, head_dim=128, causal=True),
        sub("attention", "mqa_decode", heads=16, kv_heads=1, seq_q=16, seq_kv=17),
        sub("maxpool", s=3, r=3, stride=2, padding=1),
        sub("maxpool", "stride_null", stride=None),
        sub("avgpool", stride=[1, 2], padding=0),
        sub("adaptive_avgpool", out_h=2, out_w=3),
        sub("batchnorm", h=4, w=4, fused=["relu"]),
        sub("add", inputs=2, broadcast=8),
        sub("add", "add_inplace", inplace=True),
        sub("relu", inputs=1, inplace=True),
        sub("relu6", inplace=None, inputs=None),
        sub("clamp", fused=None, precision=None),
        sub("silu_mul", inputs=2),
        sub("rmsnorm", rows=4096, cols=4096, precision="bf16"),
        sub("rotary", heads=8, head_dim=128),
        sub("embedding", tokens=512, vocab=128256, dim=4096),
        sub("matmul", "qk", m=128, n=128, k=32, fused=["softmax"]),
        sub("relu", "annotated", note="extra fields are allowed (hwcal warns)"),
        sub("relu", "broadcast_on_relu", broadcast=0),  # not a relu field: a warning, not an error
    ], precision="fp32", source="annotations at the top level are ignored")
    positives = [("every op with only its required fields", every_op), ("optional fields, null and fusions", full),
                 ("workload precision and name null", workload([sub("relu")], precision=None, name=None))]
    negatives = []
    for op in minimal:
        for field in minimal[op]:
            s = sub(op)
            del s[field]
            negatives.append(("%s without required field %s" % (op, field), workload([s]), BOTH))
            negatives.append(("%s with %s above 2^40" % (op, field), workload([sub(op, **{field: MAX_FIELD + 1})]),
                              BOTH))
    for o in voc["ops"]:
        if o["family"] == "elementwise":
            wrong = 2 if o["inputs"] == 1 else 1
            negatives.append(("%s with %d input(s) (arity %d)" % (o["op"], wrong, o["inputs"]),
                              workload([sub(o["op"], inputs=wrong)]), BOTH))
    negatives += [
        ("hwcal_workload 2", dict(every_op, hwcal_workload=2), BOTH),
        ("no hwcal_workload", {"subgraphs": []}, BOTH),
        ("no subgraphs", {"hwcal_workload": 1}, BOTH),
        ("workload precision 'fp33'", workload([sub("relu")], precision="fp33"), BOTH),
        ("subgraph without a name", workload([{"op": "relu", "elements": 4}]), BOTH),
        ("subgraph name null", workload([dict(sub("relu"), name=None)]), BOTH),
        ("op 'convolution'", workload([{"name": "c", "op": "convolution", "n": 1}]), BOTH),
        ("subgraph precision 'half'", workload([sub("relu", precision="half")]), BOTH),
        ("conv stride a string", workload([sub("conv2d", stride="2")]), BOTH),
        ("conv padding negative", workload([sub("conv2d", padding=-1)]), BOTH),
        ("conv dilation a 3-list", workload([sub("conv2d", dilation=[1, 1, 1])]), BOTH),
        ("conv groups 0", workload([sub("conv2d", groups=0)]), BOTH),
        ("conv bias a string", workload([sub("conv2d", bias="yes")]), BOTH),
        ("maxpool stride 0", workload([sub("maxpool", stride=0)]), BOTH),
        ("relu elements 0", workload([sub("relu", elements=0)]), BOTH),
        ("relu elements 1.5", workload([sub("relu", elements=1.5)]), BOTH),
        ("add inputs 3", workload([sub("add", inputs=3)]), BOTH),
        ("add broadcast negative", workload([sub("add", broadcast=-2)]), BOTH),
        ("attention causal 1", workload([sub("attention", causal=1)]), BOTH),
        ("attention kv_heads -1", workload([sub("attention", kv_heads=-1)]), BOTH),  # 0 is valid: = heads
        ("rotary heads 0", workload([sub("rotary", heads=0)]), BOTH),
        ("all_reduce gpus 1", workload([sub("all_reduce", gpus=1)]), CXX_ONLY),
        ("all_reduce gpus 0", workload([sub("all_reduce", gpus=0)]), BOTH),
        ("all_to_all bytes 0", workload([sub("all_to_all", bytes=0)]), BOTH),
        ("all_gather bytes not a multiple of gpus", workload([sub("all_gather", bytes=4097, gpus=2)]), CXX_ONLY),
        ("fused 'add'", workload([sub("relu", fused=["add"])]), BOTH),
        ("fused 'silu_mul' (two inputs)", workload([sub("linear", fused=["silu_mul"])]), BOTH),
        ("fused 'rmsnorm'", workload([sub("linear", fused=["rmsnorm"])]), BOTH),
        ("fused is a string", workload([sub("conv2d", fused="relu")]), BOTH),
        ("batchnorm fused into matmul", workload([sub("matmul", fused=["batchnorm"])]), BOTH),
        ("subgraphs an object", workload({"a": sub("relu")}), BOTH),
        # cross-field rules only the reader checks
        ("attention kv_heads 3 with 8 heads (must divide)", workload([sub("attention", heads=8, kv_heads=3)]), CXX_ONLY),
        ("rotary head_dim odd", workload([sub("rotary", head_dim=63)]), BOTH),
        ("conv groups not dividing c", workload([sub("conv2d", groups=3)]), CXX_ONLY),
        ("maxpool padding above half the window", workload([sub("maxpool", padding=2)]), CXX_ONLY),
        ("add broadcast not dividing elements", workload([sub("add", broadcast=1000)]), CXX_ONLY),
        ("matmul tensor above 2^50 elements", workload([sub("matmul", m=2 ** 26, n=2 ** 26, k=2 ** 26)]), CXX_ONLY),
        ("embedding table rows above 2^50 elements", workload([sub("embedding", tokens=2 ** 26, dim=2 ** 26)]),
         CXX_ONLY),
        # stricter than parse_workload on purpose
        ("linear with batch 8 (the C++ ignores it, with a warning)", workload([sub("linear", batch=8)]), SCHEMA_ONLY),
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
    counts = {BOTH: 0, SCHEMA_ONLY: 0, CXX_ONLY: 0}
    for name, doc, expect in negatives:
        err = first_error(validator, doc)
        if expect == SCHEMA_ONLY:
            if err is None:
                fail("the workload schema accepts (it must reject, stricter on purpose): %s" % name)
            else:
                counts[expect] += 1
                ok("workload schema rejects (stricter than parse_workload): %s -> %s" % (name, describe(err)))
            continue
        path = str(work / "workload.json")
        Path(path).write_text(json.dumps(doc, indent=1))
        rc, last = cxx_accepts_workload(hwcal, profile_path, path)
        if expect == CXX_ONLY:
            if err is not None:
                fail("the workload schema rejects a cross-field case (%s): %s" % (describe(err), name))
            elif rc != 2:
                fail("hwcal predict exits %d (expected 2): %s %s" % (rc, name, last))
            else:
                counts[expect] += 1
            continue
        if err is None:
            fail("broken workload accepted by the schema: %s (hwcal predict exit %d)" % (name, rc))
        elif rc != 2:
            fail("schema rejects but hwcal predict exits %d (expected 2): %s -> %s %s" % (rc, name, describe(err), last))
        else:
            counts[expect] += 1
    ok("broken workloads: %d rejected by both the schema and hwcal predict, %d (cross-field) by hwcal predict only, "
       "%d by the schema only" % (counts[BOTH], counts[CXX_ONLY], counts[SCHEMA_ONLY]))


def doc_workloads(src):
    """```json blocks of docs/workload.md that are whole workloads."""
    path = src / "docs/workload.md"
    if not path.is_file():
        return []
    out = []
    for i, block in enumerate(re.findall(r"```json\n(.*?)```", path.read_text(encoding="utf-8"), re.S)):
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
    try:
        voc = cxx_vocabulary(a.hwcal)
    except (LookupError, ValueError) as e:
        fail(str(e))
        return 1
    check_vocabulary(voc, profile_schema, workload_schema)

    # (a) a profile made now, and the synthetic GPU profile
    fresh_path = str(work / "fresh.json")
    r = run([a.hwcal, "calibrate", "--quick", "--ops", "relu,add,conv2d", "--threads", "1", "-q", "-o", fresh_path])
    if r.returncode != 0:
        fail("hwcal calibrate exited %d:\n%s" % (r.returncode, r.stdout))
        return 1
    fresh = load_json(fresh_path)
    gpu_path = src / GPU_TEST_PROFILE
    gpu = load_json(gpu_path) if gpu_path.is_file() else None
    if gpu is None:
        fail("%s is missing" % GPU_TEST_PROFILE)
    if fresh.get("schema_version") != voc["schema_version"]:
        fail("the fresh profile has schema_version %s, hwcal ops says %d" % (fresh.get("schema_version"),
                                                                              voc["schema_version"]))
    err = first_error(pv, fresh)
    if err:
        fail("fresh profile (hwcal calibrate --quick --ops relu,add,conv2d --threads 1) does not validate: %s"
             % describe(err))
    else:
        ok("fresh profile (hwcal calibrate --quick --ops relu,add,conv2d --threads 1, schema_version %d, %d curves) "
           "validates" % (fresh["schema_version"], len(fresh.get("operations", []))))
        try:
            check_profiles(a.hwcal, pv, fresh, gpu, work)
        except LookupError as e:
            fail(str(e))

    global COLLECTIVE_OPS, COLLECTIVE_PROFILE
    COLLECTIVE_OPS = {o["op"] for o in voc["ops"] if o.get("collective")}
    COLLECTIVE_PROFILE = str(gpu_path)
    check_workload_cases(a.hwcal, wv, fresh_path, work, voc)

    # (b) shipped profiles and test profiles
    profile_files = []
    for sub in ("profiles/cpu", "profiles/gpu"):
        files = sorted((src / sub).rglob("*.json")) if (src / sub).is_dir() else []
        if not files:
            print("note: no profiles under %s: nothing to check there" % sub)
        profile_files += files
    profile_files += [f for f in sorted((src / "tests/data").glob("*.json")) if "schema_version" in f.read_text()]
    for f in profile_files:
        rel = f.relative_to(src).as_posix()
        try:
            doc = load_json(f)
        except ValueError as e:
            fail("%s is not valid JSON: %s" % (rel, e))
            continue
        if not (isinstance(doc, dict) and "schema_version" in doc):
            continue
        err = first_error(pv, doc)
        rc, last = cxx_accepts_profile(a.hwcal, str(f))
        if err:
            fail("%s does not validate: %s" % (rel, describe(err)))
        elif rc != 0:
            fail("%s validates but hwcal show exits %d: %s" % (rel, rc, " ".join(last)))
        else:
            ok("%s (schema_version %s) validates and hwcal show reads it" % (rel, doc["schema_version"]))

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
            continue  # profiles, checked above
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
    if checked == 0:
        print("note: no workloads under examples/workloads or tests/data")
    for rel in sorted(EXPECTED_INVALID_WORKLOADS - seen_expected_invalid):
        fail("%s is missing (it must exist and fail validation)" % rel)

    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
