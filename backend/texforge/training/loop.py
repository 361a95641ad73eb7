"""The optimisation loop every pipeline runs: stop checks, finite-loss guard, post-step hooks,
an optional EMA, timings and throttled progress.

A pipeline supplies what differs: ``step_fn(iteration)`` computes the loss (and, optionally, numbers
for the progress message) on whatever batch it chooses; the optimizer holds its parameter groups
(one learning rate per kind of parameter); ``post_step`` hooks keep parameters valid after each
update (a gauge projection, a clamp). The loop owns the order of the rest, so every pipeline stops,
fails and reports the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from ..runtime.progress import ProgressFn, ShouldStopFn, check_stop, never_stop

StepFn = Callable[[int], "torch.Tensor | tuple[torch.Tensor, dict]"]


@dataclass
class LoopResult:
    """What :meth:`TrainLoop.run` did: the next iteration to run, steps taken, wall-clock seconds,
    and the last loss (None when no step ran)."""

    next_iteration: int
    steps: int
    seconds: float
    last_loss: float | None


class TrainLoop:
    """Runs ``step_fn`` and an optimizer step per iteration (see the module docstring).

    Per iteration, in this order: ``should_stop()`` (True raises Cancelled before any work);
    ``loss, info = step_fn(it)``; a non-finite loss raises FloatingPointError naming ``label`` and
    the iteration (nothing is updated); ``zero_grad``, ``backward``, ``optimizer.step()``; each
    ``post_step(it)`` hook; ``ema.update()``; ``progress`` with a fraction mapped into
    ``progress_range`` and the message ``describe(it, info)``."""

    def __init__(self, optimizer: torch.optim.Optimizer, *, should_stop: ShouldStopFn = never_stop,
                 progress: ProgressFn | None = None, progress_range: tuple[float, float] = (0.0, 1.0),
                 describe: Callable[[int, dict], str] | None = None,
                 post_step: Iterable[Callable[[int], None]] = (), ema=None, label: str = "training"):
        self.optimizer, self.should_stop, self.progress = optimizer, should_stop, progress
        self.progress_range, self.describe, self.label = progress_range, describe, label
        self.post_step, self.ema = list(post_step), ema

    def run(self, step_fn: StepFn, iterations: int, start: int = 0) -> LoopResult:
        """Iterations ``start .. iterations - 1`` (``start`` > 0 resumes from a checkpoint)."""
        t0 = time.perf_counter()
        f0, f1 = self.progress_range
        last = None
        for it in range(start, iterations):
            check_stop(self.should_stop)
            out = step_fn(it)
            loss, info = out if isinstance(out, tuple) else (out, {})
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{self.label}: the loss became {float(loss.detach())} at iteration {it}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            for hook in self.post_step:
                hook(it)
            if self.ema is not None:
                self.ema.update()
            last = loss
            if self.progress is not None:
                msg = (self.describe(it, info) if self.describe is not None
                       else f"{self.label}: iteration {it + 1}/{iterations}")
                self.progress(f0 + (f1 - f0) * (it + 1) / iterations, msg)
        return LoopResult(next_iteration=max(start, iterations), steps=max(0, iterations - start),
                          seconds=time.perf_counter() - t0, last_loss=None if last is None else float(last.detach()))
