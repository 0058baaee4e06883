"""The administration API's pure parts (issue 17): who may call it, what a SystemConfig or an
EnterpriseDatabaseConfig change makes of the node's CTI sides and AWDBs, the CTI link taking new
sides at its next attempt, reason-code and wrap-up-reason rules, and the request bodies' parsers
(a malformed body is a 400 ApiErrors, never an exception)."""

from __future__ import annotations

import pytest

from finesse_emu.server import administration as A
from finesse_emu.server import xml as X
from finesse_emu.server.auth import AuthUser
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.cti import CtiLink, CtiLinkConfig
from finesse_emu.server.cti.outputs import AttemptFailed, ConnectRequested
from finesse_emu.server.xml.cluster_config_api import parse_cluster_config
from finesse_emu.server.xml.cors_config_api import parse_cors_config
from finesse_emu.server.xml.database_config_api import (
    DatabaseConfigUpdate,
    database_config,
    parse_database_config,
)
from finesse_emu.server.xml.desktop_api import parse_desktop_properties
from finesse_emu.server.xml.layout_api import parse_default_layout_config, parse_team_layout_config
from finesse_emu.server.xml.reasons_api import (
    ReasonCodeInput,
    WrapUpReasonInput,
    parse_reason_code,
    parse_team_assignment,
    parse_wrapup_reason,
)
from finesse_emu.server.xml.system_config_api import SystemConfigUpdate, parse_system_config

ADMIN = AuthUser("9000", "admin", admin=True)
SUPERVISOR = AuthUser("1000", "agent0001", supervisor=True, teams_supervised=(1,))
AGENT = AuthUser("1001", "agent0002")
SIDES = [("A", "127.0.10.1", 42027), ("B", "127.0.10.2", 43027)]


def test_only_an_administrator_on_the_publisher() -> None:
    assert A.refusal(ADMIN, "publisher") is None
    for user in (AGENT, SUPERVISOR):
        problem = A.refusal(user, "publisher")
        assert problem is not None and problem.status == 401
        assert problem.error.error_type == "Authorization Failure"
    # "Configuration APIs cannot be run against the secondary Finesse server."
    problem = A.refusal(ADMIN, "subscriber")
    assert problem is not None and (problem.status, problem.error.error_type) == (403, "Forbidden")
    agent_there = A.refusal(AGENT, "subscriber")
    assert agent_there is not None and agent_there.status == 401


def test_system_config_changes_side_b_and_keeps_the_rest() -> None:
    after = A.cti_sides_after(SIDES, SystemConfigUpdate(backup_host="127.0.10.9", backup_port=44027))
    assert after == [("A", "127.0.10.1", 42027), ("B", "127.0.10.9", 44027)]
    assert A.cti_sides_after(SIDES, SystemConfigUpdate(port=42028)) == [("A", "127.0.10.1", 42028), SIDES[1]]
    # Side B may not be side A; a single side gets its B only with both host and port.
    same = A.cti_sides_after(SIDES, SystemConfigUpdate(backup_host="127.0.10.1", backup_port=42027))
    assert isinstance(same, X.ErrorResponse) and same.status == 400
    half = A.cti_sides_after(SIDES[:1], SystemConfigUpdate(backup_host="127.0.10.2"))
    assert isinstance(half, X.ErrorResponse) and half.error.error_type == "Parameter Missing"
    view = A.system_config_view(SIDES, 5000)
    assert (view.host, view.port, view.backup_host, view.backup_port) == (
        "127.0.10.1",
        42027,
        "127.0.10.2",
        43027,
    )


