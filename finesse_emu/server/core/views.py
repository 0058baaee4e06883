"""The node's resources as the REST API and the notifications show them (views of the model).

Each function reads the directory (:mod:`.directory`) and the model (:mod:`finesse_emu.server.model`)
and returns the view that :mod:`finesse_emu.server.xml` renders; the same view serves a GET and
the Update published when the resource changes. Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from emu_base.directory import VOICE_MRD
from emu_base.timers import Timers
from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.core import supervision
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.model import Dialog, FinesseModel, MediaSlot, Participant
from finesse_emu.server.status import ServiceState
from finesse_emu.server.xml.devices_api import phone_of

# What an agent may do with its active call's data; in wrap-up, UPDATE_CALL_DATA only.
CALL_DATA_ACTIONS = ("UPDATE_CALL_DATA", "SEND_DTMF")
WRAP_UP_STATES = ("WORK", "WORK_READY")

# currentTimestamp of a template rendered at epoch 0, replaced per request.
_EPOCH_STAMP = b"<currentTimestamp>" + X.format_time(0.0).encode()


def user_view(d: Directory, model: FinesseModel, user_id: str) -> X.UserView:
    a = d.agents[user_id]
    u = model.user(user_id)
    category = "LOGOUT" if u.state == "LOGOUT" else "NOT_READY"
    roles = ("Agent", "Supervisor") if a.supervisor else ("Agent",)
    teams = tuple(X.TeamRef(t, d.teams.get(t, f"Team {t}")) for t in a.teams_supervised)
    return X.UserView(
        login_id=a.id,
        login_name=a.login,
        state=u.state,
        first_name=a.first_name,
        last_name=a.last_name,
        state_change_time=u.state_change_time or None,
        extension=u.extension,
        # The device Devices lists for the extension: the one the agent signed in on.
        active_device=phone_of(u.extension) if u.extension else None,
        roles=roles,
        pending_state=u.pending_state,
        reason_code=d.reason(category, u.reason_code) if u.state in ("NOT_READY", "LOGOUT") else None,
        team_id=a.team_id,
        team_name=d.teams.get(a.team_id, ""),
        skill_target_id=a.icm_agent_id or None,
        teams=teams if a.supervisor else (),
        # The agent's desk settings, as the AWDB holds them (where real Finesse reads them).
        wrap_up_on_incoming=a.wrap_up_on_incoming,
        wrap_up_on_outgoing=a.wrap_up_on_outgoing,
        wrap_up_timer=a.wrap_up_time,
    )


def media_view(
    d: Directory, model: FinesseModel, limits: Mapping[tuple[str, int], int], user_id: str, mrd: int
) -> X.MediaView:
    """``limits``: the maxDialogLimit each (user, MRD) was signed in with."""
    u = model.user(user_id)
    name = d.mrd_names.get(mrd, str(mrd))
    if mrd == VOICE_MRD:
        reason = d.reason("NOT_READY", u.reason_code) if u.state == "NOT_READY" else None
        return X.MediaView(
            user_id, mrd, name, state=u.state, routable=u.state != "LOGOUT", reason_code=reason,
            state_change_time=u.state_change_time or None,
        )  # fmt: skip
    slot = u.media.get(mrd) or MediaSlot()
    category = "LOGOUT" if slot.state == "LOGOUT" else "NOT_READY"
    reason = d.reason(category, slot.reason_code) if slot.state in ("NOT_READY", "LOGOUT") else None
    return X.MediaView(
        user_id,
        mrd,
        name,
        state=slot.state,
        state_change_time=slot.state_change_time or None,
        routable=slot.routable,
        reason_code=reason,
        max_dialog_limit=limits.get((user_id, mrd), 1),
    )


# What a signed-in user's participant may do in each state: a client offers only these, and PUT
# Dialog accepts only these (requests.dialog_action). "Only actions listed in the participant's
# actions are allowed."
PARTICIPANT_ACTIONS: dict[str, tuple[str, ...]] = {
    "ALERTING": ("ANSWER",),
    "INITIATING": ("DROP",),
    "INITIATED": ("DROP",),
    # Cisco's developer guide: CONSULT_CALL is refused "while the call is alerting" and "while the
    # call is on HOLD"; TRANSFER_SST "is sent on the Dialog URL of an existing active call".
    "ACTIVE": ("HOLD", "DROP", *CALL_DATA_ACTIONS, "CONSULT_CALL", "TRANSFER_SST"),
    "HELD": ("RETRIEVE", "DROP"),
    # Cisco's "State (Participant) Parameter Values": FAILED allows DROP.
    "FAILED": ("DROP",),
}
# While the user has another call going on (a consult), by the state of its participant there.
# TRANSFER and CONFERENCE go to the held call's dialog ("The action must have been available for
# the agent's Participant of the Dialog which means there is both a held and active call"): TRANSFER
# as soon as the consult is dialled (a transfer while it rings), CONFERENCE once it is answered (no
# blind conference). The held call offers no RETRIEVE and the active one no HOLD, CONSULT_CALL or
# TRANSFER_SST while the other is up: UNCERTAIN (docs/finesse.md, "Consult, transfer, conference").
WITH_OTHER_CALL: dict[tuple[str, str], tuple[str, ...]] = {
    ("HELD", "ACTIVE"): ("TRANSFER", "CONFERENCE", "DROP"),
    ("HELD", "INITIATED"): ("TRANSFER", "DROP"),
    ("HELD", "INITIATING"): ("TRANSFER", "DROP"),
    ("ACTIVE", "HELD"): ("DROP", *CALL_DATA_ACTIONS),
    # A consult that failed (CALL_FAILED: the phone stays off hook, an active connection for the CTI
    # server) is dropped first; RETRIEVE would be refused until then, TRANSFER and CONFERENCE too.
    ("HELD", "FAILED"): ("DROP",),
}


def participant_actions(p: Participant, user_state: str = "", other: str = "") -> tuple[str, ...]:
    """A device that is no agent of the deployment is acted on by nobody here. ``user_state`` is
    the state of the participant's user: once dropped, a user in wrap-up may still set the call's
    data (the wrap-up reason, "while you are in WrapUp state after the call ends"). ``other`` is
    the state of the user's participant in its other call going on, if any (:data:`WITH_OTHER_CALL`)."""
    if p.user_id is None:
        return ()
    if p.state == "DROPPED" and user_state in WRAP_UP_STATES:
        return ("UPDATE_CALL_DATA",)
    if other and (p.state, other) in WITH_OTHER_CALL:
        return WITH_OTHER_CALL[(p.state, other)]
    return PARTICIPANT_ACTIONS.get(p.state, ())


