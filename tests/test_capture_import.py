"""Real-capture inputs: COLMAP sparse models (binary and text, five camera models), LLFF poses_bounds.npy,
IDR / NeuS cameras.npz, mask files by name, EXIF orientation, and the Blender import operator.

Each test writes a capture of one known scene (cameras on a ring looking at a cloud of 3-D points) with
its own writer of the published formats, and checks that the points project back to where the scene
says, within 0.5 px: through the loader's K, R, t, through the photos as loaded (each point is a bright
blob drawn at its *distorted* position, so undistortion must move it onto the pinhole projection), and
through the Blender cameras the operator creates (the project's conversion and Blender's own
world_to_camera_view)."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from texforge.data import colmap
from texforge.data.idr import read_idr_frames
from texforge.data.images import image_size, read_image, reads_upright, write_png
from texforge.data.transforms_io import capture_format, every_nth, load_dataset
from texforge.pipelines.multiview.run_folder import auto_camera_trust
from texforge.runtime.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
W, H, VIEWS = 96, 72, 6
MODEL_IDS = {"SIMPLE_PINHOLE": 0, "PINHOLE": 1, "SIMPLE_RADIAL": 2, "RADIAL": 3, "OPENCV": 4, "OPENCV_FISHEYE": 5}
PARAMS = {  # focal lengths and principal points off-centre on purpose; distortion moves the outer blobs by 1-3 px
    "SIMPLE_PINHOLE": [80.0, 47.0, 37.0],
    "PINHOLE": [80.0, 84.0, 49.5, 34.5],
    "SIMPLE_RADIAL": [80.0, 47.0, 37.0, 0.3],
    "RADIAL": [80.0, 47.0, 37.0, 0.25, 0.1],
    "OPENCV": [80.0, 84.0, 49.5, 34.5, 0.2, 0.1, 0.01, -0.008],
    "OPENCV_FISHEYE": [80.0, 84.0, 49.5, 34.5, 0.05, -0.02, 0.0, 0.0],
}
SIGMA = 0.9  # blob radius in pixels


def scene_points() -> np.ndarray:
    """Six points on a helix (radius 1, heights 0.44 apart), so their blobs stay apart in every view and
    reach out to where the lens distortion moves them by pixels."""
    a = np.radians(137.5) * np.arange(6)
    return np.stack([np.cos(a), np.sin(a), np.linspace(-1.1, 1.1, 6)], axis=1)


def ring_cameras() -> list[tuple[np.ndarray, np.ndarray]]:
    """World-to-camera (R, t), OpenCV axes, for VIEWS cameras 4 m from the origin looking at it."""
    out = []
    for i in range(VIEWS):
        a, e = 2 * np.pi * i / VIEWS, np.radians(10 + 8 * (i % 3))
        c = 4.0 * np.array([np.cos(a) * np.cos(e), np.sin(a) * np.cos(e), np.sin(e)])
        z = -c / np.linalg.norm(c)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        out.append((R, -R @ c))
    return out


def pinhole(params, model):
    p = params
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        return np.array([[p[0], 0, p[1]], [0, p[0], p[2]], [0, 0, 1.0]])
    return np.array([[p[0], 0, p[2]], [0, p[1], p[3]], [0, 0, 1.0]])


def distortion(params, model):
    p = list(params) + [0.0] * 8
    return {"SIMPLE_RADIAL": (p[3], 0, 0, 0), "RADIAL": (p[3], p[4], 0, 0),
            "OPENCV": (p[4], p[5], p[6], p[7])}.get(model, (0, 0, 0, 0))


def project(K, R, t, X, dist=(0, 0, 0, 0)) -> np.ndarray:
    """(N, 2) pixel positions (pixel centres at +0.5), COLMAP's radial-tangential distortion applied."""
    c = X @ R.T + t
    x, y = c[:, 0] / c[:, 2], c[:, 1] / c[:, 2]
    k1, k2, p1, p2 = dist
    r2 = x * x + y * y
    rad = 1 + k1 * r2 + k2 * r2 * r2
    xd = x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([K[0, 0] * xd + K[0, 2], K[1, 1] * yd + K[1, 2]], axis=1)


def blobs(uv: np.ndarray, scale: int = 1) -> np.ndarray:
    """A photo (scale * H, scale * W) with a blob at each of ``uv`` (given at the W x H size)."""
    v, u = (np.mgrid[0:H * scale, 0:W * scale] + 0.5) / scale
    img = np.full(u.shape, 0.1)
    for pu, pv in uv:
        img += 0.9 * np.exp(-((u - pu) ** 2 + (v - pv) ** 2) / (2 * SIGMA ** 2))
    return np.repeat(np.clip(img, 0, 1)[..., None], 3, axis=-1).astype(np.float32)


