"""Image I/O, masks and transforms.json datasets (NeRF-synthetic, nerfstudio, instant-ngp styles)."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from texforge.data.images import read_image, resize_image, split_rgb_alpha, write_png
from texforge.data.masks import estimate_background, fill_small_holes, mask_from_background, read_mask
from texforge.data.transforms_io import load_dataset, write_transforms
from texforge.runtime.errors import InputError
from texforge.render.camera import rt_to_c2w_gl, transforms_intrinsics


# ------------------------------------------------------------------------------------------------
# helpers: a tiny synthetic scene (a ball at the origin seen by cameras on a circle)
# ------------------------------------------------------------------------------------------------

def look_at_c2w(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Blender/OpenGL camera-to-world matrix looking from eye at target (camera -Z forward, +Y up)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    fwd = target - eye
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, up)
    right /= np.linalg.norm(right)
    cam_up = np.cross(right, fwd)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, cam_up, -fwd, eye
    return m


def ring_poses(n, radius=3.0, height=1.0):
    return [look_at_c2w((radius * math.cos(2 * math.pi * i / n), radius * math.sin(2 * math.pi * i / n), height))
            for i in range(n)]


def disc_image(w, h, fg=(0.9, 0.2, 0.1), bg=(1.0, 1.0, 1.0), radius_frac=0.25, center=None):
    """RGB (H, W, 3) plain backdrop with a disc in the middle, and the disc mask (H, W)."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    cx, cy = center if center is not None else (w / 2, h / 2)
    mask = ((xx - cx) ** 2 + (yy - cy) ** 2 <= (radius_frac * min(w, h)) ** 2).astype(np.float32)
    rgb = np.where(mask[..., None] > 0, np.asarray(fg, np.float32), np.asarray(bg, np.float32))
    return rgb.astype(np.float32), mask


def save_u8(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.round(np.clip(arr, 0, 1) * 255).astype(np.uint8)).save(path)


def make_nerf_synthetic(root, n=4, size=32, angle=0.69):
    frames = []
    for i, m in enumerate(ring_poses(n)):
        # one colour per view: identical photos from different cameras are reported as copies
        rgb, mask = disc_image(size, size, fg=(0.2, 0.6, 0.9 - 0.15 * i))
        rgba = np.concatenate([rgb * mask[..., None], mask[..., None]], axis=-1)  # transparent bg is black
        save_u8(root / "train" / f"r_{i}.png", rgba)
        frames.append({"file_path": f"./train/r_{i}", "rotation": 0.0, "transform_matrix": m.tolist()})
    (root / "transforms_train.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    return frames


# ------------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip_8bit(tmp_path, channels):
    rng = np.random.default_rng(channels)
    a = rng.random((9, 13, channels)).astype(np.float32)
    write_png(tmp_path / "a.png", a)
    b = read_image(tmp_path / "a.png")
    assert b.shape == a.shape and b.dtype == np.float32
    assert np.abs(a - b).max() <= 0.5 / 255 + 1e-6
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # atomic write leaves no temp file


def test_png_16bit_grey_and_jpeg(tmp_path):
    a = np.linspace(0, 1, 5 * 7, dtype=np.float32).reshape(5, 7)
    write_png(tmp_path / "g16.png", a, bits=16)
    b = read_image(tmp_path / "g16.png")
    assert b.shape == (5, 7, 1) and np.abs(b[..., 0] - a).max() < 1e-4  # 16-bit precision kept
    rgb, _ = disc_image(16, 12)
    save_u8(tmp_path / "x.jpg", rgb)
    j = read_image(tmp_path / "x.jpg")
    assert j.shape == (12, 16, 3) and np.abs(j - rgb).mean() < 0.05
    c, alpha = split_rgb_alpha(read_image(tmp_path / "g16.png"))
    assert c.shape == (5, 7, 3) and alpha is None


def test_write_png_rejects_nan(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        write_png(tmp_path / "n.png", np.full((4, 4, 3), np.nan))
    assert not any(tmp_path.iterdir())


def test_read_image_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="missing.png"):
        read_image(tmp_path / "missing.png")
    save_u8(tmp_path / "ok.png", np.random.default_rng(0).random((64, 64, 3)))
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="trunc.png"):
        read_image(tmp_path / "trunc.png")
    (tmp_path / "junk.png").write_bytes(b"this is not an image")
    with pytest.raises(InputError, match="junk.png"):
        read_image(tmp_path / "junk.png")


