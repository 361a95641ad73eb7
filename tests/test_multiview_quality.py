"""The multi-view acceptance figures on spot (small preset, CPU). Slow: scripts/run_tests.py --slow.

Scene: spot rendered at 128^2 from 24 views (elevations -10..40, all azimuths, studio lighting) with
3-degree rotation and 3 % translation noise, plus 8 held-out views with exact cameras; a second
variant has 180-degree azimuth errors on frames 5 and 17, which must both be pruned (and nothing
else); bob (genus 1) the same way. Thresholds sit a little below the measured figures (see
docs/BENCHMARKS.md, "Multi-view reconstruction" and "Camera correction on near-symmetric objects").
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _render(test_data, out: Path, flips=(), mesh="spot/spot.obj", noise_model="exact"):
    from texforge_blender import dataset_render

    spec = dataset_render.DatasetSpec(views=24, size=(128, 128), holdout=8, elevations=(-10.0, 40.0),
                                      noise_rot=3.0, noise_trans=0.03, noise_model=noise_model, lighting="studio",
                                      seed=0, flip_frames=tuple(flips))
    dataset_render.render_dataset(str(test_data / mesh), out, spec, log=lambda *a: None)
    return out


def _figures(dataset: Path, out: Path) -> dict:
    """What scripts/eval_multiview_quality.py DATASET --out OUT --preset small prints."""
    from texforge.eval.multiview import quality_figures
    from texforge.pipelines.multiview.run_folder import reconstruct_folder

    reconstruct_folder(dataset, out, preset="small", device="cpu")
    return quality_figures(out, dataset)


def _check(fig: dict, iou=0.955, psnr=27.0, chamfer=0.008, f2=0.95, raw_iou=0.92):
    # Quality is judged after the similarity alignment of the corrected cameras to the exact ones: the
    # raw figures also carry the input rig's mean error along the gauge and the pinned ring-pitch
    # mode, which no fit can see, so they swing with the noise draw (unpinned code, spot: raw IoU
    # 0.970 with seed 0, 0.907 with seed 2). The raw IoU keeps a floor. Measured with the mode
    # pinned, the trimmed small schedule and the orbit steps, seed 0: aligned IoU 0.965, 28.2 dB, raw
    # 0.927, Chamfer 0.64 %, rotation ratio 0.12 (docs/BENCHMARKS.md, "Multi-view reconstruction").
    # With the mode free in the last stage (fifteenth session, one thread): aligned 0.971 / 29.3 dB, raw
    # 0.934, Chamfer 0.61 %, ratio 0.11; flipped frames 0.975 / 29.6 dB, raw 0.947; bob 0.973 / 27.5 dB,
    # raw 0.935, Chamfer 1.24 % (docs/BENCHMARKS.md, "What a perfect camera correction would score").
    assert fig["heldout_aligned_iou_mean"] >= iou
    assert fig["heldout_aligned_psnr_mean"] >= psnr
    assert fig["heldout_iou_mean"] >= raw_iou
    assert fig["chamfer_l1_rel"] <= chamfer
    assert fig["fscore@2%"] >= f2
    assert fig["rot_err_deg_after"] <= fig["rot_err_deg_before"] / 3


def test_spot_acceptance(test_data, tmp_path):
    fig = _figures(_render(test_data, tmp_path / "spot24"), tmp_path / "res")
    print(fig)
    assert fig["pruned"] == []
    _check(fig)


def test_spot_flipped_frames_are_pruned(test_data, tmp_path):
    fig = _figures(_render(test_data, tmp_path / "spot24flip", flips=(5, 17)), tmp_path / "res")
    print(fig)
    assert fig["flipped_all_pruned"] and len(fig["pruned"]) == 2, fig["pruned"]
    _check(fig)


def test_bob_genus_one(test_data, tmp_path):
    # unpinned: IoU 0.971, 26.2 dB, Chamfer 0.95 % (the genus-0 template closes the hole), ratio 0.19;
    fig = _figures(_render(test_data, tmp_path / "bob24", mesh="bob/bob_tri.obj"), tmp_path / "res")
    print(fig)
    assert fig["pruned"] == []
    # pinned, trimmed schedule (same noise draw as spot seed 0): aligned IoU 0.960, 25.8 dB, raw 0.923,
    # Chamfer 1.34 % (1.2 % target; it carries the draw's vertical mean error, 0.95 % unpinned), ratio 0.18;
    # with the orbit steps the cameras improve (ratio 0.14) and the rest slips a little: aligned 0.954 /
    # 25.3 dB, raw 0.916 / 21.1 dB, Chamfer 1.43 % (docs/BENCHMARKS.md, "Orbit steps")
    _check(fig, iou=0.95, psnr=25.0, chamfer=0.015, f2=0.83, raw_iou=0.91)


def test_barrel_cameras_orbit_back(tmp_path):
    # a surface of revolution (scripts/make_symmetric_assets.py): silhouettes cannot see a camera's
    # orbit about its axis, only the planks and hoops can; Gaussian noise (3 deg / 3 % sigma). Measured
    # with the orbit steps (docs/BENCHMARKS.md, "Orbit steps"), three runs differing only in float
    # rounding (thread count, the rotation logarithm): raw 0.963-0.967 / 27.7-28.0 dB, aligned
    # 29.1-31.2 dB, rotation error ratio 0.30-0.38 (0.66 without the orbit steps). With the exposure
    # gains (all one at the end, some not in the coarse stages): 0.969 / 28.1 dB, 29.7 dB aligned, 0.38
    # with two threads, 0.963 / 27.6 dB, 28.7 dB, 0.42 with one. With the detail image loss (eighth
    # session): 0.967 / 27.9 dB, 29.3 dB, 0.39 with one thread, 0.963 / 27.6 dB, 28.4 dB, 0.44 with two.
    # With the even rotation prior (ninth session): 0.970 / 28.0 dB, 29.8 dB, 0.39 with one thread,
    # 0.965 / 27.7 dB, 29.6 dB, 0.34 with two. With the ring pitch free in the last stage (fifteenth
    # session): 0.959 / 27.3 dB, 32.9 dB, 0.27 with one thread.
    # Float rounding alone moves the aligned PSNR by a decibel and the ratio by 0.06 here, so the bars
    # sit below that spread; the ratio bar still fails the fit without orbit steps (0.66)
    from tests.conftest import load_script

    assets = load_script("make_symmetric_assets")
    assert assets.main(["--out", str(tmp_path / "assets")]) == 0
    data = _render(tmp_path / "assets", tmp_path / "barrel24", mesh="barrel/barrel.obj", noise_model="gaussian")
    fig = _figures(data, tmp_path / "res")
    print(fig)
    assert fig["heldout_iou_mean"] >= 0.95 and fig["heldout_psnr_mean"] >= 27.0
    assert fig["heldout_aligned_psnr_mean"] >= 28.0
    assert fig["rot_err_ratio"] <= 0.5