def blob_error(img: np.ndarray, near: np.ndarray) -> float:
    """Largest distance (px) between an expected position and the intensity centroid of the blob
    around it (window of 3 sigma), over the blobs that no other blob overlaps."""
    g = img[..., 0] - 0.1
    v, u = np.mgrid[0:H, 0:W] + 0.5
    gap = np.linalg.norm(near[:, None] - near[None], axis=-1) + np.eye(len(near)) * 1e9
    inside = (near[:, 0] > 4 * SIGMA) & (near[:, 0] < W - 4 * SIGMA) & (near[:, 1] > 4 * SIGMA) & (near[:, 1] < H - 4 * SIGMA)
    alone = np.flatnonzero((gap.min(axis=1) > 7 * SIGMA) & inside)
    assert len(alone) >= 3, "test scene: too few separate blobs"
    err = 0.0
    for pu, pv in near[alone]:
        win = (np.abs(u - pu) < 3 * SIGMA) & (np.abs(v - pv) < 3 * SIGMA)
        wgt = np.clip(g, 0, None) * win
        err = max(err, float(np.hypot((wgt * u).sum() / wgt.sum() - pu, (wgt * v).sum() / wgt.sum() - pv)))
    return err


# ---------------------------------------------------------------------------------------------
# A writer of COLMAP's published formats (the test's own, independent of the loader)
# ---------------------------------------------------------------------------------------------

def qvec(R) -> list[float]:
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return [w, x, y, z]


def save_jpeg_sideways(path: Path, arr: np.ndarray):
    """Save as a camera held sideways does: pixels stored turned, EXIF orientation 6 to show them upright."""
    stored = Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8)).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    stored.save(path, quality=100, exif=exif.tobytes())


def write_colmap(folder: Path, model: str, binary: bool, params=None, photos=True, masks=True,
                 ext: str = ".png") -> Path:
    """A capture folder: images/f{i}.png (blobs at the distorted projections), masks/f{i}.png and
    sparse/0/ with one camera of ``model`` and an image per view observing every point. ``ext=".JPG"``:
    the photos are JPEGs, every other one stored sideways with an EXIF orientation tag."""
    params = PARAMS[model] if params is None else params
    K, dist, X = pinhole(params, model), distortion(params, model), scene_points()
    cams = ring_cameras()
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    sparse = folder / "sparse" / "0"
    sparse.mkdir(parents=True)
    obs = []
    for i, (R, t) in enumerate(cams):
        uv = project(K, R, t, X, dist)
        obs.append(uv)
        if photos:
            if ext == ".png":
                write_png(folder / "images" / f"f{i}.png", blobs(uv))
            elif i % 2:
                save_jpeg_sideways(folder / "images" / f"f{i}{ext}", blobs(uv))
            else:
                Image.fromarray((blobs(uv) * 255 + 0.5).astype(np.uint8)).save(folder / "images" / f"f{i}{ext}", quality=100)
        if masks:
            m = np.zeros((H, W), np.float32)
            m[int(uv[:, 1].min()) - 2:int(uv[:, 1].max()) + 3, int(uv[:, 0].min()) - 2:int(uv[:, 0].max()) + 3] = 1
            write_png(folder / "masks" / f"f{i}.png", m)
    if binary:
        with open(sparse / "cameras.bin", "wb") as f:
            f.write(struct.pack("<Q", 1) + struct.pack("<iiQQ", 1, MODEL_IDS[model], W, H))
            f.write(struct.pack("<" + "d" * len(params), *params))
        with open(sparse / "images.bin", "wb") as f:
            f.write(struct.pack("<Q", VIEWS))
            for i, ((R, t), uv) in enumerate(zip(cams, obs)):
                f.write(struct.pack("<idddddddi", i + 1, *qvec(R), *t, 1) + f"f{i}{ext}".encode() + b"\0")
                f.write(struct.pack("<Q", len(uv)))
                for j, (u, v) in enumerate(uv):
                    f.write(struct.pack("<ddq", u, v, j + 1))
        with open(sparse / "points3D.bin", "wb") as f:
            f.write(struct.pack("<Q", len(X)))
            for j, p in enumerate(X):
                f.write(struct.pack("<QdddBBBdQ", j + 1, *p, 200, 200, 200, 0.5, VIEWS))
                for i in range(VIEWS):
                    f.write(struct.pack("<ii", i + 1, j))
    else:
        (sparse / "cameras.txt").write_text(
            "# Camera list with one line of data per camera:\n#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]\n"
            f"1 {model} {W} {H} " + " ".join(repr(p) for p in params) + "\n")
        lines = ["# Image list with two lines of data per image:"]
        for i, ((R, t), uv) in enumerate(zip(cams, obs)):
            lines.append(" ".join(repr(float(v)) for v in [*qvec(R), *t]).join([f"{i + 1} ", f" 1 f{i}{ext}"]))
            lines.append(" ".join(f"{u!r} {v!r} {j + 1}" for j, (u, v) in enumerate(uv)))
        (sparse / "images.txt").write_text("\n".join(lines) + "\n")
        (sparse / "points3D.txt").write_text("".join(
            f"{j + 1} {p[0]!r} {p[1]!r} {p[2]!r} 200 200 200 0.5 " + " ".join(f"{i + 1} {j}" for i in range(VIEWS))
            + "\n" for j, p in enumerate(X)))
    return folder