def other_call_state(model: FinesseModel, dialog: Dialog, p: Participant) -> str:
    """The state of ``p``'s user in its other call going on ("" when none)."""
    if p.user_id is None or p.state not in ("HELD", "ACTIVE"):
        return ""
    other = model.other_call(dialog, p.user_id)
    return other[1].state if other is not None else ""


def _user_state(model: FinesseModel, user_id: str | None) -> str:
    user = model.users.get(user_id) if user_id is not None else None
    return user.state if user is not None else ""


def dialog_view(
    model: FinesseModel, dialog_id: str, directory: Directory | None = None, user_id: str | None = None
) -> X.DialogView:
    """The dialog as ``user_id``'s desktop gets it (None: as it is). ``directory``: who is a
    supervisor (their actions: core/supervision.py). A user the opt-in conference_glitch fault
    affects (``Dialog.glitched``) sees neither the devices that are no agent ("does not show all
    participants") nor itself ("does not show that the signed-in agent [...] is in an active call")."""
    d = model.dialogs[dialog_id]
    agents = directory.agents if directory is not None else {}

    def supervisor(user_id: str | None) -> bool:
        agent = agents.get(user_id) if user_id is not None else None
        return agent is not None and agent.supervisor

    shown = [
        p
        for p in d.participants.values()
        if user_id not in d.glitched or (p.user_id is not None and p.user_id != user_id)
    ]
    participants = tuple(
        X.ParticipantView(
            p.address,
            p.state,
            supervision.actions(
                d,
                p,
                participant_actions(p, _user_state(model, p.user_id), other_call_state(model, d, p)),
                supervisor(p.user_id),
            ),
            "AGENT_DEVICE" if p.user_id is not None else "",
            p.start_time,
            p.state_cause,
            p.state_change_time,
        )
        for p in shown
    )
    variables = tuple(X.CallVariable(k, v) for k, v in sorted(d.variables.items()))
    props = X.MediaPropertiesView(
        dialed_number=d.to_address,
        call_type=d.call_type,
        dnis=d.to_address,
        call_variables=variables,
        wrap_up_reason=d.wrap_up_reason or None,
    )
    return X.DialogView(d.id, d.state, d.from_address, d.to_address, participants, props)


def team_view(d: Directory, model: FinesseModel, team_id: int) -> X.TeamView | None:
    if team_id not in d.teams:
        return None
    members = tuple(team_user(d, model, a) for a in d.agents.values() if a.team_id == team_id)
    return X.TeamView(team_id, d.teams[team_id], members)


