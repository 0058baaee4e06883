"""The REST documents the node keeps rendered between changes (finesse_emu/server/core/views.py):
SystemInfo stamped per request, each agent's User rendered again only when its view changed. What
they answer must be byte for byte what rendering afresh answers."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finesse_emu.server import xml as X
from finesse_emu.server.core import views
from ged188 import AgentState
from tests.unit.test_node_core import Node, state_event
from tests.unit.test_rest_xml import SYSTEM_INFO_VIEW

# Up to the year 2100, with the millisecond rounding edges (x.0005, x.9995) well represented.
WALLS = st.one_of(
    st.floats(min_value=0.0, max_value=4.1e9, allow_nan=False),
    st.integers(min_value=0, max_value=4_100_000_000).map(lambda s: s + 0.9995),
    st.integers(min_value=0, max_value=4_100_000_000_000).map(lambda ms: ms / 1000 + 0.0005),
)


@given(walls=st.lists(WALLS, min_size=1, max_size=8))
def test_system_info_is_the_fresh_rendering_stamped_with_the_wall_clock(walls: list[float]) -> None:
    doc = views.SystemInfoDocument()
    template = dataclasses.replace(SYSTEM_INFO_VIEW, current_timestamp=0.0)
    for wall in sorted(walls) + walls:  # the same second again, and back in time
        fresh = X.system_info(dataclasses.replace(SYSTEM_INFO_VIEW, current_timestamp=wall))
        assert doc.render(template, wall) == fresh


def test_system_info_renders_again_when_its_content_changes() -> None:
    doc = views.SystemInfoDocument()
    before = doc.render(SYSTEM_INFO_VIEW, 1714894445.0)
    down = dataclasses.replace(SYSTEM_INFO_VIEW, status="OUT_OF_SERVICE")
    after = doc.render(down, 1714894445.0)
    assert b"<status>OUT_OF_SERVICE</status>" in after and b"<status>IN_SERVICE</status>" in before
    assert after == X.system_info(dataclasses.replace(down, current_timestamp=1714894445.0))


def test_a_user_document_is_rendered_once_per_change_of_the_view(monkeypatch: pytest.MonkeyPatch) -> None:
    n = Node()
    rendered: list[str] = []
    render = X.user

    def counting(view: X.UserView, root: str = "User") -> bytes:
        rendered.append(view.login_id)
        return render(view, root)

    monkeypatch.setattr(X, "user", counting)
    first = n.core.user_document("1000")
    assert n.core.user_document("1000") == first == render(n.core.user_view("1000"))
    assert rendered == ["1000"]  # the second read served what the first rendered
    n.core.user_document("1001")
    assert rendered == ["1000", "1001"]  # one document per agent
    n.cti(state_event("1000", AgentState.AVAILABLE))  # the agent's state changes
    changed = n.core.user_document("1000")
    assert changed != first and changed == render(n.core.user_view("1000"))
    assert b"<state>READY</state>" in changed
    assert rendered == ["1000", "1001", "1000"]
    assert n.core.user_document("1001") is not None and rendered[-1] == "1000"  # 1001 unchanged
