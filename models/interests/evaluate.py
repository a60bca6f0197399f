"""``adstream interests evaluate --world DIR --out FILE.json``: do the interests help?

``synthetic``: the CTR model's test AUC without and with the interest features on one world
(models/interests/evaluate_synth.py), beside the world's oracle AUC. ``taobao``: next-category
hit-rate@10 on the Taobao UserBehavior sample from interests, + ALS, + rules
(models/interests/evaluate_taobao.py); ``null`` with the reason when the sample is absent.
Both are written to one JSON file; docs/interests.md, "Evaluation", has the figures.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from models.interests import evaluate_synth, evaluate_taobao
from models.jsonio import write_json
from udfs.errors import ModelError


def run(cfg, args, say) -> int:
    t0 = time.perf_counter()
    world = Path(args.world)
    if not (world / "events.parquet").exists():
        raise ModelError(f"{world}: not a synthetic world; make one with 'adstream generate --out {world}'")
    result: dict = {"synthetic": evaluate_synth.evaluate(world, cfg, say)}
    say(f"synthetic done in {time.perf_counter() - t0:.0f} s: {json.dumps(result['synthetic'])[:200]}")
    csv = Path(args.taobao or cfg.interests.evaluate.taobao_path or "")
    if csv.is_file():
        result["taobao"] = evaluate_taobao.evaluate(csv, cfg, say)
    else:
        result["taobao"] = None
        result["taobao_skipped"] = f"{csv}: no Taobao UserBehavior CSV there (interests.evaluate.taobao_path)"
        say(result["taobao_skipped"])
    result["seconds"] = round(time.perf_counter() - t0, 1)
    write_json(Path(args.out), result)
    print(json.dumps(result, indent=1))
    return 0