# ---------------------------------------------------------------------------------------------
# Loader
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("binary", [True, False], ids=["bin", "txt"])
@pytest.mark.parametrize("model", ["SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV"])
def test_colmap_points_project_back(tmp_path, model, binary):
    folder = write_colmap(tmp_path / "cap", model, binary)
    K, X = pinhole(PARAMS[model], model), scene_points()
    frames, warnings = colmap.read_colmap_frames(folder)
    assert [f.name for f in frames] == [f"f{i}.png" for i in range(VIEWS)]
    assert bool(warnings) == (model in ("SIMPLE_RADIAL", "RADIAL", "OPENCV"))  # says it undistorts
    for fr, (R, t) in zip(frames, ring_cameras()):
        ideal = project(K, R, t, X)  # the pinhole image the renderer assumes
        np.testing.assert_allclose(project(fr.K, fr.R, fr.t, X), ideal, atol=1e-6)
        err = blob_error(fr.read_pixels(), ideal)
        assert err < 0.5, f"{fr.name}: blobs off by {err:.2f} px"
    # the whole loader (working size, mask files, torch cameras) on the same folder
    ds = load_dataset(folder, max_size=0)
    assert ds.names == [f"f{i}.png" for i in range(VIEWS)] and ds.images.shape == (VIEWS, H, W, 3)
    Kt, Rt, tt = (ds.cameras.K.double().numpy(), ds.cameras.R.double().numpy(), ds.cameras.t.double().numpy())
    for i, (R, t) in enumerate(ring_cameras()):
        ideal = project(K, R, t, X)
        assert np.abs(project(Kt[i], Rt[i], tt[i], X) - ideal).max() < 0.5
        # the mask file, undistorted with its photo: it still covers every point
        assert abs(ds.masks[i].mean() - read_image(folder / "masks" / f"f{i}.png").mean()) < 0.05
        inside = (ideal[:, 0] >= 0) & (ideal[:, 0] < W) & (ideal[:, 1] >= 0) & (ideal[:, 1] < H)
        assert np.all(ds.masks[i][ideal[inside, 1].astype(int), ideal[inside, 0].astype(int)] > 0.5)


def test_colmap_model_points_and_selection(tmp_path):
    folder = write_colmap(tmp_path / "cap", "PINHOLE", binary=True)
    model = colmap.read_model(folder / "sparse" / "0")
    assert set(model.points) == set(range(1, 7))
    np.testing.assert_allclose(np.stack([model.points[j + 1] for j in range(6)]), scene_points())
    first = model.images[1]
    np.testing.assert_allclose(first.xys, project(pinhole(PARAMS["PINHOLE"], "PINHOLE"), *ring_cameras()[0],
                                                  scene_points()))
    assert capture_format(folder) == "colmap"
    assert load_dataset(folder / "sparse" / "0", max_size=32).names == [f"f{i}.png" for i in range(VIEWS)]
    with pytest.raises(InputError, match="no separate 'test' split.*every_nth"):
        load_dataset(folder, "test")
    held = load_dataset(folder, "test", max_size=32, select=every_nth(3))
    train = load_dataset(folder, max_size=32, select=every_nth(3, keep=False))
    assert held.names == ["f0.png", "f3.png"] and len(train.names) == 4
    assert load_dataset(folder, max_size=32, select=[5, 1]).names == ["f5.png", "f1.png"]
    with pytest.raises(InputError, match="keeps none"):
        load_dataset(folder, select=lambda i, name: False)


def write_llff(folder: Path, scale: int = 2) -> Path:
    """The same scene as an LLFF capture: poses_bounds.npy for photos ``scale`` x larger than images/."""
    f = 80.0
    K, X = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.0]]), scene_points()
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rows = []
    for i, (R, t) in enumerate(ring_cameras()):
        uv = project(K, R, t, X)
        write_png(folder / "images" / f"IMG_{i:04d}.png", blobs(uv))
        m = np.zeros((H, W), np.float32)
        m[int(uv[:, 1].min()) - 2:int(uv[:, 1].max()) + 3, int(uv[:, 0].min()) - 2:int(uv[:, 0].max()) + 3] = 1
        write_png(folder / "masks" / f"IMG_{i:04d}.png", m)
        c2w = R.T  # OpenCV axes: columns right, down, forward
        mat = np.concatenate([np.stack([c2w[:, 1], c2w[:, 0], -c2w[:, 2]], 1), (-R.T @ t)[:, None],
                              np.array([[H * scale], [W * scale], [f * scale]])], axis=1)
        rows.append(np.concatenate([mat.ravel(), [2.0, 6.0]]))
    np.save(folder / "poses_bounds.npy", np.stack(rows))
    return folder


