"""Evaluation (texforge.eval, texforge_blender.evaluate_render, scripts/evaluate.py): camera errors and
their Procrustes alignment, report schema / checks, HTML, the atomic report folder, and end-to-end
evaluations of the ground truth against itself (Blender renders, real files)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from texforge.eval import cameras as cam_err
from texforge.eval.aggregate import aggregate_reports
from texforge.eval.html import aggregate_html, report_html
from texforge.eval.report import METRICS, validate_report, write_json_atomic
from texforge.render.camera import c2w_gl_to_rt, rt_to_c2w_gl
from texforge.render.pose import axis_angle_to_matrix
from texforge.runtime.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def _entry(name, R, t, K=None):
    e = {"name": name, "R": np.asarray(R).tolist(), "t": np.asarray(t).tolist()}
    if K is not None:
        e["K"] = np.asarray(K).tolist()
    return e


def _ring(n=6, dist=3.0):
    from texforge.geometry.layouts import cameras_for
    R, t = cameras_for([(360.0 * k / n, 20.0) for k in range(n)], np.zeros(3), dist)
    K = np.repeat(np.array([[40.0, 0, 16], [0, 40.0, 16], [0, 0, 1]])[None], n, axis=0)
    return K, R, t


# ------------------------------------------------------------------------------------------------
# camera errors
# ------------------------------------------------------------------------------------------------

def test_camera_errors_known_perturbations():
    K, R, t = _ring()
    exact = {f"v{i}": {"K": K[i], "R": R[i], "t": t[i]} for i in range(len(R))}
    # rotate each camera about its own centre by a known angle, move the centre by 5 % of its distance,
    # and scale the focal length by 1.02
    angles = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    est = {}
    for i, a in enumerate(angles):
        axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
        dR = axis_angle_to_matrix(torch.tensor(axis * math.radians(a))).numpy()
        c = -R[i].T @ t[i]
        c2 = c + 0.05 * np.linalg.norm(c) * np.array([0.0, 0.0, 1.0])
        R2 = dR @ R[i]
        K2 = K[i].copy()
        K2[0, 0] *= 1.02
        est[f"v{i}"] = {"K": K2, "R": R2, "t": -R2 @ c2}
    e = cam_err.camera_errors(est, exact)
    assert e["matched"] == 6 and e["missing"] == []
    got = np.array([v["rot_deg"] for v in e["per_view"]])
    np.testing.assert_allclose(got, angles, atol=1e-6)
    np.testing.assert_allclose([v["trans_rel"] for v in e["per_view"]], 0.05, atol=1e-9)
    np.testing.assert_allclose([v["trans"] for v in e["per_view"]], 0.15, atol=1e-9)
    np.testing.assert_allclose([v["focal_rel"] for v in e["per_view"]], 0.02, atol=1e-9)
    assert e["rot_deg_mean"] == pytest.approx(3.5) and e["rot_deg_max"] == pytest.approx(6.0)
    assert e["rot_deg_median"] == pytest.approx(3.5)


def test_before_after_from_result_json_and_transforms(tmp_path):
    from texforge.data.transforms_io import write_transforms
    K, R, t = _ring()
    names = [f"images/{i:03d}.png" for i in range(len(R))]
    write_transforms(tmp_path / "transforms_gt.json", K, R, t, 32, 32, names)
    exact = cam_err.cameras_from_transforms(tmp_path / "transforms_gt.json")
    assert list(exact) == names
    dR = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.radians(3.0)])).numpy()
    noisy = [_entry(n, dR @ R[i], dR @ t[i], K[i]) for i, n in enumerate(names)]
    # "after" given as transform_matrix only (the other accepted form), one view pruned
    fixed = [{"name": n, "transform_matrix": rt_to_c2w_gl(R[i], t[i]).tolist(), "K": K[i].tolist()}
             for i, n in enumerate(names)]
    result = {"input_cameras": noisy, "cameras": fixed, "pruned": [{"name": names[2], "index": 2, "reason": "x"}]}
    ba = cam_err.before_after_errors(result, exact)
    assert ba["pruned"] == [names[2]]
    assert ba["before"]["matched"] == ba["after"]["matched"] == 5
    assert ba["before"]["rot_deg_mean"] == pytest.approx(3.0, abs=1e-4)  # the file holds float32 values
    assert ba["after"]["rot_deg_max"] < 1e-3 and ba["after"]["trans_rel_max"] < 1e-5
    # the cameras turned about their own centres: no similarity explains that, it stays after alignment
    assert ba["before_aligned"]["rot_deg_mean"] == pytest.approx(3.0, abs=1e-3)
    # no cameras in the result -> None, not an error
    assert cam_err.before_after_errors({"cameras": fixed}, exact)["before"] is None


def test_camera_entries_reject_bad_input():
    with pytest.raises(ValueError, match="name"):
        cam_err.cameras_from_result_entries([{"R": np.eye(3).tolist(), "t": [0, 0, 1]}])
    with pytest.raises(ValueError, match="'a'"):
        cam_err.cameras_from_result_entries([{"name": "a"}])
    with pytest.raises(ValueError, match="finite"):
        cam_err.cameras_from_result_entries([{"name": "a", "R": np.eye(3).tolist(), "t": [0, float("nan"), 1]}])


# ------------------------------------------------------------------------------------------------
# report schema, checks, HTML, aggregate
# ------------------------------------------------------------------------------------------------

def _fake_report(**over):
    metrics = {k: 0.5 for k in METRICS}
    metrics.update(psnr=25.0, perceptual=0.1, kid=0.01, fid=3.0, chamfer_l1=0.01, chamfer_l1_rel=0.004, chamfer_l2=1e-4,
                   cam_rot_deg_before=3.0, cam_rot_deg_after=0.5)
    metrics.update(over)
    return {"version": 1, "metrics": metrics, "missing": {},
            "per_view": [{"name": "a.png", "iou": 0.9, "psnr": 25.0, "ssim": 0.8, "perceptual": 0.1,
                          "image": "images/view_000.png"}],
            "images": {"views": ["images/view_000.png"], "turntable": "images/turntable.png"},
            "cameras": None, "settings": {"engine": "CYCLES"}, "features": "EffNet-Lite0 features"}


def test_validate_report_catches_bad_values(tmp_path):
    assert validate_report(_fake_report()) == []
    assert any("outside" in p for p in validate_report(_fake_report(iou=1.2)))
    assert any("not finite" in p for p in validate_report(_fake_report(psnr=float("nan"))))
    assert any("without a reason" in p for p in validate_report(_fake_report(fscore_1=None)))
    r = _fake_report(fscore_1=None)
    r["missing"]["fscore_1"] = "no ground-truth mesh"
    assert validate_report(r) == []
    del r["metrics"]["kid"]
    assert any("'kid' absent" in p for p in validate_report(r))
    # referenced images must exist when a folder is given
    probs = validate_report(_fake_report(), tmp_path)
    assert sum("does not exist" in p for p in probs) == 2


def test_json_writer_never_writes_nan(tmp_path):
    p = write_json_atomic(tmp_path / "r.json", {"a": float("nan"), "b": [np.float32(1.5), float("inf")]})
    assert json.loads(p.read_text()) == {"a": None, "b": [1.5, None]}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]  # no temp files left


def test_html_mentions_features_and_escapes():
    rep = _fake_report()
    rep["per_view"][0]["name"] = "<script>x</script>.png"
    page = report_html(rep)
    assert "<script>x" not in page and "&lt;script&gt;" in page
    assert "EffNet-Lite0 features" in page and "not Inception" in page
    assert "src='images/view_000.png'" in page and "src='images/turntable.png'" in page
    rep["texture_realism"] = {"result": {"kid": 0.01, "kid_std": 0.0, "fid": 3.5, "psnr": 24.0, "iou": 0.9, "views": 8,
                                         "features": "EfficientNet-Lite0 (ImageNet), 1280-d pooled, 224 px"},
                              "<gan>": {"kid": 0.02, "kid_std": 0.0, "fid": 4.5, "psnr": 23.0, "iou": 0.9, "views": 8,
                                        "features": "EfficientNet-Lite0 (ImageNet), 1280-d pooled, 224 px"}}
    page = report_html(rep)
    assert "Texture realism" in page and "&lt;gan&gt;" in page and "EfficientNet-Lite0 (ImageNet)" in page
    agg = aggregate_reports([{"name": "b", "metrics": {"iou": 0.8, "psnr": 20.0}, "report_html": "b/report.html"},
                             {"name": "a", "metrics": {"iou": 0.6, "psnr": None}, "report_html": None}],
                            pending=["c"])
    assert [s["name"] for s in agg["scenes"]] == ["a", "b"]
    assert agg["mean"]["iou"] == pytest.approx(0.7) and agg["mean"]["psnr"] == pytest.approx(20.0)
    assert agg["count"]["psnr"] == 1 and agg["mean"]["kid"] is None
    page = aggregate_html(agg)
    assert "href='b/report.html'" in page and "Not finished yet: c" in page


# ------------------------------------------------------------------------------------------------
# end to end: Blender renders of a tiny dataset; the ground truth evaluated against itself
# ------------------------------------------------------------------------------------------------

NOISE_ROT, NOISE_TRANS = 3.0, 0.03


@pytest.fixture(scope="module")
def example_dataset(tmp_path_factory):
    """The embedded example at 32 px: 6 noisy training views + 2 held-out views (Cycles, 4 samples)."""
    from texforge_blender.dataset_render import main as render_dataset_main
    out = tmp_path_factory.mktemp("evaluate") / "dataset"
    rc = render_dataset_main(["example", "--out", str(out), "--views", "6", "--size", "32", "--holdout", "2",
                              "--noise-rot", str(NOISE_ROT), "--noise-trans", str(NOISE_TRANS), "--samples", "4"])
    assert rc == 0
    return out


def _camera_entries(path):
    meta = json.loads(Path(path).read_text())
    out = []
    for f in meta["frames"]:
        R, t = c2w_gl_to_rt(f["transform_matrix"])
        K = [[f["fl_x"], 0, f["cx"]], [0, f["fl_y"], f["cy"]], [0, 0, 1]]
        out.append({"name": f["file_path"], "K": K, "R": R.tolist(), "t": t.tolist(),
                    "transform_matrix": f["transform_matrix"]})
    return out


def _moved_entries(entries: list[dict], s: float, Rs, ts) -> list[dict]:
    """Camera entries re-expressed in the frame A where the entries' frame is ``x = s Rs x_A + ts``."""
    R, t = cam_err.transform_cameras([e["R"] for e in entries], [e["t"] for e in entries], s, Rs, ts)
    return [{**e, "R": R[i].tolist(), "t": t[i].tolist(), "transform_matrix": rt_to_c2w_gl(R[i], t[i]).tolist()}
            for i, e in enumerate(entries)]


