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


class ProgressThrottle:
    """A ProgressFn that forwards to ``fn`` only when the fraction has advanced by ``step`` since the
    last forwarded call (``step`` None: always), or when forced (stage changes, warnings); fractions
    are clamped to [0, 1].

    Loops report every iteration; a UI redraw or a log line per iteration would cost more than the
    iteration. With ``skip_repeats`` a message identical to the last forwarded one is dropped (a log
    reading the same line twice tells the user nothing). ``last`` is the last forwarded fraction, so
    a forced note can be posted "at the current position"."""

    def __init__(self, fn: ProgressFn, step: float | None = 0.01, skip_repeats: bool = False):
        self.fn, self.step, self.skip_repeats = fn, step, skip_repeats
        self.last, self.last_message = -1.0, None

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        if self.skip_repeats and message == self.last_message:
            return
        if force or self.step is None or fraction - self.last >= self.step:
            self.last, self.last_message = fraction, message
            self.fn(float(min(max(fraction, 0.0), 1.0)), message)
