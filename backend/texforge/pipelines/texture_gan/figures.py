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
