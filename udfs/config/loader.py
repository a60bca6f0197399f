"""Loading: ``conf/*.yaml`` → overlays → ``--set`` → ``${VAR}`` → absolute paths → the schema.

``load()`` merges ``conf/base.yaml``, an environment overlay (``local`` by default,
``test`` in tests), any ``--conf FILE`` overlays and ``--set a.b=c`` overrides, then
resolves ``${VAR}`` / ``${VAR:-default}`` from the environment, makes every path value
absolute against the project root (once, here: a worker that gets the config as a dict
on another machine or working directory gets the same paths; a URI such as
``file:///…`` or ``s3://…`` is kept as it is), and converts the result into the
dataclasses of ``udfs.config.schema``. Unknown keys, wrong types and unresolved
variables raise :class:`ConfigError` naming the dotted key.
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections import abc
from pathlib import Path
from typing import Any, Mapping

import yaml

from udfs.config.schema import Config
from udfs.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"
# Every config value that names a file or folder; relative ones are relative to ROOT.
PATH_KEYS = ("paths.work_dir", "paths.jars_dir", "paths.data_dir", "paths.model_registry",
             "jars.kafka_dir", "jars.flink_connector", "flink.checkpoint_dir", "feast.repo_dir",
             "scoring_job.catalog_file")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def absolute(value: str, root: Path = ROOT) -> str:
    """A path value made absolute against ``root``; URIs and "" (meaning none) unchanged."""
    if not isinstance(value, str) or not value or _URI.match(value) or Path(value).is_absolute():
        return value
    return str(root / value)


def _absolute_paths(merged: dict, root: Path = ROOT) -> dict:
    for dotted in PATH_KEYS:
        section, key = dotted.split(".")
        node = merged.get(section)
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


def _convert(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a mapping, got {type(value).__name__}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}" if key else unknown[0],
                              f"unknown key (known: {', '.join(sorted(names))})")
        kwargs = {}
        for f in dataclasses.fields(tp):
            sub = f"{key}.{f.name}" if key else f.name
            if f.name in value:
                kwargs[f.name] = _convert(hints[f.name], value[f.name], sub)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(sub, "missing required key")
        try:
            return tp(**kwargs)
        except ConfigError as e:
            if key and not e.key.startswith(key):
                raise ConfigError(f"{key}.{e.key}", e.reason) from None
            raise
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(key, f"expected a list, got {type(value).__name__}")
        (inner, _ell) = typing.get_args(tp)
        return tuple(_convert(inner, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict, abc.Mapping) or tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(key, f"expected a string, got {value!r}")
        return str(value)
    raise ConfigError(key, f"unsupported type {tp!r}")


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
    return _convert(Config, merged, "")


def to_dict(cfg: Config) -> dict:
    """Plain dict of a config (for shipping to Flink workers or printing)."""
    return dataclasses.asdict(cfg)


def from_dict(data: Mapping[str, Any]) -> Config:
    return _convert(Config, data, "")
