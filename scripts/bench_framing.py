"""Figures for camera trust and for objects cut by the image border (docs/BENCHMARKS.md, issue 13).

    python scripts/bench_framing.py --out DIR [--experiment trust|cut|both] [--preset tiny|small|full]
           [--views N] [--size PX] [--holdout K] [--close-frames I,J] [--noise-rot DEG] [--noise-trans FRAC]
           [--max-size PX] [--json FILE]

trust: spot rendered with exact training cameras, reconstructed with the cameras frozen, "calibrated" and
"approximate"; the corrected cameras' rotation error is how far the fit moved them. cut: spot with
noisy cameras rendered twice, once with the --close-frames cameras at half the distance (the border cuts
the object), reconstructed "approximate". Held-out figures: texforge.eval.multiview.quality_figures.
Must run where bpy imports (the project's .venv).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("heldout_iou_mean", "heldout_psnr_mean", "heldout_aligned_iou_mean", "rot_err_deg_before",
        "rot_err_deg_after", "chamfer_l1_rel")


def _arguments() -> list[str]:
    return sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]


def _run(dataset: Path, out: Path, preset: str, trust: str, max_size: int) -> dict:
    from texforge.data.transforms_io import load_dataset
    from texforge.eval.multiview import quality_figures
    from texforge.pipelines.multiview import MultiviewConfig, run_multiview
    from texforge.pipelines.multiview.result_io import write_result

    cfg = MultiviewConfig.preset(preset, camera_trust="calibrated" if trust == "frozen" else trust)
    if trust == "frozen":
        cfg.stages = [dataclasses.replace(st, cameras=False) for st in cfg.stages]
    t0 = time.process_time()
    result = run_multiview(load_dataset(dataset, max_size=max_size), cfg, device="cpu")
    cpu = time.process_time() - t0
    write_result(result, out)
    fig = quality_figures(out, dataset)
    row = {k: fig.get(k) for k in KEYS}
    row.update(run=trust, dataset=dataset.name, cpu_s=round(cpu, 1), pruned=[p["name"] for p in result.pruned])
    print(json.dumps(row), flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench_framing.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="new folder for the datasets and results")
    p.add_argument("--experiment", default="both", choices=("trust", "cut", "both"))
    p.add_argument("--preset", default="small", choices=("tiny", "small", "full"))
    p.add_argument("--views", type=int, default=24)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--holdout", type=int, default=8)
    p.add_argument("--close-frames", default="2,10,18", help="cut experiment: frames moved closer")
    p.add_argument("--noise-rot", type=float, default=3.0, help="cut experiment: rotation noise (degrees)")
    p.add_argument("--noise-trans", type=float, default=0.03, help="cut experiment: translation noise")
    p.add_argument("--max-size", type=int, default=0, metavar="PX",
                   help="working size of the reconstruction (0: the rendered size)")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(_arguments() if argv is None else argv)
    from texforge_blender import dataset_render

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    mesh = str(ROOT / "tests" / "data" / "spot" / "spot.obj")
    base = dict(views=args.views, size=(args.size, args.size), holdout=args.holdout, lighting="studio", seed=0)
    rows = []
    if args.experiment in ("trust", "both"):
        exact = dataset_render.render_dataset(mesh, out / "exact", dataset_render.DatasetSpec(**base))
        rows += [_run(exact, out / f"exact-{t}", args.preset, t, args.max_size) for t in ("frozen", "calibrated", "approximate")]
    if args.experiment in ("cut", "both"):
        noise = dict(noise_rot=args.noise_rot, noise_trans=args.noise_trans)
        close = tuple(int(i) for i in args.close_frames.split(","))
        for name, extra in (("whole", {}), ("cut", {"close_frames": close})):
            ds = dataset_render.render_dataset(mesh, out / name, dataset_render.DatasetSpec(**base, **noise, **extra))
            rows.append(_run(ds, out / f"{name}-approximate", args.preset, "approximate", args.max_size))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print("| dataset | cameras | held-out IoU | aligned IoU | PSNR | rot. error before -> after (deg) | CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['dataset']} | {r['run']} | {r['heldout_iou_mean']:.3f} | {r['heldout_aligned_iou_mean'] or 0:.3f} "
              f"| {r['heldout_psnr_mean']:.1f} | {r['rot_err_deg_before'] or 0:.2f} -> {r['rot_err_deg_after'] or 0:.2f} "
              f"| {r['cpu_s']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
