"""Writing a texture-GAN folder: the best texture and K variations (PNG, and a GLB of the result's mesh
wearing each), the mean of the views for comparison, sample grids, the loss log, figures and the final
checkpoint. The folder rules (atomic, the run's log carried over) are
:func:`texforge.results.result_folder`'s."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

LOG_NAME = "texture_gan.log"
CHECKPOINT = Path("checkpoints") / "texture_gan.safetensors"


def summary(result, source: str | None = None, extra_figures: dict | None = None) -> dict:
    return {"pipeline": "texture_gan", "source": source, "iterations": result.iterations,
            "figures": {**result.figures, **(extra_figures or {})},
            "timings": {k: round(float(v), 4) for k, v in result.timings.items()},
            "views": result.names, "config": dataclasses.asdict(result.config)}


def write_texture_gan_result(result, out_dir, mesh=None, checkpoint=None, source: str | None = None,
                             extra_figures: dict | None = None, overwrite: bool = False) -> Path:
    """best_texture.png, variation_NN.png, mean_texture.png, samples/iter_NNNNNN.png, losses.json,
    texture_gan.json and (with ``mesh``, a TexturedMesh) best.glb / variation_NN.glb; ``checkpoint`` is
    copied to checkpoints/texture_gan.safetensors."""
    from ...data.images import write_png
    from ...mesh.io import write_glb
    from ...results import result_folder

    textures = {"best": result.best_texture, **{f"variation_{i + 1:02d}": t for i, t in enumerate(result.variations)}}
    with result_folder(out_dir, overwrite, log_name=LOG_NAME) as tmp:
        for name, tex in textures.items():
            png = "best_texture.png" if name == "best" else f"{name}.png"
            write_png(tmp / png, np.clip(tex, 0, 1))
            if mesh is not None:
                write_glb(tmp / f"{name}.glb", dataclasses.replace(mesh, texture=np.clip(tex, 0, 1)))
        write_png(tmp / "mean_texture.png", np.clip(result.mean_texture, 0, 1))
        (tmp / "samples").mkdir()
        for it, grid in result.samples:
            write_png(tmp / "samples" / f"iter_{it:06d}.png", np.clip(grid, 0, 1))
        with open(tmp / "losses.json", "w", encoding="utf-8") as f:
            json.dump(result.log, f, indent=0)
        with open(tmp / "texture_gan.json", "w", encoding="utf-8") as f:
            json.dump(summary(result, source, extra_figures), f, indent=1)
        if checkpoint is not None and Path(checkpoint).is_file():
            (tmp / CHECKPOINT.parent).mkdir()
            shutil.copy2(checkpoint, tmp / CHECKPOINT)
    return Path(out_dir)
