"""What a record's consent allows: (personalisation, measurement) from its flags, its geo and
the policy (``privacy.consent``, ``udfs.config.privacy.ConsentPolicy``).

Pure, and the one place the rule lives: the profile job asks it of every event, the scoring
job of every request. A flag the record states is the answer (true or false, whatever the
policy); an absent flag is read by the mode of the record's geo: ``opt_in`` (absent = no, the
default) or ``opt_out`` (absent = yes). A v1 clickstream event's boolean ``consent`` is its
personalisation flag; its measurement flag is absent. docs/privacy.md states what each job does
with the answer.
"""
from __future__ import annotations

from dataclasses import dataclass

from udfs.config.privacy import OPT_OUT, ConsentPolicy
from udfs.messages.clickstream import Consent


@dataclass(frozen=True)
class Decision:
    personalisation: bool
    measurement: bool


def flags(consent: Consent | bool | None) -> tuple[bool | None, bool | None]:
    """(personalisation, measurement) as the record states them; None: absent."""
    if consent is None:
        return None, None
    if type(consent) is bool:     # clickstream v1: one flag, which meant personalisation
        return consent, None
    return consent.personalisation, consent.measurement


def decide(consent: Consent | bool | None, geo: str | None, policy: ConsentPolicy) -> Decision:
    """The purposes a record from ``geo`` with ``consent`` is allowed under ``policy``."""
    p, m = flags(consent)
    if p is None or m is None:
        absent = policy.mode(geo) == OPT_OUT
        p = absent if p is None else p
        m = absent if m is None else m
    return Decision(p, m)


def of_event(event, policy: ConsentPolicy) -> Decision:
    """A clickstream event's decision (its ``consent`` and ``geo``)."""
    return decide(event.consent, event.geo, policy)


def of_request(request, policy: ConsentPolicy) -> Decision:
    """An ad request's decision (its ``consent`` and ``context.geo``)."""
    return decide(request.consent, request.context.geo, policy)
