"""Loading: ``conf/*.yaml`` → overlays → ``--set`` → ``${VAR}`` → absolute paths → the schema.

``load()`` merges ``conf/base.yaml``, an environment overlay (``local`` by default,
``test`` in tests), any ``--conf FILE`` overlays and ``--set a.b=c`` overrides, then
resolves ``${VAR}`` / ``${VAR:-default}`` from the environment, makes every path value
absolute against the project root (once, here: a worker that gets the config as a dict
on another machine or working directory gets the same paths; a URI such as
``file:///…`` or ``s3://…`` is kept as it is), and converts the result into the
dataclasses of ``udfs.config.schema`` with ``msgspec.convert`` (strict). Unknown keys, missing
ones, wrong types, a section's own rules and unresolved variables raise :class:`ConfigError`
naming the dotted key (``scoring.campaign_caps[1].window_s``).
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from pathlib import Path
from typing import Any, Mapping

import msgspec
import yaml

from udfs.config.experiments import Experiments
from udfs.convert import convert
from udfs.config.schema import Config
from udfs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"
# Every config value that names a file or folder; relative ones are relative to ROOT.
PATH_KEYS = ("paths.work_dir", "paths.jars_dir", "paths.data_dir", "paths.model_registry",
             "paths.retrain_runs", "jars.kafka_dir", "jars.flink_connector", "flink.checkpoint_dir",
             "feast.repo_dir", "scoring_job.catalog_file", "scoring_job.experiments_file",
             "feedback.training_log", "ope.openbandit_dir", "flink.cluster.savepoint_dir",
             "profile.keyword_map",
             "interests.segments.centroids_uri", "interests.evaluate.taobao_path")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def absolute(value: str, root: Path = ROOT) -> str:
    """A path value made absolute against ``root``; URIs and "" (meaning none) unchanged."""
    if not isinstance(value, str) or not value or _URI.match(value) or Path(value).is_absolute():
        return value
    return str(root / value)


def _absolute_paths(merged: dict, root: Path = ROOT) -> dict:
    for dotted in PATH_KEYS:
        *sections, key = dotted.split(".")
        node = merged
        for section in sections:   # nested sections too (flink.cluster.savepoint_dir, interests.segments.…)
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict) and key in node:
            node[key] = absolute(node[key], root)
    return merged


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _deep_merge(base: dict, over: Mapping, prefix: str = "") -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v, f"{prefix}{k}.")
        else:
            out[k] = v
    return out


def _resolve_vars(node: Any, env: Mapping[str, str], key: str = "") -> Any:
    if isinstance(node, Mapping):
        return {k: _resolve_vars(v, env, f"{key}.{k}" if key else k) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve_vars(v, env, f"{key}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def sub(m: re.Match) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(key, f"${{{name}}} is not set in the environment and has no default")

    resolved = _VAR.sub(sub, node)
    if resolved != node and _VAR.fullmatch(node):
        # A whole-value variable keeps YAML typing ("9092" -> 9092).
        return yaml.safe_load(resolved) if resolved else resolved
    return resolved


def _parse_set(expr: str) -> dict:
    if "=" not in expr:
        raise ConfigError(expr, "--set takes KEY=VALUE, e.g. --set kafka.port=19092")
    dotted, raw = expr.split("=", 1)
    value = yaml.safe_load(raw) if raw else ""
    node: dict = {}
    cur = node
    parts = dotted.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return node


# msgspec converts the merged dict into the schema's dataclasses (types, required keys,
# defaults, each section's __post_init__ rules); what it does not do is done here: an unknown
# key is an error (msgspec ignores one in a dataclass), a number given to a text setting is
# its text (YAML reads `--set kafka.acks=1` as an int), and its errors become ConfigError
# naming the dotted key. strict: no "123" for an integer, no 1.0 for an integer, no 1 for true.
_AT = re.compile(r" - at `\$([^`]*)`$")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_TYPE = re.compile(r"Expected `([^`]+)`, got `([^`]+)`$")
_MISSING = re.compile(r"Object missing required field `(.*)`$")
_WORD = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true/false",
         "object": "a mapping", "array": "a list"}


def _convert(data: Any, schema: type = Config) -> Any:
    while True:
        try:
            cfg = convert(data, schema, strict=True)
        except msgspec.ValidationError as e:
            parts, reason = _where(e)
            value, m = _at(data, parts), _TYPE.match(reason)
            if not (m and m.group(1) in ("str", "str | null") and type(value) in (int, float)):
                raise _config_error(e, parts, reason, data, schema) from None
            data = _put(data, parts, str(value))   # a text setting given a number: its text
            continue
        _reject_unknown(data, _tree(cfg), "")
        return cfg


def _where(e: msgspec.ValidationError) -> tuple[list, str]:
    """msgspec states the path only in its message (``... - at `$.scoring.campaign_caps[0]```)."""
    text = str(e)
    at = _AT.search(text)
    if at is None:
        return [], text
    steps = [name or (int(i) if i.isdigit() else i) for name, i in _STEP.findall(at.group(1))]
    return steps, text[:at.start()]


def _dotted(parts: list) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if n else p) for n, p in enumerate(parts))


def _at(data: Any, parts: list) -> Any:
    for p in parts:
        try:
            data = data[p]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _put(data: Any, parts: list, value: Any) -> Any:
    """``data`` with ``value`` at ``parts``, copied along that path only."""
    if not parts:
        return value
    head, rest = parts[0], parts[1:]
    if isinstance(data, list):
        return [_put(v, rest, value) if i == head else v for i, v in enumerate(data)]
    return {**data, head: _put(data[head], rest, value)}


def _config_error(e: msgspec.ValidationError, parts: list, reason: str, data: Any,
                  schema: type = Config) -> ConfigError:
    if "..." in parts:   # a mapping's value: msgspec does not say under which key
        i = parts.index("...")
        mapping, value_type = _at(data, parts[:i]), _type_at(parts[:i + 1], schema)
        bad = [k for k, v in (mapping.items() if isinstance(mapping, Mapping) else ()) if not _fits(v, value_type)]
        parts = parts[:i] + bad[:1] + parts[i + 1:] if bad else parts[:i]
    key = _dotted(parts)
    cause = e.__cause__
    if isinstance(cause, ConfigError):   # a section's own rule: its key is relative to the section
        inner = cause.key if not key or cause.key == key or cause.key.startswith(key + ".") else f"{key}.{cause.key}"
        return ConfigError(inner, cause.reason)
    if m := _MISSING.match(reason):
        return ConfigError(_dotted(parts + [m.group(1)]), "missing required key")
    if m := _TYPE.match(reason):
        got = _at(data, parts)
        want = _WORD.get(m.group(1), m.group(1))
        return ConfigError(key or "<config>", f"expected {want}, got "
                           + (type(got).__name__ if want == "a mapping" else repr(got)))
    return ConfigError(key or "<config>", reason)


def _type_at(parts: list, schema: type = Config) -> Any:
    """The schema's type of the value at ``parts`` (a field, a tuple's item, a mapping's value)."""
    tp: Any = schema
    for p in parts:
        if dataclasses.is_dataclass(tp):
            tp = typing.get_type_hints(tp)[p]
        else:
            args = typing.get_args(tp)
            tp = args[0] if typing.get_origin(tp) is tuple else args[-1]
    return tp


