"""Dataset folder -> result folder in one call: what batch runs, the benchmarks and the demo call instead of
each other's scripts."""

from __future__ import annotations

from pathlib import Path

from ...data.working_size import DEFAULT_MAX_SIZE
from ...runtime.progress import ProgressFn, ShouldStopFn


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when PyTorch sees a CUDA device, else "cpu"; other names pass through."""
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


# Files that mark a folder as the output of a calibration tool: a COLMAP sparse model or LLFF poses.
CALIBRATED_MARKERS = ("poses_bounds.npy", "cameras.bin", "cameras.txt", "sparse")


def auto_camera_trust(dataset) -> str:
    """The camera trust a dataset's source implies: "calibrated" for a COLMAP or LLFF folder without a
    transforms.json (cameras computed by a photogrammetry tool), else "approximate" (a transforms.json
    may hold anything from exact to hand-placed cameras)."""
    folder = Path(dataset)
    if folder.is_file() or (folder / "transforms.json").is_file():
        return "approximate"
    return "calibrated" if any((folder / m).exists() for m in CALIBRATED_MARKERS) else "approximate"


def reconstruct_folder(dataset, out, preset: str = "small", seed: int = 0, device: str = "auto",
                       max_size: int | None = DEFAULT_MAX_SIZE, symmetry: str | None = None, prune: bool = True,
                       overwrite: bool = False, progress: ProgressFn | None = None,
                       should_stop: ShouldStopFn | None = None, log=print, camera_trust: str = "auto") -> Path:
    """Load ``dataset`` (training split), run the multi-view pipeline and write ``out`` (mesh.glb,
    texture.png, result.json; atomically, see result_io.write_result). ``camera_trust``: a key of
    ``config.CAMERA_TRUST``, or "auto" (:func:`auto_camera_trust`). Raises InputError on bad input
    and Cancelled when ``should_stop`` asks; nothing but a log is ever left half-written."""
    from ...data.transforms_io import load_dataset
    from . import MultiviewConfig, run_multiview
    from ...results import check_out_dir
    from .result_io import write_result

    check_out_dir(out, overwrite)
    log(f"loading {dataset}")
    ds = load_dataset(dataset, split="train", max_size=max_size)
    for w in ds.warnings:
        log(f"warning: {w}")
    if camera_trust == "auto":
        camera_trust = auto_camera_trust(dataset)
        log(f"camera trust: {camera_trust} (from the dataset's source; --camera-trust overrides it)")
    cfg = MultiviewConfig.preset(preset, seed=seed, symmetry=symmetry, prune=prune, camera_trust=camera_trust)
    result = run_multiview(ds, cfg, progress=progress, should_stop=should_stop, device=resolve_device(device))
    return write_result(result, out, dataset=str(Path(dataset).resolve()), overwrite=overwrite)
