"""Multi-view reconstruction (tiny preset, CI-sized): a real Blender-rendered spot dataset with noisy
cameras -> scripts/reconstruct.py -> result folder; held-out quality, camera refinement, bad input,
cancellation and the output-folder rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import texforge.render.pose as backend_pose
from texforge.data.transforms_io import load_dataset
from texforge.eval import multiview as evq
from texforge.eval.cameras import cameras_from_transforms
from texforge.runtime.errors import Cancelled, InputError
from texforge.pipelines.multiview import MultiviewConfig, run_multiview
from texforge.cameras.placement import place_object
from texforge.cameras.rig import CameraRig
from texforge.pipelines.multiview.prune import neighbour_outliers

ROOT = Path(__file__).resolve().parent.parent
VIEWS, HOLDOUT, SIZE = 10, 4, 64
THREADS = 2


def _reconstruct(*args: str) -> subprocess.CompletedProcess:
    """scripts/reconstruct.py as the user runs it, with the thread count of the in-process runs here
    (CPU results are bit-identical only for one thread count)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "reconstruct.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def spot(tmp_path_factory, test_data):
    from texforge_blender import dataset_render

    out = tmp_path_factory.mktemp("mv") / "spot"
    # A reduced version of the acceptance scene: fewer, smaller views and less translation noise
    # (rotation noise is what the camera refinement is judged on).
    spec = dataset_render.DatasetSpec(views=VIEWS, size=(SIZE, SIZE), holdout=HOLDOUT, elevations=(-10.0, 40.0),
                                      noise_rot=3.0, noise_trans=0.01, lighting="studio", seed=0, samples=8)
    dataset_render.render_dataset(str(test_data / "spot" / "spot.obj"), out, spec, log=lambda *a: None)
    return out


@pytest.fixture(scope="module")
def tiny_result(spot, tmp_path_factory):
    out = tmp_path_factory.mktemp("mvres") / "result"
    r = _reconstruct(spot, "--out", out, "--preset", "tiny", "--device", "cpu")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_result_folder_contents(tiny_result):
    names = {p.name for p in tiny_result.iterdir()}
    assert {"mesh.glb", "texture.png", "result.json", "reconstruct.log"} <= names
    assert not [p for p in tiny_result.parent.iterdir() if p.name.startswith(".")]  # no temp folders left
    res = json.loads((tiny_result / "result.json").read_text())
    for key in ("version", "pipeline", "dataset", "image_size", "cameras", "input_cameras", "pruned", "per_view",
                "timings", "config", "metrics"):
        assert key in res
    assert res["image_size"] == [SIZE, SIZE] and len(res["cameras"]) == VIEWS
    cam = res["cameras"][0]
    assert {"name", "K", "R", "t", "transform_matrix"} <= set(cam)
    assert all(np.isfinite(v["iou"]) and np.isfinite(v["psnr"]) for v in res["per_view"])
    from texforge.mesh.io import load_mesh
    mesh = load_mesh(tiny_result / "mesh.glb")
    assert mesh.uvs is not None and mesh.texture is not None and mesh.texture.shape[2] >= 3
    assert mesh.texture.std() > 0.05   # a real texture, not a constant


def test_tiny_reconstruction_quality(tiny_result, spot):
    from texforge.mesh.io import load_mesh
    mesh = load_mesh(tiny_result / "mesh.glb")
    held = evq.figure_summary("heldout", evq.heldout_figures(mesh, load_dataset(spot, split="test")))
    res = json.loads((tiny_result / "result.json").read_text())
    cams = evq.camera_figures(res, cameras_from_transforms(spot / "transforms_gt.json"), evq.object_center(spot))
    print(held["heldout_iou_mean"], held["heldout_psnr_mean"], cams)
    # measured 0.82 / 18.9 dB / 3.0 -> 1.65 degrees (1.43 before the silhouettes were fitted to grown
    # masks; the untouched sphere gives IoU ~0.5, a wrong camera convention ~0, no silhouette inflation
    # 0.79 / 18.6 dB); the object is only ~25 px wide here, so one pixel costs ~0.2 IoU
    assert held["heldout_iou_mean"] >= 0.77
    assert held["heldout_psnr_mean"] >= 17.5
    assert cams["rot_err_deg_after"] <= 0.6 * cams["rot_err_deg_before"]
    # the soft mask is wider than the hard one: fitted to the masks themselves, the hard silhouette
    # needed growing by +0.75 px afterwards; fitted to masks grown by cfg.silhouette_grow_px, +0.07 px
    assert abs(res["metrics"]["inflate_px"]) <= 0.3
    # the object stays where the photos see it: the mesh's bbox sits at the true object's bbox
    gt = load_mesh(spot / "gt_mesh.ply")
    bbox_centre = lambda v: 0.5 * (v.max(0) + v.min(0))
    assert np.linalg.norm(bbox_centre(mesh.vertices) - bbox_centre(gt.vertices)) / gt.bbox_diagonal() < 0.08


