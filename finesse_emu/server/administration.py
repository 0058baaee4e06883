"""The administration API's decisions, pure: who may call it, and what each change makes of the
node's settings (the CTI sides, the AWDBs, reason codes and wrap-up reasons). The routes that call
these live in :mod:`.admin_api`.

From Cisco's configuration API documentation: "Finesse configuration APIs require the application
user ID and password" (here: a user the AWDB marks administrator; anyone else is 401 "The user is not
authorized to use the API (the user is not an administrator)"), and 403 Forbidden when "The user
attempted to run the API against the secondary Finesse server. Configuration APIs cannot be run
against the secondary Finesse server." The credentials are checked like every request's, so with
both AWDBs down and the administrator's cached credentials expired the API answers 401: the Finesse
Failover Mechanisms chapter's "Administrators cannot update or retrieve settings in the Cisco Finesse
administration console."
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from finesse_emu.server import xml as X
from finesse_emu.server.auth.user import AuthUser
from finesse_emu.server.core.directory import Directory
from finesse_emu.server.xml.cluster_config_api import ClusterConfigView
from finesse_emu.server.xml.database_config_api import DatabaseConfigUpdate, DatabaseConfigView
from finesse_emu.server.xml.reasons_api import ReasonCodeInput, WrapUpReasonInput
from finesse_emu.server.xml.system_config_api import SystemConfigUpdate, SystemConfigView

Side = tuple[str, str, int]
# Reason codes and wrap-up reasons an administrator creates get ids from here up (the AWDB's own
# ids are small; the system codes the node adds sit 1000 above the AWDB's largest).
FIRST_ADMIN_ID = 100_000


def refusal(user: AuthUser, role: str) -> X.ErrorResponse | None:
    """Why ``user`` may not use the administration API on a node of ``role``, or None."""
    if not user.admin:
        return X.unauthorized(user.id)
    if role != "publisher":
        return X.forbidden("", "Configuration APIs cannot be run against the secondary Finesse server")
    return None


def finesse_api_error(data: str, message: str) -> X.ErrorResponse:
    """400 "Finesse API Error": "API error such as duplicated reason code or the reason code does
    not exist"."""
    return X.error_response(400, "Finesse API Error", message, data)


# -- SystemConfig: the CTI sides -------------------------------------------------------------------
def system_config_view(sides: Sequence[Side], peripheral_id: int) -> SystemConfigView:
    a = sides[0]
    b = sides[1] if len(sides) > 1 else None
    return SystemConfigView(a[1], a[2], b[1] if b else "", b[2] if b else None, peripheral_id)


def cti_sides_after(sides: Sequence[Side], update: SystemConfigUpdate) -> list[Side] | X.ErrorResponse:
    """The A and B sides once ``update`` is applied. A B side needs a host and a port; it may not be
    the A side itself (Cisco: "Must not be the same as the hostname or IP address of the primary (A
    Side) CTI server"; the emulator's sides may share an address, so the address and port together)."""
    a_name, a_host, a_port = sides[0]
    b_name, b_host, b_port = sides[1] if len(sides) > 1 else ("B", "", 0)
    a = (a_name, update.host or a_host, update.port or a_port)
    b = (b_name, update.backup_host or b_host, update.backup_port or b_port)
    if not b[1] and not b[2]:
        return [a]  # a single CTI server, still
    if not b[1] or not b[2]:
        missing = "backupHost" if not b[1] else "backupPort"
        return X.parameter_missing(missing)
    if (a[1], a[2]) == (b[1], b[2]):
        return X.invalid_input("backupHost", "The B side must not be the A side")
    return [a, b]


# -- EnterpriseDatabaseConfig: the AWDBs -----------------------------------------------------------
def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def database_config_view(
    urls: Sequence[str], username: str, name: str = "", domain: str = ""
) -> DatabaseConfigView:
    host, port = _host_port(urls[0])
    backup_host, backup_port = _host_port(urls[1]) if len(urls) > 1 else ("", None)
    return DatabaseConfigView(host, port, backup_host, backup_port, name, domain, username)


def awdb_urls_after(urls: Sequence[str], update: DatabaseConfigUpdate) -> list[str]:
    """The AWDB base URLs once ``update`` is applied (primary first). One ``port`` is both AWDBs'
    unless ``backupPort`` says otherwise, as in the product's single port setting."""
    scheme = urlsplit(urls[0]).scheme or "http"
    host, port = _host_port(urls[0])
    backup_host, backup_port = _host_port(urls[1]) if len(urls) > 1 else ("", port)
    host = update.host or host
    if update.port is not None:
        port = backup_port = update.port
    if update.backup_port is not None:
        backup_port = update.backup_port
    if update.backup_host is not None:
        backup_host = update.backup_host
    out = [f"{scheme}://{host}:{port}"]
    if backup_host:
        out.append(f"{scheme}://{backup_host}:{backup_port}")
    return out


