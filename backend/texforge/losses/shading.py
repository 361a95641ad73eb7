"""An image difference that smooth shading does not move: the L1 of the images' high-pass parts.

A lamp that moves with the camera (a turntable under fixed lamps, a flash) shades the object differently
in every photo. One texture cannot reproduce that, so a plain colour loss leaves a smooth residual in
every view, and the camera corrections move to trade it around instead of lining up the texture.
Shading from distant lamps varies slowly over the image, the texture's detail quickly: subtracting a
Gaussian blur from both images keeps the detail (and the silhouette's edge) and drops most of the
shading. A share of the plain difference stays so that the texture's low frequencies are still fitted.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """images (N, H, W, C) blurred by a Gaussian of ``sigma`` pixels (separable, reflected borders; the
    kernel is cut at 3 sigma or one pixel short of the image's smaller side)."""
    n, h, w, c = images.shape
    radius = max(1, min(int(math.ceil(3.0 * sigma)), min(h, w) - 1))
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    out = F.pad(images.permute(0, 3, 1, 2), (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    out = F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return out.permute(0, 2, 3, 1)


def shading_tolerant_l1(pred: torch.Tensor, target: torch.Tensor, sigma: float, plain_share: float) -> torch.Tensor:
    """Mean L1 between the high-pass parts (image minus its ``sigma``-pixel blur) of ``pred`` and ``target``
    (N, H, W, C), plus ``plain_share`` x their plain mean L1 (see the module docstring)."""
    diff = pred - target                      # the blur is linear: high-pass the difference once
    return (diff - gaussian_blur(diff, sigma)).abs().mean() + plain_share * diff.abs().mean()
