"""The scoring benchmark's figures: a phase's summary, the JSON object and the printed table.

Keys of earlier runs keep their names and meaning (docs/benchmarks.md lists them); the
2026-12-02 harness adds the per-window, CPU and rate-search ones beside them.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from scripts.bench import common as benchlib
from scripts.bench import scoring_clients as clients
from scripts.bench import scoring_stats as S
from scripts.bench.scoring_plot import plot

HEAD_KEYS = ("rate_rps", "p50_ms", "p99_ms", "p999_ms", "answered", "sent", "fallback")


def summary(ph) -> dict:
    """A measured phase: whole-phase percentiles, per-window lists, and what went missing."""
    p = benchlib.pct(ph.latencies_ms)
    w = S.window_stats(ph.send_s, ph.latencies_ms, ph.duration_s, S.WINDOW_S, ph.unanswered_s)
    return {"rate_rps": ph.rate, "p50_ms": p["p50"], "p99_ms": p["p99"], "p999_ms": p["p999"],
            "answered": ph.answered, "sent": ph.sent, "fallback": ph.fallback,
            "variants": dict(ph.variants), "unanswered": ph.sent - ph.answered, "duplicates": ph.duplicates, "send_errors": ph.send_errors,
            "duration_s": ph.duration_s, "send_elapsed_s": round(ph.elapsed_s, 2), "window_s": S.WINDOW_S,
            "p50_by_window_ms": w["p50"], "p99_by_window_ms": w["p99"], "p999_by_window_ms": w["p999"],
            "n_by_window": w["n"], "unanswered_by_window": w["unanswered"]}


def stages(ph) -> dict:
    keys = sorted({k for t in ph.timings for k in t})
    return {k: {q: float(np.percentile([t.get(k, 0.0) for t in ph.timings], v)) for q, v in
                (("p50", 50), ("p99", 99))} for k in keys} if ph.timings else {}


def build(a, res: dict, probe: dict, target_ms: float) -> tuple[dict, list[tuple[str, str]]]:
    head = res["rates"][a.rate]
    fig = {**_legacy(a, res, probe), **_harness(a, res, probe, head)}
    # Beside the JSON (same stem); no --out, no files at all, as for the JSON.
    png = plot([(_label(k, s), s) for k, s in res["phases"].items()], Path(a.out).with_suffix(".png"),
               target_ms, f"p50 / p99 per {S.WINDOW_S:.0f} s window · {fig['loadgen_client']} · "
                          f"load {probe['loadavg_start'][0]:.1f} → {probe['loadavg_end'][0]:.1f}") if a.out else None
    fig["plot"] = str(png) if png else None
    return fig, _rows(a, res, fig)


def _legacy(a, res: dict, probe: dict) -> dict:
    """The keys earlier runs wrote, same names and meaning (``search`` now holds the step search)."""
    floors, world, head = res["floors"], res["world"], res["rates"][a.rate]
    return {**{k: head[k] for k in HEAD_KEYS},
            "candidates": world.candidates, "max_rate_p99_50ms": res["max_rate_p99_50ms"],
            **{f"floor_{k}_{q}_ms": floors[k][q] for k in ("kafka", "feast", "onnx", "flink") for q in ("p99", "p50")},
            "floor_direct_read_p99_ms": floors["direct_read"]["p99"],
            "floor_flink_lean_p99_ms": floors["flink_lean"]["p99"],
            "floor_flink_lean_p50_ms": floors["flink_lean"]["p50"],
            "floor_direct_read_p50_ms": floors["direct_read"]["p50"],
            "rates": {str(int(r)): s for r, s in res["rates"].items()}, "search": res["search"],
            "variant_rate_rps": res["variant_rate"], "variants": res["variants"],
            "stages_ms": res.get("stages_ms", {}), "model": world.model_info,
            "users": len(world.users), "job_startup_s": res["startup"], "duration_s": a.duration,
            "config_overrides": list(getattr(a, "sets", [])),
            "cpu_cores": res["cpu"], "warmup": res["warm"],
            "targets": {"p99_ms_at_500": 20, "p50_ms": 8},
            "loadavg_1m": {"before": probe["loadavg_start"][0], "after": probe["loadavg_end"][0]},
            "cpu_probe_ms": {"before": probe["cpu_probe_ms"], "after": probe["cpu_probe_ms_end"]}}


def _harness(a, res: dict, probe: dict, head: dict) -> dict:
    """What the 2026-12-02 harness adds: windows, CPU split, rate search, the machine's load."""
    cpu = head["cpu"]
    return {"loadgen_client": clients.name(), "loadgen_client_version": clients.version(),
            "loadgen_cpu_cores": cpu.get("loadgen_cores"),
            "job_cpu_ms_per_request": cpu.get("job_cpu_ms_per_request"),
            "job_cpu_cores": cpu.get("job_cores"),
            "p50_by_window_ms": head["p50_by_window_ms"], "p99_by_window_ms": head["p99_by_window_ms"],
            "p999_by_window_ms": head["p999_by_window_ms"], "window_s": S.WINDOW_S,
            "unanswered": head["unanswered"], "duplicates": head["duplicates"],
            "max_rate_p99_20ms": res["max_rate_p99_20ms"],
            "rate_search": {"start_rps": a.rate, "step_rps": a.search_step, "min_rps": a.search_min,
                            "max_rps": a.search_max, "ran": not a.no_search,
                            "verdicts": [{"rate_rps": r, "p99_within_20ms": ok} for r, ok in res["verdicts"]]},
            "cpu_probe": {"loadavg_start": probe["loadavg_start"], "loadavg_end": probe["loadavg_end"],
                          "headline_phase": cpu,
                          "by_phase": {k: s["cpu"] for k, s in res["phases"].items()}},
            "phases": res["phases"]}


