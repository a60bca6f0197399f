"""udfs.convert: the first conversion to a type runs under the lock, later ones without it."""
from __future__ import annotations

import dataclasses
import threading

import msgspec
import pytest

from udfs import convert as guard


def _probe_type():
    seen: list[bool] = []

    @dataclasses.dataclass
    class Probe:
        x: int

        def __post_init__(self):   # runs inside msgspec.convert
            seen.append(guard._lock.locked())
    return Probe, seen


def test_the_first_conversion_to_a_type_holds_the_lock_and_later_ones_do_not():
    Probe, seen = _probe_type()
    assert guard.convert({"x": 1}, Probe).x == 1
    assert guard.convert({"x": 2}, Probe).x == 2
    assert seen == [True, False]


def test_a_type_whose_first_conversion_failed_is_warm_too():
    Probe, seen = _probe_type()
    with pytest.raises(msgspec.ValidationError):
        guard.convert({"x": "no"}, Probe, strict=True)
    guard.convert({"x": 3}, Probe)
    assert seen == [False]


def test_many_threads_converting_a_fresh_type_at_once_all_get_their_values():
    Probe, _ = _probe_type()
    out: dict[int, int] = {}
    start = threading.Barrier(8)

    def work(i):
        start.wait()
        out[i] = guard.convert({"x": i}, Probe).x
    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == {i: i for i in range(8)}


def test_unhashable_type_forms_are_converted_under_the_lock():
    assert guard.convert([1, 2], list[int]) == [1, 2]
