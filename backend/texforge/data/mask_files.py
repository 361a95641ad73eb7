"""Mask files found next to photos by name, for every dataset format.

Capture tools write masks beside the photos rather than naming them in a camera file. A photo
``images/IMG_0001.JPG`` of a dataset folder ``ROOT`` finds its mask, first match wins, at:

* ``ROOT/masks/IMG_0001.<ext>`` (same stem, any image extension; sub-folders of ``images/`` kept);
* ``ROOT/masks/IMG_0001.JPG.png`` (COLMAP's own mask naming: the photo's full name + ``.png``);
* ``images/IMG_0001_mask.<ext>`` or ``images/IMG_0001.mask.<ext>`` beside the photo.
"""

from __future__ import annotations

from pathlib import Path

from ..runtime.errors import InputError
from .images import IMAGE_EXTENSIONS
from .masks import read_mask

MASK_SUFFIXES = ("_mask", ".mask")


def is_mask_file(path) -> bool:
    """True for files named as a photo's mask (``*_mask.png``, ``*.mask.png``): never a photo."""
    stem = Path(path).stem
    return any(stem.endswith(s) for s in MASK_SUFFIXES)


def find_mask_file(photo, root=None, relative: str | None = None) -> Path | None:
    """The mask file of ``photo`` (see the module docstring), or None.

    ``root``: the dataset folder holding ``masks/`` (default: the photo folder's parent);
    ``relative``: the photo's name relative to its images folder (default: its file name), so that
    photos in sub-folders find masks in the same sub-folders."""
    photo = Path(photo)
    root = Path(root) if root is not None else photo.parent.parent
    rel = Path(relative) if relative else Path(photo.name)
    candidates = [root / "masks" / rel.with_suffix(ext) for ext in IMAGE_EXTENSIONS]
    candidates.append(root / "masks" / rel.with_name(rel.name + ".png"))
    candidates += [photo.with_name(photo.stem + s + ext) for s in MASK_SUFFIXES for ext in IMAGE_EXTENSIONS]
    return next((c for c in candidates if c.is_file()), None)


def mask_reader(path, label: str, after=None):
    """A reader for a frame's mask file: :func:`read_mask`, then ``after`` (e.g. the photo's lens
    undistortion); InputErrors name ``label`` (the frame)."""
    def read():
        try:
            m = read_mask(path)
        except InputError as e:
            raise InputError(f"{label}: {e}") from e
        return after(m) if after is not None else m
    return read
