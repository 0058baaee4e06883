"""Every timer of the emulator, in one place, with Cisco's wording beside each default.

Values held by a :class:`Timers` are *effective* seconds: Cisco's default multiplied by
``time_scale``. Counts (attempts, misses) are never scaled. ``time_scale`` comes from configuration
or from the ``FINESSE_EMU_TIME_SCALE`` environment variable, so one factor speeds up every process
of a deployment alike (a 20 s poll runs in 200 ms at 0.01).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

ENV_TIME_SCALE = "FINESSE_EMU_TIME_SCALE"


def _seconds(default: float, wording: str) -> Any:
    return field(default=default, metadata={"seconds": True, "wording": wording})


def _count(default: int, wording: str) -> Any:
    return field(default=default, metadata={"seconds": False, "wording": wording})


def _scaled(f: dataclasses.Field[Any]) -> bool:
    return bool(f.metadata["seconds"]) and not f.metadata.get("real")


def _real(default: float, wording: str) -> Any:
    """Real seconds, never scaled: a small ``time_scale`` does not make the host any faster."""
    return field(default=default, metadata={"seconds": True, "real": True, "wording": wording})


@dataclass(frozen=True)
class Timers:
    time_scale: float = 1.0

    # CTI failover
    cti_heartbeat_interval: float = _seconds(5.0, "heartbeat interval is five seconds")
    cti_missed_heartbeats: int = _count(3, "Finesse misses three consecutive heartbeats")
    cti_old_pg_extra_detection: float = _seconds(
        40.0, "Agent PG 11.6(x) and 12.0(x) ... incurs a delay of up to 40 seconds to detect CTI failover"
    )
    # Not in Cisco's chapter: the pause between two connection attempts while alternating A, B, A, ...
    # (open-source clients use 0.5 s to 5 s). Chosen short so failover is dominated by detection.
    cti_reconnect_pause: float = _seconds(1.0, "Finesse alternates between the configured servers")
    # Not in Cisco's chapter: how long the idle PG side waits before taking over from a dead active side.
    cti_takeover_delay: float = _seconds(5.0, "models the PG side switch-over")
    # How long a CTI client waits for OPEN_CONF (Cisco asks for >= 30 s; shorter here, see docs).
    cti_open_timeout: float = _seconds(10.0, "clients should wait for OPEN_CONF")
    cti_close_timeout: float = _seconds(5.0, "Client waits <= 5 s for CLOSE_CONF, then resets TCP")
    # Not in Cisco's chapter: how long the CTI server lets a new connection stay silent before OPEN_REQ.
    cti_pre_open_timeout: float = _seconds(30.0, "a connection that sends no OPEN_REQ is closed")
    # Not in Cisco's chapter: IdleTimeouts are >= 20 s, so the CTI server checks them once a second.
    cti_idle_scan_interval: float = _seconds(1.0, "IdleTimeout: no message at all for that long")
    # Not in Cisco's chapter: the two PG sides' private link (a ping each interval; silent for the
    # timeout: the peer side is hung).
    cti_peer_ping_interval: float = _seconds(1.0, "the PG sides watch each other over a private link")
    cti_peer_link_timeout: float = _seconds(3.0, "the PG sides watch each other over a private link")
    # Not in Cisco's chapter: how long an outside number an agent dials (MAKE_CALL_REQ) rings before the
    # emulated far end answers (0: at once).
    cti_outside_answer_after: float = _seconds(2.0, "an outside number the agent dials answers")

    # AWDB failover
    awdb_credential_cache: float = _seconds(
        1800.0, "the credentials are cached in Cisco Finesse for 30 minutes from the time of the request"
    )
    awdb_request_timeout: float = _seconds(5.0, "these requests may time out before Cisco Finesse can detect")
    auth_lockout_attempts: int = _count(5, "5 consecutive bad passwords on sign-in block the account")
    auth_lockout: float = _seconds(300.0, "the account is blocked for 5 minutes")

    # Desktop failover
    desktop_systeminfo_poll: float = _seconds(20.0, "Poll SystemInfo for publisher every 20 seconds")
    notification_reconnect_attempts: int = _count(3, "three reconnect attempts to the Notification Service")
    # Not in Cisco's chapter: it gives the three attempts but no pause between them. Attempt k starts
    # (k-1) pauses after the loss, so the third failure is detected two pauses in (10 s).
    notification_reconnect_pause: float = _seconds(
        5.0, "three reconnect attempts to the Notification Service (Cisco gives no pause between them)"
    )
    # Not in Cisco's chapter: the chat gadget's pause between two rounds of sign-in attempts over the
    # IM&P nodes (it tries the other node at once when its session drops).
    chat_reconnect_pause: float = _seconds(
        5.0, "Cisco IM&P server failover: the desktop chat status is retained (no pause given)"
    )
    # Not in Cisco's chapter: how long a desktop waits for a REST answer or a Notification Service login.
    # Scaled like every other timer, with no floor in real seconds: at time_scale 0.05 a hung peer
    # costs the desktop 0.5 s, which is Cisco's 10 s (a floor made it 2 s, i.e. 40 emulated seconds).
    # The price: a request the host cannot answer within the scaled time fails as a timeout, so a
    # run's time_scale must leave a loaded host that time (docs/timers.md, the minimum time_scale).
    desktop_request_timeout: float = _seconds(10.0, "a browser's request timeout (not Cisco's)")
    forced_logout_after_unavailable: float = _seconds(
        60.0, "Finesse waits 60 seconds after XMPP presence becomes Unavailable"
    )
    browser_crash_detection: float = _seconds(120.0, "detecting a crashed browser can take up to 120 seconds")
    refresh_token_first_warning: float = _seconds(600.0, "warning 10 minutes before the token expires")
    refresh_token_second_warning: float = _seconds(300.0, "warning 5 minutes before the token expires")
    refresh_token_countdown: float = _seconds(60.0, "a countdown in the last minute")
    # Single sign-on (finesse_emu/ids/): the Cisco Identity Service's token lifetimes, configurable
    # in its administration as on the product. The defaults are IdS's as remembered from its
    # administration guide (access token 60 minutes, refresh token 10 hours, authorization code 1
    # minute): not in Cisco's chapter, and marked UNCERTAIN in docs/finesse.md.
    sso_access_token_lifetime: float = _seconds(
        3600.0, "Access Token: it accesses protected resources (IdS default 60 minutes, not Cisco's)"
    )
    sso_refresh_token_lifetime: float = _seconds(
        36000.0,
        "the session expiry warning appears before the Refresh Token expires (IdS default 10 hours)",
    )
    # Not in Cisco's chapter: the desktop ends an SSO session this long before its refresh token expires,
    # so that its forced logout still carries a valid access token (the last one dies with the
    # refresh token): one request timeout, the longest the LOGOUT may take to reach the node.
    sso_logout_margin: float = _seconds(
        10.0, "The agent is forcefully logged out when the timer reaches zero (margin not Cisco's)"
    )
    sso_authorization_code_lifetime: float = _seconds(
        60.0, "the authorization code is exchanged for the tokens (IdS default 1 minute, not Cisco's)"
    )

    # IP Phone Agent failover
    ippa_poll_interval: float = _seconds(5.0, "Finesse IPPA polls SystemInfo every 5 seconds")
    ippa_attempts: int = _count(3, "After three attempts ... displays a server unavailable message")

    # Reload distribution (finesse_emu/server/reload.py); Cisco's chapter gives no figures. The content of
    # every desktop of a node is spread over reload_spread, shorter than desktop_request_timeout so
    # that the last request of a full reload is served before the browser gives up; reload_burst
    # worth of that rate is served at once, so a quiet node never waits.
    reload_spread: float = _seconds(
        8.0, "desktop reloads are evenly distributed to prevent overwhelming of the Finesse server"
    )
    reload_burst: float = _seconds(0.5, "reload distribution: served at once (not Cisco's)")
    # Not in Cisco's chapter: the web port's WebSocket (/ws/, 12.6; server/ws_proxy.py) gives up reaching its
    # node's Notification Service after this long (a hung one accepts and never answers): a 502.
    ws_proxy_connect_timeout: float = _seconds(
        10.0, "the web port's WebSocket reaches the Notification Service"
    )

    # The emulator's own housekeeping, in real seconds (never scaled, not Cisco's): how often a
    # swarm prints or polls, and how long a closing socket lingers. None is a duration of the
    # emulated system or a floor under one (every Finesse, CTI, AWDB and desktop timer above is
    # scaled with no minimum).
    swarm_progress_interval: float = _real(2.0, "a swarm prints its progress this often (not Cisco's)")
    swarm_poll: float = _real(0.05, "a swarm checks a condition it waits for this often (not Cisco's)")
    swarm_stop_grace: float = _real(
        0.05, "a stopping swarm lets its cancelled XMPP tasks finish this long (not Cisco's)"
    )
    xmpp_close_wait: float = _real(
        2.0, "a desktop closing its XMPP stream waits this long for the server's end of it (not Cisco's)"
    )
    xmpp_close_margin: float = _real(0.5, "beyond that wait, so that slixmpp gives up first (not Cisco's)")
    http_shutdown_grace: float = _real(
        1.0,
        "a stopping HTTP server waits this long for requests in flight, WebSockets included "
        "(aiohttp's own default is 60 s; not Cisco's)",
    )

    # Wrap-up (UCCE Agent Desk Settings "Wrap up time"; Finesse shows it as the User's wrapUpTimer,
    # 7200 in a captured 12.5 User). An agent file may give an agent its own (``wrap_up_time``).
    wrap_up_time: float = _seconds(
        7200.0,
        "When the wrap-up timer expires, the user transitions to NOT_READY state (WORK) / to READY "
        "state (WORK_READY)",
    )

    # Not a timer but a documented constant that travels with them.
    forced_logout_reason_code: int = _count(255, "forced logout with a reason code of 255")

    @classmethod
    def build(cls, time_scale: float | None = None, **overrides: float) -> Timers:
        """Defaults (or ``overrides``, given in unscaled seconds) multiplied by ``time_scale``.

        ``time_scale=None`` reads ``FINESSE_EMU_TIME_SCALE`` (default 1).
        """
        scale = scale_from_env() if time_scale is None else float(time_scale)
        if not scale > 0:
            raise ValueError(f"time_scale must be > 0, got {scale!r}")
        known = {f.name: f for f in dataclasses.fields(cls) if f.name != "time_scale"}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ValueError(f"unknown timer(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {"time_scale": scale}
        for name, f in known.items():
            base: Any = overrides.get(name, f.default)
            if f.metadata.get("real"):
                values[name] = float(base)
            else:
                values[name] = base * scale if f.metadata["seconds"] else int(base)
        return cls(**values)

    def unscaled(self, name: str) -> float:
        """The value of timer ``name`` in emulated seconds (for reports that compare against Cisco's)."""
        return float(getattr(self, name)) / self.time_scale

    def describe(self) -> list[dict[str, Any]]:
        """One row per timer: name, effective value, default value and Cisco's wording."""
        rows = []
        for f in dataclasses.fields(self):
            if f.name == "time_scale":
                continue
            value = getattr(self, f.name)
            rows.append(
                {
                    "name": f.name,
                    "value": value,
                    "default_value": value / self.time_scale if _scaled(f) else value,
                    "seconds": f.metadata["seconds"],
                    "wording": f.metadata["wording"],
                }
            )
        return rows


def scale_from_env(default: float = 1.0) -> float:
    raw = os.environ.get(ENV_TIME_SCALE)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_TIME_SCALE}={raw!r} is not a number") from exc
    if not value > 0:
        raise ValueError(f"{ENV_TIME_SCALE} must be > 0, got {raw!r}")
    return value
