"""Datasets too large for the repository, in the ``shared/`` folder beside the checkout."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"


def shared_dataset(*parts: str) -> Path:
    """Path into ../shared/datasets, or skip the test with the reason."""
    p = SHARED.joinpath("datasets", *parts)
    if not p.exists():
        pytest.skip(f"{p} absent: the shared datasets folder is not beside this checkout")
    return p