def test_the_cti_link_takes_new_sides_at_its_next_attempt() -> None:
    """The session under way keeps its side; the next attempt after a failure on A goes to the new B
    (the B side changed through SystemConfig is the one the next failover tries)."""
    link = CtiLink(CtiLinkConfig(SIDES, reconnect_pause=1.0))
    link.start(0.0)
    assert link.outputs() == [ConnectRequested("A", "127.0.10.1", 42027)]
    link.set_sides(0.5, [SIDES[0], ("B", "127.0.10.9", 44027)])
    assert link.active_side == "A"  # the attempt under way is not touched
    link.connection_failed(1.0, "refused")
    assert any(isinstance(o, AttemptFailed) for o in link.outputs())
    deadline = link.next_deadline()
    assert deadline is not None
    link.handle_timer(deadline)
    assert link.outputs() == [ConnectRequested("B", "127.0.10.9", 44027)]
    with pytest.raises(ValueError):
        link.set_sides(2.0, [])  # nothing changed on a refusal
    assert link.config.side_list[1].host == "127.0.10.9"


def test_database_config_makes_the_awdb_urls() -> None:
    urls = ["http://127.0.10.3:1433"]
    both = A.awdb_urls_after(urls, DatabaseConfigUpdate(backup_host="127.0.10.4"))
    assert both == ["http://127.0.10.3:1433", "http://127.0.10.4:1433"]  # one port for both, as Finesse
    moved = A.awdb_urls_after(both, DatabaseConfigUpdate(backup_port=1500))
    assert moved == ["http://127.0.10.3:1433", "http://127.0.10.4:1500"]
    assert A.awdb_urls_after(moved, DatabaseConfigUpdate(backup_host="")) == ["http://127.0.10.3:1433"]
    view = A.database_config_view(moved, "finesse")
    assert (view.host, view.port, view.backup_host, view.backup_port) == (
        "127.0.10.3",
        1433,
        "127.0.10.4",
        1500,
    )
    document = database_config(view)
    assert b"<backupPort>1500</backupPort>" in document and b"<password></password>" in document


def directory() -> Directory:
    return Directory.from_awdb(
        "d",
        [],
        [],
        [],
        [{"id": 1, "category": "NOT_READY", "code": 10, "label": "Lunch"}],
        [{"id": 1, "label": "Sale"}],
    )


def test_reason_codes_are_unique_by_code_and_category_and_system_codes_stay() -> None:
    d = directory()
    made = A.create_reason_code(d, ReasonCodeInput("NOT_READY", 11, "Coaching", False))
    assert isinstance(made, X.ReasonCodeView) and made.id >= A.FIRST_ADMIN_ID and not made.for_all
    assert d.reason_code_by_id(made.id) == made
    dup = A.create_reason_code(d, ReasonCodeInput("NOT_READY", 10, "Other"))
    assert isinstance(dup, X.ErrorResponse) and dup.error.error_type == "Finesse API Error"
    assert isinstance(A.create_reason_code(d, ReasonCodeInput("LOGOUT", 10, "Lunch")), X.ReasonCodeView)
    missing = A.create_reason_code(d, ReasonCodeInput("NOT_READY", 12))
    assert isinstance(missing, X.ErrorResponse) and missing.error.error_type == "Parameter Missing"
    changed = A.update_reason_code(d, made.id, ReasonCodeInput(label="Coach"))
    assert isinstance(changed, X.ReasonCodeView) and (changed.code, changed.label) == (11, "Coach")
    system = next(r for r in d.reason_codes if r.system_code)
    refused = A.update_reason_code(d, system.id, ReasonCodeInput(label="x"))
    assert isinstance(refused, X.ErrorResponse) and refused.status == 404
    assert A.delete_reason_code(d, made.id) is None and d.reason_code_by_id(made.id) is None
    listed = A.reason_codes_of(d, "ALL")
    assert isinstance(listed, list) and all(not r.system_code for r in listed) and len(listed) == 2
    assert isinstance(A.reason_codes_of(d, "LUNCH"), X.ErrorResponse)


