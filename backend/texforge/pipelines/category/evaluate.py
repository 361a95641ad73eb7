"""The reconstruction network on held-out objects, next to the template reference.

For each object, view ``input_view`` is the input: its known azimuth turns the maps into the world (as
in training), and the mesh is rendered with the known cameras: input-view mask IoU, held-out-view (the
object's other views) mask IoU, PSNR and L1 (whole image, black background), and Chamfer-L1 to ``gt_mesh.ply`` (texforge.metrics.geometry,
point-to-surface, in the collection's units: objects have bounding-sphere radius 1). The camera head is
judged as well: the input-view IoU when the network's own camera (azimuth, elevation, distance) replaces
the known one, and its angle / distance errors. The reference row is the template sphere wearing the
mean texture, rendered the same way.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data.collection import Collection
from ...mesh.io import load_mesh
from ...metrics.geometry import chamfer_fscore
from ...metrics.image import hard_iou, psnr
from ...render.camera import cameras_from_arrays
from ...runtime.errors import InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, check_stop, never_stop, no_progress
from .data import CollectionViews, load_collection_views
from ...models.category_model import predict_world
from .reconstructor import render_views

METRICS = ("input_iou", "heldout_iou", "heldout_psnr", "input_psnr", "input_l1", "heldout_l1", "chamfer_l1")


def _view_metrics(out, views: CollectionViews, k: int, input_view: int) -> dict:
    masks = views.masks[k]
    iou = hard_iou(out.hard_mask.float(), masks).cpu().numpy()
    rgb = out.rgb.cpu().numpy()
    imgs = views.images[k].permute(0, 2, 3, 1).cpu().numpy()
    others = [v for v in range(masks.shape[0]) if v != input_view]
    return {"input_iou": float(iou[input_view]), "heldout_iou": float(np.mean(iou[others])),
            "input_psnr": psnr(rgb[input_view], imgs[input_view]),
            "heldout_psnr": float(np.mean([psnr(rgb[v], imgs[v]) for v in others])),
            "input_l1": float(np.abs(rgb[input_view] - imgs[input_view]).mean()),
            "heldout_l1": float(np.mean([np.abs(rgb[v] - imgs[v]).mean() for v in others]))}


def _gt_mesh(collection: Collection, object_id: str):
    path = collection.object_dir(object_id) / "gt_mesh.ply"
    if not path.is_file():
        return None
    return load_mesh(path)


@torch.no_grad()
def evaluate_reconstructor(network, template, collection: Collection, mean_texture: torch.Tensor,
                           split: str = "heldout", image_size: int | None = None, input_view: int = 0,
                           chamfer_samples: int = 5000, views: CollectionViews | None = None,
                           progress: ProgressFn = no_progress, should_stop: ShouldStopFn = never_stop) -> dict:
    """{"network": {metric: mean}, "template": {...}, "objects": [per-object rows], "count"}.
    ``mean_texture`` (3, Ht, Wt) dresses the template sphere. Chamfer is left out (NaN) for objects
    without a gt_mesh.ply."""
    ids = collection.ids(split)
    if not ids:
        raise InputError(f"{collection.root}: the collection has no {split} objects to evaluate on")
    network.eval()
    if views is None:
        if image_size is None:
            raise ValueError("evaluate_reconstructor needs image_size (the network's) or loaded views")
        views = load_collection_views(collection, ids, int(image_size), should_stop=should_stop)
    dev = template.base.device
    views = views.to(dev)
    n_view = views.images.shape[1]
    sphere = template.base
    rows = []
    for k, object_id in enumerate(views.ids):
        check_stop(should_stop)
        obj = torch.full((n_view,), k, dtype=torch.long, device=dev)
        cams = views.cameras(obj, torch.arange(n_view, device=dev))
        img = views.images[k, input_view:input_view + 1]
        pred = predict_world(network, template, img, views.spherical[k, input_view:input_view + 1, 0])
        verts = pred["vertices"][0]
        out = render_views(template, verts.expand(n_view, -1, -1), pred["texture"].expand(n_view, -1, -1, -1),
                           cams, 1.0, soft_mask=False)
        net_row = _view_metrics(out, views, k, input_view)
        ref_out = render_views(template, sphere.expand(n_view, -1, -1), mean_texture[None].to(dev).expand(n_view, -1, -1, -1),
                               cams, 1.0, soft_mask=False)
        ref_row = _view_metrics(ref_out, views, k, input_view)
        # the camera head: the network's own camera instead of the known one
        own = predict_world(network, template, img, None)
        sph = network.decode_camera(own["camera"])[0].cpu().numpy()
        R, t = collection.cameras.pose(*[float(x) for x in sph])
        s = views.size
        own_cam = cameras_from_arrays(views.K[k, input_view:input_view + 1].cpu().numpy(), R[None], t[None], s, s,
                                      device=dev)
        own_out = render_views(template, own["vertices"], own["texture"], own_cam, 1.0, soft_mask=False)
        true = views.spherical[k, input_view].cpu().numpy()
        net_row["input_iou_own_camera"] = float(hard_iou(own_out.hard_mask.float()[0], views.masks[k, input_view]))
        net_row["azimuth_error_deg"] = float(abs((sph[0] - true[0] + 180.0) % 360.0 - 180.0))
        net_row["elevation_error_deg"] = float(abs(sph[1] - true[1]))
        net_row["distance_error"] = float(abs(sph[2] - true[2]))
        gt = _gt_mesh(collection, object_id)
        if gt is not None:
            net_row["chamfer_l1"] = chamfer_fscore((verts.cpu().numpy(), template.faces.cpu().numpy()), gt,
                                                   n=chamfer_samples)["chamfer_l1"]
            ref_row["chamfer_l1"] = chamfer_fscore((sphere.cpu().numpy(), template.faces.cpu().numpy()), gt,
                                                   n=chamfer_samples)["chamfer_l1"]
        else:
            net_row["chamfer_l1"] = ref_row["chamfer_l1"] = float("nan")
        rows.append({"object": object_id, "network": net_row, "template": ref_row})
        progress((k + 1) / len(views.ids), f"evaluating {k + 1}/{len(views.ids)} {split} objects")

    def mean(kind):
        keys = rows[0][kind].keys()
        return {key: float(np.nanmean([r[kind][key] for r in rows])) for key in keys}

    return {"split": split, "count": len(rows), "input_view": input_view, "network": mean("network"),
            "template": mean("template"), "objects": rows}


def mean_texture_of(maps: dict) -> torch.Tensor:
    """The visibility-weighted mean (3, Ht, Wt) of the pseudo maps' textures (the template's dress);
    texels no object sees get the mean colour."""
    tex, vis = maps["texture"], maps["visibility"]
    wsum = vis.sum(0)
    colour = (tex * vis).sum((0, 2, 3)) / vis.sum().clamp_min(1e-6)
    mean = (tex * vis).sum(0) / wsum.clamp_min(1e-6)
    return torch.where(wsum > 1e-6, mean, colour.view(3, 1, 1))
