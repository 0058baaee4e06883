"""The entry point every component process shares (``python -m cti_stub``, ``python -m awdb_stub``,
``python -m finesse_emu.server``): the options they all take, logging, the event loop, an orderly
stop on SIGINT or SIGTERM, and one exit status for a component that cannot start.

A component's ``__main__`` builds its parser with :func:`component_parser` (which adds the common
options), reads its settings, and hands :func:`run_component` a coroutine that usually ends in
:func:`serve`. Exit status, as every command of the emulator: 0 after an orderly stop, 2 when it
cannot start (bad options or files, an address in use), with one line on stderr saying why.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from emu_base.admin import add_admin_options
from emu_base.logs import configure_logging, get_logger
from emu_base.procs import stop_on_signals

log = get_logger()

EXIT_OK = 0
EXIT_CANNOT_RUN = 2


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def component_parser(
    prog: str,
    description: str | None,
    *,
    raw_description: bool = False,
    parser: argparse.ArgumentParser | None = None,
) -> argparse.ArgumentParser:
    """A component's parser (or ``parser``, a subcommand's, filled in) with the options every
    component takes: the control plane's token options, ``--time-scale`` and ``--log-level``. The
    component adds its own (``--host``, ``--port``, ``--admin-port``, ...) to it."""
    if parser is None:
        formatter = argparse.RawDescriptionHelpFormatter if raw_description else argparse.HelpFormatter
        parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=formatter)
    add_admin_options(parser)
    parser.add_argument(
        "--time-scale", type=float, help="multiply every timer (default $FINESSE_EMU_TIME_SCALE or 1)"
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    return parser


def cannot_run(prog: str, message: object) -> int:
    """Say on stderr why the component cannot start; the status to exit with."""
    print(f"{prog}: {message}", file=sys.stderr)
    return EXIT_CANNOT_RUN


async def serve(
    service: Service,
    *,
    ready: Callable[[], None] | None = None,
    stop_timeout: float | None = None,
) -> int:
    """Start ``service``, run until SIGINT or SIGTERM, stop it (also when its start failed).

    ``stop_timeout``: an orderly stop must not hang the process (a stuck dependency would leave a
    component nobody can stop but with SIGKILL); past it the process leaves at once with status 1,
    since the event loop's own shutdown would wait for the same stuck tasks."""
    stop = stop_on_signals()
    try:
        await service.start()
        if ready is not None:
            ready()
        await stop.wait()
    finally:
        try:
            await asyncio.wait_for(service.stop(), stop_timeout)
        except TimeoutError:
            log.warning("component_stop_timeout", seconds=stop_timeout)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
    return EXIT_OK


def run_component(
    prog: str,
    name: str,
    log_level: str,
    main: Callable[[], Coroutine[Any, Any, int]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> int:
    """Log as ``name`` (JSON lines, emu_base/logs.py) and run ``main()`` on a new event loop; an
    OSError or ValueError (an address in use, a bad file) is a component that cannot run: status 2."""
    configure_logging(name, log_level)
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(main())
    except (OSError, ValueError) as exc:
        return cannot_run(prog, exc)