def test_resize_area_downscale_and_masks():
    rng = np.random.default_rng(0)
    a = rng.random((30, 45, 3)).astype(np.float32)
    b = resize_image(a, 15, 10)  # 3x area average
    assert b.shape == (10, 15, 3)
    np.testing.assert_allclose(b[0, 0], a[:3, :3].reshape(-1, 3).mean(0), atol=1e-5)
    c = resize_image(a, 7, 13)  # fractional ratio: still an area average, same mean
    assert c.shape == (13, 7, 3) and abs(c.mean() - a.mean()) < 2e-3
    # a 1-px stripe survives a 4x downscale as a 0.25 grey line (no aliasing away)
    m = np.zeros((16, 16), np.float32)
    m[:, 5] = 1.0
    md = resize_image(m, 4, 4)
    assert md.shape == (4, 4) and np.allclose(md[:, 1], 0.25, atol=1e-5) and md.max() <= 1.0
    up = resize_image(md, 16, 16)
    assert up.shape == (16, 16) and 0.0 <= up.min() and up.max() <= 0.25 + 1e-6


# ------------------------------------------------------------------------------------------------
# masks
# ------------------------------------------------------------------------------------------------

def test_background_model_with_noise_and_object_touching_border():
    rng = np.random.default_rng(1)
    rgb, mask = disc_image(64, 48, fg=(0.1, 0.3, 0.8), bg=(0.85, 0.85, 0.8), radius_frac=0.45,
                           center=(20, 24))  # touches the left border
    noisy = np.clip(rgb + rng.normal(0, 0.02, rgb.shape), 0, 1).astype(np.float32)
    model = estimate_background(noisy)
    np.testing.assert_allclose(model.color, (0.85, 0.85, 0.8), atol=0.02)
    est = mask_from_background(noisy, model)
    iou = (est * mask).sum() / np.maximum(est, mask).sum()
    assert iou > 0.97


def test_hole_filling_is_modest():
    fg = np.zeros((40, 40), bool)
    fg[5:35, 5:35] = True
    fg[10:12, 10:12] = False  # tiny hole: filled
    fg[15:30, 15:30] = False  # big hole (a real opening): kept
    out = fill_small_holes(fg, 0.05)
    assert out[10:12, 10:12].all() and not out[16:29, 16:29].any()


