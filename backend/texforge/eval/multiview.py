"""Quality figures of a multi-view result folder against a dataset with known ground truth, rendered with
the project's own renderer (no Blender): the figures of docs/BENCHMARKS.md and tests/test_multiview_quality.py.

* held-out views (DATASET/transforms_test.json, exact cameras): hard mask IoU and whole-image PSNR
  (texforge.metrics.image), rendered 2x supersampled and composited over the dataset background; and
  the same with the held-out cameras moved into the reconstruction's frame by the Procrustes
  similarity of the corrected onto the exact camera centres (``*_aligned``, BARF's protocol);
* Chamfer-L1 (relative to the ground-truth bbox diagonal), F-score at 1 % / 2 % and normal consistency
  against DATASET/gt_mesh.ply (texforge.metrics.geometry);
* camera rotation error (degrees) and centre error (fraction of the camera's distance to the object
  centre) of the input and the corrected cameras against DATASET/transforms_gt.json over the unpruned
  views (texforge.eval.cameras), raw and with each rig similarity-aligned to the exact one
  (``rot_err_aligned_*``: the raw errors of a perfect fit keep the input rig's similarity error), and
  the mean relative focal-length error (``focal_err_rel_*``, raw);
* the pruned frames and whether they are the dataset's flipped frames (dataset.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def heldout_figures(mesh, test, cameras=None, supersample: int = 2) -> dict:
    """Per-view hard IoU and PSNR of ``mesh`` (TexturedMesh) rendered through ``cameras`` (default: the
    held-out dataset ``test``'s own) against ``test``'s photos and masks. Returns {"iou": [...], "psnr": [...]}."""
    import torch

    from ..metrics.image import supersampled_view_scores
    from ..render.renderer import render_mesh

    cams = test.cameras if cameras is None else cameras
    w, h = cams.width, cams.height
    tex = torch.as_tensor(mesh.texture).permute(2, 0, 1).unsqueeze(0).float()
    out = render_mesh(torch.as_tensor(mesh.vertices), torch.as_tensor(mesh.faces),
                      cams.resized(w * supersample, h * supersample), uvs=torch.as_tensor(mesh.uvs),
                      face_uvs=torch.as_tensor(mesh.face_uvs), texture=tex, soft_mask=False)
    bg = torch.as_tensor(test.background if test.background is not None else [0.0, 0.0, 0.0]).float()
    ious, psnr = supersampled_view_scores(out.rgb, out.hard_mask, bg, test.images, torch.as_tensor(test.masks),
                                          supersample)
    return {"iou": [float(x) for x in ious], "psnr": psnr}


def figure_summary(prefix: str, per_view: dict) -> dict:
    iou, ps = np.asarray(per_view["iou"]), np.asarray(per_view["psnr"])
    return {f"{prefix}_iou_mean": float(iou.mean()), f"{prefix}_iou_min": float(iou.min()),
            f"{prefix}_psnr_mean": float(ps.mean()), f"{prefix}_psnr_min": float(ps.min())}


def object_center(dataset: Path) -> np.ndarray:
    from .evaluation import dataset_info
    fr = dataset_info(dataset).get("framing", {})
    return np.asarray(fr["center"], float) if isinstance(fr, dict) and "center" in fr else np.zeros(3)


def camera_figures(result: dict, exact: dict, center) -> dict:
    """Mean rotation / centre errors before and after refinement (texforge.eval.cameras), their ratio;
    raw, and with each rig similarity-aligned to the exact one (``*_aligned_*``: the part a fit can correct)."""
    from .cameras import before_after_errors
    ba = before_after_errors(result, exact, center=center)
    out = {}
    for kind in ("", "_aligned"):
        for when in ("before", "after"):
            e = ba.get(when + kind) or {}
            out[f"rot_err{kind}_deg_{when}"] = e.get("rot_deg_mean")
            out[f"centre_err{kind}_rel_{when}"] = e.get("trans_rel_mean")
            if not kind:
                out[f"focal_err_rel_{when}"] = e.get("focal_rel_mean")
        before, after = out[f"rot_err{kind}_deg_before"], out[f"rot_err{kind}_deg_after"]
        if before is not None and after is not None:
            out[f"rot_err{kind}_ratio"] = after / max(before, 1e-9)
    return out


def quality_figures(result_dir, dataset) -> dict:
    """Every figure of the module docstring for one result folder (needs transforms_test.json and
    gt_mesh.ply in ``dataset``; transforms_gt.json and dataset.json are used when present)."""
    import torch

    from ..data.transforms_io import load_dataset
    from ..mesh.io import load_mesh
    from ..metrics.geometry import chamfer_fscore
    from .cameras import align_result_cameras, cameras_from_transforms, transform_cameras

    result_dir, dataset = Path(result_dir), Path(dataset)
    result = json.loads((result_dir / "result.json").read_text())
    mesh = load_mesh(result_dir / "mesh.glb")
    test = load_dataset(dataset, split="test")
    raw = heldout_figures(mesh, test)
    figures: dict = {"dataset": str(dataset), **figure_summary("heldout", raw)}
    alignment = None
    if (dataset / "transforms_gt.json").is_file():
        exact = cameras_from_transforms(dataset / "transforms_gt.json")
        figures.update(camera_figures(result, exact, object_center(dataset)))
        alignment = align_result_cameras(result, exact)
    if alignment is not None:
        c = test.cameras
        R, t = transform_cameras(c.R.double().numpy(), c.t.double().numpy(), alignment["scale"],
                                 alignment["rotation"], alignment["translation"])
        moved = type(c)(c.K, torch.as_tensor(R, dtype=c.R.dtype), torch.as_tensor(t, dtype=c.t.dtype), c.width, c.height)
        aligned = heldout_figures(mesh, test, moved)
        figures.update({k.replace("heldout_", "heldout_aligned_"): v for k, v in figure_summary("heldout", aligned).items()})
        figures["alignment"] = {k: alignment[k] for k in ("scale", "matched", "centre_rms_before", "centre_rms_after")}
    figures["heldout_iou"] = [round(x, 4) for x in raw["iou"]]
    figures["heldout_psnr"] = [round(x, 2) for x in raw["psnr"]]
    geo = chamfer_fscore(mesh, load_mesh(dataset / "gt_mesh.ply"), n=20000, thresholds=(0.01, 0.02))
    figures.update({k: geo[k] for k in ("chamfer_l1_rel", "fscore@1%", "fscore@2%", "normal_consistency")})
    figures["pruned"] = [p["name"] for p in result.get("pruned", [])]
    meta = dataset / "dataset.json"
    if meta.is_file():
        flipped = json.loads(meta.read_text()).get("flipped_frames", [])
        figures["flipped"] = flipped
        figures["flipped_all_pruned"] = all(f in figures["pruned"] for f in flipped)
    figures["timings"] = result.get("timings", {})
    figures["train_iou_mean"] = result.get("metrics", {}).get("train_iou_mean")
    figures["train_psnr_mean"] = result.get("metrics", {}).get("train_psnr_mean")
    return figures
