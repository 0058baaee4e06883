"""Coverage-guided fuzzing of the Finesse node's untrusted REST bodies (``finesse_emu.server.xml``).

Input: any bytes, given as the body of each of the three parsers the REST handlers call
(``parse_user_update`` for PUT User, ``parse_media_update`` for PUT Media, ``parse_dialog_action``
for PUT Dialog and POST Dialogs): a client may send any body to any of them. Invariants:

- each parser returns its value type or raises :class:`XmlInputError`; nothing else escapes;
- the error is a 400 whose ``ApiErrors`` body is well-formed XML, even where it echoes the input.

Run: ``python fuzz/rest_xml.py -runs=100000 WORK_DIR fuzz/corpus/rest_xml`` (libFuzzer adds new
inputs to the first directory only), or every harness with ``make fuzz``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris  # type: ignore[import-untyped]

with atheris.instrument_imports(include=["finesse_emu", "defusedxml"]):
    import defusedxml.ElementTree as safe_et

    from finesse_emu.server.xml import (
        DialogAction,
        MediaUpdate,
        UserUpdate,
        XmlInputError,
        parse_dialog_action,
        parse_media_update,
        parse_user_update,
    )

PARSERS: tuple[tuple[Callable[[bytes], object], type], ...] = (
    (parse_user_update, UserUpdate),
    (parse_media_update, MediaUpdate),
    (parse_dialog_action, DialogAction),
)


def check_error(exc: XmlInputError) -> None:
    if exc.status != 400:
        raise AssertionError(f"status {exc.status} for a bad body") from exc
    root = safe_et.fromstring(exc.body)
    if root.tag != "ApiErrors" or root.find("ApiError/ErrorType") is None:
        raise AssertionError(f"not an ApiErrors answer: {exc.body!r}") from exc


def test_one_input(data: bytes) -> None:
    for parse, expected in PARSERS:
        try:
            value = parse(data)
        except XmlInputError as exc:
            check_error(exc)
        else:
            if not isinstance(value, expected):
                raise AssertionError(f"{parse.__name__} returned {value!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