def test_llff_points_project_back_with_masks_by_name(tmp_path):
    folder = write_llff(tmp_path / "llff")
    assert capture_format(folder) == "llff" and capture_format(folder / "poses_bounds.npy") == "llff"
    assert len(load_dataset(folder / "poses_bounds.npy", max_size=32).names) == VIEWS
    ds = load_dataset(folder, max_size=0)
    K, X = np.array([[80.0, 0, W / 2], [0, 80.0, H / 2], [0, 0, 1.0]]), scene_points()
    Kt, Rt, tt = (ds.cameras.K.double().numpy(), ds.cameras.R.double().numpy(), ds.cameras.t.double().numpy())
    for i, (R, t) in enumerate(ring_cameras()):
        ideal = project(K, R, t, X)
        assert np.abs(project(Kt[i], Rt[i], tt[i], X) - ideal).max() < 0.5
        assert blob_error(ds.images[i], ideal) < 0.5
        assert abs(ds.masks[i].mean() - read_image(folder / "masks" / f"IMG_{i:04d}.png").mean()) < 0.02
    (folder / "images" / "IMG_0000.png").unlink()
    with pytest.raises(InputError, match="6 poses but 5 photos"):
        load_dataset(folder)


IDR_K = pinhole(PARAMS["PINHOLE"], "PINHOLE")  # off-centre principal point: the half-pixel shift shows


def write_idr(folder: Path, scale: float = 1, camera_file: str = "cameras.npz", neus_names: bool = False) -> Path:
    """The same scene as an IDR capture: image/ with blobs, mask/ with RGB 0/255 masks, and world_mat_i
    = c_i K' [R | t] for photos ``scale`` x larger than image/, K' counting pixel centres from 0 (as IDR
    and NeuS cast rays), c_i a different scale and sign per view. IDR's DTU names (photos 000000.png,
    masks 000.png), or with ``neus_names`` NeuS's (000.png both)."""
    X = scene_points()
    (folder / "image").mkdir(parents=True)
    (folder / "mask").mkdir()
    Kf = np.diag([scale, scale, 1.0]) @ IDR_K
    Kf[:2, 2] -= 0.5
    mats = {}
    for i, (R, t) in enumerate(ring_cameras()):
        uv = project(IDR_K, R, t, X)
        write_png(folder / "image" / (f"{i:03d}.png" if neus_names else f"{i:06d}.png"), blobs(uv))
        m = np.zeros((H, W, 3), np.float32)
        m[int(uv[:, 1].min()) - 2:int(uv[:, 1].max()) + 3, int(uv[:, 0].min()) - 2:int(uv[:, 0].max()) + 3] = 1
        write_png(folder / "mask" / f"{i:03d}.png", m)
        P = (-1) ** i * (0.5 + 0.3 * i) * Kf @ np.hstack([R, t[:, None]])
        mats[f"world_mat_{i}"] = np.vstack([P, [0, 0, 0, 1.0]])
        mats[f"world_mat_inv_{i}"] = np.linalg.inv(mats[f"world_mat_{i}"])
        mats[f"scale_mat_{i}"] = np.diag([3.0, 3.0, 3.0, 1.0])  # ignored: the world stays the file's
    np.savez(folder / camera_file, **mats)
    return folder


def rewrite_npz(path: Path, **changes):
    """The npz at ``path`` with keys replaced (a value of None removes the key)."""
    with np.load(path) as data:
        mats = {k: data[k] for k in data.files}
    mats.update(changes)
    np.savez(path, **{k: v for k, v in mats.items() if v is not None})


def test_idr_points_project_back_with_masks_from_mask_folder(tmp_path):
    folder = write_idr(tmp_path / "dtu")
    assert capture_format(folder) == "idr" and capture_format(folder / "cameras.npz") == "idr"
    assert auto_camera_trust(folder) == "calibrated"  # what reconstruct.py's --camera-trust auto takes
    X = scene_points()
    frames, warnings = read_idr_frames(folder)
    assert [f.name for f in frames] == [f"{i:06d}.png" for i in range(VIEWS)] and warnings == []
    assert [Path(f.mask_path).name for f in frames] == [f"{i:03d}.png" for i in range(VIEWS)]  # sorted order
    for fr, (R, t) in zip(frames, ring_cameras()):
        ideal = project(IDR_K, R, t, X)
        np.testing.assert_allclose(project(fr.K, fr.R, fr.t, X), ideal, atol=1e-6)
        assert abs(np.linalg.det(fr.R) - 1) < 1e-9 and fr.size == (W, H)
        assert blob_error(fr.read_pixels(), ideal) < 0.5
    ds = load_dataset(folder, max_size=0)
    assert ds.names == [f"{i:06d}.png" for i in range(VIEWS)] and ds.images.shape == (VIEWS, H, W, 3)
    for i, (R, t) in enumerate(ring_cameras()):
        Kt, Rt, tt = (x[i].double().numpy() for x in (ds.cameras.K, ds.cameras.R, ds.cameras.t))
        assert np.abs(project(Kt, Rt, tt, X) - project(IDR_K, R, t, X)).max() < 0.5
        np.testing.assert_allclose(ds.masks[i], read_image(folder / "mask" / f"{i:03d}.png")[..., 0])  # RGB mask


