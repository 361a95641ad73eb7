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

from texforge.data.images import resize_image
from texforge.data.llff import read_llff_frames
from texforge.data.masks import mask_from_background
from texforge.data.segment import FILL, SEGMENT_SIZE, segment_views
from texforge.runtime.errors import InputError


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
        frames = read_llff_frames(a.capture)[0][::max(1, a.every)]  # the project's LLFF loader
        if any(f.read_mask is None for f in frames):
            raise InputError(f"{a.capture}: every photo needs its mask file (masks/<name>.png) to score against")
        w0, h0 = frames[0].size
        s = min(1.0, a.size / max(h0, w0))
        sw, sh = round(w0 * s), round(h0 * s)
        images = np.stack([resize_image(f.read_pixels()[..., :3], sw, sh) for f in frames])
        truth = np.stack([f.read_mask() > 0.5 for f in frames])
        Ks = np.stack([f.K * np.array([[sw / f.size[0]], [sh / f.size[1]], [1.0]]) for f in frames])
        R, t = np.stack([f.R for f in frames]), np.stack([f.t for f in frames])
    except (InputError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    names = [f.name for f in frames]
    t0, c0 = time.perf_counter(), time.process_time()
    seg = segment_views(images, Ks, R, t, names, fill=a.fill,
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
    print(f"{len(frames)} views at {sw}x{sh}: IoU mean {np.mean(ious):.3f}, median {np.median(ious):.3f}, "
          f"worst {np.min(ious):.3f}; {wall / len(frames):.2f} s/view wall, {cpu / len(frames):.2f} s/view CPU "
          f"(seed radius {seg.radius:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
