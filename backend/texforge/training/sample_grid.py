"""Sample grids: what a GAN makes at fixed latents, logged while it trains."""

from __future__ import annotations

import numpy as np
import torch


def sample_grid(images: torch.Tensor, cols: int) -> np.ndarray:
    """images (N, 3, H, W) in [0, 1] -> one (rows*H + gaps, cols*W + gaps, 3) image, white 1-px gaps."""
    n, _, h, w = images.shape
    rows = -(-n // cols)
    grid = torch.ones(3, rows * h + rows - 1, cols * w + cols - 1)
    for i, t in enumerate(images.detach().cpu()):
        r, c = divmod(i, cols)
        grid[:, r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = t
    return grid.permute(1, 2, 0).numpy()
