"""Push-pull inpainting: fill the texels no view saw from coarser averages of those it did.

Also fills the UV gutters between charts, so bilinear sampling at a chart's border never reads an
unfilled texel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def push_pull_fill(texture: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Fill unknown texels from coarser averages of known ones (push-pull inpainting).

    texture (H, W, C), known (H, W) bool -> filled texture (H, W, C); known texels are unchanged."""
    tex = texture.permute(2, 0, 1).unsqueeze(0)
    wt = known.float().unsqueeze(0).unsqueeze(0)
    levels = [(tex * wt, wt)]
    while min(levels[-1][1].shape[-2:]) > 1:
        c, m = levels[-1]
        if c.shape[-2] % 2 or c.shape[-1] % 2:   # pad odd sizes so pooling covers every texel
            c = F.pad(c, (0, c.shape[-1] % 2, 0, c.shape[-2] % 2))
            m = F.pad(m, (0, m.shape[-1] % 2, 0, m.shape[-2] % 2))
        levels.append((F.avg_pool2d(c, 2) * 4, F.avg_pool2d(m, 2) * 4))
    c, m = levels[-1]
    filled = c / m.clamp_min(1e-12)
    for c, m in reversed(levels[:-1]):
        up = F.interpolate(filled, scale_factor=2, mode="bilinear", align_corners=False)[..., :c.shape[-2], :c.shape[-1]]
        cur = c / m.clamp_min(1e-12)
        a = m.clamp(0, 1)
        filled = a * cur + (1 - a) * up
    out = filled[0].permute(1, 2, 0)
    return torch.where(known.unsqueeze(-1), texture, out)
