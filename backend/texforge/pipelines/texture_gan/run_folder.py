"""Multi-view result folder -> texture-GAN folder in one call (what scripts/texture_gan.py and the
ablation run).

While training, the checkpoint lives in OUT/checkpoints/ (written atomically every ``checkpoint_every``
iterations and on Cancel), beside OUT's log, so a stopped run can be resumed with ``resume``; the rest
of OUT appears only when the run succeeds (texforge.results.result_folder)."""

from __future__ import annotations

from pathlib import Path


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


# ------------------------------------------------------------------------------------------------
# variations next to a result (what the Blender operator runs)
# ------------------------------------------------------------------------------------------------

GAN_FOLDER_SUFFIX = "-texture-gan"


def gan_folders(result_dir) -> list[Path]:
    """RESULT's texture-GAN folders (siblings named RESULT-texture-gan, RESULT-texture-gan-2, ...), oldest
    first."""
    result_dir = Path(result_dir)
    base = result_dir.name + GAN_FOLDER_SUFFIX
    found = []
    for p in result_dir.parent.glob(base + "*"):
        tail = p.name[len(base):]
        if p.is_dir() and (tail == "" or (tail.startswith("-") and tail[1:].isdigit())):
            found.append((int(tail[1:]) if tail else 1, p))
    return [p for _, p in sorted(found)]


def new_gan_folder(result_dir) -> Path:
    """The next unused sibling folder name for a texture-GAN run on RESULT (never an existing one)."""
    result_dir = Path(result_dir)
    taken = gan_folders(result_dir)
    n = 1 + max([1 if p.name.endswith(GAN_FOLDER_SUFFIX) else int(p.name.rsplit("-", 1)[1]) for p in taken],
                default=0)
    base = result_dir.parent / (result_dir.name + GAN_FOLDER_SUFFIX)
    return base if n == 1 and not base.exists() else base.with_name(f"{base.name}-{n}")


def reusable_checkpoint(result_dir, config) -> Path | None:
    """The newest checkpoint among RESULT's texture-GAN folders that was trained with ``config``'s
    architecture and training settings (a finished run, or one that was cancelled), or None. A checkpoint
    whose header cannot be read is an error naming it (CheckpointError), not something to skip silently."""
    from ...training.checkpoint import checkpoint_header
    from ...training.run_config import check_resumable
    from .config import ARCHITECTURE_FIELDS
    from ...training import CheckpointError

    for folder in reversed(gan_folders(result_dir)):
        path = folder / CHECKPOINT
        if not path.is_file():
            continue
        header = checkpoint_header(path)
        try:
            check_resumable(path, header.get("config"), config, ARCHITECTURE_FIELDS, "texture GAN")
        except CheckpointError:
            continue  # another preset / seed: not this run's GAN
        return path
    return None


def texture_variations(result_dir, preset: str = "small", iterations: int | None = None, variations: int = 4,
                       variation_seed: int = 0, device: str = "cpu", progress: ProgressFn = no_progress,
                       should_stop: ShouldStopFn = never_stop, log=print, **overrides) -> tuple[Path, bool]:
    """Best texture + ``variations`` variations for RESULT in a new sibling folder (``new_gan_folder``).
    The GAN of an earlier run with the same settings is reused (its checkpoint copied into the new
    folder and resumed: no training when it already ran ``iterations``), so new variations (another
    ``variation_seed``) cost the search and forward passes only. Returns (folder, reused).

    Bad input (no pseudo-GT, a corrupt checkpoint) raises InputError / CheckpointError and leaves no new
    folder; Cancelled leaves the new folder with its log and checkpoint, which the next call resumes."""
    import shutil

    from ...runtime.errors import Cancelled
    from .config import TextureGANConfig

    result_dir = Path(result_dir)
    load_result_pseudo_gt(result_dir)  # before anything is created: no pseudo-GT is the usual mistake
    cfg = TextureGANConfig.preset(preset, **({"iterations": iterations} if iterations else {}), **overrides)
    previous = reusable_checkpoint(result_dir, cfg)
    if previous is not None:
        from ...training.checkpoint import checkpoint_header
        trained = int(checkpoint_header(previous).get("step", 0))
        iterations = max(cfg.iterations, trained)  # a longer earlier run is reused as it is
        log(f"reusing the texture GAN of {previous.parent.parent} ({trained} iterations)")
    out = new_gan_folder(result_dir)
    out.mkdir(parents=True)
    try:
        if previous is not None:
            (out / CHECKPOINT.parent).mkdir()
            shutil.copy2(previous, out / CHECKPOINT)
        texture_gan_folder(result_dir, out, preset=preset, iterations=iterations or cfg.iterations,
                           variations=variations, resume=previous is not None, device=device, progress=progress,
                           should_stop=should_stop, log=log, variation_seed=variation_seed, **overrides)
    except Cancelled:
        raise
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # a failed run leaves nothing behind (a cancelled one resumes)
        raise
    return out, previous is not None
