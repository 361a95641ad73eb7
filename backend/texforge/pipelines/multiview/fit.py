"""The joint fit of mesh, texture and camera corrections (seed 000, stage 1) and its helpers.

The mesh is a template whose vertices are ``base + offsets``; ``base`` is the ellipsoid of the initial
fit, re-based at every subdivision (coarse-to-fine). Losses per view: soft-silhouette IoU (DIB-R soft
mask, band annealed from wide to sharp and set in pixels so it means the same at every resolution),
masked L1 image loss against a texture learned by gradient (its only purpose is to let the colours
pull the cameras into place; the final texture is extracted by projection), an optional perceptual
term, and the regularisers (uniform Laplacian relative to the mean edge length, face-normal
consistency, edge-length uniformity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...mesh.model import MeshModel
from ...metrics.image import centred_iou, hard_iou
from ...render.camera import Cameras
from ...render.soft_mask import band_to_sigmainv


def resample_views(images: torch.Tensor, masks: torch.Tensor, resolution: int, chunk: int = 8):
    """images (N, H, W, 3), masks (N, H, W) -> area-resampled copies whose longest side is
    ``resolution`` (never upsampled) and their size (W, H)."""
    n, h, w = masks.shape
    s = min(1.0, resolution / max(h, w))
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    if (nw, nh) == (w, h):
        return images, masks, (w, h)
    im, mk = [], []
    for s0 in range(0, n, chunk):   # the channels-first copy of full-size photos, a chunk at a time
        im.append(F.interpolate(images[s0:s0 + chunk].permute(0, 3, 1, 2), size=(nh, nw), mode="area")
                  .permute(0, 2, 3, 1).contiguous())
        mk.append(F.interpolate(masks[s0:s0 + chunk].unsqueeze(1), size=(nh, nw), mode="area").squeeze(1))
    return torch.cat(im), torch.cat(mk).contiguous(), (nw, nh)


def stage_texture_size(texture_size: tuple[int, int], resolution: int, size: tuple[int, int]) -> tuple[int, int]:
    """The (H, W) of the texture a stage learns, scaled down with its images when the photos are
    smaller than the stage's ``resolution`` (``size``: the (W, H) it actually renders at).

    The presets give each stage a texture about as fine as its images. A texture much finer than the
    pixels that see it is fitted texel by texel to each view's residual, and the image losses' pull
    on the vertices (through the texture's slope across the surface) turns into noise: the full
    preset run on 128 px photos, whose 512 px stage then learned a 512 x 1024 texture from 128 px
    images, ended with a training IoU of 0.84 on the demo scene, 0.97 with the texture scaled to the
    images (docs/BENCHMARKS.md, "The full preset on photos smaller than its stages")."""
    scale = min(1.0, max(size) / resolution)
    return tuple(max(8, round(t * scale)) for t in texture_size)


def render(mesh: MeshModel, vertices: torch.Tensor, cameras: Cameras, texture: torch.Tensor | None,
           band_px: float, soft_mask: bool = True):
    """Render ``vertices`` of ``mesh`` with a soft-mask band of ``band_px`` pixels. texture
    (1, 3, Ht, Wt) or None. Returns the renderer's RenderOutput."""
    from ...render.renderer import render_mesh

    sigmainv, boxlen = band_to_sigmainv(band_px, max(cameras.width, cameras.height))
    if texture is None:
        return render_mesh(vertices, mesh.faces, cameras, sigmainv=sigmainv, boxlen=boxlen, soft_mask=soft_mask)
    return render_mesh(vertices, mesh.faces, cameras, uvs=mesh.uvs, face_uvs=mesh.face_uvs, texture=texture,
                       sigmainv=sigmainv, boxlen=boxlen, soft_mask=soft_mask)


@torch.no_grad()
def view_ious(mesh: MeshModel, cameras: Cameras, masks: torch.Tensor, batch: int = 8,
              centred: bool = False) -> torch.Tensor:
    """Hard-mask IoU per view (N,) of the current mesh; ``centred``: of the shapes alone, each render
    moved onto its mask's centroid (:func:`texforge.metrics.image.centred_iou`)."""
    from ...render.renderer import render_mesh

    v = mesh.vertices()
    out = []
    for s in range(0, len(cameras), batch):
        idx = torch.arange(s, min(s + batch, len(cameras)), device=v.device)
        r = render_mesh(v, mesh.faces, cameras[idx], soft_mask=False)
        out.append((centred_iou if centred else hard_iou)(r.hard_mask.float(), masks[idx]))
    return torch.cat(out)
