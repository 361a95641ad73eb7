"""Progress and cancellation callbacks shared by every long job (pipelines, training, rendering)."""

from __future__ import annotations

from typing import Callable

from .errors import Cancelled

ProgressFn = Callable[[float, str], None]   # fraction in [0, 1], human-readable stage message
ShouldStopFn = Callable[[], bool]           # polled between iterations; True -> raise Cancelled


def no_progress(fraction: float, message: str) -> None:
    pass


def never_stop() -> bool:
    return False


def check_stop(should_stop: ShouldStopFn) -> None:
    if should_stop():
        raise Cancelled("cancelled by the user")