def cluster_config_view(primary: str, secondary: str) -> ClusterConfigView:
    return ClusterConfigView(primary, secondary)


# -- reason codes and wrap-up reasons (the node's directory) ---------------------------------------
V = TypeVar("V", X.ReasonCodeView, X.WrapUpReasonView)


def _next_id(ids: Sequence[int]) -> int:
    return max([FIRST_ADMIN_ID - 1, *ids]) + 1


def _stored(
    items: list[V], current: V | None, made: V, problem: X.ErrorResponse | None
) -> V | X.ErrorResponse:
    """``made`` in ``items`` (in place of ``current``, or added), unless ``problem`` refuses it."""
    if problem is not None:
        return problem
    if current is None:
        items.append(made)
    else:
        items[items.index(current)] = made
    return made


def _created(
    items: list[V], make: Callable[[int], V], duplicate: Callable[[V], X.ErrorResponse | None]
) -> V | X.ErrorResponse:
    """A new one (``make`` given its id) added to ``items``, unless ``duplicate`` refuses it."""
    made = make(_next_id([item.id for item in items]))
    return _stored(items, None, made, duplicate(made))


def _replaced(
    items: list[V],
    current: V | X.ErrorResponse,
    change: Callable[[V], V],
    duplicate: Callable[[V], X.ErrorResponse | None],
) -> V | X.ErrorResponse:
    """``current`` changed in ``items``, unless it is not there (``current`` is the error) or
    ``duplicate`` refuses the change."""
    if isinstance(current, X.ErrorResponse):
        return current
    made = change(current)
    return _stored(items, current, made, duplicate(made))


def _removed(
    items: list[V], teams: dict[int, set[int]], current: V | X.ErrorResponse
) -> X.ErrorResponse | None:
    """``current`` gone from ``items`` and from every team it was assigned to."""
    if isinstance(current, X.ErrorResponse):
        return current
    items.remove(current)
    teams.pop(current.id, None)
    return None


def _assigned(teams: dict[int, set[int]], team_id: int, ids: Sequence[int]) -> None:
    """The team's assignment replaced by ``ids`` (already checked)."""
    for assigned in teams.values():
        assigned.discard(team_id)
    for item_id in ids:
        teams.setdefault(item_id, set()).add(team_id)


def _editable_reason(directory: Directory, rc_id: int) -> X.ReasonCodeView | X.ErrorResponse:
    rc = directory.reason_code_by_id(rc_id)
    if rc is None or rc.system_code:  # "System reason codes ... are not listed in the ReasonCode APIs"
        return X.not_found(X.NotFound.OTHER, str(rc_id), "Reason Code not found")
    return rc


def _duplicate(directory: Directory, rc: X.ReasonCodeView) -> X.ErrorResponse | None:
    for other in directory.reason_codes:
        if other.id == rc.id or other.category != rc.category:
            continue
        if other.code == rc.code:
            return finesse_api_error(str(rc.code), "The combination of code and category must be unique")
        if other.label == rc.label and not other.system_code:
            return finesse_api_error(rc.label, "The combination of label and category must be unique")
    return None


def create_reason_code(directory: Directory, given: ReasonCodeInput) -> X.ReasonCodeView | X.ErrorResponse:
    for name, value in (("category", given.category), ("code", given.code), ("label", given.label)):
        if value is None:
            return X.parameter_missing(name)
    assert given.category is not None and given.code is not None and given.label is not None
    category, code, label = given.category, given.code, given.label
    for_all = True if given.for_all is None else given.for_all
    return _created(
        directory.reason_codes,
        lambda new_id: X.ReasonCodeView(new_id, category, code, label, for_all),
        lambda rc: _duplicate(directory, rc),
    )


def update_reason_code(
    directory: Directory, rc_id: int, given: ReasonCodeInput
) -> X.ReasonCodeView | X.ErrorResponse:
    def changed(current: X.ReasonCodeView) -> X.ReasonCodeView:
        return X.ReasonCodeView(
            current.id,
            given.category or current.category,
            current.code if given.code is None else given.code,
            given.label or current.label,
            current.for_all if given.for_all is None else given.for_all,
        )

    current = _editable_reason(directory, rc_id)
    return _replaced(directory.reason_codes, current, changed, lambda rc: _duplicate(directory, rc))


