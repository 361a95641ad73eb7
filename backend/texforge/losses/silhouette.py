"""Silhouette losses: soft IoU (seed 000, Eq. 2) per view and the mask Chamfer. The hard IoU that judges
fits is texforge.metrics.image.hard_iou."""

from __future__ import annotations

import torch

from ..render.dibr import mask_iou


def silhouette_iou_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1 - |S . S_r| / |S + S_r - S . S_r|`` per view (kaolin's mask_iou, unreduced).
    pred, target (N, H, W) in [0, 1] -> (N,)."""
    return mask_iou(pred, target, reduction="none")


class MaskChamfer:
    """Chamfer mask loss (seed 002) between projected vertices and the foreground pixels of masks.

    Unlike the soft-silhouette IoU, whose gradient only reaches faces within the soft band of the
    border, this pulls from anywhere: vertices projecting outside the mask move along the gradient of
    the mask's distance transform, and foreground pixels far from every projected vertex pull the
    nearest one. masks (N, H, W); ``samples`` foreground pixels per view are kept (random, fixed).
    Distances are in NDC units (2 / longest side per pixel).

    Where a mask touches the image border the object goes on beyond it, and outside the image nothing
    is known: vertices projecting there cost nothing in that view (elsewhere the nearest border
    pixel's distance applies, since an object that the image holds whole cannot reach outside it)."""

    def __init__(self, masks: torch.Tensor, samples: int = 512, seed: int = 0):
        import numpy as np
        from scipy.ndimage import distance_transform_edt

        n, h, w = masks.shape
        self.size = (w, h)
        scale = 2.0 / max(w, h)
        fg = (masks > 0.5).cpu().numpy()
        dist = np.stack([distance_transform_edt(~m) for m in fg]).astype(np.float32) * scale
        self.dist = torch.as_tensor(dist, device=masks.device).unsqueeze(1)        # (N, 1, H, W)
        rng = np.random.default_rng(seed)
        pts = np.zeros((n, samples, 2), np.float32)
        valid = np.zeros((n, samples), np.float32)
        for i, m in enumerate(fg):
            ys, xs = np.nonzero(m)
            if len(xs) == 0:
                continue
            pick = rng.choice(len(xs), size=min(samples, len(xs)), replace=False)
            k = len(pick)
            pts[i, :k, 0] = xs[pick] + 0.5
            pts[i, :k, 1] = ys[pick] + 0.5
            valid[i, :k] = 1.0
        self.points = torch.as_tensor(pts, device=masks.device)
        self.valid = torch.as_tensor(valid, device=masks.device)
        self.scale = scale
        self.cut = torch.as_tensor(touches_border(fg), device=masks.device)

    def __call__(self, pixels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """pixels (B, V, 2) projected vertices in pixel units of views ``index`` (B,) -> loss per view (B,)."""
        points = self.points[index]                                               # (B, P, 2)
        # The nearest vertex is chosen without a graph, and only the chosen pairs' distances are
        # differentiated: the same gradient as through min over a (B, P, V) cdist, without building
        # and back-propagating that tensor (which took half of each 64 px step). cdist's own
        # gradient (matrix-product form) was also inexact: off by up to 17 % of its largest entry at
        # the 64 px stage's size (24 views, 512 mask points, 482 vertices).
        with torch.no_grad():
            nearest = torch.cdist(points, pixels).argmin(-1)                      # (B, P)
        near = torch.gather(pixels, 1, nearest.unsqueeze(-1).expand(-1, -1, 2))
        d = (near - points).norm(dim=-1) * self.scale                             # (B, P)
        cover = (d * self.valid[index]).sum(-1) / self.valid[index].sum(-1).clamp_min(1)
        return self.outside(pixels, index).mean(-1) + cover

    def outside(self, pixels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Distance (B, V) from each projected vertex to the mask (0 inside it, and beyond the border
        of an image that cuts the object)."""
        w, h = self.size
        grid = torch.stack([2.0 * pixels[..., 0] / w - 1.0, 2.0 * pixels[..., 1] / h - 1.0], -1).unsqueeze(1)
        dist = torch.nn.functional.grid_sample(self.dist[index], grid, mode="bilinear",
                                               padding_mode="border", align_corners=False)[:, 0, 0]
        inside = (pixels[..., 0] >= 0) & (pixels[..., 0] <= w) & (pixels[..., 1] >= 0) & (pixels[..., 1] <= h)
        return torch.where(self.cut[index, None] & ~inside, torch.zeros_like(dist), dist)


def grow_masks(masks: torch.Tensor, px: float) -> torch.Tensor:
    """masks (N, H, W) in [0, 1] grown outwards by ``px`` pixels (a one-pixel linear ramp at the new
    edge, from the distance to the thresholded mask), never below the input; ``px`` <= 0 returns them.

    Fitting a DIB-R soft silhouette to a mask leaves the surface too small: the soft mask reaches 0.5
    outside the hard edge, and the Laplacian shrinks curved parts further. A surface fitted to the
    grown masks ends about the right size for the colours rendered from it."""
    if px <= 0:
        return masks
    import numpy as np
    from scipy.ndimage import distance_transform_edt

    grown = []
    for m in (masks > 0.5).cpu().numpy():
        if not m.any():   # nothing to grow (and no edge to measure a distance to)
            grown.append(np.zeros(m.shape))
            continue
        # signed distance of each pixel centre to the mask's edge (negative inside)
        sdf = np.where(m, 0.5 - distance_transform_edt(m), distance_transform_edt(~m) - 0.5)
        grown.append(np.clip(0.5 + px - sdf, 0.0, 1.0))
    return torch.maximum(torch.as_tensor(np.stack(grown), dtype=masks.dtype, device=masks.device), masks)


def touches_border(masks, threshold: float = 0.5):
    """masks (N, H, W) array -> (N,) bool numpy array: foreground on the image's outermost pixels, i.e.
    the image border cuts the object (its silhouette beyond the border is unknown)."""
    import numpy as np

    fg = np.asarray(masks) > threshold
    return fg[:, 0, :].any(-1) | fg[:, -1, :].any(-1) | fg[:, :, 0].any(-1) | fg[:, :, -1].any(-1)
