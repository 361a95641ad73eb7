"""Automatic segmentation against a capture's own masks: mean / worst IoU and time per view.

    python scripts/bench_segment.py CAPTURE [--every K] [--size PX] [--fill F]

CAPTURE holds images/, masks/ (same names, white = object) and LLFF poses_bounds.npy (one row per
photo in sorted file-name order). Prints one line per view (IoU, and the worst ones last) and a
summary; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from texforge.data.images import read_image, resize_image
from texforge.data.masks import mask_from_background, read_mask
from texforge.data.segment import FILL, SEGMENT_SIZE, segment_views
from texforge.runtime.errors import InputError


def _llff_cameras(capture: Path, sizes: list[tuple[int, int]]):
    """poses_bounds.npy -> OpenCV K, R, t per photo, intrinsics scaled to ``sizes`` (W, H)."""
    rows = np.load(capture / "poses_bounds.npy")
    if len(rows) != len(sizes):
        raise InputError(f"{capture / 'poses_bounds.npy'}: {len(rows)} poses for {len(sizes)} photos")
    pose = rows[:, :15].reshape(-1, 3, 5)
    # LLFF camera-to-world columns are [down, right, back]; OpenCV's are [right, down, forward]
    c2w = np.stack([pose[:, :, 1], pose[:, :, 0], -pose[:, :, 2]], axis=2)
    R = np.transpose(c2w, (0, 2, 1))
    t = -np.einsum("nij,nj->ni", R, pose[:, :, 3])
    K = np.zeros((len(rows), 3, 3))
    for i, (w, h) in enumerate(sizes):
        f = pose[i, 2, 4] * w / pose[i, 1, 4]
        K[i] = [[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]]
    return K, R, t


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("capture", type=Path)
    p.add_argument("--every", type=int, default=1, help="use every K-th photo (default 1: all)")
    p.add_argument("--size", type=int, default=SEGMENT_SIZE, help=f"long side segmented at (default {SEGMENT_SIZE})")
    p.add_argument("--fill", type=float, default=FILL, help=f"seed sphere fill of the half FOV (default {FILL})")
    a = p.parse_args(argv)
    try:
        files = sorted(f for f in (a.capture / "images").iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
        photos = [read_image(f)[..., :3] for f in files]
        K, R, t = _llff_cameras(a.capture, [(im.shape[1], im.shape[0]) for im in photos])
        pick = list(range(0, len(files), max(1, a.every)))
        h0, w0 = photos[0].shape[:2]
        s = min(1.0, a.size / max(h0, w0))
        sw, sh = round(w0 * s), round(h0 * s)
        images = np.stack([resize_image(photos[i], sw, sh) for i in pick])
        truth = np.stack([read_mask(a.capture / "masks" / (files[i].stem + ".png")) > 0.5 for i in pick])
        Ks = K[pick] * np.array([[sw / w0], [sh / h0], [1.0]])
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = [files[i].name for i in pick]
    t0, c0 = time.perf_counter(), time.process_time()
    seg = segment_views(images, Ks, R[pick], t[pick], names, fill=a.fill,
                        progress=lambda f, m: print(f"[{f:4.0%}] {m}", flush=True))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    truth = np.stack([resize_image(g.astype(np.float32), sw, sh) > 0.5 for g in truth])
    ious = [_iou(m > 0.5, g) for m, g in zip(seg.masks, truth)]
    baselines = {"seed disc alone": seg.seed, "colour models before the hull vote": seg.colour_only,
                 "plain-backdrop model": [mask_from_background(im) > 0.5 for im in images]}
    for what, masks in baselines.items():
        b = [_iou(m, g) for m, g in zip(masks, truth)]
        print(f"baseline {what}: IoU mean {np.mean(b):.3f}, worst {np.min(b):.3f}")
    for w in seg.warnings:
        print("warning:", w)
    order = np.argsort(ious)
    print("worst views:", ", ".join(f"{names[i]} {ious[i]:.3f}" for i in order[:8]))
    print(f"{len(pick)} views at {sw}x{sh}: IoU mean {np.mean(ious):.3f}, median {np.median(ious):.3f}, "
          f"worst {np.min(ious):.3f}; {wall / len(pick):.2f} s/view wall, {cpu / len(pick):.2f} s/view CPU "
          f"(seed radius {seg.radius:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
