"""finesse_emu.server.xml: golden shapes against the reference samples, escaping, hostile and
valid bodies.

Expected documents are the samples of Cisco's Finesse Web Services Developer Guide and captures of
real servers (values as there, or the placeholder values of the captures). Our own output is
trusted, so it is parsed back with the stdlib; request bodies only ever go through the module's
defused parsers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finesse_emu.server import xml as X
from finesse_emu.server.xml.devices_api import devices, phone_of
from finesse_emu.xmpp.envelope import update_document

DECL = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'

Shape = tuple[str, dict[str, str], str, tuple[Any, ...]]


def shape(el: ET.Element) -> Shape:
    """(tag, attributes, text of a leaf, children): element names, order and values, no whitespace."""
    children = tuple(shape(c) for c in el)
    text = "" if children else (el.text or "").strip()
    return (el.tag, dict(el.attrib), text, children)


def parse_ours(doc: bytes | str) -> ET.Element:
    return ET.fromstring(doc)  # our own output, never a request body


def rest(doc: bytes) -> ET.Element:
    assert doc.startswith(DECL), doc[:80]
    return parse_ours(doc)


def names(el: ET.Element) -> list[str]:
    return [c.tag for c in el]


# Times of the samples as epoch seconds.
T_2024 = 1714894447.188  # 2024-05-05T07:34:07.188Z
T_2012 = 1330624701.234  # 2012-03-01T17:58:21.234Z


def test_format_time() -> None:
    assert X.format_time(T_2024) == "2024-05-05T07:34:07.188Z"
    assert X.format_time(0) == "1970-01-01T00:00:00.000Z"
    assert X.format_time(0.9996) == "1970-01-01T00:00:01.000Z"
    assert X.format_time(1330624701.0004) == "2012-03-01T17:58:21.000Z"
    assert X.format_time(None) == ""
    assert X.epoch_ms(1714894445.266) == 1714894445266


# --------------------------------------------------------------------------------------------------
# Golden shapes


SYSTEM_INFO_SAMPLE = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<SystemInfo>
  <currentTimestamp>2024-05-05T07:34:07.188Z</currentTimestamp>
  <deploymentType>UCCE</deploymentType>
  <lastCTIHeartbeatStatus>success</lastCTIHeartbeatStatus>
  <lastSuccessCTIHeartbeatTime>1714894445266</lastSuccessCTIHeartbeatTime>
  <ctiVersion>24</ctiVersion>
  <ctiHeartbeatInterval>5</ctiHeartbeatInterval>
  <ctiMMode></ctiMMode>
  <ctiTimeInMMode>-1</ctiTimeInMMode>
  <finesseMMode></finesseMMode>
  <finesseTimeInMMode>-1</finesseTimeInMMode>
  <license></license>
  <peripheralId>5000</peripheralId>
  <primaryNode>
    <host>finesse-a.example.com</host>
    <httpsPort>8445</httpsPort>
    <xmppPort>5222</xmppPort>
    <xmppSecurePort>5223</xmppSecurePort>
  </primaryNode>
  <secondaryNode>
    <host>finesse-b.example.com</host>
    <httpsPort>8445</httpsPort>
    <xmppPort>5222</xmppPort>
    <xmppSecurePort>5223</xmppSecurePort>
  </secondaryNode>
  <status>IN_SERVICE</status>
  <statusReason></statusReason>
  <systemAuthMode>NON_SSO</systemAuthMode>
  <timezoneOffset>330</timezoneOffset>
  <uri>/finesse/api/SystemInfo</uri>
  <xmppDomain>finesse-a.example.com</xmppDomain>
  <xmppPubSubDomain>pubsub.finesse-a.example.com</xmppPubSubDomain>
  <ctiServers>
    <ctiServer><host>cg-a.example.com</host><connectedDuration>3600</connectedDuration><active>true</active></ctiServer>
    <ctiServer><host>cg-b.example.com</host><connectedDuration>0</connectedDuration><active>false</active></ctiServer>
  </ctiServers>
</SystemInfo>"""

SYSTEM_INFO_VIEW = X.SystemInfoView(
    current_timestamp=T_2024,
    status="IN_SERVICE",
    xmpp_domain="finesse-a.example.com",
    primary_node=X.NodeView("finesse-a.example.com"),
    secondary_node=X.NodeView("finesse-b.example.com"),
    last_success_cti_heartbeat_time=1714894445.266,
    timezone_offset=330,
    cti_servers=(
        X.CtiServerView("cg-a.example.com", 3600, True),
        X.CtiServerView("cg-b.example.com", 0, False),
    ),
)


def test_system_info_matches_sample() -> None:
    out = X.system_info(SYSTEM_INFO_VIEW)
    assert shape(rest(out)) == shape(ET.fromstring(SYSTEM_INFO_SAMPLE.encode()))


def test_system_info_single_node_failure_and_event_form() -> None:
    view = X.SystemInfoView(
        current_timestamp=T_2024,
        status="OUT_OF_SERVICE",
        xmpp_domain="finesse-a.example.com",
        primary_node=X.NodeView("finesse-a.example.com"),
        last_cti_heartbeat_ok=False,
    )
    doc = rest(X.system_info(view))
    assert doc.find("secondaryNode") is None
    assert names(doc)[12:14] == ["primaryNode", "status"]
    assert doc.findtext("lastCTIHeartbeatStatus") == "failure"
    assert doc.findtext("lastSuccessCTIHeartbeatTime") == "0"
    assert doc.findtext("status") == "OUT_OF_SERVICE"
    assert doc.findtext("ctiServers") == ""
    event = X.system_info_event(view)
    assert not event.startswith("<?xml")
    ev = parse_ours(event)
    assert ev.tag == "systemInfo"
    assert shape(ev)[1:] == shape(doc)[1:]


USER_GET_SAMPLE = """<User>
  <uri>/finesse/api/User/1001001</uri>
  <roles><role>Agent</role><role>Supervisor</role></roles>
  <loginId>1001001</loginId>
  <loginName>agent1</loginName>
  <state>NOT_READY</state>
  <stateChangeTime>2012-03-01T17:58:21.234Z</stateChangeTime>
  <mediaType>1</mediaType>
  <pendingState></pendingState>
  <reasonCodeId>16</reasonCodeId>
  <ReasonCode>
    <category>NOT_READY</category><uri>/finesse/api/ReasonCode/16</uri><code>10</code>
    <label>Team Meeting</label><forAll>true</forAll><systemCode>false</systemCode><id>16</id>
  </ReasonCode>
  <settings>
    <wrapUpOnIncoming>OPTIONAL</wrapUpOnIncoming>
    <wrapUpOnOutgoing>NOT_ALLOWED</wrapUpOnOutgoing>
    <deviceSelection>enabled</deviceSelection>
  </settings>
  <extension>1001001</extension>
  <mobileAgent><mode>CALL_BY_CALL</mode><dialNumber>4085551234</dialNumber></mobileAgent>
  <firstName>Chris</firstName>
  <lastName>Smith</lastName>
  <teamId>500</teamId>
  <teamName>Sales</teamName>
  <skillTargetId>6067</skillTargetId>
  <dialogs>/finesse/api/User/1001001/Dialogs</dialogs>
  <teams><Team><uri>/finesse/api/Team/2001</uri><id>2001</id><name>First Line Support</name></Team></teams>
  <services><service>AgentAnswers</service></services>
  <wrapUpTimer>7200</wrapUpTimer>
</User>"""

TEAM_MEETING = X.ReasonCodeView(id=16, category="NOT_READY", code=10, label="Team Meeting")

