"""Quality figures of a multi-view reconstruction against a dataset with known ground truth.

    python scripts/eval_multiview_quality.py DATASET --result DIR [--json FILE]
    python scripts/eval_multiview_quality.py DATASET --out DIR [--preset small] [--device cpu] [--seed 0]

With ``--out`` the reconstruction runs first (as scripts/reconstruct.py does, wall time measured).
Figures (printed as JSON, and written to ``--json`` when given):
* held-out views (DATASET/transforms_test.json, exact cameras): hard mask IoU and whole-image PSNR,
  rendered with the project's renderer (2x supersampled, composited over the dataset background);
* Chamfer-L1 (relative to the ground-truth bbox diagonal) and F-score at 1 % / 2 % against
  DATASET/gt_mesh.ply (texforge.metrics.geometry);
* camera rotation error (degrees) and centre error (fraction of the mean camera distance) of the
  input and the corrected cameras against DATASET/transforms_gt.json, over the unpruned views;
* the pruned frames and whether they are the dataset's flipped frames (dataset.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def heldout_figures(mesh, dataset: Path, supersample: int = 2) -> dict:
    import torch
    import torch.nn.functional as F

    from texforge.data.transforms_io import load_dataset
    from texforge.losses.silhouette import hard_iou
    from texforge.render.renderer import render_mesh

    test = load_dataset(dataset, split="test")
    w, h = test.cameras.width, test.cameras.height
    cams = test.cameras.resized(w * supersample, h * supersample)
    tex = torch.as_tensor(mesh.texture).permute(2, 0, 1).unsqueeze(0).float()
    out = render_mesh(torch.as_tensor(mesh.vertices), torch.as_tensor(mesh.faces), cams,
                      uvs=torch.as_tensor(mesh.uvs), face_uvs=torch.as_tensor(mesh.face_uvs), texture=tex,
                      soft_mask=False)
    bg = torch.as_tensor(test.background if test.background is not None else [0.0, 0.0, 0.0]).float()
    hard = out.hard_mask.float().unsqueeze(-1)
    comp = out.rgb[..., :3] * hard + bg * (1 - hard)
    comp = F.avg_pool2d(comp.permute(0, 3, 1, 2), supersample).permute(0, 2, 3, 1)
    cover = F.avg_pool2d(hard.permute(0, 3, 1, 2), supersample)[:, 0]
    masks = torch.as_tensor(test.masks)
    images = torch.as_tensor(test.images)
    ious = hard_iou(cover, masks)
    mse = ((comp.clamp(0, 1) - images) ** 2).mean((1, 2, 3))
    psnr = 10 * torch.log10(1 / mse.clamp_min(1e-10))
    return {"heldout_iou_mean": float(ious.mean()), "heldout_iou_min": float(ious.min()),
            "heldout_psnr_mean": float(psnr.mean()), "heldout_psnr_min": float(psnr.min()),
            "heldout_iou": [round(float(x), 4) for x in ious], "heldout_psnr": [round(float(x), 2) for x in psnr]}


def camera_figures(result: dict, dataset: Path) -> dict:
    import numpy as np
    import torch

    from texforge.data.transforms_io import load_dataset
    from texforge.render.pose import rotation_angle_deg

    gt = load_dataset(dataset, split="gt")
    by_name = {n: i for i, n in enumerate(gt.names)}
    pruned = {p["name"] for p in result["pruned"]}
    keep = [k for k, c in enumerate(result["cameras"]) if c["name"] not in pruned and c["name"] in by_name]
    gi = [by_name[result["cameras"][k]["name"]] for k in keep]
    Rg = gt.cameras.R[gi].double()
    cg = gt.cameras.centers[gi].double()
    dist = float(cg.norm(dim=-1).mean())
    out = {}
    for key, label in (("input_cameras", "before"), ("cameras", "after")):
        R = torch.as_tensor(np.array([result[key][k]["R"] for k in keep]))
        t = torch.as_tensor(np.array([result[key][k]["t"] for k in keep]))
        c = -(R.transpose(1, 2) @ t.unsqueeze(-1)).squeeze(-1)
        out[f"rot_err_deg_{label}"] = float(rotation_angle_deg(R, Rg).mean())
        out[f"centre_err_rel_{label}"] = float((c - cg).norm(dim=-1).mean() / dist)
    out["rot_err_ratio"] = out["rot_err_deg_after"] / max(out["rot_err_deg_before"], 1e-9)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="eval_multiview_quality.py")
    p.add_argument("dataset")
    p.add_argument("--result", help="an existing result folder")
    p.add_argument("--out", help="run the reconstruction into this new folder first")
    p.add_argument("--preset", default="small")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(_arguments() if argv is None else argv)
    if bool(args.result) == bool(args.out):
        p.error("give exactly one of --result or --out")
    dataset = Path(args.dataset)
    figures: dict = {"dataset": str(dataset)}
    if args.out:
        import reconstruct  # noqa: E402  (scripts/ is on sys.path when run as a script)

        t0 = time.perf_counter()
        status = reconstruct.main([str(dataset), "--out", args.out, "--preset", args.preset,
                                   "--device", args.device, "--seed", str(args.seed)])
        figures["wall_s"] = round(time.perf_counter() - t0, 1)
        if status:
            print(f"reconstruction failed with status {status}", file=sys.stderr)
            return status
        result_dir = Path(args.out)
    else:
        result_dir = Path(args.result)
    from texforge.mesh.io import load_mesh
    from texforge.metrics.geometry import chamfer_fscore

    result = json.loads((result_dir / "result.json").read_text())
    mesh = load_mesh(result_dir / "mesh.glb")
    figures.update(heldout_figures(mesh, dataset))
    gt_mesh = load_mesh(dataset / "gt_mesh.ply")
    geo = chamfer_fscore(mesh, gt_mesh, n=20000, thresholds=(0.01, 0.02))
    figures.update({"chamfer_l1_rel": geo["chamfer_l1_rel"], "fscore@1%": geo["fscore@1%"],
                    "fscore@2%": geo["fscore@2%"], "normal_consistency": geo["normal_consistency"]})
    if (dataset / "transforms_gt.json").is_file():
        figures.update(camera_figures(result, dataset))
    figures["pruned"] = [p["name"] for p in result["pruned"]]
    meta = dataset / "dataset.json"
    if meta.is_file():
        flipped = json.loads(meta.read_text()).get("flipped_frames", [])
        figures["flipped"] = flipped
        figures["flipped_all_pruned"] = all(f in figures["pruned"] for f in flipped)
    figures["timings"] = result.get("timings", {})
    figures["train_iou_mean"] = result["metrics"].get("train_iou_mean")
    figures["train_psnr_mean"] = result["metrics"].get("train_psnr_mean")
    text = json.dumps(figures, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
