"""What a Finesse node knows about users and dialogs, built from CTI events. Pure: no I/O.

Each CTI event returns the changes a client should hear about (user state, media state, dialogs).
Whether a change is published is the node's business: nothing goes out while OUT_OF_SERVICE, and
when the node comes back :meth:`FinesseModel.republish` gives the last state of everything
(Cisco: "After the failover is complete, the last state of call control, call data, or agent state
are published as events to all clients").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from emu_base.directory import VOICE_MRD
from ged188 import AgentState, EventCause, Message, MessageType, Tag, parse_named_variable

M = MessageType

# CTI agent states as Finesse names them (User API "state").
FINESSE_STATE: dict[AgentState, str] = {
    AgentState.LOGOUT: "LOGOUT",
    AgentState.NOT_READY: "NOT_READY",
    AgentState.AVAILABLE: "READY",
    AgentState.TALKING: "TALKING",
    AgentState.WORK_NOT_READY: "WORK",
    AgentState.WORK_READY: "WORK_READY",
    AgentState.BUSY_OTHER: "NOT_READY",
    AgentState.RESERVED: "RESERVED",
    AgentState.HOLD: "HOLD",
    AgentState.UNKNOWN: "UNKNOWN",
    AgentState.ACTIVE: "TALKING",
    AgentState.PAUSED: "HOLD",
    AgentState.INTERRUPTED: "HOLD",
    AgentState.NOT_ACTIVE: "NOT_READY",
}
# Finesse state names a client may ask for, and the CTI state each means.
REQUESTABLE: dict[str, AgentState] = {
    "LOGIN": AgentState.LOGIN,
    "LOGOUT": AgentState.LOGOUT,
    "NOT_READY": AgentState.NOT_READY,
    "READY": AgentState.AVAILABLE,
    "WORK": AgentState.WORK_NOT_READY,
    "WORK_READY": AgentState.WORK_READY,
}

DialogEvent = Literal["POST", "PUT", "DELETE"]
_CALL_EVENTS = frozenset(
    {
        M.BEGIN_CALL_EVENT,
        M.CALL_SERVICE_INITIATED_EVENT,
        M.CALL_ORIGINATED_EVENT,
        M.CALL_DELIVERED_EVENT,
        M.CALL_ESTABLISHED_EVENT,
        M.CALL_HELD_EVENT,
        M.CALL_RETRIEVED_EVENT,
        M.CALL_DATA_UPDATE_EVENT,
        M.CALL_CONNECTION_CLEARED_EVENT,
        M.CALL_CLEARED_EVENT,
        M.END_CALL_EVENT,
        M.CALL_FAILED_EVENT,
    }
)
# A FAILED participant's stateCause from CALL_FAILED_EVENT's EventCause (Cisco's Finesse developer
# guide, Dialog.ReasonStates: BUSY; BAD_DESTINATION, "making a call to a non-existence extension";
# OTHER, "all the other reasons"). Which EventCause the real Finesse maps to each is UNCERTAIN.
FAILED_CAUSES: dict[int, str] = {EventCause.BUSY: "BUSY", EventCause.DEST_NOT_OBTAINABLE: "BAD_DESTINATION"}


@dataclass
class MediaSlot:
    """A user's state in one non-voice MRD, as the CTI events report it."""

    state: str = "LOGOUT"
    reason_code: int = 0
    routable: bool = False
    state_change_time: float = 0.0
    request_id: str = ""  # of the Media PUT whose result the next media event carries


@dataclass
class User:
    id: str
    state: str = "LOGOUT"
    reason_code: int = 0  # the CTI EventReasonCode (a ReasonCode's "code")
    extension: str = ""
    pending_state: str = ""
    # A pendingState set by a PUT during a call that no User event has shown yet: the CTI server's
    # answer (the state unchanged) is published for it even when the PUT carried no requestId.
    pending_unpublished: bool = False
    state_change_time: float = 0.0
    media: dict[int, MediaSlot] = field(default_factory=dict)  # non-voice MRDs
    # requestId of the client request whose result the next user event carries (then cleared).
    request_id: str = ""


@dataclass
class Participant:
    """One party of a dialog as Finesse shows it: a device (mediaAddress) and its state."""

    address: str
    user_id: str | None  # the signed-in user whose extension it is; None: a device that is no agent
    state: str  # INITIATING, INITIATED, ALERTING, ACTIVE, HELD, DROPPED, FAILED
    start_time: float = 0.0
    state_change_time: float = 0.0
    state_cause: str = ""


