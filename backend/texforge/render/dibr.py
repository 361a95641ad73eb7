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


def mask_iou(lhs_mask: torch.Tensor, rhs_mask: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """kaolin's ``mask_iou`` loss: ``1 - mean_b(sum(a*b) / (sum(a + b - a*b) + 1e-10))``.

    lhs_mask, rhs_mask: (B, H, W). Returns a scalar (0 for identical masks); ``reduction="none"``
    (not in kaolin) gives the per-view losses (B,) instead, for pipelines that weight or prune views."""
    if lhs_mask.shape != rhs_mask.shape:
        raise ValueError(f"mask shapes differ: {tuple(lhs_mask.shape)} vs {tuple(rhs_mask.shape)}")
    batch_size = lhs_mask.shape[0]
    rhs_mask = rhs_mask.to(lhs_mask.dtype)
    sil_mul = lhs_mask * rhs_mask
    sil_add = lhs_mask + rhs_mask
    iou_up = torch.sum(sil_mul.reshape(batch_size, -1), dim=1)
    iou_down = torch.sum((sil_add - sil_mul).reshape(batch_size, -1), dim=1)
    if reduction == "none":
        return 1.0 - iou_up / (iou_down + 1e-10)
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return 1.0 - torch.mean(iou_up / (iou_down + 1e-10))


class _DenseUnion(torch.autograd.Function):
    """(P, F) probabilities -> (P,) ``1 - prod(1 - p)`` with kaolin's backward ``(1 - S) / (1 - p + 1e-7)``."""

    @staticmethod
    def forward(ctx, prob):
        soft = 1.0 - torch.prod(1.0 - prob, dim=1)
        ctx.save_for_backward(prob, soft)
        return soft

    @staticmethod
    def backward(ctx, grad):
        prob, soft = ctx.saved_tensors
        return (grad * (1.0 - soft)).unsqueeze(1) / (1.0 - prob + 1e-7)


def reference_dibr(height: int, width: int, face_vertices_z: torch.Tensor, face_vertices_image: torch.Tensor,
                   face_features: torch.Tensor, valid_faces: torch.Tensor | None = None,
                   sigmainv: float = 7000, boxlen: float = 0.02, knum: int = 30, multiplier: float = 1000,
                   eps: float = 1e-8, pixel_chunk: int = 4096):
    """Brute-force pixel x face DIB-R (every pixel tests every face), for tests and benchmarks only.

    Same inputs and semantics as :func:`rasterize` + :func:`dibr_soft_mask`, computed densely per chunk
    of pixels (each chunk checkpointed so the backward does not keep (P, F) intermediates alive).
    Returns (features (B, H, W, D), soft_mask (B, H, W), face_idx (B, H, W))."""
    from torch.utils.checkpoint import checkpoint

    from .rasterize import ndc_pixel_centres, pixel_centres
    from .soft_mask import boundary_distance_sq

    B, F = face_vertices_z.shape[:2]
    dtype, device = face_vertices_image.dtype, face_vertices_image.device
    xs, ys = pixel_centres(height, width, multiplier, dtype, device)
    nxs, nys = ndc_pixel_centres(height, width, dtype, device)
    ii, jj = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device),
                            indexing="ij")
    ii, jj = ii.reshape(-1), jj.reshape(-1)
    ok = torch.isfinite(face_vertices_image).flatten(2).all(-1) & torch.isfinite(face_vertices_z).all(-1)
    if valid_faces is not None:
        ok_raster = ok & valid_faces.to(torch.bool)
    else:
        ok_raster = ok

    def soft_chunk(v, covered, x0, y0):  # v (F, 3, 2) scaled; x0, y0 (P, 1)
        lo = v.detach().min(1)[0] - boxlen * multiplier
        hi = v.detach().max(1)[0] + boxlen * multiplier
        inbox = (x0 >= lo[:, 0]) & (x0 < hi[:, 0]) & (y0 >= lo[:, 1]) & (y0 < hi[:, 1]) & ok_b
        inbox &= ~covered.unsqueeze(1)
        inbox &= torch.cumsum(inbox.long(), dim=1) <= knum
        dist, _ = boundary_distance_sq(v, x0, y0, multiplier)
        prob = torch.exp(-(sigmainv * dist / multiplier / multiplier)) * inbox
        soft = _DenseUnion.apply(prob)
        return torch.where(covered, torch.ones_like(soft), soft)

    feats_out, softs, idxs = [], [], []
    for b in range(B):
        vb = face_vertices_image[b] * multiplier
        zb = face_vertices_z[b].detach()
        ok_b = ok[b]
        fi_b, soft_b, feat_b = [], [], []
        for s in range(0, height * width, pixel_chunk):
            i, j = ii[s:s + pixel_chunk], jj[s:s + pixel_chunk]
            x0, y0 = xs[j].unsqueeze(1), ys[i].unsqueeze(1)
            with torch.no_grad():
                v = vb.detach()
                lo, hi = v.min(1)[0], v.max(1)[0]
                inbox = (x0 >= lo[:, 0]) & (x0 < hi[:, 0]) & (y0 >= lo[:, 1]) & (y0 < hi[:, 1])
                ax, ay = v[:, 0, 0] - x0, v[:, 0, 1] - y0
                bx, by = v[:, 1, 0] - x0, v[:, 1, 1] - y0
                cx, cy = v[:, 2, 0] - x0, v[:, 2, 1] - y0
                w0, w1, w2 = bx * cy - by * cx, cx * ay - cy * ax, ax * by - ay * bx
                norm = w0 + w1 + w2
                norm = norm + torch.copysign(torch.full_like(norm, eps), norm)
                w0, w1, w2 = w0 / norm, w1 / norm, w2 / norm
                z = w0 * zb[:, 0] + w1 * zb[:, 1] + w2 * zb[:, 2]
                hit = inbox & (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & ok_raster[b] & ((w0 + w1 + w2).abs() > 0.5)
                z = torch.where(hit, z, torch.full_like(z, float("-inf")))
                zmax = z.max(dim=1, keepdim=True)[0]
                best = torch.where(hit & (z == zmax), torch.arange(F, device=device), F).min(dim=1)[0]
                fidx = torch.where(best == F, -1, best)
            covered = fidx >= 0
            if face_vertices_image.requires_grad:
                soft_b.append(checkpoint(soft_chunk, vb, covered, x0, y0, use_reentrant=False))
            else:
                soft_b.append(soft_chunk(vb, covered, x0, y0))
            # features at the chosen face, barycentrics recomputed at the pixel centre (kaolin backward)
            f = fidx.clamp_min(0)
            vv = face_vertices_image[b][f]
            a = vv[:, 0]
            m, p = vv[:, 1, 0] - a[:, 0], vv[:, 1, 1] - a[:, 1]
            n, q = vv[:, 2, 0] - a[:, 0], vv[:, 2, 1] - a[:, 1]
            s_, t_ = nxs[j] - a[:, 0], nys[i] - a[:, 1]
            k3 = m * q - n * p
            k3 = k3 + torch.copysign(torch.full_like(k3, eps), k3.detach())
            l1, l2 = (s_ * q - n * t_) / k3, (m * t_ - s_ * p) / k3
            wts = torch.stack([1 - l1 - l2, l1, l2], -1)
            fe = (wts.unsqueeze(-1) * face_features[b][f]).sum(1) * covered.unsqueeze(-1)
            fi_b.append(fidx)
            feat_b.append(fe)
        idxs.append(torch.cat(fi_b).reshape(height, width))
        softs.append(torch.cat(soft_b).reshape(height, width))
        feats_out.append(torch.cat(feat_b).reshape(height, width, -1))
    return torch.stack(feats_out), torch.stack(softs), torch.stack(idxs)
