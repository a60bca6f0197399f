"""What README.md and docs/*.md name exists: repository paths, make targets, CLI commands.

A reader follows these names; one that no longer exists is a broken promise. Names
are taken from inline code and code blocks. Runtime output (``.work/``, ``.venv/``,
``.jars/``) and placeholders (``<job>``, ``DIR``) are not repository paths.
"""
from __future__ import annotations

import argparse
import glob
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A name is checked as a path when it starts with one of the repository's own folders.
TOP = ("jobs/", "udfs/", "features/", "models/", "conf/", "scripts/", "tests/", "docs/", ".ci/")
TOP_FILES = ("Makefile", "setup.cfg", "pyproject.toml", "constraints.txt", "README.md")

CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)


def _snippets(text: str) -> list[str]:
    out = []
    for block, inline in CODE.findall(text):
        out.extend(block.splitlines() if block else [inline])
    return out


def _paths(snippet: str) -> list[str]:
    found = []
    for tok in re.split(r"[\s,;()=]+", snippet):
        tok = tok.strip("'\"`.:").removeprefix("./")
        if tok.startswith(TOP) or tok in TOP_FILES:
            tok = re.sub(r"[:#].*$", "", tok)              # file:line, file#anchor
            if not re.search(r"[<>{}]|[A-Z]{3,}", tok.split("/")[-1]):   # placeholders
                found.append(tok)
    return found


def _make_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))


def _subcommands(parser: argparse.ArgumentParser) -> dict:
    """Subparsers by name, or a first positional's choices (``stack up|down``) mapped to None."""
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            return dict(a.choices)
    for a in parser._actions:
        if not a.option_strings and a.choices:
            return dict.fromkeys(a.choices)
    return {}


def _cli_ok(words: list[str]) -> str | None:
    """None when ``adstream WORDS…`` names existing (sub)commands; else what is missing."""
    from scripts.cli import build_parser
    parser = build_parser()
    for w in words:
        subs = _subcommands(parser) if parser is not None else {}
        if not subs or w.startswith("-") or not re.fullmatch(r"[a-z][a-z0-9|-]*", w):
            return None                                    # reached options or arguments
        for alt in w.split("|"):
            if alt not in subs:
                return f"no subcommand {alt!r} (have: {', '.join(subs)})"
        parser = subs[w.split("|")[0]]
    return None


def _all() -> list[tuple[str, str]]:
    return [(d.relative_to(ROOT).as_posix(), s) for d in DOCS for s in _snippets(d.read_text())]


def test_every_named_path_exists():
    missing = [f"{doc}: {p}" for doc, s in _all() for p in _paths(s)
               if not (glob.glob(str(ROOT / p)) or (ROOT / p.rstrip("/")).exists())]
    assert not missing, "named in docs but absent:\n" + "\n".join(missing)


def test_every_named_make_target_exists():
    targets = _make_targets()
    named = {(doc, m) for doc, s in _all() for m in re.findall(r"\bmake ([a-z][a-z0-9-]*)", s)}
    assert named, "the README names make targets; the pattern must find them"
    missing = [f"{doc}: make {m}" for doc, m in sorted(named) if m not in targets]
    assert not missing, "\n".join(missing)


def test_every_named_cli_command_exists():
    named = []
    for doc, s in _all():
        for m in re.finditer(r"(?:^|\s|/)adstream ((?:[a-z][a-z0-9|-]*\s*)+)", s):
            named.append((doc, m.group(1).split()))
    assert len(named) > 10, "the README's command list must be found"
    bad = [f"{doc}: adstream {' '.join(w)}: {why}" for doc, w in named if (why := _cli_ok(w))]
    assert not bad, "\n".join(bad)


def test_cli_check_fails_on_a_missing_command():
    assert _cli_ok(["stack", "up|down"]) is None and _cli_ok(["model", "train"]) is None
    assert "nope" in _cli_ok(["stack", "up|nope"]) and "nonesuch" in _cli_ok(["model", "nonesuch"])


@pytest.mark.parametrize("snippet, expect", [
    ("see docs/nope.md", ["docs/nope.md"]),
    ("udfs/core/profile.py:42", ["udfs/core/profile.py"]),
    ("conf/<env>.yaml", []),
    (".work/logs/profile.log", []),
])
def test_path_extraction(snippet, expect):
    assert _paths(snippet) == expect
