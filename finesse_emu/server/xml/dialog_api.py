"""Dialog(s): ``GET /finesse/api/Dialog/{id}`` and ``/User/{id}/Dialogs``, the dialog ``Update``s, and
the call-control body of PUT Dialog and POST User/{id}/Dialogs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from finesse_emu.server.xml.common import API, document, format_time, serialize, sub
from finesse_emu.server.xml.errors import XmlInputError, invalid_input, parameter_missing
from finesse_emu.server.xml.parse import address, children, leaf, required, safe_parse


@dataclass(frozen=True)
class CallVariable:
    name: str
    value: str


@dataclass(frozen=True)
class ActionParam:
    name: str
    value: str


@dataclass(frozen=True)
class MediaPropertiesView:
    dialed_number: str = ""
    call_type: str = ""
    dnis: str = ""
    call_variables: tuple[CallVariable, ...] = ()
    # Rendered only when set:
    outbound_classification: str | None = None
    queue_number: str | None = None
    queue_name: str | None = None
    call_key_call_id: str | None = None
    call_key_sequence_num: str | None = None
    call_key_prefix: str | None = None
    wrap_up_reason: str | None = None


@dataclass(frozen=True)
class ParticipantView:
    media_address: str
    state: str
    actions: tuple[str, ...] = ()
    media_address_type: str = ""
    start_time: float | None = None
    state_cause: str = ""
    state_change_time: float | None = None


@dataclass(frozen=True)
class DialogView:
    id: str
    state: str
    from_address: str
    to_address: str
    participants: tuple[ParticipantView, ...] = ()
    media_properties: MediaPropertiesView = field(default_factory=MediaPropertiesView)
    media_type: str = "Voice"
    associated_dialog_uri: str = ""
    secondary_id: str | None = None

    @property
    def uri(self) -> str:
        return f"{API}/Dialog/{self.id}"


def _media_properties(parent: ET.Element, mp: MediaPropertiesView, alphabetical: bool) -> None:
    el = ET.SubElement(parent, "mediaProperties")
    optional = {
        "outboundClassification": mp.outbound_classification,
        "queueNumber": mp.queue_number,
        "queueName": mp.queue_name,
        "callKeyCallId": mp.call_key_call_id,
        "callKeySequenceNum": mp.call_key_sequence_num,
        "callKeyPrefix": mp.call_key_prefix,
        "wrapUpReason": mp.wrap_up_reason,
    }
    values: dict[str, str] = {"dialedNumber": mp.dialed_number, "callType": mp.call_type, "DNIS": mp.dnis}
    values.update({k: v for k, v in optional.items() if v is not None})
    if alphabetical:
        # The capture sorts by name in code-point order (DNIS first) and puts callvariables last.
        names: Iterable[str] = sorted(values)
    else:
        names = [n for n in _MP_DOC_ORDER if n in values]
    for name in names:
        sub(el, name, values[name])
    cvs = ET.SubElement(el, "callvariables")
    for cv in mp.call_variables:
        cv_el = ET.SubElement(cvs, "CallVariable")
        sub(cv_el, "name", cv.name)
        sub(cv_el, "value", cv.value)


_MP_DOC_ORDER = (
    "dialedNumber",
    "callType",
    "DNIS",
    "outboundClassification",
    "queueNumber",
    "queueName",
    "callKeyCallId",
    "callKeySequenceNum",
    "callKeyPrefix",
    "wrapUpReason",
)


def _participants(parent: ET.Element, participants: Iterable[ParticipantView]) -> None:
    el = ET.SubElement(parent, "participants")
    for p in participants:
        p_el = ET.SubElement(el, "Participant")
        actions = ET.SubElement(p_el, "actions")
        for a in p.actions:
            sub(actions, "action", a)
        sub(p_el, "mediaAddress", p.media_address)
        sub(p_el, "mediaAddressType", p.media_address_type)
        sub(p_el, "startTime", format_time(p.start_time))
        sub(p_el, "state", p.state)
        sub(p_el, "stateCause", p.state_cause)
        sub(p_el, "stateChangeTime", format_time(p.state_change_time))


def _dialog_get_element(v: DialogView, root: str) -> ET.Element:
    """The documented order (DEV ``dialog``)."""
    el = ET.Element(root)
    sub(el, "associatedDialogUri", v.associated_dialog_uri)
    sub(el, "id", v.id)
    if v.secondary_id is not None:
        sub(el, "secondaryId", v.secondary_id)
    sub(el, "mediaType", v.media_type)
    sub(el, "fromAddress", v.from_address)
    sub(el, "toAddress", v.to_address)
    _media_properties(el, v.media_properties, alphabetical=False)
    _participants(el, v.participants)
    sub(el, "state", v.state)
    sub(el, "uri", v.uri)
    return el


def _dialog_event_element(v: DialogView, root: str) -> ET.Element:
    """The 11.x capture's alphabetical order."""
    el = ET.Element(root)
    sub(el, "associatedDialogUri", v.associated_dialog_uri)
    sub(el, "fromAddress", v.from_address)
    sub(el, "id", v.id)
    _media_properties(el, v.media_properties, alphabetical=True)
    sub(el, "mediaType", v.media_type)
    _participants(el, v.participants)
    if v.secondary_id is not None:
        sub(el, "secondaryId", v.secondary_id)
    sub(el, "state", v.state)
    sub(el, "toAddress", v.to_address)
    sub(el, "uri", v.uri)
    return el


