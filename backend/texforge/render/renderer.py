"""The one renderer entry point of the backend: ``render_mesh``.

Every pipeline renders through this function: it projects a mesh with :class:`~.camera.Cameras`
(or :class:`~.weak_perspective.WeakPerspectiveCameras`), rasterizes it with kaolin's DIB-R semantics
(:mod:`.rasterize`, :mod:`.soft_mask`) and samples a texture (:mod:`.texture`). On a CUDA device with
kaolin importable, the soft mask comes from kaolin's kernel (:mod:`.kaolin_switch`).

Choices made here (the kaolin-compatible functions stay kaolin's):

* Faces with any vertex at camera ``z <= near`` (behind or on the camera plane) are dropped from the
  hard raster and the soft mask: their projections are meaningless. Faces that straddle the plane
  are dropped whole (no clipping); keep cameras outside the object.
* Back-face culling uses the winding in NDC (x right, y up): a face seen counter-clockwise, i.e. its
  outside facing the camera for meshes that are CCW from outside, is front-facing. Culled faces still
  count in the soft mask, as in kaolin.
* ``perspective_correct`` interpolates attributes (uv, colours, bary) with 1/z-weighted barycentrics;
  the z-buffer itself always uses kaolin's screen-space depth. ``depth`` is camera z (positive),
  interpolated correctly for the projection, without gradient.
* Non-finite vertices raise ``ValueError``; empty meshes give empty images (soft mask 0, face_idx -1)
  that still backpropagate (zero gradients).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import kaolin_switch
from .rasterize import barycentric_at_pixels, interpolate_corners, rasterize_face_index
from .texture import texture_mapping


@dataclass
class RenderOutput:
    """Rendered views, N = number of cameras, H x W the cameras' image size.

    rgb (N, H, W, C) colour (texture or vertex colours, composited over ``background``; None when the
    mesh has neither); soft_mask (N, H, W) DIB-R soft silhouette (differentiable); hard_mask (N, H, W)
    bool, ``face_idx >= 0``; face_idx (N, H, W) int64, -1 on background; depth (N, H, W) camera z,
    0 on background; uv (N, H, W, 2) interpolated texture coordinates (0 on background or without UVs);
    bary (N, H, W, 3) barycentric weights of the visible face (perspective-correct when requested).
    """

    rgb: torch.Tensor | None
    soft_mask: torch.Tensor
    hard_mask: torch.Tensor
    face_idx: torch.Tensor
    depth: torch.Tensor
    uv: torch.Tensor
    bary: torch.Tensor


def _batched(x: torch.Tensor, n: int, name: str) -> torch.Tensor:
    """(K, D) or (n or 1, K, D) -> (n, K, D)."""
    if x.dim() == 2:
        return x.unsqueeze(0).expand(n, -1, -1)
    if x.dim() == 3 and x.shape[0] in (1, n):
        return x.expand(n, -1, -1)
    raise ValueError(f"{name} must be (K, D) or ({n}, K, D), got {tuple(x.shape)}")


def _check_faces(faces: torch.Tensor, num: int, name: str) -> torch.Tensor:
    if faces.dim() != 2 or faces.shape[1] != 3:
        raise ValueError(f"{name} must be (F, 3), got {tuple(faces.shape)}")
    faces = faces.long()
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= num):
        raise ValueError(f"{name} index out of range [0, {num})")
    return faces


def render_mesh(vertices: torch.Tensor, faces: torch.Tensor, cameras, uvs: torch.Tensor | None = None,
                face_uvs: torch.Tensor | None = None, texture: torch.Tensor | None = None,
                vertex_colors: torch.Tensor | None = None, *, sigmainv: float = 7000.0, boxlen: float = 0.02,
                knum: int = 30, perspective_correct: bool = True, soft_mask: bool = True,
                cull_backfaces: bool = True, background=None, near: float = 1e-6,
                texture_mode: str = "bilinear") -> RenderOutput:
    """Render a triangle mesh in N views.

    Args:
        vertices: (V, 3) world positions shared by all views, or (N, V, 3) per view.
        faces: (F, 3) int64, counter-clockwise seen from outside.
        cameras: :class:`Cameras` (N views, or 1 broadcast to the vertex batch) or anything with
            ``project_ndc(points) -> (ndc (N, P, 2), depth -z (N, P))``, ``width``, ``height`` and
            optionally ``orthographic = True`` (screen-space interpolation is then exact).
        uvs: (T, 2) texture coordinates in [0, 1], v up; face_uvs (F, 3) indices into ``uvs``
            (default ``faces`` when T == V).
        texture: (1 or N, C, Ht, Wt) in [0, 1], row 0 on top; sampled bilinearly (``texture_mode``).
        vertex_colors: (V, C) or (N, V, C) per-vertex colours (used when there is no texture).
        sigmainv, boxlen, knum: DIB-R soft-mask parameters (NDC units; see :func:`dibr_soft_mask`).
        perspective_correct: interpolate attributes with 1/z weights (ignored for orthographic cameras).
        soft_mask: compute the soft mask; when False, ``soft_mask`` is the hard mask as floats.
        cull_backfaces: drop faces seen from behind in the hard raster.
        background: None (0), a float, a (C,) tensor or an (N, H, W, C) image behind the mesh in ``rgb``.
        near: faces with a vertex at camera z <= near are dropped.
        texture_mode: 'bilinear' or 'nearest'.
    Returns:
        :class:`RenderOutput`.
    """
    if vertices.dim() not in (2, 3) or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be (V, 3) or (N, V, 3), got {tuple(vertices.shape)}")
    if not torch.isfinite(vertices).all():
        raise ValueError("vertices contain NaN or inf")
    H, W = int(cameras.height), int(cameras.width)
    N = vertices.shape[0] if vertices.dim() == 3 else len(cameras)
    if len(cameras) not in (1, N):
        raise ValueError(f"{len(cameras)} cameras for a batch of {N} vertex sets")
    V = vertices.shape[-2]
    faces = _check_faces(torch.as_tensor(faces, device=vertices.device), V, "faces")
    dtype, device = vertices.dtype, vertices.device
    F = faces.shape[0]

    ndc, zgl = cameras.project_ndc(vertices)  # (n, V, 2), (n, V) with n = len(cameras) or N
    if ndc.shape[0] != N:
        ndc, zgl = ndc.expand(N, -1, -1), zgl.expand(N, -1)
    orthographic = bool(getattr(cameras, "orthographic", False))
    cam_z = -zgl.detach()  # (N, V) positive in front of the camera
    flat_faces = faces.reshape(-1)
    face_xy = ndc.index_select(1, flat_faces).reshape(N, F, 3, 2)  # (N, F, 3, 2)
    face_zgl = zgl.detach().index_select(1, flat_faces).reshape(N, F, 3)  # (N, F, 3)
    face_camz = cam_z[:, faces]
    in_front = (face_camz > near).all(-1) if not orthographic else torch.ones_like(face_camz[..., 0], dtype=torch.bool)
    in_front &= torch.isfinite(face_xy.detach()).flatten(2).all(-1)
    valid = in_front
    if cull_backfaces and F:
        p = face_xy.detach()
        area2 = (p[:, :, 1, 0] - p[:, :, 0, 0]) * (p[:, :, 2, 1] - p[:, :, 0, 1]) \
            - (p[:, :, 2, 0] - p[:, :, 0, 0]) * (p[:, :, 1, 1] - p[:, :, 0, 1])
        valid = valid & (area2 > 0)

    face_idx = rasterize_face_index(H, W, face_zgl, face_xy, valid)
    pix, gface, w = barycentric_at_pixels(face_xy, face_idx)
    npix = N * H * W
    zc = face_camz.reshape(-1, 3)[gface]  # (P, 3) camera z of the visible faces' corners
    ws = w.detach()
    if orthographic:
        depth_vals = (ws * zc).sum(-1)
    else:
        # screen-space barycentrics interpolate 1/z linearly
        depth_vals = 1.0 / (ws / zc).sum(-1)
        if perspective_correct:
            wz = w / zc
            w = wz / wz.sum(-1, keepdim=True)

    def scatter(vals: torch.Tensor) -> torch.Tensor:
        return vals.new_zeros((npix,) + vals.shape[1:]).index_copy(0, pix, vals)

    def interp(corner: torch.Tensor) -> torch.Tensor:  # (N, F, 3, D) -> (P, D)
        return interpolate_corners(corner.reshape(N * F, 3, corner.shape[-1]), gface, w)

    bary = scatter(w).reshape(N, H, W, 3)
    depth = scatter(depth_vals.to(dtype)).reshape(N, H, W)
    hard_mask = face_idx >= 0

    uv = torch.zeros((N, H, W, 2), dtype=dtype, device=device)
    rgb = None
    if uvs is not None:
        uvs = torch.as_tensor(uvs, device=device).to(dtype)
        uvs_b = _batched(uvs, N, "uvs")
        fu = faces if face_uvs is None else _check_faces(torch.as_tensor(face_uvs, device=device),
                                                           uvs_b.shape[1], "face_uvs")
        if face_uvs is None and uvs_b.shape[1] != V:
            raise ValueError("face_uvs is required when uvs do not match the vertices one to one")
        if fu.shape[0] != F:
            raise ValueError("face_uvs must have one row per face")
        if uvs.dim() == 2 or uvs.shape[0] == 1:   # one UV layout for every view: gather its corners once
            uv_p = interpolate_corners(uvs_b[0][fu], gface % F, w)  # (P, 2)
        else:
            uv_p = interp(uvs_b[:, fu])
        uv = scatter(uv_p).reshape(N, H, W, 2)
        if texture is not None:
            if texture.dim() != 4 or texture.shape[0] not in (1, N):
                raise ValueError(f"texture must be (1 or {N}, C, Ht, Wt), got {tuple(texture.shape)}")
            tex = texture.to(dtype)
            if tex.shape[0] == 1:
                col = texture_mapping(uv_p.unsqueeze(0), tex, mode=texture_mode)[0]  # (P, C)
                rgb = scatter(col).reshape(N, H, W, -1)
            else:
                rgb = texture_mapping(uv, tex, mode=texture_mode) * hard_mask.unsqueeze(-1).to(dtype)
    elif texture is not None:
        raise ValueError("a texture needs uvs")
    if rgb is None and vertex_colors is not None:
        vc = _batched(torch.as_tensor(vertex_colors, device=device).to(dtype), N, "vertex_colors")
        if vc.shape[1] != V:
            raise ValueError("vertex_colors must have one row per vertex")
        rgb = scatter(interp(vc[:, faces])).reshape(N, H, W, -1)
    if rgb is not None and background is not None:
        bg = torch.as_tensor(background, dtype=dtype, device=device)
        rgb = torch.where(hard_mask.unsqueeze(-1), rgb, bg.expand_as(rgb) if bg.dim() == 4 else bg)

    if soft_mask and F:
        soft = kaolin_switch.dibr_soft_mask(face_xy, face_idx, sigmainv, boxlen, knum, valid_faces=in_front)
    else:
        soft = hard_mask.to(dtype)
    if vertices.requires_grad:
        # keep the graph connected for empty or invisible meshes (zero gradients, never an error)
        soft = soft + 0.0 * vertices.sum()
    return RenderOutput(rgb=rgb, soft_mask=soft, hard_mask=hard_mask, face_idx=face_idx, depth=depth,
                        uv=uv, bary=bary)