# GED-188 CallType as the Dialog's mediaProperties/callType names it.
CALL_TYPE_NAMES = {
    1: "ACD_IN",
    4: "TRANSFER",
    6: "OTHER_IN",
    8: "AGENT_OUT",
    9: "OUT",
    10: "AGENT_INSIDE",
    12: "CONSULT",
    15: "CONFERENCE",
    21: "SUPERVISOR_MONITOR",  # (ged188 CallType.SUPERVISOR_MONITOR: the number is UNCERTAIN)
}


# A user's state in its other call, as far as its held call's actions depend on it.
_HELD_ACTIONS_KEY = {"INITIATING": "dialling", "INITIATED": "dialling", "ACTIVE": "answered"}


@dataclass
class Dialog:
    id: str
    call_id: int
    agent_id: str  # the user the call first reached (kept for the dialog's first publication)
    device: str
    state: str = "INITIATED"  # INITIATING, INITIATED, ALERTING, ACTIVE, DROPPED
    from_address: str = ""
    to_address: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    start_time: float = 0.0
    # Set when the CTI link drops; cleared when the CTI server announces the call again.
    stale: bool = False
    request_id: str = ""  # the call-control request whose result the next dialog event carries
    call_type: str = "ACD_IN"
    wrap_up_reason: str = ""  # GED-188 CallWrapupData (mediaProperties/wrapUpReason)
    participants: dict[str, Participant] = field(default_factory=dict)  # by mediaAddress, in order
    announced: set[str] = field(default_factory=set)  # users whose Dialogs node has it (POSTed)
    # Per user held here: its state in its other call when this dialog was last published (a held
    # participant's actions follow it: TRANSFER while the consult rings, CONFERENCE once answered).
    other_seen: dict[str, str] = field(default_factory=dict)
    # Users whose desktops see this conference wrongly until they drop off it (the opt-in
    # conference_glitch fault: FinesseModel.glitch_conferences).
    glitched: set[str] = field(default_factory=set)

    @property
    def user_ids(self) -> list[str]:
        """Every signed-in user taking part (each sees the dialog on its Dialogs node)."""
        ids = [p.user_id for p in self.participants.values() if p.user_id is not None]
        # The call's first agent until the parties are known; after that only if it is one of them
        # (a node started again learns a transferred call from the CTI server with the agent that
        # transferred it away as its device, but that agent is no party of it any more).
        first = [self.agent_id] if not self.participants or self.agent_id in ids else []
        return list(dict.fromkeys([*first, *ids]))

    def participant_of(self, user_id: str) -> Participant | None:
        return next((p for p in self.participants.values() if p.user_id == user_id), None)


@dataclass(frozen=True)
class UserChange:
    user_id: str
    request_id: str = ""


@dataclass(frozen=True)
class MediaChange:
    user_id: str
    mrd: int
    request_id: str = ""


@dataclass(frozen=True)
class DialogChange:
    dialog_id: str
    user_id: str
    event: DialogEvent
    request_id: str = ""


Change = UserChange | MediaChange | DialogChange


