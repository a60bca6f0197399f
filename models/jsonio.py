"""Atomic JSON files: readers (a scorer polling ``current``) see the old file or the new, never half."""
from __future__ import annotations

import json
import os
from pathlib import Path


def write_json(path: str | Path, obj: dict) -> None:
    """Write to a temp file beside ``path``, then ``os.replace`` it into place."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    os.replace(tmp, path)
