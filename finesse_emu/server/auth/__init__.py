"""Finesse's authentication against the AWDB: failover between two AWDBs and a 30-minute cache."""

from emu_base.basic_auth import parse_basic
from finesse_emu.server.auth.authenticator import Authenticator
from finesse_emu.server.auth.awdb_client import AwdbClient
from finesse_emu.server.auth.cache import CredentialCache
from finesse_emu.server.auth.errors import AuthError, AuthReason
from finesse_emu.server.auth.failover import AwdbFailover
from finesse_emu.server.auth.user import AuthUser

__all__ = [
    "AuthError",
    "AuthReason",
    "AuthUser",
    "Authenticator",
    "AwdbClient",
    "AwdbFailover",
    "CredentialCache",
    "parse_basic",
]