def dialog(view: DialogView) -> bytes:
    """``GET /finesse/api/Dialog/{id}``."""
    return document(_dialog_get_element(view, "Dialog"))


def dialogs(views: Iterable[DialogView]) -> bytes:
    """``GET /finesse/api/User/{id}/Dialogs`` (``<Dialogs></Dialogs>`` when idle)."""
    root = ET.Element("Dialogs")
    for v in views:
        root.append(_dialog_get_element(v, "Dialog"))
    return document(root)


def dialogs_event(views: Iterable[DialogView]) -> str:
    """Data of a dialog added/removed ``Update`` (event POST/DELETE): ``<dialogs><Dialog>...``."""
    root = ET.Element("dialogs")
    for v in views:
        root.append(_dialog_event_element(v, "Dialog"))
    return serialize(root)


def dialog_event(view: DialogView) -> str:
    """Data of a dialog modified ``Update`` (event PUT, source /finesse/api/Dialog/{id}): ``<dialog>``."""
    return serialize(_dialog_event_element(view, "dialog"))


# --- PUT /finesse/api/Dialog/{id} and POST /finesse/api/User/{id}/Dialogs ---------------------------


class DialogActionName(StrEnum):
    MAKE_CALL = "MAKE_CALL"
    ANSWER = "ANSWER"
    HOLD = "HOLD"
    RETRIEVE = "RETRIEVE"
    DROP = "DROP"
    CONSULT_CALL = "CONSULT_CALL"
    TRANSFER = "TRANSFER"
    TRANSFER_SST = "TRANSFER_SST"
    CONFERENCE = "CONFERENCE"
    PARTICIPANT_DROP = "PARTICIPANT_DROP"
    SEND_DTMF = "SEND_DTMF"
    START_RECORDING = "START_RECORDING"
    UPDATE_CALL_DATA = "UPDATE_CALL_DATA"
    SILENT_MONITOR = "SILENT_MONITOR"
    BARGE_CALL = "BARGE_CALL"
    ACCEPT = "ACCEPT"
    CLOSE = "CLOSE"
    REJECT = "REJECT"
    RECLASSIFY = "RECLASSIFY"


# Actions on a participant of an existing dialog: targetMediaAddress names the participant.
NEEDS_TARGET = frozenset(
    {
        DialogActionName.ANSWER,
        DialogActionName.HOLD,
        DialogActionName.RETRIEVE,
        DialogActionName.DROP,
        DialogActionName.CONSULT_CALL,
        DialogActionName.TRANSFER,
        DialogActionName.TRANSFER_SST,
        DialogActionName.CONFERENCE,
        DialogActionName.PARTICIPANT_DROP,
        DialogActionName.SEND_DTMF,
        DialogActionName.START_RECORDING,
    }
)
NEEDS_TO = frozenset(
    {DialogActionName.MAKE_CALL, DialogActionName.CONSULT_CALL, DialogActionName.TRANSFER_SST}
)
# Supervisor actions, POST User/{id}/Dialogs (Dialog—Make a Silent Monitor Call, Dialog—Make a
# Barge Call): "fromAddress (required): The extension of the supervisor", "toAddress (required): The
# extension of the agent"; BARGE_CALL also "associatedDialogUri (required): The relative URI of the
# silent monitor dialog on which the supervisor wants to barge in".
SUPERVISOR_POSTS = frozenset({DialogActionName.SILENT_MONITOR, DialogActionName.BARGE_CALL})


