"""The per-view pseudo-ground-truth textures of a finished fit (texforge.texture.pseudo_gt), kept
views only, so a texture GAN can train from the result folder without the photos."""

from __future__ import annotations

import torch

from ...texture.pseudo_gt import build_pseudo_gt


@torch.no_grad()
def pseudo_gt_views(run, tex_size) -> dict:
    """{"textures" (V, H, W, 3) float16, "visibility" (V, H, W) float16, "names"} for the run's kept
    views with their corrected cameras, at the resolution the final texture is extracted from.
    float16 because V full-size textures are the largest thing a result holds (the file stores them so).
    Visibility needs the fitted mesh's silhouette AND the photo's mask: a fit that is a little too large
    or fills a gap (between legs, under a handle) puts background inside the mesh silhouette, which the
    photo mask removes (0.0 % background texels vs 4.9 % with the silhouette alone on a tiny-preset fit,
    docs/BENCHMARKS.md)."""
    images, masks, size = run.level(max(run.input_cameras.width, run.input_cameras.height))
    depth, hard, _, cams = run.render_all(size)
    idx = torch.as_tensor(run.active, device=run.device)
    mesh = run.mesh
    textures, visibility = build_pseudo_gt(mesh.vertices(), mesh.faces, mesh.uvs, mesh.face_uvs, mesh.normals(),
                                           cams[idx], images[idx], depth[idx], hard[idx], tuple(tex_size),
                                           run.radius, masks=masks[idx], mask_source="mesh+photo",
                                           dtype=torch.float16)
    return {"textures": textures, "visibility": visibility, "names": [run.names[i] for i in run.active]}