USER_GET_VIEW = X.UserView(
    login_id="1001001",
    login_name="agent1",
    state="NOT_READY",
    first_name="Chris",
    last_name="Smith",
    state_change_time=T_2012,
    extension="1001001",
    roles=("Agent", "Supervisor"),
    reason_code=TEAM_MEETING,
    wrap_up_on_incoming="OPTIONAL",
    wrap_up_on_outgoing="NOT_ALLOWED",
    device_selection="enabled",
    mobile_agent=X.MobileAgentView("CALL_BY_CALL", "4085551234"),
    team_id=500,
    team_name="Sales",
    skill_target_id=6067,
    teams=(X.TeamRef(2001, "First Line Support"),),
    services=("AgentAnswers",),
)


def test_user_get_matches_doc_shape() -> None:
    # The doc shape of section 5.1 plus wrapUpTimer (absent from the abridged doc), placed last.
    assert shape(rest(X.user(USER_GET_VIEW))) == shape(ET.fromstring(USER_GET_SAMPLE))


def test_user_get_optional_elements_absent() -> None:
    view = X.UserView(login_id="1000", login_name="agent0001", state="LOGOUT")
    doc = rest(X.user(view))
    assert names(doc) == [
        "uri",
        "roles",
        "loginId",
        "loginName",
        "state",
        "stateChangeTime",
        "mediaType",
        "pendingState",
        "reasonCodeId",
        "settings",
        "extension",
        "firstName",
        "lastName",
        "teamId",
        "teamName",
        "dialogs",
        "wrapUpTimer",
    ]
    assert doc.findtext("reasonCodeId") == "-1"
    assert names(doc.find("settings")) == ["wrapUpOnIncoming", "wrapUpOnOutgoing"]  # type: ignore[arg-type]
    assert rest(X.user(view, root="user")).tag == "user"


# The 12.5 capture (CAP125 login.xml), placeholder values.
USER_EVENT_CAPTURE = """<user>
  <dialogs>/finesse/api/User/agent1/Dialogs</dialogs>
  <extension>2830</extension>
  <firstName>First</firstName>
  <lastName>Last 21</lastName>
  <loginId>agent1</loginId>
  <loginName>agent_1</loginName>
  <mediaType>1</mediaType>
  <pendingState></pendingState>
  <reasonCodeId>-1</reasonCodeId>
  <roles>
    <role>Agent</role>
    <role>Supervisor</role>
  </roles>
  <settings>
    <wrapUpOnIncoming>OPTIONAL</wrapUpOnIncoming>
    <wrapUpOnOutgoing>OPTIONAL</wrapUpOnOutgoing>
  </settings>
  <state>NOT_READY</state>
  <stateChangeTime>2023-01-13T11:07:11.466Z</stateChangeTime>
  <teamId>5005</teamId>
  <teamName>Team A</teamName>
  <teams>
    <Team>
      <id>5005</id>
      <name>Team A</name>
      <uri>/finesse/api/Team/5005</uri>
    </Team>
  </teams>
  <uri>/finesse/api/User/agent1</uri>
  <wrapUpTimer>7200</wrapUpTimer>
</user>"""

USER_EVENT_VIEW = X.UserView(
    login_id="agent1",
    login_name="agent_1",
    state="NOT_READY",
    first_name="First",
    last_name="Last 21",
    state_change_time=1673608031.466,
    extension="2830",
    roles=("Agent", "Supervisor"),
    wrap_up_on_incoming="OPTIONAL",
    wrap_up_on_outgoing="OPTIONAL",
    team_id=5005,
    team_name="Team A",
    teams=(X.TeamRef(5005, "Team A"),),
    # GET-only fields must not leak into the event form:
    device_selection="enabled",
    skill_target_id=6067,
    services=("AgentAnswers",),
)


def test_user_event_matches_capture() -> None:
    event = X.user_event(USER_EVENT_VIEW)
    assert not event.startswith("<?xml")
    assert shape(parse_ours(event)) == shape(ET.fromstring(USER_EVENT_CAPTURE))


def test_user_event_with_reason_code_sorts_it_before_reason_code_id() -> None:
    view = X.UserView(login_id="1001", login_name="a", state="NOT_READY", reason_code=TEAM_MEETING)
    ev = parse_ours(X.user_event(view))
    order = names(ev)
    assert order.index("pendingState") + 1 == order.index("ReasonCode")
    assert order.index("ReasonCode") + 1 == order.index("reasonCodeId")
    assert ev.findtext("reasonCodeId") == "16"
    rc = ev.find("ReasonCode")
    assert rc is not None
    assert [(c.tag, c.text) for c in rc] == [
        ("category", "NOT_READY"),
        ("code", "10"),
        ("forAll", "true"),
        ("id", "16"),
        ("label", "Team Meeting"),
        ("systemCode", "false"),
        ("uri", "/finesse/api/ReasonCode/16"),
    ]
    assert "teams" not in order  # only supervisors' documents list teams


def test_user_event_fits_the_update_envelope() -> None:
    text = update_document(X.user_event(USER_EVENT_VIEW), "PUT", "req-1", "/finesse/api/User/agent1")
    update = parse_ours(text)
    assert names(update) == ["data", "event", "requestId", "source"]
    assert update.findtext("requestId") == "req-1"
    data_user = update.find("data/user")
    assert data_user is not None
    assert shape(data_user) == shape(ET.fromstring(USER_EVENT_CAPTURE))


def test_users_list() -> None:
    doc = rest(X.users([USER_GET_VIEW, USER_EVENT_VIEW]))
    assert doc.tag == "Users"
    assert [u.findtext("loginId") for u in doc] == ["1001001", "agent1"]


MEDIA_SAMPLE = """<Media>
  <uri>/finesse/api/User/1001004/Media/5000</uri>
  <description>Chat MRD</description>
  <dialogLogoutAction>CLOSE</dialogLogoutAction>
  <id>5000</id>
  <interruptible>true</interruptible>
  <maxDialogLimit>10</maxDialogLimit>
  <name>Cisco_Chat_MRD</name>
  <ReasonCode><category>NOT_READY</category><code>10</code><forAll>true</forAll><id>16</id>
    <label>Team Meeting</label><uri>/finesse/api/ReasonCode/16</uri></ReasonCode>
  <reasonCodeId>16</reasonCodeId>
  <routable>true</routable>
  <state>NOT_READY</state>
  <stateChangeTime>2015-09-11T06:55:14.782Z</stateChangeTime>
  <interruptAction>IGNORE</interruptAction>
</Media>"""

MEDIA_VIEW = X.MediaView(
    user_id="1001004",
    mrd_id=5000,
    name="Cisco_Chat_MRD",
    description="Chat MRD",
    state="NOT_READY",
    state_change_time=1441954514.782,
    routable=True,
    reason_code=TEAM_MEETING,
    max_dialog_limit=10,
)


def test_media_matches_sample() -> None:
    assert shape(rest(X.media(MEDIA_VIEW))) == shape(ET.fromstring(MEDIA_SAMPLE))


