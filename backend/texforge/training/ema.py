"""An exponential moving average of a module's weights (the usual evaluation weights of a GAN or
an encoder: smoother than the last optimizer step)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class EMA:
    """``shadow = decay * shadow + (1 - decay) * weight`` for every trainable parameter, after each
    :meth:`update`; the shadow starts as a copy of the weights."""

    def __init__(self, module: nn.Module, decay: float = 0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.module, self.decay = module, float(decay)
        self.shadow = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self) -> None:
        params = dict(self.module.named_parameters())
        for name, s in self.shadow.items():
            s.lerp_(params[name].detach(), 1.0 - self.decay)

    @torch.no_grad()
    def copy_to(self, module: nn.Module | None = None) -> None:
        """Overwrite the weights of ``module`` (default: the tracked one) with the averages."""
        params = dict((module or self.module).named_parameters())
        for name, s in self.shadow.items():
            params[name].copy_(s)

    @contextmanager
    def applied(self) -> Iterator[nn.Module]:
        """Evaluate with the averaged weights inside the block; the trained ones come back after."""
        params = dict(self.module.named_parameters())
        saved = {n: params[n].detach().clone() for n in self.shadow}
        self.copy_to()
        try:
            yield self.module
        finally:
            with torch.no_grad():
                for n, t in saved.items():
                    params[n].copy_(t)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing, extra = set(self.shadow) - set(state), set(state) - set(self.shadow)
        if missing or extra:
            raise KeyError(f"EMA weights do not match the model (missing {sorted(missing)[:3]}, "
                           f"unexpected {sorted(extra)[:3]})")
        for name, s in self.shadow.items():
            if state[name].shape != s.shape:
                raise ValueError(f"EMA weight {name}: shape {tuple(state[name].shape)} != {tuple(s.shape)}")
            s.copy_(state[name])
