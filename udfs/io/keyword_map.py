"""Reading and writing the search keyword → category map (``udfs.core.keywords``) as JSON.

The profile job loads it once at start from ``profile.keyword_map`` (a path or a
``file://`` URI; "" means no map: searches add no intent); training loads the same file so
the search-intent features it learns from are the ones the job will serve.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

from udfs.core.keywords import KeywordMap
from udfs.errors import ConfigError


def _path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri:
        raise ConfigError("profile.keyword_map", f"{uri!r}: only a path or a file:// URI is read")
    return Path(uri)


def load(uri: str) -> KeywordMap | None:
    """The map at ``uri``; None for ""; ConfigError naming the file when it cannot be read."""
    if not uri:
        return None
    path = _path(uri)
    try:
        return KeywordMap.from_doc(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ConfigError("profile.keyword_map", f"{path}: no such file (make one with "
                                                 "'adstream interests keywords --data WORLD --out FILE')")
    except (ValueError, OSError) as e:
        raise ConfigError("profile.keyword_map", f"{path}: {e}") from e


def save(kmap: KeywordMap, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(kmap.to_doc(), ensure_ascii=False, sort_keys=True) + "\n",
                 encoding="utf-8")
    return p
