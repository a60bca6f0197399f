"""Reads the segment centroids file (``interests.segments.centroids_uri``) for the profile job.

A local path or a ``file://`` URI; other schemes are refused with what to do. The file is
what ``adstream interests segments`` writes (``segments.json``, udfs/core/segments.py).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from udfs.core.segments import SegmentModel
from udfs.errors import ConfigError


def _path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(parsed.path if parsed.scheme else uri)
    raise ConfigError("interests.segments.centroids_uri",
                      f"{uri!r}: only a local path or file:// URI is read; copy the file to this machine")


def load(uri: str) -> SegmentModel | None:
    """The model at ``uri``; None when ``uri`` is "" (segments off)."""
    if not uri:
        return None
    path = _path(uri)
    try:
        return SegmentModel.from_json(path.read_text())
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError("interests.segments.centroids_uri",
                          f"{path}: cannot read segment centroids ({e}); run 'adstream interests "
                          "segments --out DIR' and point this at DIR/segments.json, or set it to \"\"") from e
