"""Deterministic kernels for one block of work, leaving the caller's setting as it was.

Pipelines promise "same seed, same numbers" on CPU, which needs
``torch.use_deterministic_algorithms``; but they also run inside Blender's process, where the flag
is global state other add-ons may rely on, so it is switched on for the run only.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def deterministic(warn_only: bool = True) -> Iterator[None]:
    """Scope ``torch.use_deterministic_algorithms(True, warn_only=warn_only)`` to a block (``warn_only``:
    ops without a deterministic kernel warn instead of failing, as CUDA's scatter-adds would)."""
    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn)
