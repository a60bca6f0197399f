"""Deterministic synthetic ad-serving world: users, shop, ads, traffic and a hidden oracle.

``generate(params, seed)`` draws a :class:`World` (static part from
:mod:`.world`, traffic from :mod:`.stream`, click truth from :mod:`.oracle`);
:func:`scripts.synth.writer.write` puts it on disk as parquet, ``catalog.json``
and wire-format JSONL. The same parameters and seed always give the same bytes.
See docs/generator.md.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np

from scripts.synth import oracle, stream, world
from scripts.synth.entities import StaticWorld
from scripts.synth.tables import Streams
from udfs.config import Generator


@dataclass(frozen=True, eq=False)
class World:
    """Everything one generation produced."""
    seed: int
    static: StaticWorld
    streams: Streams
    oracle_params: oracle.OracleParams

    @property
    def params(self) -> Generator:
        return self.static.params


def generate(params: Generator, seed: int | None = None, *,
             oracle_params: oracle.OracleParams = oracle.DEFAULT,
             progress: Callable[[int], None] | None = None, **overrides) -> World:
    """Draw a world from ``params`` (``cfg.generator``), keyword ``overrides`` of its fields
    (e.g. ``users=50``) and ``seed`` (default ``params.seed``).

    The static world and the traffic use independent child seeds, so changing
    e.g. ``events`` does not reshuffle who the users are.
    """
    if overrides:
        params = dataclasses.replace(params, **overrides)
    seed = params.seed if seed is None else int(seed)
    params = dataclasses.replace(params, seed=seed)
    world_seq, stream_seq = np.random.SeedSequence(seed).spawn(2)
    static = world.build(params, np.random.default_rng(world_seq))
    streams = stream.simulate(static, np.random.default_rng(stream_seq), oracle_params, progress)
    return World(seed=seed, static=static, streams=streams, oracle_params=oracle_params)


__all__ = ["World", "generate", "oracle", "stream", "world", "Streams", "StaticWorld"]
