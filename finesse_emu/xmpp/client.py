"""The one slixmpp client set-up, shared by the publisher (``finesse``) and the agent client.

Both log in the same way (SASL PLAIN over plain TCP, one SSL context for all, no SRV lookup, no
whitespace keepalive: :func:`make_client`), wait for the session the same way and report a refused
login as :class:`AuthenticationFailed` (:func:`open_session`), answer XEP-0199 pings by hand
(:func:`answer_pings`), watch presence (:func:`watch_presence`) and leave the same way
(:func:`close`, :func:`retire`). Its pitfalls at scale: docs/xmpp.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from typing import Any

from slixmpp import ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from emu_base.timers import Timers

PING_NS = "urn:xmpp:ping"

_ssl_context: ssl.SSLContext | None = None


class AuthenticationFailed(ConnectionError):
    """The server refused the credentials (SASL failure)."""


# Characters XML 1.0 cannot carry: sent as-is they would make Prosody close the stream.
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
    # Pings are answered by hand (answer_pings): the disco stack is too heavy per client.
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
        # Not asyncio.wait_for: on Python 3.11 it drops a cancel that arrives in the same loop turn
        # as the session, and the caller (a stopping publisher) then waits for a task that goes on.
        async with asyncio.timeout(timeout):
            await outcome
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


async def close(client: ClientXMPP, timeout: float) -> None:
    """Close the stream cleanly if there is a connection (the server then sees the session end as a
    sign-out, not a crash), waiting at most ``timeout``; then :func:`retire` the client."""
    if client.transport is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(wait=timeout), timeout + Timers().xmpp_close_margin)
    retire(client)


def answer_pings(client: ClientXMPP, on_ping: Callable[[], None] | None = None) -> None:
    """Answer every XEP-0199 ping (``on_ping`` is called for each one answered).

    Prosody pings silent sessions and closes those that do not answer (its dead-client detection);
    slixmpp's ping plugin pulls in the disco stack, too heavy for thousands of clients.
    """

    def reply(iq: Any) -> None:
        if iq["type"] != "get":
            return
        if on_ping is not None:
            on_ping()
        with contextlib.suppress(Exception):
            iq.reply().send()

    client.register_handler(Callback("ping", MatchXPath(f"{{jabber:client}}iq/{{{PING_NS}}}ping"), reply))


PresenceHandler = Callable[[str, str, bool], None]


def watch_presence(client: ClientXMPP, on_presence: PresenceHandler) -> None:
    """Call ``on_presence(full_jid, bare_jid, available)`` for every presence the client receives;
    a stanza whose ``from`` does not parse is ignored."""

    def handle(pres: Any, available: bool) -> None:
        try:
            jid = pres["from"]
            full, bare = str(jid.full), str(jid.bare)
        except Exception:  # malformed from: ignore the stanza
            return
        on_presence(full, bare, available)

    client.add_event_handler("presence_available", lambda pres: handle(pres, True))
    client.add_event_handler("presence_unavailable", lambda pres: handle(pres, False))
