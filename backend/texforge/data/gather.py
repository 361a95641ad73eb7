"""Frames -> ``MultiViewDataset``: the one rule for every way a dataset is gathered.

A frame is a photo, an optional mask, and a camera (K for the photo's size, R, t). Both
``transforms_io.load_dataset`` (transforms.json) and the Blender add-on (cameras with background
images) describe their frames as :class:`Frame` and call :func:`gather_frames`, so the same frames
give the same dataset whichever way they come in:

* the mask comes from the frame's mask file when it has one (an explicit mask wins), else from
  the alpha channel (unless the mask source is "BACKGROUND"), else from a background-colour model,
  or with mask source "SEGMENT" from the automatic multi-view segmentation (:mod:`.segment`: any
  background, all such frames segmented together);
  RGBA photos are composited onto ``background``;
* photos are resized to the working size and their intrinsics scaled with them;
* a frame whose mask is unusable (:func:`texforge.data.masks.mask_problem`: empty, or covering the
  whole image) is left out with a warning naming it and recorded in ``dataset.pruned``: one bad
  photo among many good ones must not stop the run. Too few usable frames is an error that says
  how many are needed;
* the dataset's background is the median of the backdrop colours estimated from the photos (where
  any were), else the compositing colour;
* two views, and photos that are copies of each other, give warnings: both run, but quietly give
  poor results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.spatial.distance import cdist

from ..runtime.errors import InputError
from .dataset import MultiViewDataset
from .images import resize_image, split_rgb_alpha
from .masks import estimate_background, has_useful_alpha, mask_from_alpha, mask_from_background, mask_problem
from .working_size import working_size

MIN_VIEWS = 2
MASK_SOURCES = ("AUTO", "ALPHA", "BACKGROUND", "SEGMENT")
# Photos whose 32-px thumbnails differ by less than this (mean absolute difference, 0-1 scale,
# under one 8-bit level) are copies of one photo: re-saved or re-exported files still match, while
# neighbouring views of a plain object 7.5 degrees apart differ by about 0.007.
DUPLICATE_TOLERANCE = 0.0025
_THUMBNAIL = 32


@dataclass
class Frame:
    """One view before loading. ``K`` refers to an image of ``size`` (W, H); the photo may have any
    size of the same aspect ratio. ``read_pixels`` -> (H, W, C) float32 in [0, 1], C in 1-4;
    ``read_mask`` -> (H, W) in [0, 1] or None; both raise InputError naming the file. ``label``
    names the frame in messages (default "frame NAME"); ``path`` / ``mask_path``: the files behind
    the readers, where there are files."""

    name: str
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]
    read_pixels: Callable[[], np.ndarray]
    read_mask: Callable[[], np.ndarray] | None = None
    label: str = ""
    path: str = ""
    mask_path: str = ""

    def __post_init__(self):
        self.label = self.label or f"frame {self.name}"


def too_few_views(usable: int, needed: int, total: int, pruned: list[dict] | None = None) -> InputError:
    """The error for a set with fewer than ``needed`` usable views, listing what was left out."""
    if total == 1:
        return InputError(f"only one photo: multi-view reconstruction needs at least {needed} photos of the object "
                          f"from different directions (8 or more around it work best); TexForge has no "
                          f"single-image reconstruction")
    left = "; ".join(f"{p['name']}: {p['reason']}" for p in (pruned or [])[:5])
    more = f" (and {len(pruned) - 5} more)" if pruned and len(pruned) > 5 else ""
    return InputError(f"only {usable} of {total} frames are usable; multi-view reconstruction needs at least "
                      f"{needed}" + (f". Left out: {left}{more}" if left else ""))


def _frame_pixels(frame: Frame, mask_source: str, bg: np.ndarray):
    """(rgb (H, W, 3), mask (H, W), estimated backdrop colour or None, background model or None)."""
    rgb, alpha = split_rgb_alpha(frame.read_pixels())
    if not np.all(np.isfinite(rgb)):
        raise InputError(f"{frame.label}: the image holds NaN or infinite values")
    h, w = rgb.shape[:2]
    if frame.read_mask is not None:
        mask = frame.read_mask()
        if mask.shape != (h, w):
            mask = resize_image(mask, w, h)
        if has_useful_alpha(alpha):
            return rgb * alpha[..., None] + bg * (1.0 - alpha[..., None]), mask, None, None
        outside = mask < 0.5
        return rgb, mask, (np.median(rgb[outside], axis=0) if outside.any() else None), None
    if mask_source != "BACKGROUND" and has_useful_alpha(alpha):
        return rgb * alpha[..., None] + bg * (1.0 - alpha[..., None]), mask_from_alpha(alpha), None, None
    if mask_source == "ALPHA":
        raise InputError(f"{frame.label} has no transparent pixels, so its alpha channel cannot be the mask; "
                         f"use a background-colour mask source or 'Auto'")
    model = estimate_background(rgb)
    return rgb, mask_from_background(rgb, model), model.color, model


def duplicates(images: np.ndarray, tolerance: float = DUPLICATE_TOLERANCE) -> dict[int, int]:
    """{copy index: index of the first view with the same photo} for images (N, H, W, 3)."""
    n, h, w = images.shape[:3]
    tw, th = working_size((w, h), _THUMBNAIL)
    thumbs = np.stack([resize_image(im, tw, th).ravel() for im in images])
    dist = cdist(thumbs, thumbs, "cityblock") / thumbs.shape[1]
    found: dict[int, int] = {}
    for j in range(1, n):
        same = np.flatnonzero(dist[j, :j] < tolerance)
        if len(same):
            found[j] = found.get(int(same[0]), int(same[0]))
    return found


def _duplicate_warnings(names: list[str], copies: dict[int, int]) -> list[str]:
    groups: dict[int, list[int]] = {}
    for j, i in copies.items():
        groups.setdefault(i, []).append(j)
    out = []
    for i, js in groups.items():
        listed = ", ".join(names[j] for j in js[:5]) + (f" and {len(js) - 5} more" if len(js) > 5 else "")
        out.append(f"frames {listed} show the same photo as frame {names[i]} ({len(js) + 1} of {len(names)} "
                   f"frames are copies of one photo); each photo should show the object from its own "
                   f"viewpoint: remove the copies")
    return out


def gather_frames(frames: list[Frame], target: tuple[int, int], mask_source: str = "AUTO",
                  background=(0.0, 0.0, 0.0), min_views: int = MIN_VIEWS, warnings: list[str] | None = None,
                  device=None, prune: bool = True) -> MultiViewDataset:
    """Read ``frames`` at the working size ``target`` (W, H) into a dataset (see the module docstring).

    ``warnings``: earlier warnings to keep (first). ``prune=False`` keeps frames with unusable masks
    (with the warning): evaluation views are compared one by one and must all stay. Raises
    InputError naming the frame for unreadable input, and when fewer than ``min_views`` frames are
    usable."""
    if mask_source not in MASK_SOURCES:
        raise ValueError(f"mask_source must be one of {MASK_SOURCES}, got {mask_source!r}")
    bg = np.asarray(background, dtype=np.float32).reshape(3)
    tw, th = int(target[0]), int(target[1])
    n = len(frames)
    images = np.empty((n, th, tw, 3), dtype=np.float32)
    masks = np.empty((n, th, tw), dtype=np.float32)
    warnings = list(warnings or [])
    if mask_source == "SEGMENT":
        from .segment import segment_frames

        frames, found = segment_frames(frames)
        warnings.extend(found)
    kept: list[Frame] = []
    Ks, pruned, estimated = [], [], []
    used_colour_model = False
    for frame in frames:
        rgb, mask, backdrop, model = _frame_pixels(frame, mask_source, bg)
        if (rgb.shape[1], rgb.shape[0]) != (tw, th):
            rgb, mask = resize_image(rgb, tw, th), resize_image(mask, tw, th)
        problem = mask_problem(mask)
        if problem and not prune:
            warnings.append(f"{frame.label}: {problem}")
        elif problem:
            pruned.append({"name": frame.name, "reason": problem, "stage": "input"})
            warnings.append(f"{frame.label} left out: {problem}")
            continue
        if model is not None:
            used_colour_model = True
            if model.uniform_fraction < 0.8:
                warnings.append(f"{frame.label}: the image border is not a plain backdrop "
                                f"({model.uniform_fraction:.0%} of it matches one colour); its mask may be poor: "
                                f"use the automatic segmentation (mask source 'SEGMENT') or mask files")
        if backdrop is not None:
            estimated.append(backdrop)
        k = len(kept)
        images[k], masks[k] = np.clip(rgb, 0.0, 1.0), np.clip(mask, 0.0, 1.0)
        Ks.append(np.diag([tw / frame.size[0], th / frame.size[1], 1.0]) @ np.asarray(frame.K, dtype=np.float64))
        kept.append(frame)
    if len(kept) < min_views:
        raise too_few_views(len(kept), min_views, n, pruned)
    k = len(kept)
    images, masks = images[:k], masks[:k]
    names = [f.name for f in kept]
    if used_colour_model:
        warnings.insert(0, "no alpha channel or mask file: masks were estimated from a background-colour model "
                           "(plain backdrop assumed)")
    if k == 2 and min_views >= MIN_VIEWS:
        warnings.append(f"only 2 views ({names[0]}, {names[1]}): the sides of the object that neither photo "
                        f"sees will be guessed (a smooth shape with colours filled in from the seen sides); "
                        f"photograph it from 8 or more directions around it")
    warnings.extend(_duplicate_warnings(names, duplicates(images)))
    out_bg = np.median(np.stack(estimated), axis=0).astype(np.float32) if estimated else bg.copy()
    from ..render.camera import cameras_from_arrays  # torch: only when a dataset is built

    cameras = cameras_from_arrays(np.stack(Ks), np.stack([f.R for f in kept]), np.stack([f.t for f in kept]),
                                  tw, th, device=device)
    return MultiViewDataset(images, masks, cameras, names, out_bg, warnings, pruned)
