"""Automatic segmentation (texforge.data.segment) on a scene built here: spot rendered by Blender from
rough cameras, composited over cluttered backgrounds, so that the true masks are the render's alpha."""

import json

import numpy as np
import pytest

pytest.importorskip("bpy")

from texforge_blender.dataset_render import DatasetSpec, render_dataset  # noqa: E402
from texforge.data.gather import gather_frames  # noqa: E402
from texforge.data.images import read_image, write_png  # noqa: E402
from texforge.data.segment import segment_views  # noqa: E402
from texforge.data.transforms_io import load_dataset, read_frames  # noqa: E402
from texforge.runtime.errors import Cancelled, InputError  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

VIEWS, SIZE = 12, 96
# measured 0.91 mean / 0.74 worst on this scene (other random seeds and sizes: 0.78-0.91 mean); the
# seed discs alone score 0.46, and the plain-backdrop model finds nothing (it takes the clutter for
# the backdrop and keeps a speck)
MEAN_IOU, WORST_IOU = 0.82, 0.6


def clutter(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A busy background: overlapping rectangles of random colours over a smooth colour gradient."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.3 + 0.4 * xx, 0.5 - 0.3 * yy, 0.4 + 0.2 * xx * yy], -1)
    for _ in range(14):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        hh, ww = rng.integers(h // 10, h // 3), rng.integers(w // 10, w // 3)
        img[y0:y0 + hh, x0:x0 + ww] = rng.uniform(0.0, 1.0, 3)
    return np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def cluttered_spot(tmp_path_factory):
    """A transforms.json dataset of RGB photos (no alpha) with rough cameras; returns (folder, true masks)."""
    root = tmp_path_factory.mktemp("segment")
    spec = DatasetSpec(views=VIEWS, size=(SIZE, SIZE), holdout=0, samples=4, noise_rot=3.0, noise_trans=0.03, seed=1)
    src = render_dataset(str(ROOT / "tests" / "data" / "spot" / "spot.obj"), root / "render", spec,
                         log=lambda *_: None)
    rng = np.random.default_rng(5)
    meta = json.loads((src / "transforms.json").read_text())
    truth = []
    for frame in meta["frames"]:
        rgba = read_image(src / frame["file_path"])
        a = rgba[..., 3:4]
        truth.append(a[..., 0] > 0.5)
        write_png(src / frame["file_path"], rgba[..., :3] * a + clutter(rng, SIZE, SIZE) * (1 - a))
    np.save(root / "truth.npy", np.stack(truth))  # for looking at a failure by hand
    return src, np.stack(truth)


def _iou(a, b):
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_masks_match_the_true_silhouettes(cluttered_spot):
    folder, truth = cluttered_spot
    ds = load_dataset(folder, mask_source="SEGMENT")
    assert len(ds.names) == VIEWS and not ds.pruned
    ious = [_iou(m > 0.5, t) for m, t in zip(ds.masks, truth)]
    print("segment IoU", np.round(ious, 3))
    assert np.mean(ious) >= MEAN_IOU and min(ious) >= WORST_IOU
    # the plain-backdrop model cannot do this: it is the problem the segmentation solves
    with pytest.raises(InputError, match="no object found"):
        load_dataset(folder)


def test_the_views_vote(cluttered_spot):
    """The stages: the seed discs alone are far from the silhouettes, the final masks close to them."""
    folder, truth = cluttered_spot
    frames, _, _ = read_frames(folder / "transforms.json")
    images = np.stack([f.read_pixels()[..., :3] for f in frames])
    seg = segment_views(images, np.stack([f.K for f in frames]), np.stack([f.R for f in frames]),
                        np.stack([f.t for f in frames]), [f.name for f in frames])
    final = np.mean([_iou(m > 0.5, t) for m, t in zip(seg.masks, truth)])
    seed = np.mean([_iou(m, t) for m, t in zip(seg.seed, truth)])
    assert final >= MEAN_IOU and seed < final - 0.15
    assert not seg.warnings


def test_a_view_without_the_object_is_named_and_left_out(cluttered_spot):
    folder, truth = cluttered_spot
    frames, _, _ = read_frames(folder / "transforms.json")
    empty = clutter(np.random.default_rng(99), SIZE, SIZE)
    frames[3].read_pixels = lambda: empty
    ds = gather_frames(frames, (SIZE, SIZE), "SEGMENT")
    name = frames[3].name
    assert name not in ds.names and [p["name"] for p in ds.pruned] == [name]
    assert any(name in w and "found no object where the cameras look" in w for w in ds.warnings), ds.warnings
    others = [_iou(m > 0.5, truth[frames.index(next(f for f in frames if f.name == n))])
              for m, n in zip(ds.masks, ds.names) if n != name]
    print("other views IoU with a clutter-only view", np.round(np.mean(others), 3))
    assert np.mean(others) >= MEAN_IOU - 0.03


def test_frames_with_alpha_or_mask_files_keep_them(cluttered_spot):
    folder, truth = cluttered_spot
    frames, _, _ = read_frames(folder / "transforms.json")
    frames[0].read_mask = lambda: truth[0].astype(np.float32)
    ds = gather_frames(frames, (SIZE, SIZE), "SEGMENT")
    assert np.array_equal(ds.masks[0] > 0.5, truth[0])


def test_cameras_that_look_nowhere_in_common_are_refused():
    eye = np.eye(3)
    R = np.stack([eye, eye])
    t = np.array([[0.0, 0.0, 3.0], [1.0, 0.0, 3.0]])
    K = np.repeat(np.array([[50.0, 0, 16], [0, 50.0, 16], [0, 0, 1]])[None], 2, 0)
    with pytest.raises(InputError, match="parallel"):
        segment_views(np.zeros((2, 32, 32, 3)), K, R, t)


def test_progress_and_cancel(cluttered_spot):
    """Stages report progress in order; a stop request ends the run at the next stage."""
    folder, _ = cluttered_spot
    frames, _, _ = read_frames(folder / "transforms.json")
    images = np.stack([f.read_pixels()[..., :3] for f in frames])
    cams = [np.stack([getattr(f, a) for f in frames]) for a in ("K", "R", "t")]
    seen = []
    with pytest.raises(Cancelled):
        segment_views(images, *cams, progress=lambda f, m: seen.append(f), should_stop=lambda: len(seen) >= 2)
    assert len(seen) == 2 and seen[0] < seen[1] < 1.0


def test_blender_cameras_with_photos_reach_the_segmentation(tf):
    """The add-on's path (cameras with background photos -> gather_dataset) with mask source SEGMENT:
    opaque photos of a ball (a centred disc in every view) over clutter."""
    import math

    import bpy

    from addon.convert import scene_inputs
    from tests.test_addon_inputs import _camera, _image

    scene, n, size = tf, 8, 64
    scene.render.resolution_x = scene.render.resolution_y = size
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    disc = (xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (0.3 * size) ** 2
    for i in range(n):
        photo = np.ones((size, size, 4), np.float32)
        photo[..., :3] = clutter(rng, size, size)
        photo[disc, :3] = [0.85, 0.7, 0.2] + rng.normal(0, 0.03, (disc.sum(), 3))
        a = 2 * math.pi * i / n
        _camera(scene, f"Seg{i}", (4 * math.cos(a), 4 * math.sin(a), 1.0), _image(f"seg{i}", photo))
    ds = scene_inputs.gather_dataset(scene, scene_inputs.selected_cameras(bpy.context), "SEGMENT", max_size=size)
    ious = [_iou(m > 0.5, disc) for m in ds.masks]
    print("blender segment IoU", np.round(ious, 3))
    # measured 0.98-1.0: one colour on clutter is the easy case; this checks the path, not the method
    assert len(ds.names) == n and min(ious) >= 0.9, np.round(ious, 3)
