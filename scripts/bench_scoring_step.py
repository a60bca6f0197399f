"""The scoring step alone: ``RequestScorer.handle`` (or ``handle_batch``) + response encoding, no Flink.

The job's capacity is about 1 / (Python time per request), since in thread mode all its
Python shares one interpreter; this measures that time on the scoring benchmark's world
(5,000 users with profiles in a real Redis, 100 always-eligible creatives, a production-size
model), with the same parts the Flink adapter builds in ``open()``: catalogue, eligibility
cache, caps over a per-user dict merged with the stored impressions, the direct profile read behind its breaker, ONNX. Prints
per-request CPU (this thread) and wall time, median and p99, and writes them as JSON.

``--batch 1,4,8`` runs one phase per batch size on the same world in the same process: the
same requests from fresh caps state each phase, N requests a call (1: ``handle`` one by one,
today's path; N > 1: ``handle_batch``, one profile pipeline and one model call per batch).
A batch's CPU and wall time are divided by N; the per-stage split is the answers'
``timings_ms`` (with ``--stage-clock cpu``, this thread's CPU: each clock read costs ~0.6 µs,
about 10 a request). Every phase's answers are compared with the first phase's (ads, prices,
fallbacks; not their time stamps or timings): batching must not change an answer.

    .venv/bin/python scripts/bench_scoring_step.py --requests 5000 --out .work/bench/bench_scoring_step.json
    .venv/bin/python scripts/bench_scoring_step.py --batch 1,4,8,16,32,1 --requests 20000
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

STAGES = ("decode", "features", "eligible", "caps", "featurize", "model", "auction")


def build_step(cfg, world, clock=time.perf_counter):
    """The step's parts as ``ScoringFunction.open`` builds them (catalogue from the file only):
    ``one(raw) -> Outcome`` and ``batch(raws) -> [Outcome]``, and the per-user caps states."""
    from udfs.io.onnx_scorer import OnnxScorer
    from udfs.core.budget import SpendLedger
    from udfs.core.caps import FrequencyCaps
    from udfs.io.catalog_feed import CatalogKeeper
    from udfs.core.eligibility_cache import StaticCatalogBudget
    from udfs.core.featurize import Featurizer
    from udfs.io.online_read import guarded_reader
    from udfs.core.scoring import Deps, ImpressionCaps, RequestScorer, UserCaps
    from udfs.core.seen import decode
    job = cfg.scoring_job
    keeper = CatalogKeeper(cfg.scoring.review, "bench", stage="bench", log=print)
    keeper.load_file(job.catalog_file)
    budget = StaticCatalogBudget(keeper.catalog, SpendLedger())
    featurizer = Featurizer(cfg.profile.windows.count_windows_s)
    model = OnnxScorer(world.model_dir, job.onnx_threads)
    profiles, reader = guarded_reader(cfg, lambda: time.monotonic() * 1000, print)
    scorer = RequestScorer.for_job(cfg, featurizer, "bench")
    scorer.clock = clock
    caps = FrequencyCaps.from_config(cfg.scoring)
    states: dict[str, dict] = {}

    def view(uid: str) -> ImpressionCaps:
        stored = (lambda: None if (e := reader.seen_of(uid)) is None else decode(e))
        return ImpressionCaps(caps, states.setdefault(uid, {}), stored, job.caps_reconcile_ms)

    def one(raw: bytes):
        uid = json.loads(raw).get("user_id") or ""
        reader.forget()
        return [scorer.handle(raw, Deps(keeper.catalog, budget, view(uid), profiles, model))]

    def batch(raws: list):
        reader.forget()
        return scorer.handle_batch(raws, Deps(keeper.catalog, budget, UserCaps(view), profiles, model))
    return one, batch, states


def answer_of(out) -> tuple:
    """What an answer says, without its time stamp and timings."""
    r = out.response
    return (r.request_id, r.fallback_reason, r.model_version,
            tuple((a.creative_id, a.rank, a.pctr, a.ecpm, a.price) for a in r.ads))


def run_phase(n: int, reqs: list, warmup: int, parts) -> dict:
    """``reqs`` answered ``n`` at a time from fresh caps state (the first ``warmup`` unmeasured)."""
    one, batch, states = parts
    states.clear()
    call = (lambda chunk: one(chunk[0])) if n == 1 else batch
    cpu_ms, wall_ms, enc_ms, answers = [], [], [], {}
    stages = dict.fromkeys(STAGES, 0.0)
    fallback: dict[str, int] = {}
    t_start = time.perf_counter()
    for at in range(0, len(reqs), n):
        chunk = reqs[at:at + n]
        c, w = time.thread_time_ns(), time.perf_counter_ns()
        outs = call(chunk)
        e = time.thread_time_ns()
        for o in outs:
            o.response.to_json()
        c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
        if at < warmup:
            t_start = time.perf_counter()
            continue
        cpu_ms.append((c1 - c) / 1e6 / len(chunk))
        wall_ms.append((w1 - w) / 1e6 / len(chunk))
        enc_ms.append((c1 - e) / 1e6 / len(chunk))
        answers.update((o.response.request_id, answer_of(o)) for o in outs)
        for o in outs:
            for k in STAGES:
                stages[k] += o.response.timings_ms.get(k, 0.0)
            for r in o.reasons:
                fallback[r] = fallback.get(r, 0) + 1
    done = len(answers)
    cpu, wall = benchlib.pct(cpu_ms), benchlib.pct(wall_ms)
    return {"batch": n, "requests": done, "seconds": time.perf_counter() - t_start,
            "cpu_ms_mean": sum(cpu_ms) / len(cpu_ms), "cpu_p50_ms": cpu["p50"], "cpu_p99_ms": cpu["p99"],
            "wall_ms_mean": sum(wall_ms) / len(wall_ms), "wall_p50_ms": wall["p50"], "wall_p99_ms": wall["p99"],
            "batch_wall_p99_ms": wall["p99"] * n, "fallback": fallback,
            "stages_ms": {k: v / done for k, v in stages.items()},
            "encode_ms": sum(enc_ms) / len(enc_ms),
            "max_rate_one_thread_rps": 1000.0 / (sum(cpu_ms) / len(cpu_ms)), "_answers": answers}


def _differing(got: dict, first: dict) -> tuple[int, int]:
    """Answers to the same request ids that differ (phases warm up on a multiple of their N), and
    how many of them are a fallback in one of the phases (a profile read past its socket
    timeout on a loaded box, or skipped by the breaker it opened: not the batching's doing)."""
    keys = [k for k in got.keys() & first.keys() if got[k] != first[k]]
    return len(keys), sum(1 for k in keys if got[k][1] is not None or first[k][1] is not None)


def phase_rows(phases: list[dict], stage_clock: str) -> list[tuple[str, str]]:
    base = phases[0]["cpu_ms_mean"]
    rows = [("batch N (requests, s)", "CPU/request mean p50 p99 (ms) · vs first · wall/request · "
                                      "batch wall p99 · answers as the first phase's")]
    for f in phases:
        rows.append((f"  N={f['batch']:<3} ({f['requests']}, {f['seconds']:.1f} s)",
                     f"{f['cpu_ms_mean']:.3f} {f['cpu_p50_ms']:.3f} {f['cpu_p99_ms']:.3f} · "
                     f"{100 * (f['cpu_ms_mean'] / base - 1):+.0f} % · {f['wall_ms_mean']:.3f} · "
                     f"{f['batch_wall_p99_ms']:.2f} ms · {f['same_answers']}"
                     + (f" · fallbacks {f['fallback']}" if f["fallback"] else "")))
    rows.append((f"stages per request ({stage_clock} ms)", " ".join(STAGES) + " encode"))
    for f in phases:
        s = f["stages_ms"]
        rows.append((f"  N={f['batch']}", " ".join(f"{s[k]:.3f}" for k in STAGES) + f" {f['encode_ms']:.3f}"))
    return rows


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--requests", type=int, default=5000, help="measured requests per phase (after 500 unmeasured)")
    p.add_argument("--batch", default="1", help="batch sizes, one phase each, comma-separated (1: handle, "
                                               "one by one; N: handle_batch of N requests)")
    p.add_argument("--stage-clock", choices=("cpu", "wall"), default="cpu",
                   help="the scorer's clock, which the per-stage split is read with")
    p.add_argument("--profile-timeout-ms", type=int, default=None,
                   help="the profile read's socket timeout (default: scoring_job.profile_timeout_ms); on a "
                        "loaded box a longer one keeps reads past 20 ms, and the breaker they open, out of the figures")
    p.add_argument("--out", default=None, help="write the figures as one JSON object to this file")
    p.add_argument("--env", default="test", help="config overlay the benchmark starts from")
    a = p.parse_args(argv)
    try:
        sizes = [int(x) for x in a.batch.split(",")]
        if not sizes or min(sizes) < 1:
            raise ValueError
    except ValueError:
        p.error(f"--batch wants positive whole numbers separated by commas, e.g. 1,8,32 (got {a.batch!r})")
    tmp = Path(tempfile.mkdtemp(prefix="adstream-bench-step-"))
    extra = [f"paths.model_registry={tmp}/models", f"scoring_job.catalog_file={tmp}/catalog.json",
             "scoring.campaign_caps=[{window_s: 3600, limit: 100000}]",
             "scoring.creative_caps=[{window_s: 3600, limit: 100000}]"]
    if a.profile_timeout_ms is not None:
        extra.append(f"scoring_job.profile_timeout_ms={a.profile_timeout_ms}")
    probe = benchlib.cpu_probe()
    phases = []
    with benchlib.own_stack(a.env, extra) as cfg:
        print("setting up users, catalogue and model ...", file=sys.stderr, flush=True)
        world = W.build(cfg, tmp)
        parts = build_step(cfg, world, time.thread_time if a.stage_clock == "cpu" else time.perf_counter)
        reqs = [world.request(f"r{i}") for i in range(a.requests + 500)]
        for n in sizes:
            print(f"phase: batch {n} ...", file=sys.stderr, flush=True)
            f = run_phase(n, reqs, 500, parts)
            n_diff, n_fell = _differing(f["_answers"], phases[0]["_answers"]) if phases else (0, 0)
            f["answers_differing"], f["answers_differing_fallback"] = n_diff, n_fell
            f["same_answers"] = "yes" if n_diff == 0 else f"{n_diff} differ, {n_fell} of them fallbacks"
            phases.append(f)
    fig = {"requests_per_phase": a.requests, "candidates": world.candidates, "model": world.model_info,
           "stage_clock": a.stage_clock, "phases": [{k: v for k, v in f.items() if k != "_answers"} for f in phases],
           "cpu_probe_ms": {"before": probe, "after": benchlib.cpu_probe()}, "loadavg_1m": os.getloadavg()[0]}
    fig.update({k: phases[0][k] for k in ("cpu_ms_mean", "cpu_p50_ms", "cpu_p99_ms", "wall_ms_mean",
                                          "wall_p50_ms", "wall_p99_ms", "max_rate_one_thread_rps")})
    rows = [("model", f"{world.model_info['version']} · {world.model_info['trees']} trees · "
                      f"{world.candidates} candidates/request · {a.requests} requests a phase"),
            *phase_rows(phases, a.stage_clock),
            ("one interpreter's ceiling (1 / mean CPU), first phase",
             f"{phases[0]['max_rate_one_thread_rps']:.0f} requests/s"),
            ("CPU probe before / after", "%.1f / %.1f ms" % (probe, fig["cpu_probe_ms"]["after"]))]
    benchlib.report("bench_scoring_step: the scoring step alone, per request", rows, fig, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
