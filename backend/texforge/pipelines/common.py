"""What every pipeline shares: progress / cancellation callbacks and the cancellation error."""

from __future__ import annotations

from typing import Callable

ProgressFn = Callable[[float, str], None]   # fraction in [0, 1], human-readable stage message
ShouldStopFn = Callable[[], bool]           # polled between iterations; True -> raise Cancelled


class Cancelled(Exception):
    """Raised inside a pipeline when ``should_stop()`` returned True; nothing has been written."""


class InputError(ValueError):
    """Bad user input. The message names the frame, file or setting at fault and what to do."""


def no_progress(fraction: float, message: str) -> None:
    pass


def never_stop() -> bool:
    return False


def check_stop(should_stop: ShouldStopFn) -> None:
    if should_stop():
        raise Cancelled("cancelled by the user")
