"""JSON files of the GPU validation scripts: read and written gzip-compressed when
the name ends in .gz (the reports' results are 2.4 MB of JSON each, and the device
tool carries at most 64 MiB of tree), and written atomically, so an interrupted run
(a device lease that ends, SIGTERM) never leaves half a file where a whole one was."""
from __future__ import annotations

import gzip
import json
import os


def load_json(path):
    """A JSON file, gzip-compressed when its name ends in .gz."""
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        return json.load(f)


def write_atomic(path, text):
    """Writes text to a temporary file beside path, then renames it over path; gzip
    (with no timestamp inside, so the same text gives the same bytes) for a .gz name."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "wb") as f:
        data = text.encode()
        f.write(gzip.compress(data, mtime=0) if path.endswith(".gz") else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj):
    """obj as indented JSON (one space), atomically."""
    write_atomic(path, json.dumps(obj, indent=1) + "\n")