def fabricate_result(dataset: Path, out: Path, scale: float = 1.0, gauge=None) -> Path:
    """A result folder holding the true textured example (optionally scaled about its centre) and
    exact corrected cameras / the dataset's noisy input cameras, in result.json's format. ``gauge``
    (s, R, t) puts the whole result (mesh and cameras) in another frame A, with x_world = s R x_A + t:
    a perfect reconstruction in a wrong gauge."""
    from texforge_blender.example_object import example_arrays, example_texture
    from texforge.mesh.io import write_glb
    from texforge.mesh.types import TexturedMesh
    verts, tris, corner_uvs = example_arrays()
    c = (verts.min(0) + verts.max(0)) / 2
    verts = c + scale * (verts - c)
    cameras, inputs = _camera_entries(dataset / "transforms_gt.json"), _camera_entries(dataset / "transforms.json")
    if gauge is not None:
        s, R, t = gauge
        verts = ((verts - t) @ R) / s  # x_A = R^T (x - t) / s
        cameras, inputs = _moved_entries(cameras, s, R, t), _moved_entries(inputs, s, R, t)
    mesh = TexturedMesh(verts, tris, corner_uvs.reshape(-1, 2), np.arange(tris.size).reshape(-1, 3),
                        example_texture())
    out.mkdir(parents=True)
    write_glb(out / "mesh.glb", mesh)
    result = {"version": 1, "pipeline": "fabricated", "dataset": str(dataset), "image_size": [32, 32],
              "cameras": cameras, "input_cameras": inputs,
              "pruned": [], "per_view": [], "timings": {}, "config": {}, "metrics": {}}
    (out / "result.json").write_text(json.dumps(result))
    return out


