"""The User document's wrap-up settings over real sockets: a Finesse node reads each agent's desk
settings (work mode on incoming / outgoing calls, wrap-up time) from the AWDB, where real Finesse
reads them, and the CTI stub applies the same values from the same agent file (one source)."""

from __future__ import annotations

from dataclasses import replace

from emu_base.directory import generate
from tests.integration.test_finesse_node import deployment, text


async def test_the_user_shows_the_agents_desk_settings_from_the_awdb() -> None:
    agents = generate(4)
    agents[1] = replace(
        agents[1],
        extra={"wrap_up_on_incoming": "REQUIRED", "wrap_up_on_outgoing": "OPTIONAL", "wrap_up_time": 30},
    )
    async with deployment(agents=agents) as dep:
        status, doc, _ = await dep.call("GET", "/User/1001", user="1001")
        assert status == 200
        settings = (text(doc, "settings/wrapUpOnIncoming"), text(doc, "settings/wrapUpOnOutgoing"))
        assert settings == ("REQUIRED", "OPTIONAL") and text(doc, "wrapUpTimer") == "30"
        # An agent whose file says nothing: no wrap-up, the default timer.
        status, doc, _ = await dep.call("GET", "/User/1000", user="1000")
        assert status == 200
        assert (text(doc, "settings/wrapUpOnIncoming"), text(doc, "settings/wrapUpOnOutgoing")) == (
            "NOT_ALLOWED",
            "NOT_ALLOWED",
        )
        assert text(doc, "wrapUpTimer") == "7200"
        # The PG applies what the desktop shows (the same agent file).
        desk = dep.a.model.desk_of(dep.a.model.agents["1001"])
        assert (desk.wrap_up_on_incoming, desk.wrap_up_on_outgoing) == ("REQUIRED", "OPTIONAL")
