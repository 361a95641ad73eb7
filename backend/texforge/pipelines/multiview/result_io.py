"""Writing a multi-view result folder: mesh.glb, texture.png, visibility.png, result.json and, when the
result has them, the per-view pseudo-ground-truth textures (pseudo_gt.safetensors).

The folder rules (atomic, the run's log carried over, what counts as empty) are
:func:`texforge.results.result_folder`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...geometry.camera_convert import camera_entry

RESULT_VERSION = 1


def camera_entries(cameras, names: list[str]) -> list[dict]:
    """Cameras -> [{name, K, R, t, transform_matrix}] (OpenCV K/R/t; transform_matrix camera-to-world
    in Blender/OpenGL axes, as in transforms.json)."""
    K, R, t = (cameras.K.detach().cpu().double().numpy(), cameras.R.detach().cpu().double().numpy(),
               cameras.t.detach().cpu().double().numpy())
    return [camera_entry(n, K[i], R[i], t[i]) for i, n in enumerate(names)]


def result_dict(result, dataset: str | None = None) -> dict:
    return {
        "version": RESULT_VERSION,
        "pipeline": "multiview",
        "dataset": dataset,
        "image_size": [int(result.image_size[0]), int(result.image_size[1])],
        "cameras": camera_entries(result.cameras, result.names),
        "input_cameras": camera_entries(result.input_cameras, result.names),
        "pruned": result.pruned,
        "per_view": result.per_view,
        "timings": {k: round(float(v), 3) for k, v in result.timings.items()},
        "camera_trust": result.config.get("camera_trust", "approximate"),
        "config": result.config,
        "metrics": result.metrics,
    }


def write_result(result, out_dir, dataset: str | None = None, overwrite: bool = False) -> Path:
    """Write mesh.glb, texture.png, visibility.png, result.json (and pseudo_gt.safetensors) to ``out_dir`` (see
    :func:`texforge.results.result_folder`)."""
    from ...data.images import write_png
    from ...mesh.io import write_glb
    from ...results import result_folder

    with result_folder(out_dir, overwrite) as tmp:
        write_glb(tmp / "mesh.glb", result.mesh)
        write_png(tmp / "texture.png", np.clip(result.mesh.texture, 0, 1))
        if result.visibility is not None:
            write_png(tmp / "visibility.png", np.clip(result.visibility, 0, 1))
        if getattr(result, "pseudo_gt", None) is not None:
            from ...texture.pseudo_gt import FILE_NAME, save_pseudo_gt
            p = result.pseudo_gt
            save_pseudo_gt(tmp / FILE_NAME, p["textures"], p["visibility"], p["names"])
        with open(tmp / "result.json", "w", encoding="utf-8") as f:
            json.dump(result_dict(result, dataset), f, indent=1)
    return Path(out_dir)
