"""``adstream privacy pseudonymise --in FILE --out FILE``: JSON lines with their identifiers
replaced by pseudonyms (``udfs.core.pseudonym``), for a site that exports records or tests its
feed before producing them. ``adstream privacy erase USER`` and ``adstream privacy verify USER``:
the right to erasure and its proof (``scripts/cli/erasure.py``, docs/privacy.md "Erasure").

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
        "privacy", help="pseudonymise JSON lines; erase a user everywhere and verify it (docs/privacy.md)",
        description="pseudonymise: read JSON lines (--in), replace every direct identifier "
                    f"({', '.join(IDENTIFIERS)}) with its keyed pseudonym (HMAC-SHA256, key from the "
                    "environment variable named by privacy.pseudonym_key_env, key id "
                    "privacy.pseudonym_key_id), write them to --out. "
                    "erase USER: publish an erasure request (the profile and feedback jobs drop the user's "
                    "state and online hash and write audit records), rewrite the training-log and offline "
                    "files holding the user, write an audit record to the audit file and topic; --wait "
                    "waits for the jobs' records. verify USER: check every store for the user and print "
                    "what was checked; exit 0 only when the user is absent everywhere.",
        epilog="USER is the id as the stores hold it; with privacy.erasure.pseudonymise_user (or "
               "privacy.pseudonymise_replay) a raw id is pseudonymised first.")
    p.add_argument("action", choices=["pseudonymise", "erase", "verify"])
    p.add_argument("user", nargs="?", metavar="USER", help="erase, verify: the user's id")
    p.add_argument("--in", dest="src", metavar="FILE", help="pseudonymise: JSON lines to read")
    p.add_argument("--out", dest="dst", metavar="FILE", help="pseudonymise: where to write them")
    p.add_argument("--ticket", metavar="T", help="erase: the privacy desk's ticket id (default: a new one)")
    p.add_argument("--wait", action="store_true",
                   help="erase: wait (privacy.erasure.wait_s) for the jobs' audit records; exit 1 if one "
                        "does not come")
    p.set_defaults(func=_main)


def _main(cfg: Config, a) -> int:
    if a.action in ("erase", "verify"):
        from scripts.cli import erasure
        if not a.user:
            raise AdstreamError(f"privacy {a.action}: name the user: adstream privacy {a.action} USER")
        user = erasure.user_id(cfg, a.user)
        if a.action == "verify":
            return erasure.print_verify(user, erasure.verify(cfg, user))
        res = erasure.erase(cfg, user, ticket=a.ticket, wait=a.wait,
                            progress=lambda s: print(f"privacy: {s}", file=sys.stderr, flush=True))
        return erasure.print_erase(res)
    if not a.src or not a.dst:
        raise AdstreamError("privacy pseudonymise needs --in FILE and --out FILE")
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
