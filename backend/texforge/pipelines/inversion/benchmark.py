"""Benchmark of single-image reconstruction on a category collection's held-out objects (issue 12).

Each held-out object's view 0 is the photo. A run reconstructs it (encoder only, or inversion with
some switches, with the view's exact camera or without a camera) and is scored on:

* input-view mask IoU (the fitted camera, the framed photo: ``result.metrics``);
* held-out views (the object's other views, their exact cameras, rendered with texforge.render): mask
  IoU and PSNR over the whole 64 px image on black. Only for runs given the exact camera: without one
  the result's world frame is the fit's own, and the held-out cameras do not apply;
* KID (EffNet-Lite0 features) between renders from 12 azimuths (the collection's mean elevation and
  distance) of every reconstruction and all views of the held-out objects: does the unseen side
  look like the category;
* CPU seconds per image (process time of the reconstruction, the model's loading included, as a
  command-line run pays it).

evaluate.py's flow (Blender renders of one result against a dataset's transforms_test.json) does not
fit a category benchmark of many objects at 64 px: this renders with texforge's renderer instead.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...atomic import write_text
from ...data.collection import load_object, read_collection
from ...metrics.features import embed_images, kid
from ...metrics.image import hard_iou, psnr
from ...render.camera import Cameras, cameras_from_arrays
from ...render.renderer import render_mesh
from ...runtime.progress import ProgressFn, no_progress
from .config import preset as inversion_preset
from .pipeline import SinglePhoto
from .single_image import reconstruct_photo

AZIMUTHS = 12


@dataclass
class Run:
    name: str
    mode: str                      # "encoder" | "inversion"
    camera: bool                   # the exact camera of view 0 given
    overrides: dict = field(default_factory=dict)


RUNS = {
    "encoder": Run("encoder", "encoder", True),
    "inversion": Run("inversion", "inversion", True),
    "encoder_nocam": Run("encoder_nocam", "encoder", False),
    "inversion_nocam": Run("inversion_nocam", "inversion", False),
    "mask_iou": Run("mask_iou", "inversion", True, {"mask_loss": "iou"}),
    "texture_l1": Run("texture_l1", "inversion", True, {"texture_loss": "l1"}),
    "camera_fixed": Run("camera_fixed", "inversion", True, {"camera": "fixed"}),
}


@torch.no_grad()
def _render(mesh, cams):
    return render_mesh(torch.as_tensor(mesh.vertices, dtype=torch.float32), torch.as_tensor(mesh.faces), cams,
                       uvs=torch.as_tensor(mesh.uvs), face_uvs=torch.as_tensor(mesh.face_uvs),
                       texture=torch.as_tensor(mesh.texture, dtype=torch.float32).permute(2, 0, 1)[None],
                       background=0.0)


def turntable(mesh, distribution, size: int) -> np.ndarray:
    """Renders (12, size, size, 3) from 12 azimuths at the distribution's mean elevation and distance."""
    K, R, t = distribution.ring([360.0 * i / AZIMUTHS for i in range(AZIMUTHS)], size, size)
    return _render(mesh, cameras_from_arrays(K, R, t, size, size)).rgb.clamp(0, 1).numpy()


def heldout_scores(mesh, data) -> dict:
    """Mask IoU and PSNR of the mesh rendered in views 1.. of ``data`` (exact cameras)."""
    cams = data.cameras
    size = data.images.shape[1]
    idx = list(range(1, len(data.images)))
    out = _render(mesh, Cameras(cams.K[idx].float(), cams.R[idx].float(), cams.t[idx].float(), size, size))
    images, masks = np.asarray(data.images)[idx], np.asarray(data.masks)[idx]
    ious = [float(hard_iou(out.hard_mask[i:i + 1].float(), torch.as_tensor(masks[i:i + 1]))) for i in range(len(idx))]
    psnrs = [psnr(out.rgb[i].clamp(0, 1).numpy(), images[i] * masks[i][..., None]) for i in range(len(idx))]
    return {"heldout_iou": float(np.mean(ious)), "heldout_psnr": float(np.mean(psnrs))}


def run_benchmark(model_dir, collection_path, runs, objects: int = 20, preset: str = "small", out=None,
                  progress: ProgressFn = no_progress, log=print) -> dict:
    """Every run on the first ``objects`` held-out objects -> {"runs": {name: means}, "objects": [...]}.
    With ``out`` the figures are rewritten to OUT/bench.json after each object (a stopped run keeps them)."""
    collection = read_collection(collection_path)
    ids = collection.heldout[:objects]
    datas = {i: load_object(collection, i) for i in ids}
    real = np.concatenate([np.asarray(d.images) * np.asarray(d.masks)[..., None] for d in datas.values()])
    size = real.shape[1]
    real_feats = embed_images(real)
    report = {"model": str(model_dir), "collection": str(collection_path), "preset": preset, "objects": ids,
              "runs": {}, "per_object": {}}
    total = len(runs) * len(ids)
    for r, name in enumerate(runs):
        run = RUNS[name]
        config = inversion_preset(preset, **run.overrides)
        rows, renders = [], []
        for k, oid in enumerate(ids):
            progress((r * len(ids) + k) / total, f"{name}: object {oid}")
            data = datas[oid]
            cams = data.cameras
            camera = (cams.K[0].double().numpy(), cams.R[0].double().numpy(), cams.t[0].double().numpy())
            photo = SinglePhoto(np.asarray(data.images[0]), np.asarray(data.masks[0]), f"{oid}/000.png",
                                camera if run.camera else None)
            t0 = time.process_time()
            result, _ = reconstruct_photo(photo, model_dir, run.mode, config)
            row = {"object": oid, "cpu_s": time.process_time() - t0, "input_iou": result.metrics["input_iou"]}
            if run.camera:
                row.update(heldout_scores(result.mesh, data))
            rows.append(row)
            renders.append(turntable(result.mesh, collection.cameras, size))
            log(f"{name} {oid}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "object"))
        feats = embed_images(np.concatenate(renders))
        means = {k: float(np.mean([row[k] for row in rows])) for k in rows[0] if k != "object"}
        means["kid_12az"] = kid(feats, real_feats)
        means["inversion_config"] = None if run.mode == "encoder" else {**run.overrides, "preset": preset}
        report["runs"][name], report["per_object"][name] = means, rows
        log(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items() if isinstance(v, float)))
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            write_text(Path(out) / "bench.json", json.dumps(report, indent=1))
    progress(1.0, "done")
    return report


def markdown_table(report: dict) -> str:
    cols = ("input_iou", "heldout_iou", "heldout_psnr", "kid_12az", "cpu_s")
    lines = ["| run | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, m in report["runs"].items():
        cells = [f"{m[c]:.3f}" if c in m else "n/a" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