def _evaluate(*args, **kw):
    from texforge_blender.evaluate_render import evaluate
    return evaluate(*args, **kw)


def _html_images(page: str) -> list[str]:
    return re.findall(r"src='([^']+)'", page)


@pytest.fixture(scope="module")
def gt_result(example_dataset, tmp_path_factory):
    return fabricate_result(example_dataset, tmp_path_factory.mktemp("gt") / "result")


def test_ground_truth_scores_perfectly_and_reports_are_complete(example_dataset, gt_result, tmp_path):
    result = gt_result
    out = tmp_path / "eval"
    rep = _evaluate(result, example_dataset, out, log=lambda m: None)
    m = rep["metrics"]
    # every metric present, finite and in range; the files on disk agree
    assert validate_report(rep, out) == [] and "problems" not in rep
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["metrics"] == pytest.approx(m) and set(on_disk["metrics"]) == set(METRICS)
    assert on_disk["features"] == "EffNet-Lite0 features"
    # the truth against itself
    assert min(v["iou"] for v in rep["per_view"]) > 0.97
    assert m["psnr"] > 30 and m["ssim"] > 0.95
    assert m["chamfer_l1"] < 2e-3 and m["fscore_0.5"] > 0.99 and m["fscore_1"] == pytest.approx(1.0)
    assert m["normal_consistency"] > 0.98
    assert m["cam_rot_deg_after"] < 1e-3 and m["cam_trans_rel_after"] < 1e-4
    # before refinement: exactly the noise render_dataset put in (flat, no flips)
    assert m["cam_rot_deg_before"] == pytest.approx(NOISE_ROT, abs=1e-3)
    assert m["cam_trans_rel_before"] == pytest.approx(NOISE_TRANS, rel=1e-3)
    assert rep["counts"]["heldout_views"] == 2 and rep["counts"]["turntable_views"] == 24
    assert rep["counts"]["photos"] == 8
    # the HTML shows every held-out contact sheet and the turntable, as existing relative files
    page = (out / "report.html").read_text()
    srcs = _html_images(page)
    assert len(srcs) == 3 and all((out / s).is_file() and not Path(s).is_absolute() for s in srcs)
    from texforge.data.images import read_image
    sheet = read_image(out / rep["per_view"][0]["image"])
    assert sheet.shape[:2] == (32, 3 * 32 + 4)
    strip = read_image(out / rep["images"]["turntable"])
    assert strip.shape[:2] == (2 * 48 + 2, 12 * 48 + 11 * 2)
    assert (strip < 0.99).mean() > 0.1  # the object is visible on the turntable

    # a wrong reconstruction (10 % too large) scores measurably worse (repeatability: test_batch.py)
    big = fabricate_result(example_dataset, tmp_path / "big", scale=1.1)
    rep_big = _evaluate(big, example_dataset, tmp_path / "eval_big", log=lambda m: None)
    mb = rep_big["metrics"]
    assert mb["iou"] < m["iou"] - 0.05 and mb["chamfer_l1"] > 5 * m["chamfer_l1"] and mb["fscore_0.5"] < 0.5
    assert mb["psnr"] < m["psnr"] - 3