@dataclass(frozen=True)
class DialogAction:
    requested_action: DialogActionName
    target_media_address: str | None = None
    from_address: str | None = None
    to_address: str | None = None
    call_variables: tuple[CallVariable, ...] | None = None  # None: no mediaProperties/callvariables
    wrap_up_reason: str | None = None
    action_params: tuple[ActionParam, ...] = ()
    associated_dialog_uri: str | None = None  # BARGE_CALL: the supervisor's silent monitor dialog

    def param(self, name: str) -> str | None:
        for p in self.action_params:
            if p.name == name:
                return p.value
        return None


def _pairs(container: ET.Element | None, item_tag: str, what: str) -> list[tuple[str, str]]:
    """``<X><Item><name/><value/></Item>...</X>`` as (name, value) pairs; values keep whitespace."""
    out: list[tuple[str, str]] = []
    if container is None:
        return out
    for item in container:
        if item.tag != item_tag:
            continue
        f = children(item, ("name", "value"))
        name = leaf(f, "name")
        if name is None:
            raise XmlInputError(parameter_missing("name", f"{what} name missing"))
        out.append((name, leaf(f, "value", strip=False) or ""))
    return out


def parse_dialog_action(body: bytes) -> DialogAction:
    """A PUT Dialog (call control) or POST User/{id}/Dialogs (MAKE_CALL) body: ``<Dialog>...``."""
    root = safe_parse(body, "Dialog")
    f = children(
        root,
        (
            "requestedAction",
            "targetMediaAddress",
            "fromAddress",
            "toAddress",
            "mediaProperties",
            "actionParams",
            "associatedDialogUri",
        ),
    )
    raw_action = required(f, "requestedAction")
    if raw_action not in DialogActionName.__members__:
        raise XmlInputError(invalid_input("requestedAction", "Invalid requestedAction specified for dialog"))
    action = DialogActionName(raw_action)
    target = address("targetMediaAddress", leaf(f, "targetMediaAddress"))
    from_address = address("fromAddress", leaf(f, "fromAddress"))
    to_address = address("toAddress", leaf(f, "toAddress"))

    call_variables: tuple[CallVariable, ...] | None = None
    wrap_up_reason: str | None = None
    mp = f.get("mediaProperties")
    if mp is not None:
        mpf = children(mp, ("callvariables", "wrapUpReason"))
        if "callvariables" in mpf:
            pairs = _pairs(mpf["callvariables"], "CallVariable", "CallVariable")
            call_variables = tuple(CallVariable(n, v) for n, v in pairs)
        wrap_up_reason = leaf(mpf, "wrapUpReason", strip=False)
    params = tuple(ActionParam(n, v) for n, v in _pairs(f.get("actionParams"), "ActionParam", "ActionParam"))

    associated = leaf(f, "associatedDialogUri")
    if action in (DialogActionName.MAKE_CALL, *SUPERVISOR_POSTS) and from_address is None:
        raise XmlInputError(parameter_missing("fromAddress"))
    if (action in NEEDS_TO or action in SUPERVISOR_POSTS) and to_address is None:
        raise XmlInputError(parameter_missing("toAddress"))
    if action is DialogActionName.BARGE_CALL and not associated:
        raise XmlInputError(parameter_missing("associatedDialogUri"))
    if action in NEEDS_TARGET and target is None:
        raise XmlInputError(parameter_missing("targetMediaAddress"))
    if action is DialogActionName.SEND_DTMF and not any(p.name == "dtmfString" and p.value for p in params):
        raise XmlInputError(parameter_missing("dtmfString"))
    if action is DialogActionName.UPDATE_CALL_DATA and mp is None:
        raise XmlInputError(parameter_missing("mediaProperties"))
    return DialogAction(
        requested_action=action,
        target_media_address=target,
        from_address=from_address,
        to_address=to_address,
        call_variables=call_variables,
        wrap_up_reason=wrap_up_reason,
        action_params=params,
        associated_dialog_uri=associated,
    )
