"""The working image size: photos are scaled down to it before any pipeline sees them.

Pure Python on purpose (no numpy, torch or Pillow), so that Blender's UI can show the default
before PyTorch is installed. The command line (``--max-size``) and the Blender operator (Working
Size) both start from :data:`DEFAULT_MAX_SIZE`: full-resolution photos cost memory in every
per-view buffer of the fit (twelve 4000x3000 photos needed more than 22 GB), while the fit itself
works at a few hundred pixels and only the texture projection reads finer detail.
"""

from __future__ import annotations

DEFAULT_MAX_SIZE = 1024


def working_size(size: tuple[int, int], max_size: int | None = DEFAULT_MAX_SIZE) -> tuple[int, int]:
    """(W, H) scaled down (aspect kept) so that its longest side is at most ``max_size``.

    ``max_size`` None or 0 means no cap; sizes already within the cap are returned unchanged."""
    w, h = int(size[0]), int(size[1])
    if not max_size or max(w, h) <= int(max_size):
        return w, h
    s = int(max_size) / max(w, h)
    return max(1, int(round(w * s))), max(1, int(round(h * s)))
