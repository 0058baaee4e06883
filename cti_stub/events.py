"""What the PG tells CTI clients about agents and calls: AGENT_STATE_EVENT and the call events
(BEGIN_CALL_EVENT, CALL_SERVICE_INITIATED_EVENT, CALL_ORIGINATED_EVENT, CALL_QUEUED_EVENT,
CALL_DEQUEUED_EVENT, CALL_DELIVERED_EVENT, CALL_FAILED_EVENT,
CALL_ESTABLISHED_EVENT, CALL_HELD_EVENT, CALL_RETRIEVED_EVENT, CALL_DATA_UPDATE_EVENT,
CALL_CONNECTION_CLEARED_EVENT, CALL_CLEARED_EVENT, END_CALL_EVENT, CALL_TRANSFERRED_EVENT,
CALL_CONFERENCED_EVENT), built from the model's changes.

Pure functions: which sessions receive them is the server core's business (``cti_stub.core``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cti_stub.model import WRAPUP_DATA, AgentChange, Call, CallChange
from ged188 import (
    NONE_16,
    NULL_ID,
    PT_ENTERPRISE_AGENT,
    AgentState,
    CallType,
    DeviceType,
    EventCause,
    LineType,
    LocalConnectionState,
    Message,
    MessageType,
    Tag,
    make,
    named_variable,
    parse_named_variable,
)

M = MessageType


def device_fields(device: str) -> list[tuple[int, Any]]:
    """AgentExtension (STRING 16) only when the device fits it; AgentInstrument (64) always.

    A LOGIN may name a long instrument (a device name): it must not make every later event unsendable.
    """
    fields: list[tuple[int, Any]] = [(Tag.AGENT_INSTRUMENT, device)]
    if len(device.encode("latin-1", "replace")) < 16:
        fields.insert(0, (Tag.AGENT_EXTENSION, device))
    return fields


def agent_state_event(change: AgentChange, peripheral_id: int, signature: str | None) -> Message:
    """AGENT_STATE_EVENT for one change; ``signature``: the ClientSignature of the controlling session."""
    agent, mrd, state = change.agent, change.mrd, change.state
    floating: list[tuple[int, Any]] = []
    if signature is not None:
        floating.append((Tag.CLIENT_SIGNATURE, signature[:63]))
    floating += [(Tag.AGENT_ID, agent.id), *device_fields(change.extension)]
    sg = agent.record.skill_groups[0] if agent.record.skill_groups else NULL_ID
    return make(
        M.AGENT_STATE_EVENT,
        floating,
        PeripheralID=peripheral_id,
        SessionID=agent.controller or 0,
        PeripheralType=PT_ENTERPRISE_AGENT,
        SkillGroupState=state,
        SkillGroupNumber=sg,
        SkillGroupID=sg,
        AgentState=state,
        EventReasonCode=change.reason_code,
        MRDID=mrd,
        NumTasks=len(agent.call_ids),
        AgentMode=int(change.routable),
        MaxTaskLimit=1,
        ICMAgentID=agent.record.icm_agent_id,
        AgentAvailabilityStatus=1 if state is AgentState.AVAILABLE else 0,
    )


_CALL_TYPE = {
    "inbound": CallType.ACD_IN,
    "internal": CallType.AGENT_INSIDE,
    "outbound": CallType.AGENT_OUT,
    "monitor": CallType.SUPERVISOR_MONITOR,  # a supervisor's silent monitor (model.silent_monitor)
}
# A call's role, once call control gave it one, is its CallType from then on.
_ROLE_TYPE = {
    "consult": CallType.CONSULT,
    "conference": CallType.CONFERENCE,
    "transfer": CallType.TRANSFER_IN,
}


def call_type(call: Call) -> CallType:
    return _ROLE_TYPE[call.role] if call.role else _CALL_TYPE[call.kind]


def _device_type(call: Call, device: str) -> int:
    """AGENT_DEVICE for an agent's connection, EXTERNAL for an outside number (the caller of an
    inbound call keeps the historical DEVICE_IDENTIFIER)."""
    conn = next((c for c in call.connections if c.device == device), None)
    if conn is not None and conn.agent_id is not None:
        return DeviceType.AGENT_DEVICE
    return DeviceType.EXTERNAL if call.kind == "outbound" else DeviceType.DEVICE_IDENTIFIER


def call_event(
    change: CallChange,
    peripheral_id: int,
    skill_groups: Sequence[int],
    cause: int = EventCause.NEW_CALL,
    num_queued: int = 0,
) -> Message:
    """The call event for one step of a call (BEGIN_CALL_EVENT ... END_CALL_EVENT).

    ConnectionDeviceID names the connection the event is about (``change.device``) and
    LocalConnectionState is that connection's state at the time of the change. ``num_queued``:
    CALL_QUEUED/DEQUEUED_EVENT's NumQueued (the calls in the queue when the event is sent).
    """
    call = change.call
    device = change.connection_device
    head = {
        "PeripheralID": peripheral_id,
        "PeripheralType": PT_ENTERPRISE_AGENT,
        "ConnectionDeviceIDType": 0,
        "ConnectionCallID": call.call_id,
    }
    conn = [(Tag.CONNECTION_DEVID, device)]
    data: list[tuple[int, Any]] = []
    if call.ani:
        data.append((Tag.ANI, call.ani[:39]))
    if call.dnis:
        data.append((Tag.DNIS, call.dnis[:31]))
    for i in range(10):
        value = call.variables.get(f"callVariable{i + 1}")
        if value is not None:
            data.append((Tag.CALL_VAR_1 + i, value[:40]))
    wrapup = call.variables.get(WRAPUP_DATA)
    if wrapup is not None:
        data.append((Tag.CALL_WRAPUP_DATA, wrapup[:39]))
    for name, value in call.variables.items():
        if not name.startswith(_FIXED_DATA) and len(named_variable(name, value)) <= 251:
            data.append((Tag.NAMED_VARIABLE, named_variable(name, value)))
    calling = call.ani[:63] or "unknown"
    called = call.dnis[:63] or call.device
    devices = {
        "CallingDeviceType": _device_type(call, calling),
        "CalledDeviceType": _device_type(call, called),
        "LastRedirectDeviceType": NONE_16,
    }
    sg = skill_groups
    skill = {
        "ServiceNumber": NULL_ID,
        "ServiceID": NULL_ID,
        "SkillGroupNumber": sg[0] if sg else NULL_ID,
        "SkillGroupID": sg[0] if sg else NULL_ID,
        "LineHandle": 0,
        "LineType": LineType.INBOUND_ACD if call.kind == "inbound" else LineType.INSIDE,
    }
    parties = [(Tag.CALLING_DEVID, calling), (Tag.CALLED_DEVID, called)]
    state = LocalConnectionState.NULL if change.state is None else change.state
    step = change.step
    if change.cause is not None:
        cause = change.cause
    if step == "begin":
        return make(M.BEGIN_CALL_EVENT, conn + data, CallType=call_type(call), **head)
    if step == "service_initiated":
        return make(
            M.CALL_SERVICE_INITIATED_EVENT,
            [*conn, (Tag.CALLING_DEVID, device)],
            CallingDeviceType=DeviceType.AGENT_DEVICE,
            LocalConnectionState=state,
            EventCause=cause,
            **skill,
            **head,
        )
    if step == "originated":
        return make(
            M.CALL_ORIGINATED_EVENT,
            [*conn, *parties],
            CallingDeviceType=devices["CallingDeviceType"],
            CalledDeviceType=devices["CalledDeviceType"],
            LocalConnectionState=state,
            EventCause=cause,
            **skill,
            **head,
        )
    if step == "delivered":
        return make(
            M.CALL_DELIVERED_EVENT,
            [*conn, (Tag.ALERTING_DEVID, device), *parties, *data],
            AlertingDeviceType=_device_type(call, device),
            LocalConnectionState=state,
            EventCause=cause,
            **devices,
            **skill,
            **head,
        )
    if step == "established":
        return make(
            M.CALL_ESTABLISHED_EVENT,
            [*conn, (Tag.ANSWERING_DEVID, device), *parties],
            AnsweringDeviceType=_device_type(call, device),
            LocalConnectionState=state,
            EventCause=cause,
            **devices,
            **skill,
            **head,
        )
    if step == "held":
        return make(
            M.CALL_HELD_EVENT,
            [*conn, (Tag.HOLDING_DEVID, device)],
            HoldingDeviceType=_device_type(call, device),
            LocalConnectionState=state,
            EventCause=EventCause.NONE,
            **head,
        )
    if step == "retrieved":
        return make(
            M.CALL_RETRIEVED_EVENT,
            [*conn, (Tag.RETRIEVING_DEVID, device)],
            RetrievingDeviceType=_device_type(call, device),
            LocalConnectionState=state,
            EventCause=EventCause.NONE,
            **head,
        )
    if step == "data":
        return make(
            M.CALL_DATA_UPDATE_EVENT,
            [*conn, (Tag.NEW_CONNECTION_DEVID, device), *data],
            CallType=call_type(call),
            NewConnectionDeviceIDType=0,
            NewConnectionCallID=call.call_id,
            **head,
        )
    if step == "connection_cleared":
        return make(
            M.CALL_CONNECTION_CLEARED_EVENT,
            [*conn, (Tag.RELEASING_DEVID, device)],
            ReleasingDeviceType=_device_type(call, device),
            LocalConnectionState=LocalConnectionState.NULL,
            EventCause=EventCause.NONE,
            **head,
        )
    if step == "cleared":
        return make(
            M.CALL_CLEARED_EVENT,
            conn,
            LocalConnectionState=LocalConnectionState.NULL,
            EventCause=EventCause.NONE if change.cause is None else change.cause,
            **head,
        )
    if step in ("queued", "dequeued", "failed"):
        return _queue_event(change, head, skill_groups, num_queued, cause)
    if step in ("transferred", "conferenced"):
        return merge_event(change, peripheral_id, skill["SkillGroupNumber"])
    return make(M.END_CALL_EVENT, conn, **head)


def _queue_event(
    change: CallChange, head: dict[str, int], skill_groups: Sequence[int], num_queued: int, cause: int
) -> Message:
    """CALL_QUEUED_EVENT and CALL_DEQUEUED_EVENT (ConnectionDeviceID: the queue), CALL_FAILED_EVENT
    (ConnectionDeviceID: the agent's failed connection; FailingDeviceID: the number dialled)."""
    call, device = change.call, change.connection_device
    conn = [(Tag.CONNECTION_DEVID, device)]
    state = LocalConnectionState.NULL if change.state is None else change.state
    if change.step == "failed":
        failing = call.dnis[:63]
        failing_type = DeviceType.AGENT_DEVICE if call.kind == "internal" else DeviceType.EXTERNAL
        return make(
            M.CALL_FAILED_EVENT,
            [*conn, (Tag.FAILING_DEVID, failing), (Tag.CALLED_DEVID, failing)],
            FailingDeviceType=failing_type,
            CalledDeviceType=failing_type,
            LocalConnectionState=state,
            EventCause=cause,
            **head,
        )
    skills: list[tuple[int, Any]] = []
    for sg in skill_groups:
        skills += [(Tag.SKILL_GROUP_NUMBER, sg), (Tag.SKILL_GROUP_ID, sg), (Tag.SKILL_GROUP_PRIORITY, 0)]
    common = {"ServiceNumber": NULL_ID, "ServiceID": NULL_ID, "QueueDeviceType": DeviceType.QUEUE}
    counts = {"NumQueued": num_queued, "NumSkillGroups": len(skill_groups)}
    if change.step == "dequeued":
        return make(
            M.CALL_DEQUEUED_EVENT,
            [*conn, *skills],
            LocalConnectionState=state,
            EventCause=EventCause.NONE,
            **common,
            **counts,
            **head,
        )
    calling = call.ani[:63] or "unknown"
    return make(
        M.CALL_QUEUED_EVENT,
        [*conn, (Tag.QUEUE_DEVID, device), (Tag.CALLING_DEVID, calling), (Tag.CALLED_DEVID, device), *skills],
        CallingDeviceType=DeviceType.DEVICE_IDENTIFIER,
        CalledDeviceType=DeviceType.QUEUE,
        LastRedirectDeviceType=NONE_16,
        LocalConnectionState=state,
        EventCause=cause,
        **common,
        **counts,
        **head,
    )


def merge_event(change: CallChange, peripheral_id: int, skill_group: int) -> Message:
    """CALL_TRANSFERRED_EVENT / CALL_CONFERENCED_EVENT: the primary call (the held call that
    survives) and the secondary one merged into it, the transferring / controlling device and the
    transferred-to / added party, then every party of the primary call (CCX's example of a
    conferenced call lists each connected party as ConnectedPartyCallID / DeviceType / DeviceID)."""
    call, device = change.call, change.connection_device
    transfer = change.step == "transferred"
    parties = call.live
    floating: list[tuple[int, Any]] = [
        (Tag.PRIMARY_DEVID, device),
        (Tag.SECONDARY_DEVID, device),
        (Tag.TRANSFERRING_DEVID if transfer else Tag.CONTROLLER_DEVID, device),
        (Tag.TRANSFERRED_DEVID if transfer else Tag.ADDED_PARTY_DEVID, change.party),
    ]
    for conn in parties:
        floating += [
            (Tag.PARTY_CALLID, call.call_id),
            (Tag.PARTY_DEVID_TYPE, 0),
            (Tag.PARTY_DEVID, conn.device),
        ]
    kinds = {
        "TransferringDeviceType" if transfer else "ControllerDeviceType": _device_type(call, device),
        "TransferredDeviceType" if transfer else "AddedPartyDeviceType": _device_type(call, change.party),
    }
    return make(
        M.CALL_TRANSFERRED_EVENT if transfer else M.CALL_CONFERENCED_EVENT,
        floating,
        PeripheralID=peripheral_id,
        PeripheralType=PT_ENTERPRISE_AGENT,
        PrimaryDeviceIDType=0,
        PrimaryCallID=call.call_id,
        LineHandle=NONE_16,
        LineType=LineType.INSIDE,
        SkillGroupNumber=skill_group,
        SkillGroupID=skill_group,
        NumParties=len(parties),
        SecondaryDeviceIDType=0,
        SecondaryCallID=change.secondary if change.secondary is not None else NULL_ID,
        LocalConnectionState=LocalConnectionState.NULL if change.state is None else change.state,
        EventCause=EventCause.TRANSFER if transfer else EventCause.NONE,
        **kinds,
    )


_FIXED_DATA = ("callVariable", WRAPUP_DATA)


def call_data_of(msg: Message) -> dict[str, str]:
    """The call data a SET_CALL_DATA_REQ sets: callVariableN, the wrap-up data, ECC variables."""
    data: dict[str, str] = {}
    for i in range(10):
        value = msg.get_str(Tag.CALL_VAR_1 + i)
        if value is not None:
            data[f"callVariable{i + 1}"] = value
    wrapup = msg.get_str(Tag.CALL_WRAPUP_DATA)
    if wrapup is not None:
        data[WRAPUP_DATA] = wrapup
    for raw in msg.get_all(Tag.NAMED_VARIABLE):
        pair = parse_named_variable(raw) if isinstance(raw, bytes) else None
        if pair is not None:
            data[pair[0]] = pair[1]
    return data
