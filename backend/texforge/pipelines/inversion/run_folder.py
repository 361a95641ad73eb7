"""One image file + a category-model folder -> a single-image result folder: what the command line
(scripts/reconstruct_single.py) and the Blender operator share.

The photo's mask comes from, first match wins: its alpha channel (when it separates something), a mask
file next to it (:mod:`texforge.data.mask_files`), or a plain backdrop (:func:`texforge.data.masks.
mask_from_background`). An optional camera comes from a one-frame transforms.json (Blender world,
the category's canonical frame); its intrinsics follow the photo's size. Every check that can fail runs
before the fit, and the result folder appears only complete (:func:`result_io.write_result`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...data.images import read_image, split_rgb_alpha
from ...data.mask_files import find_mask_file
from ...data.masks import has_useful_alpha, mask_from_alpha, mask_from_background, mask_problem, read_mask
from ...models.category_model import read_model
from ...results import check_out_dir
from ...runtime.errors import Cancelled, InputError
from ...runtime.progress import ProgressFn, ShouldStopFn, never_stop, no_progress
from .config import preset as inversion_preset
from .pipeline import SinglePhoto
from .result_io import write_result
from .single_image import MODES, reconstruct_photo


def read_photo(image) -> tuple[SinglePhoto, str]:
    """The photo file with its mask -> (SinglePhoto without camera, where the mask came from).
    InputError naming the file for an unreadable image or a mask that separates nothing."""
    path = Path(image)
    rgb, alpha = split_rgb_alpha(read_image(path))
    if has_useful_alpha(alpha):
        mask, source = mask_from_alpha(alpha), "alpha"
    elif (mask_file := find_mask_file(path, path.parent)) is not None:
        mask, source = read_mask(mask_file), f"mask file {mask_file.name}"
        if mask.shape != rgb.shape[:2]:
            raise InputError(f"{mask_file}: mask is {mask.shape[1]}x{mask.shape[0]} but the photo {path.name} is "
                             f"{rgb.shape[1]}x{rgb.shape[0]}")
    else:
        mask, source = mask_from_background(rgb), "plain backdrop"
    problem = mask_problem(mask)
    if problem is not None:
        raise InputError(f"{path}: {problem} (mask from {source})")
    return SinglePhoto(rgb, mask, path.name), source


def read_camera(transforms, photo: SinglePhoto) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The camera (K for the photo's size, R, t) of a one-frame transforms.json."""
    from ...data.transforms_io import read_frames, rescale_intrinsics

    frames, _, _ = read_frames(transforms)
    if len(frames) != 1:
        raise InputError(f"{transforms}: --camera needs a transforms.json with exactly one frame "
                         f"(it has {len(frames)})")
    frame = frames[0]
    ph, pw = photo.image.shape[:2]
    K = rescale_intrinsics(frame.K, frame.size, (pw, ph), f"{transforms}: the camera for {photo.name}")
    return K, np.asarray(frame.R, np.float64), np.asarray(frame.t, np.float64).reshape(3)


def model_info(model_dir) -> dict:
    model = read_model(model_dir)
    return {"name": model.header.get("name", model.root.name), "path": str(model.root.resolve()),
            "stages": sorted(model.stages)}


def reconstruct_image_file(image, model, out, mode: str = "inversion", camera=None, preset: str = "small",
                           seed: int = 0, device: str = "cpu", overwrite: bool = False,
                           progress: ProgressFn | None = None, should_stop: ShouldStopFn | None = None,
                           log=print, **overrides) -> Path:
    """Reconstruct the object in ``image`` with the category model folder ``model`` and write ``out``
    (mesh.glb, texture.png, input.png, transforms.json with the fitted camera, result.json naming the
    model). ``mode``: "inversion" or "encoder"; ``camera``: a one-frame transforms.json or None (the
    encoder's camera or a search over the category's views); ``overrides``: InversionConfig fields.
    InputError for bad input, Cancelled when ``should_stop`` asks; either way ``out`` is not written."""
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    if mode not in MODES:
        raise InputError(f"mode must be one of {MODES}, not {mode!r}")
    check_out_dir(out, overwrite)
    try:
        config = inversion_preset(preset, seed=seed, **overrides)
    except (ValueError, TypeError) as e:
        raise InputError(f"inversion settings: {e}") from e
    info = model_info(model)
    photo, source = read_photo(image)
    if camera is not None:
        photo = SinglePhoto(photo.image, photo.mask, photo.name, read_camera(camera, photo))
    log(f"{photo.name}: {photo.image.shape[1]}x{photo.image.shape[0]}, mask from {source}, camera "
        f"{'from ' + str(camera) if camera is not None else 'to be found'}; model {info['name']} "
        f"({', '.join(info['stages'])}); mode {mode}, preset {config.preset_name}, device {device}")
    result, framed = reconstruct_photo(photo, model, mode, config, progress, should_stop, device)
    if should_stop():
        raise Cancelled("stopped before writing the result")
    log("input view: " + ", ".join(f"{k} {v:.3f}" for k, v in result.metrics.items()
                                   if isinstance(v, (int, float))))
    info = {**info, "mode": mode, "camera_given": camera is not None, "mask_source": source}
    return write_result(result, config, framed.image, out, photo.name, info, overwrite)
