"""Remaining daily budget per campaign, behind the :class:`BudgetView` interface.

Targeting asks a ``BudgetView`` only; the default :class:`CatalogBudget` is the
campaign's ``daily_budget`` minus today's spend in a :class:`SpendLedger` the job
keeps. Days are UTC days (``ts_ms // 86_400_000``). The feedback loop can replace
this with its own ``BudgetView`` without touching targeting.
"""
from __future__ import annotations

from typing import MutableMapping, Protocol, runtime_checkable

from udfs.core.catalog import Catalog

DAY_MS = 86_400_000


def utc_day(ts_ms: int) -> int:
    """Days since the epoch (UTC) of an epoch-milliseconds timestamp."""
    return ts_ms // DAY_MS


@runtime_checkable
class BudgetView(Protocol):
    def remaining(self, campaign_id: str, now_ms: int) -> float:
        """Budget the campaign may still spend today (<= 0: exhausted)."""
        ...


class SpendLedger:
    """Spend per campaign per UTC day, keeping only the last ``keep_days`` days.

    ``store`` is any mutable mapping ``(campaign_id, day) -> amount`` (a plain dict by
    default), so a stateful operator can back it with its own state.
    """

    def __init__(self, store: MutableMapping[tuple[str, int], float] | None = None,
                 keep_days: int = 2) -> None:
        if keep_days < 1:
            raise ValueError("keep_days must be >= 1")
        self.store = {} if store is None else store
        self.keep_days = keep_days
        self._latest_day: int | None = None

    def add(self, campaign_id: str, amount: float, ts_ms: int) -> None:
        """Count ``amount`` spent by ``campaign_id`` at ``ts_ms`` (on that UTC day)."""
        day = utc_day(ts_ms)
        if self._latest_day is None or day > self._latest_day:
            self._latest_day = day
            self.prune(ts_ms)
        if day <= self._latest_day - self.keep_days:
            return  # too late to matter to any budget still being enforced
        key = (campaign_id, day)
        self.store[key] = self.store.get(key, 0.0) + float(amount)

    def spent(self, campaign_id: str, now_ms: int) -> float:
        """What ``campaign_id`` spent on the UTC day of ``now_ms``."""
        return self.store.get((campaign_id, utc_day(now_ms)), 0.0)

    def prune(self, now_ms: int) -> int:
        """Drop days older than ``keep_days`` before ``now_ms``'s day; returns how many entries."""
        oldest = utc_day(now_ms) - self.keep_days + 1
        stale = [k for k in self.store if k[1] < oldest]
        for k in stale:
            del self.store[k]
        return len(stale)


class CatalogBudget:
    """``BudgetView``: campaign ``daily_budget`` minus today's ledger spend (unknown campaign: 0)."""

    def __init__(self, catalog: Catalog, ledger: SpendLedger) -> None:
        self.catalog = catalog
        self.ledger = ledger

    def remaining(self, campaign_id: str, now_ms: int) -> float:
        c = self.catalog.campaign(campaign_id)
        if c is None:
            return 0.0
        return c.daily_budget - self.ledger.spent(campaign_id, now_ms)


class UnlimitedBudget:
    """``BudgetView`` that never runs out (tests, replays without spend tracking)."""

    def remaining(self, campaign_id: str, now_ms: int) -> float:
        return float("inf")
