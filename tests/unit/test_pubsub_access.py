"""Who may read which pubsub node (finesse_emu.server.pubsub_access), and the Prosody set-up that enforces it.

The rules are REST's (server/rest.py target_user and get_team); the real-socket checks, including
REST and XMPP compared pair by pair, are in tests/integration/test_pubsub_access.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.pubsub_access import PubsubAccess
from finesse_emu.xmpp.prosody import ProsodyConfig, prepare_run_dir, render_config
from finesse_emu.xmpp.pubsub import node_config

API = "/finesse/api"
D = "emu.test"


def access() -> PubsubAccess:
    return PubsubAccess(
        D,
        [
            AuthUser(id="1000", login="a1", team_id=1, supervisor=True),  # supervises its own team
            AuthUser(id="1001", login="a2", team_id=1),
            AuthUser(id="1002", login="a3", team_id=2),
            AuthUser(id="1003", login="a4", team_id=3),
            AuthUser(id="S9", login="s9", team_id=9, supervisor=True, teams_supervised=(2, 3)),
            AuthUser(id="9999", login="admin", team_id=7, admin=True),
        ],
    )


def test_an_agent_reads_its_own_nodes_and_its_supervisors_and_admins_too() -> None:
    acc = access()
    for suffix in ("", "/Dialogs", "/Media/5000"):
        assert acc.readers(f"{API}/User/1001{suffix}") == frozenset(
            {"1001@emu.test", "1000@emu.test", "9999@emu.test"}
        )
    # teams_supervised and the supervisor's own team both count, as in rest.target_user
    assert acc.readers(f"{API}/User/1002") == frozenset({"1002@emu.test", "s9@emu.test", "9999@emu.test"})
    assert acc.readers(f"{API}/User/S9") == frozenset({"s9@emu.test", "9999@emu.test"})  # JIDs lower-cased


def test_an_agent_the_directory_does_not_know_still_reads_its_own_nodes() -> None:
    assert access().readers(f"{API}/User/4242/Dialogs") == frozenset({"4242@emu.test", "9999@emu.test"})
    assert PubsubAccess(D).readers(f"{API}/User/4242") == frozenset({"4242@emu.test"})


def test_team_nodes_are_for_the_teams_supervisors_and_admins() -> None:
    acc = access()
    assert acc.readers(f"{API}/Team/1/Users") == frozenset({"1000@emu.test", "9999@emu.test"})
    assert acc.readers(f"{API}/Team/3/Users") == frozenset({"s9@emu.test", "9999@emu.test"})
    assert acc.readers(f"{API}/Team/9/Users") == frozenset({"s9@emu.test", "9999@emu.test"})
    assert acc.readers(f"{API}/Team/5/Users") == frozenset({"9999@emu.test"})  # nobody supervises team 5
    assert acc.readers(f"{API}/Team/x/Users") == frozenset()  # not a team id: finesse only


def test_system_info_is_open_and_anything_else_is_closed() -> None:
    acc = access()
    assert acc.readers(f"{API}/SystemInfo") is None
    for node in (f"{API}/Queue/1", f"{API}/User/", f"{API}/User", "/elsewhere/User/1001", ""):
        assert acc.readers(node) == frozenset(), node


def test_nodes_are_created_whitelisted_with_publishers_only() -> None:
    form = node_config("whitelist").find("{jabber:x:data}x")
    assert form is not None and form.get("type") == "submit"
    values = {f.get("var"): f.findtext("{jabber:x:data}value") for f in form}
    assert values == {
        "FORM_TYPE": "http://jabber.org/protocol/pubsub#node_config",
        "pubsub#access_model": "whitelist",
        "pubsub#publish_model": "publishers",
    }
    assert ET.tostring(node_config("open")).count(b"open") == 1


def test_the_disco_filter_runs_on_the_pubsub_component(tmp_path: Path) -> None:
    cfg = ProsodyConfig(domain=D, run_dir=tmp_path / "run")
    text = render_config(cfg)
    component = text[text.index(f'Component "pubsub.{D}" "pubsub"') :]
    assert 'modules_enabled = { "finesse_pubsub_access" }' in component
    prepare_run_dir(cfg)
    plugin = (cfg.plugin_dir / "mod_finesse_pubsub_access.lua").read_text()
    assert plugin.startswith("-- mod_finesse_pubsub_access")