def team_user(d: Directory, model: FinesseModel, agent: AuthUser) -> X.TeamUserView:
    u = model.user(agent.id)
    category = "LOGOUT" if u.state == "LOGOUT" else "NOT_READY"
    reason = d.reason(category, u.reason_code) if u.state in ("NOT_READY", "LOGOUT") else None
    return X.TeamUserView(
        agent.id,
        u.state,
        agent.first_name,
        agent.last_name,
        u.extension,
        u.pending_state,
        u.state_change_time or None,
        reason,
    )


class SystemInfoDocument:
    """GET SystemInfo, rendered once per change of its content and stamped per request.

    Clients poll SystemInfo (desktops every 20 s, IP Phone Agents every 5 s): rendering the XML
    was most of each request's cost, and only currentTimestamp changes between most polls. The
    stamp's date and time to the second is formatted once a second, its milliseconds per request.
    """

    def __init__(self) -> None:
        self._key: X.SystemInfoView | None = None
        self._template = b""
        self._second: int | None = None
        self._second_text = b""

    def render(self, view: X.SystemInfoView, wall: float) -> bytes:
        """The document of ``view`` (its own current_timestamp unused) stamped with ``wall``."""
        if view != self._key:
            key = view if view.current_timestamp == 0.0 else dataclasses.replace(view, current_timestamp=0.0)
            self._key = key
            self._template = X.system_info(key)
        ms = round(wall * 1000)  # as format_time rounds
        second = ms // 1000
        if second != self._second:
            self._second = second
            self._second_text = X.format_time(second).encode()[:-5]  # without ".SSSZ"
        stamp = b"%s.%03dZ" % (self._second_text, ms % 1000)
        return self._template.replace(_EPOCH_STAMP, b"<currentTimestamp>" + stamp, 1)


class UserDocuments:
    """GET User/{id} of each agent, rendered again only when the agent's view changed.

    Desktops read their User at every sign-in, reload and failover; the XML serialisation was most
    of such a request's cost on the node, and the view (a frozen dataclass) compares far cheaper.
    """

    def __init__(self) -> None:
        self._docs: dict[str, tuple[X.UserView, bytes]] = {}

    def render(self, view: X.UserView) -> bytes:
        known = self._docs.get(view.login_id)
        if known is not None and known[0] == view:
            return known[1]
        body = X.user(view)
        self._docs[view.login_id] = (view, body)
        return body


@dataclass(frozen=True)
class CtiInfo:
    """What SystemInfo says of the CTI link: the side connected or being tried, since when the
    node has served on it, and the last heartbeat's outcome (the open counts as a success)."""

    active_side: str | None
    up_at: float | None
    heartbeat_ok: bool
    heartbeat_ok_wall: float | None


def _listening(port: int | None) -> int | None:
    return port if port is not None and port > 0 else None


def system_info_view(
    cfg: NodeConfig,
    timers: Timers,
    status: ServiceState,
    https_port: int | None,
    cti: CtiInfo,
    now: float,
    wall: float,
) -> X.SystemInfoView:
    primary = cfg.primary_host or (cfg.domain if cfg.role == "publisher" else "")
    secondary = cfg.secondary_host or (cfg.domain if cfg.role == "subscriber" else "")
    https = https_port or cfg.https_port

    def node(host: str) -> X.NodeView:
        # SystemInfo names only the ports that listen (no Notification Service: no XMPP port).
        return X.NodeView(
            host,
            https_port=_listening(https),
            xmpp_port=_listening(cfg.xmpp_port) if cfg.xmpp_host else None,
            xmpp_secure_port=_listening(cfg.xmpp_secure_port) if cfg.xmpp_host else None,
            ports=cfg.secure_ports.system_info_ports,
        )

    servers = tuple(
        X.CtiServerView(
            host,
            int(now - cti.up_at) if cti.active_side == name and cti.up_at else 0,
            cti.active_side == name,
        )
        for name, host, _port in cfg.cti_sides
    )
    return X.SystemInfoView(
        current_timestamp=wall,
        status=status.status.value,
        status_reason=status.reason,
        xmpp_domain=cfg.domain,
        primary_node=node(primary or cfg.domain),
        secondary_node=node(secondary) if secondary else None,
        deployment_type=cfg.deployment_type,
        last_cti_heartbeat_ok=cti.heartbeat_ok,
        last_success_cti_heartbeat_time=cti.heartbeat_ok_wall,
        cti_heartbeat_interval=round(timers.unscaled("cti_heartbeat_interval")),
        peripheral_id=cfg.peripheral_id,
        cti_servers=servers,
        system_auth_mode=cfg.auth_mode,
    )