def _fits(value: Any, tp: Any) -> bool:
    try:
        convert(value, tp, strict=True)
    except msgspec.ValidationError:
        return False
    return True


def _tree(obj: Any) -> Any:
    """The typed value as dicts and lists with every field, defaults included (msgspec's
    ``to_builtins`` leaves out a default field of a dataclass inside a tuple)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: _tree(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_tree(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: _tree(v) for k, v in obj.items()}
    return obj


def _reject_unknown(given: Any, known: Any, key: str) -> None:
    """Every key of the merged dict is one the schema has (``known``: the config as builtins)."""
    if isinstance(given, Mapping) and isinstance(known, dict):
        unknown = sorted(set(given) - set(known), key=str)
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}" if key else str(unknown[0]),
                              f"unknown key (known: {', '.join(sorted(known))})")
        for k, v in given.items():
            _reject_unknown(v, known[k], f"{key}.{k}" if key else str(k))
    elif isinstance(given, (list, tuple)) and isinstance(known, (list, tuple)):
        for i, (g, k) in enumerate(zip(given, known)):
            _reject_unknown(g, k, f"{key}[{i}]")


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise ConfigError(str(path), "config file not found")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(str(path), "top level must be a mapping")
    return data


def load(env: str | None = None, files: list[str] | tuple[str, ...] = (),
         overrides: list[str] | tuple[str, ...] = (),
         environ: Mapping[str, str] | None = None) -> Config:
    """Build the typed config: base → ``conf/<env>.yaml`` → ``files`` → ``overrides``.

    ``env`` defaults to ``$ADSTREAM_ENV`` or ``local``.
    """
    environ = os.environ if environ is None else environ
    env = env or environ.get("ADSTREAM_ENV", "local")
    merged = _read_yaml(CONF_DIR / "base.yaml")
    overlay = CONF_DIR / f"{env}.yaml"
    if overlay.exists():
        merged = _deep_merge(merged, _read_yaml(overlay))
    elif env != "base":
        raise ConfigError("env", f"no overlay conf/{env}.yaml (have: "
                          f"{', '.join(p.stem for p in sorted(CONF_DIR.glob('*.yaml')))})")
    for f in files:
        merged = _deep_merge(merged, _read_yaml(Path(f)))
    for s in overrides:
        merged = _deep_merge(merged, _parse_set(s))
    merged["env"] = env
    merged = _absolute_paths(_resolve_vars(merged, environ))
    return _convert(merged)


def to_dict(cfg: Config) -> dict:
    """Plain dict of a config (for shipping to Flink workers or printing)."""
    return dataclasses.asdict(cfg)


def from_dict(data: Mapping[str, Any]) -> Config:
    return _convert(data)


def load_experiments(path: str | Path) -> Experiments:
    """The experiments file (``scoring_job.experiments_file``), typed and checked like the config;
    "" means none. Read at start by the scoring job and again whenever the file changes."""
    if not path:
        return Experiments()
    data = _resolve_vars(_read_yaml(Path(path)), os.environ)
    return _convert(data, Experiments)
