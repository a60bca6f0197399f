"""Who may import whom: the rule table below, checked on the source of every module.

The source is parsed (``ast``), not imported, and every import counts wherever it
is written: at the top, inside a function or a branch (a lazy import is still made,
by whichever process runs that code — often the Flink worker), and
``importlib.import_module("x")`` / ``__import__("x")`` with a literal name. A
module name built at run time cannot be read this way; those few call sites are
listed in ``DYNAMIC`` so a new one gets looked at.

The rules keep the serving side light and the layers one-way: ``udfs/`` core modules
are pure logic (no Flink, Feast, Redis, Kafka, onnxruntime — those are the
adapters'), ``udfs/`` and ``jobs/`` never reach into the training package or the
scripts, and ``models/`` (which may use ``udfs/``) never reaches into the scripts or
the jobs. Every module in ``udfs/`` sits in a folder that says whether it is core or an
adapter (``udfs/core/``, ``udfs/messages/`` pure; ``udfs/io/``, ``udfs/flink/``
adapters), so a file dropped at the top of ``udfs/`` fails this test.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("udfs", "jobs", "models", "features", "scripts")
TESTS = ROOT / "tests"
TIERS = ("unit", "contract", "flink", "integration", "e2e", "cluster")

# ------------------------------------------------------------------ the rule table

# Clients of the outside world; only adapters may import them.
EXTERNAL = ("pyflink", "feast", "redis", "onnxruntime", "kafka", "confluent_kafka")

# udfs/ by folder (docs/architecture.md): the folder a module sits in says what it may import.
# Pure logic: given values, return values (reading the repository's own file formats is
# allowed: catalog, config, the model registry's layout).
CORE = ("udfs.core", "udfs.messages", "udfs.config")
CORE_MODULES = ("udfs", "udfs.errors", "udfs.convert")   # the package, the one exception tree, msgspec's guard
# Adapters: where the outside world is touched.
IO = ("udfs.io",)         # Feast, Redis, Kafka, onnxruntime, log files: used by jobs, scripts and models
FLINK = ("udfs.flink",)   # the jobs' Flink functions: PyFlink around a core step


def classify(module: str) -> str | None:
    """'core', 'io' or 'flink' by folder; None for a module outside the known places."""
    if module in CORE_MODULES or any(module == p or module.startswith(p + ".") for p in CORE):
        return "core"
    for kind, prefixes in (("io", IO), ("flink", FLINK)):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return kind
    return None


# scripts/: what a person runs sits on top; what those import sits in a subfolder by purpose.
ENTRY_POINTS = tuple(sorted(p.stem for p in (ROOT / "scripts").glob("*.py") if p.stem != "__init__"))


class Rule(NamedTuple):
    name: str
    applies: tuple[str, ...]     # importing modules: exact names; "pkg.*" is pkg and all under it
    forbidden: tuple[str, ...]   # imported modules: these names and everything under them
    why: str


RULES = (
    Rule("core-is-pure", CORE_MODULES + tuple(f"{p}.*" for p in CORE), EXTERNAL + IO + FLINK,
         "a udfs/ core module imports no service client and no adapter"),
    Rule("io-is-not-flink", tuple(f"{p}.*" for p in IO), ("pyflink",) + FLINK,
         "udfs/io/ adapters run outside Flink too (jobs, scripts, models): no PyFlink"),
    Rule("serving-not-training", ("udfs.*", "jobs.*"), ("models", "scripts"),
         "udfs/ and jobs/ never import the training package or the scripts"),
    Rule("training-not-tools", ("models.*",), ("scripts", "jobs"),
         "models/ never imports the scripts or the jobs"),
    Rule("feast-definitions", ("features.*",), ("models", "scripts", "jobs"),
         "the Feast definitions read udfs/ only"),
    Rule("libraries-not-entry-points", tuple(f"scripts.{d}.*" for d in ("cli", "stack", "flinkctl", "bench", "drill", "synth", "sim", "k8s")),
         tuple(f"scripts.{m}" for m in ENTRY_POINTS),
         "scripts/' subfolders are libraries: they never import the entry points on top"),
    Rule("code-not-tests", tuple(f"{d}.*" for d in SCANNED), ("tests",),
         "the product and its scripts never import the tests (shared examples live in the code)"),
    # Otherwise scripts/ is the top of the tree (CLI, benchmarks, drills): it may import anything.
)
# (rule name, importing module, imported module) pairs accepted on purpose, each with why.
EXCEPTIONS: dict[tuple[str, str, str], str] = {}

# Modules whose imports take a computed name, which this test cannot follow.
DYNAMIC = {
    "jobs.cli": "importlib.import_module over JOBS, a tuple of jobs.* names",
    "scripts.cli": "importlib.import_module over COMMANDS, the subcommand modules",
    "scripts.messages_doc": "__import__(cls.__module__) to read a message class's docstring",
    "scripts.bench.decode_previous": "importlib.import_module of the previous udfs/messages/, read from git history",
}

# ------------------------------------------------------------------ the checker


class Import(NamedTuple):
    line: int
    name: str          # dotted module name, absolute


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(level: int, module: str | None, importer: str, is_package: bool) -> str:
    if not level:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _is_import_call(node: ast.AST) -> bool:
    """``importlib.import_module(…)``, ``import_module(…)`` or ``__import__(…)``."""
    if not isinstance(node, ast.Call) or not node.args:
        return False
    f = node.func
    return (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)) in ("import_module", "__import__")


def _literal_name(node: ast.Call) -> str | None:
    arg = node.args[0]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def imports(source: str, importer: str, is_package: bool = False) -> Iterator[Import]:
    """Every module ``source`` imports, anywhere in it. ``from a import b`` yields ``a`` and
    ``a.b`` (``b`` may be a submodule: ``from udfs import flink``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield Import(node.lineno, a.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.level, node.module, importer, is_package)
            if base:
                yield Import(node.lineno, base)
            for a in node.names:
                if a.name != "*":
                    yield Import(node.lineno, f"{base}.{a.name}" if base else a.name)
        elif _is_import_call(node) and (name := _literal_name(node)):
            # a relative name is taken as relative to the importer's package (package=__package__)
            dots = len(name) - len(name.lstrip("."))
            yield Import(node.lineno, _absolute(dots, name[dots:] or None, importer, is_package))


def dynamic_calls(source: str) -> list[int]:
    """Lines of import calls whose module name is not a literal."""
    return [n.lineno for n in ast.walk(ast.parse(source)) if _is_import_call(n) and _literal_name(n) is None]


def _under(name: str, prefixes) -> str | None:
    """The first of ``prefixes`` that is ``name`` or a package containing it."""
    return next((p for p in prefixes if name == p or name.startswith(p + ".")), None)


def _applies(rule: Rule, importer: str) -> bool:
    return any(importer == a or (a.endswith(".*") and _under(importer, (a[:-2],))) for a in rule.applies)


def violations(source: str, importer: str, where: str, rules=RULES, exceptions=EXCEPTIONS,
               is_package: bool = False) -> list[str]:
    """One message per forbidden import: where (file:line), which module, what it imports, which rule."""
    active = [r for r in rules if _applies(r, importer)]
    found: dict[tuple[int, str], tuple[str, Rule]] = {}   # (line, rule) -> shortest name hit
    for imp in imports(source, importer, is_package) if active else ():
        for r in active:
            hit = _under(imp.name, r.forbidden)
            if hit and (r.name, importer, hit) not in exceptions:
                key = (imp.line, r.name)
                if key not in found or len(imp.name) < len(found[key][0]):
                    found[key] = (imp.name, r)
    return [f"{where}:{line}: {importer} imports {name} ({r.name}: {r.why})"
            for (line, _), (name, r) in sorted(found.items())]


def _modules(folders, root: Path = ROOT) -> list[Path]:
    return sorted(p for f in folders for p in (root / f).rglob("*.py"))


# ------------------------------------------------------------------ the tests


def test_every_udfs_module_sits_in_a_folder_that_says_what_it_is():
    unplaced = sorted(m for m in (module_name(p) for p in _modules(["udfs"])) if classify(m) is None)
    assert not unplaced, ("put each in udfs/core/ (pure), udfs/io/ (outside world) or udfs/flink/ "
                          f"(Flink functions): {unplaced}")


def test_scripts_on_top_are_entry_points_and_below_are_libraries():
    """A file's folder says which it is: each top-level script runs as a program; nothing in
    a subfolder does (``python -m scripts.cli`` is the package's own ``__main__``)."""
    top = [p for p in (ROOT / "scripts").glob("*.py") if p.stem != "__init__"]
    not_runnable = [p.name for p in top if '__name__ == "__main__"' not in p.read_text()]
    assert not not_runnable, f"move these into a scripts/ subfolder (they are libraries): {not_runnable}"
    runnable = [p.relative_to(ROOT).as_posix() for p in (ROOT / "scripts").glob("*/**/*.py")
                if p.name != "__main__.py" and '__name__ == "__main__"' in p.read_text()]
    assert not runnable, f"entry points belong on top of scripts/: {runnable}"


def test_the_rule_table():
    problems = []
    for p in _modules(SCANNED):
        problems += violations(p.read_text(), module_name(p), p.relative_to(ROOT).as_posix(),
                               is_package=p.name == "__init__.py")
    assert not problems, "forbidden imports:\n" + "\n".join(problems)


def test_exceptions_are_still_needed():
    """An exception nobody needs any more is removed, so it cannot hide a new import."""
    used = set()
    for p in _modules(SCANNED):
        importer = module_name(p)
        for imp in imports(p.read_text(), importer, p.name == "__init__.py"):
            for (rule, who, what) in EXCEPTIONS:
                if who == importer and _under(imp.name, (what,)):
                    used.add((rule, who, what))
    assert set(EXCEPTIONS) <= used, sorted(set(EXCEPTIONS) - used)


def test_computed_imports_are_the_known_ones():
    found = {module_name(p) for p in _modules(SCANNED) if dynamic_calls(p.read_text())}
    assert found == set(DYNAMIC), ("an import by computed name cannot be checked: list it in DYNAMIC "
                                   f"with what it loads, or use a literal: new {sorted(found - set(DYNAMIC))}, "
                                   f"gone {sorted(set(DYNAMIC) - found)}")


def test_tests_share_code_through_tests_support_only():
    """A tier folder imports no other tier's folder nor tests/conftest.py (pytest loads that):
    what two tiers share lives in tests/support/."""
    problems = []
    for p in sorted(TESTS.rglob("*.py")):
        importer = module_name(p)
        own = importer.split(".")[1] if "." in importer else None
        for imp in imports(p.read_text(), importer, p.name == "__init__.py"):
            tier = _under(imp.name, tuple(f"tests.{t}" for t in TIERS))
            if _under(imp.name, ("tests.conftest",)) or (tier and tier != f"tests.{own}"):
                problems.append(f"{p.relative_to(ROOT)}:{imp.line}: {importer} imports {imp.name}")
    assert not problems, "\n".join(sorted(set(problems)))


# ------------------------------------------------------------------ the checker checks itself

LAZY = '''\
import json

def open(self):
    from udfs import config
    import numpy as np
    if np:
        from models.registry import Registry
    return Registry
'''


def test_a_lazy_import_in_a_function_body_is_caught_with_module_line_and_name():
    msgs = violations(LAZY, "udfs.flink.scoring", "udfs/flink/scoring.py")
    assert msgs == ["udfs/flink/scoring.py:7: udfs.flink.scoring imports models.registry "
                    "(serving-not-training: udfs/ and jobs/ never import the training package or the scripts)"]
    assert violations(LAZY.replace("models.registry", "udfs.core.model_store"), "udfs.flink.scoring", "x.py") == []


@pytest.mark.parametrize("source, line, name", [
    ("import importlib\nm = importlib.import_module('redis')\n", 2, "redis"),
    ("from importlib import import_module\nimport_module('pyflink.common')\n", 2, "pyflink.common"),
    ("x = __import__('onnxruntime')\n", 1, "onnxruntime"),
    ("from udfs.io import feast_store\n", 1, "udfs.io"),              # an adapter package
    ("from udfs import flink\n", 1, "udfs.flink"),                    # a whole adapter package
    ("import kafka.admin as ka\n", 1, "kafka.admin"),
    ("def f():\n    try:\n        import confluent_kafka\n    except ImportError:\n        pass\n", 3,
     "confluent_kafka"),
    ("from ..io.onnx_scorer import OnnxScorer\n", 1, "udfs.io.onnx_scorer"),   # relative, resolved
])
def test_each_way_of_importing_is_seen(source, line, name):
    msgs = violations(source, "udfs.core.scoring", "udfs/core/scoring.py")
    assert any(m.startswith(f"udfs/core/scoring.py:{line}: udfs.core.scoring imports {name} (core-is-pure") for m in msgs), msgs


def test_allowed_imports_pass_and_exceptions_are_honoured():
    assert violations("import numpy\nfrom udfs.core.model_store import POINTER\n", "udfs.core.scoring", "s.py") == []
    src = "from scripts import stack\n"
    assert violations(src, "models.cli", "models/cli.py")
    assert violations(src, "models.cli", "models/cli.py",
                      exceptions={("training-not-tools", "models.cli", "scripts"): "why"}) == []
    assert dynamic_calls("import importlib\nfor n in NAMES:\n    importlib.import_module(n)\n") == [3]
    assert dynamic_calls("__import__('os')\n") == []


def test_prefixes_are_whole_names():
    assert violations("import kafkaesque\nimport redisx\n", "udfs.core.scoring", "s.py") == []
    assert violations("import models_helper\n", "udfs.core.scoring", "s.py") == []


# ------------------------------------------------------------------ and at run time

def test_the_serving_read_side_loads_without_the_training_package():
    """What the scoring worker imports to follow the registry and score: nothing of models/,
    scripts/ or pandas comes with it (the static rules say so; this says the interpreter agrees)."""
    code = ("import sys, udfs.core.model_store, udfs.core.model_watch, udfs.io.onnx_scorer, udfs.core.calibration;"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'models', 'scripts', 'pandas'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