def test_idr_plural_folder_names_are_read(tmp_path):
    """Some conversions write images/ and masks/: the same capture reads the same."""
    folder = write_idr(tmp_path / "dtu")
    (folder / "image").rename(folder / "images")
    (folder / "mask").rename(folder / "masks")
    frames, _ = read_idr_frames(folder)
    assert [Path(f.path).parent.name for f in frames] == ["images"] * VIEWS
    assert [Path(f.mask_path).parent.name for f in frames] == ["masks"] * VIEWS
    (folder / "images").rename(folder / "photos")
    with pytest.raises(InputError, match="no image/ folder with the photos"):
        read_idr_frames(folder)


def test_idr_downscaled_photos_and_camera_file_choice(tmp_path):
    """NeuS's cameras_sphere.npz for photos twice the size of those in image/: the principal point
    says so and the intrinsics follow. A cameras.npz beside it is the other file's choice only when
    named; here it holds the cameras at the photos' own size."""
    folder = write_idr(tmp_path / "bmvs", scale=2, camera_file="cameras_sphere.npz", neus_names=True)
    with np.load(write_idr(tmp_path / "at_size", neus_names=True) / "cameras.npz") as data:
        np.savez(folder / "cameras.npz", **data)
    X = scene_points()
    for path, scaled in ((folder, True), (folder / "cameras_sphere.npz", True), (folder / "cameras.npz", False)):
        frames, warnings = read_idr_frames(path.parent, path) if path.is_file() else read_idr_frames(path)
        assert bool(warnings) == scaled and (not scaled or "1/2-scale copy" in warnings[0])
        assert [Path(f.mask_path).name for f in frames] == [f"{i:03d}.png" for i in range(VIEWS)]  # by stem
        for fr, (R, t) in zip(frames, ring_cameras()):
            np.testing.assert_allclose(project(fr.K, fr.R, fr.t, X), project(IDR_K, R, t, X), atol=1e-6)
    ds = load_dataset(folder / "cameras.npz", max_size=32)
    assert ds.images.shape == (VIEWS, 24, 32, 3) and auto_camera_trust(folder / "cameras.npz") == "calibrated"
    # resized by less than 2x, the principal point stays inside the photos: not corrected, but said
    _, warnings = read_idr_frames(write_idr(tmp_path / "resized", scale=1.5))
    assert warnings == ["cameras.npz: the principal point lies far from the centre of 000000.png, 000001.png, "
                        "000002.png and 3 more; if these photos are a resized copy of the calibrated ones, use the "
                        "photos at their calibrated size"]


def test_colmap_photos_of_different_sizes(tmp_path):
    """Two COLMAP cameras (96x72 and 192x144), and one photo re-saved at twice its camera's size: all
    come out at the most common size with their points in place."""
    folder = write_colmap(tmp_path / "cap", "SIMPLE_RADIAL", binary=False)
    p = PARAMS["SIMPLE_RADIAL"]
    K, dist, X = pinhole(p, "SIMPLE_RADIAL"), distortion(p, "SIMPLE_RADIAL"), scene_points()
    sparse = folder / "sparse" / "0"
    with open(sparse / "cameras.txt", "a") as f:
        f.write(f"2 SIMPLE_RADIAL {2 * W} {2 * H} {2 * p[0]} {2 * p[1]} {2 * p[2]} {p[3]}\n")
    lines = (sparse / "images.txt").read_text().splitlines()
    lines = [ln.replace(" 1 f5.png", " 2 f5.png") for ln in lines]
    (sparse / "images.txt").write_text("\n".join(lines) + "\n")
    for i in (0, 5):  # f0: a photo twice the size its camera 1 says; f5: camera 2, at its size
        R, t = ring_cameras()[i]
        write_png(folder / "images" / f"f{i}.png", blobs(project(K, R, t, X, dist), scale=2))
    ds = load_dataset(folder, max_size=0)
    assert ds.images.shape == (VIEWS, H, W, 3)
    for i, (R, t) in enumerate(ring_cameras()):
        ideal = project(K, R, t, X)
        Kt, Rt, tt = (x[i].double().numpy() for x in (ds.cameras.K, ds.cameras.R, ds.cameras.t))
        assert np.abs(project(Kt, Rt, tt, X) - ideal).max() < 0.5
        assert blob_error(ds.images[i], ideal) < 0.5, f"view {i}"


def test_mask_files_beside_photos(tmp_path):
    folder = write_colmap(tmp_path / "cap", "PINHOLE", binary=False, masks=False)
    for i in range(VIEWS):  # both naming styles next to the photos
        m = np.zeros((H, W), np.float32)
        m[10:40, 20:60] = 1
        write_png(folder / "images" / (f"f{i}_mask.png" if i % 2 else f"f{i}.mask.png"), m)
    ds = load_dataset(folder, max_size=0)
    assert np.allclose(ds.masks.mean(axis=(1, 2)), 30 * 40 / (W * H), atol=0.01)