def delete_reason_code(directory: Directory, rc_id: int) -> X.ErrorResponse | None:
    return _removed(directory.reason_codes, directory.reason_code_teams, _editable_reason(directory, rc_id))


def reason_codes_of(directory: Directory, category: str) -> list[X.ReasonCodeView] | X.ErrorResponse:
    """``GET /ReasonCodes?category=NOT_READY|LOGOUT|ALL``: the configured codes, never system ones."""
    if category not in ("NOT_READY", "LOGOUT", "ALL"):
        return X.invalid_input("category", "Invalid category specified")
    return [r for r in directory.reason_codes if not r.system_code and category in ("ALL", r.category)]


def _wrapup(directory: Directory, wid: int) -> X.WrapUpReasonView | X.ErrorResponse:
    found = next((w for w in directory.wrapup_reasons if w.id == wid), None)
    if found is None:
        return X.not_found(X.NotFound.OTHER, str(wid), "Wrap-Up Reason not found")
    return found


def wrapup_reason_by_id(directory: Directory, wid: int) -> X.WrapUpReasonView | X.ErrorResponse:
    return _wrapup(directory, wid)


def _duplicate_wrapup(directory: Directory, w: X.WrapUpReasonView) -> X.ErrorResponse | None:
    if any(o.id != w.id and o.label == w.label for o in directory.wrapup_reasons):
        return finesse_api_error(w.label, "The wrap-up reason's label must be unique")
    return None


def create_wrapup_reason(
    directory: Directory, given: WrapUpReasonInput
) -> X.WrapUpReasonView | X.ErrorResponse:
    if given.label is None:
        return X.parameter_missing("label")
    label, for_all = given.label, True if given.for_all is None else given.for_all
    return _created(
        directory.wrapup_reasons,
        lambda new_id: X.WrapUpReasonView(new_id, label, for_all),
        lambda w: _duplicate_wrapup(directory, w),
    )


def update_wrapup_reason(
    directory: Directory, wid: int, given: WrapUpReasonInput
) -> X.WrapUpReasonView | X.ErrorResponse:
    def changed(current: X.WrapUpReasonView) -> X.WrapUpReasonView:
        for_all = current.for_all if given.for_all is None else given.for_all
        return X.WrapUpReasonView(current.id, given.label or current.label, for_all)

    current = _wrapup(directory, wid)
    return _replaced(directory.wrapup_reasons, current, changed, lambda w: _duplicate_wrapup(directory, w))


def delete_wrapup_reason(directory: Directory, wid: int) -> X.ErrorResponse | None:
    return _removed(directory.wrapup_reasons, directory.wrapup_reason_teams, _wrapup(directory, wid))


# -- a team's resources: the non-global reason codes and wrap-up reasons assigned to it -------------
def team_reason_codes(directory: Directory, team_id: int) -> list[X.ReasonCodeView]:
    return [r for r in directory.reason_codes if team_id in directory.reason_code_teams.get(r.id, ())]


def team_wrapup_reasons(directory: Directory, team_id: int) -> list[X.WrapUpReasonView]:
    return [w for w in directory.wrapup_reasons if team_id in directory.wrapup_reason_teams.get(w.id, ())]


def assign_reason_codes(directory: Directory, team_id: int, ids: Sequence[int]) -> X.ErrorResponse | None:
    """Replace the team's reason codes with ``ids``: configured, non-global codes only (a global one
    is every team's already); nothing changes on a refusal."""
    for rc_id in ids:
        rc = directory.reason_code_by_id(rc_id)
        if rc is None or rc.system_code:
            return finesse_api_error(str(rc_id), "The reason code does not exist")
        if rc.for_all:
            return finesse_api_error(str(rc_id), "A global reason code (forAll) is not assigned to teams")
    _assigned(directory.reason_code_teams, team_id, ids)
    return None


def assign_wrapup_reasons(directory: Directory, team_id: int, ids: Sequence[int]) -> X.ErrorResponse | None:
    """Replace the team's wrap-up reasons with ``ids`` (non-global ones only)."""
    known = {w.id: w for w in directory.wrapup_reasons}
    for wid in ids:
        if wid not in known:
            return finesse_api_error(str(wid), "The wrap-up reason does not exist")
        if known[wid].for_all:
            return finesse_api_error(str(wid), "A global wrap-up reason (forAll) is not assigned to teams")
    _assigned(directory.wrapup_reason_teams, team_id, ids)
    return None
