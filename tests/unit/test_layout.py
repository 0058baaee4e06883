"""The desktop layout (server/layout.py): its configuration, the CUIC gadget URL rewrite and the
8 vCPU recommendation at its boundaries; the desktop's LoadPlan reading it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finesse_emu.desktop.rest import LoadPlan
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.layout import (
    DesktopLayout,
    GadgetLoad,
    capacity_warning,
    cuic_to_xml,
    gadget_kind,
    gadget_load,
    gadgets_from_counts,
    parse_gadgets,
)
from finesse_emu.server.layout_admin import LayoutState
from finesse_emu.server.xml.layout_api import layout_config
from tests.unit.test_rest_xml import parse_ours, rest


def test_the_default_layout_is_the_default_desktop_six_xml_gadgets() -> None:
    layout = NodeConfig().desktop_layout()
    assert layout.default == tuple(f"/desktop/gadgets/xml/gadget{i}" for i in range(6))
    assert layout.teams == {}
    # The desktop's default without a node layout is the same desktop.
    assert LoadPlan().paths(None)[:6] == list(layout.default)


def test_a_layout_is_a_list_of_urls_or_counts_by_kind() -> None:
    assert parse_gadgets({"xml": 1, "cuic_jsp": 2, "jsp": 1, "cuic_xml": 1}, "layout") == (
        "/desktop/gadgets/xml/gadget0",
        "/desktop/gadgets/jsp/gadget0",
        "/desktop/gadgets/xml/cuic0",
        "/desktop/gadgets/jsp/cuic0",
        "/desktop/gadgets/jsp/cuic1",
    )
    urls = ["https://cuic:8444/cuic/gadget/LiveData/LiveDataGadget.jsp?viewId=1", "/desktop/gadgets/xml/a"]
    assert parse_gadgets(urls, "layout") == tuple(urls)
    for bad in ({"svg": 1}, {"xml": -1}, {"xml": True}, ["a b"], [""], "xml", 6):
        with pytest.raises(ValueError):
            parse_gadgets(bad, "layout")
    with pytest.raises(ValueError, match="team"):
        NodeConfig(team_layouts={"blue": {"xml": 1}})
    with pytest.raises(ValueError, match="vcpus"):
        NodeConfig(vcpus=0)


def test_a_team_layout_overrides_the_default_for_its_users_only() -> None:
    config = NodeConfig(layout={"xml": 2}, team_layouts={"10": {"cuic_jsp": 1}, 11: []})
    layout = config.desktop_layout()
    assert layout.for_team(10) == ("/desktop/gadgets/jsp/cuic0",)
    assert layout.for_team(11) == ()
    assert (
        layout.for_team(12)
        == layout.default
        == ("/desktop/gadgets/xml/gadget0", "/desktop/gadgets/xml/gadget1")
    )


def test_gadget_kind_by_route_or_jsp_url() -> None:
    assert gadget_kind("/desktop/gadgets/jsp/cuic0") == "jsp"
    assert gadget_kind("http://n:8082/desktop/gadgets/jsp/x?nocache=1") == "jsp"
    assert gadget_kind("https://cuic:8444/cuic/gadget/LiveData/LiveDataGadget.jsp?a=b") == "jsp"
    assert gadget_kind("/desktop/gadgets/xml/cuic0") == "xml"
    assert gadget_kind("https://cuic:8444/cuic/gadget/LiveData/LiveDataGadget.xml?a=b.jsp") == "xml"


def test_update_cuic_gadget_url_changes_the_cuic_jsp_references_to_xml_and_nothing_else() -> None:
    assert cuic_to_xml("/desktop/gadgets/jsp/cuic3") == "/desktop/gadgets/xml/cuic3"
    assert (
        cuic_to_xml("http://n:8082/desktop/gadgets/jsp/cuic3?x=1")
        == "http://n:8082/desktop/gadgets/xml/cuic3?x=1"
    )
    assert (
        cuic_to_xml("https://cuic:8444/cuic/gadget/LiveData/LiveDataGadget.jsp?gadgetHeight=310&viewId=A")
        == "https://cuic:8444/cuic/gadget/LiveData/LiveDataGadget.xml?gadgetHeight=310&viewId=A"
    )
    for same in ("/desktop/gadgets/jsp/gadget0", "/desktop/gadgets/xml/cuic0", "/3rdparty/custom.jsp"):
        assert cuic_to_xml(same) == same  # a third-party JSP gadget is not CUIC's: left as it is
    layout = DesktopLayout(
        ("/desktop/gadgets/jsp/cuic0", "/desktop/gadgets/jsp/gadget0"),
        {7: ("/desktop/gadgets/jsp/cuic1", "/desktop/gadgets/xml/gadget1")},
    )
    updated, changed = layout.update_cuic_gadget_urls()
    assert changed == 2
    assert updated.default == ("/desktop/gadgets/xml/cuic0", "/desktop/gadgets/jsp/gadget0")
    assert updated.teams == {7: ("/desktop/gadgets/xml/cuic1", "/desktop/gadgets/xml/gadget1")}
    assert updated.update_cuic_gadget_urls() == (updated, 0)  # run again: nothing left to change


def test_gadgets_per_user_on_average_follow_each_users_team_layout() -> None:
    layout = DesktopLayout(("/desktop/gadgets/xml/a",) * 9, {2: ("/desktop/gadgets/jsp/b",) * 7})
    load = gadget_load(layout, [1, 1, 2, 2])
    assert load == GadgetLoad(4, 4.5, 3.5)
    assert gadget_load(layout, []) == GadgetLoad(0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("users", "xml", "jsp", "vcpus", "warned"),
    [
        (2000, 8.0, 0.0, 4, False),  # eight XML gadgets: not more than eight
        (2000, 8.01, 0.0, 4, True),  # "more than eight XML-gadgets per user on average"
        (2000, 0.0, 6.0, 4, False),
        (2000, 0.0, 6.5, 4, True),  # "or more than six JSP-based gadgets per user on average"
        (1999, 9.0, 7.0, 4, False),  # "Deployments with 2000 active users"
        (2000, 9.0, 0.0, 7, True),
        (2000, 9.0, 7.0, 8, False),  # the recommended OVA: nothing to recommend
        (24000, 4.0, 4.0, 4, False),
    ],
)
def test_the_8_vcpu_recommendation_at_its_boundaries(
    users: int, xml: float, jsp: float, vcpus: int, warned: bool
) -> None:
    warning = capacity_warning(GadgetLoad(users, xml, jsp), vcpus)
    assert (warning is not None) == warned
    if warning is not None:
        assert "8 vCPUs" in warning and f"{vcpus} vCPUs" in warning


def test_layout_config_document_carries_the_gadgets_in_order() -> None:
    body = layout_config("1001", ("/desktop/gadgets/jsp/cuic0", "/a?x=1&y=2"), use_default=False)
    root = rest(body)
    assert root.tag == "LayoutConfig"
    assert root.findtext("uri") == "/finesse/api/User/1001/LayoutConfig"
    assert root.findtext("useDefault") == "false"
    inner = parse_ours(root.findtext("layoutxml") or "")
    ns = "{http://www.cisco.com/vtg/finesse}"
    assert [g.text for g in inner.iter(f"{ns}gadget")] == ["/desktop/gadgets/jsp/cuic0", "/a?x=1&y=2"]


def test_the_desktop_loads_the_layout_unless_its_plan_overrides_it() -> None:
    layout = ["/desktop/gadgets/jsp/cuic0"]
    assert LoadPlan(resources=1).paths(layout) == [
        "/desktop/gadgets/jsp/cuic0",
        "/desktop/resources/bundle0.js",
    ]
    assert (
        LoadPlan().from_layout
        and not LoadPlan(gadgets=2).from_layout
        and not LoadPlan(urls=("/x",)).from_layout
    )
    assert LoadPlan(gadgets=2, kind="jsp", resources=0).paths(layout) == [
        "/desktop/gadgets/jsp/gadget0",
        "/desktop/gadgets/jsp/gadget1",
    ]


def test_a_deployment_file_gives_the_layout_to_both_nodes() -> None:
    from finesse_emu.deployment.launcher import node_options

    given = {"layout": {"xml": 2, "cuic_jsp": 1}, "team_layouts": {2: ["/desktop/gadgets/xml/a"]}, "vcpus": 8}
    assert node_options(given, "deployment.yaml") == given
    bad_options: list[dict[str, object]] = [
        {"layout": "xml"},
        {"vcpus": "8"},
        {"vcpus": True},
        {"team_layouts": []},
    ]
    for bad in bad_options:
        with pytest.raises(ValueError, match="finesse"):
            node_options(bad, "deployment.yaml")


def test_the_node_walks_its_users_when_the_layout_or_the_users_change_not_at_each_health_poll() -> None:
    """/emu/health (polled twice a second by a run's observer) shows the gadgets per user: they are
    counted when the layout or the directory changes, not by a walk over every user at each poll
    (2000 users: tens of milliseconds of the node's loop, twice a second, in the middle of a
    failover)."""
    walks = 0
    teams = [1] * 1500 + [2] * 500

    def user_teams() -> Iterator[int]:
        nonlocal walks
        walks += 1
        yield from teams

    state = LayoutState(DesktopLayout(teams={2: gadgets_from_counts({"jsp": 2})}), 4, user_teams)
    state.check()  # the directory loaded
    assert walks == 1
    for _ in range(10):
        shown = state.to_json()
    assert walks == 1
    assert (shown["users"], shown["xml_gadgets_per_user"], shown["jsp_gadgets_per_user"]) == (2000, 4.5, 0.5)
    state.set(DesktopLayout(gadgets_from_counts({"xml": 2})))  # a layout change: counted again
    assert walks == 2
    assert state.to_json()["xml_gadgets_per_user"] == 2.0
