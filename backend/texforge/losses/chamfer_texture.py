"""Chamfer texture loss (seed 002, section 3.2): images as point sets of (position, appearance).

A pixel-wise L1 between a render and a photo punishes a one-pixel misalignment of a high-frequency
texture as much as a wrong texture, and under camera error its minimiser is a blur. Treating each image
as a set of coloured points and matching every point to its nearest neighbour in the other set lets a
match be found within a local region instead: the pairwise distance is

    D = w_s(|dp|) * (|da|^2 + eps_a),   w_s = 1 + max(0, |dp|^2 - radius^2)   (eq. 7, as in the seed's code)

with positions p in [-1, 1] (the longest image side spans 2) and appearance a (RGB, or a feature vector
for the feature-level loss). The spatial weight is 1 within ``radius`` and grows beyond it, so far-away
look-alikes do not count as matches; it is a weight only (no gradient flows through positions). The
symmetric Chamfer mean of the row and column minima (eq. 6) minus its floor ``2 eps_a`` is returned, so
identical point sets score 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _grid(h: int, w: int, device, dtype) -> torch.Tensor:
    """Pixel-centre coordinates (H*W, 2) with the longest side spanning [-1, 1] (square pixels)."""
    scale = 2.0 / max(h, w)
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5 - h / 2) * scale
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5 - w / 2) * scale
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1).reshape(-1, 2)


def sample_point_sets(values: torch.Tensor, masks: torch.Tensor, count: int, generator: torch.Generator | None = None):
    """Random foreground points of each image.

    values (B, C, H, W) (RGB or features); masks (B, H, W) in [0, 1] at the same size -> positions
    (B, P, 2), appearance (B, P, C) (differentiable w.r.t. ``values``), valid (B, P) with P = ``count``.
    Images with fewer foreground pixels than ``count`` keep them all and mark the padding invalid; an image
    with no foreground has no valid point."""
    b, c, h, w = values.shape
    grid = _grid(h, w, values.device, values.dtype)
    flat = values.flatten(2).transpose(1, 2)                     # (B, HW, C)
    fg = masks.reshape(b, -1) > 0.5
    index = torch.zeros(b, count, dtype=torch.long, device=values.device)
    valid = torch.zeros(b, count, dtype=values.dtype, device=values.device)
    for i in range(b):
        where = torch.nonzero(fg[i]).squeeze(1)
        if where.numel() == 0:
            continue
        if where.numel() > count:
            pick = torch.randperm(where.numel(), generator=generator, device="cpu")[:count].to(where.device)
            where = where[pick]
        k = where.numel()
        index[i, :k], valid[i, :k] = where, 1.0
    positions = grid[index]                                       # (B, P, 2)
    appearance = torch.gather(flat, 1, index.unsqueeze(-1).expand(-1, -1, c))
    return positions, appearance, valid


def chamfer_point_sets(pos_a, app_a, valid_a, pos_b, app_b, valid_b, radius: float = 0.32, eps_a: float = 1.0):
    """The Chamfer texture distance (B,) between two batches of point sets (see the module docstring).
    A pair of sets with no valid point on either side scores 0."""
    with torch.no_grad():
        spatial = 1.0 + (torch.cdist(pos_a, pos_b).square() - radius * radius).clamp_min(0.0)
    appearance = torch.cdist(app_a, app_b).square() + eps_a
    d = spatial * appearance
    big = torch.finfo(d.dtype).max / 4
    d = d + (1.0 - valid_b).unsqueeze(1) * big + (1.0 - valid_a).unsqueeze(2) * big   # invalid points never match
    a_to_b = (d.min(2).values * valid_a).sum(1) / valid_a.sum(1).clamp_min(1.0)
    b_to_a = (d.min(1).values * valid_b).sum(1) / valid_b.sum(1).clamp_min(1.0)
    both = (valid_a.sum(1) > 0) & (valid_b.sum(1) > 0)
    return torch.where(both, a_to_b + b_to_a - 2.0 * eps_a, torch.zeros_like(a_to_b))


def chamfer_texture_loss(pred: torch.Tensor, pred_mask: torch.Tensor, target: torch.Tensor, target_mask: torch.Tensor,
                         samples: int = 2048, radius: float = 0.32, eps_a: float = 1.0,
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """Chamfer texture loss (B,) between the foregrounds of ``pred`` and ``target``.

    pred, target (B, C, H, W): RGB images (pixel level, L_pCT) or feature maps (feature level, L_fCT;
    masks are resized to the maps' size with area averaging); pred_mask, target_mask (B, H', W') in
    [0, 1]. ``samples`` points per image (the seed: 8192; fewer on CPU)."""
    h, w = pred.shape[-2:]

    def fit(mask):
        if mask.shape[-2:] == (h, w):
            return mask
        return F.interpolate(mask.unsqueeze(1), size=(h, w), mode="area").squeeze(1)

    a = sample_point_sets(pred, fit(pred_mask).detach(), samples, generator)
    b = sample_point_sets(target, fit(target_mask), samples, generator)
    return chamfer_point_sets(*a, *b, radius=radius, eps_a=eps_a)