# ---------------------------------------------------------------------------------------------
# Bad input: clear errors naming the file, camera or photo
# ---------------------------------------------------------------------------------------------

def test_corrupt_cameras_bin(tmp_path):
    folder = write_colmap(tmp_path / "cap", "PINHOLE", binary=True, photos=False, masks=False)
    cams = folder / "sparse" / "0" / "cameras.bin"
    data = cams.read_bytes()
    cams.write_bytes(data[:-5])
    with pytest.raises(InputError, match=r"cameras\.bin: truncated or corrupt"):
        load_dataset(folder)
    cams.write_bytes(struct.pack("<Q", 40) + data[8:])  # wrong count
    with pytest.raises(InputError, match=r"cameras\.bin: corrupt COLMAP file: it claims 40 cameras"):
        load_dataset(folder)
    cams.write_bytes(data + b"\0" * 12)
    with pytest.raises(InputError, match=r"cameras\.bin: corrupt COLMAP file: 12 bytes left over"):
        load_dataset(folder)


def test_missing_images_are_named(tmp_path):
    folder = write_colmap(tmp_path / "cap", "PINHOLE", binary=True)
    (folder / "images" / "f2.png").unlink()
    (folder / "images" / "f4.png").unlink()
    with pytest.raises(InputError, match=r"2 of the 6 photos that the COLMAP model names are missing: f2\.png, f4\.png"):
        load_dataset(folder)


@pytest.mark.parametrize("binary", [True, False], ids=["bin", "txt"])
def test_unsupported_camera_model(tmp_path, binary):
    folder = write_colmap(tmp_path / "cap", "OPENCV_FISHEYE", binary, photos=False, masks=False)
    for i in range(VIEWS):
        write_png(folder / "images" / f"f{i}.png", np.zeros((H, W, 3), np.float32))
    with pytest.raises(InputError, match=r"camera 1 uses the COLMAP camera model OPENCV_FISHEYE.*supported models: "
                                         r"SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV"):
        load_dataset(folder)


def test_folder_without_any_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no transforms.json.*COLMAP model.*poses_bounds.npy.*cameras.npz"):
        load_dataset(tmp_path / "empty")