def test_quality_script_reports_raw_and_aligned_figures(tiny_result, spot, tmp_path):
    """scripts/eval_multiview_quality.py --result: the BENCHMARKS figures, raw and with the held-out
    cameras Procrustes-aligned; the alignment of a gauge-fixed result is close to the identity."""
    fig_file = tmp_path / "fig.json"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_multiview_quality.py"), str(spot),
                        "--result", str(tiny_result), "--json", str(fig_file)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    fig = json.loads(fig_file.read_text())
    assert json.loads(r.stdout) == fig
    print({k: fig[k] for k in ("heldout_iou_mean", "heldout_psnr_mean", "heldout_aligned_iou_mean",
                              "heldout_aligned_psnr_mean", "rot_err_deg_before", "rot_err_deg_after", "alignment")})
    assert fig["heldout_iou_mean"] >= 0.77 and fig["heldout_psnr_mean"] >= 17.5  # as test_tiny_reconstruction_quality
    assert len(fig["heldout_iou"]) == HOLDOUT and fig["heldout_iou_min"] <= fig["heldout_iou_mean"]
    assert fig["rot_err_deg_after"] <= 0.6 * fig["rot_err_deg_before"]
    al = fig["alignment"]
    assert al["matched"] == VIEWS - len(fig["pruned"]) and abs(al["scale"] - 1) < 0.05
    assert al["centre_rms_after"] <= al["centre_rms_before"]
    # the gauge error is small here, so taking it out moves the figures little, and never far down
    assert abs(fig["heldout_aligned_iou_mean"] - fig["heldout_iou_mean"]) < 0.05
    assert fig["heldout_aligned_psnr_mean"] > fig["heldout_psnr_mean"] - 1.0
    assert {"chamfer_l1_rel", "fscore@1%", "fscore@2%", "normal_consistency", "centre_err_rel_after",
            "rot_err_aligned_ratio"} <= set(fig)
    # the focal lengths are corrected only on request (test_refine_focal_...)
    assert fig["focal_err_rel_before"] < 1e-6 and fig["focal_err_rel_after"] < 1e-6


