"""The node's live desktop layout (:mod:`.layout`) and its control-plane routes.

``GET /emu/layout``: the layouts, the gadgets per user on average, the vCPUs and the capacity
warning. ``PUT /emu/layout`` (``{"layout": ..., "team_layouts": {...}}``, as in the node's config)
replaces them. ``POST /emu/layout/update-cuic-gadget-url`` is Cisco's ``utils finesse layout
updateCuicGadgetUrl``: "automatically changes the JSP references to XML with no functional
changes". Both take effect for the desktops that load afterwards, as on a real server. The control
plane's token guards them (emu_base/admin.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from emu_base.admin import json_error, read_json_object
from emu_base.control_openapi import BODY, ControlOperation, describe, json_object
from emu_base.logs import get_logger
from finesse_emu.server.layout import DesktopLayout, GadgetLoad, capacity_warning, gadget_load
from finesse_emu.server.reload import DesktopContent, desktop_content

log = get_logger()


class LayoutState:
    """The layouts a node serves now, and the 8 vCPU recommendation for them."""

    def __init__(self, layout: DesktopLayout, vcpus: int, user_teams: Callable[[], Iterable[int]]) -> None:
        self.layout = layout
        self.vcpus = vcpus
        self._user_teams = user_teams  # the team id of every configured user (the directory)
        self.warning: str | None = None
        # The gadgets per user and what the desktops load on a reload (reload distribution's rate):
        # computed here when the layout or the users change, not at each /emu/health poll (twice a
        # second from a run's observer: a walk over 2000 users each time held the node's loop) or
        # at each content request the bucket paces.
        self.load: GadgetLoad = gadget_load(layout, ())
        self.content: DesktopContent = desktop_content(layout, ())

    def set(self, layout: DesktopLayout) -> None:
        self.layout = layout
        log.info("finesse_layout_changed", layout=layout.to_json())
        self.check()

    def check(self) -> None:
        """Compute the recommendation and the desktops' content again (the layout or the users
        changed); log the recommendation when it appears or changes (not on every call)."""
        teams = list(self._user_teams())
        self.load = gadget_load(self.layout, teams)
        self.content = desktop_content(self.layout, teams)
        warning = capacity_warning(self.load, self.vcpus)
        if warning is not None and warning != self.warning:
            log.warning("finesse_capacity_recommendation", message=warning, vcpus=self.vcpus)
        self.warning = warning

    def to_json(self) -> dict[str, Any]:
        load = self.load
        return {
            **self.layout.to_json(),
            "users": load.users,
            "xml_gadgets_per_user": round(load.xml, 3),
            "jsp_gadgets_per_user": round(load.jsp, 3),
            "vcpus": self.vcpus,
            "capacity_warning": self.warning,
        }


LAYOUT_OPERATIONS = {
    ("GET", "/emu/layout"): ControlOperation("The node's desktop layout and team layouts", (200,)),
    ("PUT", "/emu/layout"): ControlOperation(
        "Replace the desktop layout (the desktops that load next)",
        (200, *BODY),
        json_object({"layout": {}, "team_layouts": {"type": "object"}}),
    ),
    ("POST", "/emu/layout/update-cuic-gadget-url"): ControlOperation(
        "Rewrite the layout's CUIC gadget URLs as the administration console's command does", (200,)
    ),
}


def add_routes(app: web.Application, state: LayoutState) -> None:
    async def get_layout(_: web.Request) -> web.Response:
        return web.json_response(state.to_json())

    async def put_layout(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        unknown = set(body) - {"layout", "team_layouts"}
        if unknown:
            return json_error(400, f"unknown keys {sorted(unknown)}; known: layout, team_layouts")
        try:
            team_layouts = body.get("team_layouts") or {}
            if not isinstance(team_layouts, dict):
                raise ValueError("team_layouts: a mapping of team id to layout")
            layout = DesktopLayout.from_config(body.get("layout"), team_layouts)
        except ValueError as exc:
            return json_error(400, str(exc))
        state.set(layout)
        return web.json_response(state.to_json())

    async def update_cuic_gadget_url(_: web.Request) -> web.Response:
        layout, changed = state.layout.update_cuic_gadget_urls()
        if changed:
            state.set(layout)
        return web.json_response({"changed": changed, **state.to_json()})

    app.router.add_get("/emu/layout", get_layout)
    app.router.add_put("/emu/layout", put_layout)
    app.router.add_post("/emu/layout/update-cuic-gadget-url", update_cuic_gadget_url)
    describe(app, LAYOUT_OPERATIONS)
