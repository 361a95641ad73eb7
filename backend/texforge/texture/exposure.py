"""Per-view exposure: the colour gain of each photo against what the other photos see of the same surface.

Photos of one object rarely share an exposure and white balance: cameras on auto exposure, lights
that change, a turntable turning the object under them. A texture fitted to all of them at once
reads the difference as texture (seams, blotches), the image loss pulls each camera toward
whatever makes its brighter or darker pixels line up, and the leave-one-out colour test prunes
the photos furthest from the mean exposure. On the fruit scene with per-photo gains of sigma 0.25
in log (about a third of a stop) and 4 % white-balance noise, the fit without gains pruned the two
brightest photos, and its cameras ended worse than the input (rotation error ratio 1.21, against
0.29 with one exposure); held-out PSNR 24.0 dB. With the gains: ratio 0.46, 26.0 dB, no photo
pruned (docs/BENCHMARKS.md, "Photos with different exposures").

A gain per view and channel (photo = gain x the object's colour) explains that with three numbers
a photo. Each pair of views is compared where both see the same surface points (texels of a coarse
UV chart, weighted as the texture projection weights them): the log ratio of their summed colours
there, clipped colours left out. Sums over a region barely notice a texel or two of misregistration
(in an earlier version that measured photos against a rendered texture, the median of per-pixel
ratios was off by 0.10 in log on the spot test scene, the ratio of sums by 0.07). The gains are the
least-squares fit to all those pairwise ratios. A view is never compared with a texture it helped
make: where it sees most of its part of the object alone, such a texture is mostly its own colours
and hands its gain back (on the 10-view spot test scene, an earlier version that measured each photo
against the blended texture found one view's gain of +0.28 in log as +0.03).
Images and a texture cannot tell a brighter object from brighter photos, so the gains are
centred to a geometric mean of one over the views that count (the gauge).

Light that moves over the object from view to view (a lamp on the camera, a turntable turning the
object under a fixed lamp) is no exposure, so a view keeps a gain of one unless its gain explains at
least ``MIN_EXPLAINED`` of its squared colour differences from the other views. That test does not
catch every such light: under a key light mounted on the camera the pairs of views agree well enough
that every view takes a gain, and with the plain image loss the fruit's cameras ended worse than
without gains (rotation error ratio 1.06 against 0.87); the fit's shading-tolerant image loss takes
that scene to 0.36 with the gains (docs/BENCHMARKS.md, "Lamps that move with the camera").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..runtime.determinism import lstsq

# colours this bright may be clipped, and a clipped colour says nothing about an exposure
CLIPPED = 0.98
MAX_LOG_GAIN = 2.0       # about 2.9 stops either way: beyond it the estimate is a misfit, not a gain
# a gain is used only where it explains at least this share of the view's squared colour difference
# from the other views (see the module docstring)
MIN_EXPLAINED = 0.3
# gains within this of one (in log) are taken as one: a scene of one exposure measures gains within 0.01
# (0.05 in the dark channel of a saturated colour), which is the measurement's noise, not an exposure
UNSEEN = 0.02


@torch.no_grad()
def overlap_log_gains(colours: torch.Tensor, weights: torch.Tensor, views: list[int],
                      min_explained: float = MIN_EXPLAINED) -> torch.Tensor:
    """colours (V, H, W, 3): what each view sees at the texels of a UV chart; weights (V, H, W): how well
    it sees them (0: not at all) -> log gains (V, 3), photo = exp(gain) x the object's colour, centred
    over ``views`` (the views whose colours make the texture; the others are measured against them but
    do not move them).

    Each pair of views is compared where both see the object, never a view with itself: ``d_jk``, the
    log ratio of the two views' summed colours over their common texels (each texel weighted by both
    views' weights). The gains are the weighted least-squares solution of ``gain_j - gain_k = d_jk``.
    A view whose gain explains less than ``min_explained`` of its squared ``d_jk`` (the others' gains
    divided out) keeps a gain of one, and every gain moves ``UNSEEN`` toward one."""
    v = colours.shape[0]
    # clipped texels grown by one: a texel of misregistration must not pair a clipped colour in one view
    # with an unclipped one in another
    clipped = F.max_pool2d((colours >= CLIPPED).permute(0, 3, 1, 2).to(colours.dtype), 3, stride=1, padding=1)
    usable = weights[:, None] * (1 - clipped)                                  # (V, 3, H, W)
    w = usable.flatten(2).transpose(0, 1)                                       # (3, V, T)
    c = colours.permute(3, 0, 1, 2).flatten(2)                                  # (3, V, T)
    member = torch.zeros(v, dtype=w.dtype, device=w.device)
    member[views] = 1.0
    partners = w * member[:, None]
    mine = (w * c) @ partners.transpose(1, 2)          # [j, k]: view j's colour summed over texels k sees too
    theirs = w @ (partners * c).transpose(1, 2)        # [j, k]: view k's colour over the same texels
    overlap = w @ partners.transpose(1, 2)
    valid = (mine > 1e-9) & (theirs > 1e-9) & ~torch.eye(v, dtype=torch.bool, device=w.device)
    pair = torch.where(valid, overlap, torch.zeros_like(overlap))
    d = torch.where(valid, torch.log(mine.clamp_min(1e-9)) - torch.log(theirs.clamp_min(1e-9)), torch.zeros_like(mine))
    # row j: sum_k pair_jk (gain_j - gain_k) = sum_k pair_jk d_jk; a view outside ``views`` has an empty
    # column, so it is measured without moving the others; the last row fixes the mean over ``views``
    system = torch.cat([torch.diag_embed(pair.sum(-1)) - pair, member.expand(3, 1, v)], 1)
    target = torch.cat([(pair * d).sum(-1), torch.zeros(3, 1, dtype=w.dtype, device=w.device)], 1)
    gains = lstsq(system, target.unsqueeze(-1)).squeeze(-1).clamp(-MAX_LOG_GAIN, MAX_LOG_GAIN)
    g_j, g_k = gains.unsqueeze(-1), gains.unsqueeze(-2)
    before = (pair * (d + g_k) ** 2).sum((0, 2))
    after = (pair * (d - g_j + g_k) ** 2).sum((0, 2))
    explained = 1 - after / before.clamp_min(1e-12)
    gains = centred_log_gains(torch.where(explained >= min_explained, gains, torch.zeros_like(gains)).T, views)
    return gains.sign() * (gains.abs() - UNSEEN).clamp_min(0)      # (V, 3)


def centred_log_gains(log_gains: torch.Tensor, views: list[int]) -> torch.Tensor:
    """``log_gains`` (N, 3) less their mean over ``views`` (the gauge: a geometric mean gain of one)."""
    return log_gains - log_gains[views].mean(0, keepdim=True)


def balanced(images: torch.Tensor, masks: torch.Tensor, log_gains: torch.Tensor) -> torch.Tensor:
    """images (N, H, W, 3) with the object (where ``masks`` (N, H, W) holds it) divided by each view's
    gain; the backdrop keeps its colours (it is not the object, and the figures composite onto it).
    Gains of one return ``images`` itself."""
    if not bool(log_gains.any()):
        return images
    scale = torch.exp(-log_gains).to(images.dtype)[:, None, None, :]
    m = masks.unsqueeze(-1).to(images.dtype)
    return (images * (m * scale + (1 - m))).clamp(0, 1)
