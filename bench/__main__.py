"""``python -m bench`` (``make bench``): every benchmark, each printing a table.

``python -m bench [cti|awdb|auth|finesse|overhead|desktops|failover|xmpp-login|pubsub|edge ...]
[--quick]``: only those, optionally short runs.
"""

from __future__ import annotations

import sys

from bench import (
    auth_bench,
    awdb_bench,
    cti_bench,
    desktops,
    edge_bench,
    failover,
    finesse_bench,
    overhead,
    pubsub_bench,
    xmpp_login,
)

BENCHES = {
    "cti": cti_bench.main,
    "awdb": awdb_bench.main,
    "auth": auth_bench.main,
    "finesse": finesse_bench.main,
    "overhead": overhead.main,
    "desktops": desktops.main,
    "failover": failover.main,
    "xmpp-login": xmpp_login.main,
    "pubsub": pubsub_bench.main,
    "edge": edge_bench.main,
}


def main() -> int:
    args = sys.argv[1:]
    names = [a for a in args if a in BENCHES] or list(BENCHES)
    flags = [a for a in args if a not in BENCHES]
    code = 0
    for name in names:
        code |= BENCHES[name](flags)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
