"""kaolin's ``dibr_rasterization`` (hard rasterization + soft mask) and ``mask_iou``."""

from __future__ import annotations

import torch

from .rasterize import rasterize
from .soft_mask import dibr_soft_mask


def dibr_rasterization(height: int, width: int, face_vertices_z: torch.Tensor,
                       face_vertices_image: torch.Tensor, face_features, face_normals_z: torch.Tensor,
                       sigmainv: float = 7000, boxlen: float = 0.02, knum: int = 30,
                       multiplier: float | None = None, eps: float | None = None):
    """Fully differentiable DIB-R rendering, kaolin's semantics.

    Args:
        height, width: image size.
        face_vertices_z: (B, F, 3) depth, largest is closest (camera z of a camera looking down -z).
        face_vertices_image: (B, F, 3, 2) NDC xy.
        face_features: (B, F, 3, D) per-corner features or a list/tuple of them.
        face_normals_z: (B, F) z of the face normals; faces with ``normal_z >= 0`` are rasterized
            (back-face culling). The soft mask uses every face.
        sigmainv, boxlen, knum, multiplier: see :func:`dibr_soft_mask`.
        eps: barycentric normaliser epsilon (default 1e-8).
    Returns:
        (features (B, H, W, D) or tuple, soft_mask (B, H, W), face_idx (B, H, W) int64 (-1 background)).
    """
    multiplier = 1000. if multiplier is None else multiplier
    features, face_idx = rasterize(height, width, face_vertices_z, face_vertices_image, face_features,
                                   face_normals_z >= 0., multiplier, eps)
    soft_mask = dibr_soft_mask(face_vertices_image, face_idx, sigmainv, boxlen, knum, multiplier)
    return features, soft_mask, face_idx


def mask_iou(lhs_mask: torch.Tensor, rhs_mask: torch.Tensor) -> torch.Tensor:
    """kaolin's ``mask_iou`` loss: ``1 - mean_b(sum(a*b) / (sum(a + b - a*b) + 1e-10))``.

    lhs_mask, rhs_mask: (B, H, W). Returns a scalar (0 for identical masks)."""
    if lhs_mask.shape != rhs_mask.shape:
        raise ValueError(f"mask shapes differ: {tuple(lhs_mask.shape)} vs {tuple(rhs_mask.shape)}")
    batch_size = lhs_mask.shape[0]
    rhs_mask = rhs_mask.to(lhs_mask.dtype)
    sil_mul = lhs_mask * rhs_mask
    sil_add = lhs_mask + rhs_mask
    iou_up = torch.sum(sil_mul.reshape(batch_size, -1), dim=1)
    iou_down = torch.sum((sil_add - sil_mul).reshape(batch_size, -1), dim=1)
    return 1.0 - torch.mean(iou_up / (iou_down + 1e-10))
