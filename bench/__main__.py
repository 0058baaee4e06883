"""``python -m bench`` (``make bench``): every benchmark, each printing a table."""

from __future__ import annotations

import sys

from bench import cti_bench


def main() -> int:
    return cti_bench.main(sys.argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
