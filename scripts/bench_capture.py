"""Held-out figures on a real photo capture (COLMAP or LLFF with masks): every K-th photo held out.

    python scripts/bench_capture.py CAPTURE --out DIR [--presets tiny,small] [--runs given:frozen,given:calibrated,...]
           [--holdout-every 8] [--max-size PX] [--seed 0] [--json FILE]

Each run is MASKS:CAMERAS. MASKS: ``given`` (the capture's mask files) or ``segment`` (TexForge's automatic
segmentation, texforge.data.segment). CAMERAS: ``frozen`` (never moved), or a camera trust
(``calibrated``, ``approximate``, ``rough``). Training uses the photos that are not held out; the
held-out photos are always judged against the capture's own masks: hard IoU of the rendered silhouette,
and PSNR of the render against the photo inside the photo's mask, both composited on black (the clutter
around the object is not the object's business). Figures: texforge.eval.multiview.heldout_figures.
For development captures only; nothing is copied anywhere but --out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def _masked(dataset):
    """The held-out photos with everything outside their masks set to black."""
    dataset.images = dataset.images * (dataset.masks[..., None] > 0.5)
    dataset.background = None
    return dataset


def _without_masks(capture: Path, where: Path) -> Path:
    """The capture seen without its mask files (links to its photos and cameras, no masks folder), so
    that the automatic segmentation masks every photo."""
    if not where.exists():
        where.mkdir()
        for entry in capture.iterdir():
            if "mask" not in entry.name.lower():
                (where / entry.name).symlink_to(entry.resolve())
    return where


def _run(capture: Path, out: Path, preset: str, masks: str, cameras: str, every: int, max_size: int,
         seed: int) -> dict:
    import numpy as np
    import torch

    from texforge.data.transforms_io import every_nth, load_dataset
    from texforge.eval.multiview import heldout_figures
    from texforge.mesh.io import load_mesh
    from texforge.pipelines.multiview import MultiviewConfig, run_multiview
    from texforge.pipelines.multiview.result_io import write_result
    from texforge.render.pose import rotation_angle_deg

    cfg = MultiviewConfig.preset(preset, camera_trust="calibrated" if cameras == "frozen" else cameras, seed=seed)
    if cameras == "frozen":
        cfg.stages = [dataclasses.replace(st, cameras=False) for st in cfg.stages]
    train = load_dataset(capture if masks == "given" else _without_masks(capture, out.parent / "unmasked"), "train",
                         max_size=max_size, select=every_nth(every, keep=False),
                         mask_source="AUTO" if masks == "given" else "SEGMENT")
    t0 = time.process_time()
    result = run_multiview(train, cfg, device="cpu")
    cpu = time.process_time() - t0
    write_result(result, out)
    test = _masked(load_dataset(capture, "test", max_size=max_size, select=every_nth(every)))
    per_view = heldout_figures(load_mesh(out / "mesh.glb"), test)
    saved = json.loads((out / "result.json").read_text())
    turn = rotation_angle_deg(*(torch.as_tensor([e["R"] for e in saved[k]], dtype=torch.float64)
                                for k in ("cameras", "input_cameras"))).tolist()
    row = {"preset": preset, "masks": masks, "cameras": cameras, "seed": seed, "train_views": len(train.names),
           "heldout_views": len(test.names), "size": [train.cameras.width, train.cameras.height],
           "heldout_iou_mean": round(float(np.mean(per_view["iou"])), 4),
           "heldout_iou_min": round(float(np.min(per_view["iou"])), 4),
           "heldout_psnr_mean": round(float(np.mean(per_view["psnr"])), 2),
           "camera_moved_deg_mean": round(float(np.mean(turn)), 3), "pruned": [p["name"] for p in result.pruned],
           "cpu_s": round(cpu, 1)}
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_capture.py", description=__doc__.split("\n\n")[0])
    p.add_argument("capture", help="a COLMAP or LLFF capture folder with images/ and masks")
    p.add_argument("--out", required=True, help="new folder for the results")
    p.add_argument("--presets", default="tiny,small")
    p.add_argument("--runs", default="given:frozen,given:calibrated,segment:calibrated",
                   help="comma-separated MASKS:CAMERAS (masks given|segment; cameras frozen|calibrated|approximate|rough)")
    p.add_argument("--holdout-every", type=int, default=8, metavar="K")
    p.add_argument("--max-size", type=int, default=256, metavar="PX", help="working size (longest side)")
    p.add_argument("--seed", type=int, default=0,
                   help="the fit's seed: runs that differ only in it show how far a figure moves by chance")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(_arguments() if argv is None else argv)
    runs = [tuple(r.split(":")) for r in args.runs.split(",")]
    if any(len(r) != 2 or r[0] not in ("given", "segment") or r[1] not in ("frozen", "calibrated", "approximate", "rough")
           for r in runs):
        p.error(f"--runs: each run is MASKS:CAMERAS, got {args.runs!r}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    rows = []
    for preset in args.presets.split(","):
        for masks, cameras in runs:
            rows.append(_run(Path(args.capture), out / f"{preset}-{masks}-{cameras}", preset, masks, cameras,
                             args.holdout_every, args.max_size, args.seed))
            if args.json:
                Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
