"""A contact sheet of the reconstruction network on some objects (no Blender): per object, its input
view, the network's render in that view, another view of the object and the render in it (known
cameras), then the object's pseudo texture when given."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .data import CollectionViews
from ...models.category_model import predict_world
from .reconstructor import render_views


@torch.no_grad()
def reconstruction_sheet(network, template, views: CollectionViews, objects: list[int], input_view: int = 0,
                         other_view: int | None = None) -> torch.Tensor:
    """(H, W, 3) image in [0, 1]: one row per object in ``objects`` (indices into ``views``): input,
    render, other view (default: the view most opposite in azimuth), render, predicted texture."""
    rows = []
    s = views.size
    for k in objects:
        az = views.spherical[k, :, 0]
        j = other_view if other_view is not None else int(((az - az[input_view]) % 360 - 180).abs().argmin())
        pred = predict_world(network, template, views.images[k, input_view:input_view + 1], az[input_view:input_view + 1])
        idx = torch.tensor([input_view, j], device=az.device)
        out = render_views(template, pred["vertices"].expand(2, -1, -1), pred["texture"].expand(2, -1, -1, -1),
                           views.cameras(torch.full((2,), k, device=az.device), idx), 1.0, soft_mask=False)
        rgb = out.rgb.permute(0, 3, 1, 2)
        tex = F.interpolate(pred["texture"], size=(s, 2 * s), mode="bilinear", align_corners=False)[0]
        rows.append(torch.cat([views.images[k, input_view], rgb[0], views.images[k, j], rgb[1], tex], -1))
    return torch.cat(rows, -2).clamp(0, 1).permute(1, 2, 0).cpu()
