"""Image metrics: PSNR, SSIM (Wang et al. 2004, Gaussian window) and hard-mask IoU; deterministic. PSNR
and SSIM compute in numpy on the CPU; the hard IoU in torch on the masks' device (batched, for fits).

Inputs may be numpy arrays or torch tensors; images are (H, W) or (H, W, C) in [0, data_range].
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

PSNR_MAX_DB = 100.0  # identical images: report a finite cap (JSON has no infinity)


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def psnr(a, b, mask=None, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels, or over pixels where mask > 0.5
    (mask (H, W) for images (H, W, C)). Identical inputs give ``PSNR_MAX_DB``."""
    a, b = _np(a), _np(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr: shapes differ {a.shape} vs {b.shape}")
    err = (a - b) ** 2
    if mask is not None:
        m = _np(mask) > 0.5
        if m.shape != a.shape[: m.ndim]:
            raise ValueError(f"psnr: mask shape {m.shape} does not match image {a.shape}")
        if not m.any():
            raise ValueError("psnr: the mask is empty")
        err = err[m]
    mse = float(err.mean())
    if not math.isfinite(mse):
        raise ValueError("psnr: images contain NaN or inf")
    if mse <= (data_range ** 2) * 10 ** (-PSNR_MAX_DB / 10):
        return PSNR_MAX_DB
    return 10.0 * math.log10(data_range ** 2 / mse)


def ssim(a, b, data_range: float = 1.0, sigma: float = 1.5, win_size: int = 11, k1: float = 0.01,
         k2: float = 0.03, mask=None) -> float:
    """Mean structural similarity (Wang et al. 2004): Gaussian window (sigma 1.5, 11 taps), population
    statistics, averaged over channels and over the pixels whose window lies fully inside the image
    (the "valid" region; images smaller than the window use all pixels). ``mask`` (H, W) restricts
    the average to pixels where mask > 0.5. Identical images give 1."""
    a, b = _np(a), _np(b)
    if a.shape != b.shape:
        raise ValueError(f"ssim: shapes differ {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    radius = (win_size - 1) // 2
    truncate = radius / sigma  # scipy's kernel radius = int(truncate * sigma + 0.5) = radius

    def blur(x):
        return ndimage.gaussian_filter(x, sigma=sigma, truncate=truncate, mode="reflect")

    maps = []
    for c in range(a.shape[-1]):
        x, y = a[..., c], b[..., c]
        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx * mx
        vy = blur(y * y) - my * my
        cxy = blur(x * y) - mx * my
        maps.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)))
    smap = np.mean(maps, axis=0)
    h, w = smap.shape
    valid = np.zeros((h, w), dtype=bool)
    if h > 2 * radius and w > 2 * radius:
        valid[radius:h - radius, radius:w - radius] = True
    else:
        valid[:] = True
    if mask is not None:
        valid &= _np(mask) > 0.5
        if not valid.any():
            raise ValueError("ssim: the mask leaves no pixels")
    return float(smap[valid].mean())


def hard_iou(pred, target, threshold: float = 0.5):
    """IoU of masks binarised at ``threshold``, per mask over the last two axes: (..., H, W) -> (...).
    torch tensors (any device) or numpy arrays; returns a float32 torch tensor on the input's device.
    Two empty masks are identical: IoU 1. The one hard IoU of the project (fits, pruning, evaluation)."""
    import torch

    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"hard_iou: shapes differ {tuple(pred.shape)} vs {tuple(target.shape)}")
    a, b = pred > threshold, target.to(pred.device) > threshold
    inter = (a & b).sum((-2, -1)).float()
    union = (a | b).sum((-2, -1)).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def supersampled_view_scores(rgb, hard, background, images, masks, supersample: int):
    """Per-view hard IoU ((N,) tensor) and whole-image PSNR (list) of renders made at ``supersample`` x
    the photos' size: ``rgb`` (N, sH, sW, >=3) and ``hard`` (N, sH, sW) are composited over
    ``background`` (3,), area-averaged down to the size of ``images`` (N, H, W, 3) and ``masks``
    (N, H, W), and compared with them. The one definition of the per-view figures, for the fit's
    training views and for held-out views alike."""
    import torch.nn.functional as F

    hard = hard.float().unsqueeze(-1)
    comp = rgb[..., :3] * hard + background * (1 - hard)
    comp = F.avg_pool2d(comp.permute(0, 3, 1, 2), supersample).permute(0, 2, 3, 1).clamp(0, 1)
    cover = F.avg_pool2d(hard.permute(0, 3, 1, 2), supersample)[:, 0]
    return hard_iou(cover, masks), [psnr(c, t) for c, t in zip(_np(comp), _np(images))]


def centred_iou(pred, target, threshold: float = 0.5):
    """:func:`hard_iou` after moving each ``pred`` mask (N, H, W) so that its centroid lies on its
    ``target``'s, to the nearest pixel (a hard mask stays hard): the shapes compared, not where they
    sit. A camera a few degrees off shifts the whole silhouette (at 32 px, 5 degrees is some 4 px and
    halves the IoU of a small object); a wrong image or a garbage mask changes its shape. Empty masks
    are not moved."""
    import torch
    import torch.nn.functional as F

    from ..cameras.placement import mask_centroids

    pred = torch.as_tensor(pred).float()
    target = torch.as_tensor(target).float().to(pred.device)
    n, h, w = pred.shape
    (p_uv, p_area), (t_uv, t_area) = mask_centroids((pred > threshold).float()), mask_centroids(
        (target > threshold).float())
    shift = torch.where(((p_area > 0) & (t_area > 0)).unsqueeze(-1), t_uv - p_uv, 0.0).round()
    # grid_sample reads the source at (x - dx, y - dy), in [-1, 1] coordinates (align_corners)
    xs = torch.linspace(-1, 1, w, device=pred.device)[None, None, :] - shift[:, 0, None, None] * (2 / max(w - 1, 1))
    ys = torch.linspace(-1, 1, h, device=pred.device)[None, :, None] - shift[:, 1, None, None] * (2 / max(h - 1, 1))
    grid = torch.stack([xs.expand(n, h, w), ys.expand(n, h, w)], -1)
    moved = F.grid_sample(pred.unsqueeze(1), grid, mode="nearest", padding_mode="zeros", align_corners=True)
    return hard_iou(moved.squeeze(1), target, threshold)


def mask_iou_hard(a, b, threshold: float = 0.5) -> float:
    """:func:`hard_iou` of two masks of any one shape, taken as a whole, as a float."""
    a, b = _np(a), _np(b)
    if a.shape != b.shape:
        raise ValueError(f"mask_iou_hard: shapes differ {a.shape} vs {b.shape}")
    return float(hard_iou(a.reshape(1, -1), b.reshape(1, -1), threshold))
