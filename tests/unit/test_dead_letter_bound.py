"""Dead letters stay under dead_letter.max_bytes however their payload escapes."""
import hashlib
import json

import pytest

from udfs import config
from udfs.errors import ConfigError
from udfs.messages import DeadLetter

pytestmark = pytest.mark.unit

CAP = 65536


def letter(original, reason="bad", **kw):
    return DeadLetter.of(original, reason, "invalid", "clicks.v1", 1, stage="s", **kw)


def test_700kb_of_control_characters_fits_the_cap_with_size_and_hash():
    raw = "\x01" * 700_000                       # escapes to 4.2 MB as \u0001
    assert len(letter(raw).to_json().encode()) > 4_000_000
    out = letter(raw).to_bounded_json(CAP)
    assert len(out.encode()) <= CAP
    d = DeadLetter.decode(out)
    assert d.original_bytes == 700_000
    assert d.original_sha256 == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(d.original) and len(d.original) > 1000   # a useful prefix, not nothing


@pytest.mark.parametrize("raw", ["é" * 200_000, "x" * 200_000, '"\\' * 50_000, "\U0001F600" * 40_000])
def test_any_payload_fits_and_keeps_the_longest_prefix(raw):
    out = letter(raw).to_bounded_json(8192)
    assert len(out.encode()) <= 8192
    d = DeadLetter.decode(out)
    assert raw.startswith(d.original)
    longer = json.loads(out) | {"original": raw[:len(d.original) + 1]}
    assert len(json.dumps(longer, separators=(",", ":"), ensure_ascii=False).encode()) > 8192


def test_a_huge_reason_is_cut_too():
    out = letter("x", reason="\x02" * 2048).to_bounded_json(4096)
    assert len(out.encode()) <= 4096 and DeadLetter.decode(out).original == "x"


def test_a_letter_under_the_cap_is_unchanged():
    dl = letter('{"a": 1}')
    assert dl.to_bounded_json(CAP) == dl.to_json()
    assert DeadLetter.decode(dl.to_json()).original_sha256 is None


def test_over_a_million_characters_the_hash_is_of_the_whole_payload():
    raw = "y" * 1_500_000
    d = DeadLetter.decode(letter(raw).to_bounded_json(CAP))
    assert d.original_bytes == 1_500_000 and d.original_sha256 == hashlib.sha256(raw.encode()).hexdigest()


def test_the_cap_is_configured_and_bounded_below():
    assert config.load("test").dead_letter.max_bytes == CAP
    with pytest.raises(ConfigError, match="dead_letter.max_bytes"):
        config.load("test", overrides=["dead_letter.max_bytes=100"])
