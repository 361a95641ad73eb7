"""A trained category model as the starting shape of the multi-view fit (issue 11, seed 000 section 3.1).

What this does is the simpler half of seed 000's adaptation: it *starts from the network's prediction*
and then runs the normal per-scene fit (per-view camera corrections, pruning) from there. It does not
fine-tune the network's weights on the sequence as seed 000 does; the fit optimises the mesh directly.

1. Each input view is cropped to a square around its mask so that the object fills it as the
   collection's renders did (its bounding sphere at the collection's mean distance and field of view),
   masked, composited on black and given to the reconstruction network.
2. Each view's predicted shape is turned into the world frame with the view's (noisy) camera azimuth
   about +Z (the collection's up axis; the dataset must be z-up as well).
3. Each is placed by the fit's own silhouette placement: at its centre, scaled so that its silhouettes
   cover as many pixels as the masks do; the one whose silhouettes match all the masks best (mean
   IoU) is the start. It is a shape on the ConvMesh template, the same 32 x 16 UV sphere as the fit's
   template. (Averaging the views' predictions was tried first and shrinks the shape; see
   :func:`category_start_shape`.)

The network's texture is not used: every stage of the fit starts its texture by projecting the photos
onto the current mesh, which is sharper than any category prediction.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...render.camera import Cameras
from ...runtime.errors import InputError

CROP_SUPERSAMPLE = 4


def load_encoder(model_dir, template_segments: int, template_rings: int, device="cpu"):
    """The reconstruction network of a category-model folder (InputError naming the folder for anything
    else: no model.json, another format, no reconstructor stage, another template)."""
    from ...mesh.template import convmesh_sphere
    from ...models.category_prior import CategoryEncoder

    encoder = CategoryEncoder(model_dir, device)
    tpl = convmesh_sphere()
    if (template_segments, template_rings) != (32, 16) or len(tpl.vertices) != encoder.template.base.shape[0]:
        raise InputError(f"{model_dir}: the category model's template (ConvMesh sphere 32 x 16) differs from the "
                         f"multi-view template ({template_segments} x {template_rings}); use the default template")
    return encoder


def camera_azimuths(cameras: Cameras, centre: torch.Tensor) -> torch.Tensor:
    """Azimuth (N,) in degrees of each camera about +Z through ``centre`` (the collection's convention:
    0 deg on +X, 90 deg on +Y)."""
    d = cameras.centers - centre
    return torch.rad2deg(torch.atan2(d[:, 1], d[:, 0]))


def crop_views(images: torch.Tensor, masks: torch.Tensor, fill: float, size: int) -> torch.Tensor:
    """(N, 3, size, size) masked crops, each a square centred on its mask's bounding box whose farthest
    foreground pixel from that centre lies at ``fill`` of the half-side: how the collection framed its
    objects (bounding-box centre at the origin the cameras look at, unit bounding sphere). From the
    masks alone, so that the noise of the input cameras does not move the crops."""
    n, h, w = masks.shape
    ys = torch.arange(h, dtype=masks.dtype, device=masks.device) + 0.5
    xs = torch.arange(w, dtype=masks.dtype, device=masks.device) + 0.5
    centres, halves = [], []
    for i in range(n):
        fg = masks[i] > 0.5
        if not fg.any():
            raise InputError("a view without foreground reached the category start")  # screened before
        rows, cols = ys[fg.any(1)], xs[fg.any(0)]
        c = torch.stack([(cols.min() + cols.max()) / 2, (rows.min() + rows.max()) / 2])
        far = ((xs[None, :] - c[0]) ** 2 + (ys[:, None] - c[1]) ** 2).sqrt()[fg].max() + 0.5
        centres.append(c)
        halves.append(far / fill)
    centre, half = torch.stack(centres), torch.stack(halves)
    s = size * CROP_SUPERSAMPLE
    lin = (torch.arange(s, dtype=images.dtype, device=images.device) + 0.5) / s * 2 - 1     # [-1, 1]
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")
    px = centre[:, 0, None, None] + gx[None] * half[:, None, None]
    py = centre[:, 1, None, None] + gy[None] * half[:, None, None]
    grid = torch.stack([px / w * 2 - 1, py / h * 2 - 1], dim=-1)   # align_corners=False pixel convention
    x = (images * masks.unsqueeze(-1)).permute(0, 3, 1, 2)
    out = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    return F.avg_pool2d(out, CROP_SUPERSAMPLE)


@torch.no_grad()
def view_predictions(encoder, images: torch.Tensor, masks: torch.Tensor, cameras: Cameras, centre: torch.Tensor,
                     batch: int = 16) -> torch.Tensor:
    """The network's shape for each view (N, H, W, 3) / mask (N, H, W), turned into the world frame with
    the view's camera azimuth: template vertices (N, V, 3) about the origin, bounding radius about 1
    (the collection's normalisation)."""
    from ...models.category_model import predict_world

    cams = encoder.cameras
    # the unit bounding sphere at the collection's mean distance fills this much of the half-width
    fill = 1.0 / (math.tan(math.radians(cams.fov_deg) / 2) * 0.5 * sum(cams.distance))
    crops = crop_views(images, masks, min(fill, 0.95), encoder.image_size)
    az = camera_azimuths(cameras, centre)
    out = []
    for s in range(0, len(crops), batch):
        out.append(predict_world(encoder.network, encoder.template, crops[s:s + batch].to(encoder.device),
                                 azimuth_deg=az[s:s + batch].to(encoder.device))["vertices"])
    return torch.cat(out).to(images.device, images.dtype)


@torch.no_grad()
def silhouette_areas(shape: torch.Tensor, faces: torch.Tensor, cameras: Cameras, centre: torch.Tensor,
                     masks: torch.Tensor | None = None, chunk: int = 8):
    """Rendered foreground pixels of ``centre + shape`` summed over the views, and (with ``masks``) the
    mean hard IoU against them."""
    from ...metrics.image import hard_iou
    from ...render.renderer import render_mesh

    area, ious = 0.0, []
    for s in range(0, len(cameras), chunk):
        idx = torch.arange(s, min(s + chunk, len(cameras)), device=shape.device)
        hard = render_mesh(centre + shape, faces, cameras[idx], soft_mask=False).hard_mask.float()
        area += float(hard.sum())
        if masks is not None:
            ious.append(hard_iou(hard, masks[idx]))
    return area, (float(torch.cat(ious).mean()) if ious else float("nan"))


@torch.no_grad()
def category_start_shape(encoder, images: torch.Tensor, masks: torch.Tensor, cameras: Cameras,
                         centre: torch.Tensor, faces: torch.Tensor, resolution: int = 32) -> tuple[torch.Tensor, dict]:
    """The starting shape (V, 3) in the world, placed at ``centre``, and what was chosen: of the views'
    predictions (:func:`view_predictions`), each scaled about ``centre`` until its silhouettes cover as
    many pixels as the masks (all views, at ``resolution``), the one with the best mean IoU.

    Why one view's prediction and not the average of all: the network's vertices slide along the
    surface from one view to the next (its UV frame is not tied to the object), so the per-vertex
    average of the world-frame predictions is a shrunken, smoothed shape (vases64 held-out vase 00004,
    exact cameras: mean IoU 0.72 and scale 1.13 for the average, 0.85-0.89 and 0.98 for single views)."""
    from .fit import resample_views

    preds = view_predictions(encoder, images, masks, cameras, centre)
    n, h, w = masks.shape
    _, small, size = resample_views(images, masks, resolution)
    cams = cameras.resized(*size)
    target = float(small.sum())
    best = None
    for k, shape in enumerate(preds):
        area, _ = silhouette_areas(shape, faces, cams, centre)
        if area <= 0:
            continue
        scale = math.sqrt(target / area)
        _, iou = silhouette_areas(scale * shape, faces, cams, centre, small)
        if best is None or iou > best[0]:
            best = (iou, k, scale)
    if best is None:
        raise InputError("the category model's shapes are not seen by any input camera; check the cameras")
    iou, k, scale = best
    return centre + scale * preds[k], {"view": k, "scale": scale, "start_iou": iou}
