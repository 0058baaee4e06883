"""structlog configured for JSON lines: one object per event, with ``component`` bound."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


def configure_logging(component: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """JSON lines on ``stream`` (stderr by default), every line carrying ``component``."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(component=component)


def get_logger(**bound: Any) -> Any:
    # Lazy: binding now would freeze the logger before configure_logging() runs.
    return structlog.get_logger(**bound)
