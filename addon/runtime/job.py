"""Worker-thread jobs: run a backend pipeline off Blender's main thread, with progress and cancel.

A ``Job`` wraps one callable ``work(progress, should_stop) -> result`` (the pipeline signature in
texforge.runtime.progress). The worker thread never touches ``bpy``: the main thread gathers plain
arrays before the job starts and builds Blender data from the result after it ends (see
operators/reconstruct.py). The main thread polls ``job.done`` from a modal operator's timer; in background
mode (``blender -b``, the bpy module) timers never fire, so ``run_sync()`` runs the same work on the
calling thread, and ``ProgressEcho`` prints throttled progress lines to stdout instead of a progress bar.
``job_operator.JobOperator`` is the modal operator base built on this.

Only one job runs at a time per Blender session (``active_job()``), which keeps GPU memory and the
2-core machines sane and gives the panel one progress bar to draw.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable

_active: "Job | None" = None
_lock = threading.Lock()


def active_job() -> "Job | None":
    """The job that is running (or finished but not yet collected by its operator), if any."""
    return _active


class Job:
    """One pipeline run on a worker thread.

    ``work(progress, should_stop)`` is called with ``progress(fraction, message)`` and
    ``should_stop() -> bool``; it should raise the backend's ``Cancelled`` when stopped.
    ``extra_stop`` (optional) is OR-ed into ``should_stop`` (tests use it to stop after N steps).
    State read by the UI: ``fraction``, ``message``, ``eta_seconds()``, ``cancel_requested``.
    After ``done``: ``result`` or ``error`` (the exception, with ``error_traceback``), ``cancelled``.
    """

    def __init__(self, label: str, work: Callable[[Callable, Callable], Any],
                 extra_stop: Callable[[], bool] | None = None, echo: Callable[["Job"], None] | None = None):
        self.label = label
        self._work = work
        self._extra_stop = extra_stop
        self._echo = echo  # called after every progress update (ProgressEcho in background mode)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.fraction = 0.0
        self.message = "starting"
        self.started = 0.0
        self.finished = 0.0
        self.progress_calls = 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.error_traceback = ""
        self.cancelled = False
        self._done = threading.Event()

    # -- callbacks handed to the pipeline (called on the worker thread) -----------------------
    def _progress(self, fraction: float, message: str) -> None:
        # Plain attribute writes are atomic in CPython; the UI only reads them.
        self.fraction = min(max(float(fraction), 0.0), 1.0)
        self.message = str(message)
        self.progress_calls += 1
        if self._echo is not None:
            self._echo(self)

    def _should_stop(self) -> bool:
        if self._cancel.is_set():
            return True
        if self._extra_stop is not None and self._extra_stop():
            self._cancel.set()
            return True
        return False

    # -- control (main thread) ----------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the work to stop; it notices at its next ``should_stop()`` poll (within seconds)."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def elapsed_seconds(self, now: float | None = None) -> float:
        if not self.started:
            return 0.0
        end = self.finished or (time.monotonic() if now is None else now)
        return max(end - self.started, 0.0)

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Time left, extrapolated linearly from the progress so far (None until it means something)."""
        if not self.started or self.fraction < 0.02:
            return None
        elapsed = self.elapsed_seconds(now)
        return max(elapsed * (1.0 - self.fraction) / self.fraction, 0.0)

    def status_text(self) -> str:
        """One line for the panel / header: stage, percent and time left."""
        if self.cancel_requested and not self.done:
            return "Cancelling..."
        eta = self.eta_seconds()
        left = "" if eta is None else f", {_format_seconds(eta)} left"
        return f"{self.message} ({self.fraction * 100:.0f}%{left})"

    def _run(self) -> None:
        self.started = time.monotonic()
        try:
            self.result = self._work(self._progress, self._should_stop)
        except BaseException as exc:  # noqa: BLE001 - carried to the main thread and reported there
            if _is_cancel(exc) or (self.cancel_requested and isinstance(exc, KeyboardInterrupt)):
                self.cancelled = True
            else:
                self.error = exc
                self.error_traceback = traceback.format_exc()
        finally:
            # A job that finished after a cancel request still counts as cancelled: the user
            # asked for the scene to stay as it was.
            if self.cancel_requested and self.error is None:
                self.cancelled = True
                self.result = None
            self.finished = time.monotonic()
            self._done.set()

    def start(self) -> "Job":
        """Start on a daemon thread and make this the session's active job."""
        global _active
        with _lock:
            if _active is not None and not _active.done:
                raise RuntimeError(f"another TexForge job is running ({_active.label}); wait or cancel it")
            _active = self
        self._thread = threading.Thread(target=self._run, name=f"texforge-{self.label}", daemon=True)
        self._thread.start()
        return self

    def run_sync(self) -> "Job":
        """Run on the calling thread (background mode, where timers and modal operators never fire)."""
        global _active
        with _lock:
            if _active is not None and not _active.done:
                raise RuntimeError(f"another TexForge job is running ({_active.label}); wait or cancel it")
            _active = self
        self._thread = threading.current_thread()
        self._run()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def release(self) -> None:
        """Forget this job as the active one and drop references to big data (call once collected)."""
        global _active
        with _lock:
            if _active is self:
                _active = None
        self._work = None
        self.result = None
        self._extra_stop = None
        self._echo = None


