"""``adstream privacy pseudonymise --in FILE --out FILE``: JSON lines with their identifiers
replaced by pseudonyms (``udfs.core.pseudonym``), for a site that exports records or tests its
feed before producing them.

Each line is one JSON object (an event, a request, anything with a ``user_id``); every direct
identifier at its top level is replaced, the rest is written as it was. The key comes from the
environment variable named by ``privacy.pseudonym_key_env``; without it the command stops
before reading anything. A line that is not a JSON object stops the run with its line number
(nothing half-pseudonymised is left behind: the output is written to a temporary file first).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from udfs.config import Config
from udfs.core.pseudonym import IDENTIFIERS, Pseudonymiser
from udfs.errors import AdstreamError


def pseudonymise_file(cfg: Config, src: Path, dst: Path, environ=None, progress=None) -> int:
    """Write ``src``'s JSON lines to ``dst`` pseudonymised; returns the number of records."""
    p = Pseudonymiser.from_environ(cfg.privacy, os.environ if environ is None else environ)
    tmp = dst.with_name(dst.name + ".part")
    n = 0
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            for lineno, line in enumerate(fin, 1):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError as e:
                    raise AdstreamError(f"{src}:{lineno}: not JSON ({e})") from None
                if not isinstance(doc, dict):
                    raise AdstreamError(f"{src}:{lineno}: expected a JSON object, got {type(doc).__name__}")
                fout.write(json.dumps(p.record(doc), ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                n += 1
                if progress and n % 100_000 == 0:
                    progress(n)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "privacy", help="pseudonymise JSON lines (privacy tools: docs/privacy.md)",
        description="pseudonymise: read JSON lines (--in), replace every direct identifier "
                    f"({', '.join(IDENTIFIERS)}) with its keyed pseudonym (HMAC-SHA256, key from the "
                    "environment variable named by privacy.pseudonym_key_env, key id "
                    "privacy.pseudonym_key_id), write them to --out.")
    p.add_argument("action", choices=["pseudonymise"])
    p.add_argument("--in", dest="src", required=True, metavar="FILE", help="JSON lines to read")
    p.add_argument("--out", dest="dst", required=True, metavar="FILE", help="where to write them")
    p.set_defaults(func=_main)


def _main(cfg: Config, a) -> int:
    src, dst = Path(a.src), Path(a.dst)
    if not src.is_file():
        raise AdstreamError(f"{src}: no such file")
    if src.resolve() == dst.resolve():
        raise AdstreamError("--in and --out must be different files")
    t0 = time.monotonic()
    n = pseudonymise_file(cfg, src, dst, progress=lambda k: print(f"privacy: {k} records …", file=sys.stderr))
    print(f"privacy: {n} records pseudonymised with key {cfg.privacy.pseudonym_key_id} → {dst} "
          f"({time.monotonic() - t0:.1f} s)")
    return 0
