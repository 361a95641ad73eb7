"""Texture-realism figures that need no Blender: KID between generated and pseudo-GT textures on
EffNet-Lite0 features, each texture seen only where a view saw the surface."""

from __future__ import annotations

import numpy as np
import torch

from ...metrics.features import embed_images, kid
from .pipeline import masked

EXTRACTOR = "EffNet-Lite0 pooled features (texforge.metrics.features.embed_images, 224 px)"


def texture_kid(generated, real: torch.Tensor, vis: torch.Tensor, device="cpu") -> float:
    """KID between generated textures ((n, H, W, 3) numpy or (n, 3, H, W) torch) and the pseudo-GT
    textures real (V, 3, H, W) with visibility vis (V, 1, H, W). Generated texture i is masked by view
    i mod V's visibility, so both sets show the same regions and missing data (black) cannot be what
    tells them apart. Report it as "KID on EffNet-Lite0 features"."""
    gen = torch.as_tensor(np.asarray(generated, dtype=np.float32)) if not torch.is_tensor(generated) else generated
    if gen.shape[-1] == 3 and gen.shape[1] != 3:
        gen = gen.permute(0, 3, 1, 2)
    gen = gen.to(real.device)
    v = vis[torch.arange(gen.shape[0], device=vis.device) % vis.shape[0]]
    fake_feats = embed_images(masked(gen, v), device=device)
    real_feats = embed_images(masked(real, vis), device=device)
    return float(kid(fake_feats, real_feats))


def contact_sheet(rows, size: tuple[int, int] | None = None, gap: int = 2, scale: int = 1) -> np.ndarray:
    """Rows of (H, W, 3) textures -> one white-separated image (for docs): textures are area-resampled
    to ``size`` (H, W; default the first one's) so a full-resolution projected texture sits beside the
    GAN's; ``scale`` repeats pixels so that small textures stay sharp in a browser."""
    from ...data.images import resize_image

    h, w = size or np.asarray(rows[0][0]).shape[:2]
    cols = max(len(r) for r in rows)
    sheet = np.ones((len(rows) * (h + gap) - gap, cols * (w + gap) - gap, 3), np.float32)
    for i, row in enumerate(rows):
        for j, tex in enumerate(row):
            t = np.asarray(tex, np.float32)[..., :3]
            if t.shape[:2] != (h, w):
                t = resize_image(t, w, h)
            sheet[i * (h + gap):i * (h + gap) + h, j * (w + gap):j * (w + gap) + w] = np.clip(t, 0, 1)
    return np.repeat(np.repeat(sheet, scale, 0), scale, 1) if scale > 1 else sheet
