"""The Finesse node's logic, sans-IO: service state, model, presence, directory, requests, events.

Cisco, "CTI Failover": "While failover is in progress, Finesse transitions to OUT_OF_SERVICE state.
During this period, Finesse does not entertain client requests or send out events. [...] After
reconnecting to a CTI server and transitioning to IN_SERVICE state, Finesse responds to client
requests and publishes events." And "After the failover is complete, the last state of call control,
call data, or agent state are published as events to all clients".

:class:`NodeCore` speaks the vocabulary of :mod:`emu_base.sansio`. Inputs, ``now`` first: the CTI
link's events (:meth:`cti_event`) and the outcome of the requests it asked for (:meth:`cti_reply`,
:meth:`cti_failed`), REST commands (:meth:`change_user_state`, :meth:`change_media_state`,
:meth:`dialog_action`: the ApiErrors of a refusal is returned, else the request goes out and the REST
answer is 202), the Notification Service (:meth:`notification`, :meth:`agent_presence`), the web
application (:meth:`webapp`), :meth:`handle_timer`. Outputs (:mod:`.outputs`), pulled with
:meth:`outputs`: send-to-CTI, publish, status changed, session changed, a refused request, and the
presence tracker's actions (the forced logout among them). The asyncio shell is
:mod:`finesse_emu.server.node`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from emu_base.timers import Timers
from finesse_emu.server import paths
from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.config import NodeConfig
from finesse_emu.server.core import requests, supervision, views
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.core.events import Updates, api_errors
from finesse_emu.server.core.outputs import (
    CtiFailure,
    CtiPurpose,
    CtiRequestRefused,
    Output,
    Publish,
    SendToCti,
    StatusChanged,
)
from finesse_emu.server.core.resync import Resync
from finesse_emu.server.core.sessions import Sessions
from finesse_emu.server.cti.outputs import HeartbeatResult, LinkDown, LinkUp, Unsolicited
from finesse_emu.server.cti.outputs import Output as LinkEvent
from finesse_emu.server.model import Change, DialogChange, FinesseModel, MediaSlot, UserChange
from finesse_emu.server.presence import (
    CALL_STATES,
    Action,
    Cancelled,
    ForcedLogout,
    PresenceTracker,
    TimerStarted,
)
from finesse_emu.server.status import Dependency, ServiceState, ServiceStatus, StatusChange
from finesse_emu.xmpp.envelope import update_document
from ged188 import AgentState, Message, MessageType

M = MessageType


class CtiSideView(Protocol):
    """The CTI link's side (A or B) connected or being tried, as SystemInfo shows it."""

    @property
    def active_side(self) -> str | None: ...


@dataclass(frozen=True)
class _Request:
    purpose: CtiPurpose
    user_id: str
    request_id: str = ""
    mrd: int | None = None
    dialog_id: str | None = None
    agent_state: int | None = None
    session: int = 0  # the link session (Resync.session) a resync or Work to Active request is of


