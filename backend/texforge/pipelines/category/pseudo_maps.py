"""Pseudo-ground-truth maps from the trained reconstruction network (what the category GAN learns from).

For every object: the network encodes each of its V views; each view's deformation map is turned into the
world frame by that view's known azimuth, and the V maps are averaged (one shape per object, less noisy
than any single view's). The texture is NOT the network's: the object's own views are projected into the
UV map through the averaged mesh with their known cameras and blended with visibility
(:func:`texforge.texture.projection.extract_texture`: occlusion test against the mesh's rendered depth,
mesh silhouette AND photo mask, cos^p weights; texels no view sees are inpainted and get visibility 0,
visibility = blend weight / FULL_WEIGHT clipped to 1),
as the texture GAN's pseudo-GT are made, so the maps keep the photos' detail.
"""

from __future__ import annotations

import torch

from ...mesh.regularizers import vertex_normals
from ...runtime.progress import ProgressFn, ShouldStopFn, check_stop, never_stop, no_progress
from ...texture.projection import extract_texture
from .data import CollectionViews
from ...models.category_model import predict_world
from .reconstructor import render_views

# visibility 1 from this blend weight on: one view at 51 degrees from the normal (cos^3 = 0.25), or two
# at 62; texels only seen at grazing angles stay below 1 (the GAN trusts them less)
FULL_WEIGHT = 0.25


@torch.no_grad()
def object_deformation(network, template, views: CollectionViews, k: int) -> torch.Tensor:
    """(3, Hd, Wd) world-frame deformation of object ``k``: the mean of its views' predictions."""
    pred = predict_world(network, template, views.images[k], views.spherical[k, :, 0])
    return pred["deformation"].mean(0)


@torch.no_grad()
def project_object_texture(template, deformation: torch.Tensor, views: CollectionViews, k: int,
                           texture_size: tuple[int, int], cos_power: float = 3.0):
    """Texture (3, Ht, Wt) and visibility (1, Ht, Wt) of object ``k`` projected from its views through
    the mesh of ``deformation`` (3, Hd, Wd)."""
    vertices = template.vertices_of(deformation[None])[0]
    n = views.images.shape[1]
    idx = torch.full((n,), k, dtype=torch.long, device=vertices.device)
    cams = views.cameras(idx, torch.arange(n, device=vertices.device))
    out = render_views(template, vertices.expand(n, -1, -1), None, cams, 1.0, soft_mask=False)
    tex, vis = extract_texture(vertices, template.faces, template.uvs, template.face_uvs,
                               vertex_normals(vertices, template.faces), cams, views.images[k].permute(0, 2, 3, 1),
                               views.masks[k], out.depth, out.hard_mask.float(), tuple(texture_size), radius=1.0,
                               cos_power=cos_power, full_weight=FULL_WEIGHT)
    return tex.permute(2, 0, 1), vis[None]


def build_pseudo_maps(network, template, views: CollectionViews, texture_size: tuple[int, int],
                      progress: ProgressFn = no_progress, should_stop: ShouldStopFn = never_stop,
                      cos_power: float = 3.0) -> dict:
    """{"deformation" (N, 3, Hd, Wd), "texture" (N, 3, Ht, Wt), "visibility" (N, 1, Ht, Wt), "object_ids"}
    for every object of ``views`` (CPU tensors, float32)."""
    network.eval()
    defs, texs, viss = [], [], []
    n = len(views.ids)
    for k in range(n):
        check_stop(should_stop)
        d = object_deformation(network, template, views, k)
        t, v = project_object_texture(template, d, views, k, texture_size, cos_power)
        defs.append(d.cpu()), texs.append(t.cpu()), viss.append(v.cpu())
        progress((k + 1) / n, f"pseudo maps: {k + 1}/{n} objects")
    return {"deformation": torch.stack(defs).float(), "texture": torch.stack(texs).float(),
            "visibility": torch.stack(viss).float(), "object_ids": list(views.ids)}