def test_cli_rejects_bad_input(example_dataset, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(tmp_path / "nope"),
                        "--dataset", str(example_dataset), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and "has no mesh.glb" in r.stderr
    assert not (tmp_path / "o").exists()


def test_workbench_engine_in_a_subprocess(example_dataset, gt_result, tmp_path):
    """The optional OpenGL engine (Workbench: textures shown unlit for flat lighting) through the CLI.
    Without an OpenGL provider Blender aborts the process: then the test is skipped."""
    out = tmp_path / "wb"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(gt_result), "--dataset",
                        str(example_dataset), "--out", str(out), "--engine", "WORKBENCH"],
                       capture_output=True, text=True, timeout=300, check=False)
    if r.returncode < 0 or not (out / "report.json").is_file() and "EGL" in r.stderr + r.stdout:
        pytest.skip(f"no OpenGL provider for Workbench (status {r.returncode})")
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((out / "report.json").read_text())
    assert rep["settings"]["engine"] == "BLENDER_WORKBENCH"
    assert rep["metrics"]["iou"] > 0.95 and rep["metrics"]["psnr"] > 22  # the texture is shown, unlit


def test_real_data_without_ground_truth(example_dataset, gt_result, tmp_path):
    """A captured dataset: no held-out split, no exact cameras, no ground-truth mesh, no dataset.json.
    The training views stand in for held-out views and the missing metrics are null with a reason."""
    import shutil
    ds = tmp_path / "captured"
    shutil.copytree(example_dataset, ds)
    for name in ("transforms_test.json", "transforms_gt.json", "gt_mesh.ply", "dataset.json"):
        (ds / name).unlink()
    out = tmp_path / "eval"
    rep = _evaluate(gt_result, ds, out, log=lambda m: None)
    assert validate_report(rep, out) == [] and rep["settings"]["heldout_split"] == "train"
    assert rep["counts"]["heldout_views"] == 6 and rep["cameras"] is None
    m, missing = rep["metrics"], rep["missing"]
    for key in ("chamfer_l1", "fscore_1", "normal_consistency", "cam_rot_deg_before", "cam_trans_rel_after"):
        assert m[key] is None and key in missing
    assert missing["chamfer_l1"] == "no ground-truth mesh"
    # the training views are seen through the result's corrected (here: exact) cameras, not the noisy ones
    assert rep["settings"]["view_cameras"].startswith("the result's corrected cameras (6 of 6")
    assert m["iou"] > 0.97 and m["psnr"] > 30
    page = (out / "report.html").read_text()
    assert "no ground-truth mesh" in page and len(_html_images(page)) == 7


