"""Dataset folder -> result folder in one call: what batch runs, the benchmarks and the demo call instead of
each other's scripts."""

from __future__ import annotations

import math
from pathlib import Path

from ...data.working_size import DEFAULT_MAX_SIZE
from ...runtime.progress import ProgressFn, ShouldStopFn


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when PyTorch sees a CUDA device, else "cpu"; other names pass through."""
    import torch
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def photo_reader(dataset, mask_source: str = "AUTO", split: str = "train"):
    """The photos of the dataset's ``split`` for the final texture (read at up to the texture's size,
    above the working size), or None where they cannot be re-read the same way (see dataset_photo_reader)."""
    from ...data.photo_reader import dataset_photo_reader
    from ...runtime.errors import InputError

    try:
        return dataset_photo_reader(dataset, split, mask_source=mask_source)
    except InputError:
        return None


def auto_camera_trust(dataset) -> str:
    """The camera trust a dataset's source implies: "calibrated" for a COLMAP, LLFF or IDR / NeuS capture
    (cameras computed by a photogrammetry tool or a calibration rig, as DTU's), else "approximate" (a
    transforms.json may hold anything from exact to hand-placed cameras)."""
    from ...data.transforms_io import capture_format
    from ...runtime.errors import InputError

    try:
        return "calibrated" if capture_format(dataset) in ("colmap", "llff", "idr") else "approximate"
    except InputError:  # load_dataset reports what is wrong with the folder
        return "approximate"


START_CAMERAS = ("input", "exact", "gauge")


def _with_gauge_kept_cameras(ds, exact, pin_object_shift: bool):
    """``ds`` with its cameras replaced by where a perfect correction of them ends (rig.gauge_kept) under
    the gauge of the fit's last stage; ``exact``: the same frames loaded with their exact cameras."""
    import dataclasses

    import torch

    from ...cameras.placement import place_object
    from ...cameras.rig import gauge_kept
    from ...runtime.errors import InputError

    by_name = dict(zip(exact.names, range(len(exact.names))))
    missing = [n for n in ds.names if n not in by_name]
    if missing:
        raise InputError(f"the exact cameras (transforms_gt.json) lack frame {missing[0]}")
    exact_cameras = exact.cameras[[by_name[n] for n in ds.names]]
    centre, _ = place_object(ds.cameras, torch.as_tensor(ds.masks), ds.names)   # the centre the fit's rig uses
    return dataclasses.replace(ds, cameras=gauge_kept(ds.cameras, exact_cameras, centre, pin_object_shift))


def reconstruct_folder(dataset, out, preset: str = "small", seed: int = 0, device: str = "auto",
                       max_size: int | None = DEFAULT_MAX_SIZE, symmetry: str | None = None, prune: bool = True,
                       overwrite: bool = False, progress: ProgressFn | None = None,
                       should_stop: ShouldStopFn | None = None, log=print, mask_source: str = "AUTO",
                       camera_trust: str = "auto", camera_align: bool | None = None, category_model: str | None = None,
                       schedule: float = 1.0, image_loss: str | None = None,
                       rotation_prior: float | None = None, start_cameras: str = "input",
                       refine_focal: bool = False) -> Path:
    """Load ``dataset`` (training split), run the multi-view pipeline and write ``out`` (mesh.glb,
    texture.png, result.json; atomically, see result_io.write_result). ``mask_source``: see
    :func:`texforge.data.gather.gather_frames`. ``camera_trust``: a key of ``config.CAMERA_TRUST``, or
    "auto" (:func:`auto_camera_trust`). ``camera_align``: the alignment through the texture on / off
    (None: the preset's setting). ``category_model``: a category-model folder to start the fit from
    (``MultiviewConfig.category_model``); ``schedule``: factor on every stage's iterations; ``image_loss``:
    a key of ``config.IMAGE_LOSSES`` and ``rotation_prior``: ``MultiviewConfig.camera_prior`` (None: the
    defaults; for ablations). ``start_cameras``: "input", the dataset's cameras; for a rendered dataset with
    exact cameras (transforms_gt.json) also "exact", to measure how far the fit moves correct cameras
    (docs/BENCHMARKS.md, "What moves the orbit"), or "gauge", where a perfect correction of the input ones
    ends under the gauge of the fit's last stage (:func:`texforge.cameras.rig.gauge_kept`).
    ``refine_focal``: ``MultiviewConfig.refine_focal``. Raises InputError on bad input and Cancelled when
    ``should_stop`` asks; nothing but a log is ever left half-written."""
    from ...data.transforms_io import load_dataset
    from . import MultiviewConfig, run_multiview
    from ...results import check_out_dir
    from ...runtime.errors import InputError
    from .result_io import write_result

    check_out_dir(out, overwrite)
    if not (math.isfinite(schedule) and schedule > 0):
        raise InputError(f"the schedule factor must be a positive number, not {schedule!r}")
    if rotation_prior is not None and not (math.isfinite(rotation_prior) and rotation_prior > 0):
        raise InputError(f"the rotation prior must be a positive number, not {rotation_prior!r}")
    log(f"loading {dataset}")
    if start_cameras not in START_CAMERAS:
        raise InputError(f"unknown start cameras {start_cameras!r}; expected one of {', '.join(START_CAMERAS)}")
    split = "gt" if start_cameras == "exact" else "train"
    ds = load_dataset(dataset, split=split, max_size=max_size, mask_source=mask_source)
    for w in ds.warnings:
        log(f"warning: {w}")
    if camera_trust == "auto":
        camera_trust = auto_camera_trust(dataset)
        log(f"camera trust: {camera_trust} (from the dataset's source; --camera-trust overrides it)")
    extra = {} if camera_align is None else {"camera_align": bool(camera_align)}
    if image_loss is not None:
        extra["image_loss"] = image_loss
    if rotation_prior is not None:
        extra["camera_prior"] = float(rotation_prior)
    if refine_focal:
        extra["refine_focal"] = True
    cfg = MultiviewConfig.preset(preset, seed=seed, symmetry=symmetry, prune=prune, camera_trust=camera_trust,
                                 category_model=str(Path(category_model).resolve()) if category_model else None,
                                 **extra)
    if schedule != 1.0:
        cfg = cfg.scaled(schedule)
    if start_cameras == "gauge":
        exact = load_dataset(dataset, split="gt", max_size=max_size, mask_source=mask_source)
        ds = _with_gauge_kept_cameras(ds, exact, pin_object_shift=cfg.stages[-1].pin_object_shift)
    result = run_multiview(ds, cfg, progress=progress, should_stop=should_stop, device=resolve_device(device),
                           photos=photo_reader(dataset, mask_source, split))
    return write_result(result, out, dataset=str(Path(dataset).resolve()), overwrite=overwrite)