def test_media_list_reduced_shape_and_event() -> None:
    no_skill = X.MediaView(
        user_id="1001004", mrd_id=5001, name="Email", description="Email MRD", has_skill_group=False
    )
    doc = rest(X.media_list([MEDIA_VIEW, no_skill]))
    assert doc.tag == "MediaList"
    assert [m.tag for m in doc] == ["Media", "Media"]
    assert shape(doc[0]) == shape(ET.fromstring(MEDIA_SAMPLE))
    assert [(c.tag, c.text) for c in doc[1]] == [
        ("uri", "/finesse/api/User/1001004/Media/5001"),
        ("description", "Email MRD"),
        ("id", "5001"),
        ("interruptible", "true"),
        ("name", "Email"),
    ]
    ev = parse_ours(X.media_event(MEDIA_VIEW))
    assert ev.tag == "media"
    assert shape(ev)[1:] == shape(ET.fromstring(MEDIA_SAMPLE))[1:]
    connected = rest(X.media(X.MediaView(user_id="1", mrd_id=5000, name="Chat", media_connected=True)))
    assert names(connected)[5:8] == ["maxDialogLimit", "mediaConnected", "name"]
    assert connected.findtext("reasonCodeId") == "-1"


DIALOG_SAMPLE = """<Dialog>
  <associatedDialogUri>/finesse/api/Dialog/321654</associatedDialogUri>
  <id>12345678</id>
  <secondaryId>12345679</secondaryId>
  <mediaType>Voice</mediaType>
  <fromAddress>2002</fromAddress>
  <toAddress>2000</toAddress>
  <mediaProperties>
    <dialedNumber>2000</dialedNumber><callType>AGENT_INSIDE</callType><DNIS>2000</DNIS>
    <queueNumber>5022</queueNumber><queueName>UCM_PIM.Func.Agents.SG</queueName>
    <callKeyCallId>217</callKeyCallId><callKeySequenceNum>1</callKeySequenceNum><callKeyPrefix>152018</callKeyPrefix>
    <wrapUpReason>Sales Call</wrapUpReason>
    <callvariables>
      <CallVariable><name>callVariable1</name><value>Chuck Smith</value></CallVariable>
    </callvariables>
  </mediaProperties>
  <participants>
    <Participant>
      <actions><action>HOLD</action><action>DROP</action></actions>
      <mediaAddress>2002</mediaAddress><mediaAddressType>AGENT_DEVICE</mediaAddressType>
      <startTime>2014-02-11T16:10:23.121Z</startTime>
      <state>ACTIVE</state><stateCause></stateCause>
      <stateChangeTime>2014-02-11T16:10:23.121Z</stateChangeTime>
    </Participant>
  </participants>
  <state>ACTIVE</state>
  <uri>/finesse/api/Dialog/12345678</uri>
</Dialog>"""

T_2014 = 1392135023.121

DIALOG_VIEW = X.DialogView(
    id="12345678",
    secondary_id="12345679",
    associated_dialog_uri="/finesse/api/Dialog/321654",
    state="ACTIVE",
    from_address="2002",
    to_address="2000",
    media_properties=X.MediaPropertiesView(
        dialed_number="2000",
        call_type="AGENT_INSIDE",
        dnis="2000",
        queue_number="5022",
        queue_name="UCM_PIM.Func.Agents.SG",
        call_key_call_id="217",
        call_key_sequence_num="1",
        call_key_prefix="152018",
        wrap_up_reason="Sales Call",
        call_variables=(X.CallVariable("callVariable1", "Chuck Smith"),),
    ),
    participants=(
        X.ParticipantView(
            media_address="2002",
            media_address_type="AGENT_DEVICE",
            state="ACTIVE",
            actions=("HOLD", "DROP"),
            start_time=T_2014,
            state_change_time=T_2014,
        ),
    ),
)


def test_dialog_get_matches_doc_sample() -> None:
    assert shape(rest(X.dialog(DIALOG_VIEW))) == shape(ET.fromstring(DIALOG_SAMPLE))
    listing = rest(X.dialogs([DIALOG_VIEW]))
    assert listing.tag == "Dialogs"
    assert shape(listing[0]) == shape(ET.fromstring(DIALOG_SAMPLE))
    assert X.dialogs([]) == DECL + b"<Dialogs></Dialogs>"


# The 11.x incoming-call capture (CAP11), inside <dialogs>.
T_2017 = 1507911475.401
CALL_VARIABLES = "".join(
    f"<CallVariable><name>callVariable{i}</name><value></value></CallVariable>" for i in range(1, 11)
)
DIALOGS_EVENT_CAPTURE = f"""<dialogs><Dialog>
    <associatedDialogUri></associatedDialogUri><fromAddress>335892</fromAddress><id>53149720</id>
    <mediaProperties><DNIS>215194</DNIS><callType>OTHER_IN</callType><dialedNumber>215194</dialedNumber>
      <outboundClassification></outboundClassification>
      <callvariables>{CALL_VARIABLES}</callvariables>
    </mediaProperties>
    <mediaType>Voice</mediaType>
    <participants>
      <Participant><actions><action>ANSWER</action></actions><mediaAddress>215194</mediaAddress>
        <mediaAddressType>AGENT_DEVICE</mediaAddressType><startTime>2017-10-13T16:17:55.401Z</startTime>
        <state>ALERTING</state><stateCause></stateCause><stateChangeTime>2017-10-13T16:17:55.401Z</stateChangeTime></Participant>
      <Participant><actions><action>UPDATE_CALL_DATA</action><action>DROP</action></actions><mediaAddress>335892</mediaAddress>
        <mediaAddressType></mediaAddressType><startTime>2017-10-13T16:17:55.401Z</startTime>
        <state>INITIATED</state><stateCause></stateCause><stateChangeTime>2017-10-13T16:17:55.401Z</stateChangeTime></Participant>
    </participants>
    <state>ALERTING</state><toAddress>215194</toAddress><uri>/finesse/api/Dialog/53149720</uri>
  </Dialog></dialogs>"""

INCOMING_VIEW = X.DialogView(
    id="53149720",
    state="ALERTING",
    from_address="335892",
    to_address="215194",
    media_properties=X.MediaPropertiesView(
        dialed_number="215194",
        call_type="OTHER_IN",
        dnis="215194",
        outbound_classification="",
        call_variables=tuple(X.CallVariable(f"callVariable{i}", "") for i in range(1, 11)),
    ),
    participants=(
        X.ParticipantView("215194", "ALERTING", ("ANSWER",), "AGENT_DEVICE", T_2017, "", T_2017),
        X.ParticipantView("335892", "INITIATED", ("UPDATE_CALL_DATA", "DROP"), "", T_2017, "", T_2017),
    ),
)


def test_dialogs_event_matches_capture() -> None:
    event = X.dialogs_event([INCOMING_VIEW])
    assert shape(parse_ours(event)) == shape(ET.fromstring(DIALOGS_EVENT_CAPTURE))


def test_dialog_event_put_form_is_alphabetical() -> None:
    ev = parse_ours(X.dialog_event(DIALOG_VIEW))
    assert ev.tag == "dialog"
    assert names(ev) == [
        "associatedDialogUri",
        "fromAddress",
        "id",
        "mediaProperties",
        "mediaType",
        "participants",
        "secondaryId",
        "state",
        "toAddress",
        "uri",
    ]
    mp = ev.find("mediaProperties")
    assert mp is not None
    assert names(mp) == [
        "DNIS",
        "callKeyCallId",
        "callKeyPrefix",
        "callKeySequenceNum",
        "callType",
        "dialedNumber",
        "queueName",
        "queueNumber",
        "wrapUpReason",
        "callvariables",
    ]


REASON_CODES_SAMPLE = """<ReasonCodes category="NOT_READY">
  <ReasonCode>
    <uri>/finesse/api/ReasonCode/16</uri>
    <category>NOT_READY</category>
    <code>10</code>
    <label>Team Meeting</label>
    <forAll>true</forAll>
    <systemCode>false</systemCode>
  </ReasonCode>
  <ReasonCode>
    <uri>/finesse/api/ReasonCode/17</uri>
    <category>NOT_READY</category>
    <code>12</code>
    <label>Lunch &amp; break</label>
    <forAll>false</forAll>
    <systemCode>false</systemCode>
  </ReasonCode>
</ReasonCodes>"""