def test_wrapup_reasons_crud() -> None:
    d = directory()
    made = A.create_wrapup_reason(d, WrapUpReasonInput("Refund"))
    assert isinstance(made, X.WrapUpReasonView) and made.for_all
    assert isinstance(A.create_wrapup_reason(d, WrapUpReasonInput("Refund")), X.ErrorResponse)
    changed = A.update_wrapup_reason(d, made.id, WrapUpReasonInput(for_all=False))
    assert isinstance(changed, X.WrapUpReasonView) and not changed.for_all and changed.label == "Refund"
    assert A.delete_wrapup_reason(d, made.id) is None
    gone = A.delete_wrapup_reason(d, made.id)
    assert gone is not None and gone.status == 404


@pytest.mark.parametrize(
    ("parse", "body", "error_type"),
    [
        (parse_system_config, b"<SystemConfig><cti>", "Bad Request"),
        (parse_system_config, b"<Other/>", "Bad Request"),
        (parse_system_config, b"<SystemConfig/>", "Parameter Missing"),
        (
            parse_system_config,
            b"<SystemConfig><cti><backupHost>a b</backupHost></cti></SystemConfig>",
            "Invalid Input",
        ),
        (
            parse_system_config,
            b"<SystemConfig><cti><backupPort>70000</backupPort></cti></SystemConfig>",
            "Invalid Input",
        ),
        (
            parse_system_config,
            b"<SystemConfig><cti><secure>true</secure></cti></SystemConfig>",
            "Invalid Input",
        ),
        (parse_system_config, b'<!DOCTYPE x [<!ENTITY a "b">]><SystemConfig/>', "Bad Request"),
        (parse_database_config, b"<EnterpriseDatabaseConfig/>", "Parameter Missing"),
        (
            parse_database_config,
            b"<EnterpriseDatabaseConfig><port>x</port></EnterpriseDatabaseConfig>",
            "Invalid Input",
        ),
        (parse_cluster_config, b"<ClusterConfig/>", "Parameter Missing"),
        (
            lambda b: parse_desktop_properties(b, ["preLoadSecondaryResources"]),
            b"<DesktopProperties/>",
            "Parameter Missing",
        ),
        (
            lambda b: parse_desktop_properties(b, ["preLoadSecondaryResources"]),
            b"<DesktopProperties><preLoadSecondaryResources>maybe</preLoadSecondaryResources></DesktopProperties>",
            "Invalid Input",
        ),
        (parse_cors_config, b"<CorsConfig/>", "Parameter Missing"),
        (parse_reason_code, b"<ReasonCode><code>0</code></ReasonCode>", "Invalid Input"),
        (parse_reason_code, b"<ReasonCode><category>BREAK</category></ReasonCode>", "Invalid Input"),
        (parse_reason_code, b"<ReasonCode><label>" + b"x" * 41 + b"</label></ReasonCode>", "Invalid Input"),
        (
            parse_wrapup_reason,
            b"<WrapUpReason><label>" + b"x" * 40 + b"</label></WrapUpReason>",
            "Invalid Input",
        ),
        (parse_wrapup_reason, b"\xff\xfe", "Bad Request"),
    ],
)
def test_malformed_bodies_are_400_api_errors(parse: object, body: bytes, error_type: str) -> None:
    with pytest.raises(X.XmlInputError) as caught:
        parse(body)  # type: ignore[operator]
    assert caught.value.status == 400 and caught.value.error.error_type == error_type
    assert caught.value.body.startswith(b"<?xml")


def test_bodies_that_parse() -> None:
    update = parse_system_config(
        b"<SystemConfig><cti><backupHost>cti-b.example</backupHost><backupPort>43027</backupPort>"
        b"<secure>false</secure></cti></SystemConfig>"
    )
    assert update == SystemConfigUpdate(backup_host="cti-b.example", backup_port=43027)
    db = parse_database_config(
        b"<EnterpriseDatabaseConfig><backupHost></backupHost></EnterpriseDatabaseConfig>"
    )
    assert db == DatabaseConfigUpdate(backup_host="")
    assert (
        parse_cluster_config(
            b"<ClusterConfig><secondaryNode><host>b.example</host></secondaryNode></ClusterConfig>"
        )
        == "b.example"
    )
    props = parse_desktop_properties(
        b"<DesktopProperties><enableAutoWorkModeStateChange>false</enableAutoWorkModeStateChange></DesktopProperties>",
        ["preLoadSecondaryResources", "enableAutoWorkModeStateChange"],
    )
    assert props == {"enableAutoWorkModeStateChange": False}
    assert parse_cors_config(
        b"<CorsConfig><origins><origin>https://a.example</origin></origins></CorsConfig>"
    ) == ["https://a.example"]
    assert parse_reason_code(
        b"<ReasonCode><category>LOGOUT</category><code>5</code><label>Home</label><forAll>true</forAll></ReasonCode>"
    ) == ReasonCodeInput("LOGOUT", 5, "Home", True)


