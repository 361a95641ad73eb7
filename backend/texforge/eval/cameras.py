"""Camera errors of a reconstruction: estimated (corrected / input) cameras vs the exact ones.

Cameras are matched by name (the frame's ``file_path``, as in transforms.json and result.json).
Errors per view:
* ``rot_deg``: geodesic angle between the world-to-camera rotations, degrees;
* ``trans``: distance between the camera centres, scene units (metres);
* ``trans_rel``: ``trans`` divided by the exact camera's distance to ``center`` (the object centre),
  i.e. the same "fraction of the camera distance" that scripts/render_dataset.py --noise-trans uses;
* ``focal_rel``: |fx_est / fx_gt - 1|.
No alignment (similarity transform) is applied first: the pipelines fix the gauge to the input
cameras, so the estimated cameras live in the ground truth's world frame.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ..render.camera import c2w_gl_to_rt, transforms_intrinsics
from ..render.pose import rotation_angle_deg


def cameras_from_result_entries(entries: list[dict], what: str = "cameras") -> dict[str, dict]:
    """result.json ``cameras`` / ``input_cameras`` list -> {name: {"K", "R", "t"}} (float64 arrays).

    Each entry needs ``name`` and either ``R`` + ``t`` or ``transform_matrix``; ``K`` is optional."""
    out: dict[str, dict] = {}
    for i, e in enumerate(entries or []):
        name = e.get("name")
        if name is None:
            raise ValueError(f"result.json {what}[{i}] has no 'name'")
        if "R" in e and "t" in e:
            R, t = np.asarray(e["R"], dtype=np.float64), np.asarray(e["t"], dtype=np.float64)
        elif "transform_matrix" in e:
            R, t = c2w_gl_to_rt(e["transform_matrix"])
        else:
            raise ValueError(f"result.json {what}[{i}] ('{name}') has neither R/t nor transform_matrix")
        if R.shape != (3, 3) or t.shape != (3,) or not (np.all(np.isfinite(R)) and np.all(np.isfinite(t))):
            raise ValueError(f"result.json {what}[{i}] ('{name}'): R must be a finite 3x3, t a finite 3-vector")
        K = np.asarray(e["K"], dtype=np.float64) if e.get("K") is not None else None
        out[str(name)] = {"K": K, "R": R, "t": t}
    return out


def cameras_from_transforms(path) -> dict[str, dict]:
    """A transforms*.json file -> {file_path: {"K", "R", "t"}} (K None when the size is unknown)."""
    path = Path(path)
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read camera file ({e})") from e
    out = {}
    for i, f in enumerate(meta.get("frames", [])):
        name = f.get("file_path")
        if name is None or "transform_matrix" not in f:
            raise ValueError(f"{path}: frames[{i}] needs file_path and transform_matrix")
        R, t = c2w_gl_to_rt(f["transform_matrix"])
        try:
            K, _, _ = transforms_intrinsics(meta, f)
        except ValueError:
            K = None
        out[str(name)] = {"K": K, "R": R, "t": t}
    return out


def _center(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    return -R.T @ t


def camera_errors(estimated: dict[str, dict], exact: dict[str, dict], center=None) -> dict:
    """Per-view and summary errors of ``estimated`` against ``exact`` (both {name: {"K","R","t"}}).

    Returns {"per_view": [{name, rot_deg, trans, trans_rel, focal_rel}], "matched": n,
    "missing": [names in exact without an estimate], "rot_deg_mean", "rot_deg_median", "rot_deg_max",
    "trans_mean", "trans_rel_mean", "trans_rel_max", "focal_rel_mean"} (means None when nothing matched).
    """
    center = np.zeros(3) if center is None else np.asarray(center, dtype=np.float64)
    names = [n for n in exact if n in estimated]
    per_view = []
    if names:
        Re = torch.as_tensor(np.stack([estimated[n]["R"] for n in names]), dtype=torch.float64)
        Rg = torch.as_tensor(np.stack([exact[n]["R"] for n in names]), dtype=torch.float64)
        rot = rotation_angle_deg(Re, Rg).numpy()
        for i, n in enumerate(names):
            ce = _center(estimated[n]["R"], estimated[n]["t"])
            cg = _center(exact[n]["R"], exact[n]["t"])
            d = float(np.linalg.norm(ce - cg))
            dist = float(np.linalg.norm(cg - center))
            Ke, Kg = estimated[n]["K"], exact[n]["K"]
            focal = None
            if Ke is not None and Kg is not None:
                focal = float(abs(Ke[0, 0] / Kg[0, 0] - 1.0))
            per_view.append({"name": n, "rot_deg": float(rot[i]), "trans": d,
                             "trans_rel": d / dist if dist > 1e-12 else None, "focal_rel": focal})

    def stat(key, fn):
        vals = [v[key] for v in per_view if v[key] is not None]
        return float(fn(vals)) if vals else None

    return {
        "matched": len(per_view),
        "missing": [n for n in exact if n not in estimated],
        "rot_deg_mean": stat("rot_deg", np.mean), "rot_deg_median": stat("rot_deg", np.median),
        "rot_deg_max": stat("rot_deg", np.max),
        "trans_mean": stat("trans", np.mean), "trans_rel_mean": stat("trans_rel", np.mean),
        "trans_rel_max": stat("trans_rel", np.max), "focal_rel_mean": stat("focal_rel", np.mean),
        "per_view": per_view,
    }


def before_after_errors(result: dict, exact: dict[str, dict], center=None) -> dict:
    """Camera errors of result.json's ``input_cameras`` (before refinement) and ``cameras`` (after)
    against the exact cameras. Frames the pipeline pruned (result.json ``pruned``) are listed but left
    out of both, so before and after are means over the same views."""
    pruned = {p.get("name") for p in result.get("pruned", []) or []}
    kept = {n: v for n, v in exact.items() if n not in pruned}
    out = {"pruned": sorted(n for n in pruned if n)}
    for key, field in (("before", "input_cameras"), ("after", "cameras")):
        if not result.get(field):
            out[key] = None
            continue
        out[key] = camera_errors(cameras_from_result_entries(result[field], field), kept, center)
    return out


def finite_or_none(x):
    """float(x) when finite, else None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
