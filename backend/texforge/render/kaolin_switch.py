"""Optional switch to kaolin's CUDA DIB-R kernels when kaolin happens to be importable.

kaolin cannot be installed from a package registry and has no CPU path, so the project's PyTorch
renderer (:mod:`.rasterize`, :mod:`.soft_mask`) is the default everywhere. With kaolin installed and
CUDA tensors, :func:`dibr_rasterization` here calls kaolin's kernels; otherwise it falls back to the
project's (same semantics: ``tests/test_render_golden.py`` checks them against kaolin's golden data).
Nothing in the backend requires this module.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def kaolin_available() -> bool:
    """True when kaolin imports and CUDA is available (kaolin's DIB-R kernels are CUDA-only)."""
    try:
        import kaolin  # noqa: F401
        import torch
    except Exception:  # noqa: BLE001 (a broken kaolin install counts as absent)
        return False
    return bool(torch.cuda.is_available())


def dibr_rasterization(height, width, face_vertices_z, face_vertices_image, face_features, face_normals_z,
                       sigmainv=7000, boxlen=0.02, knum=30, multiplier=None, eps=None):
    """kaolin's ``dibr_rasterization`` on CUDA tensors when available, the project's otherwise."""
    if kaolin_available() and face_vertices_image.is_cuda:
        from kaolin.render.mesh import dibr_rasterization as kaolin_dibr
        return kaolin_dibr(height, width, face_vertices_z, face_vertices_image, face_features, face_normals_z,
                           sigmainv, boxlen, knum, multiplier, eps)
    from .dibr import dibr_rasterization as ours
    return ours(height, width, face_vertices_z, face_vertices_image, face_features, face_normals_z,
                sigmainv, boxlen, knum, multiplier, eps)


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
