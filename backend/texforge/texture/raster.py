"""UV-space rasterisation: a 3D surface point and normal for every texel of a mesh's texture.

Face UVs mapped to NDC play the role of the image and the per-corner positions and normals are the
interpolated features, so the ordinary rasteriser gives, for every texel a face covers, the point of
the surface the texel paints. Texture projection (photo -> UV) and any per-texel loss start here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def uv_rasterize(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                 normals: torch.Tensor, size: tuple[int, int]):
    """Per-texel surface point and normal.

    vertices (V, 3), faces (F, 3), uvs (T, 2) v-up, face_uvs (F, 3), normals (V, 3) vertex normals;
    size (H, W). Returns points (H, W, 3), normals (H, W, 3) (unit), covered (H, W) bool; row 0 of the
    maps is the top of the texture (v = 1)."""
    from ..render.rasterize import rasterize

    h, w = size
    fv_img = (uvs[face_uvs] * 2.0 - 1.0).unsqueeze(0)                   # (1, F, 3, 2) NDC, y up = v up
    fv_z = torch.full(fv_img.shape[:3], -1.0, dtype=vertices.dtype, device=vertices.device)
    feats = torch.cat([vertices[faces], normals[faces]], -1).unsqueeze(0)  # (1, F, 3, 6)
    out, face_idx = rasterize(h, w, fv_z, fv_img, feats)
    out, face_idx = out[0], face_idx[0]
    covered = face_idx >= 0
    return out[..., :3], F.normalize(out[..., 3:], dim=-1, eps=1e-12), covered