def _is_cancel(exc: BaseException) -> bool:
    """Whether ``exc`` is the library's Cancelled. Imported here, not at module level: the add-on
    registers (and draws its panels) where the library's dependencies are missing."""
    try:
        from texforge.runtime.errors import Cancelled
    except ImportError:
        return False
    return isinstance(exc, Cancelled)


class ProgressEcho:
    """Progress as lines on stdout, for background mode (``blender -b``, the bpy module, scripts),
    where no progress bar is drawn and minutes of silence look like a hang.

    A line names the job, the stage, the percentage, the time elapsed and the time left. It is
    printed at the first update, at the last, and otherwise when the progress advanced by
    ``min_step`` or ``heartbeat_s`` passed, but never more often than every ``min_interval_s``
    (the pipeline reports every iteration). ``clock`` and ``write`` are there for tests."""

    def __init__(self, write: Callable[[str], None] | None = None, min_interval_s: float = 2.0,
                 min_step: float = 0.05, heartbeat_s: float = 15.0, clock: Callable[[], float] = time.monotonic):
        self._write = write or _print_line
        self.min_interval_s = min_interval_s
        self.min_step = min_step
        self.heartbeat_s = heartbeat_s
        self._clock = clock
        self._last_time: float | None = None
        self._last_fraction = 0.0
        self.lines = 0

    def __call__(self, job: "Job") -> None:
        now = self._clock()
        final = job.fraction >= 1.0 and self._last_fraction < 1.0
        if self._last_time is not None and not final:
            since = now - self._last_time
            if since < self.min_interval_s:
                return
            if job.fraction - self._last_fraction < self.min_step and since < self.heartbeat_s:
                return
        self._last_time, self._last_fraction = now, job.fraction
        self.lines += 1
        self._write(progress_line(job, now))


def progress_line(job: "Job", now: float | None = None) -> str:
    """``[TexForge] reconstruct: fitting the shape 45% | 12 s elapsed | about 15 s left``."""
    eta = job.eta_seconds(now)
    left = "estimating time left" if eta is None else f"about {_format_seconds(eta)} left"
    return (f"[TexForge] {job.label}: {job.message} {job.fraction * 100:.0f}% | "
            f"{_format_seconds(job.elapsed_seconds(now))} elapsed | {left}")


def _print_line(line: str) -> None:
    print(line, flush=True)


def error_text(exc: BaseException) -> str:
    """A job's error for the artist: an InputError's own message (it names the file and the fix), else
    the exception's class and message."""
    import texforge.runtime.errors as common
    if isinstance(exc, common.InputError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def release_device_memory(device: str | None) -> None:
    """Give cached GPU memory back after a job (VRAM not being released is a top user complaint).

    Imports torch only when it is already loaded: a job that never used torch must not pay for it."""
    import gc
    import sys
    effnet = sys.modules.get("texforge.nets.effnet")
    if effnet is not None:  # its per-device cache would otherwise hold the weights on the GPU for good
        effnet.release_cached_networks()
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:
        return
    if (device or "").startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    mps = getattr(torch, "mps", None)
    if (device or "").startswith("mps") and mps is not None and hasattr(mps, "empty_cache"):
        mps.empty_cache()
