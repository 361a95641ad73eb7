"""What every command-line job shares: a log that is both printed and kept, device choice, and the
run wrapper that turns Ctrl-C, bad input and cancellation into exit codes.

Exit codes: 0 done, 2 bad input (the message names the frame, file or setting), 130 stopped by Ctrl-C
(first Ctrl-C: the job stops after its current iteration; a second aborts at once).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .errors import Cancelled, InputError
from .interrupt import SigintStop
from .progress import ProgressFn, ProgressThrottle, ShouldStopFn


class RunLog:
    """``log(msg)`` prints ``[label  12.3s] msg`` and appends it to ``path``. The file is created at the
    first line, so a run that fails its argument checks leaves nothing behind."""

    def __init__(self, path: Path, label: str):
        self.path, self.label, self.t0 = Path(path), label, time.perf_counter()

    def __call__(self, msg: str) -> None:
        line = f"[{self.label} {time.perf_counter() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError:  # the log is a convenience; the job's own output decides success
            pass


def choose_device(requested: str) -> str:
    """"auto" -> "cuda" when PyTorch sees a CUDA device, else "cpu"; "cuda" without one is an InputError."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda but PyTorch sees no CUDA device")
    return requested


def run_job(log: Callable[[str], None], work: Callable[[ProgressFn, ShouldStopFn], None],
            should_stop: ShouldStopFn | None = None, cancelled: str = "nothing written but this log",
            aborted: str = "nothing written but this log", step: float | None = None) -> int:
    """Run ``work(progress, should_stop)`` with progress lines in ``log`` and Ctrl-C as a stop request;
    returns the exit code. ``should_stop`` (tests, embedding) is polled besides Ctrl-C."""
    progress = ProgressThrottle(lambda frac, msg: log(f"{100 * frac:5.1f}% {msg}"), step=step, skip_repeats=True)
    stop = SigintStop(lambda: log("Ctrl-C: stopping after the current iteration (press again to abort at once)"),
                      also=should_stop).install()
    try:
        work(progress, stop)
        return 0
    except InputError as e:
        log(f"error: {e}")
        return 2
    except Cancelled:
        log(f"cancelled: {cancelled}")
        return 130
    except KeyboardInterrupt:
        log(f"aborted: {aborted}")
        return 130
    finally:
        stop.restore()
