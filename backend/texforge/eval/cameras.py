"""Camera errors of a reconstruction: estimated (corrected / input) cameras vs the exact ones.

Cameras are matched by name (the frame's ``file_path``, as in transforms.json and result.json).
Errors per view:
* ``rot_deg``: geodesic angle between the world-to-camera rotations, degrees;
* ``trans``: distance between the camera centres, scene units (metres);
* ``trans_rel``: ``trans`` divided by the exact camera's distance to ``center`` (the object centre),
  i.e. the same "fraction of the camera distance" that scripts/render_dataset.py --noise-trans uses;
* ``focal_rel``: |fx_est / fx_gt - 1|.
These raw errors apply no alignment: the pipelines fix the gauge to the input cameras, so the estimated
cameras live in the ground truth's world frame, up to the gauge error of the noisy input rig.
:func:`umeyama` / :func:`align_result_cameras` give the similarity (scale, rotation, translation) that
best maps the corrected camera centres onto the exact ones (BARF's protocol: Procrustes on the camera
centres); :func:`transform_cameras` moves cameras between the two frames, e.g. the held-out cameras into
the reconstruction's frame before rendering the aligned held-out figure.
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
    against the exact cameras, raw (``before`` / ``after``) and after each rig's own similarity
    alignment (``before_aligned`` / ``after_aligned``, :func:`similarity_aligned`). Frames the pipeline
    pruned (result.json ``pruned``) are listed but left out of all, so each is a mean over the same views."""
    pruned = {p.get("name") for p in result.get("pruned", []) or []}
    kept = {n: v for n, v in exact.items() if n not in pruned}
    out = {"pruned": sorted(n for n in pruned if n)}
    for key, field in (("before", "input_cameras"), ("after", "cameras")):
        out[key] = out[f"{key}_aligned"] = None
        if not result.get(field):
            continue
        estimated = cameras_from_result_entries(result[field], field)
        out[key] = camera_errors(estimated, kept, center)
        moved = similarity_aligned(estimated, kept)
        if moved is not None:
            out[f"{key}_aligned"] = camera_errors(moved, kept, center)
    return out


def similarity_aligned(estimated: dict[str, dict], exact: dict[str, dict]) -> dict[str, dict] | None:
    """The ``estimated`` cameras (those also in ``exact``) moved into the exact cameras' frame by the
    similarity that best maps their centres onto the exact ones; None with fewer than 3 such cameras
    (or all on a line). Their errors are what a fit could correct: a rig cannot see its own similarity
    transform, so the raw errors of even a perfect fit keep that part of the input rig's noise."""
    names = [n for n in exact if n in estimated]
    fit = _similarity_or_none(_centres(estimated, names), _centres(exact, names))
    if fit is None:
        return None
    s, Rs, ts = fit
    R, t = transform_cameras(np.stack([estimated[n]["R"] for n in names]),
                             np.stack([estimated[n]["t"] for n in names]), *invert_similarity(s, Rs, ts))
    return {n: {**estimated[n], "R": R[i], "t": t[i]} for i, n in enumerate(names)}


def umeyama(src, dst, with_scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s R src + t`` between matched points (N, 3), N >= 3 not all on
    a line (Umeyama 1991, reflections excluded). Returns (s, R (3, 3), t (3,)), float64."""
    src, dst = np.asarray(src, np.float64).reshape(-1, 3), np.asarray(dst, np.float64).reshape(-1, 3)
    if len(src) != len(dst) or len(src) < 3:
        raise ValueError(f"umeyama: needs >= 3 matched points, got {len(src)} and {len(dst)}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    U, D, Vt = np.linalg.svd(xd.T @ xs / len(src))
    if D[1] <= 1e-12 * max(D[0], 1e-300):
        raise ValueError("umeyama: the points are (nearly) collinear; the rotation is undetermined")
    S = np.diag([1.0, 1.0, np.sign(np.linalg.det(U) * np.linalg.det(Vt)) or 1.0])
    R = U @ S @ Vt
    s = float(np.trace(np.diag(D) @ S) / (xs ** 2).sum(1).mean()) if with_scale else 1.0
    return s, R, mu_d - s * R @ mu_s


def transform_cameras(R, t, s: float, Rs, ts) -> tuple[np.ndarray, np.ndarray]:
    """Cameras (R (N, 3, 3), t (N, 3), world-to-camera) of frame B re-expressed in frame A, where
    ``x_B = s Rs x_A + ts``: they see the A-frame points exactly as the originals saw the B-frame ones
    (the camera frame is scaled by 1/s, which a pinhole projection ignores; intrinsics are unchanged)."""
    R, t = np.asarray(R, np.float64), np.asarray(t, np.float64)
    Rs, ts = np.asarray(Rs, np.float64), np.asarray(ts, np.float64)
    return R @ Rs, (np.einsum("nij,j->ni", R, ts) + t) / s


def invert_similarity(s: float, R, t) -> tuple[float, np.ndarray, np.ndarray]:
    """The inverse of ``x -> s R x + t``."""
    R = np.asarray(R, np.float64)
    return 1.0 / s, R.T, -(R.T @ np.asarray(t, np.float64)) / s


def align_result_cameras(result: dict, exact: dict[str, dict]) -> dict | None:
    """The similarity that maps result.json's corrected camera centres onto the exact ones, fitted over
    the frames present in both and not pruned. None when fewer than 3 such frames (or all on a line).

    Returns {"scale", "rotation" (3x3 list), "translation" (3 list): x_exact = scale R x_result + t,
    "matched", "centre_rms_before", "centre_rms_after" (scene units)}."""
    est = cameras_from_result_entries(result.get("cameras") or [], "cameras")
    pruned = {p.get("name") for p in result.get("pruned", []) or []}
    names = [n for n in exact if n in est and n not in pruned]
    src, dst = _centres(est, names), _centres(exact, names)
    fit = _similarity_or_none(src, dst)
    if fit is None:
        return None
    s, R, t = fit
    rms = lambda d: float(np.sqrt((np.linalg.norm(d, axis=1) ** 2).mean()))  # noqa: E731
    return {"scale": s, "rotation": R.tolist(), "translation": t.tolist(), "matched": len(names),
            "centre_rms_before": rms(src - dst), "centre_rms_after": rms(s * src @ R.T + t - dst)}


def _centres(cameras: dict[str, dict], names: list[str]) -> np.ndarray:
    return np.asarray([_center(cameras[n]["R"], cameras[n]["t"]) for n in names], np.float64).reshape(-1, 3)


def _similarity_or_none(src: np.ndarray, dst: np.ndarray):
    """:func:`umeyama` of ``src`` onto ``dst``; None for fewer than 3 points or all on a line."""
    if len(src) < 3:
        return None
    try:
        return umeyama(src, dst)
    except ValueError:
        return None


def finite_or_none(x):
    """float(x) when finite, else None (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
