"""Evaluate a reconstruction against its dataset: Blender renders + metrics + report.json / report.html.

    python scripts/evaluate.py RESULT --dataset DATASET [--gt-mesh MESH] --out DIR
           [--engine CYCLES|BLENDER_EEVEE|BLENDER_WORKBENCH] [--samples N] [--lighting flat|studio]
           [--turntable-size PX] [--seed S]
    blender -b --factory-startup --python-exit-code 1 -P scripts/evaluate.py -- RESULT --dataset ... --out DIR

RESULT is a result folder (mesh.glb, result.json). The result mesh is rendered with Blender at the
held-out cameras (DATASET/transforms_test.json; without one, the training views through
result.json's corrected cameras) and on a turntable (12 azimuths x 2 elevations, the dataset's framing),
with the dataset's samples and pixel filter (DATASET/dataset.json) and flat lighting (the texture shown
unlit: it already carries the photographed shading) unless given.
Metrics: held-out mask IoU, PSNR, SSIM and a perceptual distance; KID and an FID-style distance
between all photos and all renders, on EffNet-Lite0 features (not Inception); Chamfer-L1/L2, F-score at 0.5/1/2 % and normal consistency against the
ground-truth mesh (DATASET/gt_mesh.ply by default); camera rotation / centre errors of result.json's
input and corrected cameras against DATASET/transforms_gt.json. Writes DIR/report.json,
DIR/report.html and PNGs under DIR/images/ (referenced relatively).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH")
ENGINE_ALIASES = {"EEVEE": "BLENDER_EEVEE", "WORKBENCH": "BLENDER_WORKBENCH"}


def _log(msg: str) -> None:
    print(f"[evaluate] {msg}", flush=True)


def _dataset_info(dataset: Path) -> dict:
    """DATASET/dataset.json (written by render_dataset: render settings, framing), or {} when absent."""
    try:
        info = json.loads((dataset / "dataset.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def _corrected_cameras(cameras, names, result: dict):
    """``cameras`` (Cameras of the named views) with K, R, t replaced by result.json's corrected
    ``cameras`` where it has an entry of the same name (intrinsics rescaled from result.json's
    ``image_size`` to these images). Returns (Cameras, how many were replaced)."""
    import torch

    from texforge.eval.cameras import cameras_from_result_entries
    est = cameras_from_result_entries(result.get("cameras") or [], "cameras")
    size = result.get("image_size") or [cameras.width, cameras.height]
    sx, sy = cameras.width / float(size[0]), cameras.height / float(size[1])
    scale = torch.tensor([[sx, 0, 0], [0, sy, 0], [0, 0, 1.0]], dtype=cameras.K.dtype)
    K, R, t = cameras.K.clone(), cameras.R.clone(), cameras.t.clone()
    used = 0
    for i, name in enumerate(names):
        e = est.get(name)
        if e is None:
            continue
        if e["K"] is not None:
            K[i] = scale @ torch.as_tensor(e["K"], dtype=K.dtype)
        R[i] = torch.as_tensor(e["R"], dtype=R.dtype)
        t[i] = torch.as_tensor(e["t"], dtype=t.dtype)
        used += 1
    return type(cameras)(K, R, t, cameras.width, cameras.height), used


def evaluate(result_dir, dataset_dir, out_dir, gt_mesh=None, engine: str = "CYCLES", samples: int | None = None,
             lighting: str | None = None, seed: int = 0, turntable_size: int = 48, azimuths: int = 12,
             elevations=(10.0, 35.0), log=_log) -> dict:
    """Evaluate one result; returns the report dict (also written to out_dir/report.json + .html).

    Raises InputError / FileNotFoundError naming the missing or bad file."""
    import numpy as np

    from texforge.blender import evaluate_render
    from texforge.geometry.layouts import cameras_for, turntable_layout
    from texforge.data.images import write_png
    from texforge.data.transforms_io import load_dataset
    from texforge.eval import cameras as cam_err
    from texforge.eval import images as eimg
    from texforge.eval import scores
    from texforge.eval.html import write_report_html
    from texforge.eval.report import FEATURES_NAME, REPORT_VERSION, validate_report, write_json_atomic
    from texforge.mesh.io import load_mesh
    from texforge.runtime.errors import InputError

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    result_dir, dataset_dir, out_dir = Path(result_dir), Path(dataset_dir), Path(out_dir)
    mesh_path, result_json = result_dir / "mesh.glb", result_dir / "result.json"
    for p in (mesh_path, result_json):
        if not p.is_file():
            raise InputError(f"result folder '{result_dir}' has no {p.name}")
    if not (dataset_dir / "transforms.json").is_file():
        raise InputError(f"dataset folder '{dataset_dir}' has no transforms.json")
    if out_dir.resolve() in (result_dir.resolve(), dataset_dir.resolve()):
        raise InputError("--out must be a new folder, not the result or dataset folder")
    try:
        result = json.loads(result_json.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{result_json}: not valid JSON ({e})") from e
    if gt_mesh is None and (dataset_dir / "gt_mesh.ply").is_file():
        gt_mesh = dataset_dir / "gt_mesh.ply"
    gt_mesh = Path(gt_mesh) if gt_mesh is not None else None
    if gt_mesh is not None and not gt_mesh.is_file():
        raise InputError(f"ground-truth mesh not found: {gt_mesh}")
    info = _dataset_info(dataset_dir)
    known = info.get("args", {}) if isinstance(info.get("args"), dict) else {}
    # Samples and pixel filter as the photos were rendered. Lighting is flat by default whatever lit the
    # photos: a reconstructed texture already holds the photographed shading, and lighting it again
    # applies the shading twice (measured on the demo: 21.8 dB studio vs 24.1 dB flat for one result).
    lighting = lighting or "flat"
    samples = int(samples or known.get("samples", 16))
    pixel_filter = known.get("pixel_filter")
    engine = ENGINE_ALIASES.get(engine.upper(), engine.upper())
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")

    # -- inputs ---------------------------------------------------------------------------------
    t0 = time.perf_counter()
    heldout_split = "test" if (dataset_dir / "transforms_test.json").is_file() else "train"
    held = load_dataset(dataset_dir, heldout_split)
    train = load_dataset(dataset_dir, "train") if heldout_split == "test" else held
    background = held.background if held.background is not None else np.zeros(3, np.float32)
    pred = load_mesh(mesh_path)
    gt = load_mesh(gt_mesh) if gt_mesh is not None else None
    timings["load"] = time.perf_counter() - t0
    log(f"{len(held)} held-out views ({heldout_split} split) at {held.cameras.width}x{held.cameras.height}, "
        f"result mesh {len(pred.vertices)} vertices, gt mesh {'none' if gt is None else len(gt.vertices)}")

    # -- renders --------------------------------------------------------------------------------
    hc = held.cameras
    W, H = hc.width, hc.height
    view_cameras = "exact held-out cameras (transforms_test.json)"
    if heldout_split == "train":
        # No held-out views: judge the training views through the result's corrected cameras (the
        # noisy input cameras would charge the reconstruction with the input's camera error).
        hc, used = _corrected_cameras(hc, held.names, result)
        view_cameras = (f"the result's corrected cameras ({used} of {len(held)} views; input cameras for the rest)"
                        if used else "the input cameras (result.json has no corrected cameras for these views)")
    # Turntable: the dataset's framing (centre, distance, field of view) when known, else the object's
    # bounding-box centre, the held-out cameras' distance and field of view.
    fr = info.get("framing", {}) if isinstance(info.get("framing"), dict) else {}
    verts = (gt if gt is not None else pred).vertices
    center = np.asarray(fr["center"], float) if "center" in fr else (verts.min(0) + verts.max(0)) / 2.0
    dist = float(fr.get("distance") or np.median(np.linalg.norm(hc.centers.double().numpy() - center, axis=1)))
    fov = float(fr.get("fov_x_deg") or np.degrees(2 * np.arctan(0.5 * W / float(hc.K[0, 0, 0]))))
    Rt, tt = cameras_for(turntable_layout(azimuths, elevations), center, dist)
    f_tt = 0.5 * turntable_size / np.tan(np.radians(fov) / 2)
    Kt = np.repeat(np.array([[f_tt, 0, turntable_size / 2], [0, f_tt, turntable_size / 2], [0, 0, 1.0]])[None],
                   len(Rt), axis=0)
    sets = {"heldout": (hc.K.double().numpy(), hc.R.double().numpy(), hc.t.double().numpy(), W, H),
            "turntable": (Kt, Rt, tt, turntable_size, turntable_size)}
    t0 = time.perf_counter()
    log(f"rendering {len(held)} held-out + {len(Rt)} turntable views with {engine} ({samples} samples, "
        f"{lighting} lighting)")
    renders = evaluate_render.render_mesh_file(mesh_path, sets, engine=engine, samples=samples,
                                               lighting=lighting, seed=seed, pixel_filter=pixel_filter)
    timings["render"] = time.perf_counter() - t0

    # -- metrics --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    held_rgb = eimg.composite(renders["heldout"], background)
    held_mask = renders["heldout"][..., 3]
    turn_rgb = eimg.composite(renders["turntable"], background)
    per_view, image_means = scores.view_metrics(held.images, held.masks, held_rgb, held_mask)
    per_view = [{"name": name, **v} for name, v in zip(held.names, per_view)]
    # KID / FID-style: every photo (training + held-out) against every render (held-out + turntable)
    photos = [train.images, held.images] if train is not held else [held.images]
    fakes = [held_rgb, turn_rgb]
    set_m = scores.set_metrics(photos, fakes)
    timings["image_metrics"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    missing: dict[str, str] = {}
    if gt is not None:
        geo, geo_details = scores.geometry_metrics(pred, gt, seed=seed)
    else:
        geo, geo_details = {k: None for k in scores.GEOMETRY_KEYS}, None
        missing.update({k: "no ground-truth mesh" for k in scores.GEOMETRY_KEYS})
    timings["geometry_metrics"] = time.perf_counter() - t0

    cams = None
    gt_cams_path = dataset_dir / "transforms_gt.json"
    if gt_cams_path.is_file():
        exact = cam_err.cameras_from_transforms(gt_cams_path)
        cams = cam_err.before_after_errors(result, exact, center=center)
    cam_metrics = {}
    for when in ("before", "after"):
        e = (cams or {}).get(when)
        cam_metrics[f"cam_rot_deg_{when}"] = e["rot_deg_mean"] if e else None
        cam_metrics[f"cam_trans_rel_{when}"] = e["trans_rel_mean"] if e else None
        if not e or e["rot_deg_mean"] is None:
            why = ("no transforms_gt.json in the dataset" if cams is None else
                   f"result.json has no {'input_cameras' if when == 'before' else 'cameras'} matching it")
            missing[f"cam_rot_deg_{when}"] = missing[f"cam_trans_rel_{when}"] = why

    # -- pictures -------------------------------------------------------------------------------
    img_dir = out_dir / "images"
    view_images = []
    for i, v in enumerate(per_view):
        rel = f"images/view_{i:03d}.png"
        write_png(out_dir / rel, eimg.contact_row(held.images[i], held_rgb[i]))
        v["image"] = rel
        view_images.append(rel)
    write_png(img_dir / "turntable.png", eimg.turntable_strip(turn_rgb, azimuths))

    metrics = {**image_means, **set_m, **geo, **cam_metrics}
    timings["total"] = time.perf_counter() - t_start
    report = {
        "version": REPORT_VERSION, "kind": "texforge.evaluation",
        "result": str(result_dir), "dataset": str(dataset_dir), "gt_mesh": str(gt_mesh) if gt_mesh else None,
        "settings": {"engine": engine, "samples": samples, "lighting": lighting, "seed": seed,
                     "pixel_filter": pixel_filter,
                     "turntable_size": turntable_size, "azimuths": azimuths, "elevations_deg": list(elevations),
                     "heldout_split": heldout_split, "view_cameras": view_cameras, "background": [float(x) for x in background]},
        "features": FEATURES_NAME,
        "feature_sets": {"real": f"{sum(map(len, photos))} photos (training + held-out)",
                         "fake": f"{sum(map(len, fakes))} renders (held-out + turntable)",
                         "embedding": "pooled 1280-d EffNet-Lite0 (ImageNet) head activation at 224 px"},
        "geometry": geo_details,
        "metrics": metrics, "missing": missing, "per_view": per_view, "cameras": cams,
        "images": {"views": view_images, "turntable": "images/turntable.png"},
        "timings": timings,
        "counts": {"heldout_views": len(held), "photos": sum(map(len, photos)), "turntable_views": len(Rt),
                   "result_vertices": len(pred.vertices), "result_faces": len(pred.faces)},
    }
    problems = validate_report(report, out_dir)
    if problems:
        report["problems"] = problems
        log("WARNING: " + "; ".join(problems))
    write_json_atomic(out_dir / "report.json", report)
    write_report_html(report, out_dir)
    log(f"wrote {out_dir / 'report.json'} and report.html in {timings['total']:.1f}s")
    return report


def summary_line(metrics: dict) -> str:
    keys = ("iou", "psnr", "ssim", "chamfer_l1_rel", "fscore_2", "cam_rot_deg_before", "cam_rot_deg_after")
    return "  ".join(f"{k}={metrics[k]:.4g}" for k in keys if metrics.get(k) is not None)


def parse_args(argv):
    p = argparse.ArgumentParser(prog="evaluate.py", description=__doc__.split("\n\n")[0])
    p.add_argument("result", help="result folder (mesh.glb, result.json)")
    p.add_argument("--dataset", required=True, help="dataset folder (transforms*.json, images)")
    p.add_argument("--gt-mesh", default=None, help="ground-truth mesh (default: DATASET/gt_mesh.ply if present)")
    p.add_argument("--out", required=True, help="output folder for report.json / report.html / images")
    p.add_argument("--engine", default="CYCLES", help="CYCLES (default, CPU), EEVEE or WORKBENCH (need OpenGL)")
    p.add_argument("--samples", type=int, default=None, help="render samples (default: the dataset's, or 16)")
    p.add_argument("--lighting", choices=("flat", "studio"), default=None,
                   help="default: flat (a reconstructed texture already holds the photos' shading); "
                        "studio to light a mesh that carries an albedo texture")
    p.add_argument("--turntable-size", type=int, default=48)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None) -> int:
    if argv is None:  # inside Blender the script's own arguments follow "--"
        argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    args = parse_args(argv)
    from texforge.runtime.errors import InputError
    try:
        report = evaluate(args.result, args.dataset, args.out, gt_mesh=args.gt_mesh, engine=args.engine,
                          samples=args.samples, lighting=args.lighting, seed=args.seed,
                          turntable_size=args.turntable_size)
    except (InputError, FileNotFoundError, ValueError) as e:
        print(f"evaluate.py: error: {e}", file=sys.stderr, flush=True)
        return 2
    _log(summary_line(report["metrics"]))
    return 1 if report.get("problems") else 0


if __name__ == "__main__":
    sys.exit(main())
