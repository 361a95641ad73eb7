"""Photo-to-UV texture projection with visibility (pseudo-ground-truth textures from photos).

1. :func:`texforge.texture.raster.uv_rasterize` gives a 3D point and normal per texel.
2. Each texel is projected into every view. It is visible in a view when it lies in front of the
   camera, its depth agrees with the view's rendered depth (occlusion test) and its pixel lies inside
   the mesh-projected silhouette AND the input mask, both eroded a little, so background never leaks
   into texels.
3. Colours are blended with weights ``cos(normal, view)^p * border ramp`` (the ramp rises over a few
   pixels from the silhouette border, where registration errors live).
4. Texels that no view sees are filled: mirrored across the symmetry plane when enabled (the mirrored
   point is projected the same way), then by push-pull inpainting (:mod:`texforge.texture.inpaint`).
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
import torch.nn.functional as F

from ..render.camera import Cameras
from .inpaint import push_pull_fill
from .raster import uv_rasterize


def _erosion_depth(mask: torch.Tensor, steps: int) -> torch.Tensor:
    """mask (N, H, W) bool -> how many 3x3 erosions each pixel survives, capped at ``steps`` (N, H, W)."""
    cur = mask.float().unsqueeze(1)
    depth = torch.zeros_like(cur)
    for _ in range(steps):
        depth = depth + cur
        cur = -F.max_pool2d(-cur, 3, stride=1, padding=1)
    return depth.squeeze(1)


def _sample(img: torch.Tensor, pix: torch.Tensor, width: int, height: int, mode: str) -> torch.Tensor:
    """img (1, C, H, W), pix (P, 2) pixel coords (centres at j + 0.5) -> (P, C)."""
    grid = torch.stack([2.0 * pix[:, 0] / width - 1.0, 2.0 * pix[:, 1] / height - 1.0], -1)
    out = F.grid_sample(img, grid.view(1, 1, -1, 2), mode=mode, padding_mode="border", align_corners=False)
    return out[0, :, 0].transpose(0, 1)


# one chunk of views for the projection: (cameras, images, masks, depths, silhouettes) as in project_colors
ViewChunk = tuple
# a callable that yields the chunks (called once per projection pass, so they may be rendered or
# loaded on the fly and freed after use: memory stays bounded by one chunk of full-size views)
ViewChunks = Callable[[], Iterable[ViewChunk]]


@torch.no_grad()
def project_colors(points: torch.Tensor, normals: torch.Tensor, cameras: Cameras, images: torch.Tensor,
                   masks: torch.Tensor, depths: torch.Tensor, silhouettes: torch.Tensor, radius: float,
                   cos_power: float = 3.0, border_px: float = 2.0, erode_px: int = 1):
    """Blend the colours the views see at surface points.

    points, normals (P, 3); cameras (N views); images (N, H, W, 3); masks (N, H, W) input masks;
    depths (N, H, W) rendered camera z of the fitted mesh; silhouettes (N, H, W) its hard masks;
    ``radius`` object radius (sets the depth tolerance). Returns colour (P, 3), weight sum (P,)
    and per-view colours/weights are not kept (memory)."""
    chunk = (cameras, images, masks, depths, silhouettes)
    return project_colors_chunked(points, normals, lambda: [chunk], radius, cos_power, border_px, erode_px)


@torch.no_grad()
def project_each_view(points: torch.Tensor, normals: torch.Tensor, cameras: Cameras, images: torch.Tensor,
                      masks: torch.Tensor, depths: torch.Tensor, silhouettes: torch.Tensor, radius: float,
                      cos_power: float = 3.0, border_px: float = 2.0, erode_px: int = 1, check=None):
    """What each view alone sees at the points: colours (N, P, 3) and weights (N, P), the arguments as in
    :func:`project_colors` but not blended (exposure gains and camera alignment compare the views with
    each other). ``check`` (optional) is called before each view (cancellation)."""
    colours = torch.zeros(len(cameras), points.shape[0], 3, dtype=points.dtype, device=points.device)
    weights = torch.zeros(len(cameras), points.shape[0], dtype=points.dtype, device=points.device)
    for i in range(len(cameras)):
        if check is not None:
            check()
        s = slice(i, i + 1)
        colours[i], weights[i] = project_colors(points, normals, cameras[s], images[s], masks[s], depths[s],
                                                silhouettes[s], radius, cos_power, border_px, erode_px)
    return colours, weights


@torch.no_grad()
def project_colors_chunked(points: torch.Tensor, normals: torch.Tensor, chunks: ViewChunks, radius: float,
                           cos_power: float = 3.0, border_px: float = 2.0, erode_px: int = 1):
    """:func:`project_colors` over views that come in chunks (see :data:`ViewChunks`); the views are
    blended one by one in the same order, so the result does not depend on the chunking."""
    acc = torch.zeros(points.shape[0], 3, dtype=points.dtype, device=points.device)
    wsum = torch.zeros(points.shape[0], dtype=points.dtype, device=points.device)
    for chunk in chunks():
        _accumulate(points, normals, *chunk, radius, cos_power, border_px, erode_px, acc, wsum)
    color = acc / wsum.clamp_min(1e-12).unsqueeze(-1)
    return color, wsum


def _accumulate(points, normals, cameras: Cameras, images, masks, depths, silhouettes, radius: float,
                cos_power: float, border_px: float, erode_px: int, acc: torch.Tensor, wsum: torch.Tensor):
    n, h, w = masks.shape
    valid = (silhouettes > 0.5) & (masks > 0.5)
    steps = erode_px + int(max(1.0, border_px)) + 1
    depth_map = _erosion_depth(valid, steps)                              # (N, H, W)
    centers = cameras.centers
    for i in range(n):
        cam = cameras[i]
        pix, z = cam.project(points)
        pix, z = pix[0], z[0]
        inside = (z > 0) & (pix[:, 0] >= 0) & (pix[:, 0] < w) & (pix[:, 1] >= 0) & (pix[:, 1] < h)
        view_dir = F.normalize(centers[i] - points, dim=-1)
        cos = (normals * view_dir).sum(-1)
        jj = pix[:, 0].clamp(0, w - 1).long()
        ii = pix[:, 1].clamp(0, h - 1).long()
        d_ren = depths[i][ii, jj]
        f = float(cam.K[0, 0, 0])
        tol = 0.02 * radius + 2.0 * z.abs() / f          # ~2 px of depth slack for grazing surfaces
        visible = inside & (cos > 0.05) & (d_ren > 0) & ((z - d_ren).abs() < tol)
        ramp = ((depth_map[i][ii, jj] - erode_px) / max(border_px, 1e-6)).clamp(0, 1)
        weight = torch.where(visible, cos.clamp_min(0) ** cos_power * ramp, torch.zeros_like(cos))
        sel = weight > 0
        if sel.any():
            img = images[i].permute(2, 0, 1).unsqueeze(0)
            col = _sample(img, pix[sel], w, h, "bilinear")
            acc[sel] += weight[sel].unsqueeze(-1) * col
            wsum[sel] += weight[sel]


def mirror_points(points: torch.Tensor, normals: torch.Tensor, centre: torch.Tensor, axis: str):
    """Reflect points and normals (P, 3) across the plane through ``centre`` normal to ``axis``."""
    k = "xyz".index(axis)
    p, nrm = points.clone(), normals.clone()
    p[:, k] = 2 * centre[k] - p[:, k]
    nrm[:, k] = -nrm[:, k]
    return p, nrm


@torch.no_grad()
def extract_texture(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                    normals: torch.Tensor, cameras: Cameras, images: torch.Tensor, masks: torch.Tensor,
                    depths: torch.Tensor, silhouettes: torch.Tensor, size: tuple[int, int], radius: float,
                    centre: torch.Tensor | None = None, symmetry: str | None = None, cos_power: float = 3.0,
                    border_px: float = 2.0, erode_px: int = 1, full_weight: float | None = None):
    """The texture (H, W, 3) in [0, 1] (row 0 on top) and the texel visibility (H, W) in [0, 1]
    (normalised blend weight; 0 for texels no view sees). See the module docstring for the steps.
    ``full_weight``: see :func:`extract_texture_chunked`."""
    chunk = (cameras, images, masks, depths, silhouettes)
    return extract_texture_chunked(vertices, faces, uvs, face_uvs, normals, lambda: [chunk], size, radius,
                                   centre, symmetry, cos_power, border_px, erode_px, full_weight)


@torch.no_grad()
def extract_texture_chunked(vertices: torch.Tensor, faces: torch.Tensor, uvs: torch.Tensor, face_uvs: torch.Tensor,
                            normals: torch.Tensor, chunks: ViewChunks, size: tuple[int, int], radius: float,
                            centre: torch.Tensor | None = None, symmetry: str | None = None,
                            cos_power: float = 3.0, border_px: float = 2.0, erode_px: int = 1,
                            full_weight: float | None = None):
    """:func:`extract_texture` over views that come in chunks (:data:`ViewChunks`; called a second
    time for the mirrored texels when ``symmetry`` is set), so that full-size photos of many views
    never sit in memory at once. ``full_weight``: None (visibility = blend weight / its maximum over
    the texture) or the blend weight that counts as fully seen (visibility = weight / full_weight,
    clipped to 1: comparable across objects, as a GAN's mask needs)."""
    h, w = size
    pts, nrm, covered = uv_rasterize(vertices, faces, uvs, face_uvs, normals, size)
    flat_p, flat_n = pts[covered], nrm[covered]
    col, wsum = project_colors_chunked(flat_p, flat_n, chunks, radius, cos_power, border_px, erode_px)
    seen = wsum > 1e-6
    if symmetry is not None and centre is not None and (~seen).any():
        mp, mn = mirror_points(flat_p[~seen], flat_n[~seen], centre, symmetry)
        mcol, mw = project_colors_chunked(mp, mn, chunks, radius, cos_power, border_px, erode_px)
        idx = (~seen).nonzero().squeeze(-1)
        got = mw > 1e-6
        col[idx[got]] = mcol[got]
        seen = seen.clone()
        seen[idx[got]] = True
    texture = torch.zeros(h, w, 3, dtype=vertices.dtype, device=vertices.device)
    texture[covered] = col
    known = torch.zeros(h, w, dtype=torch.bool, device=vertices.device)
    known[covered] = seen
    visibility = torch.zeros(h, w, dtype=vertices.dtype, device=vertices.device)
    scale = wsum.max().clamp_min(1e-12) if full_weight is None else float(full_weight)
    visibility[covered] = (wsum / scale).clamp(0, 1)
    if known.any():
        texture = push_pull_fill(texture, known)
    else:
        texture[:] = 0.5
    return texture.clamp(0, 1), visibility
