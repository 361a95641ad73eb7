"""Writing a single-image result folder: mesh.glb, texture.png, input.png (the photo at its working size,
the fitted camera's background), transforms.json (that camera, so Import transforms and any NeRF tool
read it) and result.json (camera, latent, metrics, config, the category model used).

The folder rules (atomic, the run's log carried over) are :func:`texforge.results.result_folder`'s.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ...geometry.camera_convert import camera_entry

RESULT_VERSION = 1
PIPELINE = "single_image"


def result_dict(result, config, photo_name: str, model: dict | None = None) -> dict:
    return {"version": RESULT_VERSION, "pipeline": PIPELINE, "photo": photo_name,
            "image_size": [int(result.size[0]), int(result.size[1])],
            "cameras": [camera_entry("input.png", result.K, result.R, result.t)],
            "latent": np.asarray(result.latent, dtype=float).tolist(),
            "model": model or {}, "config": dataclasses.asdict(config), "metrics": result.metrics,
            "loss_history": result.history[-1:] if result.history else []}


def write_result(result, config, photo_image: np.ndarray, out_dir, photo_name: str, model: dict | None = None,
                 overwrite: bool = False) -> Path:
    """Write the folder (see the module docstring). ``photo_image`` (H, W, 3) is the photo at
    ``result.size``."""
    from ...data.images import write_png
    from ...data.transforms_io import write_transforms
    from ...mesh.io import write_glb
    from ...results import result_folder

    w, h = result.size
    with result_folder(out_dir, overwrite) as tmp:
        write_glb(tmp / "mesh.glb", result.mesh)
        write_png(tmp / "texture.png", np.clip(result.mesh.texture, 0, 1))
        write_png(tmp / "input.png", np.clip(photo_image, 0, 1))
        write_transforms(tmp / "transforms.json", result.K[None], result.R[None], result.t[None], w, h, ["input.png"])
        with open(tmp / "result.json", "w", encoding="utf-8") as f:
            json.dump(result_dict(result, config, photo_name, model), f, indent=1)
    return Path(out_dir)