def test_reason_codes_match_sample() -> None:
    lunch = X.ReasonCodeView(id=17, category="NOT_READY", code=12, label="Lunch & break", for_all=False)
    out = X.reason_codes([TEAM_MEETING, lunch], "NOT_READY")
    assert shape(rest(out)) == shape(ET.fromstring(REASON_CODES_SAMPLE))
    assert shape(rest(X.reason_code(lunch))) == shape(ET.fromstring(REASON_CODES_SAMPLE)[1])
    assert X.reason_codes([], "LOGOUT") == DECL + b'<ReasonCodes category="LOGOUT"></ReasonCodes>'


def test_wrapup_reasons() -> None:
    w = X.WrapUpReasonView(id=3, label="Sale <closed>", for_all=False)
    doc = rest(X.wrapup_reasons([w]))
    assert doc.tag == "WrapUpReasons"
    assert [(c.tag, c.text) for c in doc[0]] == [
        ("uri", "/finesse/api/WrapUpReason/3"),
        ("label", "Sale <closed>"),
        ("forAll", "false"),
    ]
    assert shape(rest(X.wrapup_reason(w))) == shape(doc[0])


TEAM_NOTIFICATION_USER = """<user>
  <uri>/finesse/api/User/1002</uri><loginId>1002</loginId>
  <firstName>Jack</firstName><lastName>Brown</lastName>
  <state>NOT_READY</state><stateChangeTime>2012-03-01T17:58:21.123Z</stateChangeTime>
  <ReasonCode><uri>/finesse/api/ReasonCode/1</uri><code>10</code><label>Team Meeting</label>
    <category>NOT_READY</category><id>1</id></ReasonCode>
</user>"""


def test_team_and_team_notification() -> None:
    rc = X.ReasonCodeView(id=1, category="NOT_READY", code=10, label="Team Meeting")
    jack = X.TeamUserView(
        login_id="1002",
        state="NOT_READY",
        first_name="Jack",
        last_name="Brown",
        extension="2002",
        state_change_time=1330624701.123,
        reason_code=rc,
    )
    ev = parse_ours(X.team_user_event(jack))
    sample = ET.fromstring(TEAM_NOTIFICATION_USER)
    assert ev.tag == "user"
    # Every element of the documented summary, in the documented relative order, same values.
    ours = [shape(c) for c in ev]
    theirs = [shape(c) for c in sample]
    assert [s for s in ours if s in theirs] == theirs
    assert names(ev) == [
        "uri",
        "loginId",
        "firstName",
        "lastName",
        "dialogs",
        "extension",
        "pendingState",
        "state",
        "stateChangeTime",
        "ReasonCode",
    ]
    ready = X.TeamUserView(login_id="1003", state="READY")
    doc = rest(X.team(X.TeamView(id=1, name="Team <1>", users=(jack, ready))))
    assert names(doc) == ["uri", "id", "name", "users"]
    assert doc.findtext("uri") == "/finesse/api/Team/1"
    assert doc.findtext("name") == "Team <1>"
    members = doc.find("users")
    assert members is not None
    assert [u.tag for u in members] == ["User", "User"]
    assert shape(members[0])[1:] == shape(ev)[1:]
    assert members[1].find("ReasonCode") is None


# --------------------------------------------------------------------------------------------------
# ApiErrors


SERVICE_UNAVAILABLE_SAMPLE = """<ApiErrors>
  <ApiError>
    <ErrorType>Service Unavailable</ErrorType>
    <ErrorData></ErrorData>
    <ErrorMessage>SERVER_OUT_OF_SERVICE</ErrorMessage>
  </ApiError>
</ApiErrors>"""

MEDIA_ERROR_SAMPLE = """<ApiErrors> <ApiError> <ErrorData>1</ErrorData> <ErrorMedia>5001</ErrorMedia>
<ErrorMessage>E_ARM_STAT_ALREADY_IN_REQUESTED_AGENT_MODE</ErrorMessage>
<ErrorType>Agent already in requested mode</ErrorType> </ApiError> </ApiErrors>"""

PARAMETER_MISSING_SAMPLE = (
    "<ApiErrors><ApiError><ErrorType>Parameter Missing</ErrorType><ErrorData>state</ErrorData>"
    "<ErrorMessage>State Parameter missing</ErrorMessage></ApiError></ApiErrors>"
)


def error_fields(body: bytes) -> dict[str, str]:
    doc = rest(body)
    assert doc.tag == "ApiErrors"
    assert len(doc) == 1 and doc[0].tag == "ApiError"
    return {c.tag: c.text or "" for c in doc[0]}


def test_service_unavailable_matches_sample() -> None:
    r = X.service_unavailable()
    assert r.status == 503
    assert shape(rest(r.body)) == shape(ET.fromstring(SERVICE_UNAVAILABLE_SAMPLE))


def test_parameter_missing_matches_sample() -> None:
    r = X.parameter_missing("state")
    assert r.status == 400
    assert shape(rest(r.body)) == shape(ET.fromstring(PARAMETER_MISSING_SAMPLE))


def test_media_error_matches_sample() -> None:
    err = X.ApiError(
        "Agent already in requested mode",
        "E_ARM_STAT_ALREADY_IN_REQUESTED_AGENT_MODE",
        "1",
        error_media="5001",
    )
    assert shape(rest(X.api_errors([err]))) == shape(ET.fromstring(MEDIA_ERROR_SAMPLE))
    with_request = X.error_response(400, "Invalid Input", "bad", "state", media="5001", request_id="r-9")
    assert error_fields(with_request.body) == {
        "ErrorData": "state",
        "ErrorMedia": "5001",
        "ErrorMessage": "bad",
        "ErrorType": "Invalid Input",
        "RequestId": "r-9",
    }


@pytest.mark.parametrize(
    ("response", "status", "fields"),
    [
        (X.unauthorized("agent1"), 401, ("Authorization Failure", "agent1", "UNAUTHORIZED")),
        (
            X.invalid_authorization_user("1001"),
            401,
            ("Invalid Authorization User Specified", "1001", "Invalid Authorization User Specified"),
        ),
        (X.not_found(X.NotFound.USER, "4023"), 404, ("User Not Found", "4023", "UNKNOWN_USER")),
        (
            X.not_found(X.NotFound.DIALOG, "999"),
            404,
            ("Dialog Not Found", "999", "Invalid dialogId specified for dialog"),
        ),
        (X.not_found(X.NotFound.OTHER, "77", "Invalid mrdId"), 404, ("Not Found", "77", "Invalid mrdId")),
        (
            X.invalid_input("state", "Invalid State specified for user"),
            400,
            ("Invalid Input", "state", "Invalid State specified for user"),
        ),
        (
            X.parameter_missing("extension"),
            400,
            ("Parameter Missing", "extension", "Extension Parameter missing"),
        ),
        (
            X.invalid_state("22", "CF_INVALID_OBJECT_STATE"),
            400,
            ("Invalid State", "22", "CF_INVALID_OBJECT_STATE"),
        ),
        (X.invalid_state("x", "y", status=401), 401, ("Invalid State", "x", "y")),
        (X.bad_request("", "Malformed XML"), 400, ("Bad Request", "", "Malformed XML")),
        (
            X.invalid_destination("1001"),
            400,
            ("Invalid Destination", "1001", "Invalid destination specified"),
        ),
        (X.not_implemented("ACCEPT"), 501, ("Not Implemented", "ACCEPT", "NOT_IMPLEMENTED")),
        (X.forbidden(), 403, ("Forbidden", "", "FORBIDDEN")),
        (X.internal_error(), 500, ("Internal Server Error", "", "RUNTIME_EXCEPTION")),
    ],
)
def test_error_helpers(response: X.ErrorResponse, status: int, fields: tuple[str, str, str]) -> None:
    assert response.status == status
    etype, data, message = fields
    doc = rest(response.body)
    assert [(c.tag, c.text or "") for c in doc[0]] == [
        ("ErrorType", etype),
        ("ErrorData", data),
        ("ErrorMessage", message),
    ]
    assert response.error == X.ApiError(etype, message, data)


