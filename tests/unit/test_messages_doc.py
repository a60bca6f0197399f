import pytest

from udfs.config import ROOT

pytestmark = pytest.mark.unit


def test_committed_messages_doc_is_current():
    from scripts.messages_doc import render
    committed = (ROOT / "docs" / "messages.md").read_text()
    assert committed == render(), "docs/messages.md is stale: python -m scripts.messages_doc > docs/messages.md"
