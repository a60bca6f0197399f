"""The registry's write side: adding model versions, promoting, rolling back, and the gates
in front of promotion.

The folder layout under ``cfg.paths.model_registry`` and everything that only reads it
(versions, the ``current`` pointer, history) are udfs/core/model_store.py's, shared with the
scoring job; ``Registry`` is that read-only ``ModelStore`` plus the writes. The load check
runs the serving scorer itself (udfs/io/onnx_scorer.py). ``udfs/`` never imports this module.

``current`` is replaced atomically (temp file + ``os.replace``), so a scorer
polling it sees the old or the new pointer, never half of one. Promotion is
refused when the model's features are not the live feature service's, or when
its AUC on its own holdout is below the current model's AUC on the same rows
(``gate_refusals``; retraining also requires a lower log loss there);
``force`` (a human's override) records why in the history. A model that does not
load and score one row in onnxruntime is refused always, ``force`` or not: no
override makes a broken file servable. A version folder appears only complete
and checked (staged under a temp name, then renamed), and registering a folder to
promote it is one step: if any gate refuses, nothing is left registered.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import getpass
import json
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from models.jsonio import write_json
from models.metrics import auc, logloss
from udfs.errors import ModelError
from udfs.core.features import model_feature_names, served_profile_features
from udfs.core.model_store import (FILES, HISTORY, HOLDOUT, LOCK, MODEL, POINTER, SIGNATURE, VERSION, ModelStore,
                              Version, pointer_record, version_name, version_number)
from udfs.io.onnx_scorer import OnnxScorer


def feature_mismatch(signature: dict, windows_s: Sequence[int], feature_service: str) -> list[str]:
    """Why ``signature`` cannot be served by the live feature service (empty list: it can)."""
    problems = []
    want = model_feature_names(windows_s)
    got = [f.get("name") for f in signature.get("features", [])]
    if got != want:
        extra, lack = [g for g in got if g not in want], [w for w in want if w not in got]
        problems.append(f"model features differ from the live model features: missing {lack[:5]}, "
                        f"unknown {extra[:5]}" + ("" if extra or lack else ", order differs"))
    if signature.get("feature_service") != feature_service:
        problems.append(f"feature service {signature.get('feature_service')!r} != live {feature_service!r}")
    if list(signature.get("served_profile_features") or []) != served_profile_features(windows_s):
        problems.append("served profile features differ from the live feature service's")
    if any(f.get("type") != "float32" for f in signature.get("features", [])):
        problems.append("every input must be float32")
    return problems


def load_problems(model_dir: Path) -> list[str]:
    """Why the model in ``model_dir`` cannot serve (empty list: it loads in onnxruntime and
    turns one row of its default features into one probability, as the scorer will)."""
    try:
        sc = OnnxScorer(model_dir)
        p = np.asarray(sc.score(sc.row({})), dtype=np.float64)
    except Exception as e:  # noqa: BLE001 - any way a model folder is broken means: not servable
        return [f"model does not load and score: {type(e).__name__}: {str(e)[:300]}"]
    if p.shape != (1,) or not np.isfinite(p).all() or not 0.0 <= float(p[0]) <= 1.0:
        return [f"model scored one row as {p.tolist()[:3]}, not one probability"]
    return []


def check_features(signature: dict, cfg) -> None:
    """Raise ``ModelError`` unless the live config's feature service can serve ``signature``."""
    problems = feature_mismatch(signature, cfg.profile.windows.count_windows_s, cfg.feast.feature_service)
    if problems:
        raise ModelError("; ".join(problems))


def holdout_scores(model_dir: Path, holdout: pd.DataFrame) -> np.ndarray:
    """pCTR of the ONNX model in ``model_dir`` (as served) on ``holdout``'s feature columns."""
    sc = OnnxScorer(model_dir)
    missing = [f for f in sc.features if f not in holdout.columns]
    if missing:
        raise ModelError(f"holdout lacks features {missing[:5]} of {model_dir.name}")
    return sc.score(holdout[sc.features].to_numpy(np.float32))


def holdout_auc(model_dir: Path, holdout: pd.DataFrame) -> float:
    """AUC of the ONNX model in ``model_dir`` on ``holdout`` (feature columns + ``label``)."""
    return auc(holdout["label"].to_numpy(), holdout_scores(model_dir, holdout))