def test_idr_bad_cameras_are_named(tmp_path):
    folder = write_idr(tmp_path / "dtu")
    cams = folder / "cameras.npz"
    good = cams.read_bytes()
    cams.write_bytes(good[:len(good) // 2])
    with pytest.raises(InputError, match=r"cameras\.npz: not a readable \.npz file"):
        load_dataset(folder)
    np.save(folder / "poses.npy", np.eye(4))
    (folder / "poses.npy").rename(cams)
    with pytest.raises(InputError, match=r"cameras\.npz: not a readable \.npz file \(it holds a single \.npy array"):
        load_dataset(folder)
    cams.write_bytes(good)
    P = np.load(cams)["world_mat_2"]
    cases = [  # (changed keys, expected message)
        ({"world_mat_3": None, "world_mat_6": P}, r"cameras\.npz: no world_mat_3 for frame 000003\.png"),
        ({"world_mat_6": P}, r"cameras\.npz: 7 world_mat matrices but 6 photos in .*image"),
        ({"world_mat_2": P + np.array([[0, 0.05, 0, 0]] + [[0] * 4] * 3) * np.abs(P).max()},
         r"frame 000002\.png \(world_mat_2\): its intrinsics have a skew"),
        ({"world_mat_2": np.where(np.eye(4) > 0, np.nan, P)}, r"frame 000002\.png \(world_mat_2\): .*NaN or inf"),
        ({"world_mat_2": np.outer(P[:, 0], [1, 2, 3, 4])}, r"frame 000002\.png \(world_mat_2\): .*singular"),
        ({"world_mat_2": P[:2]}, r"frame 000002\.png \(world_mat_2\): expected a 4x4 matrix"),
        ({"world_mat_2": np.array([[10.0, 0, 300, 0], [0, 10, 20, 0], [0, 0, 1, 0], [0, 0, 0, 1]])},
         r"frame 000002\.png .*principal point \(300\.5, 20\.5\) lies outside the 96x72 photo"),
        ({f"world_mat_{i}": None for i in range(VIEWS)}, r"cameras\.npz: no world_mat_0, world_mat_1"),
    ]
    for changes, message in cases:
        cams.write_bytes(good)
        rewrite_npz(cams, **changes)
        with pytest.raises(InputError, match=message):
            load_dataset(folder)
    cams.write_bytes(good)
    (folder / "mask" / "005.png").unlink()  # named unlike the photos, and too few to pair in order
    with pytest.raises(InputError, match=r"mask: 5 masks for 6 photos, named unlike the photos"):
        load_dataset(folder)
    (folder / "image" / "000004.png").unlink()
    with pytest.raises(InputError, match=r"6 world_mat matrices but 5 photos"):
        load_dataset(folder)


# ---------------------------------------------------------------------------------------------
# Photos as cameras store them
# ---------------------------------------------------------------------------------------------

def test_exif_rotated_jpeg_loads_upright(tmp_path):
    upright = np.zeros((40, 64, 3), np.uint8)
    upright[:10, :16] = (255, 0, 0)  # red block top-left when viewed upright
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # as a camera held sideways saves it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "IMG_0001.JPG"
    stored.save(path, quality=95, exif=exif.tobytes())
    assert image_size(path) == (64, 40) and image_size(path, upright=False) == (40, 64)
    img = read_image(path)
    assert img.shape == (40, 64, 3)
    assert img[2:8, 2:14, 0].mean() > 0.9 and img[2:8, 2:14, 1:].mean() < 0.1  # red still top-left
    assert img[30:, 50:].mean() < 0.1
    # a camera calibrated on the stored grid keeps the stored pixels; where the size cannot tell (a
    # 180-degree turn), COLMAP's cameras (which ignore the tag) keep them too
    assert not reads_upright(path, (40, 64)) and reads_upright(path, (64, 40))
    assert read_image(path, upright=False).shape == (64, 40, 3)
    exif[0x0112] = 3  # upside down
    Image.fromarray(upright).save(path, quality=95, exif=exif.tobytes())
    assert reads_upright(path, (64, 40)) and not reads_upright(path, (64, 40), stored_by_default=True)
    assert read_image(path)[30:, 50:, 0].mean() > 0.9  # turned: the red block is now bottom-right


def test_colmap_jpegs_with_exif_orientation_load_upright(tmp_path):
    folder = write_colmap(tmp_path / "cap", "SIMPLE_RADIAL", binary=True, ext=".JPG")
    assert image_size(folder / "images" / "f1.JPG", upright=False) == (H, W)  # stored sideways
    K, X = pinhole(PARAMS["SIMPLE_RADIAL"], "SIMPLE_RADIAL"), scene_points()
    ds = load_dataset(folder, max_size=0)
    assert ds.names == [f"f{i}.JPG" for i in range(VIEWS)] and ds.images.shape == (VIEWS, H, W, 3)
    for i, (R, t) in enumerate(ring_cameras()):
        assert blob_error(ds.images[i], project(K, R, t, X)) < 0.5, f"view {i}"


def test_large_jpeg_decoded_at_reduced_scale(tmp_path):
    rng = np.random.default_rng(0)
    big = (rng.uniform(0, 1, (60, 80, 3)).repeat(20, 0).repeat(20, 1) * 255).astype(np.uint8)  # 1600x1200
    path = tmp_path / "big.jpg"
    Image.fromarray(big).save(path, quality=90)
    small = read_image(path, min_size=(200, 150))
    assert small.shape == (150, 200, 3)  # 1/8 scale: 64x fewer pixels in memory
    full = read_image(path)
    assert full.shape == (1200, 1600, 3)
    coarse = full.reshape(150, 8, 200, 8, 3).mean(axis=(1, 3))
    assert np.abs(coarse - small).mean() < 0.03


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def _reconstruct(folder: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "reconstruct.py"), str(folder), "--out", str(out),
                           "--preset", "tiny"], capture_output=True, text=True, timeout=600)


