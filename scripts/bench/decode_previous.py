"""The hand-written decoder the wire formats had before msgspec, read from git for comparison.

``scripts/bench_decode.py`` times today's decoder against this one in the same run (paired
ratios cancel the shared box's swings; figures from another day do not) and checks that the
two accept, reject and decode the same inputs. It is not kept in the tree: ``load`` reads
``udfs/messages/`` as it was at ``REV`` (the last commit with it) out of the repository's
history into a temporary package, so what is measured is exactly the code that ran. Its
``MessageError`` is today's (``udfs.errors`` is imported, not copied).
"""
from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
REV = "fc929a8"           # main before the msgspec migration
PACKAGE = "adstream_previous_messages"


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout


def load(rev: str = REV) -> ModuleType:
    """``udfs.messages`` at ``rev``, importable as ``adstream_previous_messages`` (cached per process)."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE]
    where = Path(tempfile.mkdtemp(prefix="adstream-previous-"))
    (where / PACKAGE).mkdir()
    for path in _git("ls-tree", "--name-only", f"{rev}:udfs/messages/").split():
        if path.endswith(".py"):
            text = _git("show", f"{rev}:udfs/messages/{path}")
            (where / PACKAGE / path).write_text(text.replace("udfs.messages", PACKAGE))
    sys.path.insert(0, str(where))
    return importlib.import_module(PACKAGE)


def counterpart(cls: type) -> type:
    """The previous decoder's class of today's format ``cls`` (same schema)."""
    return next(c for c in load().ALL if c.SCHEMA == cls.SCHEMA)


def compared(classes) -> tuple[type, ...]:
    """The formats of ``classes`` the previous decoder also had: a format added since has no
    previous decoder to be timed or checked against, so the comparison leaves it out."""
    have = {c.SCHEMA for c in load().ALL}
    return tuple(c for c in classes if c.SCHEMA in have)


def unchanged(classes) -> tuple[type, ...]:
    """The compared formats still at the previous decoder's version: the equivalence check's. A
    format given a new version since (clickstream, ad request and served log v2: consent) accepts
    other records by design, so comparing its acceptance with the previous decoder says nothing."""
    return tuple(c for c in compared(classes) if counterpart(c).VERSION == c.VERSION)
