"""JSON files of the GPU validation scripts: read (gzip-compressed when the name
ends in .gz) and written atomically, so an interrupted run (a device lease that
ends, SIGTERM) never leaves half a file where a whole one was."""
from __future__ import annotations

import gzip
import json
import os


def load_json(path):
    """A JSON file, gzip-compressed when its name ends in .gz."""
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
        return json.load(f)


def write_atomic(path, text):
    """Writes text to a temporary file beside path, then renames it over path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path, obj):
    """obj as indented JSON (one space), atomically."""
    write_atomic(path, json.dumps(obj, indent=1) + "\n")
