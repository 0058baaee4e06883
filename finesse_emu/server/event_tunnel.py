"""``/tunnel/EventTunnel.js`` on the node's web ports: the 12.x EventTunnel script.

Cisco documents the 12.x tunnel as ``https://<host>:<port>/tunnel/EventTunnel.js`` on the web server
(docs/finesse.md, "The EventTunnel"); the 10.x page at ``/tunnel/`` lives on the Notification
Service's HTTP port (Prosody serves it, ``ProsodyConfig.event_tunnel``). Both come from the same
package data, ``finesse_emu/xmpp/tunnel/``. Static content: no credentials, no 503 gate (the web
server stays up while the REST API answers 503, as for the gadgets).
"""

from __future__ import annotations

from aiohttp import web

from finesse_emu.xmpp.event_tunnel import CONTENT_TYPES, SCRIPT, TUNNEL_PATH, tunnel_file

SCRIPT_PATH = f"{TUNNEL_PATH}/{SCRIPT}"


async def get_script(request: web.Request) -> web.Response:
    return web.Response(
        body=tunnel_file(SCRIPT),
        content_type=CONTENT_TYPES[SCRIPT],
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(SCRIPT_PATH, get_script)
