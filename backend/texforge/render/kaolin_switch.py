"""The switch to kaolin's CUDA DIB-R soft-mask kernel, taken by ``render_mesh`` when it can be.

kaolin cannot be installed from a package registry and has no CPU path, so the project's PyTorch
soft mask (:mod:`.soft_mask`) is the default everywhere. When ``import kaolin`` works and the mesh is on
a CUDA device, :func:`dibr_soft_mask` hands the soft mask to kaolin's kernel instead; the semantics are
the same (``tests/test_render_golden.py`` checks ours against kaolin's golden data). The hard raster,
depth and texture sampling always stay the project's.
"""

from __future__ import annotations

import functools

import torch

from .soft_mask import dibr_soft_mask as project_soft_mask

# False forces the project's kernels everywhere (benchmarks that compare the two implementations).
ENABLED = True

# NDC position for faces kaolin must ignore: its grown bounding box then contains no pixel centre
# (pixel centres lie in [-1, 1]; boxlen is a small NDC margin).
_FAR_NDC = 100.0


@functools.lru_cache(maxsize=1)
def kaolin_available() -> bool:
    """True when kaolin imports and CUDA is available (kaolin's DIB-R kernels are CUDA-only)."""
    try:
        import kaolin  # noqa: F401
    except Exception:  # noqa: BLE001 (a broken kaolin install counts as absent)
        return False
    return bool(torch.cuda.is_available())


def use_kaolin(device) -> bool:
    """Whether tensors on ``device`` get kaolin's kernel: CUDA devices, when kaolin is available."""
    return ENABLED and torch.device(device).type == "cuda" and kaolin_available()


def dibr_soft_mask(face_vertices_image: torch.Tensor, selected_face_idx: torch.Tensor, sigmainv: float,
                   boxlen: float, knum: int, valid_faces: torch.Tensor) -> torch.Tensor:
    """The DIB-R soft mask (B, H, W): kaolin's kernel when :func:`use_kaolin`, the project's otherwise.

    ``valid_faces`` (B, F) bool marks the faces that may count (the project's extension: faces behind
    the camera must not); kaolin has no such argument, so invalid faces are moved outside the image,
    where they influence no pixel and get no gradient."""
    if use_kaolin(face_vertices_image.device):
        from kaolin.render.mesh import dibr_soft_mask as kaolin_soft_mask
        keep = valid_faces.to(torch.bool)[..., None, None]
        far = torch.full_like(face_vertices_image, _FAR_NDC)
        return kaolin_soft_mask(torch.where(keep, face_vertices_image, far), selected_face_idx,
                                sigmainv, boxlen, knum)
    return project_soft_mask(face_vertices_image, selected_face_idx, sigmainv, boxlen, knum,
                             valid_faces=valid_faces)


def kaolin_render_step(scene, sigmainv, boxlen):
    """The benchmark step of ``scripts/bench_render.py`` with kaolin's kernels (screen-space UVs)."""
    from kaolin.metrics.render import mask_iou
    from kaolin.render.mesh import dibr_rasterization as kaolin_dibr
    from kaolin.render.mesh import texture_mapping

    verts, faces, uvs, texture, cams, tmask, trgb = scene
    v = verts.clone().requires_grad_(True)
    tex = texture.clone().requires_grad_(True)
    ndc, zgl = cams.project_ndc(v)
    fxy = ndc[:, faces]
    fz = zgl[:, faces]
    p = fxy.detach()
    area2 = (p[:, :, 1, 0] - p[:, :, 0, 0]) * (p[:, :, 2, 1] - p[:, :, 0, 1]) \
        - (p[:, :, 2, 0] - p[:, :, 0, 0]) * (p[:, :, 1, 1] - p[:, :, 0, 1])
    fuv = uvs[faces].unsqueeze(0).expand(len(cams), -1, -1, -1).contiguous()
    uv, soft, idx = kaolin_dibr(cams.height, cams.width, fz, fxy, fuv, area2, sigmainv, boxlen)
    rgb = texture_mapping(uv, tex.expand(len(cams), -1, -1, -1), mode="bilinear") * (idx >= 0).unsqueeze(-1)
    loss = mask_iou(soft, tmask) + (rgb - trgb).abs().mean()
    loss.backward()
    return float(loss.detach())