# CAP125 error-invalid-line.xml and error-invalid-state.xml, the <apiErrors> part.
ASYNC_ERROR_CAPTURE = """<apiErrors>
  <apiError>
    <peripheralErrorCode>10125</peripheralErrorCode>
    <errorType>Invalid Device</errorType>
    <errorMessage>CF_INVALID_LOGON_DEVICE_SPECIFIED</errorMessage>
    <peripheralErrorText>A device target with the network target ID cannot be found.</peripheralErrorText>
    <peripheralErrorMsg>PERERR_TELDRIVE_NODEVICETARGETFORNETTARGETID</peripheralErrorMsg>
    <errorData>260</errorData>
  </apiError>
  <apiError>
    <errorType>Invalid State</errorType>
    <errorMessage>CF_INVALID_OBJECT_STATE</errorMessage>
    <errorData>22</errorData>
  </apiError>
</apiErrors>"""


def test_async_errors_match_captures() -> None:
    device = X.ApiError(
        "Invalid Device",
        "CF_INVALID_LOGON_DEVICE_SPECIFIED",
        "260",
        peripheral_error_code="10125",
        peripheral_error_text="A device target with the network target ID cannot be found.",
        peripheral_error_msg="PERERR_TELDRIVE_NODEVICETARGETFORNETTARGETID",
    )
    state = X.ApiError("Invalid State", "CF_INVALID_OBJECT_STATE", "22")
    event = X.api_errors_event([device, state])
    assert not event.startswith("<?xml")
    assert shape(parse_ours(event)) == shape(ET.fromstring(ASYNC_ERROR_CAPTURE))
    media_err = X.ApiError("Agent already logged into MRD", "E_ARM_STAT_AGENT_ALREADY_LOGGED_IN", "1", "5001")
    ev = parse_ours(X.api_errors_event([media_err]))
    assert [(c.tag, c.text) for c in ev[0]] == [
        ("errorData", "1"),
        ("errorMedia", "5001"),
        ("errorMessage", "E_ARM_STAT_AGENT_ALREADY_LOGGED_IN"),
        ("errorType", "Agent already logged into MRD"),
    ]


# --------------------------------------------------------------------------------------------------
# Escaping round trips

any_text = st.text(max_size=60)
xml_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\ufffe\uffff").filter(
        lambda c: c in "\t\n\r" or ord(c) >= 0x20
    ),
    max_size=60,
)


def test_escaping_examples() -> None:
    name = 'O\'Brien & <Sons> "Ltd" Zoë 李 🎧\r\n\ttab'
    view = X.UserView(
        login_id="1001", login_name="a", state="READY", first_name=name, last_name="\x00\x1f\ud800\uffff"
    )
    for doc in (rest(X.user(view)), parse_ours(X.user_event(view))):
        assert doc.findtext("firstName") == name
        assert doc.findtext("lastName") == "\ufffd" * 4
    raw = X.user(view)
    assert "Zoë 李 🎧".encode() in raw  # non-ASCII as UTF-8, not character references
    assert b"&lt;Sons&gt;" in raw and b"&amp;" in raw and b"&#13;" in raw


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(first=any_text, last=any_text, team_name=any_text, label=any_text, value=any_text)
def test_any_text_survives_render_and_parse(
    first: str, last: str, team_name: str, label: str, value: str
) -> None:
    rc = X.ReasonCodeView(id=1, category="NOT_READY", code=1, label=label)
    view = X.UserView(
        login_id="1001",
        login_name="a",
        state="NOT_READY",
        first_name=first,
        last_name=last,
        team_name=team_name,
        reason_code=rc,
        teams=(X.TeamRef(1, team_name),),
    )
    for doc in (rest(X.user(view)), parse_ours(X.user_event(view))):
        assert (doc.findtext("firstName") or "") == X.xml_safe(first)
        assert (doc.findtext("lastName") or "") == X.xml_safe(last)
        assert (doc.findtext("teamName") or "") == X.xml_safe(team_name)
        assert (doc.findtext("teams/Team/name") or "") == X.xml_safe(team_name)
        assert (doc.findtext("ReasonCode/label") or "") == X.xml_safe(label)
    dialog_view = X.DialogView(
        id="1",
        state="ACTIVE",
        from_address="1",
        to_address="2",
        media_properties=X.MediaPropertiesView(call_variables=(X.CallVariable("callVariable1", value),)),
    )
    dlg = rest(X.dialog(dialog_view))
    assert (dlg.findtext("mediaProperties/callvariables/CallVariable/value") or "") == X.xml_safe(value)


@settings(max_examples=150)
@given(text=xml_text)
def test_xml_text_is_unchanged(text: str) -> None:
    assert X.xml_safe(text) == text
    view = X.UserView(login_id="1001", login_name=text, state="READY")
    assert (rest(X.user(view)).findtext("loginName") or "") == text


def request_text(text: str) -> str:
    return escape(text, {"\r": "&#13;"})


@settings(max_examples=150)
@given(value=xml_text, name=xml_text.filter(lambda s: s.strip() != ""))
def test_call_variable_values_survive_a_request_body(value: str, name: str) -> None:
    body = (
        "<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction><mediaProperties><callvariables>"
        f"<CallVariable><name>{request_text(name)}</name><value>{request_text(value)}</value></CallVariable>"
        "</callvariables></mediaProperties></Dialog>"
    ).encode()
    action = X.parse_dialog_action(body)
    assert action.call_variables == (X.CallVariable(name.strip(), value),)


