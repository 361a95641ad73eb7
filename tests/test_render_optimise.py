"""Silhouette fitting through the renderer: a sphere's vertices are optimised to match a target's masks."""

import numpy as np
import torch
from test_render_ops import icosphere, look_at_cameras, one_thread  # noqa: F401 (autouse fixture)

from texforge.mesh.regularizers import MeshTopology, laplacian_loss
from texforge.metrics.image import mask_iou_hard
from texforge.render import mask_iou, render_mesh


def hard_iou(a, b):
    """Mean over views of the library's hard IoU (the figure the pipelines report)."""
    return float(np.mean([mask_iou_hard(x, y) for x, y in zip(a, b)]))


def test_sphere_fits_target_silhouettes():
    torch.manual_seed(0)
    v0, f = icosphere(3)
    v0 = v0.float()
    cams = look_at_cameras([(3.0, 0.0, 0.5), (0.0, 3.0, 0.5), (-2.1, -2.1, 0.8), (0.3, 0.2, 3.0)], size=64,
                           focal=1.6, dtype=torch.float32)
    # target: a squashed, shifted, bent ellipsoid
    tv = v0 * torch.tensor([1.2, 0.5, 0.6]) + torch.tensor([0.3, 0.2, -0.15])
    tv[:, 2] += 0.3 * tv[:, 0] ** 2
    with torch.no_grad():
        target = render_mesh(tv, f, cams, soft_mask=False).hard_mask
    init = render_mesh(v0, f, cams, soft_mask=False).hard_mask
    iou0 = hard_iou(init, target)
    assert iou0 < 0.7

    offset = torch.zeros_like(v0, requires_grad=True)
    opt = torch.optim.Adam([offset], lr=0.02)
    topo = MeshTopology(f, len(v0))
    for it in range(120):
        # a wide band first (gradients from far), then a sharp one (the hard silhouette decides)
        sigmainv = 1000.0 if it < 60 else 10000.0
        v = v0 + offset
        out = render_mesh(v, f, cams, sigmainv=sigmainv, boxlen=0.05)
        loss = mask_iou(out.soft_mask, target.float()) + 0.5 * laplacian_loss(v, topo)
        opt.zero_grad()
        loss.backward()
        assert torch.isfinite(offset.grad).all()
        opt.step()
    with torch.no_grad():
        final = render_mesh(v0 + offset, f, cams, soft_mask=False).hard_mask
    iou1 = hard_iou(final, target)
    assert iou1 > 0.95, f"IoU {iou0:.3f} -> {iou1:.3f}"
