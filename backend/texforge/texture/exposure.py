"""Per-view exposure: the colour gain of each photo against the texture the views agree on.

Photos of one object rarely share an exposure and white balance: cameras on auto exposure, lights
that change, a turntable turning the object under them. A texture fitted to all of them at once
reads the difference as texture (seams, blotches), the image loss pulls each camera toward
whatever makes its brighter or darker pixels line up, and the leave-one-out colour test prunes
the photos furthest from the mean exposure. Measured on the fruit scene with per-photo gains of
sigma 0.25 in log (about a third of a stop) and 4 % white-balance noise: held-out PSNR 25.9 ->
23.3 dB, the camera rotation error ratio 0.29 -> 1.14 (worse than the input), two good photos
pruned (docs/BENCHMARKS.md, "Photos with different exposures").

A gain per view and channel (photo = gain x render) explains that with three numbers a photo. It
is estimated as the ratio of the photo's summed colour to the rendered consensus texture's over the
pixels that both the photo's mask and the render cover (eroded, so the silhouette edge, where
misregistration lives, does not count), leaving out clipped pixels. A texture detail that the fit
has not yet registered moves within that region rather than out of it, so sums hardly see it; the
median of per-pixel ratios did (on the tiny test scene, spot at 64 px, its gains were off by 0.07
in log against 0.05 for the sums).
Images and a texture cannot tell a brighter object from brighter photos, so the gains are
centred to a geometric mean of one over the views that count (the gauge).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# pixels this bright (either side) may be clipped, and a clipped pixel's ratio means nothing
CLIPPED = 0.98
MIN_PIXELS = 20          # fewer usable pixels than this: the view keeps a gain of one
MAX_LOG_GAIN = 2.0       # about 2.9 stops either way: beyond it the estimate is a misfit, not a gain


@torch.no_grad()
def view_log_gains(photos: torch.Tensor, renders: torch.Tensor, covered: torch.Tensor,
                   erode_px: int = 1) -> torch.Tensor:
    """photos, renders (N, H, W, 3) in [0, 1]; covered (N, H, W) bool: where the render and the photo's
    mask both hold the object -> log gains (N, 3) with photo ~ exp(gain) x render (0 where a view has
    too few usable pixels)."""
    # the edge and the clipped pixels grown by erode_px: a pixel of misregistration must not pair a
    # clipped pixel on one side with an unclipped one on the other
    keep = covered.float().unsqueeze(1)
    clipped = ((photos >= CLIPPED) | (renders >= CLIPPED)).permute(0, 3, 1, 2).float()   # per channel
    if erode_px > 0:
        k = 2 * erode_px + 1
        keep = -F.max_pool2d(-keep, k, stride=1, padding=erode_px)
        clipped = F.max_pool2d(clipped, k, stride=1, padding=erode_px)
    usable = ((keep > 0.5) & (clipped < 0.5)).permute(0, 2, 3, 1).to(photos.dtype)
    photo_sum, render_sum = (photos * usable).sum((1, 2)), (renders * usable).sum((1, 2))
    known = (usable.sum((1, 2)) >= MIN_PIXELS) & (photo_sum > 1e-6) & (render_sum > 1e-6)
    gains = torch.log(photo_sum.clamp_min(1e-6)) - torch.log(render_sum.clamp_min(1e-6))
    return torch.where(known, gains, torch.zeros_like(gains)).clamp(-MAX_LOG_GAIN, MAX_LOG_GAIN)


def centred_log_gains(log_gains: torch.Tensor, views: list[int]) -> torch.Tensor:
    """``log_gains`` (N, 3) less their mean over ``views`` (the gauge: a geometric mean gain of one)."""
    return log_gains - log_gains[views].mean(0, keepdim=True)


def balanced(images: torch.Tensor, masks: torch.Tensor, log_gains: torch.Tensor) -> torch.Tensor:
    """images (N, H, W, 3) with the object (where ``masks`` (N, H, W) holds it) divided by each view's
    gain; the backdrop keeps its colours (it is not the object, and the figures composite onto it)."""
    scale = torch.exp(-log_gains).to(images.dtype)[:, None, None, :]
    m = masks.unsqueeze(-1).to(images.dtype)
    return (images * (m * scale + (1 - m))).clamp(0, 1)