class NodeCore:
    def __init__(self, config: NodeConfig, timers: Timers, cti: CtiSideView, *, notification: bool) -> None:
        self.config = config
        self.timers = timers
        self._cti = cti
        required = [Dependency.CTI, Dependency.WEBAPP, Dependency.REST_API]
        if notification:
            required.append(Dependency.NOTIFICATION)
        self.status = ServiceState(0.0, tuple(required))
        self.model = FinesseModel()
        # Agents' presence on this node's Notification Service -> forced logouts (reason 255).
        self.presence = PresenceTracker(
            timers.forced_logout_after_unavailable, timers.forced_logout_reason_code
        )
        self.directory = Directory(config.domain)
        self.stats: Counter[str] = Counter()
        # Seconds to add to ``now`` (monotonic) for wall-clock timestamps (the shell's clock says).
        self.wall_offset = 0.0
        self.https_port: int | None = None  # as bound, once the shell knows it
        self._out: deque[Output] = deque()
        self._refs = 0
        self._requests: dict[int, _Request] = {}
        self.sessions = Sessions(config.event_log)
        self.updates = Updates()
        self._system_info = views.SystemInfoDocument()
        self._user_documents = views.UserDocuments()
        self.resync = Resync()
        self._cti_up_at: float | None = None
        # SystemInfo's lastCTIHeartbeatStatus: the session's open counts as a success, then every
        # heartbeat result; a lost link is a failure.
        self._heartbeat_ok = False
        self._heartbeat_ok_wall: float | None = None

    # -- the vocabulary ----------------------------------------------------------------------------
    def outputs(self) -> list[Output]:
        out = list(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        return self.presence.next_deadline()

    def handle_timer(self, now: float) -> None:
        self.presence.handle_timer(now)
        self._presence_actions(self.presence.outputs())

    def wall(self, now: float) -> float:
        return now + self.wall_offset

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """The node starts: its web application is up (the rest comes as it connects)."""
        self.status = ServiceState(now, self.status.required)
        self._apply_status(now, self.status.up(Dependency.WEBAPP, now))

    def stop(self, now: float) -> None:
        self._out.extend(self.sessions.end_all(self.status, "stopped"))

    def directory_loaded(self, now: float, directory: Directory) -> None:
        self.directory = directory

    def webapp(self, now: float, up: bool) -> None:
        """Finesse Tomcat went down (the webapp_down fault) or came back."""
        self._apply_status(now, (self.status.up if up else self.status.down)(Dependency.WEBAPP, now))

    def rest_api(self, now: float, up: bool) -> None:
        """The REST API web application went down inside a running Tomcat (rest_api_down) or came back."""
        self._apply_status(now, (self.status.up if up else self.status.down)(Dependency.REST_API, now))

    def notification(self, now: float, connected: bool) -> None:
        """The node's session to its Notification Service, once its agents' set-up is done."""
        self._apply_status(
            now, (self.status.up if connected else self.status.down)(Dependency.NOTIFICATION, now)
        )
        if not connected:
            self.presence.session_lost()

    # -- CTI ---------------------------------------------------------------------------------------
    def cti_event(self, now: float, event: LinkEvent) -> None:
        """An event of the CTI link (:mod:`finesse_emu.server.cti.link`); others are ignored."""
        if isinstance(event, LinkUp):
            self._heartbeat_ok, self._heartbeat_ok_wall = True, self.wall(now)
            self._start_resync(now)
        elif isinstance(event, HeartbeatResult):
            self._heartbeat_ok = event.ok
            if event.ok:
                self._heartbeat_ok_wall = self.wall(now)
        elif isinstance(event, LinkDown):
            self.resync.end()
            self._heartbeat_ok = False
            self._cti_up_at = None
            self.model.cti_lost()
            self._apply_status(now, self.status.down(Dependency.CTI, now))
        elif isinstance(event, Unsolicited):
            # Learnt at once; published only IN_SERVICE (_put). A call that begins and ends while the
            # node is OUT_OF_SERVICE is thus never published: "If an agent either makes or answers a
            # call, and then ends that call during failover (that is, the entire call takes place
            # during failover), the corresponding events are not published."
            changes = self.model.apply(self.wall(now), event.message)
            self._track_states(now, changes)
            if self.status.in_service:  # (not even rendered while OUT_OF_SERVICE)
                self._publish(now, changes)

    def cti_reply(self, now: float, ref: int, conf: Message) -> None:
        req = self._requests.pop(ref, None)
        if req is None:
            return
        purpose = req.purpose
        if purpose is CtiPurpose.RESYNC:
            if req.session == self.resync.session:
                if conf.type == M.QUERY_AGENT_STATE_CONF:
                    self._track_states(now, self.model.apply_query(self.wall(now), req.user_id, conf))
                self._resync_answered(now)
        elif purpose is CtiPurpose.AUTO_WORK_TO_ACTIVE:
            self.stats["auto_work_to_active"] += 1
            self._next_work_to_active(req.session)
        elif purpose is CtiPurpose.STATE_CHANGE:
            if req.agent_state == AgentState.LOGIN:
                self.model.signed_in_again(req.user_id)
                self.sessions.signing_out.discard(req.user_id)
                self._session(req.user_id, True, "sign_in")
            elif (
                req.agent_state == AgentState.LOGOUT and self.model.user(req.user_id).state not in CALL_STATES
            ):
                # Signed out through this node (whatever LOAD makes of a 255); on a call, the CTI
                # side logs the agent out when the call ends.
                self.sessions.signing_out.discard(req.user_id)
                self._session(req.user_id, False, "sign_out")

    def cti_failed(self, now: float, ref: int, failure: CtiFailure) -> None:
        req = self._requests.pop(ref, None)
        if req is None:
            return
        purpose, user_id = req.purpose, req.user_id
        if purpose is CtiPurpose.RESYNC:
            if req.session == self.resync.session:
                self._resync_answered(now)
            return
        self._out.append(CtiRequestRefused(purpose, user_id, failure.reason, req.mrd, req.dialog_id))
        if purpose is CtiPurpose.AUTO_WORK_TO_ACTIVE:  # e.g. the agent left WORK meanwhile
            self._next_work_to_active(req.session)
        elif purpose is CtiPurpose.FORCED_LOGOUT:
            self.stats["forced_logout_failed"] += 1
            if self.model.user(user_id).state == "LOGOUT":
                # The browser-close race: "Finesse tries to sign the agent out; however, that agent
                # is already signed out." The refusal is logged (CtiRequestRefused); nothing else.
                self.stats["forced_logout_already_signed_out"] += 1
        elif purpose is CtiPurpose.STATE_CHANGE:
            self.model.user(user_id).request_id = ""
            node = paths.user_node(user_id)
            self._async_error(node, node, req.request_id, "state", failure)
            self.sessions.signing_out.discard(user_id)
        elif purpose is CtiPurpose.DIALOG_ACTION:
            assert req.dialog_id is not None
            node, source = paths.dialogs_node(user_id), paths.dialog_path(req.dialog_id)
            self._async_error(node, source, req.request_id, "requestedAction", failure)
        elif purpose is CtiPurpose.MAKE_CALL:  # no dialog yet: the error is the Dialogs node's
            node = paths.dialogs_node(user_id)
            self._async_error(node, node, req.request_id, "requestedAction", failure)
        elif purpose is CtiPurpose.MEDIA_CHANGE:
            assert req.mrd is not None
            slot = self.model.user(user_id).media.get(req.mrd)
            if slot is not None:
                slot.request_id = ""
            node = paths.media_node(user_id, req.mrd)
            reply = failure.reply
            code = (
                reply["PeripheralErrorCode"]
                if reply is not None and reply.type == M.CONTROL_FAILURE_CONF
                else 0
            )
            err = requests.media_api_error(code, req.mrd, failure.reason)
            self._publish_error(node, api_errors(node, req.request_id, err))

    def _send(self, message: Message, request: _Request) -> None:
        self._refs += 1
        self._requests[self._refs] = request
        self._out.append(SendToCti(self._refs, message, request.purpose))

    def _start_resync(self, now: float) -> None:
        """After (re)connecting: learn every agent's state, then serve and republish."""
        self._query(self.resync.start(self.directory.agents))
        if self.resync.done:
            self._resync_done(now)

    def _resync_answered(self, now: float) -> None:
        self._query(self.resync.answered())
        if self.resync.done:
            self._resync_done(now)

    def _query(self, agents: list[str]) -> None:
        for agent_id in agents:
            req = _Request(CtiPurpose.RESYNC, agent_id, session=self.resync.session)
            self._send(requests.query_agent_state(agent_id), req)

    def _resync_done(self, now: float) -> None:
        self._cti_up_at = now
        self._apply_status(now, self.status.up(Dependency.CTI, now))
        if self.config.enable_auto_work_mode_state_change:
            # enableAutoWorkModeStateChange=true: every non-voice MRD the PG left in WORK goes back.
            self.resync.work.extend((u.id, mrd) for u in self.model.users.values() for mrd in u.media)
            self._next_work_to_active(self.resync.session)

    def _next_work_to_active(self, session: int) -> None:
        while session == self.resync.session and self.resync.work:
            user_id, mrd = self.resync.work.popleft()
            slot = self.model.user(user_id).media.get(mrd)
            if slot is not None and slot.state == "WORK":
                message = requests.work_to_active(self.config.peripheral_id, user_id, mrd)
                self._send(
                    message, _Request(CtiPurpose.AUTO_WORK_TO_ACTIVE, user_id, mrd=mrd, session=session)
                )
                return

    # -- REST commands -----------------------------------------------------------------------------
    def change_user_state(
        self,
        now: float,
        target: AuthUser,
        update: X.UserUpdate,
        request_id: str,
        password: str | None,
        by: AuthUser | None = None,
    ) -> X.ErrorResponse | None:
        """PUT User: None (202, the outcome comes as the user's event) or the refusal. ``by``: the
        supervisor changing a team member's state (None: the user itself)."""
        user = self.model.user(target.id)
        message = requests.user_state(self.directory, user, update, password, by)
        if isinstance(message, X.ErrorResponse):
            return message
        wanted = update.state.value
        if wanted != "LOGIN" and user.state in ("TALKING", "RESERVED", "HOLD"):
            # Applied by the CTI server when the call ends; its answer carries it to the clients.
            user.pending_unpublished = user.pending_unpublished or user.pending_state != wanted
            user.pending_state = wanted
        user.request_id = request_id
        state = message["AgentState"]
        if self.config.event_log and state == AgentState.LOGOUT:
            self.sessions.signing_out.add(target.id)  # the CTI side's LOGOUT may come before the answer
        self._send(message, _Request(CtiPurpose.STATE_CHANGE, target.id, request_id, agent_state=state))
        return None

    def change_media_state(
        self, now: float, target: AuthUser, mrd: int, update: X.MediaUpdate, request_id: str
    ) -> X.ErrorResponse | None:
        """PUT Media: sign in, state, routable or Work to Active in one MRD: 202, then the Media event."""
        user = self.model.user(target.id)
        slot = user.media.get(mrd) or MediaSlot()
        message = requests.media_state(self.directory, self.config.peripheral_id, target, slot, mrd, update)
        if isinstance(message, X.ErrorResponse):
            return message
        if not update.work_to_active and update.state is not None and update.state.value == "LOGIN":
            self.updates.media_limits[(target.id, mrd)] = update.max_dialog_limit or 1
        user.media.setdefault(mrd, slot).request_id = request_id
        self._send(message, _Request(CtiPurpose.MEDIA_CHANGE, target.id, request_id, mrd=mrd))
        return None

    def dialog_action(
        self, now: float, user: AuthUser, dialog_id: str, action: X.DialogAction, request_id: str
    ) -> X.ErrorResponse | None:
        """PUT Dialog: ANSWER, HOLD, RETRIEVE, DROP, SEND_DTMF, UPDATE_CALL_DATA, CONSULT_CALL,
        TRANSFER_SST, TRANSFER and CONFERENCE go to the CTI server (202, then the dialog events;
        SEND_DTMF changes no dialog)."""
        dialog = self.model.dialogs.get(dialog_id)
        if dialog is None:  # the call ended while the request was being read
            return X.not_found(X.NotFound.DIALOG, dialog_id)
        if action.requested_action is X.DialogActionName.PARTICIPANT_DROP:  # a supervisor's
            message = supervision.participant_drop(self.config.peripheral_id, dialog, action, user)
        else:
            message = requests.dialog_action(
                self.directory,
                self.config.peripheral_id,
                dialog,
                action,
                self.model.user(user.id),
                self.model.other_call(dialog, user.id),
            )
        if isinstance(message, X.ErrorResponse):
            return message
        if action.requested_action is not X.DialogActionName.SEND_DTMF:  # DTMF changes no dialog
            dialog.request_id = request_id
        self._send(message, _Request(CtiPurpose.DIALOG_ACTION, user.id, request_id, dialog_id=dialog.id))
        return None

    def make_call(
        self, now: float, user: AuthUser, action: X.DialogAction, request_id: str
    ) -> X.ErrorResponse | None:
        """POST User/{id}/Dialogs MAKE_CALL: MAKE_CALL_REQ (202, then the new dialog's events); a
        supervisor's SILENT_MONITOR and BARGE_CALL: SUPERVISE_CALL_REQ (core/supervision.py)."""
        if action.requested_action in X.SUPERVISOR_POSTS:
            message = supervision.supervise(
                self.directory, self.model, self.config.peripheral_id, user, action
            )
        else:
            message = requests.make_call(self.config.peripheral_id, self.model.user(user.id), action)
        if isinstance(message, X.ErrorResponse):
            return message
        self._send(message, _Request(CtiPurpose.MAKE_CALL, user.id, request_id))
        return None

    # -- status and publishing ---------------------------------------------------------------------
    def _apply_status(self, now: float, change: StatusChange | None) -> None:
        if change is None:
            return
        self._out.append(StatusChanged(change))
        if change.status is not ServiceStatus.IN_SERVICE:
            self._out.extend(self.sessions.end_all(self.status, "out_of_service"))
        self.presence.service(change.at, change.status is ServiceStatus.IN_SERVICE)
        self._presence_actions(self.presence.outputs())
        # The SystemInfo event goes out even when going OUT_OF_SERVICE: it is the desktops' trigger.
        self._emit(paths.SYSTEM_INFO_NODE, X.system_info_event(self.system_info_view(now)), "PUT", "")
        if change.republish:
            changes = self.model.republish()  # (before gone(): it drops the stale dialogs)
            self._publish(now, [*changes, *self.updates.gone(self.model)])

    def _publish(self, now: float, changes: Iterable[Change]) -> None:
        for update in self.updates.of_changes(self.directory, self.model, changes):
            self._put(Publish(update.node, update.text, update.verb, self.status.status.value))

    def _emit(self, node: str, data: str, event: str, request_id: str) -> None:
        text = update_document(data, event, request_id, node)
        self._out.append(Publish(node, text, event, self.status.status.value))

    def _publish_error(self, node: str, text: str) -> None:
        self._put(Publish(node, text, "PUT", self.status.status.value, error=True))

    def _put(self, publish: Publish) -> None:
        """Every Update but the SystemInfo of a transition (:meth:`_emit`) goes out through here.

        Cisco, "CTI Failover": "During this period, Finesse does not entertain client requests or
        send out events." Nothing is published while OUT_OF_SERVICE: not the events the CTI server
        sends during the resync (the last state goes out once IN_SERVICE), nor the apiErrors of a
        request accepted before the loss and failed by it (the refusal is logged, CtiRequestRefused).
        """
        if not self.status.in_service:
            self.stats["events_withheld_out_of_service"] += 1
            return
        self._out.append(publish)

    def _async_error(self, node: str, source: str, request_id: str, data: str, failure: CtiFailure) -> None:
        """A CTI refusal after the 202: an Update with apiErrors on the user's node, by requestId."""
        err = X.ApiError(
            "Invalid State", failure.reason, data, peripheral_error_code=str(failure.status or "")
        )
        self._publish_error(node, api_errors(source, request_id, err))

    # -- presence and the forced logout (Cisco's "Desktop Behavior") ----------------------------------
    def agent_presence(self, now: float, full_jid: str, available: bool) -> None:
        """An agent resource's presence changed on this node's Notification Service."""
        found = self.directory.user_of_jid(full_jid)
        if found is not None:
            user, resource = found
            self.presence.presence(now, user.id, resource, available)
            self._presence_actions(self.presence.outputs())

    def _track_states(self, now: float, changes: Iterable[Change]) -> None:
        for change in changes:
            if isinstance(change, UserChange):
                user = self.model.user(change.user_id)
                if user.state == "LOGOUT":
                    why = "sign_out" if user.id in self.sessions.signing_out else "cti_logout"
                    self.sessions.signing_out.discard(user.id)
                    self._session(user.id, False, why, reason_code=user.reason_code)
                self.presence.agent_state(now, change.user_id, user.state)
                self._presence_actions(self.presence.outputs())

    def _presence_actions(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, ForcedLogout):
                self.stats["forced_logouts"] += 1
                self._session(action.agent_id, False, "forced_logout", reason_code=action.reason_code)
                self._out.append(action)
                message = requests.forced_logout(
                    self.config.peripheral_id, action.agent_id, action.reason_code
                )
                self._send(message, _Request(CtiPurpose.FORCED_LOGOUT, action.agent_id))
            else:
                if isinstance(action, TimerStarted):
                    self.stats["forced_logout_timers"] += 1
                elif isinstance(action, Cancelled):
                    self.stats[f"forced_logout_cancelled_{action.reason.value}"] += 1
                self._out.append(action)

    def _session(self, agent_id: str, signed_in: bool, why: str, reason_code: int | None = None) -> None:
        change = self.sessions.change(self.status, agent_id, signed_in, why, reason_code)
        if change is not None:
            self._out.append(change)

    # -- views -------------------------------------------------------------------------------------
    def user_view(self, user_id: str) -> X.UserView:
        return views.user_view(self.directory, self.model, user_id)

    def user_document(self, user_id: str) -> bytes:
        """GET User/{id}'s XML (rendered again only when the user's view changed)."""
        return self._user_documents.render(self.user_view(user_id))

    def media_view(self, user_id: str, mrd: int) -> X.MediaView:
        return views.media_view(self.directory, self.model, self.updates.media_limits, user_id, mrd)

    def dialog_view(self, dialog_id: str, user_id: str | None = None) -> X.DialogView:
        return views.dialog_view(self.model, dialog_id, self.directory, user_id)

    def dialogs_listed(self, user_id: str) -> list[str]:
        """The dialogs GET User/{id}/Dialogs lists: the user's, but a conference the opt-in
        conference_glitch fault hides from it."""
        return [d.id for d in self.model.dialogs_of(user_id) if user_id not in d.glitched]

    def conference_glitch(self, now: float, on: bool) -> None:
        """The opt-in conference_glitch fault set or cleared (clearing it mends every desktop)."""
        self.model.conference_glitch = on
        if on:
            return
        changes: list[Change] = []
        for dialog in self.model.dialogs.values():
            if dialog.glitched:
                dialog.glitched.clear()
                changes.extend(DialogChange(dialog.id, uid, "PUT") for uid in dialog.user_ids)
        self._publish(now, changes)

    def team_view(self, team_id: int) -> X.TeamView | None:
        return views.team_view(self.directory, self.model, team_id)

    def system_info_document(self, now: float) -> bytes:
        return self._system_info.render(self._system_info_view(now, 0.0), self.wall(now))

    def system_info_view(self, now: float) -> X.SystemInfoView:
        return self._system_info_view(now, self.wall(now))

    def _system_info_view(self, now: float, wall: float) -> X.SystemInfoView:
        cti = views.CtiInfo(
            self._cti.active_side, self._cti_up_at, self._heartbeat_ok, self._heartbeat_ok_wall
        )
        return views.system_info_view(self.config, self.timers, self.status, self.https_port, cti, now, wall)
