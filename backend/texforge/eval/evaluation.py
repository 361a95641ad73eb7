"""One evaluation of a result folder against its dataset, without Blender: inputs, camera sets, scores,
pictures and the report folder.

:func:`plan_evaluation` checks and loads the inputs and says what to render (camera sets); the caller
renders the result mesh through them (texforge_blender.evaluate_render does it with Blender); and
:func:`write_evaluation` scores the renders and writes report.json, report.html and images/ into the
output folder through a temporary folder + rename, so an interrupted evaluation leaves nothing under
the output's name.

Camera sets: ``heldout`` (the exact held-out cameras of DATASET/transforms_test.json; without them the
training views through result.json's corrected cameras), ``heldout_aligned`` (the same held-out cameras
moved into the reconstruction's frame by the Procrustes similarity of the corrected onto the exact
camera centres, when transforms_gt.json is there: held-out views inherit the gauge of the noisy input
rig, and this figure takes it out, as BARF reports) and ``turntable`` (12 azimuths x 2 elevations).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..runtime.errors import InputError

ENGINES = ("CYCLES", "BLENDER_EEVEE", "BLENDER_WORKBENCH")
ENGINE_ALIASES = {"EEVEE": "BLENDER_EEVEE", "WORKBENCH": "BLENDER_WORKBENCH"}
SUMMARY_KEYS = ("iou", "psnr", "iou_aligned", "psnr_aligned", "ssim", "chamfer_l1_rel", "fscore_2",
                "cam_rot_deg_before", "cam_rot_deg_after")


def default_log(msg: str) -> None:
    print(f"[evaluate] {msg}", flush=True)


def dataset_info(dataset: Path) -> dict:
    """DATASET/dataset.json (written by render_dataset: render settings, framing), or {} when absent."""
    try:
        info = json.loads((Path(dataset) / "dataset.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def corrected_cameras(cameras, names, result: dict):
    """``cameras`` (Cameras of the named views) with K, R, t replaced by result.json's corrected
    ``cameras`` where it has an entry of the same name (intrinsics rescaled from result.json's
    ``image_size`` to these images). Returns (Cameras, how many were replaced)."""
    import torch

    from .cameras import cameras_from_result_entries
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


def turntable_layout(azimuths: int, elevations) -> list[tuple[float, float]]:
    """(azimuth, elevation) degrees, ring by ring, ``azimuths`` evenly spaced views per elevation."""
    return [(360.0 * k / azimuths, float(e)) for e in elevations for k in range(azimuths)]


@dataclass
class EvaluationPlan:
    """Everything an evaluation needs besides the renders (see :func:`plan_evaluation`)."""

    result_dir: Path
    dataset_dir: Path
    out_dir: Path
    gt_mesh_path: Path | None
    result: dict
    settings: dict
    held: object            # MultiViewDataset of the held-out (or training) views
    photos: list            # image stacks of every photo (training + held-out), for KID / FID
    background: np.ndarray
    pred: object            # TexturedMesh of the result
    gt: object              # TexturedMesh of the ground truth, or None
    center: np.ndarray      # the object's centre (turntable target, camera-distance reference)
    distance: float         # turntable camera distance
    turntable_focal: float  # pixels, at settings["turntable_size"]
    camera_sets: dict = field(default_factory=dict)  # label -> (K, R, t, width, height), numpy
    cameras: dict | None = None      # texforge.eval.cameras.before_after_errors, or None
    alignment: dict | None = None    # texforge.eval.cameras.align_result_cameras, or None
    missing: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    started: float = 0.0

    @property
    def mesh_path(self) -> Path:
        return self.result_dir / "mesh.glb"

    def turntable_K(self, count: int) -> np.ndarray:
        size = self.settings["turntable_size"]
        K = np.array([[self.turntable_focal, 0, size / 2], [0, self.turntable_focal, size / 2], [0, 0, 1.0]])
        return np.repeat(K[None], count, axis=0)


def _check_inputs(result_dir: Path, dataset_dir: Path, out_dir: Path, gt_mesh,
                  overwrite: bool) -> tuple[dict, Path | None]:
    for p in (result_dir / "mesh.glb", result_dir / "result.json"):
        if not p.is_file():
            raise InputError(f"result folder '{result_dir}' has no {p.name}")
    if not (dataset_dir / "transforms.json").is_file():
        raise InputError(f"dataset folder '{dataset_dir}' has no transforms.json")
    if out_dir.resolve() in (result_dir.resolve(), dataset_dir.resolve()):
        raise InputError("--out must be a new folder, not the result or dataset folder")
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"--out {out_dir} exists and is not a folder")
    if not overwrite and out_dir.is_dir() and any(out_dir.iterdir()):
        raise InputError(f"--out {out_dir} already exists and is not empty; choose a new folder")
    try:
        result = json.loads((result_dir / "result.json").read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{result_dir / 'result.json'}: not valid JSON ({e})") from e
    if gt_mesh is None and (dataset_dir / "gt_mesh.ply").is_file():
        gt_mesh = dataset_dir / "gt_mesh.ply"
    gt_mesh = Path(gt_mesh) if gt_mesh is not None else None
    if gt_mesh is not None and not gt_mesh.is_file():
        raise InputError(f"ground-truth mesh not found: {gt_mesh}")
    return result, gt_mesh


def plan_evaluation(result_dir, dataset_dir, out_dir, gt_mesh=None, engine: str = "CYCLES",
                    samples: int | None = None, lighting: str | None = None, seed: int = 0,
                    turntable_size: int = 48, azimuths: int = 12, elevations=(10.0, 35.0), log=default_log,
                    overwrite: bool = False) -> EvaluationPlan:
    """Check and load the inputs; the plan's ``camera_sets`` say what to render besides the turntable.

    Raises InputError naming the missing or bad file (nothing is written). ``out_dir`` must not exist
    or be empty unless ``overwrite`` (then it is replaced once the new report is complete)."""
    from ..data.transforms_io import load_dataset
    from ..mesh.io import load_mesh
    from . import cameras as cam_err

    started = time.perf_counter()
    result_dir, dataset_dir, out_dir = Path(result_dir), Path(dataset_dir), Path(out_dir)
    result, gt_mesh = _check_inputs(result_dir, dataset_dir, out_dir, gt_mesh, overwrite)
    info = dataset_info(dataset_dir)
    known = info.get("args", {}) if isinstance(info.get("args"), dict) else {}
    engine = ENGINE_ALIASES.get(engine.upper(), engine.upper())
    if engine not in ENGINES:
        raise InputError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    # Samples and pixel filter as the photos were rendered. Lighting is flat by default whatever lit the
    # photos: a reconstructed texture already holds the photographed shading, and lighting it again
    # applies the shading twice (measured on the demo: 21.8 dB studio vs 24.1 dB flat for one result).
    settings = {"engine": engine, "samples": int(samples or known.get("samples", 16)),
                "lighting": lighting or "flat", "seed": seed, "pixel_filter": known.get("pixel_filter"),
                "turntable_size": turntable_size, "azimuths": azimuths, "elevations_deg": list(elevations)}

    t0 = time.perf_counter()
    split = "test" if (dataset_dir / "transforms_test.json").is_file() else "train"
    held = load_dataset(dataset_dir, split)
    train = load_dataset(dataset_dir, "train") if split == "test" else held
    background = held.background if held.background is not None else np.zeros(3, np.float32)
    pred = load_mesh(result_dir / "mesh.glb")
    gt = load_mesh(gt_mesh) if gt_mesh is not None else None
    load_s = time.perf_counter() - t0
    log(f"{len(held)} held-out views ({split} split) at {held.cameras.width}x{held.cameras.height}, "
        f"result mesh {len(pred.vertices)} vertices, gt mesh {'none' if gt is None else len(gt.vertices)}")

    hc = held.cameras
    W, H = hc.width, hc.height
    view_cameras = "exact held-out cameras (transforms_test.json)"
    if split == "train":
        # No held-out views: judge the training views through the result's corrected cameras (the
        # noisy input cameras would charge the reconstruction with the input's camera error).
        hc, used = corrected_cameras(hc, held.names, result)
        view_cameras = (f"the result's corrected cameras ({used} of {len(held)} views; input cameras for the rest)"
                        if used else "the input cameras (result.json has no corrected cameras for these views)")
    # Turntable: the dataset's framing (centre, distance, field of view) when known, else the object's
    # bounding-box centre, the held-out cameras' distance and field of view.
    fr = info.get("framing", {}) if isinstance(info.get("framing"), dict) else {}
    verts = (gt if gt is not None else pred).vertices
    center = np.asarray(fr["center"], float) if "center" in fr else (verts.min(0) + verts.max(0)) / 2.0
    dist = float(fr.get("distance") or np.median(np.linalg.norm(hc.centers.double().numpy() - center, axis=1)))
    fov = float(fr.get("fov_x_deg") or np.degrees(2 * np.arctan(0.5 * W / float(hc.K[0, 0, 0]))))
    K, R, t = hc.K.double().numpy(), hc.R.double().numpy(), hc.t.double().numpy()
    camera_sets = {"heldout": (K, R, t, W, H)}

    missing: dict[str, str] = {}
    cams = alignment = None
    gt_cams_path = dataset_dir / "transforms_gt.json"
    if gt_cams_path.is_file():
        exact = cam_err.cameras_from_transforms(gt_cams_path)
        cams = cam_err.before_after_errors(result, exact, center=center)
        alignment = cam_err.align_result_cameras(result, exact)
    if alignment is None:
        why = ("no transforms_gt.json in the dataset" if cams is None
               else "fewer than 3 unpruned corrected cameras match transforms_gt.json")
        missing.update(iou_aligned=why, psnr_aligned=why)
    elif split == "train":
        missing.update(iou_aligned="no held-out views (transforms_test.json)",
                       psnr_aligned="no held-out views (transforms_test.json)")
        alignment["applied"] = False
    else:
        Ra, ta = cam_err.transform_cameras(R, t, alignment["scale"], alignment["rotation"], alignment["translation"])
        camera_sets["heldout_aligned"] = (K, Ra, ta, W, H)
        alignment["applied"] = True
    settings.update(heldout_split=split, view_cameras=view_cameras, background=[float(x) for x in background])
    return EvaluationPlan(
        result_dir=result_dir, dataset_dir=dataset_dir, out_dir=out_dir, gt_mesh_path=gt_mesh, result=result,
        settings=settings, held=held, photos=[train.images, held.images] if train is not held else [held.images],
        background=background, pred=pred, gt=gt, center=center, distance=dist,
        turntable_focal=0.5 * turntable_size / np.tan(np.radians(fov) / 2), camera_sets=camera_sets,
        cameras=cams, alignment=alignment, missing=missing, timings={"load": load_s}, started=started)


def _camera_metrics(cams: dict | None, missing: dict) -> dict:
    out = {}
    for when in ("before", "after"):
        e = (cams or {}).get(when)
        out[f"cam_rot_deg_{when}"] = e["rot_deg_mean"] if e else None
        out[f"cam_trans_rel_{when}"] = e["trans_rel_mean"] if e else None
        if not e or e["rot_deg_mean"] is None:
            why = ("no transforms_gt.json in the dataset" if cams is None else
                   f"result.json has no {'input_cameras' if when == 'before' else 'cameras'} matching it")
            missing[f"cam_rot_deg_{when}"] = missing[f"cam_trans_rel_{when}"] = why
    return out


def score_renders(plan: EvaluationPlan, renders: dict, folder: Path, texture_renders: dict | None = None) -> dict:
    """The report of ``renders`` ({label: (N, H, W, 4) RGBA}, one per camera set plus ``turntable``),
    with its pictures written under ``folder``/images. ``texture_renders`` ({name: RGBA} of the held-out
    cameras, the result mesh with another texture) get the result texture's realism figures too."""
    from ..data.images import write_png
    from . import images as eimg
    from . import scores
    from .report import FEATURES_NAME, REPORT_VERSION

    timings, missing, held = dict(plan.timings), dict(plan.missing), plan.held
    t0 = time.perf_counter()
    held_rgb = eimg.composite(renders["heldout"], plan.background)
    turn_rgb = eimg.composite(renders["turntable"], plan.background)
    per_view, image_means = scores.view_metrics(held.images, held.masks, held_rgb, renders["heldout"][..., 3])
    per_view = [{"name": name, **v} for name, v in zip(held.names, per_view)]
    aligned = {"iou_aligned": None, "psnr_aligned": None}
    if "heldout_aligned" in renders:
        rgba = renders["heldout_aligned"]
        per_aligned = scores.mask_and_psnr(held.images, held.masks, eimg.composite(rgba, plan.background),
                                           rgba[..., 3])
        for v, a in zip(per_view, per_aligned):
            v.update(iou_aligned=a["iou"], psnr_aligned=a["psnr"])
        aligned = {f"{k}_aligned": float(np.mean([a[k] for a in per_aligned])) for k in ("iou", "psnr")}
    # KID / FID-style: every photo (training + held-out) against every render (held-out + turntable)
    fakes = [held_rgb, turn_rgb]
    set_m = scores.set_metrics(plan.photos, fakes)
    from .texture_realism import score_textures
    realism = score_textures(held.images, held.masks, {"result": renders["heldout"], **(texture_renders or {})},
                             plan.background)
    timings["image_metrics"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if plan.gt is not None:
        geo, geo_details = scores.geometry_metrics(plan.pred, plan.gt, seed=plan.settings["seed"])
    else:
        geo, geo_details = {k: None for k in scores.GEOMETRY_KEYS}, None
        missing.update({k: "no ground-truth mesh" for k in scores.GEOMETRY_KEYS})
    timings["geometry_metrics"] = time.perf_counter() - t0
    cam_metrics = _camera_metrics(plan.cameras, missing)

    view_images = []
    for i, v in enumerate(per_view):
        rel = f"images/view_{i:03d}.png"
        write_png(folder / rel, eimg.contact_row(held.images[i], held_rgb[i]))
        v["image"] = rel
        view_images.append(rel)
    write_png(folder / "images" / "turntable.png", eimg.turntable_strip(turn_rgb, plan.settings["azimuths"]))

    timings["total"] = time.perf_counter() - plan.started
    return {
        "version": REPORT_VERSION, "kind": "texforge.evaluation",
        "result": str(plan.result_dir), "dataset": str(plan.dataset_dir),
        "gt_mesh": str(plan.gt_mesh_path) if plan.gt_mesh_path else None,
        "settings": plan.settings,
        "features": FEATURES_NAME,
        "feature_sets": {"real": f"{sum(map(len, plan.photos))} photos (training + held-out)",
                         "fake": f"{sum(map(len, fakes))} renders (held-out + turntable)",
                         "embedding": "pooled 1280-d EffNet-Lite0 (ImageNet) head activation at 224 px"},
        "geometry": geo_details,
        "metrics": {**image_means, **aligned, **set_m, **geo, **cam_metrics}, "missing": missing,
        "texture_realism": realism,
        "per_view": per_view, "cameras": plan.cameras, "alignment": plan.alignment,
        "images": {"views": view_images, "turntable": "images/turntable.png"},
        "timings": timings,
        "counts": {"heldout_views": len(held), "photos": sum(map(len, plan.photos)), "turntable_views": len(turn_rgb),
                   "result_vertices": len(plan.pred.vertices), "result_faces": len(plan.pred.faces)},
    }


def write_evaluation(plan: EvaluationPlan, renders: dict, overwrite: bool = False, log=default_log,
                     texture_renders: dict | None = None) -> dict:
    """Score ``renders`` and write report.json, report.html and images/ to ``plan.out_dir`` through a
    temporary folder + rename (texforge.atomic.atomic_folder). Returns the report; its ``problems``
    (when present) list what texforge.eval.report.validate_report found wrong."""
    from ..atomic import atomic_folder
    from .html import write_report_html
    from .report import validate_report, write_json_atomic

    with atomic_folder(plan.out_dir, overwrite=overwrite) as tmp:
        report = score_renders(plan, renders, tmp, texture_renders)
        problems = validate_report(report, tmp)
        if problems:
            report["problems"] = problems
            log("WARNING: " + "; ".join(problems))
        write_json_atomic(tmp / "report.json", report)
        write_report_html(report, tmp)
    log(f"wrote {plan.out_dir / 'report.json'} and report.html in {report['timings']['total']:.1f}s")
    return report


def summary_line(metrics: dict) -> str:
    return "  ".join(f"{k}={metrics[k]:.4g}" for k in SUMMARY_KEYS if metrics.get(k) is not None)
