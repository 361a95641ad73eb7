"""Ctrl-C on the command line as a cooperative stop request.

Killing a fit mid-iteration with KeyboardInterrupt could leave a result half-written, so the first
Ctrl-C only sets a flag that the job polls through its ``should_stop`` (it then raises Cancelled and
writes nothing); a second Ctrl-C raises KeyboardInterrupt at once, for a job stuck inside one long step.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable

from .progress import ShouldStopFn


class SigintStop:
    """A ShouldStopFn that turns True after the first Ctrl-C (or when ``also()`` is True).

    ``install()`` takes over SIGINT (only the main thread can; elsewhere only ``also`` counts) and
    ``restore()`` puts the previous handler back; ``with SigintStop(...) as stop:`` does both.
    ``on_first`` runs at the first Ctrl-C (e.g. to log "stopping after this iteration")."""

    def __init__(self, on_first: Callable[[], None] | None = None, also: ShouldStopFn | None = None):
        self.on_first, self.also = on_first, also
        self.event = threading.Event()
        self._old = None

    def __call__(self) -> bool:
        return self.event.is_set() or bool(self.also is not None and self.also())

    def _on_sigint(self, signum, frame):
        if self.event.is_set():
            raise KeyboardInterrupt
        if self.on_first is not None:
            self.on_first()
        self.event.set()

    def install(self) -> SigintStop:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def restore(self) -> None:
        if self._old is not None:  # None: not installed, or the old handler was not set from Python
            signal.signal(signal.SIGINT, self._old)
            self._old = None

    def __enter__(self) -> SigintStop:
        return self.install()

    def __exit__(self, *exc) -> None:
        self.restore()
