"""Multi-view result folder -> texture-GAN folder in one call (what scripts/texture_gan.py and the
ablation run).

While training, the checkpoint lives in OUT/checkpoints/ (written atomically every ``checkpoint_every``
iterations and on Cancel), beside OUT's log, so a stopped run can be resumed with ``resume``; the rest
of OUT appears only when the run succeeds (texforge.results.result_folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...runtime.errors import InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from .result_io import CHECKPOINT, LOG_NAME

MISSING_HINT = "run reconstruct with pseudo-GT saving (pseudo_gt.safetensors in the result folder)"


def load_result_pseudo_gt(result_dir):
    """(textures, visibility, names, metadata) from RESULT/pseudo_gt.safetensors, or InputError saying
    how to make it."""
    from ...texture.pseudo_gt import FILE_NAME, load_pseudo_gt

    result_dir = Path(result_dir)
    if not result_dir.is_dir():
        raise InputError(f"result folder {result_dir} not found")
    if not (result_dir / FILE_NAME).is_file():
        raise InputError(f"{result_dir} holds no {FILE_NAME}: {MISSING_HINT}")
    return load_pseudo_gt(result_dir / FILE_NAME)


def check_gan_out_dir(out, resume: bool = False, overwrite: bool = False) -> Path:
    """Before any work: a fresh run needs an empty (or absent) OUT, or ``overwrite``; ``resume`` needs
    OUT/checkpoints/texture_gan.safetensors from an earlier run."""
    from ...results import check_out_dir

    out = Path(out)
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise InputError(f"nothing to resume: {out / CHECKPOINT} not found (start a run without --resume)")
        check_out_dir(out, overwrite=True, log_name=LOG_NAME)  # only for the parent's writability
        return out
    return check_out_dir(out, overwrite, log_name=LOG_NAME)


def projected_figures(result_dir, result, pseudo) -> dict:
    """The reconstruction's own texture.png against the same views, at the GAN's resolution: the
    baseline the best texture has to beat."""
    import torch
    from torch.nn import functional as F

    from ...data.images import read_image
    from .pipeline import l1_to_views, prepare_pseudo_gt

    path = Path(result_dir) / "texture.png"
    if not path.is_file():
        return {}
    real, vis = prepare_pseudo_gt(pseudo[0], pseudo[1], result.config.texture_size)
    tex = torch.as_tensor(read_image(path)[..., :3]).permute(2, 0, 1)[None].float()
    tex = F.interpolate(tex, size=tuple(result.config.texture_size), mode="area")
    return {"projected_l1": float(l1_to_views(tex, real, vis)[0])}


def texture_gan_folder(result_dir, out, preset: str = "small", iterations: int | None = None,
                       variations: int | None = None, seed: int = 0, resume: bool = False, overwrite: bool = False,
                       device: str = "cpu", progress: ProgressFn = no_progress,
                       should_stop: ShouldStopFn = never_stop, log=print, **overrides) -> Path:
    """Train on RESULT's pseudo-GT textures and write OUT (see result_io). InputError on bad input,
    Cancelled when ``should_stop`` asks (the checkpoint then holds the run so far)."""
    from ...mesh.io import load_mesh
    from .config import TextureGANConfig
    from .pipeline import run_texture_gan
    from .result_io import write_texture_gan_result

    out = check_gan_out_dir(out, resume, overwrite)
    pseudo = load_result_pseudo_gt(result_dir)
    log(f"{len(pseudo[2])} pseudo-GT views of {pseudo[3]['texture_size'][0]}x{pseudo[3]['texture_size'][1]} texels "
        f"from {result_dir}")
    mesh_path = Path(result_dir) / "mesh.glb"
    mesh = load_mesh(mesh_path) if mesh_path.is_file() else None
    if mesh is None:
        log(f"warning: {mesh_path} not found; writing textures without GLBs")
    if iterations is not None:
        overrides["iterations"] = iterations
    if variations is not None:
        overrides["variations"] = variations
    cfg = TextureGANConfig.preset(preset, seed=seed, **overrides)
    ckpt = Path(out) / CHECKPOINT
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    result = run_texture_gan(pseudo, cfg, progress=progress, should_stop=should_stop, device=device,
                             checkpoint=ckpt, resume=resume)
    extra = projected_figures(result_dir, result, pseudo)
    f = {**result.figures, **extra}
    log(f"pseudo-GT L1 (visible texels): best texture {f['best_l1']:.4f}, best of {cfg.search_candidates} samples "
        f"{f['best_of_n_l1']:.4f}, mean of views {f['mean_texture_l1']:.4f}"
        + (f", projected texture.png {f['projected_l1']:.4f}" if "projected_l1" in f else ""))
    log(f"training: {result.timings['train_iterations']:.0f} iterations, {result.timings['iterations_per_s']:.2f} it/s, "
        f"{result.timings['train_cpu']:.1f} s CPU")
    # OUT holds only this run's log and checkpoint (checked above), so replacing it loses nothing
    return write_texture_gan_result(result, out, mesh=mesh, checkpoint=ckpt, source=str(Path(result_dir).resolve()),
                                    extra_figures=extra, overwrite=True)
