"""scripts/render_dataset.py end to end: files, cameras, noise, flips, masks, determinism, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("bpy")

from texforge_blender import dataset_render  # noqa: E402
from texforge_blender.dataset_render import DatasetSpec, render_dataset  # noqa: E402
from texforge.data.transforms_io import load_dataset  # noqa: E402
from texforge.render.pose import rotation_angle_deg  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

ARGS = ["--views", "6", "--size", "48x40", "--holdout", "2", "--samples", "4", "--noise-rot", "3",
        "--noise-trans", "0.03", "--noise-focal", "0.02", "--flip-frames", "1", "--seed", "5"]


def _run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "render_dataset.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "example_set"
    r = _run_cli("example", "--out", out, *ARGS)
    assert r.returncode == 0, r.stderr
    assert "view 8/8 images/test_001.png" in r.stdout  # progress per view
    return out


def _read_ply(path):
    import trimesh
    mesh = trimesh.load(path, process=False)
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)


def _surface_points(v, f, n, seed=0):
    rng = np.random.default_rng(seed)
    tri = v[f]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    idx = rng.choice(len(f), size=n, p=area / area.sum())
    a, b = rng.uniform(size=(2, n))
    flip = a + b > 1
    a[flip], b[flip] = 1 - a[flip], 1 - b[flip]
    t = tri[idx]
    return t[:, 0] + a[:, None] * (t[:, 1] - t[:, 0]) + b[:, None] * (t[:, 2] - t[:, 0])


def test_files_and_metadata(dataset):
    names = sorted(p.name for p in dataset.iterdir())
    assert names == ["dataset.json", "gt_mesh.ply", "images", "transforms.json", "transforms_gt.json",
                     "transforms_test.json"]
    assert sorted(p.name for p in (dataset / "images").iterdir()) == \
        [f"test_{i:03d}.png" for i in range(2)] + [f"train_{i:03d}.png" for i in range(6)]
    assert not list(dataset.parent.glob(".*tmp*"))  # the temporary folder was renamed, nothing left over
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["seed"] == 5 and info["flipped_indices"] == [1] and info["flipped_frames"] == ["images/train_001.png"]
    assert info["noise"]["rotation_deg"] == 3 and info["noise"]["translation_frac"] == 0.03
    assert info["args"]["size"] == [48, 40] and info["mesh"] == "example"
    meta = json.loads((dataset / "transforms.json").read_text())
    assert meta["w"] == 48 and meta["h"] == 40 and "camera_angle_x" in meta
    for frame in meta["frames"]:
        assert {"fl_x", "fl_y", "cx", "cy", "w", "h", "transform_matrix", "file_path"} <= set(frame)


def test_cameras_noise_and_flips(dataset):
    info = json.loads((dataset / "dataset.json").read_text())
    noisy = load_dataset(dataset, "train").cameras
    gt = load_dataset(dataset, "gt").cameras
    test = load_dataset(dataset, "test")
    assert len(noisy) == len(gt) == 6 and len(test) == 2
    assert (gt.width, gt.height) == (48, 40)
    center = np.array(info["framing"]["center"])
    distance = info["framing"]["distance"]
    # exact cameras look at the object centre from the framing distance
    cg = gt.centers.double().numpy()
    assert np.allclose(np.linalg.norm(cg - center, axis=1), distance, rtol=1e-5)
    fwd = gt.R[:, 2].double().numpy()
    assert np.allclose(np.einsum("ij,ij->i", fwd, (center - cg) / distance), 1.0, atol=1e-6)
    # noise: exactly the requested magnitudes on non-flipped frames
    ang = rotation_angle_deg(noisy.R.double(), gt.R.double()).numpy()
    move = np.linalg.norm(noisy.centers.double().numpy() - cg, axis=1) / distance
    focal = (noisy.K[:, 0, 0] / gt.K[:, 0, 0]).double().numpy()
    for i in range(6):
        assert np.isclose(focal[i], 1.02, atol=1e-5) or np.isclose(focal[i], 0.98, atol=1e-5)
        if i == 1:
            continue
        assert abs(ang[i] - 3.0) < 1e-3, f"frame {i}: rotation error {ang[i]:.4f} deg"
        assert abs(move[i] - 0.03) < 1e-5, f"frame {i}: centre moved by {move[i]:.5f} x distance"
    # the flipped frame sits on the opposite side of the up axis (azimuth + 180, same height)
    az = lambda c: np.degrees(np.arctan2(c[1] - center[1], c[0] - center[0]))  # noqa: E731
    cn = noisy.centers.double().numpy()
    dphi = (az(cn[1]) - az(cg[1])) % 360.0
    assert abs(dphi - 180.0) < 5.0 and abs(cn[1][2] - cg[1][2]) < 0.05 * distance
    assert ang[1] > 170.0
    # held-out cameras are not training cameras
    ct = test.cameras.centers.double().numpy()
    dirs = lambda c: (c - center) / np.linalg.norm(c - center, axis=1, keepdims=True)  # noqa: E731
    assert np.degrees(np.arccos(np.clip(dirs(ct) @ dirs(cg).T, -1, 1))).min() > 2.5


def test_masks_match_the_gt_mesh_through_the_cameras(dataset):
    v, f = _read_ply(dataset / "gt_mesh.ply")
    assert f.shape == (3968, 3)
    pts = torch.as_tensor(_surface_points(v, f, 30000), dtype=torch.float32)
    for split in ("gt", "test"):
        ds = load_dataset(dataset, split)
        pix, z = ds.cameras.project(pts)
        assert bool((z > 0).all())
        w, h = ds.cameras.width, ds.cameras.height
        for k in range(len(ds)):
            mask = ds.masks[k] > 0.5
            assert mask.sum() > 100, f"{ds.names[k]}: mask nearly empty"
            assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any()
            j = np.floor(pix[k, :, 0].numpy()).astype(int)
            i = np.floor(pix[k, :, 1].numpy()).astype(int)
            assert j.min() >= 0 and i.min() >= 0 and j.max() < w and i.max() < h, "object leaves the frame"
            hit = np.zeros((h, w), bool)
            hit[i, j] = True
            iou = (hit & mask).sum() / (hit | mask).sum()
            assert iou > 0.9, f"{split} {ds.names[k]}: projected-point coverage IoU {iou:.3f}"


def test_hard_raster_of_gt_mesh_matches_blender_alpha(dataset):
    renderer = pytest.importorskip("texforge.render.renderer")
    v, f = _read_ply(dataset / "gt_mesh.ply")
    for split in ("gt", "test"):
        ds = load_dataset(dataset, split)
        out = renderer.render_mesh(torch.as_tensor(v, dtype=torch.float32), torch.as_tensor(f), ds.cameras,
                                   vertex_colors=torch.ones(len(v), 3), soft_mask=False)
        hard = out.hard_mask.detach().numpy() > 0.5
        for k in range(len(ds)):
            mask = ds.masks[k] > 0.5
            iou = (hard[k] & mask).sum() / (hard[k] | mask).sum()
            assert iou >= 0.97, f"{split} {ds.names[k]}: hard-raster IoU {iou:.3f}"


def test_same_seed_same_dataset_other_seed_other_noise(dataset, tmp_path):
    spec = DatasetSpec(views=6, size=(48, 40), holdout=2, samples=4, noise_rot=3, noise_trans=0.03, noise_focal=0.02,
                       flip_frames=(1,), seed=5)
    again = render_dataset("example", tmp_path / "again", spec, log=lambda *_: None)
    for name in ("transforms.json", "transforms_gt.json", "transforms_test.json"):
        assert (again / name).read_text() == (dataset / name).read_text(), name
    assert (again / "gt_mesh.ply").read_bytes() == (dataset / "gt_mesh.ply").read_bytes()
    a = load_dataset(again, "train")
    b = load_dataset(dataset, "train")
    assert np.abs(a.images - b.images).max() < 2 / 255 and np.abs(a.masks - b.masks).max() < 2 / 255
    spec.seed = 6
    other = render_dataset("example", tmp_path / "other", spec, log=lambda *_: None)
    assert (other / "transforms_gt.json").read_text() == (dataset / "transforms_gt.json").read_text()
    assert (other / "transforms.json").read_text() != (dataset / "transforms.json").read_text()


def test_exposure_noise_scales_each_training_photo_and_nothing_else(dataset, tmp_path):
    spec = DatasetSpec(views=6, size=(48, 40), holdout=2, samples=4, noise_rot=3, noise_trans=0.03, noise_focal=0.02,
                       flip_frames=(1,), seed=5, exposure_sigma=0.3)
    exposed = render_dataset("example", tmp_path / "exposed", spec, log=lambda *_: None)
    for name in ("transforms.json", "transforms_gt.json", "transforms_test.json"):
        assert (exposed / name).read_text() == (dataset / name).read_text(), name   # the cameras stay
    logs = np.array(json.loads((exposed / "dataset.json").read_text())["exposure"]["per_frame_log_gain"])
    assert logs.shape == (6, 3) and np.allclose(logs.mean(0), 0, atol=1e-4) and logs.std() > 0.1
    a, b = load_dataset(exposed, "train"), load_dataset(dataset, "train")
    checked = 0
    for k in range(6):
        body = (b.masks[k] > 0.99) & (b.images[k] < 0.9).all(-1) & (b.images[k] > 0.1).all(-1)
        measured = np.log(a.images[k][body].sum(0) / b.images[k][body].sum(0))
        unclipped = (b.images[k][body] * np.exp(logs[k]) < 0.99).all(-1)
        if unclipped.mean() > 0.9:
            assert np.abs(measured - logs[k]).max() < 0.03, (k, measured, logs[k])
            checked += 1
    assert checked >= 3
    assert np.abs(a.masks - b.masks).max() < 2 / 255
    ta, tb = load_dataset(exposed, "test"), load_dataset(dataset, "test")
    assert np.abs(ta.images - tb.images).max() < 2 / 255               # held-out photos keep one exposure
    with pytest.raises(ValueError, match="--exposure-sigma must be in"):
        dataset_render.parse_command(["example", "--out", "x", "--exposure-sigma", "-0.1"])


def test_bad_input_gives_clear_errors_and_writes_nothing(dataset, tmp_path):
    r = _run_cli(tmp_path / "missing.obj", "--out", tmp_path / "o1")
    assert r.returncode == 2 and "mesh file not found" in r.stderr and "missing.obj" in r.stderr
    assert not (tmp_path / "o1").exists()
    (tmp_path / "mesh.stl").write_text("solid\nendsolid\n")
    r = _run_cli(tmp_path / "mesh.stl", "--out", tmp_path / "o2")
    assert r.returncode == 2 and "unsupported mesh file" in r.stderr
    r = _run_cli("example", "--out", dataset, "--views", "4")
    assert r.returncode == 2 and "not empty" in r.stderr and "--overwrite" in r.stderr
    for bad, msg in ((["--flip-frames", "3,30"], "--flip-frames"), (["--elevations", "10,95"], "--elevations"),
                     (["--views", "1"], "--views"), (["--size", "big"], "--size")):
        with pytest.raises(ValueError, match=msg):
            dataset_render.parse_command(["example", "--out", str(tmp_path / "x"), *bad])
    assert not list(tmp_path.glob(".*tmp*"))
    _, spec = dataset_render.parse_command(["example", "--out", "x", "--elevations", "-20,-5", "--size", "64x48"])
    assert spec.elevations == (-20.0, -5.0) and spec.size == (64, 48)


def test_interrupted_render_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset_render.render_views, "render_views", interrupted)
    out = tmp_path / "ds"
    with pytest.raises(KeyboardInterrupt):
        render_dataset("example", out, DatasetSpec(views=3, size=(16, 16), holdout=0, samples=1), log=lambda *_: None)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_a_dataset(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "old.txt").write_text("old")
    spec = DatasetSpec(views=3, size=(24, 24), holdout=0, samples=1)
    with pytest.raises(ValueError, match="not empty"):
        render_dataset("example", out, spec, log=lambda *_: None)
    assert (out / "old.txt").read_text() == "old"
    render_dataset("example", out, spec, overwrite=True, log=lambda *_: None)
    assert not (out / "old.txt").exists() and (out / "transforms.json").is_file()
    assert not (out / "transforms_test.json").exists()  # --holdout 0: no test split
    assert json.loads((out / "dataset.json").read_text())["files"]["test"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_mesh_file_with_studio_lighting_matches_the_backend_loader(tmp_path, test_data):
    """A real OBJ (Y-up file): gt_mesh.ply holds Blender's import of it, which must be the surface that
    texforge.mesh.io.load_mesh reads (both in Blender world coordinates)."""
    from texforge.mesh.io import load_mesh

    spot = test_data / "spot" / "spot.obj"
    spec = DatasetSpec(views=3, size=(32, 32), holdout=1, samples=4, lighting="studio", elevations=(20.0, 20.0))
    out = render_dataset(str(spot), tmp_path / "spot", spec, log=lambda *_: None)
    v, f = _read_ply(out / "gt_mesh.ply")
    ref = load_mesh(spot)
    assert len(f) == len(ref.faces)
    assert np.allclose(v.min(0), ref.vertices.min(0), atol=1e-5) and np.allclose(v.max(0), ref.vertices.max(0),
                                                                                  atol=1e-5)
    info = json.loads((out / "dataset.json").read_text())
    assert info["mesh"] == str(spot) and info["args"]["lighting"] == "studio"
    ds = load_dataset(out, "train")
    lum = ds.images.mean(-1)[ds.masks > 0.99]
    assert lum.std() > 0.03 and 0.05 < lum.mean() < 0.95  # lit and shaded, neither black nor blown out


def test_turntable_lighting_and_specular_options(tmp_path):
    _, spec = dataset_render.parse_command(["example", "--out", "x", "--lighting", "turntable", "--specular", "0.5"])
    assert spec.lighting == "turntable" and spec.specular == 0.5
    assert dataset_render.parse_command(["example", "--out", "x"])[1].specular == 0.0
    for bad, msg in ((["--specular", "1.5", "--lighting", "studio"], r"--specular must be in \[0, 1\]"),
                     (["--specular", "0.5"], "--specular needs lit materials")):
        with pytest.raises(ValueError, match=msg):
            dataset_render.parse_command(["example", "--out", "x", *bad])
    # rendered: the settings reach Blender and dataset.json; every view is lit from the camera's right
    spec = DatasetSpec(views=4, size=(32, 32), holdout=0, samples=4, lighting="turntable", specular=0.5,
                       elevations=(10.0, 10.0))
    out = render_dataset("example", tmp_path / "tt", spec, log=lambda *_: None)
    info = json.loads((out / "dataset.json").read_text())
    assert info["args"]["lighting"] == "turntable" and info["args"]["specular"] == 0.5
    ds = load_dataset(out, "train")
    lum = ds.images.mean(-1)
    right = [lum[i][:, 16:][ds.masks[i][:, 16:] > 0.99].mean() for i in range(4)]
    left = [lum[i][:, :16][ds.masks[i][:, :16] > 0.99].mean() for i in range(4)]
    assert all(r > l for r, l in zip(right, left))
