"""SIGTERM as an exception, like SIGINT's KeyboardInterrupt, so a job can flush what it has."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType

EXIT_SIGINT, EXIT_SIGTERM = 130, 143


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler's cancel or preemption). Not an Exception: nothing may
    swallow it by accident."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signum}")


def install() -> None:
    """Turn SIGTERM into :class:`Terminated`. Only the main thread may set handlers; elsewhere
    (a job run from a worker thread) this is a no-op."""
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _raise_terminated)


def exit_code(err: BaseException) -> int:
    return EXIT_SIGTERM if isinstance(err, Terminated) else EXIT_SIGINT
