"""Password hashes as the stub stores them: PBKDF2-HMAC-SHA256 with a per-row salt.

The iteration count is deliberately tiny (100): this is a test fixture holding ``pass<id>``
passwords, and seeding 2000 agents has to stay well under a second. The count is stored in each
hash, so a seed could raise it without a schema change.
Encoded form: ``pbkdf2_sha256$<iterations>$<salt hex>$<digest hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import os

SCHEME = "pbkdf2_sha256"
ITERATIONS = 100
SALT_BYTES = 16


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{SCHEME}${iterations}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, iterations, salt, digest = encoded.split("$")
        if scheme != SCHEME:
            return False
        actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:  # a corrupt stored hash never matches (and never crashes a request)
        return False
    return hmac.compare_digest(actual.hex(), digest)


# Checked against when the user is unknown, so both failures cost the same time (no user enumeration
# by timing).
DUMMY_HASH = hash_password("not a password", salt=b"\0" * SALT_BYTES)