def gate_refusals(checks: dict, *, auc_tolerance: float = 0.0,
                  require_lower_logloss: bool = False) -> list[str]:
    """Why the holdout comparison in ``checks`` (``Registry._compare``: both models scored on the
    candidate's holdout) refuses the candidate; empty: it passes. AUC: refused below the current
    model's − ``auc_tolerance`` (an AUC that is NaN, a one-class holdout, decides nothing).
    ``require_lower_logloss`` (retraining): refused unless its log loss is strictly lower, and
    refused when the two were not compared on the same rows at all."""
    if "candidate_auc" not in checks:
        return [f"not compared with the current model on the same rows ({checks.get('holdout')})"] \
            if require_lower_logloss else []
    out = []
    new, cur = checks["candidate_auc"], checks["current_auc"]
    if not (np.isnan(new) or np.isnan(cur)) and new < cur - auc_tolerance:
        out.append(f"holdout AUC {new:.4f} < current {cur:.4f} - {auc_tolerance}")
    if require_lower_logloss and not checks["candidate_logloss"] < checks["current_logloss"]:
        out.append(f"holdout log loss {checks['candidate_logloss']:.5f} is not below current "
                   f"{checks['current_logloss']:.5f}")
    return out


class PromotionRefused(ModelError):
    """A gate refused the candidate; ``checks`` holds what was compared (the figures)."""

    def __init__(self, message: str, checks: dict):
        super().__init__(message)
        self.checks = checks