def _label(tag: str, s: dict) -> str:
    kind = {"e": "no-op topology", "l": "no key_by, no-op", "r": "job", "s": "search", "v": "variant"}[tag[0]]
    return f"{tag}: {kind} @ {s['rate_rps']:.0f}/s"


def _rows(a, res: dict, fig: dict) -> list[tuple[str, str]]:
    floors, world, rate = res["floors"], res["world"], int(a.rate)
    rows = [("model", f"{world.model_info['version']} · {world.model_info['trees']} trees · "
                      f"{world.candidates} candidates/request"),
            ("load generator client", f"{fig['loadgen_client']} {fig['loadgen_client_version']}"),
            ("floor: kafka produce→consume", fmt(floors["kafka"]) + "  (one hop; the job path has two)"),
            ("floor: feast get_online_features, 1 user", fmt(floors["feast"])),
            ("floor: direct profile read (the job's)", fmt(floors["direct_read"])),
            ("floor: onnx, 100 rows", fmt(floors["onnx"])),
            (f"floor: job topology, no-op Python @ {rate}/s", fmt(floors["flink"])),
            (f"floor: no key_by, one no-op Python operator @ {rate}/s", fmt(floors["flink_lean"]))]
    rows += [(f"job @ {int(r)}/s", fmt_rate(s)) for r, s in res["rates"].items()]
    rows += [(f"search @ {int(s['rate_rps'])}/s", fmt_rate(s)) for s in res["search"]]
    for key, ms in (("max_rate_p99_20ms", 20), ("max_rate_p99_50ms", 50)):
        rows += [(f"max rate with p99 <= {ms} ms", f"{fig[key]:.0f}/s" if fig[key] else "none of the rates tried")]
    rows += [(f"@{int(res['variant_rate'])}/s {v['name']}", fmt_rate(v) if "error" not in v else v["error"])
             for v in res["variants"]]
    rows += [(f"stage @ {rate}/s: {k}", f"p50 {v['p50']:.3f}  p99 {v['p99']:.3f} ms")
             for k, v in fig["stages_ms"].items()]
    rows += [(f"p99 by {S.WINDOW_S:.0f} s window @ {rate}/s", " ".join(_ms(v) for v in fig["p99_by_window_ms"]))]
    for tag, s in res["phases"].items():
        c = s["cpu"]
        rows += [(f"cpu {tag} @ {s['rate_rps']:.0f}/s: job / loadgen / broker / redis / other",
                  " / ".join(f"{c.get(k, float('nan')):.2f}" for k in
                             ("job_cores", "loadgen_cores", "broker_cores", "redis_cores", "other_cores"))
                  + f" cores; job {c['job_cpu_ms_per_request']:.2f} ms/request; load "
                  f"{c['loadavg_start'][0]:.1f} → {c['loadavg_end'][0]:.1f}")]
    rows += [(f"warm-up: {k}", f"{w['seconds']:.0f} s at {w['rate_rps']:.0f}/s, JIT then "
                               f"{w['jit_cores_last_step']:.2f} cores") for k, w in res["warm"].items()]
    rows += [("CPU probe (fixed Python loop) before / after", "%.1f / %.1f ms" % (
        fig["cpu_probe_ms"]["before"], fig["cpu_probe_ms"]["after"]))]
    rows += [("load average (1 min) before / after", "%.2f / %.2f  on %d CPUs" % (
        fig["loadavg_1m"]["before"], fig["loadavg_1m"]["after"], os.cpu_count()))]
    return rows


def _ms(v) -> str:
    return "-" if v is None or v != v else f"{v:.1f}"


def fmt(p: dict) -> str:
    return f"p50 {p['p50']:.3f}  p99 {p['p99']:.3f} ms  ({p['n']} samples)"


def fmt_rate(s: dict) -> str:
    return (f"p50 {s['p50_ms']:.2f}  p99 {s['p99_ms']:.2f}  p99.9 {s['p999_ms']:.2f} ms  "
            f"answered {s['answered']}/{s['sent']}  fallback {s['fallback']}  dup {s.get('duplicates', 0)}")
