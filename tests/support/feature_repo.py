"""Load one file of the Feast repository (features/) as a module, as ``feast apply`` imports it."""
from __future__ import annotations

import importlib.util

from udfs.io import feast_store


def load_repo_file(cfg, name: str):
    path = feast_store.repo_dir(cfg) / name
    spec = importlib.util.spec_from_file_location(f"adstream_feature_repo_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
