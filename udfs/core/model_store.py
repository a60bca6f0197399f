"""The model registry's folder, read: its layout, its versions, and where ``current`` points.

The one owner of the on-disk layout under ``cfg.paths.model_registry`` — file names,
version-folder names, the pointer's JSON — so the side that serves (udfs/flink/scoring.py
follows the pointer) and the side that writes (models/registry.py adds, promotes, rolls
back) cannot drift apart::

    v0001-1a2b3c4d/   model.onnx  signature.json  report.json  report.html  model.ubj  holdout.parquet
    v0002-.../
    current           {"version": "v0002-...", "previous": ["v0001-..."], "updated_at": ..., ...}  (JSON)
    history.jsonl     one line per promote / rollback
    .lock             held by the writer while it changes anything

Reading takes no lock: the writer replaces ``current`` atomically and a version folder
appears whole (staged under a name ``VERSION`` does not match, then renamed), so a reader
sees the old state or the new one. Pure: files and JSON only — loading a model into
onnxruntime is udfs/io/onnx_scorer.py's job.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from udfs.errors import ModelError

MODEL = "model.onnx"
SIGNATURE = "signature.json"
HOLDOUT = "holdout.parquet"
# What a version folder may hold, i.e. what registering an exported folder copies.
FILES = (MODEL, SIGNATURE, "report.json", "report.html", "model.ubj", HOLDOUT)
POINTER = "current"
HISTORY = "history.jsonl"
LOCK = ".lock"
VERSION = re.compile(r"^v(\d{4,})-[0-9a-f]{8}$")


def version_name(number: int, fingerprint: str) -> str:
    """The folder name of version ``number`` (``VERSION`` may still refuse a non-hex fingerprint)."""
    return f"v{number:04d}-{fingerprint}"


def version_number(name: str) -> int:
    return int(VERSION.match(name).group(1))


def pointer_record(version: str, previous: list[str], updated_at: str, **entry) -> dict:
    """What ``current`` holds: the serving version, the stack of earlier ones, and why."""
    return {"version": version, "previous": previous, "updated_at": updated_at, **entry}


def read_signature(path: Path) -> dict:
    """A model's signature; ``ModelError`` when it is missing, unreadable or lacks what scoring needs."""
    try:
        sig = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise ModelError(f"model signature missing: {path}") from e
    except (OSError, ValueError) as e:
        raise ModelError(f"model signature unreadable: {path}: {e}") from e
    if not isinstance(sig, dict) or not isinstance(sig.get("features"), list) or "model_version" not in sig:
        raise ModelError(f"model signature {path} lacks 'features' or 'model_version'")
    return sig


def signature_or_empty(path: Path) -> dict:
    """The signature, or ``{}`` when it cannot be read (listing shows such a version, unservable)."""
    try:
        sig = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return sig if isinstance(sig, dict) else {}


@dataclass(frozen=True)
class Version:
    version: str
    path: Path
    signature: dict

    @property
    def auc(self) -> float | None:
        return (self.signature.get("metrics") or {}).get("auc")


class ModelStore:
    """Read-only view of one registry folder; every call reads the disk afresh."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def versions(self) -> list[Version]:
        """Registered versions; one whose signature cannot be read is listed with an empty one
        (so ``list`` shows it, unservable, instead of failing)."""
        if not self.root.exists():
            return []
        out = []
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and VERSION.match(d.name) and (d / SIGNATURE).exists():
                out.append(Version(d.name, d, signature_or_empty(d / SIGNATURE)))
        return out

    def get(self, version: str) -> Version:
        """A version by its full name or its ``vNNNN`` prefix."""
        for v in self.versions():
            if v.version == version or v.version.startswith(version + "-"):
                return v
        raise ModelError(f"no model version {version!r} in {self.root}")

    def pointer(self) -> dict | None:
        p = self.root / POINTER
        return json.loads(p.read_text()) if p.exists() else None

    def current(self) -> str | None:
        ptr = self.pointer()
        return ptr["version"] if ptr else None

    def current_dir(self) -> Path | None:
        v = self.current()
        return self.root / v if v else None

    def history(self) -> list[dict]:
        p = self.root / HISTORY
        return [json.loads(line) for line in p.read_text().splitlines() if line] if p.exists() else []
