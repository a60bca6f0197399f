"""Every branch of scripts/setup.sh, run for real against recording stand-in tools.

The script is copied with the files it hashes into a temporary tree and run with a
PATH that holds only the real basic utilities it needs plus stand-ins for ``id``,
``sudo``, ``apt-get``, ``systemctl``, ``mvn`` and Python, each of which appends its
argv (and ``DEBIAN_FRONTEND``) to a log. ``redis-server`` is on that PATH only when a
test (or the stand-in apt-get) puts it there. The real install path still runs in
``make test`` itself, whose set-up installs redis-server where it is missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Real tools the script itself calls (bash builtins aside); nothing else is on its PATH.
REAL_TOOLS = ("bash", "cat", "sha256sum", "cut", "ls", "mkdir", "rm", "awk", "dirname", "env")
# The stand-ins' own helpers, by absolute path: they must not widen the script's PATH.
CP, CHMOD, MKDIR = (shutil.which(t) for t in ("cp", "chmod", "mkdir"))

STANDIN = """#!/bin/bash
printf '%s DEBIAN_FRONTEND=%s\\n' "${0##*/} $*" "${DEBIAN_FRONTEND:-}" >> "$CALLS"
"""


def _standin(bindir: Path, name: str, body: str = "") -> None:
    p = bindir / name
    p.write_text(STANDIN + body)
    p.chmod(0o755)


class Tree:
    """A throwaway copy of the files setup.sh reads, with a controlled PATH."""

    def __init__(self, root: Path, *, uid: int = 0, sudo: bool = True, apt: bool = True,
                 apt_fails: bool = False, mvn: bool = True, python: bool = True):
        self.root, self.bin, self.calls = root / "repo", root / "bin", root / "calls.log"
        (self.root / "scripts" / "jvm").mkdir(parents=True)
        (self.root / "udfs").mkdir()
        (self.root / "udfs" / "__init__.py").write_text("")
        for f in ("constraints.txt", "setup.cfg", "pyproject.toml", "scripts/setup.sh", "scripts/jvm/pom.xml"):
            shutil.copy(REPO / f, self.root / f)
        self.bin.mkdir()
        self.calls.write_text("")
        for tool in REAL_TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool))
        _standin(self.bin, "id", f'[ "$1" = -u ] && echo {uid}\n')
        if sudo:
            _standin(self.bin, "sudo", '"$@"\n')      # records, then runs the command as given
        if apt:
            # install "succeeds" by putting a redis-server on PATH, like the real package
            body = "exit 1\n" if apt_fails else (
                'if [ "$1" = install ]; then printf \'#!/bin/bash\\necho "Redis server v=7.0.15 sha"\\n\''
                f' > {self.bin}/redis-server; {CHMOD} +x {self.bin}/redis-server; fi\n')
            _standin(self.bin, "apt-get", body)
        _standin(self.bin, "systemctl")
        if mvn:
            _standin(self.bin, "mvn", f'for a; do case $a in -DoutputDirectory=*) {MKDIR} -p "${{a#*=}}";; esac; done\n')
        if python:
            # `python -m venv DIR` makes a venv whose pip is a stand-in too
            venv_body = (f'if [ "$1" = -m ] && [ "$2" = venv ]; then {MKDIR} -p "$3/bin"; '
                         f'{CP} {self.bin}/pip "$3/bin/pip"; {CP} "$0" "$3/bin/python"; fi\n'
                         'if [ "$1" = --version ]; then echo "Python 3.11.0"; fi\n')
            _standin(self.bin, "pip")
            _standin(self.bin, "python3.11", venv_body)

    def run(self, *steps: str) -> subprocess.CompletedProcess:
        env = {"PATH": str(self.bin), "CALLS": str(self.calls), "HOME": str(self.root)}
        return subprocess.run([str(self.bin / "bash"), "scripts/setup.sh", *steps], cwd=self.root,
                              env=env, capture_output=True, text=True, timeout=60)

    def log(self) -> list[str]:
        return self.calls.read_text().splitlines()

    def reset_log(self) -> None:
        self.calls.write_text("")


@pytest.fixture
def tree(tmp_path):
    return lambda **kw: Tree(tmp_path, **kw)


APT_UPDATE = "apt-get update -qq DEBIAN_FRONTEND=noninteractive"
APT_INSTALL = "apt-get install -y -qq redis-server DEBIAN_FRONTEND=noninteractive"


def test_redis_installed_as_root_without_sudo(tree):
    t = tree(uid=0)
    r = t.run("redis")
    assert r.returncode == 0, r.stderr
    calls = t.log()
    assert APT_UPDATE in calls and APT_INSTALL in calls
    assert not any(c.startswith("sudo ") for c in calls), calls
    assert "step redis done in" in r.stdout


def test_redis_installed_through_sudo_when_not_root(tree):
    t = tree(uid=1000)
    r = t.run("redis")
    assert r.returncode == 0, r.stderr
    calls = t.log()
    assert "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server DEBIAN_FRONTEND=" in calls
    assert APT_INSTALL in calls          # and the variable reached apt-get through sudo
    assert "through sudo" in r.stdout


def test_not_root_and_no_sudo_says_what_to_do(tree):
    t = tree(uid=1000, sudo=False)
    r = t.run("redis")
    assert r.returncode == 1
    assert "not root and has no sudo" in r.stderr and "apt-get install redis-server" in r.stderr
    assert not any(c.startswith("apt-get") for c in t.log())


def test_no_apt_get_says_what_to_do(tree):
    t = tree(uid=0, apt=False)
    r = t.run("redis")
    assert r.returncode == 1
    assert "no apt-get" in r.stderr and "redis-server" in r.stderr


def test_failed_apt_install_stops_with_a_message(tree):
    t = tree(uid=0, apt_fails=True)
    r = t.run("redis")
    assert r.returncode == 1
    assert "apt-get update failed" in r.stderr


def test_redis_present_installs_nothing(tree):
    t = tree(uid=0)
    t.run("redis")                       # installs the stand-in redis-server
    t.reset_log()
    r = t.run("redis")
    assert r.returncode == 0
    assert "redis-server present (v=7.0.15)" in r.stdout
    assert t.log() == []


def test_jars_fetched_then_skipped_then_refetched_when_the_pom_changes(tree):
    t = tree()
    r = t.run("jars")
    assert r.returncode == 0, r.stderr
    assert sum(c.startswith("mvn ") for c in t.log()) == 2
    assert (t.root / ".jars" / ".stamp").exists()
    t.reset_log()
    assert "jars up to date" in t.run("jars").stdout and t.log() == []
    (t.root / "scripts" / "jvm" / "pom.xml").write_text("<project/>\n")   # stale stamp
    assert t.run("jars").returncode == 0
    assert sum(c.startswith("mvn ") for c in t.log()) == 2


def test_jars_missing_without_mvn_says_what_to_do(tree):
    t = tree(mvn=False)
    r = t.run("jars")
    assert r.returncode == 1 and "apt-get install maven" in r.stderr


def test_venv_created_then_skipped_then_reinstalled_when_stale(tree):
    t = tree()
    r = t.run("venv")
    assert r.returncode == 0, r.stderr
    calls = t.log()
    assert any(c.startswith("python3.11 -m venv .venv") for c in calls), calls
    assert any(c.startswith("pip install -q -c constraints.txt -e .[all]") for c in calls), calls
    t.reset_log()
    assert "python packages up to date" in t.run("venv").stdout and t.log() == []
    with open(t.root / "constraints.txt", "a") as f:          # a new pin: the stamp is stale
        f.write("somepkg==1.0\n")
    assert t.run("venv").returncode == 0
    calls = t.log()
    assert not any(" -m venv" in c for c in calls), "an existing venv is reused"
    assert any(c.startswith("pip install -q -c constraints.txt") for c in calls)


def test_venv_without_python_says_what_to_do(tree):
    t = tree(python=False)
    r = t.run("venv")
    assert r.returncode == 1 and "Python 3.11" in r.stderr


def test_whole_run_times_each_step_and_unknown_step_is_refused(tree):
    t = tree(uid=0)
    r = t.run()
    assert r.returncode == 0, r.stderr
    for step in ("venv", "redis", "jars"):
        assert f"step {step} done in" in r.stdout
    assert "ready in" in r.stdout
    bad = t.run("nope")
    assert bad.returncode == 1 and "unknown step 'nope'" in bad.stderr
