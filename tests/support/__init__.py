"""Helpers shared by more than one test tier (unit, contract, flink, integration, e2e).

No tests live here (tests/conftest.py accepts tests only in a tier folder); a helper
used by one tier stays in that tier's folder, and nothing imports tests/conftest.py —
pytest loads it, tests import from here.
"""