# --------------------------------------------------------------------------------------------------
# Hostile request bodies

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<User><state>&lol9;</state></User>"""

QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?><!DOCTYPE User [<!ENTITY a "'
    + b"x" * 20_000
    + b'">]><User><state>'
    + b"&a;" * 5_000
    + b"</state></User>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE User [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<User><state>&xxe;</state></User>"
)
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE User SYSTEM "http://127.0.0.1:9/evil.dtd"><User><state>READY</state></User>'
PARAMETER_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE User [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>'
    b"<User><state>READY</state></User>"
)
PLAIN_DTD = b"<!DOCTYPE User><User><state>READY</state></User>"
DEEP_UNTERMINATED = b"<User>" + b"<a>" * 10_000  # 30 kB: under the size cap, so the depth cap answers
DEEP_COMPLETE = b"<User>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</User>"
TEN_MB = b"<User><state>READY</state>" + b"<x>" + b"A" * (10 * 1024 * 1024) + b"</x></User>"

BAD_REQUEST_BODIES = {
    "billion laughs": (BILLION_LAUGHS, "DTD is not allowed"),
    "quadratic blowup": (QUADRATIC_BLOWUP, "DTD is not allowed"),
    "external entity": (EXTERNAL_ENTITY, "DTD is not allowed"),
    "external DTD": (EXTERNAL_DTD, "DTD is not allowed"),
    "parameter entity": (PARAMETER_ENTITY, "DTD is not allowed"),
    "plain DTD": (PLAIN_DTD, "DTD is not allowed"),
    "10,000-deep nesting": (DEEP_UNTERMINATED, f"XML nesting deeper than {X.MAX_DEPTH} levels"),
    "10 MB body": (TEN_MB, f"Request body exceeds {X.MAX_BODY_BYTES} bytes"),
    "one byte over the cap": (
        b"<User><state>READY</state></User>".ljust(X.MAX_BODY_BYTES + 1),
        "Request body exceeds 65536 bytes",
    ),
    "latin-1 bytes": (
        "<User><state>READY</state><x>Zoë</x></User>".encode("latin-1"),
        "Request body is not UTF-8",
    ),
    "utf-16": ("<User><state>READY</state></User>".encode("utf-16"), "Request body is not UTF-8"),
    "declared latin-1": (
        b'<?xml version="1.0" encoding="ISO-8859-1"?><User><state>READY</state></User>',
        "Request body is not UTF-8",
    ),
    "truncated": (b"<User><state>READY</state>", "Malformed XML"),
    "undefined entity": (b"<User><state>&nbsp;</state></User>", "Malformed XML"),
    "two roots": (b"<User><state>READY</state></User><User/>", "Malformed XML"),
    "not xml": (b"state=READY&extension=1001", "Malformed XML"),
    "nul byte": (b"<User><state>READY\x00</state></User>", "Malformed XML"),
    "empty": (b"", "Request body is empty"),
    "blank": (b" \r\n\t", "Request body is empty"),
    "wrong root": (b"<Media><state>READY</state></Media>", "Root element must be User"),
    "namespaced root": (b"<User xmlns='urn:x'><state>READY</state></User>", "Root element must be User"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUEST_BODIES))
def test_hostile_bodies_answer_bad_request(case: str) -> None:
    body, message = BAD_REQUEST_BODIES[case]
    with pytest.raises(X.XmlInputError) as info:
        X.parse_user_update(body)
    err = info.value
    assert err.status == 400
    assert err.error.error_type == "Bad Request"
    assert err.error.error_message == message
    fields = error_fields(err.body)
    assert fields["ErrorType"] == "Bad Request"
    assert fields["ErrorMessage"] == message


def test_hostile_body_error_data() -> None:
    with pytest.raises(X.XmlInputError) as info:
        X.parse_user_update(b"<Media><state>READY</state></Media>")
    assert info.value.error.error_data == "Media"
    with pytest.raises(X.XmlInputError) as info:
        X.parse_user_update(b"<" + b"R" * 5000 + b"/>")
    assert info.value.error.error_data == "R" * 64
    with pytest.raises(X.XmlInputError) as info:
        X.parse_user_update(b'<?xml version="1.0" encoding="EBCDIC-CP-US"?><User/>')
    assert info.value.error.error_data == "EBCDIC-CP-US"


def test_deep_nesting_within_a_larger_cap_and_at_the_limit() -> None:
    with pytest.raises(X.XmlInputError) as info:
        X.safe_parse(DEEP_COMPLETE, max_bytes=len(DEEP_COMPLETE))
    assert info.value.error.error_message == f"XML nesting deeper than {X.MAX_DEPTH} levels"
    at_limit = b"<User>" + b"<a>" * (X.MAX_DEPTH - 1) + b"</a>" * (X.MAX_DEPTH - 1) + b"</User>"
    assert X.safe_parse(at_limit, "User").tag == "User"
    one_more = b"<User>" + b"<a>" * X.MAX_DEPTH + b"</a>" * X.MAX_DEPTH + b"</User>"
    with pytest.raises(X.XmlInputError):
        X.safe_parse(one_more, "User")


def test_xinclude_is_not_processed() -> None:
    body = (
        b'<User xmlns:xi="http://www.w3.org/2001/XInclude"><state>READY</state>'
        b'<xi:include href="file:///etc/passwd" parse="text"/></User>'
    )
    assert X.parse_user_update(body) == X.UserUpdate(state=X.UserState.READY)


def test_utf8_bom_and_declaration_accepted() -> None:
    for body in (
        b"\xef\xbb\xbf<User><state>READY</state></User>",
        b'<?xml version="1.0" encoding="UTF-8"?><User><state>READY</state></User>',
        b"<?xml version='1.0' encoding='utf-8' standalone='yes'?><User><state>READY</state></User>",
        b'<?xml version="1.0"?>\n<!-- a comment --><User><?pi x?><state>READY</state></User>',
    ):
        assert X.parse_user_update(body).state is X.UserState.READY


INVALID_INPUT_BODIES: dict[str, tuple[bytes, str, str]] = {
    "unknown state": (b"<User><state>SLEEPING</state></User>", "state", "Invalid State specified for user"),
    "system-only state": (
        b"<User><state>TALKING</state></User>",
        "state",
        "Invalid State specified for user",
    ),
    "lower-case state": (b"<User><state>ready</state></User>", "state", "Invalid State specified for user"),
    "duplicate state": (
        b"<User><state>READY</state><state>LOGOUT</state></User>",
        "state",
        "Duplicate state specified",
    ),
    "duplicate extension": (
        b"<User><state>LOGIN</state><extension>1</extension><extension>2</extension></User>",
        "extension",
        "Duplicate extension specified",
    ),
    "state with children": (b"<User><state><x>READY</x></state></User>", "state", "Invalid state specified"),
    "reason code not a number": (
        b"<User><state>NOT_READY</state><reasonCodeId>sixteen</reasonCodeId></User>",
        "reasonCodeId",
        "Invalid reasonCodeId specified",
    ),
    "reason code too big": (
        b"<User><state>NOT_READY</state><reasonCodeId>99999999999</reasonCodeId></User>",
        "reasonCodeId",
        "Invalid reasonCodeId specified",
    ),
    "extension with a space": (
        b"<User><state>LOGIN</state><extension>10 01</extension></User>",
        "extension",
        "Invalid extension specified",
    ),
    "mobile agent mode": (
        b"<User><state>LOGIN</state><extension>1001</extension><mobileAgent><mode>SOMETIMES</mode>"
        b"<dialNumber>4085551234</dialNumber></mobileAgent></User>",
        "mode",
        "Invalid mode specified",
    ),
    "logoutAllMedia not boolean": (
        b"<User><state>LOGOUT</state><logoutAllMedia>yes</logoutAllMedia></User>",
        "logoutAllMedia",
        "Invalid logoutAllMedia specified",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_INPUT_BODIES))
def test_invalid_user_bodies(case: str) -> None:
    body, data, message = INVALID_INPUT_BODIES[case]
    with pytest.raises(X.XmlInputError) as info:
        X.parse_user_update(body)
    assert info.value.status == 400
    assert info.value.error == X.ApiError("Invalid Input", message, data)
    assert error_fields(info.value.body) == {
        "ErrorType": "Invalid Input",
        "ErrorData": data,
        "ErrorMessage": message,
    }


MISSING_BODIES: dict[str, tuple[bytes, str, str]] = {
    "no state": (b"<User><extension>1001</extension></User>", "state", "State Parameter missing"),
    "empty state": (b"<User><state>  </state></User>", "state", "State Parameter missing"),
    "self-closed state": (b"<User><state/></User>", "state", "State Parameter missing"),
    "login without extension": (
        b"<User><state>LOGIN</state></User>",
        "extension",
        "Extension Parameter missing",
    ),
    "mobile agent without dial number": (
        b"<User><state>LOGIN</state><extension>1001</extension><mobileAgent><mode>CALL_BY_CALL</mode>"
        b"</mobileAgent></User>",
        "dialNumber",
        "DialNumber Parameter missing",
    ),
}


@pytest.mark.parametrize("case", sorted(MISSING_BODIES))
def test_missing_user_fields(case: str) -> None:
    body, data, message = MISSING_BODIES[case]
    with pytest.raises(X.XmlInputError) as info:
        X.parse_user_update(body)
    assert info.value.status == 400
    assert info.value.error == X.ApiError("Parameter Missing", message, data)


def test_invalid_media_and_dialog_bodies() -> None:
    cases: list[tuple[Any, bytes, str, str, str]] = [
        (X.parse_media_update, b"<Media></Media>", "Parameter Missing", "state", "State Parameter missing"),
        (X.parse_media_update, b"<Media><state>TALKING</state></Media>", "Invalid Input", "state", ""),
        (X.parse_media_update, b"<Media><routable>maybe</routable></Media>", "Invalid Input", "routable", ""),
        (
            X.parse_media_update,
            b"<Media><state>LOGIN</state><maxDialogLimit>11</maxDialogLimit></Media>",
            "Invalid Input",
            "maxDialogLimit",
            "",
        ),
        (
            X.parse_media_update,
            b"<Media><state>LOGIN</state><interruptAction>MAYBE</interruptAction></Media>",
            "Invalid Input",
            "interruptAction",
            "",
        ),
        (
            X.parse_media_update,
            b"<Media><state>LOGIN</state><dialogLogoutAction>KEEP</dialogLogoutAction></Media>",
            "Invalid Input",
            "dialogLogoutAction",
            "",
        ),
        (X.parse_media_update, b"<User><state>READY</state></User>", "Bad Request", "User", ""),
        (X.parse_dialog_action, b"<Dialog></Dialog>", "Parameter Missing", "requestedAction", ""),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>DANCE</requestedAction></Dialog>",
            "Invalid Input",
            "requestedAction",
            "Invalid requestedAction specified for dialog",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>MAKE_CALL</requestedAction><toAddress>2000</toAddress></Dialog>",
            "Parameter Missing",
            "fromAddress",
            "FromAddress Parameter missing",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>2000</fromAddress></Dialog>",
            "Parameter Missing",
            "toAddress",
            "",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>ANSWER</requestedAction></Dialog>",
            "Parameter Missing",
            "targetMediaAddress",
            "",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>TRANSFER_SST</requestedAction><targetMediaAddress>1</targetMediaAddress>"
            b"</Dialog>",
            "Parameter Missing",
            "toAddress",
            "",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>SEND_DTMF</requestedAction><targetMediaAddress>1</targetMediaAddress>"
            b"</Dialog>",
            "Parameter Missing",
            "dtmfString",
            "",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction></Dialog>",
            "Parameter Missing",
            "mediaProperties",
            "",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction><mediaProperties><callvariables>"
            b"<CallVariable><value>x</value></CallVariable></callvariables></mediaProperties></Dialog>",
            "Parameter Missing",
            "name",
            "CallVariable name missing",
        ),
        (
            X.parse_dialog_action,
            b"<Dialog><requestedAction>HOLD</requestedAction><requestedAction>DROP</requestedAction></Dialog>",
            "Invalid Input",
            "requestedAction",
            "Duplicate requestedAction specified",
        ),
        (
            X.parse_dialog_action,
            BILLION_LAUGHS.replace(b"User", b"Dialog"),
            "Bad Request",
            "",
            "DTD is not allowed",
        ),
    ]
    for parse, body, etype, data, message in cases:
        with pytest.raises(X.XmlInputError) as info:
            parse(body)
        err = info.value.error
        assert (err.error_type, err.error_data) == (etype, data), body
        if message:
            assert err.error_message == message
        assert info.value.status == 400


@settings(max_examples=300)
@given(body=st.binary(max_size=300))
def test_random_bytes_only_raise_xml_input_error(body: bytes) -> None:
    for parse in (X.parse_user_update, X.parse_media_update, X.parse_dialog_action):
        try:
            parse(body)
        except X.XmlInputError as e:
            assert e.status == 400
            assert rest(e.body).tag == "ApiErrors"


VALID_FRAGMENTS = [
    b"<User>",
    b"</User>",
    b"<Dialog>",
    b"</Dialog>",
    b"<state>",
    b"</state>",
    b"READY",
    b"LOGIN",
    b"<extension>1001</extension>",
    b"<reasonCodeId>",
    b"</reasonCodeId>",
    b"-1",
    b"<requestedAction>MAKE_CALL</requestedAction>",
    b"<mediaProperties><callvariables><CallVariable><name>a</name><value>",
    b"</value></CallVariable></callvariables></mediaProperties>",
    b"<!DOCTYPE x>",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"\xff",
    b"\xc3\xa9",
    b"<![CDATA[x]]>",
    b"<!-- c -->",
    b" ",
]


@settings(max_examples=300)
@given(parts=st.lists(st.sampled_from(VALID_FRAGMENTS), max_size=12))
def test_spliced_fragments_only_raise_xml_input_error(parts: list[bytes]) -> None:
    body = b"".join(parts)
    for parse in (X.parse_user_update, X.parse_media_update, X.parse_dialog_action):
        try:
            parse(body)
        except X.XmlInputError as e:
            assert e.status == 400


# --------------------------------------------------------------------------------------------------
# Valid request bodies, as the reference shows them


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b"<User><state>LOGIN</state><extension>1001001</extension></User>",
            X.UserUpdate(X.UserState.LOGIN, extension="1001001"),
        ),
        (
            b"<User>\n  <state>LOGIN</state>\n  <extension>1001</extension>\n  <mobileAgent>\n"
            b"    <mode>NAILED_CONNECTION</mode>\n    <dialNumber>4085551234</dialNumber>\n"
            b"  </mobileAgent>\n</User>",
            X.UserUpdate(
                X.UserState.LOGIN,
                extension="1001",
                mobile_agent=X.MobileAgent(X.MobileAgentMode.NAILED_CONNECTION, "4085551234"),
            ),
        ),
        (
            b"<User><state>LOGIN</state><extension>1001</extension><mobileAgent><mode>CALL_BY_CALL</mode>"
            b"<dialNumber>4085551234</dialNumber></mobileAgent></User>",
            X.UserUpdate(
                X.UserState.LOGIN,
                extension="1001",
                mobile_agent=X.MobileAgent(X.MobileAgentMode.CALL_BY_CALL, "4085551234"),
            ),
        ),
        (b"<User>\n <state>READY</state>\n</User>", X.UserUpdate(X.UserState.READY)),
        (
            b"<User><state>NOT_READY</state><reasonCodeId>1001</reasonCodeId></User>",
            X.UserUpdate(X.UserState.NOT_READY, reason_code_id=1001),
        ),
        (b"<User><state>NOT_READY</state></User>", X.UserUpdate(X.UserState.NOT_READY)),
        (b"<User><state>LOGOUT</state></User>", X.UserUpdate(X.UserState.LOGOUT)),
        (
            b"<User><state>LOGOUT</state><reasonCodeId>16</reasonCodeId></User>",
            X.UserUpdate(X.UserState.LOGOUT, reason_code_id=16),
        ),
        (
            b"<User><state>LOGOUT</state><logoutAllMedia>true</logoutAllMedia></User>",
            X.UserUpdate(X.UserState.LOGOUT, logout_all_media=True),
        ),
        (
            b"<User><state>READY</state><unknownThing>ignored</unknownThing></User>",
            X.UserUpdate(X.UserState.READY),
        ),
    ],
)
def test_valid_user_bodies(body: bytes, expected: X.UserUpdate) -> None:
    assert X.parse_user_update(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b"<Media><maxDialogLimit>10</maxDialogLimit><state>LOGIN</state><interruptAction>ACCEPT</interruptAction>"
            b"<dialogLogoutAction>CLOSE</dialogLogoutAction></Media>",
            X.MediaUpdate(
                X.MediaState.LOGIN,
                max_dialog_limit=10,
                interrupt_action="ACCEPT",
                dialog_logout_action="CLOSE",
            ),
        ),
        (
            b"<Media><maxDialogLimit>1</maxDialogLimit><state>LOGIN</state><interruptAction>IGNORE</interruptAction>"
            b"<dialogLogoutAction>TRANSFER</dialogLogoutAction></Media>",
            X.MediaUpdate(
                X.MediaState.LOGIN,
                max_dialog_limit=1,
                interrupt_action="IGNORE",
                dialog_logout_action="TRANSFER",
            ),
        ),
        (b"<Media><state>READY</state></Media>", X.MediaUpdate(X.MediaState.READY)),
        (b"<Media><state>NOT_READY</state></Media>", X.MediaUpdate(X.MediaState.NOT_READY)),
        (b"<Media><state>LOGOUT</state></Media>", X.MediaUpdate(X.MediaState.LOGOUT)),
        (
            b"<Media>\n   <state>NOT_READY</state>\n   <reasonCodeId>1001</reasonCodeId>\n</Media>",
            X.MediaUpdate(X.MediaState.NOT_READY, reason_code_id=1001),
        ),
        (
            b"<Media><state>LOGOUT</state><reasonCodeId>16</reasonCodeId></Media>",
            X.MediaUpdate(X.MediaState.LOGOUT, reason_code_id=16),
        ),
        (b"<Media><routable>true</routable></Media>", X.MediaUpdate(routable=True)),
        (b"<Media><routable>false</routable></Media>", X.MediaUpdate(routable=False)),
        (b"<Media><state>ACTIVE</state></Media>", X.MediaUpdate(X.MediaState.ACTIVE)),
    ],
)
def test_valid_media_bodies(body: bytes, expected: X.MediaUpdate) -> None:
    parsed = X.parse_media_update(body)
    assert parsed == expected
    assert parsed.work_to_active is (expected.state is X.MediaState.ACTIVE)


def test_valid_dialog_bodies() -> None:
    make_call = X.parse_dialog_action(
        b"<Dialog>\n  <requestedAction>MAKE_CALL</requestedAction>\n  <fromAddress>1001001</fromAddress>\n"
        b"  <toAddress>1002002</toAddress>\n</Dialog>"
    )
    assert make_call == X.DialogAction(
        X.DialogActionName.MAKE_CALL, from_address="1001001", to_address="1002002"
    )

    with_vars = X.parse_dialog_action(
        b"<Dialog><requestedAction>MAKE_CALL</requestedAction><fromAddress>1001001</fromAddress>"
        b"<toAddress>1002002</toAddress><mediaProperties><callvariables><CallVariable><name>callVariable1</name>"
        b"<value> x &amp; y </value></CallVariable><CallVariable><name>user.ecc</name><value></value>"
        b"</CallVariable></callvariables></mediaProperties></Dialog>"
    )
    assert with_vars.call_variables == (
        X.CallVariable("callVariable1", " x & y "),
        X.CallVariable("user.ecc", ""),
    )

    for action in ("ANSWER", "HOLD", "RETRIEVE", "DROP", "CONFERENCE", "TRANSFER", "START_RECORDING"):
        body = (
            f"<Dialog><requestedAction>{action}</requestedAction>"
            "<targetMediaAddress>1001001</targetMediaAddress></Dialog>"
        ).encode()
        assert X.parse_dialog_action(body) == X.DialogAction(
            X.DialogActionName(action), target_media_address="1001001"
        )

    sst = X.parse_dialog_action(
        b"<Dialog><requestedAction>TRANSFER_SST</requestedAction><toAddress>2005</toAddress>"
        b"<targetMediaAddress>1001001</targetMediaAddress></Dialog>"
    )
    assert (sst.requested_action, sst.to_address, sst.target_media_address) == (
        "TRANSFER_SST",
        "2005",
        "1001001",
    )

    dtmf = X.parse_dialog_action(
        b"<Dialog><requestedAction>SEND_DTMF</requestedAction><targetMediaAddress>1001001</targetMediaAddress>"
        b"<actionParams><ActionParam><name>dtmfString</name><value>777</value></ActionParam></actionParams></Dialog>"
    )
    assert dtmf.action_params == (X.ActionParam("dtmfString", "777"),)
    assert dtmf.param("dtmfString") == "777"
    assert dtmf.param("other") is None

    for action in ("ACCEPT", "CLOSE", "REJECT"):
        parsed = X.parse_dialog_action(
            f"<Dialog><requestedAction>{action}</requestedAction></Dialog>".encode()
        )
        assert parsed == X.DialogAction(X.DialogActionName(action))

    update = X.parse_dialog_action(
        b"<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction><mediaProperties>"
        b"<wrapUpReason>Sales Call</wrapUpReason><callvariables><CallVariable><name>callVariable3</name>"
        b"<value>Ch\xc3\xbcck</value></CallVariable></callvariables></mediaProperties></Dialog>"
    )
    assert update.wrap_up_reason == "Sales Call"
    assert update.call_variables == (X.CallVariable("callVariable3", "Chück"),)

    wrap_only = X.parse_dialog_action(
        b"<Dialog><requestedAction>UPDATE_CALL_DATA</requestedAction><mediaProperties>"
        b"<wrapUpReason>Done</wrapUpReason></mediaProperties></Dialog>"
    )
    assert (wrap_only.wrap_up_reason, wrap_only.call_variables) == ("Done", None)


def test_devices_document_has_the_documented_shape() -> None:
    body = devices([phone_of("2001"), phone_of("not digits")]).decode()
    assert body.endswith(
        "<Devices><Device><deviceId>SEP0000000007D1</deviceId><deviceType>30018</deviceType>"
        "<deviceTypeName>Cisco 7961</deviceTypeName></Device>"
        "<Device><deviceId>SEP000000000000</deviceId><deviceType>30018</deviceType>"
        "<deviceTypeName>Cisco 7961</deviceTypeName></Device></Devices>"
    )
    assert body.startswith('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')


def test_a_signed_in_users_active_device_is_the_one_devices_lists() -> None:
    view = X.UserView(
        login_id="1001",
        login_name="agent0002",
        state="NOT_READY",
        extension="2001",
        active_device=phone_of("2001"),
    )
    doc = rest(X.user(view))
    names_ = names(doc)
    assert names_[names_.index("extension") + 1] == "activeDeviceId"  # beside the extension it names
    assert doc.findtext("activeDeviceId") == "SEP0000000007D1"
    assert doc.findtext("activeDeviceId") == ET.fromstring(devices([phone_of("2001")])).findtext(
        "Device/deviceId"
    )
    # Signed out (no device), and in the User Update, whose captured element set has none.
    assert (
        rest(X.user(X.UserView(login_id="1001", login_name="a", state="LOGOUT"))).find("activeDeviceId")
        is None
    )
    assert "activeDeviceId" not in X.user_event(view)
