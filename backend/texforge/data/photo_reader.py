"""A dataset's photos read again, a few at a time, at a larger size than the working size.

The fit works at a few hundred pixels and the dataset is loaded at the working size (memory grows
with it in every per-view buffer); only the final texture projection gains from finer pixels. A
:class:`PhotoReader` gives that step the photos at up to the texture's size, chunk by chunk, through
the same gathering rule as the dataset (:func:`texforge.data.gather.gather_frames`: alpha or mask
files, compositing, resizing), so a frame's pixels and mask mean the same at both sizes.
"""

from __future__ import annotations

import numpy as np

from .gather import Frame, gather_frames
from .working_size import working_size


class PhotoReader:
    """``reader(names, max_size)`` -> images (n, H, W, 3), masks (n, H, W) float32 of the named frames,
    scaled down so that the longest side is at most ``max_size`` (never up). ``size``: the photos'
    own (W, H) (the first frame's; frames of one dataset share the aspect ratio)."""

    def __init__(self, frames: list[Frame], background=(0.0, 0.0, 0.0), mask_source: str = "AUTO"):
        self.frames = {f.name: f for f in frames}
        self.size = tuple(frames[0].size)
        self.background = background
        self.mask_source = mask_source

    def target(self, max_size: int | None) -> tuple[int, int]:
        return working_size(self.size, max_size)

    def __call__(self, names: list[str], max_size: int | None) -> tuple[np.ndarray, np.ndarray]:
        frames = [self.frames[n] for n in names]
        # prune=False: these frames passed the dataset's checks already; the chunk is not a dataset
        ds = gather_frames(frames, self.target(max_size), self.mask_source, self.background, 1, prune=False)
        return ds.images, ds.masks


def dataset_photo_reader(path, split: str = "train", background=(0.0, 0.0, 0.0),
                         mask_source: str = "AUTO") -> PhotoReader | None:
    """The :class:`PhotoReader` of any dataset folder ``load_dataset`` reads (transforms.json, COLMAP,
    LLFF), or None for mask source SEGMENT: its masks come from all views at once (a visual-hull vote),
    which a chunk of views at another size would not reproduce."""
    from .transforms_io import read_any_frames

    if mask_source == "SEGMENT":
        return None
    frames, _, _ = read_any_frames(path, split)
    return PhotoReader(frames, background, mask_source)
