"""Finesse's authentication against the AWDB: failover between two AWDBs and a 30-minute cache."""

from finesse_emu.auth.authenticator import Authenticator
from finesse_emu.auth.awdb_client import AwdbClient
from finesse_emu.auth.basic import parse_basic
from finesse_emu.auth.cache import CredentialCache
from finesse_emu.auth.errors import AuthError, AuthReason, user_message
from finesse_emu.auth.failover import AwdbFailover
from finesse_emu.auth.user import AuthUser

__all__ = [
    "AuthError",
    "AuthReason",
    "AuthUser",
    "Authenticator",
    "AwdbClient",
    "AwdbFailover",
    "CredentialCache",
    "parse_basic",
    "user_message",
]