# ------------------------------------------------------------------------------------------------
# Procrustes alignment (BARF's protocol) and the aligned held-out figure
# ------------------------------------------------------------------------------------------------

GAUGE = (1.3, axis_angle_to_matrix(torch.tensor([0.2, -0.4, 0.3], dtype=torch.float64)).numpy(),
         np.array([0.3, -0.2, 0.5]))


def test_umeyama_recovers_a_known_similarity_on_a_rig():
    K, R, t = _ring(n=8)
    R = np.concatenate([R, _ring(n=4, dist=2.0)[1]])  # two rings: not coplanar
    t = np.concatenate([t, _ring(n=4, dist=2.0)[2]])
    exact = {f"v{i}": {"K": None, "R": R[i], "t": t[i]} for i in range(len(R))}
    s, Rs, ts = GAUGE
    Ra, ta = cam_err.transform_cameras(R, t, s, Rs, ts)  # the rig in a frame A, x = s Rs x_A + ts
    result = {"cameras": [_entry(f"v{i}", Ra[i], ta[i]) for i in range(len(R))], "pruned": []}
    raw = cam_err.camera_errors(cam_err.cameras_from_result_entries(result["cameras"]), exact)
    assert raw["rot_deg_mean"] > 10 and raw["trans_rel_mean"] > 0.1  # the gauge shows in the raw errors
    al = cam_err.align_result_cameras(result, exact)
    assert al["matched"] == len(R)
    assert al["scale"] == pytest.approx(s, abs=1e-6)
    np.testing.assert_allclose(al["rotation"], Rs, atol=1e-6)
    np.testing.assert_allclose(al["translation"], ts, atol=1e-6)
    assert al["centre_rms_before"] > 0.5 and al["centre_rms_after"] < 1e-9
    # the aligned cameras are the exact ones again: errors ~0
    Rb, tb = cam_err.transform_cameras(Ra, ta, *cam_err.invert_similarity(al["scale"], al["rotation"],
                                                                           al["translation"]))
    back = {f"v{i}": {"K": None, "R": Rb[i], "t": tb[i]} for i in range(len(R))}
    aligned = cam_err.camera_errors(back, exact)
    assert aligned["rot_deg_max"] < 1e-4 and aligned["trans_rel_max"] < 1e-9
    # a rig that differs only by a similarity has no error once each rig is aligned on its own
    result["input_cameras"] = [_entry(f"v{i}", R[i], t[i]) for i in range(len(R))]
    ba = cam_err.before_after_errors(result, exact)
    assert ba["after"]["rot_deg_mean"] > 10 and ba["before"]["rot_deg_max"] < 1e-6
    assert ba["after_aligned"]["rot_deg_max"] < 1e-4 and ba["after_aligned"]["trans_rel_max"] < 1e-9
    assert ba["before_aligned"]["rot_deg_max"] < 1e-4
    # a pruned frame is left out of the fit; too few frames give no alignment
    result["pruned"] = [{"name": "v0"}]
    assert cam_err.align_result_cameras(result, exact)["matched"] == len(R) - 1
    assert cam_err.align_result_cameras({"cameras": result["cameras"][:2]}, exact) is None
    with pytest.raises(ValueError, match="collinear"):
        cam_err.umeyama(np.outer(np.arange(4.0), [1, 2, 3]), np.outer(np.arange(4.0), [1, 2, 3]))


