"""Awkward input on the way into a reconstruction: per-frame problems pruned with a warning naming
the frame, the OpenCV-convention hint, two views, copies of one photo, and the working-size cap.

The scene is a ball seen from a ring of cameras (its silhouette is a disc in every view), written
as a transforms.json dataset of RGBA PNGs, so every frame's correct mask is known exactly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from texforge.data.transforms_io import load_dataset
from texforge.data.working_size import DEFAULT_MAX_SIZE
from texforge.pipelines.multiview import MultiviewConfig, run_multiview
from texforge.runtime.errors import InputError

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
    cfg = MultiviewConfig.preset("tiny", prune=False)  # only the input screening prunes here
    for st in cfg.stages:
        st.iterations = 2
    cfg.refine_iterations = 0
    cfg.inflate_search_px = (0.0, 0.0, 1)
    return cfg


def test_one_bad_frame_of_each_kind_is_pruned_and_named(tmp_path):
    empty = ball_photo(3)
    empty[..., 3] = 0
    fills = np.full((SIZE, SIZE, 4), 200, np.uint8)
    fills[0, 0, 3] = 0  # an alpha channel whose object covers the whole frame
    bad = {"away.png": (ball_photo(5.5), facing_away(0.3)),
           "fills.png": (fills, c2w_looking_at_origin(1.0, 0.0)),
           "empty.png": (empty, c2w_looking_at_origin(2.0, 0.0))}
    ds = load_dataset(write_ball_dataset(tmp_path / "ds", extra=bad))
    assert {p["name"]: p["reason"].split(" (")[0] for p in ds.pruned} == {
        "fills.png": "the mask covers the whole image, so it has no outline: the object fills the frame or the "
                     "backdrop was not separated; keep the whole object inside the frame on a plain backdrop",
        "empty.png": "no object found"}
    assert len(ds) == 25 and "away.png" in ds.names
    messages = []
    result = run_multiview(ds, quick_config(), progress=lambda f, m: messages.append(m))
    pruned = {p["name"]: p for p in result.pruned}
    assert set(pruned) == {"away.png", "fills.png", "empty.png"}
    assert all(p["stage"] == "input" for p in pruned.values())
    assert "faces away" in pruned["away.png"]["reason"]
    assert result.names == [f"good_{k:02d}.png" for k in range(24)]
    assert any(m.startswith("pruned frame away.png: the camera faces away") for m in messages)
    assert any(w.startswith("frame fills.png left out: the mask covers") for w in ds.warnings)
    assert any(w.startswith("frame empty.png left out: no object found") for w in ds.warnings)
    assert not any("copies" in w for w in ds.warnings)
    from texforge.pipelines.multiview.result_io import result_dict
    assert {p["name"] for p in result_dict(result)["pruned"]} == set(pruned)  # what result.json records


def test_too_few_frames_left_is_an_error_saying_how_many_are_needed(tmp_path):
    root = write_ball_dataset(tmp_path / "ds", n=3)
    for k in (0, 1):
        img = ball_photo(k)
        img[..., 3] = 0
        Image.fromarray(img).save(root / f"good_{k:02d}.png")
    with pytest.raises(InputError, match=r"only 1 of 3 frames are usable; multi-view reconstruction needs at "
                                         r"least 2\. Left out: good_00\.png: no object found.*good_01\.png"):
        load_dataset(root)


def test_opencv_poses_get_a_convention_hint(tmp_path):
    """OpenCV camera-to-world (looks down +Z, Y down) read as OpenGL: every camera faces away."""
    root = write_ball_dataset(tmp_path / "ds", n=8)
    meta = json.loads((root / "transforms.json").read_text())
    for f in meta["frames"]:
        m = np.asarray(f["transform_matrix"])
        m[:3, 1:3] *= -1
        f["transform_matrix"] = m.tolist()
    (root / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match=r"8 of 8 cameras face away .*OpenCV convention.*OpenGL/Blender"):
        run_multiview(load_dataset(root), quick_config())


def test_two_views_warn_that_unseen_sides_are_guessed(tmp_path):
    ds = load_dataset(write_ball_dataset(tmp_path / "ds", n=2))
    assert len(ds) == 2
    assert [w for w in ds.warnings if w.startswith("only 2 views (good_00.png, good_01.png): the sides of the "
                                                   "object that neither photo sees will be guessed")]


def test_copies_of_one_photo_are_named(tmp_path):
    root = write_ball_dataset(tmp_path / "ds", n=12)
    photo = (root / "good_04.png").read_bytes()
    for k in (5, 6, 7, 8, 9, 10, 11):  # 8 of 12 frames hold one photo
        (root / f"good_{k:02d}.png").write_bytes(photo)
    rgba = np.asarray(Image.open(root / "good_04.png"))
    Image.fromarray(rgba).save(root / "good_11.png", compress_level=1)  # same pixels, other bytes
    ds = load_dataset(root)
    copies = [w for w in ds.warnings if "copies of one photo" in w]
    assert copies == ["frames good_05.png, good_06.png, good_07.png, good_08.png, good_09.png and 2 more show the "
                      "same photo as frame good_04.png (8 of 12 frames are copies of one photo); each photo should "
                      "show the object from its own viewpoint: remove the copies"]
    assert len(ds) == 12  # copies are reported, not dropped: a plain sphere may look the same from everywhere


def test_large_photos_are_loaded_at_the_working_size(tmp_path):
    """3000x2000 photos come in at the default cap: every buffer is sized by the cap, not the photos."""
    root = write_ball_dataset(tmp_path / "ds", n=3, size=(3000, 2000))
    ds = load_dataset(root, max_size=DEFAULT_MAX_SIZE)
    w, h = DEFAULT_MAX_SIZE, round(2000 * DEFAULT_MAX_SIZE / 3000)
    assert ds.images.shape == (3, h, w, 3) and ds.masks.shape == (3, h, w)
    assert (ds.cameras.width, ds.cameras.height) == (w, h)
    np.testing.assert_allclose(ds.cameras.K[0, 0, 0].item(), FOCAL * 3000 / SIZE * w / 3000, rtol=1e-6)
    assert any(f"images rescaled to {w}x{h} (longest side capped at {DEFAULT_MAX_SIZE} px)" in x for x in ds.warnings)
    assert load_dataset(root, max_size=0).images.shape == (3, 2000, 3000, 3)  # 0: no cap
