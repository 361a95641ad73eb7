"""Wall-clock timings of a job's phases, for its result file and benchmarks (never for pass/fail)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Add the block's wall-clock seconds to ``timings[key]`` (a phase run twice, e.g. a refit,
    accumulates), also when the block raises."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
