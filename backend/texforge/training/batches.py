"""Mini-batches of item indices (views, images) drawn epoch by epoch from a seeded generator."""

from __future__ import annotations

import torch


class EpochBatches:
    """``next()`` gives ``batch`` distinct indices of ``range(n)`` from a random permutation; when fewer
    than ``batch`` are left a new permutation starts (the short tail is skipped, so every batch has
    the same size and every item is seen once per epoch at most). All randomness comes from
    ``generator``, so a seed fixes the sequence and a checkpointed generator resumes it."""

    def __init__(self, n: int, batch: int, generator: torch.Generator):
        if not 0 < batch <= n:
            raise ValueError(f"batch size must be in 1..{n}, got {batch}")
        self.n, self.batch, self.generator = n, batch, generator
        self.order = torch.randperm(n, generator=generator)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch > self.n:
            self.order, self.pos = torch.randperm(self.n, generator=self.generator), 0
        out = self.order[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return out
