"""The attributed event: what the feedback job's attribution stage hands its statistics stage.

One record per impression, click or conversion that was joined to what was served (its
campaign, creative, bid type and price come from the served log, never from the ad
server's event), de-duplicated by event id and inside its attribution window. Everything
downstream — ad statistics, spend, budgets — counts these and nothing else, so an event
is charged at most once because it is attributed at most once.

Encoded as a compact JSON array between the two stages (``encode``/``decode``); it is an
internal record between two operators of one job, not a wire format of its own.
"""
from __future__ import annotations

import msgspec

IMPRESSION, CLICK, CONVERSION = "impression", "click", "conversion"
KINDS = (IMPRESSION, CLICK, CONVERSION)


class Attributed(msgspec.Struct, frozen=True, array_like=True):
    kind: str            # IMPRESSION | CLICK | CONVERSION
    event_id: str        # impression_id / click_id / conversion_id: unique within its kind
    ts: int              # the event's own time, epoch ms (spend is booked on its UTC day)
    campaign_id: str
    creative_id: str
    bid_type: str        # CPM | CPC | CPA | oCPA, as served
    charge: float        # what this event costs its campaign: the served charge when this event
                         # is the one its bid type pays for (CPM: impression, CPC: click,
                         # CPA/oCPA: conversion), else 0
    value: float = 0.0   # a conversion's order value; 0 for the others
    view_through: bool = False   # a conversion attributed to an impression without a click

    def encode(self) -> str:
        return _ENC.encode(self).decode()

    @staticmethod
    def decode(s: str | bytes) -> "Attributed":
        return _DEC.decode(s)


_ENC = msgspec.json.Encoder()
_DEC = msgspec.json.Decoder(Attributed)
