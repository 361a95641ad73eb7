"""A ball seen from a ring of cameras, written as a transforms.json dataset of RGBA PNGs.

Its silhouette is a centred disc in every view, so every frame's correct mask is known exactly;
the colour changes around the ring, so that no two views are copies of one photo. Shared by the
input tests of the library (test_input_frames.py) and of the add-on (test_addon_inputs.py).
"""

from __future__ import annotations

import json
import math

import numpy as np
from PIL import Image

SIZE, FOCAL, RADIUS, DISTANCE = 48, 57.6, 0.6, 3.0


def c2w_looking_at_origin(azimuth: float, height: float) -> np.ndarray:
    """Blender/OpenGL camera-to-world matrix on a ring, looking at the origin (-Z forward, +Y up)."""
    eye = np.array([DISTANCE * math.cos(azimuth), DISTANCE * math.sin(azimuth), height])
    fwd = -eye / np.linalg.norm(eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, np.cross(right, fwd), -fwd, eye
    return m


def ball_photo(k: float, size=(SIZE, SIZE)) -> np.ndarray:
    """RGBA uint8: the ball's silhouette (a centred disc) in a colour that changes around the ring,
    so that no two views are copies of one photo."""
    w, h = size
    dist = math.hypot(DISTANCE, 0.4)
    r = FOCAL * (w / SIZE) * math.tan(math.asin(RADIUS / dist))
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    inside = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 <= r * r
    a = 2 * math.pi * k / 24
    img = np.zeros((h, w, 4), np.uint8)
    img[inside] = [int(127 + 110 * math.cos(a)), int(127 + 110 * math.sin(a)), 60, 255]
    return img


def write_ball_dataset(root, n: int = 24, extra: dict | None = None, size=(SIZE, SIZE)):
    """n good frames (+ ``extra``: {file name: (RGBA image, c2w)}) -> root/transforms.json."""
    root.mkdir(parents=True, exist_ok=True)
    frames = []
    items = [(f"good_{k:02d}.png", ball_photo(k, size), c2w_looking_at_origin(2 * math.pi * k / n,
                                                                             0.4 * (-1) ** k)) for k in range(n)]
    items += [(name, img, m) for name, (img, m) in (extra or {}).items()]
    for name, img, m in items:
        Image.fromarray(img).save(root / name)
        frames.append({"file_path": name, "transform_matrix": m.tolist()})
    meta = {"fl_x": FOCAL * size[0] / SIZE, "fl_y": FOCAL * size[0] / SIZE, "cx": size[0] / 2, "cy": size[1] / 2,
            "w": size[0], "h": size[1], "frames": frames}
    (root / "transforms.json").write_text(json.dumps(meta))
    return root


def facing_away(azimuth: float) -> np.ndarray:
    """A camera on the ring turned 180 degrees about its up axis: it looks away from the ball."""
    m = c2w_looking_at_origin(azimuth, 0.0)
    m[:3, 0], m[:3, 2] = -m[:3, 0], -m[:3, 2]
    return m


def quick_config():
    """The tiny preset cut to a few iterations: enough to run every step of the pipeline."""
    from texforge.pipelines.multiview import MultiviewConfig

    cfg = MultiviewConfig.preset("tiny", prune=False)  # only the input screening prunes here
    for st in cfg.stages:
        st.iterations = 2
    cfg.refine_iterations = 0
    cfg.inflate_search_px = (0.0, 0.0, 1)
    return cfg