def test_quality_script_can_start_from_the_exact_cameras(spot, tmp_path):
    """--from-exact-cameras: the fit starts from transforms_gt.json (before-error zero), so the after-error
    is how far it moves correct cameras; it needs --out."""
    script = ROOT / "scripts" / "eval_multiview_quality.py"
    fig_file = tmp_path / "fig.json"
    r = subprocess.run([sys.executable, str(script), str(spot), "--out", str(tmp_path / "res"), "--preset", "tiny",
                        "--from-exact-cameras", "--json", str(fig_file)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    fig = json.loads(fig_file.read_text())
    print({k: fig[k] for k in ("heldout_iou_mean", "heldout_psnr_mean", "rot_err_deg_before", "rot_err_deg_after")})
    assert fig["rot_err_deg_before"] < 0.02       # (float32 angles)
    assert fig["rot_err_deg_after"] < 1.5         # the noisy start of this scene is 3 deg
    assert fig["heldout_iou_mean"] >= 0.77        # as test_tiny_reconstruction_quality
    for flags in (["--from-exact-cameras"], ["--camera-trust", "calibrated"]):
        bad = subprocess.run([sys.executable, str(script), str(spot), "--result", str(tmp_path / "res"), *flags],
                             capture_output=True, text=True, timeout=300)
        assert bad.returncode == 2 and "needs --out" in bad.stderr
    both = subprocess.run([sys.executable, str(script), str(spot), "--out", str(tmp_path / "res2"),
                           "--from-exact-cameras", "--from-gauge-cameras"], capture_output=True, text=True, timeout=300)
    assert both.returncode == 2 and "not allowed with" in both.stderr and not (tmp_path / "res2").exists()


def test_quality_script_can_start_from_where_a_perfect_correction_ends(spot, tmp_path):
    """--from-gauge-cameras --camera-trust calibrated: the fit starts from the exact cameras moved by what
    the gauge keeps of the noise (on this rig, which has no weak axis, the similarity alone), and holds
    them there (calibrated cameras do not move in the tiny preset's stages): the raw figures are then
    what a perfect camera correction would give."""
    script = ROOT / "scripts" / "eval_multiview_quality.py"
    fig_file = tmp_path / "fig.json"
    r = subprocess.run([sys.executable, str(script), str(spot), "--out", str(tmp_path / "res"), "--preset", "tiny",
                        "--from-gauge-cameras", "--camera-trust", "calibrated", "--json", str(fig_file)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    fig = json.loads(fig_file.read_text())
    print({k: fig[k] for k in ("heldout_iou_mean", "heldout_psnr_mean", "heldout_aligned_psnr_mean",
                               "rot_err_deg_before", "rot_err_deg_after", "rot_err_aligned_deg_before")})
    assert 0.1 < fig["rot_err_deg_before"] < 1.0                 # the similarity of the 3 deg noise, no more
    assert fig["rot_err_aligned_deg_before"] < 0.05              # ... and nothing but a similarity
    assert abs(fig["rot_err_deg_after"] - fig["rot_err_deg_before"]) < 0.02   # held still
    assert fig["heldout_aligned_iou_mean"] >= 0.77               # as test_tiny_reconstruction_quality


def test_camera_error_by_texture_ranks_views_and_splits_the_errors(tiny_result, spot, tmp_path, capsys):
    """scripts/camera_error_by_texture.py: the texture signal is zero on a plain photo and grows with
    the texture; every unpruned training view gets a row, weakest signal first, with the aligned
    rotation errors of eval.cameras (a corrected rig beats the input one on this scene)."""
    from tests.conftest import load_script
    script = load_script("camera_error_by_texture")
    plain, stripes = np.full((32, 32, 3), 0.4), np.zeros((32, 32, 3))
    stripes[:, ::4] = 1.0
    mask = np.ones((32, 32))
    assert script.texture_signal(plain, mask) == pytest.approx(0.0, abs=1e-12)
    assert script.texture_signal(stripes, mask) > 0.05
    assert script.texture_signal(stripes, np.zeros((32, 32))) == 0.0  # nothing inside the mask
    rows_file = tmp_path / "rows.json"
    assert script.main([str(spot), "--result", str(tiny_result), "--json", str(rows_file)]) == 0
    rows = json.loads(rows_file.read_text())
    pruned = {p["name"] for p in json.loads((tiny_result / "result.json").read_text())["pruned"]}
    assert len(rows) == VIEWS - len(pruned) and not pruned & {r["name"] for r in rows}
    assert [r["signal"] for r in rows] == sorted(r["signal"] for r in rows) and rows[-1]["signal"] > 0
    assert np.mean([r["rot_deg_after"] for r in rows]) < np.mean([r["rot_deg_before"] for r in rows])
    assert "weakest quarter" in capsys.readouterr().out


def test_refine_focal_corrects_the_focal_lengths_and_keeps_their_mean(spot, tmp_path):
    out = tmp_path / "focal"
    r = _reconstruct(spot, "--out", out, "--preset", "tiny", "--device", "cpu", "--refine-focal")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "focal lengths corrected" in r.stdout + r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["refine_focal"] is True
    kept = [i for i, v in enumerate(result["per_view"]) if not v["pruned"]]
    zoom = np.log([result["cameras"][i]["K"][0][0] / result["input_cameras"][i]["K"][0][0] for i in kept])
    # each camera gets its own zoom (the scene's focal lengths are exact, so only as much as the fit
    # trades for distance: its 1 % centre noise), and the zooms' mean stays at zero like the gauge
    assert 1e-4 < np.abs(zoom).max() < 0.05 and abs(zoom.mean()) < 1e-6, zoom
    fig = json.loads(subprocess.run([sys.executable, str(ROOT / "scripts" / "eval_multiview_quality.py"), str(spot),
                                     "--result", str(out)], capture_output=True, text=True, timeout=600).stdout)
    assert fig["heldout_iou_mean"] >= 0.77 and fig["heldout_psnr_mean"] >= 17.5   # as the default fit's bar


def test_refuses_non_empty_out(spot, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "mine.txt").write_text("user file")
    assert _reconstruct(spot, "--out", out, "--preset", "tiny").returncode == 2
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def _bad_copy(spot: Path, tmp_path: Path, edit) -> Path:
    ds = tmp_path / "bad"
    shutil.copytree(spot, ds)
    meta = json.loads((ds / "transforms.json").read_text())
    edit(meta, ds)
    (ds / "transforms.json").write_text(json.dumps(meta))
    return ds


def _only_one(meta, ds):
    meta["frames"] = meta["frames"][:1]


def _missing(meta, ds):
    (ds / meta["frames"][3]["file_path"]).unlink()


def _nan(meta, ds):
    meta["frames"][2]["transform_matrix"][0][3] = float("nan")


def _opencv(meta, ds):
    # every pose in the OpenCV convention: a per-frame problem everywhere is a convention problem
    for f in meta["frames"]:
        m = np.array(f["transform_matrix"])
        m[:3, 1:3] *= -1
        f["transform_matrix"] = m.tolist()


# one empty mask or one camera facing away is pruned, not an error (tests/test_input_frames.py)
@pytest.mark.parametrize("edit,frame_hint", [(_only_one, "one photo"), (_missing, "003"), (_nan, "002"),
                                             (_opencv, "OpenCV convention")])
def test_bad_input_names_the_frame_and_writes_only_a_log(spot, tmp_path, edit, frame_hint):
    ds = _bad_copy(spot, tmp_path, edit)
    out = tmp_path / "out"
    r = _reconstruct(ds, "--out", out, "--preset", "tiny")
    assert r.returncode == 2, r.stderr[-2000:]
    text = r.stdout
    err_line = [l for l in text.splitlines() if "error" in l]
    assert err_line and frame_hint in err_line[-1], text
    assert [p.name for p in out.iterdir()] == ["reconstruct.log"]


def test_cancel_raises_and_writes_nothing(spot, tmp_path):
    ds = load_dataset(spot)
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 5

    with pytest.raises(Cancelled):
        run_multiview(ds, MultiviewConfig.preset("tiny"), should_stop=should_stop)
    from texforge.pipelines.multiview.run_folder import reconstruct_folder
    out = tmp_path / "cancel"
    with pytest.raises(Cancelled):
        reconstruct_folder(spot, out, preset="tiny", device="cpu", should_stop=lambda: True)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # scripts/reconstruct.py's log: test_cli_interrupt


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_a_rotation_prior_that_is_not_a_positive_number_is_a_clear_error(spot, tmp_path, weight):
    from texforge.pipelines.multiview.run_folder import reconstruct_folder
    out = tmp_path / "out"
    with pytest.raises(InputError, match="rotation prior must be a positive number"):
        reconstruct_folder(spot, out, preset="tiny", device="cpu", rotation_prior=weight, log=lambda *a: None)
    assert not out.exists()


def test_gauge_keeps_the_rig_in_place(spot):
    ds = load_dataset(spot)
    centre, radius = place_object(ds.cameras, torch.as_tensor(ds.masks), ds.names)
    # the silhouette-centroid rays meet near the object's bbox centre (an initialisation only)
    bbox_centre = torch.as_tensor(json.loads((spot / "dataset.json").read_text())["framing"]["center"],
                                  dtype=centre.dtype)
    assert (centre - bbox_centre).norm() < 0.4 * radius
    rig = CameraRig(ds.cameras, centre)
    # (this small scene's two rings at -10 and 40 degrees see a vertical shift in depth enough that
    # weak_shift_axis leaves it free; the 24-view scenes' three rings do not: set the axis here)
    rig.weak_shift_axis = torch.tensor([0.0, 0.0, 1.0])
    g = torch.Generator().manual_seed(0)
    noise_w, noise_p = 0.02 * torch.randn(VIEWS, 3, generator=g), 0.02 * torch.randn(VIEWS, 3, generator=g)
    with torch.no_grad():
        rig.rot.copy_(noise_w)
        rig.pos.copy_(noise_p)
    rig.fix_gauge(pin_object_shift=True)
    kept_w, kept_p = rig.rot.detach().clone(), rig.pos.detach().clone()
    # a whole-rig rotation about the object centre (orientation + orbit) and shift are removed ...
    omega = torch.tensor([0.01, -0.005, 0.02])   # small: the gauge is removed to first order
    r = (ds.cameras.centers - centre) / rig.distance
    with torch.no_grad():
        rig.rot -= omega
        rig.pos += torch.cross(omega.expand_as(r), r, dim=-1) + torch.tensor([0.03, 0.01, -0.02])
    # (that motion really is invisible: every point turned with the rig projects to the same pixel)
    pts = centre + 0.3 * torch.randn(50, 3, generator=g)
    turned = (centre + (pts - centre) @ backend_pose.axis_angle_to_matrix(omega).T
              + torch.tensor([0.03, 0.01, -0.02]) * rig.distance)
    moved = rig()
    before = CameraRig(ds.cameras, centre)
    with torch.no_grad():
        before.rot.copy_(kept_w)
        before.pos.copy_(kept_p)
    assert torch.allclose(moved.project(turned)[0], before().project(pts)[0], atol=0.15)  # to first order
    rig.fix_gauge(pin_object_shift=True)
    assert torch.allclose(rig.rot, kept_w, atol=1e-6) and torch.allclose(rig.pos, kept_p, atol=1e-6)
    assert (rig().centers.mean(0) - ds.cameras.centers.mean(0)).norm() < 1e-4
    # ... but a common turn of the cameras about their own centres is observable and is kept
    with torch.no_grad():
        rig.rot += torch.tensor([0.0, 0.0, 0.05])
    rig.fix_gauge()
    assert (rig.rot - kept_w).mean(0).norm() > 0.01
    # ... while the cameras turning to follow a shift of the object (a ring pitching together as the
    # object rises: only perspective inside the object tells it) is pinned like the gauge
    with torch.no_grad():
        rig.rot.copy_(kept_w)
        rig.pos.copy_(kept_p)
    delta = 0.05 * radius * rig.weak_shift_axis
    to_centre = centre - ds.cameras.centers
    follow = torch.cross(delta.expand_as(to_centre), to_centre, dim=-1) / (to_centre ** 2).sum(-1, keepdim=True)
    with torch.no_grad():
        rig.rot += follow
    # (the shifted centre projects where the centre did)
    followed = rig().project((centre + delta)[None])[0]
    assert (followed - before().project(centre[None])[0]).abs().max() < 0.05
    # unpinned (the fine stages, where perspective tells), that turn is kept
    rig.fix_gauge()
    assert (rig.rot - kept_w).norm() > 0.5 * follow.norm()
    rig.fix_gauge(pin_object_shift=True)
    assert torch.allclose(rig.rot, kept_w, atol=1e-6) and torch.allclose(rig.pos, kept_p, atol=1e-6)


def test_an_orbit_step_keeps_the_object_centre_in_place_and_folds_into_the_corrections(spot):
    ds = load_dataset(spot)
    centre, _ = place_object(ds.cameras, torch.as_tensor(ds.masks), ds.names)
    rig = CameraRig(ds.cameras, centre)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        rig.rot.copy_(0.02 * torch.randn(VIEWS, 3, generator=g))
        rig.pos.copy_(0.02 * torch.randn(VIEWS, 3, generator=g))
    start = rig()
    with torch.no_grad():
        rig.orbit.copy_(0.05 * torch.randn(VIEWS, 3, generator=g))
    orbited = rig()
    # an orbit about the object centre: the centre stays at its pixel while the camera moves round it
    assert torch.allclose(orbited.project(centre[None])[0], start.project(centre[None])[0], atol=1e-3)
    assert (orbited.centers - start.centers).norm(dim=-1).min() > 0.01 * rig.distance
    # folding moves it into the rotation and centre corrections exactly and leaves no orbit behind
    rig.fold_orbit()
    folded = rig()
    assert torch.count_nonzero(rig.orbit) == 0
    assert torch.allclose(folded.R, orbited.R, atol=1e-6) and torch.allclose(folded.t, orbited.t, atol=1e-5)


def _named(cameras, names) -> dict[str, dict]:
    """Cameras -> the {name: {"K", "R", "t"}} form of texforge.eval.cameras."""
    K, R, t = (x.detach().double().cpu().numpy() for x in (cameras.K, cameras.R, cameras.t))
    return {n: {"K": K[i], "R": R[i], "t": t[i]} for i, n in enumerate(names)}


def test_gauge_kept_cameras_are_the_exact_rig_moved_by_the_similarity_of_the_noise(spot):
    """rig.gauge_kept: where a perfect correction of noisy cameras ends. It is the exact rig moved as a
    whole (a similarity), closer to the exact cameras than the input, a fixed point of the gauge, and a
    rig whose whole error is a similarity keeps all of it (no image could tell)."""
    from texforge.cameras.rig import gauge_kept
    from texforge.eval.cameras import camera_errors, similarity_aligned, transform_cameras

    ds, exact = load_dataset(spot), load_dataset(spot, split="gt")
    assert ds.names == exact.names
    centre, _ = place_object(ds.cameras, torch.as_tensor(ds.masks), ds.names)
    kept = gauge_kept(ds.cameras, exact.cameras, centre)
    truth = _named(exact.cameras, exact.names)
    before = camera_errors(_named(ds.cameras, ds.names), truth, centre)["rot_deg_mean"]
    raw = camera_errors(_named(kept, ds.names), truth, centre)["rot_deg_mean"]
    aligned = camera_errors(similarity_aligned(_named(kept, ds.names), truth), truth, centre)
    print(f"rotation error: input {before:.3f}, gauge-kept {raw:.3f}, aligned {aligned['rot_deg_mean']:.5f} deg")
    # a similarity of the exact rig (the gauge is taken out to first order: 3 deg of noise leave 0.01-0.02)
    assert aligned["rot_deg_max"] < 0.05 and aligned["trans_rel_max"] < 1e-3
    assert 0.1 < raw < 0.3 * before                                           # some of the noise, not most
    # a fixed point: correcting the input cameras to these leaves nothing for the gauge to take out
    again = gauge_kept(ds.cameras, kept, centre)
    assert torch.allclose(again.R, kept.R, atol=1e-6) and torch.allclose(again.centers, kept.centers, atol=1e-5)
    # an input rig that is the exact one turned, shifted and scaled as a whole keeps all of it
    turn = torch.as_tensor(backend_pose.axis_angle_to_matrix(torch.tensor([0.01, -0.015, 0.005]))).double().numpy()
    R, t = transform_cameras(exact.cameras.R.double().numpy(), exact.cameras.t.double().numpy(), 1.01, turn,
                             np.array([0.05, -0.02, 0.03]))
    moved = type(exact.cameras)(exact.cameras.K, torch.as_tensor(R).float(), torch.as_tensor(t).float(),
                                exact.cameras.width, exact.cameras.height)
    same = gauge_kept(moved, exact.cameras, centre)
    shifts = camera_errors(_named(same, ds.names), _named(moved, ds.names), centre)
    print(f"a whole-rig similarity of 1.07 deg: kept all but {shifts['rot_deg_max']:.4f} deg, "
          f"{shifts['trans_rel_max']:.1e} of the distance")
    assert shifts["rot_deg_max"] < 0.05 and shifts["trans_rel_max"] < 1e-3     # (to first order in the turn)


def test_a_focal_correction_zooms_about_the_principal_point_and_keeps_the_mean_focal(spot):
    ds = load_dataset(spot)
    centre, _ = place_object(ds.cameras, torch.as_tensor(ds.masks), ds.names)
    rig = CameraRig(ds.cameras, centre)
    assert torch.equal(rig().K, ds.cameras.K)                   # no correction: the input intrinsics exactly
    zoom = torch.linspace(-0.05, 0.05, VIEWS, dtype=rig.focal.dtype)
    with torch.no_grad():
        rig.focal.copy_(zoom)
    pts = centre + 0.2 * torch.randn(30, 3, generator=torch.Generator().manual_seed(2))
    plain, zoomed = CameraRig(ds.cameras, centre)().project(pts)[0], rig().project(pts)[0]
    pp = ds.cameras.K[:, None, :2, 2]
    # every point moves away from (or toward) the principal point by the camera's own factor
    assert torch.allclose(zoomed - pp, (plain - pp) * zoom.exp()[:, None, None], atol=1e-4)
    half = rig(None, (SIZE // 2, SIZE // 2))
    assert torch.allclose(half.K[:, 0, 0], rig().K[:, 0, 0] / 2)
    assert torch.allclose(rig(torch.tensor([3])).K[0], rig().K[3])
    # a zoom of every camera together is pinned like the gauge: only the differences are kept
    with torch.no_grad():
        rig.focal += 0.03
    rig.fix_gauge()
    kept = rig.focal.detach()
    assert abs(float(kept.mean())) < 1e-7 and torch.allclose(kept, zoom - zoom.mean(), atol=1e-7)


def test_weak_shift_axis_is_a_ring_axis_and_none_for_cameras_all_around():
    from texforge.cameras.rig import weak_shift_axis
    from texforge.geometry.layouts import ring_layout

    def view_dirs(layout):
        az, el = np.radians(np.asarray(layout)[:, 0]), np.radians(np.asarray(layout)[:, 1])
        return -torch.as_tensor(np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1))

    axis = weak_shift_axis(view_dirs(ring_layout(24, (-10.0, 40.0))))
    assert axis is not None and abs(float(axis[2])) > 0.99
    # a tilted ring: its own axis
    tilt = torch.as_tensor(backend_pose.axis_angle_to_matrix(torch.tensor([0.4, 0.0, 0.0])), dtype=torch.float64)
    tilted = weak_shift_axis(view_dirs(ring_layout(24, (0.0, 20.0))) @ tilt.T)
    assert tilted is not None and abs(float(tilted @ tilt[:, 2])) > 0.99
    # cameras on the whole sphere see every shift in depth somewhere: nothing to pin
    i = np.arange(64) + 0.5
    el, az = np.degrees(np.arcsin(1 - 2 * i / 64)), np.degrees(np.pi * (1 + 5 ** 0.5) * i)
    assert weak_shift_axis(view_dirs(np.stack([az, el], -1))) is None


def test_neighbour_test_flags_a_flipped_frame_in_an_ordered_sequence():
    from texforge.geometry.layouts import cameras_for, ring_layout

    # the acceptance scene's layout: 24 views on 3 rings between -10 and 40 degrees
    layout = ring_layout(24, (-10.0, 40.0))
    centre_np = np.array([0.0, -0.2, 0.1])
    R_np, t_np = cameras_for(layout, centre_np, 3.7)
    K = torch.tensor([[175.0, 0, 64], [0, 175.0, 64], [0, 0, 1]]).expand(24, 3, 3)
    from texforge.render.camera import Cameras as _C
    cams = _C(K, torch.as_tensor(R_np, dtype=torch.float32), torch.as_tensor(t_np, dtype=torch.float32), 128, 128)
    centre = torch.as_tensor(centre_np, dtype=torch.float32)
    views = list(range(24))
    assert neighbour_outliers(cams, centre, views, 1.5) == {}
    from texforge.render.camera import Cameras
    rz = torch.diag(torch.tensor([-1.0, -1.0, 1.0], dtype=cams.R.dtype))

    def flipped(frames):
        R, t = cams.R.clone(), cams.t.clone()
        for i in frames:
            c = cams.centers[i]
            R[i] = R[i] @ rz.T
            t[i] = -R[i] @ (rz @ (c - centre) + centre)
        return Cameras(cams.K, R, t, cams.width, cams.height)

    assert list(neighbour_outliers(flipped([3]), centre, views, 1.5)) == [3]
    # two flips (one on the top ring): their good neighbours must not be flagged with them
    assert sorted(neighbour_outliers(flipped([5, 17]), centre, views, 1.5)) == [5, 17]


def test_bad_preset_name_and_single_view():
    from texforge.data.dataset import MultiViewDataset
    from texforge.render.camera import Cameras

    with pytest.raises(ValueError, match="preset"):
        MultiviewConfig.preset("huge")
    one = MultiViewDataset(np.zeros((1, 8, 8, 3), np.float32), np.ones((1, 8, 8), np.float32),
                           Cameras(torch.eye(3)[None], torch.eye(3)[None], torch.zeros(1, 3), 8, 8), ["only.png"])
    with pytest.raises(InputError, match="only.png"):
        run_multiview(one, MultiviewConfig.preset("tiny"))


def test_same_seed_same_result_and_setting_restored(tiny_result, spot):
    """Two tiny runs with the same seed agree exactly (CPU); the deterministic-algorithms switch is
    scoped to the run (the pipeline also runs inside Blender's process)."""
    import stat

    res = json.loads((tiny_result / "result.json").read_text())
    assert not torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(THREADS)
    again = run_multiview(load_dataset(spot, "train"), MultiviewConfig.preset("tiny"), device="cpu")
    assert not torch.are_deterministic_algorithms_enabled()
    assert [v["iou"] for v in again.per_view] == [v["iou"] for v in res["per_view"]]
    assert [v["psnr"] for v in again.per_view] == [v["psnr"] for v in res["per_view"]]
    assert again.cameras.R.double().numpy().tolist() == [c["R"] for c in res["cameras"]]
    # the result folder has ordinary permissions (not mkdtemp's private 0700)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(tiny_result.stat().st_mode) == 0o777 & ~mask


def test_golden_section_search_finds_the_best_offset_with_few_evaluations():
    from texforge.pipelines.multiview.after_fit import golden_section_max

    calls = []

    def peak(at):
        return lambda x: calls.append(x) or -(x - at) ** 2

    # 9 evaluations bracket the optimum to 2 * 0.618^7 = 0.07 px (a 9-point grid: 0.25 px)
    for at in (-0.31, 0.4, 1.07):
        calls.clear()
        assert abs(golden_section_max(peak(at), -0.5, 1.5, 9) - at) < 0.07 and len(calls) == 9
    # an optimum beyond the range ends near its bound, as the grid did
    assert golden_section_max(peak(3.0), -0.5, 1.5, 9) > 1.43
    assert golden_section_max(peak(-3.0), -0.5, 1.5, 6) < -0.2


def test_post_fit_steps_render_views_in_chunks_at_the_fit_size(spot, monkeypatch):
    """Memory after the fit is bounded: inflation search, texture projection and per-view figures
    never render more than eval_views_batch views at once, and they render at the fit's finest
    resolution (2x supersampled), not at the photos' size."""
    import dataclasses

    import texforge.render.renderer as renderer

    calls = []
    real = renderer.render_mesh

    def counting(vertices, faces, cameras, *args, **kwargs):
        calls.append((len(cameras), cameras.width, cameras.height))
        return real(vertices, faces, cameras, *args, **kwargs)

    monkeypatch.setattr(renderer, "render_mesh", counting)
    ds = load_dataset(spot, split="train", max_size=0)
    big = MultiviewConfig.preset("tiny")
    # a short fit whose batches are small too, so that any larger render is a post-fit one
    stages = [dataclasses.replace(s, iterations=4, views_per_iter=3) for s in big.stages]
    # 40 px: a size no stage of the fit uses (32, 48, 64 px; texture projection at the photos' 64 px)
    cfg = dataclasses.replace(big, stages=stages, prune=False, eval_views_batch=3, eval_max_size=40)
    res = run_multiview(ds, cfg)
    assert calls and max(n for n, _, _ in calls) <= 3
    # the inflation (its evaluations) and the figures render every view at 2 x 40 px, nothing larger
    post = [n for n, w, h in calls if (w, h) == (80, 80)]
    assert sum(post) == (cfg.inflate_search_px[2] + 1) * VIEWS
    assert not [c for c in calls if c[1] > 80]
    assert len(res.per_view) == VIEWS and all(0 < v["iou"] <= 1 for v in res.per_view)


def test_a_stage_learns_a_texture_no_finer_than_its_images(spot, monkeypatch):
    """A stage that asks for more pixels than the photos have (the full preset's 512 px stage on
    128 px photos) learns its texture at the images' scale: a texture finer than the pixels that see
    it turns the image losses' pull on the vertices into noise (the full preset on the demo scene
    ended at a training IoU of 0.84 before this)."""
    import dataclasses

    from texforge.pipelines.multiview import pipeline as mv_pipeline
    from texforge.pipelines.multiview.fit import stage_texture_size

    assert stage_texture_size((512, 1024), 512, (128, 96)) == (128, 256)
    assert stage_texture_size((128, 256), 128, (640, 480)) == (128, 256)      # never made finer
    learned = []
    real = mv_pipeline._Run.extract

    def recording(self, resolution, tex_size, *args, **kwargs):
        learned.append((resolution, tuple(tex_size)))
        return real(self, resolution, tex_size, *args, **kwargs)

    monkeypatch.setattr(mv_pipeline._Run, "extract", recording)
    ds = load_dataset(spot, split="train", max_size=32)
    tiny = MultiviewConfig.preset("tiny")
    stages = [dataclasses.replace(s, iterations=3) for s in tiny.stages]
    run_multiview(ds, dataclasses.replace(tiny, stages=stages, prune=False))
    # stage 2 asks for 48 px and (32, 64) texels, stage 3 for 64 px and (64, 128): both get 32 px images
    assert (48, (21, 43)) in learned and (64, (32, 64)) in learned
    assert not [t for r, t in learned if r in (48, 64) and t[0] > 32]


def _texture_gradient_energy(tex: np.ndarray, visibility: np.ndarray) -> float:
    """Mean squared difference of horizontally and vertically adjacent texels that views see."""
    seen = visibility > 0.05
    dx = ((tex[:, 1:] - tex[:, :-1]) ** 2).sum(-1)[seen[:, 1:] & seen[:, :-1]]
    dy = ((tex[1:] - tex[:-1]) ** 2).sum(-1)[seen[1:] & seen[:-1]]
    return float(np.concatenate([dx, dy]).mean())


def test_final_texture_reads_the_photos_above_the_working_size(spot, monkeypatch):
    """Fitted at a 32 px working size, the texture still comes from the 64 px photos (read again
    in chunks of eval_views_batch through a PhotoReader), and is sharper for it; the fit is the same."""
    import dataclasses

    from texforge.data.photo_reader import PhotoReader, dataset_photo_reader

    reads = []
    real_call = PhotoReader.__call__

    def counting(self, names, max_size):
        images, masks = real_call(self, names, max_size)
        reads.append((len(names), images.shape[1:3], masks.shape[1:3]))
        return images, masks

    monkeypatch.setattr(PhotoReader, "__call__", counting)
    ds = load_dataset(spot, split="train", max_size=32)
    tiny = MultiviewConfig.preset("tiny")
    cfg = dataclasses.replace(tiny, stages=[dataclasses.replace(s, iterations=4) for s in tiny.stages], prune=False,
                              eval_views_batch=4)
    plain = run_multiview(ds, cfg)
    sharp = run_multiview(ds, cfg, photos=dataset_photo_reader(spot))
    assert sum(n for n, _, _ in reads) == VIEWS and all(n <= 4 for n, _, _ in reads)
    assert all(tuple(i) == (SIZE, SIZE) and tuple(m) == (SIZE, SIZE) for _, i, m in reads)
    assert np.array_equal(plain.mesh.vertices, sharp.mesh.vertices)
    e_plain = _texture_gradient_energy(plain.mesh.texture, plain.visibility)
    e_sharp = _texture_gradient_energy(sharp.mesh.texture, sharp.visibility)
    print("texture gradient energy, 32 px working images -> 64 px photos:", e_plain, e_sharp)
    assert e_sharp > 1.2 * e_plain


def test_photos_of_different_exposures_are_balanced(spot):
    """Training photos brightened and darkened by up to a stop (the object only, as exposure and white
    balance do): the run finds each photo's gain, and its held-out renders match the untouched test
    photos better than the same run without the balance."""
    import dataclasses

    ds = load_dataset(spot, "train")
    g = torch.Generator().manual_seed(3)
    log_gains = (0.35 * torch.randn(len(ds), 1, generator=g) + 0.04 * torch.randn(len(ds), 3, generator=g)).numpy()
    log_gains -= log_gains.mean(0)          # the texture's brightness is the photos' geometric mean
    m = ds.masks[..., None]
    ds.images = np.clip(ds.images * (m * np.exp(log_gains)[:, None, None, :] + 1 - m), 0, 1).astype(np.float32)
    test = load_dataset(spot, split="test")
    torch.set_num_threads(THREADS)
    tiny = MultiviewConfig.preset("tiny")
    runs = {on: run_multiview(ds, dataclasses.replace(tiny, exposure_balance=on)) for on in (True, False)}
    psnr = {on: evq.figure_summary("heldout", evq.heldout_figures(r.mesh, test))["heldout_psnr_mean"]
            for on, r in runs.items()}
    found = np.log([v["exposure_gain"] for v in runs[True].per_view])
    kept = [i for i, v in enumerate(runs[True].per_view) if not v["pruned"]]
    from texforge.texture.exposure import UNSEEN
    error = (found - np.sign(log_gains) * np.clip(np.abs(log_gains) - UNSEEN, 0, None))[kept]
    error -= error.mean(0)                  # both are centred, over the kept views and over all
    print("exposure: gain error rms", float(np.sqrt((error ** 2).mean())), "held-out PSNR on / off", psnr)
    # measured 0.118, 0.106 with the detail image loss (the object is 25 px wide here); gains left at
    # one would be off by the 0.35 spread
    assert float(np.sqrt((error ** 2).mean())) < 0.15
    assert not any(v["pruned"] for v in runs[True].per_view)
    assert psnr[True] > psnr[False] + 0.5                 # measured 19.0 against 18.1 dB