def test_reconstruct_cli_takes_a_colmap_folder(tmp_path):
    folder = write_colmap(tmp_path / "cap", "SIMPLE_RADIAL", binary=True)
    proc = _reconstruct(folder, tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "camera 1 (SIMPLE_RADIAL, k1=0.3): photos undistorted" in proc.stdout
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["metrics"]["views_used"] == VIEWS and result["metrics"]["train_iou_mean"] > 0.85
    (folder / "images" / "f3.png").unlink()
    proc = _reconstruct(folder, tmp_path / "out2")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "f3.png" in proc.stdout and "missing" in proc.stdout and not (tmp_path / "out2" / "result.json").exists()


def test_reconstruct_cli_takes_an_idr_folder(tmp_path):
    proc = _reconstruct(write_idr(tmp_path / "dtu"), tmp_path / "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "camera trust: calibrated" in proc.stdout
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["camera_trust"] == "calibrated" and result["metrics"]["views_used"] == VIEWS


# ---------------------------------------------------------------------------------------------
# Blender: Import capture
# ---------------------------------------------------------------------------------------------

def _blender_error(bpy, fn) -> str:
    """Run an operator that must refuse; returns its error message (Blender raises RuntimeError)."""
    with pytest.raises(RuntimeError) as info:
        fn()
    return str(info.value)


@pytest.mark.parametrize("kind", ["colmap", "llff", "idr"])
def test_blender_import_capture_cameras_project_points(tmp_path, tf, kind):
    bpy = pytest.importorskip("bpy")
    from bpy_extras.object_utils import world_to_camera_view
    from mathutils import Vector

    from addon.convert import roles
    from texforge_blender.camera import camera_krt

    masks = "masks"
    if kind == "colmap":
        folder, K = write_colmap(tmp_path / "cap", "PINHOLE", binary=True), pinhole(PARAMS["PINHOLE"], "PINHOLE")
        names = [f"f{i}" for i in range(VIEWS)]
    elif kind == "llff":
        folder, K = write_llff(tmp_path / "cap"), np.array([[80.0, 0, W / 2], [0, 80.0, H / 2], [0, 0, 1.0]])
        names = [f"IMG_{i:04d}" for i in range(VIEWS)]
    else:
        folder, K, masks = write_idr(tmp_path / "cap"), IDR_K, "mask"
        names = [f"{i:06d}" for i in range(VIEWS)]
    users = set(bpy.data.objects)
    assert tf.texforge.camera_trust == "approximate"
    assert bpy.ops.texforge.import_capture(directory=str(folder), write_transforms=True) == {"FINISHED"}
    assert tf.texforge.camera_trust == "calibrated"  # calibrated cameras: the fit keeps them
    cams = sorted((o for o in bpy.data.objects if o not in users and o.type == "CAMERA"), key=lambda o: o.name)
    assert [c.name for c in cams] == names
    X = scene_points()
    for cam, (R, t) in zip(cams, ring_cameras()):
        ideal = project(K, R, t, X)
        Kb, Rb, tb, w, h = camera_krt(tf, cam)
        assert (w, h) == (W, H)
        assert np.abs(project(Kb, Rb, tb, X) - ideal).max() < 0.5
        for p, (u, v) in zip(X, ideal):  # Blender's own projection agrees
            co = world_to_camera_view(tf, cam, Vector(p))
            assert abs(co.x * W - u) < 0.5 and abs((1.0 - co.y) * H - v) < 0.5
        photo, mask = (s.image for s in cam.data.background_images)
        assert Path(bpy.path.abspath(photo.filepath)).stem == cam.name and roles.role(photo) == ""
        assert roles.role(mask) == roles.MASK and Path(bpy.path.abspath(mask.filepath)).parent.name == masks
    # the transforms.json it wrote reads back as the same cameras, masks included
    ds = load_dataset(folder / "transforms.json", max_size=0)
    for i, (R, t) in enumerate(ring_cameras()):
        Kt, Rt, tt = (x[i].double().numpy() for x in (ds.cameras.K, ds.cameras.R, ds.cameras.t))
        assert np.abs(project(Kt, Rt, tt, X) - project(K, R, t, X)).max() < 0.5
    assert abs(ds.masks.mean() - np.mean([read_image(p).mean() for p in sorted((folder / masks).iterdir())])) < 0.02
    # a second import with transforms.json present refuses to overwrite it and creates nothing
    count = len(bpy.data.objects)
    msg = _blender_error(bpy, lambda: bpy.ops.texforge.import_capture(directory=str(folder), write_transforms=True))
    assert "already exists" in msg and len(bpy.data.objects) == count


def test_blender_import_capture_refuses_distortion_and_bad_folders(tmp_path, tf):
    bpy = pytest.importorskip("bpy")
    folder = write_colmap(tmp_path / "cap", "OPENCV", binary=False)
    count = len(bpy.data.objects)
    msg = _blender_error(bpy, lambda: bpy.ops.texforge.import_capture(directory=str(folder)))
    assert "frame f0.png" in msg and "lens distortion" in msg and "k1=0.2" in msg and "image_undistorter" in msg
    (tmp_path / "empty").mkdir()
    msg = _blender_error(bpy, lambda: bpy.ops.texforge.import_capture(directory=str(tmp_path / "empty")))
    assert "COLMAP model" in msg and "poses_bounds.npy" in msg and "cameras.npz" in msg
    assert len(bpy.data.objects) == count


def test_blender_import_capture_without_torch(tmp_path):
    """Import capture, like Import transforms, works in a Blender where PyTorch is not installed yet."""
    folder = write_colmap(tmp_path / "cap", "PINHOLE", binary=True)
    code = (
        "import sys, json\n"
        f"sys.path[:0] = [{str(ROOT / 'tests' / 'blender_scripts')!r}, {str(ROOT)!r}]\n"
        "import _common\n"
        "blocker = _common.block(['torch'], 'missing')\n"
        "import bpy, addon\n"
        "bpy.ops.wm.read_factory_settings(use_empty=True)\n"
        "addon.register()\n"
        f"status = sorted(bpy.ops.texforge.import_capture(directory={str(folder)!r}))\n"
        "cams = [o for o in bpy.data.objects if o.type == 'CAMERA']\n"
        "print('RESULT:', json.dumps({'status': status, 'cameras': len(cams), 'attempts': sorted(set(blocker.attempts)),"
        " 'torch': [m for m in sys.modules if m.split('.')[0] == 'torch']}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=180)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT: ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    assert json.loads(lines[-1][len("RESULT: "):]) == {"status": ["FINISHED"], "cameras": VIEWS, "attempts": [],
                                                       "torch": []}
