"""Write the seed corpora under ``fuzz/corpus/`` from real traffic (rerun after a wire-format change).

GED-188 seeds are what the sans-IO CTI Server core really exchanges with a Finesse-like client at
protocol versions 24 and 19 (two-byte and one-byte tags): the first frame of each type either side
sent, and the whole conversation in each direction, prefixed with the harness's version and chunk
bytes. REST seeds are the documented request bodies the desktops and IP phones send.

Usage: ``python fuzz/make_seeds.py`` (replaces the files it owns, keeps nothing else).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from cti_stub.core import CoreConfig, CtiServerCore, Send
from cti_stub.model import PeripheralModel
from emu_base.directory import generate
from ged188 import (
    MIN_SUPPORTED_VERSION,
    AgentState,
    Message,
    MessageType,
    Service,
    Tag,
    encode,
    make,
)

M = MessageType
CORPUS = Path(__file__).resolve().parent / "corpus"
FINESSE_SERVICES = Service.ALL_EVENTS | Service.CLIENT_CONTROL | Service.CALL_DATA_UPDATE


def client_requests(version: int) -> list[Message]:
    """A Finesse-like session: open, sign in, ready, query, not ready with a reason, heartbeat, close."""
    return [
        make(
            M.OPEN_REQ,
            [(Tag.CLIENT_ID, "Finesse"), (Tag.CLIENT_PASSWORD, b"")],
            InvokeID=1,
            VersionNumber=version,
            IdleTimeout=20,
            PeripheralID=0xFFFFFFFF,
            ServicesRequested=FINESSE_SERVICES,
            CallMsgMask=0xFFFFFFFF,
            AgentStateMask=0x3FFF,
        ),
        make(
            M.SET_AGENT_STATE_REQ,
            [(Tag.AGENT_INSTRUMENT, "2000"), (Tag.AGENT_ID, "1000"), (Tag.AGENT_PASSWORD, b"pass1000")],
            InvokeID=2,
            AgentState=AgentState.LOGIN,
        ),
        make(M.SET_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1000")], InvokeID=3, AgentState=AgentState.AVAILABLE),
        make(M.QUERY_AGENT_STATE_REQ, [(Tag.AGENT_ID, "1000")], InvokeID=4, MRDID=1, ICMAgentID=-1),
        make(
            M.SET_AGENT_STATE_REQ,
            [(Tag.AGENT_ID, "1000")],
            InvokeID=5,
            AgentState=AgentState.NOT_READY,
            EventReasonCode=12,
        ),
        make(M.HEARTBEAT_REQ, InvokeID=6),
        make(M.CLOSE_REQ, InvokeID=7),
    ]


def conversation(version: int) -> tuple[list[bytes], list[bytes]]:
    """Request frames the client sent and the batches the server sent back, a call in between."""
    core = CtiServerCore(PeripheralModel(generate(5)), CoreConfig(idle_scan_interval=0.0))
    core.become_active(0.0, "seeds", takeover=False)
    core.outputs()
    now = 1000.0
    sid = core.open_session(now, "seeds")
    sent: list[bytes] = []
    received: list[bytes] = []

    def collect() -> None:
        received.extend(o.data for o in core.outputs() if isinstance(o, Send) and o.sid == sid)

    for i, msg in enumerate(client_requests(version)):
        frame = encode(msg, version)
        sent.append(frame)
        core.data_received(now, sid, frame)
        collect()
        if i == 2:  # READY: a call arrives, is answered and ends, with call variables and ANI
            call = core.inject_call(
                now, "1000", ani="5551234", dnis="8000", variables={"callVariable1": "account 42"}
            )
            core.answer_call(now + 2, call)
            core.update_call_data(now + 3, call, {"callVariable2": "Zoë"})
            core.end_call(now + 30, call)
            collect()
        now += 1.0
    return sent, received


def write(directory: Path, name: str, data: bytes) -> None:
    digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()[:8]
    (directory / f"{name}-{digest}").write_bytes(data)


def ged188_seeds(directory: Path) -> None:
    for version in (24, 19):
        prefix = bytes([version - MIN_SUPPORTED_VERSION, 63])  # version byte, chunks of 64 bytes
        sent, received = conversation(version)
        for side, frames in (("client", sent), ("server", received)):
            seen: set[int] = set()
            for frame in frames:  # the first frame of each type
                mtype = int.from_bytes(frame[4:8], "big")
                if mtype not in seen:
                    seen.add(mtype)
                    write(directory, f"v{version}-{side}-{MessageType.name_of(mtype)}", prefix + frame)
        write(directory, f"v{version}-client-stream", prefix + b"".join(sent))
        write(directory, f"v{version}-server-stream", prefix + b"".join(received))


REST_BODIES: dict[str, str] = {
    "user-login": "<User><state>LOGIN</state><extension>2000</extension></User>",
    "user-ready": "<User><state>READY</state></User>",
    "user-not-ready-reason": "<User><state>NOT_READY</state><reasonCodeId>12</reasonCodeId></User>",
    "user-logout-all-media": (
        "<User><state>LOGOUT</state><reasonCodeId>255</reasonCodeId><logoutAllMedia>true</logoutAllMedia></User>"
    ),
    "user-mobile-agent": (
        '<?xml version="1.0" encoding="UTF-8"?><User><state>LOGIN</state><extension>2000</extension>'
        "<mobileAgent><mode>CALL_BY_CALL</mode><dialNumber>5551234</dialNumber></mobileAgent></User>"
    ),
    "media-sign-in": (
        "<Media><state>LOGIN</state><maxDialogLimit>3</maxDialogLimit>"
        "<interruptAction>ACCEPT</interruptAction><dialogLogoutAction>CLOSE</dialogLogoutAction></Media>"
    ),
    "media-routable": "<Media><routable>false</routable></Media>",
    "media-active": "<Media><state>ACTIVE</state></Media>",
    "dialog-make-call": (
        "<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>2000</fromAddress>"
        "<toAddress>5551234</toAddress></Dialog>"
    ),
    "dialog-answer": (
        "<Dialog><targetMediaAddress>2000</targetMediaAddress><requestedAction>ANSWER</requestedAction></Dialog>"
    ),
    "dialog-send-dtmf": (
        "<Dialog><requestedAction>SEND_DTMF</requestedAction><targetMediaAddress>2000</targetMediaAddress>"
        "<actionParams><ActionParam><name>dtmfString</name><value>12#</value></ActionParam></actionParams>"
        "</Dialog>"
    ),
    "dialog-update-call-data": (
        "<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction><mediaProperties>"
        "<wrapUpReason>Sale &amp; refund</wrapUpReason><callvariables>"
        "<CallVariable><name>callVariable1</name><value> Zoë </value></CallVariable>"
        "<CallVariable><name>user.account</name><value>42</value></CallVariable>"
        "</callvariables></mediaProperties></Dialog>"
    ),
}


def rest_seeds(directory: Path) -> None:
    for name, body in REST_BODIES.items():
        write(directory, name, body.encode("utf-8"))


def main() -> None:
    for name, build in (("ged188_decoder", ged188_seeds), ("rest_xml", rest_seeds)):
        directory = CORPUS / name
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        build(directory)
        print(f"{directory}: {len(list(directory.iterdir()))} seeds")


if __name__ == "__main__":
    main()
