"""One owner per definition: what two modules use is defined in one and imported by the other."""
import ast
import dataclasses
import types
import typing
import re

import pytest
import yaml

from udfs import config
from udfs.core import features
from udfs.messages import topics
from udfs.messages import ALL, ClickEvent, RequestContext, catalog_change, clickstream

pytestmark = pytest.mark.contract


def _choices(cls, name):
    """A field's allowed values: those of its ``Literal`` (msgspec: built from the format's tuple),
    or of its items' for a list (the catalogue's ``devices``)."""
    from udfs.messages.base import fields, strip
    tp = strip(next(f.type for f in fields(cls) if f.name == name))[0]
    while typing.get_origin(tp) in (typing.Union, types.UnionType, tuple):   # optional / a tuple of them
        tp = next(a for a in typing.get_args(tp) if a is not type(None) and a is not Ellipsis)
        tp = strip(tp)[0]
    return typing.get_args(tp)


def test_event_types_and_devices_are_the_clickstream_formats():
    # The same objects, not equal copies: the features index devices and count event types in
    # the format's order, so a value added to the format must reach them.
    assert features.EVENT_TYPES is clickstream.EVENT_TYPES
    assert features.DEVICES is clickstream.DEVICES
    assert _choices(ClickEvent, "type") == clickstream.EVENT_TYPES
    assert _choices(ClickEvent, "device") == clickstream.DEVICES
    assert _choices(RequestContext, "device") == clickstream.DEVICES
    assert _choices(catalog_change.Targeting, "devices") == clickstream.DEVICES


def test_every_configured_topic_has_its_format_and_every_format_its_topic():
    raw = yaml.safe_load((config.ROOT / "conf" / "base.yaml").read_text())["kafka"]["topics"]
    assert set(topics.FORMATS) == set(raw)
    assert set(topics.FORMATS) == {f.name for f in dataclasses.fields(config.Topics)}
    assert set(topics.FORMATS.values()) == set(ALL)          # each format on one topic, none left out
    assert len(topics.FORMATS) == len(ALL)
    cfg = config.load("base")
    for key, cls in topics.FORMATS.items():
        assert topics.key_of(cls) == key and topics.name_of(cfg, key) == raw[key]["name"]


def _tags() -> dict[str, str]:
    """Every record tag the jobs route on, by its constant's name: one character each."""
    from udfs.flink import profile as flink_profile, scoring as flink_scoring
    from udfs.core import profile_batch
    tags = {f"profile_batch.{n}": getattr(profile_batch, n)
            for n in ("LATE_FLAG", "ON_TIME_FLAG", "FUTURE_FLAG", "NULL_FLAG")}
    tags |= {f"flink_profile.{n}": getattr(flink_profile, n) for n in ("DEAD", "PROFILE")}
    tags |= {f"flink_scoring.{n}": getattr(flink_scoring, n) for n in ("RESPONSE", "DEAD")}
    assert all(len(t) == 1 for t in tags.values()), tags
    return tags


def _tag_literals(path, tags: set[str]) -> list[str]:
    """Where a job's source writes a tag itself: quoted in SQL text (``kind = 'R'``), or a
    one-character string compared in Python (``s[:1] == "D"``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    sql = re.compile("'(%s)'" % "|".join(map(re.escape, sorted(tags))))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and sql.search(node.value):
            found.append(f"{path.name}:{node.lineno}: {sql.search(node.value).group(0)} in SQL")
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Constant) and side.value in tags:
                    found.append(f"{path.name}:{node.lineno}: {side.value!r} compared")
    return found


def test_jobs_route_on_the_tag_constants_not_on_letters():
    tags = set(_tags().values())
    jobs = sorted((config.ROOT / "jobs").glob("*.py"))
    assert any(p.name == "scoring.py" for p in jobs)
    found = [hit for p in jobs for hit in _tag_literals(p, tags)]
    assert not found, found


def test_the_tag_check_sees_a_letter():
    # The check above must not pass by seeing nothing: these are the shapes it replaced.
    import tempfile
    from pathlib import Path
    src = 'a = "SELECT k FROM t WHERE kind = \'R\'"\nb = f"x = \'{y}\' OR kind = \'D\'"\nc = s[:1] == "D"\n'
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "job.py"
        p.write_text(src)
        assert len(_tag_literals(p, {"R", "D"})) == 3
