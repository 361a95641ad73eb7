"""Deterministic kernels for one block of work, leaving the caller's setting as it was.

Pipelines promise "same seed, same numbers" on CPU, which needs
``torch.use_deterministic_algorithms``; but they also run inside Blender's process, where the flag
is global state other add-ons may rely on, so it is switched on for the run only.

The flag also makes every new tensor get filled with NaN first (``fill_uninitialized_memory``): about
2,500 small fills per 128 px multi-view step, 7-10 % of its time (docs/BENCHMARKS.md, "Faster fits
without the NaN fill"). The scope switches that off. Runs still repeat bit for bit as long
as no kernel reads memory it did not write; torch.linalg.lstsq's default CPU driver did (hence
:func:`lstsq`).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def deterministic(warn_only: bool = True) -> Iterator[None]:
    """Scope ``torch.use_deterministic_algorithms(True, warn_only=warn_only)`` to a block (``warn_only``:
    ops without a deterministic kernel warn instead of failing, as CUDA's scatter-adds would)."""
    import torch.utils.deterministic as flags

    was_on = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    was_fill = flags.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True, warn_only=warn_only)
    flags.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn)
        flags.fill_uninitialized_memory = was_fill


def lstsq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The minimum-norm least-squares solution of ``a x = b`` (batched as torch.linalg.lstsq), the
    same on every run and device: solved in float64 on the CPU by the SVD driver (gelsd). No gradient
    flows through it (its callers solve under no_grad).

    torch's default CPU driver (gelsy) leaves its column-pivot array uninitialised: its answer then
    follows whatever the memory held (NaN-filled inside :func:`deterministic`, garbage outside it), and
    the multi-view fit's exposure gains and gauge differed between processes. CUDA's only driver
    assumes full rank, which the exposure system lacks when a view overlaps no other. The systems
    solved this way are small (a few hundred unknowns)."""
    x = torch.linalg.lstsq(a.detach().cpu().double(), b.detach().cpu().double(), driver="gelsd").solution
    return x.to(device=b.device, dtype=b.dtype)