def test_aligned_heldout_figure_removes_the_gauge(example_dataset, tmp_path):
    """A perfect reconstruction in a wrong gauge (mesh and cameras moved by one similarity): the raw
    held-out figure charges it with the gauge, the Procrustes-aligned one scores it as the truth."""
    result = fabricate_result(example_dataset, tmp_path / "moved", gauge=GAUGE)
    out = tmp_path / "eval"
    rep = _evaluate(result, example_dataset, out, log=lambda m: None)
    m, al = rep["metrics"], rep["alignment"]
    assert validate_report(rep, out) == [] and al["applied"]
    assert al["scale"] == pytest.approx(GAUGE[0], rel=1e-6)  # result frame -> exact frame: the gauge itself
    assert m["iou"] < 0.5 and m["iou_aligned"] > 0.97
    assert m["psnr_aligned"] > 30 and m["psnr_aligned"] > m["psnr"] + 5
    assert all(v["iou_aligned"] > 0.97 for v in rep["per_view"])
    assert json.loads((out / "report.json").read_text())["metrics"]["iou_aligned"] == pytest.approx(m["iou_aligned"])


# ------------------------------------------------------------------------------------------------
# the report folder appears only complete
# ------------------------------------------------------------------------------------------------

def _fake_renders(plan):
    """Renders of the right shapes without Blender: the photos themselves, fully opaque where the mask is."""
    held = plan.held
    rgba = np.concatenate([held.images, held.masks[..., None]], -1).astype(np.float32)
    n, size = 24, plan.settings["turntable_size"]
    return {**{k: rgba for k in plan.camera_sets}, "turntable": np.zeros((n, size, size, 4), np.float32)}


def test_report_folder_appears_only_complete(example_dataset, gt_result, tmp_path, monkeypatch):
    from texforge.eval import evaluation, html
    out = tmp_path / "eval"
    plan = evaluation.plan_evaluation(gt_result, example_dataset, out, log=lambda m: None)
    assert not out.exists()  # planning writes nothing

    def interrupted(*a, **k):
        raise KeyboardInterrupt  # Ctrl-C after the images and report.json, before report.html

    monkeypatch.setattr(html, "write_report_html", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluation.write_evaluation(plan, _fake_renders(plan), log=lambda m: None)
    assert not out.exists() and list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())
    monkeypatch.undo()

    rep = evaluation.write_evaluation(plan, _fake_renders(plan), log=lambda m: None)
    assert sorted(p.name for p in out.iterdir()) == ["images", "report.html", "report.json"]
    assert rep["metrics"]["iou"] == 1.0 and rep["metrics"]["iou_aligned"] == 1.0
    assert validate_report(json.loads((out / "report.json").read_text()), out) == []
    assert list(tmp_path.iterdir()) == [out]
    with pytest.raises(InputError, match="not empty"):  # a second run refuses to mix into it
        evaluation.plan_evaluation(gt_result, example_dataset, out, log=lambda m: None)


