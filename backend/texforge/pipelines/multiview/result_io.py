"""Writing a multi-view result folder: mesh.glb, texture.png, result.json (atomically).

Everything is written into a temporary sibling folder that is renamed to ``out_dir`` at the end, so
an interrupted run never leaves a half-written result. ``out_dir`` must not exist, or be empty, or
hold only the run's log file (``reconstruct.log``), unless ``overwrite`` is set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ...render.camera import rt_to_c2w_gl
from ...runtime.output import LOG_NAME, check_output_folder

RESULT_VERSION = 1


def camera_entries(cameras, names: list[str]) -> list[dict]:
    """Cameras -> [{name, K, R, t, transform_matrix}] (OpenCV K/R/t; transform_matrix camera-to-world
    in Blender/OpenGL axes, as in transforms.json)."""
    K, R, t = (cameras.K.detach().cpu().double().numpy(), cameras.R.detach().cpu().double().numpy(),
               cameras.t.detach().cpu().double().numpy())
    return [{"name": n, "K": K[i].tolist(), "R": R[i].tolist(), "t": t[i].tolist(),
             "transform_matrix": rt_to_c2w_gl(R[i], t[i]).tolist()} for i, n in enumerate(names)]


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
        "config": result.config,
        "metrics": result.metrics,
    }


def check_out_dir(out_dir, overwrite: bool = False) -> Path:
    """Refuse a folder a result cannot go to (see :func:`texforge.runtime.output.check_output_folder`)."""
    return check_output_folder(out_dir, overwrite)


def write_result(result, out_dir, dataset: str | None = None, overwrite: bool = False) -> Path:
    """Write mesh.glb, texture.png and result.json to ``out_dir`` (through
    :func:`texforge.atomic.atomic_folder`: temp folder + rename, normal permissions)."""
    from ...atomic import atomic_folder
    from ...data.images import write_png
    from ...mesh.io import write_glb

    out = check_out_dir(out_dir, overwrite)
    log = out / LOG_NAME
    # a folder holding only our log counts as empty (check_out_dir refused anything else): the log
    # is carried into the new folder, which replaces the old one
    only_log = out.is_dir() and log.exists()
    with atomic_folder(out, overwrite=overwrite or only_log) as tmp:
        write_glb(tmp / "mesh.glb", result.mesh)
        write_png(tmp / "texture.png", np.clip(result.mesh.texture, 0, 1))
        if result.visibility is not None:
            write_png(tmp / "visibility.png", np.clip(result.visibility, 0, 1))
        with open(tmp / "result.json", "w", encoding="utf-8") as f:
            json.dump(result_dict(result, dataset), f, indent=1)
        if log.exists():
            shutil.copy2(log, tmp / LOG_NAME)
    return out
