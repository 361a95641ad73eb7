"""Distribution and perceptual metrics on EfficientNet-Lite0 features.

``kid`` and ``fid_from_features`` take any feature matrices (N, D). With the default extractor
(:func:`embed_images`: the 1280-d pooled EfficientNet-Lite0 embedding at 224 px) report them as
"KID / FID on EffNet-Lite0 features" -- they are not comparable with Inception-based FID numbers.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _poly_mmd2(x: np.ndarray, y: np.ndarray, degree: int, coef0: float) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + coef0)^degree for equal-sized sets (m, d)."""
    m, d = x.shape
    kxx = (x @ x.T / d + coef0) ** degree
    kyy = (y @ y.T / d + coef0) ** degree
    kxy = (x @ y.T / d + coef0) ** degree
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.sum() / (m * m))


def kid(feats_a, feats_b, num_subsets: int = 100, subset_size: int = 1000, degree: int = 3,
        coef0: float = 1.0, seed: int = 0, return_std: bool = False):
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 estimate with the cubic
    polynomial kernel, averaged over ``num_subsets`` random subsets of ``subset_size`` (capped at the
    smaller set; when both sets are that small the full sets are used once). Can be slightly negative
    for sets from one distribution. Returns the mean (and the std over subsets with return_std)."""
    a, b = _np(feats_a), _np(feats_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"kid: expected feature matrices (N, D) with one D, got {a.shape} and {b.shape}")
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError("kid: need at least 2 samples in each set")
    if m == len(a) == len(b):
        values = [_poly_mmd2(a, b, degree, coef0)]
    else:
        rng = np.random.default_rng(seed)
        values = [_poly_mmd2(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)],
                             degree, coef0) for _ in range(num_subsets)]
    mean = float(np.mean(values))
    return (mean, float(np.std(values))) if return_std else mean


def fid_from_features(feats_a, feats_b, eps: float = 1e-6, in_span: bool = True) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D):
    |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    With fewer samples than dimensions (N + M < D, the usual case for per-scene renders) the means and
    covariances live in the span of the samples; expressing the features in an orthonormal basis of that
    span leaves every term unchanged (distances and traces are rotation-invariant) and replaces D x D
    matrix square roots (tens of seconds for D = 1280 on 2 cores) by k x k ones, k <= N + M.
    ``in_span=False`` computes it in the full D dimensions (for tests)."""
    a, b = _np(feats_a), _np(feats_b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"fid: expected feature matrices (N, D) with one D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("fid: need at least 2 samples in each set")
    if in_span and len(a) + len(b) < a.shape[1]:
        basis = np.linalg.svd(np.concatenate([a, b]).T, full_matrices=False)[0]  # (D, k)
        a, b = a @ basis, b @ basis
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(s_a @ s_b)
    if not np.all(np.isfinite(covmean)):
        # singular product (fewer samples than dimensions): regularise, as pytorch-fid does
        off = np.eye(s_a.shape[0]) * eps
        covmean = linalg.sqrtm((s_a + off) @ (s_b + off))
    covmean = np.real(covmean)  # tiny imaginary parts come from numerical error
    diff = mu_a - mu_b
    return float(max(diff @ diff + np.trace(s_a) + np.trace(s_b) - 2.0 * np.trace(covmean), 0.0))


def _to_nchw(images):
    """(H, W, 3) / (N, H, W, 3) numpy or (N, 3, H, W) torch in [0, 1] -> float32 torch (N, 3, H, W)."""
    import torch

    if isinstance(images, torch.Tensor):
        x = images.detach().float()
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.shape[1] != 3 and x.shape[-1] == 3:
            x = x.permute(0, 3, 1, 2)
        return x
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    return torch.from_numpy(np.ascontiguousarray(x[..., :3])).permute(0, 3, 1, 2)


def embed_images(images, batch_size: int = 32, size: int = 224, device="cpu") -> np.ndarray:
    """Pooled EfficientNet-Lite0 embeddings (N, 1280) of images in [0, 1], resized to ``size`` px
    (bilinear, antialiased) as the network was trained at 224 px."""
    import torch
    from torch.nn import functional as F

    from ..nets.effnet import EffNetLite0Features

    net = EffNetLite0Features.get(device)
    x = _to_nchw(images)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            chunk = x[i:i + batch_size].to(device)
            if chunk.shape[-2:] != (size, size):
                chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", align_corners=False,
                                      antialias=True)
            out.append(net(chunk)[1].cpu().double().numpy())
    return np.concatenate(out, axis=0)


def perceptual_distance(img_a, img_b, mask=None, device="cpu") -> float:
    """LPIPS-style distance on EfficientNet-Lite0 features (see :class:`PerceptualLoss`), averaged over
    the batch. Images (H, W, 3) / (N, H, W, 3) numpy or (N, 3, H, W) torch in [0, 1]; mask (H, W) or
    (N, H, W). 0 for identical images."""
    import torch

    from ..losses.perceptual import PerceptualLoss

    a, b = _to_nchw(img_a).to(device), _to_nchw(img_b).to(device)
    m = None
    if mask is not None:
        m = torch.as_tensor(_np(mask), dtype=torch.float32, device=device)
        m = m.reshape(-1, 1, *m.shape[-2:]).expand(a.shape[0], 1, -1, -1)
    with torch.no_grad():
        return float(PerceptualLoss()(a, b, m))
