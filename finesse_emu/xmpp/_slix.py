"""slixmpp set-up shared by the publisher and the agent client (its pitfalls at scale: docs/xmpp.md)."""

from __future__ import annotations

import asyncio
import re
import ssl
import xml.etree.ElementTree as ET
from typing import Any

from slixmpp import ClientXMPP

PUBSUB_NS = "http://jabber.org/protocol/pubsub"
PING_NS = "urn:xmpp:ping"

_ssl_context: ssl.SSLContext | None = None


class AuthenticationFailed(ConnectionError):
    """The server refused the credentials (SASL failure)."""


# Characters XML 1.0 cannot carry: sent as-is they would make Prosody close the stream.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def shared_ssl_context() -> ssl.SSLContext:
    """One context for every client: slixmpp otherwise builds one per client (42 ms, 0.9 MB each).

    TLS is never negotiated (plain TCP on loopback), so no CA store is loaded either.
    """
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return _ssl_context


def make_client(jid: str, password: str, cls: type[ClientXMPP] = ClientXMPP) -> ClientXMPP:
    """A ClientXMPP for SASL PLAIN over plain TCP: no TLS, no SRV lookup, no whitespace keepalive.

    PLAIN only (``use_mech``), as Finesse clients: slixmpp would otherwise prefer a SCRAM mechanism
    whenever the server offers one, and compute its PBKDF2 in pure Python (14-23 ms per login).
    """
    client = cls(
        jid,
        password,
        ssl_context=shared_ssl_context(),
        plugin_config={"feature_mechanisms": {"unencrypted_plain": True, "use_mech": "PLAIN"}},
    )
    client.enable_direct_tls = False
    client.enable_starttls = False
    client.enable_plaintext = True
    client.whitespace_keepalive = False
    # Pings are answered by hand (finesse_emu.desktop.xmpp): the disco stack is too heavy per client.
    return client


async def open_session(client: ClientXMPP, host: str, port: int, timeout: float) -> None:
    """Connect to ``host:port`` (never DNS/SRV) and wait for ``session_start``.

    Raises ``ConnectionError`` (refused, closed, or :class:`AuthenticationFailed`) or ``TimeoutError``.
    slixmpp's own retry loop (exponential, up to 300 s) is cancelled: callers choose their policy.
    """
    loop = asyncio.get_running_loop()
    outcome: asyncio.Future[None] = loop.create_future()

    def settle(exc: BaseException | None) -> None:
        if not outcome.done():
            if exc is None:
                outcome.set_result(None)
            else:
                outcome.set_exception(exc)

    handlers: list[tuple[str, Any]] = [
        ("session_start", lambda _e: settle(None)),
        (
            "failed_all_auth",
            lambda _e: settle(AuthenticationFailed(f"authentication failed for {client.boundjid.bare}")),
        ),
        ("disconnected", lambda e: settle(ConnectionError(f"disconnected during login: {e}"))),
        ("connection_failed", lambda e: settle(ConnectionError(f"cannot connect to {host}:{port}: {e}"))),
        ("stream_error", lambda e: settle(ConnectionError(f"stream error during login: {e}"))),
    ]
    sender = client._run_out_filters
    if isinstance(sender, asyncio.Task) and not sender.done() and sender.cancelling():
        # retired (see retire()) but not finished yet: connect() would keep the dying send task
        await asyncio.wait({sender})
    for name, handler in handlers:
        client.add_event_handler(name, handler)
    try:
        client.connect(host, port)
        await asyncio.wait_for(outcome, timeout)
    except BaseException:
        retire(client)
        raise
    finally:
        for name, handler in handlers:
            client.del_event_handler(name, handler)


def retire(client: ClientXMPP) -> None:
    """Drop the connection now and stop the client's send task while the loop still runs (left to
    ``__del__``, it is destroyed pending and asyncio logs an error)."""
    client.cancel_connection_attempt()
    client.abort()
    task = client._run_out_filters
    if task is not None and not task.done():
        task.cancel()
        # The loop keeps only weak references to tasks: held here until the cancellation has run,
        # or a client dropped right away takes its task with it ("destroyed but it is pending").
        _retiring.add(task)
        task.add_done_callback(_retiring.discard)


_retiring: set[asyncio.Future[Any]] = set()


def pubsub_iq(client: ClientXMPP, to: str, itype: str, child: ET.Element, owner: bool = False) -> Any:
    """An ``<iq>`` carrying ``<pubsub>`` (or ``<pubsub#owner>``) with ``child`` inside."""
    iq = client.make_iq_set(ito=to) if itype == "set" else client.make_iq_get(ito=to)
    wrapper = ET.Element(f"{{{PUBSUB_NS}#owner}}pubsub" if owner else f"{{{PUBSUB_NS}}}pubsub")
    wrapper.append(child)
    iq.append(wrapper)
    return iq


def iq_condition(exc: BaseException) -> str:
    """The error condition of a slixmpp IqError ('' for anything else)."""
    iq = getattr(exc, "iq", None)
    if iq is None:
        return ""
    try:
        return str(iq["error"]["condition"])
    except (KeyError, TypeError):
        return ""