class Registry(ModelStore):
    """A registry folder that can be written; reading is ``ModelStore``'s."""

    @contextmanager
    def _lock(self):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def add(self, model_dir: str | Path) -> Version:
        """Copy an exported model folder in as the next version ``vNNNN-<fingerprint[:8]>``.

        Refused (``ModelError``, nothing registered) when the model does not load and score."""
        with self._lock():
            staged = self._stage(Path(model_dir))
            try:
                _refuse_unloadable(staged, f"refusing to register {model_dir}")
                return self._commit(staged)
            except BaseException:
                shutil.rmtree(staged.path, ignore_errors=True)
                raise

    def add_and_promote(self, model_dir: str | Path, **gates) -> tuple[Version, dict]:
        """Register ``model_dir`` and make it current in one step: when a gate refuses it (or
        anything fails), nothing is registered. ``gates``: those of ``promote``."""
        with self._lock():
            staged = self._stage(Path(model_dir))
            try:
                ptr = self._promote(staged, commit=self._commit, **gates)
            except BaseException:
                shutil.rmtree(staged.path, ignore_errors=True)
                shutil.rmtree(self.root / staged.version, ignore_errors=True)
                raise
        return self.get(staged.version), ptr

    def _stage(self, src: Path) -> Version:
        """``src`` copied to a hidden temp folder under its next version name (lock held)."""
        for need in (MODEL, SIGNATURE):
            if not (src / need).exists():
                raise ModelError(f"{src} is not an exported model (no {need})")
        try:
            sig = json.loads((src / SIGNATURE).read_text())
            fingerprint = sig["training_data_fingerprint"][:8]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ModelError(f"{src}/{SIGNATURE} is unreadable or has no training_data_fingerprint: "
                             f"{type(e).__name__}: {e}") from None
        nums = [version_number(v.version) for v in self.versions()]
        name = version_name(max(nums, default=0) + 1, fingerprint)
        if not VERSION.match(name):   # a name versions() would not list: it would vanish
            raise ModelError(f"{src}: training_data_fingerprint {fingerprint!r} is not hex")
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        for f in FILES:
            if (src / f).exists():
                shutil.copy2(src / f, tmp / f)
        sig["registry_version"] = name
        write_json(tmp / SIGNATURE, sig)
        return Version(name, tmp, sig)

    def _commit(self, staged: Version) -> Version:
        """The staged folder renamed into place: the version appears whole or not at all."""
        final = self.root / staged.version
        staged.path.rename(final)
        return Version(staged.version, final, staged.signature)

    def _set(self, version: str, previous: list[str], entry: dict) -> dict:
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        ptr = pointer_record(version, previous, now, **entry)
        write_json(self.root / POINTER, ptr)
        with open(self.root / HISTORY, "a") as f:
            f.write(json.dumps({"ts": now, "version": version, "user": _user(), **entry}) + "\n")
        return ptr

    def promote(self, version: str, *, windows_s: Sequence[int], feature_service: str,
                force: bool = False, reason: str = "", auc_tolerance: float = 0.0,
                require_lower_logloss: bool = False) -> dict:
        """Point ``current`` at ``version`` after the load, feature and holdout gates (``force``
        skips the last two, never the first). A refusal raises ``PromotionRefused``."""
        with self._lock():
            return self._promote(self.get(version), windows_s=windows_s, feature_service=feature_service,
                                 force=force, reason=reason, auc_tolerance=auc_tolerance,
                                 require_lower_logloss=require_lower_logloss)

    def _promote(self, cand: Version, *, windows_s: Sequence[int], feature_service: str,
                 force: bool = False, reason: str = "", auc_tolerance: float = 0.0,
                 require_lower_logloss: bool = False, commit=None) -> dict:
        """The gates, then the pointer (lock held). ``commit`` first moves a staged candidate
        into place, once every gate has passed."""
        _refuse_unloadable(cand, f"refusing to promote {cand.version}")   # never overridable
        checks, ptr = self._checks(cand, windows_s=windows_s, feature_service=feature_service,
                                   auc_tolerance=auc_tolerance, require_lower_logloss=require_lower_logloss)
        if checks["features"] and not force:
            raise PromotionRefused(f"refusing to promote {cand.version}: " + "; ".join(checks["features"])
                                   + " (use --force to override)", checks)
        if ptr and ptr["version"] == cand.version:
            raise ModelError(f"{cand.version} is already current")
        if checks.get("worse") and not force:
            raise PromotionRefused(f"refusing to promote {cand.version}: " + "; ".join(checks["refused"])
                                   + f" ({ptr['version']}, on the candidate's holdout of {checks.get('rows')} "
                                     "rows; use --force to override)", checks)
        previous = (ptr["previous"] + [ptr["version"]]) if ptr else []
        if commit is not None:
            commit(cand)
        return self._set(cand.version, previous, {"action": "promote", "forced": force,
                                                   "reason": reason, "checks": checks})

    def _checks(self, cand: Version, *, windows_s: Sequence[int], feature_service: str,
                auc_tolerance: float, require_lower_logloss: bool) -> tuple[dict, dict | None]:
        """(what the gates found, the current pointer): the feature check, and against the current
        model (if any) both models scored on the candidate's holdout and ``gate_refusals``."""
        checks: dict = {"features": feature_mismatch(cand.signature, windows_s, feature_service)}
        ptr = self.pointer()
        if ptr and ptr["version"] != cand.version:
            checks.update(self._compare(cand, self.root / ptr["version"]))
            checks["refused"] = gate_refusals(checks, auc_tolerance=auc_tolerance,
                                              require_lower_logloss=require_lower_logloss)
            checks["worse"] = bool(checks["refused"])
        return checks, ptr

    def assess(self, model_dir: str | Path, *, windows_s: Sequence[int], feature_service: str,
               auc_tolerance: float = 0.0, require_lower_logloss: bool = False) -> dict:
        """What ``promote`` would find for an unregistered folder, writing nothing (a dry run):
        the checks; ``checks["refusals"]`` lists every reason it would be refused."""
        d = Path(model_dir)
        problems = load_problems(d)
        try:
            sig = json.loads((d / SIGNATURE).read_text())
        except (OSError, ValueError) as e:
            raise ModelError(f"{d}: unreadable {SIGNATURE}: {e}") from None
        checks, _ = self._checks(Version(d.name, d, sig), windows_s=windows_s, feature_service=feature_service,
                                 auc_tolerance=auc_tolerance, require_lower_logloss=require_lower_logloss)
        checks["refusals"] = problems + checks["features"] + checks.get("refused", [])
        return checks

    def _compare(self, cand: Version, current_dir: Path) -> dict:
        hold = cand.path / HOLDOUT
        if not hold.exists() or not current_dir.exists():
            return {"holdout": "unavailable"}
        try:
            df = pd.read_parquet(hold)
        except Exception as e:  # noqa: BLE001 - unreadable: refuse, not skip the AUC gate
            raise ModelError(f"{cand.version}: {HOLDOUT} unreadable: {type(e).__name__}: {e}") from None
        try:
            cur = holdout_scores(current_dir, df)
        except ModelError as e:  # e.g. the current model reads other features
            return {"holdout": f"current model cannot score it: {e}"}
        new = holdout_scores(cand.path, df)
        y = df["label"].to_numpy()
        return {"holdout": "candidate's", "rows": len(df), "clicks": int(y.sum()),
                "candidate_auc": auc(y, new), "current_auc": auc(y, cur),
                "candidate_logloss": logloss(y, new), "current_logloss": logloss(y, cur)}

    def rollback(self, to: str | None = None, *, windows_s: Sequence[int], feature_service: str,
                 force: bool = False, reason: str = "") -> dict:
        """Return ``current`` to the previously promoted version (or ``to``, one of the earlier ones)."""
        with self._lock():
            ptr = self.pointer()
            if not ptr or not ptr["previous"]:
                raise ModelError("nothing to roll back to: no earlier promoted version")
            stack = list(ptr["previous"])
            target = self.get(to).version if to else stack[-1]
            if target not in stack:
                raise ModelError(f"{target} was never current before {ptr['version']}; promote it instead")
            _refuse_unloadable(self.get(target), f"refusing to roll back to {target}")   # never overridable
            problems = feature_mismatch(self.get(target).signature, windows_s, feature_service)
            if problems and not force:
                raise ModelError(f"refusing to roll back to {target}: " + "; ".join(problems))
            stack = stack[: stack.index(target)]
            return self._set(target, stack, {"action": "rollback", "from": ptr["version"],
                                             "forced": force, "reason": reason})


def _refuse_unloadable(v: Version, what: str) -> None:
    problems = load_problems(v.path)
    if problems:
        raise ModelError(f"{what}: " + "; ".join(problems) + " (not overridable: --force does not apply)")


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in a container
        return "unknown"