def test_read_mask_grey_and_alpha(tmp_path):
    _, m = disc_image(20, 20)
    save_u8(tmp_path / "m.png", m)
    np.testing.assert_allclose(read_mask(tmp_path / "m.png"), m, atol=1e-6)
    rgba = np.concatenate([np.zeros((20, 20, 3)), m[..., None]], -1)
    save_u8(tmp_path / "ma.png", rgba)
    np.testing.assert_allclose(read_mask(tmp_path / "ma.png"), m, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# datasets in the three dialects
# ------------------------------------------------------------------------------------------------

def test_load_nerf_synthetic(tmp_path):
    frames = make_nerf_synthetic(tmp_path, n=4, size=32, angle=0.69)
    ds = load_dataset(tmp_path)  # finds transforms_train.json; file paths without extension
    assert len(ds) == 4 and ds.images.shape == (4, 32, 32, 3) and ds.masks.shape == (4, 32, 32)
    assert ds.names[0] == "./train/r_0"
    fx = 0.5 * 32 / math.tan(0.5 * 0.69)
    np.testing.assert_allclose(ds.cameras.K[:, 0, 0].numpy(), fx, rtol=1e-6)
    np.testing.assert_allclose(ds.cameras.K[:, :2, 2].numpy(), 16.0)
    for i, fr in enumerate(frames):
        c2w = rt_to_c2w_gl(ds.cameras.R[i].double().numpy(), ds.cameras.t[i].double().numpy())
        np.testing.assert_allclose(c2w, fr["transform_matrix"], atol=1e-5)
    _, disc = disc_image(32, 32)
    np.testing.assert_allclose(ds.masks[0], disc, atol=1e-6)
    np.testing.assert_allclose(ds.background, 0.0)
    # the object's centre (world origin) projects to the image centre: cameras are the right way round
    pix, z = ds.cameras.project(torch.zeros(1, 3))
    np.testing.assert_allclose(pix[:, 0].numpy(), 16.0, atol=1e-3)
    assert (z > 0).all()
    assert ds.warnings == []


def test_load_nerfstudio_with_masks(tmp_path):
    frames = []
    for i, m in enumerate(ring_poses(3)):
        rgb, mask = disc_image(40, 30, fg=(0.9, 0.2, 0.1 + 0.2 * i), bg=(0.3, 0.3, 0.3))
        save_u8(tmp_path / "images" / f"frame_{i:05d}.jpg", rgb)
        save_u8(tmp_path / "masks" / f"mask_{i:05d}.png", mask)
        frames.append({"file_path": f"images/frame_{i:05d}.jpg", "mask_path": f"masks/mask_{i:05d}.png",
                       "transform_matrix": m.tolist()})
    frames[1]["fl_x"] = 55.0  # per-frame override of the global focal
    meta = {"camera_model": "OPENCV", "fl_x": 50.0, "fl_y": 51.0, "cx": 19.0, "cy": 16.0, "w": 40, "h": 30,
            "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0, "frames": frames}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    ds = load_dataset(tmp_path / "transforms.json")
    K = ds.cameras.K.numpy()
    np.testing.assert_allclose(K[:, 0, 0], [50.0, 55.0, 50.0])
    np.testing.assert_allclose(K[0], [[50, 0, 19], [0, 51, 16], [0, 0, 1]])
    _, disc = disc_image(40, 30)
    np.testing.assert_allclose(ds.masks[2], disc, atol=1e-6)
    np.testing.assert_allclose(ds.background, 0.3, atol=0.02)  # estimated outside the mask
    assert ds.warnings == []


def test_load_instant_ngp_rgb_only_uses_background_model(tmp_path):
    frames = []
    for i, m in enumerate(ring_poses(3)):
        rgb, _ = disc_image(48, 48, fg=(0.1, 0.5, 0.2), bg=(0.95, 0.95, 0.95))
        save_u8(tmp_path / "images" / f"{i}.png", rgb)
        frames.append({"file_path": f"images/{i}.png", "sharpness": 30.0, "transform_matrix": m.tolist()})
    meta = {"camera_angle_x": 0.8, "camera_angle_y": 0.8, "fl_x": 57.9, "fl_y": 57.9, "cx": 24, "cy": 24,
            "w": 48, "h": 48, "aabb_scale": 4, "scale": 0.33, "offset": [0.5, 0.5, 0.5], "frames": frames}
    (tmp_path / "transforms.json").write_text(json.dumps(meta))
    ds = load_dataset(tmp_path)
    np.testing.assert_allclose(ds.cameras.K[:, 0, 0].numpy(), 57.9, rtol=1e-6)
    _, disc = disc_image(48, 48)
    iou = (ds.masks[0] * disc).sum() / np.maximum(ds.masks[0], disc).sum()
    assert iou > 0.98
    np.testing.assert_allclose(ds.background, 0.95, atol=0.01)
    assert any("background-colour model" in w for w in ds.warnings)


def test_mixed_sizes_rescaled_with_intrinsics_and_max_size(tmp_path):
    make_nerf_synthetic(tmp_path, n=3, size=32, angle=0.69)
    rgb, mask = disc_image(64, 64, fg=(0.2, 0.6, 0.9))
    save_u8(tmp_path / "train" / "r_1.png", np.concatenate([rgb * mask[..., None], mask[..., None]], -1))
    ds = load_dataset(tmp_path)
    assert ds.images.shape == (3, 32, 32, 3)
    fx = 0.5 * 32 / math.tan(0.5 * 0.69)  # the 64-px frame's intrinsics were scaled down with it
    np.testing.assert_allclose(ds.cameras.K[:, 0, 0].numpy(), fx, rtol=1e-6)
    _, disc32 = disc_image(32, 32)
    assert np.abs(ds.masks[1] - disc32).mean() < 0.03
    assert any("rescaled" in w for w in ds.warnings)
    small = load_dataset(tmp_path, max_size=16)
    assert small.images.shape == (3, 16, 16, 3) and small.cameras.width == 16
    np.testing.assert_allclose(small.cameras.K[:, 0, 0].numpy(), fx / 2, rtol=1e-6)
    np.testing.assert_allclose(small.cameras.K[:, 0, 2].numpy(), 8.0, rtol=1e-6)


def test_write_transforms_round_trip(tmp_path):
    make_nerf_synthetic(tmp_path, n=3, size=32)
    ds = load_dataset(tmp_path)
    names = [f"train/r_{i}.png" for i in range(3)]
    out = write_transforms(tmp_path / "transforms.json", ds.cameras.K, ds.cameras.R, ds.cameras.t, 32, 32,
                           names, extra={"note": "round trip"})
    meta = json.loads(out.read_text())
    assert meta["note"] == "round trip" and len(meta["frames"]) == 3
    K0, w, h = transforms_intrinsics({"camera_angle_x": meta["camera_angle_x"]}, {}, (32, 32))
    np.testing.assert_allclose(K0, ds.cameras.K[0].double().numpy(), rtol=1e-6)
    back = load_dataset(tmp_path)  # transforms.json now wins over transforms_train.json
    assert back.names == names
    for a, b in [(back.cameras.K, ds.cameras.K), (back.cameras.R, ds.cameras.R), (back.cameras.t, ds.cameras.t)]:
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# ------------------------------------------------------------------------------------------------
# bad input names the frame
# ------------------------------------------------------------------------------------------------

def _edit(root, fn):
    p = root / "transforms_train.json"
    meta = json.loads(p.read_text())
    fn(meta)
    p.write_text(json.dumps(meta))


def test_bad_input_errors_name_the_frame(tmp_path):
    make_nerf_synthetic(tmp_path, n=3, size=16)
    good = json.loads((tmp_path / "transforms_train.json").read_text())

    def expect(fn, *patterns):
        (tmp_path / "transforms_train.json").write_text(json.dumps(good))
        _edit(tmp_path, fn)
        with pytest.raises(InputError) as e:
            load_dataset(tmp_path)
        for pat in patterns:
            assert pat in str(e.value), str(e.value)

    expect(lambda m: m["frames"][1].update(file_path="./train/nope"), "./train/nope", "not found")

    def nan(m):
        m["frames"][2]["transform_matrix"][0][3] = float("nan")
    expect(nan, "./train/r_2", "NaN")

    def degenerate(m):
        m["frames"][1]["transform_matrix"] = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    expect(degenerate, "./train/r_1", "degenerate")

    def mirrored(m):
        m["frames"][0]["transform_matrix"][0] = [-v for v in m["frames"][0]["transform_matrix"][0]]
    expect(mirrored, "./train/r_0", "rotation")
    # one view: says what is needed, and points at no pipeline that does not exist
    expect(lambda m: m.update(frames=m["frames"][:1]), "only one photo", "at least 2 photos",
           "no single-image reconstruction")

    (tmp_path / "transforms_train.json").write_text(json.dumps(good))
    r1 = (tmp_path / "train" / "r_1.png").read_bytes()
    save_u8(tmp_path / "train" / "r_1.png", np.zeros((16, 16, 4)))  # fully transparent: pruned, not fatal
    ds = load_dataset(tmp_path)
    assert ds.names == ["./train/r_0", "./train/r_2"]
    assert [(p["name"], p["stage"]) for p in ds.pruned] == [("./train/r_1", "input")]
    assert "no object found" in ds.pruned[0]["reason"]
    assert any(w.startswith("frame ./train/r_1 left out: no object found") for w in ds.warnings)
    full = np.ones((16, 16, 4))
    full[0, 0, 3] = 0.0  # an alpha channel, but the object fills the image: too few frames remain
    save_u8(tmp_path / "train" / "r_2.png", full)
    with pytest.raises(InputError, match=r"only 1 of 3 frames are usable; .* at least 2\. Left out: "
                                         r"\./train/r_1: no object found.*\./train/r_2: the mask covers"):
        load_dataset(tmp_path)
    (tmp_path / "train" / "r_1.png").write_bytes(r1)

    save_u8(tmp_path / "train" / "r_1.png", np.ones((16, 24, 4)))  # other aspect ratio
    with pytest.raises(InputError, match=r"frame \./train/r_1: .*aspect"):
        load_dataset(tmp_path)

    data = (tmp_path / "train" / "r_0.png").read_bytes()
    (tmp_path / "train" / "r_1.png").write_bytes(data[:40])  # truncated
    with pytest.raises(InputError, match=r"frame \./train/r_1"):
        load_dataset(tmp_path)

    with pytest.raises(InputError, match="transforms_test.json"):
        load_dataset(tmp_path, split="test")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="bad.json"):
        load_dataset(tmp_path / "bad.json")


def test_test_and_gt_splits_and_device(tmp_path):
    make_nerf_synthetic(tmp_path, n=3, size=16)
    train = load_dataset(tmp_path)
    write_transforms(tmp_path / "transforms_test.json", train.cameras.K[:1], train.cameras.R[:1],
                     train.cameras.t[:1], 16, 16, ["train/r_0.png"])
    write_transforms(tmp_path / "transforms_gt.json", train.cameras.K, train.cameras.R, train.cameras.t, 16, 16,
                     [f"train/r_{i}" for i in range(3)])
    test = load_dataset(tmp_path, split="test", device="cpu")  # a single held-out view is fine for test
    assert len(test) == 1 and test.cameras.device.type == "cpu"
    gt = load_dataset(tmp_path, split="gt")
    np.testing.assert_allclose(gt.cameras.R.numpy(), train.cameras.R.numpy(), atol=1e-6)
    np.testing.assert_allclose(gt.masks, train.masks)


def test_mask_path_wins_over_alpha(tmp_path):
    make_nerf_synthetic(tmp_path, n=2, size=16)
    square = np.zeros((16, 16), np.float32)
    square[4:12, 4:12] = 1
    save_u8(tmp_path / "m.png", square)
    _edit(tmp_path, lambda m: [f.update(mask_path="m.png") for f in m["frames"]])
    ds = load_dataset(tmp_path)
    np.testing.assert_allclose(ds.masks[1], square)
