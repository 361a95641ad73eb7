"""scripts/evaluate.py and backend/eval: camera errors, report schema / checks, HTML, and an end-to-end
evaluation of the ground truth against itself (Blender renders, real files)."""

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

from backend.eval import cameras as cam_err
from backend.eval.aggregate import aggregate_reports
from backend.eval.html import aggregate_html, report_html
from backend.eval.report import METRICS, validate_report, write_json_atomic
from backend.eval.turntable import look_at_c2w, turntable_cameras
from backend.render.camera import c2w_gl_to_rt, rt_to_c2w_gl
from backend.render.pose import axis_angle_to_matrix

ROOT = Path(__file__).resolve().parent.parent


def _entry(name, R, t, K=None):
    e = {"name": name, "R": np.asarray(R).tolist(), "t": np.asarray(t).tolist()}
    if K is not None:
        e["K"] = np.asarray(K).tolist()
    return e


def _ring(n=6, dist=3.0):
    K, R, t = turntable_cameras((0, 0, 0), dist, 40.0, 32, azimuths=n, elevations_deg=(20.0,))
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
    from backend.data.transforms_io import write_transforms
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
    # no cameras in the result -> None, not an error
    assert cam_err.before_after_errors({"cameras": fixed}, exact)["before"] is None


def test_camera_entries_reject_bad_input():
    with pytest.raises(ValueError, match="name"):
        cam_err.cameras_from_result_entries([{"R": np.eye(3).tolist(), "t": [0, 0, 1]}])
    with pytest.raises(ValueError, match="'a'"):
        cam_err.cameras_from_result_entries([{"name": "a"}])
    with pytest.raises(ValueError, match="finite"):
        cam_err.cameras_from_result_entries([{"name": "a", "R": np.eye(3).tolist(), "t": [0, float("nan"), 1]}])


def test_turntable_cameras_look_at_the_centre():
    center = np.array([0.1, -0.2, 0.3])
    K, R, t = turntable_cameras(center, 2.0, 40.0, 48, azimuths=12, elevations_deg=(10.0, 35.0))
    assert K.shape == (24, 3, 3) and R.shape == (24, 3, 3)
    for i in range(24):
        cam = R[i] @ center + t[i]  # the centre projects to the principal point, 2 m in front
        assert cam[2] == pytest.approx(2.0) and np.allclose(cam[:2], 0, atol=1e-9)
        assert np.allclose(R[i] @ R[i].T, np.eye(3), atol=1e-9) and np.linalg.det(R[i]) == pytest.approx(1.0)
        up_img = R[i] @ np.array([0, 0, 1.0])  # world up points up in the image (negative y)
        assert up_img[1] < 0
    elev = np.degrees(np.arcsin([(-R[i].T @ t[i] - center)[2] / 2.0 for i in (0, 12)]))
    np.testing.assert_allclose(elev, [10.0, 35.0], atol=1e-9)
    # round trip through the one camera conversion
    m = look_at_c2w([0, -3, 1], [0, 0, 0])
    R1, t1 = c2w_gl_to_rt(m)
    assert np.allclose(rt_to_c2w_gl(R1, t1), m)


# ------------------------------------------------------------------------------------------------
# report schema, checks, HTML, aggregate
# ------------------------------------------------------------------------------------------------

def _fake_report(**over):
    metrics = {k: 0.5 for k in METRICS}
    metrics.update(psnr=25.0, perceptual=0.1, kid=0.01, fid=3.0, chamfer_l1=0.01, chamfer_l2=1e-4,
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
    agg = aggregate_reports([{"name": "b", "metrics": {"iou": 0.8, "psnr": 20.0}, "report_html": "b/report.html"},
                             {"name": "a", "metrics": {"iou": 0.6, "psnr": None}, "report_html": None}],
                            pending=["c"])
    assert [s["name"] for s in agg["scenes"]] == ["a", "b"]
    assert agg["mean"]["iou"] == pytest.approx(0.7) and agg["mean"]["psnr"] == pytest.approx(20.0)
    assert agg["count"]["psnr"] == 1 and agg["mean"]["kid"] is None
    page = aggregate_html(agg)
    assert "href='b/report.html'" in page and "Not finished yet: c" in page