def test_layout_bodies() -> None:
    layout = (
        '<finesseLayout xmlns="http://www.cisco.com/vtg/finesse"><layout><tabs><tab><gadgets>'
        "<gadget>/a.xml</gadget><gadget> https://b.example/b.xml </gadget></gadgets></tab></tabs></layout>"
        "</finesseLayout>"
    )
    as_text = layout.replace("<", "&lt;").replace(">", "&gt;")
    for inner in (layout, as_text):
        body = f"<LayoutConfig><layoutxml>{inner}</layoutxml></LayoutConfig>".encode()
        assert parse_default_layout_config(body) == ("/a.xml", "https://b.example/b.xml")
    # useDefault true: the layoutxml is ignored.
    use_default = (
        f"<TeamLayoutConfig><useDefault>true</useDefault><layoutxml>{layout}</layoutxml></TeamLayoutConfig>"
    )
    assert parse_team_layout_config(use_default.encode()) is None
    for bad, error_type in [
        (b"<LayoutConfig/>", "Parameter Missing"),
        (b"<LayoutConfig><layoutxml>&lt;x/&gt;</layoutxml></LayoutConfig>", "Invalid Input"),
        (b"<LayoutConfig><layoutxml>&lt;finesseLayout&gt;</layoutxml></LayoutConfig>", "Bad Request"),
        (b"<TeamLayoutConfig><useDefault>false</useDefault></TeamLayoutConfig>", "Parameter Missing"),
    ]:
        with pytest.raises(X.XmlInputError) as caught:
            (parse_team_layout_config if b"Team" in bad else parse_default_layout_config)(bad)
        assert caught.value.error.error_type == error_type, bad


def test_team_assignments_filter_the_users_lists() -> None:
    d = directory()
    private = A.create_reason_code(d, ReasonCodeInput("NOT_READY", 12, "Huddle", False))
    assert isinstance(private, X.ReasonCodeView)
    assert [r.label for r in d.reason_codes_for("NOT_READY", 1)] == ["Lunch"]
    assert A.assign_reason_codes(d, 1, [private.id]) is None
    assert [r.label for r in d.reason_codes_for("NOT_READY", 1)] == ["Lunch", "Huddle"]
    assert [r.label for r in d.reason_codes_for("NOT_READY", 2)] == ["Lunch"]
    assert len(d.reason_codes_for("NOT_READY")) == 2  # no team named: every configured code
    refused = A.assign_reason_codes(d, 1, [1])  # Lunch is global
    assert refused is not None and refused.error.error_type == "Finesse API Error"
    assert A.team_reason_codes(d, 1) == [private]  # unchanged by the refusal
    assert A.delete_reason_code(d, private.id) is None and private.id not in d.reason_code_teams
    ids = parse_team_assignment(
        b"<ReasonCodes><ReasonCode><uri>/finesse/api/ReasonCode/7</uri></ReasonCode></ReasonCodes>",
        "ReasonCodes",
        "ReasonCode",
    )
    assert ids == [7]
    with pytest.raises(X.XmlInputError):
        parse_team_assignment(
            b"<ReasonCodes><ReasonCode><uri>/finesse/api/Team/7</uri></ReasonCode></ReasonCodes>",
            "ReasonCodes",
            "ReasonCode",
        )
