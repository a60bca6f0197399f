"""The scoring step alone: ``RequestScorer.handle`` + response encoding per request, no Flink.

The job's capacity is about 1 / (Python time per request), since in thread mode all its
Python shares one interpreter; this measures that time on the scoring benchmark's world
(5,000 users with profiles in a real Redis, 100 always-eligible creatives, a production-size
model), with the same parts the Flink adapter builds in ``open()``: catalogue, eligibility
cache, caps over a per-user dict merged with the stored impressions, the direct profile read behind its breaker, ONNX. Prints
per-request CPU (this thread) and wall time, median and p99, and writes them as JSON.

    .venv/bin/python scripts/bench_scoring_step.py --requests 5000 --out .work/bench/bench_scoring_step.json
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench import common as benchlib  # noqa: E402
from scripts.bench import scoring_world as W  # noqa: E402


def build_step(cfg, world):
    """The step's parts as ``ScoringFunction.open`` builds them (catalogue from the file only)."""
    from udfs.io.onnx_scorer import OnnxScorer
    from udfs.core.budget import SpendLedger
    from udfs.core.caps import FrequencyCaps
    from udfs.io.catalog_feed import CatalogKeeper
    from udfs.core.eligibility_cache import StaticCatalogBudget
    from udfs.core.featurize import Featurizer
    from udfs.io.online_read import guarded_reader
    from udfs.core.scoring import Deps, ImpressionCaps, RequestScorer
    from udfs.core.seen import decode
    job = cfg.scoring_job
    keeper = CatalogKeeper(cfg.scoring.review, "bench", stage="bench", log=print)
    keeper.load_file(job.catalog_file)
    budget = StaticCatalogBudget(keeper.catalog, SpendLedger())
    featurizer = Featurizer(cfg.profile.windows.count_windows_s)
    model = OnnxScorer(world.model_dir, job.onnx_threads)
    profiles, reader = guarded_reader(cfg, lambda: time.monotonic() * 1000, print)
    scorer = RequestScorer.for_job(cfg, featurizer, "bench")
    caps = FrequencyCaps.from_config(cfg.scoring)
    states: dict[str, dict] = {}

    def step(raw: bytes) -> str:
        uid = json.loads(raw).get("user_id") or ""
        reader.forget()
        stored = (lambda: None if (e := reader.seen_of(uid)) is None else decode(e))
        caps_view = ImpressionCaps(caps, states.setdefault(uid, {}), stored, job.caps_reconcile_ms)
        deps = Deps(keeper.catalog, budget, caps_view, profiles, model)
        out = scorer.handle(raw, deps)
        return out.response.to_json()
    return step


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--requests", type=int, default=5000, help="measured requests (after 500 unmeasured)")
    p.add_argument("--out", default=None, help="write the figures as one JSON object to this file")
    p.add_argument("--env", default="test", help="config overlay the benchmark starts from")
    a = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="adstream-bench-step-"))
    extra = [f"paths.model_registry={tmp}/models", f"scoring_job.catalog_file={tmp}/catalog.json",
             "scoring.campaign_caps=[{window_s: 3600, limit: 100000}]",
             "scoring.creative_caps=[{window_s: 3600, limit: 100000}]"]
    probe = benchlib.cpu_probe()
    with benchlib.own_stack(a.env, extra) as cfg:
        print("setting up users, catalogue and model ...", file=sys.stderr, flush=True)
        world = W.build(cfg, tmp)
        step = build_step(cfg, world)
        reqs = [world.request(f"r{i}") for i in range(a.requests + 500)]
        for raw in reqs[:500]:
            step(raw)
        cpu_ms, wall_ms = [], []
        for raw in reqs[500:]:
            c, w = time.thread_time_ns(), time.perf_counter_ns()
            step(raw)
            cpu_ms.append((time.thread_time_ns() - c) / 1e6)
            wall_ms.append((time.perf_counter_ns() - w) / 1e6)
    cpu, wall = benchlib.pct(cpu_ms), benchlib.pct(wall_ms)
    fig = {"requests": a.requests, "candidates": world.candidates, "model": world.model_info,
           "cpu_ms_mean": sum(cpu_ms) / len(cpu_ms), "cpu_p50_ms": cpu["p50"], "cpu_p99_ms": cpu["p99"],
           "wall_ms_mean": sum(wall_ms) / len(wall_ms), "wall_p50_ms": wall["p50"], "wall_p99_ms": wall["p99"],
           "max_rate_one_thread_rps": 1000.0 / (sum(cpu_ms) / len(cpu_ms)),
           "cpu_probe_ms": {"before": probe, "after": benchlib.cpu_probe()},
           "loadavg_1m": os.getloadavg()[0]}
    rows = [("model", f"{world.model_info['version']} · {world.model_info['trees']} trees · "
                      f"{world.candidates} candidates/request · {a.requests} requests"),
            ("CPU per request (this thread)", f"mean {fig['cpu_ms_mean']:.3f}  p50 {cpu['p50']:.3f}  "
                                              f"p99 {cpu['p99']:.3f} ms"),
            ("wall per request (incl. Redis round trip)", f"mean {fig['wall_ms_mean']:.3f}  "
                                                          f"p50 {wall['p50']:.3f}  p99 {wall['p99']:.3f} ms"),
            ("one interpreter's ceiling (1 / mean CPU)", f"{fig['max_rate_one_thread_rps']:.0f} requests/s"),
            ("CPU probe before / after", "%.1f / %.1f ms" % (probe, fig["cpu_probe_ms"]["after"]))]
    benchlib.report("bench_scoring_step: the scoring step alone, per request", rows, fig, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
