"""The statistics of an A/B experiment report: rates, lifts, sample ratio, and an always-valid test.

Pure numpy/scipy on per-user arrays (one entry per randomisation unit: a pseudonymous user,
or an anonymous request). Users are what was randomised, and one user's impressions are not
independent of each other (a clicky user clicks on many), so every interval and every lift
here is computed over users: a rate is a ratio of sums (clicks / impressions summed over the
variant's users) with its variance by the delta method on the per-user linearisation
``(x_i - R n_i) / mean(n)``. The one exception is :func:`two_proportion`, the textbook test
that counts impressions as independent; the report shows it labelled as such.

Peeking. A fixed-horizon interval is right once, at a sample size chosen in advance; looked
at after every batch of users, "significant at some look" happens far more often than alpha
(``tests/unit/test_experiment_stats.py`` measures both). :func:`always_valid` instead uses the
normal-mixture boundary (Robbins' mixture; Howard, Ramdas, McAuliffe & Sekhon 2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", the two-sided normal mixture; as an mSPRT
in Johari, Koomen, Pekelis & Walsh 2022, "Always valid inference"), applied to the
asymptotically normal lift estimate in the way of Waudby-Smith et al. 2023 ("Time-uniform
central limit theory and asymptotic confidence sequences"): with ``z`` the estimate over its
standard error after ``n`` users, the mixture likelihood ratio against "no lift" is

    Lambda_n = sqrt(r / (n + r)) * exp(z^2 * n / (2 (n + r)))

and by Ville's inequality P(Lambda_n ever reaches 1/alpha | no lift) <= alpha, whatever the
looks. Its running ``min(1, 1/Lambda)`` is the always-valid p-value; the set of lifts it
does not reject is the confidence sequence, ``estimate ± se * sqrt((n + r)/n * log((n + r)/(r alpha^2)))``,
intersected over the looks. ``r`` (in users) tunes where the band is narrowest: Waudby-Smith
et al.'s choice for a planned total of ``n*`` users, ``r = n* / (-2 log alpha + log(1 - 2 log alpha))``.
The guarantee is asymptotic (it rests on the lift's normal approximation), so a look counts
only once each variant has ``min_users`` users.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

METHOD = ("Rates and lifts over users (the randomisation unit): ratio of sums with delta-method "
          "variance on the per-user linearisation. Relative lift treatment/control - 1 by the delta "
          "method on the two ratios. CTR difference: pooled two-proportion z-test over impressions "
          "(counts impressions as independent; shown for reference). Sample ratio: chi-square of "
          "users per variant against the configured shares. Verdict: always-valid normal-mixture "
          "confidence sequence (Howard et al. 2021; mSPRT of Johari et al. 2022; asymptotic as in "
          "Waudby-Smith et al. 2023) on the primary lift, its p-value the running minimum over the "
          "looks, so looking early and often does not inflate false positives.")


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2))


def interval(value: float, se: float, alpha: float) -> list[float] | None:
    if not (math.isfinite(value) and math.isfinite(se)):
        return None
    return [value - _z(alpha) * se, value + _z(alpha) * se]


@dataclass(frozen=True)
class Ratio:
    """A ratio of per-user sums and its delta-method standard error (nan when undefined)."""
    value: float
    se: float
    users: int

    def as_dict(self, alpha: float, scale: float = 1.0) -> dict:
        ci = interval(self.value * scale, self.se * scale, alpha)
        return {"value": num(self.value * scale), "ci": ci}


def num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def ratio(x: np.ndarray, n: np.ndarray) -> Ratio:
    """sum(x) / sum(n) over users, se from the spread of the users' linearised contributions."""
    x, n = np.asarray(x, float), np.asarray(n, float)
    users = len(x)
    if users == 0 or n.sum() <= 0:
        return Ratio(math.nan, math.nan, users)
    r = x.sum() / n.sum()
    if users < 2:
        return Ratio(float(r), math.nan, users)
    d = (x - r * n) / n.mean()
    return Ratio(float(r), float(np.sqrt(d.var(ddof=1) / users)), users)


@dataclass(frozen=True)
class Lift:
    """Relative lift treatment / control - 1 and its delta-method standard error."""
    value: float
    se: float
    users: int          # both variants together: the sequential test's clock

    @property
    def z(self) -> float:
        return self.value / self.se if self.se > 0 else math.nan


