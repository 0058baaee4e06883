"""EnterpriseDatabaseConfig: the AWDBs a Finesse node authenticates against,
``GET|PUT /finesse/api/EnterpriseDatabaseConfig``.

Cisco's configuration API: ``<EnterpriseDatabaseConfig><uri/><host/><backupHost/><port/>
<databaseName/><domain/><username/><password/></EnterpriseDatabaseConfig>`` ("The secondary AWDB
host is configured through the Cisco Finesse administration console", the Finesse Failover
Mechanisms chapter). One ``port`` serves both AWDBs, as in the product; the emulator's AWDBs may
listen on different ports, so the answer adds ``backupPort`` when they do, and a PUT may give it.
The password is never answered (an empty element); a PUT without one keeps the current login.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from finesse_emu.server.xml.common import API, NOT_XML_CHAR, document, sub
from finesse_emu.server.xml.errors import XmlInputError, invalid_input, parameter_missing
from finesse_emu.server.xml.parse import children, leaf, safe_parse
from finesse_emu.server.xml.system_config_api import host_field, port_field

URI = f"{API}/EnterpriseDatabaseConfig"
_MAX_TEXT = 128


@dataclass(frozen=True)
class DatabaseConfigView:
    host: str
    port: int
    backup_host: str = ""
    backup_port: int | None = None  # shown only when it differs from port
    database_name: str = ""
    domain: str = ""
    username: str = ""


@dataclass(frozen=True)
class DatabaseConfigUpdate:
    """What a PUT gives; None: keep the current value (``backup_host`` "" removes the secondary)."""

    host: str | None = None
    backup_host: str | None = None
    port: int | None = None
    backup_port: int | None = None
    database_name: str | None = None
    domain: str | None = None
    username: str | None = None
    password: str | None = None


def database_config(view: DatabaseConfigView) -> bytes:
    root = ET.Element("EnterpriseDatabaseConfig")
    sub(root, "uri", URI)
    sub(root, "host", view.host)
    sub(root, "backupHost", view.backup_host)
    sub(root, "port", view.port)
    if view.backup_port is not None and view.backup_port != view.port:
        sub(root, "backupPort", view.backup_port)
    sub(root, "databaseName", view.database_name)
    sub(root, "domain", view.domain)
    sub(root, "username", view.username)
    sub(root, "password", "")  # never answered
    return document(root)


def _text(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > _MAX_TEXT or NOT_XML_CHAR.search(value) or any(ord(c) < 32 for c in value):
        raise XmlInputError(invalid_input(name, f"Invalid {name} specified"))
    return value


_FIELDS = ("host", "backupHost", "port", "backupPort", "databaseName", "domain", "username", "password")


def parse_database_config(body: bytes) -> DatabaseConfigUpdate:
    """The body of ``PUT /finesse/api/EnterpriseDatabaseConfig`` (400 on anything wrong). An empty
    ``backupHost`` element removes the secondary AWDB."""
    f = children(safe_parse(body, "EnterpriseDatabaseConfig"), _FIELDS)
    backup_host = host_field("backupHost", leaf(f, "backupHost"))
    if backup_host is None and "backupHost" in f:
        backup_host = ""  # given empty: no secondary AWDB
    update = DatabaseConfigUpdate(
        host=host_field("host", leaf(f, "host")),
        backup_host=backup_host,
        port=port_field("port", leaf(f, "port")),
        backup_port=port_field("backupPort", leaf(f, "backupPort")),
        database_name=_text("databaseName", leaf(f, "databaseName")),
        domain=_text("domain", leaf(f, "domain")),
        username=_text("username", leaf(f, "username")),
        password=_text("password", leaf(f, "password", strip=False)),
    )
    if update.username is not None and ":" in update.username:
        raise XmlInputError(invalid_input("username", "Invalid username specified"))
    if update == DatabaseConfigUpdate():
        raise XmlInputError(parameter_missing("host", "No database setting specified"))
    return update
