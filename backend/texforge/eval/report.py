"""The report.json schema of scripts/evaluate.py, its sanity checks, and atomic JSON writing.

report.json (version 1):
  version, kind="texforge.evaluation", result, dataset, gt_mesh (paths as given), settings {engine,
  samples, lighting, seed, turntable_size, ...}, features (the backbone behind perceptual/KID/FID),
  metrics {key: float or null} (keys in METRICS), missing {key: why it is null},
  per_view [{name, iou, psnr, ssim, perceptual, image, iou_aligned, psnr_aligned}], cameras {before,
  after, pruned} (see texforge.eval.cameras.before_after_errors; null without exact cameras), alignment
  (texforge.eval.cameras.align_result_cameras + applied; null without exact cameras), images {views: [...],
  turntable}, timings {stage: seconds}, counts {...}, texture_realism {texture name ("result" = the result's
  own texture, then any extra textures): {kid, kid_std, fid, psnr, iou, views, features}} (held-out views;
  see texforge.eval.texture_realism).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..atomic import write_text

REPORT_VERSION = 1
FEATURES_NAME = "EffNet-Lite0 features"
PSNR_CAP = 100.0  # dB; texforge.metrics.image.psnr caps identical images there (JSON has no infinity)

INF = math.inf
# key: (label, low, high, better) ; better is "higher" or "lower"
METRICS: dict[str, tuple[str, float, float, str]] = {
    "iou": ("mask IoU (held-out views)", 0.0, 1.0, "higher"),
    "psnr": ("PSNR dB (held-out views)", 0.0, PSNR_CAP, "higher"),
    "iou_aligned": ("mask IoU (held-out views, cameras Procrustes-aligned)", 0.0, 1.0, "higher"),
    "psnr_aligned": ("PSNR dB (held-out views, cameras Procrustes-aligned)", 0.0, PSNR_CAP, "higher"),
    "ssim": ("SSIM (held-out views)", -1.0, 1.0, "higher"),
    "perceptual": (f"perceptual distance ({FEATURES_NAME})", 0.0, INF, "lower"),
    "kid": (f"KID ({FEATURES_NAME})", -1.0, INF, "lower"),
    "fid": (f"FID-style distance ({FEATURES_NAME}, not Inception FID)", -1e-3, INF, "lower"),
    "chamfer_l1": ("Chamfer-L1 (mean distance, scene units)", 0.0, INF, "lower"),
    "chamfer_l1_rel": ("Chamfer-L1 / gt bbox diagonal", 0.0, INF, "lower"),
    "chamfer_l2": ("Chamfer-L2 (mean squared distance, scene units^2)", 0.0, INF, "lower"),
    "fscore_0.5": ("F-score @ 0.5% of the gt bbox diagonal", 0.0, 1.0, "higher"),
    "fscore_1": ("F-score @ 1% of the gt bbox diagonal", 0.0, 1.0, "higher"),
    "fscore_2": ("F-score @ 2% of the gt bbox diagonal", 0.0, 1.0, "higher"),
    "normal_consistency": ("normal consistency", -1.0, 1.0, "higher"),
    "cam_rot_deg_before": ("camera rotation error before, deg (mean)", 0.0, 180.0, "lower"),
    "cam_rot_deg_after": ("camera rotation error after, deg (mean)", 0.0, 180.0, "lower"),
    "cam_trans_rel_before": ("camera centre error before (fraction of distance)", 0.0, INF, "lower"),
    "cam_trans_rel_after": ("camera centre error after (fraction of distance)", 0.0, INF, "lower"),
}


def check_metric(key: str, value) -> str | None:
    """None when ``value`` is a sane value of metric ``key``, else a message saying what is wrong."""
    if key not in METRICS:
        return f"unknown metric '{key}'"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"metric '{key}' is not a number: {value!r}"
    _, lo, hi, _ = METRICS[key]
    if not math.isfinite(value):
        return f"metric '{key}' is not finite: {value}"
    if not (lo - 1e-9 <= value <= hi + 1e-9):
        return f"metric '{key}' = {value} is outside [{lo}, {hi}]"
    return None


def validate_report(report: dict, out_dir=None) -> list[str]:
    """Problems with a report dict (empty list = fine): every metric key present, each value finite
    and in range or null with a reason in ``missing``, per-view values in range, and (when
    ``out_dir`` is given) every referenced image present."""
    problems = []
    if report.get("version") != REPORT_VERSION:
        problems.append(f"report version {report.get('version')!r} != {REPORT_VERSION}")
    metrics = report.get("metrics", {})
    missing = report.get("missing", {})
    for key in METRICS:
        if key not in metrics:
            problems.append(f"metric '{key}' absent")
        elif metrics[key] is None and key not in missing:
            problems.append(f"metric '{key}' is null without a reason in 'missing'")
        else:
            msg = check_metric(key, metrics[key])
            if msg:
                problems.append(msg)
    for v in report.get("per_view", []):
        for key in ("iou", "psnr", "ssim", "perceptual", "iou_aligned", "psnr_aligned"):
            msg = check_metric(key, v.get(key))
            if msg:
                problems.append(f"view '{v.get('name')}': {msg}")
    if out_dir is not None:
        for rel in referenced_images(report):
            if not (Path(out_dir) / rel).is_file():
                problems.append(f"image '{rel}' referenced by the report does not exist")
    return problems


def referenced_images(report: dict) -> list[str]:
    imgs = report.get("images", {})
    out = [v for v in imgs.get("views", []) if v]
    if imgs.get("turntable"):
        out.append(imgs["turntable"])
    return out


def _clean(obj):
    """NaN/inf -> None recursively (json.dump would write invalid JSON), numpy scalars -> float."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json_atomic(path, data) -> Path:
    """Write JSON (NaN-free) via a temp file in the same folder + os.replace."""
    return write_text(path, json.dumps(_clean(data), indent=1, allow_nan=False) + "\n")