def lift(treat: Ratio, control: Ratio) -> Lift:
    users = treat.users + control.users
    if not (control.value > 0 and math.isfinite(treat.value)):
        return Lift(math.nan, math.nan, users)
    q = treat.value / control.value
    # Var(Rt/Rc) = Var(Rt)/Rc^2 + Rt^2 Var(Rc)/Rc^4 (independent arms); no division by Rt, so Rt = 0 is fine.
    var = treat.se ** 2 / control.value ** 2 + treat.value ** 2 * control.se ** 2 / control.value ** 4
    return Lift(q - 1.0, math.sqrt(var) if math.isfinite(var) else math.nan, users)


def lift_dict(est: Lift, alpha: float) -> dict:
    p = 2 * stats.norm.sf(abs(est.z)) if math.isfinite(est.z) else None
    return {"value": num(est.value), "ci": interval(est.value, est.se, alpha),
            "p_value": None if p is None else float(p)}


def two_proportion(k1: int, n1: int, k0: int, n0: int, alpha: float) -> dict:
    """p1 - p0 with its unpooled Wald interval and the pooled two-sided z-test's p-value."""
    if n1 <= 0 or n0 <= 0:
        return {"value": None, "ci": None, "p_value": None}
    p1, p0 = k1 / n1, k0 / n0
    pooled = (k1 + k0) / (n1 + n0)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    p = float(2 * stats.norm.sf(abs(p1 - p0) / se0)) if se0 > 0 else 1.0
    return {"value": p1 - p0, "ci": [p1 - p0 - _z(alpha) * se, p1 - p0 + _z(alpha) * se], "p_value": p}


def srm(users: list[int], shares: list[float], threshold: float) -> dict:
    """Chi-square of the users per variant against the configured shares (rescaled to sum to 1:
    the traffic outside the experiment is not in these counts)."""
    total = sum(users)
    if total == 0:
        return {"chi2": None, "p_value": None, "ok": True, "expected": [0.0] * len(users)}
    share = np.asarray(shares, float) / sum(shares)
    expected = total * share
    chi2, p = stats.chisquare(np.asarray(users, float), expected)
    return {"chi2": float(chi2), "p_value": float(p), "ok": bool(p >= threshold),
            "expected": [float(e) for e in expected]}


def mixture_r(planned_users: int, alpha: float) -> float:
    """The mixture's scale in users, tightest around ``planned_users`` (Waudby-Smith et al. 2023)."""
    la = -2 * math.log(alpha)
    return planned_users / (la + math.log(1 + la))


def cs_radius(n: int, r: float, alpha: float) -> float:
    """The confidence sequence's half-width in standard errors after ``n`` users."""
    return math.sqrt((n + r) / n * math.log((n + r) / (r * alpha ** 2)))


def always_valid_p(z: float, n: int, r: float) -> float:
    """``min(1, 1/Lambda_n)`` at one look (not yet the running minimum)."""
    log_lam = 0.5 * math.log(r / (n + r)) + z * z * n / (2 * (n + r))
    return math.exp(-max(log_lam, 0.0))


def always_valid(looks: list[Lift], alpha: float, planned_users: int, counted: list[bool]) -> dict:
    """The sequential verdict over looks in time order. ``counted[i]``: look i may decide (each
    variant had its minimum of users). Returns the running p-value and confidence sequence at each
    look, and at the last: p_value, cs (intersection over counted looks), the verdict and the look
    that decided it. The verdict's sign is the band's at the first look that excluded no lift —
    the guarantee is about that first crossing. ``consistent`` is False when later bands no
    longer overlap it (the lift changed over time: the bands assume one lift)."""
    r = mixture_r(planned_users, alpha)
    p, low, high = 1.0, -math.inf, math.inf
    trace, verdict, decided_at = [], "no decision yet", None
    for i, (est, ok) in enumerate(zip(looks, counted)):
        band = None
        if ok and math.isfinite(est.z):
            p = min(p, always_valid_p(est.z, est.users, r))
            w = cs_radius(est.users, r, alpha) * est.se
            band = [est.value - w, est.value + w]
            low, high = max(low, band[0]), min(high, band[1])
            if decided_at is None and p <= alpha:
                decided_at, verdict = i, "treatment better" if est.value > 0 else "treatment worse"
        trace.append({"p_value": p, "cs": band,
                      "running_cs": [low, high] if math.isfinite(low) and low <= high else None})
    consistent = not low > high
    cs = [low, high] if math.isfinite(low) and consistent else None
    return {"p_value": p, "cs": cs, "verdict": verdict, "decided_at": decided_at, "consistent": consistent,
            "alpha": alpha, "mixture_users": r, "trace": trace}
