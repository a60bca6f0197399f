"""Every collected test carries its folder's tier marker (set in tests/conftest.py), so
`make test-unit` (`-m "unit or contract"`) and the other tiers skip nothing silently."""
from __future__ import annotations


def test_every_collected_test_has_its_folders_tier(request):
    items = request.session.items
    assert request.node in items
    unmarked = [i.nodeid for i in items if not i.get_closest_marker(i.nodeid.split("/")[1])]
    assert not unmarked, unmarked
