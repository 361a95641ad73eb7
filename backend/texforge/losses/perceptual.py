"""Perceptual loss on frozen ImageNet EfficientNet-Lite0 features (LPIPS-style, without learned weights).

For each chosen stage the features of prediction and target are normalised to unit length over channels
(as LPIPS does, so every stage contributes on the same scale), their squared difference is summed over
channels and averaged over pixels (inside the mask when one is given), and the stages are combined with
``weights``. The network is shared and cached per device (:meth:`EffNetLite0Features.get`); it is not a
submodule, so it never lands in a pipeline's state dict or optimiser.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..nets.effnet import DEFAULT_STAGES, EffNetLite0Features

MIN_SIZE = 64  # below this the deepest stages are 1-2 px: upsample small images first


def _to_min_size(x: torch.Tensor, min_size: int, mode: str = "bilinear") -> torch.Tensor:
    h, w = x.shape[-2:]
    if min(h, w) >= min_size:
        return x
    s = min_size / min(h, w)
    size = (max(min_size, round(h * s)), max(min_size, round(w * s)))
    if mode == "bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return F.interpolate(x, size=size, mode=mode)


class PerceptualLoss(nn.Module):
    """``loss(pred, target, mask=None)`` -> scalar tensor (or ``loss(pred, target_features=...)``, with the
    targets' features from :meth:`target_features`).

    pred, target (N, 3, H, W) RGB in [0, 1]; mask (N, 1, H, W) or (N, H, W) in [0, 1] weights pixels
    (None: all). Images smaller than 64 px on their short side are upsampled (bilinear) first.
    ``layers`` are EfficientNet-Lite0 stage names (``texforge.nets.effnet.STAGES``); ``weights`` one per
    layer (default: equal, summing to 1). Identical inputs give exactly 0; the loss is differentiable
    with respect to both inputs."""

    def __init__(self, layers=DEFAULT_STAGES, weights=None, min_size: int = MIN_SIZE, eps: float = 1e-10):
        super().__init__()
        self.layers = tuple(layers)
        if weights is None:
            weights = [1.0 / len(self.layers)] * len(self.layers)
        if len(weights) != len(self.layers):
            raise ValueError(f"PerceptualLoss: {len(self.layers)} layers but {len(weights)} weights")
        self.weights = [float(w) for w in weights]
        self.min_size = int(min_size)
        self.eps = eps

    def extractor(self, device) -> EffNetLite0Features:
        return EffNetLite0Features.get(device, self.layers)

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        net = self.extractor(x.device)
        return net.features(_to_min_size(x, self.min_size).to(net.mean.dtype))

    def target_features(self, target: torch.Tensor) -> list[torch.Tensor]:
        """The features of fixed targets (N, 3, H, W), without a graph: a caller that compares against
        the same photos many times computes them once and passes them as ``forward``'s
        ``target_features``."""
        with torch.no_grad():
            return self._features(target)

    def forward(self, pred: torch.Tensor, target: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                target_features: list[torch.Tensor] | None = None) -> torch.Tensor:
        if target_features is None and (target is None or pred.shape != target.shape):
            raise ValueError(f"PerceptualLoss expects pred and target (N, 3, H, W) of one shape, got "
                             f"{tuple(pred.shape)} and {None if target is None else tuple(target.shape)}")
        if pred.dim() != 4 or pred.shape[1] != 3:
            raise ValueError(f"PerceptualLoss expects pred (N, 3, H, W), got {tuple(pred.shape)}")
        n = pred.shape[0]
        if target_features is not None:
            # a batch of one would broadcast against every prediction without a word
            if len(target_features) != len(self.layers) or any(f.shape[0] != n for f in target_features):
                raise ValueError(f"PerceptualLoss: target_features must hold {len(self.layers)} maps of {n} "
                                 f"images, got {[tuple(f.shape) for f in target_features]}")
            feats = list(zip(self._features(pred), target_features))
        elif target.requires_grad:
            feats = [(f[:n], f[n:]) for f in self._features(torch.cat([pred, target], dim=0))]
        else:
            # a fixed target (a photo) needs no graph: back-propagating through its half of a joint batch
            # cost 13-23 % of this loss's time (two views at 128 px, one thread)
            feats = list(zip(self._features(pred), self.target_features(target)))
        if mask is not None:
            mask = mask.reshape(n, 1, *mask.shape[-2:]).to(pred.dtype)
            mask = _to_min_size(mask, self.min_size)
        total = pred.new_zeros(())
        for (fp, ft), w in zip(feats, self.weights):
            fp = fp / (fp.norm(dim=1, keepdim=True) + self.eps)
            ft = ft / (ft.norm(dim=1, keepdim=True) + self.eps)
            d = (fp - ft).pow(2).sum(dim=1, keepdim=True)  # (N, 1, h, w)
            if mask is None:
                total = total + w * d.mean()
            else:
                m = F.interpolate(mask, size=d.shape[-2:], mode="area")  # fraction of each cell covered
                total = total + w * (d * m).sum() / m.sum().clamp_min(1e-6)
        return total
