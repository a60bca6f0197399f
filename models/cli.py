"""``adstream model train|evaluate|export|promote|retrain|rollback|list``: the CTR model's life cycle
(``retrain``: models/retrain_cli.py)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from udfs.errors import ModelError

_EPILOG = """\
examples:
  adstream generate --out .work/data/world
  adstream model train --format synthetic --data .work/data/world --out .work/runs/syn --budget 20
  adstream model train --format criteo --data ../shared/datasets/criteo_sample/train_head2k.csv --out /tmp/criteo
  adstream model train --format openbandit --data ../shared/datasets/open_bandit_zozotown/random/men --out /tmp/obd
  adstream model train --format csv --data log.parquet --label clicked --time ts \\
      --numeric price,position --categorical ad_id,site --out /tmp/mine
  adstream model promote .work/runs/syn        # registers the folder, then promotes it
  adstream model list
  adstream model rollback
Each run writes DIR/report.json, report.html, model.onnx, signature.json (docs/model.md)."""


_OPE_EPILOG = """\
examples:
  adstream model ope --data openbandit --campaign men --out .work/runs/ope_men.json
  adstream --set ope.max_weight=20 model ope --out /tmp/ope_clipped.json   # clipped weights
Settings: ope.confidence, ope.max_weight, ope.eval_fraction, ope.strength (conf/base.yaml)."""


def _csv(s: str | None) -> list[str]:
    return [c.strip() for c in (s or "").split(",") if c.strip()]


def _data_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    from models.datasets import FORMATS

    p.add_argument("--format", choices=FORMATS, required=required,
                   help="synthetic: a world from 'adstream generate' (live model features, rebuilt "
                        "as served at request time); openbandit: an Open Bandit campaign folder; "
                        "criteo: Kaggle/CSV Criteo log; csv: any CSV/parquet/JSONL with --label etc.")
    p.add_argument("--data", metavar="PATH", required=required, help="file or folder to read")
    p.add_argument("--label", help="csv: 0/1 click column")
    p.add_argument("--time", help="csv: time column (epoch s/ms or a date); default: row order")
    p.add_argument("--numeric", default="", help="csv: comma-separated numeric columns")
    p.add_argument("--categorical", default="", help="csv: comma-separated categorical columns")
    p.add_argument("--segments", default="", help="csv: columns to report AUC per value of")
    p.add_argument("--prior-key", help="csv: ad/item column for the empirical-CTR baseline")
    p.add_argument("--valid-fraction", type=float, help="newest-but-one block (default model.valid_fraction)")
    p.add_argument("--test-fraction", type=float, help="newest block, held out (default model.test_fraction)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="train, evaluate, export, promote, roll back and list CTR models; "
                                     "estimate a policy's CTR off-line (ope)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
                       description="The CTR model's life cycle. 'train' builds leakage-free rows "
                                   "(features as they were at request time), splits them by time, runs "
                                   "a seeded cross-validated search over XGBoost parameters, fits "
                                   "logistic regression and GBDT+LR beside it, calibrates each by "
                                   "forward-chaining CV, ships the lowest validation log loss, reports "
                                   "every candidate and the logistic-regression and empirical-CTR "
                                   "baselines, and exports ONNX behind a parity check. 'promote' moves the "
                                   "registry's 'current' pointer, refusing models whose features the live "
                                   "feature service cannot serve or whose holdout AUC is worse.")
    ms = p.add_subparsers(dest="model_cmd", metavar="ACTION", required=True)

    t = ms.add_parser("train", help="train, evaluate and export a model into --out",
                      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EPILOG,
                      description="Load --data, split by time, search --budget parameter sets "
                                  "(forward-chaining CV, seeded), fit the candidates (model.candidates), "
                                  "calibrate, pick the lowest validation log loss, evaluate and export.")
    _data_args(t)
    t.add_argument("--out", metavar="DIR", required=True, help="folder for the report and the model")
    t.add_argument("--seed", type=int, help="search and training seed (default model.seed)")
    t.add_argument("--budget", type=int, help="search trials (default model.budget)")
    t.add_argument("--calibration", choices=["auto", "none", "platt", "isotonic"],
                   help="post-hoc calibration (default model.calibration; auto = forward-chaining CV)")
    t.add_argument("--register", action="store_true", help="also add the result to the registry")
    t.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    t.set_defaults(func=_train)

    e = ms.add_parser("evaluate", help="re-evaluate an exported model (as served, via ONNX) on a dataset")
    e.add_argument("model_dir", help="exported model folder or registry version")
    _data_args(e)
    e.add_argument("--out", metavar="DIR", help="report folder (default MODEL_DIR/eval)")
    e.set_defaults(func=_evaluate)

    x = ms.add_parser("export", help="re-export model.ubj to ONNX with the parity check on holdout.parquet")
    x.add_argument("model_dir", help="trained model folder")
    x.set_defaults(func=_export)

    pr = ms.add_parser("promote", help="make a model current (after the feature and AUC gates)")
    pr.add_argument("model", help="registry version (v0003 or v0003-ab12cd34) or a trained folder to register")
    pr.add_argument("--force", action="store_true",
                    help="human override: promote despite a failed gate (recorded in history.jsonl)")
    pr.add_argument("--reason", default="", help="why (recorded)")
    pr.set_defaults(func=_promote)

    rb = ms.add_parser("rollback", help="return 'current' to the previously promoted model")
    rb.add_argument("--to", help="an earlier current version instead of the last one")
    rb.add_argument("--force", action="store_true", help="roll back even if its features no longer match")
    rb.add_argument("--reason", default="")
    rb.set_defaults(func=_rollback)

    _register_ope(ms)
    from models import retrain_cli
    retrain_cli.add_parser(ms)

    ls = ms.add_parser("list", help="registered versions, their metrics and which is current")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=_list)


def _register_ope(ms: argparse._SubParsersAction) -> None:
    o = ms.add_parser("ope", help="off-policy evaluation: the CTR the model-based policy would get, from a random log",
                      formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_OPE_EPILOG,
                      description="Split the Open Bandit uniform-random log by time, train a reward model "
                                  "(logistic regression on impression-item pairs) on the older part, and "
                                  "estimate on the newest part (ope.eval_fraction) the CTR of the policy "
                                  "'show the item with the highest predicted CTR' with IPS, SNIPS and "
                                  "doubly-robust estimators, each with its interval, beside the logged "
                                  "policy's own CTR. Nothing is served: the log's propensities stand in "
                                  "for traffic (docs/model.md, 'Off-policy evaluation').")
    o.add_argument("--data", default="openbandit", metavar="openbandit|DIR",
                   help="'openbandit': the folder ope.openbandit_dir (default); or an Open Bandit root "
                        "(holding random/CAMPAIGN/) or a campaign folder (CAMPAIGN.csv, item_context.csv)")
    o.add_argument("--campaign", choices=["all", "men", "women"], default="men",
                   help="which campaign's log (default men: the one in the shared small sample)")
    o.add_argument("--out", metavar="FILE.json", required=True, help="where to write the JSON report")
    o.set_defaults(func=_ope)


def _load(cfg, args):
    from models.datasets import load

    try:
        return load(args.format, args.data, cfg, label=args.label, time=args.time,
                    numeric=_csv(args.numeric), categorical=_csv(args.categorical),
                    segments=_csv(args.segments), prior_key=args.prior_key,
                    progress=not getattr(args, "no_progress", False))
    except (FileNotFoundError, ValueError) as e:
        raise ModelError(f"cannot load {args.format} data from {args.data}: {e}") from e


def _registry(cfg):
    from models.registry import Registry
    return Registry(cfg.path("model_registry"))


def _train(cfg, args) -> int:
    from models.pipeline import run_train

    ds = _load(cfg, args)
    print(f"{ds.name}: {len(ds.X):,} rows, {int(ds.y.sum()):,} clicks, {ds.X.shape[1]} features", file=sys.stderr)
    rep = run_train(cfg, ds, args.out, seed=args.seed, budget=args.budget, calibration=args.calibration,
                    valid_fraction=args.valid_fraction, test_fraction=args.test_fraction,
                    progress=not args.no_progress)
    _summary(rep)
    if args.register:
        v = _registry(cfg).add(args.out)
        print(f"registered as {v.version}")
    print(f"wrote {Path(args.out) / 'report.json'}, report.html, model.onnx, signature.json")
    return 0


def _summary(rep: dict) -> None:
    rows = [("model", rep)] + [(f"baseline {k}", v) for k, v in rep["baselines"].items()]
    for key in ("oracle", "oracle_observable"):
        if key in rep:
            rows.append((key.replace("_", " "), rep[key]))
    print(f"{'':18} {'AUC':>7} {'logloss':>8} {'NE':>7} {'ECE':>7}")
    for name, r in rows:
        print(f"{name:18} {r['auc']:7.4f} {r['logloss']:8.5f} {r['normalized_entropy']:7.4f} {r['ece']:7.4f}")
    ci = rep["auc_ci"]
    d = rep["baselines"]["lr"].get("model_auc_minus_this") or {}
    print(f"test rows {rep['n_test']:,} ({rep['clicks_test']} clicks); AUC 95% CI {ci['low']:.4f}-{ci['high']:.4f}; "
          f"{'beats' if rep['beats_lr'] else 'does NOT beat'} LR on AUC and log loss")
    if d:
        print(f"AUC - LR AUC = {d['diff']:+.4f} (paired bootstrap 95% CI {d['low']:+.4f} to {d['high']:+.4f})")
    for name, c in (rep.get("candidates") or {}).items():
        d = c.get("shipped_minus_this")
        vs = (f"; shipped - this: AUC {d['auc']['diff']:+.4f} ({d['auc']['low']:+.4f}..{d['auc']['high']:+.4f}), "
              f"log loss {d['logloss']['diff']:+.5f} ({d['logloss']['low']:+.5f}..{d['logloss']['high']:+.5f})"
              if d else " (shipped)")
        print(f"candidate {name:8} valid logloss {c['valid_logloss']:.5f}; test AUC {c['auc']:.4f} "
              f"logloss {c['logloss']:.5f} ECE {c['ece']:.4f}" + vs + ("" if c["exportable"] else "; not exportable"))
    if "why" in rep:
        print(f"shipped {rep['shipped']}: {rep['why']}")
    if "oracle" in rep:
        print(f"AUC gap to the oracle: {rep['auc_gap_to_oracle']:.4f}"
              + (f"; to the observable oracle (no latent user clickiness): "
                 f"{rep['auc_gap_to_observable_oracle']:.4f}" if "oracle_observable" in rep else ""))


def _model_dir(cfg, ref: str) -> Path:
    p = Path(ref)
    return p if p.is_dir() else _registry(cfg).get(ref).path


def _evaluate(cfg, args) -> int:
    from models.pipeline import run_evaluate

    d = _model_dir(cfg, args.model_dir)
    rep = run_evaluate(cfg, d, _load(cfg, args), args.out or d / "eval",
                       valid_fraction=args.valid_fraction, test_fraction=args.test_fraction)
    _summary(rep)
    return 0


def _export(cfg, args) -> int:
    from models.pipeline import run_export

    sig = run_export(cfg, args.model_dir)
    print(f"exported {sig['model_version']}: parity max |diff| {sig['parity']['max_abs_diff']:.2e} "
          f"over {sig['parity']['rows']} rows")
    return 0


def _promote(cfg, args) -> int:
    reg = _registry(cfg)
    gates = {"windows_s": cfg.profile.windows.count_windows_s, "feature_service": cfg.feast.feature_service,
             "force": args.force, "reason": args.reason, "auc_tolerance": cfg.model.promote_auc_tolerance}
    if Path(args.model).is_dir():
        # One step: a folder a gate refuses is not left behind as a registered version.
        v, ptr = reg.add_and_promote(args.model, **gates)
        print(f"registered {args.model} as {v.version}")
    else:
        ptr = reg.promote(args.model, **gates)
    print(f"current -> {ptr['version']}" + (" (forced)" if args.force else ""))
    c = ptr["checks"]
    if "candidate_auc" in c:
        print(f"holdout AUC {c['candidate_auc']:.4f} vs previous {c['current_auc']:.4f} on {c['rows']} rows")
    return 0


def _rollback(cfg, args) -> int:
    ptr = _registry(cfg).rollback(args.to, windows_s=cfg.profile.windows.count_windows_s,
                                  feature_service=cfg.feast.feature_service, force=args.force,
                                  reason=args.reason)
    print(f"current -> {ptr['version']} (rolled back from {ptr['from']})")
    return 0


def _ope(cfg, args) -> int:
    from models.ope_report import run_ope, summary

    rep = run_ope(cfg, args.data, args.campaign, args.out, progress=lambda m: print(m, file=sys.stderr))
    print("\n".join(summary(rep)))
    print(f"wrote {args.out}")
    return 0


def _list(cfg, args) -> int:
    from models.registry import feature_mismatch, load_problems

    reg = _registry(cfg)
    cur = reg.current()
    w = cfg.profile.windows.count_windows_s
    rows = []
    for v in reg.versions():
        m = v.signature.get("metrics") or {}
        rows.append({"version": v.version, "current": v.version == cur, "dataset": v.signature.get("dataset"),
                     "created_at": v.signature.get("created_at"), "auc": m.get("auc"), "ece": m.get("ece"),
                     # servable: the live features fit, and it loads and scores a row (not just a file)
                     "servable": not feature_mismatch(v.signature, w, cfg.feast.feature_service)
                     and not load_problems(v.path)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no models in {reg.root}")
        return 0
    print(f"  {'version':18} {'dataset':11} {'created':21} {'AUC':>7} {'ECE':>7} servable")
    for r in rows:
        auc = f"{r['auc']:.4f}" if r["auc"] is not None else "-"
        ece = f"{r['ece']:.4f}" if r["ece"] is not None else "-"
        print(f"{'*' if r['current'] else ' '} {r['version']:18} {str(r['dataset']):11} {str(r['created_at']):21} "
              f"{auc:>7} {ece:>7} {'yes' if r['servable'] else 'no'}")
    return 0