class FinesseModel:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.dialogs: dict[str, Dialog] = {}
        self._by_extension: dict[str, str] = {}
        # The dialogs each user has taken part in (ids; those since deleted are skipped): a user's
        # other call (:meth:`other_call`) without a scan of every dialog.
        self._user_dialogs: dict[str, set[str]] = {}
        # The opt-in conference_glitch fault (emu_base.faults.CONFERENCE_GLITCH) is active.
        self.conference_glitch = False

    def user(self, user_id: str) -> User:
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = User(user_id)
        return user

    def signed_in(self) -> list[User]:
        return [u for u in self.users.values() if u.state != "LOGOUT"]

    def dialogs_of(self, user_id: str) -> list[Dialog]:
        return [d for d in self.dialogs.values() if user_id in d.user_ids]

    # -- CTI events -------------------------------------------------------------------------------
    def apply(self, now: float, msg: Message) -> list[Change]:
        """A CTI event at ``now`` (epoch seconds: the stateChangeTime clients see)."""
        if msg.type == M.AGENT_STATE_EVENT:
            return self._agent_state(msg, now)
        if msg.type in _CALL_EVENTS:
            return self._call_event(msg, now)
        if msg.type in (M.CALL_TRANSFERRED_EVENT, M.CALL_CONFERENCED_EVENT):
            return self._merge_event(msg, now)
        return []

    def apply_query(self, now: float, agent_id: str, conf: Message) -> list[Change]:
        """A QUERY_AGENT_STATE_CONF (resynchronisation after a CTI reconnect)."""
        user = self.user(agent_id)
        state = FINESSE_STATE.get(AgentState(conf["AgentState"]), "UNKNOWN")
        extension = conf.get_str(Tag.AGENT_EXTENSION) or ("" if state == "LOGOUT" else user.extension)
        if (state, extension) == (user.state, user.extension):
            return []
        self._set_extension(user, extension)
        user.state, user.state_change_time, user.pending_state = state, now, ""
        return [UserChange(user.id)]

    @staticmethod
    def _media_state(user: User, mrd: int, state: str, msg: Message, now: float) -> list[Change]:
        slot = user.media.setdefault(mrd, MediaSlot())
        reason = msg["EventReasonCode"] if state in ("NOT_READY", "LOGOUT") else 0
        routable = bool(msg["AgentMode"]) and state != "LOGOUT"
        unchanged = (state, reason, routable) == (slot.state, slot.reason_code, slot.routable)
        if unchanged and not slot.request_id:
            return []
        if state != slot.state:
            slot.state_change_time = now
        slot.state, slot.reason_code, slot.routable = state, reason, routable
        request_id, slot.request_id = slot.request_id, ""
        return [MediaChange(user.id, mrd, request_id)]

    def _set_extension(self, user: User, extension: str) -> None:
        if user.extension and self._by_extension.get(user.extension) == user.id:
            del self._by_extension[user.extension]
        user.extension = extension
        if extension:
            self._by_extension[extension] = user.id

    def _agent_state(self, msg: Message, now: float) -> list[Change]:
        agent_id = msg.get_str(Tag.AGENT_ID)
        if not agent_id:
            return []
        cti_state = (
            AgentState(msg["AgentState"]) if msg["AgentState"] in AgentState._value2member_map_ else None
        )
        if cti_state is None or cti_state is AgentState.LOGIN:
            return []  # LOGIN is transient: the NOT_READY that follows is what clients see
        user = self.user(agent_id)
        state = FINESSE_STATE[cti_state]
        mrd = msg["MRDID"]
        if mrd not in (VOICE_MRD, 0, -1):
            return self._media_state(user, mrd, state, msg, now)
        extension = msg.get_str(Tag.AGENT_EXTENSION) or msg.get_str(Tag.AGENT_INSTRUMENT) or ""
        reason = msg["EventReasonCode"] if state in ("NOT_READY", "LOGOUT") else 0
        unchanged = (state, reason, extension) == (user.state, user.reason_code, user.extension)
        if unchanged and not user.request_id and not user.pending_unpublished:
            return []
        user.pending_unpublished = False
        self._set_extension(user, "" if state == "LOGOUT" else extension or user.extension)
        if not unchanged:
            user.state, user.reason_code, user.state_change_time = state, reason, now
            user.pending_state = ""  # a pending state stays until the state actually changes
        request_id, user.request_id = user.request_id, ""
        changes: list[Change] = [UserChange(user.id, request_id)]
        if not unchanged and state in ("WORK", "WORK_READY"):
            # Its dropped call now offers UPDATE_CALL_DATA (the wrap-up reason): clients hear it.
            dropped = (d for d in self.dialogs_of(user.id) if d.state == "DROPPED")
            changes.extend(DialogChange(d.id, user.id, "PUT") for d in dropped if user.id in d.announced)
        return changes

    def _call_event(self, msg: Message, now: float) -> list[Change]:
        """A call event: the dialog's participants and state; one change per user taking part."""
        dialog_id = str(msg["ConnectionCallID"])
        device = msg.get_str(Tag.CONNECTION_DEVID) or ""
        dialog = self.dialogs.get(dialog_id)
        if dialog is None:
            if msg.type == M.END_CALL_EVENT:
                return []
            agent_id = self._by_extension.get(device)
            if agent_id is None:
                return []  # a call at a device no signed-in user owns
            dialog = Dialog(dialog_id, msg["ConnectionCallID"], agent_id, device, start_time=now)
            self.dialogs[dialog_id] = dialog
        dialog.stale = False
        for tag, attr in ((Tag.ANI, "from_address"), (Tag.DNIS, "to_address")):
            value = msg.get_str(tag)
            if value:
                setattr(dialog, attr, value)
        for i in range(10):
            value = msg.get_str(Tag.CALL_VAR_1 + i)
            if value is not None:
                dialog.variables[f"callVariable{i + 1}"] = value
        self._extra_call_data(dialog, msg)
        if msg.type in (M.BEGIN_CALL_EVENT, M.CALL_DATA_UPDATE_EVENT):
            # (a call's type changes when it becomes a conference or is transferred)
            dialog.call_type = CALL_TYPE_NAMES.get(msg["CallType"], dialog.call_type)
        if msg.type == M.BEGIN_CALL_EVENT:
            return []  # the dialog is announced with its first state
        if msg.type == M.END_CALL_EVENT:
            del self.dialogs[dialog_id]
            return [DialogChange(dialog_id, uid, "DELETE", dialog.request_id) for uid in dialog.user_ids]
        before = self._dialog_key(dialog)
        self._participants(dialog, msg, device, now)
        self._unglitch(dialog)
        if self._dialog_key(dialog) == before and msg.type != M.CALL_DATA_UPDATE_EVENT:
            return []
        return self._dialog_changed(dialog)

    def _dialog_changed(self, dialog: Dialog) -> list[Change]:
        """One change per user taking part: POST for a user that has not seen the dialog yet."""
        request_id, dialog.request_id = dialog.request_id, ""
        changes: list[Change] = []
        for uid in dialog.user_ids:
            first = uid not in dialog.announced
            dialog.announced.add(uid)
            changes.append(DialogChange(dialog.id, uid, "POST" if first else "PUT", request_id))
            changes.extend(self._held_calls_changed(dialog, uid))
        return changes

    def _held_calls_changed(self, dialog: Dialog, uid: str) -> list[Change]:
        """A PUT of each call ``uid`` holds whose actions changed with ``dialog`` (its consult rang,
        was answered or ended): a client offers only the actions a dialog lists, so the held call
        is published again, once per change of the user's state in its other call."""
        changes: list[Change] = []
        for dialog_id in list(self._user_dialogs.get(uid, ())):
            held = self.dialogs.get(dialog_id)
            mine = held.participant_of(uid) if held is not None and held is not dialog else None
            if held is None or mine is None or mine.state != "HELD" or uid not in held.announced:
                continue
            other = self.other_call(held, uid)
            # The held participant's actions differ only between a consult dialling and answered
            # (core/views.py WITH_OTHER_CALL): INITIATING then INITIATED is one PUT, not two alike.
            key = _HELD_ACTIONS_KEY.get(other[1].state, "") if other is not None else ""
            if held.other_seen.get(uid, "") != key:
                held.other_seen[uid] = key
                changes.append(DialogChange(held.id, uid, "PUT"))
        return changes

    @staticmethod
    def _dialog_key(dialog: Dialog) -> tuple[str, tuple[tuple[str, str], ...]]:
        return dialog.state, tuple((a, p.state) for a, p in dialog.participants.items())

    def _participant(self, dialog: Dialog, address: str, state: str, now: float) -> Participant:
        """The participant at ``address``, added in ``state`` when new."""
        p = dialog.participants.get(address)
        if p is None:
            user_id = self._by_extension.get(address)
            if dialog.call_type == "SUPERVISOR_MONITOR" and address != dialog.device:
                # The monitored agent is shown on the supervisor's silent monitor dialog only: the
                # call is not the agent's (it does not see it, nor the supervisor).
                user_id = None
            p = Participant(address, user_id, state, now, now)
            dialog.participants[address] = p
            if p.user_id is not None:
                self._user_dialogs.setdefault(p.user_id, set()).add(dialog.id)
        return p

    @staticmethod
    def _move(p: Participant, state: str, now: float) -> None:
        if p.state != state:
            p.state, p.state_change_time = state, now

    def _participants(self, dialog: Dialog, msg: Message, device: str, now: float) -> None:
        """Each call event as the participants' states (and the dialog's) change."""
        t = msg.type
        if t == M.CALL_SERVICE_INITIATED_EVENT:
            self._move(self._participant(dialog, device, "INITIATING", now), "INITIATING", now)
            dialog.state = "INITIATING"
        elif t == M.CALL_ORIGINATED_EVENT:
            self._move(self._participant(dialog, device, "INITIATED", now), "INITIATED", now)
            dialog.from_address = msg.get_str(Tag.CALLING_DEVID) or dialog.from_address
            dialog.to_address = msg.get_str(Tag.CALLED_DEVID) or dialog.to_address
            dialog.state = "INITIATED"
        elif t == M.CALL_DELIVERED_EVENT:
            self._move(self._participant(dialog, device, "ALERTING", now), "ALERTING", now)
            calling = msg.get_str(Tag.CALLING_DEVID)
            if calling and calling != device:
                # The caller of a delivered call shows INITIATED until the call is answered, after
                # the alerting agent when it is new (Cisco's capture of an incoming call).
                self._participant(dialog, calling, "INITIATED", now)
            dialog.state = "ALERTING"
        elif t == M.CALL_ESTABLISHED_EVENT:
            self._move(self._participant(dialog, device, "ACTIVE", now), "ACTIVE", now)
            for p in dialog.participants.values():
                if p.state in ("INITIATING", "INITIATED"):
                    self._move(p, "ACTIVE", now)
            dialog.state = "ACTIVE"
        elif t == M.CALL_HELD_EVENT:
            self._move(self._participant(dialog, device, "HELD", now), "HELD", now)
        elif t == M.CALL_RETRIEVED_EVENT:
            self._move(self._participant(dialog, device, "ACTIVE", now), "ACTIVE", now)
        elif t == M.CALL_CONNECTION_CLEARED_EVENT:
            leaving = dialog.participants.get(device)
            if leaving is not None:
                self._move(leaving, "DROPPED", now)
            if sum(p.state != "DROPPED" for p in dialog.participants.values()) < 2:
                dialog.state = "DROPPED"  # fewer than two parties: the call is over
        elif t == M.CALL_CLEARED_EVENT:
            for p in dialog.participants.values():
                self._move(p, "DROPPED", now)
            dialog.state = "DROPPED"
        elif t == M.CALL_FAILED_EVENT:
            # Finesse: participant state FAILED ("The dialog failed (BUSY)", desktop "Busy" or
            # "Error"), its reason in stateCause; the dialog "has failed" (state FAILED).
            failed = self._participant(dialog, device, "FAILED", now)
            self._move(failed, "FAILED", now)
            failed.state_cause = FAILED_CAUSES.get(msg["EventCause"], "OTHER")
            dialog.state = "FAILED"

    @staticmethod
    def _extra_call_data(dialog: Dialog, msg: Message) -> None:
        """ECC variables (NamedVariable, "user.name") and the wrap-up data of a call event."""
        for raw in msg.get_all(Tag.NAMED_VARIABLE):
            pair = parse_named_variable(raw) if isinstance(raw, bytes) else None
            if pair is not None:
                dialog.variables[pair[0]] = pair[1]
        wrapup = msg.get_str(Tag.CALL_WRAPUP_DATA)
        if wrapup is not None:
            dialog.wrap_up_reason = wrapup

    # -- consult, transfer, conference ---------------------------------------------------------------
    def _merge_event(self, msg: Message, now: float) -> list[Change]:
        """CALL_TRANSFERRED_EVENT / CALL_CONFERENCED_EVENT: the secondary call's parties join the
        primary dialog (the held call, which survives), in the state they had there; a conference's
        controller is active again. The transferring device leaves with the CALL_CONNECTION_CLEARED
        that follows, and the secondary dialog ends with its own events (DELETE)."""
        primary_id = str(msg["PrimaryCallID"])
        secondary = self.dialogs.get(str(msg["SecondaryCallID"]))
        parties = [v for v in msg.get_all(Tag.PARTY_DEVID) if isinstance(v, str)]
        dialog = self.dialogs.get(primary_id)
        if dialog is None:  # a call this node knew nothing of, now with one of its users
            owner = next((d for d in parties if d in self._by_extension), None)
            if owner is None:
                return []
            agent_id = self._by_extension[owner]
            dialog = Dialog(primary_id, msg["PrimaryCallID"], agent_id, owner, start_time=now)
            self.dialogs[primary_id] = dialog
        dialog.stale = False
        for device in parties:
            if device not in dialog.participants:
                was = secondary.participants.get(device) if secondary is not None else None
                state = was.state if was is not None and was.state in ("ALERTING", "ACTIVE") else "ACTIVE"
                self._participant(dialog, device, state, now)
        controller = msg.get_str(Tag.CONTROLLER_DEVID)
        if msg.type == M.CALL_CONFERENCED_EVENT and controller in dialog.participants:
            self._move(dialog.participants[controller], "ACTIVE", now)
        if any(p.state == "ACTIVE" for p in dialog.participants.values()):
            dialog.state = "ACTIVE"
        return self._dialog_changed(dialog)

    def other_call(self, dialog: Dialog, user_id: str) -> tuple[Dialog, Participant] | None:
        """The user's participant in another call still going on (its consult while ``dialog`` is
        held, or the held call while ``dialog`` is the consult); an active one first."""
        found: list[tuple[Dialog, Participant]] = []
        for dialog_id in list(self._user_dialogs.get(user_id, ())):
            other = self.dialogs.get(dialog_id)
            if other is None:
                self._user_dialogs[user_id].discard(dialog_id)
                continue
            p = other.participant_of(user_id)
            if other is not dialog and p is not None and p.state != "DROPPED" and other.state != "DROPPED":
                found.append((other, p))
        found.sort(key=lambda pair: pair[1].state == "HELD")
        return found[0] if found else None

    def glitch_conferences(self, user_id: str | None = None) -> None:
        """With the opt-in conference_glitch fault: every agent (or ``user_id`` alone, signing in)
        in a conference that has a device that is no agent sees it wrongly from now on
        (:data:`emu_base.faults.CONFERENCE_GLITCH`; views.dialog_view), until it drops off."""
        if not self.conference_glitch:
            return
        for dialog in self.dialogs.values():
            live = [p for p in dialog.participants.values() if p.state != "DROPPED"]
            if dialog.call_type != "CONFERENCE" or all(p.user_id is not None for p in live):
                continue
            users = {p.user_id for p in live if p.user_id is not None}
            dialog.glitched |= users if user_id is None else users & {user_id}

    @staticmethod
    def _unglitch(dialog: Dialog) -> None:
        """Chapter: "Desktop behavior returns to usual after the agent or supervisor drops off the
        conference call."""
        for uid in list(dialog.glitched):
            p = dialog.participant_of(uid)
            if p is None or p.state == "DROPPED":
                dialog.glitched.discard(uid)

    # -- failover ----------------------------------------------------------------------------------
    def cti_lost(self) -> None:
        """The CTI link dropped: every known call must be announced again or it is gone.

        Pending states are lost with it (chapter "Finesse Failover Mechanisms": "After the failover,
        the pending state of an agent will not be displayed [...]. The pending state change is lost
        during the failover"): the CTI server replaced them (cti_stub.model's lost connection), so
        the last state republished after the failover shows an empty ``pendingState``.
        """
        for dialog in self.dialogs.values():
            dialog.stale = True
        for user in self.users.values():
            user.pending_state = ""

    def signed_in_again(self, user_id: str) -> None:
        """The CTI server accepted a LOGIN for ``user_id`` (a desktop signing in after a failover).

        "The pending state change is lost during the failover, as the agent will be logged out, and
        logged in again": the CTI server dropped it, and the user event that follows shows none.
        """
        self.user(user_id).pending_state = ""
        self.glitch_conferences(user_id)

    def republish(self) -> list[Change]:
        """The last state of everything, after a failover; calls that ended meanwhile are deleted."""
        changes: list[Change] = []
        for dialog in list(self.dialogs.values()):
            if dialog.stale:
                del self.dialogs[dialog.id]
                changes.extend(DialogChange(dialog.id, uid, "DELETE") for uid in dialog.user_ids)
        for user in self.users.values():
            if user.state == "LOGOUT" and not user.state_change_time:
                continue
            changes.append(UserChange(user.id))
            changes.extend(MediaChange(user.id, mrd) for mrd in sorted(user.media))
        self.glitch_conferences()
        for d in self.dialogs.values():
            changes.extend(
                DialogChange(d.id, uid, "DELETE" if uid in d.glitched else "PUT") for uid in d.user_ids
            )
        return changes
