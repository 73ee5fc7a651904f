"""Atomic writes: a reader (a polling model server, a phone build) sees the old
file or the new one, never half of one."""

import json
import os


def write_bytes(path, content):
    """Writes ``content`` to ``path`` through a temporary file in the same directory."""
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with open(temporary, "wb") as f:
            f.write(content)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path, text):
    """``write_bytes`` of UTF-8 text."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path, value):
    """``write_text`` of ``value`` as indented JSON."""
    write_text(path, json.dumps(value, indent=2) + "\n")
