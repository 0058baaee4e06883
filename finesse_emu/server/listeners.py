"""A node's REST listeners: HTTP and HTTPS on its configured ports (0: any free one, -1: off).

The webapp_down fault closes them and opens them again on the same ports, with the same
certificate: the HTTPS context is made once, from the node's configuration (the certificate and key
the deployment gives, or a CA and certificate made in its run_dir: :func:`emu_base.tls.server_context`).
Closing them also ends the WebSockets relayed through the web port (12.6, :mod:`.ws_proxy`).
"""

from __future__ import annotations

import ssl

from aiohttp import web

from emu_base.admin import bound_port
from emu_base.logs import get_logger
from finesse_emu.server import ws_proxy
from finesse_emu.server.config import NodeConfig

log = get_logger()


class RestListeners:
    def __init__(self, runner: web.AppRunner, config: NodeConfig) -> None:
        self.runner = runner
        self.config = config
        self.http_port: int | None = None
        self.https_port: int | None = None
        self.ca_file: str | None = None  # the CA of the HTTPS certificate, when known
        self._ssl_context: ssl.SSLContext | None = None
        self._sites: list[web.BaseSite] = []

    async def open(self) -> None:
        cfg = self.config
        if cfg.http_port != -1:
            site = web.TCPSite(self.runner, cfg.host, self.http_port or cfg.http_port, reuse_address=True)
            await site.start()
            self._sites.append(site)
            self.http_port = bound_port(site)
        if cfg.https_port != -1:
            if self._ssl_context is None:
                self._ssl_context = self._tls_context()
            port = self.https_port or cfg.https_port
            site = web.TCPSite(self.runner, cfg.host, port, ssl_context=self._ssl_context, reuse_address=True)
            await site.start()
            self._sites.append(site)
            self.https_port = bound_port(site)

    async def close(self) -> None:
        for site in self._sites:
            await site.stop()
        self._sites.clear()
        # A stopped site keeps its open connections: the WebSockets through the web port end here.
        await ws_proxy.drop_relays(self.runner.app)

    def _tls_context(self) -> ssl.SSLContext:
        from emu_base import tls  # cryptography only loads when a node serves HTTPS

        cfg = self.config
        loaded = tls.server_context(
            cfg.name, cfg.tls_hosts(), cfg.cert_file, cfg.key_file, cfg.ca_file, cfg.run_dir
        )
        if loaded.made is not None:
            made = [p.name for p in loaded.made.made]
            log.info("finesse_tls_ca", ca_file=loaded.ca_file, hosts=cfg.tls_hosts(), made=made)
        self.ca_file = loaded.ca_file
        return loaded.context