# ------------------------------------------------------------------------------------------------
# texture realism: KID / FID of the held-out renders per texture
# ------------------------------------------------------------------------------------------------

def test_texture_realism_ranks_a_scrambled_texture_below_the_true_one():
    from texforge.eval.texture_realism import FEATURE_EXTRACTOR, score_textures

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    masks = np.zeros((6, 32, 32), np.float32)
    masks[:, 6:26, 6:26] = 1
    photos = np.stack([np.stack([xx, yy, 0.5 + 0.1 * k * np.ones_like(xx)], -1) for k in range(6)]).astype(np.float32)
    bg = np.array([1.0, 1.0, 1.0], np.float32)
    photos = photos * masks[..., None] + bg * (1 - masks[..., None])
    same = np.concatenate([photos, masks[..., None]], -1)
    noise = same.copy()
    noise[..., :3] = rng.random(noise[..., :3].shape)
    # the photos' background outside the mask does not count: a render is scored on the same backdrop
    photos_other_bg = photos * masks[..., None]
    figs = score_textures(photos_other_bg, masks, {"true": same, "noise": noise}, bg)
    assert figs["true"]["kid"] < 1e-6 and figs["true"]["fid"] < 1e-3 and figs["true"]["psnr"] == 100.0
    assert figs["noise"]["kid"] > 0.01 and figs["noise"]["fid"] > 1.0 and figs["noise"]["psnr"] < 15
    assert figs["true"]["iou"] == 1.0 and figs["noise"]["views"] == 6
    assert figs["true"]["features"] == FEATURE_EXTRACTOR and "EfficientNet-Lite0" in FEATURE_EXTRACTOR


def test_texture_arguments_are_checked_before_any_work(tmp_path):
    from texforge.eval.texture_realism import check_textures, parse_texture_args

    assert parse_texture_args(["best=a.png", "s1=b.png"]) == {"best": "a.png", "s1": "b.png"}
    for bad, msg in ((["best"], "NAME=PATH"), (["a=x.png", "a=y.png"], "twice")):
        with pytest.raises(InputError, match=msg):
            parse_texture_args(bad)
    with pytest.raises(InputError, match="missing.png not found"):
        check_textures({"best": tmp_path / "missing.png"})
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(InputError, match="junk.png is not a readable image"):
        check_textures({"best": junk})
    with pytest.raises(InputError, match="not 'result'"):
        check_textures({"result": junk})


def test_evaluate_scores_extra_textures_on_the_same_mesh(example_dataset, gt_result, tmp_path):
    from texforge_blender.example_object import example_texture
    from texforge.data.images import write_png

    true_png, grey_png = tmp_path / "true.png", tmp_path / "grey.png"
    write_png(true_png, example_texture())
    write_png(grey_png, np.full_like(example_texture(), 0.5))
    out = tmp_path / "eval"
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(gt_result), "--dataset",
                        str(example_dataset), "--out", str(out), "--texture", f"copy={true_png}",
                        "--texture", f"grey={grey_png}"], capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "texture grey: KID" in r.stdout + r.stderr
    real = json.loads((out / "report.json").read_text())["texture_realism"]
    assert set(real) == {"result", "copy", "grey"}
    # the same texture as the result's scores the same; a flat grey one scores worse on every figure
    assert real["copy"]["psnr"] == pytest.approx(real["result"]["psnr"], abs=0.3)
    assert real["copy"]["fid"] == pytest.approx(real["result"]["fid"], abs=0.1 + 0.1 * real["result"]["fid"])
    assert real["grey"]["psnr"] < real["result"]["psnr"] - 3
    assert real["grey"]["fid"] > real["result"]["fid"] and real["grey"]["kid"] > real["result"]["kid"]
    assert all(v["features"].startswith("EfficientNet-Lite0") for v in real.values())
    # a bad --texture fails before anything is written
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(gt_result), "--dataset",
                          str(example_dataset), "--out", str(tmp_path / "o2"), "--texture", "best=nope.png"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and "nope.png not found" in bad.stderr and not (tmp_path / "o2").exists()
